//! The PostgreSQL backend of [`super::Store`]: the schema @coji/durably's `migrate()` creates
//! on PostgreSQL, one synchronous `postgres::Client`, every write in one transaction, and the
//! library's claim (`FOR UPDATE SKIP LOCKED` plus a transaction-level advisory lock per
//! concurrency key, tried, never waited for), and the database's clock for every lease and run
//! time ([`clock`]). Statements live in `sql/postgres/` and are sent unnamed with typed
//! parameters ([`typed`]: one round trip each, and what PgBouncer in transaction mode needs);
//! a transaction's begin carries what it sets (`SET LOCAL`) in the same round trip.

mod admission;
mod big_output;
mod clock;
mod feed;
pub mod held;
mod lease;
mod literal;
mod loss;
mod outcome;
mod pauses;
mod plans;
mod retries;
pub mod rows;
pub use loss::{is_connection_error, is_transient_conflict, DbError};
mod steps;
pub mod typed;
pub mod watch;

use super::backend::{Maintenance, RunChanges, RunReads};
use super::pauses as store_pauses;
use super::PgTarget;
use super::{reads, rules, Access, Clock, Jobs, ListFilter, Options, Pending, Plan, PurgeFilter};
use crate::model::{
    Attempt, Disposition, FailureCause, Log, Pause, PauseScope, RetryPolicy, Run, RunSpec, Step,
};
use anyhow::{Context as _, Result};
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

/// The begin of a read: one snapshot, read-only.
const READ: &str = "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// The begin of a page of `ls`: [`READ`] without parallel plans (see [`runs::choose`]).
const LIST: &str = "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
    SET LOCAL max_parallel_workers_per_gather = 0";

/// How long after a write's deadline the client stops waiting for the server's answer: the
/// server's own timeouts (set to the deadline) answer first when it is reachable.
const PAST_DEADLINE: Duration = Duration::from_millis(250);

pub mod connect;
pub mod enqueue;
pub mod runs;
pub mod schedules;
pub mod schema;

/// What bounds a connection's network waits on the client's side.
struct Net {
    /// The connection's socket, for [`watch`].
    socket: Option<watch::Socket>,
    /// The longest any call may wait without a deadline ([`Postgres::bound_calls`]).
    ceiling: Option<Duration>,
    /// A call's error said the connection is gone ([`Postgres::is_lost_after`]).
    broken: Cell<bool>,
    /// The bound of the close when the connection drops.
    closing: Option<watch::Armed>,
}

/// One connection to a PostgreSQL database.
pub struct Postgres {
    pub(super) client: RefCell<postgres::Client>,
    /// `host:port/dbname`, for messages (never the password).
    pub(super) shown: String,
    /// The deadline of the current write ([`Postgres::set_deadline`], [`deadline_ms`]).
    pub(super) deadline: Option<Instant>,
    /// The bound on lock waits of a write without a deadline (--busy-timeout, milliseconds;
    /// None when the URL sets lock_timeout itself).
    lock_timeout: Option<u128>,
    /// The client-side bounds; declared after `client`, so that the bound of the close is in
    /// force while the client drops.
    net: Net,
    /// Timestamps of this process never go backwards, even if the system clock does.
    pub clock: Clock,
    /// The database has our own tables (`durably_cli_*`, [`crate::store::ours`]).
    ours: bool,
}

/// A PostgreSQL error as one line naming the database: the server's message (and detail) for
/// an error the server reported, else the client's, with the driver's error kept behind it
/// ([`DbError`]); errors that carry an exit code unchanged.
pub fn describe(e: anyhow::Error, location: &str) -> anyhow::Error {
    match e.downcast::<postgres::Error>() {
        Ok(pg) => {
            let text = format!("database {location}: {}", error_text(&pg));
            DbError::new(text, pg).into()
        }
        Err(e) => e,
    }
}

