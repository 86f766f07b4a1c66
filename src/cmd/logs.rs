//! `durably logs ID [--follow] [--json]`

use super::Context;
use crate::cli::LogsArgs;
use crate::error::ExitCode;
use crate::store::Access;
use anyhow::Result;
use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

/// Logs read (and held in memory) per read transaction.
const PAGE: u64 = 1000;

pub fn run(ctx: &Context, args: LogsArgs) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Read)?;
    let run = store.find_run(&args.id)?;
    let mut out = crate::output::stdout();
    // Between polls, follow by created_at, re-reading the last millisecond: logs of different
    // processes committed in the same millisecond need not arrive in id order. Within a poll,
    // pages follow on from the last (created_at, id) printed.
    let mut last_ms: Option<String> = None;
    let mut last_id = String::new();
    let mut seen_in_last_ms: HashSet<String> = HashSet::new();
    let mut paging = false;
    loop {
        // A page per read transaction, ended before printing: a stalled pipe or pager holds no
        // lock (rollback journal) and pins no WAL, and memory stays at one page.
        // Whether the run was terminal in this snapshot: then every log is in it too.
        let cursor = last_ms
            .as_deref()
            .map(|c| (c, if paging { last_id.as_str() } else { "" }));
        let (terminal, logs) = store.logs_page(&run.id, cursor, PAGE)?;
        paging = logs.len() as u64 == PAGE;
        for l in &logs {
            last_id.clone_from(&l.id);
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
        if paging {
            continue;
        }
        if !args.follow || terminal {
            return Ok(ExitCode::Ok);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
