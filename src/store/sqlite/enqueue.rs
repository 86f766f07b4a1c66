//! Enqueueing runs on SQLite: the run that already answers the spec, by the rule written once
//! in [`rules::key_holder_answer`] (idempotency key, then labels, then the pending concurrency
//! key) over this backend's two reads (`KeyReads`); else the insert of the run and its label
//! rows. Callers hold a `BEGIN IMMEDIATE` transaction, so nothing can slip in between the
//! checks and the insert.

use super::rows::run_from_row;
use crate::model::{labels_json, new_id, Disposition, Run, RunSpec};
use crate::store::columns::RUN_COLUMNS;
use crate::store::rules;
use crate::store::Clock;

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};

/// Enqueues one run inside the caller's transaction.
pub fn enqueue(tx: &Connection, spec: &RunSpec, clock: &mut Clock) -> Result<(Run, Disposition)> {
    if let Some(answer) = rules::key_holder_answer(&mut KeyReads(tx), spec)? {
        return Ok(answer);
    }
    let id = new_id();
    let now = clock.now().to_string();
    let labels = labels_json(&spec.labels);
    tx.prepare_cached(include_str!("../../../sql/insert_run.sql"))?
        .execute(params![
            id,
            spec.job,
            spec.input,
            spec.idempotency_key,
            spec.concurrency_key,
            labels,
            now
        ])?;
    let mut insert_label = tx.prepare_cached(include_str!("../../../sql/insert_label.sql"))?;
    for (k, v) in &spec.labels {
        insert_label.execute(params![id, k, v])?;
    }
    if let Some(policy) = &spec.retry {
        super::retries::insert_attempt(tx, &crate::store::retries::first_attempt(&id, policy))?;
    }
    let run = Run::pending(id, spec, labels, now);
    Ok((run, Disposition::Created))
}

/// The reads of [`rules::KeyHolders`] in the caller's transaction.
pub(super) struct KeyReads<'a>(pub(super) &'a Connection);

impl rules::KeyHolders for KeyReads<'_> {
    fn by_idempotency_key(&mut self, job: &str, key: &str) -> Result<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM durably_runs WHERE job_name = ?1 AND idempotency_key = ?2"
        );
        Ok(self
            .0
            .prepare_cached(&sql)?
            .query_row([job, key], run_from_row)
            .optional()?)
    }

    fn pending_by_concurrency_key(&mut self, job: &str, key: &str) -> Result<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM durably_runs WHERE job_name = ?1 AND concurrency_key = ?2 \
             AND status = 'pending' ORDER BY created_at, id LIMIT 1"
        );
        Ok(self
            .0
            .prepare_cached(&sql)?
            .query_row([job, key], run_from_row)
            .optional()?)
    }
}
