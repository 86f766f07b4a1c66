//! The failure policy of CLI workers (issue 17, point 2): retries with backoff — a failure of
//! a run enqueued with `--retries` holds its successor in `durably_cli_held_runs`, in the
//! transaction that records the failure — and crash loops — a run claimed more than
//! `--max-lease-expiries` times without a result is failed with a clear error instead of being
//! executed again. Every test runs on both backends; the successors are released into
//! `durably_runs` by the worker's release of held runs (worker/held.rs).

use crate::harness::*;
use std::time::Duration;

/// A handler that counts its executions in `count` and kills its own worker (kill -9).
fn crashing_handler(env: &Env) -> String {
    let count = env.path("count");
    env.handler(
        "crash",
        &format!("echo x >> '{}'\nkill -9 $PPID\nsleep 5", count.display()),
    );
    env.handlers.to_str().unwrap().to_string()
}

fn executions(env: &Env) -> usize {
    std::fs::read_to_string(env.path("count"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

both! {
    fn a_crash_loop_is_failed_after_n_expired_leases_and_never_run_again() {
        let env = Env::init();
        let h = crashing_handler(&env);
        let id = env.enqueue_job("crash", &[]);
        let mut last = None;
        for _ in 0..8 {
            let out = env.run(&[
                "work", "--once", "--lease", "1s", "--max-lease-expiries", "2", "--handlers", &h,
            ]);
            if env.status(&id) == "failed" {
                last = Some(out);
                break;
            }
            // The worker was killed: wait for its lease to run out.
            std::thread::sleep(Duration::from_millis(1100));
        }
        let out = last.expect("the run was never failed");
        assert_eq!(out.code, 5, "{out:?}");
        assert_eq!(executions(&env), 2, "the handler ran more than N times");
        let error = env.field(&id, "error").unwrap();
        assert!(
            error.starts_with("lease expired 2 times without a result: the worker crashed or was killed each time (crash loop"),
            "{error}"
        );
        assert_eq!(env.field(&id, "lease_generation").as_deref(), Some("3"));
        // Failed for good: nothing claims it again.
        let out = env.run(&["work", "--once", "--handlers", &h]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(executions(&env), 2);
    }
}

both! {
    fn max_lease_expiries_0_reclaims_forever_like_the_library() {
        let env = Env::init();
        let h = crashing_handler(&env);
        let id = env.enqueue_job("crash", &[]);
        for _ in 0..3 {
            env.run(&[
                "work", "--once", "--lease", "1s", "--max-lease-expiries", "0", "--handlers", &h,
            ]);
            std::thread::sleep(Duration::from_millis(1100));
        }
        assert_eq!(executions(&env), 3);
        assert_ne!(env.status(&id), "failed");
    }
}

/// The held rows as (id, job, input, labels, idempotency key, concurrency key, due_at,
/// created_at).
fn held(env: &Env) -> Vec<Vec<Option<String>>> {
    env.sql_rows(
        "SELECT id, job_name, input, labels, idempotency_key, concurrency_key, due_at, created_at \
         FROM durably_cli_held_runs ORDER BY created_at, id",
    )
}

fn ms(text: &Option<String>) -> i64 {
    durably::time::parse_ms(text.as_deref().unwrap()).unwrap()
}

both! {
    fn a_failure_holds_its_successor_for_the_backoff_in_the_same_transaction() {
        let env = Env::init();
        env.handler("flaky", "echo broken >&2; exit 3");
        let id = env.enqueue_job(
            "flaky",
            &[
                "--retries", "2", "--backoff", "2s", "--backoff-max", "10s",
                "--input", r#"{"n": 1}"#, "--label", "tenant=acme",
                "--concurrency-key", "k", "--idempotency-key", "once",
            ],
        );
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--until-idle", "-v", "--handlers", &h]);
        assert_eq!(out.code, 5, "{out:?}");
        assert!(out.stderr.contains("will be retried: attempt 2 of 3"), "{out:?}");
        // The failed run stays failed, as the library has it.
        assert_eq!(env.status(&id), "failed");
        let rows = held(&env);
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        let next = row[0].clone().unwrap();
        assert_ne!(next, id);
        assert_eq!(row[1].as_deref(), Some("flaky"));
        assert_eq!(row[2].as_deref(), Some(r#"{"n": 1}"#));
        assert_eq!(row[3].as_deref(), Some(r#"{"tenant":"acme"}"#));
        assert_eq!(row[4], None, "the idempotency key stays with the failed run");
        assert_eq!(row[5].as_deref(), Some("k"));
        // Due 2 s ± 10 % after the failure, by the same clock.
        let failed_at = env.field(&id, "completed_at");
        let delay = ms(&row[6]) - ms(&failed_at);
        assert!((1800..=2200).contains(&delay), "delay {delay} ms");
        assert_eq!(row[7], failed_at);
        // The chain's links.
        let links = env.sql_rows(
            "SELECT run_id, first_run_id, previous_run_id, CAST(attempt AS TEXT), CAST(max_attempts AS TEXT) \
             FROM durably_cli_attempts ORDER BY attempt",
        );
        assert_eq!(
            links,
            vec![
                vec![Some(id.clone()), Some(id.clone()), None, Some("1".into()), Some("3".into())],
                vec![Some(next.clone()), Some(id.clone()), Some(id.clone()), Some("2".into()), Some("3".into())],
            ]
        );
        // Not in durably_runs: no worker, the library's included, can claim it before release.
        assert_eq!(env.count(&format!("SELECT COUNT(*) FROM durably_runs WHERE id = '{next}'")), 0);
        // `show` links the attempts; JSON names the previous and next run.
        let shown = env.ok(&["show", "--json", &id]).json();
        assert_eq!(shown["attempt"], 1);
        assert_eq!(shown["maxAttempts"], 3);
        assert_eq!(shown["previousRunId"], serde_json::Value::Null);
        assert_eq!(shown["nextRunId"], next.as_str());
        assert_eq!(shown["attempts"][1]["runId"], next.as_str());
        assert_eq!(shown["attempts"][1]["status"], "held");
        let text = env.ok(&["show", &id]).stdout;
        assert!(text.contains("attempts (at most 3)"), "{text}");
        assert!(text.contains(&format!("  2  {next}  held")), "{text}");
        // `ls --latest` leaves out a run a retry followed; plain `ls` lists it.
        let other = env.enqueue_job("other", &[]);
        // The held successor is the chain's latest attempt: listed first, as `ls` lists held runs.
        let latest = env.ok(&["ls", "--latest", "--format", "ids"]).stdout;
        assert_eq!(latest.lines().collect::<Vec<_>>(), [next.as_str(), other.as_str()]);
        let all = env.ok(&["ls", "--format", "ids"]).stdout;
        assert_eq!(all.lines().collect::<Vec<_>>(), [next.as_str(), other.as_str(), id.as_str()]);
        // A run without retries shows no chain.
        let plain = env.ok(&["show", "--json", &other]).json();
        assert!(plain.get("attempt").is_none(), "{plain}");
    }
}

both! {
    fn an_exit_code_not_in_retry_on_holds_nothing() {
        let env = Env::init();
        env.handler("flaky", "exit 3");
        let id = env.enqueue_job("flaky", &["--retries", "3", "--retry-on", "75,111"]);
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--until-idle", "--handlers", &h]);
        assert_eq!(out.code, 5, "{out:?}");
        assert_eq!(env.status(&id), "failed");
        assert!(held(&env).is_empty());
        // Listed: held.
        env.handler("listed", "exit 75");
        let id = env.enqueue_job("listed", &["--retries", "3", "--retry-on", "75,111"]);
        env.run(&["work", "--until-idle", "--handlers", &h]);
        assert_eq!(env.status(&id), "failed");
        assert_eq!(held(&env).len(), 1);
        // A run without a policy is never retried.
        env.handler("plain", "exit 75");
        env.enqueue_job("plain", &[]);
        env.run(&["work", "--until-idle", "--handlers", &h]);
        assert_eq!(held(&env).len(), 1);
    }
}

both! {
    fn a_failure_whose_transaction_fails_writes_nothing() {
        let env = Env::init();
        // A fault in the middle of the failure's transaction: the successor's insert is refused.
        match env.backend {
            Backend::Sqlite => env.exec_batch(
                "CREATE TRIGGER refuse_held BEFORE INSERT ON durably_cli_held_runs \
                 BEGIN SELECT RAISE(ABORT, 'no room left'); END;",
            ),
            Backend::Postgres => env.exec_batch(
                "CREATE FUNCTION refuse_held() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'no room left'; END $$; \
                 CREATE TRIGGER refuse_held BEFORE INSERT ON durably_cli_held_runs \
                 FOR EACH ROW EXECUTE FUNCTION refuse_held();",
            ),
        }
        env.handler("flaky", "exit 3");
        let id = env.enqueue_job("flaky", &["--retries", "1"]);
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--once", "--handlers", &h]);
        assert!(out.stderr.contains("no room left"), "{out:?}");
        // Neither half: the run is not failed, no successor, no attempt row.
        assert_ne!(env.status(&id), "failed");
        assert_eq!(env.field(&id, "error"), None);
        assert!(held(&env).is_empty());
        assert_eq!(env.count("SELECT COUNT(*) FROM durably_cli_attempts"), 1);
    }
}

both! {
    fn retry_flags_and_spec_fields_are_checked() {
        let env = Env::init();
        for args in [
            vec!["--retry-on", "3"],
            vec!["--retries", "2", "--retry-on", "0"],
            vec!["--retries", "2", "--backoff", "10s", "--backoff-max", "1s"],
            vec!["--retries", "100000"],
        ] {
            let mut all = vec!["enqueue", "--job", "x"];
            all.extend(args.iter().copied());
            let out = env.run(&all);
            assert_eq!(out.code, 2, "{args:?}: {out:?}");
        }
        let spec = env.file("spec.json", r#"{"job": "x", "retries": 2, "backoff": "1s", "retryOn": [4]}"#);
        let id = env.ok(&["enqueue", spec.to_str().unwrap()]).stdout.trim().to_string();
        let row = env.sql_rows(&format!(
            "SELECT CAST(max_attempts AS TEXT), CAST(backoff_ms AS TEXT), retry_on FROM durably_cli_attempts WHERE run_id = '{id}'"
        ));
        assert_eq!(row, vec![vec![Some("3".into()), Some("1000".into()), Some("[4]".into())]]);
        let bad = env.file("bad.json", r#"{"job": "x", "backoff": "1s"}"#);
        let out = env.run(&["enqueue", bad.to_str().unwrap()]);
        assert_ne!(out.code, 0, "{out:?}");
        let out = env.run_stdin(
            &["enqueue-many", "-"],
            "{\"job\": \"x\"}\n{\"job\": \"x\", \"retries\": 1, \"retryOn\": [0]}\n",
        );
        assert_ne!(out.code, 0, "{out:?}");
        assert!(out.stderr.contains("line 2"), "{out:?}");
        assert_eq!(env.count("SELECT COUNT(*) FROM durably_runs"), 1);
        assert_eq!(env.count("SELECT COUNT(*) FROM durably_cli_attempts"), 1);
    }
}

/// The attempt rows as (run id, first run id, previous run id, attempt, max attempts,
/// backoff ms, retry_on), in chain order.
fn attempts(env: &Env) -> Vec<Vec<Option<String>>> {
    env.sql_rows(
        "SELECT run_id, first_run_id, previous_run_id, CAST(attempt AS TEXT), \
         CAST(max_attempts AS TEXT), CAST(backoff_ms AS TEXT), retry_on \
         FROM durably_cli_attempts ORDER BY first_run_id, attempt",
    )
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

both! {
    fn enqueue_many_with_retries_chains_like_enqueue() {
        let env = Env::init();
        env.handler("flaky", "exit 3");
        // Keyed (one by one on PostgreSQL), keyless (a bulk path without a policy), held, and
        // one without a policy between them.
        let input = concat!(
            r#"{"job": "flaky", "retries": 2, "backoff": "2s", "backoffMax": "10s", "concurrencyKey": "k"}"#, "\n",
            r#"{"job": "flaky", "retries": 1, "backoff": "1h", "retryOn": [3, 75]}"#, "\n",
            r#"{"job": "flaky"}"#, "\n",
            r#"{"job": "flaky", "retries": 4, "in": "1h"}"#, "\n",
        );
        let out = env.run_stdin(&["enqueue-many", "--json", "-"], input);
        assert_eq!(out.code, 0, "{out:?}");
        let ids: Vec<String> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), 4, "{out:?}");
        let (a, b, plain, later) = (&ids[0], &ids[1], &ids[2], &ids[3]);
        // Each run with a policy has its attempt row 1, as `enqueue` writes it.
        let mut want = vec![
            vec![s(a), s(a), None, s("1"), s("3"), s("2000"), None],
            vec![s(b), s(b), None, s("1"), s("2"), s("3600000"), s("[3,75]")],
            vec![s(later), s(later), None, s("1"), s("5"), s("10000"), None],
        ];
        want.sort();
        assert_eq!(attempts(&env), want);
        // A worker's failures chain them: a successor held for each, none for the plain run.
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--until-idle", "-v", "--handlers", &h]);
        assert_eq!(out.code, 5, "{out:?}");
        assert!(out.stderr.contains("will be retried: attempt 2 of 3"), "{out:?}");
        assert!(out.stderr.contains("will be retried: attempt 2 of 2"), "{out:?}");
        for id in [a, b, plain] {
            assert_eq!(&env.status(id), "failed");
        }
        let rows = held(&env);
        assert_eq!(rows.len(), 3, "the held run and two successors: {rows:?}");
        let chained = env.sql_rows(
            "SELECT previous_run_id, CAST(attempt AS TEXT) FROM durably_cli_attempts \
             WHERE previous_run_id IS NOT NULL ORDER BY previous_run_id",
        );
        let mut want = vec![vec![s(a), s("2")], vec![s(b), s("2")]];
        want.sort();
        assert_eq!(chained, want);
        // Due after the spec's backoff, by the failure's clock.
        let next_a = env.sql_rows(&format!(
            "SELECT h.due_at FROM durably_cli_held_runs h JOIN durably_cli_attempts t ON t.run_id = h.id \
             WHERE t.previous_run_id = '{a}'"
        ));
        let delay = ms(&next_a[0][0]) - ms(&env.field(a, "completed_at"));
        assert!((1800..=2200).contains(&delay), "delay {delay} ms");
    }
}

both! {
    fn an_enqueue_many_batch_that_fails_leaves_no_attempt_rows() {
        let env = Env::init();
        env.enqueue_job("x", &["--concurrency-key", "taken"]);
        // The second line meets a pending run with its concurrency key in the database: the
        // whole batch rolls back, the first line's attempt row with it.
        let input = concat!(
            r#"{"job": "x", "retries": 2}"#, "\n",
            r#"{"job": "x", "retries": 2, "concurrencyKey": "taken"}"#, "\n",
        );
        let out = env.run_stdin(&["enqueue-many", "-"], input);
        assert_eq!(out.code, 4, "{out:?}");
        assert!(out.stderr.contains("line 2"), "{out:?}");
        assert_eq!(env.count("SELECT COUNT(*) FROM durably_runs"), 1);
        assert!(attempts(&env).is_empty(), "{:?}", attempts(&env));
    }
}

both! {
    fn a_worker_default_retries_runs_without_a_policy_of_their_own() {
        let env = Env::init();
        env.handler("flaky", "exit 3");
        let plain = env.enqueue_job("flaky", &[]);
        let none = env.enqueue_job("flaky", &["--retries", "0"]);
        let own = env.enqueue_job("flaky", &["--retries", "1", "--backoff", "1h"]);
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&[
            "work", "--until-idle", "-v", "--retries", "2", "--backoff", "2s", "--backoff-max",
            "10s", "--retry-on", "3,75", "--handlers", &h,
        ]);
        assert_eq!(out.code, 5, "{out:?}");
        assert!(out.stderr.contains("will be retried: attempt 2 of 3"), "{out:?}");
        for id in [&plain, &none, &own] {
            assert_eq!(&env.status(id), "failed");
        }
        let successor = |id: &str| {
            env.sql_rows(&format!(
                "SELECT run_id FROM durably_cli_attempts WHERE previous_run_id = '{id}'"
            ))
            .first()
            .and_then(|r| r[0].clone())
        };
        // The run without a policy took the worker's: attempt row 1 and its successor's
        // attempt row 2, as if it had been enqueued with `--retries 2 --backoff 2s …`.
        let next = successor(&plain).expect("the run without a policy was not retried");
        let rows = env.sql_rows(&format!(
            "SELECT run_id, first_run_id, previous_run_id, CAST(attempt AS TEXT), \
             CAST(max_attempts AS TEXT), CAST(backoff_ms AS TEXT), CAST(backoff_max_ms AS TEXT), retry_on \
             FROM durably_cli_attempts WHERE first_run_id = '{plain}' ORDER BY attempt"
        ));
        assert_eq!(
            rows,
            vec![
                vec![s(&plain), s(&plain), None, s("1"), s("3"), s("2000"), s("10000"), s("[3,75]")],
                vec![s(&next), s(&plain), s(&plain), s("2"), s("3"), s("2000"), s("10000"), s("[3,75]")],
            ]
        );
        let due = env.sql_rows(&format!("SELECT due_at FROM durably_cli_held_runs WHERE id = '{next}'"));
        let delay = ms(&due[0][0]) - ms(&env.field(&plain, "completed_at"));
        assert!((1800..=2200).contains(&delay), "delay {delay} ms");
        // A run's own policy wins: `--retries 0` is never retried, `--retries 1 --backoff 1h`
        // keeps its own numbers.
        assert_eq!(successor(&none), None);
        assert_eq!(env.count(&format!("SELECT COUNT(*) FROM durably_cli_attempts WHERE first_run_id = '{none}'")), 1);
        let next_own = successor(&own).expect("the run with its own policy was not retried");
        let own_rows = env.sql_rows(&format!(
            "SELECT CAST(max_attempts AS TEXT), CAST(backoff_ms AS TEXT), retry_on FROM durably_cli_attempts WHERE run_id = '{next_own}'"
        ));
        assert_eq!(own_rows, vec![vec![s("2"), s("3600000"), None]]);
        assert_eq!(held(&env).len(), 2);
        // The default's --retry-on is the default's too: exit 4 is not in it.
        env.handler("other", "exit 4");
        let other = env.enqueue_job("other", &[]);
        env.run(&["work", "--until-idle", "--retries", "2", "--retry-on", "3,75", "--handlers", &h]);
        assert_eq!(env.status(&other), "failed");
        assert_eq!(successor(&other), None);
        assert_eq!(env.count(&format!("SELECT COUNT(*) FROM durably_cli_attempts WHERE run_id = '{other}'")), 0);
    }
}

both! {
    fn work_retries_0_retries_nothing() {
        let env = Env::init();
        env.handler("flaky", "exit 3");
        let id = env.enqueue_job("flaky", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--until-idle", "--retries", "0", "--handlers", &h]);
        assert_eq!(out.code, 5, "{out:?}");
        assert_eq!(env.status(&id), "failed");
        assert!(held(&env).is_empty());
        assert!(attempts(&env).is_empty());
        // Without the flag: the same.
        let id = env.enqueue_job("flaky", &[]);
        env.run(&["work", "--until-idle", "--handlers", &h]);
        assert_eq!(env.status(&id), "failed");
        assert!(held(&env).is_empty());
        assert!(attempts(&env).is_empty());
    }
}

both! {
    fn bad_work_retry_flags_are_usage_errors_that_change_nothing() {
        let env = Env::init();
        env.handler("flaky", "exit 3");
        let id = env.enqueue_job("flaky", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        for args in [
            vec!["--retry-on", "3"],
            vec!["--backoff", "1s"],
            vec!["--retries", "2", "--retry-on", "0"],
            vec!["--retries", "2", "--retry-on", "3,x"],
            vec!["--retries", "2", "--backoff", "10s", "--backoff-max", "1s"],
            vec!["--retries", "0", "--backoff", "10s", "--backoff-max", "1s"],
            vec!["--retries", "100000"],
            vec!["--retries", "-1"],
            vec!["--retries", "2", "--backoff", "soon"],
        ] {
            let mut all = vec!["work", "--once", "--handlers", &h];
            all.extend(args.iter().copied());
            let out = env.run(&all);
            assert_eq!(out.code, 2, "{args:?}: {out:?}");
            // Nothing was claimed, failed or held.
            assert_eq!(env.status(&id), "pending", "{args:?}");
            assert_eq!(env.field(&id, "lease_generation").as_deref(), Some("0"), "{args:?}");
            assert!(attempts(&env).is_empty(), "{args:?}");
            assert!(held(&env).is_empty(), "{args:?}");
        }
    }
}

/// A handler failing twice, then succeeding, with --retries 3: three runs in the chain, the
/// last completed, each successor released by the same worker when its backoff passed.
fn flaky_chain() {
    let env = Env::init();
    let count = env.path("count");
    env.handler(
        "flaky",
        &format!(
            "n=$(cat '{c}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{c}'; [ $n -ge 3 ] && exit 0; exit 3",
            c = count.display()
        ),
    );
    let first = env.enqueue_job("flaky", &["--retries", "3", "--backoff", "1s"]);
    let h = env.handlers.to_str().unwrap().to_string();
    let worker = env.spawn(&["work", "--poll", "100ms", "--handlers", &h]);
    wait_for("the third attempt to complete", || {
        (env.count("SELECT COUNT(*) FROM durably_runs WHERE status = 'completed'") == 1)
            .then_some(())
    });
    signal(&worker, libc::SIGTERM);
    finish(worker);
    let chain = env.sql_rows(
        "SELECT a.run_id, r.status FROM durably_cli_attempts a JOIN durably_runs r ON r.id = a.run_id ORDER BY a.attempt",
    );
    let statuses: Vec<_> = chain.iter().map(|r| r[1].clone().unwrap()).collect();
    assert_eq!(statuses, ["failed", "failed", "completed"]);
    assert_eq!(chain[0][0].as_deref(), Some(first.as_str()));
    assert!(held(&env).is_empty());
}

#[test]
fn a_flaky_handler_completes_on_its_third_attempt_sqlite() {
    Backend::Sqlite.run(flaky_chain)
}

#[test]
#[ignore = "needs PostgreSQL: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn a_flaky_handler_completes_on_its_third_attempt_pg() {
    Backend::Postgres.run(flaky_chain)
}

both! {
    fn deleting_an_attempt_takes_its_rows_of_ours_with_it() {
        // rm of a held successor, rm of a run and a purge each take the run's attempt row (and
        // give-back count) in the same transaction: the attempt before a deleted successor is
        // its chain's latest again, and no row of ours outlives its run.
        let env = Env::init();
        env.handler("flaky", "exit 3");
        env.handler("keep", "echo 1");
        let first = env.enqueue_job("flaky", &["--retries", "2", "--backoff", "1h"]);
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--until-idle", "--handlers", &h]);
        assert_eq!(out.code, 5, "{out:?}");
        let next = held(&env)[0][0].clone().unwrap();
        // A give-back count of the failed run, as a worker's own trouble leaves one.
        env.exec(&format!(
            "INSERT INTO durably_cli_given_back (run_id, times) VALUES ('{first}', 1)"
        ));
        let latest = || env.ok(&["ls", "--latest", "--format", "ids"]).stdout;
        assert_eq!(latest().trim(), next);
        env.ok(&["rm", "--force", &next]);
        assert_eq!(latest().trim(), first, "the failed run is its chain's latest again");
        let rows = attempts(&env);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0][0].as_deref(), Some(first.as_str()));
        // rm of the failed run itself.
        env.ok(&["rm", &first]);
        assert!(attempts(&env).is_empty());
        assert_eq!(env.count("SELECT COUNT(*) FROM durably_cli_given_back"), 0);
        // A purge takes the rows of every run it deletes, and nothing else.
        let a = env.enqueue_job("flaky", &["--retries", "2", "--backoff", "1h"]);
        let b = env.enqueue_job("keep", &["--retries", "1"]);
        let out = env.run(&["work", "--until-idle", "--handlers", &h]);
        assert_eq!(out.code, 5, "{out:?}");
        assert_eq!(env.status(&a), "failed");
        assert_eq!(env.status(&b), "completed");
        env.ok(&["rm", "--status", "failed", "--older-than", "0s"]);
        let left: Vec<_> = attempts(&env).into_iter().map(|r| r[0].clone().unwrap()).collect();
        assert!(!left.contains(&a), "{left:?}");
        assert!(left.contains(&b), "{left:?}");
    }
}
