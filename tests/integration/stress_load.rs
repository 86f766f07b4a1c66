//! Load: 8 enqueuing processes at once (single `enqueue` and `enqueue-many` mixed, idempotency
//! keys that collide on purpose, across processes and inside batches) and 4 `work` processes on
//! one file. Afterwards: no SQLITE_BUSY / "database is locked" anywhere, every created run
//! completed exactly once, duplicates created nothing, labels agree with runs.
//!
//! Default: 8 × 25 enqueue operations (some hundreds of runs). `DURABLY_STRESS=heavy`:
//! 8 × 250 operations (about ten thousand runs).
//!
//! On PostgreSQL: the enqueuers alone run on both backends; 8 workers over TCP with 4
//! enqueuers; and the same with the server restarted while every worker holds leases (on a
//! server of its own, `DURABLY_TEST_PG_RESTART_URL`, restarted by `DURABLY_TEST_PG_RESTART`), after which every run still completes and no lease generation of a run
//! executes twice. The journal-mode cases stay SQLite only.

use crate::harness::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;
use std::time::{Duration, Instant};

/// What one enqueued line asked for and what it got back.
#[derive(Debug, Clone)]
struct Answer {
    job: String,
    key: Option<String>,
    id: String,
    disposition: String,
}

/// Everything the enqueuers did.
#[derive(Default)]
struct Ledger {
    answers: Vec<Answer>,
    processes: usize,
    lines: usize,
}

/// One line to enqueue: job, idempotency key, labels as JSON.
type Line = (String, Option<String>, String);

/// One enqueue operation: a single `enqueue`, or an `enqueue-many` batch.
fn plan_op(rng: &mut Rng, process: usize, key_pool: u64) -> Vec<Line> {
    let lines = if rng.chance(50) {
        1
    } else {
        1 + rng.below(scale(15, 40)) as usize
    };
    (0..lines)
        .map(|_| {
            let job = if rng.chance(80) { "load" } else { "load2" }.to_string();
            // Keys collide across processes and inside batches; 30% of the runs have none.
            let key = (!rng.chance(30)).then(|| format!("k{}", rng.below(key_pool)));
            let tenant = format!("t{}", rng.below(10));
            let labels = format!("{{\"tenant\":\"{tenant}\",\"src\":\"e{process}\"}}");
            (job, key, labels)
        })
        .collect()
}

