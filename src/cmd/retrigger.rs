//! `durably retrigger ID`: enqueue a terminal run again as a new run.

use super::Context;
use crate::cli::RetriggerArgs;
use crate::error::ExitCode;
use crate::store::Access;
use anyhow::Result;
use std::io::Write;

pub fn run(ctx: &Context, args: RetriggerArgs) -> Result<ExitCode> {
    let run = ctx.open(Access::Write)?.retrigger(&args.id)?;
    let mut out = crate::output::stdout_keep_going();
    if args.json {
        crate::output::json_pretty(&mut out, &run.to_json())?;
    } else {
        writeln!(out, "{}", crate::output::escape(&run.id))?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}
