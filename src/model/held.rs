//! Held runs (issue 17): runs that must not start yet. A held run waits for a time (`--at`,
//! `--in`: [`Due`]) or for other runs to end (`--after`), in a table of our own
//! (`durably_cli_held_runs`), and is moved into `durably_runs`, with the id it was given at
//! enqueue time, when it is due (`store::held`). Until then it is shown as a [`Run`] whose
//! status is `scheduled` (it has a due time) or `waiting` (it waits on runs), with its hold
//! beside it ([`HeldRun::to_json`]: `"held": {"dueAt", "after", "afterAny"}`).

use super::run::Run;
use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};
use std::time::Duration;

/// The status text of a held run with a due time.
pub const SCHEDULED: &str = "scheduled";
/// The status text of a held run that waits on other runs.
pub const WAITING: &str = "waiting";

/// When a held run may be released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// At this time (milliseconds since the epoch).
    At(i64),
    /// This long after the enqueue, by the database's clock.
    In(Duration),
}

/// What holds a run back, as enqueued: a due time, or the runs it waits on (handles as given
/// until the store resolves them to full ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hold {
    pub due: Option<Due>,
    pub after: Vec<String>,
    /// Released when every run waited on has ended in any way (else: cancelled when one fails,
    /// is cancelled or is deleted).
    pub after_any: bool,
}

impl Hold {
    /// The hold of the flags or spec fields given: None when none holds the run. A due time
    /// and `after` together, two due times, or `afterAny` without `after` are refused.
    pub fn from_parts(
        at: Option<&str>,
        within: Option<&str>,
        after: Vec<String>,
        after_any: bool,
    ) -> Result<Option<Hold>> {
        Hold::checked(at, within, after, after_any)
            .map_err(|e| crate::error::CodedError::usage(format!("{e:#}")).into())
    }

    fn checked(
        at: Option<&str>,
        within: Option<&str>,
        after: Vec<String>,
        after_any: bool,
    ) -> Result<Option<Hold>> {
        let due = match (at, within) {
            (Some(_), Some(_)) => bail!("give a due time with at or in, not both"),
            (Some(at), None) => Some(Due::At(parse_at(at)?)),
            (None, Some(d)) => Some(Due::In(crate::time::parse_duration(d)?)),
            (None, None) => None,
        };
        if due.is_some() && !after.is_empty() {
            bail!("a run waits for a time (at, in) or for other runs (after), not both");
        }
        if after_any && after.is_empty() {
            bail!("after-any needs the runs to wait for (after)");
        }
        if after.iter().any(|a| a.trim().is_empty()) {
            bail!("an empty run id in after");
        }
        Ok((due.is_some() || !after.is_empty()).then_some(Hold {
            due,
            after,
            after_any,
        }))
    }
}

/// Parses `--at`: RFC 3339 with an offset or `Z` (`2026-12-24T18:00:00+01:00`), or a plain
/// `YYYY-MM-DD HH:MM[:SS]` (also with `T`) read in the system's time zone (`TZ`, else
/// `/etc/localtime`); milliseconds since the epoch.
pub fn parse_at(text: &str) -> Result<i64> {
    let t = text.trim();
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    let civil = t
        .parse::<jiff::civil::DateTime>()
        .ok()
        .filter(|_| t.len() >= 16 && t.len() <= 29);
    let Some(civil) = civil else {
        return Err(anyhow!(
            "invalid time {text:?} (expected e.g. 2026-12-24T18:00:00Z, 2026-12-24T18:00+01:00 or 2026-12-24 18:00 in local time)"
        ));
    };
    let ts = jiff::tz::TimeZone::system()
        .to_timestamp(civil)
        .map_err(|e| anyhow!("invalid time {text:?} ({e})"))?;
    Ok(ts.as_millisecond())
}

/// The columns of a held run's row (`sql/held_columns.sql` and its PostgreSQL twin), in
/// the order of the statement; `after` the ids waited on, comma-separated.
pub struct HeldColumns {
    pub id: String,
    pub job_name: String,
    pub input: String,
    pub labels: String,
    pub idempotency_key: Option<String>,
    pub concurrency_key: Option<String>,
    pub due_at: Option<String>,
    pub after_any: bool,
    pub created_at: String,
    pub after: Option<String>,
}

/// A held run: the run it will become (status `scheduled` or `waiting`, `created_at` the
/// enqueue time) and its hold.
#[derive(Debug, Clone)]
pub struct HeldRun {
    pub run: Run,
    pub due_at: Option<String>,
    /// The full ids of the runs waited on.
    pub after: Vec<String>,
    pub after_any: bool,
}

impl HeldRun {
    /// A held run from its row: a run as enqueued, with the status `scheduled` (a due time) or
    /// `waiting` (runs waited on, in id order).
    pub fn from_columns(c: HeldColumns) -> HeldRun {
        let mut after: Vec<String> = c
            .after
            .map(|a| a.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        after.sort();
        let mut run = Run::new_pending(
            c.id,
            c.job_name,
            c.input,
            c.labels,
            c.idempotency_key,
            c.concurrency_key,
            c.created_at,
        );
        run.status = if c.due_at.is_some() {
            SCHEDULED
        } else {
            WAITING
        }
        .into();
        HeldRun {
            run,
            due_at: c.due_at,
            after,
            after_any: c.after_any,
        }
    }

    /// What the REASON column of `ls` shows: the due time or the runs waited on.
    pub fn reason(&self) -> String {
        match &self.due_at {
            Some(at) => format!("due {}", crate::time::local_text(at)),
            None => {
                let word = if self.after_any { "after any" } else { "after" };
                format!("{word} {}", self.after.join(", "))
            }
        }
    }

    /// The run's JSON (@coji/durably's `Run` shape, its status `scheduled` or `waiting`) with
    /// `"held": {"dueAt": …, "after": […], "afterAny": …}`.
    pub fn to_json(&self) -> Value {
        let mut v = self.run.to_json();
        v["held"] = json!({
            "dueAt": self.due_at,
            "after": self.after,
            "afterAny": self.after_any,
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_an_offset_or_local() {
        assert_eq!(
            parse_at("1970-01-01T00:00:01Z").unwrap(),
            1000,
            "RFC 3339 with Z"
        );
        assert_eq!(parse_at("1970-01-01T01:00:01+01:00").unwrap(), 1000);
        assert!(parse_at("1970-01-01 00:00").is_ok());
        assert!(parse_at("1970-01-01 00:00:30").is_ok());
        assert!(parse_at("tomorrow").is_err());
        assert!(parse_at("1970-01-01").is_err(), "a date alone is refused");
    }

    #[test]
    fn holds_are_checked() {
        assert_eq!(Hold::from_parts(None, None, vec![], false).unwrap(), None);
        assert!(Hold::from_parts(Some("1970-01-01T00:00:00Z"), Some("5s"), vec![], false).is_err());
        assert!(Hold::from_parts(None, Some("5s"), vec!["a".into()], false).is_err());
        assert!(Hold::from_parts(None, None, vec![], true).is_err());
        assert!(Hold::from_parts(None, Some("nope"), vec![], false).is_err());
        let h = Hold::from_parts(None, Some("90s"), vec![], false)
            .unwrap()
            .unwrap();
        assert_eq!(h.due, Some(Due::In(Duration::from_secs(90))));
    }
}
