//! A loop's sign of life: the loop beats while it turns, the health check
//! (`agent::health`) reads how long ago it last did.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Monotonic time of the last beat. Cheap enough to beat on every turn.
#[derive(Debug)]
pub struct Heartbeat {
    base: Instant,
    /// Milliseconds after `base` of the last beat.
    last_ms: AtomicU64,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat::new()
    }
}

impl Heartbeat {
    /// A heartbeat that has just beaten.
    pub fn new() -> Heartbeat {
        Heartbeat {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    pub fn beat(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// A heartbeat whose last beat was `ago` (for tests of health checks).
    #[cfg(test)]
    pub(crate) fn aged(ago: Duration) -> Heartbeat {
        Heartbeat {
            base: Instant::now() - ago,
            last_ms: AtomicU64::new(0),
        }
    }

    /// How long since the last beat.
    pub fn age(&self) -> Duration {
        let now = self.base.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beat_resets_the_age() {
        let h = Heartbeat::aged(Duration::from_secs(60));
        assert!(h.age() >= Duration::from_secs(60));
        h.beat();
        assert!(h.age() < Duration::from_secs(60));
    }
}
