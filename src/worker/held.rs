//! The worker's release of held runs (issue 17, rules in `store::held`): called once per claim
//! turn, at most once per poll interval while handlers run and every turn when the worker is
//! about to go idle (so `--until-idle` releases a run whose wait just ended before it ends).
//!
//! Its cost when nothing is due is one read ([`crate::store::Store::peek_held`]): a seek on
//! `idx_durably_cli_held_runs_due` and an `EXISTS` on the waits. Waiting runs are judged only
//! when a run they wait on has ended: the read looks at the runs that ended since the last
//! poll (a range of the library's `(status, completed_at)` index, with [`LOOKBACK`] of slack
//! for transactions that commit late and clocks that disagree), and, once a [`SWEEP_EVERY`],
//! at one page of a sweep through every wait (for runs deleted, or ended with a
//! `completed_at` far behind the database's clock). So a poll costs O(due + ended runs), not
//! O(held runs). A due batch that was full is followed by another at once.

use super::shared_store::SharedStore;
use crate::store::held::RELEASE_BATCH;
use std::time::{Duration, Instant};

/// How far back the scan of ended runs reaches before the previous poll's now.
pub const LOOKBACK: Duration = Duration::from_secs(2);
/// How often a page of the sweep through every wait is read.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// What the release remembers between polls.
#[derive(Default)]
pub struct Release {
    /// When the last release ran.
    last: Option<Instant>,
    /// The database's now at the last poll, less [`LOOKBACK`]: runs ended since are looked at.
    since: Option<String>,
    /// Where the sweep goes on (Some(("", "")) from the beginning), and when it last did.
    sweep: (String, String),
    last_sweep: Option<Instant>,
}

impl Release {
    /// Releases what is due, unless one ran less than `poll` ago and `idle` is false; how many
    /// runs were moved (released or cancelled). Errors are said (once a minute), never fatal.
    pub fn poll(&mut self, store: &SharedStore, poll: Duration, idle: bool) -> u64 {
        if !idle && self.last.is_some_and(|t| t.elapsed() < poll) {
            return 0;
        }
        self.last = Some(Instant::now());
        match self.release(store) {
            Ok(n) => n,
            Err(e) => {
                repeated!("cannot release held runs: {e:#}");
                0
            }
        }
    }

    fn release(&mut self, store: &SharedStore) -> anyhow::Result<u64> {
        let sweep_now = self.last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY);
        let sweep = sweep_now.then(|| self.sweep.clone());
        let peek = store
            .lock()
            .peek_held(self.since.as_deref(), sweep.as_ref())?;
        if sweep_now {
            self.last_sweep = Some(Instant::now());
            self.sweep = peek.sweep_next.clone().unwrap_or_default();
        }
        if let Some(ms) = crate::time::parse_ms(&peek.now) {
            let back = i64::try_from(LOOKBACK.as_millis()).unwrap_or(0);
            self.since = Some(crate::time::format_ms(ms - back));
        }
        if !peek.due && peek.candidates.is_empty() {
            return Ok(0);
        }
        let mut moved = 0;
        let mut candidates = peek.candidates;
        let mut after = None;
        loop {
            let done = store
                .lock()
                .release_held(&candidates, RELEASE_BATCH, after.as_ref())?;
            candidates.clear();
            after = done.last.clone();
            moved += done.released + done.cancelled;
            // A full batch: more may be due, after its last. Runs kept (a concurrency key held)
            // and runs another releaser had locked wait for the next poll.
            if done.due < RELEASE_BATCH as u64 {
                return Ok(moved);
            }
        }
    }
}
