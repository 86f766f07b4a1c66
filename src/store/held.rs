//! Held runs (issue 17), written once for both backends: what an enqueue with a hold means,
//! when a held run is released, cancelled or kept, and what the reasons say; over
//! [`HeldStatements`], the statements each backend supplies inside its own transaction
//! (`sqlite/held.rs`, `pg/held.rs`, `sql/held_*.sql`).
//!
//! A held run lives in `durably_cli_held_runs` (and its waits in `durably_cli_held_waits`) until
//! it is moved into `durably_runs` with the id it was given at enqueue time: no worker, the
//! library's included, can claim it before. The rules:
//! - **Enqueue**: the idempotency key is looked up in `durably_runs` first (the library's rule:
//!   that run answers, idempotent), then among held runs (the held run answers); the
//!   concurrency key is not checked (a held run holds no key until released). `--after`
//!   handles are resolved to full ids, each a run or a held run; a due time `--in` counts from
//!   the database's now.
//! - **Release** ([`release`]): the due runs, earliest first, in batches, each batch moved in
//!   one statement set; `created_at` is the release time, so a released run queues behind the
//!   runs enqueued before it was due (claims go by `created_at`), and `created_at` order stays
//!   commit order. A run a unique index refuses: when another run of the job has taken its
//!   idempotency key meanwhile (a library `trigger`), it is moved in as `cancelled` (without
//!   the key) with an error naming that run; else (a pending run holds its concurrency key) it
//!   stays held and is tried again at the next poll — never lost, never doubled.
//! - **Waits**: a waiting run whose runs waited on have all completed is released; one whose
//!   run waited on failed, was cancelled or was deleted is moved in as `cancelled` with an
//!   error naming that run, unless `afterAny`, which releases it once every run waited on has
//!   ended in any way (deleted counts as ended).
//! - Exactly once: SQLite's write lock; on PostgreSQL the due rows are taken `FOR UPDATE SKIP
//!   LOCKED` and a waiting run is locked before it is judged, so a second releaser skips it.

use crate::error::StoreError;
use crate::model::held::{Due, HeldRun};
use crate::model::{Run, RunSpec};
use anyhow::Result;

/// Held runs moved per transaction: large enough that 100k due runs go at the bulk enqueue's
/// pace, small enough that a transaction stays short.
pub const RELEASE_BATCH: usize = 5000;

/// Candidates read per poll from the waits (recent endings, a page of the sweep).
pub const WAIT_PAGE: i64 = 500;

/// The state of a run a held run waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOn {
    /// Still held itself.
    Held,
    /// In `durably_runs` with this status.
    Run(String),
    /// Neither held nor in `durably_runs`: deleted.
    Gone,
}

/// The statements of the held-run rules, inside one transaction of a backend.
pub trait HeldStatements {
    /// The transaction's now (the database's on PostgreSQL).
    fn now(&mut self) -> Result<String>;
    /// The run of `job` with idempotency key `key` in `durably_runs`.
    fn run_by_idempotency_key(&mut self, job: &str, key: &str) -> Result<Option<Run>>;
    /// The held run of `job` with idempotency key `key`.
    fn held_by_idempotency_key(&mut self, job: &str, key: &str) -> Result<Option<HeldRun>>;
    /// The full id of the run a handle names ([`super::handles::resolve`]).
    fn resolve_run(&mut self, given: &str) -> Result<String>;
    /// The ids of held runs a handle names: its full id, or (8 characters or more) the ids
    /// that end with it in any case (a seek on `idx_durably_cli_held_runs_id_tail`), at most
    /// a few.
    fn held_named(&mut self, given: &str) -> Result<Vec<String>>;
    /// Inserts a held run and its waits.
    fn insert_held(&mut self, held: &HeldRun) -> Result<()>;
    /// Inserts the first attempt of a held run enqueued with a retry policy.
    fn insert_attempt(&mut self, attempt: &crate::model::Attempt) -> Result<()>;
    /// The held run with this id, locked against a concurrent release (PostgreSQL: with
    /// `skip_locked`, None when another transaction holds it; else waited for).
    fn lock_held(&mut self, id: &str, skip_locked: bool) -> Result<Option<HeldRun>>;
    /// At most `limit` held runs due at `now` after the key `after` in (due_at, id) order,
    /// earliest first, locked: their (due_at, id).
    fn due_ids(
        &mut self,
        now: &str,
        after: &(String, String),
        limit: usize,
    ) -> Result<Vec<(String, String)>>;
    /// The runs a held run waits on and their states.
    fn waits_of(&mut self, id: &str) -> Result<Vec<(String, WaitOn)>>;
    /// Moves these held runs into `durably_runs`, pending, created at `now`; the ids moved
    /// (those a unique index refused stay held).
    fn move_runs(&mut self, ids: &[String], now: &str) -> Result<Vec<String>>;
    /// Moves a held run into `durably_runs` as cancelled with `error` (its idempotency key
    /// only with `keep_key`); false when an index refused it.
    fn end_run(&mut self, id: &str, now: &str, error: &str, keep_key: bool) -> Result<bool>;
    /// Deletes a held run and its waits; false when there was none.
    fn delete_held(&mut self, id: &str) -> Result<bool>;
}

