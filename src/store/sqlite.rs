//! The SQLite backend of [`super::Store`]: one rusqlite connection, every write in one
//! `BEGIN IMMEDIATE` transaction, the statements in the sibling modules.

use super::handles::{self, is_handle, COUNTED_CANDIDATES, TAIL_MIN};
use super::{admin, enqueue, lease, list, steps, StepRecord};
use super::{Access, Fence, Jobs, ListFilter, NewLog, NewStep, Options, Plan};
use crate::db;
use crate::error::CodedError;
use crate::model::{Disposition, Log, Run, RunSpec, Step, RUN_COLUMNS};
use anyhow::Result;
use enqueue::Clock;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The database of one process (a worker's renewal thread opens its own with
/// [`Store::open_again`]).
pub struct Sqlite {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    /// Timestamps of this process never go backwards, even if the system clock does.
    clock: Clock,
}

/// Enqueues inside the one transaction of [`Store::enqueue_batch`].
pub struct SqliteBatch<'s> {
    conn: &'s Connection,
    path: &'s Path,
    clock: &'s mut Clock,
}

impl SqliteBatch<'_> {
    /// Like [`Store::enqueue`], in the batch's transaction.
    pub fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)> {
        enqueue::enqueue(self.conn, spec, self.clock).map_err(|e| db::describe(e, self.path))
    }
}

impl Sqlite {
    /// Opens the database for a command, checking (and for writers, creating) the schema.
    pub fn open(opts: &Options, access: Access) -> Result<Sqlite> {
        Ok(Sqlite {
            conn: db::open(opts, access)?,
            path: opts.path.clone(),
            clock: Clock::default(),
        })
    }

    /// A second connection to the same file (a worker's lease-renewal thread).
    pub fn open_again(opts: &Options) -> Result<Sqlite> {
        Ok(Sqlite {
            conn: db::connect_again(opts)?,
            path: opts.path.clone(),
            clock: Clock::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file, for messages.
    pub fn location(&self) -> String {
        self.path.display().to_string()
    }

    /// `f` in one `BEGIN IMMEDIATE` transaction, committed when it returns Ok.
    pub(super) fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction) -> Result<T>,
    ) -> Result<T> {
        db::write(&mut self.conn, &self.path, f)
    }

    /// `f` in one read transaction (one snapshot), ended before returning.
    fn read<T>(&mut self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| db::describe(e.into(), &self.path))?;
        let value = f(&tx).map_err(|e| db::describe(e, &self.path))?;
        tx.commit()
            .map_err(|e| db::describe(e.into(), &self.path))?;
        Ok(value)
    }

    // ----- reading runs -----

    /// The run with exactly this id.
    pub fn run(&self, id: &str) -> Result<Option<Run>> {
        get_run(&self.conn, id)
    }

    /// Resolves a handle (the full id, or a unique, case-insensitive prefix or tail of at
    /// least 8 characters) to the run's id.
    pub fn resolve_id(&mut self, given: &str) -> Result<String> {
        self.read(|c| resolve_id(c, given))
    }

    /// Resolves and loads a run (exit 3 when unknown).
    pub fn find_run(&mut self, given: &str) -> Result<Run> {
        self.read(|c| find_run(c, given))
    }

    /// A run with its steps and logs, from one snapshot.
    pub fn run_details(&mut self, given: &str) -> Result<(Run, Vec<Step>, Vec<Log>)> {
        self.read(|c| {
            let run = find_run(c, given)?;
            let steps = steps::steps_of(c, &run.id)?;
            let logs = steps::logs_of(c, &run.id, None, None)?;
            Ok((run, steps, logs))
        })
    }

    /// A page of a run's logs after `(created_at, id)`, and whether the run was terminal (or
    /// gone) in the same snapshot: then no later log can appear.
    pub fn logs_page(
        &mut self,
        run_id: &str,
        after: Option<(&str, &str)>,
        limit: u64,
    ) -> Result<(bool, Vec<Log>)> {
        self.read(|c| {
            let terminal = get_run(c, run_id)?.is_none_or(|r| r.is_terminal());
            let logs = steps::logs_of(c, run_id, after, Some(limit))?;
            Ok((terminal, logs))
        })
    }

    /// A page of runs, newest first, starting after the run `before` (an id or prefix) when
    /// given; with `short_ids`, each run's short handle too (its shortest unique tail).
    pub fn list_page(
        &mut self,
        before: Option<&str>,
        mut filter: ListFilter,
        short_ids: bool,
    ) -> Result<(Vec<Run>, Vec<String>)> {
        self.read(|c| {
            filter.before = before_key(c, before)?;
            let (runs, short) = page(c, &filter, short_ids)?;
            Ok((runs, short))
        })
    }

