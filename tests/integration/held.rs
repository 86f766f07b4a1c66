//! Held runs (issue 17): `enqueue --at/--in/--after/--after-any`, their release by `durably
//! work` into durably_runs with the id given at enqueue, and `ls`, `show`, `cancel`, `rm` and
//! `wait` on them; keys at release; several workers and a `kill -9` during a release. Every
//! test runs on both backends.

use crate::harness::*;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// Rows of `durably_runs` with this id (0 while held, 1 once released).
fn in_runs(env: &Env, id: &str) -> i64 {
    env.count(&format!(
        "SELECT count(*) FROM durably_runs WHERE id = {}",
        lit(id)
    ))
}

/// Held rows with this id.
fn in_held(env: &Env, id: &str) -> i64 {
    env.count(&format!(
        "SELECT count(*) FROM durably_cli_held_runs WHERE id = {}",
        lit(id)
    ))
}

fn held_count(env: &Env) -> i64 {
    env.count("SELECT count(*) FROM durably_cli_held_runs")
}

/// `work --until-idle` with the env's handlers.
fn work(env: &Env) -> Out {
    let handlers = env.handlers.to_str().unwrap().to_string();
    env.ok(&["work", "--until-idle", "--handlers", &handlers])
}

/// The lines of the file the handlers append to.
fn log_lines(env: &Env) -> Vec<String> {
    std::fs::read_to_string(env.path("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

both! {
    /// A held run comes due while the one slot stays busy with a steady queue: the worker
    /// releases it when it is due, not when the queue is drained (executors claim their next
    /// run with their result, so the main loop's claim turns alone would leave it held).
    /// Released, it goes to the back of the queue (its `created_at` is the release's).
    fn a_run_comes_due_while_every_slot_stays_busy() {
        let env = Env::init();
        env.handler("busy", "sleep 0.05; echo '{}'");
        env.handler("late", "echo '{}'");
        let late = env.enqueue(&["--job", "late", "--in", "1s"]);
        let file = env.file(
            "busy.ndjson",
            (0..120).map(|_| "{\"job\":\"busy\"}\n").collect::<String>(),
        );
        env.ok(&["enqueue-many", "-q", file.to_str().unwrap()]);
        work(&env);
        assert_eq!(env.status(&late), "completed");
        let started_after = env.count(&format!(
            "SELECT count(*) FROM durably_runs WHERE job_name = 'busy' AND started_at > \
             (SELECT created_at FROM durably_runs WHERE id = {})",
            lit(&late)
        ));
        assert!(
            started_after > 10,
            "released only as the queue drained: {started_after} busy runs started after it"
        );
    }

    /// A run due in 4 s is not in durably_runs (no worker can claim it) and shows as
    /// `scheduled` with its due time in ls, show and JSON; a worker before the due time runs
    /// nothing; after it, the run is released with the same id and runs once.
    fn delayed_run_is_invisible_until_due_then_runs_once() {
        let env = Env::init();
        env.handler("job", "echo $DURABLY_RUN_ID >> $T/log; echo ok");
        let out = env.ok(&["enqueue", "--job", "job", "--in", "4s", "--json", "-l", "k=v"]);
        let v = out.json();
        let id = v["id"].as_str().unwrap().to_string();
        assert_eq!(v["status"], "scheduled");
        assert_eq!(v["disposition"], "created");
        let due = v["held"]["dueAt"].as_str().unwrap().to_string();
        assert!(due.as_str() > v["createdAt"].as_str().unwrap(), "{v}");
        assert_eq!(in_runs(&env, &id), 0, "a held run is not in durably_runs");
        // ls, ls --status scheduled, ls --json and show all see it.
        let table = env.ok(&["ls"]).stdout;
        assert!(table.contains("scheduled") && table.contains("due "), "{table}");
        let ids = env.ok(&["ls", "--status", "scheduled", "--format", "ids"]).stdout;
        assert_eq!(ids.trim(), id);
        let none = env.ok(&["ls", "--status", "waiting", "--format", "ids"]).stdout;
        assert_eq!(none.trim(), "");
        let pending = env.ok(&["ls", "--status", "pending", "--format", "ids"]).stdout;
        assert_eq!(pending.trim(), "", "a held run is not pending");
        let listed: Value = serde_json::from_str(&env.ok(&["ls", "--json"]).stdout).unwrap();
        assert_eq!(listed[0]["held"]["dueAt"], due.as_str());
        let shown = env.ok(&["show", &id, "--json"]).json();
        assert_eq!(shown["status"], "scheduled");
        assert_eq!(shown["labels"]["k"], "v");
        let tail = &id[id.len() - 8..];
        assert!(env.ok(&["show", tail]).stdout.contains("due "));
        // Before the due time a worker runs nothing and releases nothing.
        work(&env);
        assert_eq!(in_runs(&env, &id), 0);
        assert!(log_lines(&env).is_empty());
        // After it: released (same id) and run once.
        wait_for("the due time", || {
            (crate::harness::timestamp_ago(Duration::ZERO) > due).then_some(())
        });
        work(&env);
        assert_eq!(log_lines(&env), vec![id.clone()]);
        assert_eq!(env.status(&id), "completed");
        assert_eq!(in_held(&env, &id), 0);
        assert_eq!(env.field(&id, "labels").unwrap(), r#"{"k":"v"}"#);
        let labels = env.count(&format!(
            "SELECT count(*) FROM durably_run_labels WHERE run_id = {} AND key = 'k' AND value = 'v'",
            lit(&id)
        ));
        assert_eq!(labels, 1, "the label rows come with the release");
        let shown = env.ok(&["show", &id, "--json"]).json();
        assert_eq!(shown["status"], "completed");
        assert!(shown.get("held").is_none());
        // Released at the release: created after the due time.
        assert!(shown["createdAt"].as_str().unwrap() >= due.as_str(), "{shown}");
    }

    /// A time in the past (`--at`, and a spec's "at") is due at once; `wait` waits for a held
    /// run through its release.
    fn a_time_past_is_due_at_the_next_poll() {
        let env = Env::init();
        env.handler("job", "echo $DURABLY_RUN_ID >> $T/log; echo '{\"n\":1}'");
        let id = env.enqueue(&["--job", "job", "--at", "2000-01-01T00:00:00Z"]);
        let spec = env.file("spec.json", r#"{"job":"job","at":"2000-01-01 00:00"}"#);
        let id2 = env.enqueue(&[spec.to_str().unwrap()]);
        assert_eq!(env.ok(&["ls", "--status", "scheduled", "--format", "ids"]).stdout.lines().count(), 2);
        let handlers = env.handlers.to_str().unwrap().to_string();
        let waiter = env.spawn(&["wait", &id, "--timeout", "60s"]);
        env.ok(&["work", "--until-idle", "--handlers", &handlers]);
        let out = finish(waiter);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stdout.trim(), r#"{"n":1}"#);
        let mut ran = log_lines(&env);
        ran.sort();
        let mut want = vec![id, id2];
        want.sort();
        assert_eq!(ran, want);
    }

    /// A ← B ← C: each released only when the one before completed, in order; handles
    /// (tails) are resolved to full ids at enqueue.
    fn after_chain_runs_in_order() {
        let env = Env::init();
        env.handler("job", "echo $DURABLY_RUN_ID >> $T/log; echo ok");
        let a = env.enqueue_job("job", &[]);
        let b = env.enqueue_job("job", &["--after", &a[a.len() - 8..]]);
        let c = env.enqueue_job("job", &["--after", &b]);
        let shown = env.ok(&["show", &c, "--json"]).json();
        assert_eq!(shown["status"], "waiting");
        assert_eq!(shown["held"]["after"], serde_json::json!([b]));
        let table = env.ok(&["ls", "--status", "waiting"]).stdout;
        assert!(table.contains(&format!("after {a}")), "{table}");
        work(&env);
        assert_eq!(log_lines(&env), vec![a, b, c.clone()]);
        assert_eq!(env.status(&c), "completed");
        assert_eq!(held_count(&env), 0);
        assert_eq!(env.count("SELECT count(*) FROM durably_cli_held_waits"), 0);
    }

    /// A run waited on that fails cancels the waiting run with a reason naming it (the
    /// waiting run is in durably_runs as cancelled, so the library sees it); with
    /// --after-any the run is released anyway; a run waited on that is deleted counts as
    /// ended without completing.
    fn after_a_failed_run_cancels_unless_after_any() {
        let env = Env::init();
        env.handler("bad", "exit 3");
        env.handler("job", "echo $DURABLY_RUN_ID >> $T/log; echo ok");
        let a = env.enqueue_job("bad", &[]);
        let b = env.enqueue_job("job", &["--after", &a]);
        let c = env.enqueue_job("job", &["--after", &a, "--after-any"]);
        let gone = env.enqueue_job("job", &["--in", "1h"]);
        let d = env.enqueue_job("job", &["--after", &gone]);
        env.ok(&["rm", "--force", &gone]);
        assert_eq!(in_held(&env, &gone), 0);
        let handlers = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--until-idle", "--handlers", &handlers]);
        assert!(out.code == 0 || out.code == 5, "{out:?}");
        assert_eq!(env.status(&a), "failed");
        assert_eq!(env.status(&b), "cancelled");
        let error = env.field(&b, "error").unwrap();
        assert!(error.contains(&a) && error.contains("failed"), "{error}");
        assert_eq!(env.status(&c), "completed");
        assert_eq!(env.status(&d), "cancelled");
        assert!(env.field(&d, "error").unwrap().contains("deleted"));
        assert_eq!(log_lines(&env), vec![c]);
        let table = env.ok(&["ls", "--status", "cancelled"]).stdout;
        assert!(table.contains("waited on is failed"), "{table}");
    }

    /// Idempotency keys: an enqueue with the key of a held run answers that run; at release,
    /// a run the library created meanwhile with the same job and key wins, and the held run is
    /// moved in as cancelled with an error naming it (without the key).
    fn idempotency_key_taken_while_held_cancels_at_release() {
        let env = Env::init();
        env.handler("job", "echo $DURABLY_RUN_ID >> $T/log; echo ok");
        let held = env.enqueue_job("job", &["--in", "1s", "--idempotency-key", "k1"]);
        let again = env.ok(&["enqueue", "--job", "job", "--in", "1h", "--idempotency-key", "k1", "--json"]).json();
        assert_eq!(again["id"], held.as_str());
        assert_eq!(again["disposition"], "idempotent");
        // As the library's trigger would: a pending run with the same job and key.
        let lib = "01a00000-0000-7000-8000-00000000cafe";
        env.exec(&format!(
            "INSERT INTO durably_runs (id, job_name, input, status, idempotency_key, labels, \
             current_step_index, completed_step_count, lease_generation, created_at, updated_at) \
             VALUES ({}, 'job', '{{}}', 'pending', 'k1', '{{}}', 0, 0, 0, {t}, {t})",
            lit(lib),
            t = lit(&timestamp_ago(Duration::ZERO))
        ));
        wait_for("the due time", || {
            let due = env.sql_value(&format!(
                "SELECT due_at FROM durably_cli_held_runs WHERE id = {}",
                lit(&held)
            ))?;
            (timestamp_ago(Duration::ZERO) > due).then_some(())
        });
        work(&env);
        assert_eq!(env.status(&held), "cancelled");
        let error = env.field(&held, "error").unwrap();
        assert!(error.contains(lib) && error.contains("k1"), "{error}");
        assert_eq!(env.field(&held, "idempotency_key"), None);
        assert_eq!(env.status(lib), "completed");
        assert_eq!(log_lines(&env), vec![lib.to_string()]);
    }

    /// A concurrency key held by a pending run: the due run stays held (not lost, not
    /// doubled) and is released at a later poll once the key is free.
    fn concurrency_key_held_back_then_released() {
        let env = Env::init();
        env.handler("other", "echo ok");
        let pending = env.enqueue_job("job", &["--concurrency-key", "ck"]);
        let held = env.enqueue_job("job", &["--at", "2000-01-01T00:00:00Z", "--concurrency-key", "ck"]);
        // A worker for another job only: it releases, but claims nothing of `job`.
        work(&env);
        assert_eq!(in_runs(&env, &held), 0, "the key is held by a pending run");
        assert_eq!(in_held(&env, &held), 1);
        env.ok(&["cancel", &pending]);
        work(&env);
        assert_eq!(in_held(&env, &held), 0);
        assert_eq!(env.status(&held), "pending");
        env.handler("job", "echo $DURABLY_RUN_ID >> $T/log; echo ok");
        work(&env);
        assert_eq!(log_lines(&env), vec![held.clone()]);
    }

    /// `cancel` of a held run moves it into durably_runs as cancelled; `rm` needs --force (a
    /// held run is not terminal) and then deletes it; both by handle.
    fn cancel_and_rm_of_held_runs() {
        let env = Env::init();
        let a = env.enqueue_job("job", &["--in", "1h"]);
        let b = env.enqueue_job("job", &["--in", "1h"]);
        let out = env.ok(&["cancel", &a[a.len() - 8..]]);
        assert_eq!(out.stdout.trim(), a);
        assert_eq!(env.status(&a), "cancelled");
        assert_eq!(in_held(&env, &a), 0);
        env.run(&["rm", &b]).fails(4, "only terminal runs are deleted");
        assert_eq!(in_held(&env, &b), 1);
        env.ok(&["rm", "--force", &b]);
        assert_eq!(in_held(&env, &b), 0);
        assert_eq!(in_runs(&env, &b), 0);
        env.run(&["show", &b]).fails(3, "not found");
    }

    /// Bad holds: one line, exit 2 (exit 3 for a run waited on that does not exist), nothing
    /// written.
    fn bad_holds_are_refused() {
        let env = Env::init();
        let a = env.enqueue_job("job", &[]);
        for (args, code, needle) in [
            (vec!["--at", "tomorrow"], 2, "invalid time"),
            (vec!["--at", "2026-13-01T00:00:00Z"], 2, "invalid time"),
            (vec!["--in", "soon"], 2, "invalid duration"),
            (vec!["--in", "5s", "--at", "2000-01-01T00:00:00Z"], 2, "cannot be used with"),
            (vec!["--in", "5s", "--after", a.as_str()], 2, "cannot be used with"),
            (vec!["--after-any"], 2, "after-any needs"),
            (vec!["--after", "0000dead"], 3, "no run or held run"),
            (vec!["--in", "5s", "--concurrency-key", "k", "--coalesce"], 2, "coalesce"),
        ] {
            let mut all = vec!["enqueue", "--job", "job"];
            all.extend(args.iter().copied());
            let out = env.run(&all);
            out.fails(code, needle);
        }
        let spec = env.file("bad.ndjson", "{\"job\":\"job\",\"in\":\"later\"}\n");
        // enqueue-many reports a bad line as it does any other (exit 1, nothing enqueued).
        env.run(&["enqueue-many", spec.to_str().unwrap()]).fails(1, "invalid duration");
        assert_eq!(env.count("SELECT count(*) FROM durably_runs"), 1);
        assert_eq!(held_count(&env), 0);
    }

    /// Three workers release 500 due runs (enqueue-many, "at" in the past) at once: each run
    /// is moved and executed exactly once.
    fn three_workers_release_500_due_runs_once() {
        const RUNS: usize = 500;
        let env = Env::init();
        env.handler("job", "echo $DURABLY_RUN_ID >> $T/log; echo ok");
        let specs: String = (0..RUNS)
            .map(|i| format!("{{\"job\":\"job\",\"input\":{i},\"at\":\"2000-01-01T00:00:00Z\"}}\n"))
            .collect();
        let file = env.file("specs.ndjson", specs);
        env.ok(&["enqueue-many", "-q", file.to_str().unwrap()]);
        assert_eq!(held_count(&env), RUNS as i64);
        let handlers = env.handlers.to_str().unwrap().to_string();
        let workers: Vec<_> = (0..3)
            .map(|_| env.spawn(&["work", "--until-idle", "--concurrency", "4", "--handlers", &handlers]))
            .collect();
        for w in workers {
            let out = finish(w);
            assert_eq!(out.code, 0, "{out:?}");
        }
        work(&env);
        let mut seen: HashMap<String, usize> = HashMap::new();
        for id in log_lines(&env) {
            *seen.entry(id).or_default() += 1;
        }
        assert_eq!(seen.len(), RUNS, "every run executed");
        assert!(seen.values().all(|&n| n == 1), "a run executed twice");
        assert_eq!(held_count(&env), 0);
        assert_eq!(
            env.count("SELECT count(*) FROM durably_runs WHERE status = 'completed' AND lease_generation = 1"),
            RUNS as i64
        );
    }

    /// `kill -9` of a worker in the middle of releasing 20,000 due runs loses and doubles
    /// nothing: every run is either still held or in durably_runs, never both, and a second
    /// worker releases the rest.
    fn kill_9_during_a_release_loses_and_doubles_nothing() {
        const RUNS: usize = 20_000;
        let env = Env::init();
        let specs: String = (0..RUNS)
            .map(|i| format!("{{\"job\":\"job\",\"input\":{i},\"at\":\"2000-01-01T00:00:00Z\"}}\n"))
            .collect();
        let file = env.file("specs.ndjson", specs);
        env.ok(&["enqueue-many", "-q", file.to_str().unwrap()]);
        // No handler for `job`: the worker only releases.
        env.handler("other", "echo ok");
        let handlers = env.handlers.to_str().unwrap().to_string();
        let mut worker = env.spawn(&["work", "--handlers", &handlers, "--poll", "100ms"]);
        wait_for("a first batch released", || {
            (env.count("SELECT count(*) FROM durably_runs") > 0).then_some(())
        });
        signal(&worker, libc::SIGKILL);
        let _ = worker.wait();
        let held = held_count(&env);
        let runs = env.count("SELECT count(*) FROM durably_runs");
        assert_eq!(held + runs, RUNS as i64, "held {held} + released {runs}");
        let both = env.count(
            "SELECT count(*) FROM durably_runs r JOIN durably_cli_held_runs h ON h.id = r.id",
        );
        assert_eq!(both, 0);
        work(&env);
        assert_eq!(held_count(&env), 0);
        assert_eq!(
            env.count("SELECT count(*) FROM durably_runs WHERE status = 'pending'"),
            RUNS as i64
        );
    }
}

/// The plans the release relies on (SQLite): the poll's read seeks the due index (never a
/// scan of the held runs), the due batch reads it in order, and the scan of ended runs is a
/// range of the library's `(status, completed_at)` index per status.
#[test]
fn the_release_reads_are_index_seeks() {
    let env = Env::init();
    let conn = env.conn();
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999) \
         INSERT INTO durably_cli_held_runs (id, job_name, input, due_at, created_at) \
         SELECT printf('%08d-0000-7000-8000-000000000000', i), 'job', '{}', \
           '2999-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM n; ANALYZE",
    )
    .unwrap();
    let plan = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows: Vec<String> = stmt
            .query_map(params, |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        rows.join("\n")
    };
    let now = "2026-12-03T00:00:00.000Z";
    let peek = plan(include_str!("../../sql/held_peek.sql"), &[&now]);
    assert!(peek.contains("idx_durably_cli_held_runs_due"), "{peek}");
    assert!(!peek.contains("SCAN durably_cli_held_runs"), "{peek}");
    let due = plan(
        include_str!("../../sql/held_due.sql"),
        &[&now, &1000, &"2999-01-01T00:00:00.000Z", &"00000001"],
    );
    assert!(due.contains("idx_durably_cli_held_runs_due"), "{due}");
    assert!(!due.contains("TEMP B-TREE"), "no sort: {due}");
    let recent = plan(include_str!("../../sql/held_recent.sql"), &[&now, &500]);
    assert!(
        recent.contains("idx_durably_runs_status_completed"),
        "{recent}"
    );
    assert!(!recent.contains("SCAN r"), "{recent}");
}
