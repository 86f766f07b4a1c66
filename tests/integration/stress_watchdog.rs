//! The supervisor as a lease watchdog: a worker stopped with SIGSTOP, or with SIGTSTP sent to
//! its process group the way Ctrl-Z does, cannot stop its handler's process group, so the
//! supervisor kills that group at the lease deadline. Another worker then reclaims the run:
//! the two generations' handlers never run at the same time, the run completes once (by the
//! second generation), and the first worker, once continued, reports the lost lease and
//! writes nothing. On a WAL file and on a rollback-journal file.

use crate::harness::*;

use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Generation 1 records its pid and ticks (wall-clock nanoseconds) for up to 30 s; later
/// generations first count the live processes left in generation 1's process group, then
/// tick a few times and complete.
const HANDLER: &str = r#"#!/bin/sh
d="$STRESS_DIR"
g="$DURABLY_LEASE_GENERATION"
f="$d/gen$g"
if [ "$g" != 1 ]; then
  pg=$(cat "$d/gen1.pid")
  live=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$pg" '{ sub(/.*\) /, ""); if ($3 == g && $1 != "Z") n++ } END { print n + 0 }')
  echo "$live" > "$d/gen1.live"
fi
echo "start $(date +%s%N)" >> "$f"
[ "$g" = 1 ] && echo $$ > "$d/gen1.pid"
i=0
while [ $i -lt 600 ]; do
  echo "tick $(date +%s%N)" >> "$f"
  [ "$g" != 1 ] && [ $i -ge 3 ] && break
  sleep 0.05
  i=$((i + 1))
done
echo "end $(date +%s%N)" >> "$f"
echo "\"done by generation $g\""
"#;

#[derive(Clone, Copy, Debug)]
enum Stop {
    /// `kill -STOP <worker>`.
    Sigstop,
    /// SIGTSTP to the worker's process group, as the terminal sends it on Ctrl-Z.
    CtrlZ,
}

fn wall_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The nanosecond stamps of a generation's file.
fn stamps(path: &Path) -> Vec<i64> {
    read_lossy(path)
        .lines()
        .filter_map(|l| l.split_once(' ')?.1.parse().ok())
        .collect()
}

fn worker(env: &Env, handlers: &Path, name: &str, extra: &[&str]) -> Bg {
    let mut args = vec!["work", "--poll", "50ms", "--handlers"];
    args.push(handlers.to_str().unwrap());
    args.extend_from_slice(extra);
    let mut c: Command = env.command(&args);
    c.env("STRESS_DIR", env.dir.path());
    // Its own process group, whose parent (this test) is in another one: the group is not
    // orphaned, so SIGTSTP stops it as Ctrl-Z stops a foreground job.
    c.process_group(0);
    Bg::spawn(c, env.dir.path(), name)
}

fn show(env: &Env, id: &str) -> Value {
    env.run(&["show", id, "--json"]).ok().json()
}

