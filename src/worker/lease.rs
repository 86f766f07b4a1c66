//! Keeping leases while handlers run: a renewal thread (its own connection) extends every
//! active lease each `min(5s, lease/3)`, and a watchdog thread (no database) kills a handler's
//! process group as soon as its lease is lost, its local lease deadline passes, its
//! `--timeout` runs out, or a second SIGINT/SIGTERM asks for it.
//!
//! The local deadline is the instant of the last successful renewal (or of the claim), taken
//! after `BEGIN IMMEDIATE` returned, plus the lease: never later than the expiry in the
//! database, so a worker that cannot renew stops its handler before anyone else may claim.

use crate::db::{self, Options};
use crate::store;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

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
}

#[derive(Debug, Default)]
struct State {
    /// The leader's pid once spawned (its process group id).
    pid: Option<libc::pid_t>,
    /// The leader has exited: its group must not be signalled any more.
    finished: bool,
    killed: Option<KillReason>,
    deadline: Option<Instant>,
}

/// One run being executed by this worker.
#[derive(Debug)]
pub struct Active {
    pub run_id: String,
    pub generation: i64,
    pub timeout_at: Option<Instant>,
    lost: AtomicBool,
    state: Mutex<State>,
}

impl Active {
    pub fn new(
        run_id: String,
        generation: i64,
        deadline: Instant,
        timeout: Option<Duration>,
    ) -> Self {
        Active {
            run_id,
            generation,
            timeout_at: timeout.map(|t| Instant::now() + t),
            lost: AtomicBool::new(false),
            state: Mutex::new(State {
                deadline: Some(deadline),
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the leader; a kill decided before it existed happens now.
    pub fn set_pid(&self, pid: libc::pid_t) {
        let mut s = self.lock();
        s.pid = Some(pid);
        if s.killed.is_some() {
            super::process::kill_group(pid);
        }
    }

    /// Marks the leader exited; from now on nobody signals its group but the caller, who
    /// kills what is left of it (under the same lock) before it reaps the leader.
    pub fn finish(&self) -> Option<KillReason> {
        let mut s = self.lock();
        s.finished = true;
        if let Some(pid) = s.pid {
            super::process::kill_group(pid);
        }
        s.killed
    }

    /// Kills the group now (if it still runs) for `reason`; the first reason sticks.
    pub fn kill(&self, reason: KillReason) {
        let mut s = self.lock();
        if s.finished {
            return;
        }
        if s.killed.is_none() {
            s.killed = Some(reason);
        }
        if let Some(pid) = s.pid {
            super::process::kill_group(pid);
        }
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

/// The runs this worker executes, watched and renewed.
pub struct Leases {
    active: Mutex<HashMap<String, Arc<Active>>>,
    stop: Mutex<bool>,
    wake: Condvar,
    /// A second signal: kill every handler.
    pub shutdown: AtomicBool,
    lease: Duration,
}

impl Leases {
    pub fn new(lease: Duration) -> Arc<Leases> {
        Arc::new(Leases {
            active: Mutex::new(HashMap::new()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
            lease,
        })
    }

    pub fn add(&self, a: Arc<Active>) {
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

    fn snapshot(&self) -> Vec<Arc<Active>> {
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

    /// Starts the watchdog and renewal threads.
    pub fn start(self: &Arc<Self>, opts: Options) -> Vec<std::thread::JoinHandle<()>> {
        let watch = {
            let me = Arc::clone(self);
            std::thread::spawn(move || loop {
                let shutdown = me.shutdown.load(Ordering::SeqCst);
                let now = Instant::now();
                for a in me.snapshot() {
                    a.check(now, shutdown);
                }
                if me.sleep(Duration::from_millis(25)) {
                    return;
                }
            })
        };
        let renew = {
            let me = Arc::clone(self);
            std::thread::spawn(move || me.renew_loop(&opts))
        };
        vec![watch, renew]
    }

    fn renew_loop(&self, opts: &Options) {
        let mut conn = None;
        loop {
            if self.sleep(self.renew_every()) {
                return;
            }
            let runs = self.snapshot();
            if runs.is_empty() {
                continue;
            }
            if conn.is_none() {
                match db::connect_again(opts) {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        note!("cannot renew leases: {e:#}");
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            for a in runs {
                if a.lock().finished {
                    continue;
                }
                let lease = self.lease;
                let result = db::write(c, &opts.path, |tx| {
                    let started = Instant::now();
                    let ms = crate::time::now_ms();
                    let now = crate::time::format_ms(ms);
                    let expires = crate::time::format_ms(ms + lease.as_millis() as i64);
                    let ok = store::lease::renew(tx, &a.run_id, a.generation, &now, &expires)?;
                    Ok((ok, started))
                });
                match result {
                    Ok((true, started)) => {
                        let mut s = a.lock();
                        s.deadline = Some(started + lease);
                    }
                    Ok((false, _)) => a.lost.store(true, Ordering::SeqCst),
                    Err(e) => note!("cannot renew the lease of {}: {e:#}", a.run_id),
                }
            }
        }
    }
}
