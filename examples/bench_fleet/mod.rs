//! Section 9 of the bench (issue 19): worker fleets against one database under a steady stream.
//!
//! Each row drives a fleet — N `durably work` processes (or one process at `--concurrency C`),
//! N threads of the floor (`bench_floor pg-fleet`: one `UPDATE … FOR UPDATE SKIP LOCKED …
//! RETURNING` claim and one completing `UPDATE` a run), or N node processes of @coji/durably's
//! `processOne` loop (the window starts once each printed `ready`) — over a fresh database
//! (PostgreSQL: a database per row on the `--pg` server; SQLite: a new file) for a fixed
//! window after a 0.5 s warm-up, while a **feeder** thread of the bench keeps a backlog of
//! [`BACKLOG`] pending runs: every 10 ms one statement tops the pending runs up to the backlog
//! once [`LOW`] of them have gone. A backlog rather than a fixed rate: the fleet is always
//! saturated whatever its capacity (a rate would have to be guessed above the fastest row's),
//! and the claim always meets a queue of about the same depth.
//!
//! Per row, from the database after the fleet stopped:
//! - runs/s: runs whose `completed_at` falls in the measuring window (after a warm-up) ÷ window;
//! - claim latency p50/p99: for the k-th claim (by `started_at`) of a fleet of S slots,
//!   `started_at − max(created_at, completed_at of the (k−S)-th completion)`: at most S runs are
//!   leased at once, so the k-th claim could first happen when k−S runs had completed — the time
//!   a free slot waited for its next run (the completing and claiming transactions included;
//!   the times are each transaction's start, in milliseconds), over claims in the window;
//! - commits per run (PostgreSQL): the database's `pg_stat_database.xact_commit` delta over the
//!   whole row (read once every backend of the database is gone, so every session has flushed
//!   its counters) minus the feeder's transactions, ÷ runs completed in the whole row (so the
//!   workers' start-up and shutdown transactions are included); likewise statements executed
//!   in the database (`pg_stat_statements` calls, `BEGIN`/`COMMIT` included, when the server
//!   loads the extension: a lower bound of round trips), WAL syncs (`pg_stat_wal.wal_sync`, the
//!   whole cluster: use a server of the bench's own) and the server's CPU time (its processes'
//!   by /proc, when it runs on this machine); the fleet's CPU per run is its processes' and
//!   their handlers' (`getrusage(RUSAGE_CHILDREN)`);
//! - round trips per run (a few no-op rows again, table 9.1b): the members connect through a
//!   TCP proxy of the bench ([`proxy`]) that counts a client's send after the server spoke;
//! - exactly once: every completed run has `lease_generation` 1 and no run is left leased or
//!   failed; the verification rows also run a handler that appends `$DURABLY_RUN_ID` to a file,
//!   and every completed run must appear there exactly once, and nothing else.

mod proxy;

use super::{fmt_n, rate, Bench};
use anyhow::{bail, Context, Result};
use proxy::Proxy;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Pending runs the feeder keeps.
const BACKLOG: i64 = 1000;
/// The feeder's period.
const TICK: Duration = Duration::from_millis(10);
/// The feeder tops the backlog up once this many runs have gone from it.
const LOW: i64 = 100;

/// What the runs' handler does.
#[derive(Clone, Copy, PartialEq)]
enum Handler {
    /// `true`; the library's job `bare` (an async no-op).
    Noop,
    /// `sleep 0.05`; the library's job `sleep` (a 50 ms timer).
    Sleep,
    /// `sh -c 'echo "$DURABLY_RUN_ID" >> FILE'`: the verification rows.
    Record,
}

impl Handler {
    fn job(self) -> &'static str {
        match self {
            Handler::Sleep => "sleep",
            _ => "bare",
        }
    }

    fn cmd(self, record: &Path) -> Vec<String> {
        match self {
            Handler::Noop => vec!["true".into()],
            Handler::Sleep => vec!["sleep".into(), "0.05".into()],
            Handler::Record => vec![
                "sh".into(),
                "-c".into(),
                format!("echo \"$DURABLY_RUN_ID\" >> {}", record.display()),
            ],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Handler::Noop => "no-op",
            Handler::Sleep => "50 ms",
            Handler::Record => "append id",
        }
    }
}

/// Who claims.
#[derive(Clone, Copy)]
enum Drive {
    /// N `durably work --concurrency C` processes.
    Durably { procs: usize, conc: u32 },
    /// `bench_floor pg-fleet` with N threads, running the handler or not.
    Floor { threads: usize, handler: bool },
    /// N node processes of @coji/durably's `processOne` loop.
    Node { procs: usize },
}

