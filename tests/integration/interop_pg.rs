//! Interoperability with the real @coji/durably 0.15.0 on PostgreSQL: one database, written
//! and read by both runtimes, compared field by field.
//!
//! The library runs in node through `tests/interop/lib.mjs` (kysely's PostgresDialect over a
//! `pg` Pool, `preserveSteps: true`, log persistence); the CLI gets the same URL with `--db`.
//! Each test creates its own database on the server of `DURABLY_TEST_PG` (a URL of a database
//! where the user may `CREATE DATABASE`) and drops it at the end. The schema is chosen through
//! the URL (`?options=-csearch_path%3Dname`) where a test says so, for both runtimes.
//!
//! Run: `DURABLY_TEST_PG=postgres://user:pass@host:5432/postgres cargo test --test integration
//! interop_pg:: -- --include-ignored`.

use crate::harness::*;
use postgres::{Client, NoTls};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const NEEDS: &str = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does";

/// A fresh database on the server of `DURABLY_TEST_PG`, dropped (with its connections) when the
/// env drops, after the library sessions end.
struct Pg {
    env: Env,
    admin: String,
    name: String,
    /// The URL of the fresh database, without its query.
    base: String,
    /// The query of `DURABLY_TEST_PG` (e.g. `sslmode=…`), kept on every URL.
    query: Vec<String>,
}

impl Drop for Pg {
    fn drop(&mut self) {
        end_sessions(self.env.dir.path());
        let dropped = connect(&self.admin).and_then(|mut c| {
            c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
        });
        if let Err(e) = dropped {
            eprintln!("cannot drop test database {}: {}", self.name, pg_err(&e));
        }
    }
}

