//! Enqueueing on PostgreSQL with the rules of store/enqueue.rs: idempotency key first (a
//! duplicate returns the existing run), then labels are validated, then the pending
//! concurrency key (conflict, or the pending run with coalesce).
//!
//! Two enqueuers race without a table lock: the insert is `ON CONFLICT DO NOTHING` against the
//! library's unique indexes (`idx_durably_runs_job_idempotency`,
//! `idx_durably_runs_pending_concurrency`), which waits for a concurrent transaction holding the
//! same key and then inserts nothing. The run holding the key is then read (READ COMMITTED: the
//! next statement sees the other transaction's commit) and answers as it would have if it had
//! been there first. A run valid labels and no key taken costs one round trip.

use super::runs::{get_run, run_from_row};
use crate::error::CodedError;
use crate::model::{labels_json, new_id, validate_labels, Disposition, Run, RunSpec, RUN_COLUMNS};
use crate::store::enqueue::Clock;
use anyhow::{bail, Result};
use postgres::GenericClient;

/// Enqueues one run inside the caller's transaction (READ COMMITTED).
pub fn enqueue(
    c: &mut impl GenericClient,
    spec: &RunSpec,
    clock: &mut Clock,
) -> Result<(Run, Disposition)> {
    if validate_labels(&spec.labels).is_err() {
        // The idempotency key answers before the labels are looked at.
        if let Some(key) = &spec.idempotency_key {
            if let Some(run) = by_idempotency_key(c, &spec.job, key)? {
                return Ok((run, Disposition::Idempotent));
            }
        }
        validate_labels(&spec.labels)?;
    }
    let labels = labels_json(&spec.labels);
    let keys: Vec<&str> = spec.labels.iter().map(|(k, _)| k.as_str()).collect();
    let values: Vec<&str> = spec.labels.iter().map(|(_, v)| v.as_str()).collect();
    // A key held by a run that changes between the insert and the read (a pending run claimed,
    // an idempotent twin deleted) frees it: try again.
    for _ in 0..8 {
        let id = new_id();
        let now = clock.now().to_string();
        let inserted: i64 = c
            .query_one(
                include_str!("../../../sql/postgres/enqueue_run.sql"),
                &[
                    &id,
                    &spec.job,
                    &spec.input,
                    &spec.idempotency_key,
                    &spec.concurrency_key,
                    &labels,
                    &now,
                    &keys,
                    &values,
                ],
            )?
            .try_get(0)?;
        if inserted == 1 {
            let run = Run {
                id,
                job_name: spec.job.clone(),
                input: spec.input.clone(),
                status: "pending".into(),
                idempotency_key: spec.idempotency_key.clone(),
                concurrency_key: spec.concurrency_key.clone(),
                labels,
                current_step_index: 0,
                completed_step_count: 0,
                progress: None,
                output: None,
                error: None,
                lease_owner: None,
                lease_expires_at: None,
                lease_generation: 0,
                started_at: None,
                completed_at: None,
                created_at: now.clone(),
                updated_at: now,
            };
            return Ok((run, Disposition::Created));
        }
        if let Some(key) = &spec.idempotency_key {
            if let Some(run) = by_idempotency_key(c, &spec.job, key)? {
                return Ok((run, Disposition::Idempotent));
            }
        }
        if let Some(key) = &spec.concurrency_key {
            if let Some(run) = pending_by_concurrency_key(c, &spec.job, key)? {
                if spec.coalesce {
                    return Ok((run, Disposition::Coalesced));
                }
                return Err(CodedError::conflict(format!(
                    "a pending run of job {:?} with concurrency key {key:?} already exists ({}); use --coalesce to get it instead",
                    spec.job, run.id
                ))
                .into());
            }
        }
        if get_run(c, &id)?.is_some() {
            bail!("run id {id} is taken");
        }
    }
    bail!(
        "cannot enqueue a run of job {:?}: its keys keep changing hands",
        spec.job
    )
}

fn by_idempotency_key(c: &mut impl GenericClient, job: &str, key: &str) -> Result<Option<Run>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM durably_runs WHERE job_name = $1 AND idempotency_key = $2"
    );
    c.query_opt(&sql, &[&job, &key])?
        .map(|r| run_from_row(&r))
        .transpose()
}

fn pending_by_concurrency_key(
    c: &mut impl GenericClient,
    job: &str,
    key: &str,
) -> Result<Option<Run>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM durably_runs WHERE job_name = $1 AND concurrency_key = $2 \
         AND status = 'pending' ORDER BY created_at, id COLLATE \"C\" LIMIT 1"
    );
    c.query_opt(&sql, &[&job, &key])?
        .map(|r| run_from_row(&r))
        .transpose()
}
