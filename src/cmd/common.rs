//! Helpers several commands share: the spec overrides from flags, and the lease fence of a
//! command run inside a handler. (The exit code over several ids is `ExitCode::combine`.)

use super::parse_labels;
use crate::cli::SpecArgs;
use crate::error::CodedError;
use crate::model::SpecOverrides;
use crate::store::Fence;
use anyhow::Result;

/// The flags shared by `enqueue` and `enqueue-many`, as spec defaults.
pub fn spec_overrides(spec: &SpecArgs) -> Result<SpecOverrides> {
    Ok(SpecOverrides {
        job: spec.job.clone(),
        labels: parse_labels(&spec.labels)?,
        ..SpecOverrides::default()
    })
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
