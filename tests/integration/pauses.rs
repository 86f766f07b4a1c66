//! `durably pause`, `resume`, `paused` (issue 17, point 4): CLI workers claim no run of a
//! paused job (nor any run while the whole queue is paused), running runs finish, `work -v`
//! says once per change why nothing is claimed, and a database without our tables is read as
//! having no pause (no DDL) until `pause` creates them. The library's own worker does not know
//! pauses: `interop::library_worker_ignores_pauses`. Every test runs on both backends.

use crate::harness::*;
use std::time::Duration;

/// How many runs of `job` were ever claimed.
fn claimed(env: &Env, job: &str) -> i64 {
    env.count(&format!(
        "SELECT COUNT(*) FROM durably_runs WHERE job_name = '{job}' AND lease_generation > 0"
    ))
}

both! {
    fn a_paused_job_is_not_claimed_while_other_jobs_run() {
        let env = Env::init();
        env.handler("a", "true");
        env.handler("b", "true");
        let a: Vec<String> = (0..3).map(|_| env.enqueue_job("a", &[])).collect();
        let b: Vec<String> = (0..3).map(|_| env.enqueue_job("b", &[])).collect();
        let out = env.ok(&["pause", "--job", "a"]);
        assert_eq!(out.stdout, "paused job a\n");
        let out = env.ok(&["pause", "--job", "a", "--json"]);
        assert_eq!(out.json()["paused"], false, "already paused: {out:?}");
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.ok(&["work", "--until-idle", "-v", "--handlers", &h]);
        assert!(out.stderr.contains("job a is paused"), "{out:?}");
        for id in &b {
            assert_eq!(env.status(id), "completed");
        }
        for id in &a {
            assert_eq!(env.status(id), "pending");
        }
        assert_eq!(claimed(&env, "a"), 0);
        // Also a worker that names the job.
        env.ok(&["work", "--until-idle", "--job", "a", "--handlers", &h]);
        assert_eq!(claimed(&env, "a"), 0);
        let out = env.ok(&["resume", "--job", "a"]);
        assert_eq!(out.stdout, "resumed job a\n");
        env.ok(&["work", "--until-idle", "--handlers", &h]);
        for id in &a {
            assert_eq!(env.status(id), "completed");
        }
        let out = env.ok(&["resume", "--job", "a"]);
        assert_eq!(out.stdout, "job a was not paused\n");
    }
}

both! {
    fn pausing_the_whole_queue_is_separate_from_pausing_jobs() {
        let env = Env::init();
        env.handler("a", "true");
        env.handler("queue", "true");
        let a = env.enqueue_job("a", &[]);
        // A job named `queue` is a job, not the whole queue.
        let q = env.enqueue_job("queue", &[]);
        env.ok(&["pause"]);
        env.ok(&["pause", "--job", "queue"]);
        let list = env.ok(&["paused", "--json"]).json();
        assert_eq!(list[0]["scope"], "queue");
        assert_eq!(list[0]["job"], serde_json::Value::Null);
        assert_eq!(list[1]["scope"], "job");
        assert_eq!(list[1]["job"], "queue");
        assert!(list[0]["pausedAt"].as_str().unwrap().ends_with('Z'));
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.ok(&["work", "--until-idle", "-v", "--handlers", &h]);
        assert!(out.stderr.contains("the whole queue is paused"), "{out:?}");
        assert_eq!(env.status(&a), "pending");
        assert_eq!(env.status(&q), "pending");
        // Resuming the queue leaves the job's own pause.
        let out = env.ok(&["resume"]);
        assert_eq!(out.stdout, "resumed the whole queue\n");
        assert!(out.stderr.contains("still paused: job queue"), "{out:?}");
        env.ok(&["work", "--until-idle", "--handlers", &h]);
        assert_eq!(env.status(&a), "completed");
        assert_eq!(env.status(&q), "pending");
        env.ok(&["pause"]);
        let out = env.ok(&["resume", "--all", "--json"]);
        let lines: Vec<serde_json::Value> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{out:?}");
        assert!(lines.iter().all(|l| l["resumed"] == true), "{out:?}");
        assert_eq!(env.ok(&["paused"]).stdout, "nothing is paused\n");
        env.ok(&["work", "--until-idle", "--handlers", &h]);
        assert_eq!(env.status(&q), "completed");
    }
}

