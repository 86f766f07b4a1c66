//! Several workers on one file: every run claimed and completed exactly once; concurrency keys
//! serialise runs across workers and jobs. Every test runs on both backends.

use crate::harness::*;
use std::collections::HashMap;

both! {
    /// N workers start together on the same queue, again and again; the handler appends its run
    /// id to a shared log. No id twice, none missing, every run completed with generation 1.
    fn racing_workers_claim_each_run_once() {
        const ROUNDS: usize = 5;
        const WORKERS: usize = 4;
        const RUNS: usize = 30;
        for round in 0..ROUNDS {
            let env = Env::init();
            env.handler("job", "echo $DURABLY_RUN_ID >> $T/claims; echo ok");
            let specs: String = (0..RUNS)
                .map(|i| format!("{{\"job\":\"job\",\"input\":{i}}}\n"))
                .collect();
            let file = env.path("specs.ndjson");
            std::fs::write(&file, specs).unwrap();
            env.ok(&["enqueue-many", "-q", file.to_str().unwrap()]);
            let handlers = env.handlers.to_str().unwrap();
            let workers: Vec<_> = (0..WORKERS)
                .map(|i| {
                    let c = if i % 2 == 0 { "1" } else { "3" };
                    env.spawn(&[
                        "work",
                        "--until-idle",
                        "--concurrency",
                        c,
                        "--handlers",
                        handlers,
                    ])
                })
                .collect();
            for w in workers {
                let out = finish(w);
                assert_eq!(out.code, 0, "round {round}: {out:?}");
            }
            // A worker may have gone idle while others still ran: finish the tail.
            env.ok(&["work", "--until-idle", "--handlers", handlers]);
            let claims = std::fs::read_to_string(env.path("claims")).unwrap();
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for id in claims.lines() {
                *seen.entry(id).or_default() += 1;
            }
            assert_eq!(seen.len(), RUNS, "round {round}: every run executed");
            assert!(
                seen.values().all(|&n| n == 1),
                "round {round}: a run executed twice: {seen:?}"
            );
            assert_eq!(
                env.count("SELECT count(*) FROM durably_runs WHERE status = 'completed' AND lease_generation = 1"),
                RUNS as i64,
                "round {round}"
            );
        }
    }
}

both! {
    /// Runs of different jobs sharing a concurrency key never overlap, whatever the number of
    /// workers and handler slots: each handler takes a directory lock that would fail if another
    /// held it.
    fn concurrency_key_serialises_across_workers_and_jobs() {
        let env = Env::init();
        let body = "mkdir $T/lock || { echo overlap >> $T/overlaps; exit 1; }\n\
                    echo $DURABLY_JOB >> $T/order\nsleep 0.1\nrmdir $T/lock\necho done";
        let mut ids = Vec::new();
        for i in 0..6 {
            let job = format!("job{i}");
            env.handler(&job, body);
            ids.push(env.enqueue_job(&job, &["--concurrency-key", "shared"]));
        }
        // Runs without a key are not held back by the keyed ones.
        env.handler("free", "echo free >> $T/free; echo ok");
        let free: Vec<String> = (0..3).map(|_| env.enqueue_job("free", &[])).collect();
        let handlers = env.handlers.to_str().unwrap();
        let workers: Vec<_> = (0..3)
            .map(|_| {
                env.spawn(&[
                    "work",
                    "--concurrency",
                    "2",
                    "--poll",
                    "50ms",
                    "--max-runs",
                    "3",
                    "--handlers",
                    handlers,
                ])
            })
            .collect();
        for w in workers {
            let out = finish(w);
            assert_eq!(out.code, 0, "{out:?}");
        }
        assert!(
            !env.path("overlaps").exists(),
            "two runs with one key overlapped"
        );
        for id in ids.iter().chain(&free) {
            assert_eq!(env.status(id), "completed");
        }
        // Claims follow creation order.
        let order = std::fs::read_to_string(env.path("order")).unwrap();
        let want: Vec<String> = (0..6).map(|i| format!("job{i}")).collect();
        assert_eq!(order.lines().collect::<Vec<_>>(), want);
    }
}

both! {
    /// `--max-runs` and `--concurrency`: one worker runs several handlers at once and stops after
    /// N claims; stderr lines of concurrent handlers carry their run id.
    fn concurrency_and_max_runs() {
        let env = Env::init();
        // Each handler waits until three are running at once: proves they run concurrently.
        env.handler(
            "job",
            "touch $T/running-$DURABLY_RUN_ID\n\
             while [ $(ls $T | grep -c '^running-') -lt 3 ]; do sleep 0.02; done\n\
             echo hello from handler >&2; echo ok",
        );
        for _ in 0..4 {
            env.enqueue_job("job", &[]);
        }
        let out = finish(env.spawn(&[
            "work",
            "--concurrency",
            "3",
            "--max-runs",
            "3",
            "--handlers",
            env.handlers.to_str().unwrap(),
        ]));
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            env.count("SELECT count(*) FROM durably_runs WHERE status = 'completed'"),
            3
        );
        assert_eq!(
            env.count("SELECT count(*) FROM durably_runs WHERE status = 'pending'"),
            1
        );
        let prefixed = out
            .stderr
            .lines()
            .filter(|l| l.starts_with('[') && l.ends_with("] hello from handler"))
            .count();
        assert_eq!(prefixed, 3, "{out:?}");
    }
}
