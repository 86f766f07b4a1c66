//! `durably step NAME -- CMD ARGS...` (inside a handler): a step memoized by (run, name), like
//! @coji/durably's `step.run`. A completed step is never run again after a crash and reclaim:
//! its stored output is printed instead.

use super::common::{fence, lease_lost};
use super::Context;
use crate::cli::StepArgs;
use crate::error::{CodedError, ExitCode};
use crate::handler_output::{output_json, signal_name, MAX_OUTPUT};
use crate::store::Access;
use crate::store::{Fence, NewStep, StepRecord, Store};
use anyhow::Result;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

pub fn run(ctx: &Context, args: StepArgs) -> Result<ExitCode> {
    let fence = fence("step")?;
    if args.name.is_empty() {
        return Err(CodedError::usage("the step name must not be empty").into());
    }
    let mut store = ctx.open(Access::WriteExisting)?;
    if let Some(done) = store.completed_step(&fence.run_id, &args.name)? {
        print_output(done.output.as_deref())?;
        return Ok(ExitCode::Ok);
    }
    if !store.holds_lease(&fence)? {
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
            record_failed(&mut store, &fence, &args.name, &error, &started_at)?;
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
            record_failed(&mut store, &fence, &args.name, &error, &started_at)?;
            return Err(anyhow::anyhow!(error));
        }
        (Some(0), _) => {
            let output = output_json(&stdout);
            let step = NewStep {
                name: &args.name,
                status: "completed",
                output: output.as_deref(),
                error: None,
                started_at: &started_at,
            };
            // Another `durably step NAME` of this run may have finished meanwhile: then its
            // output is the step's.
            let stored = match store.record_step(&fence, &step)? {
                StepRecord::Recorded(o) | StepRecord::AlreadyDone(o) => Some(o),
                StepRecord::LeaseLost => None,
            };
            let Some(output) = stored else {
                return Err(lease_lost(&fence));
            };
            print_output(output.as_deref())?;
            return Ok(ExitCode::Ok);
        }
        (Some(code), _) => (code, format!("step command exited with code {code}")),
        (None, Some(sig)) => (
            128 + sig,
            format!("step command killed by signal {sig} ({})", signal_name(sig)),
        ),
        (None, None) => (1, "step command ended abnormally".to_string()),
    };
    let (code, error) = exit;
    record_failed(&mut store, &fence, &args.name, &error, &started_at)?;
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
    store: &mut Store,
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
    match store.record_step(fence, &step)? {
        StepRecord::LeaseLost => Err(lease_lost(fence)),
        StepRecord::Recorded(_) | StepRecord::AlreadyDone(_) => Ok(()),
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
