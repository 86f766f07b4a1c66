//! The store: the only way commands and the worker reach the database.
//!
//! [`Store`] owns one connection and offers what a command asks for (enqueue a batch, list a
//! page, claim, renew, complete with a fence, purge a batch, checkpoint), never SQLite
//! mechanics: it is the seam a second backend implements. Invariants of every method:
//! - one transaction per method call, ended before it returns: writes in `BEGIN IMMEDIATE`,
//!   reads of several statements in one read transaction (one snapshot), so output written
//!   afterwards (a slow pipe, a pager) never holds a lock or pins the WAL;
//! - the clock is read after `BEGIN IMMEDIATE` returned, so timestamps follow commit order;
//!   on PostgreSQL it is the server's `now()`, computed in the statements (`pg::clock`);
//! - a commit whose answer was lost with the connection is [`CommitUnknown`], never "nothing
//!   was written";
//! - writes on behalf of a leased run are fenced by `status = 'leased'` and
//!   `lease_generation`; a refused fence is an answer ([`Fenced::LeaseLost`]), not an error;
//! - nothing inside a transaction waits on the outside (a process, a pipe, a sleep);
//! - captured text (errors, log messages, step and run outputs) is made storable on the way
//!   in: a NUL becomes U+FFFD on both backends ([`crate::model::text`]), so no handler output
//!   can make a result unwritable;
//! - errors about the file name it (see [`sqlite::db::describe`]).
//!
//! Layout: this module is the seam ([`Store`]); [`backend`] is the contract every backend
//! implements (one trait per concern, together [`Backend`]), [`target`] which database
//! `--db` names (read once, at the edge), [`types`] the backend-neutral values, [`rules`] what
//! each command means (written once), [`reads`] what `show`, `logs` and `ls` read in one
//! snapshot (written once), [`handles`] how a run is named, [`held`] held runs (issue 17),
//! [`columns`] the shared schema's column lists. The backends, side by side: [`sqlite`] and
//! [`pg`], each only statements, transactions and row mapping. Their statement modules are
//! public only for the in-process benchmarks (examples/bench.rs): commands and the worker use
//! [`Store`].

pub mod backend;
pub mod columns;
pub mod handles;
pub mod held;
pub mod ours;
pub mod pauses;
pub mod pg;
pub mod reads;
pub mod retries;
pub mod rules;
pub mod schedules;
pub mod sqlite;
pub mod target;
pub mod types;

pub use backend::{Backend, Claimed, NextClaim, RunResult};
pub use sqlite::db::FileId;
pub use target::{PgTarget, Target};
pub use types::{
    default_path, Access, Clock, Fence, Fenced, Jobs, ListFilter, NewLog, NewStep, Options, Param,
    Pending, Plan, PurgeFilter, Query, StepRecord, MAX_JOBS_PER_CLAIM, SCHEMA_VERSION,
};

use crate::model::schedule::Schedule;
use crate::model::{
    storable, Attempt, Disposition, FailureCause, Log, Pause, PauseScope, RetryPolicy, Run,
    RunSpec, Step,
};
use anyhow::Result;
use schedules::Materialised;
use std::time::{Duration, Instant};

/// Outputs above this size are written without the driver's copies: streamed on PostgreSQL,
/// bound in place on SQLite (`big_text`).
pub const BIG_OUTPUT: usize = 64 * 1024;

/// A write whose COMMIT was sent but never answered (the connection was lost meanwhile): it
/// may or may not have been committed. Only a server's connection can end this way (a SQLite
/// commit's outcome is always known); commands say so instead of "nothing was written", with
/// `subject` saying what to look for. An error before COMMIT was sent is never this: then the
/// transaction surely rolled back.
#[derive(Debug)]
pub struct CommitUnknown {
    /// The server and database (never the password).
    pub location: String,
    /// What the transaction wrote and how to check it ("" when the caller says it).
    pub subject: String,
    /// The client's error.
    pub source: anyhow::Error,
}

impl std::fmt::Display for CommitUnknown {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "the outcome of the write is unknown: the connection to {} was lost after COMMIT was sent",
            self.location
        )?;
        if !self.subject.is_empty() {
            write!(f, "; {}", self.subject)?;
        }
        Ok(())
    }
}

