//! The store's contract, in-process on both backends (`both!`): every test opens a
//! `durably::store::Store` on the env's database and checks what the contract promises
//! (`src/store/backend.rs`, `src/store/rules.rs`, `src/store/handles.rs`) with the same
//! assertions on SQLite and on PostgreSQL: typed refusals, what cancel/retrigger/delete accept,
//! handles, enqueue's keys, claims and fences, listing order and purge selection. The
//! end-to-end suites check the same through the binary; this suite names the operation that
//! broke.

use super::harness::{lit, pg_connect, Backend, Env};
use durably::error::StoreError;
use durably::model::{RunSpec, Status};
use durably::store::handles::LATER_CANDIDATES;
use durably::store::{
    Access, Fence, Fenced, Jobs, ListFilter, NewLog, NewStep, Options, PurgeFilter, StepRecord,
    Store, Target,
};
use std::time::{Duration, Instant};

fn open(env: &Env) -> Store {
    let opts = Options {
        target: Target::parse(env.db_arg().into()).unwrap(),
        busy_timeout: Duration::from_secs(10),
        default: false,
        max_size: None,
    };
    Store::open(&opts, Access::Write).expect("open the store")
}

fn spec(job: &str) -> RunSpec {
    RunSpec {
        job: job.into(),
        input: "{}".into(),
        labels: vec![("tenant".into(), "a".into())],
        idempotency_key: None,
        concurrency_key: None,
        coalesce: false,
        hold: None,
        retry: None,
    }
}

/// The typed refusal in the chain of `err`, by its kind.
fn refusal(err: &anyhow::Error) -> &'static str {
    match err.chain().find_map(|e| e.downcast_ref::<StoreError>()) {
        Some(StoreError::NotFound(_)) => "not found",
        Some(StoreError::Conflict(_)) => "conflict",
        Some(StoreError::Invalid(_)) => "invalid",
        None => panic!("not a typed refusal: {err:#}"),
    }
}

