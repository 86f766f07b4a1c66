//! `durably cancel ID...`: pending, leased and held runs (a held one is moved into the runs as
//! `cancelled`, so the library sees it)

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
        // A held run first (moved into the runs as cancelled), else a run.
        let result = match store.cancel_held(given) {
            Ok(Some(id)) => Ok(id),
            Ok(None) => store.cancel(given),
            Err(e) => Err(e),
        };
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
