//! `durably progress CURRENT [--total N] [--message TEXT]` (inside a handler)

use super::step::{fence, lease_lost};
use super::Context;
use crate::cli::ProgressArgs;
use crate::db::{self, Access};
use crate::error::ExitCode;
use crate::store::steps;
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
        p.insert("message".into(), m.into());
    }
    let progress = Value::Object(p).to_string();
    let mut conn = ctx.open(Access::WriteExisting)?;
    let ok = db::write(&mut conn, ctx.path(), |tx| {
        steps::set_progress(tx, &fence, &progress, &crate::time::now())
    })?;
    if !ok {
        return Err(lease_lost(&fence));
    }
    Ok(ExitCode::Ok)
}
