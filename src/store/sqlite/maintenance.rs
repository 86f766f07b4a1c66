//! Keeping the file small and the queue moving: releasing expired leases, purging old
//! terminal runs in batches, the WAL checkpoint, and the counts the worker reports.

use crate::store::backend::Maintenance;
use crate::store::{rules, PurgeFilter};
use anyhow::{Context as _, Result};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::time::{Duration, Instant};

/// What releasing expired leases did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    pub pending: u64,
    pub failed: u64,
}

/// Like the library's `releaseExpiredLeases`: expired leased runs go back to pending, except
/// one whose (job, concurrency key) already has a pending run, which fails with
/// `Lease expired; pending run already exists`. At most `limit` runs per call.
pub fn release_expired(tx: &Connection, now: &str, limit: u64) -> Result<Released> {
    let ids: Vec<String> = tx
        .prepare_cached(include_str!("../../../sql/expired_leases.sql"))?
        .query_map(params![now, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Released::default();
    let mut fail = tx.prepare_cached(include_str!("../../../sql/release_expired_fail.sql"))?;
    let mut pending =
        tx.prepare_cached(include_str!("../../../sql/release_expired_pending.sql"))?;
    for id in &ids {
        if fail.execute(params![id, now])? > 0 {
            out.failed += 1;
        } else if pending.execute(params![id, now])? > 0 {
            out.pending += 1;
        }
    }
    Ok(out)
}

/// Whether any lease has run out (one index probe; lets an idle worker skip the write).
pub fn has_expired(conn: &Connection, now: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM durably_runs WHERE status = 'leased' AND lease_expires_at IS NOT NULL \
             AND lease_expires_at <= ?1 LIMIT 1",
        )?
        .query_row([now], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Whether the file is in WAL mode (checkpoints only make sense there).
pub fn is_wal(conn: &Connection) -> Result<bool> {
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    Ok(mode.eq_ignore_ascii_case("wal"))
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: copies what it can without waiting for anyone.
pub fn checkpoint(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}

/// The purge's condition ([`rules::purge_condition`]) with SQLite's marks.
fn purge_where(f: &PurgeFilter) -> (String, Vec<Value>) {
    let (sql, params) = rules::purge_condition(f, |n| format!("?{n}"));
    (sql, params.into_iter().map(Value::Text).collect())
}

/// Counts what a purge would delete.
pub fn purge_count(conn: &Connection, f: &PurgeFilter) -> Result<u64> {
    let (cond, params) = purge_where(f);
    let sql = format!("SELECT count(*) FROM durably_runs WHERE {cond}");
    Ok(conn
        .prepare(&sql)?
        .query_row(rusqlite::params_from_iter(params.iter()), |r| {
            r.get::<_, i64>(0)
        })? as u64)
}

/// Deletes at most `batch` matching runs (with their labels, steps and logs) in the caller's
/// transaction; returns how many.
pub fn purge_batch(tx: &Transaction, f: &PurgeFilter, batch: u64, ours: bool) -> Result<u64> {
    let (cond, mut params) = purge_where(f);
    params.push(Value::Integer(batch as i64));
    let sql = format!(
        "SELECT id FROM durably_runs WHERE {cond} LIMIT ?{}",
        params.len()
    );
    let ids: Vec<String> = tx
        .prepare_cached(&sql)?
        .query_map(rusqlite::params_from_iter(params.iter()), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in &ids {
        super::admin::delete_run(tx, id, ours)?;
    }
    Ok(ids.len() as u64)
}

/// Deletes in batches sized to hold the write lock for about this long (a purge must not hold
/// other writers up for more than ~50 ms; aiming lower leaves room for the variation between
/// batches).
const BATCH_TARGET: Duration = Duration::from_millis(30);
/// The pause after each batch, in which waiting writers get the lock.
const BATCH_GAP: Duration = Duration::from_millis(2);

impl super::Sqlite {
    /// Whether the file is in WAL mode (checkpoints only make sense there).
    pub fn is_wal(&self) -> Result<bool> {
        is_wal(&self.conn)
    }

    /// The journal mode, as SQLite names it (`wal`, `delete`, …).
    pub fn journal_mode(&self) -> Result<String> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| super::db::describe(e.into(), &self.path))?;
        Ok(mode)
    }

    /// Switches the file to WAL mode.
    pub fn enable_wal(&self) -> Result<()> {
        let path = self.path.display();
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| super::db::describe(e.into(), &self.path))
            .with_context(|| format!("cannot switch {path} to WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            anyhow::bail!("cannot switch {path} to WAL (journal mode stays {mode})");
        }
        Ok(())
    }

    /// Copies what it can of the WAL into the database without waiting for anyone.
    pub fn checkpoint(&self) -> Result<()> {
        checkpoint(&self.conn).map_err(|e| super::db::describe(e, &self.path))
    }
}

impl Maintenance for super::Sqlite {
    /// `durably init` on an existing file: adds the indexes it lacks (see [`super::db::repair`]).
    fn repair(&self) -> Result<()> {
        super::db::repair(&self.conn, &self.path)
    }

    /// Pending runs of `jobs`, and how many of them a live lease on their concurrency key
    /// blocks now: the worker's closing note.
    fn pending_for(&self, jobs: &crate::store::Jobs) -> Result<crate::store::Pending> {
        super::pending::pending_for(&self.conn, jobs, &crate::time::now())
    }

    /// Counts what a purge would delete.
    fn purge_count(&self, f: &PurgeFilter) -> Result<u64> {
        purge_count(&self.conn, f)
    }

    /// Deletes at most `batch` runs of the purge in one transaction; returns how many.
    fn purge_batch(&mut self, f: &PurgeFilter, batch: u64) -> Result<u64> {
        let ours = self.ours;
        self.write(|tx| purge_batch(tx, f, batch, ours))
    }

    /// Purges in short IMMEDIATE transactions, so other writers wait at most one batch;
    /// returns how many runs were deleted.
    fn purge(&mut self, filter: &PurgeFilter) -> Result<u64> {
        let mut batch: u64 = 256;
        let mut deleted = 0;
        loop {
            let started = Instant::now();
            let n = self.purge_batch(filter, batch)?;
            deleted += n;
            if n < batch {
                return Ok(deleted);
            }
            let took = started.elapsed();
            // The WAL frames of this batch go into the database now, in the purge's own time:
            // otherwise the next small writer's commit (an `enqueue` waiting for the lock) runs
            // the auto-checkpoint of thousands of pages the purge wrote.
            self.checkpoint()?;
            // A gap between batches, so that a waiting writer (polling every ms, see
            // db::busy_wait) takes the lock now instead of after the whole purge.
            std::thread::sleep(BATCH_GAP);
            // Sized in proportion to the last batch's time, at most 1.5× bigger each step, so a
            // batch does not overshoot the target by doubling.
            let scaled = batch as f64 * BATCH_TARGET.as_secs_f64() / took.as_secs_f64().max(1e-4);
            batch = (scaled as u64)
                .clamp(batch / 2, batch + batch / 2)
                .clamp(16, 8192);
        }
    }
}
