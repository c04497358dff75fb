//! Counting without locks: a log-linear latency histogram of atomic counters (about 3% wide
//! buckets, shared by every task), exact percentiles of small sample sets, and bit sets.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Sub-buckets per power of two: 32, so a bucket is at most 1/32 of its value wide.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for any u64.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// Values (microseconds here) recorded from many tasks with one relaxed add each.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
}

fn bucket_of(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    let top = v >> shift; // SUB..2*SUB
    (shift as u64 * SUB + top) as usize
}

/// The middle of a bucket's range.
fn value_of(bucket: usize) -> u64 {
    let b = bucket as u64;
    if b < 2 * SUB {
        return b;
    }
    let shift = b / SUB - 1;
    let top = b % SUB + SUB;
    let low = top << shift;
    low + ((1u64 << shift) - 1) / 2
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn record(&self, v: u64) {
        self.buckets[bucket_of(v)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.max.fetch_max(v, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// The value at quantile `q` (0..=1), within a bucket's width; the exact max for q = 1.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        if q >= 1.0 {
            return Some(self.max());
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Relaxed);
            if seen >= rank {
                return Some(value_of(i).min(self.max()));
            }
        }
        Some(self.max())
    }
}

/// Exact quantile of a sorted slice (nearest rank).
pub fn sorted_quantile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// A plain bit set, one per subscriber (what it has received).
#[derive(Clone, Default)]
pub struct Bits(Vec<u64>);

impl Bits {
    pub fn new(len: usize) -> Self {
        Self(vec![0; len.div_ceil(64)])
    }

    pub fn capacity(&self) -> usize {
        self.0.len() * 64
    }

    /// Sets bit `i`; false if it was already set.
    pub fn insert(&mut self, i: usize) -> bool {
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        let fresh = self.0[word] & bit == 0;
        self.0[word] |= bit;
        fresh
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let b = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(w * 64 + b)
            })
        })
    }
}

/// A bit set many tasks set concurrently (which posts succeeded).
pub struct AtomicBits(Box<[AtomicU64]>);

impl AtomicBits {
    pub fn new(len: usize) -> Self {
        Self((0..len.div_ceil(64)).map(|_| AtomicU64::new(0)).collect())
    }

    pub fn insert(&self, i: usize) {
        self.0[i / 64].fetch_or(1 << (i % 64), Relaxed);
    }

    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w.load(Relaxed) & (1 << (i % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        let mut last = 0;
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let b = bucket_of(v);
            assert!(b >= last && b < BUCKETS);
            last = b;
            let mid = value_of(b);
            assert!(mid.abs_diff(v) <= v / 32 + 1, "{v} -> {b} -> {mid}");
        }
    }

    #[test]
    fn quantiles() {
        let h = Histogram::default();
        for v in 1..=1000 {
            h.record(v);
        }
        let p50 = h.quantile(0.5).unwrap();
        assert!((485..=515).contains(&p50), "{p50}");
        assert_eq!(h.quantile(1.0), Some(1000));
        assert_eq!(sorted_quantile(&[1, 2, 3, 4], 0.5), Some(2));
    }

    #[test]
    fn bits() {
        let mut b = Bits::new(130);
        assert!(b.insert(129));
        assert!(!b.insert(129));
        assert!(b.insert(3));
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![3, 129]);
    }
}
