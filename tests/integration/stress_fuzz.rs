//! Property-based fuzzing (proptest) of the parsers that take user input: the run spec
//! (`model::RunSpec::parse`), labels (`model::parse_label`), durations, and the NDJSON / JSON
//! array reader of `enqueue-many` through the real binary. None may panic; errors are one line;
//! the batch reader is all or nothing and names the first bad line.
//!
//! Cases: 256 per in-process property and 24 binary batches by default; `DURABLY_STRESS=heavy`
//! runs 20,000 and 400; `PROPTEST_CASES=N` sets both.

use crate::harness::*;
use durably::model::{parse_label, RunSpec, SpecOverrides, MAX_LABEL_VALUE_BYTES};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::Value;
use std::collections::HashSet;

fn cases(light: u32, heavy: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(crate::harness::scale(light as u64, heavy as u64) as u32)
}

fn config(light: u32, heavy: u32) -> Config {
    Config {
        cases: cases(light, heavy),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// A one-line, non-empty error message.
fn assert_one_line(e: &anyhow::Error) {
    let msg = format!("{e:#}");
    assert!(!msg.trim().is_empty(), "empty error");
    assert!(
        !msg.contains('\n') && !msg.contains('\r'),
        "multi-line error: {msg:?}"
    );
}

/// Text that looks a bit like JSON: brackets, quotes, escapes, field names, control and
/// non-ASCII characters.
fn jsonish() -> impl Strategy<Value = String> {
    let atoms = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(":".to_string()),
        Just(",".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("\\u0000".to_string()),
        Just("\\ud800".to_string()),
        Just("\"job\"".to_string()),
        Just("\"input\"".to_string()),
        Just("\"labels\"".to_string()),
        Just("\"coalesce\"".to_string()),
        Just("\"skip\"".to_string()),
        Just("\"idempotencyKey\"".to_string()),
        Just("\"concurrencyKey\"".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("-0.5e999".to_string()),
        Just("123456789012345678901234567890".to_string()),
        Just(" ".to_string()),
        Just("\n".to_string()),
        any::<char>().prop_map(|c| c.to_string()),
        "[a-z=./ -]{0,6}",
    ];
    proptest::collection::vec(atoms, 0..40).prop_map(|v| v.concat())
}

/// A JSON value of a random type, as text (sometimes deep).
fn any_json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("1e400".to_string()),
        Just("123456789012345678901234567890".to_string()),
        ".{0,8}".prop_map(|s| Value::String(s).to_string()),
    ];
    let tree = leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(" , "))),
            proptest::collection::vec(("[a-z]{0,3}", inner), 0..4).prop_map(|v| {
                let body: Vec<String> = v
                    .into_iter()
                    .map(|(k, x)| format!("{}:{x}", Value::String(k)))
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    });
    prop_oneof![
        8 => tree,
        1 => (120usize..140).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
    ]
}

/// Nesting depth of arrays and objects of valid JSON text.
fn depth(text: &str) -> usize {
    fn walk(v: &Value) -> usize {
        match v {
            Value::Array(a) => 1 + a.iter().map(walk).max().unwrap_or(0),
            Value::Object(o) => 1 + o.values().map(walk).max().unwrap_or(0),
            _ => 0,
        }
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) => walk(&v),
        Err(_) => usize::MAX, // only the deep generated values fail to parse
    }
}

/// One field of a generated spec: (name, JSON text of the value).
fn field() -> impl Strategy<Value = (String, String)> {
    let s = ".{0,6}".prop_map(|s| Value::String(s).to_string());
    prop_oneof![
        (
            Just("job"),
            prop_oneof![
                s.clone(),
                Just("\"\"".into()),
                Just("\"  \"".into()),
                any_json()
            ]
        ),
        (Just("input"), any_json()),
        (Just("labels"), prop_oneof![labels_json(), any_json()]),
        (Just("idempotencyKey"), prop_oneof![s.clone(), any_json()]),
        (Just("concurrencyKey"), prop_oneof![s.clone(), any_json()]),
        (
            Just("coalesce"),
            prop_oneof![Just("\"skip\"".to_string()), s.clone(), any_json()]
        ),
        (
            prop_oneof![Just("jobName"), Just("Job"), Just("extra")],
            any_json()
        ),
    ]
    .prop_map(|(k, v)| (k.to_string(), v))
}

/// A labels object with keys from a pool of valid and invalid ones.
fn labels_json() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        "[A-Za-z0-9._/-]{1,8}",
        Just("bad key".to_string()),
        Just("k'; DROP TABLE x".to_string()),
        Just(String::new()),
        Just("k".repeat(257)),
    ];
    let value = prop_oneof![
        8 => ".{0,8}".prop_map(|s| Value::String(s).to_string()),
        1 => Just(Value::String("v".repeat(MAX_LABEL_VALUE_BYTES + 1)).to_string()),
        1 => any_json(),
    ];
    proptest::collection::vec((key, value), 0..4).prop_map(|v| {
        let body: Vec<String> = v
            .into_iter()
            .map(|(k, x)| format!("{}:{x}", Value::String(k)))
            .collect();
        format!("{{{}}}", body.join(","))
    })
}

