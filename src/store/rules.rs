//! What the commands that change a run mean, written once for both backends: which runs can be
//! retriggered, cancelled or deleted and what a refusal says ([`RunWrites`]), which run answers
//! an enqueue and in which order its keys and labels are checked ([`KeyHolders`]), when a live
//! lease holds a run's concurrency key, which runs a purge selects, and the choices of the `ls`
//! planner. A backend supplies only the statements,
//! inside its own transaction.

use super::PurgeFilter;
use crate::error::StoreError;
use crate::model::{validate_labels, Disposition, Run, RunSpec, Status};
use anyhow::Result;

/// What a backend offers inside one write transaction, for the rules below. Every call runs in
/// the same transaction, so nothing changes the run between the check and the write.
pub trait RunWrites {
    /// Resolves a handle ([`super::handles`]) and loads the run.
    fn find_run(&mut self, given: &str) -> Result<Run>;
    /// Cancels the run if it is pending or leased (`cancel_run.sql`); false when it is not.
    fn cancel_run(&mut self, id: &str) -> Result<bool>;
    /// Deletes the run with its labels, steps and logs.
    fn delete_run(&mut self, id: &str) -> Result<()>;
    /// Enqueues a run by the enqueue rules.
    fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)>;
}

/// Enqueues a terminal run again as a new run (same job, input, labels, concurrency key);
/// a conflict when the run is not terminal.
pub fn retrigger(tx: &mut impl RunWrites, given: &str) -> Result<Run> {
    let old = tx.find_run(given)?;
    if !old.is_terminal() {
        return Err(StoreError::Conflict(format!(
            "run {} is {}; only terminal runs can be retriggered",
            old.id, old.status
        ))
        .into());
    }
    let spec = RunSpec {
        job: old.job_name.clone(),
        input: old.input.clone(),
        labels: old.label_pairs(),
        idempotency_key: None,
        concurrency_key: old.concurrency_key.clone(),
        coalesce: false,
        hold: None,
        retry: None,
    };
    let (run, _) = tx.enqueue(&spec)?;
    Ok(run)
}

/// Cancels a pending or leased run; its id (a conflict when it is not cancellable).
pub fn cancel(tx: &mut impl RunWrites, given: &str) -> Result<String> {
    let run = tx.find_run(given)?;
    if !tx.cancel_run(&run.id)? {
        return Err(StoreError::Conflict(format!(
            "run {} is {}; only pending or leased runs can be cancelled",
            run.id, run.status
        ))
        .into());
    }
    Ok(run.id)
}

/// Deletes a run with its labels, steps and logs; its id. Only a terminal run unless `force`
/// (a conflict otherwise).
pub fn delete(tx: &mut impl RunWrites, given: &str, force: bool) -> Result<String> {
    let run = tx.find_run(given)?;
    if !run.is_terminal() && !force {
        return Err(StoreError::Conflict(format!(
            "run {} is {}; only terminal runs are deleted (use --force)",
            run.id, run.status
        ))
        .into());
    }
    tx.delete_run(&run.id)?;
    Ok(run.id)
}

/// The statements enqueue's rules read, inside the enqueue's own transaction: the runs that
/// hold a spec's keys. Each backend reads them off the library's unique indexes
/// (`idx_durably_runs_job_idempotency`, `idx_durably_runs_pending_concurrency`).
pub trait KeyHolders {
    /// The run of `job` with idempotency key `key`, whatever its status.
    fn by_idempotency_key(&mut self, job: &str, key: &str) -> Result<Option<Run>>;
    /// The oldest pending run of `job` with concurrency key `key`.
    fn pending_by_concurrency_key(&mut self, job: &str, key: &str) -> Result<Option<Run>>;
}

/// Which run already answers an enqueue of `spec`, in the library's order: the run holding its
/// idempotency key (idempotent, whatever its status and even when the spec's labels are
/// invalid); else, the labels checked ([`validate_labels`], an invalid label refused), the
/// pending run of the job holding its concurrency key (`pending_key_holder`: coalesced, or a
/// conflict). None when nothing answers: the run is to be inserted, created.
///
/// SQLite asks before it inserts (its write lock keeps the answer true until the commit);
/// PostgreSQL inserts first and asks when a unique index refused the insert (`pg::enqueue`).
/// A spec without keys costs no statement.
pub fn key_holder_answer(
    st: &mut impl KeyHolders,
    spec: &RunSpec,
) -> Result<Option<(Run, Disposition)>> {
    if let Some(key) = &spec.idempotency_key {
        if let Some(run) = st.by_idempotency_key(&spec.job, key)? {
            return Ok(Some((run, Disposition::Idempotent)));
        }
    }
    validate_labels(&spec.labels)?;
    if let Some(key) = &spec.concurrency_key {
        if let Some(holder) = st.pending_by_concurrency_key(&spec.job, key)? {
            return pending_key_holder(spec, key, holder).map(Some);
        }
    }
    Ok(None)
}

