//! The `ls` table: one line per run, laid out for the terminal it is printed on.
//!
//! Widths are terminal columns (East Asian wide characters count two), not characters. On a
//! pipe every cell is whole (up to [`super::text_cell_max`]) so `grep` and `cut` see every
//! run entire. On a terminal the line fits its width: ID, JOB, STATUS and AGE always stay;
//! first the columns that are empty on this page go, then LABELS, REASON and JOB are
//! shortened (each cut cell ends with `…`), then LABELS, PROGRESS, REASON and TOOK are
//! dropped in that order, and only a terminal too narrow even for the four kept columns gets
//! its lines cut.

use super::{age_cell, cell, color, duration_cell, labels_cell, paint, progress_cell};
use crate::model::command::Command;
use crate::model::{Run, Status};
use std::io::{self, Write};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Spaces between two columns.
const GAP: usize = 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Id,
    Job,
    Status,
    Labels,
    Progress,
    Age,
    Took,
    Reason,
}

const ORDER: [Col; 8] = [
    Col::Id,
    Col::Job,
    Col::Status,
    Col::Labels,
    Col::Progress,
    Col::Age,
    Col::Took,
    Col::Reason,
];
/// Never dropped.
const KEPT: [Col; 4] = [Col::Id, Col::Job, Col::Status, Col::Age];
/// Shortened before anything is dropped, down to this many columns each.
const SHRINK: [(Col, usize); 3] = [(Col::Labels, 12), (Col::Reason, 12), (Col::Job, 12)];
/// Dropped in this order when shortening is not enough.
const DROP: [Col; 4] = [Col::Labels, Col::Progress, Col::Reason, Col::Took];

impl Col {
    fn header(self) -> &'static str {
        match self {
            Col::Id => "ID",
            Col::Job => "JOB",
            Col::Status => "STATUS",
            Col::Labels => "LABELS",
            Col::Progress => "PROGRESS",
            Col::Age => "AGE",
            Col::Took => "TOOK",
            Col::Reason => "REASON",
        }
    }
}

/// Why a failed or cancelled run ended, short: `exit 3`, `SIGKILL`, `timeout 5m`, else the
/// first line of its error.
/// A held run's row (`scheduled`, `waiting`) carries its due time or the runs it waits on in
/// `error` (`cmd::ls` puts it there for the table only).
pub fn reason(run: &Run) -> String {
    let held = [crate::model::held::SCHEDULED, crate::model::held::WAITING];
    if held.contains(&run.status.as_str()) {
        return run.error.clone().unwrap_or_default();
    }
    if !(run.status == Status::Failed || run.status == Status::Cancelled) {
        return String::new();
    }
    let first = run
        .error
        .as_deref()
        .and_then(|e| e.lines().next())
        .unwrap_or_default();
    for who in ["handler ", "command "] {
        let Some(rest) = first.strip_prefix(who) else {
            continue;
        };
        if let Some(code) = rest.strip_prefix("exited with code ") {
            return format!("exit {code}");
        }
        if let Some(signal) = rest.strip_prefix("killed by signal ") {
            if let (Some(open), Some(close)) = (signal.find('('), signal.rfind(')')) {
                if open < close {
                    return signal[open + 1..close].to_string();
                }
            }
        }
        if let Some(after) = rest.strip_prefix("timed out after ") {
            return format!("timeout {after}");
        }
    }
    first.to_string()
}

/// A run's job, and for a command run its command line: `cmd: tar -czf x.tgz .`.
fn job_text(run: &Run) -> String {
    match Command::shown(&run.input) {
        Some(c) => format!("{}: {}", run.job_name, command_line(&c)),
        None => run.job_name.clone(),
    }
}

