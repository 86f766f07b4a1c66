//! Worker helpers: handler scripts in the env's handler directory, `durably work` in the
//! background (killed when the test ends), process checks, and bounded waits for children.

use super::{poll, wait_for, Env, Out, BOUND};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

impl Env {
    /// Enqueues a run of `job` with `extra` flags; returns its id.
    #[track_caller]
    pub fn enqueue_job(&self, job: &str, extra: &[&str]) -> String {
        let mut args = vec!["enqueue", "--job", job];
        args.extend_from_slice(extra);
        self.ok(&args).stdout.trim().to_string()
    }

    /// Writes an executable `#!/bin/sh` handler for `job`.
    pub fn handler(&self, job: &str, body: &str) -> PathBuf {
        let path = self.handlers.join(job);
        script(&path, &format!("{body}\n"));
        path
    }

    /// Starts `durably --db DB ARGS` in the background with piped output (killed when the
    /// env drops).
    pub fn spawn(&self, args: &[&str]) -> Child {
        let mut c = self.command(args);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = c.spawn().expect("spawn durably");
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child.id());
        child
    }

    /// Starts `durably --db DB ARGS` in the background with its stderr written to `stderr`
    /// (to be read while it runs) and stdout piped (killed when the env drops).
    pub fn spawn_stderr_to(&self, args: &[&str], stderr: &Path) -> Child {
        let mut c = self.command(args);
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr).expect("stderr file"));
        let child = c.spawn().expect("spawn durably");
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child.id());
        child
    }

    /// The status of run `id`.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.field(id, "status")
            .unwrap_or_else(|| panic!("run {id} has no status"))
    }

    /// A column of run `id` as text (None for NULL).
    #[track_caller]
    pub fn field(&self, id: &str, column: &str) -> Option<String> {
        self.sql_value(&format!(
            "SELECT CAST({column} AS TEXT) FROM durably_runs WHERE id = {}",
            super::lit(id)
        ))
    }

    /// Runs `sql` returning one integer.
    #[track_caller]
    pub fn count(&self, sql: &str) -> i64 {
        let v = self.sql_value(sql);
        v.as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{sql}: not an integer: {v:?}"))
    }

    /// Reads a pid a handler wrote to a file (waits for the file).
    #[track_caller]
    pub fn pid_file(&self, name: &str) -> i32 {
        let p = self.path(name);
        wait_for(&format!("{name} to appear"), || {
            std::fs::read_to_string(&p)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
        })
    }
}

/// Writes an executable script (`#!/bin/sh` unless `body` has its own `#!`).
pub fn script(path: &Path, body: &str) {
    let text = if body.starts_with("#!") {
        body.to_string()
    } else {
        format!("#!/bin/sh\n{body}")
    };
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod script");
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the parenthesised command name, which may hold spaces.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// Waits (bounded) for a process to die.
#[track_caller]
pub fn wait_dead(pid: i32) {
    wait_for(&format!("process {pid} to die"), || {
        (!alive(pid)).then_some(())
    });
}

/// Waits for a child with the bound; kills it and panics when it overstays.
#[track_caller]
pub fn finish(mut child: Child) -> Out {
    let ended = poll(BOUND, || child.try_wait().expect("try_wait").map(|_| ()));
    if ended.is_none() {
        let _ = child.kill();
        let out: Out = child.wait_with_output().expect("wait").into();
        panic!("worker did not finish: {out:?}");
    }
    child.wait_with_output().expect("wait").into()
}

/// Sends a signal (`libc::SIGTERM`, …) to a child.
pub fn signal(child: &Child, sig: i32) {
    // SAFETY: signalling a process we started.
    unsafe { libc::kill(child.id() as i32, sig) };
}
