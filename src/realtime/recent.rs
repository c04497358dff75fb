//! The last messages published in a room, kept in memory beside its broadcast channel, so a
//! subscriber that fell behind the channel (a storm of joins in a big room, a slow core)
//! catches up from here instead of reading storage. Without this, every one of a big room's
//! lagging subscribers read and re-encoded the same rows from the database (perf, 2,000
//! joins at once: a fifth of the server's CPU in SQLite row decoding alone).
//!
//! The frames are the ones the channel carries (shared, encoded once). Only a run of ids
//! without a gap is handed out: a message committed but not yet published here (or lost on
//! its way from another instance) ends the run, and the feed reads the rest from storage.

use std::{collections::VecDeque, sync::Arc};

use super::Frame;
use crate::domain::UserId;

/// At most this many messages per room...
const RECENT_MESSAGES: usize = 4096;
/// ...and at most this many bytes of their frames (a long chat is ~1.5 KB, a join ~0.3 KB).
const RECENT_BYTES: usize = 1024 * 1024;

/// A message as the channel carried it: its frame and, for a whisper, its two ends.
pub type Delivery = (Arc<Frame>, Option<[UserId; 2]>);

#[derive(Default)]
pub struct Recent {
    /// In id order.
    entries: VecDeque<(i64, Delivery)>,
    bytes: usize,
}

fn size(frame: &Frame) -> usize {
    frame.data.len() + frame.sse.len()
}

impl Recent {
    /// Keeps a published message (messages from two writers may be published out of order;
    /// a repeated id is ignored), forgetting the oldest beyond the bounds.
    pub fn push(&mut self, id: i64, delivery: Delivery) {
        let at = self.entries.partition_point(|(held, _)| *held < id);
        if self.entries.get(at).is_some_and(|(held, _)| *held == id) {
            return;
        }
        self.bytes += size(&delivery.0);
        self.entries.insert(at, (id, delivery));
        while self.entries.len() > RECENT_MESSAGES || (self.bytes > RECENT_BYTES && self.entries.len() > 1) {
            if let Some((_, (frame, _))) = self.entries.pop_front() {
                self.bytes -= size(&frame);
            }
        }
    }

    /// The messages after `after`, from `after + 1` on without a gap, below `until`, at most
    /// `limit`; empty when `after + 1` is not held.
    pub fn after(&self, after: i64, until: Option<i64>, limit: usize) -> Vec<Delivery> {
        let start = self.entries.partition_point(|(held, _)| *held <= after);
        let mut run = Vec::new();
        for (expected, (id, delivery)) in (after + 1..).zip(self.entries.range(start..)) {
            if *id != expected || until.is_some_and(|until| *id >= until) || run.len() == limit {
                break;
            }
            run.push(delivery.clone());
        }
        run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: i64, bytes: usize) -> Delivery {
        let text = "x".repeat(bytes);
        (Arc::new(Frame::new("chat", Some(id), &serde_json::json!({ "text": text }))), None)
    }

    fn ids(run: &[Delivery]) -> Vec<i64> {
        run.iter().map(|(frame, _)| frame.id.unwrap()).collect()
    }

    #[test]
    fn hands_out_only_a_run_without_gaps_from_the_next_id() {
        let mut recent = Recent::default();
        for id in [1, 2, 3, 5, 6] {
            recent.push(id, frame(id, 10));
        }
        assert_eq!(ids(&recent.after(0, None, 100)), [1, 2, 3], "4 is missing: the run ends before it");
        assert_eq!(ids(&recent.after(1, Some(3), 100)), [2], "below `until` only");
        assert_eq!(ids(&recent.after(0, None, 2)), [1, 2], "at most `limit`");
        assert!(recent.after(3, None, 100).is_empty(), "4 is not held");
        assert!(recent.after(6, None, 100).is_empty(), "nothing after the newest");
        // 4 published late, out of order: the run now goes on to 6.
        recent.push(4, frame(4, 10));
        recent.push(4, frame(4, 10));
        assert_eq!(ids(&recent.after(2, None, 100)), [3, 4, 5, 6]);
    }

    #[test]
    fn forgets_the_oldest_beyond_its_bounds() {
        let mut recent = Recent::default();
        for id in 1..=(RECENT_MESSAGES as i64 + 10) {
            recent.push(id, frame(id, 1));
        }
        assert!(recent.after(0, None, 10).is_empty(), "the first ten are gone");
        assert_eq!(ids(&recent.after(10, None, 1)), [11]);

        let mut recent = Recent::default();
        // Each frame holds its text twice (JSON and SSE block): a quarter of the budget and a
        // little more, so three fit.
        for id in 1..=8 {
            recent.push(id, frame(id, RECENT_BYTES / 8));
        }
        assert!(recent.bytes <= RECENT_BYTES);
        assert!(recent.after(4, None, 10).is_empty(), "5 is gone");
        assert_eq!(ids(&recent.after(5, None, 10)), [6, 7, 8]);
    }
}