/// A command's words as a POSIX shell would read them back.
pub fn command_line(c: &Command) -> String {
    c.command
        .iter()
        .map(|w| super::shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The display width of text (escaped: no control characters left).
fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// `text` in at most `max` terminal columns, the last one `…` when cut.
fn clip(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// The columns shown and their widths for a terminal `line` columns wide (`None`: a pipe,
/// every column at its natural width).
fn layout(natural: &[usize; 8], empty: &[bool; 8], line: Option<usize>) -> Vec<(Col, usize)> {
    let mut cols: Vec<(Col, usize)> = ORDER.iter().map(|&c| (c, natural[c as usize])).collect();
    let Some(line) = line else { return cols };
    let total = |cols: &[(Col, usize)]| {
        cols.iter().map(|c| c.1).sum::<usize>() + GAP * cols.len().saturating_sub(1)
    };
    cols.retain(|(c, _)| KEPT.contains(c) || !empty[*c as usize]);
    for (col, floor) in SHRINK {
        let over = total(&cols).saturating_sub(line);
        if let Some(entry) = cols.iter_mut().find(|(c, _)| *c == col) {
            let floor = floor.max(col.header().len()).min(entry.1);
            entry.1 -= over.min(entry.1 - floor);
        }
    }
    for col in DROP {
        if total(&cols) <= line {
            break;
        }
        cols.retain(|(c, _)| *c != col);
    }
    // Room left after a drop goes back to the columns that were shortened.
    for (col, _) in SHRINK.iter().rev() {
        let room = line.saturating_sub(total(&cols));
        if let Some(entry) = cols.iter_mut().find(|(c, _)| c == col) {
            entry.1 += room.min(natural[*col as usize] - entry.1);
        }
    }
    // Too narrow for the kept columns at their width: the job name gives way, down to 3.
    let over = total(&cols).saturating_sub(line);
    if let Some(entry) = cols.iter_mut().find(|(c, _)| *c == Col::Job) {
        entry.1 -= over.min(entry.1.saturating_sub(3));
    }
    cols
}

/// The `ls` table; `short_ids[i]` is the unique id prefix shown for `runs[i]`; `line` the
/// terminal's width (`None` on a pipe).
pub fn write(
    out: &mut impl Write,
    runs: &[Run],
    short_ids: &[String],
    line: Option<usize>,
) -> io::Result<()> {
    let now = crate::time::now_ms();
    let max = super::text_cell_max(line);
    let rows: Vec<[String; 8]> = runs
        .iter()
        .zip(short_ids)
        .map(|(r, short)| {
            [
                cell(short, 40),
                cell(&job_text(r), max),
                cell(r.status.as_str(), 12),
                labels_cell(r, max),
                progress_cell(r),
                age_cell(r, now),
                duration_cell(r, now),
                cell(&reason(r), max),
            ]
        })
        .collect();
    let mut natural = ORDER.map(|c| width(c.header()));
    let mut empty = [true; 8];
    for row in &rows {
        for (i, text) in row.iter().enumerate() {
            natural[i] = natural[i].max(width(text));
            empty[i] &= text.is_empty();
        }
    }
    let cols = layout(&natural, &empty, line);
    let header: Vec<String> = cols.iter().map(|(c, _)| c.header().to_string()).collect();
    write_line(out, &cols, &header, None, line)?;
    for (row, run) in rows.iter().zip(runs) {
        let cells: Vec<String> = cols.iter().map(|(c, _)| row[*c as usize].clone()).collect();
        write_line(out, &cols, &cells, Some(run.status.as_str()), line)?;
    }
    Ok(())
}

/// One line: each cell clipped and padded to its column, the status painted, no trailing
/// spaces; cut to the terminal if even the kept columns do not fit.
fn write_line(
    out: &mut impl Write,
    cols: &[(Col, usize)],
    cells: &[String],
    status: Option<&str>,
    line: Option<usize>,
) -> io::Result<()> {
    let mut text = String::new();
    for (i, ((col, w), cell)) in cols.iter().zip(cells).enumerate() {
        if i > 0 {
            text.push_str(&" ".repeat(GAP));
        }
        let clipped = clip(cell, *w);
        let pad = w.saturating_sub(width(&clipped));
        match status {
            Some(s) if *col == Col::Status && color() => text.push_str(&paint(&clipped, s)),
            _ => text.push_str(&clipped),
        }
        text.push_str(&" ".repeat(pad));
    }
    let text = text.trim_end();
    match line {
        Some(w) => writeln!(out, "{}", super::fit(text, w)),
        None => writeln!(out, "{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_counts_terminal_columns() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        // Wide characters take two columns each.
        assert_eq!(clip("日本語ジョブ", 6), "日本…");
        assert_eq!(width(&clip("日本語ジョブ", 7)), 7);
    }

    #[test]
    fn the_four_kept_columns_survive_80_columns() {
        // ID 8, JOB 60, STATUS 9, LABELS 50, PROGRESS 8, AGE 5, TOOK 5, REASON 30.
        let natural = [8, 60, 9, 50, 8, 5, 5, 30];
        let cols = layout(&natural, &[false; 8], Some(80));
        let names: Vec<&str> = cols.iter().map(|(c, _)| c.header()).collect();
        for kept in ["ID", "JOB", "STATUS", "AGE"] {
            assert!(names.contains(&kept), "{names:?}");
        }
        let total: usize = cols.iter().map(|c| c.1).sum::<usize>() + GAP * (cols.len() - 1);
        assert!(total <= 80, "{total} {names:?}");
        // Empty columns go first; a pipe keeps everything at its natural width.
        let mut empty = [false; 8];
        empty[Col::Progress as usize] = true;
        let cols = layout(&[8, 10, 9, 6, 8, 5, 5, 6], &empty, Some(80));
        assert!(cols.iter().all(|(c, _)| *c != Col::Progress));
        assert_eq!(layout(&natural, &[true; 8], None).len(), 8);
    }
}
