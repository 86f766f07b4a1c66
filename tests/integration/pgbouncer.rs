//! PostgreSQL through PgBouncer in transaction mode (README: PgBouncer): every command, and a
//! fleet of workers whose handlers call `durably step`, `progress` and `log`, through a
//! private pgbouncer whose few server connections (`harness::bouncer::POOL`) all of them
//! share, so that consecutive transactions of one client land on different server connections and one server
//! connection serves many clients. What breaks there: a statement prepared under a name in
//! one transaction and bound in another ("prepared statement does not exist"), a name left on
//! a server for its next client ("already exists"), session state. Ignored unless
//! `--include-ignored`; then a missing `DURABLY_TEST_PG` or pgbouncer fails the test.

use crate::harness::*;
use std::collections::BTreeSet;

/// Clients of [`commands_work_through_pgbouncer_in_transaction_mode`] at once.
const CLIENTS: usize = 6;
/// Runs the fleet drains.
const RUNS: usize = 200;
/// Worker processes of the fleet, and each one's handlers at once.
const WORKERS: usize = 4;
const CONCURRENCY: &str = "4";

/// One client's commands, all through the bouncer; `t` tells the clients' runs apart.
fn session(env: &Env, t: usize) {
    let label = format!("t={t}");
    let input = format!("{{\"t\":{t}}}");
    let id = env.enqueue_job("a", &["--input", &input, "--label", &label]);
    // An idempotency key answers with the same run, a concurrency key with a conflict.
    let key = format!("k{t}");
    let first = env.enqueue_job("a", &["--idempotency-key", &key, "--label", &label]);
    let again = env.enqueue_job("a", &["--idempotency-key", &key, "--label", &label]);
    assert_eq!(first, again);
    let ck = format!("c{t}");
    env.enqueue_job("c", &["--concurrency-key", &ck, "--label", &label]);
    let refused = env.run(&["enqueue", "--job", "c", "--concurrency-key", &ck]);
    assert_ne!(refused.code, 0, "a held concurrency key: {refused:?}");
    let coalesced = env.enqueue_job("c", &["--concurrency-key", &ck, "--coalesce"]);
    assert_ne!(coalesced, id);
    // enqueue-many: keyless runs (one multi-row insert) and keyed ones (prepared once for the
    // batch), all in one transaction.
    let lines: String = (0..20)
        .map(|i| match i % 2 {
            0 => {
                format!("{{\"job\":\"m\",\"input\":{{\"i\":{i}}},\"labels\":{{\"t\":\"{t}\"}}}}\n")
            }
            _ => format!(
                "{{\"job\":\"m\",\"idempotencyKey\":\"m{t}-{i}\",\"labels\":{{\"t\":\"{t}\"}}}}\n"
            ),
        })
        .collect();
    let many = env.run_stdin(&["enqueue-many", "-"], &lines);
    many.ok();
    assert_eq!(many.stdout.matches("\tcreated").count(), 20, "{many:?}");
    let ids = ids(&env.ok(&["ls", "--label", &label, "--all", "--format", "ids"]));
    assert_eq!(ids.len(), 23, "{ids:?}");
    assert!(ids.contains(&id) && ids.contains(&first), "{ids:?}");
    // Reads: a run by a handle, its logs, the counts.
    let shown = env.ok(&["show", &id, "--json"]).json();
    assert_eq!(shown["input"], serde_json::json!({ "t": t }));
    assert_eq!(shown["status"], "pending");
    let short = &id[id.len() - 8..];
    assert_eq!(env.ok(&["show", short, "--json"]).json()["id"], id.as_str());
    env.ok(&["logs", &id]);
    // Writes: cancel, retrigger the cancelled run, remove both.
    env.ok(&["cancel", &id]);
    assert_eq!(
        env.ok(&["show", &id, "--json"]).json()["status"],
        "cancelled"
    );
    let new = env.ok(&["retrigger", &id]).line().to_string();
    assert_eq!(
        env.ok(&["show", &new, "--json"]).json()["status"],
        "pending"
    );
    env.ok(&["rm", &id]);
    env.ok(&["rm", "--force", &new]);
    env.run(&["show", &id]).code(3);
    // The keyed run is cancelled, for the purge.
    env.ok(&["cancel", &coalesced]);
}

