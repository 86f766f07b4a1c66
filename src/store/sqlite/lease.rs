//! Leases: claiming runs, renewing, completing, failing and handing them back.
//!
//! Invariants (the library's; SEMANTICS.md, "Leases and fencing"):
//! - a claim is one `UPDATE … WHERE id = (SELECT …) RETURNING` inside the caller's
//!   `BEGIN IMMEDIATE` transaction; the clock is read by the caller after `BEGIN` returned;
//! - every claim bumps `lease_generation`; every later write of the claimer is fenced by
//!   `status = 'leased' AND lease_generation = ?`, renewal also by `lease_expires_at > now`;
//! - at most one live lease per concurrency key, across jobs.
//!
//! Runs of a paused job (or of any job while the whole queue is paused: `durably pause`,
//! `durably_cli_pauses`) are not claimed, nor their expired leases taken over.
//!
//! Cost: the oldest pending run is the first entry of `idx_durably_runs_status_created_id`
//! (all jobs) or of `idx_durably_runs_job_status_created_id` for each job (one seek per job);
//! expired leases come from the library's `idx_durably_runs_status_lease_expires`. Neither
//! grows with the number of pending runs unless runs are blocked by a concurrency key.

use super::rows::run_from_row;
use crate::model::Run;
use crate::store::columns::RUN_COLUMNS;
use crate::store::Jobs;
use anyhow::Result;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};

/// The guard of the library: no other unexpired lease holds the same concurrency key.
const GUARD: &str = "(concurrency_key IS NULL OR NOT EXISTS (SELECT 1 FROM durably_runs AS active \
WHERE active.concurrency_key = durably_runs.concurrency_key AND active.id <> durably_runs.id \
AND active.status = 'leased' AND active.lease_expires_at IS NOT NULL \
AND active.lease_expires_at > ?3))";

/// Pauses (issue 17, `durably pause`): neither the run's job nor the whole queue is paused.
/// One probe of `durably_cli_pauses`' primary key per candidate; with nothing paused the
/// first candidate passes, so the claim still costs one seek per arm.
const UNPAUSED: &str = "NOT EXISTS (SELECT 1 FROM durably_cli_pauses \
WHERE scope IN ('queue', 'job:' || durably_runs.job_name))";

/// The claim statement for `jobs` and its job parameters (numbered from ?4).
/// ?1 owner, ?2 lease expiry, ?3 now.
pub fn claim_sql(jobs: &Jobs) -> (String, Vec<Value>) {
    let mut arms = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let mut job_marks = Vec::new();
    match jobs {
        Jobs::All => arms.push(format!(
            "SELECT id, created_at FROM (SELECT id, created_at FROM durably_runs \
             WHERE status = 'pending' AND {GUARD} AND {UNPAUSED} ORDER BY created_at, id LIMIT 1)"
        )),
        Jobs::Only(list) => {
            for job in list {
                params.push(Value::Text(job.clone()));
                let mark = format!("?{}", params.len() + 3);
                arms.push(format!(
                    "SELECT id, created_at FROM (SELECT id, created_at FROM durably_runs \
                     WHERE job_name = {mark} AND status = 'pending' AND {GUARD} AND {UNPAUSED} \
                     ORDER BY created_at, id LIMIT 1)"
                ));
                job_marks.push(mark);
            }
        }
    }
    let job_filter = if job_marks.is_empty() {
        String::new()
    } else {
        format!(" AND job_name IN ({})", job_marks.join(", "))
    };
    arms.push(format!(
        "SELECT id, created_at FROM (SELECT id, created_at FROM durably_runs \
         WHERE status = 'leased' AND lease_expires_at IS NOT NULL AND lease_expires_at <= ?3\
         {job_filter} AND {GUARD} AND {UNPAUSED} ORDER BY created_at, id LIMIT 1)"
    ));
    let sql = format!(
        "UPDATE durably_runs SET status = 'leased', lease_owner = ?1, lease_expires_at = ?2, \
         lease_generation = lease_generation + 1, started_at = COALESCE(started_at, ?3), \
         updated_at = ?3 \
         WHERE id = (SELECT id FROM ({}) ORDER BY created_at, id LIMIT 1) \
         RETURNING {RUN_COLUMNS}",
        arms.join(" UNION ALL ")
    );
    (sql, params)
}

