//! Time is `i64` milliseconds since the Unix epoch, UTC, everywhere.

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

/// The wall clock, for the edges only: pure logic takes `now` as an argument.
pub fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
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
}
