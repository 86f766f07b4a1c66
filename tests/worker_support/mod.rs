//! Harness for the worker tests: a temp dir with a database and a handler directory, the real
//! binary (with its directory first in PATH so handlers can call `durably step`), processes
//! that are always killed at the end, and bounded waits (a bound, never a timing assertion).
#![allow(dead_code)]

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_durably");

/// Upper bound for anything the tests wait for; reaching it fails the test.
pub const BOUND: Duration = Duration::from_secs(60);

pub struct Env {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub handlers: PathBuf,
    children: std::cell::RefCell<Vec<u32>>,
}

impl Drop for Env {
    fn drop(&mut self) {
        for pid in self.children.borrow().iter() {
            // SAFETY: killing a process we started (already gone: harmless ESRCH).
            unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
        }
    }
}

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

fn path_with_bin() -> std::ffi::OsString {
    let bin_dir = Path::new(BIN).parent().unwrap().to_path_buf();
    let mut paths = vec![bin_dir];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("runs.db");
        let handlers = dir.path().join("handlers");
        std::fs::create_dir(&handlers).unwrap();
        let env = Env {
            dir,
            db,
            handlers,
            children: Default::default(),
        };
        env.ok(&["init"]);
        env
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The command for `durably ARGS` on this database.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.env_remove("DURABLY_DB")
            .env_remove("DURABLY_HANDLERS")
            .env_remove("DURABLY_RUN_ID")
            .env_remove("DURABLY_LEASE_GENERATION")
            .env("PATH", path_with_bin())
            .env("T", self.dir.path())
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.cmd(args).output().unwrap().into()
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args);
        assert_eq!(out.code, 0, "durably {args:?}: {out:?}");
        out
    }

    /// Enqueues a run of `job`; returns its id.
    pub fn enqueue(&self, job: &str, extra: &[&str]) -> String {
        let mut args = vec!["enqueue", "--job", job];
        args.extend_from_slice(extra);
        self.ok(&args).stdout.trim().to_string()
    }

    /// Writes an executable `#!/bin/sh` handler for `job`.
    pub fn handler(&self, job: &str, body: &str) -> PathBuf {
        let path = self.handlers.join(job);
        write_script(&path, body);
        path
    }

    /// Starts `durably work ARGS` in the background (killed when the test ends).
    pub fn spawn(&self, args: &[&str]) -> Child {
        let mut c = self.cmd(args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = c.spawn().unwrap();
        self.children.borrow_mut().push(child.id());
        child
    }

    pub fn conn(&self) -> Connection {
        let c = Connection::open(&self.db).unwrap();
        c.busy_timeout(Duration::from_secs(30)).unwrap();
        c
    }

    pub fn status(&self, id: &str) -> String {
        self.field(id, "status").unwrap()
    }

    pub fn field(&self, id: &str, column: &str) -> Option<String> {
        self.conn()
            .query_row(
                &format!("SELECT CAST({column} AS TEXT) FROM durably_runs WHERE id = ?1"),
                [id],
                |r| r.get(0),
            )
            .unwrap()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Reads a pid a handler wrote to a file (waits for the file).
    pub fn pid_file(&self, name: &str) -> i32 {
        let p = self.path(name);
        wait_for(&format!("{name} to appear"), || {
            std::fs::read_to_string(&p)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
        })
    }
}

pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Polls `f` until it returns Some; panics after [`BOUND`].
#[track_caller]
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < BOUND, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

#[track_caller]
pub fn wait_dead(pid: i32) {
    wait_for(&format!("process {pid} to die"), || {
        (!alive(pid)).then_some(())
    });
}

/// Waits for a child with the bound; kills it and panics when it overstays.
#[track_caller]
pub fn finish(mut child: Child) -> Out {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap().into();
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let out: Out = child.wait_with_output().unwrap().into();
            panic!("worker did not finish: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn signal(child: &Child, sig: i32) {
    // SAFETY: signalling a process we started.
    unsafe { libc::kill(child.id() as i32, sig) };
}