/// Claims the oldest eligible run, if any. `now` and `expires` were computed after the
/// caller's `BEGIN IMMEDIATE` returned.
pub fn claim(
    tx: &Connection,
    jobs: &Jobs,
    owner: &str,
    now: &str,
    expires: &str,
) -> Result<Option<Run>> {
    if matches!(jobs, Jobs::Only(list) if list.is_empty()) {
        return Ok(None);
    }
    let (sql, job_params) = claim_sql(jobs);
    let mut all: Vec<Value> = vec![
        Value::Text(owner.into()),
        Value::Text(expires.into()),
        Value::Text(now.into()),
    ];
    all.extend(job_params);
    Ok(tx
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(all.iter()), run_from_row)
        .optional()?)
}

/// Extends a lease; false when it was lost (cancelled, expired or reclaimed).
pub fn renew(tx: &Connection, id: &str, generation: i64, now: &str, expires: &str) -> Result<bool> {
    let n = tx
        .prepare_cached(include_str!("../../../sql/renew_lease.sql"))?
        .execute(params![id, generation, expires, now])?;
    Ok(n > 0)
}

/// The fence a worker's result write adds: the lease has not run out at `now` (?4), so no
/// other worker can have claimed the run (a claim needs `lease_expires_at <= now`).
macro_rules! unexpired {
    ($file:literal) => {
        concat!(
            include_str!($file),
            "  AND lease_expires_at IS NOT NULL AND lease_expires_at > ?4\n"
        )
    };
}

/// Completes a run with its output JSON text; false when the lease was lost or has run out.
pub fn complete(
    tx: &Connection,
    id: &str,
    generation: i64,
    output: Option<&str>,
    now: &str,
) -> Result<bool> {
    const SQL: &str = unexpired!("../../../sql/complete_run.sql");
    // A large output is bound without SQLite's copy (see `big_text`).
    if let Some(big) = output.filter(|o| o.len() > crate::store::BIG_OUTPUT) {
        use super::big_text::{execute, Param};
        let params = [
            Param::Text(id),
            Param::Int(generation),
            Param::Text(big),
            Param::Text(now),
        ];
        return Ok(execute(tx, SQL, &params)? > 0);
    }
    let n = tx
        .prepare_cached(SQL)?
        .execute(params![id, generation, output, now])?;
    Ok(n > 0)
}

/// Fails a run with an error text; false when the lease was lost or has run out.
pub fn fail(tx: &Connection, id: &str, generation: i64, error: &str, now: &str) -> Result<bool> {
    let n = tx
        .prepare_cached(unexpired!("../../../sql/fail_run.sql"))?
        .execute(params![id, generation, error, now])?;
    Ok(n > 0)
}

/// Ends a lease now, so that another worker can claim the run at once.
pub fn expire(tx: &Connection, id: &str, generation: i64, now: &str) -> Result<bool> {
    let n = tx
        .prepare_cached(include_str!("../../../sql/expire_lease.sql"))?
        .execute(params![id, generation, now])?;
    Ok(n > 0)
}

