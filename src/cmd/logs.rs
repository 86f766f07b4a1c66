//! `durably logs ID [--follow] [--json]`

use super::Context;
use crate::cli::LogsArgs;
use crate::db::Access;
use crate::store;
use anyhow::Result;
use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

pub fn run(ctx: &Context, args: LogsArgs) -> Result<i32> {
    let conn = ctx.open(Access::Read)?;
    let run = store::find_run(&conn, &args.id)?;
    let mut out = crate::output::stdout();
    // Follow by created_at, re-reading the last millisecond: logs of different processes
    // committed in the same millisecond need not arrive in id order.
    let mut last_ms: Option<String> = None;
    let mut seen_in_last_ms: HashSet<String> = HashSet::new();
    loop {
        // Whether the run was terminal before this read: then nothing can follow it.
        let terminal = store::get_run(&conn, &run.id)?.is_none_or(|r| r.is_terminal());
        let cursor = last_ms.as_deref().map(|c| (c, ""));
        let logs = store::steps::logs_of(&conn, &run.id, cursor)?;
        for l in &logs {
            if last_ms.as_deref() == Some(l.created_at.as_str()) {
                if !seen_in_last_ms.insert(l.id.clone()) {
                    continue;
                }
            } else {
                last_ms = Some(l.created_at.clone());
                seen_in_last_ms.clear();
                seen_in_last_ms.insert(l.id.clone());
            }
            if args.json {
                crate::output::json_line(&mut out, &l.to_json())?;
            } else {
                crate::output::log_line(&mut out, l)?;
            }
        }
        out.flush()?;
        if !args.follow || terminal {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
