//! `durably ls [filters] [--format table|json|ndjson|ids] [--watch [DUR]]`

use super::{parse_label_filters, Context};
use crate::cli::{Format, LsArgs, LsStatus};
use crate::error::{CodedError, ExitCode};
use crate::model::held::HeldRun;
use crate::model::Run;
use crate::output::{escape, shell_word, thousands};
use crate::store::Access;
use crate::store::{ListFilter, Store};
use anyhow::Result;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

/// Matches counted for the footer at most: counting is linear in what it counts, so beyond
/// this the footer says "more than 10,000".
const COUNT_CAP: u64 = 10_000;

pub fn run(ctx: &Context, args: LsArgs) -> Result<ExitCode> {
    let labels = parse_label_filters(&args.labels)?;
    let format = if args.json { Format::Json } else { args.format };
    let filter = ListFilter {
        labels,
        statuses: run_statuses(&args.status),
        jobs: args.job.clone(),
        before: None,
        limit: args.limit,
        offset: args.offset,
    };
    if let Some(every) = args.watch {
        if format != Format::Table {
            return Err(CodedError::usage("--watch redraws the table; leave out --format").into());
        }
        if !io::stdout().is_terminal() {
            return Err(CodedError::usage(
                "--watch needs a terminal on stdout (on a pipe, run `durably ls` in a loop)",
            )
            .into());
        }
        let mut store = ctx.open(Access::Read)?;
        return watch(&mut store, &args, filter, every);
    }
    let mut store = ctx.open(Access::Read)?;
    if args.explain {
        return explain(&mut store, &args, filter);
    }
    if args.all {
        return all(&mut store, &args, filter, format);
    }
    if args.latest {
        return latest(&mut store, &args, filter, format);
    }
    page(&mut store, &args, filter, format)
}

