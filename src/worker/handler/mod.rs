//! Executing one claimed run: start its handler, copy its pipes, wait for it, turn how it
//! ended into the run's result and record that, fenced. This module ties the parts together;
//! each part owns one concern:
//!
//! - `env.rs`: which program runs and the environment it gets;
//! - `spawn.rs`: starting it, and whose fault a failure to start is (the run's or the worker's);
//! - `pipes.rs`: feeding stdin, and reading stdout and stderr (prefixing, the tail) in one
//!   loop of the executing thread that also notices the handler's exit;
//! - `stderr_logs.rs`: stderr kept as the run's logs, bounded, written in fenced batches;
//! - `record.rs`: every write for the run (result, logs, giving it back) with its deadline,
//!   reconnect and fence, and the lines that say why a run is no longer ours.

mod env;
mod pipes;
mod record;
mod spawn;
mod stderr_logs;

pub use env::MAX_LABELS_ENV;
pub use pipes::{MAX_LINE, STDERR_TAIL};
pub use record::give_back;
pub use stderr_logs::{MAX_LOG_BYTES, MAX_LOG_LINE, MAX_LOG_LINES};

use super::lease::{ActiveRun, KillReason};
use super::process::{self, Exit};
use super::ExecutorContext;
use crate::handler_channel::Channel;
use crate::handler_output::{output_json, signal_name, MAX_OUTPUT};
use crate::model::{FailureCause, Run};
use pipes::Collected;
use record::{deadline_outcome, finish, lost_outcome, write, Finished};
use std::io;
use std::sync::Arc;
use std::time::Instant;

/// How a run ended for this worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed,
    /// Cancelled while it ran: the handler was killed, nothing written.
    Cancelled,
    /// The lease was lost (expired, reclaimed): the handler was killed, nothing written.
    Lost,
    /// Forced shutdown: the handler was killed and the lease expired for another worker.
    Released,
    /// The worker could not start the handler for reasons of its own (descriptors, memory,
    /// processes, threads): the lease was ended so the run can be claimed again at once.
    GivenBack,
    /// The supervisor process is gone: nothing may be started; the run was given back.
    SupervisorGone,
}

/// Runs the handler for `run` (already claimed) and records the result, fenced; with
/// `work -v`, says so in one line when it starts and one when it ends.
pub fn execute(shared: &Arc<ExecutorContext>, run: &Run, active: &Arc<ActiveRun>) -> Outcome {
    let started = Instant::now();
    let (id, job) = (&run.id, crate::output::escape(&run.job_name));
    if shared.verbose {
        note!("claimed {id} {job}");
    }
    let Finished {
        outcome,
        failed_with,
    } = execute_quietly(shared, run, active);
    if shared.verbose {
        let took = format!("{:.1}s", started.elapsed().as_secs_f64());
        match outcome {
            Outcome::Completed => note!("completed {id} {job} in {took}"),
            Outcome::Failed => {
                let error = failed_with.unwrap_or_default();
                note!(
                    "failed {id} {job} in {took}: {}",
                    crate::output::escape(&error)
                );
            }
            Outcome::Cancelled => note!("cancelled {id} {job} in {took}"),
            Outcome::Lost => note!("lost {id} {job} in {took}"),
            Outcome::Released => note!("released {id} {job} in {took}"),
            Outcome::GivenBack | Outcome::SupervisorGone => {
                note!("given back {id} {job} in {took}")
            }
        }
    }
    outcome
}

