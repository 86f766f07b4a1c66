//! The benchmark suite, driven by `bench/run.sh` (see BENCHMARKS.md).
//!
//! `bench [--size small|default|large] [--skip-node] [--only W,...] [--out DIR] [--keep]
//! [--pg URL]`
//!
//! Runs every workload in one go on this machine and prints (and writes to `--out`) a Markdown
//! report: figures, the floors and baselines measured in the same run, ratios and the speed
//! targets each figure is held to (its last table). Whole-process figures spawn the release binary `durably`; in-process figures
//! call the `durably` library (the same code the binary runs); floors are the programs of
//! `examples/bench_floor.rs`; the library comparison is `bench/node/bench.mjs`.
//!
//! Workloads (`--only` names): bulk, single, ls, claim, work, purge, node, pg (section 8:
//! bulk, list, claim and worker on the PostgreSQL server of `--pg URL` or `DURABLY_BENCH_PG`,
//! a fresh database per workload) and fleet (section 9, `bench_fleet/`: worker fleets under a
//! steady stream on that server and on the SQLite file; in the default set only with `--pg`).

#[path = "bench_fleet/mod.rs"]
mod fleet;

use anyhow::{anyhow, bail, Context, Result};
use durably::model::Status;
use durably::store::backend::{Leases, RunReads};
use durably::store::columns::RUN_COLUMNS;
use durably::store::sqlite::db;
use durably::store::sqlite::list;
use durably::store::sqlite::rows::run_from_row;
use durably::store::ListFilter;
use durably::store::{Access, Options, Target};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How big each workload is.
#[derive(Debug, Clone)]
struct Sizes {
    name: &'static str,
    /// Bulk enqueue lines; also the largest database of the list and claim workloads.
    runs: u64,
    /// Database sizes of the list workload.
    ls_sizes: Vec<u64>,
    /// Whole-process repetitions of each `ls`.
    ls_procs: u64,
    /// Sequential `durably enqueue` processes.
    single: u64,
    /// Pending runs of the claim workload.
    claim_sizes: Vec<u64>,
    claim_cycles: u64,
    /// Runs of the worker workload.
    work: u64,
    /// Completed runs of the purge workload.
    purge: u64,
    /// @coji/durably: bulk lines, trigger() calls, worker runs.
    node_bulk: u64,
    node_trigger: u64,
    node_work: u64,
    /// PostgreSQL (`--pg`): bulk lines, list database sizes, claim sizes and cycles, worker
    /// runs, @coji/durably bulk lines and worker runs.
    pg_runs: u64,
    pg_ls_sizes: Vec<u64>,
    pg_claim_sizes: Vec<u64>,
    pg_claim_cycles: u64,
    pg_work: u64,
    pg_node_bulk: u64,
    pg_node_work: u64,
    /// The measuring window of each fleet row (section 9).
    fleet_window: Duration,
}

impl Sizes {
    fn get(name: &str) -> Result<Sizes> {
        Ok(match name {
            "small" => Sizes {
                name: "small",
                runs: 100_000,
                ls_sizes: vec![10_000, 100_000],
                ls_procs: 11,
                single: 200,
                claim_sizes: vec![1_000, 100_000],
                claim_cycles: 1_000,
                work: 1_000,
                purge: 50_000,
                node_bulk: 5_000,
                node_trigger: 200,
                node_work: 500,
                pg_runs: 20_000,
                pg_ls_sizes: vec![1_000, 10_000],
                pg_claim_sizes: vec![1_000, 10_000],
                pg_claim_cycles: 200,
                pg_work: 200,
                pg_node_bulk: 5_000,
                pg_node_work: 100,
                fleet_window: Duration::from_millis(1000),
            },
            "default" => Sizes {
                name: "default",
                runs: 1_000_000,
                ls_sizes: vec![10_000, 100_000, 1_000_000],
                ls_procs: 21,
                single: 1_000,
                claim_sizes: vec![1_000, 100_000, 1_000_000],
                claim_cycles: 2_000,
                work: 10_000,
                purge: 500_000,
                node_bulk: 50_000,
                node_trigger: 1_000,
                node_work: 10_000,
                pg_runs: 100_000,
                pg_ls_sizes: vec![10_000, 100_000],
                pg_claim_sizes: vec![1_000, 100_000],
                pg_claim_cycles: 500,
                pg_work: 500,
                pg_node_bulk: 20_000,
                pg_node_work: 200,
                fleet_window: Duration::from_millis(2000),
            },
            "large" => Sizes {
                name: "large",
                runs: 3_000_000,
                ls_sizes: vec![10_000, 100_000, 1_000_000, 3_000_000],
                ls_procs: 21,
                single: 1_000,
                claim_sizes: vec![1_000, 100_000, 1_000_000, 3_000_000],
                claim_cycles: 2_000,
                work: 10_000,
                purge: 1_000_000,
                node_bulk: 100_000,
                node_trigger: 1_000,
                node_work: 10_000,
                pg_runs: 1_000_000,
                pg_ls_sizes: vec![10_000, 100_000, 1_000_000],
                pg_claim_sizes: vec![1_000, 100_000, 1_000_000],
                pg_claim_cycles: 1_000,
                pg_work: 2_000,
                pg_node_bulk: 100_000,
                pg_node_work: 1_000,
                fleet_window: Duration::from_millis(5000),
            },
            other => bail!("unknown size {other} (small, default or large)"),
        })
    }
}

struct Bench {
    sizes: Sizes,
    durably: PathBuf,
    floor: PathBuf,
    node_dir: Option<PathBuf>,
    tmp: PathBuf,
    only: Option<Vec<String>>,
    /// The report, in Markdown.
    md: String,
    /// Target verdicts: (target, measured, verdict).
    targets: Vec<(String, String, String)>,
    /// Figures other workloads compare with (e.g. the worker's runs/s).
    figures: HashMap<String, f64>,
    /// Rows of the @coji/durably list table (filled by the list workload).
    node_ls: String,
    /// The PostgreSQL server of section 8 (`--pg URL` or `DURABLY_BENCH_PG`), a superuser's.
    pg: Option<String>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("bench: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut size = "default".to_string();
    let mut skip_node = false;
    let mut only = None;
    let mut out = PathBuf::from("bench/out");
    let mut keep = false;
    let mut pg = std::env::var("DURABLY_BENCH_PG")
        .ok()
        .filter(|s| !s.is_empty());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--size" => size = args.next().context("--size needs a value")?,
            "--skip-node" => skip_node = true,
            "--only" => {
                only = Some(
                    args.next()
                        .context("--only needs a value")?
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                )
            }
            "--out" => out = PathBuf::from(args.next().context("--out needs a value")?),
            "--keep" => keep = true,
            "--pg" => pg = Some(args.next().context("--pg needs a URL")?),
            other => bail!("unknown argument {other}"),
        }
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("no parent")?.to_path_buf();
    let durably_built = dir.parent().context("no parent")?.join("durably");
    let floor_built = dir.join("bench_floor");
    for p in [&durably_built, &floor_built] {
        if !p.exists() {
            bail!(
                "{} is missing: run `cargo build --release --examples` (bench/run.sh does)",
                p.display()
            );
        }
    }
    let node_dir = if skip_node {
        None
    } else {
        let d = PathBuf::from("bench/node");
        if !d.join("node_modules/@coji/durably").exists() {
            bail!("bench/node/node_modules is missing: run `npm ci` in bench/node (bench/run.sh does), or pass --skip-node");
        }
        Some(std::fs::canonicalize(d)?)
    };
    let tmp_dir = tempfile::Builder::new()
        .prefix("durably-bench-")
        .tempdir()?;
    // Run copies: a `cargo build` in the same tree during the run must not swap the binary.
    let bin = tmp_dir.path().join("bin");
    std::fs::create_dir_all(&bin)?;
    let (durably, floor) = (bin.join("durably"), bin.join("bench_floor"));
    std::fs::copy(&durably_built, &durably)?;
    std::fs::copy(&floor_built, &floor)?;
    let mut b = Bench {
        sizes: Sizes::get(&size)?,
        durably,
        floor,
        node_dir,
        tmp: tmp_dir.path().to_path_buf(),
        only,
        md: String::new(),
        targets: Vec::new(),
        figures: HashMap::new(),
        node_ls: String::new(),
        pg,
    };
    let started = Instant::now();
    b.header()?;
    let result = b.all();
    if let Err(e) = &result {
        let _ = writeln!(b.md, "\n**The run stopped with an error:** {e:#}\n");
    }
    b.summary(started.elapsed());
    std::fs::create_dir_all(&out)?;
    let stamp = durably::time::now().replace([':', '.'], "-");
    let file = out.join(format!("bench-{}-{stamp}.md", b.sizes.name));
    std::fs::write(&file, &b.md)?;
    std::fs::write(out.join("latest.md"), &b.md)?;
    println!("{}", b.md);
    eprintln!("bench: report written to {}", file.display());
    if keep {
        let kept = tmp_dir.keep();
        eprintln!("bench: data kept in {}", kept.display());
    }
    result
}

