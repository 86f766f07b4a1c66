//! Starting a handler process, and whose fault a failure to start is: the handler's own (the
//! run fails) or the worker's environment (descriptors, memory, processes: the run is given
//! back), or the supervisor's absence (nothing may be started).

use super::env::{environment, launch};
use super::record::{finish, give_back, Finished};
use super::Outcome;
use crate::handler_channel::Channel;
use crate::model::{FailureCause, Run};
use crate::worker::lease::ActiveRun;
use crate::worker::process::{self, Program};
use crate::worker::ExecutorContext;
use std::io;

/// Whether a failure to start the handler is the handler's own (a missing or non-executable
/// file, a bad `#!` line, an input or environment the OS refuses), so the run fails; any other
/// error is the worker's environment and the run is given back.
fn is_handlers_fault(e: &io::Error) -> bool {
    match e.raw_os_error() {
        None => e.kind() != io::ErrorKind::BrokenPipe,
        Some(errno) => matches!(
            errno,
            libc::ENOENT
                | libc::EACCES
                | libc::ENOEXEC
                | libc::ENOTDIR
                | libc::EISDIR
                | libc::ELOOP
                | libc::EPERM
                | libc::ETXTBSY
                | libc::E2BIG
                | libc::ENAMETOOLONG
                | libc::ELIBBAD
        ),
    }
}

fn is_supervisor_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe || e.raw_os_error() == Some(libc::EPIPE)
}

/// Starts the handler process; when it cannot be started, the run is failed or given back
/// and the outcome returned instead.
pub(super) fn start_handler(
    shared: &ExecutorContext,
    run: &Run,
    active: &ActiveRun,
    channel: Option<&Channel>,
) -> Result<process::Child, Finished> {
    let launch = match launch(shared, run) {
        Ok(l) => l,
        Err(error) => return Err(finish(shared, run, active, Err(error), FailureCause::Other)),
    };
    let (path, what) = (&launch.path, launch.what);
    let mut env = environment(shared, run, launch.env);
    env.extend(channel.map(Channel::env));
    let program = match Program::new(path, &launch.args, &env, launch.cwd.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            let error = format!("cannot execute {what} {}: {e}", path.display());
            return Err(finish(shared, run, active, Err(error), FailureCause::Other));
        }
    };
    match process::spawn(&program, &shared.supervisor, active.spawn_deadline()) {
        Ok(c) => Ok(c),
        Err(e) if is_supervisor_gone(&e) || !shared.supervisor.is_alive() => {
            give_back(shared, run, active, "the handler supervisor is gone");
            Err(Outcome::SupervisorGone.into())
        }
        Err(e) if !is_handlers_fault(&e) => {
            let why = format!("cannot start {what} {}: {e}", path.display());
            give_back(shared, run, active, &why);
            Err(Outcome::GivenBack.into())
        }
        Err(e) => {
            let error = format!("cannot execute {what} {}: {e}", path.display());
            Err(finish(shared, run, active, Err(error), FailureCause::Other))
        }
    }
}
