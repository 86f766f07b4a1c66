//! What a handler is given: which program executes a run (a file named after its job in the
//! handler directory, or one command for every job) and the environment it runs with
//! (`DURABLY_DB`, the run's id, job, lease generation, claim time and labels).

use crate::model::Run;
use crate::worker::{ExecutorContext, Handler};
use std::path::PathBuf;

/// `DURABLY_LABELS` is left out above this.
pub const MAX_LABELS_ENV: usize = 64 * 1024;

/// Which program executes a run.
pub fn program_path(shared: &ExecutorContext, run: &Run) -> (PathBuf, Vec<String>) {
    match &shared.handler {
        Handler::Dir(dir) => (dir.join(&run.job_name), Vec::new()),
        Handler::Command { path, args } => (path.clone(), args.clone()),
    }
}

/// The handler's environment: the worker's own (filtered) and the run's variables.
pub(super) fn environment(shared: &ExecutorContext, run: &Run) -> Vec<(String, Vec<u8>)> {
    let mut env = shared.base_env.clone();
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
