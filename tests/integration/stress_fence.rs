//! Fencing: a worker whose lease ran out (simulated with a tiny lease and SIGSTOP of the
//! worker, its supervisor and its handler's process group) cannot complete, fail, log, report
//! progress or add a step once another worker has reclaimed the run; whatever it tries after
//! SIGCONT leaves no trace.
//! In-handler commands with a stale lease generation are refused the same way.

use crate::harness::*;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Worker A's handler parks until `go` exists, then tries everything a handler can write;
/// worker B's handler does the same writes at once and completes the run.
const FENCE_HANDLER: &str = r#"#!/bin/bash
d="$STRESS_DIR"
if [ "$WHO" = A ]; then
  echo $$ > "$d/a.pid"
  while [ ! -e "$d/go" ]; do sleep 0.02; done
  durably step shared -- echo '"A"' > /dev/null; echo "step-shared $?" >> "$d/a.codes"
  durably step only-a -- echo '"A"'; echo "step-only-a $?" >> "$d/a.codes"
  durably progress 5 --total 10 --message A; echo "progress $?" >> "$d/a.codes"
  durably log --level error "from A"; echo "log $?" >> "$d/a.codes"
  touch "$d/a.done"
  echo '{"by":"A"}'
  exit "$A_EXIT"
else
  durably step shared -- echo '"B"' > /dev/null || exit 10
  durably progress 7 --total 10 --message B || exit 11
  durably log "from B" || exit 12
  echo '{"by":"B"}'
fi
"#;

fn worker(env: &Env, handlers: &Path, who: &str, lease: &str, a_exit: i32) -> Bg {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c: Command = env.command(&[
        "work",
        "--once",
        "--poll",
        "50ms",
        "--lease",
        lease,
        "--handlers",
        handlers.to_str().unwrap(),
    ]);
    c.env("STRESS_DIR", env.dir.path())
        .env("WHO", who)
        .env("A_EXIT", a_exit.to_string())
        .env("PATH", path);
    Bg::spawn(c, env.dir.path(), &format!("worker-{who}"))
}

fn run_json(env: &Env, id: &str) -> Value {
    env.run(&["show", id, "--json"]).ok().json()
}

fn lease_expired(env: &Env, id: &str) -> bool {
    env.conn()
        .query_row(
            "SELECT lease_expires_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM durably_runs WHERE id = ?1",
            [id],
            |r| r.get::<_, Option<bool>>(0),
        )
        .unwrap()
        .unwrap_or(false)
}

/// The whole scenario; `a_exit` is what the stale handler exits with (0: it tries to
/// complete, non-zero: it tries to fail the run).
fn stale_worker_leaves_no_trace(a_exit: i32) {
    let env = Env::init();
    let handlers = env.handlers.clone();
    script(&handlers.join("fence"), FENCE_HANDLER);
    let id = env.enqueue(&["--job", "fence"]);

    // A claims (generation 1) and its handler parks.
    let mut a = worker(&env, &handlers, "A", "1s", a_exit);
    let pid_file = env.path("a.pid");
    assert!(
        wait_until(Duration::from_secs(30), || pid_file.exists()),
        "worker A never started its handler: {}",
        a.err()
    );
    let handler_pid: i32 = wait_for_pid(&pid_file);
    let group = pgid_of(handler_pid).expect("handler process group");
    assert_ne!(
        group,
        a.pid(),
        "the handler must run in its own process group"
    );
    // A's supervisor would kill the handler at the lease deadline: stopped too, so that the
    // stale handler lives on to try its writes against the fence.
    let supervisor = supervisor_of(a.pid(), handler_pid);
    unsafe {
        libc::kill(a.pid(), libc::SIGSTOP);
        libc::kill(supervisor, libc::SIGSTOP);
        libc::kill(-group, libc::SIGSTOP);
    }
    assert_eq!(run_json(&env, &id)["leaseGeneration"], 1);

    // The lease runs out while A sleeps; B reclaims (generation 2) and completes.
    assert!(wait_until(Duration::from_secs(30), || lease_expired(
        &env, &id
    )));
    let mut b = worker(&env, &handlers, "B", "30s", 0);
    let status = b.wait_max(Duration::from_secs(60));
    assert!(status.success(), "worker B: {status:?} {}", b.err());
    let after_b = run_json(&env, &id);
    assert_eq!(after_b["status"], "completed", "{after_b}");
    assert_eq!(after_b["leaseGeneration"], 2);
    assert_eq!(after_b["output"], serde_json::json!({"by": "B"}));

    // A's handler wakes first and tries every write, then A's worker wakes and tries to
    // record the handler's result.
    std::fs::write(env.path("go"), "").unwrap();
    unsafe {
        libc::kill(-group, libc::SIGCONT);
    }
    let handler_done = wait_until(Duration::from_secs(30), || env.path("a.done").exists());
    unsafe {
        libc::kill(supervisor, libc::SIGCONT);
        libc::kill(a.pid(), libc::SIGCONT);
    }
    a.wait_max(Duration::from_secs(60));
    assert!(handler_done, "A's handler did not finish its attempts");
    assert_no_busy_or_panic("worker A", &a.err());
    assert_no_busy_or_panic("worker B", &b.err());

    let codes = read_lossy(&env.path("a.codes"));
    for line in codes.lines() {
        let (what, code) = line.split_once(' ').unwrap();
        if what == "step-shared" {
            // A completed step is memoized: its stored output is printed, nothing written.
            assert_eq!(code, "0", "{codes}");
        } else {
            assert_ne!(code, "0", "stale `durably {what}` succeeded: {codes}");
        }
    }
    assert_eq!(codes.lines().count(), 4, "{codes}");

    // Only B's writes are in the file.
    let run = run_json(&env, &id);
    assert_eq!(run["status"], "completed");
    assert_eq!(run["output"], serde_json::json!({"by": "B"}));
    assert_eq!(run["error"], Value::Null);
    assert_eq!(run["leaseGeneration"], 2);
    assert_eq!(run["completedAt"], after_b["completedAt"]);
    assert_eq!(run["updatedAt"], after_b["updatedAt"]);
    assert_eq!(run["progress"], after_b["progress"]);
    assert_eq!(run["progress"]["message"], "B");
    assert_eq!(run["completedStepCount"], 1);
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0]["name"], "shared");
    assert_eq!(steps[0]["output"], "B");
    let logs = run["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["message"], "from B");
    assert_eq!(run, after_b, "the stale worker changed the run");
    assert_integrity(&env.db);
}

