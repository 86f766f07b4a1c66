//! Steps, logs and progress of a run. Writes from inside a handler are fenced by the lease
//! (`status = 'leased' AND lease_generation = ?`): a handler that lost its run writes nothing.

use super::rows::{log_from_row, step_from_row};
use crate::model::{new_id, Log, Step};
use crate::store::columns::{LOG_COLUMNS, STEP_COLUMNS};
use crate::store::{Fence, NewLog, NewStep};
use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};

/// The run's steps in index order.
pub fn steps_of(conn: &Connection, run_id: &str) -> Result<Vec<Step>> {
    let sql = format!(
        "SELECT {STEP_COLUMNS} FROM durably_steps WHERE run_id = ?1 ORDER BY \"index\", started_at"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map([run_id], step_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The run's logs in creation order; with `after`, only logs created after that
/// (created_at, id), for `logs --follow`; with `limit`, at most that many (a page).
pub fn logs_of(
    conn: &Connection,
    run_id: &str,
    after: Option<(&str, &str)>,
    limit: Option<u64>,
) -> Result<Vec<Log>> {
    let (created, id) = after.unwrap_or(("", ""));
    let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let sql = format!(
        "SELECT {LOG_COLUMNS} FROM durably_logs WHERE run_id = ?1 AND (created_at, id) > (?2, ?3) \
         ORDER BY created_at, id LIMIT ?4"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![run_id, created, id, limit], log_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The run's completed step named `name`, if any (a memoized `durably step`).
pub fn completed_step(conn: &Connection, run_id: &str, name: &str) -> Result<Option<Step>> {
    let sql = format!(
        "SELECT {STEP_COLUMNS} FROM durably_steps WHERE run_id = ?1 AND name = ?2 AND status = 'completed'"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([run_id, name], step_from_row)
        .optional()?)
}

/// Records a step, fenced by the lease, at index `current_step_index` (read in this
/// transaction); a completed step advances `current_step_index` and `completed_step_count`.
/// Returns the step's index, or None when the lease was lost (nothing written).
pub fn insert_step(
    tx: &Connection,
    fence: &Fence,
    step: &NewStep,
    now: &str,
) -> Result<Option<i64>> {
    let index: Option<i64> = tx
        .prepare_cached(include_str!("../../../sql/insert_step.sql"))?
        .query_row(
            params![
                new_id(),
                fence.run_id,
                fence.generation,
                step.name,
                step.status,
                step.output,
                step.error,
                step.started_at,
                now
            ],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(i) = index {
        if step.status == "completed" {
            tx.prepare_cached(include_str!("../../../sql/advance_step.sql"))?
                .execute(params![fence.run_id, fence.generation, i, now])?;
        }
    }
    Ok(index)
}

/// Sets the run's progress JSON; false when the lease was lost.
pub fn set_progress(tx: &Connection, fence: &Fence, progress: &str, now: &str) -> Result<bool> {
    let n = tx
        .prepare_cached(include_str!("../../../sql/set_progress.sql"))?
        .execute(params![fence.run_id, fence.generation, progress, now])?;
    Ok(n > 0)
}

/// Appends a log, fenced by the lease; false when the lease was lost.
pub fn insert_log(tx: &Connection, fence: &Fence, log: &NewLog, now: &str) -> Result<bool> {
    let n = tx
        .prepare_cached(include_str!("../../../sql/insert_log.sql"))?
        .execute(params![
            new_id(),
            fence.run_id,
            fence.generation,
            log.step_name,
            log.level,
            log.message,
            log.data,
            now
        ])?;
    Ok(n > 0)
}

/// Whether the run is still leased under this generation (read only; writes re-check).
pub fn holds_lease(conn: &Connection, fence: &Fence) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM durably_runs WHERE id = ?1 AND status = 'leased' AND lease_generation = ?2",
        )?
        .query_row(params![fence.run_id, fence.generation], |_| Ok(()))
        .optional()?
        .is_some())
}
