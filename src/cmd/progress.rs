//! `durably progress CURRENT [--total N] [--message TEXT]` (inside a handler)

use super::common::{fence, lease_lost, with_retries};
use super::Context;
use crate::cli::ProgressArgs;
use crate::error::ExitCode;
use crate::handler_channel::handler_error;
use anyhow::Result;
use serde_json::{Map, Value};

pub fn run(ctx: &Context, args: ProgressArgs) -> Result<ExitCode> {
    let fence = fence("progress")?;
    // The library's shape: { current, total?, message? }.
    let mut p = Map::new();
    p.insert("current".into(), args.current.into());
    if let Some(t) = args.total {
        p.insert("total".into(), t.into());
    }
    if let Some(m) = args.message {
        let m = crate::model::storable_bytes(m.as_encoded_bytes()).into_owned();
        p.insert("message".into(), m.into());
    }
    let progress = Value::Object(p).to_string();
    let written = with_retries(ctx, "progress", true, &mut None, |store| {
        store.set_progress(&fence, &progress)
    })
    .map_err(|e| handler_error("progress", e))?;
    if written.is_lost() {
        return Err(lease_lost(&fence));
    }
    Ok(ExitCode::Ok)
}
