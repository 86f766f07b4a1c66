//! A worker with free slots claims several runs in one claim (`Leases::claim_many`): how many
//! it takes (its free slots, what `--max-runs` and `--once` leave), and that every run still
//! runs once and one concurrency key still admits one live lease (on both backends); and, on
//! PostgreSQL, that a run another session holds is passed over inside the claim's scan and
//! that a worker with several slots writes its results on a connection of its own.

use crate::harness::*;
use std::collections::HashMap;

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
