//! Keeping leases while handlers run: a renewal thread (its own connection) extends every
//! active lease each `min(5s, lease/3)`, and a watchdog thread (no database) kills a handler's
//! process group as soon as its lease is lost, its local lease deadline passes, its
//! `--timeout` runs out, a second SIGINT/SIGTERM asks for it, or the wall clock jumps forward
//! ([`super::clock`]).
//!
//! The local deadline is the instant of the last successful renewal (or of the claim), taken
//! after `BEGIN IMMEDIATE` returned on SQLite and before the write's first message was sent on
//! PostgreSQL (whose expiry runs from the server's `now()`, the transaction's start), plus the
//! lease, minus a safety margin of `min(lease / 10, 1 s)` ([`Leases::margin`]): never later than the expiry in the database,
//! and early enough that the group is dead before anyone else may claim the run, even when
//! the wall clock (which the expiry is written in) and the monotonic clock drift a little.
//!
//! The renewal thread also says whether the worker may claim ([`Leases::renewals`]): only
//! while its last attempt — opening its connection, a renewal, or, while nothing runs, a ping
//! each renewal period — succeeded and none has been waiting for half a period. A run claimed
//! while renewals fail could not be kept. On PostgreSQL every call of the renewal connection
//! is bounded on the client's side too: a renewal by its run's deadline, a ping by a period.
//!
//! The same deadline is enforced twice. The watchdog thread kills at it while the worker runs;
//! the supervisor process ([`super::process`]) gets it with each handler's registration and
//! with every extension after a successful renewal, and kills at it when the worker cannot
//! (stopped with SIGSTOP or Ctrl-Z, traced, starved). An extension counts only if it was
//! written before the deadline it replaces (the supervisor may already have killed the group
//! otherwise), and a handler found ended once its supervised deadline has passed is treated as
//! killed by the supervisor: the run is lost and nothing is written for it.

use crate::model::Run;
use crate::store::Fenced;
use crate::store::Jobs;
use crate::store::Options;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How far this host's wall clock may be from the database server's before the worker says
/// so. Leases of CLI workers on PostgreSQL are the database's clock whatever the offset; the
/// library's workers judge leases by their own clocks, and the margin a worker kills its
/// handlers by ([`Leases::margin`]) is at most 1 s, so a larger offset between the hosts of a
/// mixed fleet can let one take over a run the other still executes.
pub const CLOCK_OFFSET_BOUND_MS: i64 = 1000;

/// Says once, on stderr, when this host's clock is off the database's by more than
/// [`CLOCK_OFFSET_BOUND_MS`] (PostgreSQL only; a failed measurement says nothing: the claim
/// will meet the same trouble and report it).
pub fn note_clock_offset(store: &Store) {
    let Some(Ok(offset)) = store.postgres().map(|p| p.clock_offset()) else {
        return;
    };
    if offset.abs() > CLOCK_OFFSET_BOUND_MS {
        let way = if offset > 0 { "ahead of" } else { "behind" };
        note!(
            "warning: this host's clock is {:.1} s {way} the database server's ({}); leases use the database's clock, but workers of the @coji/durably library judge leases by their own clocks: keep hosts synchronised (NTP) within 1 s",
            offset.unsigned_abs() as f64 / 1000.0,
            store.location()
        );
    }
}

/// The pause before renewing again after the connection was lost.
const RETRY_SOON: Duration = Duration::from_millis(200);

/// Why the worker killed a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// Renewal found the run no longer ours (cancelled, or expired and reclaimed).
    LeaseLost,
    /// No successful renewal before the local deadline.
    LeaseDeadline,
    /// `--timeout`.
    Timeout,
    /// A second SIGINT/SIGTERM.
    Shutdown,
    /// The worker gives the run up without writing anything for it: its database file is
    /// gone, or the wall clock jumped so that its lease looks expired (see [`super::clock`]).
    /// Whoever decided says so once.
    Abandoned,
}