impl Drive {
    fn slots(self) -> i64 {
        match self {
            Drive::Durably { procs, conc } => (procs as i64) * i64::from(conc),
            Drive::Floor { threads, .. } => threads as i64,
            Drive::Node { procs } => procs as i64,
        }
    }

    fn label(self, h: Handler) -> String {
        match self {
            Drive::Durably { procs, conc } => format!(
                "durably, {procs} process{}{}, {}",
                if procs == 1 { "" } else { "es" },
                if conc > 1 {
                    format!(" `--concurrency {conc}`")
                } else {
                    String::new()
                },
                h.name()
            ),
            Drive::Floor { threads, handler } => format!(
                "floor, {threads} thread{}, {}",
                if threads == 1 { "" } else { "s" },
                if handler { h.name() } else { "no handler" }
            ),
            Drive::Node { procs } => format!(
                "@coji/durably `processOne` loop, {procs} node process{}, {}",
                if procs == 1 { "" } else { "es" },
                h.name()
            ),
        }
    }
}

/// The database of a row.
#[derive(Clone)]
enum Target {
    /// `members`: the URL the fleet's members use (the server's, or a counting proxy's).
    Pg {
        url: String,
        name: String,
        members: String,
    },
    Sqlite(PathBuf),
}

/// What a row measured.
struct Outcome {
    runs_per_s: f64,
    p50: f64,
    p99: f64,
    /// Per run completed in the row: commits, statements, WAL syncs, server CPU (µs), the
    /// fleet's own CPU with its handlers' (µs).
    commits: Option<f64>,
    statements: Option<f64>,
    wal_syncs: Option<f64>,
    server_us: Option<f64>,
    client_us: f64,
    /// Round trips per run (rows through a counting proxy).
    trips: Option<f64>,
    completed: i64,
    once: String,
}

/// The server's counters for the row's database, read when no session is connected to it.
#[derive(Clone, Copy)]
struct Counters {
    commits: i64,
    /// `pg_stat_statements` calls in the database (when the extension is there).
    statements: Option<i64>,
    /// `pg_stat_wal.wal_sync` (the whole cluster).
    wal_syncs: Option<i64>,
    /// CPU seconds of the server's processes (a server on this machine, by /proc).
    cpu: Option<f64>,
}

impl Counters {
    /// Per completed run, `after` minus `self`, less `feeder` transactions and statements.
    fn per_run(self, after: Counters, feeder: u64, runs: i64) -> [Option<f64>; 4] {
        if runs == 0 {
            return [None; 4];
        }
        let n = runs as f64;
        let d = |a: Option<i64>, b: Option<i64>, less: i64| Some((b? - a? - less) as f64 / n);
        [
            d(Some(self.commits), Some(after.commits), feeder as i64),
            d(self.statements, after.statements, feeder as i64),
            d(self.wal_syncs, after.wal_syncs, 0),
            self.cpu.zip(after.cpu).map(|(a, b)| (b - a) * 1e6 / n),
        ]
    }
}

/// Fields 3–17 of `/proc/PID/stat` (after the command): 1 ppid, 11 utime, 12 stime, 13 cutime,
/// 14 cstime, in clock ticks.
fn proc_stat(pid: u64) -> Option<Vec<u64>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.get(s.rfind(')')? + 2..)?;
    Some(
        rest.split_whitespace()
            .take(15)
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// CPU seconds (user + system) of the PostgreSQL server whose backend `backend` is, when it
/// runs on this machine: its postmaster's own and its reaped children's (backends that ended),
/// and its live children's.
fn server_cpu(backend: u64) -> Option<f64> {
    let comm = std::fs::read_to_string(format!("/proc/{backend}/comm")).ok()?;
    if comm.trim() != "postgres" {
        return None;
    }
    let postmaster = *proc_stat(backend)?.get(1)?;
    let pm = proc_stat(postmaster)?;
    let mut ticks: u64 = pm.get(11..15)?.iter().sum();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        if let Some(f) = proc_stat(pid).filter(|f| f.len() == 15 && f[1] == postmaster) {
            ticks += f[11] + f[12];
        }
    }
    // SAFETY: sysconf reads a constant of the system; no memory is passed.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks as f64 / hz)
}

/// CPU seconds (user + system) of this process's waited-for children and their descendants.
fn children_cpu() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_CHILDREN is a valid `who`.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) } != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// The feeder thread: its stop flag and, when joined, its transaction count.
struct Feeder {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<u64>>,
}

