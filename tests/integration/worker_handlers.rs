//! `durably work` with real handler programs: what a handler gets, how its exit becomes the
//! run's result, and the exit codes of `--once`. Every test runs on both backends.

use crate::harness::*;
use serde_json::Value;

fn once(env: &Env) -> Out {
    env.run(&[
        "work",
        "--once",
        "--handlers",
        env.handlers.to_str().unwrap(),
    ])
}

fn output(env: &Env, id: &str) -> Value {
    let out = env.ok(&["show", id, "--json"]);
    serde_json::from_str::<Value>(&out.stdout).unwrap()["output"].clone()
}

both! {
    fn handler_gets_input_and_environment() {
        let env = Env::init();
        env.handler(
            "echo",
            r#"printf '{"stdin":%s,"run":"%s","job":"%s","gen":%s,"labels":%s,"db":"%s"}' "$(cat)" "$DURABLY_RUN_ID" "$DURABLY_JOB" "$DURABLY_LEASE_GENERATION" "$DURABLY_LABELS" "$DURABLY_DB""#,
        );
        let id = env.enqueue_job(
            "echo",
            &[
                "--input",
                r#"{"n":12345678901234567890123}"#,
                "--label",
                "tenant=a",
            ],
        );
        once(&env).ok_code(0);
        assert_eq!(env.status(&id), "completed");
        let stored = env.field(&id, "output").unwrap();
        assert!(
            stored.contains(r#""stdin":{"n":12345678901234567890123}"#),
            "{stored}"
        );
        let v: Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(v["run"], id.as_str());
        assert_eq!(v["job"], "echo");
        assert_eq!(v["gen"], 1);
        assert_eq!(v["labels"], serde_json::json!({"tenant": "a"}));
        match env.backend {
            Backend::Sqlite => {
                let db = std::path::PathBuf::from(v["db"].as_str().unwrap());
                assert!(db.is_absolute());
                assert_eq!(
                    std::fs::canonicalize(db).unwrap(),
                    std::fs::canonicalize(&env.db).unwrap()
                );
            }
            Backend::Postgres => assert_eq!(v["db"], env.db_arg().as_str()),
        }
    }
}

trait OkCode {
    fn ok_code(&self, code: i32) -> &Self;
}
impl OkCode for Out {
    #[track_caller]
    fn ok_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "{self:?}");
        self
    }
}

both! {
    fn output_shapes() {
        let env = Env::init();
        let cases: &[(&str, &str, Value)] = &[
            (
                "json",
                r#"echo '{"a": [1, 2]}'"#,
                serde_json::json!({"a": [1, 2]}),
            ),
            (
                "text",
                "echo hello world",
                Value::String("hello world".into()),
            ),
            (
                "lines",
                "printf 'a\\nb\\n\\n'",
                Value::String("a\nb\n".into()),
            ),
            ("empty", "true", Value::Null),
            ("number", "echo 42", serde_json::json!(42)),
            (
                "bytes",
                "printf 'x\\377y'",
                Value::String("x\u{fffd}y".into()),
            ),
        ];
        for (job, body, want) in cases {
            env.handler(job, body);
            let id = env.enqueue_job(job, &[]);
            once(&env).ok_code(0);
            assert_eq!(env.status(&id), "completed", "{job}");
            assert_eq!(&output(&env, &id), want, "{job}");
        }
        // Empty stdout is stored as NULL, like a library run without output.
        let id = env.enqueue_job("empty", &[]);
        once(&env).ok_code(0);
        assert_eq!(env.field(&id, "output"), None);
    }
}

