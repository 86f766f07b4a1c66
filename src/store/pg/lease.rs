//! Leases on PostgreSQL: the library's claim (`claim-postgres.ts`), renewal, the fenced
//! results, and the release of expired leases.
//!
//! A claim takes up to a worker's free slots in one statement and one round trip
//! (`lease_claim_batch*.sql`, its own implicit transaction): the oldest claimable runs (the
//! oldest pending runs and the oldest expired leases, each read off an index) are locked as
//! they are read, `FOR UPDATE SKIP LOCKED` inside the scan, so a run another claimer holds is
//! passed over in the same scan: claimers that collide never cost each other a round trip.
//! Runs without a concurrency key are claimed by that statement. A run with a key needs the
//! key's lock and a re-check under it, which one statement cannot give (its snapshot predates
//! the lock): when the oldest runs include keyed ones, one more is claimed in a READ COMMITTED
//! transaction (`lease_claim_keyed*.sql`): lock the oldest claimable run as above and try
//! `pg_try_advisory_xact_lock(hashtext(key))` in one statement, then claim it in a second one
//! only if no other unexpired lease holds the key (READ COMMITTED gives it a snapshot taken
//! after the lock). A key whose lock another session holds is skipped like a locked row,
//! never waited for: a claimer stuck mid-claim (a partitioned host whose session the server
//! keeps, with its locks, until keepalive ends it) holds back the runs of its key only, not
//! every claim of the fleet.
//!
//! Round trips: every statement of this file is sent unnamed with its parameter types
//! (`query_typed`/`execute_typed`: Parse, Bind, Execute and Sync in one message; nothing is
//! prepared under a name, which a pooler in transaction mode would break). A write without a
//! deadline is its statement alone; one with a deadline sends `BEGIN` with its `SET LOCAL`
//! timeouts in one message, then the statement, then `COMMIT` ([`Postgres::single_write`]).
//! The claim and the results call the functions that keep their plans on the server
//! ([`super::plans`]) once the worker made sure of them, else the statements go as text.
//! The fenced writes (results, renewals, give-backs) are one simple query each, their values
//! written in ([`super::literal`]), with the `SET LOCAL` timeouts of a deadline in front; a
//! result may carry the batch claim of the worker's next run in the same message and
//! transaction ([`Leases::finish_and_claim`]): one round trip and one commit a run.
//!
//! Every time is the database's clock ([`super::clock`]): the statements compute the server's
//! `now()` (the transaction's start) in the library's text, and compare it as text like on
//! SQLite. The local instant a lease's deadline is counted from is taken before the first
//! message of the write is sent, so the worker's deadline is never later than the expiry in
//! the database.

use super::literal::{self, Lit};
use super::rows::{run_from_row, run_from_text};
use super::Postgres;
use crate::model::Run;
use crate::store::backend::{Leases, NextClaim, RunResult};
use crate::store::{CommitUnknown, Fenced, Jobs};
use anyhow::{Context, Result};
use postgres::types::Type;
use postgres::{GenericClient, SimpleQueryMessage, SimpleQueryRow, Transaction};
use std::time::{Duration, Instant};

const BATCH: &str = include_str!("../../../sql/postgres/lease_claim_batch.sql");
const BATCH_JOBS: &str = include_str!("../../../sql/postgres/lease_claim_batch_jobs.sql");
const KEYED: &str = include_str!("../../../sql/postgres/lease_claim_keyed.sql");
const KEYED_JOBS: &str = include_str!("../../../sql/postgres/lease_claim_keyed_jobs.sql");
const KEYED_UPDATE: &str = include_str!("../../../sql/postgres/lease_claim_keyed_update.sql");
const COMPLETE: &str = include_str!("../../../sql/postgres/lease_complete.sql");
const FAIL: &str = include_str!("../../../sql/postgres/lease_fail.sql");

