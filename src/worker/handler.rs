//! Executing one claimed run: the handler process, its input and output, and the fenced write
//! of the result.

use super::lease::{ActiveRun, KillReason};
use super::process::{self, Exit, Program};
use super::ExecutorContext;
use crate::handler_channel::Channel;
use crate::handler_output::{output_json, signal_name, MAX_OUTPUT};
use crate::model::Run;
use crate::store::{Fence, NewLog, Store};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::io;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

/// The tail of stderr kept for a failed run's error.
pub const STDERR_TAIL: usize = 4096;
/// `DURABLY_LABELS` is left out above this.
pub const MAX_LABELS_ENV: usize = 64 * 1024;
/// A prefixed stderr line is written out in pieces of at most this many bytes.
pub const MAX_LINE: usize = 8 * 1024;
/// A run keeps at most this many of its handler's stderr lines as logs...
pub const MAX_LOG_LINES: usize = 1000;
/// ...and at most this many bytes of them; what comes after is counted in one last line.
pub const MAX_LOG_BYTES: usize = 256 * 1024;
/// A stderr line is kept up to this many bytes (the rest is counted in its `data`).
pub const MAX_LOG_LINE: usize = 4096;
/// Stderr lines are written as logs in batches: at least this often while lines wait...
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// ...or as soon as this many wait.
const FLUSH_LINES: usize = 100;
/// Stack of the threads that feed stdin and read stdout/stderr (they only copy bytes).
const PIPE_THREAD_STACK: usize = 256 * 1024;
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
    /// The worker could not start the handler for reasons of its own (descriptors, memory,
    /// processes, threads): the lease was ended so the run can be claimed again at once.
    GivenBack,
    /// The supervisor process is gone: nothing may be started; the run was given back.
    SupervisorGone,
}

/// Which program executes a run.
pub fn program_path(shared: &ExecutorContext, run: &Run) -> (PathBuf, Vec<String>) {
    match &shared.handler {
        super::Handler::Dir(dir) => (dir.join(&run.job_name), Vec::new()),
        super::Handler::Command { path, args } => (path.clone(), args.clone()),
    }
}

fn environment(shared: &ExecutorContext, run: &Run) -> Vec<(String, Vec<u8>)> {
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
    // The claim's timestamp (the run's updated_at as claimed): `durably step` warns when a
    // step it replays was completed at or after it, i.e. within this execution.
    env.push((
        "DURABLY_CLAIMED_AT".into(),
        run.updated_at.clone().into_bytes(),
    ));
    if run.labels.len() <= MAX_LABELS_ENV {
        env.push(("DURABLY_LABELS".into(), run.labels.clone().into_bytes()));
    }
    env
}

/// Whether a failure to start the handler is the handler's own (a missing or non-executable
/// file, a bad `#!` line, an input or environment the OS refuses), so the run fails; any other
/// error is the worker's environment and the run is given back.
fn is_handlers_fault(e: &io::Error) -> bool {
    match e.raw_os_error() {
        None => e.kind() != io::ErrorKind::BrokenPipe,
        Some(errno) => matches!(
            errno,
            libc::ENOENT
                | libc::EACCES
                | libc::ENOEXEC
                | libc::ENOTDIR
                | libc::EISDIR
                | libc::ELOOP
                | libc::EPERM
                | libc::ETXTBSY
                | libc::E2BIG
                | libc::ENAMETOOLONG
                | libc::ELIBBAD
        ),
    }
}

fn is_supervisor_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe || e.raw_os_error() == Some(libc::EPIPE)
}

/// A thread for copying a pipe, with a small stack.
fn pipe_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(PIPE_THREAD_STACK)
        .spawn(f)
}

