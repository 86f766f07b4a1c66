//! `--db postgres://…`: the schema the library's migrate() creates, every command's answers
//! equal to the SQLite backend's on the same input, the unique-index rules under racing
//! processes, all-or-nothing batches, and one clear line when the server is unreachable.
//!
//! The tests that need a server read its URL from `DURABLY_TEST_PG` (e.g.
//! `postgres://durably:durably@127.0.0.1:5432/postgres`), create a database of their own and
//! drop it at the end. They are ignored by default; run them with
//! `DURABLY_TEST_PG=… cargo test --test integration postgres:: -- --include-ignored`.

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Command;

const NEEDS_PG: &str = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does";

/// `base` (a server URL) with its database name replaced by `db`.
fn with_db(base: &str, db: &str) -> String {
    let (url, query) = match base.split_once('?') {
        Some((u, q)) => (u, format!("?{q}")),
        None => (base, String::new()),
    };
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    format!("{}/{db}{query}", &url[..path])
}

/// A database of one test on the server of `DURABLY_TEST_PG`, dropped at the end.
struct PgDb {
    base: String,
    name: String,
    url: String,
    home: tempfile::TempDir,
}

impl PgDb {
    #[track_caller]
    fn new(test: &str) -> PgDb {
        let base = std::env::var("DURABLY_TEST_PG").unwrap_or_else(|_| panic!("{NEEDS_PG}"));
        let name = format!("durably_t_{test}_{}", std::process::id());
        let mut admin = postgres::Client::connect(&base, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to DURABLY_TEST_PG: {e}"));
        // One statement per call: DROP/CREATE DATABASE refuse a multi-statement string.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .expect("drop a leftover test database");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        PgDb {
            url: with_db(&base, &name),
            base,
            name,
            home: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the test db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = bare_command(self.home.path());
        c.arg("--db").arg(&self.url).args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Out {
        run_command(self.command(args), None)
    }

    fn run_stdin(&self, args: &[&str], stdin: &str) -> Out {
        run_command(self.command(args), Some(stdin.as_bytes()))
    }

    fn count(&self, table: &str) -> i64 {
        self.client()
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .expect("count")
            .get(0)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// The library's indexes as pg_indexes shows them (packages/durably/src/migrations.ts).
const LIBRARY_INDEXES: &[(&str, &str)] = &[
    ("durably_logs_pkey", "CREATE UNIQUE INDEX durably_logs_pkey ON public.durably_logs USING btree (id)"),
    ("durably_runs_pkey", "CREATE UNIQUE INDEX durably_runs_pkey ON public.durably_runs USING btree (id)"),
    ("durably_schema_versions_pkey", "CREATE UNIQUE INDEX durably_schema_versions_pkey ON public.durably_schema_versions USING btree (version)"),
    ("durably_steps_pkey", "CREATE UNIQUE INDEX durably_steps_pkey ON public.durably_steps USING btree (id)"),
    ("idx_durably_logs_run_created", "CREATE INDEX idx_durably_logs_run_created ON public.durably_logs USING btree (run_id, created_at)"),
    ("idx_durably_run_labels_key_value", "CREATE INDEX idx_durably_run_labels_key_value ON public.durably_run_labels USING btree (key, value)"),
    ("idx_durably_run_labels_pk", "CREATE UNIQUE INDEX idx_durably_run_labels_pk ON public.durably_run_labels USING btree (run_id, key)"),
    ("idx_durably_runs_job_created", "CREATE INDEX idx_durably_runs_job_created ON public.durably_runs USING btree (job_name, created_at)"),
    ("idx_durably_runs_job_idempotency", "CREATE UNIQUE INDEX idx_durably_runs_job_idempotency ON public.durably_runs USING btree (job_name, idempotency_key)"),
    ("idx_durably_runs_pending_concurrency", "CREATE UNIQUE INDEX idx_durably_runs_pending_concurrency ON public.durably_runs USING btree (job_name, concurrency_key) WHERE ((status = 'pending'::text) AND (concurrency_key IS NOT NULL))"),
    ("idx_durably_runs_status_completed", "CREATE INDEX idx_durably_runs_status_completed ON public.durably_runs USING btree (status, completed_at)"),
    ("idx_durably_runs_status_concurrency", "CREATE INDEX idx_durably_runs_status_concurrency ON public.durably_runs USING btree (status, concurrency_key)"),
    ("idx_durably_runs_status_created", "CREATE INDEX idx_durably_runs_status_created ON public.durably_runs USING btree (status, created_at)"),
    ("idx_durably_runs_status_lease_expires", "CREATE INDEX idx_durably_runs_status_lease_expires ON public.durably_runs USING btree (status, lease_expires_at)"),
    ("idx_durably_steps_completed_unique", "CREATE UNIQUE INDEX idx_durably_steps_completed_unique ON public.durably_steps USING btree (run_id, name) WHERE (status = 'completed'::text)"),
    ("idx_durably_steps_run_index", "CREATE INDEX idx_durably_steps_run_index ON public.durably_steps USING btree (run_id, index)"),
];

/// Our own indexes (sql/postgres/extra.sql).
const OUR_INDEXES: &[&str] = &[
    "idx_durably_runs_created_id",
    "idx_durably_runs_id_c",
    "idx_durably_runs_id_tail",
    "idx_durably_runs_job_status_created_id",
    "idx_durably_runs_status_created_id",
    "idx_durably_runs_updated_id",
    "idx_durably_runs_pending_created_id",
];

fn indexes(db: &PgDb) -> HashMap<String, String> {
    db.client()
        .query(
            // Not the indexes of our own tables (durably_cli_*, sql/postgres/cli.sql).
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = 'public' \
              AND tablename NOT LIKE 'durably\\_cli\\_%'",
            &[],
        )
        .expect("pg_indexes")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn init_creates_the_library_schema() {
    let db = PgDb::new("init_schema");
    let out = db.run(&["init"]);
    out.ok();
    assert!(out.stdout.contains("schema v1"), "{out:?}");
    assert!(!out.stdout.contains("journal"), "{out:?}");

    let found = indexes(&db);
    for (name, def) in LIBRARY_INDEXES {
        assert_eq!(
            found.get(*name).map(String::as_str),
            Some(*def),
            "index {name}"
        );
    }
    for name in OUR_INDEXES {
        assert!(found.contains_key(*name), "our index {name} is missing");
    }
    assert_eq!(
        found.len(),
        LIBRARY_INDEXES.len() + OUR_INDEXES.len(),
        "{found:?}"
    );

    // Columns: the library's types, nullability and defaults.
    let columns: Vec<(String, String, String, String, Option<String>)> = db
        .client()
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, \
             column_default::text FROM information_schema.columns WHERE table_schema = 'public' \
             AND table_name = 'durably_runs' ORDER BY ordinal_position",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let labels = columns.iter().find(|c| c.1 == "labels").expect("labels");
    assert_eq!(
        (labels.2.as_str(), labels.3.as_str(), labels.4.as_deref()),
        ("text", "NO", Some("'{}'::text"))
    );
    let generation = columns.iter().find(|c| c.1 == "lease_generation").unwrap();
    assert_eq!(
        (generation.2.as_str(), generation.4.as_deref()),
        ("integer", Some("0"))
    );
    assert_eq!(columns.len(), 19, "{columns:?}");

    let version: Vec<(i32, String)> = db
        .client()
        .query(
            "SELECT version, applied_at FROM durably_schema_versions",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(version.len(), 1);
    assert_eq!(version[0].0, 1);
    assert_eq!(version[0].1.len(), 24, "timestamp text: {:?}", version[0].1);

    // Idempotent; a dropped index of ours and one of the library's come back.
    db.client()
        .batch_execute(
            "DROP INDEX idx_durably_runs_created_id; DROP INDEX idx_durably_runs_job_created",
        )
        .unwrap();
    db.run(&["ls"])
        .fails(1, "lacks index idx_durably_runs_job_created");
    db.run(&["init"]).ok();
    assert_eq!(indexes(&db), found);
    // Journal modes are SQLite's.
    db.run(&["init", "--wal"]).fails(2, "--wal");
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn readers_refuse_a_database_without_the_schema() {
    let db = PgDb::new("no_schema");
    for cmd in [&["ls"][..], &["stats"], &["show", "abc"]] {
        let out = db.run(cmd);
        out.code(1);
        assert_one_error_line(&out.stderr, "has no durably schema");
    }
    assert_eq!(
        db.client()
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                &[]
            )
            .unwrap()
            .get::<_, i64>(0),
        0,
        "a reader created something"
    );
    // A newer schema version is refused.
    db.run(&["init"]).ok();
    db.client()
        .batch_execute("INSERT INTO durably_schema_versions VALUES (2, '2030-01-01T00:00:00.000Z')")
        .unwrap();
    db.run(&["ls"]).fails(1, "schema version 2");
}

/// Ids (UUID text) replaced by `#n` in order of first appearance, timestamps by `TIME`.
#[derive(Default)]
struct Redact {
    ids: HashMap<String, usize>,
}

impl Redact {
    fn text(&mut self, s: &str) -> String {
        s.split_inclusive(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '"')
            .map(|w| {
                let trimmed = w.trim_end_matches(|c: char| {
                    c.is_whitespace() || c == '(' || c == ')' || c == '"'
                });
                let rest = &w[trimmed.len()..];
                format!("{}{rest}", self.word(trimmed))
            })
            .collect()
    }

    fn word(&mut self, w: &str) -> String {
        let b = w.as_bytes();
        if b.len() == 36 && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-') {
            let n = self.ids.len();
            return format!("#{}", self.ids.entry(w.to_string()).or_insert(n));
        }
        if b.len() >= 8 {
            let lower = w.to_lowercase();
            if let Some((_, n)) = self.ids.iter().find(|(id, _)| id.starts_with(&lower)) {
                return format!("prefix of #{n}");
            }
        }
        if b.len() == 24 && b[10] == b'T' && b[23] == b'Z' {
            return "TIME".into();
        }
        w.to_string()
    }

    fn value(&mut self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.word(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.value(x)).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), self.value(x))).collect())
            }
            other => other.clone(),
        }
    }

    /// Exit code, stdout (JSON when it parses, each line for NDJSON) and stderr, redacted.
    fn out(&mut self, out: &Out) -> Value {
        let stdout = match serde_json::from_str::<Value>(&out.stdout) {
            Ok(v) => self.value(&v),
            Err(_) => Value::Array(
                out.stdout
                    .lines()
                    .map(|l| match serde_json::from_str::<Value>(l) {
                        Ok(v) => self.value(&v),
                        Err(_) => Value::String(self.text(l)),
                    })
                    .collect(),
            ),
        };
        json!({"code": out.code, "stdout": stdout, "stderr": self.text(&out.stderr)})
    }
}

