//! The database's clock. On PostgreSQL every time the CLI writes or compares (lease expiry,
//! claim, renewal, results, release of expired leases, cancel, `created_at`, `updated_at`) is
//! the server's `now()` — the start of the transaction — rendered in the library's timestamp
//! text inside the statements themselves (the expression of `sql/postgres/clock_now.sql`), so
//! hosts whose clocks disagree never take each other's valid leases, and no round trip is
//! spent on it. Rows that record when this process saw something (a step's start and end, a
//! log line) keep this host's clock.
//!
//! A worker's local deadline is an `Instant` taken before `BEGIN` was sent, so it is never
//! later than the expiry the server computed from its `now()` (which is at or after the
//! server received `BEGIN`). The offset between this host's wall clock and the server's is
//! measured here (round-trip midpoint) for the worker's warning: it no longer decides any
//! lease of a CLI worker, but the library's workers judge leases by their own clocks.

use super::Postgres;
use anyhow::{Context, Result};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The database's now in the library's text, as one statement ([`Postgres::enqueue_batch`]
/// sends it with `BEGIN`).
pub(super) const NOW: &str = include_str!("../../../sql/postgres/clock_now.sql");

/// Samples of the offset; the one with the shortest round trip is kept.
const SAMPLES: usize = 3;

/// This host's wall clock in milliseconds since the epoch (negative before it).
fn wall_ms() -> f64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

impl Postgres {
    /// How far this host's wall clock is ahead of the server's (negative: behind), in
    /// milliseconds: the server's clock read between two readings of ours, against their
    /// midpoint, for the sample with the shortest round trip (its error is at most half of it).
    pub fn clock_offset(&self) -> Result<i64> {
        let mut client = self.client.borrow_mut();
        // Unnamed, one round trip a sample, like every statement here (`super::typed`).
        let sample = include_str!("../../../sql/postgres/clock_sample.sql");
        let mut best: Option<(std::time::Duration, f64)> = None;
        for _ in 0..SAMPLES {
            let began = Instant::now();
            let before = wall_ms();
            let server: i64 = client
                .query_typed_one(sample, &[])
                .and_then(|r| r.try_get(0))
                .map_err(|e| super::describe(e.into(), &self.shown))
                .context("cannot read the database's clock")?;
            let after = wall_ms();
            let round_trip = began.elapsed();
            let offset = (before + after) / 2.0 - server as f64;
            if best.is_none_or(|(rt, _)| round_trip < rt) {
                best = Some((round_trip, offset));
            }
        }
        Ok(best.map_or(0, |(_, offset)| offset.round() as i64))
    }
}
