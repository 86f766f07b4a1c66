//! What a handler is given: which program executes a run (a file named after its job in the
//! handler directory, or one command for every job) and the environment it runs with
//! (`DURABLY_DB`, the run's id, job, lease generation, claim time and labels).

use crate::model::command::Command;
use crate::model::Run;
use crate::worker::{ExecutorContext, Handler};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// `DURABLY_LABELS` is left out above this.
pub const MAX_LABELS_ENV: usize = 64 * 1024;

/// What executes a run: a program with its arguments, and for a command run the directory it
/// runs in and the variables it was enqueued with.
pub struct Launch {
    pub path: PathBuf,
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, Vec<u8>)>,
    /// "handler", or "command" for a command run: how messages name it.
    pub what: &'static str,
}

/// Which program executes a run; for a command run whose input is not one, or whose program
/// or directory is not there, why it cannot be executed (the run fails).
pub fn launch(shared: &ExecutorContext, run: &Run) -> Result<Launch, String> {
    if shared.is_command(run) {
        return command_launch(shared, run);
    }
    let (path, args) = match &shared.handler {
        Handler::Dir(dir) => (dir.join(&run.job_name), Vec::new()),
        Handler::Command { path, args } => (path.clone(), args.clone()),
        // Only command runs are claimed without a handler.
        Handler::Nothing => return Err("no handler for this job".into()),
    };
    Ok(Launch {
        path,
        args,
        cwd: None,
        env: Vec::new(),
        what: "handler",
    })
}

/// A command run's program (looked up in the handlers' PATH unless it holds a `/`), in its
/// directory, with its variables.
fn command_launch(shared: &ExecutorContext, run: &Run) -> Result<Launch, String> {
    let c = Command::from_input(&run.input)?;
    let cwd = PathBuf::from(&c.cwd);
    if !cwd.is_dir() {
        return Err(format!(
            "cannot execute command in {}: no such directory on this host",
            c.cwd
        ));
    }
    let (program, args) = c.command.split_first().expect("checked: not empty");
    let path = if program.contains('/') {
        cwd.join(program)
    } else {
        let search = shared
            .base_env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| std::ffi::OsStr::from_bytes(v).to_os_string())
            .unwrap_or_default();
        crate::worker::find_in_path(program, &search)
            .ok_or_else(|| format!("cannot execute command {program}: not found in PATH"))?
    };
    Ok(Launch {
        path,
        args: args.to_vec(),
        cwd: Some(cwd),
        env: c
            .env
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect(),
        what: "command",
    })
}

/// The handler's environment: the worker's own (filtered), a command run's own variables,
/// and the run's variables.
pub(super) fn environment(
    shared: &ExecutorContext,
    run: &Run,
    own: Vec<(String, Vec<u8>)>,
) -> Vec<(String, Vec<u8>)> {
    let mut env = shared.base_env.clone();
    env.retain(|(k, _)| !own.iter().any(|(o, _)| o == k));
    env.extend(own);
    env.push((
        "DURABLY_DB".into(),
        shared.db_abs.as_os_str().as_encoded_bytes().to_vec(),
    ));
    env.push(("DURABLY_RUN_ID".into(), run.id.clone().into_bytes()));
    env.push(("DURABLY_JOB".into(), run.job_name.clone().into_bytes()));
    env.push((
        "DURABLY_LEASE_GENERATION".into(),
        run.lease_generation.to_string().into_bytes(),
    ));
    // The claim's timestamp (the run's updated_at as claimed): `durably step` warns when a
    // step it replays was completed at or after it, i.e. within this execution.
    env.push((
        "DURABLY_CLAIMED_AT".into(),
        run.updated_at.clone().into_bytes(),
    ));
    if run.labels.len() <= MAX_LABELS_ENV {
        env.push(("DURABLY_LABELS".into(), run.labels.clone().into_bytes()));
    }
    env
}
