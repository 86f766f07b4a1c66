//! Helpers several commands share: the spec overrides from flags, and the lease fence of a
//! command run inside a handler. (The exit code over several ids is `ExitCode::combine`.)

use super::{parse_labels, Context};
use crate::cli::SpecArgs;
use crate::error::CodedError;
use crate::model::{RetryPolicy, SpecOverrides};
use crate::store::{Access, Fence, Store};
use anyhow::Result;
use std::time::{Duration, Instant};

/// The flags shared by `enqueue` and `enqueue-many`, as spec defaults.
pub fn spec_overrides(spec: &SpecArgs) -> Result<SpecOverrides> {
    Ok(SpecOverrides {
        job: spec.job.clone(),
        labels: parse_labels(&spec.labels)?,
        at: spec.at.clone(),
        within: spec.within.clone(),
        after: spec.after.clone(),
        after_any: spec.after_any,
        ..SpecOverrides::default()
    })
}

/// A retry policy from `--retries N [--backoff BASE] [--backoff-max MAX] [--retry-on CODES]`
/// (`enqueue`, `work`): a policy the rules refuse is a usage error.
pub fn retry_policy(
    retries: u32,
    backoff: Option<Duration>,
    backoff_max: Option<Duration>,
    retry_on: Option<Vec<i32>>,
) -> Result<RetryPolicy> {
    let ms = |d: Option<Duration>| d.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    RetryPolicy::new(retries, ms(backoff), ms(backoff_max), retry_on)
        .map_err(|e| CodedError::usage(format!("{e:#}")).into())
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

/// How long a handler-side command (`step`, `progress`, `log`) keeps trying a database whose
/// connection is lost (a PostgreSQL restart, a failover): a third of the lease the worker
/// exports (`DURABLY_LEASE_MS`; 10 s of the default 30 s, the renewal period), at least 1 s.
/// Outside a worker's handler (no such variable) it does not retry.
fn retry_budget() -> Duration {
    std::env::var("DURABLY_LEASE_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::ZERO, |ms| {
            Duration::from_millis(ms / 3).max(Duration::from_secs(1))
        })
}

/// Runs `op` on a store opened for writing, opening it again and retrying (100 ms, doubling to
/// 1 s) while the error is a lost connection, for up to [`retry_budget`]; says so once on
/// stderr. A commit whose outcome is unknown is retried only when `op` is idempotent (a
/// fenced step record or progress, not a log line, which could be stored twice). Any other
/// error, and the last one, is returned as it is.
///
/// `store` is the connection to try first (`None`: open one); it is left open for the next
/// call, or `None` after a lost connection.
pub fn with_retries<T>(
    ctx: &Context,
    command: &str,
    idempotent: bool,
    store: &mut Option<Store>,
    mut op: impl FnMut(&mut Store) -> Result<T>,
) -> Result<T> {
    let started = Instant::now();
    let budget = retry_budget();
    let mut pause = Duration::from_millis(100);
    let mut said = false;
    loop {
        let (attempt, opening) = match store {
            Some(open) => (op(open), false),
            None => match ctx.open(Access::WriteExisting) {
                Ok(mut open) => {
                    let v = op(&mut open);
                    *store = Some(open);
                    (v, false)
                }
                Err(e) => (Err(e), true),
            },
        };
        let err = match attempt {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        *store = None;
        // A server that is down or starting refuses connections: unavailable for now.
        let refused = opening && is_postgres(ctx) && crate::error::is_unavailable(&err);
        let retryable = refused
            || (crate::store::is_connection_error(&err)
                && (idempotent || !err.is::<crate::store::CommitUnknown>()));
        if !retryable || started.elapsed() + pause >= budget {
            return Err(err);
        }
        if !said {
            said = true;
            eprintln!(
                "durably {command}: the database's connection was lost ({}); trying again for up to {}",
                crate::output::escape(&format!("{err:#}")),
                humantime::format_duration(budget)
            );
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

fn is_postgres(ctx: &Context) -> bool {
    matches!(ctx.opts.target, crate::store::Target::Postgres(_))
}