#[derive(Debug, Default)]
struct State {
    /// The leader's pid once spawned (its process group id).
    pid: Option<libc::pid_t>,
    /// The leader has exited: its group must not be signalled any more.
    finished: bool,
    killed: Option<KillReason>,
    /// When the watchdog kills the group: the last renewal plus the lease, minus the margin.
    deadline: Option<Instant>,
    /// The deadline the supervisor surely has for the group (it may have a later one).
    supervised: Option<Instant>,
    /// Where extensions of `supervised` go, once the handler is spawned.
    link: Option<super::process::Link>,
}

impl State {
    /// Kills the group now (if it still runs) for `reason`; the first reason sticks.
    fn kill(&mut self, reason: KillReason) {
        if self.finished {
            return;
        }
        if self.killed.is_none() {
            self.killed = Some(reason);
        }
        if let Some(pid) = self.pid {
            super::process::kill_group(pid);
        }
    }

    /// Hands `deadline` to the supervisor; kills the group when the extension may have come
    /// too late (written at or after the supervised deadline it replaces).
    fn extend(&mut self, deadline: Instant) {
        let (Some(pid), Some(link)) = (self.pid, self.link.as_ref()) else {
            return;
        };
        if self.finished || self.killed.is_some() {
            return;
        }
        if self.supervised.is_some_and(|s| deadline <= s) {
            return;
        }
        link.extend(pid, deadline);
        // The clock is read after the write: a write that happened before the old deadline
        // is seen by the supervisor before it judges that deadline.
        if self.supervised.is_some_and(|s| Instant::now() >= s) {
            self.kill(KillReason::LeaseDeadline);
        } else {
            self.supervised = Some(deadline);
        }
    }
}

/// One run being executed by this worker.
#[derive(Debug)]
pub struct ActiveRun {
    pub run_id: String,
    pub generation: i64,
    pub timeout_at: Option<Instant>,
    lost: AtomicBool,
    state: Mutex<State>,
    /// The runs claimed together with this run's result ([`ClaimAhead`]), for the main loop
    /// to start; None: no claim was made with it.
    next: Mutex<Option<Vec<(Run, Instant)>>>,
}

impl ActiveRun {
    pub fn new(
        run_id: String,
        generation: i64,
        deadline: Instant,
        timeout: Option<Duration>,
    ) -> Self {
        ActiveRun {
            run_id,
            generation,
            timeout_at: timeout.map(|t| Instant::now() + t),
            lost: AtomicBool::new(false),
            state: Mutex::new(State {
                deadline: Some(deadline),
                ..State::default()
            }),
            next: Mutex::new(None),
        }
    }

    /// Keeps the runs claimed with this run's result (each with when its lease began) for the
    /// main loop ([`ActiveRun::take_next`]).
    pub fn hand_on(&self, claimed: Vec<(Run, Instant)>) {
        *self.next.lock().unwrap_or_else(|e| e.into_inner()) = Some(claimed);
    }

