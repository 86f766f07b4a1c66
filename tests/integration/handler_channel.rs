//! The execution's private directory (`DURABLY_EXECUTION_DIR`, src/handler_channel.rs):
//! a handler-side command that cannot use the database reports it and exits 75, and the run of
//! a `set -e` handler that stops on it is given back, not failed; concurrent `durably step`
//! calls of one name run the body once.

use crate::harness::*;
use std::path::Path;

/// A `--db` value that cannot be opened on the current backend: a file in a missing
/// directory, or a port nothing listens on.
fn unusable_db(env: &Env) -> String {
    match Backend::current() {
        Backend::Sqlite => env.path("missing/dir/durably.db").display().to_string(),
        Backend::Postgres => "postgres://durably@127.0.0.1:1/none?connect_timeout=2".to_string(),
    }
}

both! {
    fn a_set_e_handler_stopped_by_the_databases_trouble_is_given_back_not_failed() {
        let env = Env::init();
        let flag = env.path("first-done");
        let count = env.path("executions");
        // The first execution's step cannot reach the database (a server down, a missing
        // file); the second one can.
        env.handler(
            "job",
            &format!(
                "set -e\n\
                 echo x >> {count}\n\
                 if [ ! -e {flag} ]; then touch {flag}; db='--db={bad}'; else db=''; fi\n\
                 durably $db step fetch -- echo '\"fetched\"' > /dev/null\n\
                 durably $db log 'after the step'\n\
                 echo '\"done\"'",
                count = count.display(),
                flag = flag.display(),
                bad = unusable_db(&env),
            ),
        );
        let id = env.enqueue_job("job", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--until-idle", "--poll", "50ms", "--handlers", &h]);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(out.stderr.contains("database's trouble"), "{out:?}");
        assert!(out.stderr.contains("given back"), "{out:?}");
        assert_eq!(env.status(&id), "completed", "{out:?}");
        assert_eq!(env.field(&id, "output").as_deref(), Some("\"done\""));
        assert_eq!(env.field(&id, "error"), None);
        assert_eq!(std::fs::read_to_string(&count).unwrap(), "x\nx\n");
        assert_eq!(env.field(&id, "lease_generation").as_deref(), Some("2"));
    }
}

both! {
    fn trouble_outside_a_worker_and_a_handler_that_carries_on() {
        let env = Env::init();
        // Exit 75 with one line, wherever the command runs.
        let bad = unusable_db(&env);
        let mut c = bare_command(env.dir.path());
        c.args(["--db", &bad, "log", "x"])
            .env("DURABLY_RUN_ID", "r")
            .env("DURABLY_LEASE_GENERATION", "1");
        let out = run_command(c, None);
        assert_eq!(out.code, 75, "{out:?}");
        assert_one_error_line(&out.stderr, "the database cannot be used");
        // A handler that catches the trouble and exits 0 completes; one that fails on its own
        // (no report) fails.
        env.handler(
            "carry-on",
            &format!("durably --db={bad} progress 1 || echo '\"went on\"'"),
        );
        env.handler("own-failure", "durably log 'about to fail'; exit 3");
        let carry = env.enqueue_job("carry-on", &[]);
        let own = env.enqueue_job("own-failure", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--until-idle", "--poll", "50ms", "--handlers", &h]);
        assert_eq!(out.code, 5, "{out:?}");
        assert_eq!(env.status(&carry), "completed");
        assert_eq!(env.field(&carry, "output").as_deref(), Some("\"went on\""));
        assert_eq!(env.status(&own), "failed");
    }
}

#[test]
fn a_full_disk_under_a_set_e_handler_gives_the_run_back_and_it_completes_later() {
    let env = Env::init();
    let count = env.path("executions");
    // A step whose output (200 KB) does not fit in the pages allowed below.
    env.handler(
        "big-step",
        &format!(
            "set -e\n\
             echo x >> {}\n\
             durably step s -- sh -c \"head -c 200000 /dev/zero | tr '\\\\0' s\" > /dev/null\n\
             echo '\"done\"'",
            count.display()
        ),
    );
    let id = env.enqueue_job("big-step", &[]);
    let pages = env.count("PRAGMA page_count");
    let h = env.handlers.to_str().unwrap().to_string();
    let page_size = env.count("PRAGMA page_size");
    // Given as a flag to the worker: its handlers' `durably step` get it from the worker.
    let cap = ((pages + 5) * page_size).to_string();
    let c = env.command(&[
        "work",
        "--once",
        "--poll",
        "50ms",
        "--handlers",
        &h,
        "--max-db-size",
        &cap,
    ]);
    let out = run_command(c, None);
    assert!(out.stderr.contains("full"), "{out:?}");
    assert!(out.stderr.contains("database's trouble"), "{out:?}");
    assert_ne!(env.status(&id), "failed", "{out:?}");
    assert_eq!(env.field(&id, "error"), None);
    // With room, the next worker completes it.
    let done = wait_until(std::time::Duration::from_secs(60), || {
        env.run(&["work", "--until-idle", "--poll", "50ms", "--handlers", &h]);
        env.status(&id) == "completed"
    });
    assert!(done, "the run never completed once there was room");
    assert_eq!(env.field(&id, "output").as_deref(), Some("\"done\""));
}

both! {
    fn concurrent_steps_of_one_name_run_the_body_once() {
        let env = Env::init();
        let body = env.path("body-ran");
        let outs = env.path("outs");
        std::fs::create_dir(&outs).unwrap();
        // The body waits (bounded) for a second body to start: without the reservation both
        // run; with it the second call waits for the first and prints its memoized output.
        let step = format!(
            "durably step same -- sh -c 'echo x >> {body}; i=0; while [ $(wc -l < {body}) -lt 2 ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; echo \\\"v\\\"'",
            body = body.display()
        );
        env.handler(
            "job",
            &format!(
                "{step} > {o}/1 &\n{step} > {o}/2 &\n{step} > {o}/3 &\nwait\ncat {o}/1 {o}/2 {o}/3 | tr -d '\\n'",
                o = outs.display()
            ),
        );
        let id = env.enqueue_job("job", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--until-idle", "--poll", "50ms", "--handlers", &h]);
        out.ok();
        assert_eq!(std::fs::read_to_string(&body).unwrap(), "x\n", "the body ran more than once");
        assert_eq!(env.status(&id), "completed");
        assert_eq!(env.field(&id, "output").as_deref(), Some("\"\\\"v\\\"\\\"v\\\"\\\"v\\\"\""));
        assert_eq!(
            env.count(&format!("SELECT count(*) FROM durably_steps WHERE run_id = {}", lit(&id))),
            1
        );
    }
}

both! {
    /// The execution's directory is made in TMPDIR when the user set it, else in memory
    /// (XDG_RUNTIME_DIR, else /dev/shm, where making one costs no journalled disk inode), in
    /// a directory of the worker's own that is gone when the worker ends.
    fn the_execution_directory_goes_to_tmpdir_when_set_else_to_memory() {
        let env = Env::init();
        let seen = env.path("seen");
        env.handler(
            "job",
            &format!(
                "printf '%s\\n' \"$DURABLY_EXECUTION_DIR\" >> {seen}\n\
                 test -f \"$DURABLY_EXECUTION_DIR/trouble\"\n\
                 echo '\"ok\"'",
                seen = seen.display()
            ),
        );
        let h = env.handlers.to_str().unwrap().to_string();
        let tmpdir = env.path("tmp");
        std::fs::create_dir(&tmpdir).unwrap();
        let runtime = env.path("runtime");
        std::fs::create_dir(&runtime).unwrap();
        let cases: [(Option<&Path>, Option<&Path>, &Path); 3] = [
            (Some(&tmpdir), Some(&runtime), &tmpdir),
            (None, Some(&runtime), &runtime),
            (None, None, Path::new("/dev/shm")),
        ];
        for (tmp, xdg, want) in cases {
            std::fs::write(&seen, "").unwrap();
            let id = env.enqueue_job("job", &[]);
            let mut c = env.command(&["work", "--until-idle", "--handlers", &h]);
            c.env_remove("TMPDIR").env_remove("XDG_RUNTIME_DIR");
            if let Some(t) = tmp {
                c.env("TMPDIR", t);
            }
            if let Some(x) = xdg {
                c.env("XDG_RUNTIME_DIR", x);
            }
            let out = run_command(c, None);
            assert_eq!(out.code, 0, "{out:?}");
            assert_eq!(env.status(&id), "completed", "{out:?}");
            let dir = std::fs::read_to_string(&seen).unwrap();
            let dir = Path::new(dir.trim());
            // The execution's directory is in the worker's own, durably-x-PID-…
            let worker = dir.parent().unwrap();
            let name = worker.file_name().unwrap().to_str().unwrap();
            assert!(name.starts_with("durably-x-"), "{}", dir.display());
            assert_eq!(worker.parent(), Some(want), "TMPDIR {tmp:?}, XDG_RUNTIME_DIR {xdg:?}");
            assert!(!worker.exists(), "{} outlived its worker", worker.display());
        }
    }
}

both! {
    /// A worker killed with `kill -9` leaves its directory of execution directories behind;
    /// the next worker to start as the same user removes it (and leaves a live worker's alone).
    fn the_next_worker_removes_the_execution_directories_of_a_killed_one() {
        let env = Env::init();
        let place = env.path("tmp");
        std::fs::create_dir(&place).unwrap();
        env.handler("block", "while :; do sleep 0.05; done");
        env.handler("quick", "echo 1");
        env.enqueue_job("block", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        let start = |args: &[&str]| {
            let mut c = env.command(args);
            c.env("TMPDIR", &place)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            c.spawn().expect("start a worker")
        };
        let mut killed = start(&["work", "--handlers", &h, "--job", "block"]);
        let mut live = start(&["work", "--handlers", &h, "--job", "nothing"]);
        let dirs = || -> Vec<String> {
            let mut d: Vec<String> = std::fs::read_dir(&place)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("durably-x-"))
                .collect();
            d.sort();
            d
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while dirs().len() < 2 || env.count("SELECT COUNT(*) FROM durably_runs WHERE status = 'leased'") < 1 {
            assert!(std::time::Instant::now() < deadline, "workers did not start: {:?}", dirs());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let mine = |pid: u32| dirs().into_iter().find(|d| d.starts_with(&format!("durably-x-{pid}-")));
        let left = mine(killed.id()).expect("the killed worker's directory");
        killed.kill().unwrap();
        killed.wait().unwrap();
        assert!(dirs().contains(&left), "kill -9 leaves it: {:?}", dirs());
        let id = env.enqueue_job("quick", &[]);
        let mut c = env.command(&["work", "--until-idle", "--handlers", &h, "--job", "quick"]);
        c.env("TMPDIR", &place);
        let out = run_command(c, None);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(env.status(&id), "completed");
        assert!(!dirs().contains(&left), "the killed worker's directory is left: {:?}", dirs());
        assert!(mine(live.id()).is_some(), "a live worker's directory was removed: {:?}", dirs());
        live.kill().unwrap();
        live.wait().unwrap();
    }
}

both! {
    /// Nowhere to make the worker's directory of executions (TMPDIR is /proc, where not even
    /// root can make one): the worker says so once, and runs still complete, without it.
    fn a_worker_that_cannot_make_its_execution_directories_says_so_and_works() {
        let env = Env::init();
        env.handler("job", "echo \"${DURABLY_EXECUTION_DIR:-none}\" >&2; echo 1");
        let ids: Vec<String> = (0..2).map(|_| env.enqueue_job("job", &[])).collect();
        let h = env.handlers.to_str().unwrap().to_string();
        let mut c = env.command(&["work", "--until-idle", "--handlers", &h]);
        c.env("TMPDIR", "/proc");
        let out = run_command(c, None);
        assert_eq!(out.code, 0, "{out:?}");
        for id in &ids {
            assert_eq!(env.status(id), "completed", "{out:?}");
        }
        let said: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("cannot make a directory for executions"))
            .collect();
        assert_eq!(said.len(), 1, "{out:?}");
        assert!(said[0].contains("/proc"), "{out:?}");
        assert_eq!(out.stderr.matches("none").count(), 2, "{out:?}");
    }
}