/// One sequence of commands; `run` runs one (with stdin), `finish` marks a run terminal as a
/// worker would (status, completed_at).
fn scenario(run: &dyn Fn(&[&str], &str) -> Out, exec: &dyn Fn(&str)) -> Vec<Value> {
    let finish = |id: &str, status: &str| {
        exec(&format!(
            "UPDATE durably_runs SET status = '{status}', completed_at = '2020-01-01T00:00:00.000Z' WHERE id = '{id}'"
        ))
    };
    let mut r = Redact::default();
    let mut log = Vec::new();
    let mut step = |args: &[&str], stdin: &str, r: &mut Redact| -> Out {
        let out = run(args, stdin);
        let args: Vec<String> = args.iter().map(|a| r.word(a)).collect();
        log.push(json!({"args": args, "out": r.out(&out)}));
        out
    };
    let id_of = |out: &Out| out.json()["id"].as_str().expect("id").to_string();
    let a = step(
        &[
            "enqueue",
            "--job",
            "email",
            "-l",
            "tenant=a",
            "--input",
            r#"{"n":1}"#,
            "--json",
        ],
        "",
        &mut r,
    );
    let a = id_of(&a);
    let b = step(
        &[
            "enqueue",
            "--job",
            "email",
            "--idempotency-key",
            "k",
            "--json",
        ],
        "",
        &mut r,
    );
    let b = id_of(&b);
    step(
        &[
            "enqueue",
            "--job",
            "email",
            "--idempotency-key",
            "k",
            "--json",
        ],
        "",
        &mut r,
    );
    let c = step(
        &[
            "enqueue",
            "--job",
            "sync",
            "--concurrency-key",
            "c",
            "--json",
        ],
        "",
        &mut r,
    );
    let c = id_of(&c);
    step(
        &["enqueue", "--job", "sync", "--concurrency-key", "c"],
        "",
        &mut r,
    );
    step(
        &[
            "enqueue",
            "--job",
            "sync",
            "--concurrency-key",
            "c",
            "--coalesce",
            "--json",
        ],
        "",
        &mut r,
    );
    step(
        &["enqueue-many", "--json", "-"],
        "{\"job\":\"bulk\",\"labels\":{\"tenant\":\"b\"}}\n{\"job\":\"bulk\",\"input\":[1,2]}\n{\"job\":\"email\",\"idempotencyKey\":\"k\"}\n",
        &mut r,
    );
    step(&["ls", "--json"], "", &mut r);
    step(
        &["ls", "--status", "pending", "--job", "email", "--json"],
        "",
        &mut r,
    );
    step(&["ls", "-l", "tenant=a", "--json"], "", &mut r);
    step(
        &["ls", "--limit", "2", "--offset", "1", "--format", "ids"],
        "",
        &mut r,
    );
    step(&["ls", "--before", &c, "--format", "ids"], "", &mut r);
    step(
        &[
            "ls",
            "--status",
            "pending",
            "--status",
            "cancelled",
            "--job",
            "sync",
            "--job",
            "email",
            "--format",
            "ids",
        ],
        "",
        &mut r,
    );
    step(&["stats", "--json"], "", &mut r);
    step(&["show", &a[..13], "--json"], "", &mut r);
    step(&["show", "zzzz"], "", &mut r);
    step(&["cancel", &a, "--json"], "", &mut r);
    step(&["cancel", &a], "", &mut r);
    step(&["retrigger", &a, "--json"], "", &mut r);
    step(&["retrigger", &c], "", &mut r);
    // A step and logs, as a worker writes them: show and logs read them back in order.
    exec(&format!(
        "INSERT INTO durably_steps (id, run_id, name, \"index\", status, output, started_at, completed_at) \
         VALUES ('s1', '{b}', 'fetch', 0, 'completed', '{{\"n\":2}}', '2020-01-01T00:00:00.000Z', '2020-01-01T00:00:00.001Z')"
    ));
    for (i, msg) in ["first", "second", "third"].iter().enumerate() {
        exec(&format!(
            "INSERT INTO durably_logs (id, run_id, step_name, level, message, data, created_at) \
             VALUES ('l{i}', '{b}', 'fetch', 'info', '{msg}', NULL, '2020-01-01T00:00:00.00{i}Z')"
        ));
    }
    step(&["show", &b, "--json"], "", &mut r);
    step(&["logs", &b, "--json"], "", &mut r);
    step(&["logs", &b], "", &mut r);
    step(&["wait", &b, "--timeout", "200ms"], "", &mut r);
    finish(&b, "completed");
    finish(&c, "failed");
    step(&["wait", &b, "--json"], "", &mut r);
    step(&["logs", &b, "--follow"], "", &mut r);
    step(&["rm", &c.to_uppercase()[..20], "--json"], "", &mut r);
    step(&["rm", &a], "", &mut r);
    step(
        &["rm", "--older-than", "0s", "--dry-run", "--json"],
        "",
        &mut r,
    );
    step(&["rm", "--older-than", "0s", "--json"], "", &mut r);
    step(&["ls", "--json"], "", &mut r);
    step(&["stats", "--json"], "", &mut r);
    log
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn commands_answer_as_on_sqlite() {
    let db = PgDb::new("as_sqlite");
    let pg = scenario(&|args, stdin| db.run_stdin(args, stdin), &|sql| {
        db.client().batch_execute(sql).expect("test statement")
    });
    let env = Env::new();
    let sqlite = scenario(&|args, stdin| env.run_stdin(args, stdin), &|sql| {
        env.conn().execute_batch(sql).expect("test statement")
    });
    assert_eq!(pg.len(), sqlite.len());
    for (p, s) in pg.iter().zip(&sqlite) {
        // Stderr names the database: the file path or the server.
        let strip = |v: &Value| {
            let mut v = v.clone();
            let err = v["out"]["stderr"].as_str().unwrap_or("").to_string();
            v["out"]["stderr"] =
                Value::String(err.split(&['/', ':'][..]).next().unwrap_or("").into());
            v
        };
        assert_eq!(strip(p), strip(s), "PostgreSQL and SQLite differ");
    }
    // Both sequences did what they say.
    let codes: Vec<i64> = pg
        .iter()
        .map(|v| v["out"]["code"].as_i64().unwrap())
        .collect();
    // Conflicts: the taken concurrency key, a second cancel, retriggering a pending run.
    assert_eq!(codes.iter().filter(|&&c| c == 4).count(), 3, "{codes:?}");
    assert_eq!(codes.iter().filter(|&&c| c == 124).count(), 1, "{codes:?}");
    let shown = pg
        .iter()
        .find(|v| {
            v["args"][0] == "show"
                && v["out"]["stdout"]["steps"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty())
        })
        .expect("show of the run with a step");
    let messages: Vec<&Value> = shown["out"]["stdout"]["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["message"])
        .collect();
    assert_eq!(
        messages,
        [&json!("first"), &json!("second"), &json!("third")]
    );
    assert_eq!(codes.iter().filter(|&&c| c == 3).count(), 1, "{codes:?}");
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn enqueue_many_is_all_or_nothing() {
    let db = PgDb::new("all_or_nothing");
    db.run(&["init"]).ok();
    let mut lines = String::new();
    for i in 0..5000 {
        lines.push_str(&format!(
            "{{\"job\":\"j\",\"input\":{{\"i\":{i}}},\"labels\":{{\"t\":\"x\"}}}}\n"
        ));
    }
    lines.push_str(
        "{\"job\":\"j\",\"concurrencyKey\":\"c\"}\n{\"job\":\"j\",\"concurrencyKey\":\"c\"}\n",
    );
    let out = db.run_stdin(&["enqueue-many", "-"], &lines);
    out.code(4);
    assert!(out.stderr.contains("line 5002"), "{out:?}");
    assert_eq!(db.count("durably_runs"), 0);
    assert_eq!(db.count("durably_run_labels"), 0);

    let bad = "{\"job\":\"j\"}\n{\"job\":\"j\",\"labels\":{\"x\":1}}\n";
    db.run_stdin(&["enqueue-many", "-"], bad)
        .fails(1, "nothing was enqueued");
    assert_eq!(db.count("durably_runs"), 0);

    // Without the bad lines: every run with its label row.
    lines.truncate(lines.len() - "{\"job\":\"j\",\"concurrencyKey\":\"c\"}\n".len());
    let out = db.run_stdin(&["enqueue-many", "-"], &lines);
    out.ok();
    assert_eq!(out.stdout.lines().count(), 5001);
    assert_eq!(db.count("durably_runs"), 5001);
    assert_eq!(db.count("durably_run_labels"), 5000);
    let mismatched: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM durably_runs r WHERE r.labels <> '{}' AND NOT EXISTS \
             (SELECT 1 FROM durably_run_labels l WHERE l.run_id = r.id AND l.key = 't' AND l.value = 'x')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(mismatched, 0);
}

/// Processes racing on one key all get the right answer: one creates, the others find it.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn racing_enqueuers_share_one_key() {
    let db = PgDb::new("racing_keys");
    db.run(&["init"]).ok();
    let race = |args: &[&str]| -> Vec<Out> {
        let children: Vec<_> = (0..8)
            .map(|_| {
                let mut c = db.command(args);
                c.stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .stdin(std::process::Stdio::null());
                c.spawn().expect("spawn")
            })
            .collect();
        children
            .into_iter()
            .map(|c| Out::from(c.wait_with_output().expect("wait")))
            .collect()
    };
    let outs = race(&["enqueue", "--job", "j", "--idempotency-key", "k", "--json"]);
    let mut ids: Vec<String> = outs
        .iter()
        .map(|o| o.ok().json()["id"].as_str().unwrap().into())
        .collect();
    let created = outs
        .iter()
        .filter(|o| o.json()["disposition"] == "created")
        .count();
    assert_eq!(created, 1, "{outs:?}");
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");

    let outs = race(&["enqueue", "--job", "j", "--concurrency-key", "c"]);
    assert_eq!(outs.iter().filter(|o| o.code == 0).count(), 1, "{outs:?}");
    for o in outs.iter().filter(|o| o.code != 0) {
        o.code(4);
        assert_one_error_line(&o.stderr, "already exists");
    }
    let outs = race(&[
        "enqueue",
        "--job",
        "j",
        "--concurrency-key",
        "d",
        "--coalesce",
        "--json",
    ]);
    let ids: std::collections::BTreeSet<String> = outs
        .iter()
        .map(|o| o.ok().json()["id"].as_str().unwrap().into())
        .collect();
    assert_eq!(ids.len(), 1, "{outs:?}");
    assert_eq!(db.count("durably_runs"), 3);
}

#[test]
fn an_unreachable_server_is_one_line() {
    let home = tempfile::tempdir().unwrap();
    let mut c = bare_command(home.path());
    c.args(["--db", "postgres://someone:s3cret@127.0.0.1:1/x", "ls"]);
    let out = run_command(c, None);
    out.code(1);
    assert_one_error_line(&out.stderr, "cannot connect to PostgreSQL at 127.0.0.1:1/x");
    assert!(!out.stderr.contains("s3cret"), "{out:?}");
    // A bad sslmode is a usage error before any connection.
    let mut c = bare_command(home.path());
    c.args(["--db", "postgres://127.0.0.1:1/x?sslmode=sometimes", "ls"]);
    run_command(c, None).fails(2, "sslmode");
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn a_wrong_password_is_one_line_without_it() {
    let db = PgDb::new("wrong_password");
    let url = db.url.replacen("://", "://nobody_here:n0tthepassword@", 1);
    let url = match url.find('@') {
        // A URL that had credentials keeps only ours.
        Some(_) if db.url.contains('@') => {
            let (scheme, rest) = db.url.split_once("://").unwrap();
            let host = rest.split_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://nobody_here:n0tthepassword@{host}")
        }
        _ => url,
    };
    let mut c = bare_command(db.home.path());
    c.args(["--db", &url, "ls"])
        .env("PGPASSFILE", "/nonexistent");
    let out = run_command(c, None);
    out.code(1);
    assert_one_error_line(&out.stderr, "cannot connect to PostgreSQL");
    assert!(!out.stderr.contains("n0tthepassword"), "{out:?}");
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn the_pg_variables_fill_the_url() {
    let db = PgDb::new("pg_env");
    // Everything but the scheme from the environment, as libpq reads it.
    let client = db.client();
    drop(client);
    let base = db.base.clone();
    let (_, rest) = base.split_once("://").unwrap();
    let rest = rest.split('?').next().unwrap();
    let (auth, hostpart) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let hostport = hostpart.split('/').next().unwrap();
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    let mut c = bare_command(db.home.path());
    c.args(["--db", "postgres://", "init"])
        .env("PGHOST", host)
        .env("PGPORT", port)
        .env("PGUSER", user)
        .env("PGPASSWORD", password)
        .env("PGDATABASE", &db.name)
        .env("PGSSLMODE", "prefer");
    let out = run_command(c, None);
    out.ok();
    assert!(out.stdout.contains(&format!("/{}", db.name)), "{out:?}");
    assert_eq!(db.count("durably_schema_versions"), 1);
}

/// A server reached through its Unix socket (`PGHOST=/dir`, the usual local setup with peer
/// authentication): every command and a worker and its handlers work with the default sslmode,
/// and with `require`, which libpq ignores over a Unix socket (no TLS there; the kernel carries
/// the bytes). Needs the test server on this machine, as CI has it.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn a_unix_socket_connects_whatever_the_sslmode() {
    let db = PgDb::new("unix_socket");
    let mut c = db.client();
    let dirs: String = c
        .query_one("SHOW unix_socket_directories", &[])
        .unwrap()
        .get(0);
    let port: String = c.query_one("SHOW port", &[]).unwrap().get(0);
    let user: String = c
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    let dir = dirs
        .split(',')
        .map(str::trim)
        .find(|d| d.starts_with('/'))
        .unwrap_or_else(|| panic!("the test server has no Unix socket directory ({dirs:?})"));
    let socket = format!("{dir}/.s.PGSQL.{port}");
    assert!(
        std::path::Path::new(&socket).exists(),
        "{socket}: the test server must run on this machine for this test"
    );
    for mode in ["", "?sslmode=require"] {
        let run = |args: &[&str]| {
            let mut cmd = bare_command(db.home.path());
            cmd.args(["--db", &format!("postgres:///{}{mode}", db.name)])
                .args(args)
                .env("PGHOST", dir)
                .env("PGPORT", &port)
                .env("PGUSER", &user)
                .env_remove("PGSSLMODE");
            run_command(cmd, None)
        };
        run(&["init"]).ok();
        let id = run(&["enqueue", "--job", "j"]).ok().line().to_string();
        // The handler's own `durably` commands reach the server the same way.
        run(&[
            "work",
            "--until-idle",
            "--",
            "sh",
            "-c",
            "durably log hello && echo 1",
        ])
        .ok();
        let v = run(&["show", &id, "--json"]).ok().json();
        assert_eq!(v["status"], "completed", "{mode}: {v}");
        assert_eq!(v["output"], 1, "{mode}: {v}");
    }
}

#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn the_search_path_chooses_the_schema() {
    let db = PgDb::new("search_path");
    db.client().batch_execute("CREATE SCHEMA tenant_a").unwrap();
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}options=-csearch_path%3Dtenant_a", db.url);
    let run = |args: &[&str]| {
        let mut c = bare_command(db.home.path());
        c.arg("--db").arg(&url).args(args);
        run_command(c, None)
    };
    run(&["init"]).ok();
    let id = run(&["enqueue", "--job", "j"]).ok().line().to_string();
    assert_eq!(run(&["ls", "--format", "ids"]).ok().line(), id);
    let in_schema = |schema: &str| -> i64 {
        db.client()
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'durably%' \
                   AND tablename NOT LIKE 'durably\\_cli\\_%'",
                &[&schema],
            )
            .unwrap()
            .get(0)
    };
    assert_eq!(in_schema("tenant_a"), 5);
    assert_eq!(in_schema("public"), 0);
    // The default schema has none: a reader is refused there.
    db.run(&["ls"]).fails(1, "has no durably schema");
}