/// One line for a PostgreSQL error: the server's message and detail, or the client's error with
/// its causes (the client's own text says only "error connecting to server").
pub fn error_text(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let detail = db.detail().map(|d| format!(" ({d})")).unwrap_or_default();
        return format!("{}{detail}", db.message());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// Connects within [`connect::Target::connect_bound`], login included; a connect cut at the
/// bound says so rather than "connection closed".
fn connect_bounded(target: &connect::Target) -> (Result<postgres::Client>, Option<watch::Socket>) {
    let bound = target.connect_bound();
    let started = Instant::now();
    let (client, socket) = watch::connect(bound, &target.peers(), || connect::connect(target));
    let client = client.map_err(|e| {
        if started.elapsed() < bound {
            return e;
        }
        anyhow::anyhow!(
            "cannot connect to PostgreSQL at {}: no answer within {} s (connect_timeout)",
            target.shown,
            bound.as_secs()
        )
    });
    (client, socket)
}

/// `result`, after shutting the connection's socket down when its error says the connection
/// is gone. Called while the transaction is still open: dropping it sends ROLLBACK and waits
/// for an answer, which a connection whose server ended it (its close withheld by a proxy or a
/// partition) never gives, so the worker would wait until its call's bound (a lease).
fn cut_if_lost<T>(result: Result<T>, socket: Option<watch::Socket>) -> Result<T> {
    if result.as_ref().is_err_and(is_connection_error) {
        watch::cut(socket);
    }
    result
}

/// The deadline rule of every PostgreSQL write, first thing in its transaction: while a
/// deadline is set ([`Postgres::set_deadline`]: a worker's write on behalf of a leased run must
/// not outlive the lease), the transaction's lock waits and statements end at it
/// (`SET LOCAL lock_timeout` and `statement_timeout`, in whole milliseconds rounded up: a
/// timeout that fired before the deadline would read as a database error rather than the lease
/// running out), and a write whose deadline has already passed is refused before any statement
/// ("the lease ran out"). Either way nothing is written. Without a deadline the transaction's
/// `lock_timeout` is `--busy-timeout`. This gives the milliseconds left, rounded up (None: no
/// deadline), or that error; a write's `BEGIN` ([`Postgres::begin`]) sets both timeouts to it.
/// (`fenced_write_from` and the one-message lease writes in `lease.rs` spell the same rule.)
fn deadline_ms(deadline: Option<Instant>) -> Result<Option<u128>> {
    let Some(deadline) = deadline else {
        return Ok(None);
    };
    let left = deadline
        .saturating_duration_since(Instant::now())
        .as_micros()
        .div_ceil(1000);
    anyhow::ensure!(left > 0, "the lease ran out");
    Ok(Some(left))
}

/// How long closing a connection may wait for the server (the client sends Terminate and
/// waits for the server to close).
const CLOSE_BOUND: Duration = Duration::from_secs(1);

impl Drop for Postgres {
    /// A connection that is gone is cut at once, any other close bounded: closing waits for
    /// the server, which a black-holed or half-closed connection never answers.
    fn drop(&mut self) {
        if self.is_lost() {
            watch::cut(self.net.socket);
        }
        let bound = watch::arm(self.net.socket, Some(Instant::now() + CLOSE_BOUND));
        self.net.closing = Some(bound);
    }
}

/// Enqueues inside the one transaction of [`Postgres::enqueue_batch`].
pub struct PgBatch<'s> {
    /// Inside the `BEGIN` of [`Postgres::enqueue_batch`].
    client: &'s mut postgres::Client,
    clock: &'s mut Clock,
    shown: &'s str,
    buffer: &'s mut enqueue::Buffer,
}

impl PgBatch<'_> {
    /// Like [`Postgres::enqueue`], in the batch's transaction: a run without keys is buffered
    /// and written with others ([`enqueue::Buffer`]); one with a key after the buffer.
    pub fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)> {
        if spec.hold.is_some() {
            let answer = self.buffer.flush(self.client).and_then(|()| {
                let st = &mut held::Held {
                    c: &mut *self.client,
                    clock: &mut *self.clock,
                    batch: true,
                };
                super::held::enqueue(st, spec)
            });
            return answer
                .map(super::held::HeldAnswer::into_run)
                .map_err(|e| describe(e, self.shown));
        }
        let answer = match self.buffer.push(self.client, spec, self.clock) {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => self.buffer.flush(self.client).and_then(|()| {
                let st = &mut self.buffer.statements;
                enqueue::enqueue(self.client, spec, self.clock, st)
            }),
            Err(e) => Err(e),
        };
        answer.map_err(|e| describe(e, self.shown))
    }
}

