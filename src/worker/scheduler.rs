//! The main loop of a worker: claim while there is room and lease renewals work, hand each
//! run to an executor thread, collect outcomes, watch for signals and for the supervisor, back
//! off when handlers cannot be started, and do the maintenance while no handler runs. At every
//! turn it also checks that the database path still names the file it has open, looks for a
//! wall-clock jump ([`super::clock`]; claims wait a lease after one) and says the counts of
//! repeated errors ([`super::noise`]).
//!
//! While the queue has runs, executors claim too: each one's result carries the claim of its
//! slot's next run ([`lease::ClaimAhead`], offered and withdrawn here at every turn), and the
//! executor goes on with that run in its own thread, its lease registered and renewed like any
//! other ([`go_on`]), unless the worker stopped claiming meanwhile (a signal, renewals
//! failing, a clock jump, a back-off): then this loop gives it back.

use super::handler::{self, Outcome};
use super::lease::{self, ActiveRun, Leases, Renewals};
use super::{handler_jobs, Config, ExecutorContext, Handler, Mode};
use crate::error::{CodedError, ExitCode};
use crate::model::Run;
use crate::store::{Jobs, PurgeFilter, Store, MAX_JOBS_PER_CLAIM};
use anyhow::Result;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Consecutive runs given back (handlers that could not be started) after which a worker
/// that is meant to end (`--once`, `--until-idle`, `--max-runs`) stops trying.
const GIVE_UP_AFTER: u32 = 5;
/// The first pause after a run was given back; it doubles with each one in a row.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Rows per maintenance transaction; the connection is released between batches.
const MAINTENANCE_BATCH: u64 = 256;
/// The pause between maintenance batches, so that other writers get the lock.
const MAINTENANCE_GAP: Duration = Duration::from_millis(2);

pub(super) struct Scheduler<'a> {
    pub cfg: &'a Config,
    pub shared: &'a Arc<ExecutorContext>,
    pub leases: &'a Arc<Leases>,
    pub owner: String,
    pub wal: bool,
    /// The SQLite file the worker opened (device and inode), checked against its path at
    /// every turn; None on PostgreSQL.
    pub db_file: Option<crate::store::FileId>,
}

/// When maintenance last ran to the end.
#[derive(Default)]
struct Maintenance {
    last_checkpoint: Option<Instant>,
    last_purge: Option<Instant>,
}

/// Runs this worker executed, for the exit status.
#[derive(Default)]
struct Tally {
    executed: u64,
    failed: u64,
    last: Option<Outcome>,
}

/// Handlers that could not be started, in a row.
#[derive(Default)]
struct Backoff {
    in_a_row: u32,
    until: Option<Instant>,
}

impl Backoff {
    fn bump(&mut self) {
        self.in_a_row += 1;
        let pause = BACKOFF_START
            .saturating_mul(1 << self.in_a_row.saturating_sub(1).min(16))
            .min(BACKOFF_MAX);
        self.until = Some(Instant::now() + pause);
    }

    fn active(&self) -> bool {
        self.until.is_some_and(|t| Instant::now() < t)
    }
}

/// Reopening a lost connection: the pause doubles with each failure in a row.
#[derive(Default)]
struct Reconnect {
    failures: u32,
    until: Option<Instant>,
}

impl Reconnect {
    fn waiting(&self) -> bool {
        self.until.is_some_and(|t| Instant::now() < t)
    }

    fn failed(&mut self) {
        self.failures += 1;
        let pause = BACKOFF_START
            .saturating_mul(1 << self.failures.saturating_sub(1).min(16))
            .min(RECONNECT_MAX);
        self.until = Some(Instant::now() + pause);
    }
}

/// The run an executor goes on with in its own slot, without a hop through the main loop:
/// the first of `next` (the runs claimed with its result), while the worker still claims —
/// the main loop's offer stands ([`lease::ClaimAhead`]; withdrawn when a signal came, a
/// back-off began, the database file went, `--once` or `--max-runs`), no signal came, lease
/// renewals work and no clock jump holds claims. Its lease is watched and renewed like any
/// other run's from before the checks (its deadline the claim's start plus the lease): a
/// forced shutdown, a clock jump or a file gone after them stops it with the others. Left in
/// `next` otherwise, for the main loop to give back.
fn go_on(
    shared: &ExecutorContext,
    leases: &Leases,
    next: &mut Option<Vec<(Run, Instant)>>,
    lease: Duration,
    timeout: Option<Duration>,
) -> Option<(Run, Arc<ActiveRun>)> {
    let runs = next.as_mut().filter(|runs| !runs.is_empty())?;
    let (run, started) = runs.remove(0);
    let generation = run.lease_generation;
    let active = Arc::new(ActiveRun::new(
        run.id.clone(),
        generation,
        started + lease,
        timeout,
    ));
    leases.add(Arc::clone(&active));
    let claims = shared.ahead.current().is_some()
        && crate::signals::received() == 0
        && !leases.shutdown.load(Ordering::SeqCst)
        && leases.renewals() == Renewals::Work
        && !leases.claims_held();
    if claims {
        return Some((run, active));
    }
    leases.remove(&run.id);
    runs.insert(0, (run, started));
    None
}

