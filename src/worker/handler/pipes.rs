//! A handler's pipes: the threads that feed its input to stdin and read stdout (kept, up to
//! [`MAX_OUTPUT`]) and stderr (passed on to the worker's, each line prefixed if asked, its
//! tail kept for a failed run's error, its lines kept as logs by [`StderrLogs`]). Every buffer
//! is bounded whatever the handler writes; a reader stops when its pipe closes, or when it is
//! abandoned and nothing more arrives.

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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

/// The tail of stderr kept for a failed run's error.
pub const STDERR_TAIL: usize = 4096;
/// A prefixed stderr line is written out in pieces of at most this many bytes.
pub const MAX_LINE: usize = 8 * 1024;
/// An input this small is written to the handler's stdin at once (POSIX's PIPE_BUF on Linux:
/// one page, the least a pipe holds).
const SMALL_INPUT: usize = 4096;
/// Stack of the threads that feed stdin and read stdout/stderr (they only copy bytes).
const PIPE_THREAD_STACK: usize = 256 * 1024;

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

/// The threads that copy a handler's stdout (kept up to [`MAX_OUTPUT`]; true: it overflowed)
/// and stderr (passed on, its tail kept).
pub(super) struct Readers {
    pub stdout: std::thread::JoinHandle<(Vec<u8>, bool)>,
    pub stderr: std::thread::JoinHandle<Vec<u8>>,
}

/// Starts the threads that feed the run's input to stdin and read stdout and stderr; each
/// reader sends on `done` when its pipe is closed.
pub(super) fn spawn_readers(
    shared: &Arc<ExecutorContext>,
    run: &Run,
    active: &Arc<ActiveRun>,
    child: process::Child,
    abandon: &Arc<AtomicBool>,
    done: mpsc::Sender<()>,
) -> io::Result<Readers> {
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
    let feeder = if input.len() <= SMALL_INPUT {
        let _ = stdin.write_all(&input);
        drop(stdin);
        Ok(None)
    } else {
        pipe_thread("durably-stdin", move || {
            let _ = stdin.write_all(&input);
        })
        .map(Some)
    };
    let prefix = shared
        .prefix_stderr
        .then(|| format!("[{}] ", crate::output::escape(&run.id)));
    let logs = |stream| {
        shared
            .stderr_logs
            .then(|| StderrLogs::new(Arc::clone(shared), Arc::clone(active), run, stream))
    };
    let stdout = {
        let abandon = Arc::clone(abandon);
        let done = done.clone();
        let file = child.stdout;
        // A command run's stdout is output for people, like stderr: passed on and kept as
        // logs, its tail kept for the error (its result is its exit code).
        let as_lines = command.then(|| (prefix.clone(), logs("stdout")));
        pipe_thread("durably-stdout", move || {
            let out = match as_lines {
                None => read_output(&file, &abandon),
                Some((prefix, logs)) => {
                    (pass_stderr(&file, &abandon, prefix.as_deref(), logs), false)
                }
            };
            let _ = done.send(());
            out
        })
    };
    let stderr = {
        let abandon = Arc::clone(abandon);
        let file = child.stderr;
        let logs = logs("stderr");
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
            logs.push(chunk);
        }
    });
    if let (Some(p), false) = (prefix, line.is_empty()) {
        line.push(b'\n');
        write_prefixed(p, &line);
    }
    if let Some(logs) = logs {
        logs.finish();
    }
    tail.into_bytes()
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
