//! A worker with free slots claims several runs in one claim (`Leases::claim_many`): how many
//! it takes (its free slots, what `--max-runs` and `--once` leave), and that every run still
//! runs once and one concurrency key still admits one live lease (on both backends); and, on
//! PostgreSQL, that a run another session holds is passed over inside the claim's scan and
//! that a worker with several slots writes its results on a connection of its own. A run's
//! result and the claim of its slot's next run go in one write (`Leases::finish_and_claim`):
//! what it writes and claims on both backends, that a refused fence still claims, and, on
//! PostgreSQL, that both roll back together and that a worker at one slot costs one round trip
//! a run (counted by the fleet bench's proxy); the run claimed so, executed by the same
//! executor thread, is renewed and timed out like any other.

use crate::harness::*;
use durably::store::{Access, Fenced, Jobs, NextClaim, Options, Store, Target};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[path = "../../examples/bench_fleet/proxy.rs"]
mod counting;

fn open(env: &Env) -> Store {
    let opts = Options {
        target: Target::parse(env.db_arg().into()).unwrap(),
        busy_timeout: Duration::from_secs(10),
        default: false,
        max_size: None,
    };
    Store::open(&opts, Access::Write).expect("open the store")
}

both! {
    /// Twenty runs without a key and four that share one key across four jobs, drained by
    /// one worker with four slots: each run executed once, the keyed ones never two at a time
    /// (a keyed handler holding the key's directory while another one runs would fail).
    fn batch_claims_run_each_run_once_and_keep_one_lease_per_key() {
        let env = Env::init();
        let body = r#"echo "$DURABLY_RUN_ID" >> "$T/ran"
case "$DURABLY_JOB" in
  k*) mkdir "$T/k.held" || exit 1; sleep 0.1; rmdir "$T/k.held" ;;
esac"#;
        env.handler("plain", body);
        for i in 0..4 {
            env.handler(&format!("k{i}"), body);
        }
        let mut ids: Vec<String> = (0..10).map(|_| env.enqueue_job("plain", &[])).collect();
        for i in 0..4 {
            ids.push(env.enqueue_job(&format!("k{i}"), &["--concurrency-key", "k"]));
        }
        ids.extend((0..10).map(|_| env.enqueue_job("plain", &[])));
        let handlers = env.handlers.to_str().unwrap();
        let out = env.run(&["work", "--until-idle", "--concurrency", "4", "--handlers", handlers]);
        out.ok();
        let ran = std::fs::read_to_string(env.path("ran")).unwrap_or_default();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for id in ran.lines() {
            *seen.entry(id).or_default() += 1;
        }
        assert_eq!(seen.len(), ids.len(), "{out:?}");
        assert!(seen.values().all(|&n| n == 1), "a run executed twice: {seen:?}");
        assert_eq!(
            env.count("SELECT count(*) FROM durably_runs WHERE status = 'completed' AND lease_generation = 1"),
            ids.len() as i64,
            "{out:?}"
        );
    }

    /// Four free slots but `--max-runs 3`: three runs are claimed, not four (a fourth would
    /// stay leased, unexecuted, until its lease ran out); `--once` claims one.
    fn a_batch_claim_takes_no_more_than_max_runs_or_once_leave() {
        let env = Env::init();
        env.handler("job", "true");
        let ids: Vec<String> = (0..10).map(|_| env.enqueue_job("job", &[])).collect();
        let handlers = env.handlers.to_str().unwrap();
        env.ok(&["work", "--max-runs", "3", "--concurrency", "4", "--handlers", handlers]);
        let count = |status: &str| {
            env.count(&format!("SELECT count(*) FROM durably_runs WHERE status = '{status}'"))
        };
        assert_eq!((count("completed"), count("leased"), count("pending")), (3, 0, 7));
        for id in &ids[..3] {
            assert_eq!(env.status(id), "completed", "the oldest first");
        }
        env.ok(&["work", "--once", "--concurrency", "4", "--handlers", handlers]);
        assert_eq!((count("completed"), count("leased"), count("pending")), (4, 0, 6));
    }

    /// `finish_and_claim`: the result is written (fenced) and the oldest claimable run is
    /// claimed in the same call, read back as the store has it; a refused fence writes
    /// nothing and still claims; a claim of other jobs claims nothing; text with quotes and
    /// backslashes goes through unchanged (PostgreSQL writes it in as literals).
    fn a_result_and_the_next_claim_are_one_write_and_a_refused_fence_still_claims() {
        let env = Env::init();
        let ids: Vec<String> = (0..4).map(|_| env.enqueue_job("job", &[])).collect();
        let mut store = open(&env);
        let lease = Duration::from_secs(30);
        let all = Jobs::All;
        let next = NextClaim { jobs: &all, owner: "me", lease, max: 1 };
        let (first, _) = store.claim(&all, "me", lease).expect("claim").expect("a run");
        assert_eq!(first.id, ids[0]);
        let output = r#"{"s":"it's a \\ path"}"#;
        let before = Instant::now();
        let (fenced, claimed) = store
            .finish_and_claim(&first.id, first.lease_generation, Ok(Some(output)), &next)
            .expect("complete and claim");
        assert!(matches!(fenced, Fenced::Done(())));
        assert_eq!(claimed.len(), 1);
        let (second, started) = &claimed[0];
        assert!(*started <= Instant::now() && *started + Duration::from_secs(5) >= before);
        let stored = store.run(&ids[1]).expect("read").expect("the run");
        assert_eq!(second.id, ids[1]);
        assert_eq!(format!("{second:?}"), format!("{stored:?}"), "the claimed run as stored");
        assert_eq!(stored.lease_owner.as_deref(), Some("me"));
        assert_eq!(stored.lease_generation, 1);
        let done = store.run(&ids[0]).expect("read").expect("the run");
        assert_eq!(done.status.to_string(), "completed");
        assert_eq!(done.output.as_deref(), Some(output));

        // A stale generation: nothing written for the run, the next one claimed all the same.
        let (fenced, claimed) = store
            .finish_and_claim(&second.id, second.lease_generation + 7, Err("it's \\ bad"), &next)
            .expect("fail and claim");
        assert!(matches!(fenced, Fenced::LeaseLost));
        assert_eq!(env.status(&ids[1]), "leased");
        let third: Vec<&str> = claimed.iter().map(|(r, _)| r.id.as_str()).collect();
        assert_eq!(third, [ids[2].as_str()]);

        // Failed with its error; a claim of other jobs takes nothing.
        let other = Jobs::Only(vec!["other".into()]);
        let elsewhere = NextClaim { jobs: &other, ..next };
        let (fenced, claimed) = store
            .finish_and_claim(&ids[1], second.lease_generation, Err("it's \\ bad"), &elsewhere)
            .expect("fail, claim nothing");
        assert!(matches!(fenced, Fenced::Done(())));
        assert!(claimed.is_empty());
        let failed = store.run(&ids[1]).expect("read").expect("the run");
        assert_eq!(failed.status.to_string(), "failed");
        assert_eq!(failed.error.as_deref(), Some("it's \\ bad"));
        assert_eq!(env.status(&ids[3]), "pending");
        let mine = Jobs::Only(vec!["job".into(), "other".into()]);
        let (_, claimed) = store
            .finish_and_claim(&ids[2], 1, Ok(None), &NextClaim { jobs: &mine, ..next })
            .expect("complete, claim of the job");
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].0.id, ids[3]);
        assert_eq!(env.status(&ids[2]), "completed");
    }
}

