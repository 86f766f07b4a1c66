//! `durably work [--once | --until-idle] [options] (--handlers DIR | -- CMD ARGS...)`

use super::Context;
use crate::cli::WorkArgs;
use crate::error::{CodedError, ExitCode};
use crate::model::RetryPolicy;
use crate::worker::{self, Config, Handler, Mode};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn run(ctx: &Context, args: WorkArgs) -> Result<ExitCode> {
    let handler = handler(&args)?;
    // Checked before the database is opened: a bad policy is a usage error that writes nothing.
    let default_retry = default_retry(&args)?;
    let mode = if args.once {
        Mode::Once
    } else if args.until_idle {
        Mode::UntilIdle
    } else {
        Mode::Forever
    };
    let cfg = Config {
        handler,
        jobs: args.job,
        mode,
        concurrency: args.concurrency as usize,
        lease: args.lease,
        poll: args.poll.max(Duration::from_millis(10)),
        timeout: args.timeout,
        max_runs: args.max_runs,
        retain: args.retain,
        stderr_logs: !args.no_stderr_logs,
        verbose: args.verbose,
        max_lease_expiries: args.max_lease_expiries,
        commands: args.commands.unwrap_or_default(),
        default_retry,
    };
    worker::run(&ctx.opts, cfg)
}

/// `--retries N [--backoff BASE] [--backoff-max MAX] [--retry-on CODES]`: the policy of the
/// runs this worker fails that were enqueued without one; `--retries 0`: none.
fn default_retry(args: &WorkArgs) -> Result<Option<RetryPolicy>> {
    let Some(n) = args.retries else {
        return Ok(None);
    };
    let codes = args.retry_on.clone();
    let policy = super::common::retry_policy(n, args.backoff, args.backoff_max, codes)?;
    Ok((n > 0).then_some(policy))
}

fn handler(args: &WorkArgs) -> Result<Handler> {
    // DURABLY_HANDLERS from the environment gives way to an explicit `-- CMD`.
    let from_env = std::env::var_os("DURABLY_HANDLERS")
        .is_some_and(|v| args.handlers.as_deref() == Some(Path::new(&v)));
    match (&args.handlers, args.command.split_first()) {
        (Some(_), Some(_)) if !from_env => {
            Err(CodedError::usage("give either --handlers DIR or -- CMD ARGS..., not both").into())
        }
        (_, Some((cmd, rest))) => Ok(Handler::Command {
            path: resolve_command(cmd)?,
            args: rest.to_vec(),
        }),
        (Some(dir), None) => {
            if !dir.is_dir() {
                return Err(anyhow::anyhow!(
                    "handler directory {} does not exist or is not a directory",
                    dir.display()
                ));
            }
            Ok(Handler::Dir(dir.clone()))
        }
        (None, None) if args.commands.is_some() => Ok(Handler::Nothing),
        (None, None) => Err(CodedError::usage(
            "give --handlers DIR (or DURABLY_HANDLERS), a handler command after --, or --commands",
        )
        .into()),
    }
}

/// Finds CMD like a shell would (a name without `/` is looked up in PATH), without a shell.
fn resolve_command(cmd: &str) -> Result<PathBuf> {
    if cmd.is_empty() {
        return Err(CodedError::usage("the handler command is empty").into());
    }
    if cmd.contains('/') {
        let path = PathBuf::from(cmd);
        return match std::fs::metadata(&path) {
            Err(e) => Err(anyhow::anyhow!("cannot execute handler {cmd}: {e}")),
            Ok(_) if !worker::is_executable_file(&path) => Err(anyhow::anyhow!(
                "cannot execute handler {cmd}: not an executable file"
            )),
            Ok(_) => Ok(path),
        };
    }
    worker::find_in_path(cmd, &worker::search_path())
        .ok_or_else(|| anyhow::anyhow!("cannot execute handler {cmd}: not found in PATH"))
}
