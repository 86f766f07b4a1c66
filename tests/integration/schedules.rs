//! Schedules (issue 17 point 3): `durably schedule add|ls|show|rm|pause|resume` and their
//! refusals; `durably work` materialising one run per slot with several workers (on
//! PostgreSQL two of them on "hosts" whose clocks are skewed with libfaketime: slots are
//! decided by the database's clock), catch-up after downtime, paused schedules, `kill -9`
//! during materialisation, and the library's `migrate()` and `getRuns` on a database with
//! schedules.
//!
//! Both backends (`both!`); the library cases need Node.js (ignored unless
//! `--include-ignored`). Run: `cargo test --test integration schedules:: -- --include-ignored`.

use crate::harness::{lit, node_session, setup, Backend, Bg, Env};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

/// The slot labels of the runs of `job`, sorted, with each run's created_at.
fn slots(env: &Env, job: &str) -> Vec<(String, String)> {
    env.sql_rows(&format!(
        "SELECT l.value, r.created_at FROM durably_run_labels l JOIN durably_runs r ON r.id = l.run_id \
         WHERE l.key = 'durably.slot' AND r.job_name = {} ORDER BY l.value",
        lit(job)
    ))
    .into_iter()
    .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
    .collect()
}

fn ms(text: &str) -> i64 {
    durably::time::parse_ms(text).unwrap_or_else(|| panic!("not a timestamp: {text}"))
}

/// Asserts that `slots` are distinct and one `step_ms` apart: no slot twice, no gap.
#[track_caller]
fn assert_contiguous(slots: &[(String, String)], step_ms: i64) {
    for pair in slots.windows(2) {
        assert_eq!(
            ms(&pair[1].0) - ms(&pair[0].0),
            step_ms,
            "slots {} and {} are not one step apart: {slots:?}",
            pair[0].0,
            pair[1].0
        );
    }
}

fn schedule_field(env: &Env, name: &str, column: &str) -> Option<String> {
    env.sql_value(&format!(
        "SELECT CAST({column} AS TEXT) FROM durably_cli_schedules WHERE name = {}",
        lit(name)
    ))
}

fn schedule_count(env: &Env) -> i64 {
    env.count("SELECT count(*) FROM durably_cli_schedules")
}

/// `durably work` under libfaketime, the wall clock shifted by `shift` (as
/// postgres_clock.rs does). The monotonic clock is left alone, as on a real host whose wall
/// clock is off (libfaketime's shifted monotonic clock stalls the worker's timed waits).
fn skewed(env: &Env, shift: &str, args: &[&str]) -> Command {
    // libfaketime preloaded into the worker itself (not the `faketime` wrapper, which forks:
    // a signal to the wrapper would leave the worker running).
    let mut c = env.command(args);
    c.env("LD_PRELOAD", LIBFAKETIME)
        .env("FAKETIME", shift)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    c
}

/// libfaketime as Debian installs it (`apt install faketime`; .ci/run does).
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

