//! Lock discipline of the enqueue commands: no transaction is open while a process waits for
//! its input. A producer that stalls (a pipe held open, `tail -f`) must never keep the write
//! lock, so other writers with a short busy timeout go through beside it; a spec over the size
//! cap is refused with bounded memory. Each stall test runs on a WAL file and on a
//! rollback-journal file (where a held lock also blocks readers).
//!
//! A producer is "stalled" once the kernel reports it blocked in `read` on its stdin
//! (`/proc/PID/syscall`); the writers' wall time beside it is printed (`--nocapture`), never
//! asserted.

use crate::harness::*;

use std::io::Write;
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// An initialised database in the given journal mode.
fn env_with_journal(journal: &str) -> Env {
    let env = Env::init();
    let mode: String = env
        .conn()
        .query_row(&format!("PRAGMA journal_mode = {journal}"), [], |r| {
            r.get(0)
        })
        .expect("set journal mode");
    assert!(mode.eq_ignore_ascii_case(journal), "journal mode is {mode}");
    env
}

/// Spawns `durably --db DB ARGS...` with a stdin pipe the test holds and writes to late.
fn producer(env: &Env, args: &[&str], name: &str) -> (Bg, ChildStdin) {
    let stdout = env.path(&format!("{name}.out"));
    let stderr = env.path(&format!("{name}.err"));
    let mut cmd = env.command(args);
    cmd.stdin(Stdio::piped())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"));
    let mut child = cmd.spawn().expect("spawn durably");
    let stdin = child.stdin.take().expect("stdin pipe");
    let bg = Bg {
        child,
        name: name.to_string(),
        stdout,
        stderr,
    };
    (bg, stdin)
}

/// Whether the process is blocked in `read(0, …)`: waiting for its input.
fn reading_stdin(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .is_ok_and(|s| s.starts_with(&format!("{} 0x0 ", libc::SYS_read)))
}

#[track_caller]
fn wait_for_stall(bg: &mut Bg) {
    let pid = bg.pid();
    assert!(
        wait_until(Duration::from_secs(20), || reading_stdin(pid)),
        "{} never blocked reading its stdin; stderr: {}",
        bg.name,
        bg.err()
    );
}

/// Other writers beside the stalled producer: single enqueues with a 1 s busy timeout, which
/// must all succeed. Returns the longest wall time one of them took.
fn writers_get_through(env: &Env, what: &str, n: usize) -> Duration {
    let mut max = Duration::ZERO;
    for i in 0..n {
        let job = format!("beside-{i}");
        let started = Instant::now();
        let out = env.run(&["--busy-timeout", "1s", "enqueue", "--job", &job]);
        max = max.max(started.elapsed());
        assert_eq!(
            out.code, 0,
            "{what}: a writer failed beside a stalled producer: {out:?}"
        );
    }
    eprintln!("{what}: max writer wait beside a stalled producer: {max:?} ({n} writers)");
    max
}

fn created_at(env: &Env, job: &str) -> String {
    env.conn()
        .query_row(
            "SELECT created_at FROM durably_runs WHERE job_name = ?1",
            [job],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("run of job {job}: {e}"))
}

fn runs(env: &Env) -> i64 {
    count(&env.conn(), "SELECT count(*) FROM durably_runs")
}

#[track_caller]
fn finish(mut bg: Bg, stdin: ChildStdin) -> String {
    drop(stdin);
    let status = bg.wait_max(Duration::from_secs(20));
    assert!(status.success(), "{} failed: {}", bg.name, bg.err());
    bg.out()
}

fn stalled_enqueue_many(journal: &str) {
    let env = env_with_journal(journal);
    let (mut bg, mut stdin) = producer(&env, &["enqueue-many", "-"], "producer");
    wait_for_stall(&mut bg);
    writers_get_through(&env, &format!("enqueue-many ({journal})"), 5);
    // A batch that has begun arriving holds no lock either.
    stdin.write_all(b"{\"job\":\"y\"}\n").expect("write");
    stdin.flush().expect("flush");
    wait_for_stall(&mut bg);
    writers_get_through(&env, &format!("enqueue-many, one line in ({journal})"), 2);
    stdin.write_all(b"{\"job\":\"y2\"}\n").expect("write");
    let out = finish(bg, stdin);
    assert_eq!(out.lines().count(), 2, "{out:?}");
    assert!(out.lines().all(|l| l.ends_with("\tcreated")), "{out:?}");
    assert_eq!(runs(&env), 9);
    // The producer's clock is read after its transaction began: after the writers' commits.
    assert!(created_at(&env, "y") >= created_at(&env, "beside-1"));
    assert_integrity(&env.db);
}

