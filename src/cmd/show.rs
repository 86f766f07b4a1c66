//! `durably show ID [--json]`

use super::Context;
use crate::cli::ShowArgs;
use crate::db::Access;
use crate::store;
use anyhow::Result;
use serde_json::Value;
use std::io::Write;

pub fn run(ctx: &Context, args: ShowArgs) -> Result<i32> {
    let conn = ctx.open(Access::Read)?;
    let run = store::find_run(&conn, &args.id)?;
    let steps = store::steps::steps_of(&conn, &run.id)?;
    let logs = store::steps::logs_of(&conn, &run.id, None)?;
    let mut out = crate::output::stdout();
    if args.json {
        let mut v = run.to_json();
        v["steps"] = Value::Array(steps.iter().map(|s| s.to_json()).collect());
        v["logs"] = Value::Array(logs.iter().map(|l| l.to_json()).collect());
        crate::output::json_pretty(&mut out, &v)?;
    } else {
        crate::output::run_details(&mut out, &run, &steps, &logs)?;
    }
    out.flush()?;
    Ok(0)
}
