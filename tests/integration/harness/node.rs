//! The real @coji/durably library in Node.js for the interop module: node and the pinned npm
//! packages of `tests/interop` checked once per test process, and one long-lived
//! `node lib.mjs session DB` per database file or PostgreSQL URL, ended when its
//! [`Env`](super::Env) drops; the comparisons and CLI handlers of the interop module.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

pub const LIBRARY_VERSION: &str = "0.15.0";
/// Our own indexes (sql/v1_extra.sql): the only objects the CLI's schema may add.
pub const EXTRA_INDEXES: [&str; 5] = [
    "idx_durably_runs_created_id",
    "idx_durably_runs_id_tail",
    "idx_durably_runs_job_status_created_id",
    "idx_durably_runs_status_created_id",
    "idx_durably_runs_updated_id",
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

/// A session on `target` (a file or a URL), named by `key`, a path under the test's temp dir
/// (its stderr goes next to it).
fn start_session(key: &Path, target: &OsStr) -> Session {
    let stderr = PathBuf::from(format!("{}.node-stderr", key.display()));
    let mut child = node_cmd("session", target, &[])
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

/// Runs a `lib.mjs` command (`migrate`, `read`, `trigger`, `work`, `fill`, …) in the library
/// session of `target` (a SQLite file or a postgres:// URL, which may choose the schema:
/// `?options=-csearch_path%3Dname`), named by `key`, a path under the test's temp dir (one
/// session per key); returns its JSON answer. Fails on an error, on an error the library only
/// reported as an event (`worker:error`), and on a busy database.
pub fn node_session(command: &str, key: &Path, target: &str, args: &[&str]) -> Value {
    session_call(key, OsStr::new(target), command, args)
}

fn session_call(key: &Path, target: &OsStr, command: &str, args: &[&str]) -> Value {
    use std::io::{BufRead, Write};
    let db = key;
    let taken = sessions().remove(db);
    let mut s = taken.unwrap_or_else(|| start_session(db, target));
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
        panic!(
            "the library session for {} ended:\n{stderr}",
            target.to_string_lossy()
        );
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

/// `node lib.mjs COMMAND DB ARGS`; DB is a file path or a postgres:// URL.
pub fn node_cmd(command: &str, db: impl AsRef<OsStr>, args: &[&str]) -> Command {
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

// ---------------------------------------------------------------------------------------------
// Comparisons, processes and handlers of the interop module (SQLite and PostgreSQL)

pub fn is_iso_ms(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

pub fn check_timestamps(run: &Value) {
    for k in ["createdAt", "updatedAt"] {
        assert!(is_iso_ms(&run[k]), "{k} of {run}");
    }
    for k in ["startedAt", "completedAt", "leaseExpiresAt"] {
        assert!(run[k].is_null() || is_iso_ms(&run[k]), "{k} of {run}");
    }
}

/// The same runs with the same fields. The CLI's order is `created_at DESC, id DESC`; the
/// library orders by `created_at DESC` only, so runs of one millisecond may come in any order
/// there: compared as sets, with both orders checked.
pub fn assert_same_runs(what: &str, lib: &Value, cli: &Value) {
    let lib = lib
        .as_array()
        .unwrap_or_else(|| panic!("{what}: library gave {lib}"));
    let cli = cli
        .as_array()
        .unwrap_or_else(|| panic!("{what}: CLI gave {cli}"));
    let key = |r: &Value| {
        (
            r["createdAt"].as_str().unwrap().to_string(),
            r["id"].as_str().unwrap().to_string(),
        )
    };
    for w in cli.windows(2) {
        assert!(
            key(&w[0]) > key(&w[1]),
            "{what}: CLI order is not created_at DESC, id DESC"
        );
    }
    for w in lib.windows(2) {
        assert!(
            w[0]["createdAt"].as_str() >= w[1]["createdAt"].as_str(),
            "{what}: library order"
        );
    }
    let by_id = |runs: &[Value]| -> BTreeMap<String, Value> {
        runs.iter()
            .map(|r| (r["id"].as_str().unwrap().to_string(), r.clone()))
            .collect()
    };
    let (l, c) = (by_id(lib), by_id(cli));
    assert_eq!(
        l.keys().collect::<Vec<_>>(),
        c.keys().collect::<Vec<_>>(),
        "{what}: not the same runs"
    );
    for (id, lr) in &l {
        assert_eq!(
            lr, &c[id],
            "{what}: run {id} differs (left: library, right: CLI)"
        );
        check_timestamps(lr);
    }
}

/// One run as `durably show --json` shows it against the library's run + steps + logs. Logs
/// of one millisecond: the library orders them by created_at only, the CLI adds the id.
pub fn assert_same_shown(id: &str, mut lib: Value, cli: &Value) {
    if let Some(logs) = lib["logs"].as_array_mut() {
        logs.sort_by_key(|l| (l["createdAt"].to_string(), l["id"].to_string()));
    }
    assert_eq!(&lib, cli, "show {id} differs (left: library, right: CLI)");
    check_timestamps(cli);
}

/// A child process that is killed if the test fails before waiting for it.
pub struct Reaped(pub Option<std::process::Child>);

impl Reaped {
    pub fn spawn(cmd: &mut Command) -> Reaped {
        Reaped(Some(
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ))
    }

    pub fn wait(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits (bounded) for a file a child creates when it is ready; fails if the child exits first.
pub fn wait_ready(child: &mut Reaped, ready: &Path) {
    let child = child.0.as_mut().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ready.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the library worker exited before it was ready: {status}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the library worker never got ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Each line of the append log is `RUN_ID WHO`; every run must appear exactly once.
pub fn appended(log: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut seen = BTreeMap::new();
    for line in text.lines() {
        let (id, who) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        if let Some(before) = seen.insert(id.to_string(), who.to_string()) {
            panic!("run {id} was executed twice ({before}, then {who})");
        }
    }
    seen
}

/// Handlers doing what the library jobs of `lib.mjs` do, with the CLI's in-handler commands.
pub fn handlers(root: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join("handlers");
    std::fs::create_dir_all(&dir).unwrap();
    let scripts = [
        (
            "echo",
            r#"#!/bin/sh
set -eu
input=$(cat)
first=$(durably step first -- sh -c 'printf "{\"seen\":%s}\n" "$1"' sh "$input")
durably log --data '{"n":1}' 'between steps'
durably progress 1 --total 2 --message 'half way'
second=$(durably step second -- sh -c 'durably log --level warn "inside second"; echo two')
durably progress 2 --total 2
printf '{"echo":%s,"first":%s,"second":%s,"by":"cli"}\n' "$input" "$first" "$second"
"#,
        ),
        (
            "fail",
            r#"#!/bin/sh
set -eu
cat >/dev/null
durably step ok -- echo 1 >/dev/null
durably step boom -- sh -c 'durably log --level error "about to fail"; echo kaboom >&2; exit 3'
"#,
        ),
        ("quiet", "#!/bin/sh\ncat >/dev/null\n"),
        (
            "resumable",
            r#"#!/bin/sh
set -eu
cat >/dev/null
a=$(durably step a -- echo '{"from":"cli","n":1}')
if [ -n "${INTEROP_MARKER:-}" ]; then echo "$DURABLY_RUN_ID" > "$INTEROP_MARKER"; fi
if [ -n "${INTEROP_GO:-}" ]; then
  while [ ! -e "$INTEROP_GO" ]; do sleep 0.05; done
fi
b=$(durably step b -- echo '"cli-b"')
printf '{"a":%s,"b":%s,"by":"cli"}\n' "$a" "$b"
"#,
        ),
        (
            "slow",
            r#"#!/bin/sh
cat >/dev/null
if [ -n "${INTEROP_MARKER:-}" ]; then echo "$DURABLY_RUN_ID" > "$INTEROP_MARKER"; fi
if [ -n "${INTEROP_GO:-}" ]; then
  while [ ! -e "$INTEROP_GO" ]; do sleep 0.05; done
fi
echo '{"by":"cli"}'
"#,
        ),
        (
            "append",
            "#!/bin/sh\ncat >/dev/null\necho \"$DURABLY_RUN_ID cli\" >> \"$INTEROP_LOG\"\necho '{\"by\":\"cli\"}'\n",
        ),
        (
            // Holds the directory $INTEROP_EXCLUSIVE/KEY while it runs, like the library's job
            // `exclusive`: another run of the key running at the same moment fails (`overlap`).
            "exclusive",
            r#"#!/bin/sh
key=$(sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p')
lock="$INTEROP_EXCLUSIVE/$key"
if ! mkdir "$lock" 2>/dev/null; then
  echo "$DURABLY_RUN_ID overlap" >> "$INTEROP_LOG"
  exit 1
fi
sleep 0.02
rmdir "$lock"
echo "$DURABLY_RUN_ID cli" >> "$INTEROP_LOG"
echo '{"by":"cli"}'
"#,
        ),
    ];
    for (name, text) in scripts {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// Drops what differs between two executions of the same job by nature: ids, times, the
/// worker's name, and who ran it.
pub fn execution_shape(show: &Value) -> Value {
    let mut v = show.clone();
    for k in [
        "id",
        "createdAt",
        "updatedAt",
        "startedAt",
        "completedAt",
        "leaseOwner",
    ] {
        v[k] = json!("…");
    }
    v["output"]["by"] = json!("…");
    for part in ["steps", "logs"] {
        for item in v[part].as_array_mut().unwrap() {
            for k in ["id", "runId", "startedAt", "completedAt", "createdAt"] {
                if item.get(k).is_some() {
                    item[k] = json!("…");
                }
            }
        }
    }
    v
}
