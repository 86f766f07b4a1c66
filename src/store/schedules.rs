//! What the schedule commands and the worker's materialisation mean, written once for both
//! backends over [`ScheduleWrites`], the statements each backend supplies inside one write
//! transaction (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: READ COMMITTED, the row locked with
//! `FOR UPDATE SKIP LOCKED`). Times come from the store's clock inside that transaction: the
//! database's `now()` on PostgreSQL, this process's never-backwards clock on SQLite.
//!
//! Materialising a due schedule is one transaction: the row still due is read, its `next_at`
//! moved past now by compare-and-set on the value read (a second process's attempt changes
//! nothing), and the slots that catch-up keeps ([`crate::model::schedule::due`]) enqueued
//! through the normal enqueue path, each with the idempotency key `schedule:NAME:SLOT` as a
//! second guard, the labels `durably.schedule=NAME` and `durably.slot=SLOT`, and coalescing
//! on its concurrency key (a slot whose job still has a pending run with the key adds none).

use crate::error::StoreError;
use crate::model::schedule::{self, Schedule, SCHEDULE_LABEL, SLOT_LABEL};
use crate::model::{merge_label, Disposition, Labels, Run, RunSpec};
use crate::time::{format_ms, parse_ms};
use anyhow::{anyhow, Result};

/// The columns of `durably_cli_schedules`, in the order the row mappers read them.
pub const SCHEDULE_COLUMNS: &str = "name, cron, every_ms, tz, job_name, input, labels, \
    concurrency_key, catch_up, retries, backoff_ms, backoff_max_ms, retry_on, paused, next_at, \
    last_slot, created_at, updated_at";

/// What a backend offers inside one write transaction, for the rules below.
pub trait ScheduleWrites {
    /// Now by the store's clock, read inside this transaction.
    fn now(&mut self) -> Result<String>;
    /// Inserts a schedule; false when the name is taken.
    fn insert(&mut self, s: &Schedule) -> Result<bool>;
    /// The schedule named `name`.
    fn get(&mut self, name: &str) -> Result<Option<Schedule>>;
    /// The schedule named `name` if it is unpaused and due at `now`, held for this
    /// transaction (PostgreSQL: None when another transaction holds it).
    fn due_locked(&mut self, name: &str, now: &str) -> Result<Option<Schedule>>;
    /// Moves `next_at` from `read` to `next_at` (compare-and-set); false when it had moved.
    fn advance(
        &mut self,
        name: &str,
        read: &str,
        next_at: &str,
        last_slot: Option<&str>,
        now: &str,
    ) -> Result<bool>;
    /// Pauses or resumes; a new `next_at` when given. False when there is no such schedule.
    fn set_paused(
        &mut self,
        name: &str,
        paused: bool,
        next_at: Option<&str>,
        now: &str,
    ) -> Result<bool>;
    /// Deletes; false when there is no such schedule.
    fn delete(&mut self, name: &str) -> Result<bool>;
    /// Enqueues a run by the enqueue rules, in this transaction.
    fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)>;
}

/// What one materialisation did.
#[derive(Debug)]
pub struct Materialised {
    pub name: String,
    /// The slots it enqueued, each with its run and whether the run was created.
    pub runs: Vec<(String, Run, Disposition)>,
    /// The schedule's new next slot.
    pub next_at: String,
}

fn not_found(name: &str) -> anyhow::Error {
    StoreError::NotFound(format!("schedule {name:?} not found")).into()
}

/// Adds a schedule: its first slot is the first after now. A name already taken is refused
/// (exit 2) and nothing is written.
pub fn add(tx: &mut impl ScheduleWrites, s: &Schedule) -> Result<Schedule> {
    let timing = s.timing()?;
    let now = tx.now()?;
    let now_ms = parse_ms(&now).ok_or_else(|| anyhow!("the clock gave {now:?}"))?;
    let mut row = s.clone();
    row.next_at = format_ms(timing.next_after(now_ms)?);
    row.created_at = now.clone();
    row.updated_at = now;
    if !tx.insert(&row)? {
        return Err(StoreError::Invalid(format!(
            "a schedule named {:?} already exists (schedule rm it first)",
            s.name
        ))
        .into());
    }
    Ok(row)
}

