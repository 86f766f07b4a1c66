//! Executing one claimed run: the handler process, its input and output, and the fenced write
//! of the result.

use super::lease::{Active, KillReason};
use super::process::{self, Exit, Program};
use super::Shared;
use crate::db;
use crate::model::Run;
use crate::store::lease as store;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Handler stdout beyond this fails the run.
pub const MAX_OUTPUT: usize = 16 * 1024 * 1024;
/// The tail of stderr kept for a failed run's error.
pub const STDERR_TAIL: usize = 4096;
/// `DURABLY_LABELS` is left out above this.
pub const MAX_LABELS_ENV: usize = 64 * 1024;
/// How long output pipes may stay open after the handler's group was killed (a process
/// that left the group may hold them).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How a run ended for this worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed,
    /// Cancelled while it ran: the handler was killed, nothing written.
    Cancelled,
    /// The lease was lost (expired, reclaimed): the handler was killed, nothing written.
    Lost,
    /// Forced shutdown: the handler was killed and the lease expired for another worker.
    Released,
}

/// Which program executes a run.
pub fn program_path(shared: &Shared, run: &Run) -> (PathBuf, Vec<String>) {
    match &shared.handler {
        super::Handler::Dir(dir) => (dir.join(&run.job_name), Vec::new()),
        super::Handler::Command { path, args } => (path.clone(), args.clone()),
    }
}

fn environment(shared: &Shared, run: &Run) -> Vec<(String, Vec<u8>)> {
    let mut env = shared.base_env.clone();
    env.push((
        "DURABLY_DB".into(),
        shared.db_abs.as_os_str().as_encoded_bytes().to_vec(),
    ));
    env.push(("DURABLY_RUN_ID".into(), run.id.clone().into_bytes()));
    env.push(("DURABLY_JOB".into(), run.job_name.clone().into_bytes()));
    env.push((
        "DURABLY_LEASE_GENERATION".into(),
        run.lease_generation.to_string().into_bytes(),
    ));
    if run.labels.len() <= MAX_LABELS_ENV {
        env.push(("DURABLY_LABELS".into(), run.labels.clone().into_bytes()));
    }
    env
}

/// Runs the handler for `run` (already claimed) and records the result, fenced.
pub fn execute(shared: &Shared, run: &Run, active: &Arc<Active>) -> Outcome {
    let (path, args) = program_path(shared, run);
    let spawned = Program::new(&path, &args, &environment(shared, run))
        .and_then(|p| process::spawn(&p, &shared.supervisor, active.spawn_deadline()));
    let child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let error = format!("cannot execute handler {}: {e}", path.display());
            return finish(shared, run, Err(error));
        }
    };
    active.set_pid(child.pid, shared.supervisor.link());
    let abandon = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel::<()>();

    let input = run.input.clone().into_bytes();
    let mut stdin = child.stdin;
    std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });

    let stdout = {
        let abandon = Arc::clone(&abandon);
        let done = done_tx.clone();
        let file = child.stdout;
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut overflow = false;
            pump(&file, &abandon, |chunk| {
                if out.len() + chunk.len() > MAX_OUTPUT {
                    overflow = true;
                } else {
                    out.extend_from_slice(chunk);
                }
            });
            let _ = done.send(());
            (out, overflow)
        })
    };
    let stderr = {
        let abandon = Arc::clone(&abandon);
        let done = done_tx;
        let file = child.stderr;
        let prefix = shared.prefix_stderr.then(|| format!("[{}] ", run.id));
        std::thread::spawn(move || {
            let mut tail: Vec<u8> = Vec::new();
            let mut line: Vec<u8> = Vec::new();
            pump(&file, &abandon, |chunk| {
                tail.extend_from_slice(chunk);
                if tail.len() > 2 * STDERR_TAIL {
                    tail.drain(..tail.len() - STDERR_TAIL);
                }
                match &prefix {
                    None => {
                        let _ = std::io::stderr().write_all(chunk);
                    }
                    Some(p) => {
                        for &b in chunk {
                            line.push(b);
                            if b == b'\n' {
                                write_prefixed(p, &line);
                                line.clear();
                            }
                        }
                    }
                }
            });
            if let (Some(p), false) = (&prefix, line.is_empty()) {
                line.push(b'\n');
                write_prefixed(p, &line);
            }
            let _ = done.send(());
            if tail.len() > STDERR_TAIL {
                tail.drain(..tail.len() - STDERR_TAIL);
            }
            tail
        })
    };

    let exit = process::wait_exit(child.pid);
    let killed = active.finish();
    shared.supervisor.forget(child.pid);
    process::reap(child.pid);

    for _ in 0..2 {
        if done_rx.recv_timeout(DRAIN_GRACE).is_err() {
            break;
        }
    }
    abandon.store(true, Ordering::SeqCst);
    let (out, overflow) = stdout.join().unwrap_or_default();
    let tail = stderr.join().unwrap_or_default();
    let tail = String::from_utf8_lossy(&tail).trim().to_string();
    let with_tail = |what: String| {
        if tail.is_empty() {
            what
        } else {
            format!("{what}\n{tail}")
        }
    };

    match killed {
        Some(KillReason::LeaseLost) | Some(KillReason::LeaseDeadline) => {
            return lost_outcome(shared, run);
        }
        Some(KillReason::Shutdown) => {
            let _ = write(shared, |tx, now| {
                store::expire(tx, &run.id, run.lease_generation, now)
            });
            return Outcome::Released;
        }
        Some(KillReason::Timeout) => {
            let after = humantime::format_duration(shared.timeout.unwrap_or_default());
            return finish(
                shared,
                run,
                Err(with_tail(format!("handler timed out after {after}"))),
            );
        }
        None => {}
    }
    let result = match exit {
        Err(e) => Err(with_tail(format!("cannot wait for handler: {e}"))),
        Ok(Exit::Code(0)) if overflow => Err(format!(
            "handler output exceeds {} MiB",
            MAX_OUTPUT / 1024 / 1024
        )),
        Ok(Exit::Code(0)) => Ok(output_json(&out)),
        Ok(Exit::Code(code)) => Err(with_tail(format!("handler exited with code {code}"))),
        Ok(Exit::Signal(sig)) => Err(with_tail(format!(
            "handler killed by signal {sig} ({})",
            process::signal_name(sig)
        ))),
    };
    finish(shared, run, result)
}

