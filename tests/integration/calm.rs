//! Calm under trouble: a daemon worker whose database is down at start waits for it (saying
//! so once) while `--once` fails fast; an error repeated at every poll (a locked or read-only
//! database) is said once, then once more with its count; a claim error's prefix is said
//! once. (A deadline kill after failed renewals is reported as such: worker_outcomes.rs,
//! `a_renewal_waiting_for_a_lock_ends_at_the_lease_deadline`.)

use crate::harness::*;

use std::process::Command;
use std::time::Duration;

/// `durably --db DB ARGS` in the env's dir (stdout and stderr to files).
fn spawn_on(env: &Env, db: &str, name: &str, args: &[&str]) -> Bg {
    let mut c: Command = bare_command(env.dir.path());
    c.arg("--db").arg(db).args(args);
    Bg::spawn(c, env.dir.path(), name)
}

/// A URL of a port nothing listens on (bound, then closed).
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("postgres://durably@127.0.0.1:{port}/durably?connect_timeout=2")
}

fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

/// A daemon worker on a SQLite path whose directory is missing (a volume not mounted yet)
/// says so once and waits; once the directory exists it opens the database and executes a
/// run enqueued there.
#[test]
fn a_daemon_worker_waits_for_a_missing_directory() {
    let env = Env::new();
    let dir = env.path("later");
    let db = dir.join("q.db");
    let db_arg = db.to_str().unwrap().to_string();
    let mut w = spawn_on(
        &env,
        &db_arg,
        "w",
        &["work", "--poll", "50ms", "--", "echo", "1"],
    );
    wait_for("the worker to say it waits", || {
        w.err().contains("waiting for the database").then_some(())
    });
    assert!(!w.ended(), "the worker gave up: {}", w.err());
    std::fs::create_dir(&dir).unwrap();
    let mut c = bare_command(env.dir.path());
    c.arg("--db").arg(&db_arg).args(["enqueue", "--job", "j"]);
    let id = run_command(c, None).ok().stdout.trim().to_string();
    let status = |id: &str| {
        let mut c = bare_command(env.dir.path());
        c.arg("--db").arg(&db_arg).args(["show", id, "--json"]);
        run_command(c, None).ok().json()["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    wait_for("the run to complete", || {
        (status(&id) == "completed").then_some(())
    });
    w.signal(libc::SIGTERM);
    let code = w.wait_max(BOUND);
    let err = w.err();
    assert_eq!(code.code(), Some(0), "{err}");
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        vec![
            format!(
                "durably: directory {} does not exist; waiting for the database, trying again with a growing pause (up to 10s)",
                dir.display()
            ),
            format!("durably: the database is up: {}", db.display()),
        ],
        "{err}"
    );
}

/// A daemon worker on a rollback-journal file held in an EXCLUSIVE lock past its
/// `--busy-timeout` at start says so once and waits; once the lock is released it starts and
/// executes a run.
#[test]
fn a_daemon_worker_waits_for_a_file_locked_at_start() {
    let env = Env::init();
    env.conn()
        .pragma_update(None, "journal_mode", "DELETE")
        .unwrap();
    env.handler("j", "echo 1");
    let id = env.enqueue_job("j", &[]);
    let lock = env.conn();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let h = env.handlers.to_str().unwrap().to_string();
    let db = env.db.to_str().unwrap().to_string();
    let mut w = spawn_on(
        &env,
        &db,
        "w",
        &[
            "work",
            "--poll",
            "50ms",
            "--busy-timeout",
            "100ms",
            "--handlers",
            &h,
        ],
    );
    wait_for("the worker to say it waits", || {
        w.err().contains("waiting for the database").then_some(())
    });
    assert!(!w.ended(), "the worker gave up: {}", w.err());
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    wait_for("the run to complete", || {
        (env.status(&id) == "completed").then_some(())
    });
    w.signal(libc::SIGTERM);
    let code = w.wait_max(BOUND);
    let err = w.err();
    assert_eq!(code.code(), Some(0), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].contains("is locked") && lines[0].contains("waiting for the database"),
        "{err}"
    );
    assert!(lines[1].contains("the database is up"), "{err}");
}

/// A daemon worker whose PostgreSQL server cannot be reached at start says so once and keeps
/// trying; SIGTERM ends the wait at once.
#[test]
fn a_daemon_worker_waits_for_an_unreachable_server() {
    let env = Env::new();
    let url = closed_port_url();
    let mut w = spawn_on(&env, &url, "w", &["work", "--", "true"]);
    wait_for("the worker to say it waits", || {
        w.err().contains("waiting for the database").then_some(())
    });
    // Several retries (0.2 + 0.4 + 0.8 s): still waiting, still one line.
    std::thread::sleep(Duration::from_millis(1600));
    assert!(!w.ended(), "the worker gave up: {}", w.err());
    w.signal(libc::SIGTERM);
    let code = w.wait_max(BOUND);
    let err = w.err();
    assert_eq!(code.code(), Some(0), "{err}");
    assert_one_error_line(&err, "cannot connect to PostgreSQL");
    assert!(err.contains("waiting for the database"), "{err}");
}

