//! Recent scans per (scanner, code), to merge double scans. Entries leave in
//! arrival order once past the window, or once `CAPACITY` newer ones came.

use std::collections::{HashMap, VecDeque};

use xxhash_rust::xxh3::xxh3_128;

use crate::domain::Millis;

/// The most scans remembered: 5,000 a second for a 1.5 s window, far beyond
/// what a site's scanners make, but reached when a backlog is replayed at
/// full speed. A double scan is two reads within the window, so its two
/// messages arrive close together and are merged even then. Without the
/// bound a 600,000-message replay held ~120,000 entries (12 MB); at this one
/// the table stays near 1 MB under constant churn.
pub(crate) const CAPACITY: usize = 8 * 1024;

#[derive(Debug, Default)]
pub(crate) struct RecentScans {
    /// Key -> (source time of the last stored scan, when it was received).
    last: HashMap<u128, (Millis, Millis)>,
    /// (received, key) in arrival order, for expiry.
    order: VecDeque<(Millis, u128)>,
}

pub(crate) fn key(scanner: &str, code: &str) -> u128 {
    let mut buf = Vec::with_capacity(scanner.len() + code.len() + 1);
    buf.extend_from_slice(scanner.as_bytes());
    buf.push(0);
    buf.extend_from_slice(code.as_bytes());
    xxh3_128(&buf)
}

impl RecentScans {
    /// Source time of the last stored scan with this key, if still remembered.
    pub(crate) fn last_at(&self, key: u128) -> Option<Millis> {
        self.last.get(&key).map(|(at, _)| *at)
    }

    pub(crate) fn insert(&mut self, key: u128, at: Millis, received: Millis) {
        if self.order.len() >= CAPACITY {
            self.forget_oldest();
        }
        self.last.insert(key, (at, received));
        self.order.push_back((received, key));
    }

    /// Forget scans received before `before`.
    pub(crate) fn expire(&mut self, before: Millis) {
        while self.order.front().is_some_and(|&(r, _)| r < before) {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((received, key)) = self.order.pop_front() {
            // A key refreshed later stays, under its newer entry.
            if self.last.get(&key).is_some_and(|(_, r)| *r == received) {
                self.last.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_keeps_a_key_refreshed_later() {
        let mut r = RecentScans::default();
        let k = key("S1", "X");
        r.insert(k, 100, 1000);
        r.insert(k, 200, 2000);
        r.expire(1500);
        assert_eq!(r.last_at(k), Some(200));
        r.expire(2500);
        assert_eq!(r.last_at(k), None);
        assert!(r.order.is_empty() && r.last.is_empty());
    }

    #[test]
    fn memory_is_bounded_and_the_newest_are_kept() {
        let mut r = RecentScans::default();
        for i in 0..CAPACITY + 10 {
            r.insert(key("S1", &i.to_string()), i as Millis, 1000);
        }
        assert_eq!((r.order.len(), r.last.len()), (CAPACITY, CAPACITY));
        assert_eq!(r.last_at(key("S1", "9")), None);
        assert_eq!(r.last_at(key("S1", "10")), Some(10));
        r.insert(key("S1", "10"), 99, 1001); // refreshed: survives its old entry
        for i in 0..CAPACITY - 1 {
            r.insert(key("S2", &i.to_string()), 0, 1002);
        }
        assert_eq!(r.last_at(key("S1", "10")), Some(99));
    }
}