/// The planner settings the claim functions carry (`sql/postgres/plan_rows.sql`), for a
/// claim sent as text in the same implicit transaction: the pending runs read in index order
/// (and no JIT compilation for a plan whose unavoidable sort is costed as disabled).
const NO_SORT: &str =
    "SET LOCAL enable_sort = off; SET LOCAL enable_incremental_sort = off; SET LOCAL jit = off";

/// The functions that keep the statements' plans, when the worker made sure of them
/// ([`super::plans::ready`]): read once per write, so that the text sent and the reading of
/// its answer agree even if another thread finds the functions gone meanwhile.
type Kept = Option<&'static super::plans::Plans>;

/// A lease length in milliseconds, for timestamp arithmetic.
fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The runs one batch claim took, and whether its window held keyed runs it left for
/// [`claim_keyed`].
struct Batch {
    runs: Vec<Run>,
    keyed_left: bool,
}

/// Claims at most `max` of the oldest claimable runs without a concurrency key in one
/// statement (`lease_claim_batch*.sql`); `jobs` None: any job.
fn claim_batch(
    client: &mut impl GenericClient,
    jobs: Option<&[String]>,
    owner: &str,
    lease: i64,
    max: i64,
) -> Result<Batch> {
    // The functions that keep the statements' plans ([`super::plans`]), or the text.
    let kept = super::plans::ready();
    let rows = match jobs {
        None => client.query_typed(
            &kept.map_or_else(|| BATCH.to_string(), |p| p.claim.call()),
            &[
                (&owner, Type::TEXT),
                (&lease, Type::INT8),
                (&max, Type::INT8),
            ],
        ),
        Some(list) => client.query_typed(
            &kept.map_or_else(|| BATCH_JOBS.to_string(), |p| p.claim_jobs.call()),
            &[
                (&owner, Type::TEXT),
                (&lease, Type::INT8),
                (&max, Type::INT8),
                (&list, Type::TEXT_ARRAY),
            ],
        ),
    };
    let rows = rows.map_err(|e| {
        let e = anyhow::Error::from(e);
        super::plans::forget_if_missing(&e);
        e
    })?;
    let mut batch = Batch {
        runs: Vec::with_capacity(rows.len()),
        keyed_left: false,
    };
    for row in &rows {
        batch.keyed_left |= row.try_get::<_, bool>(19)?;
        // A row of NULLs: nothing was claimed (the row only carries the flag).
        if row.try_get::<_, Option<String>>(0)?.is_some() {
            batch.runs.push(run_from_row(row)?);
        }
    }
    Ok(batch)
}

/// Claims the oldest claimable run in `tx`, a keyed one under its key's advisory lock (tried,
/// never waited for: a key another session holds is passed over, like a key a live lease
/// holds). Every refusal skips a key, so the loop ends.
fn claim_keyed(
    tx: &mut Transaction,
    jobs: Option<&[String]>,
    owner: &str,
    lease: i64,
) -> Result<Option<Run>> {
    let mut skip_keys: Vec<String> = Vec::new();
    loop {
        let row = match jobs {
            None => tx.query_typed_opt(KEYED, &[(&skip_keys, Type::TEXT_ARRAY)])?,
            Some(list) => tx.query_typed_opt(
                KEYED_JOBS,
                &[(&skip_keys, Type::TEXT_ARRAY), (&list, Type::TEXT_ARRAY)],
            )?,
        };
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get(0)?;
        let key: Option<String> = row.try_get(1)?;
        let granted: bool = row.try_get(2)?;
        if granted {
            let claimed = tx.query_typed_opt(
                KEYED_UPDATE,
                &[
                    (&id, Type::TEXT),
                    (&owner, Type::TEXT),
                    (&lease, Type::INT8),
                ],
            )?;
            if let Some(row) = claimed {
                return run_from_row(&row).map(Some);
            }
        }
        match key {
            // Another session holds the key (a claim in flight, or one stuck), or a live
            // lease does since this transaction's first look: skip it.
            Some(key) => skip_keys.push(key),
            None => anyhow::bail!("run {id} was locked for the claim and could not be claimed"),
        }
    }
}

