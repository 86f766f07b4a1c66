//! Run ids and job names from the database reach a terminal escaped (`output::escape`) on
//! every path that prints them: `work -v`, the worker's notes (the "cannot execute handler"
//! failure), `cancel`, `rm` and an idempotent `enqueue`'s answer. Hostile ids are
//! written into the database directly (another writer may make them); hostile job names come
//! through `enqueue`. Every test runs on both backends.

use crate::harness::*;

/// ESC (a colour and a window-title sequence), BEL, CR and a C1 control.
const HOSTILE: &str = "\u{1b}[31mred\u{1b}]0;pwned\u{7}\r\u{9b}2J";

/// Gives run `id` the hostile id `{id}{HOSTILE}` and returns it.
fn make_hostile_id(env: &Env, id: &str) -> String {
    let hostile = format!("{id}{HOSTILE}");
    env.exec(&format!(
        "UPDATE durably_runs SET id = {} WHERE id = {}",
        lit(&hostile),
        lit(id)
    ));
    hostile
}

#[track_caller]
fn assert_escaped(what: &str, out: &Out) {
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains(['\u{1b}', '\u{7}', '\r', '\u{9b}']),
            "{what}: raw control characters reached the terminal: {out:?}"
        );
    }
    assert!(
        out.stdout.contains("\\e[31mred") || out.stderr.contains("\\e[31mred"),
        "{what}: the hostile text is not shown escaped: {out:?}"
    );
}

both! {
    fn hostile_run_ids_and_job_names_are_escaped_wherever_they_are_printed() {
        let env = Env::init();
        let job = format!("job{HOSTILE}");
        // An idempotent enqueue answers the stored run's id.
        let first = env.enqueue_job("keyed", &["--idempotency-key", "k"]);
        let keyed = make_hostile_id(&env, &first);
        let out = env.run(&["enqueue", "--job", "keyed", "--idempotency-key", "k"]);
        out.ok();
        assert_escaped("idempotent enqueue", &out);
        // cancel and rm of hostile ids.
        let out = env.run(&["cancel", &keyed]);
        out.ok();
        assert_escaped("cancel", &out);
        let out = env.run(&["rm", &keyed]);
        out.ok();
        assert_escaped("rm", &out);
        // work -v: a hostile id and a hostile job name, claimed, completed, retriggered.
        let run = env.enqueue_job(&job, &[]);
        let run = make_hostile_id(&env, &run);
        // --concurrency 2 prefixes the handler's stderr lines with the run id.
        let out = env.run(&["work", "-v", "--concurrency", "2", "--until-idle", "--poll", "50ms", "--", "sh", "-c", "echo line >&2; echo '\"ok\"'"]);
        out.ok();
        assert_escaped("work -v", &out);
        assert!(out.stderr.contains("\\e[31mred"), "{out:?}");
        assert!(out.stderr.lines().any(|l| l.starts_with('[') && l.ends_with("] line")), "{out:?}");
        assert!(out.stderr.contains("claimed"), "{out:?}");
        assert_eq!(env.status(&run), "completed");
        // retrigger prints the new run's id (the CLI's own); nothing raw either way.
        let out = env.run(&["retrigger", &run]);
        out.ok();
        assert!(!out.stdout.contains('\u{1b}'), "{out:?}");
        env.exec("DELETE FROM durably_runs");
        // A handler whose interpreter is missing cannot be executed: that fails the run: the worker's line quotes the
        // path (with the job name) and the id.
        let bad = env.enqueue_job(&job, &[]);
        let bad = make_hostile_id(&env, &bad);
        env.handler(&job, "#!/nonexistent/interpreter\necho never");
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--until-idle", "--poll", "50ms", "--handlers", &h]);
        assert_eq!(out.code, 5, "{out:?}");
        assert_escaped("cannot execute handler", &out);
        assert!(out.stderr.contains("cannot execute handler"), "{out:?}");
        assert_eq!(env.status(&bad), "failed");
    }
}
