//! `durably log [--level info|warn|error] [--data JSON] MESSAGE` (inside a handler)

use super::step::{fence, lease_lost};
use super::Context;
use crate::cli::{Level, LogArgs};
use crate::db::{self, Access};
use crate::error::{CodedError, ExitCode};
use crate::model::validate_json;
use crate::store::steps::{self, NewLog};
use anyhow::Result;

pub fn run(ctx: &Context, args: LogArgs) -> Result<ExitCode> {
    let fence = fence("log")?;
    let data = args
        .data
        .as_deref()
        .map(|d| validate_json(d, "--data").map_err(|e| CodedError::usage(format!("{e:#}"))))
        .transpose()?;
    let step = std::env::var("DURABLY_STEP").ok().filter(|s| !s.is_empty());
    let level = match args.level {
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    };
    let log = NewLog {
        step_name: step.as_deref(),
        level,
        message: &args.message,
        data: data.as_deref(),
    };
    let mut conn = ctx.open(Access::WriteExisting)?;
    let ok = db::write(&mut conn, ctx.path(), |tx| {
        steps::insert_log(tx, &fence, &log, &crate::time::now())
    })?;
    if !ok {
        return Err(lease_lost(&fence));
    }
    Ok(ExitCode::Ok)
}
