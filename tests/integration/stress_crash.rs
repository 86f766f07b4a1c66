//! Crashes: `kill -9` of `enqueue-many` in the middle of a large batch (all or nothing, in WAL
//! and rollback-journal files), and of workers at random moments (during claim, handler and
//! completion). Afterwards the file passes `PRAGMA integrity_check`, every run ends completed,
//! no run is executed twice under one lease, and no handler process outlives its worker.
//!
//! Default: 6 killed batches of 20,000 lines and 12 worker kills; `DURABLY_STRESS=heavy`:
//! 40 batches of 100,000 lines and 150 worker kills.

use crate::harness::*;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn batch_file(env: &Env, lines: usize) -> std::path::PathBuf {
    let mut text = String::with_capacity(lines * 120);
    for i in 0..lines {
        text.push_str(&format!(
            "{{\"job\":\"bulk\",\"input\":{{\"i\":{i}}},\"labels\":{{\"tenant\":\"t{}\"}}}}\n",
            i % 10
        ));
    }
    env.file("batch.ndjson", text)
}

/// Starts `enqueue-many FILE --label batch=TAG [--chunk N]` in the background.
fn start_batch(env: &Env, file: &std::path::Path, tag: &str, chunk: Option<u64>) -> Bg {
    let label = format!("batch={tag}");
    let mut args = vec!["enqueue-many", file.to_str().unwrap(), "--label", &label];
    let chunk_text = chunk.map(|c| c.to_string());
    if let Some(c) = &chunk_text {
        args.extend(["--chunk", c]);
    }
    Bg::spawn(env.command(&args), env.dir.path(), &format!("batch-{tag}"))
}