both! {
    fn cancel_retrigger_and_delete_accept_only_their_statuses() {
        let env = Env::new();
        let mut store = open(&env);
        let (run, _) = store.enqueue(&spec("job")).unwrap();

        let err = store.retrigger(&run.id).unwrap_err();
        assert_eq!(refusal(&err), "conflict");
        assert!(err.to_string().contains("only terminal runs can be retriggered"), "{err:#}");
        let err = store.delete(&run.id, false).unwrap_err();
        assert_eq!(refusal(&err), "conflict");

        assert_eq!(store.cancel(&run.id).unwrap(), run.id);
        let err = store.cancel(&run.id).unwrap_err();
        assert_eq!(refusal(&err), "conflict");
        assert!(err.to_string().contains("is cancelled; only pending or leased"), "{err:#}");

        let again = store.retrigger(&run.id).unwrap();
        assert_ne!(again.id, run.id);
        assert_eq!(again.job_name, "job");
        assert_eq!(again.label_pairs(), vec![("tenant".to_string(), "a".to_string())]);
        assert_eq!(again.status, Status::Pending);

        assert_eq!(store.delete(&run.id, false).unwrap(), run.id);
        assert_eq!(refusal(&store.find_run(&run.id).unwrap_err()), "not found");
        assert_eq!(store.delete(&again.id, true).unwrap(), again.id);
        assert!(store.run(&again.id).unwrap().is_none());
    }

    fn handles_resolve_by_prefix_and_tail_and_refuse_the_rest() {
        let env = Env::new();
        let mut store = open(&env);
        let (run, _) = store.enqueue(&spec("job")).unwrap();
        let (other, _) = store.enqueue(&spec("job")).unwrap();
        assert_eq!(store.resolve_id(&run.id).unwrap(), run.id);
        assert_eq!(store.resolve_id(&run.id.to_uppercase()).unwrap(), run.id);
        let tail = &run.id[run.id.len() - 12..];
        assert_eq!(store.resolve_id(tail).unwrap(), run.id);
        // Two runs of one process share their first characters (UUIDv7).
        let common = run
            .id
            .bytes()
            .zip(other.id.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        assert!(common >= 1, "{} {}", run.id, other.id);
        let err = store.resolve_id(&run.id[..common]).unwrap_err();
        assert_eq!(refusal(&err), "invalid");
        assert!(err.to_string().contains("is ambiguous"), "{err:#}");
        assert_eq!(refusal(&store.resolve_id("  ").unwrap_err()), "invalid");
        assert_eq!(refusal(&store.resolve_id("zzzzzzzzzzzz").unwrap_err()), "not found");
        assert_eq!(refusal(&store.resolve_id("no such run!").unwrap_err()), "not found");

        let filter = ListFilter { limit: 10, ..ListFilter::default() };
        let (runs, short) = store.list_page(None, filter, true).unwrap();
        assert_eq!(runs.len(), 2);
        for (r, handle) in runs.iter().zip(&short) {
            assert!(handle.len() < r.id.len(), "{handle}");
            assert_eq!(store.resolve_id(handle).unwrap(), r.id);
        }
    }

    fn enqueue_answers_keys_in_the_library_order() {
        let env = Env::new();
        let mut store = open(&env);
        let keyed = RunSpec { idempotency_key: Some("i".into()), ..spec("job") };
        let (first, d) = store.enqueue(&keyed).unwrap();
        assert_eq!(d.as_str(), "created");
        let (twin, d) = store.enqueue(&keyed).unwrap();
        assert_eq!((twin.id.as_str(), d.as_str()), (first.id.as_str(), "idempotent"));

        let held = RunSpec { concurrency_key: Some("k".into()), ..spec("job") };
        let (holder, _) = store.enqueue(&held).unwrap();
        let err = store.enqueue(&held).unwrap_err();
        assert_eq!(refusal(&err), "conflict");
        assert!(err.to_string().contains("use --coalesce"), "{err:#}");
        let coalesce = RunSpec { coalesce: true, ..held.clone() };
        let (same, d) = store.enqueue(&coalesce).unwrap();
        assert_eq!((same.id.as_str(), d.as_str()), (holder.id.as_str(), "coalesced"));
    }

    fn enqueue_rule_order_idempotency_then_labels_then_concurrency() {
        let env = Env::new();
        let mut store = open(&env);
        let both_keys = RunSpec {
            idempotency_key: Some("i".into()),
            concurrency_key: Some("k".into()),
            ..spec("job")
        };
        let (first, d) = store.enqueue(&both_keys).unwrap();
        assert_eq!(d.as_str(), "created");
        // The idempotency key answers before the pending run holding the concurrency key would
        // refuse it, and before the labels are looked at.
        let (twin, d) = store.enqueue(&both_keys).unwrap();
        assert_eq!((twin.id.as_str(), d.as_str()), (first.id.as_str(), "idempotent"));
        let bad_labels = vec![("bad key".to_string(), "v".to_string())];
        let invalid_twin = RunSpec { labels: bad_labels.clone(), ..both_keys.clone() };
        let (twin, d) = store.enqueue(&invalid_twin).unwrap();
        assert_eq!((twin.id.as_str(), d.as_str()), (first.id.as_str(), "idempotent"));
        // Without an idempotent twin the labels are checked before the concurrency key.
        let held_bad = RunSpec { labels: bad_labels, ..spec("job") };
        let held_bad = RunSpec { concurrency_key: Some("k".into()), ..held_bad };
        let err = store.enqueue(&held_bad).unwrap_err();
        assert!(err.to_string().contains("invalid label key \"bad key\""), "{err:#}");
        let coalescing_bad = RunSpec { coalesce: true, ..held_bad };
        let err = store.enqueue(&coalescing_bad).unwrap_err();
        assert!(err.to_string().contains("invalid label key"), "{err:#}");

        // An idempotent twin answers whatever its status.
        store.cancel(&first.id).unwrap();
        let (twin, d) = store.enqueue(&both_keys).unwrap();
        assert_eq!((twin.id.as_str(), d.as_str()), (first.id.as_str(), "idempotent"));
        assert_eq!(twin.status, Status::Cancelled);
    }

    fn enqueue_concurrency_key_binds_only_a_pending_run_of_the_same_job() {
        let env = Env::new();
        let mut store = open(&env);
        let held = RunSpec { concurrency_key: Some("k".into()), ..spec("job") };
        // Coalesce with nothing to coalesce with creates.
        let coalesce = RunSpec { coalesce: true, ..held.clone() };
        let (holder, d) = store.enqueue(&coalesce).unwrap();
        assert_eq!(d.as_str(), "created");
        let err = store.enqueue(&held).unwrap_err();
        assert_eq!(refusal(&err), "conflict");
        assert!(
            err.to_string().contains(&format!(
                "a pending run of job \"job\" with concurrency key \"k\" already exists ({})",
                holder.id
            )),
            "{err:#}"
        );
        // Another job with the same key is not held back.
        let other = RunSpec { job: "other".into(), ..held.clone() };
        assert_eq!(store.enqueue(&other).unwrap().1.as_str(), "created");
        // A leased holder no longer binds the key.
        let lease = Duration::from_secs(30);
        let jobs = Jobs::Only(vec!["job".into()]);
        let (claimed, _) = store.claim(&jobs, "me", lease).unwrap().expect("a claim");
        assert_eq!(claimed.id, holder.id);
        let (next, d) = store.enqueue(&held).unwrap();
        assert_eq!(d.as_str(), "created");
        assert_ne!(next.id, holder.id);
        // Nor does a cancelled one; the oldest pending holder answers a coalesce.
        store.cancel(&next.id).unwrap();
        let (newest, _) = store.enqueue(&held).unwrap();
        let (same, d) = store.enqueue(&coalesce).unwrap();
        assert_eq!((same.id.as_str(), d.as_str()), (newest.id.as_str(), "coalesced"));
    }

    fn enqueue_batch_answers_like_single_enqueues() {
        let env = Env::new();
        let mut store = open(&env);
        let keyed = RunSpec { idempotency_key: Some("i".into()), ..spec("job") };
        let held = RunSpec { concurrency_key: Some("k".into()), ..spec("job") };
        let coalesce = RunSpec { coalesce: true, ..held.clone() };
        let answers = store
            .enqueue_batch(true, |b| {
                let mut out = Vec::new();
                for s in [&spec("job"), &keyed, &keyed, &held, &coalesce, &spec("job")] {
                    let (run, d) = b.enqueue(s)?;
                    out.push((run.id, d.as_str().to_string()));
                }
                out.push(("".into(), b.enqueue(&held).map(|_| ()).map_err(|e| e.to_string()).unwrap_err()));
                Ok(out)
            })
            .unwrap();
        let kinds: Vec<&str> = answers.iter().map(|(_, d)| d.as_str()).collect();
        assert_eq!(&kinds[..6], ["created", "created", "idempotent", "created", "coalesced", "created"]);
        assert_eq!(answers[2].0, answers[1].0);
        assert_eq!(answers[4].0, answers[3].0);
        assert!(answers[6].1.contains("use --coalesce"), "{}", answers[6].1);
        // Every created run was written, the keyless ones buffered with the keyed ones between.
        let filter = ListFilter { limit: 10, ..ListFilter::default() };
        let (runs, _) = store.list_page(None, filter, false).unwrap();
        let mut listed: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        listed.sort();
        let mut created: Vec<&str> = [0, 1, 3, 5].iter().map(|&i| answers[i].0.as_str()).collect();
        created.sort();
        assert_eq!(listed, created);
    }

    fn claims_are_fenced_by_their_generation() {
        let env = Env::new();
        let mut store = open(&env);
        let (run, _) = store.enqueue(&spec("job")).unwrap();
        let lease = Duration::from_secs(30);
        let (claimed, _) = store.claim(&Jobs::All, "me", lease).unwrap().expect("a claim");
        assert_eq!(claimed.id, run.id);
        assert!(store.claim(&Jobs::All, "me", lease).unwrap().is_none());
        assert!(store.claim(&Jobs::Only(vec![]), "me", lease).unwrap().is_none());
        let generation = claimed.lease_generation;
        let stale = Fence { run_id: run.id.clone(), generation: generation - 1 };
        let fence = Fence { run_id: run.id.clone(), generation };
        assert_eq!(store.holds_lease(&stale).unwrap(), Fenced::LeaseLost);
        assert_eq!(store.holds_lease(&fence).unwrap(), Fenced::Done(()));
        assert!(matches!(store.renew(&run.id, generation, lease).unwrap(), Fenced::Done(_)));
        assert_eq!(store.renew(&run.id, generation - 1, lease).unwrap(), Fenced::LeaseLost);
        assert_eq!(store.set_progress(&stale, "{}").unwrap(), Fenced::LeaseLost);
        assert_eq!(store.set_progress(&fence, "{}").unwrap(), Fenced::Done(()));
        let log = NewLog { step_name: None, level: "info", message: "m", data: None };
        assert_eq!(store.append_log(&stale, &log).unwrap(), Fenced::LeaseLost);
        assert_eq!(store.append_log(&fence, &log).unwrap(), Fenced::Done(()));
        let at = "2026-01-01T00:00:00.000Z";
        assert_eq!(store.append_logs(&stale, &[(at, log.clone())]).unwrap(), Fenced::LeaseLost);
        assert_eq!(store.append_logs(&fence, &[(at, log.clone())]).unwrap(), Fenced::Done(()));
        assert_eq!(store.expire(&run.id, generation - 1).unwrap(), Fenced::LeaseLost);
        let step = NewStep {
            name: "one",
            status: "completed",
            output: Some("1"),
            error: None,
            started_at: "2026-01-01T00:00:00.000Z",
        };
        assert_eq!(
            store.record_step(&fence, &step).unwrap(),
            Fenced::Done(StepRecord::Recorded(Some("1".into())))
        );
        assert_eq!(
            store.record_step(&fence, &step).unwrap(),
            Fenced::Done(StepRecord::AlreadyDone(Some("1".into())))
        );
        assert_eq!(store.complete(&run.id, generation - 1, Some("2")).unwrap(), Fenced::LeaseLost);
        assert_eq!(store.complete(&run.id, generation, Some("2")).unwrap(), Fenced::Done(()));
        assert_eq!(store.fail(&run.id, generation, "late").unwrap(), Fenced::LeaseLost);
        assert_eq!(store.expire(&run.id, generation).unwrap(), Fenced::LeaseLost);
        assert_eq!(
            store.record_step(&fence, &NewStep { name: "two", ..step }).unwrap(),
            Fenced::LeaseLost
        );
        assert_eq!(
            store.status_of(&run.id).unwrap(),
            Some(("completed".to_string(), generation))
        );
    }

    fn renew_many_renews_each_lease_that_is_still_ours_in_one_write() {
        let env = Env::new();
        let mut store = open(&env);
        for _ in 0..4 {
            store.enqueue(&spec("job")).unwrap();
        }
        let short = Duration::from_secs(5);
        let claimed = store.claim_many(&Jobs::All, "me", short, 4).unwrap();
        assert_eq!(claimed.len(), 4);
        let runs: Vec<_> = claimed.into_iter().map(|(r, _)| r).collect();
        // The third one is no longer ours (completed), the fourth is asked for with a stale
        // generation: only the first two are renewed.
        let g = |i: usize| runs[i].lease_generation;
        assert_eq!(store.complete(&runs[2].id, g(2), None).unwrap(), Fenced::Done(()));
        let expiry = |store: &mut Store, i: usize| store.run(&runs[i].id).unwrap().unwrap();
        let before: Vec<String> = (0..4)
            .map(|i| expiry(&mut store, i).lease_expires_at.unwrap_or_default())
            .collect();
        let fences: Vec<(String, i64)> = vec![
            (runs[0].id.clone(), g(0)),
            (runs[1].id.clone(), g(1)),
            (runs[2].id.clone(), g(2)),
            (runs[3].id.clone(), g(3) - 1),
        ];
        let long = Duration::from_secs(3600);
        let (mut renewed, _) = store.renew_many(&fences, long).unwrap();
        renewed.sort();
        let mut want = vec![runs[0].id.clone(), runs[1].id.clone()];
        want.sort();
        assert_eq!(renewed, want);
        for (i, before) in before.iter().enumerate() {
            let after = expiry(&mut store, i).lease_expires_at.unwrap_or_default();
            if i < 2 {
                assert!(after > *before, "run {i}: {after} after {before}");
            } else {
                assert_eq!(&after, before, "run {i} changed");
            }
        }
        assert_eq!(store.renew_many(&[], long).unwrap().0, Vec::<String>::new());
    }

    fn details_and_log_pages_read_one_run_in_order() {
        let env = Env::new();
        let mut store = open(&env);
        let (run, _) = store.enqueue(&spec("job")).unwrap();
        let (claimed, _) = store
            .claim(&Jobs::All, "me", Duration::from_secs(30))
            .unwrap()
            .expect("a claim");
        let fence = Fence { run_id: run.id.clone(), generation: claimed.lease_generation };
        let step = NewStep {
            name: "one",
            status: "completed",
            output: Some("1"),
            error: None,
            started_at: "2026-01-01T00:00:00.000Z",
        };
        assert!(!store.record_step(&fence, &step).unwrap().is_lost());
        for message in ["a", "b", "c"] {
            let log = NewLog { step_name: Some("one"), level: "info", message, data: None };
            assert_eq!(store.append_log(&fence, &log).unwrap(), Fenced::Done(()));
        }
        let tail = &run.id[run.id.len() - 12..];
        let (shown, steps, logs) = store.run_details(tail).unwrap();
        assert_eq!(shown.id, run.id);
        assert_eq!(shown.status, Status::Leased);
        assert_eq!(steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["one"]);
        let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(messages, ["a", "b", "c"]);
        assert_eq!(refusal(&store.run_details("zzzzzzzzzzzz").unwrap_err()), "not found");

        // Pages after (created_at, id); not terminal while the run is leased.
        let (terminal, first) = store.logs_page(&run.id, None, 2).unwrap();
        assert!(!terminal);
        assert_eq!(first.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        let after = (first[1].created_at.as_str(), first[1].id.as_str());
        let (_, rest) = store.logs_page(&run.id, Some(after), 2).unwrap();
        assert_eq!(rest.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(), ["c"]);
        assert_eq!(store.complete(&run.id, fence.generation, None).unwrap(), Fenced::Done(()));
        let (terminal, all) = store.logs_page(&run.id, None, 10).unwrap();
        assert!(terminal);
        assert_eq!(all.len(), 3);
        // A run that is gone is as good as terminal: nothing more can come.
        store.delete(&run.id, false).unwrap();
        let (terminal, none) = store.logs_page(&run.id, None, 10).unwrap();
        assert!(terminal && none.is_empty());
    }

    fn a_write_under_a_deadline_waits_for_a_lock_no_longer_than_it() {
        let env = Env::new();
        let mut store = open(&env);
        let (run, _) = store.enqueue(&spec("job")).unwrap();
        // Another session holds the run (SQLite: the write lock; PostgreSQL: the row).
        let holder: Box<dyn std::any::Any> = match env.backend {
            Backend::Sqlite => {
                let c = rusqlite::Connection::open(env.db_arg()).unwrap();
                c.execute_batch("BEGIN IMMEDIATE").unwrap();
                Box::new(c)
            }
            Backend::Postgres => {
                let mut c = pg_connect(&env.db_arg());
                c.batch_execute(&format!(
                    "BEGIN; SELECT id FROM durably_runs WHERE id = {} FOR UPDATE",
                    lit(&run.id)
                ))
                .unwrap();
                Box::new(c)
            }
        };
        // The store's own bound is its busy timeout (10 s); the deadline cuts the wait short.
        let started = Instant::now();
        let deadline = started + Duration::from_millis(300);
        let err = store
            .before_deadline(Some(deadline), |s| s.cancel(&run.id))
            .unwrap_err();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(250), "{waited:?}: {err:#}");
        assert!(waited < Duration::from_secs(5), "{waited:?}: {err:#}");
        drop(holder);
        assert_eq!(store.run(&run.id).unwrap().unwrap().status, Status::Pending);
        // The deadline was for that write only.
        assert_eq!(store.cancel(&run.id).unwrap(), run.id);
    }

    fn pending_runs_count_as_blocked_while_a_live_lease_holds_their_key() {
        let env = Env::new();
        let mut store = open(&env);
        let keyed = |job: &str| RunSpec { concurrency_key: Some("k".into()), ..spec(job) };
        let (first, _) = store.enqueue(&keyed("job")).unwrap();
        let lease = Duration::from_secs(30);
        let (claimed, _) = store.claim(&Jobs::All, "me", lease).unwrap().expect("a claim");
        assert_eq!(claimed.id, first.id);
        store.enqueue(&keyed("job")).unwrap();
        store.enqueue(&spec("job")).unwrap();
        // The key binds across jobs.
        store.enqueue(&keyed("other")).unwrap();
        store.enqueue(&RunSpec { concurrency_key: Some("free".into()), ..spec("other") }).unwrap();
        let pending = |store: &Store, jobs: Jobs| {
            let p = store.pending_for(&jobs).unwrap();
            (p.total, p.blocked)
        };
        assert_eq!(pending(&store, Jobs::All), (4, 2));
        assert_eq!(pending(&store, Jobs::Only(vec!["other".into()])), (2, 1));
        assert_eq!(pending(&store, Jobs::Only(vec![])), (0, 0));
        // The guard is the claim's: a blocked run is not claimed.
        let (next, _) = store.claim(&Jobs::All, "me", lease).unwrap().expect("a claim");
        assert!(next.concurrency_key.as_deref() != Some("k"), "{next:?}");
        assert_eq!(store.complete(&first.id, claimed.lease_generation, None).unwrap(), Fenced::Done(()));
        assert_eq!(pending(&store, Jobs::All), (3, 0));
    }

    /// A batch claim takes the oldest claimable runs, at most `max`, at most one per
    /// concurrency key (across jobs), only the jobs it is given, and expired leases again.
    fn claim_many_takes_the_oldest_runs_at_most_one_per_key() {
        let env = Env::new();
        let mut store = open(&env);
        let keyed = |job: &str| RunSpec { concurrency_key: Some("k".into()), ..spec(job) };
        let first = store.enqueue(&spec("a")).unwrap().0.id;
        let k1 = store.enqueue(&keyed("a")).unwrap().0.id;
        let k2 = store.enqueue(&keyed("b")).unwrap().0.id;
        let rest: Vec<String> = (0..3).map(|_| store.enqueue(&spec("a")).unwrap().0.id).collect();
        let lease = Duration::from_secs(30);
        let ids = |claimed: Vec<(durably::model::Run, std::time::Instant)>| {
            for (run, _) in &claimed {
                assert_eq!(run.status, Status::Leased);
                assert_eq!(run.lease_owner.as_deref(), Some("me"));
                assert_eq!(run.lease_generation, 1);
            }
            let mut ids: Vec<String> = claimed.into_iter().map(|(r, _)| r.id).collect();
            ids.sort();
            ids
        };
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        // The two oldest: one without a key, one with.
        let two = ids(store.claim_many(&Jobs::All, "me", lease, 2).unwrap());
        assert_eq!(two, sorted(vec![first.clone(), k1.clone()]));
        // The key is held: its other run (another job) waits; the rest are taken.
        let more = ids(store.claim_many(&Jobs::All, "me", lease, 10).unwrap());
        assert_eq!(more, sorted(rest.clone()));
        assert!(store.claim_many(&Jobs::All, "me", lease, 10).unwrap().is_empty());
        assert!(store.claim_many(&Jobs::Only(vec![]), "me", lease, 10).unwrap().is_empty());
        assert_eq!(store.complete(&k1, 1, None).unwrap(), Fenced::Done(()));
        assert!(store
            .claim_many(&Jobs::Only(vec!["a".into()]), "me", lease, 10)
            .unwrap()
            .is_empty());
        let last = ids(store.claim_many(&Jobs::Only(vec!["b".into()]), "me", lease, 10).unwrap());
        assert_eq!(last, vec![k2]);
        // An expired lease is claimed again, with the next generation.
        let (short, _) = store.enqueue(&spec("c")).unwrap();
        let got = store.claim_many(&Jobs::All, "me", Duration::from_millis(1), 3).unwrap();
        assert_eq!(got.len(), 1);
        std::thread::sleep(Duration::from_millis(30));
        let again = store.claim_many(&Jobs::Only(vec!["c".into()]), "other", lease, 3).unwrap();
        assert_eq!(again.len(), 1, "the expired lease is claimable");
        assert_eq!(again[0].0.id, short.id);
        assert_eq!(again[0].0.lease_generation, 2);
        assert!(store.complete(&short.id, 1, None).unwrap().is_lost(), "the old fence is refused");
    }

    /// A result is stored as given, whatever its text holds: quotes, backslashes,
    /// placeholders, comment marks, statements (PostgreSQL sends result writes as simple
    /// queries with the values written in as literals).
    fn results_keep_any_text_exactly() {
        let env = Env::new();
        let mut store = open(&env);
        let lease = Duration::from_secs(30);
        let output = r#"{"a":"it's \\ \"q\" $1 $3 -- x\n'; DROP TABLE durably_runs; --","b":"é\u0001"}"#;
        let error = "it's \\' $2 -- \n'); DELETE FROM durably_runs; -- é";
        let (done, _) = store.enqueue(&spec("job")).unwrap();
        let (failed, _) = store.enqueue(&spec("job")).unwrap();
        let (c, _) = store.claim(&Jobs::All, "me", lease).unwrap().unwrap();
        let (f, _) = store.claim(&Jobs::All, "me", lease).unwrap().unwrap();
        assert_eq!((c.id.as_str(), f.id.as_str()), (done.id.as_str(), failed.id.as_str()));
        // Under a deadline too (the timeouts and the statement in one message).
        let far = std::time::Instant::now() + Duration::from_secs(20);
        let completed = store.before_deadline(Some(far), |s| s.complete(&c.id, 1, Some(output)));
        assert_eq!(completed.unwrap(), Fenced::Done(()));
        assert_eq!(store.fail(&f.id, 1, error).unwrap(), Fenced::Done(()));
        assert_eq!(store.run(&c.id).unwrap().unwrap().output.as_deref(), Some(output));
        assert_eq!(store.run(&f.id).unwrap().unwrap().error.as_deref(), Some(error));
        assert_eq!(store.counts().unwrap().iter().map(|c| c.2).sum::<i64>(), 2);
    }

    fn listing_is_newest_first_and_pages_after_a_run() {
        let env = Env::new();
        let mut store = open(&env);
        let ids: Vec<String> = (0..5).map(|_| store.enqueue(&spec("job")).unwrap().0.id).collect();
        let page = |store: &mut Store, before: Option<&str>| {
            let filter = ListFilter { limit: 2, ..ListFilter::default() };
            let (runs, _) = store.list_page(before, filter, false).unwrap();
            runs.into_iter().map(|r| r.id).collect::<Vec<_>>()
        };
        assert_eq!(page(&mut store, None), vec![ids[4].clone(), ids[3].clone()]);
        assert_eq!(page(&mut store, Some(&ids[3])), vec![ids[2].clone(), ids[1].clone()]);
        let filter = ListFilter { limit: 1, ..ListFilter::default() };
        let (_, _, count) = store.list_page_counted(Some(&ids[2]), filter, false, 10).unwrap();
        assert_eq!(count, 2);
    }

    fn purge_selects_only_terminal_runs_of_its_filter() {
        let env = Env::new();
        let mut store = open(&env);
        let (done, _) = store.enqueue(&spec("job")).unwrap();
        let (other, _) = store.enqueue(&spec("other")).unwrap();
        let (waiting, _) = store.enqueue(&spec("job")).unwrap();
        store.cancel(&done.id).unwrap();
        store.cancel(&other.id).unwrap();
        // Completed "now": a cutoff an hour ahead selects them, the default one does not.
        let mut filter = PurgeFilter::older_than(Duration::ZERO);
        filter.cutoff = durably::time::format_ms(durably::time::now_ms() + 3_600_000);
        filter.age = None;
        assert_eq!(store.purge_count(&PurgeFilter::older_than(Duration::from_secs(60))).unwrap(), 0);
        assert_eq!(store.purge_count(&filter).unwrap(), 2);
        filter.jobs = vec!["job".into()];
        assert_eq!(store.purge_count(&filter).unwrap(), 1);
        filter.statuses = vec![Status::Completed];
        assert_eq!(store.purge_count(&filter).unwrap(), 0);
        filter.statuses.clear();
        assert_eq!(store.purge(&filter).unwrap(), 1);
        assert!(store.run(&done.id).unwrap().is_none());
        assert!(store.run(&other.id).unwrap().is_some());
        assert!(store.run(&waiting.id).unwrap().is_some());
    }
}

/// PostgreSQL bounds every write by one deadline rule (`pg::bound_by_deadline`): a deadline
/// already passed refuses the write before any statement, a command's write (enqueue) as a
/// fenced one (complete). (SQLite's deadline bounds only the wait for its lock.)
#[test]
#[ignore = "needs PostgreSQL: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
fn pg_writes_past_their_deadline_write_nothing() {
    Backend::Postgres.run(|| {
        let env = Env::new();
        let mut store = open(&env);
        let (run, _) = store.enqueue(&spec("job")).unwrap();
        let lease = Duration::from_secs(30);
        let (claimed, _) = store
            .claim(&Jobs::All, "me", lease)
            .unwrap()
            .expect("a claim");
        let passed = Some(Instant::now());
        let err = store
            .before_deadline(passed, |s| s.enqueue(&spec("job")))
            .unwrap_err();
        assert!(format!("{err:#}").contains("the lease ran out"), "{err:#}");
        let err = store
            .before_deadline(passed, |s| {
                s.complete(&run.id, claimed.lease_generation, None)
            })
            .unwrap_err();
        assert!(format!("{err:#}").contains("the lease ran out"), "{err:#}");
        let filter = ListFilter {
            limit: 10,
            ..ListFilter::default()
        };
        let (runs, _) = store.list_page(None, filter, false).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, Status::Leased);
    });
}