/// What `RunSpec::parse` must decide for a generated object (fields in order, last wins).
fn expected_parse(fields: &[(String, String)]) -> Result<(String, String), ()> {
    let mut seen = HashSet::new();
    let mut job = None;
    let mut input = None;
    let mut concurrency = false;
    let mut coalesce = false;
    for (k, v) in fields {
        if !seen.insert(k.clone()) {
            return Err(()); // serde refuses duplicate fields
        }
        let value: Option<Value> = serde_json::from_str(v).ok();
        match k.as_str() {
            "job" => match value {
                Some(Value::String(s)) => job = Some(s),
                Some(Value::Null) => {}
                _ => return Err(()),
            },
            "input" => {
                if depth(v) > 127 {
                    return Err(());
                }
                // An explicit `null` is an input like any other (only a missing one is `{}`).
                input = Some(v.clone());
            }
            "labels" => match value {
                Some(Value::Object(m)) => {
                    if m.values().any(|x| !x.is_string()) {
                        return Err(());
                    }
                }
                Some(Value::Null) => {}
                _ => return Err(()),
            },
            // A NUL cannot be stored on PostgreSQL: refused in every user-given key.
            "idempotencyKey" => match value {
                Some(Value::String(s)) if s.contains('\0') => return Err(()),
                Some(Value::String(_)) | Some(Value::Null) => {}
                _ => return Err(()),
            },
            "concurrencyKey" => match value {
                Some(Value::String(s)) if s.contains('\0') => return Err(()),
                Some(Value::String(_)) => concurrency = true,
                Some(Value::Null) => {}
                _ => return Err(()),
            },
            "coalesce" => match value {
                Some(Value::String(s)) if s == "skip" => coalesce = true,
                Some(Value::Null) => {}
                _ => return Err(()),
            },
            _ => return Err(()),
        }
    }
    let job = job.unwrap_or_default();
    if job.trim().is_empty() || job.contains('\0') || (coalesce && !concurrency) {
        return Err(());
    }
    Ok((job, input.unwrap_or_else(|| "{}".to_string())))
}