/// What one release did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Released {
    /// Moved into `durably_runs` as pending.
    pub released: u64,
    /// Moved in as cancelled (a run waited on failed, the idempotency key was taken).
    pub cancelled: u64,
    /// Due but kept (a pending run holds the concurrency key).
    pub kept: u64,
    /// Due runs looked at (a full batch: more may be due).
    pub due: u64,
    /// The transaction's now.
    pub now: String,
    /// The (due_at, id) of the last due run looked at: the next batch of the same poll starts
    /// after it, so it never walks again over the index entries of runs just moved (which
    /// PostgreSQL keeps until a vacuum).
    pub last: Option<(String, String)>,
}

/// What the poll's read found: whether a held run is due, and the held runs to judge because
/// a run they wait on has ended.
#[derive(Debug, Default, Clone)]
pub struct HeldPeek {
    /// The database's now.
    pub now: String,
    pub due: bool,
    /// Any held run waits on others.
    pub waits: bool,
    /// Held runs with a wait that ended.
    pub candidates: Vec<String>,
    /// Where the next page of the sweep starts (None: back at the beginning).
    pub sweep_next: Option<(String, String)>,
}

/// Enqueues a held run: the run holding its idempotency key answers (in `durably_runs`, then
/// among held runs); else it is inserted with a new id and its waits resolved.
pub fn enqueue(st: &mut impl HeldStatements, spec: &RunSpec) -> Result<HeldAnswer> {
    let hold = spec
        .hold
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("enqueue of a held run without its hold"))?;
    if let Some(key) = &spec.idempotency_key {
        if let Some(run) = st.run_by_idempotency_key(&spec.job, key)? {
            return Ok(HeldAnswer::Run(run));
        }
        if let Some(held) = st.held_by_idempotency_key(&spec.job, key)? {
            return Ok(HeldAnswer::Existing(held));
        }
    }
    crate::model::validate_labels(&spec.labels)?;
    let now = st.now()?;
    let due_at = match &hold.due {
        None => None,
        Some(Due::At(ms)) => Some(crate::time::format_ms(*ms)),
        Some(Due::In(d)) => {
            let base = crate::time::parse_ms(&now).unwrap_or_else(crate::time::now_ms);
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            Some(crate::time::format_ms(base.saturating_add(ms)))
        }
    };
    let mut after = Vec::new();
    for given in &hold.after {
        let id = resolve_any(st, given).map_err(|e| match e.downcast::<StoreError>() {
            Ok(StoreError::NotFound(_)) => {
                StoreError::NotFound(format!("--after {given}: no run or held run has this id"))
                    .into()
            }
            Ok(other) => other.into(),
            Err(e) => e,
        })?;
        if !after.contains(&id) {
            after.push(id);
        }
    }
    let id = crate::model::new_id();
    let status = if due_at.is_some() {
        crate::model::held::SCHEDULED
    } else {
        crate::model::held::WAITING
    };
    let mut run = Run::pending(id, spec, crate::model::labels_json(&spec.labels), now);
    run.status = status.into();
    let held = HeldRun {
        run,
        due_at,
        after,
        after_any: hold.after_any,
    };
    st.insert_held(&held)?;
    // A retry policy lives in our attempts table, keyed by the id the run keeps at release.
    if let Some(policy) = &spec.retry {
        st.insert_attempt(&super::retries::first_attempt(&held.run.id, policy))?;
    }
    Ok(HeldAnswer::Created(held))
}

/// The answer of an enqueue with a hold.
#[derive(Debug, Clone)]
pub enum HeldAnswer {
    /// A new held run.
    Created(HeldRun),
    /// The held run that holds the spec's idempotency key.
    Existing(HeldRun),
    /// The run in `durably_runs` that holds the spec's idempotency key.
    Run(Run),
}

impl HeldAnswer {
    /// The run (a held one with its status `scheduled` or `waiting`) and the disposition.
    pub fn into_run(self) -> (Run, crate::model::Disposition) {
        use crate::model::Disposition;
        match self {
            HeldAnswer::Created(h) => (h.run, Disposition::Created),
            HeldAnswer::Existing(h) => (h.run, Disposition::Idempotent),
            HeldAnswer::Run(run) => (run, Disposition::Idempotent),
        }
    }
}

