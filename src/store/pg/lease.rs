//! Leases on PostgreSQL: the library's claim (`claim-postgres.ts`), renewal, the fenced
//! results, and the release of expired leases.
//!
//! A claim is one READ COMMITTED transaction: find the oldest claimable run without locking
//! (the oldest pending run and the oldest expired lease, each read off an index), lock it with
//! `FOR UPDATE SKIP LOCKED` (a run another claimer holds is skipped, never waited for), and
//! for a run with a concurrency key try `pg_try_advisory_xact_lock(hashtext(key))` and re-check
//! that no other unexpired lease holds the key (the lock serializes claims of one key; READ
//! COMMITTED gives the re-check a snapshot taken after the lock). A key whose lock another
//! session holds is skipped like a locked row, never waited for: a claimer stuck mid-claim (a
//! partitioned host whose session the server keeps, with its locks, until keepalive ends it)
//! holds back the runs of its key only, not every claim of the fleet. Workers claim in
//! parallel: nothing is locked but the claimed row and, for a keyed run, its key.
//!
//! Every time is the database's clock ([`super::clock`]): the statements compute the server's
//! `now()` (the transaction's start) in the library's text, and compare it as text like on
//! SQLite. The local instant a lease's deadline is counted from is taken before `BEGIN` is
//! sent, so the worker's deadline is never later than the expiry in the database.

use super::rows::run_from_row;
use super::Postgres;
use crate::model::Run;
use crate::store::backend::Leases;
use crate::store::Fenced;
use crate::store::Jobs;
use anyhow::{Context, Result};
use postgres::Transaction;
use std::time::{Duration, Instant};

const CANDIDATE: &str = include_str!("../../../sql/postgres/lease_claim_candidate.sql");
const CANDIDATE_JOBS: &str = include_str!("../../../sql/postgres/lease_claim_candidate_jobs.sql");

/// A lease length in milliseconds, for timestamp arithmetic.
fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Claims the oldest claimable run of `jobs` in `tx` for `lease` milliseconds from the
/// database's now.
fn claim_in(tx: &mut Transaction, jobs: &Jobs, owner: &str, lease: i64) -> Result<Option<Run>> {
    let job_list: Option<&Vec<String>> = match jobs {
        Jobs::All => None,
        Jobs::Only(list) if list.is_empty() => return Ok(None),
        Jobs::Only(list) => Some(list),
    };
    let candidate_stmt = tx.prepare(if job_list.is_some() {
        CANDIDATE_JOBS
    } else {
        CANDIDATE
    })?;
    let lock_stmt = tx.prepare(include_str!("../../../sql/postgres/lease_claim_lock.sql"))?;
    let mut skip_keys: Vec<String> = Vec::new();
    let mut skip_ids: Vec<String> = Vec::new();
    loop {
        let row = match job_list {
            Some(list) => tx.query_opt(&candidate_stmt, &[&skip_keys, &skip_ids, list])?,
            None => tx.query_opt(&candidate_stmt, &[&skip_keys, &skip_ids])?,
        };
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get(0)?;
        // Another claimer holds it, or it was claimed since it was read: look again without it.
        let Some(locked) = tx.query_opt(&lock_stmt, &[&id])? else {
            skip_ids.push(id);
            continue;
        };
        let key: Option<String> = locked.try_get(0)?;
        if let Some(key) = key {
            let granted: bool = tx
                .query_one(
                    include_str!("../../../sql/postgres/lease_claim_key_lock.sql"),
                    &[&key],
                )?
                .try_get(0)?;
            if !granted {
                // Another session holds the key (a claim in flight, or one stuck): skip it.
                skip_keys.push(key);
                continue;
            }
            let conflict = tx.query_opt(
                include_str!("../../../sql/postgres/lease_claim_conflict.sql"),
                &[&key, &id],
            )?;
            if conflict.is_some() {
                skip_keys.push(key);
                continue;
            }
        }
        let row = tx.query_opt(
            include_str!("../../../sql/postgres/lease_claim_update.sql"),
            &[&id, &owner, &lease],
        )?;
        return row.as_ref().map(run_from_row).transpose();
    }
}

