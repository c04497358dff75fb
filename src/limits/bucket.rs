//! Keyed token buckets: `burst` tokens at once, refilled at `per_second`. Used for writes per
//! session and per address, new sessions per address, failed password guesses per room and
//! address, and upload bytes per address.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

/// The longest `Retry-After` a bucket asks for.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// A bucket's shape.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub burst: f64,
    pub per_second: f64,
}

impl Rate {
    /// `None` (no limit) when either number is zero: the configuration's way to turn a limit off.
    pub fn new(burst: f64, per_second: f64) -> Option<Self> {
        (burst > 0.0 && per_second > 0.0).then_some(Self { burst, per_second })
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

struct Inner<K> {
    map: HashMap<K, Bucket>,
    swept: Instant,
}

/// Buckets by key, behind one lock; idle ones are forgotten so the map cannot grow without
/// bound. `None` as the rate lets everything through.
pub struct Buckets<K> {
    rate: Option<Rate>,
    inner: Mutex<Inner<K>>,
}

impl<K: Hash + Eq> Buckets<K> {
    pub fn new(rate: Option<Rate>) -> Self {
        Self { rate, inner: Mutex::new(Inner { map: HashMap::new(), swept: Instant::now() }) }
    }

    /// Takes `cost` tokens, or says how long until they are there (nothing is taken then).
    pub fn take(&self, key: K, cost: f64) -> Result<(), Duration> {
        self.take_at(key, cost, Instant::now())
    }

    /// Says whether `cost` tokens are there, taking none: for limits that charge only some
    /// outcomes (a failed password) but must refuse before the expensive work.
    pub fn check(&self, key: K, cost: f64) -> Result<(), Duration> {
        self.with_bucket(key, Instant::now(), |_, _| {}, cost)
    }

    /// Gives back `cost` tokens taken for something that turned out not to count (a right
    /// password, an upload the server was too busy to check).
    pub fn refund(&self, key: K, cost: f64) {
        let Some(rate) = self.rate else { return };
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bucket) = inner.map.get_mut(&key) {
            bucket.tokens = (bucket.tokens + cost).min(rate.burst);
        }
    }

    fn take_at(&self, key: K, cost: f64, now: Instant) -> Result<(), Duration> {
        self.with_bucket(key, now, |bucket, cost| bucket.tokens -= cost, cost)
    }

    fn with_bucket(
        &self,
        key: K,
        now: Instant,
        spend: impl FnOnce(&mut Bucket, f64),
        cost: f64,
    ) -> Result<(), Duration> {
        let Some(rate) = self.rate else { return Ok(()) };
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.duration_since(inner.swept) > Duration::from_secs(60) {
            // A bucket idle long enough to be full again holds no information.
            let full_after = rate.burst / rate.per_second;
            inner.map.retain(|_, b| now.duration_since(b.updated).as_secs_f64() < full_after);
            inner.swept = now;
        }
        let bucket = inner.map.entry(key).or_insert(Bucket { tokens: rate.burst, updated: now });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * rate.per_second;
        bucket.tokens = (bucket.tokens + refill).min(rate.burst);
        bucket.updated = now;
        // A cost above the burst could never be paid: it is paid from a full bucket.
        let cost = cost.min(rate.burst);
        if bucket.tokens >= cost {
            spend(bucket, cost);
            Ok(())
        } else {
            // A rate so small that the wait overflows a Duration is a day's wait all the same.
            let wait = Duration::try_from_secs_f64((cost - bucket.tokens) / rate.per_second);
            Err(wait.unwrap_or(MAX_WAIT).min(MAX_WAIT))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills() {
        let buckets = Buckets::new(Rate::new(3.0, 2.0));
        let start = Instant::now();
        for _ in 0..3 {
            assert!(buckets.take_at("k", 1.0, start).is_ok());
        }
        let wait = buckets.take_at("k", 1.0, start).unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert!(buckets.take_at("k", 1.0, start + Duration::from_millis(600)).is_ok());
        assert!(buckets.take_at("other", 1.0, start).is_ok(), "keys are separate");
    }

    #[test]
    fn check_takes_nothing_and_costs_can_be_large() {
        let buckets = Buckets::new(Rate::new(100.0, 1.0));
        assert!(buckets.check("k", 100.0).is_ok());
        assert!(buckets.check("k", 100.0).is_ok(), "checking spends nothing");
        assert!(buckets.take("k", 60.0).is_ok());
        assert!(buckets.take("k", 60.0).unwrap_err() > Duration::from_secs(15));
        assert!(Buckets::<&str>::new(Rate::new(0.0, 1.0)).take("k", 1e9).is_ok(), "no rate, no limit");
        buckets.refund("k", 60.0);
        assert!(buckets.take("k", 60.0).is_ok(), "a refund puts the tokens back");
        let glacial = Buckets::new(Rate::new(1.0, 1e-300));
        assert!(glacial.take("k", 1.0).is_ok());
        assert_eq!(glacial.take("k", 1.0).unwrap_err(), MAX_WAIT, "no overflow, no panic");
    }
}