#[test]
#[ignore = "needs PostgreSQL and pgbouncer: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn commands_work_through_pgbouncer_in_transaction_mode() {
    let bouncer = Bouncer::start();
    let env = Env::through(&bouncer);
    // The schema is created through the bouncer too.
    env.ok(&["init"]);
    std::thread::scope(|s| {
        for t in 0..CLIENTS {
            let env = &env;
            s.spawn(move || session(env, t));
        }
    });
    let all = ids(&env.ok(&["ls", "--all", "--format", "ids"]));
    // Per client: the idempotent run, the keyed run (the coalesced enqueue is it) and the
    // batch's 20; the first run and its retrigger are gone.
    assert_eq!(all.len(), CLIENTS * 22, "{all:?}");
    // A purge of the cancelled runs, in batches.
    env.ok(&["rm", "--older-than", "0s"]);
    let left = env.count("SELECT count(*) FROM durably_runs WHERE status = 'pending'");
    assert_eq!(left, (CLIENTS * 21) as i64);
    assert_eq!(env.count("SELECT count(*) FROM durably_runs"), left);
    let log = bouncer.log();
    assert!(!log.contains("ERROR"), "pgbouncer logged errors:\n{log}");
}

/// The handler of the fleet: a step, progress, a log line, then its output; every execution
/// leaves its run's id in `executions.log`.
const HANDLER: &str = r#"set -e
echo "$DURABLY_RUN_ID" >> "$T/executions.log"
durably progress 1 --total 2
durably log "hello from $DURABLY_RUN_ID"
v=$(durably step double -- sh -c 'echo "{\"twice\": 2}"')
durably progress 2 --total 2
printf '{"run": "%s", "step": %s}\n' "$DURABLY_RUN_ID" "$v"
"#;

#[test]
#[ignore = "needs PostgreSQL and pgbouncer: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn a_fleet_of_workers_through_pgbouncer_runs_each_run_once() {
    let bouncer = Bouncer::start();
    let env = Env::through(&bouncer);
    env.ok(&["init"]);
    let lines: String = (0..RUNS)
        .map(|i| format!("{{\"job\":\"j\",\"input\":{{\"i\":{i}}}}}\n"))
        .collect();
    env.run_stdin(&["enqueue-many", "--quiet", "-"], &lines)
        .ok();
    std::fs::write(env.path("executions.log"), "").unwrap();
    let handler = env.handler("j", HANDLER);
    let handler = handler.to_str().unwrap();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            env.spawn(&[
                "work",
                "--until-idle",
                "--concurrency",
                CONCURRENCY,
                "--poll",
                "50ms",
                "--",
                handler,
            ])
        })
        .collect();
    let outs: Vec<Out> = workers.into_iter().map(finish).collect();
    for out in &outs {
        assert_eq!(out.code, 0, "a worker failed: {out:?}");
        assert!(
            !out.stderr.contains("error") && !out.stderr.contains("cannot"),
            "a worker met trouble: {out:?}"
        );
    }
    // Every run completed, each executed once.
    let executed = std::fs::read_to_string(env.path("executions.log")).unwrap();
    let executions: Vec<&str> = executed.lines().collect();
    let distinct: BTreeSet<&str> = executions.iter().copied().collect();
    assert_eq!(executions.len(), RUNS, "executions: {executed}");
    assert_eq!(distinct.len(), RUNS);
    let completed: BTreeSet<String> = env
        .sql_column("SELECT id FROM durably_runs WHERE status = 'completed'")
        .into_iter()
        .collect();
    assert_eq!(completed.len(), RUNS);
    assert!(distinct.iter().all(|id| completed.contains(*id)));
    // Their results: the output names the run and holds the step's output; the step, the log
    // line and the last progress are stored.
    for row in env.sql_rows("SELECT id, output, progress FROM durably_runs") {
        let (id, output, progress) = (row[0].clone().unwrap(), row[1].clone(), row[2].clone());
        let output: serde_json::Value = serde_json::from_str(&output.unwrap()).unwrap();
        assert_eq!(output["run"], id.as_str());
        assert_eq!(output["step"], serde_json::json!({ "twice": 2 }));
        let progress: serde_json::Value = serde_json::from_str(&progress.unwrap()).unwrap();
        assert_eq!(progress["current"], 2, "{id}: {progress}");
    }
    let steps = "SELECT count(DISTINCT run_id) FROM durably_steps \
                 WHERE name = 'double' AND status = 'completed'";
    assert_eq!(env.count(steps), RUNS as i64);
    let logs = "SELECT count(DISTINCT run_id) FROM durably_logs WHERE message LIKE 'hello from %'";
    assert_eq!(env.count(logs), RUNS as i64);
    let log = bouncer.log();
    assert!(!log.contains("ERROR"), "pgbouncer logged errors:\n{log}");
}

