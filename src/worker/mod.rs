//! The worker: claims runs, executes them with handler programs, keeps their leases, records
//! their results; idle maintenance in between.
//!
//! Threads: the main loop (`scheduler`: claims, maintenance, signals), one executor per
//! running handler ([`handler`]) with its pipe readers, a watchdog and a lease-renewal thread
//! ([`lease`]). The main loop and the executors share one connection ([`shared_store`]), except
//! on PostgreSQL with more than one slot, where the executors' writes have a second one
//! ([`ExecutorContext::writes`]); renewal has its own. A forked supervisor process kills a handler's process group when its lease
//! deadline passes without renewal (the worker stopped, starved or stuck) and every group when
//! the worker dies ([`process`]), so no handler outlives its lease.
//!
//! Signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT stop claiming (a second one stops the
//! handlers); SIGXFSZ is ignored, so a write past `ulimit -f` is an error that is reported.
//! A daemon worker whose database is down at start waits for it (`open_when_up`).

/// A diagnostic line on stderr that never panics (a worker keeps going when stderr is gone).
/// The whole line is escaped ([`crate::output::escape`]): it quotes run ids, job names, paths
/// and errors from the database and from handlers, and stays one line.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!($($arg)*);
        let line = $crate::secret::scrub(&line);
        let _ = writeln!(std::io::stderr(), "durably: {}", $crate::output::escape(&line));
    }};
}

/// Like `note!`, for a line that may repeat at every poll: said at most once a minute, then
/// with the count of its repeats (see [`noise`]).
macro_rules! repeated {
    ($($arg:tt)*) => {{
        $crate::worker::noise::say(format!($($arg)*));
    }};
}

pub mod clock;
mod executions;
pub mod handler;
mod held;
pub mod lease;
mod noise;
mod own_dir;
mod passfile;
mod pauses;
pub mod process;
mod scheduler;
mod schedules;
pub mod shared_store;

use crate::error::ExitCode;
use crate::store::Store;
use crate::store::{Access, FileId, Options, Target};
use anyhow::Result;
use lease::Leases;
use process::Supervisor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What executes runs.
#[derive(Debug, Clone)]
pub enum Handler {
    /// `--handlers DIR`: job J is executed by DIR/J.
    Dir(PathBuf),
    /// `-- CMD ARGS...` (CMD resolved to a path).
    Command { path: PathBuf, args: Vec<String> },
    /// No handler: `--commands` alone, only command runs are executed.
    Nothing,
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
    /// Keep each run's stderr lines as its logs (`--no-stderr-logs`: false).
    pub stderr_logs: bool,
    /// `-v`: one line on stderr when a run is claimed and one when it ends.
    pub verbose: bool,
    /// `--max-lease-expiries`: a run claimed more often than this without a result is failed
    /// as a crash loop instead of executed (0: never).
    pub max_lease_expiries: u32,
    /// `--commands`: the jobs whose runs are command runs, executed as their input says.
    pub commands: Vec<String>,
    /// `--retries N …`: the retry policy of the runs this worker fails that were enqueued
    /// without one (None: `--retries 0` or not given).
    pub default_retry: Option<crate::model::RetryPolicy>,
}

/// What executors share.
pub struct ExecutorContext {
    pub store: shared_store::SharedStore,
    pub opts: Options,
    pub supervisor: Supervisor,
    pub handler: Handler,
    pub db_abs: PathBuf,
    pub base_env: Vec<(String, Vec<u8>)>,
    pub prefix_stderr: bool,
    pub timeout: Option<Duration>,
    pub stderr_logs: bool,
    pub verbose: bool,
    /// `--max-lease-expiries` ([`Config::max_lease_expiries`]).
    pub max_lease_expiries: u32,
    /// `--commands`: the jobs whose runs are command runs.
    pub commands: Vec<String>,
    /// `--retries N …` ([`Config::default_retry`]).
    pub default_retry: Option<crate::model::RetryPolicy>,
    /// The client-side bound of each call on the shared connection that has no deadline of
    /// its own (claims, maintenance): the lease, since a claim that took longer would hand
    /// out a lease already spent.
    pub call_bound: Duration,
    /// On PostgreSQL with more than one slot, the executors' writes (results, logs, runs given
    /// back) have a connection of their own, so that they and the main loop's claims do not
    /// queue on one; None: they share `store`.
    pub writes: Option<shared_store::SharedStore>,
    /// The claim an executor may make with its run's result (offered by the main loop).
    pub ahead: lease::ClaimAhead,
    /// Where each execution's private directory is made ([`executions`]); None: nowhere
    /// could hold one.
    pub executions: Option<PathBuf>,
}

