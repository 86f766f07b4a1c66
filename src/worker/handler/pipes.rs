//! A handler's pipes: its input fed to stdin, and stdout (kept, up to [`MAX_OUTPUT`]) and
//! stderr (passed on to the worker's, each line prefixed if asked, its tail kept for a failed
//! run's error, its lines kept as logs by [`StderrLogs`]) read by the executing thread itself,
//! in one poll loop that also notices the handler's exit: no thread a run (an input larger
//! than a pipe's first page still gets one to feed it). Every buffer is bounded whatever the
//! handler writes; the loop ends when both pipes have closed, or [`DRAIN_GRACE`] after the
//! handler exited (a process that left its group may hold them).

use super::stderr_logs::StderrLogs;
use crate::handler_output::MAX_OUTPUT;
use crate::model::Run;
use crate::worker::lease::ActiveRun;
use crate::worker::process;
use crate::worker::ExecutorContext;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The tail of stderr kept for a failed run's error.
pub const STDERR_TAIL: usize = 4096;
/// A prefixed stderr line is written out in pieces of at most this many bytes.
pub const MAX_LINE: usize = 8 * 1024;
/// An input this small is written to the handler's stdin at once (POSIX's PIPE_BUF on Linux:
/// one page, the least a pipe holds).
const SMALL_INPUT: usize = 4096;
/// Stack of the thread that feeds a larger input to stdin (it only copies bytes).
const FEEDER_STACK: usize = 256 * 1024;
/// How long the pipes may stay open after the handler exited (a process that left the group
/// may hold them).
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// The loop's tick: the logs' timer runs and the handler's exit is looked for at least this
/// often, whatever arrives.
const TICK: Duration = Duration::from_millis(100);

/// What the pipes gave once they closed, or were given up.
pub(super) struct Collected {
    /// Stdout up to [`MAX_OUTPUT`] bytes (a command run's: its tail, the rest went to the logs).
    pub out: Vec<u8>,
    /// Stdout had more than [`MAX_OUTPUT`] bytes.
    pub overflow: bool,
    /// The last [`STDERR_TAIL`] bytes of stderr.
    pub tail: Vec<u8>,
}

/// A handler's stdout and stderr, and what is done with each.
pub(super) struct Pipes {
    stdout: Option<File>,
    stderr: Option<File>,
    out: Stdout,
    err: Lines,
}

/// What becomes of stdout: the run's output, or (a command run's) lines like stderr's.
enum Stdout {
    Output { kept: Vec<u8>, overflow: bool },
    Lines(Box<Lines>),
}

/// Feeds the run's input to the handler's stdin and sets up the reading of stdout and stderr;
/// the caller then runs [`Pipes::collect`]. An error: no thread could be started to feed a
/// large input.
pub(super) fn open(
    shared: &Arc<ExecutorContext>,
    run: &Run,
    active: &Arc<ActiveRun>,
    child: process::Child,
) -> io::Result<Pipes> {
    // A command run's input is its command line, not something for it to read.
    let command = shared.is_command(run);
    let input = if command {
        Vec::new()
    } else {
        run.input.clone().into_bytes()
    };
    let mut stdin = child.stdin;
    // An input that fits in one page fits in a new pipe's buffer (a page at the least, even
    // past the user's pipe limits): written here without waiting, stdin then closed. A larger
    // one is fed by a thread, as the handler reads it.
    if input.len() <= SMALL_INPUT {
        let _ = stdin.write_all(&input);
        drop(stdin);
    } else {
        std::thread::Builder::new()
            .name("durably-stdin".into())
            .stack_size(FEEDER_STACK)
            .spawn(move || {
                let _ = stdin.write_all(&input);
            })?;
    }
    let prefix = shared
        .prefix_stderr
        .then(|| format!("[{}] ", crate::output::escape(&run.id)));
    let logs = |stream| {
        shared
            .stderr_logs
            .then(|| StderrLogs::new(Arc::clone(shared), Arc::clone(active), run, stream))
    };
    // A command run's stdout is output for people, like stderr: passed on and kept as logs,
    // its tail kept for the error (its result is its exit code).
    let out = if command {
        Stdout::Lines(Box::new(Lines::new(prefix.clone(), logs("stdout"))))
    } else {
        Stdout::Output {
            kept: Vec::new(),
            overflow: false,
        }
    };
    Ok(Pipes {
        stdout: Some(child.stdout),
        stderr: Some(child.stderr),
        out,
        err: Lines::new(prefix, logs("stderr")),
    })
}

