//! Enqueueing on PostgreSQL by the rule written once in [`rules::key_holder_answer`]
//! (idempotency key first, whatever the labels; then labels are validated; then the pending
//! concurrency key: conflict, or the pending run with coalesce), over this backend's two reads
//! (`KeyReads`).
//!
//! Two enqueuers race without a table lock: the insert is `ON CONFLICT DO NOTHING` against the
//! library's unique indexes (`idx_durably_runs_job_idempotency`,
//! `idx_durably_runs_pending_concurrency`), which waits for a concurrent transaction holding the
//! same key and then inserts nothing. The run holding the key is then read (READ COMMITTED: the
//! next statement sees the other transaction's commit) and answers as it would have if it had
//! been there first. A run valid labels and no key taken costs one round trip.
//!
//! `created_at` and `updated_at` are the database's now (the transaction's start, as every
//! time the CLI writes on PostgreSQL), never earlier than a run this process created before
//! ([`Clock::observe`]): hosts whose clocks disagree still enqueue in one order.

use super::rows::run_from_row;
use super::runs::get_run;
use super::typed::p;
use crate::model::{labels_json, new_id, validate_labels, Disposition, Run, RunSpec};
use crate::store::columns::RUN_COLUMNS;
use crate::store::rules;
use crate::store::Clock;
use anyhow::{anyhow, bail, Result};
use postgres::types::{ToSql, Type};
use postgres::{GenericClient, Row, Statement};

/// The statements of [`enqueue`]: sent unnamed for one run (one round trip each), prepared
/// once and reused in a batch (`reuse`: a statement sent unnamed is planned every time). A
/// batch's statements are closed before its COMMIT, inside its transaction, so that no name is
/// left on a server a pooler gives to another client.
#[derive(Default)]
pub struct Statements {
    pub reuse: bool,
    insert: Option<Statement>,
    by_idempotency_key: Option<Statement>,
    pending_by_concurrency_key: Option<Statement>,
}

fn prepared(
    c: &mut impl GenericClient,
    slot: &mut Option<Statement>,
    sql: &str,
) -> Result<Statement> {
    if let Some(s) = slot {
        return Ok(s.clone());
    }
    let s = c.prepare(sql)?;
    *slot = Some(s.clone());
    Ok(s)
}

/// `sql` with `params`: prepared in `slot` when `reuse`, else unnamed.
fn query_opt(
    c: &mut impl GenericClient,
    reuse: bool,
    slot: &mut Option<Statement>,
    sql: &str,
    params: &[(&(dyn ToSql + Sync), Type)],
) -> Result<Option<Row>> {
    if !reuse {
        return Ok(c.query_typed_opt(sql, params)?);
    }
    let stmt = prepared(c, slot, sql)?;
    let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
    Ok(c.query_opt(&stmt, &values)?)
}

/// Enqueues one run inside the caller's transaction (READ COMMITTED).
pub fn enqueue(
    c: &mut impl GenericClient,
    spec: &RunSpec,
    clock: &mut Clock,
    st: &mut Statements,
) -> Result<(Run, Disposition)> {
    if validate_labels(&spec.labels).is_err() {
        // The idempotency key answers before the labels are looked at: the rule says which
        // (an idempotent twin, else the labels' refusal).
        if let Some(answer) = rules::key_holder_answer(&mut KeyReads { c, st }, spec)? {
            return Ok(answer);
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
        let floor = clock.last().to_string();
        let row = query_opt(
            c,
            st.reuse,
            &mut st.insert,
            include_str!("../../../sql/postgres/enqueue_run.sql"),
            &[
                p(&id),
                p(&spec.job),
                p(&spec.input),
                p(&spec.idempotency_key),
                p(&spec.concurrency_key),
                p(&labels),
                p(&floor),
                p(&keys),
                p(&values),
            ],
        )?
        .ok_or_else(|| anyhow!("the insert of a run answered no row"))?;
        let inserted: i64 = row.try_get(0)?;
        if inserted == 1 {
            let created: String = row.try_get(1)?;
            let now = clock.observe(&created).to_string();
            if let Some(policy) = &spec.retry {
                let first = crate::store::retries::first_attempt(&id, policy);
                super::retries::insert_attempt(c, &first)?;
            }
            let run = Run::pending(id, spec, labels, now);
            return Ok((run, Disposition::Created));
        }
        // A unique index refused the insert: the run holding the key answers, by the rule.
        if let Some(answer) = rules::key_holder_answer(&mut KeyReads { c, st }, spec)? {
            return Ok(answer);
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

/// The reads of [`rules::KeyHolders`] in the caller's transaction, prepared once per batch.
struct KeyReads<'a, C> {
    c: &'a mut C,
    st: &'a mut Statements,
}

impl<C: GenericClient> rules::KeyHolders for KeyReads<'_, C> {
    fn by_idempotency_key(&mut self, job: &str, key: &str) -> Result<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM durably_runs WHERE job_name = $1 AND idempotency_key = $2"
        );
        let reuse = self.st.reuse;
        let slot = &mut self.st.by_idempotency_key;
        query_opt(self.c, reuse, slot, &sql, &[p(&job), p(&key)])?
            .map(|r| run_from_row(&r))
            .transpose()
    }

    fn pending_by_concurrency_key(&mut self, job: &str, key: &str) -> Result<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM durably_runs WHERE job_name = $1 AND concurrency_key = $2 \
             AND status = 'pending' ORDER BY created_at, id COLLATE \"C\" LIMIT 1"
        );
        let reuse = self.st.reuse;
        let slot = &mut self.st.pending_by_concurrency_key;
        query_opt(self.c, reuse, slot, &sql, &[p(&job), p(&key)])?
            .map(|r| run_from_row(&r))
            .transpose()
    }
}