impl std::error::Error for CommitUnknown {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// The database of one process, whichever backend holds it: the embedded SQLite file (the
/// default) or a PostgreSQL server (`--db postgres://…`). A worker's renewal thread opens its
/// own with [`Store::open_again`].
// A process holds one or two stores, never a collection of them: the size of the larger
// variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Store {
    Sqlite(sqlite::Sqlite),
    Postgres(pg::Postgres),
}

/// Enqueues inside the one transaction of [`Store::enqueue_batch`].
pub enum EnqueueBatch<'s> {
    Sqlite(sqlite::SqliteBatch<'s>),
    Postgres(pg::PgBatch<'s>),
}

impl EnqueueBatch<'_> {
    /// Like [`Store::enqueue`], in the batch's transaction.
    pub fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)> {
        match self {
            EnqueueBatch::Sqlite(b) => b.enqueue(spec),
            EnqueueBatch::Postgres(b) => b.enqueue(spec),
        }
    }
}

/// Whether a write failed only because the database aborted it for a concurrent one (a
/// PostgreSQL deadlock or serialization failure): nothing was written, and the same write
/// may be tried again. SQLite writers take the lock up front and never meet this.
pub fn is_transient_conflict(err: &anyhow::Error) -> bool {
    pg::is_transient_conflict(err)
}

/// Whether `err` says the database's connection was lost (a PostgreSQL server restarted or
/// went away): opening the store again may succeed. Never for a SQLite file.
pub fn is_connection_error(err: &anyhow::Error) -> bool {
    pg::is_connection_error(err)
}

impl Store {
    /// The backend, through the contract every backend implements.
    fn backend(&self) -> &dyn Backend {
        match self {
            Store::Sqlite(s) => s,
            Store::Postgres(p) => p,
        }
    }

    /// The SQLite file's own operations (journal mode, WAL, checkpoints, the file's
    /// identity); None on PostgreSQL.
    pub fn sqlite(&self) -> Option<&sqlite::Sqlite> {
        match self {
            Store::Sqlite(s) => Some(s),
            Store::Postgres(_) => None,
        }
    }

    /// The PostgreSQL server's own operations (ping, clock offset, client-side ceilings); None
    /// on a SQLite file.
    pub fn postgres(&self) -> Option<&pg::Postgres> {
        match self {
            Store::Sqlite(_) => None,
            Store::Postgres(p) => Some(p),
        }
    }

    /// [`Store::postgres`], to change its settings (`bound_calls`).
    pub fn postgres_mut(&mut self) -> Option<&mut pg::Postgres> {
        match self {
            Store::Sqlite(_) => None,
            Store::Postgres(p) => Some(p),
        }
    }

    /// The backend, through the contract, for calls that change it.
    fn backend_mut(&mut self) -> &mut dyn Backend {
        match self {
            Store::Sqlite(s) => s,
            Store::Postgres(p) => p,
        }
    }

    /// Opens the database for a command, checking (and for writers, creating) the schema.
    pub fn open(opts: &Options, access: Access) -> Result<Store> {
        match &opts.target {
            Target::Sqlite(path) => Ok(Store::Sqlite(sqlite::Sqlite::open(path, opts, access)?)),
            Target::Postgres(url) => Ok(Store::Postgres(pg::Postgres::open(url, opts, access)?)),
        }
    }

    /// A second connection to the same database (a worker's lease-renewal thread).
    pub fn open_again(opts: &Options) -> Result<Store> {
        match &opts.target {
            Target::Sqlite(path) => Ok(Store::Sqlite(sqlite::Sqlite::open_again(path, opts)?)),
            Target::Postgres(url) => Ok(Store::Postgres(pg::Postgres::open_again(url, opts)?)),
        }
    }

    /// Whether the database has our own tables (`durably_cli_*`, [`ours`]): false on a
    /// database the library created until a feature that needs them is used; readers then
    /// read them as empty.
    pub fn has_ours(&self) -> bool {
        match self {
            Store::Sqlite(s) => s.has_ours(),
            Store::Postgres(p) => p.has_ours(),
        }
    }

