//! Physical floors and data generation for `bench/run.sh` (see BENCHMARKS.md).
//!
//! Every floor is the least a program must do to get the same effect on the same schema with
//! the same pragmas: no JSON parsing, no validation, no idempotency or concurrency checks, no
//! output. They use rusqlite directly, never the `durably` crate, so that they stay floors.
//!
//! Subcommands (each prints one line of `key=value` figures on stdout):
//! - `gen FILE N`: writes N NDJSON run specs, the bench's data set (see [`Row`]).
//! - `bulk DB N [pending|mixed|completed]`: creates DB with the v1 schema and our indexes (WAL,
//!   synchronous=FULL) and inserts the N rows in one transaction with prepared statements.
//!   `pending` is the floor of `enqueue-many`; `pending-lib` the same without our 3 indexes
//!   (`sql/v1_extra.sql`), to show what they cost; `mixed` and `completed` build the list and
//!   purge databases (statuses with their timestamps, created_at spread over the past).
//! - `one DB [close]`: the floor of one `durably enqueue` process: open, pragmas, one run and
//!   its two label rows in a `BEGIN IMMEDIATE` transaction, commit, exit without closing the
//!   connection; `close` closes it, which checkpoints the WAL and deletes it, as `durably` does
//!   (its last connection closes at exit).
//! - `updates DB N`: the floor of a claim+complete cycle: two bare `UPDATE` commits by id, N
//!   times, on pending runs of DB.
//! - `spawn DB N`: the floor of a worker: N times, spawn `true`, wait, and two bare commits.
//! - `time N -- CMD ARGS... [--- CMD2 ARGS...]...`: runs each CMD N times (stdout to
//!   /dev/null), interleaved, and prints the median, p99 and max wall time per process of each
//!   and its median CPU time (user + system, from wait4).
//! - `peak -- CMD ARGS...`: runs CMD once (stdout to /dev/null) and prints its wall time, its
//!   CPU time (user + system) and its peak RSS (getrusage RUSAGE_CHILDREN).
//! - `pg-copy URL N [pending|mixed]`: the PostgreSQL floor of `enqueue-many`: into the database
//!   URL, whose schema `durably` created, one transaction with a `COPY … FROM STDIN` of the N
//!   runs and one of their label rows (the same rows as `bulk`); `mixed` as in `bulk`, then
//!   `ANALYZE` (not timed).
//! - `loop STOPFILE -- CMD ARGS...`: runs CMD again and again until STOPFILE exists and prints
//!   the count, median, p99 and the worst wall time (the purge's concurrent enqueuer).
//! - `pg-fleet URL THREADS STOPFILE [-- CMD ARGS...]`: the floor of a worker fleet on
//!   PostgreSQL (issue 19): THREADS threads, a connection each, each claiming the oldest pending
//!   run in one autocommit statement (`UPDATE … WHERE id = (SELECT … ORDER BY created_at, id
//!   LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id`), running CMD if given (spawn, wait), and
//!   completing it in a second autocommit `UPDATE`: two round trips and two commits a run, no
//!   lease renewal, no fence, no concurrency key. Until STOPFILE exists; prints the run count.