/// The `SET LOCAL` statements that end the lock waits and statements of a transaction at
/// `deadline`; an error when it has passed.
fn timeouts(deadline: Instant) -> Result<String> {
    // Whole milliseconds rounded up: a timeout that fired before the deadline would read as a
    // database error rather than the lease running out.
    let left = deadline
        .saturating_duration_since(Instant::now())
        .as_micros()
        .div_ceil(1000);
    anyhow::ensure!(left > 0, "the lease ran out");
    Ok(format!(
        "SET LOCAL lock_timeout = {left}; SET LOCAL statement_timeout = {left}"
    ))
}

/// The error of a statement sent in its own implicit transaction: when the connection was
/// lost, the server may have committed it before it could answer ([`CommitUnknown`]).
fn unanswered(e: anyhow::Error, shown: &str) -> anyhow::Error {
    if super::is_connection_error(&e) {
        return CommitUnknown {
            location: shown.to_string(),
            subject: String::new(),
            source: e,
        }
        .into();
    }
    e
}

/// The fenced write of a run's result (`lease_complete.sql` or `lease_fail.sql`, or the
/// functions that keep their plans when `kept`, [`super::plans`]) with its parameters written
/// in.
fn result_text(kept: Kept, id: &str, generation: i64, result: RunResult) -> Result<String> {
    let (sql, plan, third) = match result {
        Ok(output) => (COMPLETE, kept.map(|p| &p.complete), Lit::Text(output)),
        Err(error) => (FAIL, kept.map(|p| &p.fail), Lit::Text(Some(error))),
    };
    let params = [Lit::Text(Some(id)), Lit::Int(generation), third];
    match plan {
        Some(plan) => plan.call_inline(&params),
        None => literal::inline(sql, &params),
    }
}

/// The batch claim (`lease_claim_batch*.sql`) with its parameters written in, for a simple
/// query (the functions' call when `kept`); None when `jobs` is an empty list (nothing to
/// claim).
fn batch_claim_text(kept: Kept, next: &NextClaim) -> Result<Option<String>> {
    let owner = Lit::Text(Some(next.owner));
    let lease = Lit::Int(ms(next.lease));
    let max = Lit::Int(i64::try_from(next.max.max(1)).unwrap_or(i64::MAX));
    let text = match (next.jobs, kept) {
        (Jobs::Only(list), _) if list.is_empty() => return Ok(None),
        (Jobs::All, Some(p)) => p.claim.call_inline(&[owner, lease, max])?,
        (Jobs::All, None) => literal::inline(BATCH, &[owner, lease, max])?,
        (Jobs::Only(list), Some(p)) => {
            p.claim_jobs
                .call_inline(&[owner, lease, max, Lit::Texts(list)])?
        }
        (Jobs::Only(list), None) => {
            literal::inline(BATCH_JOBS, &[owner, lease, max, Lit::Texts(list)])?
        }
    };
    Ok(Some(text))
}

/// The runs of a batch claim's rows (as text; a row of NULLs carries only the flag).
fn claimed_runs(rows: &[&SimpleQueryRow]) -> Result<Vec<Run>> {
    let mut runs = Vec::new();
    for row in rows {
        if row.try_get(0)?.is_some() {
            runs.push(run_from_text(row)?);
        }
    }
    Ok(runs)
}

/// One statement's part of a simple query's answer: its rows and its row count.
struct Answered<'a> {
    rows: Vec<&'a SimpleQueryRow>,
    count: u64,
}

impl Answered<'_> {
    /// The rows a write changed: its count, or the one value of a count function's row
    /// ([`super::plans`]).
    fn changed(&self, by_function: bool) -> Result<u64> {
        if !by_function {
            return Ok(self.count);
        }
        let value = self.rows.first().and_then(|r| r.get(0));
        Ok(value.map(str::parse).transpose()?.unwrap_or(0))
    }
}