    /// How [`Store::list_page`] would read this page: the plan and SQLite's query plans.
    pub fn explain_list(
        &mut self,
        before: Option<&str>,
        mut filter: ListFilter,
    ) -> Result<(Plan, Vec<Vec<String>>)> {
        self.read(|c| {
            filter.before = before_key(c, before)?;
            list::explain(c, &filter)
        })
    }

    /// Like [`Sqlite::list_page`], with the number of runs the filter matches from `before` on
    /// (ignoring `offset` and `limit`) counted in the same read transaction, up to `cap + 1`:
    /// a count above `cap` means "more than `cap`", and counting costs at most `cap + 1` rows.
    pub fn list_page_counted(
        &mut self,
        before: Option<&str>,
        mut filter: ListFilter,
        short_ids: bool,
        cap: u64,
    ) -> Result<(Vec<Run>, Vec<String>, Option<u64>)> {
        self.read(|c| {
            filter.before = before_key(c, before)?;
            let (runs, short) = page(c, &filter, short_ids)?;
            let count = count_matches(c, &filter, cap)?;
            Ok((runs, short, Some(count)))
        })
    }

    /// Runs counted by (status, job).
    pub fn counts(&self) -> Result<Vec<(String, String, i64)>> {
        admin::stats(&self.conn)
    }

    // ----- changing runs -----

