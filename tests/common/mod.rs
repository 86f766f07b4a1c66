//! The shared test harness: a temp dir with a database path, the real binary run with
//! `DURABLY_DB` removed and `--db` given, and helpers to look inside the file with rusqlite.
//!
//! Every integration test file does `mod common;` and uses a subset, hence the `dead_code` allow.
#![allow(dead_code)]

use rusqlite::Connection;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The durably binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_durably");

/// What a finished process said.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts exit 0 and returns self.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        self
    }

    /// Asserts the exit code and returns self.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit {code}, got {self:#?}");
        self
    }

    /// Asserts a failure the way SPEC §3/§5 want it: the exit code, nothing on stdout, and
    /// stderr is exactly one line `durably: …` containing `needle` (case-insensitive), with
    /// no panic or backtrace.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) -> &Self {
        self.code(code);
        assert_one_error_line(&self.stderr, needle);
        assert_eq!(
            self.stdout, "",
            "stdout should be empty on error: {self:#?}"
        );
        self
    }

    /// stdout trimmed of its final newline.
    pub fn line(&self) -> &str {
        self.stdout.trim_end_matches('\n')
    }

    /// stdout parsed as one JSON value.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// Asserts that `stderr` is one line `durably: …` that contains `needle` (case-insensitive).
#[track_caller]
pub fn assert_one_error_line(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got {stderr:?}");
    let line = lines[0];
    assert!(line.starts_with("durably: "), "bad prefix: {line:?}");
    assert!(
        line.to_lowercase().contains(&needle.to_lowercase()),
        "{line:?} does not mention {needle:?}"
    );
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!stderr.contains(bad), "panic in {stderr:?}");
    }
}

/// A temp dir with a database path inside it. Nothing is created until a command does.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("durably.db");
        Env { dir, db }
    }

    /// An env whose database exists with the schema (`durably init`).
    pub fn init() -> Env {
        let env = Env::new();
        env.run(&["init"]).ok();
        env
    }

    /// A path inside the temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file in the temp dir and returns its path.
    pub fn file(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).expect("write fixture");
        p
    }

    /// `durably --db DB ARGS...` ready to run: `DURABLY_DB` removed, HOME and XDG_DATA_HOME
    /// pointed into the temp dir so a mistake can never touch the real default database.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = bare_command(self.dir.path());
        c.arg("--db").arg(&self.db).args(args);
        c
    }

    /// Runs `durably --db DB ARGS...` with empty stdin.
    pub fn run(&self, args: &[&str]) -> Out {
        run_command(self.command(args), None)
    }

    /// Runs `durably --db DB ARGS...` with `stdin` piped in.
    pub fn run_stdin(&self, args: &[&str], stdin: impl AsRef<[u8]>) -> Out {
        run_command(self.command(args), Some(stdin.as_ref()))
    }

    /// Enqueues a run with flags and returns its id.
    #[track_caller]
    pub fn enqueue(&self, args: &[&str]) -> String {
        let mut all = vec!["enqueue"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        out.ok();
        out.line().to_string()
    }

    /// A rusqlite connection to the database (it must exist).
    pub fn conn(&self) -> Connection {
        assert!(self.db.exists(), "{} does not exist", self.db.display());
        Connection::open(&self.db).expect("open db")
    }

    /// Row counts of every `durably_*` table.
    pub fn counts(&self) -> BTreeMap<String, i64> {
        counts(&self.conn())
    }

    /// The database file's bytes (and its -wal file's, if any).
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = std::fs::read(&self.db).expect("read db");
        let wal = PathBuf::from(format!("{}-wal", self.db.display()));
        if let Ok(w) = std::fs::read(wal) {
            b.extend(w);
        }
        b
    }

    /// Sets a run's status (and completed_at for terminal ones) directly, as a worker would.
    pub fn set_status(&self, id: &str, status: &str, completed_at: Option<&str>) {
        let n = self
            .conn()
            .execute(
                "UPDATE durably_runs SET status = ?2, completed_at = ?3 WHERE id = ?1",
                rusqlite::params![id, status, completed_at],
            )
            .expect("update status");
        assert_eq!(n, 1, "no run {id}");
    }
}

/// The binary with a clean environment (no `DURABLY_DB`, HOME in `home`), no `--db`.
pub fn bare_command(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("DURABLY_DB")
        .env_remove("DURABLY_HANDLERS")
        .env_remove("RUST_BACKTRACE")
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("xdg"))
        .env("NO_COLOR", "1");
    c
}

/// Runs a command to completion, feeding `stdin` (or an empty stdin).
pub fn run_command(mut c: Command, stdin: Option<&[u8]>) -> Out {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn durably");
    let mut pipe = child.stdin.take().expect("stdin");
    let data = stdin.unwrap_or_default().to_vec();
    // A writer thread: the child may exit before reading everything (a broken pipe is fine).
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait durably");
    let _ = writer.join();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Row counts of every `durably_*` table.
pub fn counts(conn: &Connection) -> BTreeMap<String, i64> {
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'durably\\_%' ESCAPE '\\' ORDER BY name",
        )
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .expect("list tables");
    names
        .into_iter()
        .map(|n| {
            let c: i64 = conn
                .query_row(&format!("SELECT count(*) FROM \"{n}\""), [], |r| r.get(0))
                .expect("count");
            (n, c)
        })
        .collect()
}

/// The ids of `durably ls --format ids` output.
pub fn ids(out: &Out) -> Vec<String> {
    out.stdout.lines().map(str::to_string).collect()
}

/// The keys of a run object (SPEC §4, @coji/durably's `Run`), sorted.
pub const RUN_FIELDS: [&str; 19] = [
    "completedAt",
    "completedStepCount",
    "concurrencyKey",
    "createdAt",
    "currentStepIndex",
    "error",
    "id",
    "idempotencyKey",
    "input",
    "jobName",
    "labels",
    "leaseExpiresAt",
    "leaseGeneration",
    "leaseOwner",
    "output",
    "progress",
    "startedAt",
    "status",
    "updatedAt",
];

/// The sorted keys of a JSON object.
pub fn sorted_keys(v: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    keys
}