/// Pauses or resumes a schedule. A resumed schedule starts again at the first slot after
/// now: what fell while it was paused is not caught up.
pub fn set_paused(tx: &mut impl ScheduleWrites, name: &str, paused: bool) -> Result<Schedule> {
    let s = tx.get(name)?.ok_or_else(|| not_found(name))?;
    let now = tx.now()?;
    let next_at = match (paused, s.paused) {
        (false, true) => {
            let now_ms = parse_ms(&now).ok_or_else(|| anyhow!("the clock gave {now:?}"))?;
            Some(format_ms(s.timing()?.next_after(now_ms)?))
        }
        _ => None,
    };
    tx.set_paused(name, paused, next_at.as_deref(), &now)?;
    tx.get(name)?.ok_or_else(|| not_found(name))
}

/// Deletes a schedule (the runs it enqueued stay).
pub fn remove(tx: &mut impl ScheduleWrites, name: &str) -> Result<()> {
    if !tx.delete(name)? {
        return Err(not_found(name));
    }
    Ok(())
}

/// Materialises the schedule `name` if it is still due: None when another process did (or
/// does) it first, or it was paused or removed meanwhile.
pub fn materialise(tx: &mut impl ScheduleWrites, name: &str) -> Result<Option<Materialised>> {
    let now = tx.now()?;
    let Some(s) = tx.due_locked(name, &now)? else {
        return Ok(None);
    };
    let now_ms = parse_ms(&now).ok_or_else(|| anyhow!("the clock gave {now:?}"))?;
    let read_ms = parse_ms(&s.next_at)
        .ok_or_else(|| anyhow!("schedule {name:?} has next_at {:?}", s.next_at))?;
    let timing = s
        .timing()
        .map_err(|e| anyhow!("schedule {name:?}: {e:#}"))?;
    let due = schedule::due(&timing, s.catch_up(), read_ms, now_ms)?;
    let next_at = format_ms(due.next_at);
    let slots: Vec<String> = due.slots.iter().map(|&ms| format_ms(ms)).collect();
    if !tx.advance(
        name,
        &s.next_at,
        &next_at,
        slots.last().map(String::as_str),
        &now,
    )? {
        return Ok(None);
    }
    let mut runs = Vec::with_capacity(slots.len());
    for slot in slots {
        let (run, disposition) = tx.enqueue(&slot_spec(&s, &slot)?)?;
        runs.push((slot, run, disposition));
    }
    Ok(Some(Materialised {
        name: s.name,
        runs,
        next_at,
    }))
}

/// The run of one slot: the schedule's job, input, labels and concurrency key, with the
/// schedule and slot as labels and the slot's idempotency key.
fn slot_spec(s: &Schedule, slot: &str) -> Result<RunSpec> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&s.labels).map_err(|e| {
            anyhow!(
                "schedule {:?} has labels that are not an object ({e})",
                s.name
            )
        })?;
    let mut labels = Labels::new();
    for (k, v) in map {
        let v = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        merge_label(&mut labels, k, v);
    }
    merge_label(&mut labels, SCHEDULE_LABEL.into(), s.name.clone());
    merge_label(&mut labels, SLOT_LABEL.into(), slot.into());
    Ok(RunSpec {
        job: s.job_name.clone(),
        input: s.input.clone(),
        labels,
        idempotency_key: Some(schedule::slot_key(&s.name, slot)),
        concurrency_key: s.concurrency_key.clone(),
        coalesce: true,
        hold: None,
        retry: retry_policy(s)?,
    })
}

/// The retry policy of a schedule's runs (`schedule add --retries …`), None without one.
fn retry_policy(s: &Schedule) -> Result<Option<crate::model::RetryPolicy>> {
    let Some(retries) = s.retries else {
        return Ok(None);
    };
    let retry_on = match s.retry_on.as_deref() {
        Some(text) => Some(serde_json::from_str::<Vec<i32>>(text).map_err(|e| {
            anyhow!(
                "schedule {:?} has retry_on that is not a list of exit codes ({e})",
                s.name
            )
        })?),
        None => None,
    };
    let retries = u32::try_from(retries)
        .map_err(|_| anyhow!("schedule {:?} has retries {retries}", s.name))?;
    crate::model::RetryPolicy::new(retries, s.backoff_ms, s.backoff_max_ms, retry_on)
        .map(Some)
        .map_err(|e| anyhow!("schedule {:?}: {e:#}", s.name))
}
