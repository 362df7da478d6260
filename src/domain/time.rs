//! Time is `i64` milliseconds since the Unix epoch, UTC, everywhere.

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

/// The wall clock, for the edges only: pure logic takes `now` as an argument.
pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// What time it is for the agent and central. Production runs on the wall
/// clock; the demo runs a simulated one that starts at a scenario's start
/// and goes `speed` times faster, so a day of work fits in minutes. Only
/// world time goes through it (event times, planner rounds, link states,
/// retention); transport timers (keep-alives, ack timeouts, backoff) stay
/// real, since the network does not speed up.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    sim: Option<Simulated>,
}

#[derive(Debug, Clone, Copy)]
struct Simulated {
    start: Millis,
    origin: std::time::Instant,
    speed: f64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::wall()
    }
}

impl Clock {
    pub fn wall() -> Clock {
        Clock { sim: None }
    }

    /// Shows `start` now and runs `speed` times faster than the wall clock.
    pub fn simulated(start: Millis, speed: f64) -> Clock {
        Clock {
            sim: Some(Simulated {
                start,
                origin: std::time::Instant::now(),
                speed: speed.max(f64::MIN_POSITIVE),
            }),
        }
    }

    pub fn now_ms(&self) -> Millis {
        match self.sim {
            None => now_ms(),
            Some(s) => s.start + (s.origin.elapsed().as_secs_f64() * 1000.0 * s.speed) as Millis,
        }
    }

    pub fn speed(&self) -> f64 {
        self.sim.map_or(1.0, |s| s.speed)
    }

    /// The real time a span of this clock's time takes.
    pub fn real(&self, span: Millis) -> std::time::Duration {
        std::time::Duration::from_secs_f64(span.max(0) as f64 / 1000.0 / self.speed())
    }

    /// The real time until this clock shows `t` (zero once it has).
    pub fn until(&self, t: Millis) -> std::time::Duration {
        self.real(t - self.now_ms())
    }
}

/// Parse RFC 3339 (`2026-11-25T08:00:00Z`, any offset) into milliseconds UTC.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Format milliseconds as RFC 3339 UTC with millisecond precision.
pub fn format_rfc3339(ms: Millis) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let ms = parse_rfc3339("2026-11-25T08:00:00.250+01:00").expect("valid");
        assert_eq!(format_rfc3339(ms), "2026-11-25T07:00:00.250Z");
    }

    #[test]
    fn simulated_clock_runs_faster_from_its_start() {
        let clock = Clock::simulated(1_000_000, 3600.0);
        let t = clock.now_ms();
        assert!((1_000_000..1_000_000 + 3_600_000).contains(&t));
        // An hour of simulated time takes a second.
        assert_eq!(clock.real(3_600_000), std::time::Duration::from_secs(1));
        assert_eq!(
            Clock::wall().real(1500),
            std::time::Duration::from_millis(1500)
        );
    }
}