/// One release: the due runs (at most `limit`, after the key `after`: the previous batch's
/// last) and the waiting `candidates`, in the caller's transaction.
pub fn release(
    st: &mut impl HeldStatements,
    candidates: &[String],
    limit: usize,
    after: Option<&(String, String)>,
) -> Result<Released> {
    let now = st.now()?;
    let start = (String::new(), String::new());
    let keys = st.due_ids(&now, after.unwrap_or(&start), limit)?;
    let mut done = Released {
        now: now.clone(),
        last: keys.last().cloned(),
        due: keys.len() as u64,
        ..Released::default()
    };
    let due: Vec<String> = keys.into_iter().map(|(_, id)| id).collect();
    if !due.is_empty() {
        let moved = st.move_runs(&due, &now)?;
        done.released += moved.len() as u64;
        if moved.len() < due.len() {
            for id in due.iter().filter(|id| !moved.contains(id)) {
                settle_refused(st, id, &now, &mut done)?;
            }
        }
    }
    for id in candidates {
        judge_waiting(st, id, &now, &mut done)?;
    }
    Ok(done)
}

/// A held run a unique index refused at release: cancelled when another run took its
/// idempotency key, else kept (its concurrency key is held by a pending run).
fn settle_refused(
    st: &mut impl HeldStatements,
    id: &str,
    now: &str,
    done: &mut Released,
) -> Result<()> {
    let Some(held) = st.lock_held(id, true)? else {
        return Ok(());
    };
    if let Some(key) = &held.run.idempotency_key {
        if let Some(holder) = st.run_by_idempotency_key(&held.run.job_name, key)? {
            if holder.id != held.run.id {
                let error = format!(
                    "not started: run {} of job {} took idempotency key {key:?} while this run was held",
                    holder.id, holder.job_name
                );
                if st.end_run(id, now, &error, false)? {
                    done.cancelled += 1;
                }
                return Ok(());
            }
        }
    }
    done.kept += 1;
    Ok(())
}

/// What becomes of a waiting run, by its waits: released, cancelled, or kept waiting.
fn judge_waiting(
    st: &mut impl HeldStatements,
    id: &str,
    now: &str,
    done: &mut Released,
) -> Result<()> {
    let Some(held) = st.lock_held(id, true)? else {
        return Ok(());
    };
    if held.due_at.is_some() {
        return Ok(());
    }
    let waits = st.waits_of(id)?;
    let mut all_ended = true;
    let mut spoiled = None;
    for (on, state) in &waits {
        let ended_badly = match state {
            WaitOn::Held => {
                all_ended = false;
                None
            }
            WaitOn::Run(status) => match status.as_str() {
                "completed" => None,
                "failed" | "cancelled" => Some(format!("run {on} waited on is {status}")),
                _ => {
                    all_ended = false;
                    None
                }
            },
            WaitOn::Gone => Some(format!("run {on} waited on was deleted")),
        };
        if spoiled.is_none() {
            spoiled = ended_badly;
        }
    }
    if let (Some(reason), false) = (&spoiled, held.after_any) {
        if st.end_run(id, now, &format!("not started: {reason}"), true)?
            || st.end_run(id, now, &format!("not started: {reason}"), false)?
        {
            done.cancelled += 1;
        }
        return Ok(());
    }
    if !all_ended {
        return Ok(());
    }
    let moved = st.move_runs(&[id.to_string()], now)?;
    if moved.is_empty() {
        settle_refused(st, id, now, done)?;
    } else {
        done.released += 1;
    }
    Ok(())
}

/// `durably cancel` of a held run: moved into `durably_runs` as cancelled (the library sees
/// it); false when no held run has this id (any longer).
pub fn cancel(st: &mut impl HeldStatements, id: &str) -> Result<bool> {
    if st.lock_held(id, false)?.is_none() {
        return Ok(false);
    }
    let now = st.now()?;
    let error = "cancelled while held (durably cancel)";
    Ok(st.end_run(id, &now, error, true)? || st.end_run(id, &now, error, false)?)
}

/// The id of the held run a handle names (its full id or a unique tail of 8+ characters):
/// None when none does; ambiguous: a usage error, as for runs.
pub fn resolve_held(st: &mut impl HeldStatements, given: &str) -> Result<Option<String>> {
    let given = given.trim();
    if given.is_empty() || !super::handles::is_handle(given) {
        return Ok(None);
    }
    let found = st.held_named(given)?;
    if found.is_empty() {
        return Ok(None);
    }
    super::handles::pick(given, found, false).map(Some)
}

/// The id of the held run or run a handle names: held runs first (full id or tail), then
/// runs by every handle rule ([`super::handles::resolve`]).
pub fn resolve_any(st: &mut impl HeldStatements, given: &str) -> Result<String> {
    match resolve_held(st, given)? {
        Some(id) => Ok(id),
        None => st.resolve_run(given),
    }
}

/// Which stored ids a held-run handle names, by the rule of [`resolve_held`]: `given` itself
/// when it is an id, else the candidates sharing its last 8 characters that end with it.
pub fn tail_matches(given: &str, exact: bool, sharing_tail: Vec<String>) -> Vec<String> {
    if exact {
        return vec![given.to_string()];
    }
    let lower = given.to_ascii_lowercase();
    sharing_tail
        .into_iter()
        .filter(|id| id.to_ascii_lowercase().ends_with(&lower))
        .collect()
}
