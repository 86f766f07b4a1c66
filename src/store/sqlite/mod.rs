//! The SQLite backend of [`super::Store`]: one rusqlite connection ([`db`] opens it), every
//! write in one `BEGIN IMMEDIATE` transaction, the statements in the submodules, rows mapped
//! in [`rows`]. The rules of each command are [`super::rules`], [`super::handles`] and
//! [`super::reads`]; this backend supplies their statements ([`super::rules::RunWrites`],
//! [`super::rules::KeyHolders`], [`super::handles::IdLookup`], [`super::reads::Snapshot`]).

pub mod admin;
pub mod big_text;
pub mod db;
pub mod enqueue;
pub mod feed;
pub mod held;
pub mod lease;
pub mod list;
pub mod maintenance;
pub mod pauses;
pub mod pending;
pub mod retries;
pub mod rows;
pub mod schedules;
pub mod steps;

use super::backend::{FencedWrites, Leases, RunChanges, RunReads};
use super::handles::{self, TAIL_MIN};
use super::pauses as store_pauses;
use super::types::{
    Access, Clock, Fence, Fenced, Jobs, ListFilter, NewLog, NewStep, Options, Plan,
};
use super::{reads, rules, StepRecord};
use crate::model::{
    Attempt, Disposition, FailureCause, Log, Pause, PauseScope, RetryPolicy, Run, RunSpec, Step,
};
use anyhow::Result;
use rows::get_run;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The database of one process (a worker's renewal thread opens its own with
/// [`super::Store::open_again`]).
pub struct Sqlite {
    pub(in crate::store) conn: Connection,
    pub(in crate::store) path: PathBuf,
    /// Timestamps of this process never go backwards, even if the system clock does.
    pub(in crate::store) clock: Clock,
    /// The file has our own tables (`durably_cli_*`, [`crate::store::ours`]); false on a file
    /// the library created until a feature that needs them is used.
    pub(in crate::store) ours: bool,
}

/// Enqueues inside the one transaction of [`Sqlite::enqueue_batch`].
pub struct SqliteBatch<'s> {
    conn: &'s Connection,
    path: &'s Path,
    clock: &'s mut Clock,
}

impl SqliteBatch<'_> {
    /// Like [`super::Store::enqueue`], in the batch's transaction.
    pub fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)> {
        if spec.hold.is_some() {
            let st = &mut held::Held {
                conn: self.conn,
                clock: self.clock,
            };
            let answer = super::held::enqueue(st, spec).map_err(|e| db::describe(e, self.path));
            return answer.map(super::held::HeldAnswer::into_run);
        }
        enqueue::enqueue(self.conn, spec, self.clock).map_err(|e| db::describe(e, self.path))
    }
}

/// The statements of [`rules`] in one `BEGIN IMMEDIATE` transaction.
struct Writes<'a> {
    tx: &'a Connection,
    clock: &'a mut Clock,
    /// Our tables exist: a deleted run's rows in them go with it.
    ours: bool,
}

impl rules::RunWrites for Writes<'_> {
    fn find_run(&mut self, given: &str) -> Result<Run> {
        find_run(self.tx, given)
    }

    fn cancel_run(&mut self, id: &str) -> Result<bool> {
        admin::cancel(self.tx, id, &crate::time::now())
    }

    fn delete_run(&mut self, id: &str) -> Result<()> {
        admin::delete_run(self.tx, id, self.ours)
    }

    fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)> {
        enqueue::enqueue(self.tx, spec, self.clock)
    }
}

impl Sqlite {
    /// Opens the database for a command, checking (and for writers, creating) the schema.
    pub fn open(path: &Path, opts: &Options, access: Access) -> Result<Sqlite> {
        let (conn, ours) = db::open(path, opts, access)?;
        Ok(Sqlite {
            conn,
            path: path.to_path_buf(),
            clock: Clock::default(),
            ours,
        })
    }