both! {
    /// An executor goes on in its own thread with the run it claimed with its result: that
    /// run's lease is renewed like any other's (a lease of 2 s, handlers of 2.5 s: each run is
    /// completed with its first lease, none lost or claimed twice), and `--timeout` stops its
    /// handler like any other's (handlers of 30 s, each failed at 1 s, every outcome counted).
    fn a_run_claimed_with_a_result_is_renewed_and_timed_like_any_other() {
        let env = Env::init();
        env.handler("slow", "sleep 2.5");
        env.handler("stuck", "sleep 30");
        let slow: Vec<String> = (0..3).map(|_| env.enqueue_job("slow", &[])).collect();
        let handlers = env.handlers.to_str().unwrap();
        let out = env.run(&["work", "--until-idle", "--lease", "2s", "--handlers", handlers]);
        assert_eq!(out.code, 0, "{out:?}");
        for id in &slow {
            assert_eq!(env.status(id), "completed", "{out:?}");
        }
        assert_eq!(
            env.count("SELECT count(*) FROM durably_runs WHERE lease_generation = 1"),
            3,
            "{out:?}"
        );

        let stuck: Vec<String> = (0..3).map(|_| env.enqueue_job("stuck", &[])).collect();
        let out = env.run(&["work", "--until-idle", "--timeout", "1s", "--handlers", handlers]);
        assert!(out.stderr.contains("3 of 3 runs failed"), "{out:?}");
        for id in &stuck {
            assert_eq!(env.status(id), "failed", "{out:?}");
        }
        assert_eq!(
            env.count(
                "SELECT count(*) FROM durably_runs \
                 WHERE status = 'failed' AND error LIKE 'handler timed out after 1s%'"
            ),
            3,
            "{out:?}"
        );
    }
}