/// The status and generation of a run (None when deleted).
pub fn status_of(conn: &Connection, id: &str) -> Result<Option<(String, i64)>> {
    Ok(conn
        .prepare_cached("SELECT status, lease_generation FROM durably_runs WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::super::maintenance::{release_expired, Released};
    use super::*;
    use rusqlite::StatementStatus;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../../sql/v1.sql"))
            .unwrap();
        conn.execute_batch(super::super::db::SCHEMA_EXTRA).unwrap();
        conn.execute_batch(super::super::db::SCHEMA_CLI).unwrap();
        conn
    }

    fn add(conn: &Connection, id: &str, job: &str, created: &str, key: Option<&str>) {
        conn.execute(
            include_str!("../../../sql/insert_run.sql"),
            params![id, job, "{}", None::<String>, key, "{}", created],
        )
        .unwrap();
    }

    fn claim_one(conn: &Connection, jobs: &Jobs, now: &str) -> Option<Run> {
        claim(conn, jobs, "w", now, "2030-01-01T00:00:00.000Z").unwrap()
    }

    #[test]
    fn claims_oldest_and_honours_keys() {
        let conn = db();
        add(&conn, "b", "j", "2024-01-01T00:00:02.000Z", Some("k"));
        add(&conn, "a", "j", "2024-01-01T00:00:01.000Z", Some("k2"));
        add(&conn, "c", "other", "2024-01-01T00:00:03.000Z", Some("k"));
        add(&conn, "d", "j", "2024-01-01T00:00:04.000Z", None);
        let now = "2025-01-01T00:00:00.000Z";
        let r = claim_one(&conn, &Jobs::All, now).unwrap();
        assert_eq!((r.id.as_str(), r.lease_generation), ("a", 1));
        assert_eq!(r.started_at.as_deref(), Some(now));
        assert_eq!(claim_one(&conn, &Jobs::All, now).unwrap().id, "b");
        // "c" shares key k with the live lease of "b", across jobs.
        assert_eq!(claim_one(&conn, &Jobs::All, now).unwrap().id, "d");
        assert!(claim_one(&conn, &Jobs::All, now).is_none());
        // Once b's lease has expired, b itself is claimable again (oldest first).
        let later = "2031-01-01T00:00:00.000Z";
        let r = claim_one(&conn, &Jobs::All, later).unwrap();
        assert_eq!((r.id.as_str(), r.lease_generation), ("a", 2));
        assert_eq!(r.started_at.as_deref(), Some(now));
    }

    #[test]
    fn claims_only_listed_jobs() {
        let conn = db();
        add(&conn, "a", "x", "2024-01-01T00:00:01.000Z", None);
        add(&conn, "b", "y", "2024-01-01T00:00:02.000Z", None);
        add(&conn, "c", "z", "2024-01-01T00:00:03.000Z", None);
        let jobs = Jobs::Only(vec!["z".into(), "y".into()]);
        let now = "2025-01-01T00:00:00.000Z";
        assert_eq!(claim_one(&conn, &jobs, now).unwrap().id, "b");
        assert_eq!(claim_one(&conn, &jobs, now).unwrap().id, "c");
        assert!(claim_one(&conn, &jobs, now).is_none());
        assert!(claim_one(&conn, &Jobs::Only(vec![]), now).is_none());
    }

    #[test]
    fn paused_jobs_and_a_paused_queue_are_not_claimed() {
        let conn = db();
        add(&conn, "a", "x", "2024-01-01T00:00:01.000Z", None);
        add(&conn, "b", "y", "2024-01-01T00:00:02.000Z", None);
        add(&conn, "c", "x", "2024-01-01T00:00:03.000Z", None);
        let pause = |key: &str| {
            conn.execute(include_str!("../../../sql/pause_add.sql"), [key, "t"])
                .unwrap()
        };
        let now = "2025-01-01T00:00:00.000Z";
        assert_eq!(claim_one(&conn, &Jobs::All, now).unwrap().id, "a");
        pause("job:x");
        // A job named like the whole queue's key pauses nothing else.
        pause("job:queue");
        assert_eq!(claim_one(&conn, &Jobs::All, now).unwrap().id, "b");
        assert!(claim_one(&conn, &Jobs::All, now).is_none());
        assert!(claim_one(&conn, &Jobs::Only(vec!["x".into()]), now).is_none());
        // Expired leases: b's is taken over, a's (a paused job) is not.
        let later = "2031-01-01T00:00:00.000Z";
        let claim_later =
            |jobs: &Jobs| claim(&conn, jobs, "w", later, "2040-01-01T00:00:00.000Z").unwrap();
        assert_eq!(claim_later(&Jobs::All).unwrap().id, "b");
        assert!(claim_later(&Jobs::All).is_none());
        conn.execute("DELETE FROM durably_cli_pauses", []).unwrap();
        pause("queue");
        assert!(claim_later(&Jobs::All).is_none());
        assert!(claim_later(&Jobs::Only(vec!["x".into()])).is_none());
        conn.execute("DELETE FROM durably_cli_pauses", []).unwrap();
        assert_eq!(claim_later(&Jobs::All).unwrap().id, "a");
        assert_eq!(claim_later(&Jobs::All).unwrap().id, "c");
    }

    #[test]
    fn fenced_writes() {
        let conn = db();
        add(&conn, "a", "x", "2024-01-01T00:00:01.000Z", None);
        let now = "2025-01-01T00:00:00.000Z";
        let r = claim(&conn, &Jobs::All, "w", now, "2025-01-01T00:00:30.000Z")
            .unwrap()
            .unwrap();
        assert!(renew(&conn, "a", 1, now, "2025-01-01T00:01:00.000Z").unwrap());
        assert!(!renew(&conn, "a", 2, now, "2025-01-01T00:01:00.000Z").unwrap());
        // Past the expiry, renewal is refused even for the owner.
        assert!(!renew(&conn, "a", 1, "2025-01-01T00:02:00.000Z", "x").unwrap());
        assert!(!complete(&conn, "a", r.lease_generation + 1, Some("1"), now).unwrap());
        assert!(complete(&conn, "a", r.lease_generation, Some("1"), now).unwrap());
        assert!(!fail(&conn, "a", r.lease_generation, "late", now).unwrap());
    }

    #[test]
    fn result_refused_after_lease_expiry() {
        let conn = db();
        add(&conn, "a", "x", "2024-01-01T00:00:01.000Z", None);
        let now = "2025-01-01T00:00:00.000Z";
        let expires = "2025-01-01T00:00:30.000Z";
        let r = claim(&conn, &Jobs::All, "w", now, expires)
            .unwrap()
            .unwrap();
        // At the expiry instant another worker may claim: the owner's result is refused.
        assert!(!complete(&conn, "a", r.lease_generation, Some("1"), expires).unwrap());
        assert!(!fail(&conn, "a", r.lease_generation, "late", expires).unwrap());
        assert_eq!(status_of(&conn, "a").unwrap().unwrap().0, "leased");
        assert!(fail(&conn, "a", r.lease_generation, "in time", now).unwrap());
    }

    #[test]
    fn release_fails_when_pending_duplicate_exists() {
        let conn = db();
        add(&conn, "a", "j", "2024-01-01T00:00:01.000Z", Some("k"));
        add(&conn, "b", "j", "2024-01-01T00:00:02.000Z", None);
        let now = "2025-01-01T00:00:00.000Z";
        let soon = "2025-01-01T00:00:00.500Z";
        claim(&conn, &Jobs::All, "w", now, soon).unwrap().unwrap();
        claim(&conn, &Jobs::All, "w", now, soon).unwrap().unwrap();
        add(&conn, "c", "j", "2024-01-01T00:00:03.000Z", Some("k"));
        let later = "2025-01-01T00:00:01.000Z";
        let r = release_expired(&conn, later, 100).unwrap();
        assert_eq!(
            r,
            Released {
                pending: 1,
                failed: 1
            }
        );
        let (status, _) = status_of(&conn, "a").unwrap().unwrap();
        assert_eq!(status, "failed");
        let (status, _) = status_of(&conn, "b").unwrap().unwrap();
        assert_eq!(status, "pending");
    }

    /// The claim's work must not grow with the number of pending runs: counted in SQLite VM
    /// steps (deterministic), not in time.
    #[test]
    fn claim_cost_is_flat() {
        fn steps(pending: usize, jobs: &Jobs) -> i32 {
            let conn = db();
            {
                let tx = conn.unchecked_transaction().unwrap();
                for i in 0..pending {
                    let job = ["x", "y", "z"][i % 3];
                    add(
                        &tx,
                        &format!("r{i:08}"),
                        job,
                        &crate::time::format_ms(i as i64),
                        None,
                    );
                }
                tx.commit().unwrap();
            }
            let (sql, job_params) = claim_sql(jobs);
            let mut all: Vec<Value> = vec![
                Value::Text("w".into()),
                Value::Text("2030-01-01T00:00:00.000Z".into()),
                Value::Text("2029-01-01T00:00:00.000Z".into()),
            ];
            all.extend(job_params);
            let mut stmt = conn.prepare(&sql).unwrap();
            let id: String = stmt
                .query_row(rusqlite::params_from_iter(all.iter()), |r| r.get(0))
                .unwrap();
            assert_eq!(id, "r00000000".replace("r00000000", &expected_first(jobs)));
            stmt.get_status(StatementStatus::VmStep)
        }
        fn expected_first(jobs: &Jobs) -> String {
            match jobs {
                Jobs::All => "r00000000".into(),
                Jobs::Only(j) if j.contains(&"x".to_string()) => "r00000000".into(),
                Jobs::Only(_) => "r00000001".into(),
            }
        }
        for jobs in [
            Jobs::All,
            Jobs::Only(vec!["y".into(), "z".into()]),
            Jobs::Only(vec!["x".into(), "y".into(), "missing".into()]),
        ] {
            let small = steps(300, &jobs);
            let large = steps(10_000, &jobs);
            assert!(
                large <= small + 50,
                "claim VM steps grew from {small} to {large} for {jobs:?}"
            );
        }
    }

    #[test]
    fn claim_plan_uses_indexes() {
        let conn = db();
        for jobs in [Jobs::All, Jobs::Only(vec!["x".into(), "y".into()])] {
            let (sql, job_params) = claim_sql(&jobs);
            let mut all: Vec<Value> = vec![
                Value::Text("w".into()),
                Value::Text("b".into()),
                Value::Text("a".into()),
            ];
            all.extend(job_params);
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows: Vec<(i64, i64, String)> = stmt
                .query_map(rusqlite::params_from_iter(all.iter()), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(3)?))
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let lines: Vec<String> = rows.iter().map(|r| r.2.clone()).collect();
            // No sort inside a pending arm: a temp b-tree there would sort every pending run.
            for (_, parent, detail) in &rows {
                if detail.contains("TEMP B-TREE") {
                    let sorts_pending = rows.iter().any(|(_, p, d)| {
                        p == parent
                            && (d.contains("idx_durably_runs_status_created_id")
                                || d.contains("idx_durably_runs_job_status_created_id"))
                    });
                    assert!(!sorts_pending, "pending runs sorted:\n{}", lines.join("\n"));
                }
            }
            let text = lines.join("\n");
            for l in &lines {
                assert!(
                    !(l.starts_with("SCAN durably_runs") || l.starts_with("SCAN active")),
                    "full scan in claim plan:\n{text}"
                );
            }
            let pending_index = match jobs {
                Jobs::All => "idx_durably_runs_status_created_id",
                Jobs::Only(_) => "idx_durably_runs_job_status_created_id",
            };
            assert!(text.contains(pending_index), "{text}");
            assert!(
                text.contains("idx_durably_runs_status_lease_expires"),
                "{text}"
            );
            // The pause check is a probe of the pauses' primary key, never a scan.
            assert!(
                text.contains("SEARCH durably_cli_pauses USING")
                    && !text.contains("SCAN durably_cli_pauses"),
                "{text}"
            );
        }
    }
}