/// A worker meant to end (`--once`, `--until-idle`, `--max-runs`) fails at once when the
/// database is down: one line, exit 1.
#[test]
fn a_worker_meant_to_end_fails_fast_when_the_database_is_down() {
    let env = Env::new();
    let missing = env.path("nowhere/q.db");
    let url = closed_port_url();
    for db in [missing.to_str().unwrap(), url.as_str()] {
        for mode in [&["--once"][..], &["--until-idle"], &["--max-runs", "1"]] {
            let mut args = vec!["work"];
            args.extend_from_slice(mode);
            args.extend_from_slice(&["--", "true"]);
            let mut w = spawn_on(&env, db, "w", &args);
            let code = w.wait_max(BOUND);
            let err = w.err();
            assert_eq!(code.code(), Some(1), "{db} {mode:?}: {err}");
            assert!(!err.contains("waiting"), "{db} {mode:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{db} {mode:?}: {err}");
        }
    }
}

/// A database locked by another process at every poll: the claim error is said once, then
/// once more (at exit) with the count of its repeats; its prefix is not doubled.
#[test]
fn a_repeated_claim_error_is_said_once_with_a_count() {
    let env = Env::init();
    env.handler("j", "echo 1");
    let id = env.enqueue_job("j", &[]);
    let lock = env.hold_write_lock();
    let db = env.db.to_str().unwrap().to_string();
    let err = claim_errors_of(&env, &db, &["--busy-timeout", "10ms"]);
    drop(lock);
    let said = lines_with(&err, "cannot claim a run");
    let first = format!(
        "durably: cannot claim a run: database {db} is locked: another process held it longer than --busy-timeout"
    );
    assert_eq!(said.len(), 2, "{err}");
    assert_eq!(said[0], first, "{err}");
    let count = said[1]
        .strip_prefix(&format!("{first} ("))
        .and_then(|rest| rest.strip_suffix(" more times in the last minute)"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no count in {:?}", said[1]));
    assert!(count >= 2, "{err}");
    assert!(
        !err.contains("cannot claim a run: cannot claim a run"),
        "{err}"
    );
    assert_eq!(env.status(&id), "pending");
}

/// Asserts that a worker that met the same claim error at every poll said it once, then once
/// with the count of its repeats, and its prefix once.
#[track_caller]
fn assert_said_once_with_a_count(err: &str, needle: &str) {
    let said = lines_with(err, "cannot claim a run");
    assert_eq!(said.len(), 2, "{err}");
    assert!(said[0].contains(needle), "{err}");
    assert!(
        said[1].starts_with(said[0]) && said[1].ends_with("more times in the last minute)"),
        "{err}"
    );
    assert!(
        !err.contains("cannot claim a run: cannot claim a run"),
        "{err}"
    );
}

/// A read-only SQLite file (`chattr +i`, rollback journal): the claim error is said once,
/// then once with its count (it was said at every poll).
#[test]
#[ignore = "needs root (chattr +i): .ci/run runs it with --include-ignored"]
fn a_read_only_file_is_said_once_with_a_count() {
    assert!(unsafe { libc::geteuid() } == 0, "chattr +i needs root");
    let env = Env::init();
    env.conn()
        .pragma_update(None, "journal_mode", "DELETE")
        .unwrap();
    env.handler("j", "echo 1");
    let id = env.enqueue_job("j", &[]);
    let chattr = |flag: &str| {
        Command::new("chattr")
            .arg(flag)
            .arg(&env.db)
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(
        chattr("+i"),
        "chattr +i failed (not supported on this file system?)"
    );
    struct Unlock<'a>(&'a dyn Fn(&str) -> bool);
    impl Drop for Unlock<'_> {
        fn drop(&mut self) {
            (self.0)("-i");
        }
    }
    let _unlock = Unlock(&chattr);
    let db = env.db.to_str().unwrap().to_string();
    let err = claim_errors_of(&env, &db, &[]);
    assert_said_once_with_a_count(&err, "is read-only");
    drop(_unlock);
    assert_eq!(env.status(&id), "pending");
}

/// A read-only PostgreSQL database (`default_transaction_read_only`): the claim error is said
/// once (then once with its count), not several times a second, and its prefix once.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn a_read_only_database_is_said_once_with_a_count() {
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    env.handler("j", "echo 1");
    let id = env.enqueue_job("j", &[]);
    let pg = env.pg.as_ref().unwrap();
    env.exec(&format!(
        "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
        pg.name
    ));
    let err = claim_errors_of(&env, &pg.url, &[]);
    assert_said_once_with_a_count(&err, "read-only");
    assert_eq!(env.status(&id), "pending");
}

/// Runs a worker on `db` (`--poll 20ms`, its handler directory, `extra` flags) while its
/// claims keep failing for about 1.5 s (some 50 polls), stops it with SIGTERM, checks that it
/// exited 0, and returns what it said on stderr.
fn claim_errors_of(env: &Env, db: &str, extra: &[&str]) -> String {
    let h = env.handlers.to_str().unwrap().to_string();
    let mut args = vec!["work", "--poll", "20ms"];
    args.extend_from_slice(extra);
    args.extend(["--handlers", h.as_str()]);
    let mut w = spawn_on(env, db, "w", &args);
    wait_for("the first claim error", || {
        w.err().contains("cannot claim a run").then_some(())
    });
    std::thread::sleep(Duration::from_millis(1500));
    w.signal(libc::SIGTERM);
    let code = w.wait_max(BOUND);
    let err = w.err();
    assert_eq!(code.code(), Some(0), "{err}");
    err
}
