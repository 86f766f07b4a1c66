//! The statements of retries on SQLite ([`crate::store::retries`] the rules). Times are the
//! local clock read after `BEGIN IMMEDIATE`.

use super::lease;
use crate::model::Attempt;
use crate::store::retries::{attempt_from, RetryRows};
use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension, Row};

fn attempt_row(r: &Row) -> rusqlite::Result<Attempt> {
    Ok(attempt_from(
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

/// Inserts an attempt row (enqueue, a successor).
pub fn insert_attempt(conn: &Connection, a: &Attempt) -> Result<()> {
    conn.prepare_cached(include_str!("../../../sql/attempt_insert.sql"))?
        .execute(params![
            a.run_id,
            a.first_run_id,
            a.previous_run_id,
            a.attempt,
            a.policy.max_attempts,
            a.policy.backoff_ms,
            a.policy.backoff_max_ms,
            a.policy.retry_on_json(),
        ])?;
    Ok(())
}

/// The attempt row of a run.
pub fn attempt_of(conn: &Connection, run_id: &str) -> Result<Option<Attempt>> {
    Ok(conn
        .prepare_cached(include_str!("../../../sql/attempt_of.sql"))?
        .query_row([run_id], attempt_row)
        .optional()?)
}

/// Every attempt of the chain `run_id` belongs to, in order (empty: none).
pub fn chain(conn: &Connection, run_id: &str) -> Result<Vec<Attempt>> {
    let Some(this) = attempt_of(conn, run_id)? else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(include_str!("../../../sql/attempt_chain.sql"))?;
    let rows = stmt.query_map([&this.first_run_id], attempt_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Those of `ids` that have a successor.
pub fn superseded(conn: &Connection, ids: &[String]) -> Result<Vec<String>> {
    let list = serde_json::to_string(ids)?;
    let mut stmt = conn.prepare_cached(include_str!("../../../sql/attempts_superseded.sql"))?;
    let rows = stmt.query_map([list], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The retry statements inside one `BEGIN IMMEDIATE` transaction; `now_ms` read after it began.
pub struct Rows<'a> {
    pub conn: &'a Connection,
    pub now_ms: i64,
}

impl RetryRows for Rows<'_> {
    fn fail(&mut self, id: &str, generation: i64, error: &str) -> Result<bool> {
        let now = crate::time::format_ms(self.now_ms);
        lease::fail(self.conn, id, generation, error, &now)
    }

    fn attempt_of(&mut self, run_id: &str) -> Result<Option<Attempt>> {
        attempt_of(self.conn, run_id)
    }

    fn hold(&mut self, successor: &str, failed: &str, delay_ms: i64) -> Result<String> {
        let now = crate::time::format_ms(self.now_ms);
        let due = crate::time::format_ms(self.now_ms.saturating_add(delay_ms));
        self.conn
            .prepare_cached(include_str!("../../../sql/retry_hold.sql"))?
            .execute(params![successor, due, now, failed])?;
        Ok(due)
    }

    fn insert_attempt(&mut self, attempt: &Attempt) -> Result<()> {
        insert_attempt(self.conn, attempt)
    }
}