/// Refuses, by a trigger of the test's database, every claim of the run `id` (its update to
/// `leased`): the claim's statement fails after the result's succeeded.
fn refuse_claims_of(env: &Env, id: &str) {
    let mut c = pg_connect(&env.db_arg());
    c.batch_execute(&format!(
        "CREATE FUNCTION refuse_claim() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'claims of this run are refused'; END $$; \
         CREATE TRIGGER refuse_claim BEFORE UPDATE ON durably_runs FOR EACH ROW \
         WHEN (NEW.id = '{id}' AND NEW.status = 'leased' AND OLD.status <> 'leased') \
         EXECUTE FUNCTION refuse_claim()"
    ))
    .expect("create the trigger");
}

/// On PostgreSQL the result and the claim are one transaction: a write whose deadline has
/// passed sends nothing (no result, no claim), and a claim the server refuses after the
/// result's statement succeeded takes the result with it (the store's answer is the error).
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_result_and_its_claim_are_written_together_or_not_at_all() {
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    let ids: Vec<String> = (0..2).map(|_| env.enqueue_job("job", &[])).collect();
    let mut store = open(&env);
    let lease = Duration::from_secs(30);
    let all = Jobs::All;
    let next = NextClaim {
        jobs: &all,
        owner: "me",
        lease,
        max: 1,
    };
    let (run, _) = store
        .claim(&all, "me", lease)
        .expect("claim")
        .expect("a run");
    let passed = store.before_deadline(Some(Instant::now()), |s| {
        s.finish_and_claim(&run.id, run.lease_generation, Ok(None), &next)
    });
    assert!(passed.is_err(), "{passed:?}");
    let statuses = || (env.status(&ids[0]), env.status(&ids[1]));
    assert_eq!(statuses(), ("leased".into(), "pending".into()));
    refuse_claims_of(&env, &ids[1]);
    let refused = store.finish_and_claim(&run.id, run.lease_generation, Ok(None), &next);
    let text = format!("{:#}", refused.expect_err("the claim was refused"));
    assert!(text.contains("claims of this run are refused"), "{text}");
    assert_eq!(
        statuses(),
        ("leased".into(), "pending".into()),
        "the result rolled back"
    );
    pg_connect(&env.db_arg())
        .batch_execute("DROP TRIGGER refuse_claim ON durably_runs")
        .expect("drop the trigger");
    let (fenced, claimed) = store
        .finish_and_claim(&run.id, run.lease_generation, Ok(None), &next)
        .expect("now both");
    assert!(matches!(fenced, Fenced::Done(())));
    assert_eq!(claimed.len(), 1);
    assert_eq!(statuses(), ("completed".into(), "leased".into()));
}

/// A worker whose claim with a result is refused by the database (not a lost connection)
/// writes the result alone: the run is completed, not left leased to run again; the next
/// run's claim fails in the main loop as it would have, and the worker says so.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_result_whose_claim_is_refused_is_written_alone() {
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    let ids: Vec<String> = (0..2).map(|_| env.enqueue_job("job", &[])).collect();
    refuse_claims_of(&env, &ids[1]);
    let out = env.run(&["work", "--until-idle", "--", "true"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("claims of this run are refused"),
        "{out:?}"
    );
    assert_eq!(env.status(&ids[0]), "completed", "{out:?}");
    assert_eq!(env.status(&ids[1]), "pending", "{out:?}");
}

/// A worker with one slot on PostgreSQL costs one round trip a run: each result goes with
/// the claim of the slot's next run in one message (it was two: the result, then the main
/// loop's claim). Counted by the fleet bench's proxy over two drains of 10 and 40 runs, so
/// that connecting and the schema check (the same in both) cancel out.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_worker_at_one_slot_costs_one_round_trip_a_run() {
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    let url = env.db_arg();
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default().to_string();
    let trips = |runs: usize| -> u64 {
        let specs: String = (0..runs)
            .map(|_| "{\"job\":\"noop\",\"input\":{}}\n")
            .collect();
        env.run_stdin(&["enqueue-many", "-q", "-"], specs).ok();
        let proxy = counting::Proxy::start(&host_port).expect("the proxy");
        let via = format!("{scheme}://{}", rest.replacen(&host_port, &proxy.addr, 1));
        let sep = if via.contains('?') { '&' } else { '?' };
        let mut c = bare_command(env.path("").as_path());
        c.arg("--db")
            .arg(format!("{via}{sep}sslmode=disable"))
            .args(["work", "--until-idle", "--", "true"]);
        let out = run_command(c, None);
        assert_eq!(out.code, 0, "{out:?}");
        proxy.trips()
    };
    let (few, many) = (trips(10), trips(40));
    assert_eq!(
        env.count("SELECT count(*) FROM durably_runs WHERE status = 'completed'"),
        50
    );
    let per_run = (many as f64 - few as f64) / 30.0;
    assert!(
        per_run <= 1.2,
        "{per_run:.2} round trips a run ({few} for 10 runs, {many} for 40)"
    );
}