/// The longest pause between attempts to reopen a lost connection.
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// What an executor sends the main loop when its run is done.
struct Done {
    outcome: Outcome,
    /// The runs claimed with its result that its executor does not go on with (None: no
    /// claim was made with it; [`lease::ClaimAhead`]).
    next: Option<Vec<(Run, Instant)>>,
    /// The executor goes on with a run claimed with the result, in the same slot.
    goes_on: bool,
}

/// What the main loop keeps from one turn to the next.
#[derive(Default)]
struct LoopState {
    /// Handlers executing now.
    running: usize,
    /// Runs claimed and started (runs given back are not counted).
    claimed: u64,
    tally: Tally,
    /// Runs whose handlers were killed by a forced shutdown.
    released: u64,
    backoff: Backoff,
    supervisor_gone: bool,
    jobs_cache: Option<(Instant, Jobs)>,
    maintenance: Maintenance,
    /// `--once` found nothing to claim.
    idle_once: bool,
    /// `--until-idle` found nothing to claim with nothing running.
    drained: bool,
    /// SIGINT/SIGTERM already announced.
    announced: usize,
    reconnect: Reconnect,
    /// The database path no longer names the file the worker has open.
    file_gone: bool,
    /// Claims are held because lease renewals fail (said once on stderr).
    renewals_failing: bool,
    /// `-v`: "waiting for runs …" said since the worker last went idle.
    said_waiting: bool,
    /// Held runs released at each poll (worker/held.rs).
    held: super::held::Release,
    schedules: super::schedules::Materialiser,
    /// The pauses last read (`durably pause`).
    pauses: super::pauses::Seen,
    /// The last claim (the main loop's or one made with a result) found as many runs as it
    /// asked for: executors may claim with their results ([`lease::ClaimAhead`]).
    more_queued: bool,
    /// Runs claimed with results, not started yet.
    ahead: Vec<(Run, Instant)>,
}

impl LoopState {
    /// Counts the outcome of a finished executor.
    fn record(&mut self, outcome: Outcome) {
        self.running -= 1;
        match outcome {
            Outcome::GivenBack => {
                self.claimed -= 1;
                self.backoff.bump();
            }
            Outcome::SupervisorGone => {
                self.claimed -= 1;
                self.supervisor_gone = true;
            }
            Outcome::Released => self.released += 1,
            Outcome::Completed | Outcome::Failed | Outcome::Cancelled | Outcome::Lost => {
                self.backoff = Backoff::default();
                self.tally.executed += 1;
                if outcome == Outcome::Failed {
                    self.tally.failed += 1;
                }
                self.tally.last = Some(outcome);
            }
        }
    }

    /// When the wait for an outcome ends at the latest: the end of a pause, or the next poll.
    fn wake_at(&self, poll: Duration) -> Instant {
        let now = Instant::now();
        let deadline = match self.backoff.until {
            Some(t) if t > now => t,
            _ => now + poll,
        };
        match self.reconnect.until {
            Some(t) if t > now => deadline.min(t),
            _ => deadline,
        }
    }
}

/// What the main loop does after a turn that may claim.
enum Turn {
    /// Look again at once (a run was started or given back, the connection was lost, or
    /// the queue is drained).
    Again,
    /// Wait for an outcome, a signal, or the next poll.
    Wait,
}