/// The first page of `ls` reads an index in order and stops: no scan of the table, no sort of
/// all matches, no parallel plan, for status, job and `--before` filters and for two or more
/// conditions with labels (EXPLAIN of `ls --explain` on 20k runs after ANALYZE). A label
/// matching more runs than the bound √(page × runs) is probed per run while an index is walked
/// newest first; a rarer one drives from `idx_durably_run_labels_key_value`. Each filter's page
/// equals the one a plain query sorts out of every match.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn ls_plans_read_a_page_off_an_index() {
    let db = PgDb::new("ls_plans");
    db.run(&["init"]).ok();
    // tenant t{i%50}: 400 runs each, under the label-first bound (1,000 at 20k runs);
    // kind k{i%3}: 6,667 runs each, over it.
    let mut lines = String::new();
    for i in 0..20_000 {
        lines.push_str(&format!(
            "{{\"job\":\"j{}\",\"labels\":{{\"tenant\":\"t{}\",\"kind\":\"k{}\"}}}}\n",
            i % 4,
            i % 50,
            i % 3
        ));
    }
    db.run_stdin(&["enqueue-many", "-q", "-"], &lines).ok();
    // The runs whose id ends in 1, 8 or b failed: a status of some runs, not all.
    db.client()
        .batch_execute(
            "UPDATE durably_runs SET status = 'failed' WHERE ascii(right(id, 1)) % 7 = 0; ANALYZE",
        )
        .unwrap();
    let last = db
        .run(&["ls", "--limit", "1", "--format", "ids"])
        .ok()
        .line()
        .to_string();
    let walk = Some("index-streams");
    let by_label = Some("label-first");
    let cases: [(&[&str], Option<&str>); 12] = [
        (&[], None),
        (&["--status", "pending"], None),
        (&["--job", "j1"], None),
        (&["--job", "j1", "--job", "j2"], None),
        (&["--status", "pending", "--status", "failed"], None),
        (&["--before", &last], None),
        (&["--label", "kind=k1", "--status", "failed"], walk),
        (&["--label", "kind=k1", "--job", "j1"], walk),
        (&["--label", "kind=k1", "--label", "kind=k1"], walk),
        (&["--label", "tenant=t3", "--status", "failed"], by_label),
        (&["--label", "tenant=t3", "--label", "kind=k1"], by_label),
        (
            &[
                "--label",
                "tenant=t3",
                "--label",
                "kind=k2",
                "--job",
                "j3",
                "--status",
                "pending",
            ],
            by_label,
        ),
    ];
    let mut client = db.client();
    for (filter, strategy) in cases {
        let mut args = vec!["ls", "--explain"];
        args.extend_from_slice(filter);
        let out = db.run(&args);
        out.ok();
        let plan: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("  ")).collect();
        assert!(
            plan[0].trim_start().starts_with("Limit"),
            "{filter:?}: {out:?}"
        );
        for bad in ["Seq Scan on durably_runs", "Gather", "Hash"] {
            assert!(!out.stdout.contains(bad), "{filter:?} plans {bad}: {out:?}");
        }
        if let Some(strategy) = strategy {
            assert!(
                out.stdout.contains(&format!("strategy: {strategy}\n")),
                "{filter:?} is not {strategy}: {out:?}"
            );
        }
        if strategy == by_label {
            assert!(
                out.stdout.contains("on idx_durably_run_labels_key_value")
                    && out.stdout.contains("Index Scan using durably_runs_pkey"),
                "{filter:?} does not drive from the label index: {out:?}"
            );
        } else {
            assert!(
                out.stdout.contains("Index Scan Backward")
                    || out.stdout.contains("Index Only Scan Backward"),
                "{filter:?} does not read an index newest first: {out:?}"
            );
        }
        // The page: what a plain query sorts out of every match.
        let mut sql = String::from("SELECT id FROM durably_runs AS r WHERE TRUE");
        let mut params: Vec<String> = Vec::new();
        let (mut statuses, mut jobs) = (Vec::new(), Vec::new());
        for pair in filter.chunks(2) {
            let value = pair[1].to_string();
            match pair[0] {
                "--status" => statuses.push(value),
                "--job" => jobs.push(value),
                "--before" => {
                    params.push(value);
                    let n = params.len();
                    sql.push_str(&format!(
                        " AND (created_at, id COLLATE \"C\") < \
                         (SELECT created_at, id COLLATE \"C\" FROM durably_runs WHERE id = ${n})"
                    ));
                }
                _ => {
                    let (k, v) = value.split_once('=').unwrap();
                    params.push(k.into());
                    params.push(v.into());
                    let n = params.len();
                    sql.push_str(&format!(
                        " AND EXISTS (SELECT 1 FROM durably_run_labels AS l \
                         WHERE l.run_id = r.id AND l.key = ${} AND l.value = ${n})",
                        n - 1
                    ));
                }
            }
        }
        for (column, values) in [("status", statuses), ("job_name", jobs)] {
            if !values.is_empty() {
                params.push(values.join(","));
                sql.push_str(&format!(
                    " AND {column} = ANY(string_to_array(${}, ','))",
                    params.len()
                ));
            }
        }
        sql.push_str(" ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT 50");
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let want: Vec<String> = client
            .query(&sql, &refs)
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(!want.is_empty(), "{filter:?} matches no run");
        let mut args = vec!["ls", "--limit", "50", "--format", "ids"];
        args.extend_from_slice(filter);
        let got = db.run(&args);
        let got: Vec<&str> = got.ok().stdout.lines().collect();
        assert_eq!(got, want, "{filter:?}");
    }
}

