//! `durably step NAME -- CMD ARGS...` (inside a handler): a step memoized by (run, name), like
//! @coji/durably's `step.run`. A completed step is never run again after a crash and reclaim:
//! its stored output is printed instead. The name is reserved before the body runs
//! ([`crate::handler_channel::reserve_step`]): concurrent calls of one name in one execution
//! run the body once, the later ones printing its memoized output. The database's trouble
//! (full, locked, down) is reported to the worker and exits 75, never like a failing command.

use super::common::{fence, lease_lost, with_retries};
use super::Context;
use crate::cli::StepArgs;
use crate::error::{CodedError, ExitCode};
use crate::handler_channel::{handler_error, reserve_step};
use crate::handler_output::{output_json, signal_name, MAX_OUTPUT};
use crate::model::Step;
use crate::store::{Fence, Fenced, NewStep, StepRecord, Store};
use anyhow::Result;
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};

pub fn run(ctx: &Context, args: StepArgs) -> Result<ExitCode> {
    let fence = fence("step")?;
    if args.name.is_empty() {
        return Err(CodedError::usage("the step name must not be empty").into());
    }
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| CodedError::usage("give the step's command after --"))?;
    let trouble = |e| handler_error("step", e);
    let mut store = None;
    let completed = |store: &mut Option<Store>| {
        with_retries(ctx, "step", true, store, |s| {
            s.completed_step(&fence.run_id, &args.name)
        })
        .map_err(trouble)
    };
    if print_if_completed(completed(&mut store)?, &args.name, args.raw)? {
        return Ok(ExitCode::Ok);
    }
    // Held until the step is recorded (or this process ends): another `durably step NAME` of
    // this execution waits here, then finds the step completed.
    let _reserved = reserve_step(&args.name)?;
    if print_if_completed(completed(&mut store)?, &args.name, args.raw)? {
        return Ok(ExitCode::Ok);
    }
    let holds = with_retries(ctx, "step", true, &mut store, |s| s.holds_lease(&fence));
    if holds.map_err(trouble)?.is_lost() {
        return Err(lease_lost(&fence));
    }
    // Once CMD has finished, its step must be recorded even if the handler's group is being
    // terminated (a dead worker's supervisor sends SIGTERM, then SIGKILL after a grace):
    // otherwise the body would run again after the reclaim. CMD itself starts with an empty
    // signal mask; a SIGKILL still ends everything.
    hold_termination_signals();
    let started_at = crate::time::now();
    let finished = spawn(program, rest, &args.name).and_then(collect);
    let (stdout, status) = match finished {
        Ok(done) => done,
        Err(e) => {
            let error = format!("cannot execute {program}: {e}");
            record_failed(ctx, &mut store, &fence, (&args.name, &error, &started_at))?;
            return Err(anyhow::anyhow!(error));
        }
    };
    match outcome(stdout, status) {
        Ok(output) => {
            let step = NewStep {
                name: &args.name,
                status: "completed",
                output: output.as_deref(),
                error: None,
                started_at: &started_at,
            };
            // Another `durably step NAME` of this run may have finished meanwhile: then its
            // output is the step's.
            let recorded = with_retries(ctx, "step", true, &mut store, |s| {
                s.record_step(&fence, &step)
            });
            match recorded.map_err(trouble)? {
                Fenced::Done(StepRecord::Recorded(o) | StepRecord::AlreadyDone(o)) => {
                    print_output(o.as_deref(), args.raw)?
                }
                Fenced::LeaseLost => return Err(lease_lost(&fence)),
            }
            Ok(ExitCode::Ok)
        }
        Err((code, error)) => {
            record_failed(ctx, &mut store, &fence, (&args.name, &error, &started_at))?;
            eprintln!(
                "durably: step {}: {}",
                crate::output::escape(&args.name),
                crate::output::escape(&error)
            );
            Ok(ExitCode::StepCommand(code))
        }
    }
}

/// Starts the step's command with `DURABLY_STEP`, its stdout piped, and an empty signal mask
/// (ours holds termination signals back).
fn spawn(program: &str, args: &[String], name: &str) -> std::io::Result<Child> {
    let mut command = Command::new(program);
    // SAFETY: pthread_sigmask is async-signal-safe, the only call between fork and exec.
    unsafe {
        command.pre_exec(|| {
            pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
            Ok(())
        });
    }
    command
        .args(args)
        .env("DURABLY_STEP", name)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
}