/// Ids built to trip the short handles (`store/handles.rs`): over a tiny alphabet, in both
/// cases, with `-` and `_`; for each base, an id sharing its last 8 to all-but-one characters,
/// ids that start with the tails a handle search tries first (as given, in lower case, in
/// upper case, in mixed case, or equal to the tail), now and then the base in upper case; ids whose
/// tails of 8 to 12 characters are other ids' prefixes and whose 13th starts at `-`; a long
/// id whose tails of 8 to 56 characters are all taken; a few ids no handle can name.
fn adversarial_ids() -> Vec<String> {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |below: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(seed >> 33).unwrap() % below
    };
    let word = |len: usize, next: &mut dyn FnMut(usize) -> usize| -> String {
        let alphabet = b"aAb-_1";
        (0..len)
            .map(|_| alphabet[next(alphabet.len())] as char)
            .collect()
    };
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..60 {
        let len = 10 + next(12);
        let base = word(len, &mut next);
        let shared = 8 + next(len - 8);
        ids.insert(format!(
            "{}{}",
            word(1 + next(4), &mut next),
            &base[len - shared..]
        ));
        // The lengths a handle search tries first: from 8, or from one past the shared tail.
        for taken in [8, 9, 10, shared + 1, shared + 2] {
            if taken >= len || next(4) == 0 {
                continue;
            }
            let tail = &base[len - taken..];
            let mixed: String = tail
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            let start = match next(4) {
                0 => tail.to_string(),
                1 => tail.to_ascii_lowercase(),
                2 => tail.to_ascii_uppercase(),
                _ => mixed,
            };
            // Now and then the tail itself: then it shares the whole tail, and the search
            // starts past it.
            let more = if next(8) == 0 { 0 } else { 1 + next(2) };
            ids.insert(format!("{start}{}", word(more, &mut next)));
        }
        if next(8) == 0 {
            ids.insert(base.to_ascii_uppercase());
        }
        ids.insert(base);
    }
    // A long id whose tails of 8 to 56 characters all start other ids: a third batch.
    let long = word(60, &mut next);
    for taken in 8..=56 {
        ids.insert(format!("{}x", &long[60 - taken..]));
    }
    ids.insert(long);
    for id in [
        "short",
        "a.dotted-id.0001",
        "ünïcode-ab-1b-ab",
        "01JD8X3V5Q7M2K9R4T6W8Y0ZAB",
        "01900000-0000-7000-8000-cafecafecafe",
        "cafecafecafe-one",
        "ecafecafe-two",
        "fecafecafe-three",
        "afecafecafe-four",
    ] {
        ids.insert(id.to_string());
    }
    ids.into_iter().collect()
}

