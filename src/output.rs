//! Rendering: tables for people, JSON for programs. Nothing here touches the database.

use crate::model::{Log, Run, Status, Step};
use crate::time;
use comfy_table::{presets, Cell, CellAlignment, Color, ContentArrangement, Table};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

mod runs_table;

/// Whether statuses are coloured; set once from `--color` before any output.
static COLOR: AtomicBool = AtomicBool::new(false);

/// Decides and records whether statuses are coloured: `Some(on)` for `--color always|never`;
/// `None` (auto) colours when stdout is a terminal, unless `NO_COLOR` is set and not empty or
/// `TERM` is `dumb`; `CLICOLOR_FORCE` (set, not empty, not `0`) colours even into a pipe,
/// but `NO_COLOR` beats it.
pub fn set_color(choice: Option<bool>) {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let on = choice.unwrap_or_else(|| {
        if set("NO_COLOR") {
            false
        } else if set("CLICOLOR_FORCE") && std::env::var_os("CLICOLOR_FORCE").unwrap() != "0" {
            true
        } else {
            io::stdout().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    });
    COLOR.store(on, Ordering::Relaxed);
}

/// Whether times are shown in the local time zone (`--local`); set once before any output.
static LOCAL_TIME: AtomicBool = AtomicBool::new(false);

/// Records `--local`.
pub fn set_local_time(on: bool) {
    LOCAL_TIME.store(on, Ordering::Relaxed);
}

/// A stored time for people: as stored (UTC), or in the local time zone with `--local`.
pub fn when(stored: &str) -> Cow<'_, str> {
    if LOCAL_TIME.load(Ordering::Relaxed) {
        Cow::Owned(time::local_text(stored))
    } else {
        Cow::Borrowed(stored)
    }
}

/// Whether statuses are coloured (see [`set_color`]).
pub fn color() -> bool {
    COLOR.load(Ordering::Relaxed)
}

/// A status's colour: pending yellow, leased cyan, completed green, failed red, cancelled
/// grey; an unknown status none.
fn status_color(status: &str) -> Option<(Color, &'static str)> {
    match status.parse::<Status>().ok()? {
        Status::Pending => Some((Color::Yellow, "33")),
        Status::Leased => Some((Color::Cyan, "36")),
        Status::Completed => Some((Color::Green, "32")),
        Status::Failed => Some((Color::Red, "31")),
        Status::Cancelled => Some((Color::DarkGrey, "90")),
    }
}

/// Already-escaped text in a status's colour when [`color`] is on (`show`'s status line).
fn paint(text: &str, status: &str) -> String {
    match status_color(status) {
        Some((_, sgr)) if color() => format!("\x1b[{sgr}m{text}\x1b[0m"),
        _ => text.to_string(),
    }
}

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

/// A table that never wraps a cell: one line per row. [`write_table`] cuts its lines to the
/// terminal's width; on a pipe they are whole, so `durably ls | grep` sees every row entire.
fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.iter().map(Cell::new));
    // comfy-table styles only where told (status cells) and measures widths on the text
    // before styling; whether to style follows `--color`, not its own terminal check.
    if color() {
        // comfy-table colours through crossterm, which reads NO_COLOR itself (once, at its
        // first coloured cell) and then writes bare resets; `--color always` beats NO_COLOR,
        // so this rendering process drops it. Only commands that print tables get here.
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            std::env::remove_var("NO_COLOR");
        }
        t.enforce_styling().style_text_only();
    } else {
        t.force_no_tty();
    }
    t
}

/// The width table lines are cut to: none when stdout is not a terminal; else `COLUMNS` when
/// it is a positive number, else the terminal's own width, else 80 (a width of 0 is unknown).
fn line_width() -> Option<usize> {
    let stdout = io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return Some(n);
    }
    let cols = stdout_window_size().map_or(0, |size| size.ws_col);
    Some(if cols > 0 { usize::from(cols) } else { 80 })
}

