//! Rendering: tables for people, JSON for programs. Nothing here touches the database.

use crate::model::{Log, Run, Step};
use crate::time;
use comfy_table::{presets, Cell, ContentArrangement, Table};
use serde_json::Value;
use std::io::{self, IsTerminal, Write};

/// Buffered, locked stdout. Callers propagate write errors so a broken pipe ends quietly.
pub fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// Buffered stdout for commands that change the database as they print (`rm`/`cancel` of many
/// ids): a closed pipe (`| head`) drops the rest of the output but never stops the work
/// halfway, which a propagated broken-pipe error would.
pub fn stdout_keep_going() -> io::BufWriter<KeepGoing<io::StdoutLock<'static>>> {
    io::BufWriter::with_capacity(
        64 * 1024,
        KeepGoing {
            inner: io::stdout().lock(),
            closed: false,
        },
    )
}

/// A writer that turns a broken pipe into "everything was written" from then on.
pub struct KeepGoing<W: Write> {
    inner: W,
    closed: bool,
}

impl<W: Write> Write for KeepGoing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.iter().map(Cell::new));
    if !io::stdout().is_terminal() {
        t.set_width(80);
    } else if std::env::var_os("NO_COLOR").is_none() {
        t.enforce_styling();
    }
    t
}

/// A table cell of at most `max` characters (the last one `…` when cut), control characters
/// shown as `?`. comfy-table wraps a long cell in time quadratic in its length (a 30 KB step
/// output took 7 s of CPU in `show`, a 40 KB job name 39 s in `ls`), and raw control
/// characters from a job name could drive the terminal; `--json` has the full text.
pub fn cell(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(4 * max));
    let long = text.chars().nth(max).is_some();
    for (i, c) in text.chars().enumerate() {
        if long && i + 1 == max {
            out.push('…');
            break;
        }
        out.push(match c {
            '\n' | '\t' | '\r' => ' ',
            c if c.is_control() => '?',
            c => c,
        });
    }
    out
}

fn labels_cell(run: &Run) -> String {
    let text = run
        .label_pairs()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    cell(&text, 24)
}

fn progress_cell(run: &Run) -> String {
    let Some(p) = run.progress.as_deref() else {
        return String::new();
    };
    let v: Value = serde_json::from_str(p).unwrap_or(Value::Null);
    match (v.get("current"), v.get("total")) {
        (Some(c), Some(t)) if !t.is_null() => format!("{c}/{t}"),
        (Some(c), _) => c.to_string(),
        _ => String::new(),
    }
}

/// "12s", "4m05s" since the run was created.
fn age_cell(run: &Run, now: i64) -> String {
    time::parse_ms(&run.created_at)
        .map(|c| time::short_duration(now - c))
        .unwrap_or_default()
}

/// Wall time from start to end (or to now while leased).
fn duration_cell(run: &Run, now: i64) -> String {
    let Some(start) = run.started_at.as_deref().and_then(time::parse_ms) else {
        return String::new();
    };
    let end = match run.completed_at.as_deref() {
        Some(c) => time::parse_ms(c).unwrap_or(now),
        None if run.status == "leased" => now,
        None => return String::new(),
    };
    time::short_duration(end - start)
}

/// The `ls` table; `short_ids[i]` is the unique id prefix shown for `runs[i]`.
pub fn runs_table(out: &mut impl Write, runs: &[Run], short_ids: &[String]) -> io::Result<()> {
    let now = time::now_ms();
    let mut t = table(&["ID", "JOB", "STATUS", "LABELS", "PROGRESS", "AGE", "TOOK"]);
    for (r, short) in runs.iter().zip(short_ids) {
        t.add_row(vec![
            short.clone(),
            cell(&r.job_name, 24),
            cell(&r.status, 12),
            labels_cell(r),
            progress_cell(r),
            age_cell(r, now),
            duration_cell(r, now),
        ]);
    }
    if runs.is_empty() {
        return Ok(());
    }
    write_table(out, &t)
}

/// A table without the padding comfy-table leaves at the end of each line (it makes every line
/// as wide as the table, which `grep`/`cut` users and diffs do not want).
fn write_table(out: &mut impl Write, t: &Table) -> io::Result<()> {
    for line in t.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// One JSON value on a line.
pub fn json_line(out: &mut impl Write, v: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, v)?;
    out.write_all(b"\n")
}

/// Pretty JSON.
pub fn json_pretty(out: &mut impl Write, v: &Value) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    out.write_all(b"\n")
}

/// A run for people: fields, then steps and logs.
pub fn run_details(
    out: &mut impl Write,
    run: &Run,
    steps: &[Step],
    logs: &[Log],
) -> io::Result<()> {
    let field = |out: &mut dyn Write, k: &str, v: &str| writeln!(out, "{k:<18}{v}");
    field(out, "id", &run.id)?;
    field(out, "job", &run.job_name)?;
    field(out, "status", &run.status)?;
    let labels = run
        .label_pairs()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    if !labels.is_empty() {
        field(out, "labels", &labels)?;
    }
    field(out, "input", &run.input)?;
    for (k, v) in [
        ("idempotency key", &run.idempotency_key),
        ("concurrency key", &run.concurrency_key),
        ("progress", &run.progress),
        ("output", &run.output),
        ("error", &run.error),
        ("lease owner", &run.lease_owner),
        ("lease expires", &run.lease_expires_at),
    ] {
        if let Some(v) = v {
            field(out, k, v)?;
        }
    }
    field(out, "lease generation", &run.lease_generation.to_string())?;
    field(out, "created", &run.created_at)?;
    if let Some(s) = &run.started_at {
        field(out, "started", s)?;
    }
    if let Some(c) = &run.completed_at {
        field(out, "completed", c)?;
    }
    field(out, "updated", &run.updated_at)?;
    if !steps.is_empty() {
        writeln!(out, "\nsteps")?;
        let mut t = table(&["#", "NAME", "STATUS", "OUTPUT / ERROR"]);
        for s in steps {
            let detail = s
                .error
                .clone()
                .or_else(|| s.output.clone())
                .unwrap_or_default();
            t.add_row(vec![
                s.index.to_string(),
                cell(&s.name, 40),
                cell(&s.status, 12),
                cell(&detail, 160),
            ]);
        }
        write_table(out, &t)?;
    }
    if !logs.is_empty() {
        writeln!(out, "\nlogs")?;
        for l in logs {
            log_line(out, l)?;
        }
    }
    Ok(())
}

/// One log for people: `time level [step] message data`.
pub fn log_line(out: &mut impl Write, l: &Log) -> io::Result<()> {
    let step = l
        .step_name
        .as_deref()
        .map(|s| format!(" [{s}]"))
        .unwrap_or_default();
    let data = l
        .data
        .as_deref()
        .map(|d| format!(" {d}"))
        .unwrap_or_default();
    writeln!(
        out,
        "{} {:<5}{step} {}{data}",
        l.created_at, l.level, l.message
    )
}

#[cfg(test)]
mod cell_tests {
    use super::cell;

    #[test]
    fn cells_are_clipped_and_sanitized() {
        assert_eq!(cell("short", 24), "short");
        assert_eq!(cell(&"x".repeat(24), 24), "x".repeat(24));
        assert_eq!(cell(&"x".repeat(25), 24), format!("{}…", "x".repeat(23)));
        assert_eq!(cell("a\nb\x1b[2J\u{7}", 24), "a b?[2J?");
        assert_eq!(cell(&"é".repeat(100_000), 5), "éééé…");
    }
}
