//! Schedules (`durably schedule`): what a schedule is, when its slots fall, and which slots a
//! worker materialises after how long a pause. No I/O: the store reads and writes the row
//! ([`crate::store::schedules`]), the worker calls it at every poll.
//!
//! A slot is an instant. A cron schedule's slots are the instants whose wall clock in the
//! schedule's zone matches the expression (`croner`, five fields or six with seconds first),
//! DST included as croner and jiff's tz database decide it: in a gap (02:30 on the
//! spring-forward day) a fixed-time expression fires at the first instant after the gap and
//! an interval expression skips the times that do not exist; in an overlap (01:30 on the
//! fall-back day) a fixed-time expression fires once, at the first pass, and an interval
//! expression fires on both passes. An `--every DUR` schedule's slots are the multiples of DUR
//! since the Unix epoch (so `--every 5m` fires at :00, :05, … UTC, whoever computes it).
//!
//! Catch-up ([`CatchUp`]) decides which of the slots due since the schedule's `next_at` become
//! runs: `last` the latest one, `all` each (the latest [`CATCH_UP_CAP`]), `none` the latest one
//! only if it is at most [`ON_TIME_MS`] old.

use anyhow::{anyhow, bail, Result};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use jiff02::tz::TimeZone;
use jiff02::Timestamp;
use serde_json::{json, Value};

/// With `--catch-up all`, at most this many slots (the latest) become runs at once.
pub const CATCH_UP_CAP: usize = 100;
/// With `--catch-up none`, a slot materialised later than this after its time is skipped.
pub const ON_TIME_MS: i64 = 60_000;
/// The shortest `--every`.
pub const MIN_EVERY_MS: i64 = 1_000;

/// Which of the slots missed while no worker ran become runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatchUp {
    None,
    Last,
    All,
}

impl CatchUp {
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::None => "none",
            CatchUp::Last => "last",
            CatchUp::All => "all",
        }
    }

    pub fn parse(text: &str) -> Result<CatchUp> {
        match text {
            "none" => Ok(CatchUp::None),
            "last" => Ok(CatchUp::Last),
            "all" => Ok(CatchUp::All),
            other => bail!("invalid catch-up {other:?} (expected none, last or all)"),
        }
    }
}

/// When a schedule's slots fall: a cron expression in a zone, or a fixed interval.
pub enum Timing {
    Cron(Box<Cron>, TimeZone),
    Every(i64),
}

impl Timing {
    /// Parses a schedule's spec: exactly one of `cron` (in zone `tz`, an IANA name) and
    /// `every_ms`. The messages name what is wrong in one line.
    pub fn parse(cron: Option<&str>, every_ms: Option<i64>, tz: &str) -> Result<Timing> {
        let zone = TimeZone::get(tz).map_err(|_| anyhow!("unknown time zone {tz:?}"))?;
        match (cron, every_ms) {
            (Some(text), None) => {
                let parser = CronParser::builder().seconds(Seconds::Optional).build();
                let cron = parser
                    .parse(text)
                    .map_err(|e| anyhow!("invalid cron expression {text:?} ({e})"))?;
                Ok(Timing::Cron(Box::new(cron), zone))
            }
            (None, Some(ms)) if ms >= MIN_EVERY_MS => Ok(Timing::Every(ms)),
            (None, Some(_)) => bail!("--every must be at least 1s"),
            _ => bail!("a schedule needs exactly one of --cron and --every"),
        }
    }

    /// The first slot strictly after `ms` (milliseconds since the epoch).
    pub fn next_after(&self, ms: i64) -> Result<i64> {
        match self {
            Timing::Every(every) => Ok((ms.div_euclid(*every) + 1) * every),
            Timing::Cron(cron, zone) => {
                let at = zoned(ms, zone)?;
                let next = cron
                    .find_next_occurrence(&at, false)
                    .map_err(|e| anyhow!("no next slot ({e})"))?;
                Ok(next.timestamp().as_millisecond())
            }
        }
    }

