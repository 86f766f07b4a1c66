//! `durably log [--level info|warn|error] [--data JSON] MESSAGE` (inside a handler)

use super::common::{fence, lease_lost, with_retries};
use super::Context;
use crate::cli::{Level, LogArgs};
use crate::error::{CodedError, ExitCode};
use crate::handler_channel::handler_error;
use crate::model::validate_json;
use crate::store::NewLog;
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
    let message = crate::model::storable_bytes(args.message.as_encoded_bytes());
    let log = NewLog {
        step_name: step.as_deref(),
        level,
        message: &message,
        data: data.as_deref(),
    };
    let written = with_retries(ctx, "log", false, &mut None, |store| {
        store.append_log(&fence, &log)
    })
    .map_err(|e| handler_error("log", e))?;
    if written.is_lost() {
        return Err(lease_lost(&fence));
    }
    Ok(ExitCode::Ok)
}
