//! The one test harness: a temp dir with a database (a SQLite file in it, or a fresh
//! PostgreSQL database), the real binary run with `DURABLY_DB` removed and `--db` given,
//! backend-neutral helpers to look inside the database, and one bounded polling loop. Every
//! test module does `use crate::harness::*;`.
//!
//! - [`backend`]: SQLite or PostgreSQL, the `both!` macro that runs a test on each, the
//!   per-test PostgreSQL database, and the SQL helpers' plumbing.
//! - [`worker`]: handler scripts, background workers killed at the end, process checks.
//! - [`stress`]: the heavy-mode scale, a seeded rng, integrity and output checks, `Bg`.
//! - [`node`]: the real @coji/durably library in Node.js, one session per database file.
//! - [`bouncer`]: a private PgBouncer in transaction mode in front of the PostgreSQL server.
//! - [`proxy`]: a TCP proxy to the PostgreSQL server that black-holes, resets or heals chosen
//!   connections (network faults on 127.0.0.1).

#[macro_use]
pub mod backend;
pub mod bouncer;
pub mod node;
pub mod proxy;
pub mod stress;
pub mod worker;

pub use backend::*;
pub use bouncer::Bouncer;
pub use node::*;
pub use proxy::Proxy;
pub use stress::*;
pub use worker::*;

use rusqlite::Connection;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The durably binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_durably");

/// Upper bound for anything the tests wait for; reaching it fails the test.
pub const BOUND: Duration = Duration::from_secs(60);

/// What a finished process said.
#[derive(Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
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

    /// Asserts a failure the way SEMANTICS.md ("Exit codes", "Bad input") wants it: the exit code, nothing on stdout, and
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

/// A temp dir with an empty `handlers` directory inside it, and a database on the current
/// [`Backend`]: the path `db` in the temp dir (SQLite), or a fresh empty PostgreSQL database
/// (`pg`, dropped with the env). The schema is created only by a command ([`Env::init`] runs
/// `durably init`). Processes started with [`Env::spawn`] are killed, and library sessions under
/// the dir ended, when it drops.
pub struct Env {
    pub dir: tempfile::TempDir,
    /// The SQLite file (on PostgreSQL an unused path: tests about files are SQLite only).
    pub db: PathBuf,
    pub handlers: PathBuf,
    pub backend: Backend,
    /// The test's own session for the SQL helpers (declared before `pg`: it ends first).
    pg_client: std::sync::Mutex<Option<postgres::Client>>,
    pub pg: Option<PgDatabase>,
    children: std::sync::Mutex<Vec<u32>>,
}

impl Drop for Env {
    fn drop(&mut self) {
        let children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        for pid in children.iter() {
            // SAFETY: killing a process we started (already gone: harmless ESRCH).
            unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
        }
        end_sessions(self.dir.path());
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    /// An env on the current test's backend ([`Backend::current`]).
    pub fn new() -> Env {
        Env::on(Backend::current())
    }

    /// An env on `backend`.
    pub fn on(backend: Backend) -> Env {
        let pg = (backend == Backend::Postgres).then(PgDatabase::create);
        Env::with(backend, pg)
    }

    /// An env on a fresh database of the PostgreSQL server `server`.
    pub fn on_pg_server(server: String) -> Env {
        Env::with(Backend::Postgres, Some(PgDatabase::create_on(server)))
    }

    fn with(backend: Backend, pg: Option<PgDatabase>) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("durably.db");
        let handlers = dir.path().join("handlers");
        std::fs::create_dir(&handlers).expect("handlers dir");
        Env {
            dir,
            db,
            handlers,
            backend,
            pg_client: Default::default(),
            pg,
            children: Default::default(),
        }
    }

    /// The value of `--db`: the SQLite file's path or the PostgreSQL database's URL.
    pub fn db_arg(&self) -> String {
        match &self.pg {
            Some(pg) => pg.url.clone(),
            None => self.db.display().to_string(),
        }
    }

    /// Whether any command created the database: the SQLite file exists, or the PostgreSQL
    /// database has a `durably_*` table.
    pub fn created(&self) -> bool {
        match self.backend {
            Backend::Sqlite => self.db.exists(),
            Backend::Postgres => !self.tables().is_empty(),
        }
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
        match &self.pg {
            Some(pg) => c.arg("--db").arg(&pg.url),
            None => c.arg("--db").arg(&self.db),
        };
        c.args(args);
        c
    }

