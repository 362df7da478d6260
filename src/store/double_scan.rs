//! Recent scans per (scanner, code), to merge double scans. Memory is bounded
//! by what arrives within the window: entries leave in arrival order.

use std::collections::{HashMap, VecDeque};

use xxhash_rust::xxh3::xxh3_128;

use crate::domain::Millis;

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
        self.last.insert(key, (at, received));
        self.order.push_back((received, key));
    }

    /// Forget scans received before `before`.
    pub(crate) fn expire(&mut self, before: Millis) {
        while let Some(&(received, key)) = self.order.front() {
            if received >= before {
                break;
            }
            self.order.pop_front();
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
}