/// `ls --latest`: the page without runs that a retry followed, read page by page from
/// `--before` until `--limit` runs are kept (after `--offset` kept ones) or none is left.
/// Each page and its probe of the attempts are separate reads.
fn latest(
    store: &mut Store,
    args: &LsArgs,
    filter: ListFilter,
    format: Format,
) -> Result<ExitCode> {
    let table = format == Format::Table;
    let (mut kept, mut handles) = (Vec::new(), Vec::new());
    let mut skip = args.offset;
    let mut before = args.before.clone();
    let want = usize::try_from(args.limit).unwrap_or(usize::MAX);
    while kept.len() < want && !held_only(args) {
        let page = ListFilter {
            limit: args.limit.clamp(1, ALL_PAGE),
            offset: 0,
            ..filter.clone()
        };
        let (runs, short_ids) = store.list_page(before.as_deref(), page, table)?;
        let Some(last) = runs.last() else { break };
        before = Some(last.id.clone());
        let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
        let superseded = store.superseded(&ids)?;
        let mut short_ids = short_ids.into_iter();
        for run in runs {
            let handle = short_ids.next();
            if superseded.contains(&run.id) || kept.len() >= want {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            kept.push(run);
            handles.extend(handle);
        }
    }
    // A held run (a retry's successor waiting for its backoff among them) is the latest
    // attempt of its chain: listed above the page as `ls` lists it.
    let held = held_rows(store, args, &filter, args.limit)?;
    let mut out = crate::output::stdout();
    match format {
        Format::Table => {
            let (rows, handles) = with_held(&held, kept, handles);
            crate::output::runs_table(&mut out, &rows, &handles)?
        }
        Format::Json => {
            let mut values: Vec<serde_json::Value> = held.iter().map(HeldRun::to_json).collect();
            values.extend(kept.iter().map(Run::to_json));
            crate::output::json_pretty(&mut out, &values)?
        }
        Format::Ndjson | Format::Ids => {
            write_held_lines(&mut out, &held, format)?;
            write_lines(&mut out, &kept, format)?
        }
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// `ls --explain`: the planner's strategy, its note, and each statement with the database's
/// plan of it.
fn explain(store: &mut Store, args: &LsArgs, filter: ListFilter) -> Result<ExitCode> {
    let (plan, lines) = store.explain_list(args.before.as_deref(), filter)?;
    let mut out = crate::output::stdout();
    writeln!(out, "strategy: {}", plan.strategy)?;
    if !plan.note.is_empty() {
        writeln!(out, "note: {}", escape(&plan.note))?;
    }
    for (q, plan_lines) in plan.queries.iter().zip(lines) {
        writeln!(out, "query: {}", escape(&q.sql))?;
        for l in plan_lines {
            writeln!(out, "  {}", escape(&l))?;
        }
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// One page of `ls`. Everything it reads (the plan's count, the page, two id-prefix lookups per
/// row, the footer's count) comes from one read transaction of the store (bench: ~1 ms of a
/// 50-row table), ended before the first byte is written: output can block on a slow pipe or a
/// pager.
fn page(store: &mut Store, args: &LsArgs, filter: ListFilter, format: Format) -> Result<ExitCode> {
    // A page cut at the limit says so once: the footer for a table on a terminal (people),
    // else one line on stderr (pipes, `--format ids | xargs …`, JSON), so a cut is never silent.
    let people = format == Format::Table && io::stdout().is_terminal();
    // The footer counts the matches (up to COUNT_CAP); the stderr note only needs to know
    // whether one more run matches than the page holds, so a pipe pays for one row, not
    // thousands.
    let cap = if people {
        COUNT_CAP
    } else {
        args.offset.saturating_add(args.limit)
    };
    let held = held_rows(store, args, &filter, args.limit)?;
    let (runs, short_ids, count) = if held_only(args) {
        (Vec::new(), Vec::new(), 0)
    } else {
        store.list_page_counted(args.before.as_deref(), filter, format == Format::Table, cap)?
    };
    let footer_line = if people {
        footer(args, &runs, count)
    } else {
        None
    };
    let cut_note = if people {
        None
    } else {
        cut_note(args, runs.len() as u64, count)
    };
    let mut out = crate::output::stdout();
    match format {
        Format::Table => {
            let (rows, handles) = with_held(&held, runs, short_ids);
            crate::output::runs_table(&mut out, &rows, &handles)?;
            if let Some(line) = footer_line {
                writeln!(out, "{line}")?;
            }
        }
        Format::Json => {
            let mut values: Vec<serde_json::Value> = held.iter().map(HeldRun::to_json).collect();
            values.extend(runs.iter().map(Run::to_json));
            crate::output::json_pretty(&mut out, &values)?
        }
        Format::Ndjson | Format::Ids => {
            write_held_lines(&mut out, &held, format)?;
            write_lines(&mut out, &runs, format)?
        }
    }
    out.flush()?;
    if let Some(note) = cut_note {
        eprintln!("durably: {note}");
    }
    Ok(ExitCode::Ok)
}

/// The statuses of runs in `durably_runs` among `ls --status` (not the held runs').
fn run_statuses(statuses: &[LsStatus]) -> Vec<crate::model::Status> {
    statuses
        .iter()
        .filter_map(|s| match s {
            LsStatus::Run(s) => Some(*s),
            _ => None,
        })
        .collect()
}

/// `ls --status scheduled|waiting` alone: only held runs are listed.
fn held_only(args: &LsArgs) -> bool {
    !args.status.is_empty() && run_statuses(&args.status).is_empty()
}

/// The held runs `ls` lists above its first page (none with `--before`, `--offset` or only
/// statuses of runs): at most `--limit`, newest first, read with their own bounded query
/// (`Store::held_page`); with several `--job`s or with `--label`s, those of that read which
/// match.
fn held_rows(
    store: &mut Store,
    args: &LsArgs,
    filter: &ListFilter,
    limit: u64,
) -> Result<Vec<HeldRun>> {
    let held_statuses: Vec<LsStatus> = args
        .status
        .iter()
        .copied()
        .filter(|s| !matches!(s, LsStatus::Run(_)))
        .collect();
    if args.before.is_some()
        || args.offset > 0
        || (!args.status.is_empty() && held_statuses.is_empty())
    {
        return Ok(Vec::new());
    }
    let scheduled = match (
        held_statuses.contains(&LsStatus::Scheduled),
        held_statuses.contains(&LsStatus::Waiting),
    ) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    };
    let job = match args.job.as_slice() {
        [one] => Some(one.as_str()),
        _ => None,
    };
    let mut held = store.held_page(job, scheduled, limit)?;
    held.retain(|h| {
        let labels = h.run.label_pairs();
        (args.job.is_empty() || args.job.contains(&h.run.job_name))
            && filter.labels.iter().all(|l| labels.contains(l))
    });
    Ok(held)
}

/// The rows of the table: the held runs first (their handle the id's last 8 characters, the
/// REASON their due time or the runs they wait on), then the page's runs.
fn with_held(held: &[HeldRun], runs: Vec<Run>, short_ids: Vec<String>) -> (Vec<Run>, Vec<String>) {
    let mut rows: Vec<Run> = Vec::with_capacity(held.len() + runs.len());
    let mut handles = Vec::with_capacity(held.len() + runs.len());
    for h in held {
        let mut run = h.run.clone();
        run.error = Some(h.reason());
        handles.push(run.id[run.id.len().saturating_sub(8)..].to_string());
        rows.push(run);
    }
    rows.extend(runs);
    handles.extend(short_ids);
    (rows, handles)
}

/// The held runs in a line-per-run format.
fn write_held_lines(out: &mut impl Write, held: &[HeldRun], format: Format) -> io::Result<()> {
    for h in held {
        match format {
            Format::Ids => writeln!(out, "{}", escape(&h.run.id))?,
            _ => crate::output::json_line(&mut *out, &h.to_json())?,
        }
    }
    Ok(())
}

/// The line-per-run formats: a JSON object (`ndjson`) or the escaped id (`ids`) per line.
fn write_lines(out: &mut impl Write, runs: &[Run], format: Format) -> io::Result<()> {
    for r in runs {
        match format {
            Format::Ids => writeln!(out, "{}", escape(&r.id))?,
            _ => crate::output::json_line(&mut *out, r)?,
        }
    }
    Ok(())
}

/// Runs per read of `ls --all`: each page is one read transaction, written before the next is
/// read, so memory stays flat however many runs match.
const ALL_PAGE: u64 = 1000;

/// `ls --all`: every match, newest first, page after page (each page one read, the next one
/// `--before` the last id of this one). A table prints its header once and aligns its columns
/// within each page; JSON is one array written element by element.
fn all(store: &mut Store, args: &LsArgs, filter: ListFilter, format: Format) -> Result<ExitCode> {
    let mut out = crate::output::stdout();
    let mut before = args.before.clone();
    let mut first = true;
    // Every held run that matches first, then the runs page after page.
    let held = held_rows(store, args, &filter, u64::MAX)?;
    if matches!(format, Format::Ndjson | Format::Ids) {
        write_held_lines(&mut out, &held, format)?;
    }
    loop {
        let page = ListFilter {
            limit: ALL_PAGE,
            offset: 0,
            ..filter.clone()
        };
        let (runs, short_ids) = if held_only(args) {
            (Vec::new(), Vec::new())
        } else {
            store.list_page(before.as_deref(), page, format == Format::Table)?
        };
        let full = runs.len() as u64 == ALL_PAGE;
        let last = runs.last().map(|r| r.id.clone());
        if first && format == Format::Json {
            for h in &held {
                out.write_all(if first { b"[\n" } else { b",\n" })?;
                first = false;
                write_json_item(&mut out, &h.to_json())?;
            }
        }
        let (runs, short_ids) = if first && format == Format::Table {
            with_held(&held, runs, short_ids)
        } else {
            (runs, short_ids)
        };
        match format {
            Format::Table => {
                if first || !runs.is_empty() {
                    let mut text: Vec<u8> = Vec::new();
                    crate::output::runs_table(&mut text, &runs, &short_ids)?;
                    let body = if first {
                        &text[..]
                    } else {
                        // The header line once, on the first page.
                        let at = text.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
                        &text[at..]
                    };
                    out.write_all(body)?;
                }
            }
            Format::Json => {
                for r in &runs {
                    out.write_all(if first { b"[\n" } else { b",\n" })?;
                    first = false;
                    write_json_item(&mut out, r)?;
                }
            }
            Format::Ndjson | Format::Ids => write_lines(&mut out, &runs, format)?,
        }
        if format != Format::Json {
            first = false;
        }
        if !full {
            break;
        }
        before = last;
    }
    if format == Format::Json {
        out.write_all(if first { b"[]\n" } else { b"\n]\n" })?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// One element of `ls --all`'s JSON array, indented by two spaces.
fn write_json_item(out: &mut impl Write, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
        }
        write!(out, "  {line}")?;
    }
    Ok(())
}

/// `showing 50 runs; more match: --all for every one, --limit N for more` when runs match
/// beyond this page (`count`: the matches from `--before` on, counted up to the page's end + 1).
fn cut_note(args: &LsArgs, shown: u64, count: u64) -> Option<String> {
    if count <= args.offset + shown {
        return None;
    }
    let runs = if shown == 1 { "run" } else { "runs" };
    Some(format!(
        "showing {shown} {runs}; more match: --all for every one, --limit N for more"
    ))
}

/// The filters of `args` as `durably ls` flags, shell-quoted (the footer's next-page command
/// and the `--watch` header).
fn filter_words(args: &LsArgs) -> Vec<String> {
    let mut words = Vec::new();
    for s in &args.status {
        words.push(format!("--status {}", s.as_str()));
    }
    for j in &args.job {
        words.push(format!("--job {}", shell_word(j)));
    }
    for l in &args.labels {
        words.push(format!("--label {}", shell_word(l)));
    }
    if args.limit != 50 {
        words.push(format!("--limit {}", args.limit));
    }
    words
}

/// `50 of 1,234 runs — next page: durably ls --before ID …` when runs match beyond this page
/// (`count`: the matches from `--before` on; above [`COUNT_CAP`], "more than").
fn footer(args: &LsArgs, runs: &[Run], count: u64) -> Option<String> {
    let last = runs.last()?;
    let shown = runs.len() as u64;
    let head = match count {
        n if n <= args.offset + shown => return None,
        n if n > COUNT_CAP => format!("{shown} of more than {} runs", thousands(COUNT_CAP)),
        n => format!("{shown} of {} runs", thousands(n)),
    };
    let mut next = vec![
        "durably ls".to_string(),
        format!("--before {}", shell_word(&last.id)),
    ];
    next.extend(filter_words(args));
    Some(format!("{head} — next page: {}", next.join(" ")))
}

/// The terminal's alternate screen with the cursor hidden, for as long as it lives: the user's
/// screen and cursor come back when `--watch` ends, by Ctrl-C or by an error.
struct AltScreen;

impl AltScreen {
    fn enter() -> io::Result<AltScreen> {
        let mut out = io::stdout();
        out.write_all(b"\x1b[?1049h\x1b[?25l")?;
        out.flush()?;
        Ok(AltScreen)
    }
}

impl Drop for AltScreen {
    fn drop(&mut self) {
        let mut out = io::stdout();
        let _ = out.write_all(b"\x1b[?25h\x1b[?1049l");
        let _ = out.flush();
    }
}

/// `ls --watch`: the table redrawn in place every `every` until SIGINT/SIGTERM (exit 0). Each
/// refresh is one read transaction of the store, ended before the frame is drawn. The page
/// is cut to the terminal's height so the header stays on screen.
fn watch(
    store: &mut Store,
    args: &LsArgs,
    filter: ListFilter,
    every: Duration,
) -> Result<ExitCode> {
    crate::signals::count(&crate::signals::INTERRUPT)?;
    let stopped = || crate::signals::received() > 0;
    let mut words = vec!["durably ls".to_string()];
    words.extend(filter_words(args));
    if let Some(b) = &args.before {
        words.push(format!("--before {}", shell_word(b)));
    }
    let command = words.join(" ");
    let _screen = AltScreen::enter()?;
    while !stopped() {
        let mut page = filter.clone();
        // Header, blank line, table header and footer take four lines.
        if let Some(rows) = crate::output::terminal_rows() {
            page.limit = page.limit.min(rows.saturating_sub(4).max(1) as u64);
        }
        let held = held_rows(store, args, &page, page.limit)?;
        let (runs, short_ids, count) = if held_only(args) {
            (Vec::new(), Vec::new(), 0)
        } else {
            store.list_page_counted(args.before.as_deref(), page, true, COUNT_CAP)?
        };
        let (runs, short_ids) = with_held(&held, runs, short_ids);
        let mut frame: Vec<u8> = Vec::new();
        let every_text = humantime::format_duration(every).to_string();
        writeln!(
            frame,
            "every {every_text}: {command}  {}",
            crate::time::now()
        )?;
        writeln!(frame)?;
        if runs.is_empty() {
            writeln!(frame, "no runs match")?;
        } else {
            crate::output::runs_table(&mut frame, &runs, &short_ids)?;
        }
        if let Some(line) = footer(args, &runs, count) {
            writeln!(frame, "{line}")?;
        }
        draw(&frame)?;
        let until = Instant::now() + every;
        while !stopped() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
        }
    }
    Ok(ExitCode::Ok)
}

/// Draws a frame over the last one: cursor home, each line cleared to its end, the rest of
/// the screen cleared below, in one write.
fn draw(frame: &[u8]) -> io::Result<()> {
    let mut screen = Vec::with_capacity(frame.len() + 256);
    screen.extend_from_slice(b"\x1b[H");
    for line in frame.split_inclusive(|&b| b == b'\n') {
        match line.strip_suffix(b"\n") {
            Some(text) => {
                screen.extend_from_slice(text);
                screen.extend_from_slice(b"\x1b[K\n");
            }
            None => screen.extend_from_slice(line),
        }
    }
    screen.extend_from_slice(b"\x1b[J");
    let mut out = io::stdout().lock();
    out.write_all(&screen)?;
    out.flush()
}
