//! PostgreSQL behind a faulty network ([`Proxy`] on 127.0.0.1):
//! - a worker's renewal connection black-holed, or closed with new ones refused: the worker
//!   stops claiming until it heals, and no two executions of a run overlap;
//! - every connection black-holed under SIGTERM: the worker still ends, and the run is
//!   executed again only after its lease;
//! - sessions terminated by the server while the client has not seen them close: the loss is
//!   recognised from the server's error code, and the result is written once after
//!   reconnecting;
//! - a server that accepts and never answers: one line after `connect_timeout`.
//!
//! PostgreSQL only, ignored unless `--include-ignored` with `DURABLY_TEST_PG` set.

use crate::harness::*;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// Records each execution in `$T/events`: `start`, a `tick` every 100 ms, `end`, each with the
/// run id, lease generation and wall-clock nanoseconds. Generation 1 ticks `$TICKS_FIRST`
/// times, later generations `$TICKS_LATER` times (40 each by default: about 4 s).
const TICKING: &str = r#"r="$DURABLY_RUN_ID"; g="$DURABLY_LEASE_GENERATION"
echo $$ > "$T/pid.$r.$g"
echo "start $r $g $(date +%s%N)" >> "$T/events"
n=${TICKS_LATER:-40}; [ "$g" = 1 ] && n=${TICKS_FIRST:-40}
i=0
while [ $i -lt $n ]; do
  echo "tick $r $g $(date +%s%N)" >> "$T/events"; sleep 0.1; i=$((i+1))
done
echo "end $r $g $(date +%s%N)" >> "$T/events"
echo '{"ok":true}'"#;

/// One execution (run, generation) as the handler recorded it.
#[derive(Debug, Default)]
struct Execution {
    starts: usize,
    first: u128,
    last: u128,
    ended: bool,
}

/// The executions recorded in `$T/events`, by run and generation.
fn executions(env: &Env) -> BTreeMap<(String, i64), Execution> {
    let mut out: BTreeMap<(String, i64), Execution> = BTreeMap::new();
    for line in read_lossy(&env.path("events")).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [what, run, generation, ns] = f[..] else {
            continue;
        };
        let (Ok(generation), Ok(ns)) = (generation.parse::<i64>(), ns.parse::<u128>()) else {
            continue;
        };
        let e = out.entry((run.to_string(), generation)).or_default();
        if what == "start" {
            e.starts += 1;
            e.first = ns;
        }
        e.last = e.last.max(ns);
        e.ended |= what == "end";
    }
    out
}

fn starts(env: &Env) -> usize {
    executions(env).values().map(|e| e.starts).sum()
}

/// No (run, generation) executed twice, and the executions of one run never overlap: the
/// last sign of life of each generation comes before the start of the next.
fn assert_no_overlap(ex: &BTreeMap<(String, i64), Execution>) {
    let mut previous: Option<(&String, i64, &Execution)> = None;
    for ((run, generation), e) in ex {
        assert_eq!(
            e.starts, 1,
            "run {run} generation {generation} started twice"
        );
        if let Some((_, pgen, p)) = previous.filter(|(r, ..)| *r == run) {
            assert!(
                p.last < e.first,
                "run {run}: generation {pgen} was alive {} ms into generation {generation}",
                (p.last - e.first) / 1_000_000
            );
        }
        previous = Some((run, *generation, e));
    }
}

/// `durably --db DB ARGS` in the background, logging into the env's dir.
fn worker(env: &Env, db: &str, args: &[&str], name: &str, extra_env: &[(&str, &str)]) -> Bg {
    let mut c: Command = bare_command(env.dir.path());
    c.arg("--db").arg(db).args(args);
    for (k, v) in extra_env {
        c.env(k, v);
    }
    Bg::spawn(c, env.dir.path(), name)
}

fn pg_env() -> Env {
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    env
}

