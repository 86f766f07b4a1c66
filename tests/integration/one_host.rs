//! One host, hostile place (SQLite): a worker killed with `kill -9` a moment before its
//! handler's lease deadline, a wall-clock step under libfaketime, the database file moved or
//! deleted under a worker, a FIFO, directory or device given as the database, SIGHUP and
//! SIGQUIT, and a write past `ulimit -f`. Each test runs the real binary with real processes;
//! the overlap tests read the order of lines in one ledger that every execution appends to.

use crate::harness::*;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// libfaketime as Debian and Ubuntu install it (`apt install faketime`; .ci/run does).
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// A handler that ignores SIGTERM and appends `RUN GENERATION UPTIME` lines to the ledger:
/// generation 1 for up to 30 s, later generations three times before completing. Uptime
/// (from /proc, which no clock faking touches) is only for the figures printed.
const TICKER: &str = r#"#!/bin/sh
trap '' TERM
g="$DURABLY_LEASE_GENERATION"
l="$STRESS_DIR/ledger"
n=3
if [ "$g" = 1 ]; then
  echo $$ > "$STRESS_DIR/gen1.$DURABLY_RUN_ID.pid"
  n=1500
fi
i=0
while [ $i -lt $n ]; do
  read up _ < /proc/uptime
  echo "$DURABLY_RUN_ID $g $up" >> "$l"
  sleep 0.02
  i=$((i + 1))
done
echo '"done"'
"#;

/// One ledger line.
struct Tick {
    run: String,
    generation: i64,
    uptime: f64,
}