impl Scheduler<'_> {
    pub fn run(&self) -> Result<ExitCode> {
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let mut st = LoopState::default();
        loop {
            let signals = self.observe_signals(&mut st);
            super::noise::flush(false);
            self.check_file(&mut st);
            self.leases.check_clock();
            let stopping = self.is_stopping(&st, signals);
            let connected = stopping || self.connected(&mut st.reconnect, st.running)?;
            let room = st.running < self.cfg.concurrency
                && !st.backoff.active()
                && !self.leases.claims_held();
            let renewing = stopping || self.renewals_work(&mut st);
            // Every turn, not only claim turns: executors that claim with their results keep
            // every slot busy under a steady queue, and held runs (retries' successors among
            // them) and schedule slots must still come due.
            if !stopping && connected {
                // Once per poll interval here; and whenever a claim finds nothing with nothing
                // running (claim_turn), so `--until-idle` and `--once` never end before a
                // due run or a run whose wait just ended is released.
                st.held.poll(&self.shared.store, self.cfg.poll, false);
                st.schedules
                    .poll(&self.shared.store, self.cfg.poll, self.cfg.verbose);
            }
            let may_claim = !stopping && renewing && !self.leases.claims_held();
            self.start_ahead(&mut st, may_claim, &done_tx);
            let room = room && st.running < self.cfg.concurrency;
            self.offer_ahead(&mut st, may_claim && connected);
            if !stopping && connected && room && renewing {
                if let Turn::Again = self.claim_turn(&mut st, signals, &done_tx)? {
                    continue;
                }
            }
            if stopping && st.running == 0 {
                break;
            }
            self.wait_for_outcome(&mut st, &done_rx, signals);
        }
        super::noise::flush(true);
        if st.file_gone {
            // Its WAL is left under the old name: emptied into the file it belongs to, it
            // cannot be read as part of the file that has the name now.
            let store = self.shared.store.lock();
            let _ = store.sqlite().map(|f| f.empty_wal());
            drop(store);
            return Err(CodedError::new(
                ExitCode::Error,
                format!(
                    "database {} no longer names the file this worker opened (moved, replaced or deleted); stopped claiming and stopped its handlers without recording their runs",
                    self.shared.opts.target
                ),
            )
            .into());
        }
        let max_runs_reached = self.cfg.max_runs.is_some_and(|m| st.claimed >= m);
        self.exit_code(
            &st.tally,
            st.released,
            st.supervisor_gone,
            st.backoff.in_a_row,
            max_runs_reached,
        )
    }

    /// Reads the SIGINT/SIGTERM count (two or more: the handlers are killed), announces a new
    /// one, and notes a supervisor that is gone.
    fn observe_signals(&self, st: &mut LoopState) -> usize {
        let signals = crate::signals::received();
        if signals >= 2 {
            self.leases.shutdown.store(true, Ordering::SeqCst);
        }
        if signals > st.announced {
            st.announced = signals;
            self.announce_stop(signals, st.running);
        }
        // Without its supervisor a handler could outlive a crash of this worker: claim
        // nothing more (the error is reported once, at the end).
        if !st.supervisor_gone && !self.shared.supervisor.is_alive() {
            st.supervisor_gone = true;
        }
        signals
    }

    /// Notes a database path that no longer names the file this worker has open (`mv`, `rm`,
    /// a replaced file): everything written from now on would go to a file nobody sees, or
    /// mix this connection's WAL with another file's. The handlers are stopped at once,
    /// nothing is written for their runs (their leases run out in the new file, if it has
    /// them), the WAL is emptied into the file it belongs to, and the worker ends with an
    /// error. Between the move and this check (one poll) writes still go to the old file.
    fn check_file(&self, st: &mut LoopState) {
        let Some(opened) = self.db_file else {
            return;
        };
        let named = self
            .shared
            .opts
            .target
            .file()
            .and_then(crate::store::FileId::of_path);
        if st.file_gone || named == Some(opened) {
            return;
        }
        st.file_gone = true;
        // Withdrawn first: an executor going on with a run either sees no offer or registered
        // its run before, and then it is abandoned with the others ([`go_on`]).
        self.withdraw_ahead();
        self.leases.abandon_all();
    }

    /// Whether the worker claims nothing more: a signal, no supervisor, too many handlers
    /// that could not be started, or its mode is done.
    fn is_stopping(&self, st: &LoopState, signals: usize) -> bool {
        let may_give_up = self.cfg.mode != Mode::Forever || self.cfg.max_runs.is_some();
        let gave_up = may_give_up && st.backoff.in_a_row >= GIVE_UP_AFTER;
        signals >= 1
            || st.supervisor_gone
            || st.file_gone
            || gave_up
            || st.drained
            || self.cfg.max_runs.is_some_and(|m| st.claimed >= m)
            || (self.cfg.mode == Mode::Once && (st.claimed >= 1 || st.idle_once))
    }

    /// Claims a run and starts its executor; when there is nothing to claim, notes that the
    /// worker is idle and does the maintenance if no handler runs.
    fn claim_turn(
        &self,
        st: &mut LoopState,
        signals: usize,
        done_tx: &mpsc::Sender<Done>,
    ) -> Result<Turn> {
        let room = self.room(st);
        st.pauses.read(&self.shared.store, self.cfg.verbose);
        let claimed = self.jobs(&mut st.jobs_cache).and_then(|jobs| {
            let unpaused = st.pauses.claimable(jobs);
            unpaused.map_or(Ok(Vec::new()), |jobs| self.claim(&jobs, room))
        });
        let claimed = match claimed {
            Ok(c) => c,
            // The connection is reopened at the next turn (not idle: nothing was looked at).
            Err(e) if self.lost_after(&e) => {
                repeated!("lost the connection to the database: {e:#}");
                return Ok(Turn::Again);
            }
            // Fatal for a one-shot worker with nothing running; otherwise retried at the
            // next poll (a locked or briefly unreadable database).
            Err(e) if st.running == 0 && self.cfg.mode != Mode::Forever => return Err(e),
            Err(e) => {
                // The store's error may already say what failed.
                let text = format!("{e:#}");
                if text.starts_with("cannot claim a run") {
                    repeated!("{text}");
                } else {
                    repeated!("cannot claim a run: {text}");
                }
                Vec::new()
            }
        };
        st.more_queued = claimed.len() >= room;
        if !claimed.is_empty() {
            st.said_waiting = false;
            self.start_all(st, claimed, done_tx);
            return Ok(Turn::Again);
        }
        // Nothing to claim now: with nothing running, release what is due first (at most one
        // read when nothing is), and claim again if that moved a run in.
        if st.running == 0 && st.held.poll(&self.shared.store, self.cfg.poll, true) > 0 {
            return Ok(Turn::Again);
        }
        // Idle: nothing to claim now.
        let jobs = st.jobs_cache.take().map(|(_, jobs)| jobs);
        match self.cfg.mode {
            Mode::Once => st.idle_once = true,
            Mode::UntilIdle if st.running == 0 => st.drained = true,
            _ => {}
        }
        // `--once` and `--until-idle` end here: no poll interval is waited out.
        let ending = st.drained || (st.idle_once && st.running == 0);
        if self.cfg.verbose && !ending && st.running == 0 && !st.said_waiting {
            if let Some(jobs) = jobs {
                st.said_waiting = true;
                note!("{}", self.waiting_line(&jobs));
            }
        }
        if st.running == 0 {
            let due = (!ending).then(|| Instant::now() + self.cfg.poll);
            self.maintain(&mut st.maintenance, signals, due);
        }
        Ok(if ending { Turn::Again } else { Turn::Wait })
    }

    /// Waits for a handler to finish (and counts its outcome), a signal, the end of a
    /// pause, or the next poll.
    fn wait_for_outcome(&self, st: &mut LoopState, done_rx: &mpsc::Receiver<Done>, signals: usize) {
        let deadline = st.wake_at(self.cfg.poll);
        loop {
            let slice = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100));
            match done_rx.recv_timeout(slice) {
                Ok(done) => {
                    record_all(st, done, done_rx);
                    // A back-off stops executors going on with runs at once, not at next turn.
                    if st.backoff.active() {
                        self.withdraw_ahead();
                    }
                    return;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            if crate::signals::received() != signals || Instant::now() >= deadline {
                return;
            }
        }
    }

    /// Whether the shared connection is lost, judging also by `err`, the error of a call on it.
    fn lost_after(&self, err: &anyhow::Error) -> bool {
        let store = self.shared.store.lock();
        store.is_lost_after(err)
    }

    /// Whether lease renewals work ([`Leases::renewals`]): a run claimed while they do not
    /// could not be kept. Says once when claims stop because renewals fail (a renewal that
    /// only waits holds claims back quietly) and once when they resume.
    fn renewals_work(&self, st: &mut LoopState) -> bool {
        let now = self.leases.renewals();
        if now == Renewals::Fail && !st.renewals_failing {
            st.renewals_failing = true;
            note!("lease renewals fail; not claiming runs until they work again");
        } else if now == Renewals::Work && st.renewals_failing {
            st.renewals_failing = false;
            note!("lease renewals work again; claiming runs");
        }
        now == Renewals::Work
    }

    /// Whether the shared connection can be used; a lost one is reopened, with a pause that
    /// grows after each failure. A worker meant to end, with nothing running, gives up after
    /// [`GIVE_UP_AFTER`] failures in a row (the error); any other keeps trying.
    fn connected(&self, r: &mut Reconnect, running: usize) -> Result<bool> {
        if r.waiting() {
            return Ok(false);
        }
        let mut store = self.shared.store.lock();
        match self.shared.reconnect(&mut store) {
            Ok(_) => {
                r.failures = 0;
                Ok(true)
            }
            Err(e) => {
                r.failed();
                let ends = self.cfg.mode != Mode::Forever || self.cfg.max_runs.is_some();
                if ends && running == 0 && r.failures >= GIVE_UP_AFTER {
                    return Err(e);
                }
                repeated!("cannot reconnect: {e:#}");
                Ok(false)
            }
        }
    }

    /// One line on stderr when a signal arrives while handlers run, so the worker does not
    /// look hung while it waits for them (at the second signal they are being stopped).
    fn announce_stop(&self, signals: usize, running: usize) {
        if running == 0 {
            return;
        }
        let handlers = crate::output::count(running as u64, "running handler");
        if signals == 1 {
            note!("stopping: waiting for {handlers} to finish (Ctrl-C again to stop them now)");
        } else {
            note!("stopping {handlers} now");
        }
    }

    fn exit_code(
        &self,
        tally: &Tally,
        released: u64,
        supervisor_gone: bool,
        given_back: u32,
        max_runs_reached: bool,
    ) -> Result<ExitCode> {
        if supervisor_gone {
            return Err(CodedError::new(
                ExitCode::Error,
                "the handler supervisor process died; stopped claiming runs (pending runs are untouched)",
            )
            .into());
        }
        if given_back >= GIVE_UP_AFTER {
            return Err(CodedError::new(
                ExitCode::Error,
                format!(
                    "gave {given_back} runs back in a row (see above); they are in the queue again"
                ),
            )
            .into());
        }
        if released > 0 {
            return Err(CodedError::new(
                ExitCode::Error,
                format!(
                    "stopped {} at a second signal; their runs are pending again, claimable at once",
                    crate::output::count(released, "handler")
                ),
            )
            .into());
        }
        if self.cfg.mode == Mode::UntilIdle || max_runs_reached {
            self.report_pending(max_runs_reached);
        }
        // `--once` that ran a run ends with that run's outcome.
        let ran_once = self.cfg.mode == Mode::Once && tally.last.is_some();
        if matches!(self.cfg.mode, Mode::Once | Mode::UntilIdle) && !ran_once {
            if let Some(text) = self.missing_handlers() {
                return Err(CodedError::new(ExitCode::Error, text).into());
            }
        }
        if self.cfg.mode == Mode::Once {
            return Ok(match tally.last {
                None | Some(Outcome::Completed) => ExitCode::Ok,
                Some(Outcome::Failed) => ExitCode::RunFailed,
                Some(Outcome::Cancelled) => ExitCode::RunCancelled,
                Some(_) => ExitCode::Error,
            });
        }
        if tally.failed > 0 && (self.cfg.mode == Mode::UntilIdle || self.cfg.max_runs.is_some()) {
            return Err(CodedError::new(
                ExitCode::RunFailed,
                format!(
                    "{} of {} failed",
                    tally.failed,
                    crate::output::count(tally.executed, "run")
                ),
            )
            .into());
        }
        Ok(ExitCode::Ok)
    }

    /// Hands a claimed run to an executor thread, which goes on with the runs claimed with its
    /// results while the worker claims ([`go_on`]); when no thread can be started, the run is
    /// given back at once.
    fn start(&self, run: Run, active: Arc<ActiveRun>, done_tx: &mpsc::Sender<Done>) -> Result<()> {
        self.leases.add(Arc::clone(&active));
        let shared = Arc::clone(self.shared);
        let leases = Arc::clone(self.leases);
        let done = done_tx.clone();
        let (lease, timeout) = (self.cfg.lease, self.cfg.timeout);
        let carried = Arc::new(std::sync::Mutex::new(Some((run, Arc::clone(&active)))));
        let inside = Arc::clone(&carried);
        let spawned = std::thread::Builder::new()
            .name("durably-run".into())
            .spawn(move || {
                let Some((mut run, mut active)) =
                    inside.lock().unwrap_or_else(|e| e.into_inner()).take()
                else {
                    return;
                };
                loop {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        handler::execute(&shared, &run, &active)
                    }))
                    .unwrap_or_else(|_| {
                        active.kill(lease::KillReason::Shutdown);
                        Outcome::Lost
                    });
                    leases.remove(&run.id);
                    let mut next = active.take_next();
                    let following = go_on(&shared, &leases, &mut next, lease, timeout);
                    let goes_on = following.is_some();
                    let _ = done.send(Done {
                        outcome,
                        next,
                        goes_on,
                    });
                    match following {
                        Some((r, a)) => (run, active) = (r, a),
                        None => return,
                    }
                }
            });
        if let Err(e) = spawned {
            let taken = carried.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some((run, active)) = taken {
                self.leases.remove(&run.id);
                handler::give_back(
                    self.shared,
                    &run,
                    &active,
                    &format!("cannot start a thread for run {}: {e}", run.id),
                );
            }
            anyhow::bail!("backing off: the worker is short of threads or memory");
        }
        Ok(())
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
            Handler::Dir(dir) => Jobs::Only(handler_jobs(dir)?),
            Handler::Nothing => Jobs::Only(Vec::new()),
        };
        // `--commands` adds its jobs; `--job` keeps only the jobs it names.
        let jobs = match jobs {
            Jobs::All => Jobs::All,
            Jobs::Only(mut list) => {
                for job in &self.cfg.commands {
                    if !list.contains(job) {
                        list.push(job.clone());
                    }
                }
                if !self.cfg.jobs.is_empty() {
                    list.retain(|j| self.cfg.jobs.contains(j));
                }
                Jobs::Only(list)
            }
        };
        *cache = Some((Instant::now(), jobs.clone()));
        Ok(jobs)
    }

    /// How many runs the next claim may take: the free slots, no more than `--max-runs` has
    /// left, one for `--once`.
    fn room(&self, st: &LoopState) -> usize {
        let mut room = self.cfg.concurrency.saturating_sub(st.running);
        if let Some(max) = self.cfg.max_runs {
            let left = max.saturating_sub(st.claimed);
            room = room.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        if self.cfg.mode == Mode::Once {
            room = room.min(1);
        }
        room.max(1)
    }

    /// Starts an executor for each claimed run. When one cannot be started, it and the runs
    /// after it are given back at once and the worker backs off.
    fn start_all(
        &self,
        st: &mut LoopState,
        claimed: Vec<(Run, Arc<ActiveRun>)>,
        done_tx: &mpsc::Sender<Done>,
    ) {
        let mut failed: Option<String> = None;
        for (run, active) in claimed {
            if let Some(why) = &failed {
                handler::give_back(self.shared, &run, &active, why);
                continue;
            }
            st.claimed += 1;
            st.running += 1;
            if let Err(e) = self.start(run, active, done_tx) {
                note!("{e:#}");
                st.claimed -= 1;
                st.running -= 1;
                st.backoff.bump();
                failed = Some(format!(
                    "not started after an earlier run of the batch ({e:#})"
                ));
            }
        }
    }

    /// One claim of at most `room` runs. More jobs than [`MAX_JOBS_PER_CLAIM`] are tried chunk
    /// by chunk: the oldest runs of the first chunk that has some, not necessarily the oldest
    /// of all.
    fn claim(&self, jobs: &Jobs, room: usize) -> Result<Vec<(Run, Arc<ActiveRun>)>> {
        let chunks: Vec<Jobs> = match jobs {
            Jobs::All => vec![Jobs::All],
            Jobs::Only(list) if list.is_empty() => return Ok(Vec::new()),
            Jobs::Only(list) => list
                .chunks(MAX_JOBS_PER_CLAIM)
                .map(|c| Jobs::Only(c.to_vec()))
                .collect(),
        };
        for chunk in &chunks {
            let claimed =
                self.shared
                    .store
                    .lock()
                    .claim_many(chunk, &self.owner, self.cfg.lease, room)?;
            if !claimed.is_empty() {
                return Ok(self.activate(claimed));
            }
        }
        Ok(Vec::new())
    }

    /// Claimed runs with their leases, each from when it began by the local clock.
    fn activate(&self, claimed: Vec<(Run, Instant)>) -> Vec<(Run, Arc<ActiveRun>)> {
        let (lease, timeout) = (self.cfg.lease, self.cfg.timeout);
        claimed
            .into_iter()
            .map(|(run, started)| {
                let active = Arc::new(ActiveRun::new(
                    run.id.clone(),
                    run.lease_generation,
                    started + lease,
                    timeout,
                ));
                (run, active)
            })
            .collect()
    }

    /// Starts the runs executors claimed with their results, each in the slot its executor
    /// left; when the worker no longer claims (`may_claim` false: stopping, renewals failing,
    /// claims held after a clock jump) or backs off, or has no slot for one, gives it back
    /// at once.
    fn start_ahead(&self, st: &mut LoopState, may_claim: bool, done_tx: &mpsc::Sender<Done>) {
        if st.ahead.is_empty() {
            return;
        }
        let claimed = self.activate(std::mem::take(&mut st.ahead));
        let slots = self.cfg.concurrency.saturating_sub(st.running);
        let keep = if may_claim && !st.backoff.active() {
            slots
        } else {
            0
        };
        let mut claimed = claimed.into_iter();
        let started: Vec<_> = claimed.by_ref().take(keep).collect();
        for (run, active) in claimed {
            handler::give_back(self.shared, &run, &active, "the worker stopped claiming");
        }
        if !started.is_empty() {
            st.said_waiting = false;
            self.start_all(st, started, done_tx);
        }
    }

    /// Offers executors a claim with their results ([`lease::ClaimAhead`]) while the worker would
    /// claim (`may_claim`, not backing off) and the last claim found all it asked for; not to
    /// `--once` or `--max-runs` workers (whose count of runs a claim made elsewhere could
    /// pass), nor with more jobs than one claim takes. Withdrawn otherwise.
    fn offer_ahead(&self, st: &mut LoopState, may_claim: bool) {
        let allowed = may_claim
            && st.more_queued
            && !st.backoff.active()
            && self.cfg.mode != Mode::Once
            && self.cfg.max_runs.is_none();
        // Paused jobs are left out as in the main loop's claims (the claim statement skips
        // them too; leaving them out spares it the walk over their backlog).
        let jobs = if allowed {
            self.jobs(&mut st.jobs_cache)
                .ok()
                .and_then(|jobs| st.pauses.claimable(jobs))
                .filter(|jobs| match jobs {
                    Jobs::All => true,
                    Jobs::Only(list) => !list.is_empty() && list.len() <= MAX_JOBS_PER_CLAIM,
                })
        } else {
            None
        };
        self.shared
            .ahead
            .offer(jobs.as_ref(), &self.owner, self.cfg.lease);
    }

    /// Withdraws the offer of claims with results ([`lease::ClaimAhead`]).
    fn withdraw_ahead(&self) {
        self.shared.ahead.offer(None, &self.owner, self.cfg.lease);
    }

    /// Maintenance, called only while no handler of this worker runs: release expired leases,
    /// purge (`--retain`) and checkpoint (WAL), the last two at most once a minute. Every
    /// transaction is one bounded batch and the connection is released between batches; the
    /// work stops early at a signal or when the next claim is `due` (what is left is done at
    /// the next idle moment). Errors are reported, never fatal.
    fn maintain(&self, m: &mut Maintenance, signals: usize, due: Option<Instant>) {
        let minute = Duration::from_secs(60);
        let interrupted =
            || crate::signals::received() != signals || due.is_some_and(|d| Instant::now() >= d);
        let expired = {
            let store = self.shared.store.lock();
            store.has_expired()
        };
        match expired {
            Ok(true) => {
                let done = self.batches(&interrupted, |store| {
                    store.release_expired(MAINTENANCE_BATCH)
                });
                if let Err(e) = done {
                    repeated!("cannot release expired leases: {e:#}");
                }
            }
            Ok(false) => {}
            Err(e) => repeated!("cannot release expired leases: {e:#}"),
        }
        if let Some(age) = self.cfg.retain {
            if !interrupted() && m.last_purge.is_none_or(|t| t.elapsed() >= minute) {
                let filter = PurgeFilter::older_than(age);
                let done = self.batches(&interrupted, |store| {
                    store.purge_batch(&filter, MAINTENANCE_BATCH)
                });
                match done {
                    Ok(true) => m.last_purge = Some(Instant::now()),
                    Ok(false) => {}
                    Err(e) => {
                        m.last_purge = Some(Instant::now());
                        repeated!("cannot purge old runs: {e:#}");
                    }
                }
            }
        }
        if self.wal && !interrupted() && m.last_checkpoint.is_none_or(|t| t.elapsed() >= minute) {
            m.last_checkpoint = Some(Instant::now());
            let store = self.shared.store.lock();
            if let Some(Err(e)) = store.sqlite().map(|f| f.checkpoint()) {
                repeated!("checkpoint failed: {e:#}");
            }
        }
    }

    /// Runs `batch` (one transaction, at most [`MAINTENANCE_BATCH`] rows) until it does less
    /// than a full batch (true) or `interrupted` says stop (false). The shared connection is
    /// locked for one batch at a time.
    fn batches(
        &self,
        interrupted: &dyn Fn() -> bool,
        mut batch: impl FnMut(&mut Store) -> Result<u64>,
    ) -> Result<bool> {
        loop {
            let n = {
                let mut store = self.shared.store.lock();
                batch(&mut store)?
            };
            if n < MAINTENANCE_BATCH {
                return Ok(true);
            }
            if interrupted() {
                return Ok(false);
            }
            std::thread::sleep(MAINTENANCE_GAP);
        }
    }

    /// `-v`, when the worker goes idle: what it waits for (`waiting for runs of jobs a, b
    /// (polling every 1s)`).
    fn waiting_line(&self, jobs: &Jobs) -> String {
        let every = humantime::format_duration(self.cfg.poll);
        let what = match jobs {
            Jobs::All => "runs of any job".to_string(),
            Jobs::Only(list) if list.is_empty() => match &self.cfg.handler {
                Handler::Dir(dir) => format!("a handler in {} (none there yet)", dir.display()),
                Handler::Command { .. } | Handler::Nothing => "runs (no job to claim)".to_string(),
            },
            Jobs::Only(list) => {
                const SHOWN: usize = 10;
                let mut names = list
                    .iter()
                    .take(SHOWN)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                if list.len() > SHOWN {
                    names.push_str(&format!(" and {} more", list.len() - SHOWN));
                }
                let noun = if list.len() == 1 { "job" } else { "jobs" };
                format!("runs of {noun} {names}")
            }
        };
        format!("waiting for {what} (polling every {every})")
    }

    /// For a worker meant to end: the jobs named with `--job` that have pending runs but no
    /// handler in the handler directory, as the error that ends the worker; None when every
    /// named job has a handler or nothing pending.
    fn missing_handlers(&self) -> Option<String> {
        let Handler::Dir(dir) = &self.cfg.handler else {
            return None;
        };
        if self.cfg.jobs.is_empty() {
            return None;
        }
        let have = handler_jobs(dir).ok()?;
        let missing: Vec<String> = self
            .cfg
            .jobs
            .iter()
            .filter(|j| !have.contains(j))
            .cloned()
            .collect();
        if missing.is_empty() {
            return None;
        }
        let pending = {
            let store = self.shared.store.lock();
            store.pending_for(&Jobs::Only(missing.clone())).ok()?
        };
        if pending.total == 0 {
            return None;
        }
        let paths = missing
            .iter()
            .map(|j| dir.join(j).display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let noun = if missing.len() == 1 {
            "handler"
        } else {
            "handlers"
        };
        Some(format!(
            "{} of --job {} still pending: no executable {noun} {paths}",
            crate::output::count(pending.total, "run"),
            missing.join(", --job ")
        ))
    }

    fn report_pending(&self, max_runs_reached: bool) {
        let Ok(jobs) = self.jobs(&mut None) else {
            return;
        };
        // A handler directory without `--job` covers the jobs it has scripts for; pending
        // runs of any other job are counted apart, since no handler there can take them.
        let dir = match &self.cfg.handler {
            Handler::Dir(dir) if self.cfg.jobs.is_empty() => Some(dir),
            _ => None,
        };
        let counts = {
            let store = self.shared.store.lock();
            store.pending_for(&jobs).and_then(|mine| {
                let all = match dir {
                    Some(_) => store.pending_for(&Jobs::All)?,
                    None => mine,
                };
                Ok((mine, all.total.saturating_sub(mine.total)))
            })
        };
        let Ok((pending, others)) = counts else {
            return;
        };
        if let Some(line) = pending_line(&pending, &jobs, self.cfg.max_runs, max_runs_reached) {
            note!("{line}");
        }
        if let (Some(dir), 1..) = (dir, others) {
            note!(
                "{} of other jobs still pending (no handler for them in {})",
                crate::output::count(others, "run"),
                dir.display()
            );
        }
    }
}

/// Counts `first` and every outcome that came meanwhile, so that the next claim fills every
/// free slot in one statement rather than one claim a slot (`--concurrency 4`, no-op handler on
/// PostgreSQL: 1.75 commits a run instead of 2.00, +7 % runs/s).
///
/// The runs claimed with results are kept for the next turn to start ([`LoopState::ahead`]);
/// a claim made with a result that found nothing stops executors claiming until the main
/// loop's own claim finds all it asks for again.
fn record_all(st: &mut LoopState, first: Done, done_rx: &mpsc::Receiver<Done>) {
    let mut done = Some(first);
    while let Some(one) = done.take().or_else(|| done_rx.try_recv().ok()) {
        st.record(one.outcome);
        if one.goes_on {
            // The slot stays taken, by a run claimed and started.
            st.running += 1;
            st.claimed += 1;
            st.said_waiting = false;
        }
        if let Some(runs) = one.next {
            st.more_queued = one.goes_on || !runs.is_empty();
            st.ahead.extend(runs);
        }
    }
}

/// The pending report's wording; None when nothing is pending.
fn pending_line(
    pending: &crate::store::Pending,
    jobs: &Jobs,
    max_runs: Option<u64>,
    max_runs_reached: bool,
) -> Option<String> {
    use crate::output::count;
    if pending.total == 0 {
        return None;
    }
    let whose = match jobs {
        Jobs::All => "",
        Jobs::Only(_) => " of this worker's jobs",
    };
    let runs = count(pending.total, "run");
    let blocked = match pending.blocked {
        0 => None,
        b if b == pending.total && pending.total == 1 => {
            Some("blocked by a concurrency key in use".to_string())
        }
        b if b == pending.total => Some("all blocked by a concurrency key in use".to_string()),
        b => Some(format!("{b} of them blocked by a concurrency key in use")),
    };
    let why = match (max_runs.filter(|_| max_runs_reached), blocked) {
        (Some(m), Some(b)) => format!(" (--max-runs {m} reached; {b})"),
        (Some(m), None) => format!(" (--max-runs {m} reached)"),
        (None, Some(b)) => format!(" ({b})"),
        (None, None) => String::new(),
    };
    Some(format!("{runs}{whose} still pending{why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Pending;

    fn line(total: u64, blocked: u64, jobs: &Jobs, max: Option<u64>, reached: bool) -> String {
        pending_line(&Pending { total, blocked }, jobs, max, reached).unwrap_or_default()
    }

    #[test]
    fn an_outcome_wakes_the_loop_with_every_outcome_that_came_meanwhile_counted() {
        let (tx, rx) = mpsc::channel();
        let mut st = LoopState {
            running: 4,
            claimed: 4,
            ..LoopState::default()
        };
        let done = |outcome, next, goes_on| Done {
            outcome,
            next,
            goes_on,
        };
        tx.send(done(Outcome::Failed, None, false)).unwrap();
        tx.send(done(Outcome::Completed, Some(Vec::new()), false))
            .unwrap();
        record_all(&mut st, done(Outcome::Completed, None, false), &rx);
        // Three slots free for one claim; none left waiting in the channel.
        assert_eq!(st.running, 1);
        assert_eq!((st.tally.executed, st.tally.failed), (3, 1));
        assert!(rx.try_recv().is_err());
        assert!(!st.more_queued, "a claim with a result found nothing");
        // An executor that goes on with a run it claimed keeps its slot: one more claimed.
        record_all(
            &mut st,
            done(Outcome::Completed, Some(Vec::new()), true),
            &rx,
        );
        assert_eq!((st.running, st.claimed, st.tally.executed), (1, 5, 4));
        assert!(st.more_queued);
    }

    #[test]
    fn pending_lines_name_the_cause_and_count_correctly() {
        let only = Jobs::Only(vec!["a".into()]);
        assert_eq!(line(0, 0, &only, None, false), "");
        assert_eq!(
            line(3, 0, &only, Some(2), true),
            "3 runs of this worker's jobs still pending (--max-runs 2 reached)"
        );
        assert_eq!(line(1, 0, &Jobs::All, None, false), "1 run still pending");
        assert_eq!(
            line(1, 1, &Jobs::All, None, false),
            "1 run still pending (blocked by a concurrency key in use)"
        );
        assert_eq!(
            line(4, 1, &only, Some(1), true),
            "4 runs of this worker's jobs still pending (--max-runs 1 reached; 1 of them blocked by a concurrency key in use)"
        );
        assert_eq!(
            line(2, 2, &Jobs::All, None, false),
            "2 runs still pending (all blocked by a concurrency key in use)"
        );
    }
}