impl Postgres {
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
                    // Whole milliseconds rounded up: a timeout that fired before the deadline
                    // would read as a database error rather than the lease running out.
                    let left = deadline
                        .saturating_duration_since(Instant::now())
                        .as_micros()
                        .div_ceil(1000);
                    anyhow::ensure!(left > 0, "the lease ran out");
                    tx.batch_execute(&format!(
                        "SET LOCAL lock_timeout = {left}; SET LOCAL statement_timeout = {left}"
                    ))?;
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

    /// A read of one statement outside any write.
    pub(super) fn read_opt(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Option<postgres::Row>> {
        let _armed = self.armed();
        let mut client = self.client.borrow_mut();
        client
            .query_opt(sql, params)
            .map_err(|e| super::describe(e.into(), &self.shown))
            .with_context(|| format!("cannot {what}"))
    }
}

impl Leases for Postgres {
    /// Claims the oldest claimable run of `jobs` for `owner` for `lease` from the database's
    /// now; also returns when the lease began by the local clock (taken before BEGIN was sent,
    /// so never after the database's start of the lease).
    fn claim(
        &mut self,
        jobs: &Jobs,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<(Run, Instant)>> {
        self.fenced_write_from("claim a run", |tx, started| {
            Ok(claim_in(tx, jobs, owner, ms(lease))?.map(|r| (r, started)))
        })
    }

    /// Extends a lease by `lease` from the database's now (fenced, and only while unexpired):
    /// Done(when the renewal began by the local clock, before BEGIN was sent) when renewed.
    fn renew(&mut self, id: &str, generation: i64, lease: Duration) -> Result<Fenced<Instant>> {
        self.fenced_write_from("renew a lease", |tx, started| {
            let n = tx.execute(
                include_str!("../../../sql/postgres/lease_renew.sql"),
                &[&id, &generation, &ms(lease)],
            )?;
            Ok(Fenced::when(n > 0, started))
        })
    }

    /// Completes a leased run with its output (fenced, lease unexpired).
    fn complete(&mut self, id: &str, generation: i64, output: Option<&str>) -> Result<Fenced> {
        self.fenced_write("record the result of a run", |tx| {
            let n = tx.execute(
                include_str!("../../../sql/postgres/lease_complete.sql"),
                &[&id, &generation, &output],
            )?;
            Ok(Fenced::when(n > 0, ()))
        })
    }

    /// Fails a leased run with its error (fenced, lease unexpired).
    fn fail(&mut self, id: &str, generation: i64, error: &str) -> Result<Fenced> {
        self.fenced_write("record the result of a run", |tx| {
            let n = tx.execute(
                include_str!("../../../sql/postgres/lease_fail.sql"),
                &[&id, &generation, &error],
            )?;
            Ok(Fenced::when(n > 0, ()))
        })
    }

    /// Gives a leased run back to the queue at once: pending again (fenced).
    fn expire(&mut self, id: &str, generation: i64) -> Result<Fenced> {
        self.fenced_write("give a run back", |tx| {
            let n = tx.execute(
                include_str!("../../../sql/postgres/lease_expire.sql"),
                &[&id, &generation],
            )?;
            Ok(Fenced::when(n > 0, ()))
        })
    }

    /// The status and generation of a run (None when deleted).
    fn status_of(&self, id: &str) -> Result<Option<(String, i64)>> {
        let row = self.read_opt(
            "read a run's status",
            include_str!("../../../sql/postgres/lease_status.sql"),
            &[&id],
        )?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Whether any lease has run out (a read: lets an idle worker skip the write).
    fn has_expired(&self) -> Result<bool> {
        let row = self.read_opt(
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
