//! show, rm (by id and purge), cancel, retrigger and stats; id prefixes. Every test runs on both
//! backends.

use crate::harness::*;
use serde_json::json;

const OLD: &str = "2000-01-01T00:00:00.000Z";
const FUTURE: &str = "2999-01-01T00:00:00.000Z";

/// Gives a run a step and a log, as a worker would.
fn add_step_and_log(env: &Env, id: &str) {
    env.exec_batch(&format!(
        r#"INSERT INTO durably_steps (id, run_id, name, "index", status, output, started_at, completed_at)
           VALUES ('step-{id}', '{id}', 'fetch', 0, 'completed', '{{"n":1}}', '{OLD}', '{OLD}');
           INSERT INTO durably_logs (id, run_id, step_name, level, message, data, created_at)
           VALUES ('log-{id}', '{id}', 'fetch', 'info', 'hello', '{{"k":"v"}}', '{OLD}');"#
    ));
}

fn status_of(env: &Env, id: &str) -> Option<String> {
    env.sql_column(&format!(
        "SELECT status FROM durably_runs WHERE id = {}",
        lit(id)
    ))
    .into_iter()
    .next()
}

both! {
    fn show_json_has_the_run_steps_and_logs() {
        let env = Env::new();
        let id = env.enqueue(&["--job", "j", "--label", "a=b", "--input", r#"{"q":1}"#]);
        add_step_and_log(&env, &id);
        let v = env.run(&["show", &id, "--json"]).ok().json();
        let mut expected: Vec<&str> = RUN_FIELDS.into_iter().chain(["logs", "steps"]).collect();
        expected.sort();
        assert_eq!(sorted_keys(&v), expected);
        assert_eq!(v["input"], json!({"q": 1}));
        assert_eq!(v["steps"].as_array().unwrap().len(), 1);
        let step = &v["steps"][0];
        assert_eq!(step["runId"], id.as_str());
        assert_eq!(step["name"], "fetch");
        assert_eq!(step["index"], 0);
        assert_eq!(step["output"], json!({"n": 1}));
        let log = &v["logs"][0];
        assert_eq!(log["runId"], id.as_str());
        assert_eq!(log["stepName"], "fetch");
        assert_eq!(log["level"], "info");
        assert_eq!(log["message"], "hello");
        assert_eq!(log["data"], json!({"k": "v"}));
        // A run without steps or logs: empty arrays.
        let bare = env.enqueue(&["--job", "j"]);
        let v = env.run(&["show", &bare, "--json"]).ok().json();
        assert_eq!(v["steps"], json!([]));
        assert_eq!(v["logs"], json!([]));
        // Text output names the fields.
        let text = env.run(&["show", &id]).ok().stdout.clone();
        for needle in [id.as_str(), "pending", "a=b", "fetch", "hello"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}

both! {
    fn unique_prefixes_are_accepted_case_insensitively() {
        let env = Env::new();
        let a = env.enqueue(&["--job", "j"]);
        let b = env.enqueue(&["--job", "j"]);
        // UUIDv7s made in one burst share their leading (time) characters.
        let common_len = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        assert!(common_len >= 4, "{a} {b}");
        let unique_a = &a[..common_len + 1];
        for given in [
            unique_a.to_string(),
            unique_a.to_uppercase(),
            a.to_uppercase(),
        ] {
            let v = env.run(&["show", &given, "--json"]).ok().json();
            assert_eq!(v["id"], a.as_str(), "{given}");
        }
        // Ambiguous: an error naming the prefix, for every command that takes ids.
        let ambiguous = &a[..4];
        for cmd in ["show", "rm", "cancel", "retrigger"] {
            let out = env.run(&[cmd, ambiguous]);
            assert_ne!(out.code, 0, "{cmd}: {out:?}");
            assert_one_error_line(&out.stderr, "ambiguous");
        }
        // Prefixes work for rm/cancel/retrigger too.
        env.run(&["cancel", &unique_a.to_uppercase()]).ok();
        assert_eq!(status_of(&env, &a).as_deref(), Some("cancelled"));
        let new = env.run(&["retrigger", unique_a]).ok().line().to_string();
        assert_ne!(new, a);
        env.run(&["rm", unique_a]).ok();
        assert_eq!(status_of(&env, &a), None);
        // Unknown: exit 3.
        env.run(&["show", "ffffffff"]).fails(3, "not found");
        env.run(&["show", "not-an-id!"]).fails(3, "not found");
    }
}

both! {
    fn rm_by_id() {
        let env = Env::new();
        let pending = env.enqueue(&["--job", "j", "--label", "a=b"]);
        let done = env.enqueue(&["--job", "j", "--label", "a=b"]);
        env.set_status(&done, "completed", Some(OLD));
        add_step_and_log(&env, &done);
        add_step_and_log(&env, &pending);

        // A pending run is refused without --force (exit 4), and kept.
        let counts = env.counts();
        env.run(&["rm", &pending]).fails(4, "--force");
        assert_eq!(env.counts(), counts);
        // A terminal run is deleted with its labels, steps and logs.
        let out = env.run(&["rm", &done]);
        assert_eq!(out.ok().line(), done);
        let c = env.counts();
        assert_eq!(c["durably_runs"], 1);
        assert_eq!(c["durably_run_labels"], 1);
        assert_eq!(c["durably_steps"], 1);
        assert_eq!(c["durably_logs"], 1);
        // Unknown: 3.
        env.run(&["rm", &done]).fails(3, "not found");
        // --force deletes a pending or leased run, with everything it owns.
        env.set_status(&pending, "leased", None);
        env.run(&["rm", "--force", &pending]).ok();
        let c = env.counts();
        for t in [
            "durably_runs",
            "durably_run_labels",
            "durably_steps",
            "durably_logs",
        ] {
            assert_eq!(c[t], 0, "{t}");
        }
    }
}

both! {
    fn rm_several_ids_each_in_its_own_transaction() {
        let env = Env::new();
        let ids: Vec<String> = (0..4).map(|_| env.enqueue(&["--job", "j"])).collect();
        env.set_status(&ids[0], "completed", Some(OLD));
        env.set_status(&ids[1], "failed", Some(OLD));
        // A refused (pending) id and deletable ones: 4, the deletable ones are gone.
        let out = env.run(&["rm", &ids[0], &ids[2]]);
        assert_eq!(out.code, 4, "{out:?}");
        assert_eq!(out.stdout.trim(), ids[0]);
        assert_one_error_line(&out.stderr, &ids[2]);
        assert_eq!(status_of(&env, &ids[0]), None);
        // Unknown beats refused: 3.
        let out = env.run(&["rm", &ids[3], "ffffffff", &ids[1]]);
        assert_eq!(out.code, 3, "{out:?}");
        assert_eq!(out.stderr.lines().count(), 2, "{out:?}");
        assert_eq!(
            status_of(&env, &ids[1]),
            None,
            "the terminal one was deleted"
        );
        assert_eq!(status_of(&env, &ids[3]).as_deref(), Some("pending"));
        // No ids and no --older-than: usage error.
        env.run(&["rm"]).code(2);
    }
}

/// Runs with completed_at set, for purge tests. Returns ids by name.
fn purge_fixture(env: &Env) -> std::collections::BTreeMap<&'static str, String> {
    let mut m = std::collections::BTreeMap::new();
    type Spec<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, &'a [&'a str]);
    let specs: [Spec; 8] = [
        ("old-completed", "a", "completed", Some(OLD), &["t=1"]),
        ("old-failed", "a", "failed", Some(OLD), &["t=2"]),
        ("old-cancelled", "b", "cancelled", Some(OLD), &["t=1"]),
        ("new-completed", "a", "completed", Some(FUTURE), &["t=1"]),
        ("old-pending", "a", "pending", Some(OLD), &["t=1"]),
        ("old-leased", "a", "leased", Some(OLD), &["t=1"]),
        ("null-completed", "a", "completed", None, &["t=1"]),
        ("old-completed-b", "b", "completed", Some(OLD), &["t=2"]),
    ];
    for (name, job, status, at, labels) in specs {
        let mut args = vec!["--job", job];
        for l in labels {
            args.extend(["--label", l]);
        }
        let id = env.enqueue(&args);
        env.set_status(&id, status, at);
        add_step_and_log(env, &id);
        m.insert(name, id);
    }
    m
}

fn remaining(env: &Env, m: &std::collections::BTreeMap<&'static str, String>) -> Vec<&'static str> {
    m.iter()
        .filter(|(_, id)| status_of(env, id).is_some())
        .map(|(n, _)| *n)
        .collect()
}

both! {
    fn purge_filters_and_dry_run() {
        let env = Env::new();
        let m = purge_fixture(&env);
        let counts = env.counts();

        let out = env.run(&["rm", "--older-than", "1d", "--dry-run"]);
        assert_eq!(out.ok().line(), "would delete 4 runs");
        let out = env.run(&[
            "rm",
            "--older-than",
            "1d",
            "--dry-run",
            "--status",
            "failed",
            "--status",
            "cancelled",
        ]);
        assert_eq!(out.ok().line(), "would delete 2 runs");
        let out = env.run(&[
            "rm",
            "--older-than",
            "1d",
            "--dry-run",
            "--json",
            "--label",
            "t=1",
        ]);
        assert_eq!(out.ok().json(), json!({"wouldDelete": 2}));
        assert_eq!(env.counts(), counts, "dry runs delete nothing");

        // --job and --label narrow it.
        let out = env.run(&["rm", "--older-than", "1d", "--job", "b", "--label", "t=2"]);
        assert_eq!(out.ok().line(), "deleted 1 run");
        assert!(!remaining(&env, &m).contains(&"old-completed-b"));
        // --status narrows it.
        env.run(&["rm", "--older-than", "1d", "--status", "failed"])
            .ok();
        assert!(!remaining(&env, &m).contains(&"old-failed"));
        // The rest of the old terminal runs, with their labels, steps and logs.
        let out = env.run(&["rm", "--older-than", "1d", "--json"]);
        assert_eq!(out.ok().json(), json!({"deleted": 2}));
        assert_eq!(
            remaining(&env, &m),
            [
                "new-completed",
                "null-completed",
                "old-leased",
                "old-pending"
            ]
        );
        let c = env.counts();
        assert_eq!(c["durably_runs"], 4);
        assert_eq!(c["durably_run_labels"], 4);
        assert_eq!(c["durably_steps"], 4);
        assert_eq!(c["durably_logs"], 4);
    }
}

both! {
    fn purge_is_strictly_older_than() {
        let env = Env::new();
        let m = purge_fixture(&env);
        // 0s: everything terminal completed before now, never the future one.
        env.run(&["rm", "--older-than", "0s"]).ok();
        assert_eq!(
            remaining(&env, &m),
            [
                "new-completed",
                "null-completed",
                "old-leased",
                "old-pending"
            ]
        );
        // A run completed one hour ago survives --older-than 2h and goes with --older-than 30m.
        let id = env.enqueue(&["--job", "j"]);
        env.set_status(
            &id,
            "completed",
            Some(&timestamp_ago(std::time::Duration::from_secs(3600))),
        );
        env.run(&["rm", "--older-than", "2h"]).ok();
        assert!(status_of(&env, &id).is_some());
        env.run(&["rm", "--older-than", "30m"]).ok();
        assert!(status_of(&env, &id).is_none());
    }
}

both! {
    fn purge_usage_errors() {
        let env = Env::new();
        purge_fixture(&env);
        let counts = env.counts();
        env.run(&["rm", "--older-than", "1d", "--status", "pending"])
            .fails(2, "pending");
        env.run(&["rm", "--older-than", "1d", "--status", "leased"])
            .fails(2, "leased");
        env.run(&["rm", "--older-than", "soon"]).fails(2, "soon");
        env.run(&["rm", "--older-than", "1d", "--status", "bogus"])
            .fails(2, "bogus");
        env.run(&["rm", "--status", "failed"]).code(2);
        env.run(&["rm", "--older-than", "1d", "--force"]).code(2);
        assert_eq!(env.counts(), counts);
    }
}

both! {
    fn purge_in_batches_deletes_everything() {
        // More than one batch (the first batch is 256).
        let env = Env::new();
        let lines: String = (0..700)
            .map(|i| format!("{{\"job\":\"j\",\"labels\":{{\"n\":\"{i}\"}}}}\n"))
            .collect();
        env.run_stdin(&["enqueue-many", "--quiet"], lines).ok();
        env.exec(&format!(
            "UPDATE durably_runs SET status = 'completed', completed_at = {}",
            lit(OLD)
        ));
        let out = env.run(&["rm", "--older-than", "1h"]);
        assert_eq!(out.ok().line(), "deleted 700 runs");
        let c = env.counts();
        assert_eq!(c["durably_runs"], 0);
        assert_eq!(c["durably_run_labels"], 0);
    }
}

both! {
    fn cancel() {
        let env = Env::new();
        let pending = env.enqueue(&["--job", "j"]);
        let leased = env.enqueue(&["--job", "j"]);
        env.exec(&format!(
            "UPDATE durably_runs SET status = 'leased', lease_owner = 'w1', lease_expires_at = {}, lease_generation = 1 WHERE id = {}",
            lit(FUTURE),
            lit(&leased)
        ));
        let out = env.run(&["cancel", &pending, &leased]);
        assert_eq!(out.ok().stdout, format!("{pending}\n{leased}\n"));
        for id in [&pending, &leased] {
            let v = env.run(&["show", id, "--json"]).ok().json();
            assert_eq!(v["status"], "cancelled");
            assert!(v["completedAt"].is_string());
            assert_eq!(v["updatedAt"], v["completedAt"]);
            assert!(v["leaseOwner"].is_null());
            assert!(v["leaseExpiresAt"].is_null());
        }
        // Terminal: refused (4). Unknown: 3, and 3 wins over 4.
        let counts = env.counts();
        env.run(&["cancel", &pending]).fails(4, "cancelled");
        env.run(&["cancel", "ffffffff"]).fails(3, "not found");
        let out = env.run(&["cancel", &pending, "ffffffff"]);
        assert_eq!(out.code, 3, "{out:?}");
        assert_eq!(env.counts(), counts);
        // --json
        let id = env.enqueue(&["--job", "j"]);
        let out = env.run(&["cancel", &id, "--json"]);
        assert_eq!(out.ok().json(), json!({"id": id, "status": "cancelled"}));
        env.run(&["cancel"]).code(2);
    }
}

both! {
    fn retrigger() {
        let env = Env::new();
        let input = r#"{"b":1,"a":[1,2,3]}"#;
        let old = env.enqueue(&[
            "--job",
            "j",
            "--input",
            input,
            "--label",
            "t=1",
            "--label",
            "r=eu",
            "--idempotency-key",
            "once",
            "--concurrency-key",
            "c",
        ]);
        // Non-terminal: refused (4).
        let counts = env.counts();
        env.run(&["retrigger", &old]).fails(4, "pending");
        env.set_status(&old, "leased", None);
        env.run(&["retrigger", &old]).fails(4, "leased");
        assert_eq!(env.counts(), counts);
        env.run(&["retrigger", "ffffffff"]).fails(3, "not found");

        env.set_status(&old, "failed", Some(OLD));
        let new = env.run(&["retrigger", &old]).ok().line().to_string();
        assert_ne!(new, old);
        let v = env.run(&["show", &new, "--json"]).ok().json();
        assert_eq!(v["status"], "pending");
        assert_eq!(v["jobName"], "j");
        assert_eq!(v["labels"], json!({"t": "1", "r": "eu"}));
        assert_eq!(v["concurrencyKey"], "c");
        assert!(v["idempotencyKey"].is_null());
        let stored = env.field(&new, "input").unwrap_or_default();
        assert_eq!(stored, input, "same input text");
        let labels = env.count(&format!(
            "SELECT count(*) FROM durably_run_labels WHERE run_id = {}",
            lit(&new)
        ));
        assert_eq!(labels, 2);
        // The old run is unchanged.
        assert_eq!(status_of(&env, &old).as_deref(), Some("failed"));
        // A second retrigger while the first copy is pending with the same concurrency key:
        // the concurrency rule applies (conflict).
        env.run(&["retrigger", &old]).fails(4, "concurrency");
        // --json prints the new run.
        env.set_status(&new, "completed", Some(OLD));
        let v = env.run(&["retrigger", &old, "--json"]).ok().json();
        assert_eq!(v["status"], "pending");
        assert_eq!(v["jobName"], "j");
    }
}

both! {
    fn stats_counts_by_status_and_job() {
        let env = Env::new();
        let a1 = env.enqueue(&["--job", "a"]);
        env.enqueue(&["--job", "a"]);
        let b1 = env.enqueue(&["--job", "b"]);
        env.set_status(&a1, "completed", Some(OLD));
        env.set_status(&b1, "failed", Some(OLD));
        let v = env.run(&["stats", "--json"]).ok().json();
        assert_eq!(v["total"], 3);
        assert_eq!(
            v["byStatus"],
            json!({"pending": 1, "leased": 0, "completed": 1, "failed": 1, "cancelled": 0})
        );
        assert_eq!(v["byJob"]["a"], json!({"completed": 1, "pending": 1}));
        assert_eq!(v["byJob"]["b"], json!({"failed": 1}));
        let text = env.run(&["stats"]).ok().stdout.clone();
        let a_line = text.lines().find(|l| l.starts_with("a ")).expect(&text);
        let nums: Vec<&str> = a_line.split_whitespace().collect();
        assert_eq!(nums.last(), Some(&"2"), "{text}");
        // An empty database.
        let empty = Env::init();
        let v = empty.run(&["stats", "--json"]).ok().json();
        assert_eq!(v["total"], 0);
    }
}

both! {
    fn a_closed_stdout_does_not_stop_rm_or_cancel_halfway() {
        const N: usize = 1200;
        let env = Env::new();
        let lines: String = (0..N).map(|i| format!("{{\"job\":\"j{i}\"}}\n")).collect();
        env.run_stdin(&["enqueue-many", "--quiet"], lines).ok();
        let all = ids(env.run(&["ls", "--format", "ids", "--limit", "5000"]).ok());
        assert_eq!(all.len(), N);
        for (cmd, check) in [
            (
                "cancel",
                "SELECT count(*) FROM durably_runs WHERE status = 'cancelled'",
            ),
            ("rm", "SELECT 1200 - count(*) FROM durably_runs"),
        ] {
            // stdout is a pipe whose reader is gone before the first write; the output (~60
            // bytes an id with --json) passes the 64 KiB buffer, so writing fails halfway.
            let mut args = vec![cmd, "--json"];
            args.extend(all.iter().map(String::as_str));
            let mut c = env.command(&args);
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = c.spawn().unwrap();
            drop(child.stdout.take());
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{cmd}: {out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{cmd}");
            let done = env.count(check);
            assert_eq!(done, N as i64, "{cmd} stopped halfway");
        }
    }
}

both! {
    /// `show` for people: progress as `3/10 (30%) message`, the end time under the run's final
    /// status, a multi-line error indented under its label, and a step attempt that a later row
    /// of the same index replaces marked as retried. `--json` keeps the stored values.
    fn show_renders_progress_end_time_errors_and_retried_steps_for_people() {
        let env = Env::init();
        env.handler(
            "load",
            r#"durably progress 3 --total 10 --message "rows loaded" && echo '{"ok":true}'"#,
        );
        let id = env.enqueue_job("load", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        env.run(&["work", "--once", "--handlers", &h]).ok();
        let text = env.run(&["show", &id]).ok().stdout.clone();
        let line = |name: &str| -> String {
            text.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("no {name} line: {text}"))
                .to_string()
        };
        assert_eq!(
            line("progress"),
            format!("{:<18}3/10 (30%) rows loaded", "progress")
        );
        assert!(line("completed").starts_with("completed "), "{text}");
        let v = env.run(&["show", &id, "--json"]).ok().json();
        assert_eq!(
            v["progress"],
            json!({"current": 3, "total": 10, "message": "rows loaded"})
        );

        // A cancelled run with a two-line error and a step that failed, then ran again.
        let other = env.enqueue(&["--job", "j"]);
        let error = lit("first line\nsecond line");
        env.exec_batch(&format!(
                r#"UPDATE durably_runs SET status = 'cancelled', completed_at = '{OLD}',
                     error = {error},
                     progress = '{{"phase":"copy"}}' WHERE id = '{other}';
                   INSERT INTO durably_steps (id, run_id, name, "index", status, error, started_at, completed_at)
                   VALUES ('s1', '{other}', 'fetch', 0, 'failed', 'boom', '{OLD}', '{OLD}');
                   INSERT INTO durably_steps (id, run_id, name, "index", status, output, started_at, completed_at)
                   VALUES ('s2', '{other}', 'fetch', 0, 'completed', '{{"n":1}}', '{OLD}', '{OLD}');"#
            ));
        let text = env.run(&["show", &other]).ok().stdout.clone();
        assert!(
            text.contains(&format!("{:<18}{OLD}\n", "cancelled")),
            "{text}"
        );
        assert!(!text.lines().any(|l| l.starts_with("completed")), "{text}");
        assert!(
            text.contains(&format!(
                "{:<18}first line\n{:<18}second line\n",
                "error", ""
            )),
            "{text}"
        );
        // A progress of another shape is shown as stored.
        assert!(
            text.contains(&format!("{:<18}{{\"phase\":\"copy\"}}\n", "progress")),
            "{text}"
        );
        let rows: Vec<&str> = text.lines().filter(|l| l.contains("fetch")).collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(
            rows[0].contains("failed (retried)") && rows[0].contains("boom"),
            "{text}"
        );
        assert!(
            rows[1].contains("completed") && !rows[1].contains("retried"),
            "{text}"
        );
        let v = env.run(&["show", &other, "--json"]).ok().json();
        assert_eq!(v["steps"][0]["status"], "failed");
        assert_eq!(v["status"], "cancelled");
    }
}

/// Inserts a pending run with exactly this id, as another writer (the library) might.
fn insert_run(env: &Env, id: &str) {
    env.exec(&format!(
        "INSERT INTO durably_runs (id, job_name, input, status, created_at, updated_at) \
         VALUES ({}, 'j', '{{}}', 'pending', '{OLD}', '{OLD}')",
        lit(id)
    ));
}

both! {
    /// `show`'s status line in the status's colour: on a terminal (`script`) with `--color
    /// auto`, on a pipe with `--color always`; plain with NO_COLOR, `--color never`, on a pipe,
    /// in JSON.
    fn show_colours_the_status_on_a_terminal_only() {
        let env = Env::new();
        let id = env.enqueue(&["--job", "j"]);
        env.exec(&format!(
            "UPDATE durably_runs SET status = 'failed', error = 'boom' WHERE id = {}",
            lit(&id)
        ));
        let on_pty = |args: &str, no_color: bool| {
            let mut script = std::process::Command::new("script");
            script
                .arg("-qec")
                .arg(format!("'{BIN}' --db '{}' {args}", env.db_arg()))
                .arg("/dev/null")
                .env_remove("DURABLY_DB")
                .env_remove("CLICOLOR_FORCE")
                .env("TERM", "xterm");
            if no_color {
                script.env("NO_COLOR", "1");
            } else {
                script.env_remove("NO_COLOR");
            }
            let out = run_command(script, None);
            out.ok();
            out.stdout.replace("\r\n", "\n")
        };
        let red = "status            \u{1b}[31mfailed\u{1b}[0m\n";
        let plain = "status            failed\n";
        let tty = on_pty(&format!("show {id}"), false);
        assert!(tty.contains(red), "{tty:?}");
        for text in [
            on_pty(&format!("show {id}"), true),
            on_pty(&format!("--color never show {id}"), false),
            env.ok(&["show", &id]).stdout,
        ] {
            assert!(text.contains(plain) && !text.contains('\u{1b}'), "{text:?}");
        }
        let always = env.ok(&["--color", "always", "show", &id]);
        assert!(always.stdout.contains(red), "{always:?}");
        let json = on_pty(&format!("show --json {id}"), false);
        assert!(!json.contains('\u{1b}'), "{json:?}");
    }

    fn ambiguous_handles_list_up_to_five_candidates_and_change_nothing() {
        let env = Env::init();
        // Seven runs whose last 8 characters are the same, and one whose id starts with them.
        let tails: Vec<String> = (0..7)
            .map(|i| format!("01900000-0000-7000-8000-00{i:02}deadbeef"))
            .collect();
        for id in &tails {
            insert_run(&env, id);
        }
        insert_run(&env, "deadbeef-0000-7000-8000-000000000000");
        let before = env.counts();
        for cmd in ["show", "logs", "rm", "cancel", "retrigger", "wait"] {
            let out = env.run(&[cmd, "DeadBeef"]);
            out.fails(2, "ambiguous");
            let line = out.stderr.trim_end();
            assert!(line.contains("matches 8 runs"), "{cmd}: {line}");
            // The first five in id order, in full, then how many more.
            for id in &tails[..5] {
                assert!(line.contains(id.as_str()), "{cmd}: {line}");
            }
            for id in &tails[5..] {
                assert!(!line.contains(id.as_str()), "{cmd}: {line}");
            }
            assert!(
                line.ends_with("… and 3 more (give more characters)"),
                "{line}"
            );
        }
        assert_eq!(env.counts(), before);
        assert_eq!(
            env.sql_value("SELECT count(*) FROM durably_runs WHERE status = 'pending'")
                .as_deref(),
            Some("8")
        );
        // One more character tells them apart; the prefix match resolves once it is unique.
        let v = env.run(&["show", "6deadbeef", "--json"]).ok().json();
        assert_eq!(v["id"], tails[6].as_str());
        let v = env.run(&["show", "deadbeef-", "--json"]).ok().json();
        assert_eq!(v["id"], "deadbeef-0000-7000-8000-000000000000");
    }

    fn candidates_in_an_ambiguity_error_are_escaped() {
        let env = Env::init();
        for id in ["esc\u{1b}[31m-one", "esc\u{1b}[31m-two"] {
            insert_run(&env, id);
        }
        let out = env.run(&["show", "esc"]);
        out.fails(2, "ambiguous");
        assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
        assert!(out.stderr.contains(r"esc\e[31m-one"), "{:?}", out.stderr);
    }

    fn tails_of_eight_or_more_characters_name_a_run_in_every_command() {
        let env = Env::new();
        let a = env.enqueue(&["--job", "j"]);
        let b = env.enqueue(&["--job", "j"]);
        let tail = |n: usize| a[a.len() - n..].to_string();
        // 8 characters, any case, longer tails (across the last `-` too) and the full id.
        for given in [
            tail(8),
            tail(8).to_uppercase(),
            tail(11),
            tail(14).to_uppercase(),
            a.clone(),
        ] {
            let v = env.run(&["show", &given, "--json"]).ok().json();
            assert_eq!(v["id"], a.as_str(), "{given}");
        }
        // Fewer than 8 characters are not a tail (a UUIDv7 prefix is its timestamp, never these).
        env.run(&["show", &tail(7)]).fails(3, "not found");
        // Every command that takes an id takes a tail.
        let t = tail(8);
        env.run(&["logs", &t]).ok();
        env.run(&["ls", "--before", &t.to_uppercase(), "--format", "ids"])
            .ok();
        env.run(&["cancel", &t]).ok();
        assert_eq!(status_of(&env, &a).as_deref(), Some("cancelled"));
        // `wait` resolves the tail and reports the cancelled run (exit 6).
        env.run(&["wait", &t.to_uppercase(), "--timeout", "5s"])
            .fails(6, &a);
        let new = env.run(&["retrigger", &t]).ok().line().to_string();
        assert!(new != a && new != b, "{new}");
        env.run(&["rm", &t]).ok();
        assert_eq!(status_of(&env, &a), None);
        assert_eq!(status_of(&env, &b).as_deref(), Some("pending"));
    }

    fn ulid_tails_name_runs_the_library_wrote() {
        let env = Env::init();
        // Library ids: 26 upper-case Crockford base32 characters, time first, random last.
        let ulids = ["01JD8X3V5Q7M2K9R4T6W8Y0ZAB", "01JD8X3V5Q8N3P0S5V7X9Z1BCD"];
        for id in ulids {
            insert_run(&env, id);
        }
        for id in ulids {
            let tail = id[id.len() - 8..].to_lowercase();
            let v = env.run(&["show", &tail, "--json"]).ok().json();
            assert_eq!(v["id"], id, "{tail}");
            env.run(&["cancel", &tail]).ok();
            assert_eq!(status_of(&env, id).as_deref(), Some("cancelled"));
        }
        // Their common time prefix is ambiguous and the error names both.
        let out = env.run(&["show", "01jd8x3v5q"]);
        out.fails(2, "ambiguous");
        for id in ulids {
            assert!(out.stderr.contains(id), "{}", out.stderr);
        }
    }
}
