//! `durably schedule add|ls|show|rm|pause|resume`: the rows of `durably_cli_schedules`
//! ([`crate::store::schedules`]); `durably work` materialises them (`worker::schedules`).
//! Everything a schedule needs is checked before the database is opened: a bad cron
//! expression, an unknown zone, an invalid input or label is one line, exit 2, nothing written.

use super::Context;
use crate::cli::{CatchUpArg, JsonArgs, ScheduleAddArgs, ScheduleCommand, ScheduleNameArgs};
use crate::error::{CodedError, ExitCode};
use crate::model::schedule::{CatchUp, Schedule, Timing};
use crate::model::{labels_json, validate_json, validate_labels};
use crate::output::escape;
use crate::store::Access;
use anyhow::Result;
use std::io::Write;

/// How many next firing times `ls` and `show` print.
const UPCOMING: usize = 3;

pub fn run(ctx: &Context, command: ScheduleCommand) -> Result<ExitCode> {
    match command {
        ScheduleCommand::Add(a) => add(ctx, *a),
        ScheduleCommand::Ls(a) => ls(ctx, a),
        ScheduleCommand::Show(a) => show(ctx, a),
        ScheduleCommand::Rm(a) => {
            ctx.open(Access::Write)?.remove_schedule(&a.name)?;
            Ok(ExitCode::Ok)
        }
        ScheduleCommand::Pause(a) => pause(ctx, a, true),
        ScheduleCommand::Resume(a) => pause(ctx, a, false),
    }
}

fn usage(e: anyhow::Error) -> anyhow::Error {
    CodedError::usage(format!("{e:#}")).into()
}

/// The row `add` writes, checked whole before the database is opened.
fn new_schedule(a: &ScheduleAddArgs) -> Result<Schedule> {
    let every_ms = match a.every {
        Some(d) => Some(
            i64::try_from(d.as_millis())
                .map_err(|_| usage(anyhow::anyhow!("--every is too long")))?,
        ),
        None => None,
    };
    let timing = Timing::parse(a.cron.as_deref(), every_ms, &a.tz).map_err(usage)?;
    if timing.next_after(crate::time::now_ms()).is_err() {
        let cron = a.cron.as_deref().unwrap_or_default();
        return Err(CodedError::usage(format!(
            "invalid cron expression {cron:?} (it never fires)"
        ))
        .into());
    }
    let input = match &a.input {
        Some(text) => validate_json(text, "--input").map_err(usage)?,
        None => "{}".to_string(),
    };
    let labels = super::parse_labels(&a.labels)?;
    validate_labels(&labels).map_err(usage)?;
    let catch_up = match a.catch_up {
        CatchUpArg::None => CatchUp::None,
        CatchUpArg::Last => CatchUp::Last,
        CatchUpArg::All => CatchUp::All,
    };
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_millis().min(i64::MAX as u128) as i64);
    let retry_on = (!a.retry_on.is_empty()).then(|| serde_json::json!(a.retry_on).to_string());
    Ok(Schedule {
        name: a.name.clone(),
        cron: a.cron.clone(),
        every_ms,
        tz: if a.cron.is_some() {
            a.tz.clone()
        } else {
            "UTC".into()
        },
        job_name: a.job.clone(),
        input,
        labels: labels_json(&labels),
        concurrency_key: a.concurrency_key.clone(),
        catch_up: catch_up.as_str().into(),
        retries: a.retries.map(i64::from),
        backoff_ms: ms(a.backoff),
        backoff_max_ms: ms(a.backoff_max),
        retry_on,
        ..Schedule::default()
    })
}

fn add(ctx: &Context, a: ScheduleAddArgs) -> Result<ExitCode> {
    let row = new_schedule(&a)?;
    let mut store = ctx.open(Access::Write)?;
    let added = store.add_schedule(&row)?;
    print_one(&added, a.json)
}

fn pause(ctx: &Context, a: ScheduleNameArgs, paused: bool) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Write)?;
    let s = store.pause_schedule(&a.name, paused)?;
    print_one(&s, a.json)
}

fn show(ctx: &Context, a: ScheduleNameArgs) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Read)?;
    let s = store.schedule(&a.name)?.ok_or_else(|| {
        crate::error::StoreError::NotFound(format!("schedule {:?} not found", a.name))
    })?;
    print_one(&s, a.json)
}

/// One schedule: its JSON, or a few `key: value` lines.
fn print_one(s: &Schedule, json: bool) -> Result<ExitCode> {
    let mut out = crate::output::stdout();
    if json {
        crate::output::json_pretty(&mut out, &s.to_json())?;
    } else {
        let next = s.upcoming(UPCOMING);
        let lines = [
            ("name", s.name.clone()),
            ("spec", s.spec_text()),
            ("tz", s.tz.clone()),
            ("job", s.job_name.clone()),
            ("input", s.input.clone()),
            ("labels", s.labels.clone()),
            (
                "concurrency key",
                s.concurrency_key.clone().unwrap_or_default(),
            ),
            ("catch-up", s.catch_up.clone()),
            ("paused", if s.paused { "yes" } else { "no" }.into()),
            ("next", next.join(", ")),
            ("last slot", s.last_slot.clone().unwrap_or_default()),
        ];
        for (k, v) in lines {
            writeln!(out, "{k:<16}{}", escape(&v))?;
        }
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

fn ls(ctx: &Context, a: JsonArgs) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Read)?;
    let all = store.schedules()?;
    drop(store);
    let mut out = crate::output::stdout();
    if a.json {
        let v: Vec<_> = all.iter().map(Schedule::to_json).collect();
        crate::output::json_pretty(&mut out, &v)?;
    } else {
        let rows = all
            .iter()
            .map(|s| {
                let next = s.upcoming(UPCOMING).join(", ");
                let next = if s.paused { "paused".into() } else { next };
                [
                    &s.name,
                    &s.spec_text(),
                    &s.tz,
                    &s.job_name,
                    &s.catch_up,
                    &next,
                ]
                .map(|t| escape(t).into_owned())
                .to_vec()
            })
            .collect();
        let headers = ["NAME", "SPEC", "TZ", "JOB", "CATCH-UP", "NEXT"];
        table(&mut out, &headers, rows)?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// Columns flush left, two spaces apart, as wide as their widest cell (terminal columns).
fn table(out: &mut impl Write, headers: &[&str], rows: Vec<Vec<String>>) -> std::io::Result<()> {
    use unicode_width::UnicodeWidthStr;
    let head: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    for row in std::iter::once(&head).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(w - cell.width() + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