    /// The last slot at or before `ms`, if any within croner's search.
    pub fn last_at_or_before(&self, ms: i64) -> Option<i64> {
        match self {
            Timing::Every(every) => Some(ms.div_euclid(*every) * every),
            Timing::Cron(cron, zone) => {
                // Whole seconds: a slot is a whole second, and croner looks at seconds.
                let at = zoned(ms.div_euclid(1000) * 1000, zone).ok()?;
                let last = cron.find_previous_occurrence(&at, true).ok()?;
                Some(last.timestamp().as_millisecond())
            }
        }
    }

    /// The slot before `slot`, if any.
    fn before(&self, slot: i64) -> Option<i64> {
        self.last_at_or_before(slot - 1)
    }
}

/// The instant `ms` in `zone`.
fn zoned(ms: i64, zone: &TimeZone) -> Result<jiff02::Zoned> {
    let ts = Timestamp::from_millisecond(ms).map_err(|e| anyhow!("time out of range ({e})"))?;
    Ok(ts.to_zoned(zone.clone()))
}

/// What one materialisation does: the slots that become runs (oldest first) and the next
/// slot, the schedule's new `next_at`.
#[derive(Debug, PartialEq, Eq)]
pub struct Due {
    pub slots: Vec<i64>,
    pub next_at: i64,
}

/// The materialisation of a schedule whose first unmaterialised slot is `next_at`, at `now`
/// (both milliseconds since the epoch): the slots in `[next_at, now]` that `catch_up` keeps,
/// and the first slot after `now`.
pub fn due(timing: &Timing, catch_up: CatchUp, next_at: i64, now: i64) -> Result<Due> {
    let next = timing.next_after(now)?;
    let mut slots = Vec::new();
    if let Some(latest) = timing.last_at_or_before(now).filter(|&s| s >= next_at) {
        match catch_up {
            CatchUp::None if now - latest > ON_TIME_MS => {}
            CatchUp::None | CatchUp::Last => slots.push(latest),
            CatchUp::All => {
                let mut slot = Some(latest);
                while let Some(s) = slot.filter(|&s| s >= next_at) {
                    if slots.len() == CATCH_UP_CAP {
                        break;
                    }
                    slots.push(s);
                    slot = timing.before(s);
                }
                slots.reverse();
            }
        }
    }
    Ok(Due {
        slots,
        next_at: next,
    })
}

/// The idempotency key of a schedule's slot: one run per slot, whoever materialises it.
pub fn slot_key(name: &str, slot: &str) -> String {
    format!("schedule:{name}:{slot}")
}

/// The label naming the schedule of a run it materialised.
pub const SCHEDULE_LABEL: &str = "durably.schedule";
/// The label holding the slot of such a run (the library's timestamp text).
pub const SLOT_LABEL: &str = "durably.slot";

