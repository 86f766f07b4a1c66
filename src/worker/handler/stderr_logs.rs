//! A handler's stderr kept as its run's logs: split into lines, bounded (so many lines, so
//! many bytes, each line cut at a length; the rest only counted), and written in batches, each
//! one short fenced transaction, by the thread that reads the pipe.

use super::record::{write, DeadlinePassed};
use crate::model::Run;
use crate::store::{Fence, Fenced, NewLog};
use crate::worker::lease::ActiveRun;
use crate::worker::ExecutorContext;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// A handler's stderr, kept as its run's logs: the reader thread collects lines and writes
/// them in batches, each batch one short fenced transaction taken between reads (never while
/// waiting on the pipe), so a crash loses at most the lines of the last [`FLUSH_EVERY`].
pub(super) struct StderrLogs {
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
    /// Logs of `stream` (`stderr`, or `stdout` for a command run) for `run`, written with its
    /// fence (its lease generation).
    pub fn new(
        shared: Arc<ExecutorContext>,
        active: Arc<ActiveRun>,
        run: &Run,
        stream: &'static str,
    ) -> StderrLogs {
        StderrLogs {
            shared,
            active,
            fence: Fence {
                run_id: run.id.clone(),
                generation: run.lease_generation,
            },
            lines: LogLines {
                stream,
                ..LogLines::default()
            },
            flushed_at: Instant::now(),
            stopped: false,
            reported: false,
        }
    }

    /// Takes a chunk of stderr (an empty one: a tick while nothing arrives) and writes the
    /// waiting lines when they are due.
    pub fn push(&mut self, chunk: &[u8]) {
        self.lines.push(chunk);
        if self.lines.due(self.flushed_at) {
            self.flush();
        }
    }

    /// At the end of stderr: writes what waits, with the count of what was not kept.
    pub fn finish(mut self) {
        self.lines.finish();
        self.flush();
    }

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
        })
        .result
        {
            Ok(Fenced::Done(())) => self.lines.pending.clear(),
            Ok(Fenced::LeaseLost) => self.stopped = true,
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
    /// `stderr`, or `stdout` for a command run: the `stream` of every line's data.
    stream: &'static str,
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
            let stream = self.stream;
            let json = if self.cut > 0 {
                format!("{{\"stream\":\"{stream}\",\"cut_bytes\":{}}}", self.cut)
            } else {
                format!("{{\"stream\":\"{stream}\"}}")
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
                "durably: {} more {} lines ({} bytes) were not kept (at most {MAX_LOG_LINES} lines and {} KiB are)",
                self.dropped_lines,
                self.stream,
                self.dropped_bytes,
                MAX_LOG_BYTES / 1024
            );
            let json = format!(
                "{{\"stream\":\"{}\",\"dropped_lines\":{},\"dropped_bytes\":{}}}",
                self.stream, self.dropped_lines, self.dropped_bytes
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

#[cfg(test)]
mod tests {
    use super::{LogLines, MAX_LOG_LINE, MAX_LOG_LINES};

    #[test]
    fn log_lines_stay_bounded_and_count_the_rest() {
        let mut lines = LogLines {
            stream: "stderr",
            ..LogLines::default()
        };
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