both! {
    fn a_busy_worker_stops_claiming_a_paused_job_and_its_running_run_finishes() {
        let env = Env::init();
        env.handler("a", "sleep 0.3");
        env.handler("b", "sleep 0.1");
        for _ in 0..40 {
            env.enqueue_job("a", &[]);
        }
        let h = env.handlers.to_str().unwrap().to_string();
        let log = env.path("worker.err");
        let worker = env.spawn_stderr_to(&["work", "-v", "--poll", "100ms", "--handlers", &h], &log);
        wait_for("two runs of a to complete", || {
            (env.count("SELECT COUNT(*) FROM durably_runs WHERE status = 'completed'") >= 2)
                .then_some(())
        });
        env.ok(&["pause", "--job", "a"]);
        // A claim that began before the pause committed may still end; none after.
        std::thread::sleep(Duration::from_millis(300));
        let at_pause = claimed(&env, "a");
        // Another job goes on being claimed meanwhile.
        for _ in 0..3 {
            env.enqueue_job("b", &[]);
        }
        wait_for("b's runs to complete", || {
            (env.count("SELECT COUNT(*) FROM durably_runs WHERE job_name = 'b' AND status = 'completed'") == 3)
                .then_some(())
        });
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(claimed(&env, "a"), at_pause, "a paused job was claimed");
        assert_eq!(
            env.count("SELECT COUNT(*) FROM durably_runs WHERE job_name = 'a' AND status = 'leased'"),
            0,
            "the running run finished"
        );
        env.ok(&["resume", "--job", "a"]);
        wait_for("a to be claimed again", || {
            (claimed(&env, "a") > at_pause).then_some(())
        });
        // The claim honours the resume at once; the -v line comes at the next read (≤ 1 s).
        wait_for("the resume to be said", || {
            let text = std::fs::read_to_string(&log).unwrap();
            text.contains("job a resumed").then_some(())
        });
        signal(&worker, libc::SIGTERM);
        let out = finish(worker);
        assert_eq!(out.code, 0, "{out:?}");
        let text = std::fs::read_to_string(&log).unwrap();
        // Said once per change, though the worker read the pauses many times meanwhile.
        assert_eq!(text.matches("job a is paused").count(), 1, "{text}");
        assert_eq!(text.matches("job a resumed").count(), 1, "{text}");
    }
}

both! {
    fn a_database_without_our_tables_has_no_pause_until_one_is_made() {
        let env = Env::init();
        env.exec("DROP TABLE durably_cli_pauses");
        let tables = || env.tables().into_iter().filter(|t| t == "durably_cli_pauses").count();
        assert_eq!(env.ok(&["paused"]).stdout, "nothing is paused\n");
        assert_eq!(env.ok(&["paused", "--json"]).json(), serde_json::json!([]));
        assert_eq!(env.ok(&["resume", "--all"]).stdout, "nothing was paused\n");
        assert_eq!(tables(), 0, "a reader ran DDL");
        env.ok(&["pause", "--job", "x"]);
        assert_eq!(tables(), 1);
        assert_eq!(env.ok(&["paused", "--json"]).json()[0]["job"], "x");
    }
}

both! {
    fn pause_refuses_an_empty_job_name_and_changes_nothing() {
        let env = Env::init();
        let out = env.run(&["pause", "--job", " "]);
        assert_eq!(out.code, 2, "{out:?}");
        assert_eq!(env.ok(&["paused"]).stdout, "nothing is paused\n");
    }
}
