//! `durably enqueue [FILE|-] [flags]`

use super::{parse_labels, read_text, Context};
use crate::cli::{EnqueueArgs, SpecArgs};
use crate::db::{self, Access};
use crate::error::{CodedError, ExitCode};
use crate::model::{validate_json, RunSpec, SpecDefaults};
use crate::store::enqueue::{enqueue, Clock};
use anyhow::Result;
use std::io::Write;

/// The flags shared by `enqueue` and `enqueue-many`, as spec defaults.
pub fn spec_defaults(spec: &SpecArgs) -> Result<SpecDefaults> {
    Ok(SpecDefaults {
        job: spec.job.clone(),
        labels: parse_labels(&spec.labels)?,
        ..SpecDefaults::default()
    })
}

pub fn run(ctx: &Context, args: EnqueueArgs) -> Result<ExitCode> {
    let mut flags = spec_defaults(&args.spec)?;
    if let Some(input) = &args.input {
        flags.input =
            Some(validate_json(input, "--input").map_err(|e| CodedError::usage(format!("{e:#}")))?);
    }
    // With a spec file the key may come from the file: RunSpec checks the merged spec.
    if args.coalesce && args.concurrency_key.is_none() && args.file.is_none() {
        return Err(CodedError::usage("--coalesce needs --concurrency-key").into());
    }
    flags.idempotency_key = args.idempotency_key.clone();
    flags.concurrency_key = args.concurrency_key.clone();
    flags.coalesce = args.coalesce;
    let spec = match &args.file {
        Some(file) => {
            let text = read_text(Some(file))?;
            let name = if file.as_os_str() == "-" {
                "stdin".to_string()
            } else {
                file.display().to_string()
            };
            RunSpec::parse(&text, &flags).map_err(|e| {
                let code = crate::error::exit_code(&e);
                anyhow::Error::new(CodedError::new(code, format!("{name}: {e:#}")))
            })?
        }
        None => {
            if flags.job.is_none() {
                return Err(
                    CodedError::usage("give a spec FILE (or - for stdin) or --job NAME").into(),
                );
            }
            RunSpec::from_flags(&flags)?
        }
    };
    let mut conn = ctx.open(Access::Write)?;
    let mut clock = Clock::default();
    let (run, disposition) = db::write(&mut conn, ctx.path(), |tx| enqueue(tx, &spec, &mut clock))?;
    let mut out = crate::output::stdout();
    if args.wait {
        eprintln!("{}", run.id);
        drop(out);
        return super::wait_for(&conn, &run.id, args.timeout, args.json);
    }
    if args.json {
        let mut v = run.to_json();
        v["disposition"] = disposition.as_str().into();
        crate::output::json_pretty(&mut out, &v)?;
    } else {
        writeln!(out, "{}", run.id)?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}
