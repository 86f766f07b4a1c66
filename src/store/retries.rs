//! Retries (issue 17), written once for both backends: the attempt row a run enqueued with a
//! retry policy gets, and what a CLI worker's failure of such a run does — in the one
//! transaction that records the failure, the failed run stays `failed` and, when the policy
//! allows another attempt for this failure, its successor (a new id; the same job, input,
//! labels and concurrency key; no idempotency key, which stays with the failed run so that a
//! `trigger` with that key still answers the failed run) is held in `durably_cli_held_runs`
//! until the backoff has passed, and linked in `durably_cli_attempts`. A run enqueued without
//! a policy that fails under a worker's default (`work --retries N`) is treated as if it had
//! been enqueued with that policy: its attempt row 1 is written in the same transaction as its
//! successor's attempt row 2. A backend supplies the
//! statements ([`RetryRows`]) inside its own transaction; the release of held runs moves the
//! successor into `durably_runs` when it is due.

use super::Fenced;
use crate::model::{new_id, Attempt, FailureCause, RetryPolicy};
use anyhow::Result;

/// The statements a backend offers inside the failure's transaction.
pub trait RetryRows {
    /// The fenced failure (`status = 'leased' AND lease_generation = G`, unexpired).
    fn fail(&mut self, id: &str, generation: i64, error: &str) -> Result<bool>;
    /// The attempt row of a run, if it belongs to a retry chain.
    fn attempt_of(&mut self, run_id: &str) -> Result<Option<Attempt>>;
    /// Holds `successor` as a copy of `failed` due `delay_ms` from now; its due time.
    fn hold(&mut self, successor: &str, failed: &str, delay_ms: i64) -> Result<String>;
    /// Inserts an attempt row.
    fn insert_attempt(&mut self, attempt: &Attempt) -> Result<()>;
}

/// The successor a failure held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Successor {
    pub id: String,
    /// Its attempt number (2 for the first retry) and the chain's last.
    pub attempt: u32,
    pub max_attempts: u32,
    /// When it is released (the library's timestamp text).
    pub due_at: String,
    pub delay_ms: i64,
}

/// The first attempt of a run enqueued with `policy`.
pub fn first_attempt(run_id: &str, policy: &RetryPolicy) -> Attempt {
    Attempt {
        run_id: run_id.to_string(),
        first_run_id: run_id.to_string(),
        previous_run_id: None,
        attempt: 1,
        policy: policy.clone(),
    }
}

/// Fails a leased run (fenced) and, when its policy retries this failure, holds its
/// successor: all in the caller's one transaction. The run's own policy (its attempt row)
/// wins; a run without one takes `default` (the worker's `--retries`), if any. `jitter` in
/// [-1, 1].
pub fn fail_and_retry(
    rows: &mut impl RetryRows,
    id: &str,
    generation: i64,
    error: &str,
    cause: FailureCause,
    default: Option<&RetryPolicy>,
    jitter: f64,
) -> Result<Fenced<Option<Successor>>> {
    if !rows.fail(id, generation, error)? {
        return Ok(Fenced::LeaseLost);
    }
    let (this, own) = match (rows.attempt_of(id)?, default) {
        (Some(this), _) => (this, true),
        (None, Some(policy)) => (first_attempt(id, policy), false),
        (None, None) => return Ok(Fenced::Done(None)),
    };
    if !this.policy.retries_after(this.attempt, cause) {
        return Ok(Fenced::Done(None));
    }
    if !own {
        // The default's chain begins here, as if the run had been enqueued with it.
        rows.insert_attempt(&this)?;
    }
    let delay_ms = this.policy.delay_ms(this.attempt, jitter);
    let next = Attempt {
        run_id: new_id(),
        first_run_id: this.first_run_id.clone(),
        previous_run_id: Some(id.to_string()),
        attempt: this.attempt + 1,
        policy: this.policy.clone(),
    };
    let due_at = rows.hold(&next.run_id, id, delay_ms)?;
    rows.insert_attempt(&next)?;
    Ok(Fenced::Done(Some(Successor {
        id: next.run_id,
        attempt: next.attempt,
        max_attempts: next.policy.max_attempts,
        due_at,
        delay_ms,
    })))
}

/// An attempt row from its stored columns (the order of `sql/attempt_of.sql`).
#[allow(clippy::too_many_arguments)]
pub fn attempt_from(
    run_id: String,
    first_run_id: String,
    previous_run_id: Option<String>,
    attempt: i64,
    max_attempts: i64,
    backoff_ms: i64,
    backoff_max_ms: i64,
    retry_on: Option<String>,
) -> Attempt {
    Attempt {
        run_id,
        first_run_id,
        previous_run_id,
        attempt: u32::try_from(attempt.max(1)).unwrap_or(u32::MAX),
        policy: RetryPolicy::from_stored(
            max_attempts,
            backoff_ms,
            backoff_max_ms,
            retry_on.as_deref(),
        ),
    }
}