fn ledger(env: &Env) -> Vec<Tick> {
    read_lossy(&env.path("ledger"))
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            Some(Tick {
                run: f.next()?.to_string(),
                generation: f.next()?.parse().ok()?,
                uptime: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Asserts that for every run no line of an older generation follows the first line of a
/// newer one (the ledger is appended to with O_APPEND, so its order is the order of the
/// writes). Prints how many runs overlapped and by how much (by uptime), for the figures.
#[track_caller]
fn assert_generations_never_overlap(ticks: &[Tick]) {
    let runs: std::collections::BTreeSet<&str> = ticks.iter().map(|t| t.run.as_str()).collect();
    let mut overlaps: Vec<(String, f64)> = Vec::new();
    for run in &runs {
        let mine: Vec<&Tick> = ticks.iter().filter(|t| t.run == *run).collect();
        let mut worst: Option<f64> = None;
        for (i, t) in mine.iter().enumerate() {
            for late in mine[i..].iter().filter(|l| l.generation < t.generation) {
                let ms = (late.uptime - t.uptime) * 1000.0;
                worst = Some(worst.map_or(ms, |w: f64| w.max(ms)));
            }
        }
        if let Some(ms) = worst {
            overlaps.push((run.to_string(), ms));
        }
    }
    let max = overlaps.iter().map(|o| o.1).fold(0.0f64, f64::max);
    eprintln!(
        "runs whose generations overlapped: {} of {}; longest overlap {max:.0} ms",
        overlaps.len(),
        runs.len()
    );
    assert!(
        overlaps.is_empty(),
        "an older generation ran after a newer one started: {overlaps:?}"
    );
}

fn worker(env: &Env, name: &str, args: &[&str]) -> Bg {
    let h = env.handlers.to_str().unwrap().to_string();
    let mut all = vec!["work", "--poll", "50ms", "--handlers", &h];
    all.extend_from_slice(args);
    let mut c: Command = env.command(&all);
    c.env("STRESS_DIR", env.dir.path());
    c.process_group(0);
    Bg::spawn(c, env.dir.path(), name)
}

/// Milliseconds until run `id`'s lease expires, by the database's text and the local clock.
fn lease_left_ms(env: &Env, id: &str) -> i64 {
    env.sql_value(&format!(
        "SELECT CAST((julianday(lease_expires_at) - julianday('now')) * 86400000 AS INTEGER) \
         FROM durably_runs WHERE id = {}",
        lit(id)
    ))
    .and_then(|v| v.parse().ok())
    .expect("a lease expiry")
}

/// The supervisor of a worker killed with `kill -9` a moment before its handler's deadline
/// kills the handler (which ignores SIGTERM) at that deadline, not a fixed grace later: the
/// next generation, started by another worker once the lease has expired, never runs beside
/// it.
#[test]
fn kill_9_near_the_deadline_never_overlaps_the_next_generation() {
    let env = Env::init();
    script(&env.handlers.join("tick"), TICKER);
    let id = env.enqueue(&["--job", "tick"]);
    let mut a = worker(&env, "a", &["--lease", "2s"]);
    let pid_file = env.path(&format!("gen1.{id}.pid"));
    let handler = wait_for("generation 1 to start", || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
    });
    // Renewals stop; the supervisor still holds the deadline (the expiry minus 200 ms). A
    // renewal is due every 667 ms, so right after a stop at least 1.3 s are usually left; on
    // a machine too loaded for that, the worker is continued and stopped again.
    let mut left = 0;
    for _ in 0..50 {
        stop_outside_a_transaction(a.pid(), a.pid(), libc::SIGSTOP, &env.db);
        left = lease_left_ms(&env, &id);
        if left > 700 {
            break;
        }
        a.signal(libc::SIGCONT);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(left > 700, "the lease was always nearly over: {left} ms");
    // kill -9 600 ms before the expiry, 400 ms before the deadline: a one-second grace
    // after SIGTERM would let the handler run 400 ms past the expiry.
    std::thread::sleep(Duration::from_millis((left - 600) as u64));
    a.signal(libc::SIGKILL);
    a.wait_max(BOUND);
    let mut b = worker(&env, "b", &["--lease", "2s", "--max-runs", "1"]);
    let status = b.wait_max(BOUND);
    assert!(status.success(), "worker B: {}", b.err());
    wait_dead(handler);
    assert_eq!(env.status(&id), "completed");
    assert_eq!(env.field(&id, "output").as_deref(), Some("\"done\""));
    let ticks = ledger(&env);
    assert!(ticks.iter().any(|t| t.generation == 2), "no generation 2");
    assert_generations_never_overlap(&ticks);
    let last_one = ticks
        .iter()
        .filter(|t| t.generation == 1)
        .map(|t| t.uptime)
        .fold(f64::MIN, f64::max);
    let first_two = ticks
        .iter()
        .find(|t| t.generation == 2)
        .map(|t| t.uptime)
        .unwrap_or_default();
    eprintln!(
        "generation 2 started {:.0} ms after generation 1's last tick",
        (first_two - last_one) * 1000.0
    );
}

/// A step of the wall clock by +1 h (libfaketime, monotonic clock real) while a worker runs
/// three handlers: their leases, written in wall-clock time, all look expired at once. The
/// worker stops the handlers without recording their runs and says so once; the other
/// worker, which saw the step too, holds its claims for a lease; every run is then executed
/// again, and no generation runs beside the next.
#[test]
fn a_wall_clock_step_stops_the_handlers_before_their_runs_are_taken_over() {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} is missing: apt install faketime"
    );
    let env = Env::init();
    script(&env.handlers.join("tick"), TICKER);
    let ids: Vec<String> = (0..3).map(|_| env.enqueue(&["--job", "tick"])).collect();
    let clock = env.path("faketime");
    std::fs::write(&clock, "+0\n").unwrap();
    let faked = |name: &str, args: &[&str]| {
        let h = env.handlers.to_str().unwrap().to_string();
        let mut all = vec!["work", "--poll", "50ms", "--lease", "3s", "--handlers", &h];
        all.extend_from_slice(args);
        let mut c = env.command(&all);
        c.env("STRESS_DIR", env.dir.path())
            .env("LD_PRELOAD", LIBFAKETIME)
            .env("FAKETIME_TIMESTAMP_FILE", &clock)
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .process_group(0);
        Bg::spawn(c, env.dir.path(), name)
    };
    let a = faked("a", &["--concurrency", "3"]);
    for id in &ids {
        let p = env.path(&format!("gen1.{id}.pid"));
        wait_for("generation 1 to start", || p.exists().then_some(()));
    }
    let b = faked("b", &["--concurrency", "3"]);
    // Its second connection (lease renewal) is opened after its clock watch started.
    wait_for("worker B to start its lease threads", || {
        (opened(b.pid(), &env.db) >= 2).then_some(())
    });
    // Renamed into place: libfaketime rereads the file at every clock read and must never see
    // it empty (no offset), which would be a second step.
    let next = env.path("faketime.next");
    std::fs::write(&next, "+1h\n").unwrap();
    std::fs::rename(&next, &clock).unwrap();
    wait_for("every run to complete", || {
        ids.iter()
            .all(|id| env.status(id) == "completed")
            .then_some(())
    });
    a.signal(libc::SIGTERM);
    b.signal(libc::SIGTERM);
    let (mut a, mut b) = (a, b);
    a.wait_max(BOUND);
    b.wait_max(BOUND);
    let ticks = ledger(&env);
    assert_generations_never_overlap(&ticks);
    for id in &ids {
        assert!(
            ticks.iter().any(|t| &t.run == id && t.generation >= 2),
            "run {id} was not executed again: its handler ran to the end"
        );
        assert_eq!(env.field(id, "output").as_deref(), Some("\"done\""));
    }
    let a_err = a.err();
    let jumps: Vec<&str> = a_err
        .lines()
        .filter(|l| l.contains("wall clock jumped"))
        .collect();
    assert_eq!(jumps.len(), 1, "worker A:\n{a_err}");
    assert!(
        jumps[0].contains("jumped 1h forward")
            && jumps[0].contains("stopped 3 handlers without recording their runs"),
        "{a_err}"
    );
    assert!(
        !a_err.contains("lost the lease"),
        "one line for the jump, none per run:\n{a_err}"
    );
    let b_err = b.err();
    assert_eq!(
        b_err.matches("wall clock jumped").count(),
        1,
        "worker B:\n{b_err}"
    );
}

/// How many descriptors of process `pid` have the file `path` open.
fn opened(pid: i32, path: &Path) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.flatten()
        .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == path))
        .count()
}