/// The answer of an enqueue whose concurrency key `key` a pending run of the same job holds:
/// that run with `coalesce`, else a conflict.
fn pending_key_holder(spec: &RunSpec, key: &str, holder: Run) -> Result<(Run, Disposition)> {
    if spec.coalesce {
        return Ok((holder, Disposition::Coalesced));
    }
    Err(StoreError::Conflict(format!(
        "a pending run of job {:?} with concurrency key {key:?} already exists ({}); use --coalesce to get it instead",
        spec.job, holder.id
    ))
    .into())
}

/// The concurrency-key guard, as a condition on the run of table alias `run`: another run holds
/// its concurrency key with a lease unexpired at `now` (an expression of the dialect: a
/// parameter mark on SQLite, the database's clock on PostgreSQL). The library's rule is at most
/// one live lease per concurrency key, across jobs: a claim skips such a run, and a worker's
/// closing note counts it as blocked (`pending_for`). False for a run without a key. Both
/// dialects accept the text.
pub fn key_held_by_live_lease(run: &str, now: &str) -> String {
    format!(
        "({run}.concurrency_key IS NOT NULL AND EXISTS (SELECT 1 FROM durably_runs AS active \
         WHERE active.concurrency_key = {run}.concurrency_key AND active.id <> {run}.id \
         AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL \
         AND active.lease_expires_at > {now}))"
    )
}

/// The condition of a purge on `durably_runs`, the same in both dialects but for the marks of
/// its parameters (`mark(n)` for the n-th, from 1), and its parameters: runs in the filter's
/// statuses (every terminal status when it names none) completed before the cutoff, of its
/// jobs, with all its labels. Only terminal runs have `completed_at`.
pub fn purge_condition(f: &PurgeFilter, mark: impl Fn(usize) -> String) -> (String, Vec<String>) {
    let statuses: Vec<Status> = if f.statuses.is_empty() {
        Status::TERMINAL.to_vec()
    } else {
        f.statuses.clone()
    };
    let mut params = vec![f.cutoff.clone()];
    let mut marks = Vec::new();
    for s in statuses {
        params.push(s.as_str().into());
        marks.push(mark(params.len()));
    }
    let mut sql = format!(
        "status IN ({}) AND completed_at IS NOT NULL AND completed_at < {}",
        marks.join(", "),
        mark(1)
    );
    if !f.jobs.is_empty() {
        let mut jm = Vec::new();
        for j in &f.jobs {
            params.push(j.clone());
            jm.push(mark(params.len()));
        }
        sql.push_str(&format!(" AND job_name IN ({})", jm.join(", ")));
    }
    for (k, v) in &f.labels {
        params.push(k.clone());
        params.push(v.clone());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM durably_run_labels AS x WHERE x.run_id = durably_runs.id AND x.key = {} AND x.value = {})",
            mark(params.len() - 1),
            mark(params.len())
        ));
    }
    (sql, params)
}

/// The `ls` planner's bounds on the label-first cap, about √(page × runs) between them: below
/// the cap, sorting the driving label's matches costs less than walking the runs' index until a
/// page of matches has passed; above it the walk is cheaper while the matches are spread over
/// time. Both backends plan with them (`sqlite::list`, `pg::runs`).
pub const LABEL_FIRST_MIN_CAP: i64 = 200;
/// See [`LABEL_FIRST_MIN_CAP`].
pub const LABEL_FIRST_MAX_CAP: i64 = 20_000;

/// The label-first cap for a page of `page` runs over about `runs` runs.
pub fn label_first_cap(page: i64, runs: i64) -> i64 {
    ((page.max(1).saturating_mul(runs.max(1)) as f64).sqrt() as i64)
        .clamp(LABEL_FIRST_MIN_CAP, LABEL_FIRST_MAX_CAP)
}