/// Reads the command's stdout (up to one byte over the cap, then drains the rest so the
/// command never blocks on a full pipe) and waits for it.
fn collect(mut child: Child) -> std::io::Result<(Vec<u8>, ExitStatus)> {
    let mut stdout = Vec::new();
    if let Some(mut pipe) = child.stdout.take() {
        (&mut pipe)
            .take(MAX_OUTPUT as u64 + 1)
            .read_to_end(&mut stdout)?;
        std::io::copy(&mut pipe, &mut std::io::sink())?;
    }
    Ok((stdout, child.wait()?))
}

/// The stored output of a command that exited 0, or the exit code `durably step` passes on
/// with the step's error.
fn outcome(stdout: Vec<u8>, status: ExitStatus) -> Result<Option<String>, (i32, String)> {
    match (status.code(), status.signal()) {
        (Some(0), _) if stdout.len() > MAX_OUTPUT => Err((
            1,
            format!("step output exceeds {} MiB", MAX_OUTPUT / 1024 / 1024),
        )),
        (Some(0), _) => Ok(output_json(stdout)),
        (Some(code), _) => Err((code, format!("step command exited with code {code}"))),
        (None, Some(sig)) => Err((
            128 + sig,
            format!("step command killed by signal {sig} ({})", signal_name(sig)),
        )),
        (None, None) => Err((1, "step command ended abnormally".to_string())),
    }
}

fn hold_termination_signals() {
    let mut set = SigSet::empty();
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(sig);
    }
    // Blocking signals of this (the only) thread cannot fail with a valid set.
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
}

/// Records a failed step with its error (fenced); a lost lease is an error.
fn record_failed(
    ctx: &Context,
    store: &mut Option<Store>,
    fence: &Fence,
    (name, error, started_at): (&str, &str, &str),
) -> Result<()> {
    let step = NewStep {
        name,
        status: "failed",
        output: None,
        error: Some(error),
        started_at,
    };
    let recorded = with_retries(ctx, "step", true, store, |s| s.record_step(fence, &step));
    match recorded.map_err(|e| handler_error("step", e))? {
        Fenced::LeaseLost => Err(lease_lost(fence)),
        Fenced::Done(_) => Ok(()),
    }
}

/// Prints the stored output of step `name` if it is completed (`done`); whether it was.
fn print_if_completed(done: Option<Step>, name: &str, raw: bool) -> Result<bool> {
    let Some(done) = done else {
        return Ok(false);
    };
    warn_if_replayed_in_this_execution(name, done.completed_at.as_deref());
    print_output(done.output.as_deref(), raw)?;
    Ok(true)
}

/// Prints a step's stored output (its JSON text; with `raw` a JSON string as its text); NULL
/// prints nothing.
fn print_output(output: Option<&str>, raw: bool) -> Result<()> {
    let Some(o) = output else { return Ok(()) };
    let text = match raw.then(|| serde_json::from_str::<String>(o)) {
        Some(Ok(text)) => std::borrow::Cow::Owned(text),
        _ => std::borrow::Cow::Borrowed(o),
    };
    let mut out = crate::output::stdout();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// Warns when the completed step being replayed was completed within this execution of the
/// handler (at or after the claim the worker exports as `DURABLY_CLAIMED_AT`): a step name
/// reused in a loop replays the first result, which is rarely meant. After a crash and
/// reclaim the claim is newer than the step, and the replay is silent.
fn warn_if_replayed_in_this_execution(name: &str, completed_at: Option<&str>) {
    let claimed_at = std::env::var("DURABLY_CLAIMED_AT").unwrap_or_default();
    let same_execution = match completed_at {
        Some(done) => !claimed_at.is_empty() && done >= claimed_at.as_str(),
        None => false,
    };
    if same_execution {
        let name = crate::output::escape(name);
        eprintln!(
            "durably: step {name} was already completed in this execution; its stored output \
             is replayed (give each iteration its own name, e.g. {name}-$f)"
        );
    }
}
