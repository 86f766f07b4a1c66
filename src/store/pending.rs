//! What is still pending for one worker when it ends: the runs of the jobs it claims, and how
//! many of them wait for a concurrency key that a live lease holds.

use super::lease::Jobs;
use anyhow::Result;
use rusqlite::types::Value;
use rusqlite::Connection;

/// Pending runs of a worker's jobs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Every pending run of these jobs.
    pub total: u64,
    /// Those whose concurrency key another run holds with an unexpired lease at `now`.
    pub blocked: u64,
}

/// The pending runs of `jobs` at `now` (an empty job list has none). One statement; the
/// blocked count uses the claim's own guard, so it says why a claim skips those runs.
pub fn pending_for(conn: &Connection, jobs: &Jobs, now: &str) -> Result<Pending> {
    let mut params: Vec<Value> = vec![Value::Text(now.into())];
    let filter = match jobs {
        Jobs::All => String::new(),
        Jobs::Only(list) if list.is_empty() => return Ok(Pending::default()),
        Jobs::Only(list) => {
            let marks: Vec<String> = list
                .iter()
                .map(|job| {
                    params.push(Value::Text(job.clone()));
                    format!("?{}", params.len())
                })
                .collect();
            format!(" AND job_name IN ({})", marks.join(", "))
        }
    };
    let sql = format!(
        "SELECT count(*), coalesce(sum(concurrency_key IS NOT NULL AND EXISTS (\
         SELECT 1 FROM durably_runs AS active \
         WHERE active.concurrency_key = durably_runs.concurrency_key \
         AND active.id <> durably_runs.id AND active.status = 'leased' \
         AND active.lease_expires_at IS NOT NULL AND active.lease_expires_at > ?1)), 0) \
         FROM durably_runs WHERE status = 'pending'{filter}"
    );
    let (total, blocked): (i64, i64) = conn
        .prepare(&sql)?
        .query_row(rusqlite::params_from_iter(params.iter()), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(Pending {
        total: total.max(0) as u64,
        blocked: blocked.max(0) as u64,
    })
}
