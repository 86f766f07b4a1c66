//! Cancel, delete, purge and count runs.

use crate::model::{Labels, Status};
use anyhow::Result;
use rusqlite::types::Value;
use rusqlite::{Connection, Transaction};

/// Cancels a pending or leased run. False when the run is not (any longer) cancellable.
pub fn cancel(tx: &Transaction, id: &str, now: &str) -> Result<bool> {
    let n = tx
        .prepare_cached(include_str!("../../sql/cancel_run.sql"))?
        .execute([id, now])?;
    Ok(n > 0)
}

/// Deletes a run with its labels, steps and logs.
pub fn delete_run(tx: &Transaction, id: &str) -> Result<()> {
    for stmt in include_str!("../../sql/delete_run.sql")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        tx.prepare_cached(stmt)?.execute([id])?;
    }
    Ok(())
}

/// Which terminal runs a purge removes.
#[derive(Debug, Clone, Default)]
pub struct PurgeFilter {
    /// `completed_at` strictly before this timestamp.
    pub cutoff: String,
    /// Terminal statuses (empty = all three).
    pub statuses: Vec<Status>,
    pub jobs: Vec<String>,
    pub labels: Labels,
}

fn purge_where(f: &PurgeFilter) -> (String, Vec<Value>) {
    let statuses: Vec<Status> = if f.statuses.is_empty() {
        Status::TERMINAL.to_vec()
    } else {
        f.statuses.clone()
    };
    let mut params: Vec<Value> = vec![Value::Text(f.cutoff.clone())];
    let mut marks = Vec::new();
    for s in statuses {
        params.push(Value::Text(s.as_str().into()));
        marks.push(format!("?{}", params.len()));
    }
    let mut sql = format!(
        "status IN ({}) AND completed_at IS NOT NULL AND completed_at < ?1",
        marks.join(", ")
    );
    if !f.jobs.is_empty() {
        let mut jm = Vec::new();
        for j in &f.jobs {
            params.push(Value::Text(j.clone()));
            jm.push(format!("?{}", params.len()));
        }
        sql.push_str(&format!(" AND job_name IN ({})", jm.join(", ")));
    }
    for (k, v) in &f.labels {
        params.push(Value::Text(k.clone()));
        params.push(Value::Text(v.clone()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM durably_run_labels AS x WHERE x.run_id = durably_runs.id AND x.key = ?{} AND x.value = ?{})",
            params.len() - 1,
            params.len()
        ));
    }
    (sql, params)
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
pub fn purge_batch(tx: &Transaction, f: &PurgeFilter, batch: u64) -> Result<u64> {
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
        delete_run(tx, id)?;
    }
    Ok(ids.len() as u64)
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
