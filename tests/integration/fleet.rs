//! A worker with free slots claims several runs in one claim (`Leases::claim_many`): how many
//! it takes (its free slots, what `--max-runs` and `--once` leave), and that every run still
//! runs once and one concurrency key still admits one live lease. Every test runs on both
//! backends.

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