/// A simple query's answer cut by statement, in order (`SET` has no rows, count 0).
fn by_statement(answer: &[SimpleQueryMessage]) -> Vec<Answered<'_>> {
    let mut out = Vec::new();
    let mut rows = Vec::new();
    for m in answer {
        match m {
            SimpleQueryMessage::Row(row) => rows.push(row),
            SimpleQueryMessage::CommandComplete(count) => out.push(Answered {
                rows: std::mem::take(&mut rows),
                count: *count,
            }),
            _ => {}
        }
    }
    out
}

impl Postgres {
    /// One statement `f` (made with `query_typed`/`execute_typed`: unnamed, one round trip) as
    /// one write, in as few round trips as the deadline allows. Without a deadline the
    /// statement is its own implicit transaction: one round trip. With one
    /// ([`Postgres::set_deadline`]), `BEGIN` and the `SET LOCAL` timeouts go in one round trip,
    /// then the statement, then `COMMIT`: three instead of five. `f` gets the instant taken
    /// before the first message was sent (the database's `now()` is not earlier). A
    /// connection lost once the statement (alone) or COMMIT was sent is
    /// [`CommitUnknown`].
    pub(super) fn single_write<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut postgres::Client, Instant) -> Result<T>,
    ) -> Result<T> {
        let deadline = self.deadline;
        let shown = self.shown.clone();
        let _armed = self.armed();
        let socket = self.net.socket;
        let client = self.client.get_mut();
        let run = || -> Result<T> {
            let before = Instant::now();
            let Some(deadline) = deadline else {
                let value = super::cut_if_lost(f(client, before), socket);
                return value.map_err(|e| unanswered(e, &shown));
            };
            let began = client.batch_execute(&format!("BEGIN; {}", timeouts(deadline)?));
            let value = began
                .map_err(anyhow::Error::from)
                .and_then(|()| f(client, before));
            let value = match super::cut_if_lost(value, socket) {
                Ok(value) => value,
                Err(e) => {
                    if !super::is_connection_error(&e) {
                        let _ = client.batch_execute("ROLLBACK");
                    }
                    return Err(e);
                }
            };
            client
                .batch_execute("COMMIT")
                .map_err(|e| super::outcome::commit_error(e, &shown, String::new()))?;
            Ok(value)
        };
        run()
            .map_err(|e| super::describe(e, &shown))
            .with_context(|| format!("cannot {what}"))
    }

    /// Gives a leased run back and counts the give-back, in one statement (fenced).
    pub(super) fn give_back_counted(&mut self, id: &str, generation: i64) -> Result<Fenced> {
        let (n, _) = self.lease_write(
            "give a run back",
            include_str!("../../../sql/postgres/lease_give_back.sql"),
            &[Lit::Text(Some(id)), Lit::Int(generation)],
        )?;
        Ok(Fenced::when(n > 0, ()))
    }

    /// A run's result alone ([`result_text`]), one round trip (fenced).
    fn result_write(&mut self, id: &str, generation: i64, result: RunResult) -> Result<Fenced> {
        let kept = super::plans::ready();
        let statement = result_text(kept, id, generation, result)?;
        let (answer, _) = self.simple_write("record the result of a run", &[statement])?;
        let changed = match by_statement(&answer).last() {
            Some(write) => write.changed(kept.is_some())?,
            None => 0,
        };
        Ok(Fenced::when(changed > 0, ()))
    }

    /// One statement of a lease write (`sql` with `params` written in, [`literal`]) in one
    /// round trip ([`Postgres::simple_write`]): the rows it changed, and the instant taken
    /// before the message was sent.
    fn lease_write(&mut self, what: &str, sql: &str, params: &[Lit]) -> Result<(u64, Instant)> {
        let statement = literal::inline(sql, params)?;
        let (answer, before) = self.simple_write(what, &[statement])?;
        let changed = by_statement(&answer).last().map_or(0, |write| write.count);
        Ok((changed, before))
    }

    /// Statements (their parameters written in, [`literal`]) as one simple query, one round
    /// trip, which the server runs as one implicit transaction (an error, a timeout's
    /// included, rolls all of it back): with a deadline ([`Postgres::set_deadline`]) after
    /// its `SET LOCAL` timeouts. The server's answer, and the instant taken before the message
    /// was sent (the database's `now()` is not earlier). A connection lost once the message
    /// was sent is [`CommitUnknown`].
    fn simple_write(
        &mut self,
        what: &str,
        statements: &[String],
    ) -> Result<(Vec<SimpleQueryMessage>, Instant)> {
        let deadline = self.deadline;
        let shown = self.shown.clone();
        let _armed = self.armed();
        let socket = self.net.socket;
        let client = self.client.get_mut();
        let mut run = || -> Result<(Vec<SimpleQueryMessage>, Instant)> {
            let mut message = match deadline {
                Some(deadline) => format!("{};\n", timeouts(deadline)?),
                None => String::new(),
            };
            message.push_str(&statements.join(";\n"));
            let before = Instant::now();
            let answer = client.simple_query(&message).map_err(anyhow::Error::from);
            let answer = super::cut_if_lost(answer, socket).map_err(|e| unanswered(e, &shown));
            if let Err(e) = &answer {
                super::plans::forget_if_missing(e);
            }
            Ok((answer?, before))
        };
        run()
            .map_err(|e| super::describe(e, &shown))
            .with_context(|| format!("cannot {what}"))
    }

    /// `f` in one READ COMMITTED transaction, committed when it returns Ok. While a deadline
    /// is set ([`Postgres::set_deadline`]), lock waits and statements of the transaction end
    /// at it (`SET LOCAL lock_timeout`, `statement_timeout`): then nothing is written.
    pub(super) fn fenced_write<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Transaction) -> Result<T>,
    ) -> Result<T> {
        self.fenced_write_from(what, |tx, _| f(tx))
    }

    /// Like [`Postgres::fenced_write`], giving `f` the instant taken just before `BEGIN` was
    /// sent: the database's `now()` of the transaction is not earlier than it. A COMMIT whose
    /// answer was lost with the connection is [`crate::store::CommitUnknown`].
    pub(super) fn fenced_write_from<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Transaction, Instant) -> Result<T>,
    ) -> Result<T> {
        let deadline = self.deadline;
        let shown = self.shown.clone();
        let _armed = self.armed();
        let socket = self.net.socket;
        let client = self.client.get_mut();
        let run = || -> Result<T> {
            let before_begin = Instant::now();
            let mut tx = client.transaction()?;
            let body = |tx: &mut Transaction| -> Result<T> {
                if let Some(deadline) = deadline {
                    tx.batch_execute(&timeouts(deadline)?)?;
                }
                f(tx, before_begin)
            };
            let value = super::cut_if_lost(body(&mut tx), socket)?;
            tx.commit()
                .map_err(|e| super::outcome::commit_error(e, &shown, String::new()))?;
            Ok(value)
        };
        run()
            .map_err(|e| super::describe(e, &shown))
            .with_context(|| format!("cannot {what}"))
    }
}