/// `--busy-timeout` bounds a writer's wait for a row lock, as it bounds the wait for SQLite's
/// write lock: one line, exit 1, nothing changed.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn busy_timeout_bounds_lock_waits() {
    let db = PgDb::new("lock_wait");
    db.run(&["init"]).ok();
    let id = db.run(&["enqueue", "--job", "j"]).ok().line().to_string();
    let mut holder = db.client();
    let mut tx = holder.transaction().unwrap();
    tx.execute(
        "SELECT 1 FROM durably_runs WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .unwrap();
    db.run(&["--busy-timeout", "300ms", "cancel", &id])
        .fails(1, "lock timeout");
    tx.rollback().unwrap();
    let out = db.run(&["show", &id, "--json"]);
    assert_eq!(out.ok().json()["status"], "pending");
    db.run(&["cancel", &id]).ok();
}

/// sslmode: disable and prefer connect to any server; verify-full without a root certificate
/// for the server's own is refused (a self-signed certificate, or a server without TLS), one
/// line and exit 1.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn sslmode_is_read_from_the_url() {
    let db = PgDb::new("sslmode");
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let with = |mode: &str| {
        let mut c = bare_command(db.home.path());
        c.arg("--db")
            .arg(format!("{}{sep}sslmode={mode}", db.url))
            .arg("init")
            .env("PGSSLROOTCERT", "/nonexistent/root.crt");
        run_command(c, None)
    };
    with("disable").ok();
    with("prefer").ok();
    let out = with("verify-full");
    out.code(1);
    assert_one_error_line(&out.stderr, "cannot");
}

