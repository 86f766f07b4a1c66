//! How `durably work` ends and what it refuses before claiming: exit 5 when runs failed, a
//! handler command that cannot be executed, the binary's own directory on a handler's PATH,
//! and `--retain` maintenance that never costs a running handler its lease. Every test runs on
//! both backends.

use crate::harness::*;

both! {
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
}

both! {
    fn max_runs_exits_5_when_a_run_failed_and_0_when_all_completed() {
        let env = Env::init();
        env.handler("bad", "exit 1");
        env.handler("ok", "true");
        env.enqueue_job("bad", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--max-runs", "1", "--handlers", &h]);
        assert_eq!(out.code, 5, "{out:?}");
        assert!(out.stderr.contains("1 of 1 run failed"), "{out:?}");
        env.enqueue_job("ok", &[]);
        env.enqueue_job("ok", &[]);
        let out = env.run(&["work", "--max-runs", "2", "--handlers", &h]);
        assert_eq!(out.code, 0, "{out:?}");
        let out = env.run(&["work", "--until-idle", "--handlers", &h]);
        assert_eq!(out.code, 0, "{out:?}");
    }
}

both! {
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
}

#[track_caller]
fn worker_support_one_line(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line: {stderr}");
    assert!(lines[0].contains(needle), "{stderr}");
    assert!(lines[0].contains("cannot execute handler"), "{stderr}");
}

both! {
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
}

/// Old terminal runs for `--retain` to purge: enough that the purge takes a while.
fn seed_old_runs(env: &Env, n: u64) {
    // The ids old00000001… from a series: a recursive CTE in SQLite, generate_series in
    // PostgreSQL.
    let (series, id) = match env.backend {
        Backend::Sqlite => (
            format!(
                "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {n})"
            ),
            "printf('old%08d', i)",
        ),
        Backend::Postgres => (
            format!("WITH seq(i) AS (SELECT generate_series(1, {n}))"),
            "'old' || lpad(i::text, 8, '0')",
        ),
    };
    env.exec(&format!(
        "{series} \
         INSERT INTO durably_runs (id, job_name, input, status, labels, current_step_index, \
         completed_step_count, lease_generation, started_at, completed_at, created_at, \
         updated_at) SELECT {id}, 'old', '{{}}', 'completed', '{{}}', 0, 0, 1, \
         '2020-01-01T00:00:00.000Z', '2020-01-01T00:00:01.000Z', '2020-01-01T00:00:00.000Z', \
         '2020-01-01T00:00:01.000Z' FROM seq"
    ));
}

both! {
    fn retain_purge_never_costs_a_running_handler_its_lease() {
        let env = Env::init();
        seed_old_runs(&env, 20_000);
        // The handler outlives two renewal periods and finishes while the queue is idle; at
        // its end it notes whether the last old run still exists: a purge while it ran would
        // have taken the worker's connection from under its result and its renewals.
        env.handler(
            "slow",
            "touch \"$T/started\"\nsleep 1.5\n\
             last=$(\"$DURABLY_BIN\" ls --job old --offset 19999 --limit 1 --format ids) || exit 1\n\
             printf '%s' \"$last\" > \"$T/seen\"\necho done",
        );
        let h = env.handlers.to_str().unwrap().to_string();
        let id = env.enqueue_job("slow", &[]);
        // The lease is long enough for a loaded machine (renewals every 667 ms, the local
        // deadline 1.8 s after the last one); the handler outlives two renewals.
        let a = env.spawn(&[
            "work",
            "--until-idle",
            "--retain",
            "1d",
            "--lease",
            "2s",
            "--poll",
            "20ms",
            "--concurrency",
            "2",
            "--handlers",
            &h,
        ]);
        // A second worker takes over any run whose lease lapses; it starts once the first
        // runs the handler, so that the run is the first worker's.
        crate::harness::wait_for("the handler to start", || {
            env.path("started").exists().then_some(())
        });
        let b = env.spawn(&[
            "work",
            "--poll",
            "20ms",
            "--lease",
            "2s",
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
        // Nothing was purged while the handler ran...
        let seen = std::fs::read_to_string(env.path("seen")).unwrap();
        assert!(
            seen.starts_with("old"),
            "old runs purged while the handler ran"
        );
        // ...and the purge ran once it was done.
        assert_eq!(
            env.count("SELECT count(*) FROM durably_runs WHERE job_name = 'old'"),
            0
        );
    }
}

both! {
    fn a_result_that_cannot_be_written_before_the_lease_runs_out_is_not_written() {
        let env = Env::init();
        env.handler(
            "held",
            "touch \"$T/started\"\nwhile [ ! -f \"$T/go\" ]; do sleep 0.05; done\necho done",
        );
        let id = env.enqueue_job("held", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        // The lease leaves a loaded machine more than a second between the lock and the
        // handler's exit (renewals every 667 ms, the local deadline 1.8 s after the last one),
        // so the handler ends on its own before the deadline.
        let worker = env.spawn(&["work", "--once", "--lease", "2s", "--handlers", &h]);
        crate::harness::wait_for("the handler to start", || {
            env.path("started").exists().then_some(())
        });
        // Another process holds the write lock from before the handler finishes until the worker
        // has given up: the result cannot be committed within the lease.
        let lock = env.hold_write_lock();
        std::fs::write(env.path("go"), "").unwrap();
        let out = finish(worker);
        drop(lock);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr.contains(&format!(
                "could not record the result of run {id} before its lease ran out (the database was busy or a lock was held); nothing was written, and the run will be executed again once its lease has expired"
            )),
            "{out:?}"
        );
        assert!(!out.stderr.contains("stopped"), "{out:?}");
        assert_eq!(env.status(&id), "leased");
        assert_eq!(env.field(&id, "output"), None);
    }
}

both! {
    fn a_renewal_waiting_for_a_lock_ends_at_the_lease_deadline() {
        let env = Env::init();
        env.handler("forever", "touch \"$T/started\"\nwhile true; do sleep 0.05; done");
        let id = env.enqueue_job("forever", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        // A busy timeout that must not expire: a renewal that waited for it would keep the
        // worker from ending while the lock is held, and `finish` would give up on it.
        let worker = env.spawn(&[
            "work",
            "--once",
            "--lease",
            "1s",
            "--busy-timeout",
            "1h",
            "--handlers",
            &h,
        ]);
        crate::harness::wait_for("the handler to start", || {
            env.path("started").exists().then_some(())
        });
        // Every renewal from now on waits for the lock, past the run's deadline: the handler
        // is stopped and the worker ends while the lock is still held.
        let lock = env.hold_write_lock();
        let out = finish(worker);
        drop(lock);
        assert_eq!(out.code, 1, "{out:?}");
        assert_eq!(
            out.stderr.trim(),
            format!(
                "durably: the lease of run {id} could not be renewed before its deadline; its handler was stopped and nothing was written"
            ),
            "{out:?}"
        );
        assert_eq!(env.status(&id), "leased");
    }
}

both! {
    fn the_pending_report_counts_only_this_workers_jobs_and_names_max_runs() {
        let env = Env::init();
        for _ in 0..5 {
            env.enqueue_job("mine", &[]);
        }
        env.enqueue_job("other", &[]);
        env.enqueue_job("other", &[]);
        let out = env.run(&[
            "work",
            "--until-idle",
            "--max-runs",
            "2",
            "--job",
            "mine",
            "--",
            "true",
        ]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            out.stderr.trim(),
            "durably: 3 runs of this worker's jobs still pending (--max-runs 2 reached)",
            "{out:?}"
        );
        // `--max-runs` alone reports too; one run left is "1 run".
        let out = env.run(&["work", "--max-runs", "2", "--job", "mine", "--", "true"]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            out.stderr.trim(),
            "durably: 1 run of this worker's jobs still pending (--max-runs 2 reached)",
            "{out:?}"
        );
        // A handler directory without `--job`: runs of jobs it has no script for are counted
        // apart, and a drained worker gives no cause it does not know.
        env.handler("mine", "true");
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--until-idle", "--handlers", &h]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            out.stderr.trim(),
            format!("durably: 2 runs of other jobs still pending (no handler for them in {h})"),
            "{out:?}"
        );
        // Nothing of its own left and `--job` given: nothing to report.
        let out = env.run(&["work", "--until-idle", "--job", "mine", "--", "true"]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stderr, "", "{out:?}");
    }
}

both! {
    fn the_pending_report_names_a_concurrency_key_held_by_a_live_lease() {
        let env = Env::init();
        let holder = env.enqueue_job("k", &["--concurrency-key", "acme"]);
        // The first run is held by another worker whose lease has not run out.
        env.exec(&format!(
            "UPDATE durably_runs SET status = 'leased', lease_owner = 'elsewhere', \
             lease_expires_at = '2999-01-01T00:00:00.000Z', lease_generation = 1 WHERE id = {}",
            lit(&holder)
        ));
        let waiting = env.enqueue_job("k", &["--concurrency-key", "acme"]);
        let out = env.run(&["work", "--until-idle", "--", "true"]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            out.stderr.trim(),
            "durably: 1 run still pending (blocked by a concurrency key in use)",
            "{out:?}"
        );
        assert_eq!(env.status(&waiting), "pending");
    }
}

/// Lines of a child's stderr as they come, read on a thread.
fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let err = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

both! {
    fn signals_say_what_the_worker_waits_for_and_what_it_stopped() {
        let env = Env::init();
        let gate = env.path("never");
        env.handler(
            "slow",
            &format!(
                "echo $$ > {}/$DURABLY_RUN_ID.pid\nwhile [ ! -e {} ]; do sleep 0.05; done",
                env.path("").display(),
                gate.display()
            ),
        );
        let a = env.enqueue_job("slow", &[]);
        let b = env.enqueue_job("slow", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        let mut worker = env.spawn(&[
            "work",
            "--concurrency",
            "2",
            "--lease",
            "1h",
            "--handlers",
            &h,
        ]);
        let lines = stderr_lines(&mut worker);
        let pids = [
            env.pid_file(&format!("{a}.pid")),
            env.pid_file(&format!("{b}.pid")),
        ];
        // First signal: one line while the handlers still run (the gate never opens).
        signal(&worker, libc::SIGTERM);
        let first = lines
            .recv_timeout(BOUND)
            .expect("a line after the first signal");
        assert_eq!(
            first,
            "durably: stopping: waiting for 2 running handlers to finish (Ctrl-C again to stop them now)"
        );
        assert!(
            pids.iter().all(|&p| alive(p)),
            "handlers stopped at the first signal"
        );
        // Second signal (another one, so it cannot merge with the first): the handlers are
        // stopped and their runs are pending again at once (not leased until their leases expire).
        signal(&worker, libc::SIGINT);
        let out = finish(worker);
        assert_eq!(out.code, 1, "{out:?}");
        let rest: Vec<String> = lines.iter().collect();
        assert_eq!(rest.len(), 2, "{rest:?}");
        assert_eq!(rest[0], "durably: stopping 2 running handlers now");
        assert!(
            rest[1].contains(
                "stopped 2 handlers at a second signal; their runs are pending again, claimable at once"
            ),
            "{rest:?}"
        );
        for p in pids {
            wait_dead(p);
        }
        assert_eq!(env.status(&a), "pending");
        assert_eq!(env.status(&b), "pending");
        env.handler("slow", "true");
        let out = env.run(&["work", "--until-idle", "--handlers", &h]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(env.status(&a), "completed");
        assert_eq!(env.status(&b), "completed");
    }
}

both! {
    fn a_signal_to_an_idle_worker_ends_it_without_a_word() {
        let env = Env::init();
        let h = env.handlers.to_str().unwrap().to_string();
        let marker = env.path("started");
        env.handler("once", &format!("touch {}", marker.display()));
        env.enqueue_job("once", &[]);
        let worker = env.spawn(&["work", "--poll", "100ms", "--handlers", &h]);
        // The worker has run its only run and idles.
        wait_for("the run to complete", || {
            (env.count("SELECT count(*) FROM durably_runs WHERE status = 'completed'") == 1)
                .then_some(())
        });
        signal(&worker, libc::SIGTERM);
        let out = finish(worker);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stderr, "", "{out:?}");
    }
}

#[test]
fn verbose_says_one_line_per_claim_and_per_end() {
    let env = Env::init();
    env.handler("ok", "echo fine");
    env.handler("bad", "printf 'first\\nsecond\\n' >&2; exit 3");
    let good = env.enqueue_job("ok", &[]);
    let h = env.handlers.to_str().unwrap().to_string();
    let out = env.run(&["work", "-v", "--until-idle", "--handlers", &h]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert_eq!(lines[0], format!("durably: claimed {good} ok"));
    assert!(
        lines[1].starts_with(&format!("durably: completed {good} ok in "))
            && lines[1].ends_with('s'),
        "{out:?}"
    );
    let bad = env.enqueue_job("bad", &[]);
    let out = env.run(&["work", "--verbose", "--until-idle", "--handlers", &h]);
    assert_eq!(out.code, 5, "{out:?}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with(&format!("durably: failed {bad} bad in ")))
        .unwrap_or_else(|| panic!("{out:?}"));
    assert!(line.ends_with("s: handler exited with code 3"), "{line}");
    // Without -v: none of these lines.
    env.enqueue_job("ok", &[]);
    let out = env.run(&["work", "--until-idle", "--handlers", &h]);
    assert!(!out.stderr.contains("claimed"), "{out:?}");
    assert!(!out.stderr.contains("completed"), "{out:?}");
}
