//! `durably ls [filters] [--format table|json|ndjson|ids]`

use super::{parse_label_filters, Context};
use crate::cli::{Format, LsArgs};
use crate::db::Access;
use crate::error::ExitCode;
use crate::output::escape;
use crate::store::{self, list::ListFilter};
use anyhow::Result;
use std::io::Write;

pub fn run(ctx: &Context, args: LsArgs) -> Result<ExitCode> {
    let labels = parse_label_filters(&args.labels)?;
    let format = if args.json { Format::Json } else { args.format };
    let mut conn = ctx.open(Access::Read)?;
    // One read transaction for everything `ls` reads: every statement (the plan's count, the
    // page, two id-prefix lookups per row) sees the same snapshot, and the file is locked and
    // the WAL index read once instead of once per statement (bench: ~1 ms of a 50-row table).
    // It ends before the first byte is written: output can block on a slow pipe or a pager,
    // and an open read would block every writer on a rollback-journal file (or pin the WAL).
    let tx = conn.transaction()?;
    let before = match &args.before {
        Some(id) => {
            let run = store::find_run(&tx, id)?;
            Some((run.created_at, run.id))
        }
        None => None,
    };
    let filter = ListFilter {
        labels,
        statuses: args.status.clone(),
        jobs: args.job.clone(),
        before,
        limit: args.limit,
        offset: args.offset,
    };
    if args.explain {
        let (plan, lines) = store::list::explain(&tx, &filter)?;
        tx.commit()?;
        let mut out = crate::output::stdout();
        writeln!(out, "strategy: {}", plan.strategy)?;
        if !plan.note.is_empty() {
            writeln!(out, "note: {}", escape(&plan.note))?;
        }
        for (q, plan_lines) in plan.queries.iter().zip(lines) {
            writeln!(out, "query: {}", escape(&q.sql))?;
            for l in plan_lines {
                writeln!(out, "  {}", escape(&l))?;
            }
        }
        out.flush()?;
        return Ok(ExitCode::Ok);
    }
    let runs = store::list::list(&tx, &filter)?;
    let short_ids = match format {
        Format::Table => runs
            .iter()
            .map(|r| store::unique_prefix(&tx, &r.id))
            .collect::<Result<Vec<_>>>()?,
        _ => Vec::new(),
    };
    tx.commit()?;
    let mut out = crate::output::stdout();
    match format {
        Format::Table => crate::output::runs_table(&mut out, &runs, &short_ids)?,
        Format::Json => crate::output::json_pretty(&mut out, &runs)?,
        Format::Ndjson => {
            for r in &runs {
                crate::output::json_line(&mut out, r)?;
            }
        }
        Format::Ids => {
            for r in &runs {
                writeln!(out, "{}", escape(&r.id))?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}
