//! `durably show ID [--json]`

use super::Context;
use crate::cli::ShowArgs;
use crate::error::ExitCode;
use crate::model::held::HeldRun;
use crate::model::RunDetails;
use crate::store::Access;
use anyhow::Result;
use std::io::Write;

pub fn run(ctx: &Context, args: ShowArgs) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Read)?;
    if let Some(held) = store.find_held(&args.id)? {
        return show_held(&held, args.json);
    }
    // The run, its steps and its logs from one snapshot; the read ends before printing, so a
    // stalled pager never holds a lock (rollback journal) or pins the WAL.
    let (run, steps, logs) = store.run_details(&args.id)?;
    let mut out = crate::output::stdout();
    if args.json {
        let details = RunDetails {
            run: &run,
            steps: &steps,
            logs: &logs,
        };
        crate::output::json_pretty(&mut out, &details)?;
    } else {
        crate::output::run_details(&mut out, &run, &steps, &logs)?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// A held run: its fields, then when it is due or what it waits on; JSON: the run with
/// `"held"` (see [`HeldRun::to_json`]) and no steps or logs.
fn show_held(held: &HeldRun, json: bool) -> Result<ExitCode> {
    let mut out = crate::output::stdout();
    if json {
        let mut v = held.to_json();
        v["steps"] = serde_json::json!([]);
        v["logs"] = serde_json::json!([]);
        crate::output::json_pretty(&mut out, &v)?;
    } else {
        crate::output::run_details(&mut out, &held.run, &[], &[])?;
        let (name, value) = match &held.due_at {
            Some(at) => ("due", crate::time::local_text(at)),
            None if held.after_any => ("after any", held.after.join(", ")),
            None => ("after", held.after.join(", ")),
        };
        writeln!(out, "{name:<18}{}", crate::output::escape(&value))?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}
