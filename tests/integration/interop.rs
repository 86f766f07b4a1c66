//! Interoperability with the real @coji/durably 0.15.0: one SQLite file, written and
//! read by both runtimes, compared field by field.
//!
//! The library runs in node through `tests/interop/lib.mjs` (libSQL dialect, busy timeout,
//! `preserveSteps: true`, log persistence). Its npm packages are pinned in
//! `tests/interop/package-lock.json`; `.ci/run` installs them with `npm ci`, and the first test
//! here does the same when `tests/interop/node_modules` is missing. Node itself is required, so
//! every test is `#[ignore]`d for a plain `cargo test` (reported as ignored, never as passed).
//!
//! Run: `cargo test --test integration interop:: -- --include-ignored`.

use crate::harness::*;
use rusqlite::Connection;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A fresh env for the library and the CLI: node checked, packages installed, database
/// `shared.db` in the temp dir.
fn env() -> Env {
    setup();
    let mut env = Env::new();
    env.db = env.path("shared.db");
    env
}

fn cli_cmd(db: &Path) -> Command {
    let mut c = bare_command(db.parent().expect("db in a dir"));
    c.arg("--db").arg(db);
    c
}

fn cli_with_stdin(db: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = cli_cmd(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_no_busy("durably", &out);
    out
}

fn cli(db: &Path, args: &[&str]) -> Output {
    let out = cli_cmd(db)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_no_busy("durably", &out);
    out
}

/// Runs the CLI, expects exit 0, returns stdout.
fn cli_ok(db: &Path, args: &[&str]) -> String {
    let out = cli(db, args);
    assert!(
        out.status.success(),
        "durably {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn cli_json(db: &Path, args: &[&str]) -> Value {
    let text = cli_ok(db, args);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("durably {args:?}: not JSON ({e}): {text}"))
}

fn exit_code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Library reads, all in one node process; returns one result per query.
fn lib_read(db: &Path, queries: &[Value]) -> Vec<Value> {
    let v = node("read", db, &[&Value::Array(queries.to_vec()).to_string()]);
    v.as_array().expect("an array of results").clone()
}

/// `durably show --json` against the library's run + steps + logs.
fn assert_same_show(db: &Path, ids: &[String]) {
    let queries: Vec<Value> = ids
        .iter()
        .map(|id| json!({"op": "show", "id": id}))
        .collect();
    let lib = lib_read(db, &queries);
    for (id, lib) in ids.iter().zip(lib) {
        let cli = cli_json(db, &["show", "--json", id]);
        assert_same_shown(id, lib, &cli);
    }
}

fn ids_of(runs: &Value) -> Vec<String> {
    runs.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 0. Schema

/// One object of `sqlite_master`, its SQL normalized (case, quotes, whitespace), plus what
/// SQLite itself reports about its columns.
#[derive(Debug, PartialEq)]
struct Object {
    kind: String,
    table: String,
    sql: Option<String>,
    columns: Vec<Vec<String>>,
}

fn normalize_sql(sql: &str) -> String {
    let s: String = sql
        .to_lowercase()
        .replace(['"', '`', '[', ']'], "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    s.replace(" (", "(")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(" ,", ",")
        .replace(", ", ",")
        .replace(" if not exists", "")
}

fn schema(db: &Path) -> BTreeMap<String, Object> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
        .unwrap();
    let rows: Vec<(String, String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = BTreeMap::new();
    for (kind, name, table, sql) in rows {
        let pragma = if kind == "table" {
            format!("PRAGMA table_xinfo(\"{name}\")")
        } else {
            format!("PRAGMA index_xinfo(\"{name}\")")
        };
        let mut p = conn.prepare(&pragma).unwrap();
        let n = p.column_count();
        let columns = p
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let mut columns = columns;
        if kind == "index" {
            // index_list tells unique and partial.
            let mut l = conn
                .prepare(&format!("PRAGMA index_list(\"{table}\")"))
                .unwrap();
            let flags: Vec<String> = l
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(4)?,
                    ))
                })
                .unwrap()
                .filter_map(Result::ok)
                .filter(|(n, _, _)| *n == name)
                .map(|(_, unique, partial)| format!("unique={unique} partial={partial}"))
                .collect();
            columns.push(flags);
        }
        out.insert(
            name,
            Object {
                kind,
                table,
                sql: sql.as_deref().map(normalize_sql),
                columns,
            },
        );
    }
    out
}

fn journal_mode(db: &Path) -> String {
    Connection::open(db)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap()
}

fn schema_versions(db: &Path) -> Vec<i64> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT version FROM durably_schema_versions ORDER BY version")
        .unwrap();
    let v = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    v
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn schema_matches_library_migrate() {
    let e = env();
    let lib_db = e.path("lib.db");
    let cli_db = e.path("cli.db");
    node("migrate", &lib_db, &[]);
    cli_ok(&cli_db, &["init"]);
    let lib = schema(&lib_db);
    let cli = schema(&cli_db);
    assert!(lib.len() >= 20, "the library made {} objects", lib.len());
    for (name, obj) in &lib {
        let ours = cli
            .get(name)
            .unwrap_or_else(|| panic!("the CLI's schema lacks {name}"));
        assert_eq!(obj, ours, "{name} differs (left: library, right: CLI)");
    }
    let extra: BTreeSet<&str> = cli
        .keys()
        .filter(|n| !lib.contains_key(*n))
        .map(String::as_str)
        .collect();
    assert_eq!(extra, EXTRA_INDEXES.into_iter().collect::<BTreeSet<_>>());
    assert_eq!(schema_versions(&lib_db), vec![1]);
    assert_eq!(schema_versions(&cli_db), vec![1]);
    // The library's own default journal mode, kept by the CLI on the library's file.
    assert_eq!(journal_mode(&lib_db), "delete");

    // The library sees version 1 on the CLI's file: its migrate() changes nothing.
    node("migrate", &cli_db, &[]);
    assert_eq!(schema(&cli_db), cli);
    assert_eq!(schema_versions(&cli_db), vec![1]);

    // The CLI on the library's file: reads without writing; `init` adds only our indexes and
    // keeps the application's journal mode.
    cli_ok(&lib_db, &["ls"]);
    assert_eq!(schema(&lib_db), lib);
    cli_ok(&lib_db, &["init"]);
    let after = schema(&lib_db);
    assert_eq!(after, cli, "init on the library's file");
    assert_eq!(journal_mode(&lib_db), "delete");
    assert_eq!(schema_versions(&lib_db), vec![1]);
}

// ---------------------------------------------------------------------------------------------
// 2. CLI → library

/// Fills a database with the CLI; returns the ids by name.
fn cli_fill(db: &Path) -> BTreeMap<&'static str, String> {
    let mut ids = BTreeMap::new();
    let enqueue = |args: &[&str]| -> Value {
        let mut a = vec!["enqueue", "--json"];
        a.extend_from_slice(args);
        cli_json(db, &a)
    };
    let r = enqueue(&[
        "--job",
        "echo",
        "--input",
        r#"{"z":1,"a":[1,2,{"b":null}],"s":"é"}"#,
        "--label",
        "tenant=a",
        "--label",
        "env=prod",
        "--idempotency-key",
        "k1",
        "--concurrency-key",
        "c1",
    ]);
    assert_eq!(r["disposition"], "created");
    ids.insert("a_prod", r["id"].as_str().unwrap().to_string());
    let again = enqueue(&["--job", "echo", "--idempotency-key", "k1", "--input", "{}"]);
    assert_eq!(again["disposition"], "idempotent");
    assert_eq!(again["id"], r["id"]);
    let r = enqueue(&["--job", "echo", "--label", "tenant=a", "--label", "env=dev"]);
    ids.insert("a_dev", r["id"].as_str().unwrap().to_string());
    let r = enqueue(&["--job", "fail", "--label", "tenant=b", "--input", "[1,2,3]"]);
    ids.insert("fail", r["id"].as_str().unwrap().to_string());
    let r = enqueue(&[
        "--job",
        "echo",
        "--concurrency-key",
        "c2",
        "--label",
        "tenant=b",
    ]);
    ids.insert("c2", r["id"].as_str().unwrap().to_string());
    let co = enqueue(&["--job", "echo", "--concurrency-key", "c2", "--coalesce"]);
    assert_eq!(co["disposition"], "coalesced");
    assert_eq!(co["id"], r["id"]);
    let conflict = cli(db, &["enqueue", "--job", "echo", "--concurrency-key", "c2"]);
    assert_eq!(exit_code(&conflict), 4);
    let r = enqueue(&[
        "--job", "echo", "--label", "tenant=a", "--label", "env=prod",
    ]);
    ids.insert("cancelled", r["id"].as_str().unwrap().to_string());
    cli_ok(db, &["cancel", &ids["cancelled"]]);
    // A batch in one transaction: many runs share one millisecond.
    let mut lines = String::new();
    for i in 0..12 {
        let job = if i % 4 == 3 { "quiet" } else { "echo" };
        let tenant = if i % 2 == 0 { "a" } else { "b" };
        lines.push_str(
            &json!({"job": job, "input": {"i": i}, "labels": {"tenant": tenant, "batch": "n1"}})
                .to_string(),
        );
        lines.push('\n');
    }
    lines.push_str(r#"{"job":"echo","input":"just text","labels":{"tenant":"a","team/x.y_z-w":"v"},"idempotencyKey":"k-batch"}"#);
    lines.push('\n');
    lines.push_str(r#"{"job":"echo","input":null,"labels":{"tenant":"b","empty":""}}"#);
    lines.push('\n');
    let out = cli_with_stdin(db, &["enqueue-many", "-"], &lines);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ids
}

fn cli_ls(db: &Path, filter: &[&str]) -> Value {
    let mut args = vec!["ls", "--format", "json", "--limit", "1000"];
    args.extend_from_slice(filter);
    cli_json(db, &args)
}

/// (library filter, equivalent `ls` flags)
fn filters() -> Vec<(Value, Vec<&'static str>)> {
    vec![
        (json!({}), vec![]),
        (
            json!({"labels": {"tenant": "a"}}),
            vec!["--label", "tenant=a"],
        ),
        (
            json!({"labels": {"tenant": "a", "env": "prod"}}),
            vec!["--label", "tenant=a", "--label", "env=prod"],
        ),
        (
            json!({"labels": {"team/x.y_z-w": "v"}}),
            vec!["--label", "team/x.y_z-w=v"],
        ),
        (json!({"labels": {"empty": ""}}), vec!["--label", "empty="]),
        (
            json!({"status": "pending", "jobName": "echo"}),
            vec!["--status", "pending", "--job", "echo"],
        ),
        (
            json!({"status": ["pending", "cancelled"]}),
            vec!["--status", "pending", "--status", "cancelled"],
        ),
        (
            json!({"status": "completed"}),
            vec!["--status", "completed"],
        ),
        (json!({"status": "failed"}), vec!["--status", "failed"]),
        (
            json!({"jobName": ["fail", "quiet"]}),
            vec!["--job", "fail", "--job", "quiet"],
        ),
        (
            json!({"labels": {"tenant": "b", "batch": "n1"}, "status": "completed", "jobName": "echo"}),
            vec![
                "--label",
                "tenant=b",
                "--label",
                "batch=n1",
                "--status",
                "completed",
                "--job",
                "echo",
            ],
        ),
        (
            json!({"labels": {"tenant": "nobody"}}),
            vec!["--label", "tenant=nobody"],
        ),
    ]
}

fn assert_same_lists(db: &Path) -> Value {
    let fs = filters();
    let queries: Vec<Value> = fs
        .iter()
        .map(|(f, _)| json!({"op": "getRuns", "filter": f}))
        .collect();
    let lib = lib_read(db, &queries);
    for ((filter, flags), lib) in fs.iter().zip(&lib) {
        let cli = cli_ls(db, flags);
        assert_same_runs(&format!("getRuns({filter}) vs ls {flags:?}"), lib, &cli);
    }
    lib[0].clone()
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn cli_database_read_and_worked_by_library() {
    let e = env();
    let db = &e.db;
    let ids = cli_fill(db);
    assert_eq!(journal_mode(db), "wal");
    let before = schema(db);

    // Read without migrating: the library sees version 1 and the CLI's runs as they are.
    let v = lib_read(db, &[json!({"op": "versions"})]);
    assert_eq!(v[0].as_array().unwrap().len(), 1);
    assert_eq!(v[0][0]["version"], 1);
    let all = assert_same_lists(db);
    assert_eq!(all.as_array().unwrap().len(), 19);
    let all_ids = ids_of(&all);
    assert_same_show(db, &all_ids);
    // The exact input text the CLI stored reads back the same in both.
    let a_prod = &lib_read(db, &[json!({"op": "getRun", "id": ids["a_prod"]})])[0];
    assert_eq!(
        a_prod["input"],
        json!({"z": 1, "a": [1, 2, {"b": null}], "s": "é"})
    );
    assert_eq!(a_prod["idempotencyKey"], "k1");
    assert_eq!(a_prod["concurrencyKey"], "c1");
    assert!(
        a_prod["id"].as_str().unwrap().len() == 36,
        "the CLI writes UUIDv7 ids"
    );

    // Idempotency and concurrency keys written by the CLI hold for the library's trigger.
    let t = node(
        "trigger",
        db,
        &[&json!([
            {"job": "echo", "input": {"other": true}, "options": {"idempotencyKey": "k1"}},
            {"job": "echo", "input": {}, "options": {"concurrencyKey": "c2", "coalesce": "skip"}},
            {"job": "echo", "input": {}, "options": {"concurrencyKey": "c2"}},
        ])
        .to_string()],
    );
    assert_eq!(t[0]["disposition"], "idempotent");
    assert_eq!(t[0]["id"], ids["a_prod"].as_str());
    assert_eq!(t[1]["disposition"], "coalesced");
    assert_eq!(t[1]["id"], ids["c2"].as_str());
    assert_eq!(t[2]["name"], "ConflictError", "{}", t[2]);

    // A library worker completes what the CLI enqueued.
    let pending = cli_ls(db, &["--status", "pending"])
        .as_array()
        .unwrap()
        .len();
    assert_eq!(pending, 18);
    let w = node("work", db, &[]);
    assert_eq!(w["processed"], pending);
    assert_eq!(cli_ls(db, &["--status", "pending"]), json!([]));
    let all = assert_same_lists(db);
    assert_same_show(db, &ids_of(&all));
    let done = cli_json(db, &["show", "--json", &ids["a_prod"]]);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"]["echo"], a_prod["input"]);
    assert_eq!(done["output"]["by"], "library");
    assert_eq!(done["steps"].as_array().unwrap().len(), 2);
    assert_eq!(done["logs"].as_array().unwrap().len(), 2);
    assert_eq!(done["progress"], json!({"current": 2, "total": 2}));
    let failed = cli_json(db, &["show", "--json", &ids["fail"]]);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "kaboom");
    assert_eq!(failed["steps"][1]["status"], "failed");
    assert_eq!(failed["steps"][1]["error"], "kaboom");
    // `wait` reports the library's outcome.
    let out = cli(db, &["wait", &ids["a_prod"]]);
    assert_eq!(exit_code(&out), 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, done["output"]);
    assert_eq!(exit_code(&cli(db, &["wait", &ids["fail"]])), 5);
    assert_eq!(exit_code(&cli(db, &["wait", &ids["cancelled"]])), 6);
    // The library wrote rows, not schema.
    assert_eq!(schema(db), before);
    assert_eq!(journal_mode(db), "wal");
}

// ---------------------------------------------------------------------------------------------
// 3. Library → CLI

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn library_database_managed_by_cli() {
    let e = env();
    let db = &e.db;
    node("migrate", db, &[]);
    let made = node("fill", db, &[]);
    let id = |k: &str| made[k]["id"].as_str().unwrap().to_string();
    assert_eq!(made["idem"]["disposition"], "created");
    assert_eq!(made["idemAgain"]["disposition"], "idempotent");
    assert_eq!(made["idemAgain"]["id"], made["idem"]["id"]);
    assert_eq!(made["ckCoalesced"]["disposition"], "coalesced");
    assert_eq!(made["ckCoalesced"]["id"], made["ck"]["id"]);
    assert_eq!(made["ckConflict"]["name"], "ConflictError");
    assert_eq!(made["processed"], 7);
    assert_eq!(id("idem").len(), 26, "the library writes ULIDs");

    // Listed and filtered alike.
    let queries: Vec<Value> = [
        json!({}),
        json!({"labels": {"tenant": "lib"}}),
        json!({"labels": {"tenant": "lib", "kind": "idem"}}),
        json!({"labels": {"batch": "b1"}, "status": "completed"}),
        json!({"labels": {"team/x.y_z-w": "v"}}),
        json!({"status": "pending"}),
        json!({"status": ["failed", "cancelled"]}),
        json!({"jobName": "fail"}),
    ]
    .into_iter()
    .map(|f| json!({"op": "getRuns", "filter": f}))
    .collect();
    let flags: Vec<Vec<&str>> = vec![
        vec![],
        vec!["--label", "tenant=lib"],
        vec!["--label", "tenant=lib", "--label", "kind=idem"],
        vec!["--label", "batch=b1", "--status", "completed"],
        vec!["--label", "team/x.y_z-w=v"],
        vec!["--status", "pending"],
        vec!["--status", "failed", "--status", "cancelled"],
        vec!["--job", "fail"],
    ];
    let lib = lib_read(db, &queries);
    for ((q, f), l) in queries.iter().zip(&flags).zip(&lib) {
        assert_same_runs(&format!("{q} vs ls {f:?}"), l, &cli_ls(db, f));
    }
    assert_eq!(lib[0].as_array().unwrap().len(), 10);
    assert_eq!(lib[5].as_array().unwrap().len(), 2);
    let all_ids = ids_of(&lib[0]);
    // Shown alike, with the library's steps and logs.
    assert_same_show(db, &all_ids);
    let shown = cli_json(db, &["show", "--json", &id("idem")]);
    assert_eq!(shown["steps"].as_array().unwrap().len(), 2);
    assert_eq!(shown["logs"].as_array().unwrap().len(), 2);
    let shown = cli_json(db, &["show", "--json", &id("fail")]);
    assert_eq!(shown["status"], "failed");
    assert_eq!(shown["steps"][1]["status"], "failed");
    assert_eq!(shown["logs"][0]["level"], "error");
    let quiet = cli_json(db, &["show", "--json", &id("quiet")]);
    assert_eq!(
        quiet["output"],
        Value::Null,
        "a job returning nothing stores NULL"
    );
    // ULIDs resolve by a case-insensitive prefix, and by their random tail.
    let prefix = id("fail")[..16].to_lowercase();
    assert_eq!(
        cli_json(db, &["show", "--json", &prefix])["id"],
        id("fail").as_str()
    );
    let tail = id("fail")[id("fail").len() - 8..].to_lowercase();
    assert_eq!(
        cli_json(db, &["show", "--json", &tail])["id"],
        id("fail").as_str()
    );
    // Table output works on the library's rows.
    let table = cli_ok(db, &["ls"]);
    assert!(table.contains("echo") && table.contains("fail"), "{table}");

    // Keys the library wrote hold for the CLI's enqueue.
    let dup = cli_json(
        db,
        &[
            "enqueue",
            "--json",
            "--job",
            "echo",
            "--idempotency-key",
            "lib-idem-1",
        ],
    );
    assert_eq!(dup["disposition"], "idempotent");
    assert_eq!(dup["id"], id("idem").as_str());
    assert_eq!(dup, {
        let mut v = lib_read(db, &[json!({"op": "getRun", "id": id("idem")})])[0].clone();
        v["disposition"] = json!("idempotent");
        v
    });
    let conflict = cli(
        db,
        &["enqueue", "--job", "echo", "--concurrency-key", "lib-ck"],
    );
    assert_eq!(exit_code(&conflict), 4);
    let co = cli_json(
        db,
        &[
            "enqueue",
            "--json",
            "--job",
            "echo",
            "--concurrency-key",
            "lib-ck",
            "--coalesce",
        ],
    );
    assert_eq!(co["disposition"], "coalesced");
    assert_eq!(co["id"], id("ck").as_str());

    // Cancel: the library sees the CLI's cancellation.
    cli_ok(db, &["cancel", &id("pending")]);
    assert_eq!(exit_code(&cli(db, &["cancel", &id("pending")])), 4);
    assert_eq!(exit_code(&cli(db, &["cancel", &id("idem")])), 4);
    let c = &lib_read(db, &[json!({"op": "getRun", "id": id("pending")})])[0];
    assert_eq!(c["status"], "cancelled");
    assert!(is_iso_ms(&c["completedAt"]));
    assert_eq!(c["completedAt"], c["updatedAt"]);
    assert_eq!(c["leaseOwner"], Value::Null);

    // Retrigger: a new run the library recognises and can execute.
    assert_eq!(exit_code(&cli(db, &["retrigger", &id("ck")])), 4);
    let new_id = cli_ok(db, &["retrigger", &id("idem")]).trim().to_string();
    let new_fail = cli_ok(db, &["retrigger", &id("fail")]).trim().to_string();
    let r = lib_read(
        db,
        &[
            json!({"op": "getRun", "id": new_id}),
            json!({"op": "getRun", "id": id("idem")}),
        ],
    );
    let (new, old) = (&r[0], &r[1]);
    assert_eq!(new["status"], "pending");
    for k in ["jobName", "input", "labels", "concurrencyKey"] {
        assert_eq!(new[k], old[k], "{k}");
    }
    assert_eq!(new["idempotencyKey"], Value::Null);
    assert_eq!(new["leaseGeneration"], 0);
    let w = node("work", db, &[]);
    assert_eq!(
        w["processed"], 3,
        "the retriggered runs and the pending lib-ck run"
    );
    let done = cli_json(db, &["show", "--json", &new_id]);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"]["echo"], old["input"]);
    assert_eq!(
        cli_json(db, &["show", "--json", &new_fail])["status"],
        "failed"
    );

    // Delete one run; purge a job's terminal runs: their steps and logs go with them.
    let rows = |table: &str, run: &str| -> i64 {
        Connection::open(db)
            .unwrap()
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE run_id = ?1"),
                [run],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert!(rows("durably_steps", &id("idem")) > 0);
    cli_ok(db, &["rm", &id("idem")]);
    let pending_one = node(
        "trigger",
        db,
        &[&json!([{"job": "echo", "input": {}}]).to_string()],
    );
    let pending_one = pending_one[0]["id"].as_str().unwrap().to_string();
    assert_eq!(exit_code(&cli(db, &["rm", &pending_one])), 4);
    let purged = cli_json(db, &["rm", "--older-than", "0s", "--job", "fail", "--json"]);
    assert_eq!(purged["deleted"], 2);
    let r = lib_read(
        db,
        &[
            json!({"op": "getRun", "id": id("idem")}),
            json!({"op": "getSteps", "id": id("idem")}),
            json!({"op": "getLogs", "id": id("idem")}),
            json!({"op": "getRuns", "filter": {"jobName": "fail"}}),
            json!({"op": "getSteps", "id": id("fail")}),
            json!({"op": "getLogs", "id": id("fail")}),
            json!({"op": "getRun", "id": pending_one}),
        ],
    );
    assert_eq!(r[0], Value::Null);
    for i in [1, 2, 3, 4, 5] {
        assert_eq!(r[i], json!([]), "query {i}");
    }
    assert_eq!(r[6]["status"], "pending");
    for t in ["durably_steps", "durably_logs", "durably_run_labels"] {
        assert_eq!(rows(t, &id("idem")), 0, "{t}");
        assert_eq!(rows(t, &id("fail")), 0, "{t}");
    }
    // Labels beyond the CLI's own write limits (the library has none) are found by filters and
    // shown; retriggering such a run is refused with the limit's error.
    let long_value = "v".repeat(5000);
    let long_key = "k".repeat(300);
    let t = node(
        "trigger",
        db,
        &[&json!([{"job": "echo", "input": {},
            "options": {"labels": {"long": long_value, long_key.clone(): "x"}}}])
        .to_string()],
    );
    let long_id = t[0]["id"].as_str().unwrap().to_string();
    let by_value = format!("long={long_value}");
    let by_key = format!("{long_key}=x");
    let r = lib_read(
        db,
        &[
            json!({"op": "getRuns", "filter": {"labels": {"long": long_value}}}),
            json!({"op": "getRuns", "filter": {"labels": {long_key.clone(): "x"}}}),
        ],
    );
    assert_same_runs(
        "long label value",
        &r[0],
        &cli_ls(db, &["--label", &by_value]),
    );
    assert_same_runs("long label key", &r[1], &cli_ls(db, &["--label", &by_key]));
    assert_eq!(ids_of(&r[0]), vec![long_id.clone()]);
    assert_same_show(db, std::slice::from_ref(&long_id));
    cli_ok(db, &["cancel", &long_id]);
    let out = cli(db, &["retrigger", &long_id]);
    assert_eq!(exit_code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("too long"));
    let purged = cli_json(
        db,
        &["rm", "--older-than", "0s", "--label", &by_value, "--json"],
    );
    assert_eq!(purged["deleted"], 1);

    // Everything still agrees; the application's journal mode is untouched.
    let all = lib_read(db, &[json!({"op": "getRuns", "filter": {}})]);
    assert_same_runs("after the CLI's changes", &all[0], &cli_ls(db, &[]));
    assert_same_show(db, &ids_of(&all[0]));
    assert_eq!(journal_mode(db), "delete");
}

// ---------------------------------------------------------------------------------------------
// 4. Both at once

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn library_worker_beside_cli_writers() {
    let e = env();
    let db = &e.db;
    // The library's own file: DELETE journal mode, where readers and writers block each other.
    node("migrate", db, &[]);
    let log = e.path("append.log");
    let ready = e.path("ready");
    const WRITERS: usize = 4;
    const EACH: usize = 30;
    let total = WRITERS * EACH;
    let mut worker = Reaped::spawn(
        node_cmd("serve", db, &[log.to_str().unwrap(), &total.to_string()])
            .env("INTEROP_READY", &ready),
    );
    wait_ready(&mut worker, &ready);
    // CLI writers and readers while the library's polling worker claims, steps and completes.
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let label = format!("writer={w}");
                    let input = json!({"w": w, "i": i}).to_string();
                    cli_ok(
                        &db,
                        &[
                            "enqueue", "--job", "append", "--label", &label, "--input", &input,
                        ],
                    );
                    if i % 5 == 0 {
                        cli_ok(&db, &["ls", "--limit", "5", "--label", &label]);
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let out = worker.wait();
    let v = node_result("serve", &out);
    assert_eq!(v["lines"], total);
    let seen = appended(&log);
    assert_eq!(seen.len(), total);
    assert!(seen.values().all(|who| who == "library"));
    let done = cli_ls(db, &["--status", "completed", "--job", "append"]);
    assert_eq!(
        ids_of(&done).into_iter().collect::<BTreeSet<_>>(),
        seen.keys().cloned().collect::<BTreeSet<_>>()
    );
    let lib = lib_read(
        db,
        &[json!({"op": "getRuns", "filter": {"jobName": "append"}})],
    );
    assert_same_runs("after the shared run", &lib[0], &cli_ls(db, &[]));
    assert_eq!(journal_mode(db), "delete");
}
// ---------------------------------------------------------------------------------------------
// CLI workers (`durably work`, and `step`/`log`/`progress` inside handlers)

/// `durably work ARGS` with `durably` on the handlers' PATH.
fn cli_work_cmd(db: &Path, args: &[&str]) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_durably"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = cli_cmd(db);
    c.arg("work")
        .args(args)
        .env("PATH", path)
        .stdin(Stdio::null());
    c
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn cli_worker_and_library_read_each_others_work() {
    let e = env();
    let db = &e.db;
    let dir = handlers(e.dir.path());
    // The library's file (DELETE journal); runs enqueued by the library and by the CLI.
    node("migrate", db, &[]);
    let input = json!({"n": 1, "nested": {"a": [1, 2]}, "s": "é"});
    let t = node(
        "trigger",
        db,
        &[&json!([
            {"job": "echo", "input": input, "options": {"labels": {"tenant": "t1"}}},
            {"job": "fail", "input": {}, "options": {"labels": {"tenant": "t1"}}},
            {"job": "quiet", "input": null},
        ])
        .to_string()],
    );
    let lib_echo = t[0]["id"].as_str().unwrap().to_string();
    let lib_fail = t[1]["id"].as_str().unwrap().to_string();
    let lib_quiet = t[2]["id"].as_str().unwrap().to_string();
    let cli_echo = cli_json(
        db,
        &[
            "enqueue",
            "--json",
            "--job",
            "echo",
            "--label",
            "tenant=t2",
            "--input",
            &input.to_string(),
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The CLI's worker executes all four.
    let out = cli_work_cmd(db, &["--until-idle", "--handlers", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_no_busy("durably work", &out);
    // Exit 5: one of the four (lib_fail) fails, as it should.
    assert!(
        out.status.code() == Some(5),
        "durably work: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cli_ls(db, &["--status", "pending"]), json!([]));

    // The library reads the CLI's results, steps, logs and progress exactly as the CLI shows
    // them.
    let ids = [
        lib_echo.clone(),
        lib_fail.clone(),
        lib_quiet.clone(),
        cli_echo.clone(),
    ];
    assert_same_show(db, &ids);
    let all = lib_read(db, &[json!({"op": "getRuns", "filter": {}})]);
    assert_same_runs("after the CLI's worker", &all[0], &cli_ls(db, &[]));
    let r = lib_read(
        db,
        &[
            json!({"op": "show", "id": lib_echo}),
            json!({"op": "show", "id": lib_fail}),
            json!({"op": "show", "id": lib_quiet}),
        ],
    );
    let (echo, fail, quiet) = (&r[0], &r[1], &r[2]);
    assert_eq!(echo["status"], "completed");
    assert_eq!(
        echo["output"],
        json!({"echo": input, "first": {"seen": input}, "second": "two", "by": "cli"})
    );
    assert_eq!(echo["progress"], json!({"current": 2, "total": 2}));
    assert_eq!(echo["currentStepIndex"], 2);
    assert_eq!(echo["completedStepCount"], 2);
    assert_eq!(fail["status"], "failed");
    assert_eq!(fail["steps"][0]["status"], "completed");
    assert_eq!(fail["steps"][1]["status"], "failed");
    assert!(
        fail["error"].as_str().unwrap().contains("kaboom"),
        "{}",
        fail["error"]
    );
    assert_eq!(quiet["status"], "completed");
    assert_eq!(quiet["output"], Value::Null);
    // `durably logs --json` prints the library's `Log` objects.
    for id in [&lib_echo, &lib_fail] {
        let text = cli_ok(db, &["logs", "--json", id]);
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let lib = lib_read(db, &[json!({"op": "getLogs", "id": id})]);
        assert_eq!(Value::Array(lines), lib[0], "logs of {id}");
    }

    // The same job executed by the library has the same shape: steps, logs, progress, output.
    let again = node(
        "trigger",
        db,
        &[
            &json!([{"job": "echo", "input": input, "options": {"labels": {"tenant": "t1"}}}])
                .to_string(),
        ],
    );
    let lib_run = again[0]["id"].as_str().unwrap().to_string();
    assert_eq!(node("work", db, &[])["processed"], 1);
    let by_lib = cli_json(db, &["show", "--json", &lib_run]);
    let by_cli = cli_json(db, &["show", "--json", &lib_echo]);
    assert_eq!(by_lib["output"]["by"], "library");
    assert_eq!(
        execution_shape(&by_lib),
        execution_shape(&by_cli),
        "left: executed by the library, right: by the CLI"
    );
    assert_eq!(journal_mode(db), "delete");
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn library_and_cli_workers_drain_one_queue() {
    let e = env();
    let db = &e.db;
    let dir = handlers(e.dir.path());
    let log = e.path("append.log");
    const EACH: usize = 150;
    // Half the queue from the CLI (a WAL file it creates), half from the library.
    let lines: String = (0..EACH)
        .map(|i| {
            format!(
                "{{\"job\":\"append\",\"input\":{{\"i\":{i}}},\"labels\":{{\"from\":\"cli\"}}}}\n"
            )
        })
        .collect();
    let out = cli_with_stdin(db, &["enqueue-many", "-"], &lines);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let batch: Vec<Value> = (0..EACH)
        .map(|i| json!({"input": {"i": i}, "options": {"labels": {"from": "library"}}}))
        .collect();
    let t = node(
        "trigger",
        db,
        &[&json!([{"job": "append", "batch": batch}]).to_string()],
    );
    assert_eq!(t[0].as_array().unwrap().len(), EACH);
    let total = 2 * EACH;

    // The library's worker holds its first run until the CLI's worker has completed one, so
    // both provably take part; then both drain the queue until idle.
    let ready = e.path("ready");
    let mut lib = Reaped::spawn(
        node_cmd("drain", db, &[log.to_str().unwrap()])
            .env("INTEROP_READY", &ready)
            .env("INTEROP_WAIT_FOR_OTHER", "cli"),
    );
    wait_ready(&mut lib, &ready);
    let cli_out = cli_work_cmd(
        db,
        &[
            "--until-idle",
            "--concurrency",
            "2",
            "--handlers",
            dir.to_str().unwrap(),
        ],
    )
    .env("INTEROP_LOG", &log)
    .output()
    .unwrap();
    let lib_out = lib.wait();
    assert_no_busy("durably work", &cli_out);
    assert!(
        cli_out.status.success(),
        "durably work: {}",
        String::from_utf8_lossy(&cli_out.stderr)
    );
    let lib_result = node_result("drain", &lib_out);

    // Every run executed exactly once, completed, with the output of whoever executed it.
    let seen = appended(&log);
    assert_eq!(seen.len(), total);
    let by_lib = seen.values().filter(|w| *w == "library").count();
    assert_eq!(lib_result["processed"], by_lib);
    assert!(by_lib > 0 && by_lib < total, "library {by_lib} of {total}");
    let done = cli_ls(db, &["--status", "completed"]);
    assert_eq!(done.as_array().unwrap().len(), total);
    for run in done.as_array().unwrap() {
        let id = run["id"].as_str().unwrap();
        assert_eq!(
            run["output"]["by"].as_str(),
            Some(seen[id].as_str()),
            "run {id}"
        );
        assert_eq!(
            run["leaseGeneration"], 1,
            "run {id} was claimed more than once"
        );
    }
    let all = lib_read(db, &[json!({"op": "getRuns", "filter": {}})]);
    assert_same_runs("after both workers", &all[0], &cli_ls(db, &[]));
    assert_eq!(journal_mode(db), "wal");
}

/// True once the run's lease has run out (by SQLite's clock, in the shared format).
fn lease_expired(db: &Path, id: &str) -> bool {
    Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT lease_expires_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM durably_runs WHERE id = ?1",
            [id],
            |r| r.get::<_, Option<bool>>(0),
        )
        .unwrap()
        .unwrap_or(false)
}

/// SIGSTOPs a process at a moment it does not hold the database's write lock (stopped inside
/// a lease renewal it would block every writer, the library included, for good).
fn stop_outside_a_write(pid: i32, db: &Path) {
    for _ in 0..200 {
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
        let conn = Connection::open(db).unwrap();
        conn.busy_timeout(std::time::Duration::ZERO).unwrap();
        if conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK").is_ok() {
            return;
        }
        assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("process {pid} always held the write lock");
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn library_takes_over_a_stalled_cli_worker() {
    let e = env();
    let db = &e.db;
    let dir = handlers(e.dir.path());
    let marker = e.path("marker");
    let go = e.path("go");
    let id = cli_ok(db, &["enqueue", "--job", "slow"]).trim().to_string();
    let worker = Reaped::spawn(
        cli_work_cmd(
            db,
            &[
                "--once",
                "--lease",
                "1s",
                "--handlers",
                dir.to_str().unwrap(),
            ],
        )
        .env("INTEROP_MARKER", &marker)
        .env("INTEROP_GO", &go),
    );
    wait_for("the CLI's handler", || (marker.exists()).then_some(()));
    // The CLI's worker stalls (stopped, so that its lease renewals do not move the run while
    // it is compared); a run leased by the CLI, as the library sees it.
    let pid = worker.0.as_ref().unwrap().id() as i32;
    stop_outside_a_write(pid, db);
    assert_same_show(db, std::slice::from_ref(&id));
    let leased = cli_json(db, &["show", "--json", &id]);
    assert_eq!(leased["status"], "leased");
    assert_eq!(leased["leaseGeneration"], 1);
    assert!(is_iso_ms(&leased["leaseExpiresAt"]));
    assert!(leased["leaseOwner"]
        .as_str()
        .unwrap()
        .starts_with("durably-cli:"));
    // Once its lease has run out the library claims and completes the run.
    wait_for("the CLI's lease to run out", || {
        (lease_expired(db, &id)).then_some(())
    });
    assert_eq!(node("work", db, &[])["processed"], 1);
    // The CLI's worker resumes, its handler finishes: nothing it writes lands.
    std::fs::write(&go, "").unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let out = worker.wait();
    assert_no_busy("durably work", &out);
    let run = cli_json(db, &["show", "--json", &id]);
    assert_eq!(run["status"], "completed");
    assert_eq!(run["output"], json!({"by": "library"}));
    assert_eq!(run["leaseGeneration"], 2);
    assert_same_show(db, std::slice::from_ref(&id));
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn cli_takes_over_a_stalled_library_worker() {
    let e = env();
    let db = &e.db;
    let dir = handlers(e.dir.path());
    let marker = e.path("marker");
    let go = e.path("go");
    node("migrate", db, &[]);
    let t = node(
        "trigger",
        db,
        &[&json!([{"job": "slow", "input": {}}]).to_string()],
    );
    let id = t[0]["id"].as_str().unwrap().to_string();
    // A library worker whose 1 s lease is never renewed: it stalls in the job.
    let lib = Reaped::spawn(
        node_cmd("drain", db, &[e.path("unused.log").to_str().unwrap()])
            .env("INTEROP_LEASE_MS", "1000")
            .env("INTEROP_RENEW_MS", "600000")
            .env("INTEROP_MARKER", &marker)
            .env("INTEROP_GO", &go),
    );
    wait_for("the library's job", || (marker.exists()).then_some(()));
    let leased = cli_json(db, &["show", "--json", &id]);
    assert_eq!(leased["status"], "leased");
    assert_eq!(leased["leaseGeneration"], 1);
    assert!(leased["leaseOwner"]
        .as_str()
        .unwrap()
        .starts_with("worker_"));
    wait_for("the library's lease to run out", || {
        (lease_expired(db, &id)).then_some(())
    });
    // The CLI claims the expired run and completes it.
    let out = cli_work_cmd(db, &["--once", "--handlers", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_no_busy("durably work", &out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The library's job finishes late: its completion is fenced out, and it says so.
    std::fs::write(&go, "").unwrap();
    let out = lib.wait();
    assert_no_busy("the library", &out);
    let answer: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(answer["processed"], 1);
    assert!(
        answer["workerErrors"].to_string().contains("Lease lost"),
        "{answer}"
    );
    let run = cli_json(db, &["show", "--json", &id]);
    assert_eq!(run["status"], "completed");
    assert_eq!(run["output"], json!({"by": "cli"}));
    assert_eq!(run["leaseGeneration"], 2);
    assert_same_show(db, std::slice::from_ref(&id));
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn cli_resumes_a_run_the_library_started() {
    let e = env();
    let db = &e.db;
    let dir = handlers(e.dir.path());
    let (marker, go) = (e.path("marker"), e.path("go"));
    node("migrate", db, &[]);
    let t = node(
        "trigger",
        db,
        &[&json!([{"job": "resumable", "input": {}}]).to_string()],
    );
    let id = t[0]["id"].as_str().unwrap().to_string();
    // The library completes step `a`, then stalls with a lease it never renews.
    let lib = Reaped::spawn(
        node_cmd("drain", db, &[e.path("unused.log").to_str().unwrap()])
            .env("INTEROP_LEASE_MS", "1000")
            .env("INTEROP_RENEW_MS", "600000")
            .env("INTEROP_MARKER", &marker)
            .env("INTEROP_GO", &go),
    );
    wait_for("the library's first step", || {
        (marker.exists()).then_some(())
    });
    wait_for("the library's lease to run out", || {
        (lease_expired(db, &id)).then_some(())
    });
    // The CLI resumes it: step `a` is the library's stored result, not run again.
    let out = cli_work_cmd(db, &["--once", "--handlers", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&go, "").unwrap();
    let out = lib.wait();
    assert_no_busy("the library", &out);
    let run = cli_json(db, &["show", "--json", &id]);
    assert_eq!(run["status"], "completed");
    assert_eq!(
        run["output"],
        json!({"a": {"from": "library", "n": 1}, "b": "cli-b", "by": "cli"})
    );
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(
        (&steps[0]["name"], &steps[0]["index"]),
        (&json!("a"), &json!(0))
    );
    assert_eq!(
        steps[0]["id"].as_str().unwrap().len(),
        26,
        "the library's step"
    );
    assert_eq!(
        (&steps[1]["name"], &steps[1]["index"]),
        (&json!("b"), &json!(1))
    );
    assert_eq!(steps[1]["id"].as_str().unwrap().len(), 36, "the CLI's step");
    assert_eq!(run["completedStepCount"], 2);
    assert_same_show(db, std::slice::from_ref(&id));
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn library_resumes_a_run_the_cli_started() {
    let e = env();
    let db = &e.db;
    let dir = handlers(e.dir.path());
    let (marker, go) = (e.path("marker"), e.path("go"));
    let id = cli_ok(db, &["enqueue", "--job", "resumable"])
        .trim()
        .to_string();
    // The CLI completes step `a`, then its worker stalls.
    let worker = Reaped::spawn(
        cli_work_cmd(
            db,
            &[
                "--once",
                "--lease",
                "1s",
                "--handlers",
                dir.to_str().unwrap(),
            ],
        )
        .env("INTEROP_MARKER", &marker)
        .env("INTEROP_GO", &go),
    );
    wait_for("the CLI's first step", || (marker.exists()).then_some(()));
    let pid = worker.0.as_ref().unwrap().id() as i32;
    stop_outside_a_write(pid, db);
    wait_for("the CLI's lease to run out", || {
        (lease_expired(db, &id)).then_some(())
    });
    // The library resumes it: step `a` is the CLI's stored result, not run again.
    assert_eq!(node("work", db, &[])["processed"], 1);
    std::fs::write(&go, "").unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let out = worker.wait();
    assert_no_busy("durably work", &out);
    let run = cli_json(db, &["show", "--json", &id]);
    assert_eq!(run["status"], "completed");
    assert_eq!(
        run["output"],
        json!({"a": {"from": "cli", "n": 1}, "b": "library-b", "by": "library"})
    );
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(
        (&steps[0]["name"], &steps[0]["index"]),
        (&json!("a"), &json!(0))
    );
    assert_eq!(steps[0]["id"].as_str().unwrap().len(), 36, "the CLI's step");
    assert_eq!(steps[1]["name"], "b");
    // The library counts a replayed step again: its new step gets index 2, not 1.
    assert_eq!(steps[1]["index"], 2);
    assert_eq!(
        steps[1]["id"].as_str().unwrap().len(),
        26,
        "the library's step"
    );
    assert_same_show(db, std::slice::from_ref(&id));
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn cancel_reaches_the_other_runtimes_worker() {
    let e = env();
    let db = &e.db;
    let dir = handlers(e.dir.path());
    // The library cancels a run the CLI's worker is executing: the worker stops the handler at
    // its next lease renewal and writes nothing.
    let (marker, go) = (e.path("marker1"), e.path("go1"));
    let id = cli_ok(db, &["enqueue", "--job", "slow"]).trim().to_string();
    let worker = Reaped::spawn(
        cli_work_cmd(
            db,
            &[
                "--once",
                "--lease",
                "3s",
                "--handlers",
                dir.to_str().unwrap(),
            ],
        )
        .env("INTEROP_MARKER", &marker)
        .env("INTEROP_GO", &go),
    );
    wait_for("the CLI's handler", || (marker.exists()).then_some(()));
    node("cancel", db, &[&id]);
    let out = worker.wait();
    assert_no_busy("durably work", &out);
    assert_eq!(
        exit_code(&out),
        6,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = cli_json(db, &["show", "--json", &id]);
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["output"], Value::Null);
    assert_eq!(run["leaseOwner"], Value::Null);
    assert_same_show(db, std::slice::from_ref(&id));

    // The CLI cancels a run the library's worker is executing: the library's completion is
    // refused (it reports the lost lease) and the run stays cancelled.
    let (marker, go) = (e.path("marker2"), e.path("go2"));
    let t = node(
        "trigger",
        db,
        &[&json!([{"job": "slow", "input": {}}]).to_string()],
    );
    let id = t[0]["id"].as_str().unwrap().to_string();
    let lib = Reaped::spawn(
        node_cmd("drain", db, &[e.path("unused.log").to_str().unwrap()])
            .env("INTEROP_MARKER", &marker)
            .env("INTEROP_GO", &go),
    );
    wait_for("the library's job", || (marker.exists()).then_some(()));
    cli_ok(db, &["cancel", &id]);
    std::fs::write(&go, "").unwrap();
    let out = lib.wait();
    assert_no_busy("the library", &out);
    let answer: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert!(
        answer["workerErrors"].to_string().contains("Lease lost"),
        "{answer}"
    );
    let run = cli_json(db, &["show", "--json", &id]);
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["output"], Value::Null);
    assert_same_show(db, std::slice::from_ref(&id));
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn lone_surrogates_from_javascript_are_shown_as_strings() {
    let e = env();
    let db = &e.db;
    node("migrate", db, &[]);
    // JavaScript strings may hold half a surrogate pair; JSON.stringify writes it as an escape.
    let t = node(
        "trigger",
        db,
        &[r#"[{"job":"quiet","input":{"s":"a\ud800b"},"options":{"labels":{"k":"\udfff"}}}]"#],
    );
    let id = t[0]["id"].as_str().unwrap().to_string();
    let shown = cli_json(db, &["show", "--json", &id]);
    assert_eq!(shown["input"], json!({"s": "a\u{fffd}b"}));
    assert_eq!(shown["labels"], json!({"k": "\u{fffd}"}));
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it with --include-ignored"]
fn library_trigger_and_wait_is_served_by_a_cli_worker() {
    let e = env();
    let db = &e.db;
    let dir = handlers(e.dir.path());
    node("migrate", db, &[]);
    // An application triggers and waits; only a CLI worker executes runs.
    let worker = Reaped::spawn(&mut cli_work_cmd(
        db,
        &["--poll", "50ms", "--handlers", dir.to_str().unwrap()],
    ));
    let input = json!({"order": 42});
    let done = node(
        "triggerAndWait",
        db,
        &[
            &json!({"job": "echo", "input": input, "options": {"labels": {"app": "web"}}})
                .to_string(),
        ],
    );
    assert_eq!(done["disposition"], "created");
    assert_eq!(
        done["output"],
        json!({"echo": input, "first": {"seen": input}, "second": "two", "by": "cli"})
    );
    let pid = worker.0.as_ref().unwrap().id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = worker.wait();
    assert_no_busy("durably work", &out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = done["id"].as_str().unwrap().to_string();
    assert_same_show(db, std::slice::from_ref(&id));
}
