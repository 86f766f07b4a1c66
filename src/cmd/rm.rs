//! `durably rm ID... [--force]` and `durably rm --older-than DUR [filters] [--dry-run]`

use super::{parse_label_filters, Context};
use crate::cli::RmArgs;
use crate::error::{CodedError, ExitCode};
use crate::store::Access;
use crate::store::PurgeFilter;
use anyhow::Result;
use serde_json::json;
use std::io::Write;

pub fn run(ctx: &Context, args: RmArgs) -> Result<ExitCode> {
    match args.older_than {
        Some(age) => purge(ctx, &args, age),
        None if args.ids.is_empty() => Err(CodedError::usage(
            "give run ids, or --older-than DUR to purge terminal runs",
        )
        .into()),
        None => delete_ids(ctx, &args),
    }
}

fn delete_ids(ctx: &Context, args: &RmArgs) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Write)?;
    let mut worst = ExitCode::Ok;
    let mut out = crate::output::stdout_keep_going();
    for given in &args.ids {
        let result = match delete_held(&mut store, given, args.force) {
            Ok(Some(id)) => Ok(id),
            Ok(None) => store.delete(given, args.force),
            Err(e) => Err(e),
        };
        match result {
            Ok(id) => {
                if args.json {
                    crate::output::json_line(&mut out, &json!({"id": id, "deleted": true}))?;
                } else {
                    writeln!(out, "{}", crate::output::escape(&id))?;
                }
            }
            Err(e) => {
                let c = crate::error::exit_code(&e);
                if c != ExitCode::NotFound && c != ExitCode::Conflict {
                    return Err(e);
                }
                out.flush()?;
                eprintln!("durably: {}", crate::output::error_text(&e));
                worst = worst.combine(c);
            }
        }
    }
    out.flush()?;
    Ok(worst)
}

fn purge(ctx: &Context, args: &RmArgs, age: std::time::Duration) -> Result<ExitCode> {
    let filter = PurgeFilter {
        statuses: args.status.clone(),
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
            writeln!(out, "would delete {}", crate::output::count(n, "run"))?;
        }
        out.flush()?;
        return Ok(ExitCode::Ok);
    }
    let deleted = ctx.open(Access::Write)?.purge(&filter)?;
    if args.json {
        crate::output::json_line(&mut out, &json!({"deleted": deleted}))?;
    } else {
        writeln!(out, "deleted {}", crate::output::count(deleted, "run"))?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// Deletes the held run `given` names, by the rule of runs: a held run is not terminal, so only
/// with `force` (else a conflict naming its status); None when no held run has this handle.
fn delete_held(
    store: &mut crate::store::Store,
    given: &str,
    force: bool,
) -> Result<Option<String>> {
    if !force {
        return match store.find_held(given)? {
            Some(h) => Err(crate::error::StoreError::Conflict(format!(
                "run {} is {}; only terminal runs are deleted (use --force, or cancel it)",
                h.run.id, h.run.status
            ))
            .into()),
            None => Ok(None),
        };
    }
    store.delete_held(given)
}