#[test]
fn a_stalled_enqueue_many_holds_no_lock_on_a_wal_file() {
    stalled_enqueue_many("WAL");
}

#[test]
fn a_stalled_enqueue_many_holds_no_lock_on_a_rollback_journal_file() {
    stalled_enqueue_many("DELETE");
}

fn stalled_chunks(journal: &str) {
    let env = env_with_journal(journal);
    let (mut bg, mut stdin) = producer(&env, &["enqueue-many", "--chunk", "1", "-"], "chunks");
    stdin.write_all(b"{\"job\":\"first\"}\n").expect("write");
    stdin.flush().expect("flush");
    // The first chunk commits on its own, then the producer waits for the next line.
    assert!(
        wait_until(Duration::from_secs(20), || runs(&env) == 1),
        "the first chunk never committed: {}",
        bg.err()
    );
    wait_for_stall(&mut bg);
    // Its result is printed at its commit, before the end of input.
    assert!(bg.out().ends_with("\tcreated\n"), "{}", bg.out());
    writers_get_through(&env, &format!("enqueue-many --chunk 1 ({journal})"), 5);
    stdin.write_all(b"{\"job\":\"second\"}\n").expect("write");
    let out = finish(bg, stdin);
    assert_eq!(out.lines().count(), 2, "{out:?}");
    assert_eq!(runs(&env), 7);
    assert!(created_at(&env, "second") >= created_at(&env, "beside-4"));
    assert_integrity(&env.db);
}

#[test]
fn chunks_hold_no_lock_between_lines_on_a_wal_file() {
    stalled_chunks("WAL");
}

#[test]
fn chunks_hold_no_lock_between_lines_on_a_rollback_journal_file() {
    stalled_chunks("DELETE");
}

fn stalled_enqueue(journal: &str) {
    let env = env_with_journal(journal);
    let (mut bg, mut stdin) = producer(&env, &["enqueue", "-"], "single");
    wait_for_stall(&mut bg);
    writers_get_through(&env, &format!("enqueue - ({journal})"), 3);
    stdin.write_all(b"{\"job\":\"y\"}").expect("write");
    let out = finish(bg, stdin);
    assert_eq!(out.lines().count(), 1, "{out:?}");
    assert_eq!(runs(&env), 4);
    assert!(created_at(&env, "y") >= created_at(&env, "beside-2"));
}

#[test]
fn a_stalled_single_enqueue_holds_no_lock_on_a_wal_file() {
    stalled_enqueue("WAL");
}

#[test]
fn a_stalled_single_enqueue_holds_no_lock_on_a_rollback_journal_file() {
    stalled_enqueue("DELETE");
}

/// `sh -c SCRIPT` with the durably binary and the database as `$0` and `$1`.
fn shell(env: &Env, script: &str) -> Out {
    let mut c = Command::new("sh");
    c.args(["-c", script, BIN, env.db.to_str().expect("utf-8 path")])
        .env_remove("DURABLY_DB");
    run_command(c, None)
}

#[test]
fn a_line_over_the_cap_is_refused_with_bounded_memory() {
    let env = Env::init();
    env.enqueue(&["--job", "seed"]);
    let counts = env.counts();
    // `ulimit -v` (KiB) bounds the address space: reading the 100 MiB line whole would fail
    // with an allocation error instead of the clear message.
    let cases = [
        (
            "ulimit -v 400000; head -c 100M /dev/zero | \"$0\" --db \"$1\" enqueue-many -",
            "line 1: longer than 16 MiB",
        ),
        (
            "ulimit -v 400000; { printf '{\"job\":\"a\"}\\n['; head -c 100M /dev/zero; } | \"$0\" --db \"$1\" enqueue-many -",
            "line 2: longer than 16 MiB",
        ),
        (
            "ulimit -v 400000; { printf '[{\"job\":\"a\"},\\n{\"job\":\"b\",\"input\":\"'; head -c 100M /dev/zero | tr '\\0' x; } | \"$0\" --db \"$1\" enqueue-many -",
            "line 2 (item 1): longer than 16 MiB",
        ),
        (
            "ulimit -v 400000; head -c 100M /dev/zero | \"$0\" --db \"$1\" enqueue -",
            "stdin: longer than 16 MiB",
        ),
    ];
    for (script, needle) in cases {
        let out = shell(&env, script);
        out.fails(1, needle);
        assert_eq!(env.counts(), counts, "{script}");
    }
    // A spec just under the cap goes in.
    let big = format!(
        "{{\"job\":\"big\",\"input\":\"{}\"}}\n",
        "x".repeat((16 << 20) - 40)
    );
    env.run_stdin(&["enqueue-many", "-"], &big).ok();
    assert_eq!(runs(&env), 2);
}