    /// A second connection to the same file (a worker's lease-renewal thread). Only `durably
    /// work` opens again, and it made sure of our tables when it started.
    pub fn open_again(path: &Path, opts: &Options) -> Result<Sqlite> {
        Ok(Sqlite {
            conn: db::connect_again(path, opts)?,
            path: path.to_path_buf(),
            clock: Clock::default(),
            ours: true,
        })
    }

    /// Whether the file has our own tables ([`crate::store::ours`]).
    pub fn has_ours(&self) -> bool {
        self.ours
    }

    /// Creates our own tables if the file lacks them ([`crate::store::ours`]).
    pub fn ensure_ours(&mut self) -> Result<()> {
        if !self.ours {
            db::create_ours(&self.conn).map_err(|e| db::describe(e, &self.path))?;
            self.ours = true;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The identity (device, inode) of the file this connection has open, to compare with
    /// what its path names later (a file moved or deleted under a worker); None when it
    /// cannot be told.
    pub fn file_id(&self) -> Option<db::FileId> {
        db::FileId::of_connection(&self.conn)
    }

    /// Empties the WAL into the file this connection has open (see [`db::empty_wal`]).
    pub fn empty_wal(&self) -> Result<()> {
        db::empty_wal(&self.conn)
    }

    /// `f` in one `BEGIN IMMEDIATE` transaction, committed when it returns Ok.
    pub(super) fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction) -> Result<T>,
    ) -> Result<T> {
        db::write(&mut self.conn, &self.path, f)
    }

    /// `f` in one read transaction (one snapshot), ended before returning.
    pub(in crate::store) fn read<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| db::describe(e.into(), &self.path))?;
        let value = f(&tx).map_err(|e| db::describe(e, &self.path))?;
        tx.commit()
            .map_err(|e| db::describe(e.into(), &self.path))?;
        Ok(value)
    }

    // ----- changing runs -----

    /// Enqueues many runs in one `BEGIN IMMEDIATE` transaction: `f` calls
    /// [`SqliteBatch::enqueue`] for each. Committed when `commit` and `f` returns Ok, else
    /// rolled back (`commit: false` tries a batch for its first error).
    pub fn enqueue_batch<T>(
        &mut self,
        commit: bool,
        f: impl FnOnce(SqliteBatch) -> Result<T>,
    ) -> Result<T> {
        let path = &self.path;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db::describe(e.into(), path))?;
        let batch = SqliteBatch {
            conn: &tx,
            path,
            clock: &mut self.clock,
        };
        let value = f(batch)?;
        if commit {
            tx.commit().map_err(|e| db::describe(e.into(), path))?;
        }
        Ok(value)
    }
}

impl RunReads for Sqlite {
    /// The file, for messages.
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    /// The run with exactly this id.
    fn run(&self, id: &str) -> Result<Option<Run>> {
        get_run(&self.conn, id)
    }

    /// Resolves a handle (the full id, or a unique, case-insensitive prefix or tail of at
    /// least 8 characters) to the run's id.
    fn resolve_id(&mut self, given: &str) -> Result<String> {
        self.read(|c| resolve_id(c, given))
    }

    /// Resolves and loads a run (not found when unknown).
    fn find_run(&mut self, given: &str) -> Result<Run> {
        self.read(|c| find_run(c, given))
    }

    /// A run with its steps and logs, from one snapshot ([`reads::run_details`]).
    fn run_details(&mut self, given: &str) -> Result<(Run, Vec<Step>, Vec<Log>)> {
        self.read(|c| reads::run_details(&mut Reads(c), given))
    }

    /// A page of a run's logs and whether the run was terminal ([`reads::logs_page`]).
    fn logs_page(
        &mut self,
        run_id: &str,
        after: Option<(&str, &str)>,
        limit: u64,
    ) -> Result<(bool, Vec<Log>)> {
        self.read(|c| reads::logs_page(&mut Reads(c), run_id, after, limit))
    }