fn execute_quietly(shared: &Arc<ExecutorContext>, run: &Run, active: &Arc<ActiveRun>) -> Finished {
    // The execution's private directory (trouble reports, step reservations), removed when
    // this function returns, after the handler and its pipes are done.
    let channel = shared.executions.as_deref().and_then(Channel::new);
    if let Some(error) = record::crash_loop(shared, run) {
        return finish(shared, run, active, Err(error), FailureCause::CrashLoop);
    }
    let child = match spawn::start_handler(shared, run, active, channel.as_ref()) {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    active.set_pid(child.pid, shared.supervisor.link());
    let pid = child.pid;
    let pipes = match pipes::open(shared, run, active, child) {
        Ok(p) => p,
        Err(e) => {
            // No thread to feed a large input: stop the handler before it blocks on it, and
            // hand the run back (the worker is short of memory or threads, not the run at
            // fault).
            process::kill_group(pid);
            let _ = process::wait_exit(pid);
            active.finish();
            shared.supervisor.forget(pid);
            process::reap(pid);
            give_back(shared, run, active, &format!("cannot start a thread: {e}"));
            return Outcome::GivenBack.into();
        }
    };
    let ended = wait_and_collect(shared, active, pid, pipes);
    if ended.killed.is_none() && !matches!(ended.exit, Ok(Exit::Code(0))) {
        if let Some(line) = channel.as_ref().and_then(Channel::reported) {
            // The handler stopped on the database's trouble, not its own: the run goes back.
            let why = format!("the handler ended after the database's trouble ({line})");
            give_back(shared, run, active, &why);
            return Outcome::GivenBack.into();
        }
    }
    outcome_of(shared, run, active, ended)
}

/// How a handler ended, as the worker saw it.
struct Ended {
    exit: io::Result<Exit>,
    /// Why the worker killed it, if it did.
    killed: Option<KillReason>,
    out: Vec<u8>,
    overflow: bool,
    /// The end of its stderr, trimmed.
    tail: String,
}

impl Ended {
    /// `what`, followed by the stderr tail on the next line if there is one, then the end of
    /// stdout (at most [`STDERR_TAIL`] bytes) after a `stdout:` line if the handler wrote any.
    fn with_tail(&self, what: String) -> String {
        let mut error = what;
        if !self.tail.is_empty() {
            error.push('\n');
            error.push_str(&self.tail);
        }
        let out = &self.out[self.out.len().saturating_sub(STDERR_TAIL)..];
        let out = String::from_utf8_lossy(out);
        let out = out.trim();
        if !out.is_empty() {
            error.push_str("\nstdout:\n");
            error.push_str(out);
        }
        error
    }
}

/// Reads the handler's pipes until they close; once it has exited, unregisters and reaps it.
fn wait_and_collect(
    shared: &ExecutorContext,
    active: &ActiveRun,
    pid: libc::pid_t,
    pipes: pipes::Pipes,
) -> Ended {
    let ((exit, killed), collected) = pipes.collect(pid, || {
        let exit = process::wait_exit(pid);
        let killed = active.finish();
        shared.supervisor.forget(pid);
        process::reap(pid);
        (exit, killed)
    });
    let Collected {
        out,
        overflow,
        tail,
    } = collected;
    let tail = String::from_utf8_lossy(&tail).trim().to_string();
    Ended {
        exit,
        killed,
        out,
        overflow,
        tail,
    }
}

/// Turns how the handler ended into the run's result, and records it (fenced).
fn outcome_of(
    shared: &ExecutorContext,
    run: &Run,
    active: &ActiveRun,
    mut ended: Ended,
) -> Finished {
    match ended.killed {
        Some(KillReason::LeaseLost) => return lost_outcome(shared, run, false).into(),
        Some(KillReason::LeaseDeadline) => return deadline_outcome(shared, run).into(),
        // The worker said why once; nothing is written for the run.
        Some(KillReason::Abandoned) => return Outcome::Lost.into(),
        Some(KillReason::Shutdown) => {
            let _ = write(shared, active, |store| {
                store.give_back(&run.id, run.lease_generation)
            });
            return Outcome::Released.into();
        }
        Some(KillReason::Timeout) => {
            let after = humantime::format_duration(shared.timeout.unwrap_or_default());
            let error = ended.with_tail(format!("handler timed out after {after}"));
            return finish(shared, run, active, Err(error), FailureCause::Other);
        }
        None => {}
    }
    // A child that died of SIGPIPE while the supervisor is gone most likely failed to
    // register with it before it could execute the handler: not the run's fault.
    if matches!(ended.exit, Ok(Exit::Signal(libc::SIGPIPE))) && !shared.supervisor.is_alive() {
        give_back(shared, run, active, "the handler supervisor is gone");
        return Outcome::SupervisorGone.into();
    }
    // A command run's result is its exit code; its output went to the logs.
    let command = shared.is_command(run);
    let what = if command { "command" } else { "handler" };
    let result = match &ended.exit {
        Err(e) => Err(ended.with_tail(format!("cannot wait for {what}: {e}"))),
        Ok(Exit::Code(0)) if command => Ok(Some("{\"exitCode\":0}".to_string())),
        Ok(Exit::Code(0)) if ended.overflow => Err(format!(
            "handler output exceeds {} MiB",
            MAX_OUTPUT / 1024 / 1024
        )),
        // The output buffer becomes the stored text (no copy of a large output).
        Ok(Exit::Code(0)) => Ok(output_json(std::mem::take(&mut ended.out))),
        Ok(Exit::Code(code)) => Err(ended.with_tail(format!("{what} exited with code {code}"))),
        Ok(Exit::Signal(sig)) => Err(ended.with_tail(format!(
            "{what} killed by signal {sig} ({})",
            signal_name(*sig)
        ))),
    };
    let cause = match ended.exit {
        Ok(Exit::Code(code)) if code != 0 => FailureCause::ExitCode(code),
        _ => FailureCause::Other,
    };
    finish(shared, run, active, result, cause)
}