fn runs_of_batch(env: &Env, tag: &str) -> i64 {
    let conn = env.conn();
    conn.query_row(
        "SELECT count(*) FROM durably_run_labels WHERE key = 'batch' AND value = ?1",
        [tag],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn enqueue_many_killed_mid_batch_is_all_or_nothing() {
    let mut rng = Rng::new("enqueue_many_killed_mid_batch_is_all_or_nothing");
    let lines = scale(20_000, 100_000) as usize;
    let rounds = scale(6, 40);
    let env = Env::init();
    let file = batch_file(&env, lines);

    // One undisturbed batch tells how long a batch takes here.
    let t0 = Instant::now();
    let mut first = start_batch(&env, &file, "full", None);
    assert!(
        first.wait_max(Duration::from_secs(600)).success(),
        "{}",
        first.err()
    );
    let full_time = t0.elapsed();
    assert_eq!(runs_of_batch(&env, "full"), lines as i64);
    let mut outcomes: BTreeMap<&str, u32> = BTreeMap::new();

    for round in 0..rounds {
        // A fresh file each round keeps the file (and integrity_check) the size of one batch.
        let env = Env::init();
        env.enqueue(&["--job", "before"]);
        // Half the rounds on a rollback-journal file (the library's default): a hot journal.
        let journal = if round % 2 == 0 { "WAL" } else { "DELETE" };
        env.conn()
            .pragma_update(None, "journal_mode", journal)
            .unwrap();
        let chunk = (round % 3 == 2).then(|| 1000 + rng.below(4000));
        let tag = format!("r{round}");
        let before = env.counts();
        let mut bg = start_batch(&env, &file, &tag, chunk);
        std::thread::sleep(rng.millis(0, (full_time.as_millis() as u64 * 6 / 5).max(50)));
        bg.signal(libc::SIGKILL);
        let status = bg.wait_max(Duration::from_secs(60));
        let killed = status.code().is_none();
        assert_integrity(&env.db);
        let n = runs_of_batch(&env, &tag);
        let whole = n == 0 || n == lines as i64;
        let chunked = chunk.is_some_and(|c| n % c as i64 == 0);
        assert!(
            whole || chunked,
            "round {round} ({journal}, chunk {chunk:?}): {n} of {lines} runs after kill -9"
        );
        // Nothing else changed, labels came with their runs.
        let after = env.counts();
        assert_eq!(after["durably_runs"] - before["durably_runs"], n);
        assert_eq!(
            after["durably_run_labels"] - before["durably_run_labels"],
            2 * n
        );
        // Results are printed only after their commit: every printed id exists.
        let printed: Vec<String> = bg
            .out()
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect();
        assert!(
            printed.len() as i64 <= n,
            "printed {} results, committed {n}",
            printed.len()
        );
        let conn = env.conn();
        for id in printed.iter().take(50) {
            assert_eq!(
                count(
                    &conn,
                    &format!("SELECT count(*) FROM durably_runs WHERE id = '{id}'")
                ),
                1
            );
        }
        let outcome = match (killed, n) {
            (false, _) => "finished before the kill",
            (true, 0) => "killed, nothing committed",
            (true, n) if n == lines as i64 => "killed after the commit",
            (true, _) => "killed between chunks",
        };
        *outcomes.entry(outcome).or_default() += 1;
        // The file takes writes again at once (no stale lock).
        env.enqueue(&["--job", "after-kill"]);
    }
    eprintln!("enqueue-many kill -9: {rounds} rounds of {lines} lines: {outcomes:?}");
    assert!(
        outcomes.contains_key("killed, nothing committed")
            || outcomes.contains_key("killed between chunks"),
        "no kill landed inside a transaction: {outcomes:?}"
    );
}

/// The crash handler: records start (with its pid and process group), ticks while it works,
/// leaves a grandchild behind, and records its end; output carries its lease generation.
const CRASH_HANDLER: &str = r#"#!/bin/bash
log="$STRESS_DIR/executions.log"
now() { date +%s%N; }
echo "start $DURABLY_RUN_ID $DURABLY_LEASE_GENERATION $(now) $$" >> "$log"
echo $$ > "$STRESS_DIR/pids/$$"
# A grandchild that would outlive a careless worker.
sleep 300 &
echo $! > "$STRESS_DIR/pids/$!"
cat > /dev/null
ticks=$(( RANDOM % 6 ))
for ((i = 0; i < ticks; i++)); do
  echo "tick $DURABLY_RUN_ID $DURABLY_LEASE_GENERATION $(now)" >> "$log"
  sleep 0.0$(( RANDOM % 10 ))
done
kill %1 2>/dev/null
echo "end $DURABLY_RUN_ID $DURABLY_LEASE_GENERATION $(now)" >> "$log"
echo "{\"generation\": $DURABLY_LEASE_GENERATION}"
"#;

/// A handler that returns at once: workers running it spend their time claiming and completing.
const QUICK_HANDLER: &str = r#"#!/bin/sh
log="$STRESS_DIR/executions.log"
echo "start $DURABLY_RUN_ID $DURABLY_LEASE_GENERATION $(date +%s%N) $$" >> "$log"
echo "end $DURABLY_RUN_ID $DURABLY_LEASE_GENERATION $(date +%s%N)" >> "$log"
echo "{\"generation\": $DURABLY_LEASE_GENERATION}"
"#;

/// One execution of a run under one lease generation, from the handler's records.
#[derive(Debug, Default, Clone)]
struct Execution {
    starts: u32,
    first: u128,
    last: u128,
    ended: bool,
}

fn read_executions(dir: &std::path::Path) -> BTreeMap<(String, i64), Execution> {
    let mut map: BTreeMap<(String, i64), Execution> = BTreeMap::new();
    for line in read_lossy(&dir.join("executions.log")).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue; // a line cut by kill -9
        }
        let (Ok(generation), Ok(t)) = (f[2].parse::<i64>(), f[3].parse::<u128>()) else {
            continue;
        };
        let e = map.entry((f[1].to_string(), generation)).or_default();
        match f[0] {
            "start" => {
                e.starts += 1;
                e.first = t;
            }
            "end" => e.ended = true,
            _ => {}
        }
        e.last = e.last.max(t);
    }
    map
}

/// Handler processes (not the worker or its supervisor) started by the worker tagged `name`.
fn handlers_of(name: &str) -> usize {
    let bin = std::fs::canonicalize(BIN).unwrap();
    processes_with_env(&format!("STRESS_WORKER={name}"))
        .into_iter()
        .filter(|p| std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|exe| exe != bin))
        .count()
}

fn crash_worker(env: &Env, handlers: &std::path::Path, name: &str, lease: &str) -> Bg {
    let mut c: Command = env.command(&[
        "work",
        "--concurrency",
        "2",
        "--poll",
        "50ms",
        "--lease",
        lease,
        "--handlers",
        handlers.to_str().unwrap(),
    ]);
    c.env("STRESS_DIR", env.dir.path())
        .env("STRESS_TAG", env.dir.path())
        .env("STRESS_WORKER", name);
    Bg::spawn(c, env.dir.path(), name)
}