/// `key=value` pairs of a floor program's output line.
fn kv(line: &str) -> HashMap<String, f64> {
    line.split_whitespace()
        .filter_map(|p| p.split_once('='))
        .filter_map(|(k, v)| v.parse::<f64>().ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// Rounds of `enqueue-many` and of its floor ([`Bench::bulk_rounds`]): medians, the peak RSS
/// of durably's rounds, and each round's rate ratio durably ÷ floor.
struct BulkRounds {
    d_secs: f64,
    d_cpu: f64,
    f_secs: f64,
    f_cpu: f64,
    rss_mib: f64,
    pairs: String,
}

/// The `sqlite3` shell's version of one `durably enqueue --job email --input {"n":1} --label
/// tenant=t1 --label kind=k1`: the same rows (a random text id for the uuid) in one
/// `BEGIN IMMEDIATE` transaction, `synchronous=FULL`.
const SHELL_ENQUEUE: &str = "PRAGMA synchronous=FULL; BEGIN IMMEDIATE; \
    INSERT INTO durably_runs (id, job_name, input, status, idempotency_key, concurrency_key, \
    labels, current_step_index, completed_step_count, progress, output, error, lease_owner, \
    lease_expires_at, lease_generation, started_at, completed_at, created_at, updated_at) \
    VALUES (lower(hex(randomblob(16))), 'email', '{\"n\":1}', 'pending', NULL, NULL, \
    '{\"tenant\":\"t1\",\"kind\":\"k1\"}', 0, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, \
    strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')); \
    INSERT INTO durably_run_labels (run_id, key, value) \
    SELECT id, 'tenant', 't1' FROM durably_runs WHERE rowid = last_insert_rowid(); \
    INSERT INTO durably_run_labels (run_id, key, value) \
    SELECT run_id, 'kind', 'k1' FROM durably_run_labels WHERE rowid = last_insert_rowid(); \
    COMMIT;";

/// Bulk rounds of durably and the floor, alternating; the wall time of one swings by 2× with
/// the disk's other work, so one run of each says little.
const BULK_ROUNDS: usize = 3;

/// durably's rate ÷ the floor's, from the median wall times.
fn big_ratio(r: &BulkRounds) -> f64 {
    r.f_secs / r.d_secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn fmt_n(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

fn rate(x: f64) -> String {
    if x >= 100.0 {
        format!("{:.0}", x)
    } else {
        format!("{:.1}", x)
    }
}

fn msf(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0} ms")
    } else if x >= 1.0 {
        format!("{x:.2} ms")
    } else {
        format!("{:.0} µs", x * 1000.0)
    }
}

fn verdict(ok: bool) -> String {
    if ok { "**met**" } else { "**missed**" }.to_string()
}

impl Bench {
    fn wants(&self, w: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|x| x == w))
    }

    fn log(&self, msg: &str) {
        eprintln!("bench: {msg}");
    }

    /// Runs a command, returns its stdout (stderr passes through).
    fn output(&self, cmd: &mut Command) -> Result<String> {
        let out = cmd
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run {cmd:?}"))?;
        if !out.status.success() {
            bail!("{cmd:?} failed with {}", out.status);
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn floor(&self, args: &[&str]) -> Result<HashMap<String, f64>> {
        let out = self.output(Command::new(&self.floor).args(args))?;
        Ok(kv(out.lines().last().unwrap_or("")))
    }

    /// Interleaved whole-process timings of several commands: one map per command.
    fn time_procs(&self, n: u64, cmds: &[Vec<String>]) -> Result<Vec<HashMap<String, f64>>> {
        let mut args = vec!["time".to_string(), n.to_string(), "--".to_string()];
        for (i, c) in cmds.iter().enumerate() {
            if i > 0 {
                args.push("---".into());
            }
            args.extend(c.iter().cloned());
        }
        let out = self.output(Command::new(&self.floor).args(&args))?;
        Ok(out.lines().map(kv).collect())
    }

    fn durably_cmd(&self, db: &Path, args: &[&str]) -> Vec<String> {
        let mut v = vec![
            self.durably.display().to_string(),
            "--db".into(),
            db.display().to_string(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    fn node(&self, args: &[&str]) -> Result<serde_json::Value> {
        let dir = self.node_dir.as_ref().context("node is skipped")?;
        let out = self.output(Command::new("node").arg(dir.join("bench.mjs")).args(args))?;
        serde_json::from_str(out.trim()).with_context(|| format!("node printed {out:?}"))
    }

    fn db(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }

    fn remove_db(&self, p: &Path) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }

    fn target(&mut self, what: &str, measured: String, ok: bool) {
        self.targets.push((what.to_string(), measured, verdict(ok)));
    }

    fn header(&mut self) -> Result<()> {
        let sh = |c: &str| {
            Command::new("sh")
                .args(["-c", c])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default()
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo");
        let node = if self.node_dir.is_some() {
            sh("node --version")
        } else {
            "skipped".into()
        };
        let s = &self.sizes;
        let _ = write!(
            self.md,
            "# durably benchmarks ({} size)\n\n\
             - date: {}\n- machine: {} cores (`nproc`), CPU `{cpu}`, {mem} RAM, kernel {}\n\
             - load average at start: {}\n\
             - SQLite {} (bundled), rustc: {}, node {node}\n\
             - sizes: bulk {} lines, list databases {}, {} `enqueue` processes, claim at {} pending, \
             worker {} runs, purge {} runs, @coji/durably bulk {} lines\n\
             - command: `bench/run.sh --size {}{}{}`\n\n\
             Times are medians unless marked; \"process\" figures spawn the release binary \
             (stdout to /dev/null), \"in-process\" ones call the `durably` library crate in the \
             bench process. Floors are `examples/bench_floor.rs`. Ratios are durably ÷ reference \
             for rates (higher is better) and durably ÷ reference for times (lower is better).\n",
            s.name,
            durably::time::now(),
            sh("nproc"),
            sh("uname -r"),
            sh("cut -d' ' -f1-3 /proc/loadavg"),
            rusqlite::version(),
            sh("rustc --version"),
            fmt_n(s.runs),
            s.ls_sizes.iter().map(|n| fmt_n(*n)).collect::<Vec<_>>().join("/"),
            s.single,
            s.claim_sizes
                .iter()
                .map(|n| fmt_n(*n))
                .collect::<Vec<_>>()
                .join("/"),
            fmt_n(s.work),
            fmt_n(s.purge),
            fmt_n(s.node_bulk),
            s.name,
            if self.node_dir.is_none() { " --skip-node" } else { "" },
            if self.pg.is_some() { " --pg URL" } else { "" },
        );
        Ok(())
    }

    fn all(&mut self) -> Result<()> {
        let ndjson = self.db("runs.ndjson");
        if ["bulk", "single", "claim", "node"]
            .iter()
            .any(|w| self.wants(w))
        {
            self.log(&format!("generating {} NDJSON lines", self.sizes.runs));
            self.floor(&[
                "gen",
                ndjson.to_str().context("path")?,
                &self.sizes.runs.to_string(),
            ])?;
        }
        // The bulk database (all pending) is reused by `single` and `claim`.
        let bulk_db = self.db("bulk.db");
        if self.wants("bulk") || self.wants("single") || self.wants("claim") {
            self.bulk(&ndjson, &bulk_db)?;
        }
        if self.wants("single") {
            self.single(&bulk_db)?;
        }
        if self.wants("claim") {
            self.claim(&bulk_db)?;
        }
        self.remove_db(&bulk_db);
        if self.wants("ls") {
            self.ls()?;
        }
        if self.wants("work") {
            self.work()?;
        }
        if self.wants("purge") {
            self.purge()?;
        }
        if self.node_dir.is_some() && self.wants("node") {
            self.node_all(&ndjson)?;
        }
        if self.pg.is_some() && self.wants("pg") {
            self.pg_all()?;
        }
        // In the default set with --pg; alone (`--only fleet`) also on the SQLite file only.
        let asked = self
            .only
            .as_ref()
            .is_some_and(|o| o.iter().any(|x| x == "fleet"));
        if asked || (self.only.is_none() && self.pg.is_some()) {
            self.fleet()?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- 1. bulk enqueue
    fn bulk(&mut self, ndjson: &Path, bulk_db: &Path) -> Result<()> {
        let n = self.sizes.runs;
        self.log(&format!(
            "1. bulk enqueue of {n} runs: {BULK_ROUNDS} rounds alternating durably and the floor"
        ));
        let floor_db = self.db("floor.db");
        let big = self.bulk_rounds(ndjson, bulk_db, &floor_db, n, "pending")?;
        self.remove_db(&floor_db);
        // Peak memory does not grow with the input: the same at a tenth of it.
        let small_db = self.db("bulk-small.db");
        let small_nd = self.db("small.ndjson");
        let tenth = (n / 10).max(1000);
        self.floor(&[
            "gen",
            small_nd.to_str().context("path")?,
            &tenth.to_string(),
        ])?;
        let small = self.bulk_rounds(&small_nd, &small_db, &floor_db, tenth, "pending")?;
        self.remove_db(&small_db);
        self.remove_db(&floor_db);
        let f_lib = self.floor(&[
            "bulk",
            small_db.to_str().context("path")?,
            &tenth.to_string(),
            "pending-lib",
        ])?;
        self.remove_db(&small_db);
        let _ = std::fs::remove_file(&small_nd);

        let (d_rate, f_rate) = (n as f64 / big.d_secs, n as f64 / big.f_secs);
        let small_ratio = big_ratio(&small);
        let _ = write!(
            self.md,
            "\n## 1. Bulk enqueue: `enqueue-many` of {} NDJSON lines, 2 labels each\n\n\
             {BULK_ROUNDS} rounds, durably and the floor alternating (the first of a round alternates \
             too); each a whole process, wall time from spawn to exit and CPU (user + system) from \
             `getrusage`; medians of the rounds.\n\n\
             | | runs/s | wall | CPU | peak RSS |\n|---|---:|---:|---:|---:|\n\
             | durably `enqueue-many FILE` (one transaction) | {} | {:.2} s | {:.2} s | {:.1} MiB |\n\
             | floor: minimal rusqlite, same schema + indexes, one transaction | {} | {:.2} s | {:.2} s | |\n\
             | durably, {} lines | {} | {:.2} s | {:.2} s | {:.1} MiB |\n\
             | floor, {} lines | {} | {:.2} s | {:.2} s | |\n\
             | floor, {} lines, the library's indexes only (without our 3 of `sql/v1_extra.sql`) | {} | {:.2} s | | |\n\
             | **ratio durably ÷ floor**: runs/s (round by round), CPU floor ÷ durably | **{:.2}** ({}) | | {:.2} | |\n\
             | same at {} lines | {:.2} ({}) | | {:.2} | |\n",
            fmt_n(n),
            rate(d_rate),
            big.d_secs,
            big.d_cpu,
            big.rss_mib,
            rate(f_rate),
            big.f_secs,
            big.f_cpu,
            fmt_n(tenth),
            rate(tenth as f64 / small.d_secs),
            small.d_secs,
            small.d_cpu,
            small.rss_mib,
            fmt_n(tenth),
            rate(tenth as f64 / small.f_secs),
            small.f_secs,
            small.f_cpu,
            fmt_n(tenth),
            rate(f_lib["runs_per_s"]),
            f_lib["secs"],
            big_ratio(&big),
            big.pairs,
            big.f_cpu / big.d_cpu,
            fmt_n(tenth),
            small_ratio,
            small.pairs,
            small.f_cpu / small.d_cpu,
        );
        self.figures.insert("bulk_rate".into(), d_rate);
        self.target(
            "bulk enqueue ≥ 90% of the floor (issue 16)",
            format!(
                "{:.0}% ({} vs {} runs/s; CPU {:.0}%)",
                100.0 * d_rate / f_rate,
                rate(d_rate),
                rate(f_rate),
                100.0 * big.f_cpu / big.d_cpu
            ),
            d_rate >= 0.9 * f_rate,
        );
        self.target(
            "bulk enqueue ≥ 100,000 runs/s (aim)",
            format!("{} runs/s", rate(d_rate)),
            d_rate >= 100_000.0,
        );
        let (rss, rss_small) = (big.rss_mib, small.rss_mib);
        self.target(
            "bulk enqueue peak RSS ≤ 64 MiB, flat in the input size",
            format!(
                "{rss:.1} MiB at {}, {rss_small:.1} MiB at {}",
                fmt_n(n),
                fmt_n(tenth)
            ),
            rss <= 64.0,
        );
        Ok(())
    }

    /// [`BULK_ROUNDS`] rounds of `durably enqueue-many` of `nd` into `db` and of the floor
    /// into `floor_db`, alternating which goes first, each a whole process; `db` is left as the
    /// last round made it.
    fn bulk_rounds(
        &self,
        nd: &Path,
        db: &Path,
        floor_db: &Path,
        n: u64,
        mode: &str,
    ) -> Result<BulkRounds> {
        let mut durably = vec!["peak".to_string(), "--".to_string()];
        durably.extend(self.durably_cmd(db, &["enqueue-many", nd.to_str().context("path")?]));
        let floor = vec![
            "peak".to_string(),
            "--".to_string(),
            self.floor.display().to_string(),
            "bulk".to_string(),
            floor_db.display().to_string(),
            n.to_string(),
            mode.to_string(),
        ];
        let (mut d, mut f) = (Vec::new(), Vec::new());
        for round in 0..BULK_ROUNDS {
            self.remove_db(db);
            self.remove_db(floor_db);
            let one = |cmd: &[String]| -> Result<HashMap<String, f64>> {
                Ok(kv(self.output(Command::new(&self.floor).args(cmd))?.trim()))
            };
            if round % 2 == 0 {
                d.push(one(&durably)?);
                f.push(one(&floor)?);
            } else {
                f.push(one(&floor)?);
                d.push(one(&durably)?);
            }
        }
        let med = |v: &[HashMap<String, f64>], k: &str| median(v.iter().map(|m| m[k]).collect());
        let pairs: Vec<String> = d
            .iter()
            .zip(&f)
            .map(|(d, f)| format!("{:.2}", f["secs"] / d["secs"]))
            .collect();
        Ok(BulkRounds {
            d_secs: med(&d, "secs"),
            d_cpu: med(&d, "cpu_secs"),
            f_secs: med(&f, "secs"),
            f_cpu: med(&f, "cpu_secs"),
            rss_mib: d.iter().map(|m| m["maxrss_kib"]).fold(0.0, f64::max) / 1024.0,
            pairs: pairs.join(", "),
        })
    }

    // ---------------------------------------------------------------- 2. single enqueue
    fn single(&mut self, bulk_db: &Path) -> Result<()> {
        let n = self.sizes.single;
        self.log(&format!(
            "2. {n} single enqueue processes, interleaved with the floors"
        ));
        let dbs = bulk_db.display().to_string();
        let cmds = vec![
            self.durably_cmd(
                bulk_db,
                &[
                    "enqueue",
                    "--job",
                    "email",
                    "--input",
                    "{\"n\":1}",
                    "--label",
                    "tenant=t1",
                    "--label",
                    "kind=k1",
                ],
            ),
            vec![self.floor.display().to_string(), "one".into(), dbs.clone()],
            vec![
                self.floor.display().to_string(),
                "one".into(),
                dbs,
                "close".into(),
            ],
            vec!["true".to_string()],
        ];
        let shell_db = self.db("shell.db");
        let shells = self.shell_commands(bulk_db, &shell_db);
        let has_shell = !shells.is_empty();
        let mut cmds = cmds;
        cmds.extend(shells);
        let r = self.time_procs(n, &cmds)?;
        self.remove_db(&shell_db);
        // In-process: the same enqueue through the library, one transaction each.
        let inproc = self.inproc_enqueue(bulk_db, n.min(1000))?;
        let (d, f, fc, t) = (&r[0], &r[1], &r[2], &r[3]);
        let _ = write!(
            self.md,
            "\n## 2. Single enqueue: {n} sequential processes into the {}-run database\n\n\
             | | median | p99 | CPU (user+sys) median |\n|---|---:|---:|---:|\n\
             | durably `enqueue --job … --input … --label ×2` (process) | {} | {} | {} |\n\
             | floor: open, pragmas, BEGIN IMMEDIATE, 1 run + 2 label rows, COMMIT, exit without closing | {} | {} | {} |\n\
             | floor, closing the connection (checkpoints and deletes the WAL, as durably does) | {} | {} | {} |\n\
             | spawning `true` | {} | {} | {} |\n\
             | durably in-process: `db::write(enqueue)` | {} | {} | |\n\
             | **ratio durably ÷ floor (process)** | **{:.2}** | {:.2} | {:.2} |\n",
            fmt_n(self.sizes.runs),
            msf(d["median_ms"]),
            msf(d["p99_ms"]),
            msf(d["cpu_median_ms"]),
            msf(f["median_ms"]),
            msf(f["p99_ms"]),
            msf(f["cpu_median_ms"]),
            msf(fc["median_ms"]),
            msf(fc["p99_ms"]),
            msf(fc["cpu_median_ms"]),
            msf(t["median_ms"]),
            msf(t["p99_ms"]),
            msf(t["cpu_median_ms"]),
            msf(inproc.0),
            msf(inproc.1),
            d["median_ms"] / f["median_ms"],
            d["p99_ms"] / f["p99_ms"],
            d["cpu_median_ms"] / f["cpu_median_ms"],
        );
        if has_shell {
            self.shell_report(d, &r[4], &r[5]);
        }
        self.figures
            .insert("enqueue_proc_ms".into(), d["median_ms"]);
        self.figures.insert("enqueue_inproc_ms".into(), inproc.0);
        self.target(
            "single enqueue ≤ 1.5× the floor process",
            format!(
                "{:.2}× ({} vs {})",
                d["median_ms"] / f["median_ms"],
                msf(d["median_ms"]),
                msf(f["median_ms"])
            ),
            d["median_ms"] <= 1.5 * f["median_ms"],
        );
        Ok(())
    }

    /// With `sqlite3` on PATH, the shell's two commands of section 2: one row into a one-table
    /// WAL file at `shell_db` (made here), and an enqueue's own rows into `bulk_db`; none
    /// without it.
    fn shell_commands(&self, bulk_db: &Path, shell_db: &Path) -> Vec<Vec<String>> {
        // The one-row insert: what any process that opens a database, commits once and
        // closes costs (issue 16: enqueue ≤ 1.2× it).
        let made = Command::new("sqlite3")
            .args(["-init", "/dev/null"])
            .arg(shell_db)
            .arg("PRAGMA journal_mode=WAL; CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)")
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success());
        if !made {
            self.log("sqlite3 not found: the shell's inserts are left out");
            return Vec::new();
        }
        let shell = |db: &Path, sql: &str| {
            vec![
                "sqlite3".to_string(),
                "-init".into(),
                "/dev/null".into(),
                db.display().to_string(),
                sql.to_string(),
            ]
        };
        // And the shell doing durably's work: the same run and label rows in one
        // BEGIN IMMEDIATE transaction into the same database, synchronous=FULL.
        vec![
            shell(shell_db, "INSERT INTO t(b) VALUES ('x')"),
            shell(bulk_db, SHELL_ENQUEUE),
        ]
    }

    /// The rows and the target of section 2 for the shell's two commands.
    fn shell_report(
        &mut self,
        d: &HashMap<String, f64>,
        sh: &HashMap<String, f64>,
        same: &HashMap<String, f64>,
    ) {
        let _ = write!(
            self.md,
            "| the `sqlite3` shell: one-row insert into a one-table WAL file (opens, commits, closes) | {} | {} | {} |\n\
             | **ratio durably ÷ `sqlite3` shell** | **{:.2}** | {:.2} | {:.2} |\n\
             | the `sqlite3` shell: the same run + 2 label rows into the same database, BEGIN IMMEDIATE, synchronous=FULL | {} | {} | {} |\n\
             | **ratio durably ÷ the shell doing the same** | **{:.2}** | {:.2} | {:.2} |\n",
            msf(sh["median_ms"]),
            msf(sh["p99_ms"]),
            msf(sh["cpu_median_ms"]),
            d["median_ms"] / sh["median_ms"],
            d["p99_ms"] / sh["p99_ms"],
            d["cpu_median_ms"] / sh["cpu_median_ms"],
            msf(same["median_ms"]),
            msf(same["p99_ms"]),
            msf(same["cpu_median_ms"]),
            d["median_ms"] / same["median_ms"],
            d["p99_ms"] / same["p99_ms"],
            d["cpu_median_ms"] / same["cpu_median_ms"],
        );
        self.target(
            "single enqueue ≤ 1.2× the `sqlite3` shell's one-row insert (issue 16)",
            format!(
                "{:.2}× wall ({} vs {}), {:.2}× CPU",
                d["median_ms"] / sh["median_ms"],
                msf(d["median_ms"]),
                msf(sh["median_ms"]),
                d["cpu_median_ms"] / sh["cpu_median_ms"]
            ),
            d["median_ms"] <= 1.2 * sh["median_ms"],
        );
    }

    fn open(&self, path: &Path, access: Access) -> Result<rusqlite::Connection> {
        let target = Target::Sqlite(path.to_path_buf());
        let opts = Options {
            target,
            busy_timeout: Duration::from_secs(30),
            default: false,
            max_size: None,
        };
        db::open(path, &opts, access).map(|(conn, _)| conn)
    }

    /// Median and p99 (ms) of `n` in-process enqueues, one transaction each.
    fn inproc_enqueue(&self, path: &Path, n: u64) -> Result<(f64, f64)> {
        use durably::store::sqlite::enqueue::enqueue;
        use durably::store::Clock;
        let mut conn = self.open(path, Access::Write)?;
        let spec = durably::model::RunSpec {
            job: "email".into(),
            input: "{\"n\":1}".into(),
            labels: vec![("tenant".into(), "t1".into()), ("kind".into(), "k1".into())],
            ..Default::default()
        };
        let mut clock = Clock::default();
        let mut samples = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let t = Instant::now();
            db::write(&mut conn, path, |tx| enqueue(tx, &spec, &mut clock))?;
            samples.push(t.elapsed().as_secs_f64() * 1e3);
        }
        samples.sort_by(f64::total_cmp);
        let p99 = samples[((samples.len() - 1) as f64 * 0.99).round() as usize];
        Ok((median(samples), p99))
    }

    // ---------------------------------------------------------------- 3. label listing
    fn ls(&mut self) -> Result<()> {
        let sizes = self.sizes.ls_sizes.clone();
        let top = *sizes.last().context("no ls sizes")?;
        let mut rows = String::new();
        let mut plans = String::new();
        let mut proc_at: HashMap<(String, u64), f64> = HashMap::new();
        let mut inproc_at: HashMap<(String, u64), f64> = HashMap::new();
        let mut json_at: HashMap<(String, u64), f64> = HashMap::new();
        for &size in &sizes {
            let path = self.db(&format!("ls-{size}.db"));
            self.log(&format!(
                "3. list: building a {size}-run database (mixed statuses)"
            ));
            self.floor(&[
                "bulk",
                path.to_str().context("path")?,
                &size.to_string(),
                "mixed",
            ])?;
            self.log(&format!("3. list: {size} runs"));
            let cmds: Vec<Vec<String>> = FILTERS
                .iter()
                .map(|f| {
                    let mut a: Vec<&str> = f.args.to_vec();
                    a.insert(0, "ls");
                    self.durably_cmd(&path, &a)
                })
                .collect();
            let procs = self.time_procs(self.sizes.ls_procs, &cmds)?;
            let conn = self.open(&path, Access::Read)?;
            for (f, p) in FILTERS.iter().zip(&procs) {
                let filter = f.filter();
                let matches = count_matches(&conn, f)?;
                let inproc = time_inproc(|| Ok(list::list(&conn, &filter)?.len()))?;
                let planning = time_inproc(|| Ok(list::plan(&conn, &filter)?.queries.len()))?;
                let strategy = list::plan(&conn, &filter)?.strategy;
                let json = if f.labels.is_empty() {
                    None
                } else {
                    let sql = f.json_sql();
                    let params = f.json_params();
                    Some(time_inproc(|| {
                        let mut stmt = conn.prepare_cached(&sql)?;
                        let rows = stmt
                            .query_map(rusqlite::params_from_iter(params.iter()), run_from_row)?
                            .collect::<rusqlite::Result<Vec<_>>>()?;
                        Ok(rows.len())
                    })?)
                };
                proc_at.insert((f.name.into(), size), p["median_ms"]);
                inproc_at.insert((f.name.into(), size), inproc.0);
                if let Some(j) = &json {
                    json_at.insert((f.name.into(), size), j.0);
                }
                let _ = writeln!(
                    rows,
                    "| {} | `{}` | {} | {} | {} | {} | {} ({}) | {} | {} |",
                    fmt_n(size),
                    f.args.join(" "),
                    matches,
                    msf(p["median_ms"]),
                    msf(p["p99_ms"]),
                    msf(inproc.0),
                    msf(planning.0),
                    strategy,
                    json.map_or("–".into(), |j| msf(j.0)),
                    json.map_or("–".into(), |j| format!("{:.0}×", j.0 / inproc.0)),
                );
                if size == top {
                    let mut a: Vec<&str> = f.args.to_vec();
                    a.insert(0, "ls");
                    a.push("--explain");
                    let cmd = self.durably_cmd(&path, &a);
                    let out = self.output(Command::new(&cmd[0]).args(&cmd[1..]))?;
                    let _ = write!(
                        plans,
                        "`durably ls {}`\n```\n{}```\n",
                        f.args.join(" "),
                        out
                    );
                }
            }
            drop(conn);
            if size == top && self.node_dir.is_some() && self.wants("node") {
                self.log("3. list: @coji/durably getRuns on the same database");
                let v = self.node(&["list", path.to_str().context("path")?, "21"])?;
                let mut nrows = String::new();
                for f in FILTERS {
                    let m = v[f.name]["median_ms"].as_f64().unwrap_or(f64::NAN);
                    let d = inproc_at[&(f.name.to_string(), size)];
                    let p = proc_at[&(f.name.to_string(), size)];
                    let _ = writeln!(
                        nrows,
                        "| `{}` | {} | {} | {} | {:.1}× | {:.1}× |",
                        f.args.join(" "),
                        msf(m),
                        msf(d),
                        msf(p),
                        m / d,
                        m / p
                    );
                }
                self.node_ls = nrows;
                let worst = FILTERS
                    .iter()
                    .map(|f| {
                        let m = v[f.name]["median_ms"].as_f64().unwrap_or(f64::NAN);
                        (m / inproc_at[&(f.name.to_string(), size)], f.name)
                    })
                    .fold((f64::INFINITY, ""), |a, b| if b.0 < a.0 { b } else { a });
                self.target(
                    "listing at least matching @coji/durably `getRuns` (both in-process)",
                    format!("getRuns ÷ durably ≥ {:.1}× (worst: {})", worst.0, worst.1),
                    worst.0 >= 1.0,
                );
            }
            self.remove_db(&path);
        }
        let _ = write!(
            self.md,
            "\n## 3. Label listing: first page (`--limit 50`), newest first\n\n\
             Databases built by the floor program with mixed statuses (70% completed, 10% failed, \
             5% cancelled, 10% pending, 5% leased), 10 tenants, 3 kinds, 3 jobs, `rare=x` on 1 run \
             in 10,000. \"JSON scan\" is the same query done with `json_extract(labels, '$.k') = ?` \
             over `durably_runs` (what @coji/durably did before `durably_run_labels`), on the same \
             database (with its indexes), in-process.\n\n\
             | runs | filter | matches | process median | process p99 | in-process | of which planning (strategy) | JSON scan | JSON ÷ durably |\n\
             |---:|---|---:|---:|---:|---:|---:|---:|---:|\n{rows}"
        );
        // Flatness: first page from the smallest to the largest database.
        let small = sizes[0];
        let mut flat = String::new();
        let mut worst_ratio: f64 = 0.0;
        let mut worst_proc: (f64, &str) = (0.0, "");
        for f in FILTERS {
            let a = inproc_at[&(f.name.to_string(), small)];
            let z = inproc_at[&(f.name.to_string(), top)];
            worst_ratio = worst_ratio.max(z / a);
            let p = proc_at[&(f.name.to_string(), top)];
            if p > worst_proc.0 {
                worst_proc = (p, f.name);
            }
            let _ = write!(flat, "{} {:.1}×, ", f.name, z / a);
        }
        let _ = write!(
            self.md,
            "\nIn-process first page at {} ÷ at {}: {}\n\n<details><summary>Query plans at {} (`ls --explain`)</summary>\n\n{plans}\n</details>\n",
            fmt_n(top),
            fmt_n(small),
            flat.trim_end_matches(", "),
            fmt_n(top)
        );
        if !self.node_ls.is_empty() {
            let _ = write!(
                self.md,
                "\n### @coji/durably `getRuns({{…, limit: 50}})` on the same {}-run database\n\n\
                 | filter | getRuns (in-process, libSQL) | durably in-process | durably process | getRuns ÷ in-process | getRuns ÷ process |\n\
                 |---|---:|---:|---:|---:|---:|\n{}",
                fmt_n(top),
                self.node_ls
            );
        }
        self.target(
            &format!(
                "`ls` first page ≤ 20 ms as a process at {} runs, every filter",
                fmt_n(top)
            ),
            format!("worst {} ({})", msf(worst_proc.0), worst_proc.1),
            worst_proc.0 <= 20.0,
        );
        let rare = ("rare".to_string(), top);
        if let (Some(j), Some(d)) = (json_at.get(&rare), inproc_at.get(&rare)) {
            self.target(
                "`ls --label rare=x` ≥ 100× faster than the JSON scan",
                format!("{:.0}× ({} vs {})", j / d, msf(*d), msf(*j)),
                j / d >= 100.0,
            );
        }
        self.target(
            &format!(
                "first page flat from {} to {} runs (in-process)",
                fmt_n(small),
                fmt_n(top)
            ),
            format!(
                "worst ratio {worst_ratio:.1}× ({})",
                flat.trim_end_matches(", ")
            ),
            worst_ratio <= 2.0,
        );
        Ok(())
    }

    // ---------------------------------------------------------------- 4. claim
    fn claim(&mut self, bulk_db: &Path) -> Result<()> {
        let cycles = self.sizes.claim_cycles;
        let sizes = self.sizes.claim_sizes.clone();
        let mut rows = String::new();
        let mut per: Vec<(u64, f64, f64)> = Vec::new();
        for &size in &sizes {
            // The bulk database holds `runs` pending runs; smaller sizes get their own, with
            // enough extra runs that `size` are still pending after both measurements.
            let own = size != self.sizes.runs || !bulk_db.exists();
            let path = if own {
                let p = self.db(&format!("claim-{size}.db"));
                let n = size + 2 * cycles;
                self.floor(&[
                    "bulk",
                    p.to_str().context("path")?,
                    &n.to_string(),
                    "pending",
                ])?;
                p
            } else {
                bulk_db.to_path_buf()
            };
            self.log(&format!(
                "4. claim: {cycles} claim+complete cycles at {size} pending"
            ));
            let d = self.inproc_claim(&path, cycles)?;
            if own {
                self.remove_db(&path);
            }
            let f_us = d.2;
            per.push((size, d.1, d.0 / f_us));
            let _ = writeln!(
                rows,
                "| {} | {} | {:.0} µs | {:.0} µs | {} | {:.0} µs | **{:.2}** |",
                fmt_n(size),
                rate(1e6 / d.0),
                d.0,
                d.1,
                rate(1e6 / f_us),
                f_us,
                d.0 / f_us
            );
        }
        let _ = write!(
            self.md,
            "\n## 4. Claim: in-process claim + complete cycles ({cycles} per size)\n\n\
             Each cycle is two `BEGIN IMMEDIATE` transactions through the library: \
             `store::sqlite::lease::claim` (the oldest eligible run, one `UPDATE … RETURNING`) and \
             `store::sqlite::lease::complete`. The floor is two bare `UPDATE … WHERE id = ?` commits with \
             the same pragmas on the same database, on a plain rusqlite connection, interleaved \
             one for one with the cycles (a cycle's cost is mostly its two fsyncs, whose latency \
             drifts with the disk's other work). \"claim statement\" is the `UPDATE … RETURNING` \
             alone, inside its transaction: the part that could grow with the pending runs.\n\n\
             | pending runs | cycles/s | per cycle | claim statement | floor cycles/s | floor per cycle | ratio to floor |\n\
             |---:|---:|---:|---:|---:|---:|---:|\n{rows}"
        );
        if let (Some(first), Some(last)) = (per.first(), per.last()) {
            let r = last.1 / first.1;
            let rf = last.2 / first.2;
            self.target(
                &format!(
                    "claim cost at {} pending within 1.5× of the cost at {}",
                    fmt_n(last.0),
                    fmt_n(first.0)
                ),
                format!(
                    "claim statement {r:.2}× ({:.0} µs vs {:.0} µs); cycle ÷ floor {:.2} vs {:.2}",
                    last.1, first.1, last.2, first.2
                ),
                r <= 1.5 && rf <= 1.5,
            );
        }
        Ok(())
    }

    /// Claim+complete cycles through the library, interleaved one for one with the floor's
    /// two bare commits on a plain rusqlite connection to the same file (so that the disk's
    /// changing fsync latency falls on both alike). Medians in µs: (durably cycle, claim
    /// statement alone, floor cycle).
    fn inproc_claim(&self, path: &Path, cycles: u64) -> Result<(f64, f64, f64)> {
        use durably::store::sqlite::lease;
        use durably::store::Jobs;
        let mut conn = self.open(path, Access::Write)?;
        let floor = rusqlite::Connection::open(path)?;
        floor.busy_timeout(Duration::from_secs(30))?;
        floor.pragma_update(None, "synchronous", "FULL")?;
        floor.pragma_update(None, "foreign_keys", "OFF")?;
        // The floor takes the newest pending runs, the claims the oldest: they never meet.
        let floor_ids: Vec<String> = floor
            .prepare(
                "SELECT id FROM durably_runs WHERE status = 'pending' \
                 ORDER BY created_at DESC, id DESC LIMIT ?1",
            )?
            .query_map([cycles as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if (floor_ids.len() as u64) < cycles {
            bail!("not enough pending runs for the floor");
        }
        let mut cycle = Vec::with_capacity(cycles as usize);
        let mut stmt = Vec::with_capacity(cycles as usize);
        let mut floor_cycle = Vec::with_capacity(cycles as usize);
        for id in &floor_ids {
            let t = Instant::now();
            let (run, took) = db::write(&mut conn, path, |tx| {
                let now = durably::time::now_ms();
                let s = Instant::now();
                let run = lease::claim(
                    tx,
                    &Jobs::All,
                    "bench",
                    &durably::time::format_ms(now),
                    &durably::time::format_ms(now + 30_000),
                )?;
                Ok((run, s.elapsed()))
            })?;
            let run = run.context("no pending run left to claim")?;
            stmt.push(took.as_secs_f64() * 1e6);
            let done = db::write(&mut conn, path, |tx| {
                lease::complete(
                    tx,
                    &run.id,
                    run.lease_generation,
                    Some("null"),
                    &durably::time::now(),
                )
            })?;
            if !done {
                bail!("complete lost the lease of {}", run.id);
            }
            cycle.push(t.elapsed().as_secs_f64() * 1e6);

            let t = Instant::now();
            let now = durably::time::now();
            floor.execute_batch("BEGIN IMMEDIATE")?;
            floor
                .prepare_cached(
                    "UPDATE durably_runs SET status = 'leased', lease_owner = 'floor', \
                     lease_expires_at = ?2, lease_generation = lease_generation + 1, \
                     started_at = ?2, updated_at = ?2 WHERE id = ?1",
                )?
                .execute(rusqlite::params![id, now])?;
            floor.execute_batch("COMMIT")?;
            floor.execute_batch("BEGIN IMMEDIATE")?;
            floor
                .prepare_cached(
                    "UPDATE durably_runs SET status = 'completed', output = 'null', \
                     lease_owner = NULL, lease_expires_at = NULL, completed_at = ?2, \
                     updated_at = ?2 WHERE id = ?1",
                )?
                .execute(rusqlite::params![id, now])?;
            floor.execute_batch("COMMIT")?;
            floor_cycle.push(t.elapsed().as_secs_f64() * 1e6);
        }
        Ok((median(cycle), median(stmt), median(floor_cycle)))
    }

    // ---------------------------------------------------------------- 5. worker throughput
    fn work(&mut self) -> Result<()> {
        let n = self.sizes.work;
        let mut rows = String::new();
        let mut rates = Vec::new();
        for c in [1u32, 2] {
            let path = self.db(&format!("work-{c}.db"));
            self.floor(&[
                "bulk",
                path.to_str().context("path")?,
                &n.to_string(),
                "pending",
            ])?;
            self.log(&format!(
                "5. durably work --until-idle --concurrency {c} over {n} runs"
            ));
            let cmd = self.durably_cmd(
                &path,
                &[
                    "work",
                    "--until-idle",
                    "--concurrency",
                    &c.to_string(),
                    "--",
                    "true",
                ],
            );
            let t = Instant::now();
            let out = Command::new(&cmd[0])
                .args(&cmd[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()?;
            let secs = t.elapsed().as_secs_f64();
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let _ = write!(
                    self.md,
                    "\n## 5. Worker throughput\n\nNot measured: `durably work` failed: {}\n",
                    err.lines().last().unwrap_or("").trim()
                );
                self.remove_db(&path);
                return Ok(());
            }
            let conn = self.open(&path, Access::Read)?;
            let completed: i64 = conn.query_row(
                "SELECT count(*) FROM durably_runs WHERE status = 'completed'",
                [],
                |r| r.get(0),
            )?;
            drop(conn);
            self.remove_db(&path);
            if completed as u64 != n {
                bail!("work --concurrency {c} completed {completed} of {n} runs");
            }
            let r = n as f64 / secs;
            rates.push(r);
            self.figures.insert(format!("work_c{c}"), r);
            let _ = writeln!(
                rows,
                "| durably `work --until-idle --concurrency {c} -- true` | {} | {secs:.1} s |",
                rate(r)
            );
        }
        let path = self.db("work-floor.db");
        self.floor(&[
            "bulk",
            path.to_str().context("path")?,
            &n.to_string(),
            "pending",
        ])?;
        self.log(&format!(
            "5. floor: spawn `true` {n} times + two commits each"
        ));
        let f = self.floor(&["spawn", path.to_str().context("path")?, &n.to_string()])?;
        self.remove_db(&path);
        let fr = f["runs_per_s"];
        let _ = write!(
            self.md,
            "\n## 5. Worker throughput: {} pending runs, no-op handler `true`\n\n\
             | | runs/s | wall |\n|---|---:|---:|\n{rows}\
             | floor: spawn `true` + two bare commits, one after the other | {} | {:.1} s |\n\
             | **ratio durably (concurrency 1) ÷ floor** | **{:.2}** | |\n\
             | ratio durably (concurrency 2) ÷ floor | {:.2} | |\n",
            fmt_n(n),
            rate(fr),
            f["secs"],
            rates[0] / fr,
            rates[1] / fr
        );
        self.target(
            "worker throughput ≥ 70% of the spawn + two commits floor",
            format!(
                "{:.0}% at concurrency 1, {:.0}% at 2 ({} / {} vs {} runs/s)",
                100.0 * rates[0] / fr,
                100.0 * rates[1] / fr,
                rate(rates[0]),
                rate(rates[1]),
                rate(fr)
            ),
            rates[0] >= 0.7 * fr,
        );
        Ok(())
    }

    // ---------------------------------------------------------------- 6. purge
    fn purge(&mut self) -> Result<()> {
        let n = self.sizes.purge;
        let path = self.db("purge.db");
        self.log(&format!("6. purge: building {n} completed runs"));
        self.floor(&[
            "bulk",
            path.to_str().context("path")?,
            &n.to_string(),
            "completed",
        ])?;
        let enqueue = self.durably_cmd(
            &path,
            &[
                "enqueue",
                "--job",
                "email",
                "--input",
                "{\"n\":1}",
                "--label",
                "tenant=t1",
            ],
        );
        // The enqueuer alone first, for its usual latency.
        let quiet = self.time_procs(100, std::slice::from_ref(&enqueue))?;
        self.log("6. purge: rm --status completed --older-than 0s beside an enqueue loop");
        let stop = self.tmp.join("stop-loop");
        let mut args = vec![
            "loop".to_string(),
            stop.display().to_string(),
            "--".to_string(),
        ];
        args.extend(enqueue.iter().cloned());
        let child = Command::new(&self.floor)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        std::thread::sleep(Duration::from_millis(300));
        let rm = self.durably_cmd(
            &path,
            &["rm", "--status", "completed", "--older-than", "0s"],
        );
        let t = Instant::now();
        let out = self.output(Command::new(&rm[0]).args(&rm[1..]));
        let secs = t.elapsed().as_secs_f64();
        std::fs::write(&stop, b"")?;
        let looped = child.wait_with_output()?;
        let out = out?;
        let l = kv(String::from_utf8_lossy(&looped.stdout).trim());
        let deleted: u64 = out
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .ok_or_else(|| anyhow!("rm printed {out:?}"))?;
        self.remove_db(&path);
        if deleted != n {
            bail!("rm deleted {deleted} of {n} runs");
        }
        let q = &quiet[0];
        let _ = write!(
            self.md,
            "\n## 6. Purge: `rm --status completed --older-than 0s` of {} completed runs beside an `enqueue` loop\n\n\
             | | figure |\n|---|---:|\n\
             | purge rate | {} runs/s ({secs:.1} s) |\n\
             | enqueues during the purge | {:.0} |\n\
             | enqueue wall time during the purge: median / p99 / **worst** | {} / {} / **{}** |\n\
             | enqueue wall time alone: median / p99 / worst | {} / {} / {} |\n",
            fmt_n(n),
            rate(n as f64 / secs),
            l["n"],
            msf(l["median_ms"]),
            msf(l["p99_ms"]),
            msf(l["max_ms"]),
            msf(q["median_ms"]),
            msf(q["p99_ms"]),
            msf(q["max_ms"]),
        );
        self.target(
            "purge: a concurrent writer waits at most one batch (≤ ~50 ms) more than alone",
            format!(
                "worst enqueue {} (alone: {})",
                msf(l["max_ms"]),
                msf(q["max_ms"])
            ),
            l["max_ms"] <= q["max_ms"] + 50.0,
        );
        Ok(())
    }

    // ---------------------------------------------------------------- 7. @coji/durably
    fn node_all(&mut self, ndjson: &Path) -> Result<()> {
        let n = self.sizes.node_bulk;
        let nd = self.db("node.ndjson");
        {
            use std::io::BufRead;
            let r = std::io::BufReader::new(std::fs::File::open(ndjson)?);
            let mut w = std::io::BufWriter::new(std::fs::File::create(&nd)?);
            for line in r.lines().take(n as usize) {
                writeln!(w, "{}", line?)?;
            }
            w.flush()?;
        }
        let nds = nd.to_str().context("path")?;
        self.log(&format!(
            "7. @coji/durably: bulk of {n} lines, and durably on the same lines"
        ));
        let d_db = self.db("node-durably.db");
        let mut cmd = vec!["peak".to_string(), "--".to_string()];
        cmd.extend(self.durably_cmd(&d_db, &["enqueue-many", nds]));
        let d = kv(self.output(Command::new(&self.floor).args(&cmd))?.trim());
        let n_db = self.db("node-lib.db");
        let nb = self.node(&["bulk", n_db.to_str().context("path")?, nds])?;
        let d_rate = n as f64 / d["secs"];
        let n_rate = nb["runs_per_s"].as_f64().unwrap_or(f64::NAN);

        self.log("7. @coji/durably: trigger() latency");
        let nt = self.node(&[
            "trigger",
            n_db.to_str().context("path")?,
            &self.sizes.node_trigger.to_string(),
        ])?;
        let enqueue = self.durably_cmd(
            &d_db,
            &[
                "enqueue",
                "--job",
                "email",
                "--input",
                "{\"n\":1}",
                "--label",
                "tenant=t1",
                "--label",
                "kind=k1",
            ],
        );
        let dp = self.time_procs(
            self.sizes.node_trigger.min(300),
            std::slice::from_ref(&enqueue),
        )?;
        let di = self.inproc_enqueue(&d_db, self.sizes.node_trigger)?;
        self.remove_db(&d_db);
        self.remove_db(&n_db);
        let _ = std::fs::remove_file(&nd);
        let nt_med = nt["median_ms"].as_f64().unwrap_or(f64::NAN);
        let nt_p99 = nt["p99_ms"].as_f64().unwrap_or(f64::NAN);

        self.log(&format!(
            "7. @coji/durably: processUntilIdle over {} runs",
            self.sizes.node_work
        ));
        let w_db = self.db("node-work.db");
        let nw = self.node(&[
            "work",
            w_db.to_str().context("path")?,
            &self.sizes.node_work.to_string(),
        ])?;
        self.remove_db(&w_db);
        let nw_rate = nw["runs_per_s"].as_f64().unwrap_or(f64::NAN);

        let mut t = String::new();
        let _ = writeln!(
            t,
            "| bulk enqueue, {} lines (runs/s; `enqueue-many` vs `batchTrigger` ×1,000) | {} | {} | **{:.1}×** |",
            fmt_n(n),
            rate(d_rate),
            rate(n_rate),
            d_rate / n_rate
        );
        let _ = writeln!(
            t,
            "| bulk enqueue peak RSS | {:.1} MiB | {:.1} MiB (node process) | |",
            d["maxrss_kib"] / 1024.0,
            nb["maxrss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0
        );
        let _ = writeln!(
            t,
            "| single enqueue, in-process median / p99 (`db::write(enqueue)` vs `trigger()`) | {} / {} | {} / {} | **{:.1}×** faster |",
            msf(di.0),
            msf(di.1),
            msf(nt_med),
            msf(nt_p99),
            nt_med / di.0
        );
        let _ = writeln!(
            t,
            "| single enqueue, durably as a whole process vs in-process `trigger()` | {} | {} | {:.1}× |",
            msf(dp[0]["median_ms"]),
            msf(nt_med),
            nt_med / dp[0]["median_ms"]
        );
        let work = self.figures.get("work_c1").copied();
        let _ = writeln!(
            t,
            "| worker, runs/s (`work --until-idle -- true`, a process per run, vs `processUntilIdle`, one in-process step per run) | {} | {} | {} |",
            work.map_or("–".into(), rate),
            rate(nw_rate),
            work.map_or("–".into(), |w| format!("**{:.1}×**", w / nw_rate))
        );
        let _ = write!(
            self.md,
            "\n## 7. @coji/durably 0.15.0 (node, libSQL dialect, WAL, synchronous=FULL) on the same machine\n\n\
             | workload | durably | @coji/durably | durably advantage |\n|---|---:|---:|---:|\n{t}"
        );
        self.target(
            "bulk enqueue ahead of @coji/durably by a clear ratio",
            format!("{:.1}×", d_rate / n_rate),
            d_rate >= 2.0 * n_rate,
        );
        self.target(
            "single enqueue at least matching `trigger()` (in-process)",
            format!("{} vs {}", msf(di.0), msf(nt_med)),
            di.0 <= nt_med,
        );
        if let Some(w) = work {
            self.target(
                "worker at least matching `processUntilIdle`",
                format!("{} vs {} runs/s", rate(w), rate(nw_rate)),
                w >= nw_rate,
            );
        }
        Ok(())
    }

    // ---------------------------------------------------------------- 8. PostgreSQL
    /// The server URL given with `--pg`, with its database name replaced by `db`.
    fn pg_url(&self, db: &str) -> Result<String> {
        let url = self.pg.as_deref().context("no --pg URL")?;
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (url, String::new()),
        };
        let after = base.find("://").context("--pg: not a postgres:// URL")? + 3;
        let host_end = base[after..].find('/').map_or(base.len(), |i| after + i);
        Ok(format!("{}/{db}{query}", &base[..host_end]))
    }

    /// The server as `host:port`, for the report and messages (never the user or password).
    fn pg_shown(&self) -> String {
        let url = self.pg.as_deref().unwrap_or("");
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        rest.split(['/', '?']).next().unwrap_or("").to_string()
    }

    fn pg_admin(&self) -> Result<postgres::Client> {
        let url = self.pg.as_deref().context("no --pg URL")?;
        let shown = self.pg_shown();
        postgres::Client::connect(url, postgres::NoTls)
            .with_context(|| format!("cannot connect to {shown}"))
    }

    /// A fresh, empty database `durably_bench_NAME` on the server: its URL.
    fn pg_create(&self, name: &str) -> Result<String> {
        let db = format!("durably_bench_{name}");
        let mut c = self.pg_admin()?;
        // Two statements: neither may run inside the implicit transaction of a batch.
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .and_then(|()| c.batch_execute(&format!("CREATE DATABASE {db}")))
            .with_context(|| format!("cannot create database {db}"))?;
        self.pg_url(&db)
    }

    fn pg_drop(&self, name: &str) {
        if let Ok(mut c) = self.pg_admin() {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS durably_bench_{name} WITH (FORCE)"
            ));
        }
    }

    /// A fresh database with the schema `durably` creates (an empty `enqueue-many`).
    fn pg_create_schema(&self, name: &str) -> Result<String> {
        let url = self.pg_create(name)?;
        let empty = self.db("empty.ndjson");
        std::fs::write(&empty, b"")?;
        let cmd = self.durably_cmd(
            Path::new(&url),
            &["enqueue-many", empty.to_str().context("path")?],
        );
        self.output(Command::new(&cmd[0]).args(&cmd[1..]))?;
        Ok(url)
    }

    /// A fresh database holding `n` runs written by the floor's `COPY` (`pending` or `mixed`).
    fn pg_filled(&self, name: &str, n: u64, mode: &str) -> Result<String> {
        let url = self.pg_create_schema(name)?;
        self.floor(&["pg-copy", &url, &n.to_string(), mode])?;
        Ok(url)
    }

    fn pg_count(&self, url: &str, sql: &str) -> Result<i64> {
        let mut c = postgres::Client::connect(url, postgres::NoTls)?;
        Ok(c.query_one(sql, &[])?.get(0))
    }

    fn pg_open(&self, url: &str, access: Access) -> Result<durably::store::pg::Postgres> {
        let Target::Postgres(pg) = Target::parse(PathBuf::from(url))? else {
            bail!("{url} is not a PostgreSQL URL");
        };
        let opts = Options {
            target: Target::Postgres(pg.clone()),
            busy_timeout: Duration::from_secs(30),
            default: false,
            max_size: None,
        };
        durably::store::pg::Postgres::open(&pg, &opts, access)
    }

    fn pg_all(&mut self) -> Result<()> {
        let mut c = self.pg_admin()?;
        let version: String = c.query_one("SHOW server_version", &[])?.get(0);
        drop(c);
        let s = self.sizes.clone();
        let _ = write!(
            self.md,
            "\n# PostgreSQL\n\n\
             - server: PostgreSQL {version}, `{}` (a fresh database per workload, created and \
             dropped by the bench)\n\
             - sizes: bulk {} lines (@coji/durably {}), list databases {}, claim at {} pending \
             ({} cycles), worker {} runs (@coji/durably {})\n\
             - floors: `bench_floor pg-copy` (one transaction, a `COPY … FROM STDIN` of the runs \
             and one of their label rows, into the schema `durably` created); the claim floor is \
             two bare `UPDATE … WHERE id = $1` commits on a plain `postgres` client\n",
            self.pg_shown(),
            fmt_n(s.pg_runs),
            fmt_n(s.pg_node_bulk),
            s.pg_ls_sizes
                .iter()
                .map(|n| fmt_n(*n))
                .collect::<Vec<_>>()
                .join("/"),
            s.pg_claim_sizes
                .iter()
                .map(|n| fmt_n(*n))
                .collect::<Vec<_>>()
                .join("/"),
            s.pg_claim_cycles,
            fmt_n(s.pg_work),
            fmt_n(s.pg_node_work),
        );
        self.pg_bulk()?;
        self.pg_ls()?;
        self.pg_claim()?;
        self.pg_work()?;
        Ok(())
    }

    fn pg_bulk(&mut self) -> Result<()> {
        let n = self.sizes.pg_runs;
        let nd = self.db("pg.ndjson");
        let nds = nd.to_str().context("path")?.to_string();
        self.floor(&["gen", &nds, &n.to_string()])?;
        self.log(&format!("8.1 PostgreSQL bulk enqueue of {n} runs"));
        let url = self.pg_create("bulk")?;
        let mut cmd = vec!["peak".to_string(), "--".to_string()];
        cmd.extend(self.durably_cmd(Path::new(&url), &["enqueue-many", &nds]));
        let d = kv(self.output(Command::new(&self.floor).args(&cmd))?.trim());
        let got = self.pg_count(&url, "SELECT count(*) FROM durably_runs")?;
        self.pg_drop("bulk");
        if got as u64 != n {
            bail!("enqueue-many on PostgreSQL wrote {got} of {n} runs");
        }
        self.log(&format!("8.1 PostgreSQL floor: COPY of {n} runs"));
        let url = self.pg_create_schema("bulk_floor")?;
        let f = self.floor(&["pg-copy", &url, &n.to_string(), "pending"])?;
        self.pg_drop("bulk_floor");
        let d_rate = n as f64 / d["secs"];
        let f_rate = f["runs_per_s"];
        let mut lib_rows = String::new();
        let mut lib = None;
        if self.node_dir.is_some() {
            let m = self.sizes.pg_node_bulk;
            let sub = self.db("pg-node.ndjson");
            {
                use std::io::BufRead;
                let r = std::io::BufReader::new(std::fs::File::open(&nd)?);
                let mut w = std::io::BufWriter::new(std::fs::File::create(&sub)?);
                for line in r.lines().take(m as usize) {
                    writeln!(w, "{}", line?)?;
                }
                w.flush()?;
            }
            let subs = sub.to_str().context("path")?.to_string();
            self.log(&format!(
                "8.1 PostgreSQL: @coji/durably batchTrigger of {m} lines, durably on the same"
            ));
            let url = self.pg_create("bulk_node_d")?;
            let mut cmd = vec!["peak".to_string(), "--".to_string()];
            cmd.extend(self.durably_cmd(Path::new(&url), &["enqueue-many", &subs]));
            let ds = kv(self.output(Command::new(&self.floor).args(&cmd))?.trim());
            self.pg_drop("bulk_node_d");
            let url = self.pg_create("bulk_node")?;
            let nb = self.node(&["pg-bulk", &url, &subs])?;
            self.pg_drop("bulk_node");
            let _ = std::fs::remove_file(&sub);
            let ds_rate = m as f64 / ds["secs"];
            let nb_rate = nb["runs_per_s"].as_f64().unwrap_or(f64::NAN);
            let _ = write!(
                lib_rows,
                "| durably `enqueue-many`, {} lines | {} | {:.2} s | {:.1} MiB |\n\
                 | @coji/durably `batchTrigger` ×1,000, {} lines (node, `pg` pool of 4) | {} | {:.2} s | {:.1} MiB (node) |\n\
                 | **ratio durably ÷ @coji/durably** | **{:.1}×** | | |\n",
                fmt_n(m),
                rate(ds_rate),
                ds["secs"],
                ds["maxrss_kib"] / 1024.0,
                fmt_n(m),
                rate(nb_rate),
                nb["secs"].as_f64().unwrap_or(f64::NAN),
                nb["maxrss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
                ds_rate / nb_rate
            );
            lib = Some((ds_rate, nb_rate));
        }
        let _ = std::fs::remove_file(&nd);
        let _ = write!(
            self.md,
            "\n## 8.1 PostgreSQL bulk enqueue: `enqueue-many` of {} NDJSON lines, 2 labels each\n\n\
             | | runs/s | wall | peak RSS |\n|---|---:|---:|---:|\n\
             | durably `enqueue-many FILE` (one transaction) | {} | {:.1} s | {:.1} MiB |\n\
             | floor: `COPY` of the same runs and label rows, one transaction | {} | {:.1} s | |\n\
             | **ratio durably ÷ floor** | **{:.2}** | | |\n{lib_rows}",
            fmt_n(n),
            rate(d_rate),
            d["secs"],
            d["maxrss_kib"] / 1024.0,
            rate(f_rate),
            f["secs"],
            d_rate / f_rate,
        );
        self.target(
            "PostgreSQL: bulk enqueue ≥ 50% of the `COPY` floor",
            format!(
                "{:.0}% ({} vs {} runs/s)",
                100.0 * d_rate / f_rate,
                rate(d_rate),
                rate(f_rate)
            ),
            d_rate >= 0.5 * f_rate,
        );
        if let Some((ds, nb)) = lib {
            self.target(
                "PostgreSQL: bulk enqueue ahead of @coji/durably `batchTrigger`",
                format!("{:.1}× ({} vs {} runs/s)", ds / nb, rate(ds), rate(nb)),
                ds >= nb,
            );
        }
        Ok(())
    }

    fn pg_ls(&mut self) -> Result<()> {
        let sizes = self.sizes.pg_ls_sizes.clone();
        let top = *sizes.last().context("no ls sizes")?;
        let mut rows = String::new();
        let mut plans = String::new();
        let mut inproc_at: HashMap<(String, u64), f64> = HashMap::new();
        let mut proc_at: HashMap<(String, u64), f64> = HashMap::new();
        let mut node_rows = String::new();
        let mut node_worst: Option<(f64, &str)> = None;
        for &size in &sizes {
            self.log(&format!(
                "8.2 PostgreSQL list: building {size} runs (mixed)"
            ));
            let name = format!("ls_{size}");
            let url = self.pg_filled(&name, size, "mixed")?;
            let cmds: Vec<Vec<String>> = FILTERS
                .iter()
                .map(|f| {
                    let mut a: Vec<&str> = f.args.to_vec();
                    a.insert(0, "ls");
                    self.durably_cmd(Path::new(&url), &a)
                })
                .collect();
            let procs = self.time_procs(self.sizes.ls_procs, &cmds)?;
            let mut store = self.pg_open(&url, Access::Read)?;
            for (f, p) in FILTERS.iter().zip(&procs) {
                let inproc = time_inproc(|| Ok(store.list_page(None, f.filter(), false)?.0.len()))?;
                inproc_at.insert((f.name.into(), size), inproc.0);
                proc_at.insert((f.name.into(), size), p["median_ms"]);
                let _ = writeln!(
                    rows,
                    "| {} | `{}` | {} | {} | {} |",
                    fmt_n(size),
                    f.args.join(" "),
                    msf(p["median_ms"]),
                    msf(p["p99_ms"]),
                    msf(inproc.0),
                );
                if size == top {
                    let mut a: Vec<&str> = f.args.to_vec();
                    a.insert(0, "ls");
                    a.push("--explain");
                    let cmd = self.durably_cmd(Path::new(&url), &a);
                    let out = self.output(Command::new(&cmd[0]).args(&cmd[1..]))?;
                    let _ = write!(
                        plans,
                        "`durably ls {}`\n```\n{}```\n",
                        f.args.join(" "),
                        out
                    );
                }
            }
            drop(store);
            if size == top && self.node_dir.is_some() {
                self.log("8.2 PostgreSQL list: @coji/durably getRuns on the same database");
                let v = self.node(&["pg-list", &url, "21"])?;
                for f in FILTERS {
                    let m = v[f.name]["median_ms"].as_f64().unwrap_or(f64::NAN);
                    let d = inproc_at[&(f.name.to_string(), size)];
                    let p = proc_at[&(f.name.to_string(), size)];
                    let _ = writeln!(
                        node_rows,
                        "| `{}` | {} | {} | {} | {:.1}× |",
                        f.args.join(" "),
                        msf(m),
                        msf(d),
                        msf(p),
                        m / d
                    );
                    if node_worst.is_none_or(|w| m / d < w.0) {
                        node_worst = Some((m / d, f.name));
                    }
                }
            }
            self.pg_drop(&name);
        }
        let small = sizes[0];
        let mut flat = String::new();
        let mut worst_ratio: f64 = 0.0;
        for f in FILTERS {
            let a = inproc_at[&(f.name.to_string(), small)];
            let z = inproc_at[&(f.name.to_string(), top)];
            worst_ratio = worst_ratio.max(z / a);
            let _ = write!(flat, "{} {:.1}×, ", f.name, z / a);
        }
        let _ = write!(
            self.md,
            "\n## 8.2 PostgreSQL label listing: first page (`--limit 50`), newest first\n\n\
             The same data set as section 3 (mixed statuses, `rare=x` on 1 run in 10,000), \
             written by the floor's `COPY`, then `ANALYZE`. In-process is \
             `store::pg::Postgres::list_page` on one open connection.\n\n\
             | runs | filter | process median | process p99 | in-process |\n\
             |---:|---|---:|---:|---:|\n{rows}\n\
             In-process first page at {} ÷ at {}: {}\n\n<details><summary>PostgreSQL query plans at {} (`ls --explain`)</summary>\n\n{plans}\n</details>\n",
            fmt_n(top),
            fmt_n(small),
            flat.trim_end_matches(", "),
            fmt_n(top)
        );
        if !node_rows.is_empty() {
            let _ = write!(
                self.md,
                "\n### @coji/durably `getRuns({{…, limit: 50}})` on the same {}-run PostgreSQL database\n\n\
                 | filter | getRuns (in-process, `pg`) | durably in-process | durably process | getRuns ÷ in-process |\n\
                 |---|---:|---:|---:|---:|\n{node_rows}",
                fmt_n(top)
            );
        }
        self.target(
            &format!(
                "PostgreSQL: first page flat from {} to {} runs (in-process, ≤ 2×)",
                fmt_n(small),
                fmt_n(top)
            ),
            format!(
                "worst ratio {worst_ratio:.1}× ({})",
                flat.trim_end_matches(", ")
            ),
            worst_ratio <= 2.0,
        );
        if let Some((r, name)) = node_worst {
            self.target(
                "PostgreSQL: listing at least matching @coji/durably `getRuns` (in-process)",
                format!("getRuns ÷ durably ≥ {r:.1}× (worst: {name})"),
                r >= 1.0,
            );
        }
        Ok(())
    }

    fn pg_claim(&mut self) -> Result<()> {
        let cycles = self.sizes.pg_claim_cycles;
        let sizes = self.sizes.pg_claim_sizes.clone();
        let mut rows = String::new();
        let mut per: Vec<(u64, f64, f64)> = Vec::new();
        for &size in &sizes {
            let name = format!("claim_{size}");
            self.log(&format!("8.3 PostgreSQL claim: building {size} pending"));
            let url = self.pg_filled(&name, size + 2 * cycles, "pending")?;
            self.log(&format!(
                "8.3 PostgreSQL claim: {cycles} claim+complete cycles at {size} pending"
            ));
            let d = self.pg_inproc_claim(&url, cycles)?;
            self.pg_drop(&name);
            per.push((size, d.0, d.0 / d.1));
            let _ = writeln!(
                rows,
                "| {} | {} | {} | {} | {} | **{:.2}** |",
                fmt_n(size),
                rate(1e6 / d.0),
                msf(d.0 / 1e3),
                rate(1e6 / d.1),
                msf(d.1 / 1e3),
                d.0 / d.1
            );
        }
        let _ = write!(
            self.md,
            "\n## 8.3 PostgreSQL claim: in-process claim + complete cycles ({cycles} per size)\n\n\
             Each cycle is `store::pg::Postgres::claim` (its own transaction) then `complete` \
             (another), on one connection. The floor is two bare `UPDATE … WHERE id = $1` \
             commits on a plain `postgres` client to the same database, interleaved one for one \
             with the cycles, on the newest pending runs (the claims take the oldest).\n\n\
             | pending runs | cycles/s | per cycle | floor cycles/s | floor per cycle | ratio to floor |\n\
             |---:|---:|---:|---:|---:|---:|\n{rows}"
        );
        if let (Some(first), Some(last)) = (per.first(), per.last()) {
            let r = last.1 / first.1;
            self.target(
                &format!(
                    "PostgreSQL: claim cost at {} pending within 1.5× of the cost at {}",
                    fmt_n(last.0),
                    fmt_n(first.0)
                ),
                format!(
                    "cycle {r:.2}× ({} vs {}); cycle ÷ floor {:.2} vs {:.2}",
                    msf(last.1 / 1e3),
                    msf(first.1 / 1e3),
                    last.2,
                    first.2
                ),
                r <= 1.5,
            );
        }
        Ok(())
    }

    /// Claim+complete cycles through the library interleaved with the floor's two bare commits:
    /// medians in µs (durably cycle, floor cycle).
    fn pg_inproc_claim(&self, url: &str, cycles: u64) -> Result<(f64, f64)> {
        use durably::store::Jobs;
        let mut store = self.pg_open(url, Access::Write)?;
        let mut floor = postgres::Client::connect(url, postgres::NoTls)?;
        let ids: Vec<String> = floor
            .query(
                "SELECT id FROM durably_runs WHERE status = 'pending' \
                 ORDER BY created_at DESC, id DESC LIMIT $1",
                &[&(cycles as i64)],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if (ids.len() as u64) < cycles {
            bail!("not enough pending runs for the floor");
        }
        let lease = floor.prepare(
            "UPDATE durably_runs SET status = 'leased', lease_owner = 'floor', \
             lease_expires_at = $2, lease_generation = lease_generation + 1, \
             started_at = $2, updated_at = $2 WHERE id = $1",
        )?;
        let finish = floor.prepare(
            "UPDATE durably_runs SET status = 'completed', output = 'null', \
             lease_owner = NULL, lease_expires_at = NULL, completed_at = $2, \
             updated_at = $2 WHERE id = $1",
        )?;
        let mut cycle = Vec::with_capacity(cycles as usize);
        let mut floor_cycle = Vec::with_capacity(cycles as usize);
        for id in &ids {
            let t = Instant::now();
            let (run, _) = store
                .claim(&Jobs::All, "bench", Duration::from_secs(30))?
                .context("no pending run left to claim")?;
            if store
                .complete(&run.id, run.lease_generation, Some("null"))?
                .is_lost()
            {
                bail!("complete lost the lease of {}", run.id);
            }
            cycle.push(t.elapsed().as_secs_f64() * 1e6);

            let t = Instant::now();
            let now = durably::time::now();
            floor.execute(&lease, &[id, &now])?;
            floor.execute(&finish, &[id, &now])?;
            floor_cycle.push(t.elapsed().as_secs_f64() * 1e6);
        }
        Ok((median(cycle), median(floor_cycle)))
    }

    fn pg_work(&mut self) -> Result<()> {
        let n = self.sizes.pg_work;
        let mut rows = String::new();
        let mut rates = Vec::new();
        for w in [1usize, 2, 4] {
            let name = format!("work_{w}");
            let url = self.pg_filled(&name, n, "pending")?;
            self.log(&format!(
                "8.4 PostgreSQL: {w} × durably work --until-idle -- true over {n} runs"
            ));
            let cmd = self.durably_cmd(Path::new(&url), &["work", "--until-idle", "--", "true"]);
            let t = Instant::now();
            let children = (0..w)
                .map(|_| {
                    Command::new(&cmd[0])
                        .args(&cmd[1..])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .context("cannot spawn durably work")
                })
                .collect::<Result<Vec<_>>>()?;
            let mut failed = None;
            for c in children {
                let out = c.wait_with_output()?;
                if !out.status.success() {
                    failed = Some(String::from_utf8_lossy(&out.stderr).trim().to_string());
                }
            }
            let secs = t.elapsed().as_secs_f64();
            let completed = self.pg_count(
                &url,
                "SELECT count(*) FROM durably_runs WHERE status = 'completed'",
            )?;
            self.pg_drop(&name);
            if let Some(err) = failed {
                bail!("durably work on PostgreSQL failed: {err}");
            }
            if completed as u64 != n {
                bail!("{w} workers completed {completed} of {n} runs");
            }
            let r = n as f64 / secs;
            rates.push(r);
            let _ = writeln!(
                rows,
                "| {w} × durably `work --until-idle -- true` (processes) | {} | {secs:.1} s |",
                rate(r)
            );
        }
        let mut lib = None;
        if self.node_dir.is_some() {
            let m = self.sizes.pg_node_work;
            self.log(&format!(
                "8.4 PostgreSQL: @coji/durably processUntilIdle over {m} runs"
            ));
            let url = self.pg_create("work_node")?;
            let v = self.node(&["pg-work", &url, &m.to_string()])?;
            self.pg_drop("work_node");
            let r = v["runs_per_s"].as_f64().unwrap_or(f64::NAN);
            let _ = writeln!(
                rows,
                "| @coji/durably `processUntilIdle`, {} one-step runs, in-process no-op | {} | {:.1} s |",
                fmt_n(m),
                rate(r),
                v["secs"].as_f64().unwrap_or(f64::NAN)
            );
            lib = Some(r);
        }
        let _ = write!(
            self.md,
            "\n## 8.4 PostgreSQL worker throughput: {} pending runs, no-op handler `true`\n\n\
             | | runs/s | wall |\n|---|---:|---:|\n{rows}\
             | scaling 2 ÷ 1 workers, 4 ÷ 1 | {:.2}, {:.2} | |\n",
            fmt_n(n),
            rates[1] / rates[0],
            rates[2] / rates[0]
        );
        if let Some(r) = lib {
            self.target(
                "PostgreSQL: worker (1 process) at least matching `processUntilIdle`",
                format!("{} vs {} runs/s", rate(rates[0]), rate(r)),
                rates[0] >= r,
            );
        }
        Ok(())
    }

    fn summary(&mut self, took: Duration) {
        let mut t = String::new();
        for (what, measured, v) in &self.targets {
            let _ = writeln!(t, "| {what} | {measured} | {v} |");
        }
        let _ = write!(
            self.md,
            "\n## Targets\n\n| target | measured | verdict |\n|---|---|---|\n{t}\n\
             Whole run: {:.0} s.\n",
            took.as_secs_f64()
        );
    }
}

/// One `ls` filter of the list workload.
struct Filter {
    name: &'static str,
    args: &'static [&'static str],
    labels: &'static [(&'static str, &'static str)],
    statuses: &'static [&'static str],
    jobs: &'static [&'static str],
}

const FILTERS: &[Filter] = &[
    Filter {
        name: "none",
        args: &[],
        labels: &[],
        statuses: &[],
        jobs: &[],
    },
    Filter {
        name: "status",
        args: &["--status", "pending"],
        labels: &[],
        statuses: &["pending"],
        jobs: &[],
    },
    Filter {
        name: "job",
        args: &["--job", "email"],
        labels: &[],
        statuses: &[],
        jobs: &["email"],
    },
    Filter {
        name: "label",
        args: &["--label", "tenant=t3"],
        labels: &[("tenant", "t3")],
        statuses: &[],
        jobs: &[],
    },
    Filter {
        name: "rare",
        args: &["--label", "rare=x"],
        labels: &[("rare", "x")],
        statuses: &[],
        jobs: &[],
    },
    Filter {
        name: "two_labels",
        args: &["--label", "tenant=t3", "--label", "kind=k1"],
        labels: &[("tenant", "t3"), ("kind", "k1")],
        statuses: &[],
        jobs: &[],
    },
    Filter {
        name: "label_status",
        args: &["--label", "tenant=t3", "--status", "failed"],
        labels: &[("tenant", "t3")],
        statuses: &["failed"],
        jobs: &[],
    },
    Filter {
        name: "mixed",
        args: &[
            "--label",
            "tenant=t3",
            "--label",
            "kind=k1",
            "--status",
            "failed",
            "--job",
            "email",
        ],
        labels: &[("tenant", "t3"), ("kind", "k1")],
        statuses: &["failed"],
        jobs: &["email"],
    },
];

impl Filter {
    fn filter(&self) -> ListFilter {
        ListFilter {
            labels: self
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            statuses: self
                .statuses
                .iter()
                .map(|s| s.parse::<Status>().expect("a status"))
                .collect(),
            jobs: self.jobs.iter().map(|s| s.to_string()).collect(),
            before: None,
            limit: 50,
            offset: 0,
        }
    }

    /// WHERE clause (labels by `json_extract`) and its parameters.
    fn json_where(&self) -> (String, Vec<String>) {
        let mut w = String::from("1");
        let mut p = Vec::new();
        for (k, v) in self.labels {
            p.push(format!("$.{k}"));
            p.push(v.to_string());
            let _ = write!(
                w,
                " AND json_extract(labels, ?{}) = ?{}",
                p.len() - 1,
                p.len()
            );
        }
        for s in self.statuses {
            p.push(s.to_string());
            let _ = write!(w, " AND status = ?{}", p.len());
        }
        for j in self.jobs {
            p.push(j.to_string());
            let _ = write!(w, " AND job_name = ?{}", p.len());
        }
        (w, p)
    }

    fn json_sql(&self) -> String {
        format!(
            "SELECT {RUN_COLUMNS} FROM durably_runs WHERE {} ORDER BY created_at DESC, id DESC LIMIT 50",
            self.json_where().0
        )
    }

    fn json_params(&self) -> Vec<String> {
        self.json_where().1
    }
}

/// How many runs the filter matches (with the label table, not timed).
fn count_matches(conn: &rusqlite::Connection, f: &Filter) -> Result<u64> {
    let (w, p) = f.json_where();
    let _ = w;
    let mut sql = String::from("SELECT count(*) FROM durably_runs AS r WHERE 1");
    let mut params: Vec<String> = Vec::new();
    for (k, v) in f.labels {
        params.push(k.to_string());
        params.push(v.to_string());
        let _ = write!(
            sql,
            " AND EXISTS (SELECT 1 FROM durably_run_labels AS x WHERE x.run_id = r.id AND x.key = ?{} AND x.value = ?{})",
            params.len() - 1,
            params.len()
        );
    }
    for s in f.statuses {
        params.push(s.to_string());
        let _ = write!(sql, " AND r.status = ?{}", params.len());
    }
    for j in f.jobs {
        params.push(j.to_string());
        let _ = write!(sql, " AND r.job_name = ?{}", params.len());
    }
    let _ = p;
    Ok(
        conn.query_row(&sql, rusqlite::params_from_iter(params.iter()), |r| {
            r.get::<_, i64>(0)
        })? as u64,
    )
}

/// Median and max (ms) of an in-process call: at least 5 calls and 0.3 s, at most 3 calls once
/// 3 s are spent (a JSON scan of millions of rows takes seconds).
fn time_inproc(mut f: impl FnMut() -> Result<usize>) -> Result<(f64, f64)> {
    f()?; // warm the statement cache and the pages
    let started = Instant::now();
    let mut samples = Vec::new();
    loop {
        let t = Instant::now();
        let n = f()?;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
        let _ = n;
        let spent = started.elapsed();
        if (samples.len() >= 5 && spent > Duration::from_millis(300))
            || (samples.len() >= 3 && spent > Duration::from_secs(3))
            || samples.len() >= 2000
        {
            break;
        }
    }
    let max = samples.iter().copied().fold(0.0, f64::max);
    Ok((median(samples), max))
}