    /// A page of runs, newest first, after the run `before` names ([`reads::list_page`]).
    fn list_page(
        &mut self,
        before: Option<&str>,
        filter: ListFilter,
        short_ids: bool,
    ) -> Result<(Vec<Run>, Vec<String>)> {
        self.read(|c| reads::list_page(&mut Reads(c), before, filter, short_ids))
    }

    /// How [`RunReads::list_page`] would read this page: the plan and SQLite's query plans.
    fn explain_list(
        &mut self,
        before: Option<&str>,
        filter: ListFilter,
    ) -> Result<(Plan, Vec<Vec<String>>)> {
        self.read(|c| reads::explain_list(&mut Reads(c), before, filter))
    }

    /// A page of runs and a count capped at `cap + 1` ([`reads::list_page_counted`]): counting
    /// costs at most `cap + 1` rows.
    fn list_page_counted(
        &mut self,
        before: Option<&str>,
        filter: ListFilter,
        short_ids: bool,
        cap: u64,
    ) -> Result<(Vec<Run>, Vec<String>, u64)> {
        self.read(|c| reads::list_page_counted(&mut Reads(c), before, filter, short_ids, cap))
    }

    /// Runs counted by (status, job).
    fn counts(&self) -> Result<Vec<(String, String, i64)>> {
        admin::stats(&self.conn)
    }

    /// A run's steps by index.
    fn steps(&mut self, run_id: &str) -> Result<Vec<Step>> {
        self.read(|c| steps::steps_of(c, run_id))
    }

    /// Runs changed at or after `since` ([`feed::runs_updated_since`]).
    fn runs_updated_since(&self, since: &str, limit: u64) -> Result<Vec<Run>> {
        feed::runs_updated_since(&self.conn, since, limit)
    }

    /// Completions per minute ([`feed::completions_per_minute`]).
    fn completions_per_minute(&self, since: &str) -> Result<Vec<(String, String, i64)>> {
        feed::completions_per_minute(&self.conn, since)
    }
}

impl RunChanges for Sqlite {
    /// Enqueues one run (or finds its idempotent/coalesced twin) in one transaction.
    fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)> {
        let clock = &mut self.clock;
        db::write(&mut self.conn, &self.path, |tx| {
            enqueue::enqueue(tx, spec, clock)
        })
    }

    /// Enqueues a terminal run again as a new run ([`rules::retrigger`]).
    fn retrigger(&mut self, given: &str) -> Result<Run> {
        let (clock, ours) = (&mut self.clock, self.ours);
        db::write(&mut self.conn, &self.path, |tx| {
            rules::retrigger(&mut Writes { tx, clock, ours }, given)
        })
    }

    /// Cancels a pending or leased run; its id ([`rules::cancel`]).
    fn cancel(&mut self, given: &str) -> Result<String> {
        let (clock, ours) = (&mut self.clock, self.ours);
        db::write(&mut self.conn, &self.path, |tx| {
            rules::cancel(&mut Writes { tx, clock, ours }, given)
        })
    }

    /// Deletes a run with its labels, steps and logs; its id ([`rules::delete`]).
    fn delete(&mut self, given: &str, force: bool) -> Result<String> {
        let (clock, ours) = (&mut self.clock, self.ours);
        db::write(&mut self.conn, &self.path, |tx| {
            rules::delete(&mut Writes { tx, clock, ours }, given, force)
        })
    }
}

impl FencedWrites for Sqlite {
    /// The completed step `name` of a run, if any.
    fn completed_step(&self, run_id: &str, name: &str) -> Result<Option<Step>> {
        steps::completed_step(&self.conn, run_id, name)
    }

    /// Whether the fence's lease is still held.
    fn holds_lease(&self, fence: &Fence) -> Result<Fenced> {
        Ok(Fenced::when(steps::holds_lease(&self.conn, fence)?, ()))
    }