#[test]
fn workers_killed_at_random_moments_lose_nothing_and_double_nothing() {
    let mut rng = Rng::new("workers_killed_at_random_moments");
    let env = Env::init();
    let handlers = env.handlers.clone();
    std::fs::create_dir(env.path("pids")).unwrap();
    script(&handlers.join("crash"), CRASH_HANDLER);
    script(&handlers.join("quick"), QUICK_HANDLER);
    let runs = scale(120, 1500);
    let kills = scale(12, 150);
    let batch: String = (0..runs)
        .map(|i| {
            let job = if i % 2 == 0 { "crash" } else { "quick" };
            format!("{{\"job\":\"{job}\",\"input\":{{\"i\":{i}}}}}\n")
        })
        .collect();
    env.run_stdin(&["enqueue-many", "-q"], batch).ok();
    let marker = format!("STRESS_TAG={}", env.dir.path().display());

    let started = Instant::now();
    let mut killed = 0;
    let mut phases: BTreeMap<&str, u32> = BTreeMap::new();
    let mut workers: Vec<Bg> = Vec::new();
    let mut stderr_text = String::new();
    for round in 0..kills {
        while workers.len() < 2 {
            workers.push(crash_worker(
                &env,
                &handlers,
                &format!("w{round}-{}", workers.len()),
                "2s",
            ));
        }
        // Every third round kills the newest worker within 40 ms (start-up, first claim);
        // the others kill either worker after up to 700 ms (handlers, completions, claims).
        let victim = if round % 3 == 0 {
            std::thread::sleep(rng.millis(0, 40));
            workers.len() - 1
        } else {
            std::thread::sleep(rng.millis(5, 700));
            rng.below(workers.len() as u64) as usize
        };
        let mut w = workers.remove(victim);
        let phase = if handlers_of(&w.name) > 0 {
            "while a handler ran"
        } else {
            "between handlers (claim, completion, poll)"
        };
        w.signal(libc::SIGKILL);
        *phases.entry(phase).or_default() += 1;
        w.wait_max(Duration::from_secs(30));
        stderr_text.push_str(&w.err());
        killed += 1;
    }
    for w in &workers {
        w.signal(libc::SIGKILL);
    }
    for mut w in workers.drain(..) {
        w.wait_max(Duration::from_secs(30));
        stderr_text.push_str(&w.err());
        killed += 1;
    }
    // No handler and no grandchild of a killed worker may keep running.
    let orphans_gone = wait_until(Duration::from_secs(10), || {
        processes_with_env(&marker).is_empty()
    });
    let orphans = processes_with_env(&marker);
    assert!(
        orphans_gone,
        "processes left behind by killed workers: {orphans:?}"
    );
    assert_integrity(&env.db);

    // A clean worker finishes what is left once the dead workers' leases have run out.
    let finished = wait_until(Duration::from_secs(scale(120, 900)), || {
        let mut c: Command = env.command(&[
            "work",
            "--until-idle",
            "--lease",
            "5s",
            "--concurrency",
            "2",
            "--poll",
            "50ms",
            "--handlers",
            handlers.to_str().unwrap(),
        ]);
        c.env("STRESS_DIR", env.dir.path())
            .env("STRESS_TAG", env.dir.path());
        let out = run_command(c, None);
        stderr_text.push_str(&out.stderr);
        count(
            &env.conn(),
            "SELECT count(*) FROM durably_runs WHERE status <> 'completed'",
        ) == 0
    });
    assert_no_busy_or_panic("workers", &stderr_text);
    let conn = env.conn();
    let left = count(
        &conn,
        "SELECT count(*) FROM durably_runs WHERE status <> 'completed'",
    );
    assert!(finished, "{left} runs not completed");
    assert_integrity(&env.db);

    // Each claim executed at most once, and the generations of a run never overlap: the
    // handler of generation g had stopped (ended or was killed) before generation g+1 started.
    let execs = read_executions(env.dir.path());
    let mut per_run: BTreeMap<String, Vec<(i64, Execution)>> = BTreeMap::new();
    for ((id, generation), e) in &execs {
        assert!(
            e.starts <= 1,
            "run {id} generation {generation} started {} times",
            e.starts
        );
        per_run
            .entry(id.clone())
            .or_default()
            .push((*generation, e.clone()));
    }
    let mut reexecuted = 0;
    for (id, list) in &per_run {
        for pair in list.windows(2) {
            let (g1, e1) = &pair[0];
            let (g2, e2) = &pair[1];
            assert!(
                e1.last < e2.first,
                "run {id}: generation {g1} still ran at {} after generation {g2} started at {}",
                e1.last,
                e2.first
            );
        }
        if list.len() > 1 {
            reexecuted += 1;
        }
    }
    // Completion is fenced: the output is from the last claim, whose handler ended.
    let mut stmt = conn
        .prepare(
            "SELECT id, lease_generation, json_extract(output, '$.generation') FROM durably_runs",
        )
        .unwrap();
    let rows: Vec<(String, i64, Option<i64>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let ids: BTreeSet<&String> = rows.iter().map(|r| &r.0).collect();
    for (id, generation, out_gen) in &rows {
        assert_eq!(
            Some(*generation),
            *out_gen,
            "run {id}: output from another claim"
        );
        let e = execs.get(&(id.clone(), *generation)).unwrap_or_else(|| {
            panic!("run {id} completed without an execution of generation {generation}")
        });
        assert!(e.ended, "run {id} completed but its handler never ended");
    }
    assert_eq!(ids.len() as u64, runs);
    // Every recorded pid (handlers and grandchildren) is gone.
    let pids: Vec<i32> = std::fs::read_dir(env.path("pids"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    assert!(!pids.is_empty());
    for pid in &pids {
        let ours = std::fs::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|e| e.split(|&b| b == 0).any(|v| v == marker.as_bytes()));
        assert!(
            !(alive(*pid) && ours),
            "handler process {pid} is still running"
        );
    }
    assert!(processes_with_env(&marker).is_empty());
    assert!(
        phases.len() == 2,
        "kills did not land in every phase: {phases:?}"
    );
    eprintln!(
        "worker kill -9: {runs} runs, {killed} workers killed ({phases:?}), {} executions, \
         {reexecuted} runs re-executed after a kill, {} handler pids checked, duplicates under \
         one lease 0, lost 0, in {:.1?}",
        execs.len(),
        pids.len(),
        started.elapsed()
    );
}

#[test]
fn handlers_and_grandchildren_die_with_a_killed_worker() {
    let env = Env::init();
    let handlers = env.handlers.clone();
    std::fs::create_dir(env.path("pids")).unwrap();
    // A handler that starts a grandchild in its own session (escaping the process group is not
    // possible for setsid'd children, so only the group is required) and then blocks.
    script(
        &handlers.join("block"),
        "#!/bin/bash\necho $$ > \"$STRESS_DIR/pids/$$\"\nsleep 300 &\necho $! > \"$STRESS_DIR/pids/$!\"\n(sleep 301; true) &\necho $! > \"$STRESS_DIR/pids/$!\"\nwait\n",
    );
    for _ in 0..2 {
        env.enqueue(&["--job", "block"]);
    }
    let marker = format!("STRESS_TAG={}", env.dir.path().display());
    let mut w = crash_worker(&env, &handlers, "blocker", "30s");
    let started = wait_until(Duration::from_secs(30), || {
        std::fs::read_dir(env.path("pids"))
            .map(|d| d.count())
            .unwrap_or(0)
            >= 6
    });
    assert!(started, "handlers did not start: {}", w.err());
    assert!(!processes_with_env(&marker).is_empty());
    w.signal(libc::SIGKILL);
    w.wait_max(Duration::from_secs(10));
    let gone = wait_until(Duration::from_secs(10), || {
        processes_with_env(&marker).is_empty()
    });
    let left: Vec<(i32, String)> = processes_with_env(&marker)
        .into_iter()
        .map(|p| {
            (
                p,
                std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .unwrap_or_default()
                    .replace('\0', " "),
            )
        })
        .collect();
    // Clean up whatever survived before failing.
    for (p, _) in &left {
        unsafe {
            libc::kill(*p, libc::SIGKILL);
        }
    }
    assert!(gone, "processes outlived their worker: {left:?}");
    // The runs are still leased by the dead worker; they become claimable when the lease ends.
    let conn = env.conn();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM durably_runs WHERE status = 'leased'"
        ),
        2
    );
    let _ = Stdio::null();
}