fn stopped_worker_never_overlaps_the_next_generation(stop: Stop, wal: bool) {
    let env = Env::init();
    // A rollback-journal file is what the library creates by default.
    let journal = if wal { "WAL" } else { "DELETE" };
    env.conn()
        .pragma_update(None, "journal_mode", journal)
        .unwrap();
    let mode: String = env
        .conn()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode.eq_ignore_ascii_case("wal"), wal, "journal mode {mode}");
    let handlers = env.handlers.clone();
    script(&handlers.join("tick"), HANDLER);
    let id = env.enqueue(&["--job", "tick"]);
    let (gen1, gen2) = (env.path("gen1"), env.path("gen2"));

    // A claims (generation 1, lease 2 s) and its handler ticks.
    let mut a = worker(&env, &handlers, "worker-a", &["--once", "--lease", "2s"]);
    assert!(
        wait_until(Duration::from_secs(30), || stamps(&gen1).len() >= 3
            && env.path("gen1.pid").exists()),
        "worker A never started its handler: {}",
        a.err()
    );
    let target = match stop {
        Stop::Sigstop => (a.pid(), libc::SIGSTOP),
        Stop::CtrlZ => (-a.pid(), libc::SIGTSTP),
    };
    stop_outside_a_transaction(a.pid(), target.0, target.1, &env.db);
    let stopped_at = wall_ns();

    // B reclaims once the lease has run out and completes the run (generation 2).
    let mut b = worker(
        &env,
        &handlers,
        "worker-b",
        &["--max-runs", "1", "--lease", "30s"],
    );
    let status = b.wait_max(Duration::from_secs(60));
    assert!(status.success(), "worker B: {status:?} {}", b.err());
    assert_eq!(
        state_of(a.pid()),
        Some('T'),
        "worker A must still be stopped: the supervisor, not A, stopped its handler"
    );
    let after_b = show(&env, &id);
    assert_eq!(after_b["status"], "completed", "{after_b}");
    assert_eq!(after_b["leaseGeneration"], 2);
    assert_eq!(after_b["output"], "done by generation 2");

    // Generation 1's group was dead when generation 2 started, and their ticks do not overlap.
    assert_eq!(
        read_lossy(&env.path("gen1.live")).trim(),
        "0",
        "processes of generation 1 were alive when generation 2 started"
    );
    let (one, two) = (stamps(&gen1), stamps(&gen2));
    assert!(one.len() >= 3 && two.len() >= 3, "{one:?} {two:?}");
    assert!(
        !read_lossy(&gen1).contains("end"),
        "generation 1 ran to its end"
    );
    let last_of_one = *one.iter().max().unwrap();
    let first_of_two = *two.iter().min().unwrap();
    let overlap_ms = (last_of_one - first_of_two).max(0) as f64 / 1e6;
    eprintln!(
        "{stop:?} wal={wal}: overlap {overlap_ms:.1} ms; generation 1 last ticked {:.0} ms \
         after the stop; generation 2 started {:.0} ms after the stop and {:.0} ms after \
         generation 1's last tick",
        (last_of_one - stopped_at) as f64 / 1e6,
        (first_of_two - stopped_at) as f64 / 1e6,
        (first_of_two - last_of_one) as f64 / 1e6,
    );
    assert_eq!(
        overlap_ms, 0.0,
        "the generations overlapped: {one:?} {two:?}"
    );

    // A continues: it finds the lease lost, writes nothing and exits with the error code.
    let gen1_before = read_lossy(&gen1);
    assert_eq!(unsafe { libc::kill(target.0, libc::SIGCONT) }, 0);
    let status = a.wait_max(Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "worker A: {}", a.err());
    let a_err = a.err();
    assert!(
        a_err.contains(&format!(
            "lost the lease of run {id}; its handler was stopped"
        )),
        "{a_err}"
    );
    assert_no_busy_or_panic("worker A", &a_err);
    assert_no_busy_or_panic("worker B", &b.err());
    assert_eq!(
        read_lossy(&gen1),
        gen1_before,
        "generation 1 ran after SIGCONT"
    );
    assert_eq!(show(&env, &id), after_b, "worker A changed the run");
    assert_eq!(
        count(
            &env.conn(),
            "SELECT count(*) FROM durably_runs WHERE status = 'completed'"
        ),
        1
    );
    assert_integrity(&env.db);
}

#[test]
fn sigstop_of_the_worker_on_a_wal_file() {
    stopped_worker_never_overlaps_the_next_generation(Stop::Sigstop, true);
}

#[test]
fn sigstop_of_the_worker_on_a_rollback_journal_file() {
    stopped_worker_never_overlaps_the_next_generation(Stop::Sigstop, false);
}

#[test]
fn ctrl_z_of_the_worker_on_a_wal_file() {
    stopped_worker_never_overlaps_the_next_generation(Stop::CtrlZ, true);
}

#[test]
fn ctrl_z_of_the_worker_on_a_rollback_journal_file() {
    stopped_worker_never_overlaps_the_next_generation(Stop::CtrlZ, false);
}