    /// Records a step (fenced). A completed step is not recorded twice: when another process
    /// of the run completed it first, its output is the answer.
    fn record_step(&mut self, fence: &Fence, step: &NewStep) -> Result<Fenced<StepRecord>> {
        self.write(|tx| {
            if step.status == "completed" {
                if let Some(done) = steps::completed_step(tx, &fence.run_id, step.name)? {
                    return Ok(Fenced::Done(StepRecord::AlreadyDone(done.output)));
                }
            }
            let index = steps::insert_step(tx, fence, step, &crate::time::now())?;
            Ok(match index {
                Some(_) => Fenced::Done(StepRecord::Recorded(step.output.map(str::to_string))),
                None => Fenced::LeaseLost,
            })
        })
    }

    /// Sets the run's progress (fenced).
    fn set_progress(&mut self, fence: &Fence, progress: &str) -> Result<Fenced> {
        self.write(|tx| {
            let ok = steps::set_progress(tx, fence, progress, &crate::time::now())?;
            Ok(Fenced::when(ok, ()))
        })
    }

    /// Appends a log line (fenced).
    fn append_log(&mut self, fence: &Fence, log: &NewLog) -> Result<Fenced> {
        self.write(|tx| {
            let ok = steps::insert_log(tx, fence, log, &crate::time::now())?;
            Ok(Fenced::when(ok, ()))
        })
    }

    /// Appends log lines in one transaction (fenced, all or none).
    fn append_logs(&mut self, fence: &Fence, logs: &[(&str, NewLog)]) -> Result<Fenced> {
        self.write(|tx| {
            // The write transaction holds the database lock: every insert sees the same
            // lease, so the first one refused means none is written.
            for (at, log) in logs {
                if !steps::insert_log(tx, fence, log, at)? {
                    return Ok(Fenced::LeaseLost);
                }
            }
            Ok(Fenced::Done(()))
        })
    }
}