fn spec_text(fields: &[(String, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {v}", Value::String(k.clone())))
        .collect();
    format!("{{{}}}", body.join(", "))
}

proptest! {
    #![proptest_config(config(256, 20_000))]

    #[test]
    fn spec_parser_never_panics_on_any_text(text in prop_oneof![jsonish(), ".{0,64}"]) {
        if let Err(e) = RunSpec::parse(&text, &SpecOverrides::default()) {
            assert_one_line(&e);
        }
    }

    #[test]
    fn spec_parser_decides_like_the_spec_says(fields in proptest::collection::vec(field(), 0..6)) {
        let text = spec_text(&fields);
        let got = RunSpec::parse(&text, &SpecOverrides::default());
        match (expected_parse(&fields), got) {
            (Ok((job, input)), Ok(spec)) => {
                prop_assert_eq!(spec.job, job);
                prop_assert_eq!(spec.input, input, "input must be the exact text given");
            }
            (Err(()), Err(e)) => assert_one_line(&e),
            (want, got) => prop_assert!(false, "{text}: expected {want:?}, got {got:?}"),
        }
    }

    #[test]
    fn label_parser_accepts_exactly_the_key_pattern(text in prop_oneof![
        ".{0,20}",
        "[a-z]{1,3}=[a-z\\x00]{0,4}",
        "[A-Za-z0-9._/=-]{0,12}",
        "[A-Za-z0-9._/-]{250,260}=v",
        "[a-z]{1,3}=.{4090,4100}",
    ]) {
        let got = parse_label(&text);
        let want = text.split_once('=').filter(|(k, v)| {
            !k.is_empty()
                && k.len() <= 256
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
                && v.len() <= MAX_LABEL_VALUE_BYTES
                && !v.contains('\0')
        });
        match (want, got) {
            (Some((k, v)), Ok((gk, gv))) => {
                prop_assert_eq!(k, gk);
                prop_assert_eq!(v, gv);
            }
            (None, Err(e)) => assert_one_line(&e),
            (want, got) => prop_assert!(false, "{text:?}: expected {want:?}, got {got:?}"),
        }
    }

    #[test]
    fn durations_never_panic(text in prop_oneof![".{0,16}", "[0-9]{1,25}(ns|us|ms|s|m|h|d|w|y)?", "[0-9]{1,6}[a-z ]{0,6}[0-9]{0,4}"]) {
        if let Err(e) = durably::time::parse_duration(&text) {
            assert_one_line(&e);
        }
    }

    #[test]
    fn timestamps_never_panic(text in prop_oneof![".{0,30}", "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\..{0,5}Z?"]) {
        if let Some(ms) = durably::time::parse_ms(&text) {
            let _ = durably::time::format_ms(ms);
        }
    }
}

/// One line of a generated batch and what the binary must do with it.
#[derive(Debug, Clone)]
enum Line {
    Blank(String),
    Spec {
        text: String,
        job: String,
        key: Option<String>,
        bad_label: bool,
    },
    Bad(String),
}

fn batch_line() -> impl Strategy<Value = Line> {
    let job = prop_oneof![Just("a"), Just("b"), Just("x y"), Just("ü")];
    let key = proptest::option::of(prop_oneof![Just("k1"), Just("k2"), Just("k3")]);
    let label = prop_oneof![
        9 => Just(("tenant", false)),
        1 => Just(("bad key", true)),
    ];
    let spec = (job, key, label, any_json()).prop_map(|(job, key, (lk, bad), input)| {
        let input = if depth(&input) > 127 {
            "{}".to_string()
        } else {
            input
        };
        let mut v = serde_json::json!({"job": job, "labels": {lk: "v"}});
        if let Some(k) = key {
            v["idempotencyKey"] = k.into();
        }
        let text = format!(
            "{{\"job\":{},\"input\":{input},\"labels\":{}{}}}",
            v["job"],
            v["labels"],
            key.map(|k| format!(",\"idempotencyKey\":\"{k}\""))
                .unwrap_or_default()
        );
        Line::Spec {
            text,
            job: job.to_string(),
            key: key.map(str::to_string),
            bad_label: bad,
        }
    });
    let bad = prop_oneof![
        jsonish().prop_filter("not blank and not a spec", |t| {
            !t.trim().is_empty() && RunSpec::parse(t, &SpecOverrides::default()).is_err()
        }),
        Just("{\"job\":\"a\",\"unknown\":1}".to_string()),
        Just("[1,2]".to_string()),
        Just("{\"job\":\"\"}".to_string()),
        Just("{\"job\":\"a\"".to_string()),
    ]
    .prop_map(|t| Line::Bad(t.replace('\n', " ")));
    prop_oneof![
        1 => prop_oneof![Just(""), Just("   "), Just("\t")].prop_map(|s| Line::Blank(s.to_string())),
        12 => spec,
        1 => bad,
    ]
}

/// The first line number (1-based) the binary must refuse, and the runs it must create.
fn expected_batch(lines: &[Line]) -> (Option<usize>, usize) {
    let mut keys = HashSet::new();
    let mut created = 0;
    for (i, l) in lines.iter().enumerate() {
        match l {
            Line::Blank(_) => {}
            Line::Bad(_) => return (Some(i + 1), 0),
            Line::Spec {
                job,
                key,
                bad_label,
                ..
            } => {
                // The idempotency key is checked before the labels: a duplicate is fine.
                if let Some(k) = key {
                    if keys.contains(&(job.clone(), k.clone())) {
                        continue;
                    }
                }
                if *bad_label {
                    return (Some(i + 1), 0);
                }
                if let Some(k) = key {
                    keys.insert((job.clone(), k.clone()));
                }
                created += 1;
            }
        }
    }
    (None, created)
}

fn line_text(l: &Line) -> &str {
    match l {
        Line::Blank(t) | Line::Bad(t) => t,
        Line::Spec { text, .. } => text,
    }
}

proptest! {
    #![proptest_config(config(24, 400))]

    #[test]
    fn batch_reader_is_all_or_nothing_and_names_the_first_bad_line(
        lines in proptest::collection::vec(batch_line(), 1..12),
        as_array in any::<bool>(),
    ) {
        // A batch whose first non-blank byte is `[` is read as one JSON array, by design.
        let first = lines.iter().map(line_text).find(|t| !t.trim().is_empty());
        prop_assume!(as_array || !first.is_some_and(|t| t.trim_start().starts_with('[')));
        let env = Env::init();
        let (first_bad, created) = expected_batch(&lines);
        let input = if as_array {
            let items: Vec<&str> = lines
                .iter()
                .filter(|l| !matches!(l, Line::Blank(_)))
                .map(line_text)
                .collect();
            format!("[\n{}\n]", items.join(",\n"))
        } else {
            lines.iter().map(|l| format!("{}\n", line_text(l))).collect()
        };
        let out = env.run_stdin(&["enqueue-many", "--json"], &input);
        crate::harness::assert_no_busy_or_panic("enqueue-many", &out.stderr);
        let runs = env.counts()["durably_runs"] as usize;
        match first_bad {
            None => {
                prop_assert_eq!(out.code, 0, "{:#?}\n{}", out, input);
                prop_assert_eq!(runs, created);
                let spec_lines = lines.iter().filter(|l| matches!(l, Line::Spec { .. })).count();
                prop_assert_eq!(out.stdout.lines().count(), spec_lines);
            }
            Some(n) => {
                prop_assert_eq!(out.code, 1, "{:#?}\n{}", out, input);
                assert_one_error_line(&out.stderr, "nothing was enqueued");
                if !as_array {
                    prop_assert!(
                        out.stderr.contains(&format!("line {n}:")),
                        "expected line {}: {}\n{}", n, out.stderr, input
                    );
                }
                prop_assert_eq!(out.stdout.as_str(), "");
                prop_assert_eq!(runs, 0, "a refused batch wrote runs");
            }
        }
    }
}