both! {
    fn short_handles_of_a_page_in_one_batch_are_the_rule_one_tail_at_a_time() {
        let env = Env::init();
        let ids = adversarial_ids();
        let values: Vec<String> = ids
            .iter()
            .map(|id| {
                format!(
                    "({}, 'j', '{{}}', 'pending', '2025-01-01T00:00:00.000Z', \
                     '2025-01-01T00:00:00.000Z')",
                    lit(id)
                )
            })
            .collect();
        env.exec(&format!(
            "INSERT INTO durably_runs (id, job_name, input, status, created_at, updated_at) \
             VALUES {}",
            values.join(", ")
        ));
        // The rule one tail at a time, with every id known: a run other than the id starts
        // with the tail as given, in lower case or in upper case.
        let mut refused: std::collections::HashMap<String, usize> = Default::default();
        let per_row = durably::store::handles::shortest_tails(&ids, ids.clone(), |tail, id| {
            let variants = [tail.to_string(), tail.to_ascii_lowercase(), tail.to_ascii_uppercase()];
            let taken = ids
                .iter()
                .any(|other| other != id && variants.iter().any(|v| other.starts_with(v.as_str())));
            *refused.entry(id.to_string()).or_default() += usize::from(taken);
            Ok(taken)
        })
        .unwrap();
        // Many first tails are taken (a second batch), some ids need three or more tries.
        assert!(refused.values().filter(|&&n| n >= 1).count() >= 20, "{refused:?}");
        assert!(refused.values().filter(|&&n| n >= 2).count() >= 5, "{refused:?}");
        let most = refused.values().max().copied().unwrap_or(0);
        assert!(most > 1 + LATER_CANDIDATES, "{most} tails taken at most: no third batch");
        let want: std::collections::HashMap<&str, &str> =
            ids.iter().map(String::as_str).zip(per_row.iter().map(String::as_str)).collect();
        // The set is adversarial: longer tails, tails past a `-`, whole ids all occur.
        let longer = per_row.iter().filter(|h| h.len() > 9).count();
        assert!(longer >= 20, "{longer} handles longer than 9: {per_row:?}");
        let past_dash = per_row.iter().filter(|h| h.len() > 9 && h.as_bytes()[1] == b'-').count();
        assert!(past_dash >= 1, "no handle skips a tail at `-`: {per_row:?}");
        let handle_chars = |id: &str| id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let whole = ids
            .iter()
            .zip(&per_row)
            .filter(|(id, h)| id.len() > 8 && handle_chars(id) && id == h)
            .count();
        assert!(whole >= 3, "{whole} ids shown whole: {per_row:?}");

        let mut store = open(&env);
        // The whole set in one page, and in pages of 7 (other batches, the same answers).
        for size in [ids.len() as u64 + 5, 7] {
            let mut offset = 0;
            loop {
                let filter = ListFilter { limit: size, offset, ..ListFilter::default() };
                let (runs, short) = store.list_page(None, filter, true).unwrap();
                assert_eq!(runs.len(), short.len());
                for (run, handle) in runs.iter().zip(&short) {
                    assert_eq!(Some(&handle.as_str()), want.get(run.id.as_str()), "{}", run.id);
                }
                offset += runs.len() as u64;
                if (runs.len() as u64) < size {
                    break;
                }
            }
            assert_eq!(offset, ids.len() as u64);
        }
        // Each handle names its run, looked up one at a time.
        for (id, handle) in ids.iter().zip(&per_row) {
            assert_eq!(&store.resolve_id(handle).unwrap(), id, "{handle}");
        }
    }
}