fn write_prefixed(prefix: &str, line: &[u8]) {
    let mut buf = Vec::with_capacity(prefix.len() + line.len());
    buf.extend_from_slice(prefix.as_bytes());
    buf.extend_from_slice(line);
    let _ = std::io::stderr().write_all(&buf);
}

/// Reads `file` until EOF, or until `abandon` is set and nothing more arrives.
fn pump(file: &File, abandon: &AtomicBool, mut sink: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut reader = file;
    loop {
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, owned by this frame.
        let ready = unsafe { libc::poll(&mut pfd, 1, 100) };
        if ready <= 0 {
            // Timeout (or EINTR): nothing to read yet.
            if abandon.load(Ordering::SeqCst) {
                return;
            }
            continue;
        }
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => sink(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// A handler's stdout as stored output: JSON if it parses, else the text (one trailing newline
/// trimmed, invalid UTF-8 replaced) as a JSON string; empty → NULL.
pub fn output_json(stdout: &[u8]) -> Option<String> {
    if let Ok(text) = std::str::from_utf8(stdout) {
        if let Ok(raw) = serde_json::from_str::<&serde_json::value::RawValue>(text) {
            return Some(raw.get().to_string());
        }
    }
    let text = String::from_utf8_lossy(stdout);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    if text.is_empty() {
        return None;
    }
    Some(serde_json::Value::String(text.to_string()).to_string())
}

/// A fenced write in a `BEGIN IMMEDIATE` transaction on the shared connection; `now` is read
/// after the transaction began.
fn write(
    shared: &Shared,
    f: impl FnOnce(&rusqlite::Connection, &str) -> anyhow::Result<bool>,
) -> anyhow::Result<bool> {
    let mut conn = shared.conn.lock().unwrap_or_else(|e| e.into_inner());
    db::write(&mut conn, &shared.opts.path, |tx| {
        let now = crate::time::now();
        f(tx, &now)
    })
}

/// Records the result; a refused fence means the run is no longer ours.
fn finish(shared: &Shared, run: &Run, result: Result<Option<String>, String>) -> Outcome {
    let (id, generation) = (&run.id, run.lease_generation);
    let written = match &result {
        Ok(output) => write(shared, |tx, now| {
            store::complete(tx, id, generation, output.as_deref(), now)
        }),
        Err(error) => write(shared, |tx, now| {
            store::fail(tx, id, generation, error, now)
        }),
    };
    match written {
        Ok(true) if result.is_ok() => Outcome::Completed,
        Ok(true) => {
            if let Err(e) = &result {
                let first = e.lines().next().unwrap_or_default();
                note!("run {id} failed: {first}");
            }
            Outcome::Failed
        }
        Ok(false) => lost_outcome(shared, run),
        Err(e) => {
            note!("cannot record the result of run {id}: {e:#}");
            Outcome::Lost
        }
    }
}

fn lost_outcome(shared: &Shared, run: &Run) -> Outcome {
    let status = {
        let conn = shared.conn.lock().unwrap_or_else(|e| e.into_inner());
        store::status_of(&conn, &run.id).ok().flatten()
    };
    match status {
        Some((s, _)) if s == "cancelled" => {
            note!("run {} was cancelled; its handler was stopped", run.id);
            Outcome::Cancelled
        }
        _ => {
            note!(
                "lost the lease of run {}; its handler was stopped and nothing was written",
                run.id
            );
            Outcome::Lost
        }
    }
}

#[cfg(test)]
mod tests {
    use super::output_json;

    #[test]
    fn output_shapes() {
        assert_eq!(output_json(b"").as_deref(), None);
        assert_eq!(output_json(b"\n").as_deref(), None);
        assert_eq!(output_json(b"{\"a\": 1}\n").as_deref(), Some("{\"a\": 1}"));
        assert_eq!(
            output_json(b"12345678901234567890123").as_deref(),
            Some("12345678901234567890123")
        );
        assert_eq!(output_json(b"hello\n").as_deref(), Some("\"hello\""));
        assert_eq!(output_json(b"a\nb\n\n").as_deref(), Some("\"a\\nb\\n\""));
        assert_eq!(output_json(b"\xff\n").as_deref(), Some("\"\u{fffd}\""));
    }
}