/// The statements of [`rules`] in one READ COMMITTED transaction.
struct Writes<'a> {
    tx: &'a mut postgres::Client,
    clock: &'a mut Clock,
    /// Our tables exist: a deleted run's rows in them go with it.
    ours: bool,
}

impl rules::RunWrites for Writes<'_> {
    fn find_run(&mut self, given: &str) -> Result<Run> {
        runs::find_run(self.tx, given)
    }

    fn cancel_run(&mut self, id: &str) -> Result<bool> {
        runs::cancel(self.tx, id)
    }

    fn delete_run(&mut self, id: &str) -> Result<()> {
        runs::delete_run(self.tx, id, self.ours)
    }

    fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)> {
        enqueue::enqueue(self.tx, spec, self.clock, &mut Default::default())
    }
}

impl Postgres {
    /// Connects and checks (for writers, creates) the schema; see [`connect::target`] for how
    /// the URL and the `PG*` variables are read.
    pub fn open(url: &PgTarget, opts: &Options, access: Access) -> Result<Postgres> {
        let target = connect::target(url.url(), opts.busy_timeout)?;
        // A server that is full (too many clients) is waited for within --busy-timeout.
        let (mut client, socket) = admission::retry(opts.busy_timeout, || {
            let (client, socket) = connect_bounded(&target);
            client.map(|c| (c, socket))
        })?;
        // The schema check is part of opening: bounded like the connect, plus the lock wait
        // allowed for a schema another process is creating.
        let bound = target.connect_bound().saturating_add(opts.busy_timeout);
        let armed = watch::arm(socket, Instant::now().checked_add(bound));
        let ours = schema::prepare(&mut client, &target.shown, access, &target.setup())
            .map_err(|e| describe(e, &target.shown))?;
        drop(armed);
        Ok(Postgres::new(client, socket, &target, ours))
    }

    fn new(
        client: postgres::Client,
        socket: Option<watch::Socket>,
        target: &connect::Target,
        ours: bool,
    ) -> Postgres {
        Postgres {
            client: RefCell::new(client),
            shown: target.shown.clone(),
            deadline: None,
            lock_timeout: target.lock_timeout(),
            net: Net {
                socket,
                ceiling: None,
                broken: Cell::new(false),
                closing: None,
            },
            clock: Default::default(),
            ours,
        }
    }

    /// Whether the database has our own tables ([`crate::store::ours`]); false on a database
    /// the library created until a feature that needs them is used.
    pub fn has_ours(&self) -> bool {
        self.ours
    }

    /// Creates our own tables if the database lacks them ([`crate::store::ours`]).
    pub fn ensure_ours(&mut self) -> Result<()> {
        if !self.ours {
            schema::create_ours(&mut self.client.borrow_mut())
                .map_err(|e| describe(e, &self.shown))?;
            self.ours = true;
        }
        Ok(())
    }

    /// A second connection to the same database (a worker's lease-renewal thread): the schema
    /// was checked by the first.
    pub fn open_again(url: &PgTarget, opts: &Options) -> Result<Postgres> {
        let target = connect::target(url.url(), opts.busy_timeout)?;
        // One attempt: a worker reconnecting has its own backoff, and must not wait here for
        // a connection slot while its leases run out.
        let (client, socket) = connect_bounded(&target);
        let mut client = client?;
        let armed = watch::arm(socket, Instant::now().checked_add(target.connect_bound()));
        target.set_up(&mut client)?;
        drop(armed);
        // Only `durably work` opens again, and it made sure of our tables when it started.
        Ok(Postgres::new(client, socket, &target, true))
    }

