//! Cancel, delete, purge and count runs.

use anyhow::Result;
use rusqlite::Connection;

/// Cancels a pending or leased run. False when the run is not (any longer) cancellable.
pub fn cancel(tx: &Connection, id: &str, now: &str) -> Result<bool> {
    let n = tx
        .prepare_cached(include_str!("../../../sql/cancel_run.sql"))?
        .execute([id, now])?;
    Ok(n > 0)
}

/// Deletes a run with its labels, steps and logs, and (`ours`: our tables exist) our rows of
/// it (`delete_ours.sql`).
pub fn delete_run(tx: &Connection, id: &str, ours: bool) -> Result<()> {
    let theirs = include_str!("../../../sql/delete_run.sql");
    let ours = if ours {
        include_str!("../../../sql/delete_ours.sql")
    } else {
        ""
    };
    for stmt in [theirs, ours]
        .into_iter()
        .flat_map(|sql| sql.split(';'))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        tx.prepare_cached(stmt)?.execute([id])?;
    }
    Ok(())
}

/// Runs counted by (status, job).
pub fn stats(conn: &Connection) -> Result<Vec<(String, String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT status, job_name, count(*) FROM durably_runs GROUP BY status, job_name ORDER BY job_name, status",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}
