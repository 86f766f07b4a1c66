//! Crashes, stale workers, cancellation and shutdown: real processes, `kill -9`, SIGSTOP, and
//! the database inspected afterwards.

use crate::harness::*;

/// Direct children of a process, from /proc.
fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    out
}

/// With several handlers at once, `kill -9` of the worker still leaves none of them running.
#[test]
fn killed_worker_with_several_handlers_leaves_nothing() {
    let env = Env::init();
    env.handler(
        "job",
        "sleep 1000 & echo $! > $T/gc-$DURABLY_RUN_ID.pid; echo $$ > $T/leader-$DURABLY_RUN_ID.pid; wait",
    );
    let ids: Vec<String> = (0..3).map(|_| env.enqueue_job("job", &[])).collect();
    let mut worker = env.spawn(&[
        "work",
        "--concurrency",
        "3",
        "--handlers",
        env.handlers.to_str().unwrap(),
    ]);
    let mut pids = Vec::new();
    for id in &ids {
        pids.push(env.pid_file(&format!("gc-{id}.pid")));
        pids.push(env.pid_file(&format!("leader-{id}.pid")));
    }
    worker.kill().unwrap();
    worker.wait().unwrap();
    for pid in pids {
        wait_dead(pid);
    }
}

fn lines(env: &Env, name: &str) -> Vec<String> {
    std::fs::read_to_string(env.path(name))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `kill -9` of a worker mid-run: the supervisor kills the handler's whole group (the
/// background grandchild too); after the short lease a second worker reclaims the run and
/// completes it, and the step finished before the crash is not executed again.
#[test]
fn killed_worker_leaves_nothing_running_and_run_is_reclaimed() {
    let env = Env::init();
    env.handler(
        "job",
        r#"durably step first -- sh -c 'echo first >> $T/ran; echo 1' > /dev/null
if [ "$DURABLY_LEASE_GENERATION" = 1 ]; then
  echo $$ > $T/leader.pid
  sleep 1000 &
  echo $! > $T/grandchild.pid
  wait
fi
durably step second -- sh -c 'echo second >> $T/ran; echo 2' > /dev/null
echo "finished by generation $DURABLY_LEASE_GENERATION""#,
    );
    let id = env.enqueue_job("job", &[]);
    let handlers = env.handlers.to_str().unwrap();
    let mut first = env.spawn(&["work", "--lease", "1s", "--handlers", handlers]);
    let leader = env.pid_file("leader.pid");
    let grandchild = env.pid_file("grandchild.pid");
    assert!(alive(grandchild));
    // The worker's children: the supervisor and the handler's leader.
    let children = children_of(first.id() as i32);
    assert!(children.contains(&leader), "{children:?}");
    assert_eq!(children.len(), 2, "{children:?}");
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    wait_dead(leader);
    wait_dead(grandchild);
    for pid in children {
        wait_dead(pid);
    }
    assert_eq!(env.status(&id), "leased");

    let second = env.spawn(&[
        "work",
        "--lease",
        "1s",
        "--poll",
        "100ms",
        "--max-runs",
        "1",
        "--handlers",
        handlers,
    ]);
    let out = finish(second);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.status(&id), "completed");
    assert_eq!(
        env.field(&id, "output").as_deref(),
        Some("\"finished by generation 2\"")
    );
    assert_eq!(lines(&env, "ran"), ["first", "second"]);
    assert_eq!(
        env.count("SELECT count(*) FROM durably_steps WHERE status = 'completed'"),
        2
    );
    assert_eq!(env.field(&id, "completed_step_count").as_deref(), Some("2"));
}

