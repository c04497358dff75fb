//! Concurrent event streams per client address. Streams are what a client can hold without
//! sending anything (a file descriptor and a few KiB each), so one address must not be able to
//! hold the server's whole supply.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use crate::domain::ClientAddress;

#[derive(Clone)]
pub struct StreamSlots {
    /// 0: no limit.
    max: usize,
    open: Arc<Mutex<HashMap<ClientAddress, usize>>>,
}

/// One open stream; dropping it frees the slot.
pub struct StreamSlot {
    slots: StreamSlots,
    address: ClientAddress,
}

impl StreamSlots {
    pub fn new(max: usize) -> Self {
        Self { max, open: Arc::default() }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot for one more stream from `address`, or `None` when it already holds `max`.
    pub fn acquire(&self, address: ClientAddress) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(address).or_default();
        if self.max > 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(StreamSlot { slots: self.clone(), address })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_per_address_and_come_back_when_dropped() {
        let slots = StreamSlots::new(2);
        let a = ClientAddress::new("127.0.0.2".parse().unwrap());
        let b = ClientAddress::new("127.0.0.3".parse().unwrap());
        let first = slots.acquire(a).unwrap();
        let _second = slots.acquire(a).unwrap();
        assert!(slots.acquire(a).is_none());
        assert!(slots.acquire(b).is_some(), "another address is unaffected");
        drop(first);
        assert!(slots.acquire(a).is_some());
    }
}
