//! `durably wait ID [--timeout DUR]` (also behind `enqueue --wait`)

use super::Context;
use crate::cli::WaitArgs;
use crate::error::{CodedError, ExitCode};
use crate::model::Status;
use crate::store::Access;
use crate::store::Store;
use anyhow::Result;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub fn run(ctx: &Context, args: WaitArgs) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Read)?;
    // A held run is waited for like any other: first until it is released, then until it ends.
    let id = match store.find_held(&args.id)? {
        Some(held) => held.run.id,
        None => store.resolve_id(&args.id)?,
    };
    wait_for(&mut store, &id, args.timeout, args.json)
}

/// Polls until the run is terminal (a held run: until it is released, then until it ends);
/// prints its output (or the run as JSON) and maps the outcome to 0 completed, 5 failed, 6
/// cancelled, 3 deleted, 124 timed out.
pub fn wait_for(
    store: &mut Store,
    id: &str,
    timeout: Option<Duration>,
    json: bool,
) -> Result<ExitCode> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        let run = match store.run(id)? {
            Some(run) => run,
            None => match store.find_held(id)? {
                // Checked after the runs: a release moves it there in one transaction.
                Some(held) if store.run(id)?.is_none() => held.run,
                Some(_) => continue,
                // Released between the two reads (each its own snapshot on PostgreSQL): the
                // run is in durably_runs now.
                None if store.run(id)?.is_some() => continue,
                None => {
                    return Err(
                        CodedError::not_found(format!("run {id} not found (deleted?)")).into(),
                    )
                }
            },
        };
        if run.is_terminal() {
            let mut out = crate::output::stdout();
            if json {
                crate::output::json_pretty(&mut out, &run)?;
            }
            let result = match run.status() {
                Some(Status::Completed) => {
                    if !json {
                        // The output is data for scripts (`x=$(durably wait ID)`): exact on a
                        // pipe, escaped on a terminal like any text from the database.
                        let text = match crate::model::json_or_null(run.output.as_deref()) {
                            serde_json::Value::String(s) => s,
                            v => v.to_string(),
                        };
                        if std::io::stdout().is_terminal() {
                            writeln!(out, "{}", crate::output::escape_lines(&text))?;
                        } else {
                            writeln!(out, "{text}")?;
                        }
                    }
                    Ok(ExitCode::Ok)
                }
                Some(Status::Failed) => {
                    out.flush()?;
                    Err(CodedError::new(
                        ExitCode::RunFailed,
                        format!(
                            "run {id} failed: {}",
                            run.error.as_deref().unwrap_or("(no error recorded)")
                        ),
                    )
                    .into())
                }
                _ => {
                    out.flush()?;
                    Err(
                        CodedError::new(ExitCode::RunCancelled, format!("run {id} was cancelled"))
                            .into(),
                    )
                }
            };
            out.flush()?;
            return result;
        }
        if let Some(t) = timeout {
            if started.elapsed() >= t {
                return Err(CodedError::new(
                    ExitCode::TimedOut,
                    format!(
                        "timed out after {t:?} waiting for run {id} ({})",
                        run.status
                    ),
                )
                .into());
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}
