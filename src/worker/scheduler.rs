//! The main loop of a worker: claim while there is room, hand each run to an executor
//! thread, collect outcomes, watch for signals, and do the idle maintenance.

use super::handler::{self, Outcome};
use super::lease::{self, Active, Leases};
use super::{handler_jobs, Config, Handler, Mode, Shared, SIGNALS};
use crate::db;
use crate::error::{code, Fail};
use crate::model::Run;
use crate::store::lease::{self as store, Jobs, MAX_JOBS_PER_CLAIM};
use anyhow::Result;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub(super) struct Loop<'a> {
    pub cfg: &'a Config,
    pub shared: &'a Arc<Shared>,
    pub leases: &'a Arc<Leases>,
    pub owner: String,
    pub wal: bool,
}

impl Loop<'_> {
    pub fn run(&self) -> Result<i32> {
        let (done_tx, done_rx) = mpsc::channel::<(String, Outcome)>();
        let mut running = 0usize;
        let mut claimed = 0u64;
        let mut last_outcome: Option<Outcome> = None;
        let mut released = 0u64;
        let mut jobs_cache: Option<(Instant, Jobs)> = None;
        let mut last_checkpoint: Option<Instant> = None;
        let mut last_purge: Option<Instant> = None;
        let mut idle_once = false;
        loop {
            let signals = SIGNALS.load(Ordering::SeqCst);
            if signals >= 2 {
                self.leases.shutdown.store(true, Ordering::SeqCst);
            }
            let stopping = signals >= 1
                || self.cfg.max_runs.is_some_and(|m| claimed >= m)
                || (self.cfg.mode == Mode::Once && (claimed >= 1 || idle_once));
            if !stopping && running < self.cfg.concurrency {
                let claimed_run = self
                    .jobs(&mut jobs_cache)
                    .and_then(|jobs| self.claim(&jobs));
                let claimed_run = match claimed_run {
                    Ok(c) => c,
                    // Fatal for a one-shot worker with nothing running; otherwise retried
                    // at the next poll (a locked or briefly unreadable database).
                    Err(e) if running == 0 && self.cfg.mode != Mode::Forever => return Err(e),
                    Err(e) => {
                        note!("cannot claim a run: {e:#}");
                        None
                    }
                };
                if let Some((run, active)) = claimed_run {
                    claimed += 1;
                    running += 1;
                    self.leases.add(Arc::clone(&active));
                    let shared = Arc::clone(self.shared);
                    let leases = Arc::clone(self.leases);
                    let done = done_tx.clone();
                    std::thread::spawn(move || {
                        let outcome =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                handler::execute(&shared, &run, &active)
                            }))
                            .unwrap_or_else(|_| {
                                active.kill(lease::KillReason::Shutdown);
                                Outcome::Lost
                            });
                        leases.remove(&run.id);
                        let _ = done.send((run.id, outcome));
                    });
                    continue;
                }
                // Idle: nothing to claim now.
                jobs_cache = None;
                match self.cfg.mode {
                    Mode::Once => idle_once = true,
                    Mode::UntilIdle if running == 0 => {
                        self.maintain(&mut last_checkpoint, &mut last_purge);
                        self.report_pending();
                        return Ok(code::OK);
                    }
                    _ => {}
                }
                self.maintain(&mut last_checkpoint, &mut last_purge);
            }
            let stopping = stopping || (self.cfg.mode == Mode::Once && idle_once);
            if stopping && running == 0 {
                break;
            }
            // Wait for a handler to finish, a signal, or the next poll.
            let deadline = Instant::now() + self.cfg.poll;
            loop {
                let slice = deadline
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(100));
                match done_rx.recv_timeout(slice) {
                    Ok((_, outcome)) => {
                        running -= 1;
                        if outcome == Outcome::Released {
                            released += 1;
                        }
                        last_outcome = Some(outcome);
                        break;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
                if SIGNALS.load(Ordering::SeqCst) != signals || Instant::now() >= deadline {
                    break;
                }
            }
        }
        if released > 0 {
            return Err(Fail::new(
                code::ERROR,
                format!("stopped by a second signal: {released} runs handed back to the queue"),
            )
            .into());
        }
        if self.cfg.mode == Mode::Once {
            return Ok(match last_outcome {
                None | Some(Outcome::Completed) => code::OK,
                Some(Outcome::Failed) => code::RUN_FAILED,
                Some(Outcome::Cancelled) => code::RUN_CANCELLED,
                Some(Outcome::Lost) | Some(Outcome::Released) => code::ERROR,
            });
        }
        if self.cfg.mode == Mode::UntilIdle {
            self.report_pending();
        }
        Ok(code::OK)
    }

    /// The jobs this worker may claim, re-read from the handler directory at most every second.
    fn jobs(&self, cache: &mut Option<(Instant, Jobs)>) -> Result<Jobs> {
        if let Some((at, jobs)) = cache {
            if at.elapsed() < Duration::from_secs(1) {
                return Ok(jobs.clone());
            }
        }
        let jobs = match &self.cfg.handler {
            Handler::Command { .. } if self.cfg.jobs.is_empty() => Jobs::All,
            Handler::Command { .. } => Jobs::Only(self.cfg.jobs.clone()),
            Handler::Dir(dir) => {
                let mut list = handler_jobs(dir)?;
                if !self.cfg.jobs.is_empty() {
                    list.retain(|j| self.cfg.jobs.contains(j));
                }
                Jobs::Only(list)
            }
        };
        *cache = Some((Instant::now(), jobs.clone()));
        Ok(jobs)
    }

    /// One claim. More jobs than [`MAX_JOBS_PER_CLAIM`] are tried chunk by chunk: the oldest
    /// run of the first chunk that has one, not necessarily the oldest of all.
    fn claim(&self, jobs: &Jobs) -> Result<Option<(Run, Arc<Active>)>> {
        let chunks: Vec<Jobs> = match jobs {
            Jobs::All => vec![Jobs::All],
            Jobs::Only(list) if list.is_empty() => return Ok(None),
            Jobs::Only(list) => list
                .chunks(MAX_JOBS_PER_CLAIM)
                .map(|c| Jobs::Only(c.to_vec()))
                .collect(),
        };
        let lease_ms = self.cfg.lease.as_millis() as i64;
        for chunk in &chunks {
            let mut conn = self.shared.conn.lock().unwrap_or_else(|e| e.into_inner());
            let claimed = db::write(&mut conn, &self.shared.opts.path, |tx| {
                let started = Instant::now();
                let ms = crate::time::now_ms();
                let now = crate::time::format_ms(ms);
                let expires = crate::time::format_ms(ms + lease_ms);
                Ok(store::claim(tx, chunk, &self.owner, &now, &expires)?.map(|r| (r, started)))
            })?;
            if let Some((run, started)) = claimed {
                let active = Arc::new(Active::new(
                    run.id.clone(),
                    run.lease_generation,
                    started + self.cfg.lease,
                    self.cfg.timeout,
                ));
                return Ok(Some((run, active)));
            }
        }
        Ok(None)
    }

    /// Idle maintenance: release expired leases, purge (`--retain`) and checkpoint (WAL)
    /// at most once a minute. Errors are reported, never fatal.
    fn maintain(&self, last_checkpoint: &mut Option<Instant>, last_purge: &mut Option<Instant>) {
        let minute = Duration::from_secs(60);
        let mut conn = self.shared.conn.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.shared.opts.path.clone();
        let expired = store::has_expired(&conn, &crate::time::now());
        let released = match expired {
            Ok(true) => db::write(&mut conn, &path, |tx| {
                let now = crate::time::now();
                store::release_expired(tx, &now, 1000).map(|_| ())
            }),
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = released {
            note!("cannot release expired leases: {e:#}");
        }
        if let Some(age) = self.cfg.retain {
            if last_purge.is_none_or(|t| t.elapsed() >= minute) {
                *last_purge = Some(Instant::now());
                let filter = crate::store::admin::PurgeFilter::default();
                if let Err(e) = crate::cmd::purge_all(&mut conn, &path, filter, age) {
                    note!("cannot purge old runs: {e:#}");
                }
            }
        }
        if self.wal && last_checkpoint.is_none_or(|t| t.elapsed() >= minute) {
            *last_checkpoint = Some(Instant::now());
            if let Err(e) = store::checkpoint(&conn) {
                note!("checkpoint failed: {e:#}");
            }
        }
    }

    fn report_pending(&self) {
        let conn = self.shared.conn.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(n) = store::pending_count(&conn) {
            if n > 0 {
                note!(
                    "{n} runs still pending (blocked by a concurrency key, or without a handler)"
                );
            }
        }
    }
}
