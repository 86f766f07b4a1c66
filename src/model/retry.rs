//! Retries with backoff (issue 17, point 2): the policy a run is enqueued with
//! (`enqueue --retries N [--backoff BASE] [--backoff-max MAX] [--retry-on CODES]`, or the
//! spec's `retries`, `backoff`, `backoffMax`, `retryOn`), which failures it retries and how
//! long the successor waits. No I/O here: the store keeps the policy in
//! `durably_cli_attempts` and holds the successor in `durably_cli_held_runs`.
//!
//! The delay after attempt `n` failed (n = 1, 2, …) is `min(MAX, BASE · 2^(n−1))`, then
//! ±10 % of jitter (so that runs that failed together do not come back together). Defaults:
//! BASE 10 s, MAX 1 h. Compared with Sidekiq (`n⁴ + 15 + rand(10·(n+1))` s, 25 retries,
//! about 3 weeks in all), River (`n⁴` s ± 10 %) and Oban (`15 + 2^n` s): an exponential
//! curve that a user can scale with two durations, starting near Oban's and Sidekiq's first
//! delays, capped so that a long chain keeps trying hourly rather than daily.

use anyhow::{bail, Result};
use std::hash::{BuildHasher, Hasher};

/// `--backoff` when not given.
pub const DEFAULT_BACKOFF_MS: i64 = 10_000;
/// `--backoff-max` when not given.
pub const DEFAULT_BACKOFF_MAX_MS: i64 = 3_600_000;
/// The most retries a run may have.
pub const MAX_RETRIES: u32 = 1000;
/// The jitter: a delay is moved by up to this fraction either way.
pub const JITTER: f64 = 0.1;

/// How a run is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// All attempts, the first included (`--retries` + 1).
    pub max_attempts: u32,
    pub backoff_ms: i64,
    pub backoff_max_ms: i64,
    /// The exit codes retried; None: every failure of the handler.
    pub retry_on: Option<Vec<i32>>,
}

/// Why an attempt failed, for [`RetryPolicy::retries_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCause {
    /// The handler exited with this code (not 0).
    ExitCode(i32),
    /// Killed by a signal, timed out, output too large, could not be executed.
    Other,
    /// A crash loop (`work --max-lease-expiries`): never retried, the successor would crash too.
    CrashLoop,
}

impl RetryPolicy {
    /// A policy from the flags: `retries` further attempts, durations in milliseconds.
    pub fn new(
        retries: u32,
        backoff_ms: Option<i64>,
        backoff_max_ms: Option<i64>,
        retry_on: Option<Vec<i32>>,
    ) -> Result<RetryPolicy> {
        if retries > MAX_RETRIES {
            bail!("--retries {retries}: at most {MAX_RETRIES}");
        }
        let backoff_ms = backoff_ms.unwrap_or(DEFAULT_BACKOFF_MS);
        let backoff_max_ms = backoff_max_ms.unwrap_or(DEFAULT_BACKOFF_MAX_MS.max(backoff_ms));
        if backoff_max_ms < backoff_ms {
            bail!("--backoff-max must not be shorter than --backoff");
        }
        if let Some(codes) = &retry_on {
            if codes.is_empty() || codes.iter().any(|&c| !(1..=255).contains(&c)) {
                bail!("--retry-on takes exit codes from 1 to 255, separated by commas");
            }
        }
        Ok(RetryPolicy {
            max_attempts: retries + 1,
            backoff_ms,
            backoff_max_ms,
            retry_on,
        })
    }

    /// Whether attempt `attempt` (1-based), failed for `cause`, gets a successor.
    pub fn retries_after(&self, attempt: u32, cause: FailureCause) -> bool {
        if attempt >= self.max_attempts {
            return false;
        }
        match (cause, &self.retry_on) {
            (FailureCause::CrashLoop, _) => false,
            (_, None) => true,
            (FailureCause::ExitCode(code), Some(codes)) => codes.contains(&code),
            (FailureCause::Other, Some(_)) => false,
        }
    }

    /// The delay before the successor of failed attempt `attempt` (1-based) may start;
    /// `jitter` in [-1, 1] moves it by up to ±[`JITTER`].
    pub fn delay_ms(&self, attempt: u32, jitter: f64) -> i64 {
        let doublings = attempt.saturating_sub(1).min(62);
        let base = self
            .backoff_ms
            .saturating_mul(1i64 << doublings)
            .min(self.backoff_max_ms);
        let moved = base as f64 * (1.0 + JITTER * jitter.clamp(-1.0, 1.0));
        moved.round().max(0.0) as i64
    }

