//! `durably rm ID... [--force]` and `durably rm --older-than DUR [filters] [--dry-run]`

use super::common::merge_code;
use super::{parse_label_filters, parse_statuses, Context};
use crate::cli::RmArgs;
use crate::error::{code, Fail};
use crate::store::Access;
use crate::store::PurgeFilter;
use anyhow::Result;
use serde_json::json;
use std::io::Write;

pub fn run(ctx: &Context, args: RmArgs) -> Result<i32> {
    match &args.older_than {
        Some(dur) => purge(ctx, &args, dur),
        None if args.ids.is_empty() => {
            Err(Fail::usage("give run ids, or --older-than DUR to purge terminal runs").into())
        }
        None => delete_ids(ctx, &args),
    }
}

fn delete_ids(ctx: &Context, args: &RmArgs) -> Result<i32> {
    let mut store = ctx.open(Access::Write)?;
    let mut worst = code::OK;
    let mut out = crate::output::stdout_keep_going();
    for given in &args.ids {
        let result = store.delete(given, args.force);
        match result {
            Ok(id) => {
                if args.json {
                    crate::output::json_line(&mut out, &json!({"id": id, "deleted": true}))?;
                } else {
                    writeln!(out, "{id}")?;
                }
            }
            Err(e) => {
                let c = crate::error::exit_code(&e);
                if c != code::NOT_FOUND && c != code::CONFLICT {
                    return Err(e);
                }
                out.flush()?;
                eprintln!("durably: {}", crate::output::error_text(&e));
                worst = merge_code(worst, c);
            }
        }
    }
    out.flush()?;
    Ok(worst)
}

fn purge(ctx: &Context, args: &RmArgs, dur: &str) -> Result<i32> {
    let age = super::parse_duration_flag("--older-than", dur)?;
    let statuses = parse_statuses(&args.status)?;
    if let Some(s) = statuses.iter().find(|s| !s.is_terminal()) {
        return Err(Fail::usage(format!(
            "--status {s}: only terminal runs (completed, failed, cancelled) are purged"
        ))
        .into());
    }
    let filter = PurgeFilter {
        statuses,
        jobs: args.job.clone(),
        labels: parse_label_filters(&args.labels)?,
        ..PurgeFilter::older_than(age)
    };
    let mut out = crate::output::stdout_keep_going();
    if args.dry_run {
        let n = ctx.open(Access::Read)?.purge_count(&filter)?;
        if args.json {
            crate::output::json_line(&mut out, &json!({"wouldDelete": n}))?;
        } else {
            writeln!(out, "would delete {n} runs")?;
        }
        out.flush()?;
        return Ok(0);
    }
    let deleted = ctx.open(Access::Write)?.purge(&filter)?;
    if args.json {
        crate::output::json_line(&mut out, &json!({"deleted": deleted}))?;
    } else {
        writeln!(out, "deleted {deleted} runs")?;
    }
    out.flush()?;
    Ok(0)
}
