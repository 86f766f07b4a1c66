//! `durably ls [filters] [--format table|json|ndjson|ids]`

use super::{parse_label_filters, Context};
use crate::cli::{Format, LsArgs};
use crate::error::ExitCode;
use crate::output::escape;
use crate::store::Access;
use crate::store::ListFilter;
use anyhow::Result;
use std::io::Write;

pub fn run(ctx: &Context, args: LsArgs) -> Result<ExitCode> {
    let labels = parse_label_filters(&args.labels)?;
    let format = if args.json { Format::Json } else { args.format };
    let mut store = ctx.open(Access::Read)?;
    // Everything `ls` reads (the plan's count, the page, two id-prefix lookups per row) comes
    // from one read transaction of the store (bench: ~1 ms of a 50-row table), ended before
    // the first byte is written: output can block on a slow pipe or a pager.
    let filter = ListFilter {
        labels,
        statuses: args.status.clone(),
        jobs: args.job.clone(),
        before: None,
        limit: args.limit,
        offset: args.offset,
    };
    if args.explain {
        let (plan, lines) = store.explain_list(args.before.as_deref(), filter)?;
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
    let (runs, short_ids) =
        store.list_page(args.before.as_deref(), filter, format == Format::Table)?;
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
