//! `durably enqueue` and `durably enqueue-many`: specs from files, stdin and flags, exact input
//! text, idempotency, concurrency keys, coalescing, labels, batches and chunks. Every test runs
//! on both backends.

use crate::harness::*;
use serde_json::{json, Value};

/// The run fields of SEMANTICS.md ("Compatibility", JSON shapes), in any order.
const RUN_FIELDS: [&str; 19] = [
    "id",
    "jobName",
    "status",
    "input",
    "labels",
    "output",
    "error",
    "progress",
    "idempotencyKey",
    "concurrencyKey",
    "currentStepIndex",
    "completedStepCount",
    "leaseOwner",
    "leaseExpiresAt",
    "leaseGeneration",
    "startedAt",
    "completedAt",
    "createdAt",
    "updatedAt",
];

fn column(env: &Env, id: &str, col: &str) -> Option<String> {
    env.field(id, col)
}

fn label_rows(env: &Env, id: &str) -> Vec<(String, String)> {
    env.sql_rows(&format!(
        "SELECT key, value FROM durably_run_labels WHERE run_id = {} ORDER BY key",
        lit(id)
    ))
    .into_iter()
    .map(|r| {
        (
            r[0].clone().unwrap_or_default(),
            r[1].clone().unwrap_or_default(),
        )
    })
    .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

both! {
    fn flags_only_creates_a_pending_run() {
        let env = Env::new();
        let id = env.enqueue(&["--job", "email", "--label", "tenant=a"]);
        assert_eq!(id.len(), 36, "a UUID: {id}");
        assert_eq!(&id[14..15], "7", "UUIDv7: {id}");
        let run = env.run(&["show", &id, "--json"]).ok().json();
        assert_eq!(run["jobName"], "email");
        assert_eq!(run["status"], "pending");
        assert_eq!(run["input"], json!({}));
        assert_eq!(run["labels"], json!({"tenant": "a"}));
        assert_eq!(column(&env, &id, "input").as_deref(), Some("{}"));
        let created = column(&env, &id, "created_at").unwrap();
        assert_eq!(created.len(), 24);
        assert!(created.ends_with('Z'));
        assert_eq!(column(&env, &id, "updated_at").unwrap(), created);
    }
}

both! {
    fn neither_file_nor_job_is_a_usage_error() {
        let env = Env::new();
        env.run(&["enqueue"]).fails(2, "--job");
        assert!(!env.created(), "nothing created on a usage error");
    }
}

both! {
    fn spec_from_a_file_keeps_input_text_exactly() {
        let env = Env::new();
        let input = r#"{ "z": 1, "a": 12345678901234567890123, "f": 1.50, "s": "é\u00e9" }"#;
        let spec = format!(
            r#"{{"job":"import","input":{input},"labels":{{"tenant":"acme","region":"eu"}},"idempotencyKey":"k1","concurrencyKey":"c1"}}"#
        );
        let file = env.file("spec.json", &spec);
        let out = env.run(&["enqueue", file.to_str().unwrap(), "--json"]);
        let run = out.ok().json();
        let id = run["id"].as_str().unwrap().to_string();
        assert_eq!(column(&env, &id, "input").as_deref(), Some(input));
        assert_eq!(column(&env, &id, "idempotency_key").as_deref(), Some("k1"));
        assert_eq!(column(&env, &id, "concurrency_key").as_deref(), Some("c1"));
        // Labels in the JSON column (in the given order) and in durably_run_labels.
        assert_eq!(
            column(&env, &id, "labels").as_deref(),
            Some(r#"{"tenant":"acme","region":"eu"}"#)
        );
        assert_eq!(
            label_rows(&env, &id),
            pairs(&[("region", "eu"), ("tenant", "acme")])
        );
        // --json: exactly the run fields plus disposition.
        let mut keys: Vec<&str> = run
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort();
        let mut expected: Vec<&str> = RUN_FIELDS.to_vec();
        expected.push("disposition");
        expected.sort();
        assert_eq!(keys, expected);
        assert_eq!(run["disposition"], "created");
        assert_eq!(run["idempotencyKey"], "k1");
        assert_eq!(run["leaseGeneration"], 0);
        // The big integer survives in the JSON output too.
        assert!(
            out.stdout.contains("12345678901234567890123"),
            "{}",
            out.stdout
        );
    }
}

both! {
    fn input_flag_is_stored_exactly() {
        let env = Env::new();
        let input = r#"[3, {"b":2,"a":1}, 99999999999999999999]"#;
        let id = env.enqueue(&["--job", "j", "--input", input]);
        assert_eq!(column(&env, &id, "input").as_deref(), Some(input));
        let id = env.enqueue(&["--job", "j", "--input", r#""just a string""#]);
        assert_eq!(
            column(&env, &id, "input").as_deref(),
            Some(r#""just a string""#)
        );
    }
}

both! {
    fn spec_from_stdin() {
        let env = Env::new();
        let out = env.run_stdin(
            &["enqueue", "-"],
            r#"{"job":"from-stdin","input":{"n":1},"labels":{"a":"1"}}"#,
        );
        let id = out.ok().line().to_string();
        assert_eq!(column(&env, &id, "job_name").as_deref(), Some("from-stdin"));
        assert_eq!(column(&env, &id, "input").as_deref(), Some(r#"{"n":1}"#));
        assert_eq!(label_rows(&env, &id), pairs(&[("a", "1")]));
    }
}

both! {
    fn flags_override_the_spec_and_labels_merge() {
        let env = Env::new();
        let file = env.file(
            "spec.json",
            r#"{"job":"old","input":{"x":1},"labels":{"a":"spec","b":"spec"},"idempotencyKey":"spec-key","concurrencyKey":"spec-c"}"#,
        );
        let out = env.run(&[
            "enqueue",
            file.to_str().unwrap(),
            "--job",
            "new",
            "--input",
            r#"{"y":2}"#,
            "--label",
            "b=flag",
            "--label",
            "c=flag=with=equals",
            "--idempotency-key",
            "flag-key",
            "--concurrency-key",
            "flag-c",
            "--json",
        ]);
        let run = out.ok().json();
        assert_eq!(run["jobName"], "new");
        assert_eq!(run["input"], json!({"y": 2}));
        assert_eq!(
            run["labels"],
            json!({"a": "spec", "b": "flag", "c": "flag=with=equals"})
        );
        assert_eq!(run["idempotencyKey"], "flag-key");
        assert_eq!(run["concurrencyKey"], "flag-c");
        let id = run["id"].as_str().unwrap();
        assert_eq!(
            label_rows(&env, id),
            pairs(&[("a", "spec"), ("b", "flag"), ("c", "flag=with=equals")])
        );
        // The spec's job is used when no flag overrides it.
        let file = env.file("spec2.json", r#"{"job":"from-file"}"#);
        let id = env.enqueue(&[file.to_str().unwrap(), "--label", "x=1"]);
        assert_eq!(column(&env, &id, "job_name").as_deref(), Some("from-file"));
    }
}

both! {
    fn idempotency_key_returns_the_existing_run_whatever_its_status() {
        let env = Env::new();
        let first = env.run(&["enqueue", "--job", "j", "--idempotency-key", "k", "--json"]);
        let first = first.ok().json();
        let id = first["id"].as_str().unwrap().to_string();
        for status in ["pending", "leased", "completed", "failed", "cancelled"] {
            env.set_status(&id, status, None);
            let counts = env.counts();
            let again = env
                .run(&[
                    "enqueue",
                    "--job",
                    "j",
                    "--idempotency-key",
                    "k",
                    "--input",
                    r#"{"different":true}"#,
                    "--json",
                ])
                .ok()
                .json();
            assert_eq!(again["id"], id.as_str(), "{status}");
            assert_eq!(again["disposition"], "idempotent");
            assert_eq!(again["status"], status, "returned unchanged");
            assert_eq!(again["input"], json!({}), "the existing run's input");
            assert_eq!(env.counts(), counts, "nothing written");
            // Plain output: the id.
            let plain = env.run(&["enqueue", "--job", "j", "--idempotency-key", "k"]);
            assert_eq!(plain.ok().line(), id);
        }
        // Per job: the same key for another job is a new run.
        let other = env.enqueue(&["--job", "other", "--idempotency-key", "k"]);
        assert_ne!(other, id);
    }
}

both! {
    fn idempotency_is_checked_before_label_validation_and_concurrency() {
        let env = Env::new();
        let id = env.enqueue(&[
            "--job",
            "j",
            "--idempotency-key",
            "k",
            "--concurrency-key",
            "c",
        ]);
        let counts = env.counts();
        // A bad label key in the spec: no error, the existing run.
        let file = env.file(
            "bad-label.json",
            r#"{"job":"j","idempotencyKey":"k","labels":{"bad key!":"x"}}"#,
        );
        let out = env.run(&["enqueue", file.to_str().unwrap(), "--json"]);
        let run = out.ok().json();
        assert_eq!(run["id"], id.as_str());
        assert_eq!(run["disposition"], "idempotent");
        // The same concurrency key while the first run is pending: idempotent, not a conflict.
        let out = env.run(&[
            "enqueue",
            "--job",
            "j",
            "--idempotency-key",
            "k",
            "--concurrency-key",
            "c",
            "--json",
        ]);
        assert_eq!(out.ok().json()["disposition"], "idempotent");
        assert_eq!(env.counts(), counts);
        // Without the idempotency key, the bad label is an error.
        let file = env.file(
            "bad-label2.json",
            r#"{"job":"j","labels":{"bad key!":"x"}}"#,
        );
        env.run(&["enqueue", file.to_str().unwrap()])
            .fails(1, "bad key!");
        assert_eq!(env.counts(), counts);
    }
}

both! {
    fn concurrency_key_conflict_and_coalesce() {
        let env = Env::new();
        let first = env.enqueue(&["--job", "j", "--concurrency-key", "c"]);
        let counts = env.counts();
        let out = env.run(&["enqueue", "--job", "j", "--concurrency-key", "c"]);
        out.fails(4, "concurrency key");
        assert!(
            out.stderr.contains(&first),
            "names the pending run: {out:?}"
        );
        assert_eq!(env.counts(), counts);

        let out = env.run(&[
            "enqueue",
            "--job",
            "j",
            "--concurrency-key",
            "c",
            "--coalesce",
            "--json",
        ]);
        let run = out.ok().json();
        assert_eq!(run["id"], first.as_str());
        assert_eq!(run["disposition"], "coalesced");
        assert_eq!(env.counts(), counts);
        let plain = env.run(&[
            "enqueue",
            "--job",
            "j",
            "--concurrency-key",
            "c",
            "--coalesce",
        ]);
        assert_eq!(plain.ok().line(), first);

        // "coalesce": "skip" in a spec file does the same.
        let file = env.file(
            "spec.json",
            r#"{"job":"j","concurrencyKey":"c","coalesce":"skip"}"#,
        );
        assert_eq!(env.enqueue(&[file.to_str().unwrap()]), first);

        // Per job: another job with the same key is fine.
        env.enqueue(&["--job", "other", "--concurrency-key", "c"]);
        // Only pending runs count: once the first is leased, a new pending run may be enqueued.
        env.set_status(&first, "leased", None);
        let second = env.enqueue(&["--job", "j", "--concurrency-key", "c"]);
        assert_ne!(second, first);
    }
}

both! {
    fn coalesce_without_a_key_is_a_usage_error() {
        let env = Env::init();
        let counts = env.counts();
        env.run(&["enqueue", "--job", "j", "--coalesce"])
            .fails(2, "--concurrency-key");
        let file = env.file("spec.json", r#"{"job":"j","coalesce":"skip"}"#);
        env.run(&["enqueue", file.to_str().unwrap()])
            .fails(2, "concurrency key");
        let file = env.file("spec2.json", r#"{"job":"j"}"#);
        env.run(&["enqueue", file.to_str().unwrap(), "--coalesce"])
            .fails(2, "concurrency key");
        assert_eq!(env.counts(), counts);
    }
}

both! {
    fn coalesce_flag_with_the_key_from_the_spec_file() {
        let env = Env::new();
        let file = env.file("spec.json", r#"{"job":"j","concurrencyKey":"c"}"#);
        let first = env.enqueue(&[file.to_str().unwrap()]);
        let out = env.run(&["enqueue", file.to_str().unwrap(), "--coalesce", "--json"]);
        let run = out.ok().json();
        assert_eq!(run["id"], first.as_str());
        assert_eq!(run["disposition"], "coalesced");
    }
}

both! {
    fn explicit_null_input_is_stored_as_null() {
        let env = Env::new();
        let out = env.run_stdin(&["enqueue", "-"], r#"{"job":"j","input":null}"#);
        let id = out.ok().line().to_string();
        assert_eq!(column(&env, &id, "input").as_deref(), Some("null"));
        let id = env.enqueue(&["--job", "j", "--input", "null"]);
        assert_eq!(column(&env, &id, "input").as_deref(), Some("null"));
        // Absent input is {}.
        let out = env.run_stdin(&["enqueue", "-"], r#"{"job":"j"}"#);
        let id = out.ok().line().to_string();
        assert_eq!(column(&env, &id, "input").as_deref(), Some("{}"));
    }
}

// ---- enqueue-many ----

fn many(env: &Env, args: &[&str], input: &str) -> Out {
    let mut all = vec!["enqueue-many"];
    all.extend_from_slice(args);
    env.run_stdin(&all, input)
}

/// (id, disposition) per output line.
fn results(out: &Out) -> Vec<(String, String)> {
    out.stdout
        .lines()
        .map(|l| {
            let (id, d) = l.split_once('\t').expect("id<TAB>disposition");
            (id.to_string(), d.to_string())
        })
        .collect()
}

both! {
    fn ndjson_with_blank_lines() {
        let env = Env::new();
        let input = "{\"job\":\"a\",\"labels\":{\"t\":\"1\"}}\n\n   \n{\"job\":\"b\",\"input\":{\"z\":1,\"a\":2}}\r\n{\"job\":\"c\"}";
        let out = many(&env, &[], input);
        let r = results(out.ok());
        assert_eq!(r.len(), 3, "{out:?}");
        assert!(r.iter().all(|(_, d)| d == "created"));
        assert_eq!(column(&env, &r[0].0, "job_name").as_deref(), Some("a"));
        assert_eq!(
            column(&env, &r[1].0, "input").as_deref(),
            Some(r#"{"z":1,"a":2}"#)
        );
        assert_eq!(column(&env, &r[2].0, "job_name").as_deref(), Some("c"));
        assert_eq!(label_rows(&env, &r[0].0), pairs(&[("t", "1")]));
        assert_eq!(env.counts()["durably_runs"], 3);
        assert_eq!(env.counts()["durably_run_labels"], 1);
        // Created in input order: ls (newest first) shows them reversed.
        let ls = env.run(&["ls", "--format", "ids"]);
        let listed = ids(ls.ok());
        assert_eq!(listed, vec![r[2].0.clone(), r[1].0.clone(), r[0].0.clone()]);
    }
}

both! {
    fn json_array_from_a_file() {
        let env = Env::new();
        let file = env.file(
            "runs.json",
            "[\n {\"job\":\"a\",\"input\":[1,2]},\n {\"job\":\"b\",\"labels\":{\"k\":\"v\"}}\n]\n",
        );
        let out = env.run(&["enqueue-many", file.to_str().unwrap()]);
        let r = results(out.ok());
        assert_eq!(r.len(), 2);
        assert_eq!(column(&env, &r[0].0, "input").as_deref(), Some("[1,2]"));
        assert_eq!(label_rows(&env, &r[1].0), pairs(&[("k", "v")]));
        // An empty array and empty input enqueue nothing, successfully.
        many(&env, &[], "[]").ok();
        many(&env, &[], "").ok();
        many(&env, &[], "\n\n").ok();
        assert_eq!(env.counts()["durably_runs"], 2);
    }
}

both! {
    fn flags_apply_to_every_line() {
        let env = Env::new();
        let out = many(
            &env,
            &["--job", "forced", "--label", "batch=7"],
            "{\"job\":\"x\",\"labels\":{\"batch\":\"1\",\"a\":\"b\"}}\n{\"input\":3}\n",
        );
        let r = results(out.ok());
        for (id, _) in &r {
            assert_eq!(column(&env, id, "job_name").as_deref(), Some("forced"));
        }
        assert_eq!(
            label_rows(&env, &r[0].0),
            pairs(&[("a", "b"), ("batch", "7")])
        );
        assert_eq!(label_rows(&env, &r[1].0), pairs(&[("batch", "7")]));
    }
}

both! {
    fn json_output_per_line() {
        let env = Env::new();
        let out = many(&env, &["--json"], "{\"job\":\"a\"}\n\n{\"job\":\"b\"}\n");
        let lines: Vec<Value> = out
            .ok()
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["line"], 1);
        assert_eq!(lines[1]["line"], 3);
        assert_eq!(lines[1]["jobName"], "b");
        assert_eq!(lines[1]["disposition"], "created");
    }
}

both! {
    fn duplicates_inside_a_batch_behave_as_if_enqueued_one_by_one() {
        let env = Env::new();
        let input = [
            r#"{"job":"j","idempotencyKey":"k"}"#,
            r#"{"job":"j","idempotencyKey":"k","input":{"ignored":true}}"#,
            r#"{"job":"j","concurrencyKey":"c"}"#,
            r#"{"job":"j","concurrencyKey":"c","coalesce":"skip"}"#,
            r#"{"job":"other","concurrencyKey":"c"}"#,
        ]
        .join("\n");
        let out = many(&env, &[], &input);
        let r = results(out.ok());
        let d: Vec<&str> = r.iter().map(|(_, d)| d.as_str()).collect();
        assert_eq!(
            d,
            ["created", "idempotent", "created", "coalesced", "created"]
        );
        assert_eq!(r[0].0, r[1].0);
        assert_eq!(r[2].0, r[3].0);
        assert_eq!(env.counts()["durably_runs"], 3);
        // Against runs already in the database, too.
        let out = many(&env, &[], r#"{"job":"j","idempotencyKey":"k"}"#);
        assert_eq!(
            results(out.ok()),
            vec![(r[0].0.clone(), "idempotent".into())]
        );
    }
}

both! {
    fn a_conflict_rolls_back_the_whole_batch() {
        let env = Env::new();
        env.enqueue(&["--job", "seed", "--label", "a=b"]);
        let counts = env.counts();
        let input = [
            r#"{"job":"j","labels":{"x":"1"}}"#,
            r#"{"job":"j","concurrencyKey":"c"}"#,
            "",
            r#"{"job":"j","concurrencyKey":"c"}"#,
            r#"{"job":"j"}"#,
        ]
        .join("\n");
        let out = many(&env, &[], &input);
        out.fails(4, "line 4");
        assert!(out.stderr.contains("nothing was enqueued"), "{out:?}");
        assert_eq!(env.counts(), counts, "rolled back");
    }
}

both! {
    fn a_bad_line_rolls_back_the_whole_batch_with_its_line_number() {
        let env = Env::new();
        env.enqueue(&["--job", "seed"]);
        let counts = env.counts();
        let cases: [(&str, &str); 4] = [
            ("{\"job\":\"a\"}\n{\"job\":\"b\"}\n{\"job\":\n", "line 3"),
            ("{\"job\":\"a\"}\n\n{\"job\":\"b\",\"nope\":1}\n", "line 3"),
            (
                "{\"job\":\"a\"}\n{\"job\":\"b\",\"labels\":{\"k y\":\"v\"}}\n",
                "line 2",
            ),
            (
                "[\n{\"job\":\"a\"},\n{\"job\":\"b\"},\n{\"job\":\"\"}\n]",
                "line 4 (item 2)",
            ),
        ];
        for (input, needle) in cases {
            let out = many(&env, &[], input);
            out.fails(1, needle);
            assert_eq!(env.counts(), counts, "{input:?}");
        }
    }
}

both! {
    fn chunks_commit_separately() {
        let env = Env::new();
        let mut input: Vec<String> = (0..5).map(|i| format!(r#"{{"job":"j{i}"}}"#)).collect();
        // Each chunk is all or nothing: a whole chunk of 2 commits before the bad 6th line.
        input.push("not json".into());
        let out = many(&env, &["--chunk", "2"], &input.join("\n"));
        assert_eq!(out.code, 1, "{out:?}");
        assert_one_error_line(&out.stderr, "line 6");
        assert!(out.stderr.contains("committed"), "{out:?}");
        // Lines 1-4 (two chunks) committed and reported; line 5's chunk rolled back.
        assert_eq!(results(&out).len(), 4, "{out:?}");
        assert_eq!(env.counts()["durably_runs"], 4);
        // Without a bad line, every run is committed.
        let env = Env::new();
        let out = many(&env, &["--chunk", "2"], &input[..5].join("\n"));
        assert_eq!(results(out.ok()).len(), 5);
        assert_eq!(env.counts()["durably_runs"], 5);
        // --chunk 0 is a usage error.
        many(&env, &["--chunk", "0"], "{\"job\":\"a\"}").code(2);
    }
}

both! {
    fn results_are_printed_only_after_the_commit() {
        // A failing batch prints no per-line results, even for the lines before the failure.
        let env = Env::new();
        let out = many(&env, &[], "{\"job\":\"a\"}\n{\"job\":\"b\"}\n{oops\n");
        assert_eq!(out.code, 1);
        assert_eq!(out.stdout, "");
    }
}

both! {
    fn a_closed_stdout_does_not_stop_a_chunked_import() {
        let env = Env::new();
        let lines: String = (0..6000)
            .map(|i| format!("{{\"job\":\"j{i}\"}}\n"))
            .collect();
        let file = env.file("runs.ndjson", &lines);
        let mut c = std::process::Command::new("bash");
        c.args([
            "-c",
            "set -o pipefail; \"$0\" --db \"$1\" enqueue-many --chunk 500 \"$2\" | head -1",
            BIN,
            &env.db_arg(),
            file.to_str().unwrap(),
        ])
        .env_remove("DURABLY_DB");
        let out = run_command(c, None);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(out.stderr, "");
        assert_eq!(out.stdout.lines().count(), 1);
        assert_eq!(env.counts()["durably_runs"], 6000);
    }
}

both! {
    fn the_first_bad_line_is_reported_even_when_a_later_one_does_not_parse() {
        // Label and concurrency-key errors are found in the database, malformed lines while
        // reading: the error named is the first in input order, as if enqueued one by one.
        let env = Env::new();
        env.enqueue(&["--job", "seed"]);
        let counts = env.counts();
        let cases: [(&[&str], &str, &str); 4] = [
            (
                &[],
                "{\"job\":\"a\"}\n{\"job\":\"b\",\"labels\":{\"k y\":\"v\"}}\n{oops\n",
                "line 2: invalid label key",
            ),
            (
                &[],
                "{\"job\":\"a\",\"concurrencyKey\":\"c\"}\n\n{\"job\":\"a\",\"concurrencyKey\":\"c\"}\n\u{1}\n",
                "line 3: a pending run",
            ),
            (
                &[],
                "[{\"job\":\"a\",\"labels\":{\"\":\"v\"}},\n{\"job\":\"b\"} oops",
                "line 1 (item 0)",
            ),
            (
                &["--chunk", "10"],
                "{\"job\":\"a\"}\n{\"job\":\"b\",\"labels\":{\"k y\":\"v\"}}\n{\"job\":\"c\",\"x\":1}\n",
                "line 2: invalid label key",
            ),
        ];
        for (args, input, needle) in cases {
            let out = many(&env, args, input);
            out.fails(if needle.contains("pending") { 4 } else { 1 }, needle);
            assert!(out.stderr.contains("nothing was enqueued"), "{out:?}");
            assert_eq!(env.counts(), counts, "{input:?}");
        }
        // A line that does not parse, with no earlier bad line, is the one named.
        many(&env, &[], "{\"job\":\"a\"}\n{\"job\":\"b\"}\n{oops\n").fails(1, "line 3");
        assert_eq!(env.counts(), counts);
    }
}

/// `enqueue-many`'s progress line on a 50-column terminal never wraps (each redraw fits the
/// width), and the summary formats numbers as the line does (`40,000`).
#[test]
fn enqueue_many_progress_fits_a_narrow_terminal() {
    let env = Env::init();
    // Over 4 MiB, so a progress bar is drawn: 40,000 runs with 100 bytes of input each.
    let pad = "x".repeat(100);
    let lines: String = (0..40_000)
        .map(|i| format!("{{\"job\":\"j\",\"input\":{{\"n\":{i},\"p\":\"{pad}\"}}}}\n"))
        .collect();
    let file = env.file("many.ndjson", lines);
    let mut script = std::process::Command::new("script");
    script
        .arg("-qec")
        .arg(format!(
            "stty cols 50 rows 20; '{BIN}' --db '{}' enqueue-many -q '{}'",
            env.db_arg(),
            file.display()
        ))
        .arg("/dev/null")
        .env_remove("DURABLY_DB")
        .env_remove("COLUMNS")
        .env("TERM", "xterm");
    let out = run_command(script, None);
    out.ok();
    let text = out.stdout.replace('\r', "\n");
    let mut visible_lines = 0;
    for line in text.lines() {
        // Cursor movements and erasures take no columns.
        let mut plain = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
                continue;
            }
            plain.push(c);
        }
        let plain = plain.trim_end();
        if plain.contains("MiB") {
            visible_lines += 1;
            assert!(
                plain.chars().count() <= 50,
                "{} columns: {plain:?}",
                plain.chars().count()
            );
        }
    }
    assert!(visible_lines > 0, "no progress line drawn: {text:?}");
    assert!(text.contains("durably: 40,000 runs from"), "{text:?}");
}
