//! `durably show ID [--json]`

use super::Context;
use crate::cli::ShowArgs;
use crate::error::ExitCode;
use crate::model::RunDetails;
use crate::store::Access;
use anyhow::Result;
use std::io::Write;

pub fn run(ctx: &Context, args: ShowArgs) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Read)?;
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
