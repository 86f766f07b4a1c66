//! Load: 8 enqueuing processes at once (single `enqueue` and `enqueue-many` mixed, idempotency
//! keys that collide on purpose, across processes and inside batches) and 4 `work` processes on
//! one file. Afterwards: no SQLITE_BUSY / "database is locked" anywhere, every created run
//! completed exactly once, duplicates created nothing, labels agree with runs.
//!
//! Default: 8 × 25 enqueue operations (some hundreds of runs). `DURABLY_STRESS=heavy`:
//! 8 × 250 operations (about ten thousand runs).

use crate::harness::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;
use std::time::{Duration, Instant};

const ENQUEUERS: usize = 8;
const WORKERS: usize = 4;

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

/// Runs 8 enqueuing processes at once, `ops` operations each, and checks every answer.
fn run_enqueuers(env: &Env, seed_name: &str, ops: usize) -> Ledger {
    let mut rng = Rng::new(seed_name);
    let key_pool = (ops as u64 * ENQUEUERS as u64 / 2).max(4);
    let plans: Vec<Vec<(Vec<Line>, bool)>> = (0..ENQUEUERS)
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
    let conn = env.conn();
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
    let in_db: BTreeSet<String> = conn
        .prepare("SELECT id FROM durably_runs")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        in_db, created,
        "the runs in the file are not the runs created"
    );
    // Labels: 2 rows a run, every row belongs to a run, the JSON column agrees with the rows.
    assert_eq!(
        count(&conn, "SELECT count(*) FROM durably_run_labels"),
        2 * created.len() as i64
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM durably_run_labels WHERE run_id NOT IN (SELECT id FROM durably_runs)"),
        0
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM durably_runs r WHERE json_extract(r.labels, '$.tenant') IS NOT \
             (SELECT value FROM durably_run_labels l WHERE l.run_id = r.id AND l.key = 'tenant') \
             OR json_extract(r.labels, '$.src') IS NOT \
             (SELECT value FROM durably_run_labels l WHERE l.run_id = r.id AND l.key = 'src')"
        ),
        0
    );
    // Duplicate keys in the unique index would be a corrupt file.
    assert_eq!(
        count(&conn, "SELECT count(*) FROM (SELECT job_name, idempotency_key FROM durably_runs WHERE idempotency_key IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1)"),
        0
    );
    assert_integrity(&env.db);
}

#[test]
fn eight_enqueuers_with_colliding_idempotency_keys() {
    let env = Env::init();
    let ops = scale(25, 250) as usize;
    let started = Instant::now();
    let ledger = run_enqueuers(&env, "eight_enqueuers_with_colliding_idempotency_keys", ops);
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
    load_with_workers("WAL", scale(25, 250) as usize);
}

/// The same on a rollback-journal file (the library's default), where readers and the writer
/// exclude each other and every reader waits through the busy timeout too.
#[test]
fn eight_enqueuers_and_four_workers_on_a_rollback_journal_file() {
    load_with_workers("DELETE", scale(10, 100) as usize);
}

fn load_with_workers(journal: &str, ops: usize) {
    let env = Env::init();
    env.conn()
        .pragma_update(None, "journal_mode", journal)
        .unwrap();
    let handlers = env.handlers.clone();
    script(&handlers.join("load"), LOAD_HANDLER);
    script(&handlers.join("load2"), LOAD_HANDLER);
    let log = env.path("executions.log");
    std::fs::write(&log, "").unwrap();

    let started = Instant::now();
    let mut workers: Vec<Bg> = (0..WORKERS)
        .map(|i| worker(&env, &handlers, &log, &format!("worker{i}")))
        .collect();
    let ledger = run_enqueuers(
        &env,
        &format!("eight_enqueuers_and_four_workers ({journal})"),
        ops,
    );
    let created: BTreeSet<String> = ledger
        .answers
        .iter()
        .filter(|a| a.disposition == "created")
        .map(|a| a.id.clone())
        .collect();

    // Let the workers drain the queue (a bound, not a timing assertion).
    let drained = wait_until(Duration::from_secs(scale(300, 1800)), || {
        count(
            &env.conn(),
            "SELECT count(*) FROM durably_runs WHERE status IN ('pending', 'leased')",
        ) == 0
    });
    for w in &workers {
        w.signal(libc::SIGTERM);
    }
    for w in &mut workers {
        w.wait_max(Duration::from_secs(60));
        assert_no_busy_or_panic(&w.name, &w.err());
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
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "runs executed more than once: {twice:?}");
    let executed: BTreeSet<String> = seen.keys().map(|s| s.to_string()).collect();
    let lost: Vec<_> = created.difference(&executed).collect();
    assert!(lost.is_empty(), "runs never executed: {lost:?}");
    let stray: Vec<_> = executed.difference(&created).collect();
    assert!(stray.is_empty(), "executions of unknown runs: {stray:?}");
    let conn = env.conn();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM durably_runs WHERE status = 'completed'"
        ),
        created.len() as i64
    );
    // One claim each: the generation is 1 everywhere.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM durably_runs WHERE lease_generation <> 1"
        ),
        0
    );
    check_ledger(&env, &ledger);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert!(
        mode.eq_ignore_ascii_case(journal),
        "journal mode became {mode}"
    );
    eprintln!(
        "load ({journal}): {} enqueue processes + {WORKERS} workers, {} runs created, {} \
         executed once, duplicates 0, lost 0, in {elapsed:.1?}",
        ledger.processes,
        created.len(),
        executed.len()
    );
}
