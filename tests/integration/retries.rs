//! The failure policy of CLI workers (issue 17, point 2): crash loops — a run claimed more
//! than `--max-lease-expiries` times without a result is failed with a clear error instead of
//! being executed again. Every test runs on both backends.

use crate::harness::*;
use std::time::Duration;

/// A handler that counts its executions in `count` and kills its own worker (kill -9).
fn crashing_handler(env: &Env) -> String {
    let count = env.path("count");
    env.handler(
        "crash",
        &format!("echo x >> '{}'\nkill -9 $PPID\nsleep 5", count.display()),
    );
    env.handlers.to_str().unwrap().to_string()
}

fn executions(env: &Env) -> usize {
    std::fs::read_to_string(env.path("count"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

both! {
    fn a_crash_loop_is_failed_after_n_expired_leases_and_never_run_again() {
        let env = Env::init();
        let h = crashing_handler(&env);
        let id = env.enqueue_job("crash", &[]);
        let mut last = None;
        for _ in 0..8 {
            let out = env.run(&[
                "work", "--once", "--lease", "1s", "--max-lease-expiries", "2", "--handlers", &h,
            ]);
            if env.status(&id) == "failed" {
                last = Some(out);
                break;
            }
            // The worker was killed: wait for its lease to run out.
            std::thread::sleep(Duration::from_millis(1100));
        }
        let out = last.expect("the run was never failed");
        assert_eq!(out.code, 5, "{out:?}");
        assert_eq!(executions(&env), 2, "the handler ran more than N times");
        let error = env.field(&id, "error").unwrap();
        assert!(
            error.starts_with("lease expired 2 times without a result: the worker crashed or was killed each time (crash loop"),
            "{error}"
        );
        assert_eq!(env.field(&id, "lease_generation").as_deref(), Some("3"));
        // Failed for good: nothing claims it again.
        let out = env.run(&["work", "--once", "--handlers", &h]);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(executions(&env), 2);
    }
}

both! {
    fn max_lease_expiries_0_reclaims_forever_like_the_library() {
        let env = Env::init();
        let h = crashing_handler(&env);
        let id = env.enqueue_job("crash", &[]);
        for _ in 0..3 {
            env.run(&[
                "work", "--once", "--lease", "1s", "--max-lease-expiries", "0", "--handlers", &h,
            ]);
            std::thread::sleep(Duration::from_millis(1100));
        }
        assert_eq!(executions(&env), 3);
        assert_ne!(env.status(&id), "failed");
    }
}
