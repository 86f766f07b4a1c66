//! `durably serve [--bind ADDR:PORT] [--base-path P] [--read-only] [--token T] …`: checks the
//! options and hands them to [`crate::serve`], which owns the server.

use super::Context;
use crate::cli::ServeArgs;
use crate::error::{CodedError, ExitCode};
use crate::serve::{Config, JobGate};
use anyhow::Result;
use std::io::Write;
use std::time::Duration;

pub fn run(ctx: &Context, args: ServeArgs) -> Result<ExitCode> {
    let token = args.token.filter(|t| !t.is_empty());
    if let Some(t) = &token {
        crate::secret::remember(t);
        if !t
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b";,\"\\".contains(&b))
        {
            return Err(CodedError::usage(
                "--token: use printable ASCII without spaces, quotes, backslashes, commas or semicolons",
            )
            .into());
        }
    }
    if !args.bind.ip().is_loopback() && token.is_none() && !args.insecure {
        return Err(CodedError::usage(format!(
            "--bind {}: a non-loopback address needs --token (or DURABLY_TOKEN), or --insecure",
            args.bind
        ))
        .into());
    }
    let base_path = base_path(&args.base_path)?;
    let jobs = match args.handlers {
        None => JobGate::Any,
        Some(dir) => {
            if !dir.is_dir() {
                return Err(CodedError::usage(format!(
                    "--handlers {}: not a directory",
                    dir.display()
                ))
                .into());
            }
            JobGate::Only(Box::new(move |job| {
                crate::worker::is_plain_name(job)
                    && crate::worker::is_executable_file(&dir.join(job))
            }))
        }
    };
    let config = Config {
        opts: ctx.opts.clone(),
        bind: args.bind,
        base_path,
        read_only: args.read_only,
        token,
        cors: args.cors,
        allow_hosts: args.allow_host,
        jobs,
        tick: Duration::from_millis(150),
    };
    crate::serve::run(config, |addr| {
        let mut err = std::io::stderr();
        let _ = writeln!(err, "durably: serving on http://{addr}");
    })?;
    Ok(ExitCode::Ok)
}

/// `--base-path`: "" or "/a/b" (a leading slash added, a trailing one removed).
fn base_path(given: &str) -> Result<String> {
    let trimmed = given.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let path = if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    };
    let valid = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c));
    if !valid || path.contains("//") {
        return Err(CodedError::usage(format!(
            "--base-path {given:?}: use letters, digits and - _ . ~ between slashes"
        ))
        .into());
    }
    Ok(path)
}
