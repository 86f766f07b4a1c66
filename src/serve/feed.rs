//! The one poller per server that turns database changes into the library's events. Runs
//! change in other processes (CLI workers, the TypeScript library), so the server reads the
//! database instead of an emitter: a thread with its own connection reads, every tick, the
//! runs whose `updated_at` is past its cursor (one range of `idx_durably_runs_updated_id`:
//! nothing when idle), compares each with the last state it saw (a bounded cache) and
//! broadcasts the events the difference means; streams ([`super::sse`]) filter the broadcast,
//! so 100 open streams are one poller, not 100.
//!
//! What the rows show, and so which events come:
//! - a run first seen that was created after the feed started: `run:trigger`;
//! - a new lease generation, or pending → leased: `run:leased`;
//! - a changed `progress` on a leased run: `run:progress` (at most one per run per tick, and
//!   the tick is longer than the library's 100 ms throttle, so it throttles by itself);
//! - steps not seen before, read when the run's step counters move or it ends: `step:start`
//!   and then `step:complete`, `step:fail` or `step:cancel` (the row exists only once the step
//!   ended, so both come together);
//! - log lines after the run's log cursor, read while the run is leased and once when it ends
//!   (logs do not touch the run's row): `log:write`;
//! - a terminal status: `run:complete`, `run:fail` or `run:cancel`, after its logs;
//! - a run deleted by this server ([`FeedHandle::publish`]), or a watched run (an open
//!   `/subscribe`) that is gone: `run:delete`.
//!
//! Rows are read again for [`OVERLAP`] behind the cursor, so that a transaction that commits
//! after a later one (its `updated_at` read earlier) is still seen; the cache makes a row seen
//! twice say nothing twice. Writers' clocks must agree within that overlap (the library's
//! leases assume as much). Events are built only while some stream listens; the cache is kept
//! either way.

use super::events::{self, Event};
use crate::model::Run;
use crate::store::{Access, Options, Store};
use anyhow::Result;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// How far behind its cursor the feed reads again.
pub const OVERLAP_MS: i64 = 1000;
/// Rows per read; a tick reads pages until one is short.
const PAGE: u64 = 500;
/// Most pages per tick (the rest waits for the next tick).
const MAX_PAGES: usize = 40;
/// Runs remembered; the oldest are forgotten first.
const CACHE: usize = 20_000;
/// Log lines read per run per tick.
const LOG_PAGE: u64 = 500;
/// Events a slow stream may fall behind by before it is ended.
const CHANNEL: usize = 8192;