/// A handler that records its pid and sleeps (default SIGTERM).
const SLEEPER: &str = "echo $$ > \"$T/sleeper.pid\"\nexec sleep 60";

/// Starts a daemon worker with a sleeping handler running; returns it and the handler's pid.
fn worker_with_a_sleeper(env: &Env) -> (Bg, i32) {
    env.handler("sleep", SLEEPER);
    env.enqueue_job("sleep", &[]);
    let w = worker(env, "w", &[]);
    let pid = env.pid_file("sleeper.pid");
    (w, pid)
}

/// `mv other.db q.db` under a worker: the path names another file, so the worker claims
/// nothing from either, stops its handler, and ends with one line and exit 1; the file now at
/// the path is untouched and sound.
#[test]
fn a_database_moved_over_under_a_worker_stops_it() {
    let env = Env::init();
    let other = env.path("other.db");
    let other_arg = other.to_str().unwrap();
    let run_other = |args: &[&str]| {
        let mut c = bare_command(env.dir.path());
        c.arg("--db").arg(other_arg).args(args);
        run_command(c, None)
    };
    run_other(&["init"]).ok();
    let theirs: Vec<String> = (0..2)
        .map(|_| {
            run_other(&["enqueue", "--job", "sleep"])
                .ok()
                .stdout
                .trim()
                .to_string()
        })
        .collect();
    let (mut w, handler) = worker_with_a_sleeper(&env);
    std::fs::rename(&other, &env.db).unwrap();
    let status = w.wait_max(BOUND);
    let err = w.err();
    assert_eq!(status.code(), Some(1), "{err}");
    assert_one_error_line(&err, "no longer names the file this worker opened");
    wait_dead(handler);
    for id in &theirs {
        assert_eq!(
            env.status(id),
            "pending",
            "a run of the new file was touched"
        );
    }
    assert_integrity(&env.db);
}

