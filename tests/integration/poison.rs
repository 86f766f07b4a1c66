//! Poison bytes: NUL and invalid UTF-8 in what a handler writes (stderr, `durably log`, a
//! step's stdout, its own stdout) are stored with U+FFFD (or as JSON escapes in JSON text), so
//! the run's result is always writable and the run executes once; a NUL in a field a user
//! gives (job name, keys, label values) is refused, naming the field, with nothing written.
//! Every test runs on both backends.

use crate::harness::*;

both! {
    fn nul_and_invalid_utf8_in_a_failing_handlers_output_are_stored_replaced_and_it_fails_once() {
        let env = Env::init();
        let count = env.path("executions");
        env.handler(
            "poison",
            &format!(
                "echo x >> {count}\n\
                 durably step s -- sh -c \"printf 'a\\\\000b\\\\377'\" > /dev/null\n\
                 durably log \"$(printf 'log\\377x')\"\n\
                 durably progress 1 --message \"$(printf 'p\\377')\"\n\
                 printf 'bad\\000nul\\377\\376 line\\nsecond\\n' >&2\n\
                 exit 1",
                count = count.display()
            ),
        );
        let id = env.enqueue_job("poison", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        let out = env.run(&["work", "--until-idle", "--poll", "50ms", "--handlers", &h]);
        assert_eq!(out.code, 5, "{out:?}");
        assert_eq!(env.status(&id), "failed", "{out:?}");
        assert_eq!(std::fs::read_to_string(&count).unwrap(), "x\n", "executed once");
        let error = env.field(&id, "error").unwrap();
        assert_eq!(
            error,
            "handler exited with code 1\nbad\u{fffd}nul\u{fffd}\u{fffd} line\nsecond"
        );
        let mut logs = env.sql_column(&format!(
            "SELECT message FROM durably_logs WHERE run_id = {} ORDER BY message",
            lit(&id)
        ));
        logs.sort();
        assert_eq!(
            logs,
            ["bad\u{fffd}nul\u{fffd}\u{fffd} line", "log\u{fffd}x", "second"]
        );
        let step = env.sql_value(&format!(
            "SELECT output FROM durably_steps WHERE run_id = {} AND name = 's'",
            lit(&id)
        ));
        assert_eq!(step.as_deref(), Some("\"a\\u0000b\u{fffd}\""));
        let progress = env.field(&id, "progress").unwrap();
        assert_eq!(progress, "{\"current\":1,\"message\":\"p\u{fffd}\"}");
        // What `show` and `logs` print is the stored text.
        let shown = env.ok(&["show", &id, "--json"]).json();
        assert_eq!(shown["steps"][0]["output"], "a\u{0}b\u{fffd}");
    }
}

both! {
    fn nul_and_invalid_utf8_in_a_completing_handlers_stdout_are_stored_as_json() {
        let env = Env::init();
        env.handler("text", "printf 'x\\000y\\377z\\n'");
        env.handler("json", "printf '{\"a\":\"\\\\u0000\"}'");
        let text = env.enqueue_job("text", &[]);
        let json = env.enqueue_job("json", &[]);
        let h = env.handlers.to_str().unwrap().to_string();
        env.ok(&["work", "--until-idle", "--poll", "50ms", "--handlers", &h]);
        assert_eq!(env.status(&text), "completed");
        assert_eq!(
            env.field(&text, "output").as_deref(),
            Some("\"x\\u0000y\u{fffd}z\"")
        );
        assert_eq!(env.status(&json), "completed");
        assert_eq!(
            env.field(&json, "output").as_deref(),
            Some("{\"a\":\"\\u0000\"}")
        );
    }
}

both! {
    fn a_nul_in_a_field_a_user_gives_is_refused_naming_it_and_nothing_is_written() {
        let env = Env::init();
        let cases = [
            (r#"{"job":"a\u0000b"}"#, "job name"),
            (r#"{"job":"a","idempotencyKey":"k\u0000"}"#, "idempotency key"),
            (r#"{"job":"a","concurrencyKey":"\u0000"}"#, "concurrency key"),
            (r#"{"job":"a","labels":{"k":"v\u0000w"}}"#, "label \"k\""),
            (r#"{"job":"a","labels":{"k\u0000":"v"}}"#, "invalid label key"),
        ];
        for (spec, field) in cases {
            let out = env.run_stdin(&["enqueue", "-"], spec);
            assert_eq!(out.code, 1, "{spec}: {out:?}");
            assert_one_error_line(&out.stderr, field);
            let file = env.file("spec.json", spec);
            let out = env.run(&["enqueue", file.to_str().unwrap(), "--label", "x=y"]);
            assert_eq!(out.code, 1, "{spec}: {out:?}");
            assert_one_error_line(&out.stderr, field);
            let batch = format!("{{\"job\":\"fine\"}}\n{spec}\n");
            let out = env.run_stdin(&["enqueue-many"], batch);
            assert_eq!(out.code, 1, "{spec}: {out:?}");
            assert_one_error_line(&out.stderr, field);
            assert!(out.stderr.contains("line 2"), "{out:?}");
        }
        // The same fields as flags on top of a spec: the spec's NUL is still refused.
        let out = env.run_stdin(&["enqueue", "-", "--job", "ok"], r#"{"idempotencyKey":"\u0000"}"#);
        assert_eq!(out.code, 1, "{out:?}");
        assert_one_error_line(&out.stderr, "idempotency key");
        assert_eq!(env.count("SELECT count(*) FROM durably_runs"), 0);
        assert_eq!(env.count("SELECT count(*) FROM durably_run_labels"), 0);
        // Escaped NULs inside the input's JSON text are kept verbatim.
        let id = env
            .run_stdin(&["enqueue", "-"], r#"{"job":"a","input":"x\u0000y"}"#)
            .ok()
            .line()
            .to_string();
        assert_eq!(env.field(&id, "input").as_deref(), Some(r#""x\u0000y""#));
        // A label filter is plain data: nothing matches, nothing fails.
        env.ok(&["ls", "--label", "k=v", "--json"]);
    }
}