both! {
    fn failure_carries_exit_code_and_stderr_tail() {
        let env = Env::init();
        env.handler(
            "bad",
            "i=0; while [ $i -lt 2000 ]; do echo \"noise $i\" >&2; i=$((i+1)); done; echo 'the real reason' >&2; exit 3",
        );
        let id = env.enqueue_job("bad", &[]);
        let out = once(&env);
        out.ok_code(5);
        // stderr streamed through the worker.
        assert!(out.stderr.contains("noise 0\n"), "{out:?}");
        assert_eq!(env.status(&id), "failed");
        let error = env.field(&id, "error").unwrap();
        assert!(error.starts_with("handler exited with code 3"), "{error}");
        assert!(error.ends_with("the real reason"), "{error}");
        assert!(!error.contains("noise 0\n"), "only the tail is kept");
        assert!(error.len() <= 4096 + 100, "{}", error.len());
        assert_eq!(env.field(&id, "lease_owner"), None);
        assert!(env.field(&id, "completed_at").is_some());
    }
}

both! {
    fn a_failed_handlers_stdout_tail_is_kept_and_captured_lines_print_plainly() {
        let env = Env::init();
        env.handler(
            "half",
            "i=0; while [ $i -lt 1000 ]; do echo \"row $i\"; i=$((i+1)); done; \
             echo 'why it stopped' >&2; durably log --data '{\"k\":1}' noted; exit 4",
        );
        let id = env.enqueue_job("half", &[]);
        once(&env).ok_code(5);
        let error = env.field(&id, "error").unwrap();
        assert!(
            error.starts_with("handler exited with code 4\nwhy it stopped\nstdout:\n"),
            "{error}"
        );
        assert!(error.ends_with("\nrow 998\nrow 999"), "{error}");
        assert!(!error.contains("row 0\n"), "only the end of stdout: {error}");
        assert!(error.len() <= 4096 + 100, "{}", error.len());
        // `logs`: a captured line shows its stream, not its data; other data stays.
        let out = env.ok(&["logs", &id]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{out:?}");
        assert!(lines[0].ends_with(" stderr why it stopped"), "{out:?}");
        assert!(lines[1].ends_with(r#" info   noted {"k":1}"#), "{out:?}");
    }
}

both! {
    fn signal_and_timeout_fail_the_run() {
        let env = Env::init();
        env.handler("killed", "echo dying >&2; kill -TERM $$");
        let id = env.enqueue_job("killed", &[]);
        once(&env).ok_code(5);
        let error = env.field(&id, "error").unwrap();
        assert!(error.contains("signal 15 (SIGTERM)"), "{error}");
        assert!(error.contains("dying"), "{error}");

        env.handler(
            "slow",
            "echo $$ > $T/slow.pid; sleep 1000 & echo $! > $T/slow-child.pid; echo started >&2; wait",
        );
        let id = env.enqueue_job("slow", &[]);
        let out = env.run(&[
            "work",
            "--once",
            "--timeout",
            "1s",
            "--handlers",
            env.handlers.to_str().unwrap(),
        ]);
        out.ok_code(5);
        let error = env.field(&id, "error").unwrap();
        assert!(error.starts_with("handler timed out after 1s"), "{error}");
        assert!(error.contains("started"), "{error}");
        // The whole group is gone, the background child included.
        assert!(!alive(env.pid_file("slow.pid")));
        wait_dead(env.pid_file("slow-child.pid"));
    }
}

both! {
    fn handler_that_cannot_execute_fails_the_run() {
        let env = Env::init();
        // Executable bit but no #! line: never handed to a shell.
        let path = env.handlers.join("noshebang");
        std::fs::write(&path, "echo should not run > $T/ran\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let id = env.enqueue_job("noshebang", &[]);
        once(&env).ok_code(5);
        let error = env.field(&id, "error").unwrap();
        assert!(error.starts_with("cannot execute handler "), "{error}");
        assert!(!env.path("ran").exists());
    }
}

both! {
    fn output_over_16_mib_fails() {
        let env = Env::init();
        env.handler("big", "head -c 17000000 /dev/zero | tr '\\0' x");
        let id = env.enqueue_job("big", &[]);
        once(&env).ok_code(5);
        assert!(env.field(&id, "error").unwrap().contains("exceeds 16 MiB"));
    }
}

both! {
    fn once_exit_codes_and_idle() {
        let env = Env::init();
        env.handler("ok", "echo fine");
        // Idle: nothing to do is success.
        once(&env).ok_code(0);
        env.enqueue_job("ok", &[]);
        once(&env).ok_code(0);
        env.handler("no", "exit 1");
        env.enqueue_job("no", &[]);
        once(&env).ok_code(5);
        assert_eq!(
            env.count("SELECT count(*) FROM durably_runs WHERE status = 'completed'"),
            1
        );
    }
}

both! {
    fn only_plain_executable_entries_are_jobs() {
        let env = Env::init();
        env.handler(".hidden", "echo hidden");
        let noexec = env.handlers.join("noexec");
        std::fs::write(&noexec, "#!/bin/sh\necho x\n").unwrap();
        std::fs::create_dir(env.handlers.join("adir")).unwrap();
        env.handler("real", "echo real");
        let hidden = env.enqueue_job(".hidden", &[]);
        let noexec_id = env.enqueue_job("noexec", &[]);
        let dir_id = env.enqueue_job("adir", &[]);
        let escape = env.enqueue_job("../handlers/real", &[]);
        let real = env.enqueue_job("real", &[]);
        let out = env.run(&[
            "work",
            "--until-idle",
            "--handlers",
            env.handlers.to_str().unwrap(),
        ]);
        out.ok_code(0);
        assert_eq!(env.status(&real), "completed");
        for id in [&hidden, &noexec_id, &dir_id, &escape] {
            assert_eq!(env.status(id), "pending");
        }
        assert!(
            out.stderr.contains("4 runs of other jobs still pending"),
            "{out:?}"
        );
    }
}

both! {
    fn command_handler_for_every_job_or_only_listed_ones() {
        let env = Env::init();
        let a = env.enqueue_job("a", &["--input", "\"A\""]);
        let b = env.enqueue_job("b", &["--input", "\"B\""]);
        let out = env.run(&["work", "--until-idle", "--job", "b", "--", "cat"]);
        out.ok_code(0);
        assert_eq!(env.status(&a), "pending");
        assert_eq!(env.status(&b), "completed");
        assert_eq!(env.field(&b, "output").as_deref(), Some("\"B\""));
        env.run(&["work", "--until-idle", "--", "cat"]).ok_code(0);
        assert_eq!(env.field(&a, "output").as_deref(), Some("\"A\""));
        // Unknown command: an error before anything is claimed.
        let c = env.enqueue_job("c", &[]);
        let out = env.run(&["work", "--once", "--", "no-such-command-xyz"]);
        out.ok_code(1);
        assert!(out.stderr.contains("cannot execute handler"), "{out:?}");
        assert_eq!(env.status(&c), "pending");
    }
}

both! {
    fn steps_progress_and_logs() {
        let env = Env::init();
        env.handler(
            "steps",
            r#"a=$(durably step fetch -- sh -c 'echo fetch >> $T/ran; echo "{\"rows\": 3}"')
    durably progress 1 --total 2 --message halfway
    durably step save -- sh -c 'durably log --level warn --data "{\"k\":1}" "inside $DURABLY_STEP"; echo saved' > /dev/null
    durably log "after"
    echo "$a""#,
        );
        let id = env.enqueue_job("steps", &[]);
        once(&env).ok_code(0);
        assert_eq!(env.status(&id), "completed");
        assert_eq!(env.field(&id, "output").as_deref(), Some(r#"{"rows": 3}"#));
        let show: Value = serde_json::from_str(&env.ok(&["show", &id, "--json"]).stdout).unwrap();
        assert_eq!(
            show["progress"],
            serde_json::json!({"current":1,"total":2,"message":"halfway"})
        );
        assert_eq!(show["currentStepIndex"], 2);
        assert_eq!(show["completedStepCount"], 2);
        let steps = show["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(
            (steps[0]["name"].as_str(), steps[0]["index"].as_i64()),
            (Some("fetch"), Some(0))
        );
        assert_eq!(steps[0]["output"], serde_json::json!({"rows": 3}));
        assert_eq!(
            (steps[1]["name"].as_str(), steps[1]["index"].as_i64()),
            (Some("save"), Some(1))
        );
        assert_eq!(steps[1]["output"], "saved");
        let logs = env.ok(&["logs", &id, "--json"]);
        let logs: Vec<Value> = logs
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[0]["message"], "inside save");
        assert_eq!(logs[0]["stepName"], "save");
        assert_eq!(logs[0]["level"], "warn");
        assert_eq!(logs[0]["data"], serde_json::json!({"k": 1}));
        assert_eq!(logs[1]["message"], "after");
        assert_eq!(logs[1]["stepName"], Value::Null);
        // Outside a handler the in-handler commands refuse with a usage error.
        let out = env.run(&["progress", "1"]);
        assert_eq!(out.code, 2, "{out:?}");
    }
}

both! {
    fn failed_step_exits_with_its_code_and_is_recorded() {
        let env = Env::init();
        env.handler(
            "stepfail",
            "durably step broken -- sh -c 'exit 7'; echo \"code $?\" >&2; exit 9",
        );
        let id = env.enqueue_job("stepfail", &[]);
        once(&env).ok_code(5);
        let error = env.field(&id, "error").unwrap();
        assert!(error.contains("code 7"), "{error}");
        let steps = env.sql_rows(&format!(
            "SELECT status, \"index\" FROM durably_steps WHERE run_id = {}",
            lit(&id)
        ));
        assert_eq!(
            steps,
            [[Some("failed".to_string()), Some("0".to_string())]],
            "one failed step at index 0"
        );
        assert_eq!(env.field(&id, "completed_step_count").as_deref(), Some("0"));
    }
}

both! {
    fn wait_and_enqueue_wait() {
        let env = Env::init();
        env.handler("w", "echo '\"done\"'");
        let worker = env.spawn(&[
            "work",
            "--poll",
            "100ms",
            "--max-runs",
            "2",
            "--handlers",
            env.handlers.to_str().unwrap(),
        ]);
        let out = env.run(&["enqueue", "--job", "w", "--wait", "--timeout", "50s"]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stdout, "done\n");
        env.handler("f", "echo broken >&2; exit 2");
        let id = env.enqueue_job("f", &[]);
        let out = env.run(&["wait", &id, "--timeout", "50s"]);
        assert_eq!(out.code, 5, "{out:?}");
        assert!(out.stderr.contains("handler exited with code 2"), "{out:?}");
        finish(worker);
        let out = env.run(&["wait", "00000000-0000-0000-0000-000000000000"]);
        assert_eq!(out.code, 3, "{out:?}");
        let pending = env.enqueue_job("never", &[]);
        let out = env.run(&["wait", &pending, "--timeout", "200ms"]);
        assert_eq!(out.code, 124, "{out:?}");
        env.ok(&["cancel", &pending]);
        let out = env.run(&["wait", &pending]);
        assert_eq!(out.code, 6, "{out:?}");
    }
}

both! {
    fn idle_worker_purges_with_retain() {
        let env = Env::init();
        env.handler("ok", "echo fine");
        let old = env.enqueue_job("ok", &[]);
        let fresh = env.enqueue_job("ok", &[]);
        env.run(&[
            "work",
            "--until-idle",
            "--handlers",
            env.handlers.to_str().unwrap(),
        ])
        .ok_code(0);
        env.exec(&format!(
            "UPDATE durably_runs SET completed_at = '2000-01-01T00:00:00.000Z' WHERE id = {}",
            lit(&old)
        ));
        env.run(&[
            "work",
            "--once",
            "--retain",
            "7d",
            "--handlers",
            env.handlers.to_str().unwrap(),
        ])
        .ok_code(0);
        assert_eq!(env.count("SELECT count(*) FROM durably_runs"), 1);
        assert_eq!(env.status(&fresh), "completed");
    }
}

both! {
    fn logs_follow_until_the_run_ends() {
        let env = Env::init();
        env.handler(
            "job",
            "durably log first\nwhile [ ! -e $T/go ]; do sleep 0.05; done\ndurably log --level error second",
        );
        let id = env.enqueue_job("job", &[]);
        let worker = env.spawn(&[
            "work",
            "--once",
            "--handlers",
            env.handlers.to_str().unwrap(),
        ]);
        wait_for("the first log", || {
            (env.count("SELECT count(*) FROM durably_logs") == 1).then_some(())
        });
        let follow = env.spawn(&["logs", &id, "--follow"]);
        std::fs::write(env.path("go"), "").unwrap();
        assert_eq!(finish(worker).code, 0);
        let out = finish(follow);
        assert_eq!(out.code, 0, "{out:?}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{out:?}");
        assert!(lines[0].ends_with("info   first"), "{out:?}");
        assert!(lines[1].ends_with("error  second"), "{out:?}");
    }
}

both! {
    fn inputs_at_the_edge_of_one_page_unread_and_read() {
        // The worker writes an input of up to one page (4,096 bytes) itself, a larger one
        // from a thread: on either side of the edge a handler that never reads it must not
        // hold the worker up, and one that reads it gets all of it.
        let env = Env::init();
        env.handler("ignore", "echo 1");
        env.handler("count", "wc -c");
        for len in [4095usize, 4096, 4097] {
            // The stored input is the JSON string: its quotes count.
            let input = format!("\"{}\"", "x".repeat(len - 2));
            for job in ["ignore", "count"] {
                let id = env.enqueue_job(job, &["--input", &input]);
                once(&env).ok_code(0);
                let want = if job == "ignore" { "1".to_string() } else { len.to_string() };
                assert_eq!(env.field(&id, "output").as_deref(), Some(want.as_str()), "{job} {len}");
            }
        }
    }
}

both! {
    fn big_input_unread_and_big_labels() {
        let env = Env::init();
        // The handler never reads its 1 MiB input: the worker must not block on the pipe.
        env.handler("ignore", "echo ${DURABLY_LABELS:-none}");
        let spec = env.path("big.json");
        std::fs::write(
            &spec,
            format!(
                "{{\"job\":\"ignore\",\"input\":\"{}\"}}",
                "x".repeat(1 << 20)
            ),
        )
        .unwrap();
        let id = env
            .ok(&["enqueue", spec.to_str().unwrap()])
            .stdout
            .trim()
            .to_string();
        once(&env).ok_code(0);
        assert_eq!(env.field(&id, "output").as_deref(), Some("{}"));
        // Labels over 64 KiB are not put in the environment.
        let mut args = Vec::new();
        for i in 0..20 {
            args.push(format!("k{i}={}", "v".repeat(4000)));
        }
        let mut flags: Vec<&str> = Vec::new();
        for a in &args {
            flags.push("--label");
            flags.push(a);
        }
        let id = env.enqueue_job("ignore", &flags);
        once(&env).ok_code(0);
        assert_eq!(env.field(&id, "output").as_deref(), Some("\"none\""));
        let id = env.enqueue_job("ignore", &["--label", "small=1"]);
        once(&env).ok_code(0);
        assert_eq!(
            env.field(&id, "output").as_deref(),
            Some("{\"small\":\"1\"}")
        );
    }
}

both! {
    fn many_handlers_are_all_claimable() {
        // More jobs than one claim statement names (they are claimed in chunks).
        let env = Env::init();
        let shared = env.path("shared-handler");
        script(&shared, "echo $DURABLY_JOB");
        for i in 0..250 {
            std::os::unix::fs::symlink(&shared, env.handlers.join(format!("job{i:03}"))).unwrap();
        }
        let first = env.enqueue_job("job249", &[]);
        let second = env.enqueue_job("job000", &[]);
        env.run(&[
            "work",
            "--until-idle",
            "--handlers",
            env.handlers.to_str().unwrap(),
        ])
        .ok_code(0);
        assert_eq!(env.field(&first, "output").as_deref(), Some("\"job249\""));
        assert_eq!(env.field(&second, "output").as_deref(), Some("\"job000\""));
    }
}

fn logs_json(env: &Env, id: &str) -> Vec<Value> {
    env.ok(&["logs", id, "--json"])
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn stderr_lines_are_kept_as_the_runs_logs() {
    let env = Env::init();
    env.handler(
        "noisy",
        "echo 'starting up' >&2; printf 'crlf line\\r\\n' >&2; durably log from-log; printf 'no newline' >&2",
    );
    let id = env.enqueue_job("noisy", &[]);
    let out = once(&env).ok_code(0).clone();
    // Passed through as before...
    assert!(out.stderr.contains("starting up"), "{out:?}");
    // ...and kept, in order, at level info, marked as stderr, outside any step. Each is
    // stamped when it was read; where a `durably log` falls among them depends on when the
    // worker read the pipe, so only its presence is checked.
    let logs = logs_json(&env, &id);
    let messages: Vec<&str> = logs
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    let stderr: Vec<&str> = messages
        .iter()
        .copied()
        .filter(|m| *m != "from-log")
        .collect();
    assert_eq!(
        stderr,
        ["starting up", "crlf line", "no newline"],
        "{logs:?}"
    );
    assert_eq!(messages.len(), 4, "{logs:?}");
    for l in logs.iter().filter(|l| l["message"] != "from-log") {
        assert_eq!(l["level"], "info", "{l}");
        assert_eq!(l["data"], serde_json::json!({"stream": "stderr"}), "{l}");
        assert_eq!(l["stepName"], Value::Null, "{l}");
    }
    // A failed run keeps them too, besides the tail in its error.
    env.handler("broken", "echo 'it broke' >&2; exit 3");
    let id = env.enqueue_job("broken", &[]);
    once(&env);
    assert_eq!(env.status(&id), "failed");
    let logs = logs_json(&env, &id);
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["message"], "it broke");
}

#[test]
fn stderr_logs_stay_bounded_with_10_mb_of_stderr() {
    let env = Env::init();
    // 10 MB of stderr: 100,000 short lines, then one 1 MB line without a newline... and the
    // run still completes with its output.
    env.handler(
        "flood",
        "awk 'BEGIN { for (i = 0; i < 100000; i++) printf \"line %06d %s\\n\", i, \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\" }' >&2
head -c 1000000 /dev/zero | tr '\\0' y >&2
echo '{\"done\":true}'",
    );
    env.handler(
        "long",
        "head -c 100000 /dev/zero | tr '\\0' z >&2; echo >&2; echo short >&2",
    );
    let id = env.enqueue_job("flood", &[]);
    let long = env.enqueue_job("long", &[]);
    let h = env.handlers.to_str().unwrap().to_string();
    env.ok(&["work", "--until-idle", "--handlers", &h]);
    assert_eq!(
        env.field(&id, "output").as_deref(),
        Some(r#"{"done":true}"#)
    );
    let logs = logs_json(&env, &id);
    assert_eq!(logs.len(), 1001, "1000 lines and the count of the rest");
    assert!(logs[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("line 000000 "));
    assert!(logs[999]["message"]
        .as_str()
        .unwrap()
        .starts_with("line 000999 "));
    let bytes: usize = logs[..1000]
        .iter()
        .map(|l| l["message"].as_str().unwrap().len())
        .sum();
    assert!(bytes <= 256 * 1024, "{bytes}");
    let last = &logs[1000];
    assert_eq!(last["level"], "warn");
    assert_eq!(last["data"]["stream"], "stderr");
    assert_eq!(last["data"]["dropped_lines"], 100_000 - 1000 + 1);
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("99001 more stderr lines"),
        "{last}"
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM durably_logs"), 1001 + 2);
    // A long line is cut at 4 KiB; the cut is counted in its data.
    let logs = logs_json(&env, &long);
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert_eq!(logs[0]["message"].as_str().unwrap().len(), 4096);
    assert_eq!(logs[0]["data"]["cut_bytes"], 100_000 - 4096);
    assert_eq!(logs[1]["message"], "short");
}

#[test]
fn no_stderr_logs_keeps_none() {
    let env = Env::init();
    env.handler("noisy", "echo 'to stderr only' >&2; durably log kept");
    let id = env.enqueue_job("noisy", &[]);
    let h = env.handlers.to_str().unwrap().to_string();
    let out = env.ok(&["work", "--once", "--no-stderr-logs", "--handlers", &h]);
    assert!(out.stderr.contains("to stderr only"), "{out:?}");
    let logs = logs_json(&env, &id);
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["message"], "kept");
}

both! {
    fn step_raw_prints_text_output_as_text_and_json_as_stored() {
        let env = Env::init();
        env.handler(
            "raw",
            r#"a=$(durably step words --raw -- echo 'say "hi"')
b=$(durably step object --raw -- echo '{"k": 1}')
c=$(durably step words --raw -- echo unused)
d=$(durably step words -- echo unused)
printf '%s|%s|%s|%s' "$a" "$b" "$c" "$d""#,
        );
        let id = env.enqueue_job("raw", &[]);
        once(&env).ok_code(0);
        // Fresh and replayed alike; without --raw the stored JSON string, quotes and escapes.
        assert_eq!(
            output(&env, &id),
            r#"say "hi"|{"k": 1}|say "hi"|"say \"hi\"""#
        );
    }
}

#[test]
fn a_step_name_reused_in_a_loop_warns_that_it_replays() {
    let env = Env::init();
    env.handler(
        "loop",
        "for f in a b c; do durably step process -- echo \"$f\"; done",
    );
    let id = env.enqueue_job("loop", &[]);
    let out = once(&env).ok_code(0).clone();
    // The first result is replayed twice, each time with a warning.
    assert_eq!(output(&env, &id), "\"a\"\n\"a\"\n\"a\"");
    let warning = "durably: step process was already completed in this execution; its stored \
                   output is replayed (give each iteration its own name, e.g. process-$f)";
    assert_eq!(out.stderr.matches(warning).count(), 2, "{out:?}");
}

#[test]
fn stderr_logs_written_before_a_crash_stay_and_a_replay_after_the_reclaim_is_silent() {
    let env = Env::init();
    env.handler(
        "slow",
        r#"durably step process -- echo "$DURABLY_LEASE_GENERATION" > /dev/null
echo "waiting in generation $DURABLY_LEASE_GENERATION" >&2
if [ ! -e "$T/again" ]; then touch "$T/again"; sleep 30; fi"#,
    );
    let id = env.enqueue_job("slow", &[]);
    let h = env.handlers.to_str().unwrap().to_string();
    let first = env.spawn(&["work", "--lease", "1s", "--handlers", &h]);
    // The line is written while the handler still runs (a batch is due every 0.5 s)...
    let seen = poll(BOUND, || {
        let logs = logs_json(&env, &id);
        logs.iter()
            .any(|l| l["message"] == "waiting in generation 1")
            .then_some(())
    });
    assert!(
        seen.is_some(),
        "the stderr line was not written while the handler ran"
    );
    // ...so it outlives the worker's crash.
    signal(&first, libc::SIGKILL);
    let _ = finish(first);
    let out = env.ok(&[
        "work",
        "--max-runs",
        "1",
        "--poll",
        "100ms",
        "--handlers",
        &h,
    ]);
    assert_eq!(env.status(&id), "completed");
    assert_eq!(env.field(&id, "lease_generation").as_deref(), Some("2"));
    // The step completed in generation 1 is replayed in generation 2 without a warning.
    assert!(!out.stderr.contains("already completed"), "{out:?}");
    let messages: Vec<String> = logs_json(&env, &id)
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        messages,
        ["waiting in generation 1", "waiting in generation 2"],
        "{messages:?}"
    );
}

both! {
    fn once_with_nothing_to_claim_exits_without_waiting_a_poll() {
        let env = Env::init();
        env.handler("a", "cat");
        // A poll of an hour: waited out, the worker would overstay the harness's bound.
        let child = env.spawn(&[
            "work",
            "--once",
            "--poll",
            "1h",
            "--handlers",
            env.handlers.to_str().unwrap(),
        ]);
        let out = finish(child);
        out.ok_code(0);
        assert_eq!(out.stderr, "", "{out:?}");
        let child = env.spawn(&["work", "--once", "--poll", "1h", "--", "cat"]);
        finish(child).ok_code(0);
    }
}

both! {
    fn a_named_job_without_a_handler_is_an_error_when_its_runs_are_left_pending() {
        let env = Env::init();
        env.handler("a", "cat");
        let x = env.enqueue_job("x", &[]);
        let a = env.enqueue_job("a", &[]);
        let dir = env.handlers.to_str().unwrap();
        let out = env.run(&["work", "--until-idle", "--job", "x", "--job", "a", "--handlers", dir]);
        out.ok_code(1);
        assert_eq!(env.status(&a), "completed");
        assert_eq!(env.status(&x), "pending");
        let path = env.handlers.join("x");
        let expected = format!(
            "durably: 1 run of --job x still pending: no executable handler {}\n",
            path.display()
        );
        assert!(out.stderr.ends_with(&expected), "{out:?}");
        let out = env.run(&["work", "--once", "--job", "x", "--handlers", dir]);
        out.ok_code(1);
        assert!(out.stderr.ends_with(&expected), "{out:?}");
        // Nothing pending for it: no error; a handler there: the run is executed.
        let out = env.run(&["work", "--until-idle", "--job", "y", "--handlers", dir]);
        out.ok_code(0);
        env.handler("x", "cat");
        env.run(&["work", "--until-idle", "--job", "x", "--handlers", dir])
            .ok_code(0);
        assert_eq!(env.status(&x), "completed");
    }
}

both! {
    fn verbose_says_once_per_idle_spell_what_it_waits_for() {
        let env = Env::init();
        env.handler("a", "cat");
        env.handler("b", "cat");
        let log = env.path("worker.err");
        let waiting = "durably: waiting for runs of jobs a, b (polling every 50ms)\n";
        let lines = |n: usize| {
            let log = log.clone();
            move || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                (text.matches(waiting).count() >= n).then_some(text)
            }
        };
        let child = env.spawn_stderr_to(
            &[
                "work",
                "-v",
                "--poll",
                "50ms",
                "--handlers",
                env.handlers.to_str().unwrap(),
            ],
            &log,
        );
        wait_for("the first waiting line", lines(1));
        let id = env.enqueue_job("a", &[]);
        wait_for("the second waiting line", lines(2));
        assert_eq!(env.status(&id), "completed");
        signal(&child, libc::SIGTERM);
        finish(child).ok_code(0);
        // Once per idle spell, not once per poll: claimed, completed and waiting between the two.
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.matches(waiting).count(), 2, "{text}");
        let first = text.find(waiting).unwrap();
        let claimed = text.find("durably: claimed ").expect("claimed line");
        assert!(first < claimed, "{text}");
        assert!(text[claimed..].contains(waiting), "{text}");
    }
}

both! {
    fn a_process_that_left_the_group_holding_the_pipes_does_not_hold_the_run() {
        // The handler prints its output and exits, leaving a process of another session
        // (out of reach of the group's kill) that holds its stdout and stderr open and keeps
        // writing to stderr. The worker notices the exit while the pipes stay open, gives them
        // two seconds, and records the output written before.
        let env = Env::init();
        let pid = env.path("escaped.pid");
        env.handler(
            "escape",
            &format!(
                "echo '\"before\"'\n\
                 setsid sh -c 'echo $$ > {pid}; while :; do echo noise >&2; sleep 0.05; done' &\n\
                 sleep 0.2",
                pid = pid.display()
            ),
        );
        let id = env.enqueue_job("escape", &[]);
        let started = std::time::Instant::now();
        let out = once(&env);
        let took = started.elapsed();
        if let Ok(p) = std::fs::read_to_string(&pid) {
            if let Ok(p) = p.trim().parse::<i32>() {
                // SAFETY: kill(2) with a pid read from the file the escaped process wrote.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        out.ok_code(0);
        assert_eq!(env.status(&id), "completed");
        assert_eq!(env.field(&id, "output").as_deref(), Some("\"before\""));
        assert!(took < std::time::Duration::from_secs(15), "held for {took:?}");
    }
}