    /// Runs `durably --db DB ARGS...` with empty stdin.
    pub fn run(&self, args: &[&str]) -> Out {
        run_command(self.command(args), None)
    }

    /// Runs `durably --db DB ARGS...`, asserts exit 0.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args);
        assert_eq!(out.code, 0, "durably {args:?}: {out:?}");
        out
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

    /// A rusqlite connection to the SQLite database (it must exist), waiting up to 30 s on a
    /// lock. SQLite only: backend-neutral tests use [`Env::sql_rows`] and [`Env::exec`].
    #[track_caller]
    pub fn conn(&self) -> Connection {
        assert_eq!(
            self.backend,
            Backend::Sqlite,
            "conn() is the SQLite file's connection"
        );
        assert!(self.db.exists(), "{} does not exist", self.db.display());
        let c = Connection::open(&self.db).expect("open db");
        c.busy_timeout(Duration::from_secs(30))
            .expect("busy timeout");
        c
    }

    /// The rows of `sql` (one text both dialects accept; values inlined with [`lit`]), every
    /// value as text or None for NULL.
    #[track_caller]
    pub fn sql_rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match &self.pg {
            Some(_) => simple_rows(self.pg_simple(sql)),
            None => sqlite_rows(&self.conn(), sql),
        }
    }

    /// Runs `sql` on PostgreSQL through the env's cached session; a session that a server
    /// restart ended is replaced once.
    #[track_caller]
    fn pg_simple(&self, sql: &str) -> Vec<postgres::SimpleQueryMessage> {
        let pg = self.pg.as_ref().expect("a PostgreSQL env");
        let mut cached = self.pg_client.lock().unwrap_or_else(|e| e.into_inner());
        let mut retried = false;
        loop {
            let client = cached.get_or_insert_with(|| pg_connect(&pg.url));
            match client.simple_query(sql) {
                Ok(messages) => return messages,
                Err(_) if !retried && client.is_closed() => {
                    *cached = None;
                    retried = true;
                }
                Err(e) => panic!("{sql}: {e}"),
            }
        }
    }

    /// The first column of every row of `sql`, NULL as "NULL".
    #[track_caller]
    pub fn sql_column(&self, sql: &str) -> Vec<String> {
        self.sql_rows(sql)
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .next()
                    .flatten()
                    .unwrap_or_else(|| "NULL".into())
            })
            .collect()
    }

    /// The one value of `sql` (a query answering one row); None for NULL.
    #[track_caller]
    pub fn sql_value(&self, sql: &str) -> Option<String> {
        let rows = self.sql_rows(sql);
        assert_eq!(rows.len(), 1, "{sql}: expected one row, got {rows:?}");
        rows[0].first().cloned().flatten()
    }

    /// Runs one statement; returns the rows it changed.
    #[track_caller]
    pub fn exec(&self, sql: &str) -> u64 {
        match &self.pg {
            Some(_) => self
                .pg_simple(sql)
                .iter()
                .map(|m| match m {
                    postgres::SimpleQueryMessage::CommandComplete(n) => *n,
                    _ => 0,
                })
                .sum(),
            None => self
                .conn()
                .execute(sql, [])
                .unwrap_or_else(|e| panic!("{sql}: {e}")) as u64,
        }
    }

    /// Runs several `;`-separated statements.
    #[track_caller]
    pub fn exec_batch(&self, sql: &str) {
        match &self.pg {
            Some(_) => {
                self.pg_simple(sql);
            }
            None => self
                .conn()
                .execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    /// Holds the write lock until the guard drops: an open `BEGIN IMMEDIATE` transaction on
    /// SQLite, an `EXCLUSIVE` lock on `durably_runs` (reads pass, writes wait) on PostgreSQL.
    #[track_caller]
    pub fn hold_write_lock(&self) -> WriteLock {
        match &self.pg {
            Some(pg) => {
                let mut c = pg_connect(&pg.url);
                c.batch_execute("BEGIN; LOCK TABLE durably_runs IN EXCLUSIVE MODE")
                    .expect("lock durably_runs");
                WriteLock::Postgres(c)
            }
            None => {
                let c = self.conn();
                c.execute_batch("BEGIN IMMEDIATE").expect("BEGIN IMMEDIATE");
                WriteLock::Sqlite(c)
            }
        }
    }

    /// The `durably_*` tables, sorted.
    pub fn tables(&self) -> Vec<String> {
        match self.backend {
            Backend::Sqlite => self.sql_column(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'durably\\_%' ESCAPE '\\' ORDER BY name",
            ),
            Backend::Postgres => self.sql_column(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'durably\\_%' ESCAPE '\\' ORDER BY table_name",
            ),
        }
    }

    /// Row counts of every `durably_*` table.
    pub fn counts(&self) -> BTreeMap<String, i64> {
        self.tables()
            .into_iter()
            .map(|t| {
                let n = self.count(&format!("SELECT count(*) FROM \"{t}\""));
                (t, n)
            })
            .collect()
    }

    /// The database file's bytes (and its -wal file's, if any). SQLite only.
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
        let n = self.exec(&format!(
            "UPDATE durably_runs SET status = {}, completed_at = {} WHERE id = {}",
            lit(status),
            lit_opt(completed_at),
            lit(id)
        ));
        assert_eq!(n, 1, "no run {id}");
    }
}