impl ExecutorContext {
    /// Whether `run` is executed as the command its input holds (`--commands` names its job;
    /// that beats a handler of the same name).
    pub fn is_command(&self, run: &crate::model::Run) -> bool {
        self.commands.contains(&run.job_name)
    }

    /// The connection the executors write on.
    pub fn writes(&self) -> &shared_store::SharedStore {
        self.writes.as_ref().unwrap_or(&self.store)
    }

    /// Replaces the shared connection when it is lost (see [`Store::is_lost`]); Ok(true) when
    /// a new one was opened. The caller holds the store's lock.
    pub fn reconnect(&self, store: &mut Store) -> Result<bool> {
        if !store.is_lost() {
            return Ok(false);
        }
        self.reopen(store)
    }

    /// Replaces the shared store's connection with a new one, whatever the old one's state
    /// (an error already said it is gone).
    pub fn reopen(&self, store: &mut Store) -> Result<bool> {
        *store = Store::open_again(&self.opts)?;
        if let Some(p) = store.postgres_mut() {
            p.bound_calls(Some(self.call_bound));
        }
        note!("reconnected to {}", store.location());
        Ok(true)
    }
}

/// The executors' own connection ([`ExecutorContext::writes`]): on PostgreSQL with more than
/// one slot (one more connection a worker process); None on a SQLite file (its writes queue on
/// the file's lock anyway), with one slot, or when it cannot be opened (then they share).
fn writes_store(
    store: &Store,
    opts: &Options,
    concurrency: usize,
    call_bound: Duration,
) -> Option<shared_store::SharedStore> {
    if concurrency < 2 || !matches!(store, Store::Postgres(_)) {
        return None;
    }
    let mut writes = Store::open_again(opts).ok()?;
    if let Some(p) = writes.postgres_mut() {
        p.bound_calls(Some(call_bound));
    }
    Some(shared_store::SharedStore::new(writes))
}

/// Makes SIGINT, SIGTERM, SIGHUP and SIGQUIT requests to stop ([`crate::signals`]), and
/// ignores SIGXFSZ.
fn install_signal_handlers() -> Result<()> {
    crate::signals::count(&crate::signals::STOP_WORKER)?;
    // A write past `ulimit -f` then fails with EFBIG, which is reported like any write error,
    // instead of killing the worker without a word. Handlers get the default back (see
    // process::spawn).
    // SAFETY: SIG_IGN installs no handler, so no code of ours runs in a signal context.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGXFSZ,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
    Ok(())
}

/// Whether `name` can be a job executed from a handler directory: a plain entry name.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains('/') && !name.contains('\0')
}

/// Whether `path` is a regular file with an execute bit: a handler, or a program to run.
pub fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The search path for programs: `PATH`, or when it is not set at all (`env -i`, some service
/// managers) the system's default, as execvp(3) and posix_spawnp(3) use (glibc: `/bin:/usr/bin`).
pub fn search_path() -> std::ffi::OsString {
    std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into())
}