/// Processes that find no schema at once create it once: the advisory lock serialises them and
/// the later ones find the version row.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn concurrent_first_writers_create_the_schema_once() {
    let db = PgDb::new("schema_race");
    let children: Vec<_> = (0..6)
        .map(|i| {
            let job = format!("j{i}");
            let mut c = db.command(&["enqueue", "--job", &job]);
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .stdin(std::process::Stdio::null());
            c.spawn().expect("spawn")
        })
        .collect();
    for c in children {
        Out::from(c.wait_with_output().expect("wait")).ok();
    }
    assert_eq!(db.count("durably_schema_versions"), 1);
    assert_eq!(db.count("durably_runs"), 6);
}

/// A purge larger than one batch deletes every matching run with its labels, steps and logs,
/// and nothing else.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn purge_deletes_in_batches_with_the_runs_rows() {
    let db = PgDb::new("purge_batches");
    db.run(&["init"]).ok();
    let mut lines = String::new();
    for i in 0..2500 {
        lines.push_str(&format!(
            "{{\"job\":\"{}\",\"labels\":{{\"t\":\"x\"}}}}\n",
            if i % 5 == 0 { "keep" } else { "old" }
        ));
    }
    db.run_stdin(&["enqueue-many", "-q", "-"], &lines).ok();
    db.client()
        .batch_execute(
            "UPDATE durably_runs SET status = 'completed', completed_at = '2020-01-01T00:00:00.000Z';
             INSERT INTO durably_logs (id, run_id, level, message, created_at)
               SELECT 'l' || id, id, 'info', 'm', created_at FROM durably_runs;
             INSERT INTO durably_steps (id, run_id, name, \"index\", status, started_at)
               SELECT 's' || id, id, 'a', 0, 'completed', created_at FROM durably_runs;",
        )
        .unwrap();
    let out = db.run(&[
        "rm",
        "--older-than",
        "0s",
        "--job",
        "old",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(out.ok().json(), json!({"wouldDelete": 2000}));
    assert_eq!(db.count("durably_runs"), 2500);
    let out = db.run(&["rm", "--older-than", "0s", "--job", "old", "--json"]);
    assert_eq!(out.ok().json(), json!({"deleted": 2000}));
    for table in [
        "durably_runs",
        "durably_run_labels",
        "durably_logs",
        "durably_steps",
    ] {
        assert_eq!(db.count(table), 500, "{table}");
    }
    let left: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM durably_runs WHERE job_name <> 'keep'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

/// The tail lookups use the same expression as `idx_durably_runs_id_tail`, so on a table of
/// some size the planner seeks it instead of scanning.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn tail_lookups_seek_the_tail_index() {
    use durably::store::pg::runs::{SAME_TAIL_SQL, TAIL_SQL};
    let db = PgDb::new("tails_plan");
    db.run(&["init"]).ok();
    let mut c = db.client();
    c.batch_execute(
        "INSERT INTO durably_runs (id, job_name, input, status, created_at, updated_at) \
         SELECT md5(i::text), 'j', '{}', 'completed', '2025-01-01T00:00:00.000Z', \
                '2025-01-01T00:00:00.000Z' FROM generate_series(1, 20000) AS i; \
         ANALYZE durably_runs",
    )
    .unwrap();
    let mut plan = |sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]| -> String {
        c.query(&format!("EXPLAIN {sql}"), params)
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let tail = plan(
        TAIL_SQL,
        &[&"0000beef", &12i32, &"12340000beef", &"", &1000i64],
    );
    let keys = vec!["0000beef".to_string(), "deadbeef".to_string()];
    let page = plan(SAME_TAIL_SQL, &[&keys]);
    for (what, plan) in [("tail", tail), ("page", page)] {
        assert!(plan.contains("idx_durably_runs_id_tail"), "{what}: {plan}");
        assert!(!plan.contains("Seq Scan"), "{what}: {plan}");
    }
}

/// A database without the tail index (made by an older durably, or migrated by the library)
/// still resolves tails, by a scan; `durably init` adds the index.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn tails_work_without_the_tail_index_and_init_adds_it() {
    let db = PgDb::new("tails_no_index");
    let id = db.run(&["enqueue", "--job", "j"]).ok().line().to_string();
    db.client()
        .batch_execute("DROP INDEX idx_durably_runs_id_tail")
        .unwrap();
    assert!(!indexes(&db).contains_key("idx_durably_runs_id_tail"));
    let tail = id[id.len() - 8..].to_uppercase();
    let v = db.run(&["show", &tail, "--json"]).ok().json();
    assert_eq!(v["id"], id.as_str());
    let table = db.run(&["ls"]).ok().stdout.clone();
    assert!(table.contains(&id[id.len() - 8..]), "{table}");
    db.run(&["init"]).ok();
    assert!(indexes(&db).contains_key("idx_durably_runs_id_tail"));
}

/// `durably init` drops the plan functions of earlier durably versions (the same stems with
/// another hash) that this role owns, and nothing else: this build's functions and a function
/// that only looks alike stay.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn init_drops_the_plan_functions_of_earlier_versions() {
    let db = PgDb::new("stale_plans");
    db.run(&["init"]).ok();
    db.run(&["work", "--until-idle", "--", "true"]).ok();
    let functions = |db: &PgDb| -> Vec<String> {
        db.client()
            .query(
                "SELECT proname::text FROM pg_proc WHERE proname LIKE 'durably_cli_%' ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let current = functions(&db);
    assert_eq!(current.len(), 4, "{current:?}");
    db.client()
        .batch_execute(
            "CREATE FUNCTION durably_cli_claim_deadbeef(text, int8, int8) RETURNS int8 \
               LANGUAGE sql AS 'SELECT 1'; \
             CREATE FUNCTION durably_cli_fail_0badf00d(text) RETURNS int8 \
               LANGUAGE sql AS 'SELECT 1'; \
             CREATE FUNCTION durably_cli_claim_mine(text) RETURNS int8 \
               LANGUAGE sql AS 'SELECT 1'",
        )
        .unwrap();
    db.run(&["init"]).ok();
    let mut want = current.clone();
    want.push("durably_cli_claim_mine".to_string());
    want.sort();
    assert_eq!(functions(&db), want);
    // This build's functions still serve a worker.
    let id = db.run(&["enqueue", "--job", "j"]).ok().line().to_string();
    db.run(&["work", "--until-idle", "--", "true"]).ok();
    assert_eq!(
        db.run(&["show", &id, "--json"]).ok().json()["status"],
        "completed"
    );
    assert_eq!(functions(&db), want);
}

/// A worker on a database without the claim's partial index (the library's, or an earlier
/// durably's) works and says once that `durably init` adds it; with the index it says nothing.
/// Measured without it (BENCHMARKS.md): statistics taken while the queue was full make each
/// claim read past every completed run.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn a_worker_says_when_the_claims_index_is_missing() {
    let db = PgDb::new("claim_index");
    db.run(&["init"]).ok();
    let said = |db: &PgDb| {
        let out = db.run(&["work", "--until-idle", "--", "true"]);
        out.code(0);
        out.stderr.clone()
    };
    assert!(!said(&db).contains("durably init"));
    db.client()
        .batch_execute("DROP INDEX idx_durably_runs_pending_created_id")
        .unwrap();
    let id = db.run(&["enqueue", "--job", "j"]).ok().line().to_string();
    let stderr = said(&db);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("durably init"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("idx_durably_runs_pending_created_id"),
        "{stderr}"
    );
    let v = db.run(&["show", &id, "--json"]).ok().json();
    assert_eq!(v["status"], "completed");
    db.run(&["init"]).ok();
    assert!(!said(&db).contains("durably init"));
}

/// The claim stops at its LIMIT on the status index: the pause condition must be evaluated
/// once per statement (the whole queue's pause a one-time filter, the paused jobs a hashed
/// set), not as a correlated `NOT EXISTS` per candidate, which the planner turned into an
/// anti join, or costed into a bitmap scan of every pending run and a sort: each claim
/// O(pending), 4.9 ms at 1,500 pending, a worker at a third of its throughput.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn the_claim_reads_one_index_range_up_to_its_limit() {
    let db = PgDb::new("claim_plan");
    db.run(&["init"]).ok();
    let mut c = db.client();
    c.batch_execute(
        "INSERT INTO durably_runs (id, job_name, input, status, created_at, updated_at) \
         SELECT md5(i::text), 'j', '{}', CASE WHEN i <= 1500 THEN 'completed' ELSE 'pending' END, \
                to_char(timestamp '2025-01-01' + i * interval '1 second', \
                        'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
                '2025-01-01T00:00:00.000Z' FROM generate_series(1, 3000) AS i",
    )
    .unwrap();
    // Analyzed, as autovacuum leaves a table soon after its first thousands of writes (with no
    // statistics at all the planner may still sort the pending runs: noted in BENCHMARKS.md).
    c.batch_execute("ANALYZE").unwrap();
    {
        let analyze = true;
        let file = include_str!("../../sql/postgres/lease_claim_batch.sql");
        let sql = file
            .replace("$1", "'owner'")
            .replace("$2::int8", "60000::int8")
            .replace("$3", "1");
        let plan: Vec<String> = c
            .query(&format!("EXPLAIN (COSTS OFF) {sql}"), &[])
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        let plan = plan.join("\n");
        assert!(
            !plan.contains("Anti Join") && !plan.contains("Bitmap Heap Scan on durably_runs\n"),
            "analyzed: {analyze}\n{plan}"
        );
        assert!(
            plan.contains("Index Scan using idx_durably_runs_status_created_id on durably_runs"),
            "{plan}"
        );
    }
}