    /// Enqueues one run (or finds its idempotent/coalesced twin) in one transaction.
    pub fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)> {
        let clock = &mut self.clock;
        db::write(&mut self.conn, &self.path, |tx| {
            enqueue::enqueue(tx, spec, clock)
        })
    }

    /// Enqueues many runs in one `BEGIN IMMEDIATE` transaction: `f` calls
    /// [`EnqueueBatch::enqueue`] for each. Committed when `commit` and `f` returns Ok, else
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

    /// Enqueues a terminal run again as a new run (same job, input, labels, concurrency key).
    pub fn retrigger(&mut self, given: &str) -> Result<Run> {
        let clock = &mut self.clock;
        db::write(&mut self.conn, &self.path, |tx| {
            let old = find_run(tx, given)?;
            if !old.is_terminal() {
                return Err(CodedError::conflict(format!(
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
            };
            let (run, _) = enqueue::enqueue(tx, &spec, clock)?;
            Ok(run)
        })
    }

    /// Cancels a pending or leased run; returns its id (conflict when it is not cancellable).
    pub fn cancel(&mut self, given: &str) -> Result<String> {
        self.write(|tx| {
            let run = find_run(tx, given)?;
            if !admin::cancel(tx, &run.id, &crate::time::now())? {
                return Err(CodedError::conflict(format!(
                    "run {} is {}; only pending or leased runs can be cancelled",
                    run.id, run.status
                ))
                .into());
            }
            Ok(run.id)
        })
    }

    /// Deletes a run with its labels, steps and logs; returns its id. Only a terminal run
    /// unless `force` (conflict otherwise).
    pub fn delete(&mut self, given: &str, force: bool) -> Result<String> {
        self.write(|tx| {
            let run = find_run(tx, given)?;
            if !run.is_terminal() && !force {
                return Err(CodedError::conflict(format!(
                    "run {} is {}; only terminal runs are deleted (use --force)",
                    run.id, run.status
                ))
                .into());
            }
            admin::delete_run(tx, &run.id)?;
            Ok(run.id)
        })
    }

    // ----- inside a handler: fenced by the run's lease -----

    /// The completed step `name` of a run, if any.
    pub fn completed_step(&self, run_id: &str, name: &str) -> Result<Option<Step>> {
        steps::completed_step(&self.conn, run_id, name)
    }

    /// Whether the fence's lease is still held.
    pub fn holds_lease(&self, fence: &Fence) -> Result<bool> {
        steps::holds_lease(&self.conn, fence)
    }

    /// Records a step (fenced). A completed step is not recorded twice: when another process
    /// of the run completed it first, its output is the answer.
    pub fn record_step(&mut self, fence: &Fence, step: &NewStep) -> Result<StepRecord> {
        self.write(|tx| {
            if step.status == "completed" {
                if let Some(done) = steps::completed_step(tx, &fence.run_id, step.name)? {
                    return Ok(StepRecord::AlreadyDone(done.output));
                }
            }
            let index = steps::insert_step(tx, fence, step, &crate::time::now())?;
            Ok(match index {
                Some(_) => StepRecord::Recorded(step.output.map(str::to_string)),
                None => StepRecord::LeaseLost,
            })
        })
    }

    /// Sets the run's progress (fenced); false when the lease is lost.
    pub fn set_progress(&mut self, fence: &Fence, progress: &str) -> Result<bool> {
        self.write(|tx| steps::set_progress(tx, fence, progress, &crate::time::now()))
    }

    /// Appends a log line (fenced); false when the lease is lost.
    pub fn append_log(&mut self, fence: &Fence, log: &NewLog) -> Result<bool> {
        self.write(|tx| steps::insert_log(tx, fence, log, &crate::time::now()))
    }

    /// Appends log lines in one transaction (fenced, all or none); false when the lease is lost.
    pub fn append_logs(&mut self, fence: &Fence, logs: &[(&str, NewLog)]) -> Result<bool> {
        self.write(|tx| {
            // The write transaction holds the database lock: every insert sees the same
            // lease, so the first one refused means none is written.
            for (at, log) in logs {
                if !steps::insert_log(tx, fence, log, at)? {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }

    // ----- the worker -----

    /// Claims the oldest claimable run of `jobs` for `owner` for `lease`; also returns when
    /// the lease began by the local clock (read after BEGIN, before the claim).
    pub fn claim(
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

    /// Extends a lease by `lease` from now (fenced, and only while unexpired): Some(when the
    /// renewal began by the local clock) when renewed, None when the lease is lost.
    pub fn renew(&mut self, id: &str, generation: i64, lease: Duration) -> Result<Option<Instant>> {
        self.write(|tx| {
            let started = Instant::now();
            let ms = crate::time::now_ms();
            let now = crate::time::format_ms(ms);
            let expires = crate::time::format_ms(ms + lease.as_millis() as i64);
            let ok = lease::renew(tx, id, generation, &now, &expires)?;
            Ok(ok.then_some(started))
        })
    }

    /// Completes a leased run with its output (fenced); false when the lease is lost.
    pub fn complete(&mut self, id: &str, generation: i64, output: Option<&str>) -> Result<bool> {
        self.write(|tx| lease::complete(tx, id, generation, output, &crate::time::now()))
    }

    /// Fails a leased run with its error (fenced); false when the lease is lost.
    pub fn fail(&mut self, id: &str, generation: i64, error: &str) -> Result<bool> {
        self.write(|tx| lease::fail(tx, id, generation, error, &crate::time::now()))
    }

    /// Gives a leased run back to the queue at once (fenced); false when the lease is lost.
    pub fn expire(&mut self, id: &str, generation: i64) -> Result<bool> {
        self.write(|tx| lease::expire(tx, id, generation, &crate::time::now()))
    }

    /// The status and generation of a run (None when deleted).
    pub fn status_of(&self, id: &str) -> Result<Option<(String, i64)>> {
        lease::status_of(&self.conn, id)
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

/// A page of runs and, with `short_ids`, their short handles, in the caller's transaction.
fn page(c: &Connection, filter: &ListFilter, short_ids: bool) -> Result<(Vec<Run>, Vec<String>)> {
    let runs = list::list(c, filter)?;
    let short = if short_ids {
        let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
        unique_handles(c, &ids)?
    } else {
        Vec::new()
    };
    Ok((runs, short))
}

/// The (created_at, id) of the run `before` names, for paging.
fn before_key(c: &Connection, before: Option<&str>) -> Result<Option<(String, String)>> {
    match before {
        Some(id) => {
            let run = find_run(c, id)?;
            Ok(Some((run.created_at, run.id)))
        }
        None => Ok(None),
    }
}

/// The run with exactly this id.
pub(super) fn get_run(conn: &Connection, id: &str) -> Result<Option<Run>> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM durably_runs WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], Run::from_row)
        .optional()?)
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

/// Resolves a handle to the run's id: the full id, or a case-insensitive prefix, or a
/// case-insensitive tail of at least [`TAIL_MIN`] characters, that only one run has.
/// Unknown → exit 3; ambiguous → usage error (exit 2) listing the candidates.
fn resolve_id(conn: &Connection, given: &str) -> Result<String> {
    let given = given.trim();
    if given.is_empty() {
        return Err(CodedError::usage("empty run id").into());
    }
    if let Some(id) = conn
        .prepare_cached("SELECT id FROM durably_runs WHERE id = ?1")?
        .query_row([given], |r| r.get::<_, String>(0))
        .optional()?
    {
        return Ok(id);
    }
    if !is_handle(given) {
        return Err(handles::not_found(given));
    }
    let (found, capped) = matches(conn, given, None, COUNTED_CANDIDATES)?;
    handles::pick(given, found, capped)
}

/// The ids (other than `except`) that `handle` names as a prefix or as a tail, in id order,
/// at most `cap` from each lookup; the flag says a lookup stopped at `cap`. Each lookup is an
/// index seek: a range on the primary key for prefixes, an equality on the
/// `lower(substr(id, -8))` expression index for tails.
fn matches(
    conn: &Connection,
    handle: &str,
    except: Option<&str>,
    cap: usize,
) -> Result<(Vec<String>, bool)> {
    let except = except.unwrap_or("");
    let limit = i64::try_from(cap).unwrap_or(i64::MAX);
    let (mut found, mut capped) = prefix_matches(conn, handle, except, cap)?;
    if handle.len() >= TAIL_MIN {
        // The same expression as the index, so SQLite seeks it; the full tail is then compared
        // on the few rows that share its last 8 characters. Without the index (a file `durably
        // init` has not repaired) this is a scan: slower, still right.
        let lower = handle.to_ascii_lowercase();
        let key = &lower[lower.len() - TAIL_MIN..];
        let mut tail = conn.prepare_cached(TAIL_SQL)?;
        let from_end = -i64::try_from(lower.len()).unwrap_or(i64::MAX);
        let mut n = 0;
        for id in tail.query_map(
            rusqlite::params![key, from_end, lower, except, limit],
            |r| r.get::<_, String>(0),
        )? {
            found.insert(id?);
            n += 1;
        }
        capped |= n == cap;
    }
    Ok((found.into_iter().collect(), capped))
}

/// The ids other than `except` that start with `prefix` in any case, at most `cap` per case
/// variant (the flag says one stopped there).
fn prefix_matches(
    conn: &Connection,
    prefix: &str,
    except: &str,
    cap: usize,
) -> Result<(std::collections::BTreeSet<String>, bool)> {
    let mut found = std::collections::BTreeSet::new();
    let mut capped = false;
    let limit = i64::try_from(cap).unwrap_or(i64::MAX);
    let mut variants = vec![
        prefix.to_string(),
        prefix.to_ascii_lowercase(),
        prefix.to_ascii_uppercase(),
    ];
    variants.dedup();
    // A range on the primary-key index: [prefix, prefix + U+10FFFF) holds exactly the ids
    // that start with the prefix (BINARY collation compares UTF-8 bytes), found by one seek.
    // (`id GLOB ?1 || '*'` cannot use the index: its pattern is an expression.)
    let mut stmt = conn.prepare_cached(PREFIX_SQL)?;
    for v in &variants {
        let end = format!("{v}\u{10FFFF}");
        let mut n = 0;
        for id in stmt.query_map(rusqlite::params![v, end, except, limit], |r| {
            r.get::<_, String>(0)
        })? {
            found.insert(id?);
            n += 1;
        }
        capped |= n == cap;
    }
    Ok((found, capped))
}

/// Resolves and loads a run (exit 3 when unknown).
fn find_run(conn: &Connection, given: &str) -> Result<Run> {
    let id = resolve_id(conn, given)?;
    get_run(conn, &id)?
        .ok_or_else(|| CodedError::not_found(format!("run {given} not found")).into())
}

/// The short handle of each of `ids`, as shown in tables: its shortest tail, at least
/// [`TAIL_MIN`] characters, that no other run has as its tail or as its prefix, so
/// [`resolve_id`] gives the id back. A tail never starts with `-` (it would read as an option).
/// An id that cannot be a handle (other characters) or is this short anyway is shown whole.
///
/// One query finds every run that shares the last 8 characters with one of `ids` (seeks on the
/// tail index; one scan for the page without it), then one prefix seek per length tried
/// (almost always one), so a page costs O(page log n).
fn unique_handles(conn: &Connection, ids: &[String]) -> Result<Vec<String>> {
    let keys: std::collections::BTreeSet<String> = ids
        .iter()
        .filter(|id| handles::eligible(id))
        .map(|id| handles::tail_key(id))
        .collect();
    let mut sharing = Vec::new();
    if !keys.is_empty() {
        let keys = serde_json::to_string(&keys)?;
        let mut stmt = conn.prepare_cached(SAME_TAIL_SQL)?;
        for other in stmt.query_map([keys], |r| r.get::<_, String>(0))? {
            sharing.push(other?);
        }
    }
    handles::shortest_tails(ids, sharing, |tail, id| {
        Ok(!prefix_matches(conn, tail, id, 1)?.0.is_empty())
    })
}