thread_local! {
    /// Whether this thread's last [`write`] was tried a second time after a lost connection.
    static RETRIED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The first line of the error of the run this executor thread just failed (each run has
    /// its own executor thread), for the `work -v` line.
    static FAILED_WITH: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs the handler for `run` (already claimed) and records the result, fenced; with
/// `work -v`, says so in one line when it starts and one when it ends.
pub fn execute(shared: &Arc<ExecutorContext>, run: &Run, active: &Arc<ActiveRun>) -> Outcome {
    let started = Instant::now();
    let (id, job) = (&run.id, crate::output::escape(&run.job_name));
    if shared.verbose {
        note!("claimed {id} {job}");
    }
    FAILED_WITH.with(|f| f.borrow_mut().take());
    let outcome = execute_quietly(shared, run, active);
    if shared.verbose {
        let took = format!("{:.1}s", started.elapsed().as_secs_f64());
        match outcome {
            Outcome::Completed => note!("completed {id} {job} in {took}"),
            Outcome::Failed => {
                let error = FAILED_WITH
                    .with(|f| f.borrow_mut().take())
                    .unwrap_or_default();
                note!(
                    "failed {id} {job} in {took}: {}",
                    crate::output::escape(&error)
                );
            }
            Outcome::Cancelled => note!("cancelled {id} {job} in {took}"),
            Outcome::Lost => note!("lost {id} {job} in {took}"),
            Outcome::Released => note!("released {id} {job} in {took}"),
            Outcome::GivenBack | Outcome::SupervisorGone => {
                note!("given back {id} {job} in {took}")
            }
        }
    }
    outcome
}

fn execute_quietly(shared: &Arc<ExecutorContext>, run: &Run, active: &Arc<ActiveRun>) -> Outcome {
    // The execution's private directory (trouble reports, step reservations), removed when
    // this function returns, after the handler and its pipes are done.
    let channel = Channel::new();
    let child = match start_handler(shared, run, active, channel.as_ref()) {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    active.set_pid(child.pid, shared.supervisor.link());
    let pid = child.pid;
    let abandon = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let readers = match spawn_readers(shared, run, active, child, &abandon, done_tx) {
        Ok(r) => r,
        Err(e) => {
            // No thread to copy a pipe: stop the handler before it blocks on it, and hand
            // the run back (the worker is short of memory or threads, not the run at fault).
            abandon.store(true, Ordering::SeqCst);
            process::kill_group(pid);
            let _ = process::wait_exit(pid);
            active.finish();
            shared.supervisor.forget(pid);
            process::reap(pid);
            give_back(shared, run, active, &format!("cannot start a thread: {e}"));
            return Outcome::GivenBack;
        }
    };
    let ended = wait_and_collect(shared, active, pid, readers, &done_rx, &abandon);
    if ended.killed.is_none() && !matches!(ended.exit, Ok(Exit::Code(0))) {
        if let Some(line) = channel.as_ref().and_then(Channel::reported) {
            // The handler stopped on the database's trouble, not its own: the run goes back.
            let why = format!("the handler ended after the database's trouble ({line})");
            give_back(shared, run, active, &why);
            return Outcome::GivenBack;
        }
    }
    outcome_of(shared, run, active, ended)
}

/// Starts the handler process; when it cannot be started, the run is failed or given back
/// and the outcome returned instead.
fn start_handler(
    shared: &ExecutorContext,
    run: &Run,
    active: &ActiveRun,
    channel: Option<&Channel>,
) -> Result<process::Child, Outcome> {
    let (path, args) = program_path(shared, run);
    let mut env = environment(shared, run);
    env.extend(channel.map(Channel::env));
    let program = match Program::new(&path, &args, &env) {
        Ok(p) => p,
        Err(e) => {
            let error = format!("cannot execute handler {}: {e}", path.display());
            return Err(finish(shared, run, active, Err(error)));
        }
    };
    match process::spawn(&program, &shared.supervisor, active.spawn_deadline()) {
        Ok(c) => Ok(c),
        Err(e) if is_supervisor_gone(&e) || !shared.supervisor.is_alive() => {
            give_back(shared, run, active, "the handler supervisor is gone");
            Err(Outcome::SupervisorGone)
        }
        Err(e) if !is_handlers_fault(&e) => {
            let why = format!("cannot start handler {}: {e}", path.display());
            give_back(shared, run, active, &why);
            Err(Outcome::GivenBack)
        }
        Err(e) => {
            let error = format!("cannot execute handler {}: {e}", path.display());
            Err(finish(shared, run, active, Err(error)))
        }
    }
}

/// The threads that copy a handler's stdout (kept up to [`MAX_OUTPUT`]; true: it overflowed)
/// and stderr (passed on, its tail kept).
struct Readers {
    stdout: std::thread::JoinHandle<(Vec<u8>, bool)>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
}

/// Starts the threads that feed the run's input to stdin and read stdout and stderr; each
/// reader sends on `done` when its pipe is closed.
fn spawn_readers(
    shared: &Arc<ExecutorContext>,
    run: &Run,
    active: &Arc<ActiveRun>,
    child: process::Child,
    abandon: &Arc<AtomicBool>,
    done: mpsc::Sender<()>,
) -> io::Result<Readers> {
    let input = run.input.clone().into_bytes();
    let mut stdin = child.stdin;
    let feeder = pipe_thread("durably-stdin", move || {
        let _ = stdin.write_all(&input);
    });
    let stdout = {
        let abandon = Arc::clone(abandon);
        let done = done.clone();
        let file = child.stdout;
        pipe_thread("durably-stdout", move || {
            let out = read_output(&file, &abandon);
            let _ = done.send(());
            out
        })
    };
    let stderr = {
        let abandon = Arc::clone(abandon);
        let file = child.stderr;
        let prefix = shared
            .prefix_stderr
            .then(|| format!("[{}] ", crate::output::escape(&run.id)));
        let logs = shared.stderr_logs.then(|| StderrLogs {
            shared: Arc::clone(shared),
            active: Arc::clone(active),
            fence: Fence {
                run_id: run.id.clone(),
                generation: run.lease_generation,
            },
            lines: LogLines::default(),
            flushed_at: Instant::now(),
            stopped: false,
            reported: false,
        });
        pipe_thread("durably-stderr", move || {
            let tail = pass_stderr(&file, &abandon, prefix.as_deref(), logs);
            let _ = done.send(());
            tail
        })
    };
    match (feeder, stdout, stderr) {
        (Ok(_), Ok(stdout), Ok(stderr)) => Ok(Readers { stdout, stderr }),
        (feeder, stdout, stderr) => Err([feeder.err(), stdout.err(), stderr.err()]
            .into_iter()
            .flatten()
            .next()
            .unwrap_or_else(|| io::Error::other("no thread"))),
    }
}

/// Stdout up to [`MAX_OUTPUT`] bytes, and whether there was more.
fn read_output(file: &File, abandon: &AtomicBool) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut overflow = false;
    pump(file, abandon, |chunk| {
        if out.len() + chunk.len() > MAX_OUTPUT {
            overflow = true;
        } else {
            out.extend_from_slice(chunk);
        }
    });
    (out, overflow)
}

/// Passes stderr on to ours (each line with `prefix`, if any), keeps its lines as the run's
/// logs (with `logs`), and returns its tail.
fn pass_stderr(
    file: &File,
    abandon: &AtomicBool,
    prefix: Option<&str>,
    mut logs: Option<StderrLogs>,
) -> Vec<u8> {
    let mut tail = Tail::default();
    let mut line: Vec<u8> = Vec::new();
    // An empty chunk is pump's tick while nothing arrives: only the logs' timer uses it.
    pump(file, abandon, |chunk| {
        if !chunk.is_empty() {
            tail.push(chunk);
            match prefix {
                None => {
                    let _ = std::io::stderr().write_all(chunk);
                }
                Some(p) => prefix_lines(p, &mut line, chunk),
            }
        }
        if let Some(logs) = logs.as_mut() {
            logs.lines.push(chunk);
            if logs.lines.due(logs.flushed_at) {
                logs.flush();
            }
        }
    });
    if let (Some(p), false) = (prefix, line.is_empty()) {
        line.push(b'\n');
        write_prefixed(p, &line);
    }
    if let Some(mut logs) = logs {
        logs.lines.finish();
        logs.flush();
    }
    tail.into_bytes()
}

/// A handler's stderr, kept as its run's logs: the reader thread collects lines and writes
/// them in batches, each batch one short fenced transaction taken between reads (never while
/// waiting on the pipe), so a crash loses at most the lines of the last [`FLUSH_EVERY`].
struct StderrLogs {
    shared: Arc<ExecutorContext>,
    active: Arc<ActiveRun>,
    fence: Fence,
    lines: LogLines,
    flushed_at: Instant,
    /// The lease is lost: nothing more is written.
    stopped: bool,
    /// A failed write was reported (once per run, not at every retry).
    reported: bool,
}

impl StderrLogs {
    /// Writes the waiting lines. A refused fence stops the logging (the run is no longer
    /// ours); an error keeps the lines for the next attempt.
    fn flush(&mut self) {
        self.flushed_at = Instant::now();
        if self.stopped || self.lines.pending.is_empty() {
            self.lines.pending.clear();
            return;
        }
        let logs: Vec<(&str, NewLog)> = self
            .lines
            .pending
            .iter()
            .map(|(message, data)| {
                let log = NewLog {
                    step_name: None,
                    level: data.level,
                    message,
                    data: Some(&data.json),
                };
                (data.at.as_str(), log)
            })
            .collect();
        let fence = &self.fence;
        match write(&self.shared, &self.active, |store| {
            store.append_logs(fence, &logs)
        }) {
            Ok(true) => self.lines.pending.clear(),
            Ok(false) => self.stopped = true,
            Err(e) if e.is::<DeadlinePassed>() => self.stopped = true,
            Err(e) if !self.reported => {
                self.reported = true;
                note!(
                    "cannot keep stderr lines of run {} as logs (trying again): {e:#}",
                    self.fence.run_id
                );
            }
            Err(_) => {}
        }
    }
}

/// How a kept stderr line is stored besides its message.
#[derive(Debug)]
struct LineData {
    level: &'static str,
    json: String,
    /// When the line was read: its created_at.
    at: String,
}

/// Stderr split into lines, bounded: [`MAX_LOG_LINES`] lines of at most [`MAX_LOG_LINE`]
/// bytes, [`MAX_LOG_BYTES`] in all, then only counted. Lines are stored at level `info`
/// (stderr carries a program's progress as much as its errors), with
/// `{"stream":"stderr"}` as data (`"cut_bytes":N` when the line was cut); the count of what
/// was not kept is one last line at level `warn`.
#[derive(Default)]
struct LogLines {
    /// The line being read, up to [`MAX_LOG_LINE`] bytes.
    line: Vec<u8>,
    /// Bytes of the line being read past [`MAX_LOG_LINE`].
    cut: usize,
    /// Lines read and not yet written.
    pending: Vec<(String, LineData)>,
    kept_lines: usize,
    kept_bytes: usize,
    dropped_lines: usize,
    dropped_bytes: usize,
}

impl LogLines {
    fn push(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let end = chunk.iter().position(|&b| b == b'\n');
            let part = &chunk[..end.unwrap_or(chunk.len())];
            let room = MAX_LOG_LINE - self.line.len();
            self.line.extend_from_slice(&part[..part.len().min(room)]);
            self.cut += part.len().saturating_sub(room);
            match end {
                Some(i) => {
                    self.end_line();
                    chunk = &chunk[i + 1..];
                }
                None => return,
            }
        }
    }

    /// Ends the line being read: kept while the bounds allow, else counted.
    fn end_line(&mut self) {
        if self.line.last() == Some(&b'\r') && self.cut == 0 {
            self.line.pop();
        }
        let size = self.line.len();
        if self.kept_lines < MAX_LOG_LINES && self.kept_bytes + size <= MAX_LOG_BYTES {
            self.kept_lines += 1;
            self.kept_bytes += size;
            let message = String::from_utf8_lossy(&self.line).into_owned();
            let json = if self.cut > 0 {
                format!("{{\"stream\":\"stderr\",\"cut_bytes\":{}}}", self.cut)
            } else {
                "{\"stream\":\"stderr\"}".to_string()
            };
            let level = "info";
            let at = crate::time::now();
            self.pending.push((message, LineData { level, json, at }));
        } else {
            self.dropped_lines += 1;
            self.dropped_bytes += size + self.cut;
        }
        self.line.clear();
        self.cut = 0;
    }

    /// Whether the waiting lines are to be written now.
    fn due(&self, flushed_at: Instant) -> bool {
        self.pending.len() >= FLUSH_LINES
            || (!self.pending.is_empty() && flushed_at.elapsed() >= FLUSH_EVERY)
    }

    /// Ends a last line without a newline and adds the count of what was not kept.
    fn finish(&mut self) {
        if !self.line.is_empty() || self.cut > 0 {
            self.end_line();
        }
        if self.dropped_lines > 0 {
            let message = format!(
                "durably: {} more stderr lines ({} bytes) were not kept (at most {MAX_LOG_LINES} lines and {} KiB are)",
                self.dropped_lines,
                self.dropped_bytes,
                MAX_LOG_BYTES / 1024
            );
            let json = format!(
                "{{\"stream\":\"stderr\",\"dropped_lines\":{},\"dropped_bytes\":{}}}",
                self.dropped_lines, self.dropped_bytes
            );
            self.pending.push((
                message,
                LineData {
                    level: "warn",
                    json,
                    at: crate::time::now(),
                },
            ));
        }
    }
}

/// How a handler ended, as the worker saw it.
struct Ended {
    exit: io::Result<Exit>,
    /// Why the worker killed it, if it did.
    killed: Option<KillReason>,
    out: Vec<u8>,
    overflow: bool,
    /// The end of its stderr, trimmed.
    tail: String,
}

impl Ended {
    /// `what`, followed by the stderr tail on the next line if there is one.
    fn with_tail(&self, what: String) -> String {
        if self.tail.is_empty() {
            what
        } else {
            format!("{what}\n{}", self.tail)
        }
    }
}

/// Waits for the handler to exit, unregisters and reaps it, then gives its pipes
/// [`DRAIN_GRACE`] to close before the readers are abandoned and joined.
fn wait_and_collect(
    shared: &ExecutorContext,
    active: &ActiveRun,
    pid: libc::pid_t,
    readers: Readers,
    done: &mpsc::Receiver<()>,
    abandon: &AtomicBool,
) -> Ended {
    let exit = process::wait_exit(pid);
    let killed = active.finish();
    shared.supervisor.forget(pid);
    process::reap(pid);
    for _ in 0..2 {
        if done.recv_timeout(DRAIN_GRACE).is_err() {
            break;
        }
    }
    abandon.store(true, Ordering::SeqCst);
    let (out, overflow) = readers.stdout.join().unwrap_or_default();
    let tail = readers.stderr.join().unwrap_or_default();
    let tail = String::from_utf8_lossy(&tail).trim().to_string();
    Ended {
        exit,
        killed,
        out,
        overflow,
        tail,
    }
}

/// Turns how the handler ended into the run's result, and records it (fenced).
fn outcome_of(
    shared: &ExecutorContext,
    run: &Run,
    active: &ActiveRun,
    mut ended: Ended,
) -> Outcome {
    match ended.killed {
        Some(KillReason::LeaseLost) => return lost_outcome(shared, run, false),
        Some(KillReason::LeaseDeadline) => return deadline_outcome(shared, run),
        // The worker said why once; nothing is written for the run.
        Some(KillReason::Abandoned) => return Outcome::Lost,
        Some(KillReason::Shutdown) => {
            let _ = write(shared, active, |store| {
                store.expire(&run.id, run.lease_generation)
            });
            return Outcome::Released;
        }
        Some(KillReason::Timeout) => {
            let after = humantime::format_duration(shared.timeout.unwrap_or_default());
            let error = ended.with_tail(format!("handler timed out after {after}"));
            return finish(shared, run, active, Err(error));
        }
        None => {}
    }
    // A child that died of SIGPIPE while the supervisor is gone most likely failed to
    // register with it before it could execute the handler: not the run's fault.
    if matches!(ended.exit, Ok(Exit::Signal(libc::SIGPIPE))) && !shared.supervisor.is_alive() {
        give_back(shared, run, active, "the handler supervisor is gone");
        return Outcome::SupervisorGone;
    }
    let result = match &ended.exit {
        Err(e) => Err(ended.with_tail(format!("cannot wait for handler: {e}"))),
        Ok(Exit::Code(0)) if ended.overflow => Err(format!(
            "handler output exceeds {} MiB",
            MAX_OUTPUT / 1024 / 1024
        )),
        // The output buffer becomes the stored text (no copy of a large output).
        Ok(Exit::Code(0)) => Ok(output_json(std::mem::take(&mut ended.out))),
        Ok(Exit::Code(code)) => Err(ended.with_tail(format!("handler exited with code {code}"))),
        Ok(Exit::Signal(sig)) => Err(ended.with_tail(format!(
            "handler killed by signal {sig} ({})",
            signal_name(*sig)
        ))),
    };
    finish(shared, run, active, result)
}

/// The last [`STDERR_TAIL`] bytes of stderr, in a buffer that never exceeds twice that.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        if chunk.len() >= STDERR_TAIL {
            self.0.clear();
            self.0
                .extend_from_slice(&chunk[chunk.len() - STDERR_TAIL..]);
            return;
        }
        if self.0.len() + chunk.len() > 2 * STDERR_TAIL {
            self.0.drain(..self.0.len() - STDERR_TAIL);
        }
        self.0.extend_from_slice(chunk);
    }

    fn into_bytes(mut self) -> Vec<u8> {
        if self.0.len() > STDERR_TAIL {
            self.0.drain(..self.0.len() - STDERR_TAIL);
        }
        self.0
    }
}