/// Runs of an `enqueue-many` batch that have neither an idempotency key nor a concurrency key:
/// no unique index can refuse them, so their answer (created) is known before they are written,
/// and they are inserted many rows per statement ([`Buffer::flush`]). The command prints its
/// per-line results only after the commit, so a failed flush still fails the whole batch.
#[derive(Default)]
pub struct Buffer {
    ids: Vec<String>,
    jobs: Vec<String>,
    inputs: Vec<String>,
    labels: Vec<String>,
    created: Vec<String>,
    label_runs: Vec<String>,
    label_keys: Vec<String>,
    label_values: Vec<String>,
    /// For the runs with keys, enqueued one by one.
    pub statements: Statements,
}

/// Rows per multi-row INSERT: large enough that round trips do not count, small enough to keep
/// the arrays a few megabytes.
const FLUSH_ROWS: usize = 2000;

impl Buffer {
    /// Buffers a keyless run: Some(its answer), or None when the spec has a key (the caller
    /// flushes and takes the one-by-one path).
    pub fn push(
        &mut self,
        c: &mut impl GenericClient,
        spec: &RunSpec,
        clock: &mut Clock,
    ) -> Result<Option<(Run, Disposition)>> {
        // A run with a retry policy also takes the one-by-one path (its attempt row).
        if spec.idempotency_key.is_some() || spec.concurrency_key.is_some() || spec.retry.is_some()
        {
            return Ok(None);
        }
        validate_labels(&spec.labels)?;
        let id = new_id();
        // The database's now, read when the batch began ([`super::Postgres::enqueue_batch`]).
        let now = clock.last().to_string();
        let labels = labels_json(&spec.labels);
        for (k, v) in &spec.labels {
            self.label_runs.push(id.clone());
            self.label_keys.push(k.clone());
            self.label_values.push(v.clone());
        }
        self.ids.push(id.clone());
        self.jobs.push(spec.job.clone());
        self.inputs.push(spec.input.clone());
        self.labels.push(labels.clone());
        self.created.push(now.clone());
        if self.ids.len() >= FLUSH_ROWS {
            self.flush(c)?;
        }
        let run = Run::pending(id, spec, labels, now);
        Ok(Some((run, Disposition::Created)))
    }

    /// Inserts the buffered runs and their label rows: two statements.
    pub fn flush(&mut self, c: &mut impl GenericClient) -> Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        c.execute_typed(
            include_str!("../../../sql/postgres/insert_runs.sql"),
            &[
                p(&self.ids),
                p(&self.jobs),
                p(&self.inputs),
                p(&self.labels),
                p(&self.created),
            ],
        )?;
        if !self.label_runs.is_empty() {
            c.execute_typed(
                "INSERT INTO durably_run_labels (run_id, key, value) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
                &[
                    p(&self.label_runs),
                    p(&self.label_keys),
                    p(&self.label_values),
                ],
            )?;
        }
        for v in [
            &mut self.ids,
            &mut self.jobs,
            &mut self.inputs,
            &mut self.labels,
            &mut self.created,
            &mut self.label_runs,
            &mut self.label_keys,
            &mut self.label_values,
        ] {
            v.clear();
        }
        Ok(())
    }
}
