//! `durably cancel ID...`

use super::Context;
use crate::cli::IdsArgs;
use crate::error::ExitCode;
use crate::store::Access;
use anyhow::Result;
use serde_json::json;
use std::io::Write;

pub fn cancel(ctx: &Context, args: IdsArgs) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Write)?;
    let mut worst = ExitCode::Ok;
    let mut out = crate::output::stdout_keep_going();
    for given in &args.ids {
        let result = store.cancel(given);
        match result {
            Ok(id) => {
                if args.json {
                    crate::output::json_line(&mut out, &json!({"id": id, "status": "cancelled"}))?;
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