impl Leases for Sqlite {
    /// Claims the oldest claimable run of `jobs` for `owner` for `lease`; also returns when
    /// the lease began by the local clock (read after BEGIN, before the claim).
    fn claim(
        &mut self,
        jobs: &Jobs,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<(Run, Instant)>> {
        let lease_ms = lease.as_millis() as i64;
        self.write(|tx| {
            let started = Instant::now();
            let ms = crate::time::now_ms();
            let now = crate::time::format_ms(ms);
            let expires = crate::time::format_ms(ms + lease_ms);
            Ok(lease::claim(tx, jobs, owner, &now, &expires)?.map(|r| (r, started)))
        })
    }

    /// Claims at most `max` of the oldest claimable runs in one `BEGIN IMMEDIATE` transaction:
    /// the claim statement again and again, each seeing the leases the previous ones took (so
    /// one live lease per concurrency key holds), until `max` or nothing is left.
    fn claim_many(
        &mut self,
        jobs: &Jobs,
        owner: &str,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<(Run, Instant)>> {
        let lease_ms = lease.as_millis() as i64;
        self.write(|tx| {
            let started = Instant::now();
            let ms = crate::time::now_ms();
            let now = crate::time::format_ms(ms);
            let expires = crate::time::format_ms(ms + lease_ms);
            let mut runs = Vec::new();
            while runs.len() < max.max(1) {
                match lease::claim(tx, jobs, owner, &now, &expires)? {
                    Some(run) => runs.push((run, started)),
                    None => break,
                }
            }
            Ok(runs)
        })
    }

    /// Extends a lease by `lease` from now (fenced, and only while unexpired): Some(when the
    /// renewal began by the local clock) when renewed.
    fn renew(&mut self, id: &str, generation: i64, lease: Duration) -> Result<Fenced<Instant>> {
        self.write(|tx| {
            let started = Instant::now();
            let ms = crate::time::now_ms();
            let now = crate::time::format_ms(ms);
            let expires = crate::time::format_ms(ms + lease.as_millis() as i64);
            let ok = lease::renew(tx, id, generation, &now, &expires)?;
            Ok(Fenced::when(ok, started))
        })
    }

    /// Extends the leases of `runs` in one transaction, each fenced as [`Self::renew`] (the
    /// file's write lock is one for all: nothing is skipped). The ids renewed.
    fn renew_many(
        &mut self,
        runs: &[(String, i64)],
        lease: Duration,
    ) -> Result<(Vec<String>, Instant)> {
        self.write(|tx| {
            let started = Instant::now();
            let ms = crate::time::now_ms();
            let now = crate::time::format_ms(ms);
            let expires = crate::time::format_ms(ms + lease.as_millis() as i64);
            let mut renewed = Vec::new();
            for (id, generation) in runs {
                if lease::renew(tx, id, *generation, &now, &expires)? {
                    renewed.push(id.clone());
                }
            }
            Ok((renewed, started))
        })
    }

    /// Completes a leased run with its output (fenced).
    fn complete(&mut self, id: &str, generation: i64, output: Option<&str>) -> Result<Fenced> {
        self.write(|tx| {
            let ok = lease::complete(tx, id, generation, output, &crate::time::now())?;
            Ok(Fenced::when(ok, ()))
        })
    }

    /// Fails a leased run with its error (fenced).
    fn fail(&mut self, id: &str, generation: i64, error: &str) -> Result<Fenced> {
        self.write(|tx| {
            let ok = lease::fail(tx, id, generation, error, &crate::time::now())?;
            Ok(Fenced::when(ok, ()))
        })
    }

    /// Gives a leased run back to the queue at once: pending again (fenced).
    fn expire(&mut self, id: &str, generation: i64) -> Result<Fenced> {
        self.write(|tx| {
            let ok = lease::expire(tx, id, generation, &crate::time::now())?;
            Ok(Fenced::when(ok, ()))
        })
    }

    /// The status and generation of a run (None when deleted).
    fn status_of(&self, id: &str) -> Result<Option<(String, i64)>> {
        lease::status_of(&self.conn, id)
    }

    /// Whether any lease has run out (a read: lets an idle worker skip the write).
    fn has_expired(&self) -> Result<bool> {
        maintenance::has_expired(&self.conn, &crate::time::now())
    }

    /// Releases at most `limit` expired leases in one transaction; returns how many.
    fn release_expired(&mut self, limit: u64) -> Result<u64> {
        self.write(|tx| {
            let r = maintenance::release_expired(tx, &crate::time::now(), limit)?;
            Ok(r.pending + r.failed)
        })
    }
}

impl crate::store::backend::Retries for Sqlite {
    fn fail_and_retry(
        &mut self,
        id: &str,
        generation: i64,
        error: &str,
        cause: FailureCause,
        default: Option<&RetryPolicy>,
        jitter: f64,
    ) -> Result<Fenced<Option<crate::store::retries::Successor>>> {
        self.write(|tx| {
            let now_ms = crate::time::now_ms();
            let mut rows = retries::Rows { conn: tx, now_ms };
            crate::store::retries::fail_and_retry(
                &mut rows, id, generation, error, cause, default, jitter,
            )
        })
    }

    fn attempts(&mut self, run_id: &str) -> Result<Vec<Attempt>> {
        self.read(|c| retries::chain(c, run_id))
    }

    fn superseded(&mut self, ids: &[String]) -> Result<Vec<String>> {
        self.read(|c| retries::superseded(c, ids))
    }

    fn give_back(&mut self, id: &str, generation: i64) -> Result<Fenced> {
        self.write(|tx| {
            let ok = lease::expire(tx, id, generation, &crate::time::now())?;
            if ok {
                tx.prepare_cached(include_str!("../../../sql/given_back_add.sql"))?
                    .execute([id])?;
            }
            Ok(Fenced::when(ok, ()))
        })
    }

    fn given_back(&mut self, id: &str) -> Result<i64> {
        self.read(|c| {
            use rusqlite::OptionalExtension;
            Ok(
                c.prepare_cached(include_str!("../../../sql/given_back.sql"))?
                    .query_row([id], |r| r.get(0))
                    .optional()?
                    .unwrap_or(0),
            )
        })
    }
}

impl crate::store::backend::Pauses for Sqlite {
    fn pause(&mut self, scopes: &[PauseScope]) -> Result<Vec<PauseScope>> {
        self.write(|tx| {
            let now = crate::time::now();
            store_pauses::pause(&mut pauses::Rows { conn: tx, now }, scopes)
        })
    }

    fn resume(&mut self, scopes: Option<&[PauseScope]>) -> Result<Vec<PauseScope>> {
        self.write(|tx| {
            let now = crate::time::now();
            store_pauses::resume(&mut pauses::Rows { conn: tx, now }, scopes)
        })
    }

    fn paused(&mut self) -> Result<Vec<Pause>> {
        self.read(|c| {
            let now = String::new();
            store_pauses::list(&mut pauses::Rows { conn: c, now })
        })
    }
}

/// Counts the runs `f` matches (labels, statuses, jobs, older than `f.before`), stopping at
/// `cap + 1`. A label filter drives the count from the label index, each further label is an
/// `EXISTS` probe of the `(run_id, key)` index.
fn count_matches(c: &Connection, f: &ListFilter, cap: u64) -> Result<u64> {
    use rusqlite::types::Value;
    let mut params: Vec<Value> = Vec::new();
    let push = |params: &mut Vec<Value>, v: String| {
        params.push(Value::Text(v));
        format!("?{}", params.len())
    };
    let mut sql = String::from("SELECT count(*) FROM (SELECT 1 FROM ");
    let mut conds: Vec<String> = Vec::new();
    let mut labels = f.labels.iter();
    if let Some((k, v)) = labels.next() {
        let (k, v) = (push(&mut params, k.clone()), push(&mut params, v.clone()));
        sql.push_str("durably_run_labels AS l CROSS JOIN durably_runs AS r");
        conds.push(format!("l.key = {k} AND l.value = {v} AND r.id = l.run_id"));
    } else {
        sql.push_str("durably_runs AS r");
    }
    for (k, v) in labels {
        let (k, v) = (push(&mut params, k.clone()), push(&mut params, v.clone()));
        conds.push(format!(
            "EXISTS (SELECT 1 FROM durably_run_labels AS x WHERE x.run_id = r.id AND x.key = {k} AND x.value = {v})"
        ));
    }
    if !f.statuses.is_empty() {
        let marks: Vec<String> = f
            .statuses
            .iter()
            .map(|s| push(&mut params, s.as_str().to_string()))
            .collect();
        conds.push(format!("r.status IN ({})", marks.join(", ")));
    }
    if !f.jobs.is_empty() {
        let marks: Vec<String> = f
            .jobs
            .iter()
            .map(|j| push(&mut params, j.clone()))
            .collect();
        conds.push(format!("r.job_name IN ({})", marks.join(", ")));
    }
    if let Some((created, id)) = &f.before {
        let (created, id) = (
            push(&mut params, created.clone()),
            push(&mut params, id.clone()),
        );
        conds.push(format!("(r.created_at, r.id) < ({created}, {id})"));
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    params.push(Value::Integer(
        i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX),
    ));
    sql.push_str(&format!(" LIMIT ?{})", params.len()));
    let n: i64 = c
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The statements of [`reads`] in the caller's read transaction.
struct Reads<'a>(&'a Connection);

impl reads::Snapshot for Reads<'_> {
    fn run(&mut self, id: &str) -> Result<Option<Run>> {
        get_run(self.0, id)
    }

    fn find_run(&mut self, given: &str) -> Result<Run> {
        find_run(self.0, given)
    }

    fn steps_of(&mut self, run_id: &str) -> Result<Vec<Step>> {
        steps::steps_of(self.0, run_id)
    }

    fn logs_of(
        &mut self,
        run_id: &str,
        after: Option<(&str, &str)>,
        limit: Option<u64>,
    ) -> Result<Vec<Log>> {
        steps::logs_of(self.0, run_id, after, limit)
    }

    fn list(&mut self, filter: &ListFilter) -> Result<Vec<Run>> {
        list::list(self.0, filter)
    }

    fn count(&mut self, filter: &ListFilter, cap: u64) -> Result<u64> {
        count_matches(self.0, filter, cap)
    }

    fn explain(&mut self, filter: &ListFilter) -> Result<(Plan, Vec<Vec<String>>)> {
        list::explain(self.0, filter)
    }

    fn unique_handles(&mut self, ids: &[String]) -> Result<Vec<String>> {
        unique_handles(self.0, ids)
    }
}

/// Ids starting with a prefix: `?1` the prefix, `?2` the prefix followed by U+10FFFF, `?3` an
/// id to leave out, `?4` the limit.
pub const PREFIX_SQL: &str =
    "SELECT id FROM durably_runs WHERE id >= ?1 AND id < ?2 AND id <> ?3 LIMIT ?4";
/// Ids ending with a tail, case-insensitively: `?1` its last 8 characters in lower case (the
/// key of `idx_durably_runs_id_tail`), `?2` minus its length, `?3` the tail in lower case,
/// `?4` an id to leave out, `?5` the limit.
pub const TAIL_SQL: &str = "SELECT id FROM durably_runs WHERE lower(substr(id, -8)) = ?1 \
     AND lower(substr(id, ?2)) = ?3 AND id <> ?4 LIMIT ?5";
/// The ids whose last 8 characters, in lower case, are among `?1` (a JSON array of keys).
pub const SAME_TAIL_SQL: &str = "SELECT id FROM durably_runs \
     WHERE lower(substr(id, -8)) IN (SELECT value FROM json_each(?1))";

/// The index seeks of handles on SQLite, in the caller's transaction.
struct Ids<'a>(&'a Connection);