impl Leases for Postgres {
    /// Claims the oldest claimable run of `jobs` for `owner` for `lease` from the database's
    /// now; also returns when the lease began by the local clock (taken before the claim was
    /// sent, so never after the database's start of the lease).
    fn claim(
        &mut self,
        jobs: &Jobs,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<(Run, Instant)>> {
        Ok(self.claim_many(jobs, owner, lease, 1)?.pop())
    }

    /// Claims at most `max` of the oldest claimable runs of `jobs`. Runs without a
    /// concurrency key: one statement, one round trip, whatever other claimers do. When the
    /// oldest runs include keyed ones and fewer than `max` were claimed, one keyed run more is
    /// claimed in a transaction of four round trips (its key's advisory lock, then the
    /// re-check under it). Each with when its lease began by the local clock.
    fn claim_many(
        &mut self,
        jobs: &Jobs,
        owner: &str,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<(Run, Instant)>> {
        let list: Option<&[String]> = match jobs {
            Jobs::All => None,
            Jobs::Only(list) if list.is_empty() => return Ok(Vec::new()),
            Jobs::Only(list) => Some(list),
        };
        let (lease, max) = (ms(lease), max.max(1));
        let wanted = i64::try_from(max).unwrap_or(i64::MAX);
        let (batch, started) = self.single_write("claim a run", |client, started| {
            Ok((claim_batch(client, list, owner, lease, wanted)?, started))
        })?;
        let mut runs: Vec<(Run, Instant)> = batch.runs.into_iter().map(|r| (r, started)).collect();
        if !batch.keyed_left || runs.len() >= max {
            return Ok(runs);
        }
        let keyed = self.fenced_write_from("claim a run", |tx, started| {
            Ok(claim_keyed(tx, list, owner, lease)?.map(|r| (r, started)))
        });
        match keyed {
            Ok(run) => runs.extend(run),
            // The runs claimed above are this worker's now: they are returned, and the error
            // comes again at the next claim.
            Err(_) if !runs.is_empty() => {}
            Err(e) => return Err(e),
        }
        Ok(runs)
    }

    /// Extends a lease by `lease` from the database's now (fenced, and only while unexpired):
    /// Done(when the renewal began by the local clock, before it was sent) when renewed.
    fn renew(&mut self, id: &str, generation: i64, lease: Duration) -> Result<Fenced<Instant>> {
        let (n, started) = self.lease_write(
            "renew a lease",
            include_str!("../../../sql/postgres/lease_renew.sql"),
            &[
                Lit::Text(Some(id)),
                Lit::Int(generation),
                Lit::Int(ms(lease)),
            ],
        )?;
        Ok(Fenced::when(n > 0, started))
    }

    /// Extends the leases of `runs` in one statement, each fenced as [`Self::renew`]; rows
    /// another transaction holds are skipped (`lease_renew_many.sql`). The ids renewed.
    fn renew_many(
        &mut self,
        runs: &[(String, i64)],
        lease: Duration,
    ) -> Result<(Vec<String>, Instant)> {
        let ids: Vec<String> = runs.iter().map(|(id, _)| id.clone()).collect();
        let generations: Vec<String> = runs.iter().map(|(_, g)| g.to_string()).collect();
        let statement = literal::inline(
            include_str!("../../../sql/postgres/lease_renew_many.sql"),
            &[
                Lit::Texts(&ids),
                Lit::Texts(&generations),
                Lit::Int(ms(lease)),
            ],
        )?;
        let (answer, started) = self.simple_write("renew leases", &[statement])?;
        let renewed = by_statement(&answer)
            .last()
            .map(|write| {
                write
                    .rows
                    .iter()
                    .filter_map(|r| r.get(0).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok((renewed, started))
    }

    /// Completes a leased run with its output (fenced, lease unexpired).
    fn complete(&mut self, id: &str, generation: i64, output: Option<&str>) -> Result<Fenced> {
        self.result_write(id, generation, Ok(output))
    }

    /// Fails a leased run with its error (fenced, lease unexpired).
    fn fail(&mut self, id: &str, generation: i64, error: &str) -> Result<Fenced> {
        self.result_write(id, generation, Err(error))
    }

    /// The result and the claim after it as one simple query, one round trip and one
    /// implicit transaction: the fenced `UPDATE` of the result, then the batch claim
    /// (`lease_claim_batch*.sql`), made whether or not the fence held (a refused result
    /// changes no row, so the claim may take that very run when its lease has run out). An
    /// error of either statement, a deadline's timeout included, rolls both back: nothing
    /// written, nothing claimed. Keyed runs are left to the worker's next claim
    /// ([`Leases::claim_many`]). Each claimed run with the instant taken before the message
    /// was sent.
    fn finish_and_claim(
        &mut self,
        id: &str,
        generation: i64,
        result: RunResult,
        next: &NextClaim,
    ) -> Result<(Fenced, Vec<(Run, Instant)>)> {
        let kept = super::plans::ready();
        let by_function = kept.is_some();
        let write = result_text(kept, id, generation, result)?;
        let claim = batch_claim_text(kept, next)?;
        let claiming = claim.is_some();
        // A claim sent as text gets the claim functions' planner settings, in front (they
        // change nothing for the result's write by its primary key).
        let settings = (claiming && !by_function).then(|| NO_SORT.to_string());
        let statements: Vec<String> = settings
            .into_iter()
            .chain(std::iter::once(write))
            .chain(claim)
            .collect();
        let (answer, started) = self.simple_write("record the result of a run", &statements)?;
        // The result is the last statement, or the one just before the claim.
        let answered = by_statement(&answer);
        let at = answered.len().checked_sub(if claiming { 2 } else { 1 });
        let written = match at {
            Some(i) => answered[i].changed(by_function)? > 0,
            None => false,
        };
        let runs = match (claiming, answered.last()) {
            (true, Some(claim)) => claimed_runs(&claim.rows)?,
            _ => Vec::new(),
        };
        Ok((
            Fenced::when(written, ()),
            runs.into_iter().map(|r| (r, started)).collect(),
        ))
    }

    /// Gives a leased run back to the queue at once: pending again (fenced).
    fn expire(&mut self, id: &str, generation: i64) -> Result<Fenced> {
        let (n, _) = self.lease_write(
            "give a run back",
            include_str!("../../../sql/postgres/lease_expire.sql"),
            &[Lit::Text(Some(id)), Lit::Int(generation)],
        )?;
        Ok(Fenced::when(n > 0, ()))
    }

    /// The status and generation of a run (None when deleted).
    fn status_of(&self, id: &str) -> Result<Option<(String, i64)>> {
        let row = self.read_typed(
            "read a run's status",
            include_str!("../../../sql/postgres/lease_status.sql"),
            &[(&id, Type::TEXT)],
        )?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Whether any lease has run out (a read: lets an idle worker skip the write).
    fn has_expired(&self) -> Result<bool> {
        let row = self.read_typed(
            "look for expired leases",
            include_str!("../../../sql/postgres/lease_has_expired.sql"),
            &[],
        )?;
        Ok(row.is_some())
    }

    /// Releases at most `limit` expired leases in one transaction, like the library's
    /// `releaseExpiredLeases`: back to pending, or failed with `Lease expired; pending run
    /// already exists` when its (job, concurrency key) already has a pending run. How many.
    fn release_expired(&mut self, limit: u64) -> Result<u64> {
        self.fenced_write("release expired leases", |tx| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let ids: Vec<String> = tx
                .query(
                    include_str!("../../../sql/postgres/lease_expired_ids.sql"),
                    &[&limit],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            let fail = tx.prepare(include_str!("../../../sql/postgres/lease_release_fail.sql"))?;
            let pending = tx.prepare(include_str!(
                "../../../sql/postgres/lease_release_pending.sql"
            ))?;
            let mut released = 0;
            for id in &ids {
                if tx.execute(&fail, &[id])? > 0 {
                    released += 1;
                    continue;
                }
                // A pending run of the same key enqueued since the check above makes the
                // partial unique index refuse this one (23505): then it fails like above.
                let mut sp = tx.transaction()?;
                match sp.execute(&pending, &[id]) {
                    Ok(n) => {
                        sp.commit()?;
                        released += n;
                    }
                    Err(e) if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => {
                        sp.rollback()?;
                        released += tx.execute(&fail, &[id])?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(released)
        })
    }
}