/// Writes the complete lines of `chunk` with `prefix`, keeping a partial line in `line`; a
/// line longer than [`MAX_LINE`] is written out in pieces, each ended by a newline, so the
/// buffer stays bounded whatever the handler writes.
fn prefix_lines(prefix: &str, line: &mut Vec<u8>, mut chunk: &[u8]) {
    while !chunk.is_empty() {
        let room = MAX_LINE - line.len();
        let take = chunk.len().min(room);
        match chunk[..take].iter().position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&chunk[..=i]);
                chunk = &chunk[i + 1..];
            }
            None => {
                line.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                if line.len() < MAX_LINE {
                    return;
                }
                line.push(b'\n');
            }
        }
        write_prefixed(prefix, line);
        line.clear();
    }
}

fn write_prefixed(prefix: &str, line: &[u8]) {
    let mut buf = Vec::with_capacity(prefix.len() + line.len());
    buf.extend_from_slice(prefix.as_bytes());
    buf.extend_from_slice(line);
    let _ = std::io::stderr().write_all(&buf);
}

/// Reads `file` until EOF, or until `abandon` is set and nothing more arrives; `sink` also
/// gets an empty chunk whenever nothing arrived for a while (100 ms).
fn pump(file: &File, abandon: &AtomicBool, mut sink: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut reader = file;
    loop {
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::from(100u8)), Ok(n) if n > 0) {
            // Timeout (or EINTR): nothing to read yet.
            if abandon.load(Ordering::SeqCst) {
                return;
            }
            sink(&[]);
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

/// The shared store, waited for until `deadline` at most (None: the deadline passed).
fn lock_before(store: &Mutex<Store>, deadline: Option<Instant>) -> Option<MutexGuard<'_, Store>> {
    let Some(deadline) = deadline else {
        return Some(store.lock().unwrap_or_else(|e| e.into_inner()));
    };
    loop {
        match store.try_lock() {
            Ok(g) => return Some(g),
            Err(TryLockError::Poisoned(e)) => return Some(e.into_inner()),
            Err(TryLockError::WouldBlock) if Instant::now() >= deadline => return None,
            Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// A write that could not be made before the run's local lease deadline: nothing was written.
#[derive(Debug)]
struct DeadlinePassed;

impl std::fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the lease ran out")
    }
}

impl std::error::Error for DeadlinePassed {}

/// A fenced write of the shared store (one store method). Waiting for the store and for the
/// database lock ends at the run's local lease deadline (an error [`DeadlinePassed`], nothing
/// written).
///
/// A lost connection (a PostgreSQL server restarted, the backend terminated) is reopened and
/// the write tried once more before the deadline. The write is fenced, so one that committed
/// before the connection broke is refused the second time, never doubled.
fn write(
    shared: &ExecutorContext,
    active: &ActiveRun,
    f: impl Fn(&mut Store) -> anyhow::Result<bool>,
) -> anyhow::Result<bool> {
    RETRIED.set(false);
    let deadline = active.deadline();
    let Some(mut store) = lock_before(&shared.store, deadline) else {
        return Err(DeadlinePassed.into());
    };
    let mut written = store.before_deadline(deadline, &f);
    let lost = written.as_ref().is_err_and(|e| store.is_lost_after(e));
    if lost && deadline.is_none_or(|d| Instant::now() < d) {
        match shared.reopen(&mut store) {
            Ok(_) => {
                RETRIED.set(true);
                written = store.before_deadline(deadline, &f);
            }
            Err(e) => note!("cannot reconnect: {e:#}"),
        }
    }
    match written {
        Err(_) if deadline.is_some_and(|d| Instant::now() >= d) => Err(DeadlinePassed.into()),
        other => other,
    }
}

/// Ends the lease of a run this worker could not start, so that it can be claimed at once.
pub fn give_back(shared: &ExecutorContext, run: &Run, active: &ActiveRun, why: &str) {
    let id = &run.id;
    match write(shared, active, |store| {
        store.expire(id, run.lease_generation)
    }) {
        Ok(_) => note!("{why}; run {id} was given back to the queue"),
        Err(e) => note!("{why}; run {id} stays leased until its lease runs out ({e:#})"),
    }
}

/// Records the result; a refused fence means the run is no longer ours.
fn finish(
    shared: &ExecutorContext,
    run: &Run,
    active: &ActiveRun,
    result: Result<Option<String>, String>,
) -> Outcome {
    let (id, generation) = (&run.id, run.lease_generation);
    let written = match &result {
        Ok(output) => write(shared, active, |store| {
            store.complete(id, generation, output.as_deref())
        }),
        Err(error) => write(shared, active, |store| store.fail(id, generation, error)),
    };
    match written {
        Ok(true) => recorded(id, &result),
        // Refused: the run is no longer ours, unless this was the retry after a lost
        // connection and the first attempt committed before the connection broke.
        Ok(false) if RETRIED.get() => {
            let status = status_of(shared, run);
            let wanted = if result.is_ok() {
                "completed"
            } else {
                "failed"
            };
            if is_recorded(status.as_ref(), generation, wanted) {
                recorded(id, &result)
            } else {
                say_lost(run, status, true)
            }
        }
        Ok(false) => lost_outcome(shared, run, true),
        Err(e) if e.is::<DeadlinePassed>() => {
            note!("could not record the result of run {id} before its lease ran out; nothing was written");
            Outcome::Lost
        }
        Err(e) => {
            note!("cannot record the result of run {id}: {e:#}; nothing was written");
            Outcome::Lost
        }
    }
}

/// The outcome of a result this worker recorded; a failure is said in one line.
fn recorded(id: &str, result: &Result<Option<String>, String>) -> Outcome {
    match result {
        Ok(_) => Outcome::Completed,
        Err(e) => {
            let first = e.lines().next().unwrap_or_default();
            note!("run {id} failed: {first}");
            FAILED_WITH.with(|f| *f.borrow_mut() = Some(first.to_string()));
            Outcome::Failed
        }
    }
}

/// Whether a run's status and lease generation say that this worker's result write (of
/// `generation`, making the run `wanted`) committed before a retry was refused: the run is
/// `wanted` with that generation. A claim by anyone else raises the generation; the retry
/// ran before the local deadline, so no one released the lease in between.
fn is_recorded(status: Option<&(String, i64)>, generation: i64, wanted: &str) -> bool {
    matches!(status, Some((s, g)) if s == wanted && *g == generation)
}

/// The status and lease generation of `run` as the database has it now (None: deleted or
/// unreadable); a lost connection is reopened first.
fn status_of(shared: &ExecutorContext, run: &Run) -> Option<(String, i64)> {
    let mut store = shared.store.lock().unwrap_or_else(|e| e.into_inner());
    if store.is_lost() {
        let _ = shared.reconnect(&mut store);
    }
    // Only to say what happened: not worth more than a moment when the database does not answer.
    store
        .with_ceiling(Duration::from_secs(2), |s| s.status_of(&run.id))
        .ok()
        .flatten()
}

/// Says why a run is no longer ours. `finished`: the handler ended on its own (its result
/// was refused), rather than being stopped by the worker.
fn lost_outcome(shared: &ExecutorContext, run: &Run, finished: bool) -> Outcome {
    let status = status_of(shared, run);
    say_lost(run, status, finished)
}

/// Says that a handler was stopped at its lease deadline: no renewal succeeded in time (the
/// database was locked or unreachable, the worker starved or stopped), which is not the same
/// as a lease someone else took: a run that is still leased to this generation (or cannot be
/// read) is said to have hit its deadline; one cancelled or taken over meanwhile as such.
fn deadline_outcome(shared: &ExecutorContext, run: &Run) -> Outcome {
    let status = status_of(shared, run);
    let still_ours = match &status {
        Some((s, g)) => s == "leased" && *g == run.lease_generation,
        None => true,
    };
    if !still_ours {
        return say_lost(run, status, false);
    }
    note!(
        "the lease of run {} could not be renewed before its deadline; its handler was stopped and nothing was written",
        crate::output::escape(&run.id)
    );
    Outcome::Lost
}

/// Says why a run is no longer ours, from its `status` as read after the fact.
fn say_lost(run: &Run, status: Option<(String, i64)>, finished: bool) -> Outcome {
    let id = &run.id;
    match status {
        Some((s, _)) if s == "cancelled" => {
            if finished {
                note!("run {id} was cancelled before its result was recorded; nothing was written");
            } else {
                note!("run {id} was cancelled; its handler was stopped");
            }
            Outcome::Cancelled
        }
        Some((s, g)) if finished && s == "leased" && g == run.lease_generation => {
            note!("could not record the result of run {id} before its lease ran out; nothing was written");
            Outcome::Lost
        }
        _ if finished => {
            note!("lost the lease of run {id} after its handler finished; nothing was written");
            Outcome::Lost
        }
        _ => {
            note!("lost the lease of run {id}; its handler was stopped and nothing was written");
            Outcome::Lost
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        is_recorded, prefix_lines, LogLines, Tail, MAX_LINE, MAX_LOG_LINE, MAX_LOG_LINES,
        STDERR_TAIL,
    };

    #[test]
    fn a_refused_result_counts_as_recorded_only_when_terminal_with_our_generation() {
        let row = |s: &str, g: i64| Some((s.to_string(), g));
        assert!(is_recorded(row("completed", 3).as_ref(), 3, "completed"));
        assert!(is_recorded(row("failed", 3).as_ref(), 3, "failed"));
        // Not the result this worker wrote.
        assert!(!is_recorded(row("failed", 3).as_ref(), 3, "completed"));
        assert!(!is_recorded(row("completed", 3).as_ref(), 3, "failed"));
        // Claimed again by someone else since, whatever its status now.
        assert!(!is_recorded(row("completed", 4).as_ref(), 3, "completed"));
        assert!(!is_recorded(row("leased", 4).as_ref(), 3, "completed"));
        // Still ours but not written (the lease ran out), cancelled, or gone.
        assert!(!is_recorded(row("leased", 3).as_ref(), 3, "completed"));
        assert!(!is_recorded(row("pending", 3).as_ref(), 3, "completed"));
        assert!(!is_recorded(row("cancelled", 3).as_ref(), 3, "completed"));
        assert!(!is_recorded(None, 3, "completed"));
    }

    #[test]
    fn stderr_buffers_stay_bounded() {
        let mut tail = Tail::default();
        let mut line = Vec::new();
        for size in [1, 100, STDERR_TAIL - 1, STDERR_TAIL, 3 * STDERR_TAIL, 7] {
            let chunk = vec![b'x'; size];
            tail.push(&chunk);
            assert!(tail.0.len() <= 2 * STDERR_TAIL);
            prefix_lines("", &mut line, &chunk);
            assert!(line.len() < MAX_LINE);
        }
        assert_eq!(tail.into_bytes().len(), STDERR_TAIL);
    }

    #[test]
    fn log_lines_stay_bounded_and_count_the_rest() {
        let mut lines = LogLines::default();
        // A line far longer than the cut, in pieces, buffers at most MAX_LOG_LINE bytes.
        for _ in 0..10 {
            lines.push(&vec![b'y'; 3 * MAX_LOG_LINE]);
            assert!(lines.line.len() <= MAX_LOG_LINE);
        }
        lines.push(b"\nshort\r\nlast");
        for _ in 0..2 * MAX_LOG_LINES {
            lines.push(b"more\n");
        }
        lines.finish();
        assert_eq!(lines.pending.len(), MAX_LOG_LINES + 1);
        assert_eq!(lines.pending[0].0.len(), MAX_LOG_LINE);
        assert!(lines.pending[0].1.json.contains("\"cut_bytes\""));
        assert_eq!(lines.pending[1].0, "short");
        assert_eq!(lines.pending[2].0, "lastmore");
        let (message, data) = &lines.pending[MAX_LOG_LINES];
        assert_eq!(data.level, "warn");
        assert!(
            message.contains(&format!("{} more stderr lines", MAX_LOG_LINES + 2)),
            "{message}"
        );
    }
}