/// The terminal's height in lines when stdout is one (`LINES` when a positive number, else
/// the terminal's own); `None` on a pipe or when unknown.
pub fn terminal_rows() -> Option<usize> {
    if !io::stdout().is_terminal() {
        return None;
    }
    if let Some(n) = std::env::var("LINES")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return Some(n);
    }
    let rows = stdout_window_size().map_or(0, |size| size.ws_row);
    (rows > 0).then_some(usize::from(rows))
}

/// The window size of the terminal on stdout, if it is one.
fn stdout_window_size() -> Option<rustix::termios::Winsize> {
    rustix::termios::tcgetwinsize(io::stdout()).ok()
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A word as a POSIX shell reads it back: as it is when made of safe characters only, else
/// in single quotes; escaped (see [`escape`]) for the terminal.
pub fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return escape(word).into_owned();
    }
    escape(&format!("'{}'", word.replace('\'', "'\\''"))).into_owned()
}

/// A line of at most `width` visible characters, the last one `…` when cut. SGR escapes
/// (`ESC [ … m`, only ever from colouring: text from users is escaped) take no width; a cut
/// line ends with a reset so no colour runs on.
fn fit(line: &str, width: usize) -> Cow<'_, str> {
    let mut visible = 0;
    let mut styled = false;
    let mut chars = line.char_indices().peekable();
    let mut cut_at = None;
    while let Some((i, c)) = chars.next() {
        if c == '\u{1b}' {
            styled = true;
            for (_, c) in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        visible += 1;
        if visible == width && cut_at.is_none() {
            cut_at = Some(i);
        }
        if visible > width {
            let mut cut = line[..cut_at.unwrap_or(i)].to_string();
            if styled {
                cut.push_str("\x1b[0m");
            }
            cut.push('…');
            return Cow::Owned(cut);
        }
    }
    Cow::Borrowed(line)
}

/// Text from a database or a user, made safe for a terminal on one line: control characters
/// are shown as visible escapes instead of reaching the terminal, where an ESC sequence in a
/// job name could retitle the window, clear the screen or fake output. See [`escape_with`].
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_with(text, false)
}

/// Like [`escape`], but keeps line feeds and tabs: for a field printed over several lines on
/// purpose (an error's stack trace, a step output).
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_with(text, true)
}