impl Feeder {
    /// Fills the backlog once (before returning), then tops it up every [`TICK`].
    fn start(target: &Target, job: &'static str) -> Result<Feeder> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = match target {
            Target::Pg { url, .. } => {
                let mut c = postgres::Client::connect(url, postgres::NoTls)?;
                let st = c.prepare(PG_FEED)?;
                c.execute(&st, &[&job, &BACKLOG, &LOW])?;
                std::thread::spawn(move || {
                    let mut ticks = 1;
                    while !flag.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        c.execute(&st, &[&job, &BACKLOG, &LOW])?;
                        ticks += 1;
                    }
                    Ok(ticks)
                })
            }
            Target::Sqlite(path) => {
                let mut c = rusqlite::Connection::open(path)?;
                c.busy_timeout(Duration::from_secs(30))?;
                c.pragma_update(None, "synchronous", "FULL")?;
                sqlite_feed(&mut c, job)?;
                std::thread::spawn(move || {
                    let mut ticks = 1;
                    while !flag.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        sqlite_feed(&mut c, job)?;
                        ticks += 1;
                    }
                    Ok(ticks)
                })
            }
        };
        Ok(Feeder { stop, handle })
    }

    fn finish(self) -> Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the feeder panicked"))?
    }
}

/// One statement, one transaction: pending runs topped up to $2 once [`LOW`] have gone (so
/// that the feeder writes, and syncs the WAL, about once per [`LOW`] runs), times from the
/// server's clock.
const PG_FEED: &str = "INSERT INTO durably_runs (id, job_name, input, status, labels, created_at, \
    updated_at) SELECT gen_random_uuid()::text, $1, '{\"n\":1}', 'pending', '{}', t.now, t.now \
    FROM (SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS now, \
    (SELECT count(*) FROM durably_runs WHERE status = 'pending') AS n) AS t, \
    generate_series(1, CASE WHEN t.n <= $2::int8 - $3::int8 THEN $2::int8 - t.n ELSE 0 END)";

