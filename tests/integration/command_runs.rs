//! Command runs (`durably enqueue -- CMD ARGS`): stored as their input (argv, directory, asked-for
//! variables), executed only by a worker started with `--commands`, never through a shell;
//! their result is the exit code and their stdout and stderr are kept as logs. Both backends.

use crate::harness::*;
use serde_json::Value;

/// `durably enqueue ARGS` run from `dir` with `extra` in its environment; the new run's id.
fn enqueue_in(env: &Env, dir: &std::path::Path, extra: &[(&str, &str)], args: &[&str]) -> String {
    let mut all = vec!["enqueue"];
    all.extend_from_slice(args);
    let mut c = env.command(&all);
    c.current_dir(dir);
    for (k, v) in extra {
        c.env(k, v);
    }
    let out = run_command(c, None);
    out.ok();
    out.line().to_string()
}

fn logs(env: &Env, id: &str) -> Vec<(String, String)> {
    let out = env.ok(&["logs", id, "--json"]);
    out.stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let data = match &v["data"] {
                Value::String(text) => serde_json::from_str(text).unwrap(),
                other => other.clone(),
            };
            (
                data["stream"].as_str().unwrap_or_default().to_string(),
                v["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

both! {
    fn a_command_run_is_executed_only_by_a_worker_that_opted_in() {
        let env = Env::init();
        let dir = env.path("work dir");
        std::fs::create_dir(&dir).unwrap();
        let id = enqueue_in(
            &env,
            &dir,
            &[("KEPT", "from enqueue"), ("NOT_ASKED", "secret")],
            &[
                "--env",
                "KEPT",
                "--env",
                "MODE=full",
                "--",
                "sh",
                "-c",
                "pwd; echo \"$KEPT/$MODE/${NOT_ASKED:-unset}\"; cat; echo 'to stderr' >&2",
            ],
        );
        assert_eq!(env.field(&id, "job_name").as_deref(), Some("cmd"));
        let input: Value = serde_json::from_str(&env.field(&id, "input").unwrap()).unwrap();
        assert_eq!(input["command"][0], "sh");
        assert_eq!(input["cwd"], dir.to_str().unwrap());
        assert_eq!(input["env"], serde_json::json!({"KEPT": "from enqueue", "MODE": "full"}));
        assert!(!input.to_string().contains("secret"), "{input}");

        // A worker without --commands leaves it alone.
        let h = env.handlers.to_str().unwrap().to_string();
        env.ok(&["work", "--until-idle", "--handlers", &h]);
        assert_eq!(env.status(&id), "pending");

        let out = env.ok(&["work", "--until-idle", "--commands"]);
        assert_eq!(env.status(&id), "completed", "{out:?}");
        assert_eq!(env.field(&id, "output").as_deref(), Some(r#"{"exitCode":0}"#));
        let got = logs(&env, &id);
        assert!(got.contains(&("stdout".into(), dir.to_str().unwrap().into())), "{got:?}");
        // The stored variables, not the enqueuer's others; stdin is empty (not the input).
        assert!(got.contains(&("stdout".into(), "from enqueue/full/unset".into())), "{got:?}");
        assert!(got.contains(&("stderr".into(), "to stderr".into())), "{got:?}");
        assert_eq!(got.len(), 3, "{got:?}");
        // ls and show say what it runs.
        let ls = env.ok(&["ls"]).stdout.clone();
        assert!(ls.contains("cmd: sh -c 'pwd;"), "{ls}");
        let show = env.ok(&["show", &id]).stdout.clone();
        assert!(show.contains("command           sh -c"), "{show}");
        assert!(show.contains("env               KEPT MODE"), "{show}");
    }
}

both! {
    fn failed_commands_say_why() {
        let env = Env::init();
        let dir = env.path("gone");
        std::fs::create_dir(&dir).unwrap();
        let exit3 = enqueue_in(&env, env.path("").as_path(), &[], &["--", "sh", "-c", "echo partial; exit 3"]);
        let missing = enqueue_in(&env, env.path("").as_path(), &[], &["--", "no-such-program-x"]);
        let nowhere = enqueue_in(&env, &dir, &[], &["--", "true"]);
        std::fs::remove_dir(&dir).unwrap();
        // Named job, and a crafted run of job cmd whose input is not a command.
        let named = enqueue_in(&env, env.path("").as_path(), &[], &["--job", "backup", "--", "true"]);
        let crafted = env.enqueue(&["--job", "cmd", "--input", r#"{"command":"rm -rf /"}"#]);
        let out = env.run(&["work", "--until-idle", "--commands"]);
        assert_eq!(out.code, 5, "{out:?}");
        let error = |id: &str| env.field(id, "error").unwrap_or_default();
        assert_eq!(error(&exit3), "command exited with code 3\nstdout:\npartial");
        assert!(error(&missing).contains("cannot execute command no-such-program-x: not found in PATH"));
        assert!(error(&nowhere).contains("no such directory on this host"), "{}", error(&nowhere));
        assert!(error(&crafted).starts_with("the input of a command run must be"), "{}", error(&crafted));
        // Only the jobs named by --commands (default cmd) are command runs.
        assert_eq!(env.status(&named), "pending");
        env.ok(&["work", "--until-idle", "--commands=backup"]);
        assert_eq!(env.status(&named), "completed");
        let ls = env.ok(&["ls"]).stdout.clone();
        assert!(ls.contains("exit 3"), "{ls}");
    }
}

both! {
    fn bad_command_runs_are_usage_errors_that_change_nothing() {
        let env = Env::init();
        let spec = env.file("spec.json", r#"{"job":"x"}"#);
        let spec = spec.to_str().unwrap();
        for (args, needle) in [
            (vec!["enqueue", spec, "--", "ls"], "takes no spec FILE or --input"),
            (vec!["enqueue", "--input", "{}", "--", "ls"], "takes no spec FILE or --input"),
            (vec!["enqueue", "--env", "PGPASSWORD=x", "--", "ls"], "never stored"),
            (vec!["enqueue", "--env", "DURABLY_DB", "--", "ls"], "never stored"),
            (vec!["enqueue", "--env", "A B=1", "--", "ls"], "is not a variable name"),
            (vec!["enqueue", "--env", "UNSET_FOR_SURE_1", "--", "ls"], "is not set"),
            (vec!["enqueue", "--env", "X=1", "--job", "j"], "--env is for command runs"),
            (vec!["enqueue", "--", ""], "the command after -- is empty"),
        ] {
            let out = env.run(&args);
            out.fails(2, needle);
            assert_one_error_line(&out.stderr, needle);
        }
        assert_eq!(env.count("SELECT count(*) FROM durably_runs"), 0);
        env.run(&["work", "--once"]).fails(2, "--commands");
    }
}

both! {
    fn follow_shows_a_command_runs_output_as_it_is_written() {
        let env = Env::init();
        let go = env.path("go");
        let script = format!(
            "echo one; while [ ! -e '{}' ]; do sleep 0.05; done; echo two >&2",
            go.display()
        );
        let id = enqueue_in(&env, env.path("").as_path(), &[], &["--", "sh", "-c", &script]);
        let worker = env.spawn(&["work", "--once", "--commands"]);
        wait_for("the first line", || {
            (env.count("SELECT count(*) FROM durably_logs") == 1).then_some(())
        });
        let follow = env.spawn(&["follow", &id]);
        // `one` is already there; `two` is written while follow waits.
        std::fs::write(&go, "").unwrap();
        assert_eq!(finish(worker).code, 0);
        let out = finish(follow);
        assert_eq!(out.code, 0, "{out:?}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{out:?}");
        assert!(lines[0].ends_with(" stdout one"), "{out:?}");
        assert!(lines[1].ends_with(" stderr two"), "{out:?}");
    }
}