fn run_op(env: &Env, op: &[Line], single: bool) -> (Out, Vec<Answer>) {
    if single {
        let (job, key, labels) = &op[0];
        let labels: BTreeMap<String, String> = serde_json::from_str(labels).unwrap();
        let mut args: Vec<String> = vec![
            "enqueue".into(),
            "--json".into(),
            "--job".into(),
            job.clone(),
        ];
        for (k, v) in labels {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        if let Some(k) = key {
            args.push("--idempotency-key".into());
            args.push(k.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.run(&args);
        let mut answers = Vec::new();
        if out.code == 0 {
            let v = out.json();
            answers.push(Answer {
                job: job.clone(),
                key: key.clone(),
                id: v["id"].as_str().unwrap().to_string(),
                disposition: v["disposition"].as_str().unwrap().to_string(),
            });
        }
        (out, answers)
    } else {
        let mut input = String::new();
        for (job, key, labels) in op {
            let mut spec = serde_json::json!({"job": job, "labels": serde_json::from_str::<Value>(labels).unwrap()});
            if let Some(k) = key {
                spec["idempotencyKey"] = k.clone().into();
            }
            input.push_str(&spec.to_string());
            input.push('\n');
        }
        let out = env.run_stdin(&["enqueue-many", "--json"], &input);
        let mut answers = Vec::new();
        if out.code == 0 {
            for (line, (job, key, _)) in out.stdout.lines().zip(op) {
                let v: Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["jobName"], job.as_str());
                answers.push(Answer {
                    job: job.clone(),
                    key: key.clone(),
                    id: v["id"].as_str().unwrap().to_string(),
                    disposition: v["disposition"].as_str().unwrap().to_string(),
                });
            }
            assert_eq!(answers.len(), op.len(), "{}", out.stdout);
        }
        (out, answers)
    }
}

/// Runs `enqueuers` enqueuing processes at once, `ops` operations each, and checks every answer.
fn run_enqueuers(env: &Env, seed_name: &str, enqueuers: usize, ops: usize) -> Ledger {
    let mut rng = Rng::new(seed_name);
    let key_pool = (ops as u64 * enqueuers as u64 / 2).max(4);
    let plans: Vec<Vec<(Vec<Line>, bool)>> = (0..enqueuers)
        .map(|p| {
            (0..ops)
                .map(|_| {
                    let op = plan_op(&mut rng, p, key_pool);
                    let single = op.len() == 1 && rng.chance(70);
                    (op, single)
                })
                .collect()
        })
        .collect();
    let results: Vec<(usize, Vec<Answer>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = plans
            .iter()
            .map(|plan| {
                s.spawn(move || {
                    let mut answers = Vec::new();
                    let mut processes = 0;
                    let mut lines = 0;
                    for (op, single) in plan {
                        let (out, got) = run_op(env, op, *single);
                        processes += 1;
                        lines += op.len();
                        assert_no_busy_or_panic("enqueue", &out.stderr);
                        assert_eq!(out.code, 0, "enqueue failed: {out:#?}");
                        answers.extend(got);
                    }
                    (processes, answers, lines)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ledger = Ledger::default();
    for (p, a, l) in results {
        ledger.processes += p;
        ledger.answers.extend(a);
        ledger.lines += l;
    }
    check_ledger(env, &ledger);
    ledger
}

/// Idempotency and label invariants of the database against what the enqueuers were told.
fn check_ledger(env: &Env, ledger: &Ledger) {
    let mut by_key: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    let mut created = BTreeSet::new();
    for a in &ledger.answers {
        if let Some(k) = &a.key {
            by_key
                .entry((a.job.clone(), k.clone()))
                .or_default()
                .insert(a.id.clone());
        }
        match a.disposition.as_str() {
            "created" => assert!(created.insert(a.id.clone()), "{} created twice", a.id),
            "idempotent" => assert!(a.key.is_some(), "idempotent without a key: {a:?}"),
            other => panic!("unexpected disposition {other}: {a:?}"),
        }
    }
    for (key, ids) in &by_key {
        assert_eq!(
            ids.len(),
            1,
            "idempotency key {key:?} answered with several runs: {ids:?}"
        );
    }
    let keyless = ledger.answers.iter().filter(|a| a.key.is_none()).count();
    assert_eq!(
        created.len(),
        by_key.len() + keyless,
        "duplicates created runs"
    );
    let in_db: BTreeSet<String> = env
        .sql_column("SELECT id FROM durably_runs")
        .into_iter()
        .collect();
    assert_eq!(
        in_db, created,
        "the runs in the file are not the runs created"
    );
    // Labels: 2 rows a run, every row belongs to a run, the JSON column agrees with the rows.
    assert_eq!(
        env.count("SELECT count(*) FROM durably_run_labels"),
        2 * created.len() as i64
    );
    assert_eq!(
        env.count("SELECT count(*) FROM durably_run_labels WHERE run_id NOT IN (SELECT id FROM durably_runs)"),
        0
    );
    let (label, differs) = match env.backend {
        Backend::Sqlite => ("json_extract(r.labels, '$.{}')", "IS NOT"),
        Backend::Postgres => ("(r.labels::json ->> '{}')", "IS DISTINCT FROM"),
    };
    let disagree = |key: &str| {
        format!(
            "{} {differs} (SELECT value FROM durably_run_labels l WHERE l.run_id = r.id AND l.key = '{key}')",
            label.replace("{}", key)
        )
    };
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM durably_runs r WHERE {} OR {}",
            disagree("tenant"),
            disagree("src")
        )),
        0
    );
    // Duplicate keys in the unique index would be a corrupt file.
    assert_eq!(
        env.count("SELECT count(*) FROM (SELECT job_name, idempotency_key FROM durably_runs WHERE idempotency_key IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) dup"),
        0
    );
    if env.backend == Backend::Sqlite {
        assert_integrity(&env.db);
    }
}

both! {
fn eight_enqueuers_with_colliding_idempotency_keys() {
    let env = Env::init();
    let ops = scale(25, 250) as usize;
    let started = Instant::now();
    let ledger = run_enqueuers(&env, "eight_enqueuers_with_colliding_idempotency_keys", 8, ops);
    eprintln!(
        "enqueuers: {} processes, {} lines, {} runs created, {} idempotent answers in {:.1?}",
        ledger.processes,
        ledger.lines,
        ledger
            .answers
            .iter()
            .filter(|a| a.disposition == "created")
            .count(),
        ledger
            .answers
            .iter()
            .filter(|a| a.disposition == "idempotent")
            .count(),
        started.elapsed()
    );
    assert!(
        ledger.answers.iter().any(|a| a.disposition == "idempotent"),
        "no key collided"
    );
}
}

/// The handler of the load test: appends "run-id generation" to $STRESS_LOG.
const LOAD_HANDLER: &str =
    "echo \"$DURABLY_RUN_ID $DURABLY_LEASE_GENERATION\" >> \"$STRESS_LOG\"\n";

fn worker(env: &Env, handlers: &std::path::Path, log: &std::path::Path, name: &str) -> Bg {
    let mut c: Command = env.command(&[
        "work",
        "--concurrency",
        "2",
        "--poll",
        "50ms",
        "--handlers",
        handlers.to_str().unwrap(),
    ]);
    c.env("STRESS_LOG", log);
    Bg::spawn(c, env.dir.path(), name)
}

#[test]
fn eight_enqueuers_and_four_workers_complete_every_run_exactly_once() {
    let env = Env::on(Backend::Sqlite);
    load_with_workers(&env, &Load::sqlite("WAL", scale(25, 250) as usize));
}

/// The same on a rollback-journal file (the library's default), where readers and the writer
/// exclude each other and every reader waits through the busy timeout too.
#[test]
fn eight_enqueuers_and_four_workers_on_a_rollback_journal_file() {
    let env = Env::on(Backend::Sqlite);
    load_with_workers(&env, &Load::sqlite("DELETE", scale(10, 100) as usize));
}

/// Workers on many hosts, as far as one machine shows it: 8 workers, each its own connection
/// over TCP, and 4 enqueuers at once.
#[test]
#[ignore = "needs PostgreSQL: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn eight_workers_over_tcp_and_four_enqueuers_on_postgres() {
    let env = Env::on(Backend::Postgres);
    load_with_workers(&env, &Load::postgres(scale(25, 250) as usize));
}

/// The server restarts (`pg_ctl restart -m fast`: every session terminated) while all 8 workers
/// hold leases of runs whose handlers are blocked; the workers reconnect, record those results
/// and drain the rest.
#[test]
#[ignore = "needs a PostgreSQL server of its own: DURABLY_TEST_PG_RESTART_URL and DURABLY_TEST_PG_RESTART (.ci/run sets both)"]
fn eight_workers_survive_a_server_restart_mid_drain() {
    let (server, restart) = pg_restartable();
    let env = Env::on_pg_server(server);
    load_with_workers(
        &env,
        &Load::postgres(scale(10, 100) as usize).restart(restart),
    );
}

/// The shape of one load run.
struct Load {
    /// The SQLite journal mode to set first (SQLite only).
    journal: Option<&'static str>,
    workers: usize,
    enqueuers: usize,
    ops: usize,
    /// A shell command restarting the server while the first claimed handlers are held.
    restart: Option<String>,
}

impl Load {
    fn sqlite(journal: &'static str, ops: usize) -> Load {
        Load {
            journal: Some(journal),
            workers: 4,
            enqueuers: 8,
            ops,
            restart: None,
        }
    }

    fn postgres(ops: usize) -> Load {
        Load {
            journal: None,
            workers: 8,
            enqueuers: 4,
            ops,
            restart: None,
        }
    }

    fn restart(self, command: String) -> Load {
        Load {
            restart: Some(command),
            ..self
        }
    }

    fn name(&self) -> String {
        format!(
            "{} enqueuers and {} workers ({})",
            self.enqueuers,
            self.workers,
            self.journal.unwrap_or("PostgreSQL")
        )
    }
}

/// The handler of the restart variant: like [`LOAD_HANDLER`], but it waits for the `$T/go`
/// file, so that every worker holds leases when the server restarts.
const GATED_HANDLER: &str = "touch \"$T/started.$DURABLY_RUN_ID\"\n\
    while [ ! -f \"$T/go\" ]; do sleep 0.05; done\n\
    echo \"$DURABLY_RUN_ID $DURABLY_LEASE_GENERATION\" >> \"$STRESS_LOG\"\n";

/// Handlers that have started (files `started.<run id>` in the temp dir).
fn started_handlers(env: &Env) -> usize {
    std::fs::read_dir(env.dir.path())
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("started."))
                .count()
        })
        .unwrap_or(0)
}

