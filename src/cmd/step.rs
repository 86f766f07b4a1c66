//! `durably step NAME -- CMD ARGS...` (inside a handler): a step memoized by (run, name), like
//! @coji/durably's `step.run`. A completed step is never run again after a crash and reclaim:
//! its stored output is printed instead.

use super::Context;
use crate::cli::StepArgs;
use crate::db::{self, Access};
use crate::error::{CodedError, ExitCode};
use crate::store::steps::{self, Fence, NewStep};
use crate::worker::handler::{output_json, MAX_OUTPUT};
use anyhow::Result;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

pub fn run(ctx: &Context, args: StepArgs) -> Result<ExitCode> {
    let fence = fence("step")?;
    if args.name.is_empty() {
        return Err(CodedError::usage("the step name must not be empty").into());
    }
    let mut conn = ctx.open(Access::WriteExisting)?;
    if let Some(done) = steps::completed_step(&conn, &fence.run_id, &args.name)? {
        print_output(done.output.as_deref())?;
        return Ok(ExitCode::Ok);
    }
    if !steps::holds_lease(&conn, &fence)? {
        return Err(lease_lost(&fence));
    }
    // Once CMD has finished, its step must be recorded even if the handler's group is being
    // terminated (a dead worker's supervisor sends SIGTERM, then SIGKILL after a grace):
    // otherwise the body would run again after the reclaim. CMD itself starts with an empty
    // signal mask; a SIGKILL still ends everything.
    hold_termination_signals();
    let started_at = crate::time::now();
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| CodedError::usage("give the step's command after --"))?;
    let mut command = Command::new(program);
    // SAFETY: only an async-signal-safe call between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let spawned = command
        .args(rest)
        .env("DURABLY_STEP", &args.name)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let error = format!("cannot execute {program}: {e}");
            record_failed(&mut conn, ctx, &fence, &args.name, &error, &started_at)?;
            return Err(anyhow::anyhow!(error));
        }
    };
    let mut stdout = Vec::new();
    if let Some(mut pipe) = child.stdout.take() {
        (&mut pipe)
            .take(MAX_OUTPUT as u64 + 1)
            .read_to_end(&mut stdout)?;
        // Keep draining so the command never blocks on a full pipe.
        std::io::copy(&mut pipe, &mut std::io::sink())?;
    }
    let status = child.wait()?;
    let exit = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(0), _) if stdout.len() > MAX_OUTPUT => {
            let error = format!("step output exceeds {} MiB", MAX_OUTPUT / 1024 / 1024);
            record_failed(&mut conn, ctx, &fence, &args.name, &error, &started_at)?;
            return Err(anyhow::anyhow!(error));
        }
        (Some(0), _) => {
            let output = output_json(&stdout);
            let stored = db::write(&mut conn, ctx.path(), |tx| {
                // Another `durably step NAME` of this run may have finished meanwhile.
                if let Some(done) = steps::completed_step(tx, &fence.run_id, &args.name)? {
                    return Ok(Some(done.output));
                }
                let step = NewStep {
                    name: &args.name,
                    status: "completed",
                    output: output.as_deref(),
                    error: None,
                    started_at: &started_at,
                };
                let index = steps::insert_step(tx, &fence, &step, &crate::time::now())?;
                Ok(index.map(|_| output.clone()))
            })?;
            let Some(output) = stored else {
                return Err(lease_lost(&fence));
            };
            print_output(output.as_deref())?;
            return Ok(ExitCode::Ok);
        }
        (Some(code), _) => (code, format!("step command exited with code {code}")),
        (None, Some(sig)) => (
            128 + sig,
            format!(
                "step command killed by signal {sig} ({})",
                crate::worker::process::signal_name(sig)
            ),
        ),
        (None, None) => (1, "step command ended abnormally".to_string()),
    };
    let (code, error) = exit;
    record_failed(&mut conn, ctx, &fence, &args.name, &error, &started_at)?;
    eprintln!("durably: step {}: {error}", args.name);
    Ok(ExitCode::StepCommand(code))
}

fn hold_termination_signals() {
    // SAFETY: blocking signals for this thread (the only one) with a set built here.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Records a failed step with its error (fenced); a lost lease is an error.
fn record_failed(
    conn: &mut rusqlite::Connection,
    ctx: &Context,
    fence: &Fence,
    name: &str,
    error: &str,
    started_at: &str,
) -> Result<()> {
    let step = NewStep {
        name,
        status: "failed",
        output: None,
        error: Some(error),
        started_at,
    };
    let index = db::write(conn, ctx.path(), |tx| {
        steps::insert_step(tx, fence, &step, &crate::time::now())
    })?;
    match index {
        Some(_) => Ok(()),
        None => Err(lease_lost(fence)),
    }
}

/// Prints a step's stored output (its JSON text); NULL prints nothing.
fn print_output(output: Option<&str>) -> Result<()> {
    if let Some(o) = output {
        let mut out = crate::output::stdout();
        writeln!(out, "{o}")?;
        out.flush()?;
    }
    Ok(())
}

/// The lease of the run this handler executes (`DURABLY_RUN_ID`, `DURABLY_LEASE_GENERATION`),
/// shared by `step`, `progress` and `log`.
pub fn fence(command: &str) -> Result<Fence> {
    let run_id = std::env::var("DURABLY_RUN_ID")
        .ok()
        .filter(|v| !v.is_empty());
    let generation = std::env::var("DURABLY_LEASE_GENERATION").ok();
    let (Some(run_id), Some(generation)) = (run_id, generation) else {
        return Err(CodedError::usage(format!(
            "durably {command} runs inside a handler started by `durably work` (DURABLY_RUN_ID and DURABLY_LEASE_GENERATION are not set)"
        ))
        .into());
    };
    let generation = generation.trim().parse::<i64>().map_err(|_| {
        CodedError::usage(format!(
            "DURABLY_LEASE_GENERATION is not a number: {generation:?}"
        ))
    })?;
    Ok(Fence { run_id, generation })
}

/// The error for a write the fence refused.
pub fn lease_lost(fence: &Fence) -> anyhow::Error {
    anyhow::anyhow!(
        "run {} is no longer leased under generation {} (cancelled or reclaimed); nothing was written",
        fence.run_id,
        fence.generation
    )
}