    /// `retry_on` as stored: a JSON array, or None.
    pub fn retry_on_json(&self) -> Option<String> {
        self.retry_on
            .as_ref()
            .map(|c| serde_json::to_string(c).unwrap_or_default())
    }

    /// A policy as stored in `durably_cli_attempts` (an unreadable `retry_on`: every failure).
    pub fn from_stored(
        max_attempts: i64,
        backoff_ms: i64,
        backoff_max_ms: i64,
        retry_on: Option<&str>,
    ) -> RetryPolicy {
        RetryPolicy {
            max_attempts: u32::try_from(max_attempts.max(1)).unwrap_or(u32::MAX),
            backoff_ms,
            backoff_max_ms,
            retry_on: retry_on.and_then(|t| serde_json::from_str(t).ok()),
        }
    }
}

/// `--retry-on 1,75`: exit codes separated by commas.
pub fn parse_exit_codes(text: &str) -> Result<Vec<i32>> {
    let mut codes = Vec::new();
    for part in text.split(',') {
        match part.trim().parse::<i32>() {
            Ok(c) if (1..=255).contains(&c) => codes.push(c),
            _ => bail!("{part:?} is not an exit code from 1 to 255"),
        }
    }
    Ok(codes)
}

/// A number in [-1, 1] for the jitter, from the standard library's per-process random keys.
pub fn random_jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(crate::time::now_ms() as u64);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// One attempt of a chain, as `durably_cli_attempts` links it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub run_id: String,
    pub first_run_id: String,
    pub previous_run_id: Option<String>,
    /// 1-based.
    pub attempt: u32,
    pub policy: RetryPolicy,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(retries: u32, retry_on: Option<Vec<i32>>) -> RetryPolicy {
        RetryPolicy::new(retries, Some(1000), Some(5000), retry_on).unwrap()
    }

    #[test]
    fn delays_double_up_to_the_cap_within_the_jitter() {
        let p = policy(10, None);
        let plain: Vec<i64> = (1..=5).map(|n| p.delay_ms(n, 0.0)).collect();
        assert_eq!(plain, [1000, 2000, 4000, 5000, 5000]);
        assert_eq!(p.delay_ms(2, 1.0), 2200);
        assert_eq!(p.delay_ms(2, -1.0), 1800);
        assert_eq!(p.delay_ms(200, 0.0), 5000);
        for _ in 0..100 {
            let j = random_jitter();
            assert!((-1.0..=1.0).contains(&j));
            let d = p.delay_ms(1, j);
            assert!((900..=1100).contains(&d), "{d}");
        }
        let d = RetryPolicy::new(3, None, None, None).unwrap();
        assert_eq!(d.delay_ms(1, 0.0), DEFAULT_BACKOFF_MS);
        assert_eq!(d.delay_ms(20, 0.0), DEFAULT_BACKOFF_MAX_MS);
    }

    #[test]
    fn which_failures_are_retried() {
        let any = policy(2, None);
        assert!(any.retries_after(1, FailureCause::ExitCode(3)));
        assert!(any.retries_after(2, FailureCause::Other));
        assert!(
            !any.retries_after(3, FailureCause::ExitCode(3)),
            "attempts used up"
        );
        assert!(!any.retries_after(1, FailureCause::CrashLoop));
        let listed = policy(2, Some(vec![75]));
        assert!(listed.retries_after(1, FailureCause::ExitCode(75)));
        assert!(!listed.retries_after(1, FailureCause::ExitCode(1)));
        assert!(!listed.retries_after(1, FailureCause::Other));
        assert!(!policy(0, None).retries_after(1, FailureCause::ExitCode(1)));
    }

    #[test]
    fn flags_are_checked() {
        assert!(RetryPolicy::new(1, Some(5000), Some(1000), None).is_err());
        assert!(RetryPolicy::new(MAX_RETRIES + 1, None, None, None).is_err());
        assert_eq!(parse_exit_codes("1, 75").unwrap(), [1, 75]);
        assert!(parse_exit_codes("0").is_err());
        assert!(parse_exit_codes("x").is_err());
        let p = policy(1, Some(vec![2, 3]));
        let stored = RetryPolicy::from_stored(2, 1000, 5000, p.retry_on_json().as_deref());
        assert_eq!(stored, p);
    }
}