/// The supervisor of `worker`: its child that is not the handler's leader.
fn supervisor_of(worker: i32, handler: i32) -> i32 {
    let mut children = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{worker}/task"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        children.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    children.retain(|&p| p != handler);
    assert_eq!(children.len(), 1, "the supervisor among {children:?}");
    children[0]
}

fn wait_for_pid(file: &Path) -> i32 {
    let mut pid = 0;
    assert!(wait_until(Duration::from_secs(10), || {
        pid = std::fs::read_to_string(file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        pid > 0
    }));
    pid
}

#[test]
fn a_stale_worker_cannot_complete_a_reclaimed_run() {
    stale_worker_leaves_no_trace(0);
}

#[test]
fn a_stale_worker_cannot_fail_a_reclaimed_run() {
    stale_worker_leaves_no_trace(3);
}

#[test]
fn in_handler_commands_with_a_stale_generation_write_nothing() {
    let env = Env::init();
    let handlers = env.handlers.clone();
    // Parks while holding the lease (generation 1), then completes.
    script(
        &handlers.join("hold"),
        "#!/bin/bash\ntouch \"$STRESS_DIR/held\"\nwhile [ ! -e \"$STRESS_DIR/go\" ]; do sleep 0.02; done\necho '\"done\"'\n",
    );
    let id = env.enqueue(&["--job", "hold"]);
    let mut w = worker(&env, &handlers, "H", "30s", 0);
    assert!(
        wait_until(Duration::from_secs(30), || env.path("held").exists()),
        "{}",
        w.err()
    );
    let before = env.counts();
    let db = env.db.canonicalize().unwrap();
    let as_handler = |generation: &str, args: &[&str]| {
        let mut c = bare_command(env.dir.path());
        c.env("DURABLY_DB", &db)
            .env("DURABLY_RUN_ID", &id)
            .env("DURABLY_LEASE_GENERATION", generation)
            .args(args);
        run_command(c, None)
    };
    for generation in ["0", "2", "-1", "99999999999999999999", "x", ""] {
        for args in [
            vec!["step", "s", "--", "echo", "1"],
            vec!["progress", "1", "--total", "2"],
            vec!["log", "stale"],
        ] {
            let out = as_handler(generation, &args);
            assert_ne!(out.code, 0, "generation {generation:?} {args:?}: {out:#?}");
            assert_no_busy_or_panic("stale command", &out.stderr);
            assert_eq!(out.stderr.lines().count(), 1, "{out:#?}");
        }
    }
    // Unknown run, missing variables.
    let mut c = bare_command(env.dir.path());
    c.env("DURABLY_DB", &db)
        .env("DURABLY_RUN_ID", "0193aaaa-0000-7000-8000-000000000000")
        .env("DURABLY_LEASE_GENERATION", "1")
        .args(["log", "x"]);
    assert_ne!(run_command(c, None).code, 0);
    let mut c = bare_command(env.dir.path());
    c.args(["log", "x"]);
    let out = run_command(c, None);
    assert_ne!(out.code, 0);
    assert_one_error_line(&out.stderr, "DURABLY_");
    assert_eq!(env.counts(), before, "a stale command wrote something");
    // The right generation works (the control: the refusals above were about the fence).
    as_handler("1", &["log", "fresh"]).ok();
    std::fs::write(env.path("go"), "").unwrap();
    assert!(w.wait_max(Duration::from_secs(60)).success(), "{}", w.err());
    let run = run_json(&env, &id);
    assert_eq!(run["status"], "completed");
    assert_eq!(run["logs"].as_array().unwrap().len(), 1);
    assert_eq!(run["steps"].as_array().unwrap().len(), 0);
    assert_eq!(run["progress"], Value::Null);
}