/// The binary with a clean environment and no `--db`: no `DURABLY_*` variables, HOME and
/// XDG_DATA_HOME in `home`, `T` set to `home` (handler scripts write there), and the binary's
/// directory first in PATH so that handlers can call `durably step`.
pub fn bare_command(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("DURABLY_DB")
        .env_remove("DURABLY_HANDLERS")
        .env_remove("DURABLY_RUN_ID")
        .env_remove("DURABLY_LEASE_GENERATION")
        .env_remove("RUST_BACKTRACE")
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("xdg"))
        .env("NO_COLOR", "1")
        .env("T", home)
        .env("PATH", path_with_bin());
    c
}

/// PATH with the directory of the binary under test in front.
pub fn path_with_bin() -> std::ffi::OsString {
    let mut paths: Vec<PathBuf> = Path::new(BIN)
        .parent()
        .map(Path::to_path_buf)
        .into_iter()
        .collect();
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).expect("PATH")
}

/// Polls `f` every 20 ms until it returns Some or `limit` passes (then None). A bound on
/// waiting, never a timing assertion: callers assert what came, not how fast.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `f` until it returns Some; panics after [`BOUND`].
#[track_caller]
pub fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    match poll(BOUND, f) {
        Some(v) => v,
        None => panic!("gave up waiting for {what}"),
    }
}

/// Whether process `pid`'s main thread is asleep in a system call that sleeps (`nanosleep`,
/// `clock_nanosleep`): a command that meets a lock (SQLite) or a full server (PostgreSQL)
/// sleeps between two tries, and a one-shot command sleeps nowhere else, so this is the sign
/// it is waiting.
pub fn asleep_in_a_wait(pid: u32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/syscall")) else {
        return false;
    };
    let number = text.split_whitespace().next().and_then(|n| n.parse().ok());
    number.is_some_and(|n: libc::c_long| n == libc::SYS_nanosleep || n == libc::SYS_clock_nanosleep)
}

/// Polls `cond` until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    poll(limit, || cond().then_some(())).is_some()
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

/// A write lock held by the test (see [`Env::hold_write_lock`]); rolled back on drop.
pub enum WriteLock {
    Sqlite(Connection),
    Postgres(postgres::Client),
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        // Ending the lock; a failure means the connection is gone, which ends it as well.
        let _ = match self {
            WriteLock::Sqlite(c) => c.execute_batch("ROLLBACK").map_err(|e| e.to_string()),
            WriteLock::Postgres(c) => c.batch_execute("ROLLBACK").map_err(|e| e.to_string()),
        };
    }
}

/// The time `ago` before now as durably writes timestamps: `YYYY-MM-DDTHH:MM:SS.sssZ`.
pub fn timestamp_ago(ago: Duration) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .saturating_sub(ago);
    let ms = now.as_millis() as i64;
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // The civil date of a day count since 1970-01-01 (Howard Hinnant's days_from_civil inverse).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// The ids of `durably ls --format ids` output.
pub fn ids(out: &Out) -> Vec<String> {
    out.stdout.lines().map(str::to_string).collect()
}

/// The keys of a run object (@coji/durably's `Run`, SEMANTICS.md "Compatibility"), sorted.
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