/// The schema check (the session's setup, the catalog and the version row in one simple
/// query) through the bouncer, and its long way when that query fails: a reader of a database
/// without the schema is refused and creates nothing, a writer creates it; a missing column is
/// refused, also one of the version table (whose query then fails: the catalog says what is
/// missing); nothing is written by a refused command.
#[test]
#[ignore = "needs PostgreSQL and pgbouncer: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn the_schema_check_through_pgbouncer_refuses_what_it_must() {
    let bouncer = Bouncer::start();
    let env = Env::through(&bouncer);
    env.run(&["ls"]).fails(1, "has no durably schema");
    assert!(
        env.tables().is_empty(),
        "a reader created {:?}",
        env.tables()
    );
    let id = env.enqueue_job("a", &[]);
    assert_eq!(env.ok(&["show", &id, "--json"]).json()["status"], "pending");
    env.exec("ALTER TABLE durably_runs DROP COLUMN progress");
    env.run(&["enqueue", "--job", "a"])
        .fails(1, "lacks column durably_runs.progress");
    env.exec("ALTER TABLE durably_runs ADD COLUMN progress text");
    env.ok(&["ls"]);
    env.exec("ALTER TABLE durably_schema_versions DROP COLUMN version");
    for args in [&["ls"][..], &["enqueue", "--job", "a"], &["init"]] {
        env.run(args)
            .fails(1, "lacks column durably_schema_versions.version");
    }
    assert_eq!(env.count("SELECT count(*) FROM durably_runs"), 1);
}

/// `--busy-timeout` bounds a write's lock wait through the bouncer too: the bound is set in
/// the write's own transaction (`SET LOCAL`), not only for the session at connect, which
/// lands on another server connection than the write (round robin) and stays there for its
/// later clients (here a 60 s bound left by earlier commands).
#[test]
#[ignore = "needs PostgreSQL and pgbouncer: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn busy_timeout_bounds_a_write_through_pgbouncer() {
    let bouncer = Bouncer::start();
    let env = Env::through(&bouncer);
    env.ok(&["init"]);
    let id = env.enqueue_job("j", &[]);
    let direct = env.pg.as_ref().unwrap();
    let direct = with_dbname(&pg_server(), &direct.name);
    let mut holder = pg_connect(&direct);
    // The whole pool open: the cancels below meet several server connections.
    bouncer.open_pool(&env.pg.as_ref().unwrap().name);
    let pool = "SELECT count(*) FROM pg_stat_activity \
                WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let open: i64 = holder.query_one(pool, &[]).unwrap().get(0);
    assert!(
        open >= i64::from(crate::harness::bouncer::POOL),
        "{open} server connections"
    );
    // Every server connection of the pool gets a session lock_timeout of 60 s.
    for _ in 0..2 * crate::harness::bouncer::POOL {
        env.ok(&["--busy-timeout", "60s", "ls"]);
    }
    let mut tx = holder.transaction().unwrap();
    tx.execute(
        "SELECT 1 FROM durably_runs WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .unwrap();
    for _ in 0..crate::harness::bouncer::POOL {
        let started = std::time::Instant::now();
        env.run(&["--busy-timeout", "300ms", "cancel", &id])
            .fails(1, "lock timeout");
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
    tx.rollback().unwrap();
    assert_eq!(env.status(&id), "pending");
}