/// The search path when `PATH` is not set (glibc's `confstr(_CS_PATH)`).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// The first executable file named `name` in the directories of `search` (a PATH value), as a
/// shell finds a command without `/`.
pub fn find_in_path(name: &str, search: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(search)
        .map(|dir| dir.join(name))
        .find(|p| is_executable_file(p))
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

/// The environment handlers inherit: ours, minus the variables the worker sets (per run, or
/// from its options: `DURABLY_MAX_DB_SIZE`) and minus `PGPASSWORD` (no password reaches a
/// handler's environment; its `durably` commands get the worker's from [`passfile`]), with
/// the directory of this executable first in PATH and `DURABLY_BIN` set to it, so that a
/// handler's `durably step …` finds this binary even where PATH does not have it (cron).
fn base_env() -> Vec<(String, Vec<u8>)> {
    const OURS: [&str; 12] = [
        "DURABLY_BIN",
        "DURABLY_LEASE_MS",
        "DURABLY_DB",
        "DURABLY_MAX_DB_SIZE",
        "DURABLY_RUN_ID",
        "DURABLY_JOB",
        "DURABLY_LEASE_GENERATION",
        "DURABLY_CLAIMED_AT",
        "DURABLY_LABELS",
        "DURABLY_STEP",
        crate::store::pg::connect::PASSFILE_VAR,
        "PGPASSWORD",
    ];
    let mut env: Vec<(String, Vec<u8>)> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            (!OURS.contains(&k.as_str())).then(|| (k, v.as_encoded_bytes().to_vec()))
        })
        .collect();
    let Some(exe) = std::env::current_exe().ok().filter(|p| p.is_absolute()) else {
        return env;
    };
    if let Some(dir) = exe.parent() {
        let old = search_path();
        let rest = (!old.is_empty()).then(|| std::env::split_paths(&old));
        let dirs = std::iter::once(dir.to_path_buf()).chain(rest.into_iter().flatten());
        if let Ok(path) = std::env::join_paths(dirs) {
            env.retain(|(k, _)| k != "PATH");
            env.push(("PATH".into(), path.as_encoded_bytes().to_vec()));
        }
    }
    env.push((
        "DURABLY_BIN".into(),
        exe.as_os_str().as_encoded_bytes().to_vec(),
    ));
    env
}

fn owner_id() -> String {
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("durably-cli:{host}:{}", std::process::id())
}

/// The first pause before opening the database again when it is down at start; it doubles
/// up to [`OPEN_RETRY_MAX`].
const OPEN_RETRY_START: Duration = Duration::from_millis(200);
const OPEN_RETRY_MAX: Duration = Duration::from_secs(10);

