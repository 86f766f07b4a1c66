//! `durably init [--wal]`: create the schema, or add the indexes an existing file lacks.

use super::Context;
use crate::cli::InitArgs;
use crate::db::{self, Access};
use crate::error::ExitCode;
use anyhow::{Context as _, Result};
use std::io::Write;

pub fn run(ctx: &Context, args: InitArgs) -> Result<ExitCode> {
    // A file that lacks a table or column is refused by open; one that lacks only indexes (the
    // library's or ours) gets them here, never on an ordinary open.
    let conn = ctx.open(Access::Repair)?;
    db::repair(&conn, ctx.path())?;
    if args.wal {
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| db::describe(e.into(), ctx.path()))
            .with_context(|| format!("cannot switch {} to WAL", ctx.path().display()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            anyhow::bail!(
                "cannot switch {} to WAL (journal mode stays {mode})",
                ctx.path().display()
            );
        }
    }
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let mut out = crate::output::stdout();
    writeln!(
        out,
        "{}: schema v{}, journal mode {mode}",
        ctx.path().display(),
        db::SCHEMA_VERSION
    )?;
    out.flush()?;
    Ok(ExitCode::Ok)
}