/// On PostgreSQL a run whose row another session holds locked is left out of `renew_many`
/// at once (the worker renews it alone, by its own deadline): one locked run never holds up
/// the renewal of the others.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn pg_renew_many_skips_a_row_another_session_holds() {
    let env = Env::on(Backend::Postgres);
    let mut store = open(&env);
    for _ in 0..3 {
        store.enqueue(&spec("job")).unwrap();
    }
    let lease = Duration::from_secs(30);
    let runs: Vec<_> = store
        .claim_many(&Jobs::All, "me", lease, 3)
        .unwrap()
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(runs.len(), 3);
    let mut holder = pg_connect(&env.db_arg());
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT id FROM durably_runs WHERE id = {} FOR UPDATE",
            lit(&runs[0].id)
        ))
        .unwrap();
    let fences: Vec<(String, i64)> = runs
        .iter()
        .map(|r| (r.id.clone(), r.lease_generation))
        .collect();
    let started = Instant::now();
    let (mut renewed, _) = store.renew_many(&fences, lease).unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "waited {took:?} for the locked row"
    );
    renewed.sort();
    let mut want = vec![runs[1].id.clone(), runs[2].id.clone()];
    want.sort();
    assert_eq!(renewed, want);
    holder.batch_execute("ROLLBACK").unwrap();
    let (renewed, _) = store.renew_many(&fences[..1], lease).unwrap();
    assert_eq!(renewed, vec![runs[0].id.clone()]);
}
