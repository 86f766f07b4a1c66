//! The worker: claims runs, executes them with handler programs, keeps their leases, records
//! their results; idle maintenance in between.
//!
//! Threads: the main loop (claims, maintenance, signals), one executor per running handler
//! (plus its pipe readers), a watchdog and a lease-renewal thread ([`lease`]). The main loop and
//! the executors share one connection behind a mutex; renewal has its own. A forked supervisor
//! process kills every handler's process group if the worker dies ([`process`]).

/// A diagnostic line on stderr that never panics (a worker keeps going when stderr is gone).
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "durably: {}", format_args!($($arg)*));
    }};
}

pub mod handler;
pub mod lease;
pub mod process;

use crate::db::{self, Access, Options};
use crate::error::{code, Fail};
use crate::model::Run;
use crate::store::lease::{self as store, Jobs, MAX_JOBS_PER_CLAIM};
use anyhow::Result;
use handler::Outcome;
use lease::{Active, Leases};
use process::Supervisor;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// What executes runs.
#[derive(Debug, Clone)]
pub enum Handler {
    /// `--handlers DIR`: job J is executed by DIR/J.
    Dir(PathBuf),
    /// `-- CMD ARGS...` (CMD resolved to a path).
    Command { path: PathBuf, args: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Once,
    UntilIdle,
    Forever,
}

/// A worker's settings, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub handler: Handler,
    /// `--job` names (empty: every job the handler covers).
    pub jobs: Vec<String>,
    pub mode: Mode,
    pub concurrency: usize,
    pub lease: Duration,
    pub poll: Duration,
    pub timeout: Option<Duration>,
    pub max_runs: Option<u64>,
    pub retain: Option<Duration>,
}

/// What executors share.
pub struct Shared {
    pub conn: Mutex<Connection>,
    pub opts: Options,
    pub supervisor: Supervisor,
    pub handler: Handler,
    pub db_abs: PathBuf,
    pub base_env: Vec<(String, Vec<u8>)>,
    pub prefix_stderr: bool,
    pub timeout: Option<Duration>,
}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only touches an atomic; SA_RESTART keeps blocking calls going.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Whether `name` can be a job executed from a handler directory: a plain entry name.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains('/') && !name.contains('\0')
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The jobs of a handler directory: plain names of executable regular files, sorted.
pub fn handler_jobs(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read handler directory {}: {e}", dir.display()))?;
    let mut jobs = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if is_plain_name(&name) && is_executable_file(&entry.path()) {
            jobs.push(name);
        }
    }
    jobs.sort();
    Ok(jobs)
}

/// The environment handlers inherit: ours, minus the variables the worker sets per run.
fn base_env() -> Vec<(String, Vec<u8>)> {
    const OURS: [&str; 6] = [
        "DURABLY_DB",
        "DURABLY_RUN_ID",
        "DURABLY_JOB",
        "DURABLY_LEASE_GENERATION",
        "DURABLY_LABELS",
        "DURABLY_STEP",
    ];
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            (!OURS.contains(&k.as_str())).then(|| (k, v.as_encoded_bytes().to_vec()))
        })
        .collect()
}

fn owner_id() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    let host = if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "localhost".into()
    };
    format!("durably-cli:{host}:{}", std::process::id())
}

/// Runs the worker until its mode says to stop; returns the exit code.
pub fn run(opts: &Options, cfg: Config) -> Result<i32> {
    process::ensure_std_fds();
    // Forked first, while the process has a single thread.
    let supervisor = Supervisor::start()
        .map_err(|e| anyhow::anyhow!("cannot start the handler supervisor: {e}"))?;
    install_signal_handlers();
    let conn = db::open(opts, Access::Write)?;
    let wal = store::is_wal(&conn).unwrap_or(false);
    let db_abs = std::fs::canonicalize(&opts.path)
        .or_else(|_| std::path::absolute(&opts.path))
        .unwrap_or_else(|_| opts.path.clone());
    let shared = Arc::new(Shared {
        conn: Mutex::new(conn),
        opts: opts.clone(),
        supervisor,
        handler: cfg.handler.clone(),
        db_abs,
        base_env: base_env(),
        prefix_stderr: cfg.concurrency > 1,
        timeout: cfg.timeout,
    });
    let leases = Leases::new(cfg.lease);
    let threads = leases.start(opts.clone());
    let result = Loop {
        cfg: &cfg,
        shared: &shared,
        leases: &leases,
        owner: owner_id(),
        wal,
    }
    .run();
    leases.stop();
    for t in threads {
        let _ = t.join();
    }
    if let Ok(shared) = Arc::try_unwrap(shared) {
        shared.supervisor.stop();
    }
    result
}

struct Loop<'a> {
    cfg: &'a Config,
    shared: &'a Arc<Shared>,
    leases: &'a Arc<Leases>,
    owner: String,
    wal: bool,
}

impl Loop<'_> {
    fn run(&self) -> Result<i32> {
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

    /// One claim (per chunk of at most [`MAX_JOBS_PER_CLAIM`] jobs).
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