/// `rm q.db` under a worker: it ends with one line and exit 1, its handler stopped, and a
/// database created at the path afterwards is sound and empty.
#[test]
fn a_database_deleted_under_a_worker_stops_it() {
    let env = Env::init();
    let (mut w, handler) = worker_with_a_sleeper(&env);
    std::fs::remove_file(&env.db).unwrap();
    let status = w.wait_max(BOUND);
    let err = w.err();
    assert_eq!(status.code(), Some(1), "{err}");
    assert_one_error_line(&err, "no longer names the file this worker opened");
    wait_dead(handler);
    // A new database under the name does not read the old file's WAL as its own.
    env.ok(&["init"]);
    assert_integrity(&env.db);
    assert_eq!(env.count("SELECT count(*) FROM durably_runs"), 0);
}

/// A FIFO, a directory or a device given as the database: every command (readers included,
/// which used to hang on a FIFO) says so in one line and exits 1, without waiting.
#[test]
fn a_fifo_directory_or_device_is_refused_as_a_database() {
    let env = Env::new();
    let fifo = env.path("fifo.db");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let dir = env.path("dir.db");
    std::fs::create_dir(&dir).unwrap();
    let cases = [
        (
            fifo.to_str().unwrap(),
            "is a FIFO (named pipe), not a regular file",
        ),
        (dir.to_str().unwrap(), "is a directory, not a regular file"),
        ("/dev/null", "is a device, not a regular file"),
    ];
    for (db, says) in cases {
        for args in [
            &["ls"][..],
            &["show", "0193"],
            &["stats"],
            &["enqueue", "--job", "j"],
            &["work", "--once", "--", "true"],
        ] {
            let mut c = bare_command(env.dir.path());
            c.arg("--db").arg(db).args(args);
            let mut p = Bg::spawn(c, env.dir.path(), "refused");
            let status = p.wait_max(Duration::from_secs(20));
            assert_eq!(status.code(), Some(1), "{db} {args:?}: {}", p.err());
            assert_one_error_line(&p.err(), says);
        }
    }
}

/// SIGHUP and SIGQUIT stop a worker the way SIGTERM does: it claims nothing more, waits for
/// its running handler, records its result and exits 0.
#[test]
fn sighup_and_sigquit_stop_a_worker_like_sigterm() {
    for sig in [libc::SIGHUP, libc::SIGQUIT] {
        let env = Env::init();
        env.handler(
            "slow",
            "touch \"$T/started\"\nwhile [ ! -e \"$T/go\" ]; do sleep 0.02; done\necho '\"ok\"'",
        );
        let id = env.enqueue_job("slow", &[]);
        let other = env.enqueue_job("slow", &[]);
        let mut w = worker(&env, "w", &[]);
        wait_for("the handler to start", || {
            env.path("started").exists().then_some(())
        });
        w.signal(sig);
        wait_for("the worker to announce the stop", || {
            w.err()
                .contains("stopping: waiting for 1 running handler to finish")
                .then_some(())
        });
        std::fs::write(env.path("go"), "").unwrap();
        let status = w.wait_max(BOUND);
        assert_eq!(status.code(), Some(0), "signal {sig}: {}", w.err());
        assert_eq!(env.status(&id), "completed");
        assert_eq!(env.status(&other), "pending", "claimed after signal {sig}");
    }
}

/// A result write past `ulimit -f` (RLIMIT_FSIZE) fails with EFBIG and is reported: SIGXFSZ
/// does not kill the worker without a word.
#[test]
fn a_write_past_the_file_size_limit_is_reported() {
    let env = Env::init();
    // About 2 MB of output, stored as one JSON string.
    env.handler(
        "big",
        "printf '\"'; head -c 2000000 /dev/zero | tr '\\0' a; printf '\"'",
    );
    let id = env.enqueue_job("big", &[]);
    let size = std::fs::metadata(&env.db).unwrap().len();
    let limit = size + 512 * 1024;
    let h = env.handlers.to_str().unwrap().to_string();
    let mut c = env.command(&["work", "--once", "--handlers", &h]);
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        c.pre_exec(move || {
            let l = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut w = Bg::spawn(c, env.dir.path(), "w");
    let status = w.wait_max(BOUND);
    let err = w.err();
    assert_eq!(
        status.code(),
        Some(1),
        "killed by a signal? {status:?}: {err}"
    );
    assert!(
        err.contains(&format!("cannot record the result of run {id}"))
            && err.contains("file size limit"),
        "{err}"
    );
    assert_eq!(env.status(&id), "leased");
}