fn load_with_workers(env: &Env, load: &Load) {
    env.run(&["init"]).ok();
    if let Some(journal) = load.journal {
        env.conn()
            .pragma_update(None, "journal_mode", journal)
            .unwrap();
    }
    let handlers = env.handlers.clone();
    let handler = if load.restart.is_some() {
        GATED_HANDLER
    } else {
        LOAD_HANDLER
    };
    script(&handlers.join("load"), handler);
    script(&handlers.join("load2"), handler);
    let log = env.path("executions.log");
    std::fs::write(&log, "").unwrap();

    let started = Instant::now();
    let mut workers: Vec<Bg> = (0..load.workers)
        .map(|i| worker(env, &handlers, &log, &format!("worker{i}")))
        .collect();
    let ledger = run_enqueuers(env, &load.name(), load.enqueuers, load.ops);
    if let Some(restart) = &load.restart {
        // Every worker's 2 slots hold a blocked handler (or the queue is smaller than that).
        let slots = (2 * load.workers).min(
            ledger
                .answers
                .iter()
                .filter(|a| a.disposition == "created")
                .count(),
        );
        wait_for("every worker slot to hold a handler", || {
            (started_handlers(env) >= slots).then_some(())
        });
        let out = run_command(
            {
                let mut c = Command::new("sh");
                c.args(["-c", restart]);
                c
            },
            None,
        );
        assert_eq!(out.code, 0, "restarting the server: {out:?}");
        std::fs::write(env.path("go"), "").unwrap();
    }
    let created: BTreeSet<String> = ledger
        .answers
        .iter()
        .filter(|a| a.disposition == "created")
        .map(|a| a.id.clone())
        .collect();

    // Let the workers drain the queue (a bound, not a timing assertion).
    // Stops early when every worker has ended: a worker that dies (say, on a lost connection)
    // fails the test at once instead of at the bound.
    let pending =
        || env.count("SELECT count(*) FROM durably_runs WHERE status IN ('pending', 'leased')");
    wait_until(Duration::from_secs(scale(300, 1800)), || {
        pending() == 0 || workers.iter_mut().all(Bg::ended)
    });
    let drained = pending() == 0;
    for w in &workers {
        w.signal(libc::SIGTERM);
    }
    for w in &mut workers {
        w.wait_max(Duration::from_secs(60));
        assert_no_busy_or_panic(&w.name, &w.err());
    }
    if load.restart.is_some() {
        // The restart ended every session, and every worker held leases: each one noticed,
        // reconnected and carried on.
        let said: Vec<String> = workers.iter().map(Bg::err).collect();
        assert!(
            said.iter().all(|e| e.contains("reconnected")),
            "a worker did not reconnect after the restart:\n{}",
            said.join("\n")
        );
    }
    assert!(drained, "the workers did not finish the queue");
    let elapsed = started.elapsed();

    // Every created run ran exactly once and completed.
    let text = read_lossy(&log);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for line in text.lines() {
        let id = line.split_whitespace().next().unwrap_or_default();
        *seen.entry(id).or_default() += 1;
    }
    // A run executes once per lease generation at most; without a restart, exactly once.
    let mut claims: BTreeMap<&str, usize> = BTreeMap::new();
    for line in text.lines() {
        *claims.entry(line).or_default() += 1;
    }
    let same_lease: Vec<_> = claims.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        same_lease.is_empty(),
        "a run executed twice under one lease: {same_lease:?}"
    );
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    if load.restart.is_none() {
        assert!(twice.is_empty(), "runs executed more than once: {twice:?}");
    }
    let executed: BTreeSet<String> = seen.keys().map(|s| s.to_string()).collect();
    let lost: Vec<_> = created.difference(&executed).collect();
    assert!(lost.is_empty(), "runs never executed: {lost:?}");
    let stray: Vec<_> = executed.difference(&created).collect();
    assert!(stray.is_empty(), "executions of unknown runs: {stray:?}");
    assert_eq!(
        env.count("SELECT count(*) FROM durably_runs WHERE status = 'completed'"),
        created.len() as i64
    );
    // One claim each: the generation is 1 everywhere (a restart may cost a lease).
    if load.restart.is_none() {
        assert_eq!(
            env.count("SELECT count(*) FROM durably_runs WHERE lease_generation <> 1"),
            0
        );
    }
    check_ledger(env, &ledger);
    if let Some(journal) = load.journal {
        let mode: String = env
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert!(
            mode.eq_ignore_ascii_case(journal),
            "journal mode became {mode}"
        );
    }
    eprintln!(
        "load ({}): {} enqueue processes + {} workers, {} runs created, {} executed, \
         {} more than once, lost 0, in {elapsed:.1?}",
        load.name(),
        ledger.processes,
        load.workers,
        created.len(),
        executed.len(),
        twice.len()
    );
}