/// Waits (bounded) until every run is completed; panics with the statuses and what the
/// workers said otherwise.
fn wait_completed(env: &Env, ids: &[String], workers: &[&Bg]) {
    let done = wait_until(BOUND, || {
        ids.iter()
            .all(|id| env.field(id, "status").as_deref() == Some("completed"))
    });
    if !done {
        let statuses: Vec<_> = ids.iter().map(|id| env.field(id, "status")).collect();
        let said: Vec<String> = workers
            .iter()
            .map(|w| tail(&w.err(), 3000).to_string())
            .collect();
        panic!("runs not completed: {statuses:?}; workers said: {said:#?}");
    }
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_worker_stops_claiming_while_its_renewal_connection_is_black_holed() {
    // A partition of the renewal path only: its connection and any new one hang; the claims
    // and results on the worker's main connection still go through.
    claims_wait_while_renewals_fail("black-holed", |proxy, renewal| {
        proxy.black_hole(renewal);
        proxy.black_hole_new();
    });
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_worker_stops_claiming_while_its_renewal_connection_cannot_be_opened() {
    // The renewal connection closed, and no new one admitted (a server out of connections).
    claims_wait_while_renewals_fail("refused", |proxy, renewal| {
        proxy.reset(renewal);
        proxy.refuse_new();
    });
}

/// A worker (`--lease 3s`, 2 slots) with 4 runs of 4 s whose renewal path `cut` breaks for
/// 12 s, then heals: it claims nothing more meanwhile, no two executions of a run overlap,
/// and it completes every run afterwards.
fn claims_wait_while_renewals_fail(what: &str, cut: impl Fn(&Proxy, usize)) {
    let env = pg_env();
    let h = env.handler("slow", TICKING);
    let ids: Vec<String> = (0..4)
        .map(|i| env.enqueue_job("slow", &["--input", &i.to_string()]))
        .collect();
    let (proxy, via) = Proxy::for_url(&env.db_arg());
    let args = [
        "work",
        "--concurrency",
        "2",
        "--lease",
        "3s",
        "--poll",
        "100ms",
        "--",
        h.to_str().unwrap(),
    ];
    let mut w = worker(&env, &via, &args, "worker", &[]);
    // The renewal connection: the one that renews leases and never claims or writes a result
    // (a claim sets lease_owner, as do the results' fallback statements; the kept functions
    // are called by name).
    let renewal = wait_for("a lease renewal through the proxy", || {
        proxy.connection_that_sent(b"SET lease_expires_at", &[b"lease_owner", b"durably_cli_"])
    });
    let before = starts(&env);
    cut(&proxy, renewal);
    // Four leases long: a worker that claims what it cannot renew starts about two runs per
    // lease and slot meanwhile.
    std::thread::sleep(Duration::from_secs(12));
    let during = starts(&env) - before;
    proxy.heal_all();
    wait_completed(&env, &ids, &[&w]);
    let ex = executions(&env);
    eprintln!(
        "renewal path {what} for 12 s (--lease 3s, --concurrency 2, 4 runs of 4 s): \
         {during} executions started meanwhile, {} in all",
        ex.len()
    );
    assert_no_overlap(&ex);
    // Each slot can have claimed once before the failing renewals were noticed; nothing more
    // is claimed until renewals work again.
    assert!(
        during <= 4,
        "{during} executions started while renewals could not be made:\n{}",
        tail(&w.err(), 3000)
    );
    let said = w.err();
    assert!(said.contains("not claiming"), "{said}");
    assert!(said.contains("lease renewals work again"), "{said}");
    assert!(!w.ended(), "the worker ended:\n{said}");
    w.signal(libc::SIGTERM);
    let st = w.wait_max(BOUND);
    assert!(st.success(), "worker exited with {st}:\n{}", w.err());
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_sigterm_ends_a_worker_whose_connections_are_black_holed() {
    let env = pg_env();
    let h = env.handler("long", TICKING);
    let id = env.enqueue_job("long", &[]);
    let (proxy, via) = Proxy::for_url(&env.db_arg());
    let args = [
        "work",
        "--lease",
        "3s",
        "--poll",
        "100ms",
        "--",
        h.to_str().unwrap(),
    ];
    // Generation 1 would tick for 30 s; the next one completes at once.
    let ticks = [("TICKS_FIRST", "300"), ("TICKS_LATER", "2")];
    let mut w = worker(&env, &via, &args, "worker", &ticks);
    wait_for("the handler to start", || {
        (!executions(&env).is_empty()).then_some(())
    });
    proxy.black_hole_all();
    w.signal(libc::SIGTERM);
    let signalled = Instant::now();
    // A bound, not a timing: the worker must end while the partition lasts (before, it hung
    // until the network healed).
    let st = w.wait_max(Duration::from_secs(30));
    let took = signalled.elapsed();
    eprintln!("SIGTERM under a partition (--lease 3s): the worker ended after {took:?} ({st})");
    let said = w.err();
    assert!(!said.contains("panicked"), "{said}");
    // The handler's process group died with its lease.
    let pid = env.pid_file(&format!("pid.{id}.1"));
    wait_dead(pid);
    // A healthy worker executes the run again once its lease has run out, never before.
    let out = env.run(&[
        "work",
        "--until-idle",
        "--lease",
        "3s",
        "--poll",
        "100ms",
        "--",
        h.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.status(&id), "completed");
    let ex = executions(&env);
    assert!(ex.len() >= 2, "{ex:?}");
    assert_no_overlap(&ex);
    drop(proxy);
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_result_written_on_a_terminated_session_is_recorded_once() {
    let env = pg_env();
    // Each execution says it is ready, then waits for the test's go before it completes.
    let h = env.handler(
        "job",
        r#"r="$DURABLY_RUN_ID"
echo "start $r $DURABLY_LEASE_GENERATION $(date +%s%N)" >> "$T/events"
touch "$T/ready.$r"
while [ ! -e "$T/go.$r" ]; do sleep 0.02; done
echo '{"ok":true}'"#,
    );
    let ids: Vec<String> = (0..3)
        .map(|i| env.enqueue_job("job", &["--input", &i.to_string()]))
        .collect();
    let (proxy, via) = Proxy::for_url(&env.db_arg());
    // The client gets the server's "terminating connection" error but no close: only the
    // error's code can tell it that the session is gone.
    proxy.keep_client_open();
    let args = [
        "work",
        "--lease",
        "30s",
        "--poll",
        "100ms",
        "--",
        h.to_str().unwrap(),
    ];
    let mut w = worker(&env, &via, &args, "worker", &[]);
    // A session of the test's own (no application name, so it is not terminated below).
    let mut locker = pg_connect(&env.db_arg());
    for round in 0..ids.len() {
        let ready = poll(BOUND, || {
            ids.iter()
                .find(|id| {
                    env.path(&format!("ready.{id}")).exists()
                        && !env.path(&format!("go.{id}")).exists()
                })
                .cloned()
        });
        let Some(run) = ready else {
            panic!(
                "round {round}: no handler started; the worker said:\n{}",
                tail(&w.err(), 3000)
            );
        };
        // The result write waits for the run's row, locked here, so that the termination
        // reaches the worker as the answer to its statement in flight.
        let mut tx = locker.transaction().expect("begin");
        tx.execute(
            "SELECT 1 FROM durably_runs WHERE id = $1 FOR UPDATE",
            &[&run],
        )
        .expect("lock the run");
        std::fs::write(env.path(&format!("go.{run}")), "").expect("go file");
        wait_for("the result write to wait for the lock", || {
            let waiting = env.count(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'durably' AND wait_event_type = 'Lock' \
                 AND (query LIKE '%status = ''completed''%' \
                      OR query LIKE '%durably\\_cli\\_complete\\_%')",
            );
            (waiting > 0).then_some(())
        });
        let open = proxy.connections();
        let terminated = env.count(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'durably'",
        );
        assert!(terminated >= 1, "round {round}: no session to terminate");
        wait_for("the proxy to see the sessions end", || {
            (0..open).all(|n| proxy.is_closed(n)).then_some(())
        });
        tx.rollback().expect("unlock the run");
    }
    wait_completed(&env, &ids, &[&w]);
    let said = w.err();
    let ex = executions(&env);
    eprintln!(
        "sessions terminated during 3 result writes: {} executions for 3 runs",
        ex.values().map(|e| e.starts).sum::<usize>()
    );
    for id in &ids {
        assert_eq!(
            env.field(id, "lease_generation").as_deref(),
            Some("1"),
            "{said}"
        );
    }
    assert_eq!(ex.len(), 3, "{ex:?}\n{said}");
    assert_no_overlap(&ex);
    assert!(!said.contains("nothing was written"), "{said}");
    assert!(said.contains("reconnected"), "{said}");
    w.signal(libc::SIGTERM);
    let st = w.wait_max(BOUND);
    assert!(st.success(), "worker exited with {st}:\n{said}");
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_server_that_accepts_and_never_answers_is_one_line_after_connect_timeout() {
    let env = pg_env();
    let (proxy, via) = Proxy::for_url(&env.db_arg());
    // TCP connects, the login gets no answer (the driver's own timeout covers the TCP
    // handshake only).
    proxy.black_hole_new();
    let mut c = bare_command(env.dir.path());
    c.arg("--db")
        .arg(format!("{via}&connect_timeout=2"))
        .args(["ls"]);
    let mut ls = Bg::spawn(c, env.dir.path(), "ls");
    let st = ls.wait_max(Duration::from_secs(30));
    assert_eq!(st.code(), Some(1), "{}", ls.err());
    assert_one_error_line(&ls.err(), "no answer within 2 s");
    assert!(proxy.connections() >= 1);
}
