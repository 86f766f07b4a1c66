//! `durably enqueue [FILE|-] [flags]`

use super::Context;
use crate::cli::EnqueueArgs;
use crate::error::{CodedError, ExitCode};
use crate::model::command::{self, Command};
use crate::model::Disposition;
use crate::model::{validate_json, RunSpec};
use crate::store::held::HeldAnswer;
use crate::store::Access;
use anyhow::{Context as _, Result};
use std::io::{Read, Write};
use std::path::Path;

/// The largest run spec read: one `enqueue` FILE, one `enqueue-many` line or array item. A
/// bigger one is refused before anything is written, so memory stays bounded whatever the input
/// (`< /dev/zero` included). Generous: an input of 16 MiB is far beyond what a queue row is for.
pub const MAX_SPEC_BYTES: u64 = 16 << 20;

/// The error text for a spec over [`MAX_SPEC_BYTES`].
pub fn too_long() -> String {
    format!(
        "longer than {} MiB, the limit of one run spec",
        MAX_SPEC_BYTES >> 20
    )
}

/// Reads a spec FILE (or stdin for `-`) whole, before any transaction begins, up to
/// [`MAX_SPEC_BYTES`].
fn read_spec(file: &Path, name: &str) -> Result<String> {
    let mut bytes = Vec::new();
    let limit = MAX_SPEC_BYTES + 1;
    let read = if file.as_os_str() == "-" {
        std::io::stdin().lock().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    read.with_context(|| format!("cannot read {name}"))?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        return Err(anyhow::anyhow!("{name}: {}", too_long()));
    }
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{name} is not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The input of a command run (`-- CMD ARGS`): the command line, this directory and the
/// variables asked for with `--env`; checked before the database is opened.
fn command_input(args: &EnqueueArgs) -> Result<String> {
    if args.file.is_some() || args.input.is_some() {
        return Err(CodedError::usage(
            "a command run (-- CMD) takes no spec FILE or --input: the command is its input",
        )
        .into());
    }
    if args.command[0].is_empty() {
        return Err(CodedError::usage("the command after -- is empty").into());
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let cwd = cwd.to_str().ok_or_else(|| {
        CodedError::usage(format!(
            "the current directory {} is not valid UTF-8",
            cwd.display()
        ))
    })?;
    let mut env = std::collections::BTreeMap::new();
    for item in &args.env {
        let name = item.split_once('=').map_or(item.as_str(), |(name, _)| name);
        if !command::valid_variable_name(name) {
            return Err(CodedError::usage(format!(
                "--env {item}: {name:?} is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"
            ))
            .into());
        }
        if command::refused_variable(name) {
            return Err(CodedError::usage(format!(
                "--env {name}: the database's password and DURABLY_ variables are never stored"
            ))
            .into());
        }
        let value = match item.split_once('=') {
            Some((_, value)) => value.to_string(),
            None => std::env::var(name).map_err(|_| {
                CodedError::usage(format!("--env {name}: {name} is not set (or not UTF-8)"))
            })?,
        };
        env.insert(name.to_string(), value);
    }
    let command = Command {
        command: args.command.clone(),
        cwd: cwd.to_string(),
        env,
    };
    Ok(command.to_input())
}

/// The JSON, id and disposition of an enqueue with a hold: a new held run (its JSON marks it
/// held), or the held run or run holding the spec's idempotency key.
pub fn held_answer(answer: HeldAnswer) -> (serde_json::Value, String, Disposition) {
    match answer {
        HeldAnswer::Created(h) => (h.to_json(), h.run.id, Disposition::Created),
        HeldAnswer::Existing(h) => (h.to_json(), h.run.id, Disposition::Idempotent),
        HeldAnswer::Run(run) => (run.to_json(), run.id, Disposition::Idempotent),
    }
}

/// `--retries N [--backoff BASE] [--backoff-max MAX] [--retry-on CODES]` (usage errors).
fn retry_policy(args: &EnqueueArgs) -> Result<Option<crate::model::RetryPolicy>> {
    let Some(retries) = args.retries else {
        return Ok(None);
    };
    super::common::retry_policy(
        retries,
        args.backoff,
        args.backoff_max,
        args.retry_on.clone(),
    )
    .map(Some)
}

pub fn run(ctx: &Context, args: EnqueueArgs) -> Result<ExitCode> {
    let mut flags = super::common::spec_overrides(&args.spec)?;
    if let Some(input) = &args.input {
        flags.input =
            Some(validate_json(input, "--input").map_err(|e| CodedError::usage(format!("{e:#}")))?);
    }
    if !args.command.is_empty() {
        flags.input = Some(command_input(&args)?);
        flags
            .job
            .get_or_insert_with(|| command::DEFAULT_JOB.to_string());
    } else if !args.env.is_empty() {
        return Err(
            CodedError::usage("--env is for command runs: give the command after --").into(),
        );
    }
    // With a spec file the key may come from the file: RunSpec checks the merged spec.
    if args.coalesce && args.concurrency_key.is_none() && args.file.is_none() {
        return Err(CodedError::usage("--coalesce needs --concurrency-key").into());
    }
    flags.idempotency_key = args.idempotency_key.clone();
    flags.concurrency_key = args.concurrency_key.clone();
    flags.coalesce = args.coalesce;
    flags.retry = retry_policy(&args)?;
    let spec = match &args.file {
        Some(file) => {
            let name = if file.as_os_str() == "-" {
                "stdin".to_string()
            } else {
                file.display().to_string()
            };
            // Read whole before the database is opened: no transaction waits on input.
            let text = read_spec(file, &name)?;
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
    let mut store = ctx.open(Access::Write)?;
    let (json, id, disposition) = if spec.hold.is_some() {
        held_answer(store.enqueue_held(&spec)?)
    } else {
        let (run, disposition) = store.enqueue(&spec)?;
        (run.to_json(), run.id, disposition)
    };
    let mut out = crate::output::stdout();
    if args.wait {
        eprintln!("{}", crate::output::escape(&id));
        drop(out);
        return super::wait_for(&mut store, &id, args.timeout, args.json);
    }
    if args.json {
        let mut v = json;
        v["disposition"] = disposition.as_str().into();
        crate::output::json_pretty(&mut out, &v)?;
    } else {
        // An idempotent answer's id comes from the database (another writer may have made
        // it): escaped like any text from it.
        writeln!(out, "{}", crate::output::escape(&id))?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}