impl handles::IdLookup for Ids<'_> {
    fn exact(&mut self, id: &str) -> Result<Option<String>> {
        Ok(self
            .0
            .prepare_cached("SELECT id FROM durably_runs WHERE id = ?1")?
            .query_row([id], |r| r.get::<_, String>(0))
            .optional()?)
    }

    /// A range on the primary-key index (BINARY collation compares UTF-8 bytes): one seek.
    /// (`id GLOB ?1 || '*'` cannot use the index: its pattern is an expression.)
    fn in_range(&mut self, from: &str, to: &str, except: &str, limit: i64) -> Result<Vec<String>> {
        let mut stmt = self.0.prepare_cached(PREFIX_SQL)?;
        let ids = stmt
            .query_map(rusqlite::params![from, to, except, limit], |r| {
                r.get::<_, String>(0)
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// The same expression as the tail index, so SQLite seeks it.
    fn with_tail(&mut self, lower: &str, except: &str, limit: i64) -> Result<Vec<String>> {
        let key = &lower[lower.len() - TAIL_MIN..];
        let from_end = -i64::try_from(lower.len()).unwrap_or(i64::MAX);
        let mut stmt = self.0.prepare_cached(TAIL_SQL)?;
        let ids = stmt
            .query_map(
                rusqlite::params![key, from_end, lower, except, limit],
                |r| r.get::<_, String>(0),
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// Seeks on the tail index (one scan for the page without it).
    fn sharing_tails(&mut self, keys: &[String]) -> Result<Vec<String>> {
        let keys = serde_json::to_string(keys)?;
        let mut stmt = self.0.prepare_cached(SAME_TAIL_SQL)?;
        let ids = stmt
            .query_map([keys], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }
}

/// Resolves a handle to the run's id ([`handles::resolve`]).
fn resolve_id(conn: &Connection, given: &str) -> Result<String> {
    handles::resolve(&mut Ids(conn), given)
}

/// Resolves and loads a run (not found when unknown).
fn find_run(conn: &Connection, given: &str) -> Result<Run> {
    let id = resolve_id(conn, given)?;
    get_run(conn, &id)?.ok_or_else(|| handles::not_found(given))
}

/// The short handle of each of `ids`, as shown in tables ([`handles::unique_handles`]).
fn unique_handles(conn: &Connection, ids: &[String]) -> Result<Vec<String>> {
    handles::unique_handles(&mut Ids(conn), ids)
}
