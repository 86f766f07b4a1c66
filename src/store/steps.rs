//! Steps and logs of a run.

use crate::model::{Log, Step, LOG_COLUMNS, STEP_COLUMNS};
use anyhow::Result;
use rusqlite::Connection;

/// The run's steps in index order.
pub fn steps_of(conn: &Connection, run_id: &str) -> Result<Vec<Step>> {
    let sql = format!(
        "SELECT {STEP_COLUMNS} FROM durably_steps WHERE run_id = ?1 ORDER BY \"index\", started_at"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map([run_id], Step::from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The run's logs in creation order; with `after`, only logs created after that
/// (created_at, id), for `logs --follow`.
pub fn logs_of(conn: &Connection, run_id: &str, after: Option<(&str, &str)>) -> Result<Vec<Log>> {
    let (created, id) = after.unwrap_or(("", ""));
    let sql = format!(
        "SELECT {LOG_COLUMNS} FROM durably_logs WHERE run_id = ?1 AND (created_at, id) > (?2, ?3) \
         ORDER BY created_at, id"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map([run_id, created, id], Log::from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}
