//! The real @coji/durably library in Node.js for the interop module: node and the pinned npm
//! packages of `tests/interop` checked once per test process, and one long-lived
//! `node lib.mjs session DB` per database file, ended when its [`Env`](super::Env) drops.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

pub const LIBRARY_VERSION: &str = "0.15.0";
/// Our own indexes (sql/v1_extra.sql): the only objects the CLI's schema may add.
pub const EXTRA_INDEXES: [&str; 4] = [
    "idx_durably_runs_created_id",
    "idx_durably_runs_id_tail",
    "idx_durably_runs_job_status_created_id",
    "idx_durably_runs_status_created_id",
];

pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Checks node and installs the pinned npm packages once per test process.
pub fn setup() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let node = Command::new("node").arg("--version").output();
        match node {
            Ok(o) if o.status.success() => {}
            _ => {
                return Err(
                    "node is not installed: the interop tests run the real @coji/durably \
                            library in Node.js (>= 20). Install node and npm, then run \
                            `npm ci --prefix tests/interop`."
                        .into(),
                )
            }
        }
        let dir = interop_dir();
        let installed =
            std::fs::read_to_string(dir.join("node_modules/@coji/durably/package.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| v["version"].as_str().map(str::to_string));
        if installed.as_deref() != Some(LIBRARY_VERSION) {
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run npm (needed to install tests/interop): {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "npm ci in tests/interop failed:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(())
    });
    if let Err(e) = ready {
        panic!("{e}");
    }
}

/// A `node lib.mjs session DB` process: one library instance per database file for the
/// whole test (node's start-up is most of a one-shot call's cost). Started on first use, so
/// that a file the CLI is to create is not created empty by libSQL first; ended by [`Env`].
struct Session {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    stderr: PathBuf,
}

static SESSIONS: Mutex<BTreeMap<PathBuf, Session>> = Mutex::new(BTreeMap::new());

fn sessions() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, Session>> {
    SESSIONS.lock().unwrap_or_else(|e| e.into_inner())
}

fn start_session(db: &Path) -> Session {
    let stderr = PathBuf::from(format!("{}.node-stderr", db.display()));
    let mut child = node_cmd("session", db, &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("cannot start node");
    let stdin = child.stdin.take().unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    Session {
        child,
        stdin,
        stdout,
        stderr,
    }
}

/// Ends the sessions of the files under `root`: killed when the test failed, else their
/// stdin is closed and they exit.
pub fn end_sessions(root: &Path) {
    let ended: Vec<Session> = {
        let mut all = sessions();
        let keys: Vec<PathBuf> = all
            .keys()
            .filter(|k| k.starts_with(root))
            .cloned()
            .collect();
        keys.iter().filter_map(|k| all.remove(k)).collect()
    };
    for mut s in ended {
        if std::thread::panicking() {
            let _ = s.child.kill();
        }
        drop(s.stdin);
        let _ = s.child.wait();
    }
}

/// Runs a `lib.mjs` command (`migrate`, `read`, `trigger`, `work`, `fill`) in the library
/// session of `db`; returns its JSON answer. Fails on an error, on an error the library only
/// reported as an event (`worker:error`), and on a busy database.
pub fn node(command: &str, db: &Path, args: &[&str]) -> Value {
    use std::io::{BufRead, Write};
    let taken = sessions().remove(db);
    let mut s = taken.unwrap_or_else(|| start_session(db));
    let mut request = vec![json!(command)];
    request.extend(args.iter().map(|a| json!(a)));
    let mut line = String::new();
    let sent = writeln!(s.stdin, "{}", Value::Array(request)).and_then(|_| s.stdin.flush());
    if sent.is_ok() {
        s.stdout.read_line(&mut line).unwrap();
    }
    let stderr = std::fs::read_to_string(&s.stderr).unwrap_or_default();
    if line.is_empty() {
        let _ = s.child.kill();
        let _ = s.child.wait();
        panic!("the library session for {} ended:\n{stderr}", db.display());
    }
    sessions().insert(db.to_path_buf(), s);
    assert!(
        !stderr.contains("SQLITE_BUSY") && !stderr.contains("database is locked"),
        "the library hit a busy database: {stderr}"
    );
    // Read like the CLI reads rows (JavaScript may write lone surrogate escapes).
    let answer = durably::model::json_or_string(Some(line.trim_end()));
    assert!(
        answer.is_object(),
        "lib.mjs {command}: not a JSON answer: {line}"
    );
    assert!(
        answer.get("error").is_none() && answer.get("workerErrors").is_none(),
        "lib.mjs {command} {args:?}: {answer}\n{stderr}"
    );
    answer["ok"].clone()
}

pub fn node_cmd(command: &str, db: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("node");
    c.arg("lib.mjs")
        .arg(command)
        .arg(db)
        .args(args)
        .current_dir(interop_dir())
        .stdin(Stdio::null());
    c
}

pub fn node_result(command: &str, out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "node lib.mjs {command} failed ({:?}):\nstdout: {stdout}\nstderr: {stderr}",
        out.status.code()
    );
    assert_no_busy("the library", out);
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("node lib.mjs {command}: not JSON ({e}): {stdout}"))
}

/// Fails when a process hit a busy database.
pub fn assert_no_busy(who: &str, out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("SQLITE_BUSY") && !err.contains("database is locked"),
        "{who} hit a busy database: {err}"
    );
}
