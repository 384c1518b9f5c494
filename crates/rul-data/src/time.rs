//! The one time format of every record and answer: RFC 3339, UTC, milliseconds (`2024-05-01T12:00:00.123Z`).

use chrono::{DateTime, SecondsFormat, Utc};

/// `t` as RFC 3339 UTC with millisecond precision.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time, formatted by [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}

/// A millisecond Unix timestamp, formatted by [`rfc3339`] (the epoch when out of range).
pub fn rfc3339_ms(ms: i64) -> String {
    rfc3339(DateTime::from_timestamp_millis(ms).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let at = |secs: i64, millis: u32| {
            DateTime::from_timestamp(secs, millis * 1_000_000).unwrap_or_default()
        };
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(at(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(at(1_714_564_800, 123)), "2024-05-01T12:00:00.123Z");
        assert_eq!(rfc3339_ms(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
        assert_eq!(rfc3339_ms(i64::MAX), "1970-01-01T00:00:00.000Z");
        assert!(now_rfc3339().ends_with('Z'));
    }
}