/// ESC becomes `\e`; line feed, tab and carriage return `\n`, `\t`, `\r` (line feed and tab
/// are kept with `keep_lines`); other C0 characters and DEL `\x07`-style; C1 controls, bidi
/// overrides and isolates, and the Unicode line and paragraph separators `\u{9b}`-style.
/// Text with none of them is returned as it is, without copying.
pub fn escape_with(text: &str, keep_lines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| needs_escape(c) && !(keep_lines && (c == '\n' || c == '\t'));
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !unsafe_char(c) {
            out.push(c);
            continue;
        }
        match c {
            '\u{1b}' => out.push_str("\\e"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// Characters that must not reach a terminal raw.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}'
        )
}

/// An error for stderr: the whole cause chain on one line (causes put line breaks in it),
/// escaped like any other text, since errors quote job names, ids and run errors from the
/// database and arguments from the user; every password this process knows of is masked
/// ([`crate::secret::scrub`]).
pub fn error_text(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    let joined = text
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    escape(&crate::secret::scrub(&joined)).into_owned()
}

/// A table cell of at most `max` characters (the last one `…` when cut), escaped like
/// [`escape`]. comfy-table measures a cell in time quadratic in its length (seconds of CPU for
/// a cell of tens of kilobytes), so only the start of the text is looked at; `--json` has the
/// full text.
pub fn cell(text: &str, max: usize) -> String {
    let head: String = text.chars().take(max + 1).collect();
    let escaped = escape(&head);
    let mut out = String::with_capacity(escaped.len().min(4 * max));
    let long = escaped.chars().nth(max).is_some();
    for (i, c) in escaped.chars().enumerate() {
        if long && i + 1 == max {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

/// The longest job or labels cell: on a pipe whole up to 4 KiB (longer text is left to
/// `--json`, so a hostile megabyte cannot make a megabyte line); on a terminal a quarter of its
/// width, at least 24, since the line is cut to the width anyway.
fn text_cell_max(width: Option<usize>) -> usize {
    match width {
        None => 4096,
        Some(w) => (w / 4).max(24),
    }
}

fn labels_cell(run: &Run, max: usize) -> String {
    let text = run
        .label_pairs()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    cell(&text, max)
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
        None if run.status == Status::Leased => now,
        None => return String::new(),
    };
    time::short_duration(end - start)
}

/// The `ls` table; `short_ids[i]` is the unique id prefix shown for `runs[i]` (see
/// [`runs_table`] for the layout).
pub fn runs_table(out: &mut impl Write, runs: &[Run], short_ids: &[String]) -> io::Result<()> {
    // No rows: a note for people on stderr, the header alone for programs on a pipe.
    if runs.is_empty() && io::stdout().is_terminal() {
        let _ = writeln!(io::stderr(), "no runs match");
        return Ok(());
    }
    runs_table::write(out, runs, short_ids, line_width())
}

/// A table of counts (`stats`): the first column (names, already escaped) flush left with no
/// margin, so each line starts with its name, the others right-aligned; columns two spaces
/// apart, as wide as their widest cell.
pub fn counts_table(
    out: &mut impl Write,
    headers: &[&str],
    rows: Vec<Vec<String>>,
) -> io::Result<()> {
    let mut t = table(headers);
    for row in rows {
        t.add_row(row);
    }
    for (i, column) in t.column_iter_mut().enumerate() {
        if i == 0 {
            column.set_padding((0, 1));
        } else {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    write_table(out, &t)
}

/// A table without the padding comfy-table leaves at the end of each line (it makes every line
/// as wide as the table, which `grep`/`cut` users and diffs do not want), each line cut to the
/// terminal's width (see [`line_width`]) and whole on a pipe.
fn write_table(out: &mut impl Write, t: &Table) -> io::Result<()> {
    let width = line_width();
    for line in t.lines() {
        let line = line.trim_end();
        match width {
            Some(w) => writeln!(out, "{}", fit(line, w))?,
            None => writeln!(out, "{line}")?,
        }
    }
    Ok(())
}

/// One JSON value on a line.
pub fn json_line<T: Serialize + ?Sized>(out: &mut impl Write, v: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, v)?;
    out.write_all(b"\n")
}

/// Pretty JSON.
pub fn json_pretty<T: Serialize + ?Sized>(out: &mut impl Write, v: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    out.write_all(b"\n")
}

/// "1 run", "2 runs", "0 runs": a count and its noun, plural when the count is not one.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// One `name  value` line of `show`, the value escaped onto one line.
fn field(out: &mut impl Write, name: &str, value: &str) -> io::Result<()> {
    writeln!(out, "{name:<18}{}", escape(value))
}

/// A `show` field that may span lines (input, output, error, progress): line feeds and tabs
/// are kept, each further line indented under the first.
fn multiline_field(out: &mut impl Write, name: &str, value: &str) -> io::Result<()> {
    let value = escape_lines(value);
    let mut lines = value.split('\n');
    writeln!(out, "{name:<18}{}", lines.next().unwrap_or_default())?;
    for line in lines {
        writeln!(out, "{:<18}{line}", "")?;
    }
    Ok(())
}

/// A run for people: fields, then steps and logs. Every string is escaped (see [`escape`]).
pub fn run_details(
    out: &mut impl Write,
    run: &Run,
    steps: &[Step],
    logs: &[Log],
) -> io::Result<()> {
    run_fields(out, run)?;
    if !steps.is_empty() {
        writeln!(out, "\nsteps")?;
        steps_table(out, steps)?;
    }
    if !logs.is_empty() {
        writeln!(out, "\nlogs")?;
        for l in logs {
            log_line(out, l)?;
        }
    }
    Ok(())
}

/// The run's own fields, one `name  value` line each; absent ones are left out.
fn run_fields(out: &mut impl Write, run: &Run) -> io::Result<()> {
    field(out, "id", &run.id)?;
    field(out, "job", &run.job_name)?;
    let status = run.status.as_str();
    writeln!(out, "{:<18}{}", "status", paint(&escape(status), status))?;
    let labels = run
        .label_pairs()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    if !labels.is_empty() {
        field(out, "labels", &labels)?;
    }
    match crate::model::command::Command::shown(&run.input) {
        Some(c) => {
            field(out, "command", &runs_table::command_line(&c))?;
            field(out, "in", &c.cwd)?;
            if !c.env.is_empty() {
                let names: Vec<&str> = c.env.keys().map(String::as_str).collect();
                field(out, "env", &names.join(" "))?;
            }
        }
        None => multiline_field(out, "input", &run.input)?,
    }
    for (k, v) in [
        ("idempotency key", &run.idempotency_key),
        ("concurrency key", &run.concurrency_key),
    ] {
        if let Some(v) = v {
            field(out, k, v)?;
        }
    }
    if let Some(p) = &run.progress {
        multiline_field(out, "progress", &progress_text(p))?;
    }
    for (k, v) in [("output", &run.output), ("error", &run.error)] {
        if let Some(v) = v {
            multiline_field(out, k, v)?;
        }
    }
    for (k, v) in [
        ("lease owner", &run.lease_owner),
        ("lease expires", &run.lease_expires_at),
    ] {
        if let Some(v) = v {
            let v = if k == "lease expires" {
                when(v)
            } else {
                Cow::Borrowed(v.as_str())
            };
            field(out, k, &v)?;
        }
    }
    field(out, "lease generation", &run.lease_generation.to_string())?;
    field(out, "created", &when(&run.created_at))?;
    if let Some(s) = &run.started_at {
        field(out, "started", &when(s))?;
    }
    if let Some(c) = &run.completed_at {
        // The terminal time under the name of the status the run ended with.
        let label = match run.status.known() {
            Some(Status::Failed) => "failed",
            Some(Status::Cancelled) => "cancelled",
            _ => "completed",
        };
        field(out, label, &when(c))?;
    }
    field(out, "updated", &when(&run.updated_at))
}

/// Progress as people read it: `3/10 (30%) message` for the library's
/// `{"current":N,"total":M,"message":"…"}`, `3 message` without a total; any other shape is
/// shown as its stored text.
fn progress_text(stored: &str) -> String {
    let Ok(Value::Object(p)) = serde_json::from_str::<Value>(stored) else {
        return stored.to_string();
    };
    let Some(current) = p.get("current").filter(|c| c.is_number()) else {
        return stored.to_string();
    };
    let mut text = current.to_string();
    match p.get("total") {
        Some(total) if total.is_number() => {
            text.push_str(&format!("/{total}"));
            if let (Some(c), Some(t)) = (current.as_f64(), total.as_f64()) {
                if t > 0.0 {
                    text.push_str(&format!(" ({}%)", (c * 100.0 / t).floor()));
                }
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => return stored.to_string(),
    }
    match p.get("message") {
        Some(Value::String(m)) if !m.is_empty() => {
            text.push(' ');
            text.push_str(m);
        }
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => return stored.to_string(),
    }
    text
}

/// The steps in stored order: index, name, status and the start of the error or else the
/// output. An attempt that a later row of the same index replaces is marked: `failed
/// (retried)` for a step that failed and ran again after a resume, `(superseded)` otherwise.
fn steps_table(out: &mut impl Write, steps: &[Step]) -> io::Result<()> {
    let mut t = table(&["#", "NAME", "STATUS", "OUTPUT / ERROR"]);
    for (i, s) in steps.iter().enumerate() {
        let retried = steps[i + 1..].iter().any(|later| later.index == s.index);
        let status = match (retried, s.status.as_str()) {
            (false, _) => s.status.clone(),
            (true, "failed") => "failed (retried)".to_string(),
            (true, other) => format!("{other} (superseded)"),
        };
        let detail = s
            .error
            .as_deref()
            .or(s.output.as_deref())
            .unwrap_or_default();
        t.add_row(vec![
            s.index.to_string(),
            cell(&s.name, 40),
            cell(&status, 24),
            cell(detail, 160),
        ]);
    }
    write_table(out, &t)
}

/// One log for people on one line: `time level [step] message data`, every part escaped. A
/// line the worker kept from a handler's output (data `{"stream":"stderr", …}`) shows the
/// stream in the level's place and only the rest of its data, if any.
pub fn log_line(out: &mut impl Write, l: &Log) -> io::Result<()> {
    let step = l
        .step_name
        .as_deref()
        .map(|s| format!(" [{}]", escape(s)))
        .unwrap_or_default();
    let (level, data) = match l.data.as_deref().and_then(captured_stream) {
        Some((stream, rest)) => (stream, rest),
        None => (l.level.clone(), l.data.clone()),
    };
    let data = data.map(|d| format!(" {}", escape(&d))).unwrap_or_default();
    writeln!(
        out,
        "{} {:<6}{step} {}{data}",
        escape(&when(&l.created_at)),
        escape(&level),
        escape(&l.message)
    )
}

/// The stream of a captured output line (`{"stream":"stderr"}`) and what else its data holds.
fn captured_stream(data: &str) -> Option<(String, Option<String>)> {
    let mut map = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(data).ok()?;
    let serde_json::Value::String(stream) = map.remove("stream")? else {
        return None;
    };
    let rest = (!map.is_empty()).then(|| serde_json::Value::Object(map).to_string());
    Some((stream, rest))
}

#[cfg(test)]
mod cell_tests {
    use super::{cell, escape, escape_lines, fit, shell_word, thousands};

    #[test]
    fn numbers_and_shell_words_for_the_footer() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(200_000), "200,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(shell_word("tenant=acme"), "tenant=acme");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("x\x1b"), "'x\\e'");
    }

    #[test]
    fn coloured_lines_are_cut_on_their_visible_text() {
        let red = "\x1b[31mfailed\x1b[0m tail";
        assert_eq!(fit(red, 11), red);
        assert_eq!(fit(red, 8), "\x1b[31mfailed\x1b[0m \x1b[0m…");
        assert_eq!(fit(red, 4), "\x1b[31mfai\x1b[0m…");
    }

    #[test]
    fn lines_are_cut_to_the_width() {
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdefg", 6), "abcde…");
        assert_eq!(fit("日本語です", 3), "日本…");
    }

    #[test]
    fn cells_are_clipped_and_escaped() {
        assert_eq!(cell("short", 24), "short");
        assert_eq!(cell(&"x".repeat(24), 24), "x".repeat(24));
        assert_eq!(cell(&"x".repeat(25), 24), format!("{}…", "x".repeat(23)));
        assert_eq!(cell("a\nb\x1b[2J\u{7}", 24), "a\\nb\\e[2J\\x07");
        assert_eq!(cell("\x1b\x1b\x1b", 5), "\\e\\e…");
        assert_eq!(cell(&"é".repeat(100_000), 5), "éééé…");
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(escape("plain ü 日本"), "plain ü 日本");
        assert!(matches!(escape("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(escape("j\x1b]0;pwned\x07x"), "j\\e]0;pwned\\x07x");
        assert_eq!(escape("a\r\n\tb\x7f"), "a\\r\\n\\tb\\x7f");
        assert_eq!(escape("\u{9b}2J \u{202e}abc"), "\\u{9b}2J \\u{202e}abc");
        assert_eq!(escape_lines("a\n\tb\r\x1b"), "a\n\tb\\r\\e");
    }
}

#[cfg(test)]
mod show_tests {
    use super::progress_text;

    #[test]
    fn progress_reads_as_people_read_it() {
        let p = |s: &str| progress_text(s);
        assert_eq!(
            p(r#"{"current":3,"total":10,"message":"rows"}"#),
            "3/10 (30%) rows"
        );
        assert_eq!(p(r#"{"current":1,"total":3}"#), "1/3 (33%)");
        assert_eq!(p(r#"{"current":4}"#), "4");
        assert_eq!(p(r#"{"current":4,"total":null,"message":"x"}"#), "4 x");
        assert_eq!(p(r#"{"current":0,"total":0}"#), "0/0");
        assert_eq!(p(r#"{"current":2.5,"total":10}"#), "2.5/10 (25%)");
        for other in [
            r#"{"phase":"copy"}"#,
            r#"{"current":"a"}"#,
            "[1,2]",
            "not json",
        ] {
            assert_eq!(p(other), other);
        }
    }
}