/// A run another session holds locked (a claim in flight elsewhere) is passed over inside the
/// batch claim's scan: the claim takes the next runs at once, never waits for the lock, and
/// takes the held run once it is free.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_batch_claim_passes_over_a_run_another_session_holds() {
    use durably::store::{Access, Jobs, Options, Store};
    use std::time::Duration;
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    let ids: Vec<String> = (0..4).map(|_| env.enqueue_job("job", &[])).collect();
    let mut other = pg_connect(&env.db_arg());
    let mut tx = other.transaction().expect("begin");
    tx.execute(
        "SELECT 1 FROM durably_runs WHERE id = $1 FOR UPDATE",
        &[&ids[0]],
    )
    .expect("lock the oldest run");
    let opts = Options {
        target: durably::store::Target::parse(env.db_arg().into()).unwrap(),
        busy_timeout: Duration::from_secs(10),
        default: false,
        max_size: None,
    };
    let store = Store::open(&opts, Access::Write).expect("open the store");
    let (sent, got) = std::sync::mpsc::channel();
    let claimer = std::thread::spawn(move || {
        let mut store = store;
        let lease = Duration::from_secs(30);
        let claimed = store.claim_many(&Jobs::All, "me", lease, 3).expect("claim");
        sent.send(claimed.into_iter().map(|(r, _)| r.id).collect::<Vec<_>>())
            .expect("send");
        store
    });
    let mut claimed = got
        .recv_timeout(Duration::from_secs(10))
        .expect("the claim waited for the held run");
    claimed.sort();
    assert_eq!(claimed, ids[1..].to_vec());
    let mut store = claimer.join().expect("the claimer");
    tx.rollback().expect("release the run");
    let rest = store
        .claim_many(&Jobs::All, "me", Duration::from_secs(30), 3)
        .expect("claim");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].0.id, ids[0]);
}

/// On PostgreSQL a worker with more than one slot writes its executors' results on a
/// connection of its own, beside the main loop's and the renewal thread's: three connections
/// while handlers run, two with one slot (a fleet's connection count is read from this).
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_a_worker_with_slots_writes_results_on_a_connection_of_its_own() {
    let env = Env::on(Backend::Postgres);
    env.ok(&["init"]);
    let h = env.handler(
        "job",
        r#"touch "$T/started.$DURABLY_RUN_ID"; while [ ! -e "$T/go" ]; do sleep 0.02; done"#,
    );
    let mut c = pg_connect(&env.db_arg());
    // The backends of the test's database other than this test client's.
    let pids = |c: &mut postgres::Client| -> Vec<i32> {
        c.query(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .expect("list the connections")
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    for (slots, connections) in [("1", 2), ("2", 3)] {
        let _ = std::fs::remove_file(env.path("go"));
        let id = env.enqueue_job("job", &[]);
        // Connections open before the worker (the harness keeps one for its reads; the last
        // worker's may still be closing) are not this worker's.
        let before = pids(&mut c);
        let worker = env.spawn(&[
            "work",
            "--once",
            "--concurrency",
            slots,
            "--",
            h.to_str().unwrap(),
        ]);
        let started = env.path(&format!("started.{id}"));
        wait_for("the handler to start", || started.exists().then_some(()));
        // The renewal thread opens its connection as the worker starts; give it a moment.
        let seen = poll(std::time::Duration::from_secs(5), || {
            let new = pids(&mut c)
                .into_iter()
                .filter(|p| !before.contains(p))
                .count();
            (new == connections).then_some(())
        });
        let list: Vec<String> = c
            .query(
                "SELECT format('%s %s %s %s', pid, state, backend_start, left(query, 60)) \
                 FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .expect("list")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(seen.is_some(), "--concurrency {slots}: {list:#?}");
        std::fs::write(env.path("go"), "").expect("let the handler end");
        let out = finish(worker);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(env.status(&id), "completed");
    }
}