both! {
    fn the_polls_read_is_one_index_range() {
        let env = Env::init();
        env.ok(&["schedule", "add", "a", "--every", "1h", "--job", "j"]);
        let plan = match env.backend {
            Backend::Sqlite => {
                let sql = include_str!("../../sql/schedule_due.sql")
                    .replace("?1", "'2026-12-03T00:00:00.000Z'")
                    .replace("?2", "64");
                let rows = env.sql_rows(&format!("EXPLAIN QUERY PLAN {sql}"));
                let cells = rows.into_iter().flatten().flatten();
                cells.collect::<Vec<_>>().join(" ")
            }
            Backend::Postgres => {
                // A table this small is scanned; what matters is that the index serves it.
                env.exec("SET enable_seqscan = off");
                let sql = include_str!("../../sql/postgres/schedule_due.sql").replace("$1", "64");
                env.sql_column(&format!("EXPLAIN {sql}")).join("\n")
            }
        };
        assert!(plan.contains("idx_durably_cli_schedules_next"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE") && !plan.contains("Sort"), "{plan}");
    }

    fn add_ls_show_pause_resume_rm() {
        let env = Env::init();
        let added = env
            .ok(&[
                "schedule", "add", "nightly", "--cron", "30 2 * * *", "--tz", "Europe/Paris",
                "--job", "backup", "--input", r#"{"full":true}"#, "--label", "team=ops",
                "--concurrency-key", "backup", "--catch-up", "all", "--retries", "3",
                "--backoff", "10s", "--retry-on", "1,75", "--json",
            ])
            .json();
        assert_eq!(added["name"], "nightly");
        assert_eq!(added["tz"], "Europe/Paris");
        assert_eq!(added["input"], json!({"full": true}));
        assert_eq!(added["labels"], json!({"team": "ops"}));
        assert_eq!(added["catchUp"], "all");
        assert_eq!(added["retries"], 3);
        assert_eq!(added["backoffMs"], 10_000);
        assert_eq!(added["retryOn"], json!([1, 75]));
        assert_eq!(added["paused"], false);
        // 02:30 in Paris is 01:30 or 00:30 UTC, and the next slot is in the future.
        let next = added["nextAt"].as_str().unwrap();
        assert!(next.ends_with("T01:30:00.000Z") || next.ends_with("T00:30:00.000Z"), "{next}");
        assert!(ms(next) > durably::time::now_ms());
        assert_eq!(added["upcoming"][0], next);
        env.ok(&["schedule", "add", "hb", "--every", "1m", "--job", "ping"]);

        let ls = env.ok(&["schedule", "ls"]).stdout;
        let lines: Vec<&str> = ls.lines().collect();
        assert!(lines[0].starts_with("NAME"), "{ls}");
        assert!(lines[1].starts_with("hb ") && lines[1].contains("every 1m"), "{ls}");
        assert!(lines[2].starts_with("nightly ") && lines[2].contains("Europe/Paris"), "{ls}");
        let json = env.ok(&["schedule", "ls", "--json"]).json();
        assert_eq!(json.as_array().unwrap().len(), 2);
        let hb = env.ok(&["schedule", "show", "hb", "--json"]).json();
        assert_eq!(hb["everyMs"], 60_000);
        assert_eq!(ms(hb["nextAt"].as_str().unwrap()) % 60_000, 0, "a multiple of 1m");

        let paused = env.ok(&["schedule", "pause", "hb", "--json"]).json();
        assert_eq!(paused["paused"], true);
        assert!(env.ok(&["schedule", "ls"]).stdout.contains("paused"));
        // Resumed: the first slot after now, whatever next_at was.
        env.exec("UPDATE durably_cli_schedules SET next_at = '2020-01-01T00:00:00.000Z' WHERE name = 'hb'");
        let resumed = env.ok(&["schedule", "resume", "hb", "--json"]).json();
        assert_eq!(resumed["paused"], false);
        assert!(ms(resumed["nextAt"].as_str().unwrap()) > durably::time::now_ms());

        env.ok(&["schedule", "rm", "hb"]);
        assert_eq!(schedule_count(&env), 1);
        env.run(&["schedule", "rm", "hb"]).fails(3, "schedule \"hb\" not found");
        env.run(&["schedule", "show", "hb"]).fails(3, "not found");
        env.run(&["schedule", "pause", "hb"]).fails(3, "not found");
    }

    fn bad_input_is_one_line_exit_2_and_changes_nothing() {
        let env = Env::init();
        env.ok(&["schedule", "add", "taken", "--every", "1h", "--job", "j"]);
        let before = env.ok(&["schedule", "ls", "--json"]).stdout;
        let cases: [(&[&str], &str); 9] = [
            (&["--cron", "61 * * * *"], "invalid cron expression"),
            (&["--cron", "0 0 30 2 *"], "it never fires"),
            (&["--cron", "* * *"], "invalid cron expression"),
            (&["--cron", "* * * * *", "--tz", "Mars/Olympus"], "unknown time zone"),
            (&["--every", "500ms"], "at least 1s"),
            (&["--every", "1s", "--input", "{nope"], "--input"),
            (&["--every", "1s", "--label", "bad key=v"], "label"),
            (&["--every", "1s", "--cron", "* * * * *"], "cannot be used with"),
            (&["--every", "1s", "--tz", "UTC"], "cannot be used with"),
        ];
        for (flags, needle) in cases {
            let mut args = vec!["schedule", "add", "new", "--job", "j"];
            args.extend_from_slice(flags);
            let out = env.run(&args);
            assert_eq!(out.code, 2, "{args:?}: {out:?}");
            assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        }
        // Clap's own errors are several lines; ours are one.
        for flags in [&["--cron", "61 * * * *"][..], &["--cron", "* * * * *", "--tz", "X/Y"]] {
            let mut args = vec!["schedule", "add", "new", "--job", "j"];
            args.extend_from_slice(flags);
            crate::harness::assert_one_error_line(&env.run(&args).stderr, "durably:");
        }
        env.run(&["schedule", "add", "taken", "--every", "1s", "--job", "other"])
            .fails(2, "a schedule named \"taken\" already exists");
        env.run(&["schedule", "add", "bad name", "--every", "1s", "--job", "j"]).code(2);
        assert_eq!(env.ok(&["schedule", "ls", "--json"]).stdout, before);
        assert_eq!(schedule_count(&env), 1);
    }

    fn three_workers_make_one_run_per_slot_at_its_time() {
        let env = Env::init();
        env.handler("tick", "cat >/dev/null");
        env.ok(&["schedule", "add", "tick", "--every", "1s", "--job", "tick"]);
        let first = ms(&schedule_field(&env, "tick", "next_at").unwrap());
        let handlers = env.handlers.display().to_string();
        let args = ["work", "--handlers", &handlers, "--poll", "100ms", "--concurrency", "4", "-v"];
        // On PostgreSQL two "hosts" have clocks 90 s ahead and 90 s behind: the database's
        // clock decides the slots. On SQLite the file's host clock does (one host).
        let shifts: [Option<&str>; 3] = match env.backend {
            Backend::Postgres => [Some("+90s"), Some("-90s"), None],
            Backend::Sqlite => [None, None, None],
        };
        let spawn = |i: usize| {
            let cmd = match shifts[i] {
                Some(s) => skewed(&env, s, &args),
                None => env.command(&args),
            };
            Bg::spawn(cmd, env.dir.path(), &format!("worker{i}"))
        };
        // The first two alone for a while (so each materialises slots), then all three.
        let mut workers = vec![spawn(0), spawn(1)];
        std::thread::sleep(Duration::from_millis(3500));
        workers.push(spawn(2));
        std::thread::sleep(Duration::from_millis(3500));
        for w in &workers {
            w.signal(libc::SIGTERM);
        }
        let mut materialised = Vec::new();
        for mut w in workers {
            w.wait_max(Duration::from_secs(30));
            let err = std::fs::read_to_string(&w.stderr).unwrap();
            assert!(!err.contains("cannot materialise"), "{}: {err}", w.name);
            materialised.push(err.matches("schedule tick: slot").count());
        }
        assert!(
            materialised[0] + materialised[1] >= 2,
            "the first two workers materialised no slot: {materialised:?}"
        );
        let runs = slots(&env, "tick");
        assert!(runs.len() >= 4, "too few slots in 7 s: {runs:?}");
        assert_eq!(ms(&runs[0].0), first, "the first slot after add is the first run");
        assert_contiguous(&runs, 1000);
        // Never early: each run was created at or after its slot by the store's clock.
        for (slot, created) in &runs {
            assert!(created >= slot, "slot {slot} materialised early, at {created}");
        }
        // One run per slot, and the key says which.
        let keys = env.count(
            "SELECT count(DISTINCT idempotency_key) FROM durably_runs WHERE job_name = 'tick'",
        );
        assert_eq!(keys as usize, runs.len());
        assert_eq!(
            env.count("SELECT count(*) FROM durably_runs WHERE job_name = 'tick' AND status <> 'completed'"),
            0
        );
        let last = schedule_field(&env, "tick", "last_slot").unwrap();
        assert_eq!(last, runs.last().unwrap().0);
    }

    fn catch_up_none_last_all_after_downtime() {
        let env = Env::init();
        env.handler("other", "cat >/dev/null");
        for policy in ["none", "last", "all"] {
            env.ok(&[
                "schedule", "add", policy, "--cron", "0 0 1 1 *", "--job", policy,
                "--catch-up", policy,
            ]);
        }
        // No worker ran since two New Years before this one.
        let year: i64 = durably::time::now()[..4].parse().unwrap();
        let since = format!("{}-01-01T00:00:00.000Z", year - 2);
        env.exec(&format!("UPDATE durably_cli_schedules SET next_at = {}", lit(&since)));
        let handlers = env.handlers.display().to_string();
        env.ok(&["work", "--until-idle", "--handlers", &handlers]);
        let new_years: Vec<String> =
            (year - 2..=year).map(|y| format!("{y}-01-01T00:00:00.000Z")).collect();
        let just_after_new_year = durably::time::now_ms() - ms(&new_years[2]) < 60_000;
        let none: Vec<String> = slots(&env, "none").into_iter().map(|s| s.0).collect();
        if !just_after_new_year {
            assert!(none.is_empty(), "none caught up: {none:?}");
        }
        let last: Vec<String> = slots(&env, "last").into_iter().map(|s| s.0).collect();
        assert_eq!(last, [new_years[2].clone()]);
        let all: Vec<String> = slots(&env, "all").into_iter().map(|s| s.0).collect();
        assert_eq!(all, new_years);
        let next = format!("{}-01-01T00:00:00.000Z", year + 1);
        for policy in ["none", "last", "all"] {
            assert_eq!(schedule_field(&env, policy, "next_at").unwrap(), next);
        }
        // A second worker finds nothing more to do.
        env.ok(&["work", "--until-idle", "--handlers", &handlers]);
        assert_eq!(slots(&env, "all").len(), 3);
    }

    fn a_paused_schedule_materialises_nothing() {
        let env = Env::init();
        env.handler("other", "cat >/dev/null");
        env.ok(&["schedule", "add", "p", "--every", "1s", "--job", "p", "--catch-up", "all"]);
        env.ok(&["schedule", "pause", "p"]);
        env.exec("UPDATE durably_cli_schedules SET next_at = '2026-01-01T00:00:00.000Z'");
        let handlers = env.handlers.display().to_string();
        env.ok(&["work", "--until-idle", "--handlers", &handlers]);
        assert!(slots(&env, "p").is_empty());
        assert_eq!(
            schedule_field(&env, "p", "next_at").unwrap(),
            "2026-01-01T00:00:00.000Z"
        );
        // Resumed, it starts at the next slot: nothing of the pause is caught up.
        env.ok(&["schedule", "resume", "p"]);
        env.ok(&["work", "--until-idle", "--handlers", &handlers]);
        std::thread::sleep(Duration::from_millis(1100));
        env.ok(&["work", "--until-idle", "--handlers", &handlers]);
        let runs = slots(&env, "p");
        assert!(!runs.is_empty() && runs.len() <= 2, "{runs:?}");
    }

    fn kill_9_during_materialisation_loses_and_doubles_nothing() {
        let env = Env::init();
        env.handler("other", "cat >/dev/null");
        env.ok(&["schedule", "add", "k", "--every", "1s", "--job", "k", "--catch-up", "all"]);
        // 60 slots due at once (under the cap of 100): a transaction long enough to be
        // killed inside.
        let start = (durably::time::now_ms() / 1000 - 60) * 1000;
        let since = durably::time::format_ms(start);
        env.exec(&format!("UPDATE durably_cli_schedules SET next_at = {}", lit(&since)));
        let handlers = env.handlers.display().to_string();
        let args = ["work", "--handlers", &handlers, "--poll", "50ms"];
        let began = Instant::now();
        for i in 0..6u64 {
            let mut w = Bg::spawn(env.command(&args), env.dir.path(), &format!("k{i}"));
            std::thread::sleep(Duration::from_millis(15 + 25 * i));
            w.signal(libc::SIGKILL);
            w.wait_max(Duration::from_secs(10));
            // All or nothing: the slots enqueued are exactly those up to last_slot.
            let runs = slots(&env, "k");
            assert_contiguous(&runs, 1000);
            match schedule_field(&env, "k", "last_slot") {
                None => assert!(runs.is_empty(), "runs without last_slot: {runs:?}"),
                Some(last) => {
                    assert_eq!(runs.first().map(|r| r.0.as_str()), Some(since.as_str()));
                    assert_eq!(runs.last().unwrap().0, last);
                }
            }
        }
        let mut w = Bg::spawn(env.command(&args), env.dir.path(), "final");
        std::thread::sleep(Duration::from_millis(1500));
        w.signal(libc::SIGTERM);
        w.wait_max(Duration::from_secs(30));
        let runs = slots(&env, "k");
        assert_eq!(runs[0].0, since, "the first missed slot is there");
        assert_contiguous(&runs, 1000);
        assert!(ms(&runs.last().unwrap().0) >= start + began.elapsed().as_millis() as i64 / 2);
        assert_eq!(
            schedule_field(&env, "k", "last_slot").unwrap(),
            runs.last().unwrap().0
        );
    }
}

/// The library migrates the CLI's database with its schedules table and materialised runs,
/// and reads those runs as pending.
fn library_sees_materialised_runs() {
    setup();
    let env = Env::new();
    env.ok(&["init"]);
    env.handler("other", "cat >/dev/null");
    env.ok(&["schedule", "add", "s", "--every", "1s", "--job", "echo"]);
    env.exec("UPDATE durably_cli_schedules SET next_at = '2026-01-01T00:00:00.000Z'");
    let handlers = env.handlers.display().to_string();
    env.ok(&["work", "--until-idle", "--handlers", &handlers]);
    assert_eq!(slots(&env, "echo").len(), 1);
    let key = env.path("lib-session");
    node_session("migrate", &key, &env.db_arg(), &[]);
    let read = node_session(
        "read",
        &key,
        &env.db_arg(),
        &[&json!([{"op": "getRuns", "filter": {"jobName": "echo"}}]).to_string()],
    );
    let runs = read[0].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "{read}");
    assert_eq!(runs[0]["status"], "pending");
    assert_eq!(runs[0]["labels"]["durably.schedule"], "s");
    // The CLI still reads its schedule after the library's migrate().
    env.ok(&["schedule", "show", "s"]);
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it"]
fn library_migrate_accepts_schedules_sqlite() {
    Backend::Sqlite.run(library_sees_materialised_runs)
}

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn library_migrate_accepts_schedules_pg() {
    Backend::Postgres.run(library_sees_materialised_runs)
}
