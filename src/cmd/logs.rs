//! `durably logs ID [--follow] [--json]`

use super::Context;
use crate::cli::LogsArgs;
use crate::db::Access;
use crate::store;
use anyhow::Result;
use std::io::Write;
use std::time::Duration;

pub fn run(ctx: &Context, args: LogsArgs) -> Result<i32> {
    let conn = ctx.open(Access::Read)?;
    let run = store::find_run(&conn, &args.id)?;
    let mut out = crate::output::stdout();
    let mut after: Option<(String, String)> = None;
    loop {
        // Whether the run was terminal before this read: then nothing can follow it.
        let terminal = store::get_run(&conn, &run.id)?.is_none_or(|r| r.is_terminal());
        let cursor = after.as_ref().map(|(c, i)| (c.as_str(), i.as_str()));
        let logs = store::steps::logs_of(&conn, &run.id, cursor)?;
        for l in &logs {
            if args.json {
                crate::output::json_line(&mut out, &l.to_json())?;
            } else {
                crate::output::log_line(&mut out, l)?;
            }
        }
        if let Some(l) = logs.last() {
            after = Some((l.created_at.clone(), l.id.clone()));
        }
        out.flush()?;
        if !args.follow || terminal {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
