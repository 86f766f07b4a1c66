//! `durably cancel ID...` and `durably retrigger ID`

use super::Context;
use crate::cli::{IdsArgs, RetriggerArgs};
use crate::db::{self, Access};
use crate::error::{CodedError, ExitCode};
use crate::model::RunSpec;
use crate::store::{self, enqueue::Clock};
use crate::time;
use anyhow::Result;
use serde_json::json;
use std::io::Write;

pub fn cancel(ctx: &Context, args: IdsArgs) -> Result<ExitCode> {
    let mut conn = ctx.open(Access::Write)?;
    let mut overall = ExitCode::Ok;
    let mut out = crate::output::stdout_keep_going();
    for given in &args.ids {
        let result = db::write(&mut conn, ctx.path(), |tx| {
            let run = store::find_run(tx, given)?;
            if !store::admin::cancel(tx, &run.id, &time::now())? {
                return Err(CodedError::conflict(format!(
                    "run {} is {}; only pending or leased runs can be cancelled",
                    run.id, run.status
                ))
                .into());
            }
            Ok(run.id)
        });
        match result {
            Ok(id) => {
                if args.json {
                    crate::output::json_line(&mut out, &json!({"id": id, "status": "cancelled"}))?;
                } else {
                    writeln!(out, "{id}")?;
                }
            }
            Err(e) => {
                let c = crate::error::exit_code(&e);
                if c != ExitCode::NotFound && c != ExitCode::Conflict {
                    return Err(e);
                }
                out.flush()?;
                eprintln!("durably: {}", crate::output::error_text(&e));
                overall = overall.combine(c);
            }
        }
    }
    out.flush()?;
    Ok(overall)
}

pub fn retrigger(ctx: &Context, args: RetriggerArgs) -> Result<ExitCode> {
    let mut conn = ctx.open(Access::Write)?;
    let mut clock = Clock::default();
    let run = db::write(&mut conn, ctx.path(), |tx| {
        let old = store::find_run(tx, &args.id)?;
        if !old.is_terminal() {
            return Err(CodedError::conflict(format!(
                "run {} is {}; only terminal runs can be retriggered",
                old.id, old.status
            ))
            .into());
        }
        let spec = RunSpec {
            job: old.job_name.clone(),
            input: old.input.clone(),
            labels: old.label_pairs(),
            idempotency_key: None,
            concurrency_key: old.concurrency_key.clone(),
            coalesce: false,
        };
        let (run, _) = store::enqueue::enqueue(tx, &spec, &mut clock)?;
        Ok(run)
    })?;
    let mut out = crate::output::stdout_keep_going();
    if args.json {
        crate::output::json_pretty(&mut out, &run.to_json())?;
    } else {
        writeln!(out, "{}", run.id)?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}
