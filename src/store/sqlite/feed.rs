//! What `durably serve` reads beside the commands' reads: the runs changed since the event
//! poller's cursor and the completions per minute of `/stats` (`sql/runs_updated_since.sql`,
//! `sql/completions_per_minute.sql`). Each is one statement, its own snapshot.

use super::rows::run_from_row;
use crate::model::Run;
use anyhow::Result;
use rusqlite::Connection;

/// Runs whose `updated_at` is at or after `since`, oldest change first, at most `limit`.
pub fn runs_updated_since(conn: &Connection, since: &str, limit: u64) -> Result<Vec<Run>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = conn
        .prepare_cached(include_str!("../../../sql/runs_updated_since.sql"))?
        .query_map(rusqlite::params![since, limit], run_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Completed and failed runs counted by minute of `completed_at` from `since` on:
/// (`YYYY-MM-DDTHH:MM`, status, count).
pub fn completions_per_minute(
    conn: &Connection,
    since: &str,
) -> Result<Vec<(String, String, i64)>> {
    let rows = conn
        .prepare_cached(include_str!("../../../sql/completions_per_minute.sql"))?
        .query_map([since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}
