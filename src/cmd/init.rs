//! `durably init [--wal]`: create the schema, or add the indexes an existing file lacks.

use super::Context;
use crate::cli::InitArgs;
use crate::error::ExitCode;
use crate::store::{Access, SCHEMA_VERSION};
use anyhow::Result;
use std::io::Write;

pub fn run(ctx: &Context, args: InitArgs) -> Result<ExitCode> {
    // A file that lacks a table or column is refused by open; one that lacks only indexes (the
    // library's or ours) gets them here, never on an ordinary open.
    let postgres = crate::store::is_postgres_url(ctx.path());
    if postgres && args.wal {
        return Err(crate::error::CodedError::usage(
            "--wal: journal modes are SQLite's; PostgreSQL keeps its own write-ahead log",
        )
        .into());
    }
    let store = ctx.open(Access::Repair)?;
    store.repair()?;
    if args.wal {
        store.enable_wal()?;
    }
    let mut out = crate::output::stdout();
    if postgres {
        // No journal mode: the server's own log is not ours to choose.
        writeln!(out, "{}: schema v{}", store.location(), SCHEMA_VERSION)?;
    } else {
        let mode = store.journal_mode()?;
        writeln!(
            out,
            "{}: schema v{}, journal mode {mode}",
            ctx.path().display(),
            SCHEMA_VERSION
        )?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}