/// The claim statement a worker's claim function keeps the plan of for one run at a time (its
/// `WHEN 1` branch, read back from the database) and the settings the function runs it
/// with, planned generically as PL/pgSQL does: the plan, without costs.
fn kept_claim_plan(c: &mut postgres::Client, jobs: bool) -> String {
    let which = if jobs { "LIKE" } else { "NOT LIKE" };
    let def: String = c
        .query_one(
            &format!(
                "SELECT pg_get_functiondef(oid) FROM pg_proc \
                 WHERE proname LIKE 'durably\\_cli\\_claim\\_%' AND proname {which} '%jobs%'"
            ),
            &[],
        )
        .expect("`durably work` created the claim function")
        .get(0);
    let start = def
        .find("WHEN 1 THEN RETURN QUERY\n")
        .expect("a branch for 1")
        + 25;
    let end = start + def[start..].find("\nWHEN 2 THEN").expect("a branch for 2");
    let statement = def[start..end].trim_end().trim_end_matches(';');
    assert!(statement.contains("LIMIT 1\n") && !statement.contains("LIMIT $3"));
    let settings: Vec<String> = c
        .query_one(
            &format!(
                "SELECT proconfig FROM pg_proc \
                 WHERE proname LIKE 'durably\\_cli\\_claim\\_%' AND proname {which} '%jobs%'"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(settings.iter().any(|s| s == "jit=off"), "{settings:?}");
    let mut sql = String::from("BEGIN;\n");
    for s in &settings {
        let (name, value) = s.split_once('=').unwrap();
        sql.push_str(&format!("SET LOCAL {name} = '{value}';\n"));
    }
    let types = if jobs {
        "text, int8, int8, text[]"
    } else {
        "text, int8"
    };
    sql.push_str(&format!("PREPARE kept({types}) AS {statement};\n"));
    c.batch_execute(&sql).expect("prepare the kept statement");
    let plan: Vec<String> = c
        .query(
            if jobs {
                "EXPLAIN (COSTS OFF) EXECUTE kept('owner', 60000, 1, ARRAY['j'])"
            } else {
                "EXPLAIN (COSTS OFF) EXECUTE kept('owner', 60000)"
            },
            &[],
        )
        .expect("explain")
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    c.batch_execute("ROLLBACK; DEALLOCATE kept").unwrap();
    plan.join("\n")
}

/// The claim a worker keeps the plan of (a PL/pgSQL function, planned once per session and
/// generically: the LIMIT written in, planner settings of its own) reads the pending runs off
/// idx_durably_runs_pending_created_id in order, and the expired leases off their expiry
/// index, whatever the statistics: none yet (a queue just filled: a planner sorting every
/// pending run at each claim), or taken while every run was pending and most completed since
/// (a planner reading idx_durably_runs_created_id from its start, past every completed run,
/// at each claim: found when a drain of 3,000 runs took a second a claim).
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn the_kept_claim_plan_reads_one_index_range_up_to_its_limit() {
    let db = PgDb::new("kept_plan");
    db.run(&["init"]).ok();
    let out = db.run(&["work", "--until-idle", "--", "true"]);
    assert_eq!(out.code, 0, "{out:?}");
    let mut c = db.client();
    c.batch_execute("ALTER TABLE durably_runs SET (autovacuum_enabled = false)")
        .unwrap();
    let fill = "INSERT INTO durably_runs (id, job_name, input, status, created_at, updated_at) \
         SELECT md5(i::text), 'j', '{}', 'pending', \
                to_char(timestamp '2025-01-01' + i * interval '1 second', \
                        'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
                '2025-01-01T00:00:00.000Z' FROM generate_series(1, 3000) AS i";
    c.batch_execute(fill).unwrap();
    // The pending runs off an index in order, never sorted; a claim of some jobs may read
    // each job's off its own index.
    let check = |c: &mut postgres::Client, when: &str| {
        for jobs in [false, true] {
            let plan = kept_claim_plan(c, jobs);
            assert!(
                plan.contains(
                    "Index Scan using idx_durably_runs_pending_created_id on durably_runs"
                ) || (jobs
                    && plan.contains("Index Scan using idx_durably_runs_job_status_created_id")),
                "{when}, jobs: {jobs}:\n{plan}"
            );
            assert!(
                !plan.contains("Sort Key: durably_runs.created_at")
                    && !plan.contains("idx_durably_runs_created_id")
                    && !plan.contains("Bitmap Heap Scan"),
                "{when}, jobs: {jobs}:\n{plan}"
            );
        }
    };
    check(&mut c, "no statistics");
    c.batch_execute("ANALYZE durably_runs").unwrap();
    c.batch_execute(
        "UPDATE durably_runs SET status = 'completed' \
         WHERE id IN (SELECT id FROM durably_runs ORDER BY created_at LIMIT 2900)",
    )
    .unwrap();
    check(
        &mut c,
        "statistics of a full queue, most of it completed since",
    );
}

/// `durably work` on PostgreSQL runs its claims and results through the functions that keep
/// their plans (one call of each a run), creates them once whatever the number of workers
/// starting together, and still runs every run once when they are dropped under it (then as
/// text) or cannot be created (a role without the right to create in the schema).
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn workers_keep_their_claim_plans_in_functions_and_do_without_them() {
    let db = PgDb::new("kept_fns");
    db.run(&["init"]).ok();
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE {} SET track_functions = 'all'",
            db.name
        ))
        .unwrap();
    let specs: String = (0..200).map(|_| "{\"job\":\"noop\"}\n").collect();
    assert!(db.run_stdin(&["enqueue-many", "-q", "-"], &specs).code == 0);
    let workers: Vec<_> = (0..3)
        .map(|_| {
            db.command(&["work", "--until-idle", "--", "true"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for w in workers {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let mut c = db.client();
    let count =
        |c: &mut postgres::Client, sql: &str| -> i64 { c.query_one(sql, &[]).unwrap().get(0) };
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'durably\\_cli\\_%'"
        ),
        4,
        "claim, claim of some jobs, complete, fail: once"
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM durably_runs WHERE status = 'completed'"
        ),
        200
    );
    // The statistics are flushed when a session ends (the workers' have).
    std::thread::sleep(std::time::Duration::from_millis(700));
    let completes = count(
        &mut c,
        "SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_user_functions \
         WHERE funcname LIKE 'durably\\_cli\\_complete\\_%'",
    );
    assert_eq!(completes, 200, "one call a result");
    let claims = count(
        &mut c,
        "SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_user_functions \
         WHERE funcname LIKE 'durably\\_cli\\_claim\\_%'",
    );
    assert!(claims >= 200, "{claims} claim calls for 200 runs");

    // Dropped while a worker runs: every run still runs, once.
    let specs: String = (0..300)
        .map(|i| format!("{{\"job\":\"noop\",\"input\":{{\"i\":{i}}}}}\n"))
        .collect();
    assert!(db.run_stdin(&["enqueue-many", "-q", "-"], &specs).code == 0);
    let log = db.home.path().join("ran.log");
    let handler = format!("echo \"$DURABLY_RUN_ID\" >> {}", log.display());
    let worker = db
        .command(&["work", "--until-idle", "--", "sh", "-c", &handler])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the worker to run 20 runs", || {
        std::fs::read_to_string(&log)
            .is_ok_and(|s| s.lines().count() >= 20)
            .then_some(())
    });
    let fns: Vec<String> = c
        .query(
            "SELECT oid::regprocedure::text FROM pg_proc WHERE proname LIKE 'durably\\_cli\\_%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for f in &fns {
        c.batch_execute(&format!("DROP FUNCTION {f}")).unwrap();
    }
    let out = worker.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let ran = std::fs::read_to_string(&log).unwrap();
    let mut ids: Vec<&str> = ran.lines().collect();
    assert_eq!(ids.len(), 300, "each run once");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 300, "each run once");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM durably_runs WHERE status = 'completed'"
        ),
        500
    );

    // A role that may not create in the schema: no functions, the same runs.
    let role = format!("durably_nofn_{}", std::process::id());
    c.batch_execute(&format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN; \
         REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT USAGE ON SCHEMA public TO {role}; \
         GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}; \
         GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"
    ))
    .unwrap();
    let specs: String = (0..50).map(|_| "{\"job\":\"noop\"}\n").collect();
    assert!(db.run_stdin(&["enqueue-many", "-q", "-"], &specs).code == 0);
    let url = {
        let (scheme, rest) = db.url.split_once("://").unwrap();
        let host = rest.split_once('@').map_or(rest, |(_, h)| h);
        format!("{scheme}://{role}@{host}")
    };
    let mut cmd = bare_command(db.home.path());
    cmd.arg("--db")
        .arg(&url)
        .args(["work", "--until-idle", "--", "true"]);
    let out = run_command(cmd, None);
    let _ = c.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'durably\\_cli\\_%'"
        ),
        0
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM durably_runs WHERE status = 'completed'"
        ),
        550
    );
}