#[test]
fn a_large_batch_waits_in_a_spool_not_in_memory() {
    let env = Env::init();
    let (mut bg, mut stdin) = producer(&env, &["enqueue-many", "-"], "large");
    // 96 MiB of valid specs, 8 KiB each; then the producer stalls before the end of input.
    let line = format!("{{\"job\":\"j\",\"input\":\"{}\"}}\n", "x".repeat(8 << 10));
    for _ in 0..(96 << 20) / line.len() {
        stdin.write_all(line.as_bytes()).expect("write");
    }
    stdin.flush().expect("flush");
    wait_for_stall(&mut bg);
    let peak = peak_rss_kib(bg.pid()).expect("VmHWM");
    eprintln!("peak RSS with 96 MiB of specs in hand: {} KiB", peak);
    assert!(peak < 48 << 10, "peak RSS {peak} KiB grows with the input");
    // Killed before the end of its input: nothing was written.
    bg.signal(libc::SIGKILL);
    bg.wait_max(Duration::from_secs(20));
    drop(stdin);
    assert_eq!(runs(&env), 0);
}

/// A worker whose handler outlives several lease renewals while a producer stalls beside it:
/// the renewals and the completion go through, and the run is executed exactly once.
fn worker_beside_a_stalled_producer(journal: &str) {
    let env = env_with_journal(journal);
    let handlers = env.path("handlers");
    assert!(
        handlers.is_dir(),
        "the harness makes the handlers directory"
    );
    let log = env.path("executions.log");
    script(
        &handlers.join("slow"),
        &format!("echo \"$DURABLY_RUN_ID\" >> '{}'\nsleep 3\n", log.display()),
    );
    let id = env.enqueue(&["--job", "slow"]);
    let handlers_arg = handlers.to_str().expect("utf-8 path");
    let worker = env.command(&[
        "work",
        "--until-idle",
        "--lease",
        "1500ms",
        "--poll",
        "50ms",
        "--handlers",
        handlers_arg,
    ]);
    let mut worker = Bg::spawn(worker, env.dir.path(), "worker");
    assert!(
        wait_until(Duration::from_secs(20), || !read_lossy(&log).is_empty()),
        "the handler never started: {}",
        worker.err()
    );
    let (mut bg, mut stdin) = producer(&env, &["enqueue-many", "-"], "producer");
    wait_for_stall(&mut bg);
    // Renewals every 500 ms for 3 s (twice the lease), then the completion: all while the
    // producer waits.
    let status = || -> String {
        env.conn()
            .query_row(
                "SELECT status FROM durably_runs WHERE id = ?1",
                [&id],
                |r| r.get(0),
            )
            .unwrap_or_default()
    };
    let completed = wait_until(Duration::from_secs(20), || status() == "completed");
    assert!(
        completed,
        "{journal}: the run did not complete beside a stalled producer (status {}); worker: {}",
        status(),
        worker.err()
    );
    assert!(!bg.ended(), "the producer ended before its input did");
    stdin.write_all(b"{\"job\":\"later\"}\n").expect("write");
    finish(bg, stdin);
    let st = worker.wait_max(Duration::from_secs(20));
    assert!(st.success(), "worker: {}", worker.err());
    assert_eq!(read_lossy(&log), format!("{id}\n"), "executed exactly once");
    let generation = count(
        &env.conn(),
        &format!("SELECT lease_generation FROM durably_runs WHERE id = '{id}'"),
    );
    assert_eq!(generation, 1, "the run was claimed again");
}

#[test]
fn a_worker_keeps_its_lease_beside_a_stalled_producer_on_a_wal_file() {
    worker_beside_a_stalled_producer("WAL");
}

#[test]
fn a_worker_keeps_its_lease_beside_a_stalled_producer_on_a_rollback_journal_file() {
    worker_beside_a_stalled_producer("DELETE");
}