    /// `BEGIN` with the transaction's bound on lock waits (`SET LOCAL`, never a session SET,
    /// so that it holds on whichever server connection a pooler gives the transaction): the
    /// deadline when one is set, else --busy-timeout. One simple query, one round trip.
    fn begin(&self) -> Result<String> {
        if let Some(ms) = deadline_ms(self.deadline)? {
            return Ok(format!(
                "BEGIN; SET LOCAL lock_timeout = {ms}; SET LOCAL statement_timeout = {ms}"
            ));
        }
        Ok(match self.lock_timeout {
            Some(ms) => format!("BEGIN; SET LOCAL lock_timeout = {ms}"),
            None => "BEGIN".into(),
        })
    }

    /// A read of one statement outside any transaction, sent unnamed ([`typed`]).
    pub(super) fn read_typed(
        &self,
        what: &str,
        sql: &str,
        params: &[(&(dyn postgres::types::ToSql + Sync), postgres::types::Type)],
    ) -> Result<Option<postgres::Row>> {
        let _armed = self.armed();
        let mut client = self.client.borrow_mut();
        client
            .query_typed_opt(sql, params)
            .map_err(|e| describe(e.into(), &self.shown))
            .with_context(|| format!("cannot {what}"))
    }

    /// Bounds the writes that follow by `deadline` (None: no bound), by the one rule of
    /// `deadline_ms`. The client stops waiting shortly after it too, answer or not
    /// (the connection is then lost).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Bounds every call made without a deadline by `ceiling` on the client's side: a call
    /// still waiting then loses the connection (a worker's claims and maintenance, whose
    /// waits must not outlive a lease).
    pub fn bound_calls(&mut self, ceiling: Option<Duration>) {
        self.net.ceiling = ceiling;
    }

    /// The ceiling set by [`Postgres::bound_calls`].
    pub fn ceiling(&self) -> Option<Duration> {
        self.net.ceiling
    }

    /// The client-side bound of the call about to be made, in force until dropped: the
    /// deadline (a little after it), else the ceiling.
    pub(super) fn armed(&self) -> watch::Armed {
        let at = match (self.deadline, self.net.ceiling) {
            (Some(d), _) => d.checked_add(PAST_DEADLINE),
            (None, Some(c)) => Instant::now().checked_add(c),
            (None, None) => None,
        };
        watch::arm(self.net.socket, at)
    }

    /// One round trip to the server, within the ceiling ([`Postgres::bound_calls`]).
    pub fn ping(&self) -> Result<()> {
        let _armed = self.armed();
        let mut client = self.client.borrow_mut();
        client
            .batch_execute("SELECT 1")
            .map_err(|e| describe(e.into(), &self.shown))
    }