    /// Creates our own tables (`durably_cli_*`) if the database lacks them: called by what
    /// writes to them and by `durably work` at start ([`ours`] says why).
    pub fn ensure_ours(&mut self) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.ensure_ours(),
            Store::Postgres(p) => p.ensure_ours(),
        }
    }

    /// Makes sure of what a worker's hot statements need on the server: on PostgreSQL the
    /// functions that keep their plans (`store::pg::plans`); nothing on SQLite. False when
    /// the claim's partial index is missing (PostgreSQL: `durably init` adds it).
    pub fn ensure_plans(&mut self) -> Result<bool> {
        match self {
            Store::Sqlite(_) => Ok(true),
            Store::Postgres(p) => p.ensure_plans(),
        }
    }

    /// Pauses each scope not yet paused (our tables created first if missing); those newly
    /// paused ([`pauses`]).
    pub fn pause(&mut self, scopes: &[PauseScope]) -> Result<Vec<PauseScope>> {
        self.ensure_ours()?;
        self.backend_mut().pause(scopes)
    }

    /// Lifts the pauses of `scopes` (None: every pause); those that were in force. Nothing
    /// is paused on a database without our tables (no DDL is run).
    pub fn resume(&mut self, scopes: Option<&[PauseScope]>) -> Result<Vec<PauseScope>> {
        if !self.has_ours() {
            return Ok(Vec::new());
        }
        self.backend_mut().resume(scopes)
    }

    /// Every pause in force (none on a database without our tables).
    pub fn paused(&mut self) -> Result<Vec<Pause>> {
        if !self.has_ours() {
            return Ok(Vec::new());
        }
        self.backend_mut().paused()
    }

    /// Whether the connection is gone for good (a PostgreSQL server restarted, the backend
    /// was terminated, the network cut): only [`Store::open_again`] can go on. A SQLite file
    /// is never lost this way.
    pub fn is_lost(&self) -> bool {
        match self {
            Store::Sqlite(_) => false,
            Store::Postgres(p) => p.is_lost(),
        }
    }

    /// Whether the connection is gone, judging also by `err`, the error a call just returned
    /// (the server can say it ends the connection before the client notices).
    pub fn is_lost_after(&self, err: &anyhow::Error) -> bool {
        match self {
            Store::Sqlite(_) => false,
            Store::Postgres(p) => p.is_lost_after(err),
        }
    }

    /// Runs `f` with the client-side ceiling of PostgreSQL calls lowered to `ceiling` (a read
    /// made only to say what happened must not hold up a worker that is ending).
    pub fn with_ceiling<T>(&mut self, ceiling: Duration, f: impl FnOnce(&mut Store) -> T) -> T {
        let Some(p) = self.postgres_mut() else {
            return f(self);
        };
        let before = p.ceiling();
        p.bound_calls(Some(before.map_or(ceiling, |b| b.min(ceiling))));
        let value = f(self);
        if let Some(p) = self.postgres_mut() {
            p.bound_calls(before);
        }
        value
    }

    /// Runs `f` with this thread's waits for locks bounded by `deadline` instead of
    /// `--busy-timeout` (a worker's result write must not outlive the run's lease).
    pub fn before_deadline<T>(
        &mut self,
        deadline: Option<Instant>,
        f: impl FnOnce(&mut Store) -> T,
    ) -> T {
        match self {
            Store::Sqlite(_) => sqlite::db::set_write_deadline(deadline),
            Store::Postgres(p) => p.set_deadline(deadline),
        }
        let value = f(self);
        match self {
            Store::Sqlite(_) => sqlite::db::set_write_deadline(None),
            Store::Postgres(p) => p.set_deadline(None),
        }
        value
    }

    /// Enqueues many runs in one transaction: `f` calls [`EnqueueBatch::enqueue`] for each.
    /// Committed when `commit` and `f` returns Ok, else rolled back.
    pub fn enqueue_batch<T>(
        &mut self,
        commit: bool,
        f: impl FnOnce(&mut EnqueueBatch) -> Result<T>,
    ) -> Result<T> {
        match self {
            Store::Sqlite(s) => s.enqueue_batch(commit, |b| {
                let mut batch = EnqueueBatch::Sqlite(b);
                f(&mut batch)
            }),
            Store::Postgres(p) => p.enqueue_batch(commit, |b| {
                let mut batch = EnqueueBatch::Postgres(b);
                f(&mut batch)
            }),
        }
    }

    /// Where the data lives, for messages: the file path or the URL without its password.
    pub fn location(&self) -> String {
        self.backend().location()
    }

    /// The run with exactly this id.
    pub fn run(&self, id: &str) -> Result<Option<Run>> {
        self.backend().run(id)
    }

    /// The full id of the run a handle names (not found when unknown, invalid when ambiguous).
    pub fn resolve_id(&mut self, given: &str) -> Result<String> {
        self.backend_mut().resolve_id(given)
    }

    /// Resolves and loads a run (not found when unknown).
    pub fn find_run(&mut self, given: &str) -> Result<Run> {
        self.backend_mut().find_run(given)
    }

    /// A run with its steps and logs, from one snapshot.
    pub fn run_details(&mut self, given: &str) -> Result<(Run, Vec<Step>, Vec<Log>)> {
        self.backend_mut().run_details(given)
    }

    /// A page of a run's logs after `after` (created_at, id), and whether the run is terminal.
    pub fn logs_page(
        &mut self,
        run_id: &str,
        after: Option<(&str, &str)>,
        limit: u64,
    ) -> Result<(bool, Vec<Log>)> {
        self.backend_mut().logs_page(run_id, after, limit)
    }

    /// A page of runs, newest first, with their short ids when asked.
    pub fn list_page(
        &mut self,
        before: Option<&str>,
        filter: ListFilter,
        short_ids: bool,
    ) -> Result<(Vec<Run>, Vec<String>)> {
        self.backend_mut().list_page(before, filter, short_ids)
    }

    /// The plan of a page of runs and the database's own account of it (`ls --explain`).
    pub fn explain_list(
        &mut self,
        before: Option<&str>,
        filter: ListFilter,
    ) -> Result<(Plan, Vec<Vec<String>>)> {
        self.backend_mut().explain_list(before, filter)
    }

    /// [`Store::list_page`] and the number of runs the filter matches from `before` on, counted
    /// up to `cap + 1` in the same read (above `cap`: "more than `cap`").
    pub fn list_page_counted(
        &mut self,
        before: Option<&str>,
        filter: ListFilter,
        short_ids: bool,
        cap: u64,
    ) -> Result<(Vec<Run>, Vec<String>, u64)> {
        self.backend_mut()
            .list_page_counted(before, filter, short_ids, cap)
    }

    /// Runs counted by job and status.
    pub fn counts(&self) -> Result<Vec<(String, String, i64)>> {
        self.backend().counts()
    }

    /// A run's steps by index.
    pub fn steps(&mut self, run_id: &str) -> Result<Vec<Step>> {
        self.backend_mut().steps(run_id)
    }

    /// Runs whose `updated_at` is at or after `since`, oldest change first, at most `limit`.
    pub fn runs_updated_since(&self, since: &str, limit: u64) -> Result<Vec<Run>> {
        self.backend().runs_updated_since(since, limit)
    }

    /// Completed and failed runs by minute of `completed_at` from `since` on.
    pub fn completions_per_minute(&self, since: &str) -> Result<Vec<(String, String, i64)>> {
        self.backend().completions_per_minute(since)
    }

    /// Enqueues one run (or finds its idempotent/coalesced twin) in one transaction; a run
    /// with a retry policy creates our tables first if missing.
    pub fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)> {
        if spec.retry.is_some() {
            self.ensure_ours()?;
        }
        self.backend_mut().enqueue(spec)
    }

    /// Fails a leased run (fenced) and holds its successor when its retry policy allows
    /// ([`retries`]), in one transaction: the run's own policy, else `default` (the worker's
    /// `--retries`). A database without our tables has no policy, and `default` needs them:
    /// the worker made sure of them when it started.
    pub fn fail_and_retry(
        &mut self,
        id: &str,
        generation: i64,
        error: &str,
        cause: FailureCause,
        default: Option<&RetryPolicy>,
    ) -> Result<Fenced<Option<retries::Successor>>> {
        let error = storable(error);
        if !self.has_ours() {
            return Ok(match self.backend_mut().fail(id, generation, &error)? {
                Fenced::Done(()) => Fenced::Done(None),
                Fenced::LeaseLost => Fenced::LeaseLost,
            });
        }
        let jitter = crate::model::retry::random_jitter();
        self.backend_mut()
            .fail_and_retry(id, generation, &error, cause, default, jitter)
    }

    /// Every attempt of the retry chain a run belongs to, in order (empty: none, or no
    /// tables of ours).
    pub fn attempts(&mut self, run_id: &str) -> Result<Vec<Attempt>> {
        if !self.has_ours() {
            return Ok(Vec::new());
        }
        self.backend_mut().attempts(run_id)
    }

    /// Those of `ids` that have a successor in their retry chain (`ls --latest` leaves them
    /// out); none on a database without our tables.
    pub fn superseded(&mut self, ids: &[String]) -> Result<Vec<String>> {
        if !self.has_ours() || ids.is_empty() {
            return Ok(Vec::new());
        }
        self.backend_mut().superseded(ids)
    }

    /// Gives a leased run back to the queue because of the worker's own trouble (fenced): on a
    /// database with our tables the give-back is counted in the same transaction, so that a
    /// crash loop ([`Store::given_back`]) leaves it out.
    pub fn give_back(&mut self, id: &str, generation: i64) -> Result<Fenced> {
        if !self.has_ours() {
            return self.backend_mut().expire(id, generation);
        }
        self.backend_mut().give_back(id, generation)
    }

    /// How often CLI workers gave the run back (0 without our tables).
    pub fn given_back(&mut self, id: &str) -> Result<i64> {
        if !self.has_ours() {
            return Ok(0);
        }
        self.backend_mut().given_back(id)
    }

    /// Enqueues a terminal run again as a new pending run.
    pub fn retrigger(&mut self, given: &str) -> Result<Run> {
        self.backend_mut().retrigger(given)
    }

    /// Cancels a pending or leased run; its full id.
    pub fn cancel(&mut self, given: &str) -> Result<String> {
        self.backend_mut().cancel(given)
    }

    /// Deletes a terminal run (any run with `force`) with its labels, steps and logs; its full id.
    pub fn delete(&mut self, given: &str, force: bool) -> Result<String> {
        self.backend_mut().delete(given, force)
    }

    /// The completed step `name` of a run, if any.
    pub fn completed_step(&self, run_id: &str, name: &str) -> Result<Option<Step>> {
        self.backend().completed_step(run_id, name)
    }

    /// Whether the fence's lease is still held (a read; writes re-check).
    pub fn holds_lease(&self, fence: &Fence) -> Result<Fenced> {
        self.backend().holds_lease(fence)
    }

    /// Records a step (fenced); a completed step is not recorded twice. Its text is made
    /// storable first ([`crate::model::text`]).
    pub fn record_step(&mut self, fence: &Fence, step: &NewStep) -> Result<Fenced<StepRecord>> {
        let error = step.error.map(storable);
        let output = step.output.map(storable);
        let step = NewStep {
            error: error.as_deref(),
            output: output.as_deref(),
            ..*step
        };
        self.backend_mut().record_step(fence, &step)
    }

    /// Sets a run's progress (fenced).
    pub fn set_progress(&mut self, fence: &Fence, progress: &str) -> Result<Fenced> {
        self.backend_mut().set_progress(fence, progress)
    }

    /// Appends a log line (fenced).
    pub fn append_log(&mut self, fence: &Fence, log: &NewLog) -> Result<Fenced> {
        let message = storable(log.message);
        let log = NewLog {
            message: &message,
            ..*log
        };
        self.backend_mut().append_log(fence, &log)
    }

    /// Appends log lines, each with its own created_at, in one transaction (fenced, all or
    /// none). Lines with the same created_at keep their order (ids are time-ordered).
    pub fn append_logs(&mut self, fence: &Fence, logs: &[(&str, NewLog)]) -> Result<Fenced> {
        if logs.is_empty() {
            return Ok(Fenced::Done(()));
        }
        if logs.iter().any(|(_, l)| storable(l.message) != l.message) {
            let messages: Vec<_> = logs.iter().map(|(_, l)| storable(l.message)).collect();
            let logs: Vec<(&str, NewLog)> = logs
                .iter()
                .zip(&messages)
                .map(|((at, l), m)| (*at, NewLog { message: m, ..*l }))
                .collect();
            return self.backend_mut().append_logs(fence, &logs);
        }
        self.backend_mut().append_logs(fence, logs)
    }

    /// Claims the oldest claimable run of `jobs` for `owner` for `lease`; also returns when the lease began by the local clock (read before the database's clock).
    pub fn claim(
        &mut self,
        jobs: &Jobs,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<(Run, Instant)>> {
        self.backend_mut().claim(jobs, owner, lease)
    }

    /// Claims at most `max` of the oldest claimable runs ([`backend::Leases::claim_many`]).
    pub fn claim_many(
        &mut self,
        jobs: &Jobs,
        owner: &str,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<(Run, Instant)>> {
        self.backend_mut().claim_many(jobs, owner, lease, max)
    }

    /// Extends a lease by `lease` from now (fenced, only while unexpired): Done(when the
    /// renewal began by the local clock).
    pub fn renew(&mut self, id: &str, generation: i64, lease: Duration) -> Result<Fenced<Instant>> {
        self.backend_mut().renew(id, generation, lease)
    }

    /// Extends the leases of `runs` in one write ([`backend::Leases::renew_many`]).
    pub fn renew_many(
        &mut self,
        runs: &[(String, i64)],
        lease: Duration,
    ) -> Result<(Vec<String>, Instant)> {
        self.backend_mut().renew_many(runs, lease)
    }

    /// Completes a leased run with its output (fenced).
    pub fn complete(&mut self, id: &str, generation: i64, output: Option<&str>) -> Result<Fenced> {
        let output = output.map(storable);
        // A large output is streamed on PostgreSQL (see `pg::big_output`).
        if let (Store::Postgres(s), Some(big)) = (&mut *self, output.as_deref()) {
            if big.len() > BIG_OUTPUT {
                return s.complete_streamed(id, generation, big);
            }
        }
        self.backend_mut()
            .complete(id, generation, output.as_deref())
    }

    /// A run's result and a claim after it in the same write where the backend can
    /// ([`backend::Leases::finish_and_claim`]). An output large enough to be streamed on
    /// PostgreSQL is written alone: nothing is claimed with it.
    pub fn finish_and_claim(
        &mut self,
        id: &str,
        generation: i64,
        result: RunResult,
        next: &NextClaim,
    ) -> Result<(Fenced, Vec<(Run, Instant)>)> {
        match result {
            Ok(output) => {
                let output = output.map(storable);
                let output = output.as_deref();
                if matches!(self, Store::Postgres(_))
                    && output.is_some_and(|o| o.len() > BIG_OUTPUT)
                {
                    return Ok((self.complete(id, generation, output)?, Vec::new()));
                }
                self.backend_mut()
                    .finish_and_claim(id, generation, Ok(output), next)
            }
            Err(error) => {
                let error = storable(error);
                self.backend_mut()
                    .finish_and_claim(id, generation, Err(&error), next)
            }
        }
    }

    /// Fails a leased run with its error (fenced).
    pub fn fail(&mut self, id: &str, generation: i64, error: &str) -> Result<Fenced> {
        let error = storable(error);
        self.backend_mut().fail(id, generation, &error)
    }

    /// Gives a leased run back to the queue at once: pending again (fenced).
    pub fn expire(&mut self, id: &str, generation: i64) -> Result<Fenced> {
        self.backend_mut().expire(id, generation)
    }

    /// The status and generation of a run (None when deleted).
    pub fn status_of(&self, id: &str) -> Result<Option<(String, i64)>> {
        self.backend().status_of(id)
    }

    /// Adds what `init` may add to an existing schema (missing indexes).
    pub fn repair(&self) -> Result<()> {
        self.backend().repair()
    }

    /// Pending runs of `jobs`, and how many a live lease on their concurrency key blocks now.
    pub fn pending_for(&self, jobs: &Jobs) -> Result<Pending> {
        self.backend().pending_for(jobs)
    }

    /// Whether any lease has run out (a read: lets an idle worker skip the write).
    pub fn has_expired(&self) -> Result<bool> {
        self.backend().has_expired()
    }

    /// Releases at most `limit` expired leases in one transaction; how many.
    pub fn release_expired(&mut self, limit: u64) -> Result<u64> {
        self.backend_mut().release_expired(limit)
    }

    /// How many runs a purge would delete.
    pub fn purge_count(&self, f: &PurgeFilter) -> Result<u64> {
        self.backend().purge_count(f)
    }

    /// Deletes at most `batch` runs of a purge in one transaction; how many.
    pub fn purge_batch(&mut self, f: &PurgeFilter, batch: u64) -> Result<u64> {
        self.backend_mut().purge_batch(f, batch)
    }

    /// A whole purge in short batches that let other writers in between; how many.
    pub fn purge(&mut self, filter: &PurgeFilter) -> Result<u64> {
        self.backend_mut().purge(filter)
    }

    /// Enqueues a run with a hold (`--at`, `--in`, `--after`), creating our tables first if
    /// the database lacks them ([`held::enqueue`]).
    pub fn enqueue_held(&mut self, spec: &RunSpec) -> Result<held::HeldAnswer> {
        self.ensure_ours()?;
        self.backend_mut().enqueue_held(spec)
    }

    /// The poll's read of held runs ([`backend::HeldRuns::peek_held`]); nothing on a database
    /// without our tables.
    pub fn peek_held(
        &mut self,
        since: Option<&str>,
        sweep: Option<&(String, String)>,
    ) -> Result<held::HeldPeek> {
        if !self.has_ours() {
            return Ok(held::HeldPeek::default());
        }
        self.backend_mut().peek_held(since, sweep)
    }

    /// One release of held runs ([`held::release`]).
    pub fn release_held(
        &mut self,
        candidates: &[String],
        limit: usize,
        after: Option<&(String, String)>,
    ) -> Result<held::Released> {
        if !self.has_ours() {
            return Ok(held::Released::default());
        }
        self.backend_mut().release_held(candidates, limit, after)
    }

    /// The held run a handle names, None when none does (or the database has no held runs).
    pub fn find_held(&mut self, given: &str) -> Result<Option<crate::model::held::HeldRun>> {
        if !self.has_ours() {
            return Ok(None);
        }
        self.backend_mut().find_held(given)
    }

    /// Cancels the held run a handle names (moved into the runs as cancelled): its id, None
    /// when no held run has it.
    pub fn cancel_held(&mut self, given: &str) -> Result<Option<String>> {
        if !self.has_ours() {
            return Ok(None);
        }
        self.backend_mut().cancel_held(given)
    }

    /// Deletes the held run a handle names: its id, None when no held run has it.
    pub fn delete_held(&mut self, given: &str) -> Result<Option<String>> {
        if !self.has_ours() {
            return Ok(None);
        }
        self.backend_mut().delete_held(given)
    }

    /// A page of held runs for `ls`, newest first ([`backend::HeldRuns::held_page`]).
    pub fn held_page(
        &mut self,
        job: Option<&str>,
        scheduled: Option<bool>,
        limit: u64,
    ) -> Result<Vec<crate::model::held::HeldRun>> {
        if !self.has_ours() {
            return Ok(Vec::new());
        }
        self.backend_mut().held_page(job, scheduled, limit)
    }

    // ----- schedules ([`schedules`]) -----

    /// Adds a schedule (our tables created first); a name taken is refused.
    pub fn add_schedule(&mut self, s: &Schedule) -> Result<Schedule> {
        self.ensure_ours()?;
        self.backend_mut().add_schedule(s)
    }

    /// Every schedule, by name (none on a database without our tables).
    pub fn schedules(&mut self) -> Result<Vec<Schedule>> {
        if !self.has_ours() {
            return Ok(Vec::new());
        }
        self.backend_mut().schedules()
    }

    /// The schedule named `name` (None on a database without our tables).
    pub fn schedule(&mut self, name: &str) -> Result<Option<Schedule>> {
        if !self.has_ours() {
            return Ok(None);
        }
        self.backend_mut().schedule(name)
    }

    /// Pauses (`paused`) or resumes a schedule; not found when there is none.
    pub fn pause_schedule(&mut self, name: &str, paused: bool) -> Result<Schedule> {
        self.ensure_ours()?;
        self.backend_mut().pause_schedule(name, paused)
    }

    /// Deletes a schedule; not found when there is none.
    pub fn remove_schedule(&mut self, name: &str) -> Result<()> {
        self.ensure_ours()?;
        self.backend_mut().remove_schedule(name)
    }

    /// At most `limit` unpaused schedules whose next slot has come (one indexed read).
    pub fn due_schedules(&mut self, limit: u64) -> Result<Vec<String>> {
        if !self.has_ours() {
            return Ok(Vec::new());
        }
        self.backend_mut().due_schedules(limit)
    }

    /// Materialises the schedule `name` if it is still due, in one transaction.
    pub fn materialise(&mut self, name: &str) -> Result<Option<Materialised>> {
        self.backend_mut().materialise(name)
    }
}
