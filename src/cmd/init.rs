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
    if args.wal && ctx.opts.target.file().is_none() {
        return Err(crate::error::CodedError::usage(
            "--wal: journal modes are SQLite's; PostgreSQL keeps its own write-ahead log",
        )
        .into());
    }
    let store = ctx.open(Access::Repair)?;
    store.repair()?;
    let mut out = crate::output::stdout();
    match store.sqlite() {
        Some(file) => {
            if args.wal {
                file.enable_wal()?;
            }
            let mode = file.journal_mode()?;
            let path = file.path().display();
            writeln!(out, "{path}: schema v{SCHEMA_VERSION}, journal mode {mode}")?;
        }
        // No journal mode: the server's own log is not ours to choose.
        None => writeln!(out, "{}: schema v{SCHEMA_VERSION}", store.location())?,
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}