    /// Enqueues many runs in one transaction: committed when `commit` and `f` returns Ok,
    /// else rolled back (`commit: false` tries a batch for its first error).
    pub fn enqueue_batch<T>(
        &mut self,
        commit: bool,
        f: impl FnOnce(PgBatch) -> Result<T>,
    ) -> Result<T> {
        let _armed = self.armed();
        let begin = self.begin().map_err(|e| describe(e, &self.shown))?;
        let shown = self.shown.as_str();
        let client = self.client.get_mut();
        // BEGIN and COMMIT by hand: the batch holds the client, not a Transaction borrowing it.
        // The database's now comes with BEGIN (one round trip): every run of the batch is
        // created at it, never before a run this process created earlier.
        let began = client
            .simple_query(&format!("{}; {}", begin, clock::NOW))
            .map_err(|e| describe(e.into(), shown))?;
        let now = began.iter().find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        });
        let Some(now) = now else {
            let _ = client.batch_execute("ROLLBACK");
            anyhow::bail!("database {shown}: the server's clock gave no answer");
        };
        self.clock.observe(&now);
        let mut buffer = enqueue::Buffer::default();
        // Statements prepared once for the batch, closed before its COMMIT ([`enqueue`]).
        buffer.statements.reuse = true;
        let value = f(PgBatch {
            client: &mut *client,
            clock: &mut self.clock,
            shown,
            buffer: &mut buffer,
        })
        .and_then(|v| {
            buffer.flush(&mut *client).map_err(|e| describe(e, shown))?;
            Ok(v)
        });
        drop(buffer);
        if commit && value.is_ok() {
            client
                .batch_execute("COMMIT")
                .map_err(|e| outcome::commit_error(e, shown, String::new()))?;
        } else {
            client
                .batch_execute("ROLLBACK")
                .map_err(|e| describe(e.into(), shown))?;
        }
        value
    }

    /// `f` in one read-only REPEATABLE READ transaction (one snapshot), ended before returning.
    fn read<T>(&self, f: impl FnOnce(&mut postgres::Client) -> Result<T>) -> Result<T> {
        self.read_from(READ, f)
    }

    /// Like [`Postgres::read`], the transaction begun by `begin` (one simple query): [`READ`]
    /// and what the reads need set in it, in the same round trip.
    fn read_from<T>(
        &self,
        begin: &str,
        f: impl FnOnce(&mut postgres::Client) -> Result<T>,
    ) -> Result<T> {
        let _armed = self.armed();
        let mut client = self.client.borrow_mut();
        let shown = self.shown.as_str();
        let value = client
            .batch_execute(begin)
            .map_err(anyhow::Error::from)
            .and_then(|()| f(&mut client));
        let value = match cut_if_lost(value, self.net.socket) {
            Ok(value) => value,
            Err(e) => {
                // Ends what the begin began (nothing when the connection is gone).
                let _ = client.batch_execute("ROLLBACK");
                return Err(describe(e, shown));
            }
        };
        client
            .batch_execute("COMMIT")
            .map_err(|e| describe(e.into(), shown))?;
        Ok(value)
    }

    /// `f` in one READ COMMITTED transaction, committed when it returns Ok, bounded by the
    /// deadline when one is set ([`deadline_ms`]). When the connection is
    /// lost after COMMIT was sent, the error is [`super::CommitUnknown`] with `subject(value)`
    /// saying what to look for.
    pub(super) fn write_then<T>(
        &mut self,
        f: impl FnOnce(&mut postgres::Client, &mut Clock) -> Result<T>,
        subject: impl FnOnce(&T) -> String,
    ) -> Result<T> {
        let _armed = self.armed();
        let begin = self.begin().map_err(|e| describe(e, &self.shown))?;
        let shown = self.shown.as_str();
        let socket = self.net.socket;
        let client = self.client.get_mut();
        // BEGIN and COMMIT by hand: BEGIN and the lock bound go in one round trip.
        let value = client
            .batch_execute(&begin)
            .map_err(anyhow::Error::from)
            .and_then(|()| f(&mut *client, &mut self.clock));
        let value = match cut_if_lost(value, socket) {
            Ok(value) => value,
            Err(e) => {
                // Ends what BEGIN began (nothing when the connection is gone).
                let _ = client.batch_execute("ROLLBACK");
                return Err(describe(e, shown));
            }
        };
        client
            .batch_execute("COMMIT")
            .map_err(|e| outcome::commit_error(e, shown, subject(&value)))?;
        Ok(value)
    }
}

impl RunReads for Postgres {
    /// The server and database, for messages (never the password).
    fn location(&self) -> String {
        self.shown.clone()
    }

    /// The run with exactly this id.
    fn run(&self, id: &str) -> Result<Option<Run>> {
        let _armed = self.armed();
        let mut client = self.client.borrow_mut();
        runs::get_run(&mut *client, id).map_err(|e| describe(e, &self.shown))
    }

    /// Resolves a handle (the full id, or a unique, case-insensitive prefix or tail of at
    /// least 8 characters) to the run's id.
    fn resolve_id(&mut self, given: &str) -> Result<String> {
        self.read(|c| runs::resolve_id(c, given))
    }

    /// Resolves and loads a run (not found when unknown).
    fn find_run(&mut self, given: &str) -> Result<Run> {
        self.read(|c| runs::find_run(c, given))
    }

    /// A run with its steps and logs, from one snapshot ([`reads::run_details`]).
    fn run_details(&mut self, given: &str) -> Result<(Run, Vec<Step>, Vec<Log>)> {
        self.read(|c| reads::run_details(&mut runs::Reads(c), given))
    }