use rusqlite::{params, Connection};
use std::io::{BufWriter, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const SCHEMA_V1: &str = include_str!("../sql/v1.sql");
const SCHEMA_EXTRA: &str = include_str!("../sql/v1_extra.sql");
const JOBS: [&str; 3] = ["import", "email", "report"];

/// Run number `i` of the data set: tenant `t{i%10}`, kind `k{i%3}`, job by `(i/7)%3`, and one
/// run in 10,000 with the extra label `rare=x`.
struct Row {
    job: &'static str,
    input: String,
    tenant: String,
    kind: String,
    rare: bool,
}

impl Row {
    fn new(i: u64) -> Row {
        Row {
            job: JOBS[((i / 7) % 3) as usize],
            input: format!("{{\"n\":{i},\"user\":\"u{}\"}}", i % 1000),
            tenant: format!("t{}", i % 10),
            kind: format!("k{}", i % 3),
            rare: i % 10_000 == 7,
        }
    }

    /// The labels JSON text, in the order given (as `durably` stores it).
    fn labels(&self) -> String {
        let rare = if self.rare { ",\"rare\":\"x\"" } else { "" };
        format!(
            "{{\"tenant\":\"{}\",\"kind\":\"{}\"{rare}}}",
            self.tenant, self.kind
        )
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("bench_floor: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<()> {
    let arg = |i: usize| -> Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument {i} (see the comment at the top)").into())
    };
    let num = |i: usize| -> Result<u64> { Ok(arg(i)?.parse::<u64>()?) };
    match arg(0)? {
        "gen" => gen(arg(1)?, num(2)?),
        "bulk" => bulk(
            arg(1)?,
            num(2)?,
            args.get(3).map_or("pending", String::as_str),
        ),
        "one" => one(arg(1)?, args.get(2).is_some_and(|a| a == "close")),
        "updates" => updates(arg(1)?, num(2)?),
        "spawn" => spawn(arg(1)?, num(2)?),
        "time" => {
            let n = num(1)?;
            time_procs(n, command_after_dashes(args)?)
        }
        "peak" => peak(command_after_dashes(args)?),
        "loop" => run_loop(arg(1)?, command_after_dashes(args)?),
        "pg-copy" => pg_copy(
            arg(1)?,
            num(2)?,
            args.get(3).map_or("pending", String::as_str),
        ),
        "pg-fleet" => pg_fleet(
            arg(1)?,
            num(2)?,
            arg(3)?,
            command_after_dashes(args).unwrap_or(&[]),
        ),
        other => Err(format!("unknown subcommand {other}").into()),
    }
}

fn command_after_dashes(args: &[String]) -> Result<&[String]> {
    let i = args
        .iter()
        .position(|a| a == "--")
        .ok_or("expected -- CMD ARGS...")?;
    let cmd = &args[i + 1..];
    if cmd.is_empty() {
        return Err("expected a command after --".into());
    }
    Ok(cmd)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ` (JavaScript's `toISOString()`).
fn iso(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Timestamps formatted once per millisecond, as a real writer would.
#[derive(Default)]
struct Clock {
    ms: i64,
    text: String,
}

impl Clock {
    fn at(&mut self, ms: i64) -> &str {
        if ms != self.ms || self.text.is_empty() {
            self.ms = ms;
            self.text = iso(ms);
        }
        &self.text
    }
}

fn gen(path: &str, n: u64) -> Result<()> {
    let started = Instant::now();
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    for i in 0..n {
        let r = Row::new(i);
        writeln!(
            out,
            "{{\"job\":\"{}\",\"input\":{},\"labels\":{}}}",
            r.job,
            r.input,
            r.labels()
        )?;
    }
    out.flush()?;
    println!("lines={n} secs={:.3}", started.elapsed().as_secs_f64());
    Ok(())
}

/// Opens DB with the pragmas `durably` uses on every connection.
fn open(path: &str) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    Ok(conn)
}

const INSERT_RUN: &str = "INSERT INTO durably_runs (id, job_name, input, status, idempotency_key, \
    concurrency_key, labels, current_step_index, completed_step_count, progress, output, error, \
    lease_owner, lease_expires_at, lease_generation, started_at, completed_at, created_at, \
    updated_at) VALUES (?1, ?2, ?3, ?4, NULL, NULL, ?5, 0, 0, NULL, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
    ?13, ?14)";
const INSERT_LABEL: &str =
    "INSERT INTO durably_run_labels (run_id, key, value) VALUES (?1, ?2, ?3)";

fn bulk(path: &str, n: u64, mode: &str) -> Result<()> {
    if !matches!(mode, "pending" | "pending-lib" | "mixed" | "completed") {
        return Err(
            format!("unknown mode {mode} (pending, pending-lib, mixed or completed)").into(),
        );
    }
    let started = Instant::now();
    let conn = open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    if let Ok(kib) = std::env::var("BENCH_CACHE_KIB") {
        conn.pragma_update(None, "cache_size", format!("-{kib}"))?;
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    conn.execute_batch(SCHEMA_V1)?;
    if mode != "pending-lib" {
        conn.execute_batch(SCHEMA_EXTRA)?;
    }
    conn.execute(
        "INSERT INTO durably_schema_versions (version, applied_at) VALUES (1, ?1)",
        [iso(now_ms())],
    )?;
    conn.execute_batch("COMMIT")?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    {
        let mut run = conn.prepare(INSERT_RUN)?;
        let mut label = conn.prepare(INSERT_LABEL)?;
        let mut clock = Clock::default();
        let mut done = Clock::default();
        // Generated data is spread over the past, two runs a millisecond, ending a day ago.
        let base = now_ms() - 86_400_000 - (n as i64) / 2;
        let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..n {
            let r = Row::new(i);
            let id = uuid::Uuid::now_v7().to_string();
            let labels = r.labels();
            let (status, created_ms) = match mode {
                "pending" | "pending-lib" => ("pending", now_ms()),
                "completed" => ("completed", base + i as i64 / 2),
                _ => {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let status = match rng % 100 {
                        0..=69 => "completed",
                        70..=79 => "failed",
                        80..=84 => "cancelled",
                        85..=94 => "pending",
                        _ => "leased",
                    };
                    (status, base + i as i64 / 2)
                }
            };
            let created = clock.at(created_ms).to_string();
            let terminal = matches!(status, "completed" | "failed" | "cancelled");
            let end = done.at(created_ms + 1000).to_string();
            let (output, error) = match status {
                "completed" => (Some("{\"ok\":true}"), None),
                "failed" => (None, Some("handler exited with code 1")),
                _ => (None, None),
            };
            let leased = status == "leased";
            run.execute(params![
                id,
                r.job,
                r.input,
                status,
                labels,
                output,
                error,
                leased.then_some("bench-worker"),
                leased.then(|| iso(now_ms() + 3_600_000)),
                i64::from(leased || terminal),
                (leased || terminal).then_some(created.as_str()),
                terminal.then_some(end.as_str()),
                created,
                if terminal {
                    end.as_str()
                } else {
                    created.as_str()
                },
            ])?;
            label.execute(params![id, "tenant", r.tenant])?;
            label.execute(params![id, "kind", r.kind])?;
            if r.rare {
                label.execute(params![id, "rare", "x"])?;
            }
        }
    }
    conn.execute_batch("COMMIT")?;
    drop(conn);
    let secs = started.elapsed().as_secs_f64();
    println!("runs={n} secs={secs:.3} runs_per_s={:.0}", n as f64 / secs);
    Ok(())
}

fn one(path: &str, close: bool) -> Result<()> {
    let conn = open(path)?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let now = iso(now_ms());
    let id = uuid::Uuid::now_v7().to_string();
    conn.execute(
        INSERT_RUN,
        params![
            id,
            "email",
            "{\"n\":1}",
            "pending",
            "{\"tenant\":\"t1\",\"kind\":\"k1\"}",
            None::<&str>,
            None::<&str>,
            None::<&str>,
            None::<&str>,
            0,
            None::<&str>,
            None::<&str>,
            now,
            now
        ],
    )?;
    conn.execute(INSERT_LABEL, params![id, "tenant", "t1"])?;
    conn.execute(INSERT_LABEL, params![id, "kind", "k1"])?;
    conn.execute_batch("COMMIT")?;
    if !close {
        // Without closing: the last connection's close would checkpoint the WAL into the
        // database file, fsync it and delete the WAL (what `durably` and `close` do).
        std::mem::forget(conn);
    }
    Ok(())
}

/// Ids of up to `n` pending runs, oldest first (read before timing starts).
fn pending_ids(conn: &Connection, n: u64) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT id FROM durably_runs WHERE status = 'pending' ORDER BY created_at, id LIMIT ?1",
    )?;
    let ids = stmt
        .query_map([n as i64], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if (ids.len() as u64) < n {
        return Err(format!("only {} pending runs, {n} needed", ids.len()).into());
    }
    Ok(ids)
}

/// Two bare commits: the run leased, then completed (the same columns a claim and a complete
/// write, found by primary key instead of searched for).
fn two_commits(conn: &Connection, id: &str) -> Result<()> {
    let now = iso(now_ms());
    conn.execute_batch("BEGIN IMMEDIATE")?;
    conn.prepare_cached(
        "UPDATE durably_runs SET status = 'leased', lease_owner = 'floor', lease_expires_at = ?2, \
         lease_generation = lease_generation + 1, started_at = ?2, updated_at = ?2 WHERE id = ?1",
    )?
    .execute(params![id, now])?;
    conn.execute_batch("COMMIT")?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    conn.prepare_cached(
        "UPDATE durably_runs SET status = 'completed', output = 'null', lease_owner = NULL, \
         lease_expires_at = NULL, completed_at = ?2, updated_at = ?2 WHERE id = ?1",
    )?
    .execute(params![id, now])?;
    conn.execute_batch("COMMIT")?;
    Ok(())
}

fn updates(path: &str, n: u64) -> Result<()> {
    let conn = open(path)?;
    let ids = pending_ids(&conn, n)?;
    let started = Instant::now();
    for id in &ids {
        two_commits(&conn, id)?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "cycles={n} secs={secs:.3} per_s={:.0} us_per_cycle={:.1}",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
    Ok(())
}

fn spawn(path: &str, n: u64) -> Result<()> {
    let conn = open(path)?;
    let ids = pending_ids(&conn, n)?;
    let started = Instant::now();
    for id in &ids {
        let status = Command::new("true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?
            .wait_with_output()?
            .status;
        if !status.success() {
            return Err("`true` failed".into());
        }
        two_commits(&conn, id)?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("runs={n} secs={secs:.3} runs_per_s={:.0}", n as f64 / secs);
    Ok(())
}

/// Runs CMD once (stdin and stdout /dev/null); its wall time and CPU time (user + system).
fn run_timed(cmd: &[String]) -> Result<(Duration, Duration)> {
    let started = Instant::now();
    let child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()?;
    let mut status = 0;
    // SAFETY: wait4 writes only into the two locals we pass; the pid is our own child's.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let took = started.elapsed();
    if pid < 0 {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()).into());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{} failed (wait status {status})", cmd.join(" ")).into());
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok((took, tv(usage.ru_utime) + tv(usage.ru_stime)))
}

fn run_once(cmd: &[String]) -> Result<Duration> {
    Ok(run_timed(cmd)?.0)
}

/// Median, p99 and max of the samples, in milliseconds.
fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    format!(
        "n={} median_ms={:.3} p99_ms={:.3} max_ms={:.3} mean_ms={:.3}",
        ms.len(),
        at(0.5),
        at(0.99),
        at(1.0),
        ms.iter().sum::<f64>() / ms.len() as f64
    )
}

/// Runs each command `n` times, interleaved (A B C A B C …) so that the load of the machine
/// falls on all of them alike; one summary line per command, in order.
fn time_procs(n: u64, cmds: &[String]) -> Result<()> {
    let cmds: Vec<&[String]> = cmds.split(|a| a == "---").collect();
    if cmds.iter().any(|c| c.is_empty()) {
        return Err("empty command between ---".into());
    }
    let mut samples = vec![Vec::with_capacity(n as usize); cmds.len()];
    let mut cpu = vec![Vec::with_capacity(n as usize); cmds.len()];
    for _ in 0..n {
        for (i, cmd) in cmds.iter().enumerate() {
            let (wall, used) = run_timed(cmd)?;
            samples[i].push(wall.as_secs_f64() * 1e3);
            cpu[i].push(used.as_secs_f64() * 1e3);
        }
    }
    for (i, (s, mut c)) in samples.into_iter().zip(cpu).enumerate() {
        c.sort_by(f64::total_cmp);
        println!("cmd={i} {} cpu_median_ms={:.3}", summary(s), c[c.len() / 2]);
    }
    Ok(())
}

fn peak(cmd: &[String]) -> Result<()> {
    let took = run_once(cmd)?;
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if rc != 0 {
        return Err("getrusage failed".into());
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    println!(
        "secs={:.3} cpu_secs={:.3} maxrss_kib={}",
        took.as_secs_f64(),
        tv(usage.ru_utime) + tv(usage.ru_stime),
        usage.ru_maxrss
    );
    Ok(())
}

fn run_loop(stop: &str, cmd: &[String]) -> Result<()> {
    let mut samples = Vec::new();
    while !std::path::Path::new(stop).exists() {
        samples.push(run_once(cmd)?.as_secs_f64() * 1e3);
    }
    if samples.is_empty() {
        return Err("the loop ran no command".into());
    }
    println!("{}", summary(samples));
    Ok(())
}

/// One `COPY` text field: `\N` for NULL (the generated values hold no tab, newline or backslash).
fn field(v: Option<&str>) -> &str {
    v.unwrap_or("\\N")
}

fn pg_copy(url: &str, n: u64, mode: &str) -> Result<()> {
    if !matches!(mode, "pending" | "mixed") {
        return Err(format!("unknown mode {mode} (pending or mixed)").into());
    }
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    let started = Instant::now();
    let mut tx = client.transaction()?;
    let mut runs = Vec::with_capacity(1 << 20);
    let mut labels = Vec::with_capacity(1 << 20);
    let mut clock = Clock::default();
    let mut done = Clock::default();
    let base = now_ms() - 86_400_000 - (n as i64) / 2;
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut w_runs = tx.copy_in(
        "COPY durably_runs (id, job_name, input, status, labels, output, error, lease_owner, \
         lease_expires_at, lease_generation, started_at, completed_at, created_at, updated_at) \
         FROM STDIN",
    )?;
    let mut label_rows: Vec<u8> = Vec::new();
    for i in 0..n {
        let r = Row::new(i);
        let id = uuid::Uuid::now_v7().to_string();
        let (status, created_ms) = if mode == "pending" {
            ("pending", now_ms())
        } else {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let status = match rng % 100 {
                0..=69 => "completed",
                70..=79 => "failed",
                80..=84 => "cancelled",
                85..=94 => "pending",
                _ => "leased",
            };
            (status, base + i as i64 / 2)
        };
        let created = clock.at(created_ms).to_string();
        let terminal = matches!(status, "completed" | "failed" | "cancelled");
        let end = done.at(created_ms + 1000).to_string();
        let (output, error) = match status {
            "completed" => (Some("{\"ok\":true}"), None),
            "failed" => (None, Some("handler exited with code 1")),
            _ => (None, None),
        };
        let leased = status == "leased";
        let expires = leased.then(|| iso(now_ms() + 3_600_000));
        writeln!(
            runs,
            "{id}\t{}\t{}\t{status}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{created}\t{}",
            r.job,
            r.input,
            r.labels(),
            field(output),
            field(error),
            field(leased.then_some("bench-worker")),
            field(expires.as_deref()),
            i64::from(leased || terminal),
            field((leased || terminal).then_some(created.as_str())),
            field(terminal.then_some(end.as_str())),
            if terminal {
                end.as_str()
            } else {
                created.as_str()
            },
        )?;
        writeln!(labels, "{id}\ttenant\t{}", r.tenant)?;
        writeln!(labels, "{id}\tkind\t{}", r.kind)?;
        if r.rare {
            writeln!(labels, "{id}\trare\tx")?;
        }
        if runs.len() >= 1 << 20 {
            w_runs.write_all(&runs)?;
            runs.clear();
        }
        if labels.len() >= 1 << 20 {
            label_rows.extend_from_slice(&labels);
            labels.clear();
        }
    }
    w_runs.write_all(&runs)?;
    w_runs.finish()?;
    label_rows.extend_from_slice(&labels);
    let mut w_labels = tx.copy_in("COPY durably_run_labels (run_id, key, value) FROM STDIN")?;
    w_labels.write_all(&label_rows)?;
    w_labels.finish()?;
    tx.commit()?;
    let secs = started.elapsed().as_secs_f64();
    if mode == "mixed" {
        client.batch_execute("ANALYZE durably_runs; ANALYZE durably_run_labels")?;
    }
    println!("runs={n} secs={secs:.3} runs_per_s={:.0}", n as f64 / secs);
    Ok(())
}

/// The floor's claim: the oldest pending run, locked inside the candidate query (a row another
/// claimer holds is skipped, never waited on), leased in the same statement, times in the
/// library's text from the server's clock.
const FLEET_CLAIM: &str = "UPDATE durably_runs SET status = 'leased', lease_owner = $1, \
    lease_expires_at = to_char((now() + interval '30 seconds') AT TIME ZONE 'UTC', \
    'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), lease_generation = lease_generation + 1, \
    started_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
    updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') \
    WHERE id = (SELECT id FROM durably_runs WHERE status = 'pending' \
    ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id";
const FLEET_COMPLETE: &str = "UPDATE durably_runs SET status = 'completed', output = 'null', \
    lease_owner = NULL, lease_expires_at = NULL, \
    completed_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
    updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') \
    WHERE id = $1";

fn pg_fleet(url: &str, threads: u64, stop: &str, cmd: &[String]) -> Result<()> {
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (url, stop, cmd) = (url.to_string(), stop.to_string(), cmd.to_vec());
            std::thread::spawn(move || {
                pg_fleet_thread(&url, &format!("floor-{t}"), &stop, &cmd).map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut runs = 0;
    for h in handles {
        runs += h.join().map_err(|_| "a floor thread panicked")??;
    }
    println!("runs={runs} secs={:.3}", started.elapsed().as_secs_f64());
    Ok(())
}

/// One claimer of `pg_fleet`: runs completed.
fn pg_fleet_thread(url: &str, owner: &str, stop: &str, cmd: &[String]) -> Result<u64> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    let claim = client.prepare(FLEET_CLAIM)?;
    let complete = client.prepare(FLEET_COMPLETE)?;
    let mut runs = 0;
    while !std::path::Path::new(stop).exists() {
        let Some(row) = client.query_opt(&claim, &[&owner])? else {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let id: String = row.get(0);
        if !cmd.is_empty() {
            let status = Command::new(&cmd[0])
                .args(&cmd[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()?;
            if !status.success() {
                return Err(format!("{} failed", cmd.join(" ")).into());
            }
        }
        client.execute(&complete, &[&id])?;
        runs += 1;
    }
    Ok(runs)
}