/// Opens the database for the worker. A daemon worker (no `--once`, `--until-idle` or
/// `--max-runs`) whose database is down at start ([`crate::error::is_unavailable`]: a server
/// that cannot be reached, a SQLite file's directory not there yet, a file locked past
/// `--busy-timeout`) says so once and tries again with a growing pause, as it does when the
/// connection is lost later; a worker meant to end fails at once. None: a signal stopped the
/// wait.
fn open_when_up(opts: &Options, cfg: &Config) -> Result<Option<Store>> {
    let daemon = cfg.mode == Mode::Forever && cfg.max_runs.is_none();
    let mut pause = OPEN_RETRY_START;
    let mut said = false;
    loop {
        let err = match Store::open(opts, Access::Write) {
            Ok(store) => {
                if said {
                    note!("the database is up: {}", store.location());
                }
                return Ok(Some(store));
            }
            Err(e) if daemon && crate::error::is_unavailable(&e) => e,
            Err(e) => return Err(e),
        };
        if !said {
            note!(
                "{err:#}; waiting for the database, trying again with a growing pause (up to {})",
                humantime::format_duration(OPEN_RETRY_MAX)
            );
            said = true;
        }
        let until = std::time::Instant::now() + pause;
        while std::time::Instant::now() < until {
            if crate::signals::received() > 0 {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        pause = (pause * 2).min(OPEN_RETRY_MAX);
    }
}

/// Runs the worker until its mode says to stop; returns the exit code.
pub fn run(opts: &Options, cfg: Config) -> Result<ExitCode> {
    process::ensure_std_fds();
    // Forked first, while the process has a single thread.
    let supervisor = Supervisor::start()
        .map_err(|e| anyhow::anyhow!("cannot start the handler supervisor: {e}"))?;
    install_signal_handlers()?;
    let Some(mut store) = open_when_up(opts, &cfg)? else {
        // Stopped by a signal while waiting: nothing was claimed.
        return Ok(ExitCode::Ok);
    };
    // The worker releases held runs, materialises schedules and honours pauses: our tables
    // must be there (store::ours), on a database the library created too.
    store.ensure_ours()?;
    if !store.ensure_plans()? {
        // A database the library (or an earlier durably) created: claims work, but with
        // statistics taken while the queue was full each may read every completed run.
        note!(
            "the claim's index idx_durably_runs_pending_created_id is missing: run `durably init` \
             to add it (until then a claim may read past every completed run)"
        );
    }
    lease::note_clock_offset(&store);
    let call_bound = cfg.lease.max(MIN_CALL_BOUND);
    if let Some(p) = store.postgres_mut() {
        p.bound_calls(Some(call_bound));
    }
    let file = store.sqlite();
    let wal = file.is_some_and(|f| f.is_wal().unwrap_or(false));
    let db_file = file.and_then(|f| f.file_id().or_else(|| FileId::of_path(f.path())));
    // Handlers get DURABLY_DB: a SQLite file as an absolute path (they may change directory),
    // a PostgreSQL URL without its password, which their `durably` commands read from the
    // worker's password file instead (removed when `passfile` drops, at the end of `run`).
    let mut base_env = base_env();
    // How long handler-side commands keep trying a lost connection (cmd::common::with_retries).
    base_env.push((
        "DURABLY_LEASE_MS".into(),
        cfg.lease.as_millis().to_string().into_bytes(),
    ));
    let passfile = passfile::for_handlers(opts)?;
    if let Some(p) = &passfile {
        let path = p.path.as_os_str().as_encoded_bytes().to_vec();
        base_env.push((crate::store::pg::connect::PASSFILE_VAR.into(), path));
    }
    // The worker's --max-db-size (flag or variable) caps its handlers' writes to the file too.
    if let Some(bytes) = opts.max_size {
        base_env.push(("DURABLY_MAX_DB_SIZE".into(), bytes.to_string().into_bytes()));
    }
    let db_abs = match &opts.target {
        Target::Postgres(pg) => PathBuf::from(pg.without_password()),
        Target::Sqlite(path) => std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.clone()),
    };
    let writes = writes_store(&store, opts, cfg.concurrency, call_bound);
    // Removed when it drops, at the end of `run`, like the password file.
    let executions = executions::create().map_err(|why| note!("{why}")).ok();
    let shared = Arc::new(ExecutorContext {
        store: shared_store::SharedStore::new(store),
        opts: opts.clone(),
        supervisor,
        handler: cfg.handler.clone(),
        db_abs,
        base_env,
        prefix_stderr: cfg.concurrency > 1,
        timeout: cfg.timeout,
        stderr_logs: cfg.stderr_logs,
        verbose: cfg.verbose,
        max_lease_expiries: cfg.max_lease_expiries,
        commands: cfg.commands.clone(),
        default_retry: cfg.default_retry.clone(),
        call_bound,
        writes,
        ahead: lease::ClaimAhead::default(),
        executions: executions.as_ref().map(|e| e.path().to_path_buf()),
    });
    let leases = Leases::new(cfg.lease);
    let threads = leases
        .start(opts.clone())
        .map_err(|e| anyhow::anyhow!("cannot start the lease threads: {e}"))?;
    let result = scheduler::Scheduler {
        cfg: &cfg,
        shared: &shared,
        leases: &leases,
        owner: owner_id(),
        wal,
        db_file,
    }
    .run();
    leases.stop();
    join_for_a_while(threads);
    shared.supervisor.stop();
    result
}

/// The shortest client-side bound of a call on the shared connection, whatever the lease.
const MIN_CALL_BOUND: Duration = Duration::from_secs(1);
/// How long an ending worker waits for its lease threads.
const THREAD_GRACE: Duration = Duration::from_secs(1);

/// Joins the lease threads, waiting at most [`THREAD_GRACE`]: one may be in a call on a
/// connection that does not answer (bounded, but by up to a connect timeout), and a worker
/// whose handlers have all ended has nothing left for it to do. What is still running then
/// ends with the process.
fn join_for_a_while(threads: Vec<std::thread::JoinHandle<()>>) {
    let until = std::time::Instant::now() + THREAD_GRACE;
    for t in threads {
        while !t.is_finished() && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
}
