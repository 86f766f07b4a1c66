//! Helpers of the reliability suite (the `stress_*` modules): the heavy-mode switch, a seeded
//! random generator, handler scripts, background processes, and checks on the database file and
//! on the processes a test leaves behind.
//!
//! `DURABLY_STRESS=heavy` scales every count up (see RELIABILITY.md);
//! `DURABLY_STRESS_SEED=N` replays the random choices of an earlier run (each test prints its
//! seed).

use super::{alive, poll};
use rusqlite::Connection;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// True when `DURABLY_STRESS=heavy`.
pub fn heavy() -> bool {
    std::env::var("DURABLY_STRESS").is_ok_and(|v| v == "heavy")
}

/// `light` normally, `heavy` with `DURABLY_STRESS=heavy`.
pub fn scale(light: u64, heavy_count: u64) -> u64 {
    if heavy() {
        heavy_count
    } else {
        light
    }
}

/// xorshift64*: small, seeded, good enough to pick delays and keys.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `DURABLY_STRESS_SEED`, else from the clock; prints the seed so a failure can
    /// be replayed.
    pub fn new(test: &str) -> Rng {
        let seed = std::env::var("DURABLY_STRESS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{test}: DURABLY_STRESS_SEED={seed}");
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A random duration in `lo..hi` milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi.saturating_sub(lo).max(1)))
    }
}

/// `PRAGMA integrity_check` of the file, asserted `ok`.
#[track_caller]
pub fn assert_integrity(db: &Path) {
    let conn = Connection::open(db).expect("open db");
    let rows: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .expect("integrity_check");
    assert_eq!(
        rows,
        vec!["ok".to_string()],
        "integrity_check of {}",
        db.display()
    );
}

/// What must never appear in the output of any process of the suite.
pub const FORBIDDEN: [&str; 6] = [
    "database is locked",
    "SQLITE_BUSY",
    "database table is locked",
    "panicked",
    "stack backtrace",
    "RUST_BACKTRACE",
];

/// Asserts that `text` (stderr of some process) holds none of [`FORBIDDEN`].
#[track_caller]
pub fn assert_no_busy_or_panic(what: &str, text: &str) {
    for bad in FORBIDDEN {
        assert!(
            !text.to_lowercase().contains(&bad.to_lowercase()),
            "{what}: found {bad:?} in output:\n{}",
            tail(text, 4000)
        );
    }
}

/// The last `n` bytes of `text` (on a char boundary), for assertion messages.
pub fn tail(text: &str, n: usize) -> &str {
    let mut start = text.len().saturating_sub(n);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// A background process whose stdout and stderr go to files (pipes could fill up and stall it).
pub struct Bg {
    pub child: Child,
    pub name: String,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Bg {
    /// Spawns `cmd`, logging into `dir/name.out` and `dir/name.err`.
    pub fn spawn(mut cmd: Command, dir: &Path, name: &str) -> Bg {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        let child = cmd.spawn().expect("spawn");
        Bg {
            child,
            name: name.to_string(),
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a signal (`libc::SIGKILL`, …) to the process.
    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// Waits up to `limit` for the process to end; kills it (and fails) past that.
    #[track_caller]
    pub fn wait_max(&mut self, limit: Duration) -> std::process::ExitStatus {
        if let Some(st) = poll(limit, || self.child.try_wait().expect("try_wait")) {
            return st;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!(
            "{} did not end within {limit:?}; stderr:\n{}",
            self.name,
            tail(&self.err(), 4000)
        );
    }

    /// Whether it has ended (reaped if so).
    pub fn ended(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    pub fn out(&self) -> String {
        read_lossy(&self.stdout)
    }

    pub fn err(&self) -> String {
        read_lossy(&self.stderr)
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        // Never leave a process behind when a test fails half-way.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A file's content as text (empty when missing).
pub fn read_lossy(p: &Path) -> String {
    let mut b = Vec::new();
    if let Ok(mut f) = std::fs::File::open(p) {
        let _ = f.read_to_end(&mut b);
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Processes alive now whose environment holds `marker` (e.g. `STRESS_TAG=<temp dir>`):
/// handlers and their children inherit the worker's environment, whoever their parent is now.
pub fn processes_with_env(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let hit = env.split(|&b| b == 0).any(|var| var == marker.as_bytes());
        if hit && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// The process group of a process (field 5 of /proc/PID/stat).
pub fn pgid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// Peak resident memory (VmHWM) of a live process, in KiB.
pub fn peak_rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Runs `sql` returning one integer.
pub fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The state letter of a process (`T` when stopped), None when it is gone.
pub fn state_of(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Sends `signal` to `target` (a pid, or a negative process group) at a moment the worker
/// `pid` holds no lock on the database: stopped inside a transaction it would block every
/// other writer (and, on a rollback-journal file, readers' commits) for good. Returns once
/// the worker is stopped.
pub fn stop_outside_a_transaction(pid: i32, target: i32, signal: i32, db: &Path) {
    for _ in 0..200 {
        assert_eq!(unsafe { libc::kill(target, signal) }, 0);
        assert!(
            super::wait_until(Duration::from_secs(5), || state_of(pid) == Some('T')),
            "the worker did not stop on signal {signal}"
        );
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.busy_timeout(Duration::ZERO).unwrap();
        // EXCLUSIVE: on a rollback-journal file it also fails while the worker holds a
        // read lock.
        if conn.execute_batch("BEGIN EXCLUSIVE; ROLLBACK").is_ok() {
            return;
        }
        assert_eq!(unsafe { libc::kill(target, libc::SIGCONT) }, 0);
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("worker {pid} always held a database lock");
}
