//! Timestamps and durations.
//!
//! Timestamps are UTC `YYYY-MM-DDTHH:MM:SS.sssZ`, exactly JavaScript's `toISOString()`, because
//! SQL compares them as strings and the TypeScript library writes the same column.
//!
//! Durations are humantime's, not jiff's: jiff's `SignedDuration` refuses days and weeks
//! (`7d`, `--retain 30d`), its `Span` needs a reference date for them and knows no `1M`, and
//! it prints `25h 1m 1s` where humantime prints `1day 1h 1m 1s`; both the accepted text and the
//! printed one are seen by users (flags, worker notes).

use anyhow::{anyhow, Result};
use jiff::Timestamp;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.sssZ`. Times outside jiff's
/// range (years -9999 to 9999, ending a day early at `9999-12-30T22:00:00Z`), which no clock
/// reading or clamped age reaches, are clamped to it.
pub fn format_ms(ms: i64) -> String {
    let ts = Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    // `{:.3}`: always three fractional digits, as `toISOString()` writes.
    format!("{ts:.3}")
}

/// A stored timestamp in the system's time zone (`TZ`, else `/etc/localtime`), as
/// `2026-12-03 15:17:29.572 +01:00`; text that is not a timestamp is returned as it is.
pub fn local_text(stored: &str) -> String {
    let Ok(ts) = stored.parse::<Timestamp>() else {
        return stored.to_string();
    };
    let zoned = ts.to_zoned_datetime(jiff::tz::TimeZone::system());
    zoned.strftime("%Y-%m-%d %H:%M:%S%.3f %:z").to_string()
}

/// Parses a timestamp written by either runtime back to milliseconds since the epoch.
pub fn parse_ms(text: &str) -> Option<i64> {
    text.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

/// Now as a timestamp string.
pub fn now() -> String {
    format_ms(now_ms())
}

/// The timestamp `age` before now, clamped to the epoch: an absurdly long age (`rm
/// --older-than 18446744073709551615`) must not wrap around into the future.
pub fn ago(age: Duration) -> String {
    let age_ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    format_ms(now_ms().saturating_sub(age_ms).max(0))
}

/// Parses a duration such as `30s`, `5m`, `1h30m`, `250ms`, `7d` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(t)
        .map_err(|e| anyhow!("invalid duration {text:?} ({e}; expected e.g. 30s, 5m, 1h, 7d)"))
}

/// Renders a duration compactly for tables: `850ms`, `12s`, `4m05s`, `3h02m`, `2d04h`.
pub fn short_duration(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    match s {
        _ if ms < 1000 => format!("{ms}ms"),
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{:02}h", s / 86_400, s / 3600 % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_to_iso_string() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn parses_back() {
        for ms in [0, 1_700_000_000_123, 951_782_400_000, 4_102_444_799_999] {
            assert_eq!(parse_ms(&format_ms(ms)), Some(ms));
        }
        assert_eq!(parse_ms("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(
            parse_ms("2023-11-14T22:13:20.1234Z"),
            Some(1_700_000_000_123)
        );
        assert_eq!(parse_ms("garbage"), None);
    }

    /// SQL compares timestamps as text: every formatted time has the same length, and text
    /// order is time order, across second, day, year and millennium boundaries.
    #[test]
    fn text_order_is_time_order() {
        let edges = [
            0,
            999,
            1_000,
            86_399_999,
            86_400_000,
            951_782_399_999,
            951_782_400_000,
            946_684_799_999,
            1_700_000_000_123,
            4_102_444_799_999,
            253_402_207_199_998,
        ];
        let mut times: Vec<i64> = edges
            .iter()
            .flat_map(|&ms| [ms - 1, ms, ms + 1])
            .filter(|&ms| ms >= 0)
            .collect();
        times.extend((0..2_000).map(|i| 1_700_000_000_000 + i * 997));
        times.sort_unstable();
        let texts: Vec<String> = times.iter().map(|&ms| format_ms(ms)).collect();
        for (ms, text) in times.iter().zip(&texts) {
            assert_eq!(text.len(), 24, "{ms}: {text}");
            assert_eq!(parse_ms(text), Some(*ms), "{text}");
        }
        for pair in texts.windows(2) {
            assert!(pair[0] <= pair[1], "{} sorts after {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("15").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("soon").is_err());
    }
}
