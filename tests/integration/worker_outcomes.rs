//! How `durably work` ends and what it refuses before claiming: exit 5 when runs failed, a
//! handler command that cannot be executed, the binary's own directory on a handler's PATH,
//! and `--retain` maintenance that never costs a running handler its lease.

use crate::harness::*;

#[test]
fn until_idle_exits_5_when_a_run_failed() {
    let env = Env::init();
    env.handler("ok", "echo fine");
    env.handler("bad", "echo broken >&2; exit 3");
    let good = env.enqueue_job("ok", &[]);
    let bad = env.enqueue_job("bad", &[]);
    let h = env.handlers.to_str().unwrap().to_string();
    let out = env.run(&["work", "--until-idle", "--handlers", &h]);
    assert_eq!(out.code, 5, "{out:?}");
    assert!(out.stderr.contains("1 of 2 runs failed"), "{out:?}");
    assert_eq!(env.status(&good), "completed");
    assert_eq!(env.status(&bad), "failed");
}

#[test]
fn max_runs_exits_5_when_a_run_failed_and_0_when_all_completed() {
    let env = Env::init();
    env.handler("bad", "exit 1");
    env.handler("ok", "true");
    env.enqueue_job("bad", &[]);
    let h = env.handlers.to_str().unwrap().to_string();
    let out = env.run(&["work", "--max-runs", "1", "--handlers", &h]);
    assert_eq!(out.code, 5, "{out:?}");
    assert!(out.stderr.contains("1 of 1 runs failed"), "{out:?}");
    env.enqueue_job("ok", &[]);
    env.enqueue_job("ok", &[]);
    let out = env.run(&["work", "--max-runs", "2", "--handlers", &h]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = env.run(&["work", "--until-idle", "--handlers", &h]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn a_missing_handler_command_is_refused_before_anything_is_claimed() {
    let env = Env::init();
    let id = env.enqueue_job("any", &[]);
    for cmd in ["./missing.sh", "/nonexistent/dir/handler"] {
        let out = env.run(&["work", "--until-idle", "--", cmd]);
        assert_eq!(out.code, 1, "{out:?}");
        worker_support_one_line(&out.stderr, cmd);
    }
    // A file that exists but is not executable.
    let plain = env.path("plain.sh");
    std::fs::write(&plain, "#!/bin/sh\necho hi\n").unwrap();
    let out = env.run(&["work", "--until-idle", "--", plain.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    worker_support_one_line(&out.stderr, "not an executable file");
    assert_eq!(env.status(&id), "pending");
    assert_eq!(env.field(&id, "lease_generation").as_deref(), Some("0"));
}

#[track_caller]
fn worker_support_one_line(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line: {stderr}");
    assert!(lines[0].contains(needle), "{stderr}");
    assert!(lines[0].contains("cannot execute handler"), "{stderr}");
}

#[test]
fn handlers_get_durably_bin_and_the_binary_directory_first_in_path() {
    let env = Env::init();
    env.handler(
        "where",
        "printf '{\"bin\":\"%s\",\"path\":\"%s\"}' \"$DURABLY_BIN\" \"$PATH\"",
    );
    let id = env.enqueue_job("where", &[]);
    let h = env.handlers.to_str().unwrap().to_string();
    // A PATH without the binary's directory: the worker is started by its full path.
    let mut c = env.command(&["work", "--once", "--handlers", &h]);
    c.env("PATH", "/usr/bin:/bin");
    let out: crate::harness::Out = c.output().unwrap().into();
    assert_eq!(out.code, 0, "{out:?}");
    let output: serde_json::Value =
        serde_json::from_str(&env.field(&id, "output").unwrap()).unwrap();
    let bin = std::fs::canonicalize(crate::harness::BIN).unwrap();
    assert_eq!(
        std::fs::canonicalize(output["bin"].as_str().unwrap()).unwrap(),
        bin
    );
    let path = output["path"].as_str().unwrap();
    let first = path.split(':').next().unwrap();
    assert_eq!(
        std::fs::canonicalize(first).unwrap(),
        bin.parent().unwrap(),
        "{path}"
    );
    assert!(path.ends_with(":/usr/bin:/bin"), "{path}");
}

/// Old terminal runs for `--retain` to purge: enough that the purge takes a while.
fn seed_old_runs(env: &Env, n: u64) {
    let conn = env.conn();
    conn.execute(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1) \
         INSERT INTO durably_runs (id, job_name, input, status, labels, current_step_index, \
         completed_step_count, lease_generation, started_at, completed_at, created_at, \
         updated_at) SELECT printf('old%08d', i), 'old', '{}', 'completed', '{}', 0, 0, 1, \
         '2020-01-01T00:00:00.000Z', '2020-01-01T00:00:01.000Z', '2020-01-01T00:00:00.000Z', \
         '2020-01-01T00:00:01.000Z' FROM seq",
        [n],
    )
    .unwrap();
}

#[test]
fn retain_purge_never_costs_a_running_handler_its_lease() {
    let env = Env::init();
    seed_old_runs(&env, 20_000);
    // The handler outlives several leases and finishes while the queue is idle: any purge
    // that held the worker's connection then would delay its result past the lease.
    env.handler("slow", "sleep 1; echo done");
    let h = env.handlers.to_str().unwrap().to_string();
    let id = env.enqueue_job("slow", &[]);
    let a = env.spawn(&[
        "work",
        "--until-idle",
        "--retain",
        "1d",
        "--lease",
        "400ms",
        "--poll",
        "20ms",
        "--concurrency",
        "2",
        "--handlers",
        &h,
    ]);
    // A second worker takes over any run whose lease lapses.
    let b = env.spawn(&[
        "work",
        "--poll",
        "20ms",
        "--lease",
        "400ms",
        "--handlers",
        &h,
    ]);
    let out = finish(a);
    crate::harness::signal(&b, libc::SIGTERM);
    let out_b = finish(b);
    assert_eq!(out.code, 0, "{out:?}\n{out_b:?}");
    assert_eq!(env.status(&id), "completed", "{out:?}\n{out_b:?}");
    assert_eq!(
        env.field(&id, "lease_generation").as_deref(),
        Some("1"),
        "{out:?}\n{out_b:?}"
    );
    assert!(!out.stderr.contains("lease"), "{out:?}");
    // The purge ran once the handler was done.
    assert_eq!(
        env.count("SELECT count(*) FROM durably_runs WHERE job_name = 'old'"),
        0
    );
}

#[test]
fn a_result_that_cannot_be_written_before_the_lease_runs_out_is_not_written() {
    let env = Env::init();
    env.handler(
        "held",
        "touch \"$T/started\"\nwhile [ ! -f \"$T/go\" ]; do sleep 0.05; done\necho done",
    );
    let id = env.enqueue_job("held", &[]);
    let h = env.handlers.to_str().unwrap().to_string();
    let worker = env.spawn(&["work", "--once", "--lease", "600ms", "--handlers", &h]);
    crate::harness::wait_for("the handler to start", || {
        env.path("started").exists().then_some(())
    });
    // Another process holds the write lock from before the handler finishes until the worker
    // has given up: the result cannot be committed within the lease.
    let conn = env.conn();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::fs::write(env.path("go"), "").unwrap();
    let out = finish(worker);
    conn.execute_batch("ROLLBACK").unwrap();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "could not record the result of run {id} before its lease ran out; nothing was written"
        )),
        "{out:?}"
    );
    assert!(!out.stderr.contains("stopped"), "{out:?}");
    assert_eq!(env.status(&id), "leased");
    assert_eq!(env.field(&id, "output"), None);
}
