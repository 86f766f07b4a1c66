//! What is still pending for one worker when it ends: the runs of the jobs it claims, and how
//! many of them wait for a concurrency key that a live lease holds.

use crate::store::{rules, Jobs, Pending, MAX_JOBS_PER_CLAIM};
use anyhow::Result;
use rusqlite::types::Value;
use rusqlite::Connection;

/// The pending runs of `jobs` at `now` (an empty job list has none): one statement per
/// [`MAX_JOBS_PER_CLAIM`] distinct job names. The blocked count uses the claim's own guard
/// ([`rules::key_held_by_live_lease`]), so it says why a claim skips those runs.
pub fn pending_for(conn: &Connection, jobs: &Jobs, now: &str) -> Result<Pending> {
    let Jobs::Only(list) = jobs else {
        return pending_in(conn, jobs, now);
    };
    let mut names: Vec<String> = list.clone();
    names.sort();
    names.dedup();
    let mut sum = Pending::default();
    for chunk in names.chunks(MAX_JOBS_PER_CLAIM) {
        let p = pending_in(conn, &Jobs::Only(chunk.to_vec()), now)?;
        sum.total += p.total;
        sum.blocked += p.blocked;
    }
    Ok(sum)
}

fn pending_in(conn: &Connection, jobs: &Jobs, now: &str) -> Result<Pending> {
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
    let held = rules::key_held_by_live_lease("durably_runs", "?1");
    let sql = format!(
        "SELECT count(*), coalesce(sum({held}), 0) FROM durably_runs WHERE status = 'pending'{filter}"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_the_given_jobs_across_chunks_and_the_blocked_ones() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../sql/v1.sql"))
            .unwrap();
        conn.execute_batch(super::super::db::SCHEMA_EXTRA).unwrap();
        let t = "2026-01-01T00:00:00.000Z";
        let add = |id: &str, job: &str, status: &str, key: Option<&str>, expires: Option<&str>| {
            conn.execute(
                include_str!("../../../sql/insert_run.sql"),
                rusqlite::params![id, job, "{}", None::<String>, key, "{}", t],
            )
            .unwrap();
            conn.execute(
                "UPDATE durably_runs SET status = ?2, lease_expires_at = ?3 WHERE id = ?1",
                rusqlite::params![id, status, expires],
            )
            .unwrap();
        };
        add("a", "j0", "pending", None, None);
        add(
            "c",
            "j250",
            "leased",
            Some("k"),
            Some("2999-01-01T00:00:00.000Z"),
        );
        add("b", "j250", "pending", Some("k"), None);
        add("d", "other", "pending", None, None);
        // 300 names, repeated: two chunks, each run counted once.
        let mut names: Vec<String> = (0..300).map(|i| format!("j{i}")).collect();
        names.extend(names.clone());
        let p = pending_for(&conn, &Jobs::Only(names), t).unwrap();
        assert_eq!(
            p,
            Pending {
                total: 2,
                blocked: 1
            }
        );
        let all = pending_for(&conn, &Jobs::All, t).unwrap();
        assert_eq!(
            all,
            Pending {
                total: 3,
                blocked: 1
            }
        );
        assert_eq!(
            pending_for(&conn, &Jobs::Only(vec![]), t).unwrap(),
            Pending::default()
        );
    }
}
