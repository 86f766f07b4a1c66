//! `durably cancel ID...`

use super::common::merge_code;
use super::Context;
use crate::cli::IdsArgs;
use crate::error::code;
use crate::store::Access;
use anyhow::Result;
use serde_json::json;
use std::io::Write;

pub fn cancel(ctx: &Context, args: IdsArgs) -> Result<i32> {
    let mut store = ctx.open(Access::Write)?;
    let mut worst = code::OK;
    let mut out = crate::output::stdout_keep_going();
    for given in &args.ids {
        let result = store.cancel(given);
        match result {
            Ok(id) => {
                if args.json {
                    crate::output::json_line(&mut out, &json!({"id": id, "status": "cancelled"}))?;
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