/// A worker frozen past its lease (SIGSTOP) while another reclaims and completes the run
/// cannot overwrite the result, nor add steps or logs, once it wakes up.
#[test]
fn stale_worker_cannot_overwrite_the_reclaimed_run() {
    let env = Env::init();
    env.handler(
        "job",
        r#"durably step s1 -- sh -c 'echo "s1 $DURABLY_LEASE_GENERATION" >> $T/ran; echo 1' > /dev/null
if [ "$DURABLY_LEASE_GENERATION" = 1 ]; then
  echo $$ > $T/stale.pid
  while [ ! -e $T/go ]; do sleep 0.05; done
fi
durably log "log of generation $DURABLY_LEASE_GENERATION" || echo "log refused" >> $T/refused
durably progress $DURABLY_LEASE_GENERATION || echo "progress refused" >> $T/refused
durably step s2 -- sh -c 'echo "s2 $DURABLY_LEASE_GENERATION" >> $T/ran; echo 2' > /dev/null
durably step s3 -- sh -c 'echo "s3 $DURABLY_LEASE_GENERATION" >> $T/ran; echo 3' > /dev/null
if [ "$DURABLY_LEASE_GENERATION" = 1 ]; then
  durably step stale-only -- sh -c 'echo "stale-only ran" >> $T/ran' > /dev/null || echo "step refused" >> $T/refused
fi
echo "result of generation $DURABLY_LEASE_GENERATION""#,
    );
    let id = env.enqueue_job("job", &[]);
    let handlers = env.handlers.to_str().unwrap();
    let stale = env.spawn(&["work", "--once", "--lease", "1s", "--handlers", handlers]);
    let stale_handler = env.pid_file("stale.pid");
    signal(&stale, libc::SIGSTOP);
    // Its supervisor would kill the handler at the lease deadline: stopped too, so that the
    // stale handler lives on to try its writes against the fence.
    let supervisor: Vec<i32> = children_of(stale.id() as i32)
        .into_iter()
        .filter(|&p| p != stale_handler)
        .collect();
    assert_eq!(supervisor.len(), 1, "the supervisor among {supervisor:?}");
    // SAFETY: signalling the stale worker's supervisor, a process of this test.
    unsafe { libc::kill(supervisor[0], libc::SIGSTOP) };
    let reclaimer = env.spawn(&[
        "work",
        "--lease",
        "1s",
        "--poll",
        "100ms",
        "--max-runs",
        "1",
        "--handlers",
        handlers,
    ]);
    let out = finish(reclaimer);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.status(&id), "completed");
    let completed_at = env.field(&id, "completed_at");

    // The generation-1 handler still runs (its worker is frozen): let it try to write.
    std::fs::write(env.path("go"), "").unwrap();
    if alive(stale_handler) {
        wait_for("the stale handler to try its writes", || {
            (lines(&env, "refused").len() >= 3 || !alive(stale_handler)).then_some(())
        });
    }
    assert_eq!(
        lines(&env, "refused"),
        ["log refused", "progress refused", "step refused"]
    );
    signal(&stale, libc::SIGCONT);
    // SAFETY: as above.
    unsafe { libc::kill(supervisor[0], libc::SIGCONT) };
    let out = finish(stale);
    assert_eq!(
        out.code, 1,
        "the stale worker reports a lost lease: {out:?}"
    );
    wait_dead(stale_handler);

    assert_eq!(env.status(&id), "completed");
    assert_eq!(
        env.field(&id, "output").as_deref(),
        Some("\"result of generation 2\"")
    );
    assert_eq!(env.field(&id, "completed_at"), completed_at);
    assert_eq!(
        env.field(&id, "progress").as_deref(),
        Some("{\"current\":2}")
    );
    let logs: Vec<String> = env
        .conn()
        .prepare("SELECT message FROM durably_logs")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(logs, ["log of generation 2"]);
    assert_eq!(
        env.count("SELECT count(*) FROM durably_steps"),
        3,
        "s1, s2, s3 once each"
    );
    let ran = lines(&env, "ran");
    assert_eq!(
        ran.iter().filter(|l| l.starts_with("s1")).count(),
        1,
        "{ran:?}"
    );
    assert!(!ran.contains(&"s3 1".to_string()), "{ran:?}");
    // `durably step` checks the lease before it runs the command, and again when it stores.
    assert!(!ran.contains(&"stale-only ran".to_string()), "{ran:?}");
}

/// Cancelling a running run kills its handler's group; `--once` exits 6.
#[test]
fn cancel_kills_the_running_handler() {
    let env = Env::init();
    env.handler(
        "job",
        "echo $$ > $T/leader.pid; sleep 1000 & echo $! > $T/child.pid; wait",
    );
    let id = env.enqueue_job("job", &[]);
    let worker = env.spawn(&[
        "work",
        "--once",
        "--lease",
        "900ms",
        "--handlers",
        env.handlers.to_str().unwrap(),
    ]);
    let leader = env.pid_file("leader.pid");
    let child = env.pid_file("child.pid");
    env.ok(&["cancel", &id]);
    let out = finish(worker);
    assert_eq!(out.code, 6, "{out:?}");
    wait_dead(leader);
    wait_dead(child);
    assert_eq!(env.status(&id), "cancelled");
    assert_eq!(env.field(&id, "output"), None);
}