    /// The runs claimed with this run's result; None when no claim was made with it.
    pub fn take_next(&self) -> Option<Vec<(Run, Instant)>> {
        self.next.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The deadline to register a new handler with (see [`super::process::spawn`]); from now
    /// on it is the deadline the supervisor enforces.
    pub fn spawn_deadline(&self) -> Instant {
        let mut s = self.lock();
        let deadline = s.deadline.unwrap_or_else(Instant::now);
        s.supervised = Some(deadline);
        deadline
    }

    /// Records the leader, registered with [`ActiveRun::spawn_deadline`]; a kill decided before it
    /// existed happens now, and a renewal since the registration is passed on.
    pub fn set_pid(&self, pid: libc::pid_t, link: super::process::Link) {
        let mut s = self.lock();
        s.pid = Some(pid);
        s.link = Some(link);
        if s.killed.is_some() {
            super::process::kill_group(pid);
        } else if let Some(deadline) = s.deadline {
            s.extend(deadline);
        }
    }

    /// Marks the leader exited; from now on nobody signals its group but the caller, who
    /// kills what is left of it (under the same lock) before it reaps the leader. A leader
    /// found ended once its supervised deadline has passed may have been killed by the
    /// supervisor: that counts as [`KillReason::LeaseDeadline`].
    pub fn finish(&self) -> Option<KillReason> {
        let mut s = self.lock();
        let now = Instant::now();
        if s.killed.is_none()
            && [s.supervised, s.deadline]
                .iter()
                .flatten()
                .any(|&d| now >= d)
        {
            s.killed = Some(KillReason::LeaseDeadline);
        }
        s.finished = true;
        if let Some(pid) = s.pid {
            super::process::kill_group(pid);
        }
        s.killed
    }

    /// Kills the group now (if it still runs) for `reason`; the first reason sticks.
    pub fn kill(&self, reason: KillReason) {
        self.lock().kill(reason);
    }

    /// The local lease deadline: the result must be committed before it.
    pub fn deadline(&self) -> Option<Instant> {
        self.lock().deadline
    }

    pub fn killed(&self) -> Option<KillReason> {
        self.lock().killed
    }

    fn check(&self, now: Instant, shutdown: bool) {
        let reason = if self.lost.load(Ordering::SeqCst) {
            Some(KillReason::LeaseLost)
        } else if self.lock().deadline.is_some_and(|d| now >= d) {
            Some(KillReason::LeaseDeadline)
        } else if self.timeout_at.is_some_and(|t| now >= t) {
            Some(KillReason::Timeout)
        } else if shutdown {
            Some(KillReason::Shutdown)
        } else {
            None
        };
        if let Some(r) = reason {
            let already = self.lock().killed.is_some();
            if !already {
                self.kill(r);
            }
        }
    }
}

/// The claim an executor may make together with its run's result, in the same write
/// ([`crate::store::Store::finish_and_claim`]: on PostgreSQL one round trip and one commit for
/// both, instead of the result's and then the main loop's claim for the freed slot). The main
/// loop offers it while it would claim itself and its last claim found as many runs as it
/// asked for, and withdraws it otherwise; the executor claims one run, for its own slot, and
/// goes on with it while the offer stands (the main loop gives it back when it has stopped
/// claiming meanwhile).
#[derive(Debug, Default)]
pub struct ClaimAhead {
    offer: Mutex<Option<Arc<Offer>>>,
}

/// What [`ClaimAhead`] lets an executor claim.
#[derive(Debug, PartialEq)]
pub struct Offer {
    pub jobs: Jobs,
    pub owner: String,
    pub lease: Duration,
}

impl ClaimAhead {
    /// Offers claims of `jobs` (None: withdraws the offer).
    pub fn offer(&self, jobs: Option<&Jobs>, owner: &str, lease: Duration) {
        let mut offer = self.offer.lock().unwrap_or_else(|e| e.into_inner());
        match jobs {
            None => *offer = None,
            Some(jobs) if offer.as_ref().is_some_and(|o| &o.jobs == jobs) => {}
            Some(jobs) => {
                *offer = Some(Arc::new(Offer {
                    jobs: jobs.clone(),
                    owner: owner.to_string(),
                    lease,
                }))
            }
        }
    }