/// A function of the name a worker would call, created by another role before the worker's
/// first start (it would run with the worker's rights), is never called: the worker owns what
/// it calls, and sends its statements as text when it cannot.
#[test]
#[ignore = "needs PostgreSQL: set DURABLY_TEST_PG; .ci/run does"]
fn a_function_another_role_planted_under_a_workers_name_is_never_called() {
    let db = PgDb::new("planted_fn");
    db.run(&["init"]).ok();
    let specs: String = (0..5).map(|_| "{\"job\":\"noop\"}\n").collect();
    assert_eq!(db.run_stdin(&["enqueue-many", "-q", "-"], &specs).code, 0);
    assert_eq!(db.run(&["work", "--until-idle", "--", "true"]).code, 0);
    let mut c = db.client();
    let complete: String = c
        .query_one(
            "SELECT proname::text FROM pg_proc WHERE proname LIKE 'durably\\_cli\\_complete\\_%'",
            &[],
        )
        .unwrap()
        .get(0);
    // The others as the worker made them (so that every name is there), planted by the role.
    let others: Vec<String> = c
        .query(
            "SELECT pg_get_functiondef(oid) FROM pg_proc \
             WHERE proname LIKE 'durably\\_cli\\_%' AND proname NOT LIKE 'durably\\_cli\\_complete\\_%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(others.len(), 3);
    let role = format!("durably_planter_{}", std::process::id());
    c.batch_execute(&format!(
        "DO $$ BEGIN EXECUTE (SELECT string_agg('DROP FUNCTION ' || oid::regprocedure, '; ') \
            FROM pg_proc WHERE proname LIKE 'durably\\_cli\\_%'); END $$; \
         CREATE TABLE planted_calls (n int); \
         DROP ROLE IF EXISTS {role}; CREATE ROLE {role}; \
         GRANT CREATE, USAGE ON SCHEMA public TO {role}; GRANT ALL ON planted_calls TO {role}; \
         SET ROLE {role}; \
         CREATE FUNCTION {complete}(text, int8, text) RETURNS int8 LANGUAGE sql \
           AS 'INSERT INTO planted_calls VALUES (1); SELECT 1::int8'; \
         {}; RESET ROLE",
        others.join(";\n")
    ))
    .unwrap();
    assert_eq!(db.run_stdin(&["enqueue-many", "-q", "-"], &specs).code, 0);
    let out = db.run(&["work", "--until-idle", "--", "true"]);
    let calls: i64 = c
        .query_one("SELECT count(*) FROM planted_calls", &[])
        .unwrap()
        .get(0);
    let done: i64 = c
        .query_one(
            "SELECT count(*) FROM durably_runs WHERE status = 'completed'",
            &[],
        )
        .unwrap()
        .get(0);
    let _ = c.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(calls, 0, "the planted function was called");
    assert_eq!(done, 10);
}