impl Pg {
    fn new() -> Pg {
        let admin = std::env::var("DURABLY_TEST_PG").unwrap_or_else(|_| panic!("{NEEDS}"));
        setup();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "durably_interop_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = connect(&admin)
            .unwrap_or_else(|e| panic!("cannot connect to DURABLY_TEST_PG: {}", pg_err(&e)));
        // One statement each: CREATE DATABASE cannot run inside a (multi-statement) transaction.
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{name}\""),
        ] {
            c.batch_execute(&sql)
                .unwrap_or_else(|e| panic!("cannot create test database {name}: {}", pg_err(&e)));
        }
        let (head, query) = admin.split_once('?').unwrap_or((&admin, ""));
        let after_scheme = head.find("://").expect("DURABLY_TEST_PG is a URL") + 3;
        let authority_end = head[after_scheme..]
            .find('/')
            .map_or(head.len(), |i| after_scheme + i);
        let base = format!("{}/{name}", &head[..authority_end]);
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        Pg {
            env: Env::new(),
            admin,
            name,
            base,
            query,
        }
    }

    /// The database's URL; with `schema`, every connection's search_path is that schema.
    fn url(&self, schema: Option<&str>) -> String {
        let mut query = self.query.clone();
        if let Some(s) = schema {
            query.push(format!("options=-csearch_path%3D{s}"));
        }
        if query.is_empty() {
            self.base.clone()
        } else {
            format!("{}?{}", self.base, query.join("&"))
        }
    }

    /// A direct connection, for what neither runtime reports (catalogs, lease times).
    fn client(&self) -> Client {
        connect(&self.url(None)).expect("connect to the test database")
    }

    fn create_schema(&self, schema: &str) {
        self.client()
            .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
            .expect("create schema");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.env.path(name)
    }

    /// A `lib.mjs` command in the library session of `url` (one session per URL).
    fn lib(&self, command: &str, url: &str, args: &[&str]) -> Value {
        let key: String = url
            .rsplit('/')
            .next()
            .unwrap_or("db")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        node_pg(command, &self.path(&format!("lib-{key}")), url, args)
    }

    fn lib_read(&self, url: &str, queries: &[Value]) -> Vec<Value> {
        let v = self.lib("read", url, &[&Value::Array(queries.to_vec()).to_string()]);
        v.as_array().expect("an array of results").clone()
    }

    fn cli_cmd(&self, url: &str, args: &[&str]) -> Command {
        let mut c = bare_command(self.env.dir.path());
        c.arg("--db").arg(url).args(args).stdin(Stdio::null());
        c
    }

    fn cli(&self, url: &str, args: &[&str]) -> Output {
        self.cli_cmd(url, args).output().expect("run durably")
    }

    fn cli_stdin(&self, url: &str, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .cli_cmd(url, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run durably");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    #[track_caller]
    fn cli_ok(&self, url: &str, args: &[&str]) -> String {
        let out = self.cli(url, args);
        assert!(
            out.status.success(),
            "durably {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[track_caller]
    fn cli_json(&self, url: &str, args: &[&str]) -> Value {
        let text = self.cli_ok(url, args);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("durably {args:?}: not JSON ({e}): {text}"))
    }

    fn ls(&self, url: &str, filter: &[&str]) -> Value {
        let mut args = vec!["ls", "--format", "json", "--limit", "1000"];
        args.extend_from_slice(filter);
        self.cli_json(url, &args)
    }

    /// `durably show --json` of each run against the library's run + steps + logs.
    fn assert_same_show(&self, url: &str, ids: &[String]) {
        let queries: Vec<Value> = ids
            .iter()
            .map(|id| json!({"op": "show", "id": id}))
            .collect();
        let lib = self.lib_read(url, &queries);
        for (id, lib) in ids.iter().zip(lib) {
            let cli = self.cli_json(url, &["show", "--json", id]);
            assert_same_shown(id, lib, &cli);
        }
    }

    /// `getRuns(filter)` against `ls` with the equivalent flags, for each pair; returns the
    /// library's answers.
    fn assert_same_lists(&self, url: &str, filters: &[(Value, Vec<&str>)]) -> Vec<Value> {
        let queries: Vec<Value> = filters
            .iter()
            .map(|(f, _)| json!({"op": "getRuns", "filter": f}))
            .collect();
        let lib = self.lib_read(url, &queries);
        for ((filter, flags), lib) in filters.iter().zip(&lib) {
            let cli = self.ls(url, flags);
            assert_same_runs(&format!("getRuns({filter}) vs ls {flags:?}"), lib, &cli);
        }
        lib
    }

    /// `durably work ARGS --handlers DIR` (the interop handlers) on `url`.
    fn work_cmd(&self, url: &str, args: &[&str]) -> Command {
        let dir = handlers(self.env.dir.path());
        let mut c = self.cli_cmd(url, &["work"]);
        c.args(args).arg("--handlers").arg(dir);
        c
    }
}

/// A direct connection to `url`; PGPASSWORD supplies a password the URL lacks, as it does for
/// the CLI and for node's `pg`.
fn connect(url: &str) -> Result<Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    if config.get_password().is_none() {
        if let Ok(p) = std::env::var("PGPASSWORD") {
            config.password(p);
        }
    }
    config.connect(NoTls)
}

/// The server's message when there is one (the client's own text is only "db error").
fn pg_err(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

fn ids_of(runs: &Value) -> Vec<String> {
    runs.as_array().unwrap().iter().map(id_of).collect()
}

// ---------------------------------------------------------------------------------------------
// Schema

/// Columns of a schema's tables: (table, column) → (position, type, default, nullable).
fn columns(c: &mut Client, schema: &str) -> BTreeMap<(String, String), Vec<Option<String>>> {
    c.query(
        "SELECT table_name::text, column_name::text, ordinal_position::text, data_type::text, \
                column_default::text, is_nullable::text \
         FROM information_schema.columns WHERE table_schema = $1",
        &[&schema],
    )
    .expect("read information_schema.columns")
    .iter()
    .map(|r| {
        (
            (r.get(0), r.get(1)),
            (2..6).map(|i| r.get::<_, Option<String>>(i)).collect(),
        )
    })
    .collect()
}

/// Indexes of a schema: name → definition without the schema's name.
fn indexes(c: &mut Client, schema: &str) -> BTreeMap<String, String> {
    c.query(
        "SELECT indexname::text, replace(indexdef, $2, '') FROM pg_indexes WHERE schemaname = $1",
        &[&schema, &format!("{schema}.")],
    )
    .expect("read pg_indexes")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

fn versions(c: &mut Client, schema: &str) -> Vec<i64> {
    c.query(
        &format!("SELECT version::int8 FROM \"{schema}\".durably_schema_versions ORDER BY 1"),
        &[],
    )
    .expect("read durably_schema_versions")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// The names of the indexes `sql/postgres/extra.sql` creates: our own, documented additions.
fn extra_indexes() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/postgres/extra.sql");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let words: Vec<&str> = text
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .collect();
    let mut names = BTreeSet::new();
    for (i, w) in words.iter().enumerate() {
        if !w.eq_ignore_ascii_case("INDEX") {
            continue;
        }
        let name = words[i + 1..]
            .iter()
            .find(|w| !["IF", "NOT", "EXISTS", "CONCURRENTLY"].contains(&&*w.to_uppercase()))
            .expect("an index name after INDEX");
        names.insert(name.trim_matches('"').to_string());
    }
    assert!(!names.is_empty(), "no index in {}", path.display());
    names
}

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn schema_matches_library_migrate() {
    let pg = Pg::new();
    pg.create_schema("interop_lib");
    pg.create_schema("interop_cli");
    let lib_url = pg.url(Some("interop_lib"));
    let cli_url = pg.url(Some("interop_cli"));
    pg.lib("migrate", &lib_url, &[]);
    pg.cli_ok(&cli_url, &["init"]);
    let mut c = pg.client();

    // Both chose their schema through the URL: nothing landed in public.
    let in_public: i64 = c
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(in_public, 0, "tables created outside the chosen schema");

    let lib_cols = columns(&mut c, "interop_lib");
    assert!(lib_cols.len() >= 30, "the library made {lib_cols:?}");
    assert_eq!(
        lib_cols,
        columns(&mut c, "interop_cli"),
        "columns differ (left: library, right: CLI)"
    );
    let lib_idx = indexes(&mut c, "interop_lib");
    let cli_idx = indexes(&mut c, "interop_cli");
    for name in [
        "idx_durably_steps_completed_unique",
        "idx_durably_runs_pending_concurrency",
    ] {
        assert!(lib_idx.contains_key(name), "the library made no {name}");
    }
    for (name, def) in &lib_idx {
        let ours = cli_idx
            .get(name)
            .unwrap_or_else(|| panic!("the CLI's schema lacks index {name}: {def}"));
        assert_eq!(
            def, ours,
            "index {name} differs (left: library, right: CLI)"
        );
    }
    let extra: BTreeSet<String> = cli_idx
        .keys()
        .filter(|n| !lib_idx.contains_key(*n))
        .cloned()
        .collect();
    assert_eq!(extra, extra_indexes(), "the CLI's own indexes");
    assert_eq!(versions(&mut c, "interop_lib"), vec![1]);
    assert_eq!(versions(&mut c, "interop_cli"), vec![1]);

    // The library sees version 1 in the CLI's schema: its migrate() changes nothing.
    pg.lib("migrate", &cli_url, &[]);
    assert_eq!(indexes(&mut c, "interop_cli"), cli_idx);
    assert_eq!(versions(&mut c, "interop_cli"), vec![1]);

    // The CLI in the library's schema: reads without writing; `init` adds only our indexes.
    pg.cli_ok(&lib_url, &["ls"]);
    assert_eq!(indexes(&mut c, "interop_lib"), lib_idx);
    pg.cli_ok(&lib_url, &["init"]);
    assert_eq!(
        indexes(&mut c, "interop_lib"),
        cli_idx,
        "init in the library's schema"
    );
    assert_eq!(columns(&mut c, "interop_lib"), lib_cols);
    assert_eq!(versions(&mut c, "interop_lib"), vec![1]);
}

// ---------------------------------------------------------------------------------------------
// CLI → library

/// Runs the CLI makes in `url`, with keys, labels, a cancel and an all-or-nothing batch;
/// returns the ids by name.
fn cli_fill(pg: &Pg, url: &str) -> BTreeMap<&'static str, String> {
    let mut ids = BTreeMap::new();
    let enqueue = |args: &[&str]| -> Value {
        let mut a = vec!["enqueue", "--json"];
        a.extend_from_slice(args);
        pg.cli_json(url, &a)
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
    ids.insert("a_prod", id_of(&r));
    let again = enqueue(&["--job", "echo", "--idempotency-key", "k1", "--input", "{}"]);
    assert_eq!(again["disposition"], "idempotent");
    assert_eq!(again["id"], r["id"]);
    let r = enqueue(&["--job", "echo", "--label", "tenant=a", "--label", "env=dev"]);
    ids.insert("a_dev", id_of(&r));
    let r = enqueue(&["--job", "fail", "--label", "tenant=b", "--input", "[1,2,3]"]);
    ids.insert("fail", id_of(&r));
    let r = enqueue(&[
        "--job",
        "echo",
        "--concurrency-key",
        "c2",
        "--label",
        "tenant=b",
    ]);
    ids.insert("c2", id_of(&r));
    let co = enqueue(&["--job", "echo", "--concurrency-key", "c2", "--coalesce"]);
    assert_eq!(co["disposition"], "coalesced");
    assert_eq!(co["id"], r["id"]);
    let conflict = pg.cli(
        url,
        &["enqueue", "--job", "echo", "--concurrency-key", "c2"],
    );
    assert_eq!(code(&conflict), 4, "{conflict:?}");
    let r = enqueue(&["--job", "echo", "--label", "tenant=a"]);
    ids.insert("cancelled", id_of(&r));
    pg.cli_ok(url, &["cancel", &ids["cancelled"]]);
    // One transaction: runs of one millisecond.
    let mut lines = String::new();
    for i in 0..6 {
        let job = if i % 3 == 2 { "quiet" } else { "echo" };
        let tenant = if i % 2 == 0 { "a" } else { "b" };
        lines.push_str(
            &json!({"job": job, "input": {"i": i}, "labels": {"tenant": tenant, "batch": "n1"}})
                .to_string(),
        );
        lines.push('\n');
    }
    lines.push_str(r#"{"job":"echo","input":"just text","labels":{"team/x.y_z-w":"v"},"idempotencyKey":"k-batch"}"#);
    lines.push('\n');
    let out = pg.cli_stdin(url, &["enqueue-many", "-"], &lines);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ids
}

fn cli_filters() -> Vec<(Value, Vec<&'static str>)> {
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
        (
            json!({"status": ["pending", "cancelled"]}),
            vec!["--status", "pending", "--status", "cancelled"],
        ),
        (
            json!({"status": "completed"}),
            vec!["--status", "completed"],
        ),
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
    ]
}

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn cli_runs_read_and_worked_by_library() {
    let pg = Pg::new();
    let url = pg.url(None);
    pg.cli_ok(&url, &["init"]);
    let ids = cli_fill(&pg, &url);

    // Read without migrating: the library sees version 1 and the CLI's runs as they are.
    let v = pg.lib_read(&url, &[json!({"op": "versions"})]);
    assert_eq!(v[0].as_array().unwrap().len(), 1, "{v:?}");
    assert_eq!(v[0][0]["version"], 1);
    let lists = pg.assert_same_lists(&url, &cli_filters());
    assert_eq!(lists[0].as_array().unwrap().len(), 12);
    pg.assert_same_show(&url, &ids_of(&lists[0]));
    let a_prod = &pg.lib_read(&url, &[json!({"op": "getRun", "id": ids["a_prod"]})])[0];
    assert_eq!(
        a_prod["input"],
        json!({"z": 1, "a": [1, 2, {"b": null}], "s": "é"})
    );
    assert_eq!(a_prod["idempotencyKey"], "k1");
    assert_eq!(a_prod["concurrencyKey"], "c1");

    // Idempotency and concurrency keys the CLI wrote hold for the library's trigger.
    let t = pg.lib(
        "trigger",
        &url,
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

    // The library's worker completes what the CLI enqueued.
    let pending = pg
        .ls(&url, &["--status", "pending"])
        .as_array()
        .unwrap()
        .len();
    assert_eq!(pending, 11);
    assert_eq!(pg.lib("work", &url, &[])["processed"], pending);
    assert_eq!(pg.ls(&url, &["--status", "pending"]), json!([]));
    let lists = pg.assert_same_lists(&url, &cli_filters());
    pg.assert_same_show(&url, &ids_of(&lists[0]));
    let done = pg.cli_json(&url, &["show", "--json", &ids["a_prod"]]);
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"]["echo"], a_prod["input"]);
    assert_eq!(done["output"]["by"], "library");
    assert_eq!(done["steps"].as_array().unwrap().len(), 2);
    assert_eq!(done["logs"].as_array().unwrap().len(), 2);
    // The library does not wait for `step.progress` and, on PostgreSQL, nothing orders it
    // before the run's completion, which fences it out: the last report may be lost.
    assert!(
        [
            json!({"current": 2, "total": 2}),
            json!({"current": 1, "total": 2, "message": "half way"})
        ]
        .contains(&done["progress"]),
        "{}",
        done["progress"]
    );
    let failed = pg.cli_json(&url, &["show", "--json", &ids["fail"]]);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "kaboom");
    assert_eq!(failed["steps"][1]["error"], "kaboom");
    // `wait` reports the library's outcomes with the CLI's exit codes.
    let out = pg.cli(&url, &["wait", &ids["a_prod"]]);
    assert_eq!(code(&out), 0, "{out:?}");
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, done["output"]);
    assert_eq!(code(&pg.cli(&url, &["wait", &ids["fail"]])), 5);
    assert_eq!(code(&pg.cli(&url, &["wait", &ids["cancelled"]])), 6);
}

// ---------------------------------------------------------------------------------------------
// Library → CLI

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn library_runs_managed_and_worked_by_cli() {
    let pg = Pg::new();
    pg.create_schema("app");
    let url = pg.url(Some("app"));
    pg.lib("migrate", &url, &[]);
    let made = pg.lib("fill", &url, &[]);
    let id = |k: &str| id_of(&made[k]);
    assert_eq!(made["idemAgain"]["disposition"], "idempotent");
    assert_eq!(made["ckCoalesced"]["disposition"], "coalesced");
    assert_eq!(made["ckConflict"]["name"], "ConflictError");
    assert_eq!(made["processed"], 7);

    let filters: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec![]),
        (
            json!({"labels": {"tenant": "lib"}}),
            vec!["--label", "tenant=lib"],
        ),
        (
            json!({"labels": {"tenant": "lib", "kind": "idem"}}),
            vec!["--label", "tenant=lib", "--label", "kind=idem"],
        ),
        (
            json!({"labels": {"batch": "b1"}, "status": "completed"}),
            vec!["--label", "batch=b1", "--status", "completed"],
        ),
        (
            json!({"labels": {"team/x.y_z-w": "v"}}),
            vec!["--label", "team/x.y_z-w=v"],
        ),
        (json!({"status": "pending"}), vec!["--status", "pending"]),
        (
            json!({"status": ["failed", "cancelled"]}),
            vec!["--status", "failed", "--status", "cancelled"],
        ),
        (json!({"jobName": "fail"}), vec!["--job", "fail"]),
    ];
    let lists = pg.assert_same_lists(&url, &filters);
    assert_eq!(lists[0].as_array().unwrap().len(), 10);
    assert_eq!(lists[5].as_array().unwrap().len(), 2);
    pg.assert_same_show(&url, &ids_of(&lists[0]));
    let shown = pg.cli_json(&url, &["show", "--json", &id("idem")]);
    assert_eq!(shown["steps"].as_array().unwrap().len(), 2);
    assert_eq!(shown["logs"].as_array().unwrap().len(), 2);
    assert_eq!(
        pg.cli_json(&url, &["show", "--json", &id("quiet")])["output"],
        Value::Null
    );
    // ULIDs resolve by a case-insensitive prefix.
    let prefix = id("fail")[..16].to_lowercase();
    assert_eq!(
        pg.cli_json(&url, &["show", "--json", &prefix])["id"],
        id("fail").as_str()
    );

    // Keys the library wrote hold for the CLI's enqueue.
    let dup = pg.cli_json(
        &url,
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
    assert_eq!(dup["id"], made["idem"]["id"]);
    let co = pg.cli_json(
        &url,
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
    assert_eq!(co["id"], made["ck"]["id"]);
    let conflict = pg.cli(
        &url,
        &["enqueue", "--job", "echo", "--concurrency-key", "lib-ck"],
    );
    assert_eq!(code(&conflict), 4, "{conflict:?}");
    // enqueue-many: per-line answers on the library's keys, all or nothing.
    let count = |pg: &Pg| {
        pg.lib_read(&url, &[json!({"op": "getRuns", "filter": {}})])[0]
            .as_array()
            .unwrap()
            .len()
    };
    let before = count(&pg);
    let lines = [
        r#"{"job":"echo","idempotencyKey":"lib-idem-1"}"#,
        r#"{"job":"echo","concurrencyKey":"lib-ck","coalesce":"skip"}"#,
        r#"{"job":"echo","labels":{"tenant":"cli"}}"#,
    ]
    .join("\n");
    let out = pg.cli_stdin(&url, &["enqueue-many", "--json", "-"], &lines);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(
        (&answers[0]["disposition"], &answers[0]["id"]),
        (&json!("idempotent"), &made["idem"]["id"])
    );
    assert_eq!(
        (&answers[1]["disposition"], &answers[1]["id"]),
        (&json!("coalesced"), &made["ck"]["id"])
    );
    assert_eq!(answers[2]["disposition"], "created");
    assert_eq!(count(&pg), before + 1);
    let lines = [
        r#"{"job":"echo","labels":{"tenant":"cli"}}"#,
        r#"{"job":"echo","concurrencyKey":"lib-ck"}"#,
    ]
    .join("\n");
    let out = pg.cli_stdin(&url, &["enqueue-many", "-"], &lines);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 4, "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert_eq!(count(&pg), before + 1, "the batch was rolled back");

    // The CLI's worker completes the library's pending runs; the library reads the results.
    let out = pg.work_cmd(&url, &["--until-idle"]).output().unwrap();
    assert!(
        out.status.success(),
        "durably work: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for k in ["ck", "pending"] {
        let run = &pg.lib_read(&url, &[json!({"op": "show", "id": id(k)})])[0];
        assert_eq!(run["status"], "completed", "{k}: {run}");
        assert_eq!(run["output"]["by"], "cli", "{k}: {run}");
        assert_eq!(run["steps"].as_array().unwrap().len(), 2, "{k}: {run}");
        assert_eq!(run["progress"], json!({"current": 2, "total": 2}));
    }
    // Removal, retrigger and purge by the CLI as the library sees them.
    pg.cli_ok(&url, &["rm", &id("toCancel")]);
    let gone = pg.lib_read(&url, &[json!({"op": "getRun", "id": id("toCancel")})]);
    assert_eq!(gone[0], Value::Null);
    let again = pg.cli_json(&url, &["retrigger", "--json", &id("fail")]);
    let again_id = id_of(&again);
    assert_ne!(again_id, id("fail"));
    let lib = &pg.lib_read(&url, &[json!({"op": "getRun", "id": again_id})])[0];
    assert_eq!(lib["status"], "pending");
    assert_eq!(lib["jobName"], "fail");
    assert_eq!(lib["input"], json!({"why": "test"}));
    let lists = pg.assert_same_lists(&url, &filters);
    pg.assert_same_show(&url, &ids_of(&lists[0]));
}

// ---------------------------------------------------------------------------------------------
// Both workers at once

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn library_and_cli_workers_drain_one_queue() {
    let pg = Pg::new();
    pg.create_schema("queue");
    let url = pg.url(Some("queue"));
    pg.cli_ok(&url, &["init"]);
    let log = pg.path("append.log");
    const EACH: usize = 60;
    let lines: String = (0..EACH)
        .map(|i| {
            format!(
                "{{\"job\":\"append\",\"input\":{{\"i\":{i}}},\"labels\":{{\"from\":\"cli\"}}}}\n"
            )
        })
        .collect();
    let out = pg.cli_stdin(&url, &["enqueue-many", "-"], &lines);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let batch: Vec<Value> = (0..EACH)
        .map(|i| json!({"input": {"i": i}, "options": {"labels": {"from": "library"}}}))
        .collect();
    let t = pg.lib(
        "trigger",
        &url,
        &[&json!([{"job": "append", "batch": batch}]).to_string()],
    );
    assert_eq!(t[0].as_array().unwrap().len(), EACH);
    let total = 2 * EACH;

    // The library's worker holds its first run until the CLI's worker has completed one, so
    // both provably take part; then both drain the queue until idle.
    let ready = pg.path("ready");
    let mut lib = Reaped::spawn(
        node_cmd("drain", &url, &[log.to_str().unwrap()])
            .env("INTEROP_READY", &ready)
            .env("INTEROP_WAIT_FOR_OTHER", "cli"),
    );
    wait_ready(&mut lib, &ready);
    let cli_out = pg
        .work_cmd(&url, &["--until-idle", "--concurrency", "2"])
        .env("INTEROP_LOG", &log)
        .output()
        .unwrap();
    let lib_out = lib.wait();
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
    let done = pg.ls(&url, &["--status", "completed"]);
    assert_eq!(done.as_array().unwrap().len(), total);
    for run in done.as_array().unwrap() {
        let id = id_of(run);
        assert_eq!(
            run["output"]["by"].as_str(),
            Some(seen[&id].as_str()),
            "run {id}"
        );
        assert_eq!(
            run["leaseGeneration"], 1,
            "run {id} was claimed more than once"
        );
    }
    let all = pg.lib_read(&url, &[json!({"op": "getRuns", "filter": {}})]);
    assert_same_runs("after both workers", &all[0], &pg.ls(&url, &[]));
}

/// Waits (bounded) for the file a stalled `slow` or `resumable` run writes its id to.
fn marker(path: &Path) -> String {
    wait_for(&format!("the run to write {}", path.display()), || {
        std::fs::read_to_string(path)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    })
}

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn concurrency_key_is_never_leased_twice_across_runtimes() {
    let pg = Pg::new();
    let url = pg.url(None);
    pg.lib("migrate", &url, &[]);

    // The library's worker holds a run of key k1; the CLI's worker must leave the next one
    // of k1 pending while executing an unrelated run.
    let (mark, go) = (pg.path("mark-lib"), pg.path("go-lib"));
    let first = id_of(
        &pg.lib(
            "trigger",
            &url,
            &[
                &json!([{"job": "slow", "input": {}, "options": {"concurrencyKey": "k1"}}])
                    .to_string(),
            ],
        )[0],
    );
    let lib = Reaped::spawn(
        node_cmd("work", &url, &[])
            .env("INTEROP_MARKER", &mark)
            .env("INTEROP_GO", &go),
    );
    assert_eq!(marker(&mark), first);
    let second = id_of(&pg.cli_json(
        &url,
        &[
            "enqueue",
            "--json",
            "--job",
            "slow",
            "--concurrency-key",
            "k1",
        ],
    ));
    let other = id_of(&pg.cli_json(&url, &["enqueue", "--json", "--job", "quiet"]));
    let out = pg.work_cmd(&url, &["--until-idle"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        pg.cli_json(&url, &["show", "--json", &other])["status"],
        "completed"
    );
    let held = pg.cli_json(&url, &["show", "--json", &second]);
    assert_eq!(
        held["status"], "pending",
        "the CLI claimed a key the library holds"
    );
    assert_eq!(held["leaseGeneration"], 0);
    std::fs::write(&go, "go").unwrap();
    let done = node_result("work", &lib.wait());
    assert_eq!(
        done["processed"], 2,
        "the library runs both runs of k1 in turn"
    );
    let a = pg.cli_json(&url, &["show", "--json", &first]);
    let b = pg.cli_json(&url, &["show", "--json", &second]);
    assert_eq!(
        (&a["status"], &b["status"]),
        (&json!("completed"), &json!("completed"))
    );

    // The other way round: the CLI's worker holds k2; the library's leaves the next pending.
    let (mark, go) = (pg.path("mark-cli"), pg.path("go-cli"));
    let first = id_of(&pg.cli_json(
        &url,
        &[
            "enqueue",
            "--json",
            "--job",
            "slow",
            "--concurrency-key",
            "k2",
        ],
    ));
    let cli = Reaped::spawn(
        pg.work_cmd(&url, &["--until-idle"])
            .env("INTEROP_MARKER", &mark)
            .env("INTEROP_GO", &go),
    );
    assert_eq!(marker(&mark), first);
    let second = id_of(
        &pg.lib(
            "trigger",
            &url,
            &[
                &json!([{"job": "slow", "input": {}, "options": {"concurrencyKey": "k2"}}])
                    .to_string(),
            ],
        )[0],
    );
    assert_eq!(pg.lib("work", &url, &[])["processed"], 0);
    let held = &pg.lib_read(&url, &[json!({"op": "getRun", "id": second})])[0];
    assert_eq!(
        held["status"], "pending",
        "the library claimed a key the CLI holds"
    );
    assert_eq!(held["leaseGeneration"], 0);
    std::fs::write(&go, "go").unwrap();
    let out = cli.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = pg.lib_read(
        &url,
        &[
            json!({"op": "getRun", "id": first}),
            json!({"op": "getRun", "id": second}),
        ],
    );
    let (a, b) = (&runs[0], &runs[1]);
    assert_eq!(
        (&a["status"], &b["status"]),
        (&json!("completed"), &json!("completed"))
    );
}

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn concurrency_keys_under_contention_across_runtimes() {
    let pg = Pg::new();
    let url = pg.url(None);
    pg.cli_ok(&url, &["init"]);
    let log = pg.path("exclusive.log");
    let locks = pg.path("locks");
    std::fs::create_dir(&locks).unwrap();
    let (ready, stop) = (pg.path("ready"), pg.path("stop"));
    const KEYS: [&str; 3] = ["k1", "k2", "k3"];
    const ROUNDS: usize = 15;

    // Both workers run four runs at once, polling; every run holds the lock of its key while
    // it runs (the job and the handler `exclusive`).
    let mut lib = Reaped::spawn(
        node_cmd("serve", &url, &[log.to_str().unwrap(), "1000000"])
            .env("INTEROP_READY", &ready)
            .env("INTEROP_STOP", &stop)
            .env("INTEROP_EXCLUSIVE", &locks)
            .env("INTEROP_CONCURRENCY", "4"),
    );
    wait_ready(&mut lib, &ready);
    let cli_err = pg.path("work.stderr");
    let cli = Reaped(Some(
        pg.work_cmd(&url, &["--concurrency", "4", "--poll", "50ms"])
            .env("INTEROP_LOG", &log)
            .env("INTEROP_EXCLUSIVE", &locks)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&cli_err).unwrap())
            .spawn()
            .unwrap(),
    ));

    // Producers on both sides enqueue runs of the same keys, coalescing onto a pending one,
    // while a monitor reads the committed leases: never two leased runs of one key.
    let done = std::sync::atomic::AtomicBool::new(false);
    let (created, doubles) = std::thread::scope(|s| {
        let monitor = s.spawn(|| {
            let mut c = pg.client();
            let mut doubles = BTreeSet::new();
            while !done.load(Ordering::Relaxed) {
                for r in c
                    .query(
                        "SELECT concurrency_key, string_agg(id, ' ') FROM durably_runs \
                         WHERE status = 'leased' AND concurrency_key IS NOT NULL \
                         GROUP BY concurrency_key HAVING count(*) > 1",
                        &[],
                    )
                    .expect("read the leases")
                {
                    doubles.insert((r.get::<_, String>(0), r.get::<_, String>(1)));
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            doubles
        });
        let by_cli = s.spawn(|| {
            let mut n = 0;
            for _ in 0..ROUNDS {
                for key in KEYS {
                    let input = json!({ "key": key }).to_string();
                    let r = pg.cli_json(
                        &url,
                        &[
                            "enqueue",
                            "--json",
                            "--job",
                            "exclusive",
                            "--concurrency-key",
                            key,
                            "--coalesce",
                            "--input",
                            &input,
                        ],
                    );
                    n += usize::from(r["disposition"] == "created");
                }
            }
            n
        });
        let mut n = 0;
        for _ in 0..ROUNDS {
            let calls: Vec<Value> = KEYS
                .iter()
                .map(|key| {
                    json!({"job": "exclusive", "input": {"key": key},
                           "options": {"concurrencyKey": key, "coalesce": "skip"}})
                })
                .collect();
            let t = pg.lib("trigger", &url, &[&Value::Array(calls).to_string()]);
            n += t
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["disposition"] == "created")
                .count();
        }
        let created = n + by_cli.join().unwrap();
        let lines = || {
            std::fs::read_to_string(&log)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        };
        wait_for("every run to be executed", || {
            (lines() >= created).then_some(())
        });
        done.store(true, Ordering::Relaxed);
        (created, monitor.join().unwrap())
    });
    std::fs::write(&stop, "stop").unwrap();
    let lib_out = lib.wait();
    node_result("serve", &lib_out);
    let mut cli = cli;
    let child = cli.0.take().unwrap();
    signal(&child, libc::SIGTERM);
    let status = child.wait_with_output().unwrap().status;
    let stderr = std::fs::read_to_string(&cli_err).unwrap_or_default();
    assert!(status.success(), "durably work: {status:?}\n{stderr}");

    // No key was leased twice at once, by either detector: the leases the monitor read, and
    // the locks the runs held while they ran.
    assert!(doubles.is_empty(), "keys leased twice at once: {doubles:?}");
    let seen = appended(&log);
    let overlaps: Vec<_> = seen.iter().filter(|(_, w)| *w == "overlap").collect();
    assert!(overlaps.is_empty(), "runs of one key at once: {overlaps:?}");
    assert_eq!(seen.len(), created);
    let runs = pg.ls(&url, &["--job", "exclusive"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), created);
    for run in runs {
        let id = id_of(run);
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(
            run["leaseGeneration"], 1,
            "run {id} was claimed more than once"
        );
        assert_eq!(run["output"]["by"].as_str(), Some(seen[&id].as_str()));
    }
    let by_lib = seen.values().filter(|w| *w == "library").count();
    eprintln!(
        "contention: {created} runs of {} keys, {by_lib} by the library, {} by the CLI",
        KEYS.len(),
        created - by_lib
    );
}

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn cli_worker_and_library_read_each_others_work() {
    let pg = Pg::new();
    pg.create_schema("work");
    let url = pg.url(Some("work"));
    pg.lib("migrate", &url, &[]);
    let input = json!({"n": 1, "nested": {"a": [1, 2]}, "s": "é"});
    let t = pg.lib(
        "trigger",
        &url,
        &[&json!([
            {"job": "echo", "input": input, "options": {"labels": {"tenant": "t1"}}},
            {"job": "fail", "input": {}, "options": {"labels": {"tenant": "t1"}}},
        ])
        .to_string()],
    );
    let (lib_echo, lib_fail) = (id_of(&t[0]), id_of(&t[1]));
    let cli_echo = id_of(&pg.cli_json(
        &url,
        &[
            "enqueue",
            "--json",
            "--job",
            "echo",
            "--input",
            &input.to_string(),
        ],
    ));

    // The CLI's worker executes all three; its handlers' `durably step`, `log` and `progress`
    // reach the schema of the URL through DURABLY_DB.
    let out = pg.work_cmd(&url, &["--until-idle"]).output().unwrap();
    assert_eq!(
        code(&out),
        5,
        "one run fails: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    pg.assert_same_show(
        &url,
        &[lib_echo.clone(), lib_fail.clone(), cli_echo.clone()],
    );
    let r = pg.lib_read(
        &url,
        &[
            json!({"op": "show", "id": lib_echo}),
            json!({"op": "show", "id": lib_fail}),
        ],
    );
    assert_eq!(
        r[0]["output"],
        json!({"echo": input, "first": {"seen": input}, "second": "two", "by": "cli"})
    );
    assert_eq!(r[0]["progress"], json!({"current": 2, "total": 2}));
    assert_eq!(r[0]["completedStepCount"], 2);
    assert_eq!(r[1]["status"], "failed");
    assert_eq!(r[1]["steps"][1]["status"], "failed");
    // `durably logs --json` prints the library's `Log` objects.
    for id in [&lib_echo, &lib_fail] {
        let text = pg.cli_ok(&url, &["logs", "--json", id]);
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let lib = pg.lib_read(&url, &[json!({"op": "getLogs", "id": id})]);
        assert_eq!(Value::Array(lines), lib[0], "logs of {id}");
    }

    // The same job executed by the library has the same shape: steps, logs, output (the
    // library's last progress report may be lost on PostgreSQL, see above).
    let again = pg.lib(
        "trigger",
        &url,
        &[
            &json!([{"job": "echo", "input": input, "options": {"labels": {"tenant": "t1"}}}])
                .to_string(),
        ],
    );
    assert_eq!(pg.lib("work", &url, &[])["processed"], 1);
    let shape = |id: &str| {
        let mut v = execution_shape(&pg.cli_json(&url, &["show", "--json", id]));
        v["progress"] = json!("…");
        v
    };
    assert_eq!(
        shape(&id_of(&again[0])),
        shape(&lib_echo),
        "left: executed by the library, right: by the CLI"
    );
}

// ---------------------------------------------------------------------------------------------
// Leases across runtimes

impl Pg {
    /// True once the run's lease has run out, by the server's clock in the shared format.
    fn lease_expired(&self, url: &str, id: &str) -> bool {
        let mut c = connect(url).expect("connect to the test database");
        c.query_one(
            "SELECT lease_expires_at < to_char(clock_timestamp() AT TIME ZONE 'UTC', \
                    'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM durably_runs WHERE id = $1",
            &[&id],
        )
        .expect("read the lease")
        .get::<_, Option<bool>>(0)
        .unwrap_or(false)
    }

    /// SIGSTOPs a process at a moment no other connection to the database is inside a
    /// statement or a transaction (stopped inside a lease renewal, it would hold the run's row
    /// lock and every claim would skip the run for good).
    fn stop_outside_a_write(&self, pid: i32) {
        let mut c = self.client();
        for _ in 0..200 {
            // SAFETY: signalling a process we started.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
            let busy: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND pid <> pg_backend_pid() AND state <> 'idle'",
                    &[],
                )
                .expect("read pg_stat_activity")
                .get(0);
            if busy == 0 {
                return;
            }
            // SAFETY: as above.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("process {pid} was always inside a transaction");
    }
}

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn library_takes_over_a_stalled_cli_worker() {
    let pg = Pg::new();
    let url = pg.url(None);
    pg.cli_ok(&url, &["init"]);
    let (mark, go) = (pg.path("marker"), pg.path("go"));
    let id = pg
        .cli_ok(&url, &["enqueue", "--job", "slow"])
        .trim()
        .to_string();
    let worker = Reaped::spawn(
        pg.work_cmd(&url, &["--once", "--lease", "3s"])
            .env("INTEROP_MARKER", &mark)
            .env("INTEROP_GO", &go),
    );
    assert_eq!(marker(&mark), id);
    // The CLI's worker stalls (stopped, so that its renewals do not move the run while it is
    // compared); a run leased by the CLI, as the library sees it.
    let pid = worker.0.as_ref().unwrap().id() as i32;
    pg.stop_outside_a_write(pid);
    pg.assert_same_show(&url, std::slice::from_ref(&id));
    let leased = pg.cli_json(&url, &["show", "--json", &id]);
    assert_eq!(leased["status"], "leased");
    assert_eq!(leased["leaseGeneration"], 1);
    assert!(is_iso_ms(&leased["leaseExpiresAt"]), "{leased}");
    // Once its lease has run out the library claims and completes the run.
    wait_for("the CLI's lease to run out", || {
        pg.lease_expired(&url, &id).then_some(())
    });
    assert_eq!(pg.lib("work", &url, &[])["processed"], 1);
    // The CLI's worker resumes, its handler finishes: nothing it writes lands.
    std::fs::write(&go, "").unwrap();
    // SAFETY: resuming the process we stopped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let out = worker.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        code(&out) != 0 && stderr.contains("lost the lease"),
        "the fenced-out worker: {out:?}"
    );
    let run = pg.cli_json(&url, &["show", "--json", &id]);
    assert_eq!(run["status"], "completed");
    assert_eq!(run["output"], json!({"by": "library"}));
    assert_eq!(run["leaseGeneration"], 2);
    pg.assert_same_show(&url, std::slice::from_ref(&id));
}

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn cli_takes_over_a_stalled_library_worker() {
    let pg = Pg::new();
    let url = pg.url(None);
    pg.lib("migrate", &url, &[]);
    let (mark, go) = (pg.path("marker"), pg.path("go"));
    let t = pg.lib(
        "trigger",
        &url,
        &[&json!([{"job": "slow", "input": {}}]).to_string()],
    );
    let id = id_of(&t[0]);
    // A library worker whose 3 s lease is never renewed: it stalls in the job.
    let lib = Reaped::spawn(
        node_cmd("drain", &url, &[pg.path("unused.log").to_str().unwrap()])
            .env("INTEROP_LEASE_MS", "3000")
            .env("INTEROP_RENEW_MS", "600000")
            .env("INTEROP_MARKER", &mark)
            .env("INTEROP_GO", &go),
    );
    assert_eq!(marker(&mark), id);
    let leased = pg.cli_json(&url, &["show", "--json", &id]);
    assert_eq!(leased["status"], "leased");
    assert!(leased["leaseOwner"]
        .as_str()
        .unwrap()
        .starts_with("worker_"));
    wait_for("the library's lease to run out", || {
        pg.lease_expired(&url, &id).then_some(())
    });
    // The CLI claims the expired run and completes it.
    let out = pg.work_cmd(&url, &["--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The library's job finishes late: its completion is fenced out, and it says so.
    std::fs::write(&go, "").unwrap();
    let out = lib.wait();
    let answer: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert!(
        answer["workerErrors"].to_string().contains("Lease lost"),
        "{answer}"
    );
    let run = pg.cli_json(&url, &["show", "--json", &id]);
    assert_eq!(run["status"], "completed");
    assert_eq!(run["output"], json!({"by": "cli"}));
    assert_eq!(run["leaseGeneration"], 2);
    pg.assert_same_show(&url, std::slice::from_ref(&id));
}

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn each_side_resumes_a_run_the_other_started() {
    let pg = Pg::new();
    let url = pg.url(None);
    pg.lib("migrate", &url, &[]);

    // The library completes step `a`, then stalls with a lease it never renews; the CLI
    // resumes the run with `a` replayed from the library's row, not run again.
    let (mark, go) = (pg.path("marker1"), pg.path("go1"));
    let t = pg.lib(
        "trigger",
        &url,
        &[&json!([{"job": "resumable", "input": {}}]).to_string()],
    );
    let id = id_of(&t[0]);
    let lib = Reaped::spawn(
        node_cmd("drain", &url, &[pg.path("unused.log").to_str().unwrap()])
            .env("INTEROP_LEASE_MS", "3000")
            .env("INTEROP_RENEW_MS", "600000")
            .env("INTEROP_MARKER", &mark)
            .env("INTEROP_GO", &go),
    );
    assert_eq!(marker(&mark), id);
    wait_for("the library's lease to run out", || {
        pg.lease_expired(&url, &id).then_some(())
    });
    let out = pg.work_cmd(&url, &["--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&go, "").unwrap();
    lib.wait();
    let run = pg.cli_json(&url, &["show", "--json", &id]);
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
    pg.assert_same_show(&url, std::slice::from_ref(&id));

    // The CLI completes step `a`, then its worker stalls; the library resumes the run.
    let (mark, go) = (pg.path("marker2"), pg.path("go2"));
    let id = pg
        .cli_ok(&url, &["enqueue", "--job", "resumable"])
        .trim()
        .to_string();
    let worker = Reaped::spawn(
        pg.work_cmd(&url, &["--once", "--lease", "3s"])
            .env("INTEROP_MARKER", &mark)
            .env("INTEROP_GO", &go),
    );
    assert_eq!(marker(&mark), id);
    let pid = worker.0.as_ref().unwrap().id() as i32;
    pg.stop_outside_a_write(pid);
    wait_for("the CLI's lease to run out", || {
        pg.lease_expired(&url, &id).then_some(())
    });
    assert_eq!(pg.lib("work", &url, &[])["processed"], 1);
    std::fs::write(&go, "").unwrap();
    // SAFETY: resuming the process we stopped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    worker.wait();
    let run = pg.cli_json(&url, &["show", "--json", &id]);
    assert_eq!(run["status"], "completed");
    assert_eq!(
        run["output"],
        json!({"a": {"from": "cli", "n": 1}, "b": "library-b", "by": "library"})
    );
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0]["id"].as_str().unwrap().len(), 36, "the CLI's step");
    assert_eq!(steps[1]["name"], "b");
    assert_eq!(
        steps[1]["id"].as_str().unwrap().len(),
        26,
        "the library's step"
    );
    pg.assert_same_show(&url, std::slice::from_ref(&id));
}

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn cancel_reaches_the_other_runtimes_worker() {
    let pg = Pg::new();
    let url = pg.url(None);
    pg.lib("migrate", &url, &[]);

    // The library cancels a run the CLI's worker is executing: the worker stops the handler at
    // its next lease renewal and writes nothing.
    let (mark, go) = (pg.path("marker1"), pg.path("go1"));
    let id = pg
        .cli_ok(&url, &["enqueue", "--job", "slow"])
        .trim()
        .to_string();
    let worker = Reaped::spawn(
        pg.work_cmd(&url, &["--once", "--lease", "3s"])
            .env("INTEROP_MARKER", &mark)
            .env("INTEROP_GO", &go),
    );
    assert_eq!(marker(&mark), id);
    pg.lib("cancel", &url, &[&id]);
    let out = worker.wait();
    assert_eq!(code(&out), 6, "{}", String::from_utf8_lossy(&out.stderr));
    let run = pg.cli_json(&url, &["show", "--json", &id]);
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["output"], Value::Null);
    pg.assert_same_show(&url, std::slice::from_ref(&id));

    // The CLI cancels a run the library's worker is executing: the library's completion is
    // refused (it reports the lost lease) and the run stays cancelled.
    let (mark, go) = (pg.path("marker2"), pg.path("go2"));
    let t = pg.lib(
        "trigger",
        &url,
        &[&json!([{"job": "slow", "input": {}}]).to_string()],
    );
    let id = id_of(&t[0]);
    let lib = Reaped::spawn(
        node_cmd("drain", &url, &[pg.path("unused.log").to_str().unwrap()])
            .env("INTEROP_MARKER", &mark)
            .env("INTEROP_GO", &go),
    );
    assert_eq!(marker(&mark), id);
    pg.cli_ok(&url, &["cancel", &id]);
    std::fs::write(&go, "").unwrap();
    let out = lib.wait();
    let answer: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert!(
        answer["workerErrors"].to_string().contains("Lease lost"),
        "{answer}"
    );
    let run = pg.cli_json(&url, &["show", "--json", &id]);
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["output"], Value::Null);
    pg.assert_same_show(&url, std::slice::from_ref(&id));
}

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn library_trigger_and_wait_is_served_by_a_cli_worker() {
    let pg = Pg::new();
    let url = pg.url(None);
    pg.lib("migrate", &url, &[]);
    // An application triggers and waits; only a CLI worker executes runs.
    let worker = Reaped::spawn(&mut pg.work_cmd(&url, &["--poll", "50ms"]));
    let input = json!({"order": 42, "s": "a\u{fffd}b"});
    let done = pg.lib(
        "triggerAndWait",
        &url,
        &[
            &json!({"job": "echo", "input": input, "options": {"labels": {"app": "web"}}})
                .to_string(),
        ],
    );
    assert_eq!(
        done["output"],
        json!({"echo": input, "first": {"seen": input}, "second": "two", "by": "cli"})
    );
    let pid = worker.0.as_ref().unwrap().id() as i32;
    // SAFETY: signalling the process we started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = worker.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pg.assert_same_show(&url, &[id_of(&done)]);

    // JavaScript strings may hold half a surrogate pair; JSON.stringify writes it as an escape.
    let t = pg.lib(
        "trigger",
        &url,
        &[r#"[{"job":"quiet","input":{"s":"a\ud800b"},"options":{"labels":{"k":"\udfff"}}}]"#],
    );
    let shown = pg.cli_json(&url, &["show", "--json", &id_of(&t[0])]);
    assert_eq!(shown["input"], json!({"s": "a\u{fffd}b"}));
    assert_eq!(shown["labels"], json!({"k": "\u{fffd}"}));
}

#[test]
#[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
fn logs_follow_prints_the_library_s_logs_until_its_run_ends() {
    let pg = Pg::new();
    let url = pg.url(None);
    pg.lib("migrate", &url, &[]);
    let t = pg.lib(
        "trigger",
        &url,
        &[&json!([{"job": "echo", "input": {"f": 1}}]).to_string()],
    );
    let id = id_of(&t[0]);
    // Following a pending run: it prints what the library's worker logs, and ends with the run.
    let follow = Reaped::spawn(&mut pg.cli_cmd(&url, &["logs", "--follow", "--json", &id]));
    assert_eq!(pg.lib("work", &url, &[])["processed"], 1);
    let out = follow.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let followed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stored = pg.lib_read(&url, &[json!({"op": "getLogs", "id": id})]);
    let stored = stored[0].as_array().unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
    // The library does not wait for its log writes, so one may commit after the run's
    // completion that ends the follow: what was printed is the stored logs, in order, or the
    // stored logs but such a late one.
    let mut rest = stored.iter();
    for line in &followed {
        assert!(
            rest.any(|s| s == line),
            "followed {line} is not among the stored logs, in order: {stored:?}"
        );
    }
    assert!(!followed.is_empty(), "nothing followed of {stored:?}");
}