    /// The offer now, if any.
    pub fn current(&self) -> Option<Arc<Offer>> {
        self.offer.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The state of the renewal path (its connection and the renewals made on it), which
/// decides whether the worker may claim ([`Leases::renewals_work`]).
#[derive(Debug, Default)]
struct RenewalPath {
    /// The last attempt (open, renewal, ping) failed.
    failing: bool,
    /// An attempt has been waiting since then.
    busy_since: Option<Instant>,
}

/// What [`Leases::renewals`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewals {
    Work,
    /// One has been waiting for half a renewal period (a lock, a slow server, a partition).
    Stall,
    /// The last one failed, or the renewal connection cannot be opened.
    Fail,
}

/// The runs this worker executes, watched and renewed.
pub struct Leases {
    active: Mutex<HashMap<String, Arc<ActiveRun>>>,
    stop: Mutex<bool>,
    wake: Condvar,
    /// A second signal: kill every handler.
    pub shutdown: AtomicBool,
    lease: Duration,
    /// Wall-clock jumps (see [`super::clock`]).
    clock: super::clock::ClockWatch,
    path: Mutex<RenewalPath>,
}

impl Leases {
    pub fn new(lease: Duration) -> Arc<Leases> {
        Arc::new(Leases {
            active: Mutex::new(HashMap::new()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
            lease,
            clock: super::clock::ClockWatch::new(
                (lease / 10).min(Duration::from_secs(1)),
                lease + (lease / 10).min(Duration::from_secs(1)),
            ),
            path: Mutex::new(RenewalPath::default()),
        })
    }

    /// Stops every handler of this worker without writing for their runs
    /// ([`KillReason::Abandoned`]); returns how many there were.
    pub fn abandon_all(&self) -> usize {
        let runs = self.snapshot();
        for a in &runs {
            a.kill(KillReason::Abandoned);
        }
        runs.len()
    }

    /// Looks for a wall-clock jump since the last look; on one, abandons every run (their
    /// leases look expired to everyone now) and says so once.
    pub fn check_clock(&self) {
        let Some(ahead) = self.clock.jumped() else {
            return;
        };
        let stopped = self.abandon_all();
        // Whole seconds for a large step: the look's own timing is noise there.
        let ahead = if ahead >= Duration::from_secs(10) {
            Duration::from_secs(ahead.as_secs_f64().round() as u64)
        } else {
            Duration::from_millis(ahead.as_millis() as u64)
        };
        let ahead = humantime::format_duration(ahead);
        let hold = humantime::format_duration(self.clock.hold_duration());
        let stopped = match stopped {
            0 => String::new(),
            1 => "; stopped 1 handler without recording its run (it runs again once claimed)"
                .to_string(),
            n => format!(
                "; stopped {n} handlers without recording their runs (they run again once claimed)"
            ),
        };
        note!(
            "the wall clock jumped {ahead} forward: leases written before look expired{stopped}; claims wait {hold}"
        );
    }

    /// Whether claims wait after a wall-clock jump.
    pub fn claims_held(&self) -> bool {
        self.clock.holding()
    }

    /// The state of the renewal path: whether the last attempt on it (opening its connection,
    /// a renewal, or a ping while nothing runs) failed, or one has been waiting for half a
    /// renewal period. A worker claims only while it [`Renewals::Work`]: a run it claimed
    /// otherwise would be lost at its deadline and executed again.
    pub fn renewals(&self) -> Renewals {
        let path = self.path.lock().unwrap_or_else(|e| e.into_inner());
        if path.failing {
            Renewals::Fail
        } else if path
            .busy_since
            .is_some_and(|b| b.elapsed() >= self.renew_every() / 2)
        {
            Renewals::Stall
        } else {
            Renewals::Work
        }
    }

    /// Runs `attempt` on the renewal path, marked as waiting while it runs; its success (per
    /// `ok`) is the path's state afterwards.
    fn attempt<T>(&self, attempt: impl FnOnce() -> T, ok: impl FnOnce(&T) -> bool) -> T {
        self.set_path(|p| p.busy_since = Some(Instant::now()));
        let value = attempt();
        let failing = !ok(&value);
        self.set_path(|p| {
            p.busy_since = None;
            p.failing = failing;
        });
        value
    }

    fn set_path(&self, f: impl FnOnce(&mut RenewalPath)) {
        f(&mut self.path.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Opens a renewal connection, each call on it bounded by a renewal period on the
    /// client's side (a renewal also by its run's deadline).
    fn open(&self, opts: &Options) -> anyhow::Result<Store> {
        let mut store = Store::open_again(opts)?;
        if let Some(p) = store.postgres_mut() {
            p.bound_calls(Some(self.renew_every()));
        }
        Ok(store)
    }

    /// How long before the local lease expiry handlers are killed: a tenth of the lease, at
    /// most one second.
    pub fn margin(&self) -> Duration {
        (self.lease / 10).min(Duration::from_secs(1))
    }

    /// Watches and renews `a`, whose deadline (the claim plus the lease) moves
    /// [`Leases::margin`] earlier. Call before its handler is spawned.
    pub fn add(&self, a: Arc<ActiveRun>) {
        {
            let mut s = a.lock();
            s.deadline = s.deadline.map(|d| d - self.margin());
        }
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(a.run_id.clone(), a);
    }

    pub fn remove(&self, run_id: &str) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(run_id);
    }

    fn snapshot(&self) -> Vec<Arc<ActiveRun>> {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Sleeps up to `d`; true when asked to stop.
    fn sleep(&self, d: Duration) -> bool {
        let stop = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        if *stop {
            return true;
        }
        let (stop, _) = self
            .wake
            .wait_timeout(stop, d)
            .unwrap_or_else(|e| e.into_inner());
        *stop
    }

    pub fn stop(&self) {
        *self.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }

    /// The renewal period: 5 s or a third of the lease, whichever is shorter.
    pub fn renew_every(&self) -> Duration {
        (self.lease / 3).min(Duration::from_secs(5))
    }

    /// Starts the watchdog and renewal threads. A thread that cannot be started (a resource
    /// limit) is an error before anything is claimed, never a panic.
    pub fn start(
        self: &Arc<Self>,
        opts: Options,
    ) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
        let me = Arc::clone(self);
        let watch = std::thread::Builder::new()
            .name("lease-watchdog".into())
            .spawn(move || loop {
                me.check_clock();
                let shutdown = me.shutdown.load(Ordering::SeqCst);
                let now = Instant::now();
                for a in me.snapshot() {
                    a.check(now, shutdown);
                }
                if me.sleep(Duration::from_millis(25)) {
                    return;
                }
            })?;
        // The renewal connection is opened before anything is claimed: opening one (a
        // PostgreSQL login on a busy machine) can take longer than a short lease leaves
        // before its first renewal. When it cannot be opened now, nothing is claimed until
        // the renewal thread, trying again each round, has one.
        let first = self.attempt(|| self.open(&opts).ok(), Option::is_some);
        let me = Arc::clone(self);
        let renew = std::thread::Builder::new()
            .name("lease-renewal".into())
            .spawn(move || me.renew_loop(&opts, first));
        match renew {
            Ok(renew) => Ok(vec![watch, renew]),
            Err(e) => {
                self.stop();
                let _ = watch.join();
                Err(e)
            }
        }
    }

    /// The deadline of `a` when its lease is to be renewed: not when its handler is finished,
    /// killed or past its deadline (it is, or is being, killed).
    fn renewable(a: &ActiveRun) -> Option<Option<Instant>> {
        let s = a.lock();
        if s.finished || s.killed.is_some() || s.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        Some(s.deadline)
    }

    /// The lease of `a` was renewed by a write begun at `started`: the new deadline is passed
    /// on (watchdog and supervisor), unless the old one passed meanwhile.
    fn renewed(&self, a: &ActiveRun, started: Instant) {
        let mut s = a.lock();
        if s.deadline.is_some_and(|d| Instant::now() >= d) {
            // Renewed too late: the watchdog or the supervisor kills it.
            s.kill(KillReason::LeaseDeadline);
            return;
        }
        let deadline = started + self.lease - self.margin();
        s.deadline = Some(deadline);
        s.extend(deadline);
    }

    /// Renews the leases of `runs` on `c` in one write, bounded by the earliest of their
    /// deadlines; those it leaves out (a row locked elsewhere, a lease no longer ours) and,
    /// when it fails, all of them are renewed one by one ([`Self::renew_one`]). True when
    /// the connection is lost.
    fn renew_all(&self, c: &mut Store, runs: &[Arc<ActiveRun>]) -> bool {
        let due: Vec<(&Arc<ActiveRun>, Option<Instant>)> = runs
            .iter()
            .filter_map(|a| Self::renewable(a).map(|d| (a, d)))
            .collect();
        if due.len() < 2 {
            return due.into_iter().any(|(a, _)| self.renew_one(c, a));
        }
        let fences: Vec<(String, i64)> = due
            .iter()
            .map(|(a, _)| (a.run_id.clone(), a.generation))
            .collect();
        let earliest = due.iter().filter_map(|(_, d)| *d).min();
        let lease = self.lease;
        let result = self.attempt(
            || c.before_deadline(earliest, |c| c.renew_many(&fences, lease)),
            Result::is_ok,
        );
        let lost = result.as_ref().is_err_and(|e| c.is_lost_after(e)) || c.is_lost();
        if lost {
            return true;
        }
        let renewed: Vec<String> = match result {
            Ok((renewed, started)) => {
                for (a, _) in &due {
                    if renewed.contains(&a.run_id) {
                        self.renewed(a, started);
                    }
                }
                renewed
            }
            Err(_) => Vec::new(),
        };
        due.into_iter()
            .filter(|(a, _)| !renewed.contains(&a.run_id))
            .any(|(a, _)| self.renew_one(c, a))
    }

    /// Renews the lease of one run on `c`, unless its handler is finished, killed or past its
    /// deadline; passes the new deadline on (watchdog and supervisor), or marks the lease
    /// lost. True when the connection is lost.
    fn renew_one(&self, c: &mut Store, a: &ActiveRun) -> bool {
        let Some(deadline) = Self::renewable(a) else {
            return false;
        };
        let lease = self.lease;
        // Waiting for a lock ends at the run's deadline: a later renewal would not count, and a
        // wait of `--busy-timeout` would hold up the other runs' renewals and the worker's exit.
        let result = self.attempt(
            || c.before_deadline(deadline, |c| c.renew(&a.run_id, a.generation, lease)),
            Result::is_ok,
        );
        // The server can say it ends the connection before the client notices.
        let lost = result.as_ref().is_err_and(|e| c.is_lost_after(e)) || c.is_lost();
        match result {
            Ok(Fenced::Done(started)) => self.renewed(a, started),
            Ok(Fenced::LeaseLost) => a.lost.store(true, Ordering::SeqCst),
            // The deadline passed while waiting: the watchdog stops the handler and its outcome
            // is reported; there is nothing more to say here.
            Err(_) if deadline.is_some_and(|d| Instant::now() >= d) => {}
            Err(_) if lost => {}
            Err(e) => note!("cannot renew the lease of {}: {e:#}", a.run_id),
        }
        lost
    }

    fn renew_loop(&self, opts: &Options, first: Option<Store>) {
        let mut store = first;
        // After a lost connection the next round comes soon: a lease must not run out while
        // the connection is reopened.
        let mut soon = false;
        loop {
            let pause = if soon {
                self.renew_every().min(RETRY_SOON)
            } else {
                self.renew_every()
            };
            soon = false;
            if self.sleep(pause) {
                return;
            }
            let runs = self.snapshot();
            if store.is_none() {
                match self.attempt(|| self.open(opts), Result::is_ok) {
                    Ok(c) => store = Some(c),
                    // While nothing runs, quietly: the worker claims nothing until it works.
                    Err(_) if runs.is_empty() => continue,
                    Err(e) => {
                        repeated!("cannot renew leases: {e:#}");
                        soon = true;
                        continue;
                    }
                }
            }
            let Some(c) = store.as_mut() else { continue };
            if runs.is_empty() {
                // Nothing to renew: the path is checked, so that a run claimed next can be kept.
                let ping = || c.postgres().map_or(Ok(()), |p| p.ping());
                let pinged = self.attempt(ping, Result::is_ok);
                if pinged.is_err_and(|e| c.is_lost_after(&e)) {
                    store = None;
                    soon = true;
                }
                continue;
            }
            if self.renew_all(c, &runs) {
                // The rest are renewed on a new connection, soon.
                store = None;
                soon = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Leases, Renewals};
    use std::time::{Duration, Instant};

    #[test]
    fn claims_wait_while_the_renewal_path_fails_or_stalls() {
        let leases = Leases::new(Duration::from_secs(30));
        assert_eq!(leases.renewals(), Renewals::Work);
        leases.attempt(|| (), |_| false);
        assert_eq!(leases.renewals(), Renewals::Fail);
        leases.attempt(|| (), |_| true);
        assert_eq!(leases.renewals(), Renewals::Work);
        // An attempt waiting for half a renewal period (5 s here) or more.
        let since = Instant::now().checked_sub(Duration::from_secs(3));
        leases.set_path(|p| p.busy_since = since);
        assert_eq!(leases.renewals(), Renewals::Stall);
        let since = Instant::now().checked_sub(Duration::from_secs(1));
        leases.set_path(|p| p.busy_since = since);
        assert_eq!(leases.renewals(), Renewals::Work);
    }
}
