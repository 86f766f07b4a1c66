//! Reading commands and the people (and pipes) they print to.
//!
//! - A reader whose stdout is a stalled pipe (`durably ls | less` with the pager left open)
//!   holds no read transaction while it waits: writers go on with a short busy timeout on a
//!   rollback-journal file, and a WAL file can be checkpointed to the end.
//! - Text from the database (job names, labels, input, step names and outputs, log messages,
//!   errors) never reaches a terminal raw: the human output of every reading command holds no
//!   control character but line feeds and tabs, and `--json` keeps the text exact.

use crate::harness::*;

use serde_json::Value;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::{ChildStdout, Stdio};
use std::time::{Duration, Instant};

/// Runs in the fixture: enough that each reading command prints well over a pipe's 64 KiB.
const RUNS: usize = 3000;
/// Logs of the fixture's one chatty run.
const LOGS: usize = 3000;

/// A database of `RUNS` runs with distinct, longish job names (so `stats` prints a line each)
/// and one run `chatty` with `LOGS` logs, in the given journal mode. Returns the chatty run's id.
fn fixture(journal: &str) -> (Env, String) {
    let env = Env::init();
    let specs: String = (0..RUNS)
        .map(|i| format!("{{\"job\":\"job-{i:05}-{}\"}}\n", "x".repeat(40)))
        .collect();
    env.run_stdin(&["enqueue-many", "--quiet", "-"], specs).ok();
    let id = env.enqueue(&["--job", "chatty"]);
    let mut conn = env.conn();
    let tx = conn.transaction().unwrap();
    for i in 0..LOGS {
        tx.execute(
            "INSERT INTO durably_logs (id, run_id, step_name, level, message, data, created_at) \
             VALUES (?1, ?2, NULL, 'info', ?3, NULL, ?4)",
            rusqlite::params![
                format!("log-{i:06}"),
                id,
                format!("message {i:06} {}", "m".repeat(80)),
                format!("2026-01-01T00:00:{:02}.{:03}Z", i / 1000, i % 1000),
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let mode: String = conn
        .query_row(&format!("PRAGMA journal_mode = {journal}"), [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(mode.eq_ignore_ascii_case(journal), "journal mode is {mode}");
    (env, id)
}

/// Bytes waiting in a pipe.
fn pipe_fill(pipe: &ChildStdout) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer; the fd is open while `pipe` lives.
    let rc = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    n as usize
}

/// Starts `args` with its stdout a pipe nobody reads; once the pipe is full (the reader is
/// blocked writing), runs writers beside it for about three seconds, each with a 1 s busy
/// timeout, which must all succeed; on WAL a full checkpoint must also succeed. Then reads
/// the whole output and returns it with the longest writer wait.
fn stalled_reader(
    env: &Env,
    journal: &str,
    args: &[&str],
    cancel: Option<&str>,
) -> (String, Duration) {
    let mut child = env
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn reader");
    let mut stdout = child.stdout.take().expect("stdout");
    // A full pipe: the output is larger than the pipe, so the reader now waits in write().
    let full = wait_until(Duration::from_secs(60), || pipe_fill(&stdout) >= 60 * 1024);
    if !full {
        let _ = child.kill();
        panic!(
            "{args:?} never filled its pipe ({} bytes)",
            pipe_fill(&stdout)
        );
    }
    let mut max_wait = Duration::ZERO;
    let stalled_since = Instant::now();
    let mut writers = 0;
    while writers < 3 || stalled_since.elapsed() < Duration::from_secs(3) {
        let started = Instant::now();
        let out = env.run(&["--busy-timeout", "1s", "enqueue", "--job", "z"]);
        max_wait = max_wait.max(started.elapsed());
        writers += 1;
        if out.code != 0 {
            let _ = child.kill();
            panic!(
                "{journal}: enqueue beside a stalled `{}` failed: {out:#?}",
                args.join(" ")
            );
        }
        if journal == "WAL" {
            let conn = env.conn();
            conn.busy_timeout(Duration::from_secs(1)).unwrap();
            let (busy, log, done): (i64, i64, i64) = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .unwrap();
            if busy != 0 {
                let _ = child.kill();
                panic!(
                    "a stalled `{}` pins the WAL: checkpoint busy, {done} of {log} frames",
                    args.join(" ")
                );
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        pipe_fill(&stdout) >= 60 * 1024,
        "the reader's pipe stays full while the writers run"
    );
    if let Some(id) = cancel {
        // `logs --follow` ends once its run is terminal; the cancel is one more writer.
        env.run(&["--busy-timeout", "1s", "cancel", id]).ok();
    }
    let mut text = String::new();
    stdout
        .read_to_string(&mut text)
        .expect("read the reader's output");
    let status = child.wait().expect("wait reader");
    assert!(status.success(), "{args:?} exited {status}");
    eprintln!(
        "{journal}: `durably {}` stalled on a full pipe: {writers} writers, longest wait {max_wait:?}",
        args.join(" ")
    );
    (text, max_wait)
}

/// Every reading command, stalled on its pipe, leaves writers (and the checkpointer) alone,
/// and still prints its whole output afterwards.
fn readers_leave_writers_alone(journal: &str) {
    let (env, chatty) = fixture(journal);
    let limit = RUNS.to_string();
    let mut worst = Duration::ZERO;

    let (text, wait) = stalled_reader(
        &env,
        journal,
        &["ls", "-n", &limit, "--format", "json"],
        None,
    );
    worst = worst.max(wait);
    let runs: Value = serde_json::from_str(&text).expect("ls output is JSON");
    assert_eq!(runs.as_array().map(Vec::len), Some(RUNS));

    let (text, wait) = stalled_reader(&env, journal, &["show", &chatty], None);
    worst = worst.max(wait);
    let logs: Vec<&str> = text.lines().skip_while(|l| *l != "logs").skip(1).collect();
    assert_eq!(logs.len(), LOGS, "show printed {} log lines", logs.len());
    assert!(logs[LOGS - 1].contains(&format!("message {:06}", LOGS - 1)));

    let (text, wait) = stalled_reader(&env, journal, &["logs", &chatty], None);
    worst = worst.max(wait);
    assert_eq!(text.lines().count(), LOGS);

    let (text, wait) = stalled_reader(&env, journal, &["stats"], None);
    worst = worst.max(wait);
    // One line per job (the fixture's, chatty and z) plus the header and the total.
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("all"), "stats output cut short: {last:?}");
    assert!(text.lines().count() >= RUNS + 3);

    let (text, wait) = stalled_reader(&env, journal, &["logs", "--follow", &chatty], Some(&chatty));
    worst = worst.max(wait);
    assert_eq!(text.lines().count(), LOGS);

    eprintln!("{journal}: longest writer wait beside a stalled reader: {worst:?}");
    assert_integrity(&env.db);
}

#[test]
fn a_stalled_reader_blocks_no_writer_on_a_rollback_journal_file() {
    readers_leave_writers_alone("DELETE");
}

#[test]
fn a_stalled_reader_pins_no_wal() {
    readers_leave_writers_alone("WAL");
}

/// Text that drives a terminal: OSC retitle with BEL, CSI clear screen, a C1 CSI, carriage
/// return, line feed, DEL and a right-to-left override.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}|\u{1b}[2J|\u{9b}31m|\r|\n|\u{7f}|\u{202e}";

/// Whether `text` could drive a terminal: a control character other than line feed and tab,
/// or a bidi override.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{202e}')
        .collect()
}

#[test]
fn hostile_text_is_escaped_for_people_and_exact_in_json() {
    let env = Env::init();
    let job = format!("job{HOSTILE}");
    let spec = serde_json::json!({
        "job": job,
        "labels": {"tenant": format!("t{HOSTILE}")},
        "input": {"text": HOSTILE},
    });
    let id = env
        .run_stdin(&["enqueue", "-"], spec.to_string())
        .ok()
        .line()
        .to_string();
    let conn = env.conn();
    // As another writer (the library, a worker) would leave it: a failed run with a step and
    // logs, every text field hostile, and a label key our own enqueue would refuse.
    let labels = serde_json::json!({"tenant": format!("t{HOSTILE}"), format!("k{HOSTILE}"): "v"});
    conn.execute(
        "UPDATE durably_runs SET status = 'failed', error = ?2, labels = ?3, progress = ?4, \
         started_at = created_at, completed_at = created_at WHERE id = ?1",
        rusqlite::params![
            id,
            format!("boom{HOSTILE}"),
            labels.to_string(),
            serde_json::json!({"current": 1, "total": 2, "message": HOSTILE}).to_string()
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO durably_steps (id, run_id, name, \"index\", status, output, error, started_at, completed_at) \
         VALUES ('s1', ?1, ?2, 0, 'completed', ?3, NULL, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.001Z')",
        rusqlite::params![id, format!("step{HOSTILE}"), serde_json::json!(HOSTILE).to_string()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO durably_logs (id, run_id, step_name, level, message, data, created_at) \
         VALUES ('l1', ?1, ?2, 'warn', ?3, ?4, '2026-01-01T00:00:00.002Z')",
        rusqlite::params![
            id,
            format!("step{HOSTILE}"),
            format!("log{HOSTILE}"),
            serde_json::json!({"d": HOSTILE}).to_string()
        ],
    )
    .unwrap();
    drop(conn);

    for args in [
        vec!["ls"],
        vec!["ls", "--format", "ids"],
        vec!["show", id.as_str()],
        vec!["logs", id.as_str()],
        vec!["stats"],
    ] {
        let out = env.run(&args);
        out.ok();
        let raw = raw_controls(&out.stdout);
        assert!(
            raw.is_empty(),
            "{args:?} printed raw {raw:?}: {}",
            out.stdout
        );
        if args.len() == 1 || args[0] != "ls" {
            assert!(
                out.stdout.contains("\\e]0;pwn"),
                "{args:?} does not show the escape visibly: {}",
                out.stdout
            );
        }
    }
    // Fields printed on one line stay on one line: the job name's line feed is escaped.
    let show = env.run(&["show", &id]);
    let job_line = show.stdout.lines().find(|l| l.starts_with("job ")).unwrap();
    assert!(job_line.contains("\\n|\\x7f|\\u{202e}"), "{job_line}");
    let logs = env.run(&["logs", &id]);
    assert_eq!(logs.stdout.lines().count(), 1, "{}", logs.stdout);

    // Errors quote the run's error from the database: escaped too.
    let wait = env.run(&["wait", &id]);
    wait.code(5);
    assert_one_error_line(&wait.stderr, "boom\\e]0;pwned\\x07");
    assert!(
        raw_controls(&wait.stderr).iter().all(|&c| c == '\n'),
        "{:?}",
        wait.stderr
    );
    // And arguments from the user.
    let missing = env.run(&["show", "x\u{1b}]0;pwned\u{7}"]);
    missing.fails(3, "not found");
    assert!(
        raw_controls(&missing.stderr).iter().all(|&c| c == '\n'),
        "{:?}",
        missing.stderr
    );

    // JSON keeps every string exact.
    let run = env.run(&["show", &id, "--json"]).ok().json();
    assert_eq!(run["jobName"], job.as_str());
    assert_eq!(run["labels"], labels);
    assert_eq!(run["input"]["text"], HOSTILE);
    assert_eq!(run["error"], format!("boom{HOSTILE}").as_str());
    assert_eq!(run["steps"][0]["name"], format!("step{HOSTILE}").as_str());
    assert_eq!(run["steps"][0]["output"], HOSTILE);
    assert_eq!(run["logs"][0]["message"], format!("log{HOSTILE}").as_str());
    assert_eq!(run["logs"][0]["data"]["d"], HOSTILE);
    let listed = env.run(&["ls", "--json"]).ok().json();
    assert_eq!(listed[0]["jobName"], job.as_str());
    assert_eq!(listed[0]["labels"], labels);
    let ndjson = env.run(&["ls", "--format", "ndjson"]);
    let first: Value = serde_json::from_str(ndjson.ok().line()).unwrap();
    assert_eq!(first["jobName"], job.as_str());
    let log: Value = serde_json::from_str(env.run(&["logs", &id, "--json"]).ok().line()).unwrap();
    assert_eq!(log["message"], format!("log{HOSTILE}").as_str());
    assert_eq!(log["stepName"], format!("step{HOSTILE}").as_str());
    let stats = env.run(&["stats", "--json"]).ok().json();
    assert_eq!(stats["byJob"][job.as_str()]["failed"], 1, "{stats}");
}

/// `wait` prints a completed run's output: exact on a pipe (scripts capture it), escaped on a
/// terminal (a pseudo-terminal from `script`).
#[test]
fn wait_prints_output_exactly_to_a_pipe_and_escaped_to_a_terminal() {
    let env = Env::init();
    let id = env.enqueue(&["--job", "done"]);
    env.conn()
        .execute(
            "UPDATE durably_runs SET status = 'completed', output = ?2, completed_at = created_at \
             WHERE id = ?1",
            rusqlite::params![id, serde_json::json!(format!("out{HOSTILE}")).to_string()],
        )
        .unwrap();
    let piped = env.run(&["wait", &id]);
    assert_eq!(piped.ok().stdout, format!("out{HOSTILE}\n"));

    let mut script = std::process::Command::new("script");
    script
        .args(["-qec"])
        .arg(format!("'{BIN}' --db '{}' wait {id}", env.db.display()))
        .arg("/dev/null")
        .env_remove("DURABLY_DB");
    let tty = run_command(script, None);
    tty.ok();
    // The terminal turns each line feed into CR LF.
    let text = tty.stdout.replace("\r\n", "\n");
    let raw = raw_controls(&text);
    assert!(raw.is_empty(), "raw {raw:?} on a terminal: {text:?}");
    assert!(
        tty.stdout.contains("out\\e]0;pwned\\x07"),
        "{:?}",
        tty.stdout
    );
}
