//! Rows of the SQLite backend: runs, steps and logs read from rusqlite rows of the columns in
//! [`crate::store::columns`] order, and a run read by its id.

use crate::model::{Log, Run, Step};
use crate::store::columns::RUN_COLUMNS;
use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, Row};

/// A run from a row of the columns in [`RUN_COLUMNS`] order.
pub fn run_from_row(row: &Row) -> rusqlite::Result<Run> {
    Ok(Run {
        id: row.get(0)?,
        job_name: row.get(1)?,
        input: row.get(2)?,
        status: row.get::<_, String>(3)?.into(),
        idempotency_key: row.get(4)?,
        concurrency_key: row.get(5)?,
        labels: row.get(6)?,
        current_step_index: row.get(7)?,
        completed_step_count: row.get(8)?,
        progress: row.get(9)?,
        output: row.get(10)?,
        error: row.get(11)?,
        lease_owner: row.get(12)?,
        lease_expires_at: row.get(13)?,
        lease_generation: row.get(14)?,
        started_at: row.get(15)?,
        completed_at: row.get(16)?,
        created_at: row.get(17)?,
        updated_at: row.get(18)?,
    })
}

/// A step from a row of the columns in [`crate::store::columns::STEP_COLUMNS`] order.
pub fn step_from_row(row: &Row) -> rusqlite::Result<Step> {
    Ok(Step {
        id: row.get(0)?,
        run_id: row.get(1)?,
        name: row.get(2)?,
        index: row.get(3)?,
        status: row.get(4)?,
        output: row.get(5)?,
        error: row.get(6)?,
        started_at: row.get(7)?,
        completed_at: row.get(8)?,
    })
}

/// A log from a row of the columns in [`crate::store::columns::LOG_COLUMNS`] order.
pub fn log_from_row(row: &Row) -> rusqlite::Result<Log> {
    Ok(Log {
        id: row.get(0)?,
        run_id: row.get(1)?,
        step_name: row.get(2)?,
        level: row.get(3)?,
        message: row.get(4)?,
        data: row.get(5)?,
        created_at: row.get(6)?,
    })
}

/// The run with exactly this id.
pub fn get_run(conn: &Connection, id: &str) -> Result<Option<Run>> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM durably_runs WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], run_from_row)
        .optional()?)
}