/// First SIGTERM: stop claiming, let the running handler finish. Second: kill it and hand
/// the run back at once (another worker reclaims it without waiting for the lease).
#[test]
fn signals_drain_then_hand_back() {
    let env = Env::init();
    env.handler(
        "job",
        r#"if [ "$DURABLY_LEASE_GENERATION" = 1 ]; then
  echo $$ > $T/$DURABLY_RUN_ID.pid
  while [ ! -e $T/go-$DURABLY_RUN_ID ]; do sleep 0.05; done
fi
echo ok"#,
    );
    let handlers = env.handlers.to_str().unwrap();

    // Graceful: the running run completes, the other stays pending.
    let a = env.enqueue_job("job", &[]);
    let worker = env.spawn(&["work", "--handlers", handlers]);
    env.pid_file(&format!("{a}.pid"));
    let b = env.enqueue_job("job", &[]);
    signal(&worker, libc::SIGTERM);
    std::fs::write(env.path(&format!("go-{a}")), "").unwrap();
    let out = finish(worker);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.status(&a), "completed");
    assert_eq!(env.status(&b), "pending");

    // Forced: the handler is killed, the lease expires now, another worker takes over.
    let worker = env.spawn(&["work", "--lease", "1h", "--handlers", handlers]);
    let pid = env.pid_file(&format!("{b}.pid"));
    // Two different signals: a second SIGTERM could merge with a pending first one.
    signal(&worker, libc::SIGTERM);
    signal(&worker, libc::SIGINT);
    let out = finish(worker);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("pending again, claimable at once"),
        "{out:?}"
    );
    wait_dead(pid);
    assert_eq!(env.status(&b), "pending");
    assert_eq!(env.field(&b, "lease_owner"), None);
    let out = env.run(&["work", "--once", "--lease", "1h", "--handlers", handlers]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.status(&b), "completed");
    assert_eq!(env.field(&b, "lease_generation").as_deref(), Some("2"));
}

/// An expired lease is released by an idle worker: back to pending, or failed when a pending
/// run with the same job and concurrency key exists (the library's rule).
#[test]
fn idle_worker_releases_expired_leases() {
    let env = Env::init();
    env.handler("other", "echo x");
    let a = env.enqueue_job("k", &["--concurrency-key", "K"]);
    let b = env.enqueue_job("plain", &[]);
    {
        let c = env.conn();
        c.execute(
            "UPDATE durably_runs SET status = 'leased', lease_owner = 'gone', \
             lease_expires_at = '2000-01-01T00:00:00.000Z', lease_generation = 1",
            [],
        )
        .unwrap();
    }
    let c = env.enqueue_job("k", &["--concurrency-key", "K"]);
    env.run(&[
        "work",
        "--once",
        "--handlers",
        env.handlers.to_str().unwrap(),
    ]);
    assert_eq!(env.status(&a), "failed");
    assert_eq!(
        env.field(&a, "error").as_deref(),
        Some("Lease expired; pending run already exists")
    );
    assert_eq!(env.status(&b), "pending");
    assert_eq!(env.field(&b, "lease_owner"), None);
    assert_eq!(env.status(&c), "pending");
}

/// The supervisor of a dead worker sends SIGTERM before SIGKILL: a handler may clean up, and
/// a `durably step` whose command has finished still records it (its body never runs twice).
#[test]
fn dead_workers_handlers_get_sigterm_then_sigkill() {
    let env = Env::init();
    env.handler(
        "job",
        r#"trap 'echo term >> $T/trapped; exit 1' TERM
echo $$ > $T/leader.pid
sleep 1000 &
wait"#,
    );
    env.enqueue_job("job", &[]);
    let mut worker = env.spawn(&["work", "--handlers", env.handlers.to_str().unwrap()]);
    let leader = env.pid_file("leader.pid");
    worker.kill().unwrap();
    worker.wait().unwrap();
    wait_dead(leader);
    assert_eq!(lines(&env, "trapped"), ["term"]);
}

/// `durably step` runs its command with an empty signal mask, although it holds SIGTERM back
/// itself.
#[test]
fn step_command_starts_with_no_blocked_signals() {
    let env = Env::init();
    env.handler(
        "job",
        "durably step mask -- sh -c 'grep SigBlk /proc/self/status | tr -d \"\\t \"'",
    );
    let id = env.enqueue_job("job", &[]);
    let out = env.run(&[
        "work",
        "--once",
        "--handlers",
        env.handlers.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        env.field(&id, "output").as_deref(),
        Some("\"SigBlk:0000000000000000\"")
    );
}