/// The server's side of the feed: subscribe to events, publish the server's own deletes,
/// watch the runs of open `/subscribe` streams, stop the thread.
pub struct FeedHandle {
    tx: broadcast::Sender<Arc<Event>>,
    watched: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl FeedHandle {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Sends an event the rows cannot show (a delete made by this server).
    pub fn publish(&self, event: Event) {
        let _ = self.tx.send(Arc::new(event));
    }

    /// Marks a run as watched until the guard is dropped: the feed checks every tick that it
    /// still exists.
    pub fn watch(&self, run_id: &str) -> WatchGuard {
        if let Ok(mut w) = self.watched.lock() {
            *w.entry(run_id.to_string()).or_default() += 1;
        }
        WatchGuard {
            watched: self.watched.clone(),
            run_id: run_id.to_string(),
        }
    }

    /// Ends the thread (after its current tick).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

/// See [`FeedHandle::watch`].
pub struct WatchGuard {
    watched: Arc<Mutex<HashMap<String, usize>>>,
    run_id: String,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if let Ok(mut w) = self.watched.lock() {
            if let Some(n) = w.get_mut(&self.run_id) {
                *n -= 1;
                if *n == 0 {
                    w.remove(&self.run_id);
                }
            }
        }
    }
}

/// Starts the feed's thread, its cursor at now.
pub fn start(opts: Options, tick: Duration) -> Result<FeedHandle> {
    let (tx, _) = broadcast::channel(CHANNEL);
    let watched: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut feed = Feed::new(tx.clone(), watched.clone());
    let stopped = stop.clone();
    let (primed_tx, primed_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("durably-feed".into())
        .spawn(move || feed.run(&opts, tick, &stopped, primed_tx))?;
    // Streams open only after the first read: a run written after the server said it
    // listens is news, never taken for part of the state before it.
    let _ = primed_rx.recv_timeout(Duration::from_secs(30));
    Ok(FeedHandle {
        tx,
        watched,
        stop,
        thread: Mutex::new(Some(thread)),
    })
}

/// What the feed remembers of a run.
struct Seen {
    /// The run as last read, without its input and output (the cache stays small).
    run: Run,
    /// Ids of the steps already announced.
    steps: HashSet<String>,
    /// The (created_at, id) of the last log line announced.
    log_after: Option<(String, String)>,
}

struct Feed {
    tx: broadcast::Sender<Arc<Event>>,
    watched: Arc<Mutex<HashMap<String, usize>>>,
    /// The latest `updated_at` read.
    cursor: String,
    /// When the feed started: runs created since are announced with `run:trigger`; older steps
    /// and logs are not announced.
    started: String,
    cache: HashMap<String, Seen>,
    order: VecDeque<String>,
    /// Whether the first tick has read the overlap before the start.
    primed: bool,
}

impl Feed {
    fn new(tx: broadcast::Sender<Arc<Event>>, watched: Arc<Mutex<HashMap<String, usize>>>) -> Feed {
        let now = crate::time::now();
        Feed {
            tx,
            watched,
            cursor: now.clone(),
            started: crate::time::format_ms(crate::time::now_ms() - OVERLAP_MS),
            cache: HashMap::new(),
            order: VecDeque::new(),
            primed: false,
        }
    }

    /// The thread: a tick, a sleep, until stopped; a lost connection is opened again.
    fn run(
        &mut self,
        opts: &Options,
        tick: Duration,
        stop: &AtomicBool,
        primed: std::sync::mpsc::Sender<()>,
    ) {
        let mut store: Option<Store> = None;
        let mut last_error = String::new();
        while !stop.load(Ordering::Relaxed) {
            if store.is_none() {
                store = Store::open(opts, Access::Read).ok();
            }
            if let Some(s) = store.as_mut() {
                if let Err(e) = self.tick(s) {
                    let text = crate::output::error_text(&e);
                    if text != last_error {
                        eprintln!("durably: serve: reading changes: {text}");
                        last_error = text;
                    }
                    if s.is_lost_after(&e) {
                        store = None;
                    }
                } else {
                    last_error.clear();
                }
            }
            let _ = primed.send(());
            std::thread::sleep(tick);
        }
    }

    /// Whether any stream listens (events are built only then).
    fn listened(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    fn send(&self, event: Event) {
        let _ = self.tx.send(Arc::new(event));
    }

    /// One tick: changed runs, logs of leased runs, watched runs that are gone.
    fn tick(&mut self, store: &mut Store) -> Result<()> {
        let changed = self.read_changes(store)?;
        if !self.primed {
            // The first read only learns what the overlap holds: runs written before the
            // server started are not news.
            for run in &changed {
                self.remember(run);
            }
            self.primed = true;
            return Ok(());
        }
        let mut touched = HashSet::new();
        for run in changed {
            touched.insert(run.id.clone());
            self.on_row(store, run)?;
        }
        if self.listened() {
            let leased: Vec<String> = self
                .cache
                .values()
                .filter(|s| s.run.status.as_str() == "leased" && !touched.contains(&s.run.id))
                .map(|s| s.run.id.clone())
                .collect();
            for id in leased {
                self.announce_logs(store, &id)?;
            }
        }
        self.check_watched(store)
    }

    /// The rows changed since the cursor (minus the overlap), in pages, oldest change first;
    /// rows whose `updated_at` the cache already holds are left out.
    fn read_changes(&mut self, store: &mut Store) -> Result<Vec<Run>> {
        let cursor_ms = crate::time::parse_ms(&self.cursor).unwrap_or_else(crate::time::now_ms);
        let mut lower = crate::time::format_ms(cursor_ms - OVERLAP_MS);
        let mut last_key: Option<(String, String)> = None;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let rows = store.runs_updated_since(&lower, PAGE)?;
            let full = rows.len() as u64 == PAGE;
            for run in rows {
                let key = (run.updated_at.clone(), run.id.clone());
                if last_key.as_ref().is_some_and(|k| &key <= k) {
                    continue;
                }
                last_key = Some(key);
                let same = self
                    .cache
                    .get(&run.id)
                    .is_some_and(|s| s.run.updated_at == run.updated_at);
                if !same {
                    out.push(run);
                }
            }
            match (&last_key, full) {
                (Some((updated, _)), true) => lower = updated.clone(),
                _ => break,
            }
        }
        if let Some((updated, _)) = last_key {
            // A writer's clock far ahead must not carry the cursor past everyone else's.
            let ceiling = crate::time::format_ms(crate::time::now_ms() + 5 * OVERLAP_MS);
            let updated = updated.min(ceiling);
            if updated > self.cursor {
                self.cursor = updated;
            }
        }
        Ok(out)
    }

    /// The events one changed row means, then the row remembered.
    fn on_row(&mut self, store: &mut Store, run: Run) -> Result<()> {
        let listened = self.listened();
        let prev = self.cache.get(&run.id).map(|s| s.run.clone());
        let status = run.status.as_str().to_string();
        let (prev_status, prev_generation) = match &prev {
            Some(p) => (p.status.as_str().to_string(), p.lease_generation),
            None => {
                if listened && run.created_at >= self.started {
                    self.send(events::trigger(&run));
                }
                let generation = run.lease_generation - i64::from(status == "leased");
                ("pending".to_string(), generation)
            }
        };
        if prev.is_none() {
            self.remember(&run);
        }
        if !listened {
            self.update(&run);
            return Ok(());
        }
        let ended = run.is_terminal() && prev_status != status;
        // A lease taken since the last tick, even when the run has ended meanwhile.
        let new_lease = run.lease_generation > prev_generation;
        if new_lease || (status == "leased" && prev_status != "leased") {
            self.send(events::leased(&run, false));
        }
        let steps_moved = prev.as_ref().is_none_or(|p| {
            p.current_step_index != run.current_step_index
                || p.completed_step_count != run.completed_step_count
        });
        let mut failed_step = String::from("unknown");
        if steps_moved || ended {
            failed_step = self.announce_steps(store, &run)?.unwrap_or(failed_step);
        }
        if status == "leased" || ended {
            self.announce_logs(store, &run.id)?;
        }
        let progressed = prev
            .as_ref()
            .map_or(run.progress.is_some(), |p| p.progress != run.progress);
        if (status == "leased" || ended) && progressed && run.progress.is_some() {
            self.send(events::progress(&run, false));
        }
        if ended {
            match status.as_str() {
                "completed" => self.send(events::complete(&run, false)),
                "failed" => self.send(events::fail(&run, &failed_step, false)),
                "cancelled" => self.send(events::cancel(&run, false)),
                _ => {}
            }
        }
        self.update(&run);
        Ok(())
    }

    /// Adds a run to the cache (forgetting the oldest beyond [`CACHE`]).
    fn remember(&mut self, run: &Run) {
        if self.cache.contains_key(&run.id) {
            return;
        }
        let started = self.started.clone();
        self.cache.insert(
            run.id.clone(),
            Seen {
                run: slim(run),
                steps: HashSet::new(),
                log_after: Some((started, String::new())),
            },
        );
        self.order.push_back(run.id.clone());
        while self.order.len() > CACHE {
            if let Some(old) = self.order.pop_front() {
                self.cache.remove(&old);
            }
        }
    }

    fn update(&mut self, run: &Run) {
        self.remember(run);
        if let Some(s) = self.cache.get_mut(&run.id) {
            s.run = slim(run);
        }
    }

    /// Announces the run's steps not announced yet (those that ended before the feed started
    /// are only remembered); the name of a failed step, if any.
    fn announce_steps(&mut self, store: &mut Store, run: &Run) -> Result<Option<String>> {
        let steps = store.steps(&run.id)?;
        let started = self.started.clone();
        let failed = steps
            .iter()
            .find(|s| s.status == "failed")
            .map(|s| s.name.clone());
        let Some(seen) = self.cache.get_mut(&run.id) else {
            return Ok(failed);
        };
        let mut out = Vec::new();
        for step in &steps {
            if seen.steps.insert(step.id.clone()) {
                let when = step.completed_at.as_deref().unwrap_or(&step.started_at);
                if when >= started.as_str() {
                    out.extend(events::step(run, step));
                }
            }
        }
        for e in out {
            self.send(e);
        }
        Ok(failed)
    }

    /// Announces the run's log lines after its log cursor.
    fn announce_logs(&mut self, store: &mut Store, run_id: &str) -> Result<()> {
        let Some(seen) = self.cache.get(run_id) else {
            return Ok(());
        };
        let after = seen.log_after.clone();
        let run = seen.run.clone();
        let after_ref = after.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
        let (_, logs) = store.logs_page(run_id, after_ref, LOG_PAGE)?;
        if let Some(last) = logs.last() {
            if let Some(seen) = self.cache.get_mut(run_id) {
                seen.log_after = Some((last.created_at.clone(), last.id.clone()));
            }
        }
        for log in &logs {
            self.send(events::log(&run, log));
        }
        Ok(())
    }

    /// `run:delete` for watched runs that are gone (deleted by another process).
    fn check_watched(&mut self, store: &mut Store) -> Result<()> {
        let ids: Vec<String> = match self.watched.lock() {
            Ok(w) => w.keys().cloned().collect(),
            Err(_) => return Ok(()),
        };
        for id in ids {
            match store.run(&id)? {
                Some(run) => self.remember(&run),
                None => {
                    if let Some(seen) = self.cache.remove(&id) {
                        self.send(events::delete(&seen.run));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The run without its input and output: what the cache keeps.
fn slim(run: &Run) -> Run {
    Run {
        input: String::new(),
        output: None,
        ..run.clone()
    }
}