impl Pipes {
    /// Reads both pipes until they close, looking for the exit of the handler `pid` at every
    /// [`TICK`] while they stay open; `exited` runs once the handler has exited (after the
    /// pipes closed, or while a process that left its group holds them), and its value is
    /// returned with what the pipes gave. Pipes still open [`DRAIN_GRACE`] after the exit are
    /// given up.
    pub fn collect<T>(mut self, pid: libc::pid_t, exited: impl FnOnce() -> T) -> (T, Collected) {
        let mut stage = Stage::Running(exited);
        let mut buf = vec![0u8; 32 * 1024];
        let mut ticked = Instant::now();
        loop {
            if self.stdout.is_none() && self.stderr.is_none() {
                break;
            }
            let wait = match &stage {
                Stage::Exited(_, at) => match DRAIN_GRACE.checked_sub(at.elapsed()) {
                    Some(left) => left.min(TICK),
                    None => break,
                },
                Stage::Running(_) => TICK,
            };
            let ready = self.poll(wait);
            for (which, readable) in [(0, ready[0]), (1, ready[1])] {
                if !readable {
                    continue;
                }
                let pipe = if which == 0 {
                    &mut self.stdout
                } else {
                    &mut self.stderr
                };
                let Some(mut file) = pipe.as_ref() else {
                    continue;
                };
                match file.read(&mut buf) {
                    Ok(0) => *pipe = None,
                    Ok(n) if which == 0 => self.out.push(&buf[..n]),
                    Ok(n) => self.err.push(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => *pipe = None,
                }
            }
            if ticked.elapsed() >= TICK {
                ticked = Instant::now();
                // An empty chunk is the tick: only the logs' timer uses it.
                self.out.push(&[]);
                self.err.push(&[]);
                if matches!(stage, Stage::Running(_)) && process::has_exited(pid) {
                    stage = stage.exit();
                }
            }
        }
        let value = stage.value();
        let (out, overflow) = match self.out {
            Stdout::Output { kept, overflow } => (kept, overflow),
            // A command run's stdout went to the logs; its tail is kept for the error.
            Stdout::Lines(lines) => (lines.finish(), false),
        };
        let tail = self.err.finish();
        (
            value,
            Collected {
                out,
                overflow,
                tail,
            },
        )
    }

    /// Waits up to `wait` for the open pipes; which of them (stdout, stderr) can be read
    /// (data, or their end).
    fn poll(&self, wait: Duration) -> [bool; 2] {
        let open: Vec<(usize, &File)> = [&self.stdout, &self.stderr]
            .into_iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (i, f)))
            .collect();
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|(_, f)| PollFd::new(f.as_fd(), PollFlags::POLLIN))
            .collect();
        let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
        let mut ready = [false; 2];
        // Nothing (a timeout, EINTR): nothing to read yet.
        if matches!(poll(&mut fds, timeout), Ok(n) if n > 0) {
            for ((i, _), fd) in open.iter().zip(&fds) {
                ready[*i] = fd.revents().is_some_and(|r| !r.is_empty());
            }
        }
        ready
    }
}

/// Whether the handler is still running (what to do once it exited, `F`), or has exited (what
/// that gave, `T`, and when it was seen).
enum Stage<F, T> {
    Running(F),
    Exited(T, Instant),
}

impl<F: FnOnce() -> T, T> Stage<F, T> {
    /// The handler has exited: what is to be done then is done (once).
    fn exit(self) -> Self {
        match self {
            Stage::Running(f) => Stage::Exited(f(), Instant::now()),
            exited => exited,
        }
    }

    /// What the exit gave, done now if it was not yet.
    fn value(self) -> T {
        match self {
            Stage::Running(f) => f(),
            Stage::Exited(value, _) => value,
        }
    }
}

impl Stdout {
    fn push(&mut self, chunk: &[u8]) {
        match self {
            Stdout::Output { kept, overflow } => {
                if kept.len() + chunk.len() > MAX_OUTPUT {
                    *overflow = true;
                } else {
                    kept.extend_from_slice(chunk);
                }
            }
            Stdout::Lines(lines) => lines.push(chunk),
        }
    }
}

/// Stderr (or a command run's stdout): passed on to ours (each line with `prefix`, if any),
/// its lines kept as the run's logs (with `logs`), its tail kept.
struct Lines {
    prefix: Option<String>,
    logs: Option<StderrLogs>,
    tail: Tail,
    /// The partial line waiting for its end, when prefixed.
    line: Vec<u8>,
}

impl Lines {
    fn new(prefix: Option<String>, logs: Option<StderrLogs>) -> Lines {
        Lines {
            prefix,
            logs,
            tail: Tail::default(),
            line: Vec::new(),
        }
    }

    /// Takes a chunk (an empty one: a tick while nothing arrives, for the logs' timer).
    fn push(&mut self, chunk: &[u8]) {
        if !chunk.is_empty() {
            self.tail.push(chunk);
            match &self.prefix {
                None => {
                    let _ = std::io::stderr().write_all(chunk);
                }
                Some(p) => prefix_lines(p, &mut self.line, chunk),
            }
        }
        if let Some(logs) = self.logs.as_mut() {
            logs.push(chunk);
        }
    }

    /// At the end: the last partial line written, the logs finished; the tail.
    fn finish(mut self) -> Vec<u8> {
        if let (Some(p), false) = (&self.prefix, self.line.is_empty()) {
            self.line.push(b'\n');
            write_prefixed(p, &self.line);
        }
        if let Some(logs) = self.logs {
            logs.finish();
        }
        self.tail.into_bytes()
    }
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

#[cfg(test)]
mod tests {
    use super::{prefix_lines, Tail, MAX_LINE, STDERR_TAIL};

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
}