/// Tops the backlog up once [`LOW`] runs have gone from it (a read first, the write lock only
/// then).
fn sqlite_feed(c: &mut rusqlite::Connection, job: &str) -> Result<()> {
    let count = "SELECT count(*) FROM durably_runs WHERE status = 'pending'";
    if c.query_row(count, [], |r| r.get::<_, i64>(0))? > BACKLOG - LOW {
        return Ok(());
    }
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let pending: i64 = tx.query_row(count, [], |r| r.get(0))?;
    let now = durably::time::now();
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO durably_runs (id, job_name, input, status, labels, created_at, \
             updated_at) VALUES (?1, ?2, '{\"n\":1}', 'pending', '{}', ?3, ?3)",
        )?;
        for _ in pending..BACKLOG {
            st.execute(rusqlite::params![
                uuid::Uuid::now_v7().to_string(),
                job,
                now
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The claim latencies (ms) of claims started in `[from, to)` (see the module's header).
const PG_LATENCY: &str = "WITH s AS (SELECT started_at::timestamptz AS st, \
    created_at::timestamptz AS cr, row_number() OVER (ORDER BY started_at, id) AS k \
    FROM durably_runs WHERE started_at IS NOT NULL), \
    c AS (SELECT completed_at::timestamptz AS ct, row_number() OVER (ORDER BY completed_at, id) AS k \
    FROM durably_runs WHERE completed_at IS NOT NULL) \
    SELECT (extract(epoch FROM s.st - greatest(s.cr, c.ct)) * 1000)::float8 \
    FROM s LEFT JOIN c ON c.k = s.k - $1::int8 \
    WHERE s.st >= $2::text::timestamptz AND s.st < $3::text::timestamptz";
const SQLITE_LATENCY: &str = "WITH s AS (SELECT started_at AS st, created_at AS cr, \
    row_number() OVER (ORDER BY started_at, id) AS k FROM durably_runs WHERE started_at IS NOT NULL), \
    c AS (SELECT completed_at AS ct, row_number() OVER (ORDER BY completed_at, id) AS k \
    FROM durably_runs WHERE completed_at IS NOT NULL) \
    SELECT (julianday(s.st) - julianday(max(s.cr, coalesce(c.ct, s.cr)))) * 86400000.0 \
    FROM s LEFT JOIN c ON c.k = s.k - ?1 WHERE s.st >= ?2 AND s.st < ?3";
const WINDOW_RUNS: &str = "SELECT count(*) FROM durably_runs \
    WHERE completed_at >= $1 AND completed_at < $2";
/// Completed runs, those claimed more than once, runs left leased or failed.
const ONCE: &str = "SELECT count(*) FILTER (WHERE status = 'completed'), \
    count(*) FILTER (WHERE status = 'completed' AND lease_generation <> 1), \
    count(*) FILTER (WHERE status IN ('leased', 'failed')) FROM durably_runs";
const COMPLETED_IDS: &str = "SELECT id FROM durably_runs WHERE status = 'completed'";

/// A `postgres://` URL's `host:port` (port 5432 when none is given), and a function that
/// writes the URL with another `host:port` in its place.
fn split_host(url: &str) -> Option<(String, impl Fn(&str) -> String + '_)> {
    let after = url.find("://")? + 3;
    let end = url[after..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after + i);
    let start = url[after..end].rfind('@').map_or(after, |i| after + i + 1);
    let host = &url[start..end];
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    };
    Some((host, move |addr: &str| {
        format!("{}{addr}{}", &url[..start], &url[end..])
    }))
}

/// Percentile `q` of sorted samples.
fn pct(s: &[f64], q: f64) -> f64 {
    if s.is_empty() {
        return f64::NAN;
    }
    s[((s.len() - 1) as f64 * q).round() as usize]
}

fn ms_text(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else if x >= 10.0 {
        format!("{x:.0} ms")
    } else {
        format!("{x:.1} ms")
    }
}

/// A running fleet: its processes and how they are told to stop.
struct Fleet {
    children: Vec<Child>,
    /// The stop file of the floor and node fleets; `durably work` gets SIGTERM.
    stop_file: Option<PathBuf>,
    err_files: Vec<PathBuf>,
}

impl Bench {
    /// Section 9: the fleet tables (PostgreSQL with `--pg`, and the SQLite file).
    pub(super) fn fleet(&mut self) -> Result<()> {
        let window = self.sizes.fleet_window;
        let _ = write!(
            self.md,
            "\n## 9. Fleet (issue 19): workers against one database under a steady stream\n\n\
             Each row: a fresh database, a feeder thread keeping {BACKLOG} pending runs (every \
             {} ms one statement tops them up once {LOW} have gone), the fleet started (node: \
             once each process printed `ready`), a 0.5 s warm-up, a {:.1} s window, \
             the fleet stopped (`durably work` by SIGTERM, which lets running handlers finish). \
             runs/s = runs completed in the window ÷ window. Claim latency = for the k-th claim \
             of a fleet of S slots, `started_at − max(created_at, completed_at of the (k−S)-th \
             completion)`: how long a free slot waited for its next run, transactions' start \
             times, ms resolution. Commits per run = `pg_stat_database.xact_commit` delta over \
             the row minus the feeder's, ÷ runs completed in the row (start-up and shutdown \
             included); statements (`pg_stat_statements`, `BEGIN`/`COMMIT` included), WAL \
             syncs (`pg_stat_wal`, whole cluster) and server CPU (its processes, /proc) per run \
             likewise; fleet CPU = the fleet's processes and their handlers \
             (`RUSAGE_CHILDREN`) per run. Once: every completed run claimed once \
             (`lease_generation` 1), none \
             left leased or failed; \"file\" rows also count the handler's own executions.\n",
            TICK.as_millis(),
            window.as_secs_f64()
        );
        if self.pg.is_some() {
            self.fleet_pg()?;
        }
        self.fleet_sqlite()?;
        self.fleet_targets();
        Ok(())
    }

    /// A no-op row's runs/s of `durably work`, for the targets.
    fn keep_rate(&mut self, backend: &str, d: Drive, h: Handler, r: f64) {
        if let (Drive::Durably { procs, conc }, Handler::Noop) = (d, h) {
            self.figures
                .insert(format!("fleet_{backend}_p{procs}_c{conc}"), r);
        }
    }

    /// Issue 19's scaling targets on PostgreSQL, from the no-op rows.
    fn fleet_targets(&mut self) {
        let f = |b: &Bench, k: &str| b.figures.get(&format!("fleet_{k}")).copied();
        let Some(one) = f(self, "pg_p1_c1") else {
            return;
        };
        let ratios = [
            (
                "`--concurrency 4` ≥ 1.8× `--concurrency 1`",
                "pg_p1_c4",
                one,
                1.8,
            ),
            ("4 worker processes ≥ 1.8× one", "pg_p4_c1", one, 1.8),
            (
                "8 worker processes never below 4",
                "pg_p8_c1",
                f(self, "pg_p4_c1").unwrap_or(f64::NAN),
                1.0,
            ),
        ];
        for (what, key, base, aim) in ratios {
            if let Some(r) = f(self, key) {
                self.target(
                    &format!("fleet, PostgreSQL, no-op: {what}"),
                    format!("{:.2}× ({} vs {} runs/s)", r / base, rate(r), rate(base)),
                    r >= aim * base,
                );
            }
        }
        if let Some(sq) = f(self, "sqlite_p1_c1") {
            self.target(
                "fleet, no-op: one PostgreSQL process at concurrency 1 ≥ 0.7× the SQLite file's",
                format!("{:.2}× ({} vs {} runs/s)", one / sq, rate(one), rate(sq)),
                one >= 0.7 * sq,
            );
        }
    }

    fn fleet_pg(&mut self) -> Result<()> {
        let mut rows = Vec::new();
        let node = self.node_dir.is_some();
        for h in [Handler::Noop, Handler::Sleep] {
            let mut drives: Vec<Drive> = [1, 2, 4, 8, 16]
                .iter()
                .map(|&procs| Drive::Durably { procs, conc: 1 })
                .collect();
            drives.push(Drive::Durably { procs: 1, conc: 4 });
            drives.push(Drive::Durably { procs: 1, conc: 16 });
            let (floors, nodes): (&[usize], &[usize]) = if h == Handler::Noop {
                (&[1, 4, 16], &[1, 4])
            } else {
                (&[1, 16], &[1, 4])
            };
            drives.extend(floors.iter().map(|&threads| Drive::Floor {
                threads,
                handler: true,
            }));
            if node {
                drives.extend(nodes.iter().map(|&procs| Drive::Node { procs }));
            }
            for d in drives {
                let o = self.fleet_row_pg(d, h, false)?;
                self.keep_rate("pg", d, h, o.runs_per_s);
                rows.push((d, h, o));
            }
        }
        for threads in [1, 4, 16] {
            let d = Drive::Floor {
                threads,
                handler: false,
            };
            rows.push((
                d,
                Handler::Noop,
                self.fleet_row_pg(d, Handler::Noop, false)?,
            ));
        }
        let d = Drive::Durably { procs: 8, conc: 4 };
        rows.push((
            d,
            Handler::Record,
            self.fleet_row_pg(d, Handler::Record, false)?,
        ));
        let _ = write!(
            self.md,
            "\n### 9.1 PostgreSQL fleet (`{}`)\n\n{}",
            self.pg_shown(),
            table(&rows, true)
        );
        self.fleet_trips(node)
    }

    /// Round trips per run: a few no-op rows again, their members through a counting proxy.
    fn fleet_trips(&mut self, node: bool) -> Result<()> {
        let mut drives = vec![
            Drive::Durably { procs: 1, conc: 1 },
            Drive::Durably { procs: 4, conc: 1 },
            Drive::Durably { procs: 1, conc: 4 },
            Drive::Floor {
                threads: 1,
                handler: true,
            },
            Drive::Floor {
                threads: 4,
                handler: true,
            },
        ];
        if node {
            drives.push(Drive::Node { procs: 1 });
        }
        let mut t = String::from(
            "| fleet | runs/s through the proxy | round trips per run | statements per run | commits per run |\n\
             |---|---:|---:|---:|---:|\n",
        );
        for d in drives {
            let o = self.fleet_row_pg(d, Handler::Noop, true)?;
            let opt = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.1}"));
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} |",
                d.label(Handler::Noop),
                rate(o.runs_per_s),
                opt(o.trips),
                opt(o.statements),
                o.commits.map_or("–".into(), |v| format!("{v:.2}"))
            );
        }
        let _ = write!(
            self.md,
            "\n#### 9.1b Round trips per run: the same no-op rows through a counting proxy\n\n\
             A TCP proxy of the bench between the members and the server counts a round trip \
             each time a client sends after the server last spoke (pipelined messages once); \
             per run completed in the row, connection start-up included.\n\n{t}"
        );
        Ok(())
    }

    fn fleet_sqlite(&mut self) -> Result<()> {
        let mut rows = Vec::new();
        for h in [Handler::Noop, Handler::Sleep] {
            for procs in [1, 2, 4, 8] {
                let d = Drive::Durably { procs, conc: 1 };
                let o = self.fleet_row_sqlite(d, h)?;
                self.keep_rate("sqlite", d, h, o.runs_per_s);
                rows.push((d, h, o));
            }
        }
        let d = Drive::Durably { procs: 4, conc: 2 };
        rows.push((
            d,
            Handler::Record,
            self.fleet_row_sqlite(d, Handler::Record)?,
        ));
        let _ = write!(
            self.md,
            "\n### 9.2 SQLite file fleet (WAL, `synchronous=FULL`)\n\n{}",
            table(&rows, false)
        );
        Ok(())
    }

    /// A row on a fresh database; with `counted`, the members connect through a [`Proxy`]
    /// and the outcome has their round trips per run.
    fn fleet_row_pg(&mut self, d: Drive, h: Handler, counted: bool) -> Result<Outcome> {
        self.log(&format!(
            "9.1 PostgreSQL fleet{}: {}",
            if counted { " (round trips)" } else { "" },
            d.label(h)
        ));
        let name = "fleet";
        let url = self.pg_create_schema(name)?;
        let proxy = match counted {
            true => {
                let (server, _) = split_host(&url).context("--pg: no host in the URL")?;
                Some(Proxy::start(&server)?)
            }
            false => None,
        };
        let members = match &proxy {
            Some(p) => split_host(&url).context("--pg: no host")?.1(&p.addr),
            None => url.clone(),
        };
        let target = Target::Pg {
            url,
            name: format!("durably_bench_{name}"),
            members,
        };
        let out = self.fleet_row(&target, d, h);
        self.pg_drop(name);
        let mut out = out?;
        if let Some(p) = proxy {
            out.trips = Some(p.trips() as f64 / out.completed.max(1) as f64);
        }
        Ok(out)
    }

    fn fleet_row_sqlite(&mut self, d: Drive, h: Handler) -> Result<Outcome> {
        self.log(&format!("9.2 SQLite fleet: {}", d.label(h)));
        let path = self.db("fleet.db");
        self.remove_db(&path);
        let empty = self.db("empty.ndjson");
        std::fs::write(&empty, b"")?;
        let cmd = self.durably_cmd(&path, &["enqueue-many", empty.to_str().context("path")?]);
        self.output(Command::new(&cmd[0]).args(&cmd[1..]))?;
        let out = self.fleet_row(&Target::Sqlite(path.clone()), d, h);
        self.remove_db(&path);
        out
    }

    /// One row: feeder, fleet, window, stop, then the figures from the database.
    fn fleet_row(&mut self, target: &Target, d: Drive, h: Handler) -> Result<Outcome> {
        let record = self.db("fleet-record.txt");
        let _ = std::fs::remove_file(&record);
        let mut admin = match target {
            Target::Pg { .. } => Some(self.pg_admin()?),
            Target::Sqlite(_) => None,
        };
        let before = self.counters(&mut admin, target)?;
        let cpu0 = children_cpu();
        let feeder = Feeder::start(target, h.job())?;
        let fleet = self.fleet_start(target, d, h, &record);
        let fleet = match fleet {
            Ok(f) => f,
            Err(e) => {
                let _ = feeder.finish();
                return Err(e);
            }
        };
        std::thread::sleep(Duration::from_millis(500));
        let from = durably::time::now_ms();
        std::thread::sleep(self.sizes.fleet_window);
        let to = durably::time::now_ms();
        let stopped = self.fleet_stop(fleet);
        let ticks = feeder.finish()?;
        stopped?;
        let cpu1 = children_cpu();
        let after = self.counters(&mut admin, target)?;
        let (a, b) = (durably::time::format_ms(from), durably::time::format_ms(to));
        let Results {
            in_window,
            mut lat,
            once,
            ids,
        } = Results::read(target, d.slots(), h == Handler::Record, &a, &b)?;
        lat.sort_by(f64::total_cmp);
        let (completed, twice, left) = once;
        if twice != 0 || left != 0 {
            bail!(
                "{}: {twice} completed runs claimed more than once, {left} left leased or failed",
                d.label(h)
            );
        }
        let mut once = "db".to_string();
        if h == Handler::Record {
            once = check_record(&record, &ids)?;
        }
        let [commits, statements, wal_syncs, server_us] = match (before, after) {
            (Some(b), Some(a)) => b.per_run(a, ticks, completed),
            _ => [None; 4],
        };
        Ok(Outcome {
            runs_per_s: in_window as f64 / ((to - from) as f64 / 1000.0),
            p50: pct(&lat, 0.5),
            p99: pct(&lat, 0.99),
            commits,
            statements,
            wal_syncs,
            server_us,
            client_us: (cpu1 - cpu0) * 1e6 / completed.max(1) as f64,
            trips: None,
            completed,
            once,
        })
    }

    /// PostgreSQL: the counters of the row's database once no session is connected to it
    /// (each flushed its counters when it ended). `None` on SQLite.
    fn counters(
        &self,
        admin: &mut Option<postgres::Client>,
        target: &Target,
    ) -> Result<Option<Counters>> {
        let (Target::Pg { name, .. }, Some(admin)) = (target, admin.as_mut()) else {
            return Ok(None);
        };
        let t = Instant::now();
        loop {
            let n: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                    &[name],
                )?
                .get(0);
            if n == 0 {
                break;
            }
            if t.elapsed() > Duration::from_secs(10) {
                bail!("{n} sessions still connected to {name} after 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let commits: i64 = admin
            .query_one(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = $1",
                &[name],
            )?
            .get(0);
        let statements = admin
            .query_one(
                "SELECT coalesce(sum(s.calls), 0)::int8 FROM pg_stat_statements AS s \
                 JOIN pg_database AS d ON d.oid = s.dbid WHERE d.datname = $1",
                &[name],
            )
            .ok()
            .map(|r| r.get(0));
        let wal_syncs = admin
            .query_one("SELECT wal_sync FROM pg_stat_wal", &[])
            .ok()
            .map(|r| r.get(0));
        let backend: i32 = admin.query_one("SELECT pg_backend_pid()", &[])?.get(0);
        Ok(Some(Counters {
            commits,
            statements,
            wal_syncs,
            cpu: server_cpu(backend as u64),
        }))
    }

    /// The command lines of a fleet's members, and whether they stop by the file `stop`
    /// (else by SIGTERM).
    fn fleet_cmds(
        &self,
        db: &str,
        d: Drive,
        handler: &[String],
        stop: &Path,
    ) -> Result<(Vec<Vec<String>>, bool)> {
        Ok(match d {
            Drive::Durably { procs, conc } => {
                let c = conc.to_string();
                let mut args = vec!["work", "--concurrency", &c, "--"];
                args.extend(handler.iter().map(String::as_str));
                (vec![self.durably_cmd(Path::new(db), &args); procs], false)
            }
            Drive::Floor {
                threads,
                handler: run,
            } => {
                let mut cmd = vec![
                    self.floor.display().to_string(),
                    "pg-fleet".into(),
                    db.to_string(),
                    threads.to_string(),
                    stop.display().to_string(),
                ];
                if run {
                    cmd.push("--".into());
                    cmd.extend(handler.iter().cloned());
                }
                (vec![cmd], true)
            }
            Drive::Node { procs } => {
                let dir = self.node_dir.as_ref().context("node is skipped")?;
                let cmd = vec![
                    "node".to_string(),
                    dir.join("bench.mjs").display().to_string(),
                    "pg-fleet".into(),
                    db.to_string(),
                    stop.display().to_string(),
                ];
                (vec![cmd; procs], true)
            }
        })
    }

    fn fleet_start(&self, target: &Target, d: Drive, h: Handler, record: &Path) -> Result<Fleet> {
        let db = match target {
            Target::Pg { members, .. } => members.clone(),
            Target::Sqlite(p) => p.display().to_string(),
        };
        let stop_file = self.db("fleet-stop");
        let _ = std::fs::remove_file(&stop_file);
        let (cmds, file) = self.fleet_cmds(&db, d, &h.cmd(record), &stop_file)?;
        let mut fleet = Fleet {
            children: Vec::new(),
            stop_file: file.then_some(stop_file),
            err_files: Vec::new(),
        };
        for (i, cmd) in cmds.iter().enumerate() {
            let err = self.db(&format!("fleet-{i}.err"));
            let child = Command::new(&cmd[0])
                .args(&cmd[1..])
                .stdin(Stdio::null())
                .stdout(if matches!(d, Drive::Node { .. }) {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stderr(std::fs::File::create(&err)?)
                .spawn();
            fleet.err_files.push(err);
            match child {
                Ok(c) => fleet.children.push(c),
                Err(e) => {
                    let _ = self.fleet_stop(fleet);
                    return Err(e).with_context(|| format!("cannot run {}", cmd[0]));
                }
            }
        }
        if let Err(e) = wait_ready(&mut fleet.children) {
            let _ = self.fleet_stop(fleet);
            return Err(e);
        }
        Ok(fleet)
    }

    /// Stops the fleet and waits for it (SIGKILL after 30 s); an error if a member had already
    /// ended or failed.
    fn fleet_stop(&self, mut fleet: Fleet) -> Result<()> {
        let mut early = None;
        for (i, c) in fleet.children.iter_mut().enumerate() {
            if early.is_none() && c.try_wait()?.is_some() {
                early = Some(i);
            }
        }
        match &fleet.stop_file {
            Some(f) => std::fs::write(f, b"")?,
            None => {
                for c in &fleet.children {
                    // SAFETY: kill(2) with our own child's pid (not yet reaped) and SIGTERM.
                    unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
                }
            }
        }
        let t = Instant::now();
        let mut failed = None;
        for (i, c) in fleet.children.iter_mut().enumerate() {
            let status = loop {
                if let Some(s) = c.try_wait()? {
                    break s;
                }
                if t.elapsed() > Duration::from_secs(30) {
                    let _ = c.kill();
                    break c.wait()?;
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            if !status.success() && fleet.stop_file.is_some() && failed.is_none() {
                failed = Some(i);
            }
        }
        if let Some(i) = early.or(failed) {
            let err = std::fs::read_to_string(&fleet.err_files[i]).unwrap_or_default();
            bail!(
                "fleet member {i} ended early or failed: {}",
                err.lines().last().unwrap_or("").trim()
            );
        }
        Ok(())
    }
}

/// Waits for each child with a piped stdout to print its first line (`ready`).
fn wait_ready(children: &mut [Child]) -> Result<()> {
    use std::io::BufRead;
    for c in children {
        if let Some(out) = c.stdout.take() {
            let mut line = String::new();
            let mut r = std::io::BufReader::new(out);
            r.read_line(&mut line)?;
            if line.trim() != "ready" {
                bail!("a fleet member ended before it was ready");
            }
            // Kept open: the member writes its last line on it when it stops.
            c.stdout = Some(r.into_inner());
        }
    }
    Ok(())
}

/// What the row's database says once the fleet stopped.
struct Results {
    /// Runs completed in the window.
    in_window: i64,
    /// Claim latencies (ms) of claims started in the window.
    lat: Vec<f64>,
    /// Runs completed, completed runs claimed more than once, runs left leased or failed.
    once: (i64, i64, i64),
    /// The completed runs' ids (verification rows only).
    ids: Vec<String>,
}

impl Results {
    /// `from` and `to`: the window, in the library's timestamp text.
    fn read(target: &Target, slots: i64, ids: bool, from: &str, to: &str) -> Result<Results> {
        Ok(match target {
            Target::Pg { url, .. } => {
                let mut c = postgres::Client::connect(url, postgres::NoTls)?;
                let r = c.query_one(ONCE, &[])?;
                Results {
                    in_window: c.query_one(WINDOW_RUNS, &[&from, &to])?.get(0),
                    lat: c
                        .query(PG_LATENCY, &[&slots, &from, &to])?
                        .iter()
                        .map(|r| r.get(0))
                        .collect(),
                    once: (r.get(0), r.get(1), r.get(2)),
                    ids: if ids {
                        c.query(COMPLETED_IDS, &[])?
                            .iter()
                            .map(|r| r.get(0))
                            .collect()
                    } else {
                        Vec::new()
                    },
                }
            }
            Target::Sqlite(path) => {
                let c = rusqlite::Connection::open(path)?;
                let window = WINDOW_RUNS.replace('$', "?");
                let lat = c
                    .prepare(SQLITE_LATENCY)?
                    .query_map(rusqlite::params![slots, from, to], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<f64>>>()?;
                let ids = if ids {
                    c.prepare(COMPLETED_IDS)?
                        .query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()?
                } else {
                    Vec::new()
                };
                Results {
                    in_window: c.query_row(&window, [from, to], |r| r.get(0))?,
                    lat,
                    once: c.query_row(ONCE, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?,
                    ids,
                }
            }
        })
    }
}

/// The handler's record: every completed run exactly once, nothing else.
fn check_record(record: &Path, ids: &[String]) -> Result<String> {
    let text = std::fs::read_to_string(record).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let seen: HashSet<&str> = lines.iter().copied().collect();
    let completed: HashSet<&str> = ids.iter().map(String::as_str).collect();
    if lines.len() != seen.len() || seen != completed {
        bail!(
            "exactly once broken: {} handler executions of {} distinct runs, {} completed",
            lines.len(),
            seen.len(),
            completed.len()
        );
    }
    Ok(format!(
        "file: {} executions = {} runs",
        lines.len(),
        ids.len()
    ))
}

fn table(rows: &[(Drive, Handler, Outcome)], pg: bool) -> String {
    let opt = |v: Option<f64>, digits: usize| v.map_or("–".into(), |v| format!("{v:.digits$}"));
    let mut t = String::from(if pg {
        "| fleet | slots | runs/s | claim latency p50 | p99 | commits per run | statements per run \
         | WAL syncs per run | server CPU per run | fleet CPU per run | runs | once |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    } else {
        "| fleet | slots | runs/s | claim latency p50 | p99 | fleet CPU per run | runs | once |\n\
         |---|---:|---:|---:|---:|---:|---:|---|\n"
    });
    for (d, h, o) in rows {
        let server = if pg {
            format!(
                " {} | {} | {} | {} |",
                opt(o.commits, 2),
                opt(o.statements, 1),
                opt(o.wal_syncs, 2),
                o.server_us.map_or("–".into(), |u| format!("{u:.0} µs"))
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} |{server} {:.0} µs | {} | {} |",
            d.label(*h),
            d.slots(),
            rate(o.runs_per_s),
            ms_text(o.p50),
            ms_text(o.p99),
            o.client_us,
            fmt_n(o.completed as u64),
            o.once
        );
    }
    t
}
