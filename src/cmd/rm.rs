//! `durably rm ID... [--force]` and `durably rm --older-than DUR [filters] [--dry-run]`

use super::{parse_label_filters, Context};
use crate::cli::RmArgs;
use crate::db::{self, Access};
use crate::error::{CodedError, ExitCode};
use crate::store::{self, admin::PurgeFilter};
use crate::time;
use anyhow::Result;
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

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
    let mut conn = ctx.open(Access::Write)?;
    let mut overall = ExitCode::Ok;
    let mut out = crate::output::stdout_keep_going();
    for given in &args.ids {
        let result = db::write(&mut conn, ctx.path(), |tx| {
            let run = store::find_run(tx, given)?;
            if !run.is_terminal() && !args.force {
                return Err(CodedError::conflict(format!(
                    "run {} is {}; only terminal runs are deleted (use --force)",
                    run.id, run.status
                ))
                .into());
            }
            store::admin::delete_run(tx, &run.id)?;
            Ok(run.id)
        });
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
                if c != ExitCode::NotFound && c != ExitCode::Conflict {
                    return Err(e);
                }
                out.flush()?;
                eprintln!("durably: {}", crate::output::error_text(&e));
                overall = overall.combine(c);
            }
        }
    }
    out.flush()?;
    Ok(overall)
}

/// Deletes in batches sized to hold the write lock for about this long (SPEC: ≤ ~50 ms; aiming
/// lower leaves room for the variation between batches).
const BATCH_TARGET: Duration = Duration::from_millis(30);
/// The pause after each batch, in which waiting writers get the lock.
const BATCH_GAP: Duration = Duration::from_millis(2);

fn purge(ctx: &Context, args: &RmArgs, age: Duration) -> Result<ExitCode> {
    let filter = PurgeFilter {
        cutoff: String::new(),
        statuses: args.status.clone(),
        jobs: args.job.clone(),
        labels: parse_label_filters(&args.labels)?,
    };
    let mut out = crate::output::stdout_keep_going();
    if args.dry_run {
        let conn = ctx.open(Access::Read)?;
        let filter = PurgeFilter {
            cutoff: time::ago(age),
            ..filter
        };
        let n = store::admin::purge_count(&conn, &filter)?;
        if args.json {
            crate::output::json_line(&mut out, &json!({"wouldDelete": n}))?;
        } else {
            writeln!(out, "would delete {n} runs")?;
        }
        out.flush()?;
        return Ok(ExitCode::Ok);
    }
    let mut conn = ctx.open(Access::Write)?;
    let deleted = purge_all(&mut conn, ctx.path(), filter, age)?;
    if args.json {
        crate::output::json_line(&mut out, &json!({"deleted": deleted}))?;
    } else {
        writeln!(out, "deleted {deleted} runs")?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// Purges in short IMMEDIATE transactions, so other writers wait at most one batch.
/// The cutoff is fixed when the purge starts. Used by `rm --older-than` and `work --retain`.
pub fn purge_all(
    conn: &mut rusqlite::Connection,
    path: &std::path::Path,
    filter: PurgeFilter,
    age: Duration,
) -> Result<u64> {
    let filter = PurgeFilter {
        cutoff: time::ago(age),
        ..filter
    };
    let mut batch: u64 = 256;
    let mut deleted = 0;
    loop {
        let started = Instant::now();
        let n = db::write(conn, path, |tx| {
            store::admin::purge_batch(tx, &filter, batch)
        })?;
        deleted += n;
        if n < batch {
            return Ok(deleted);
        }
        let took = started.elapsed();
        // The WAL frames of this batch go into the database now, in the purge's own time:
        // otherwise the next small writer's commit (an `enqueue` waiting for the lock) runs the
        // auto-checkpoint of thousands of pages the purge wrote.
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| db::describe(e.into(), path))?;
        // A gap between batches, so that a waiting writer (polling every ms, see db::busy_wait)
        // takes the lock now instead of after the whole purge.
        std::thread::sleep(BATCH_GAP);
        // Sized in proportion to the last batch's time, at most 1.5× bigger each step, so a
        // batch does not overshoot the target by doubling.
        let scaled = batch as f64 * BATCH_TARGET.as_secs_f64() / took.as_secs_f64().max(1e-4);
        batch = (scaled as u64)
            .clamp(batch / 2, batch + batch / 2)
            .clamp(16, 8192);
    }
}