    /// A page of a run's logs and whether the run was terminal ([`reads::logs_page`]).
    fn logs_page(
        &mut self,
        run_id: &str,
        after: Option<(&str, &str)>,
        limit: u64,
    ) -> Result<(bool, Vec<Log>)> {
        self.read(|c| reads::logs_page(&mut runs::Reads(c), run_id, after, limit))
    }

    /// A page of runs and a count capped at `cap + 1` ([`reads::list_page_counted`]).
    fn list_page_counted(
        &mut self,
        before: Option<&str>,
        filter: ListFilter,
        short_ids: bool,
        cap: u64,
    ) -> Result<(Vec<Run>, Vec<String>, u64)> {
        self.read_from(LIST, |c| {
            reads::list_page_counted(&mut runs::Reads(c), before, filter, short_ids, cap)
        })
    }

    /// A page of runs, newest first, after the run `before` names ([`reads::list_page`]).
    fn list_page(
        &mut self,
        before: Option<&str>,
        filter: ListFilter,
        short_ids: bool,
    ) -> Result<(Vec<Run>, Vec<String>)> {
        self.read_from(LIST, |c| {
            reads::list_page(&mut runs::Reads(c), before, filter, short_ids)
        })
    }

    /// `ls --explain`: the statement and PostgreSQL's EXPLAIN of it ([`reads::explain_list`]).
    fn explain_list(
        &mut self,
        before: Option<&str>,
        filter: ListFilter,
    ) -> Result<(Plan, Vec<Vec<String>>)> {
        self.read_from(LIST, |c| {
            reads::explain_list(&mut runs::Reads(c), before, filter)
        })
    }

    /// Runs counted by (status, job).
    fn counts(&self) -> Result<Vec<(String, String, i64)>> {
        self.read(runs::counts)
    }

    /// A run's steps by index.
    fn steps(&mut self, run_id: &str) -> Result<Vec<Step>> {
        self.read(|c| runs::steps_of(c, run_id))
    }

    /// Runs changed at or after `since` ([`feed::runs_updated_since`]).
    fn runs_updated_since(&self, since: &str, limit: u64) -> Result<Vec<Run>> {
        self.read(|c| feed::runs_updated_since(c, since, limit))
    }

    /// Completions per minute ([`feed::completions_per_minute`]).
    fn completions_per_minute(&self, since: &str) -> Result<Vec<(String, String, i64)>> {
        self.read(|c| feed::completions_per_minute(c, since))
    }
}

impl RunChanges for Postgres {
    /// Enqueues one run (or finds its idempotent/coalesced twin) in one transaction.
    fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)> {
        self.write_then(
            |tx, clock| enqueue::enqueue(tx, spec, clock, &mut Default::default()),
            |(run, disposition)| match disposition {
                Disposition::Created => format!(
                    "run {} was enqueued if `durably show {}` finds it; enqueue again only if it does not (a spec with an idempotency key can be enqueued again safely)",
                    run.id, run.id
                ),
                _ => format!(
                    "nothing was written: the {} run {} answers this spec",
                    disposition.as_str(),
                    run.id
                ),
            },
        )
    }

    /// Enqueues a terminal run again as a new run ([`rules::retrigger`]).
    fn retrigger(&mut self, given: &str) -> Result<Run> {
        let ours = self.ours;
        self.write_then(|tx, clock| {
            rules::retrigger(&mut Writes { tx, clock, ours }, given)
        }, |run| format!(
            "the new run {} exists if `durably show {}` finds it; retrigger again only if it does not",
            run.id, run.id
        ))
    }

    /// Cancels a pending or leased run; its id ([`rules::cancel`]).
    fn cancel(&mut self, given: &str) -> Result<String> {
        let ours = self.ours;
        self.write_then(|tx, clock| {
            rules::cancel(&mut Writes { tx, clock, ours }, given)
        }, |id| format!("`durably show {id}` tells whether run {id} was cancelled; cancelling again is harmless"))
    }

    /// Deletes a run with its labels, steps and logs; its id ([`rules::delete`]).
    fn delete(&mut self, given: &str, force: bool) -> Result<String> {
        let ours = self.ours;
        self.write_then(|tx, clock| {
            rules::delete(&mut Writes { tx, clock, ours }, given, force)
        }, |id| format!("`durably show {id}` tells whether run {id} was deleted; deleting again is harmless"))
    }
}