/// A schedule as stored (`durably_cli_schedules`), times in the library's timestamp text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    pub name: String,
    pub cron: Option<String>,
    pub every_ms: Option<i64>,
    pub tz: String,
    pub job_name: String,
    pub input: String,
    /// A JSON object of strings, in the order given.
    pub labels: String,
    pub concurrency_key: Option<String>,
    pub catch_up: String,
    pub retries: Option<i64>,
    pub backoff_ms: Option<i64>,
    pub backoff_max_ms: Option<i64>,
    /// A JSON array of exit codes.
    pub retry_on: Option<String>,
    pub paused: bool,
    pub next_at: String,
    pub last_slot: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Schedule {
    /// Its timing, parsed again from the row.
    pub fn timing(&self) -> Result<Timing> {
        Timing::parse(self.cron.as_deref(), self.every_ms, &self.tz)
    }

    /// Its catch-up policy (`last` for text this version does not know).
    pub fn catch_up(&self) -> CatchUp {
        CatchUp::parse(&self.catch_up).unwrap_or(CatchUp::Last)
    }

    /// The spec as shown: the cron expression, or `every DUR`.
    pub fn spec_text(&self) -> String {
        match (&self.cron, self.every_ms) {
            (Some(c), _) => c.clone(),
            (None, Some(ms)) => format!(
                "every {}",
                humantime::format_duration(std::time::Duration::from_millis(ms as u64))
            ),
            (None, None) => String::new(),
        }
    }

    /// The next `n` slots from `next_at` on (paused: none), as timestamps.
    pub fn upcoming(&self, n: usize) -> Vec<String> {
        let (Ok(timing), Some(mut at)) = (self.timing(), crate::time::parse_ms(&self.next_at))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while out.len() < n && !self.paused {
            out.push(crate::time::format_ms(at));
            match timing.next_after(at) {
                Ok(next) => at = next,
                Err(_) => break,
            }
        }
        out
    }

    /// The JSON shape of `schedule show --json` and `schedule ls --json`.
    pub fn to_json(&self) -> Value {
        let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap_or(Value::Null);
        json!({
            "name": self.name,
            "cron": self.cron,
            "everyMs": self.every_ms,
            "tz": self.tz,
            "jobName": self.job_name,
            "input": parse(&self.input),
            "labels": parse(&self.labels),
            "concurrencyKey": self.concurrency_key,
            "catchUp": self.catch_up,
            "retries": self.retries,
            "backoffMs": self.backoff_ms,
            "backoffMaxMs": self.backoff_max_ms,
            "retryOn": self.retry_on.as_deref().map(parse),
            "paused": self.paused,
            "nextAt": self.next_at,
            "lastSlot": self.last_slot,
            "upcoming": self.upcoming(5),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        crate::time::parse_ms(text).unwrap()
    }

    fn text(ms: i64) -> String {
        crate::time::format_ms(ms)
    }

    fn cron(expr: &str, tz: &str) -> Timing {
        Timing::parse(Some(expr), None, tz).unwrap()
    }

    #[test]
    fn bad_specs_are_refused_in_one_line() {
        let e = Timing::parse(Some("61 * * * *"), None, "UTC")
            .err()
            .unwrap();
        assert!(
            format!("{e:#}").starts_with("invalid cron expression"),
            "{e:#}"
        );
        let e = Timing::parse(Some("* * * * *"), None, "Mars/Olympus")
            .err()
            .unwrap();
        assert_eq!(format!("{e:#}"), "unknown time zone \"Mars/Olympus\"");
        assert!(Timing::parse(None, Some(999), "UTC").is_err());
        assert!(Timing::parse(None, None, "UTC").is_err());
        assert!(Timing::parse(Some("* * * * *"), Some(1000), "UTC").is_err());
    }

    #[test]
    fn every_slots_are_multiples_of_the_interval() {
        let t = Timing::Every(300_000);
        assert_eq!(
            text(t.next_after(ms("2026-12-03T17:02:10.500Z")).unwrap()),
            "2026-12-03T17:05:00.000Z"
        );
        assert_eq!(
            text(t.next_after(ms("2026-12-03T17:05:00.000Z")).unwrap()),
            "2026-12-03T17:10:00.000Z"
        );
        assert_eq!(
            t.last_at_or_before(ms("2026-12-03T17:05:00.000Z")),
            Some(ms("2026-12-03T17:05:00.000Z"))
        );
    }

    #[test]
    fn cron_slots_follow_the_zone() {
        let t = cron("0 9 * * *", "Europe/Paris");
        // Winter: Paris is UTC+1.
        let next = t.next_after(ms("2026-12-03T12:00:00.000Z")).unwrap();
        assert_eq!(text(next), "2026-12-04T08:00:00.000Z");
        assert_eq!(
            t.last_at_or_before(ms("2026-12-04T08:00:00.500Z")),
            Some(next)
        );
    }

    /// Spring forward in Paris, 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist.
    #[test]
    fn a_fixed_time_in_the_gap_fires_right_after_it() {
        let t = cron("30 2 * * *", "Europe/Paris");
        let next = t.next_after(ms("2026-03-28T12:00:00.000Z")).unwrap();
        // 03:00 CEST = 01:00 UTC, the first instant after the gap, on the same day.
        assert_eq!(text(next), "2026-03-29T01:00:00.000Z");
        // The day after: 02:30 CEST again.
        let after = t.next_after(next).unwrap();
        assert_eq!(text(after), "2026-03-30T00:30:00.000Z");
    }

    #[test]
    fn an_interval_skips_the_gap() {
        let t = cron("*/30 * * * *", "Europe/Paris");
        let a = t.next_after(ms("2026-03-29T00:45:00.000Z")).unwrap();
        // 01:30 CET = 00:30 UTC already passed; 02:00 and 02:30 CET do not exist: 03:00 CEST.
        assert_eq!(text(a), "2026-03-29T01:00:00.000Z");
        assert_eq!(text(t.next_after(a).unwrap()), "2026-03-29T01:30:00.000Z");
    }

    /// Fall back in Paris, 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
    #[test]
    fn a_fixed_time_in_the_overlap_fires_once() {
        let t = cron("30 2 * * *", "Europe/Paris");
        let first = t.next_after(ms("2026-10-24T12:00:00.000Z")).unwrap();
        // The first pass: 02:30 CEST = 00:30 UTC.
        assert_eq!(text(first), "2026-10-25T00:30:00.000Z");
        // Not again at 02:30 CET (01:30 UTC): next is the following day, 02:30 CET.
        assert_eq!(
            text(t.next_after(first).unwrap()),
            "2026-10-26T01:30:00.000Z"
        );
    }

    #[test]
    fn an_interval_fires_on_both_passes_of_the_overlap() {
        let t = cron("30 * * * *", "Europe/Paris");
        let mut at = ms("2026-10-24T23:45:00.000Z");
        let mut seen = Vec::new();
        for _ in 0..3 {
            at = t.next_after(at).unwrap();
            seen.push(text(at));
        }
        // From 01:45 CEST: 02:30 CEST, 02:30 CET (the hour again), 03:30 CET.
        assert_eq!(
            seen,
            [
                "2026-10-25T00:30:00.000Z",
                "2026-10-25T01:30:00.000Z",
                "2026-10-25T02:30:00.000Z"
            ]
        );
    }

    #[test]
    fn catch_up_after_downtime() {
        let t = Timing::Every(1000);
        let next_at = ms("2026-12-03T17:00:00.000Z");
        let now = ms("2026-12-03T17:00:09.400Z");
        let all = due(&t, CatchUp::All, next_at, now).unwrap();
        assert_eq!(all.slots.len(), 10);
        assert_eq!(all.slots[0], next_at);
        assert_eq!(text(all.next_at), "2026-12-03T17:00:10.000Z");
        let last = due(&t, CatchUp::Last, next_at, now).unwrap();
        assert_eq!(last.slots, [ms("2026-12-03T17:00:09.000Z")]);
        // none: the latest slot is 0.4 s old, on time.
        assert_eq!(due(&t, CatchUp::None, next_at, now).unwrap().slots.len(), 1);
        // A yearly schedule down for three years: none skips, last runs one, all three.
        let y = cron("0 0 1 1 *", "UTC");
        let next_at = ms("2024-01-01T00:00:00.000Z");
        let now = ms("2026-12-03T17:00:00.000Z");
        assert!(due(&y, CatchUp::None, next_at, now)
            .unwrap()
            .slots
            .is_empty());
        assert_eq!(due(&y, CatchUp::Last, next_at, now).unwrap().slots.len(), 1);
        let all = due(&y, CatchUp::All, next_at, now).unwrap();
        assert_eq!(
            all.slots.iter().map(|&s| text(s)).collect::<Vec<_>>(),
            [
                "2024-01-01T00:00:00.000Z",
                "2025-01-01T00:00:00.000Z",
                "2026-01-01T00:00:00.000Z"
            ]
        );
        assert_eq!(text(all.next_at), "2027-01-01T00:00:00.000Z");
        // all is capped at the latest CATCH_UP_CAP slots.
        let capped = due(&t, CatchUp::All, 0, 10_000_000).unwrap();
        assert_eq!(capped.slots.len(), CATCH_UP_CAP);
        assert_eq!(*capped.slots.last().unwrap(), 10_000_000);
        // Nothing due yet.
        assert!(due(&t, CatchUp::Last, now + 1000, now)
            .unwrap()
            .slots
            .is_empty());
    }
}