impl crate::store::backend::Retries for Postgres {
    fn fail_and_retry(
        &mut self,
        id: &str,
        generation: i64,
        error: &str,
        cause: FailureCause,
        default: Option<&RetryPolicy>,
        jitter: f64,
    ) -> Result<crate::store::Fenced<Option<crate::store::retries::Successor>>> {
        self.write_then(
            |tx, _| {
                let mut rows = retries::Rows(tx);
                crate::store::retries::fail_and_retry(
                    &mut rows, id, generation, error, cause, default, jitter,
                )
            },
            |_| {
                format!(
                    "`durably show {id}` tells whether run {id} was failed (and its retry held)"
                )
            },
        )
    }

    fn attempts(&mut self, run_id: &str) -> Result<Vec<Attempt>> {
        self.read(|c| retries::chain(c, run_id))
    }

    fn superseded(&mut self, ids: &[String]) -> Result<Vec<String>> {
        self.read(|c| retries::superseded(c, ids))
    }

    fn give_back(&mut self, id: &str, generation: i64) -> Result<crate::store::Fenced> {
        self.give_back_counted(id, generation)
    }

    fn given_back(&mut self, id: &str) -> Result<i64> {
        self.read(|c| retries::given_back(c, id))
    }
}

impl crate::store::backend::Pauses for Postgres {
    fn pause(&mut self, scopes: &[PauseScope]) -> Result<Vec<PauseScope>> {
        self.write_then(
            |tx, _| store_pauses::pause(&mut pauses::Rows(tx), scopes),
            |_| "`durably paused` tells what is paused; pausing again is harmless".into(),
        )
    }

    fn resume(&mut self, scopes: Option<&[PauseScope]>) -> Result<Vec<PauseScope>> {
        self.write_then(
            |tx, _| store_pauses::resume(&mut pauses::Rows(tx), scopes),
            |_| "`durably paused` tells what is still paused; resuming again is harmless".into(),
        )
    }

    fn paused(&mut self) -> Result<Vec<Pause>> {
        self.read(|c| store_pauses::list(&mut pauses::Rows(c)))
    }
}

impl Maintenance for Postgres {
    /// Adds the library's indexes the database lacks and ours.
    fn repair(&self) -> Result<()> {
        let mut client = self.client.borrow_mut();
        schema::repair(&mut client, &self.shown).map_err(|e| describe(e, &self.shown))
    }

    /// Pending runs of `jobs`, and how many a live lease on their concurrency key blocks now.
    fn pending_for(&self, jobs: &Jobs) -> Result<Pending> {
        self.read(|c| runs::pending_for(c, jobs))
    }

    /// Counts what a purge would delete.
    fn purge_count(&self, f: &PurgeFilter) -> Result<u64> {
        self.read(|c| runs::purge_count(c, f))
    }

    /// Deletes at most `batch` runs of a purge in one transaction; how many.
    fn purge_batch(&mut self, f: &PurgeFilter, batch: u64) -> Result<u64> {
        let ours = self.ours;
        self.write_then(
            |tx, _| runs::purge_batch(tx, f, batch, ours),
            |n| format!("a batch of {n} runs may or may not have been deleted; the purge can be run again"),
        )
    }

    /// Purges in batches of bounded size, each its own transaction, so other writers never
    /// wait for the whole purge; how many runs were deleted.
    fn purge(&mut self, filter: &PurgeFilter) -> Result<u64> {
        const BATCH: u64 = 1000;
        let mut deleted = 0;
        loop {
            let n = self.purge_batch(filter, BATCH)?;
            deleted += n;
            if n < BATCH {
                return Ok(deleted);
            }
        }
    }
}
