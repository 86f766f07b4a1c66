//! Interoperability with the real @coji/durably 0.15.0: one database, written and read by both
//! runtimes, compared field by field, on a SQLite file and on PostgreSQL.
//!
//! The library runs in node through `tests/interop/lib.mjs` (`preserveSteps: true`, log
//! persistence; libSQL with a busy timeout on a file, kysely's PostgresDialect over a `pg` Pool
//! on a URL); the CLI gets the same file or URL with `--db`. Its npm packages are pinned in
//! `tests/interop/package-lock.json`; `.ci/run` installs them with `npm ci`, and the first test
//! does the same when `tests/interop/node_modules` is missing.
//!
//! Each scenario is written once and runs on both backends ([`scenarios!`]): `name::sqlite` on a
//! file in the test's temp dir, `name::pg` on a fresh database of the server of
//! `DURABLY_TEST_PG` (dropped at the end), where a scenario may choose a schema through the URL
//! (`?options=-csearch_path%3Dname`) for both runtimes. Node is required, so every test is
//! `#[ignore]`d for a plain `cargo test` (reported as ignored, never as passed), and a `pg` case
//! asked to run without `DURABLY_TEST_PG` fails. Only the schema comparisons (`sqlite_schema_…`,
//! `pg_schema_…`, at the end of the file) are about one backend and run on it alone.
//!
//! Run: `DURABLY_TEST_PG=postgres://… cargo test --test integration interop:: --
//! --include-ignored`.

use crate::harness::*;
use rusqlite::Connection;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Declares scenarios once and runs each against the library on both backends: `fn name()`
/// becomes a module `name` with `sqlite()` and `pg()`, both ignored unless `--include-ignored`.
macro_rules! scenarios {
    ($($(#[$attr:meta])* fn $name:ident() $body:block)*) => {$(
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body() $body

            #[test]
            #[ignore = "needs Node.js and npm (the real library): .ci/run runs it"]
            fn sqlite() {
                Backend::Sqlite.run(body)
            }

            #[test]
            #[ignore = "needs PostgreSQL and Node.js: set DURABLY_TEST_PG; .ci/run does"]
            fn pg() {
                Backend::Postgres.run(body)
            }
        }
    )*};
}

/// A fresh env on the current backend for the library and the CLI: node checked, packages
/// installed.
fn env() -> Env {
    env_on(Backend::current())
}

/// A fresh env on `backend`, for the scenarios about one backend.
fn env_on(backend: Backend) -> Env {
    setup();
    Env::on(backend)
}

/// One database both runtimes open: the env's SQLite file or PostgreSQL database, or one more
/// file / one schema of that database ([`Db::named`]).
#[derive(Clone)]
struct Db {
    backend: Backend,
    /// What the CLI's `--db` and lib.mjs get: the file's path or the database's URL.
    arg: String,
    /// Names the library session (a path under the temp dir).
    key: PathBuf,
    /// The temp dir (the CLI's HOME, the handlers' directory).
    home: PathBuf,
}

impl Db {
    /// The env's own database (the library session is started on first use, so that a file
    /// the CLI is to create is not created empty by libSQL first).
    fn of(e: &Env) -> Db {
        Db {
            backend: e.backend,
            arg: e.db_arg(),
            key: match e.backend {
                Backend::Sqlite => e.db.clone(),
                Backend::Postgres => e.path("lib-db"),
            },
            home: e.dir.path().to_path_buf(),
        }
    }

    /// Another database of the env: the file `NAME.db` beside it on SQLite; on PostgreSQL the
    /// new schema `NAME` of its database, chosen through the URL for both runtimes.
    fn named(e: &Env, name: &str) -> Db {
        let mut db = Db::of(e);
        match e.backend {
            Backend::Sqlite => {
                db.key = e.path(&format!("{name}.db"));
                db.arg = db.key.display().to_string();
            }
            Backend::Postgres => {
                e.exec(&format!("CREATE SCHEMA \"{name}\""));
                let sep = if db.arg.contains('?') { '&' } else { '?' };
                db.arg = format!("{}{sep}options=-csearch_path%3D{name}", db.arg);
                db.key = e.path(&format!("lib-{name}"));
            }
        }
        db
    }

    fn is_sqlite(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    /// A `lib.mjs` command in the library session of this database.
    fn lib(&self, command: &str, args: &[&str]) -> Value {
        node_session(command, &self.key, &self.arg, args)
    }

    /// `job.trigger` / `batchTrigger` calls (a JSON array) in the library session.
    fn trigger(&self, calls: Value) -> Value {
        self.lib("trigger", &[&calls.to_string()])
    }

    /// Library reads, one result per query.
    fn lib_read(&self, queries: &[Value]) -> Vec<Value> {
        let v = self.lib("read", &[&Value::Array(queries.to_vec()).to_string()]);
        v.as_array().expect("an array of results").clone()
    }

    /// `node lib.mjs COMMAND DB ARGS`, a library process of its own.
    fn lib_cmd(&self, command: &str, args: &[&str]) -> Command {
        node_cmd(command, &self.arg, args)
    }

    /// A library worker (`drain`) whose job stalls: it writes its run id to `marker` and waits
    /// for `go`; with `stalled_lease_ms` its lease is that short and never renewed.
    fn stalled_lib_worker(
        &self,
        marker: &Path,
        go: &Path,
        stalled_lease_ms: Option<u32>,
    ) -> Reaped {
        let unused = self.home.join("unused.log");
        let mut c = self.lib_cmd("drain", &[unused.to_str().unwrap()]);
        c.env("INTEROP_MARKER", marker).env("INTEROP_GO", go);
        if let Some(ms) = stalled_lease_ms {
            c.env("INTEROP_LEASE_MS", ms.to_string())
                .env("INTEROP_RENEW_MS", "600000");
        }
        Reaped::spawn(&mut c)
    }

    /// `durably --db DB ARGS` with `durably` first on PATH (for the handlers).
    fn cli_cmd(&self, args: &[&str]) -> Command {
        let mut c = bare_command(&self.home);
        c.arg("--db").arg(&self.arg).args(args).stdin(Stdio::null());
        c
    }

    fn cli(&self, args: &[&str]) -> Output {
        let out = self.cli_cmd(args).output().expect("run durably");
        assert_no_busy("durably", &out);
        out
    }

    fn cli_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .cli_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run durably");
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(stdin.as_bytes()).unwrap();
        drop(pipe);
        let out = child.wait_with_output().unwrap();
        assert_no_busy("durably", &out);
        out
    }

    /// Runs the CLI, expects exit 0, returns stdout.
    #[track_caller]
    fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert_success(&format!("durably {args:?}"), &out);
        String::from_utf8(out.stdout).unwrap()
    }

    #[track_caller]
    fn cli_json(&self, args: &[&str]) -> Value {
        let text = self.cli_ok(args);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("durably {args:?}: not JSON ({e}): {text}"))
    }

    /// `durably enqueue --json FLAGS`, the flags split at spaces.
    #[track_caller]
    fn enqueue(&self, flags: &str) -> Value {
        let mut a = vec!["enqueue", "--json"];
        a.extend(flags.split_whitespace());
        self.cli_json(&a)
    }

    #[track_caller]
    fn show(&self, id: &str) -> Value {
        self.cli_json(&["show", "--json", id])
    }

    fn ls(&self, filter: &[&str]) -> Value {
        let mut args = vec!["ls", "--format", "json", "--limit", "1000"];
        args.extend_from_slice(filter);
        self.cli_json(&args)
    }

    /// `durably work ARGS --handlers DIR` with the interop handlers.
    fn work_cmd(&self, args: &[&str]) -> Command {
        let dir = handlers(&self.home);
        let mut c = self.cli_cmd(&["work"]);
        c.args(args).arg("--handlers").arg(dir);
        c
    }

    /// `durably work --once --lease L` whose `slow`/`resumable` handler stalls: it writes its
    /// run id to `marker` and waits for `go`.
    fn stalled_cli_worker(&self, lease: &str, marker: &Path, go: &Path) -> Reaped {
        Reaped::spawn(
            self.work_cmd(&["--once", "--lease", lease])
                .env("INTEROP_MARKER", marker)
                .env("INTEROP_GO", go),
        )
    }

    /// A lease that runs out soon, for the take-over scenarios (the server's round trips make
    /// PostgreSQL's longer).
    fn short_lease(&self) -> (&'static str, u32) {
        match self.backend {
            Backend::Sqlite => ("1s", 1000),
            Backend::Postgres => ("3s", 3000),
        }
    }

    /// `durably show --json` of each run against the library's run + steps + logs.
    fn assert_same_show(&self, ids: &[String]) {
        let queries: Vec<Value> = ids
            .iter()
            .map(|id| json!({"op": "show", "id": id}))
            .collect();
        let lib = self.lib_read(&queries);
        for (id, lib) in ids.iter().zip(lib) {
            assert_same_shown(id, lib, &self.show(id));
        }
    }

    /// `getRuns(filter)` against `ls` with the equivalent flags, for each pair; returns the
    /// library's answers.
    fn assert_same_lists(&self, filters: &Filters) -> Vec<Value> {
        let queries: Vec<Value> = filters
            .iter()
            .map(|(f, _)| json!({"op": "getRuns", "filter": f}))
            .collect();
        let lib = self.lib_read(&queries);
        for ((filter, flags), lib) in filters.iter().zip(&lib) {
            let cli = self.ls(flags);
            assert_same_runs(&format!("getRuns({filter}) vs ls {flags:?}"), lib, &cli);
        }
        lib
    }

    /// All runs, library against CLI; returns the library's.
    fn assert_same_all(&self, what: &str) -> Value {
        let all = self.lib_read(&[json!({"op": "getRuns", "filter": {}})]);
        assert_same_runs(what, &all[0], &self.ls(&[]));
        all[0].clone()
    }

    /// The journal mode of the SQLite file (readers and writers block each other in `delete`,
    /// the library's default; not in `wal`, the CLI's), asserted; PostgreSQL has none.
    fn assert_journal(&self, mode: &str) {
        if self.is_sqlite() {
            let c = Connection::open(&self.arg).unwrap();
            let got: String = c
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(got, mode, "journal mode of {}", self.arg);
        }
    }

    /// The schema as text: SQLite's objects with their columns, PostgreSQL's columns and
    /// indexes of the schema in use, each with the schema versions.
    fn schema(&self) -> String {
        let text = match self.backend {
            Backend::Sqlite => format!(
                "{:?} {:?}",
                sqlite_schema(Path::new(&self.arg)),
                sqlite_versions(Path::new(&self.arg))
            ),
            Backend::Postgres => {
                let mut c = pg_connect(&self.arg);
                let s: String = c
                    .query_one("SELECT current_schema()::text", &[])
                    .unwrap()
                    .get(0);
                format!(
                    "{:?} {:?} {:?}",
                    pg_columns(&mut c, &s),
                    pg_indexes(&mut c, &s),
                    pg_versions(&mut c, &s)
                )
            }
        };
        assert!(text.contains("durably_runs"), "no schema in {}", self.arg);
        text
    }

    /// True once the run's lease has run out, by the database's clock in the shared format.
    fn lease_expired(&self, id: &str) -> bool {
        match self.backend {
            Backend::Sqlite => Connection::open(&self.arg)
                .unwrap()
                .query_row(
                    "SELECT lease_expires_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
                     FROM durably_runs WHERE id = ?1",
                    [id],
                    |r| r.get::<_, Option<bool>>(0),
                )
                .unwrap(),
            Backend::Postgres => pg_connect(&self.arg)
                .query_one(
                    "SELECT lease_expires_at < to_char(clock_timestamp() AT TIME ZONE 'UTC', \
                            'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM durably_runs WHERE id = $1",
                    &[&id],
                )
                .expect("read the lease")
                .get::<_, Option<bool>>(0),
        }
        .unwrap_or(false)
    }

    /// Waits (bounded) until the run's lease has run out.
    fn wait_lease_expired(&self, whose: &str, id: &str) {
        wait_for(&format!("{whose} lease to run out"), || {
            self.lease_expired(id).then_some(())
        });
    }

    /// SIGSTOPs a process at a moment it holds no write: on SQLite, the file's write lock
    /// (stopped inside a lease renewal it would block every writer, the library included, for
    /// good); on PostgreSQL, no other session of the database is inside a statement or a
    /// transaction (it would hold the run's row lock, and every claim would skip the run).
    fn stop_outside_a_write(&self, pid: i32) {
        let mut pg = (!self.is_sqlite()).then(|| pg_connect(&self.arg));
        for _ in 0..200 {
            kill(pid, libc::SIGSTOP);
            let idle = match &mut pg {
                None => {
                    let conn = Connection::open(&self.arg).unwrap();
                    conn.busy_timeout(std::time::Duration::ZERO).unwrap();
                    conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK").is_ok()
                }
                Some(c) => {
                    let busy: i64 = c
                        .query_one(
                            "SELECT count(*) FROM pg_stat_activity \
                             WHERE datname = current_database() AND pid <> pg_backend_pid() \
                             AND state <> 'idle'",
                            &[],
                        )
                        .expect("read pg_stat_activity")
                        .get(0);
                    busy == 0
                }
            };
            if idle {
                return;
            }
            kill(pid, libc::SIGCONT);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("process {pid} was always inside a write");
    }
}

#[track_caller]
fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn exit_code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[track_caller]
fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

fn ids_of(runs: &Value) -> Vec<String> {
    runs.as_array().unwrap().iter().map(id_of).collect()
}

/// The last line of a library process's stdout, as JSON (errors included, unlike
/// [`node_result`]).
fn lib_answer(out: &Output) -> Value {
    assert_no_busy("the library", out);
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap()
}

/// Sends a signal to a process we started.
fn kill(pid: i32, sig: i32) {
    // SAFETY: signalling a process we started.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
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

/// The steps of a resumed run: (name, index, id length: 26 for the library's ULIDs, 36 for
/// the CLI's UUIDv7 ids) each.
fn steps_of(run: &Value) -> Vec<(String, i64, usize)> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["index"].as_i64().unwrap(),
                s["id"].as_str().unwrap().len(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// CLI → library

/// Fills a database with the CLI: keys, labels, a cancel and an all-or-nothing batch (runs of
/// one millisecond); returns the ids by name.
fn cli_fill(db: &Db) -> BTreeMap<&'static str, String> {
    let mut ids = BTreeMap::new();
    let r = db.enqueue(concat!(
        r#"--job echo --input {"z":1,"a":[1,2,{"b":null}],"s":"é"} --label tenant=a "#,
        "--label env=prod --idempotency-key k1 --concurrency-key c1"
    ));
    assert_eq!(r["disposition"], "created");
    ids.insert("a_prod", id_of(&r));
    let again = db.enqueue("--job echo --idempotency-key k1 --input {}");
    assert_eq!(again["disposition"], "idempotent");
    assert_eq!(again["id"], r["id"]);
    let r = db.enqueue("--job echo --label tenant=a --label env=dev");
    ids.insert("a_dev", id_of(&r));
    let r = db.enqueue("--job fail --label tenant=b --input [1,2,3]");
    ids.insert("fail", id_of(&r));
    let r = db.enqueue("--job echo --concurrency-key c2 --label tenant=b");
    ids.insert("c2", id_of(&r));
    let co = db.enqueue("--job echo --concurrency-key c2 --coalesce");
    assert_eq!(co["disposition"], "coalesced");
    assert_eq!(co["id"], r["id"]);
    let conflict = db.cli(&["enqueue", "--job", "echo", "--concurrency-key", "c2"]);
    assert_eq!(exit_code(&conflict), 4, "{conflict:?}");
    let r = db.enqueue("--job echo --label tenant=a --label env=prod");
    ids.insert("cancelled", id_of(&r));
    db.cli_ok(&["cancel", &ids["cancelled"]]);
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
    let out = db.cli_stdin(&["enqueue-many", "-"], &lines);
    assert_success("enqueue-many", &out);
    ids
}

/// (library filter, equivalent `ls` flags) pairs.
type Filters = Vec<(Value, Vec<&'static str>)>;

/// Filters from lines `JSON | FLAGS`.
fn filters(table: &[&'static str]) -> Filters {
    table
        .iter()
        .map(|line| {
            let (f, flags) = line.split_once(" |").expect("JSON | FLAGS");
            let filter = serde_json::from_str(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            (filter, flags.split_whitespace().collect())
        })
        .collect()
}

/// (library filter, equivalent `ls` flags) over the runs of [`cli_fill`].
fn cli_filters() -> Filters {
    filters(&[
        r#"{} |"#,
        r#"{"labels":{"tenant":"a"}} | --label tenant=a"#,
        r#"{"labels":{"tenant":"a","env":"prod"}} | --label tenant=a --label env=prod"#,
        r#"{"labels":{"team/x.y_z-w":"v"}} | --label team/x.y_z-w=v"#,
        r#"{"labels":{"empty":""}} | --label empty="#,
        r#"{"status":"pending","jobName":"echo"} | --status pending --job echo"#,
        r#"{"status":["pending","cancelled"]} | --status pending --status cancelled"#,
        r#"{"status":"completed"} | --status completed"#,
        r#"{"status":"failed"} | --status failed"#,
        r#"{"jobName":["fail","quiet"]} | --job fail --job quiet"#,
        concat!(
            r#"{"labels":{"tenant":"b","batch":"n1"},"status":"completed","jobName":"echo"} | "#,
            "--label tenant=b --label batch=n1 --status completed --job echo"
        ),
        r#"{"labels":{"tenant":"nobody"}} | --label tenant=nobody"#,
    ])
}

scenarios! {
    /// The CLI creates and fills the database (a WAL file on SQLite); the library reads it
    /// without migrating, honours its keys, and its worker completes the runs.
    fn cli_database_read_and_worked_by_library() {
        let e = env();
        let db = Db::of(&e);
        if !db.is_sqlite() {
            db.cli_ok(&["init"]);
        }
        let ids = cli_fill(&db);
        db.assert_journal("wal");
        let before = db.schema();

        // Read without migrating: the library sees version 1 and the CLI's runs as they are.
        let v = db.lib_read(&[json!({"op": "versions"})]);
        assert_eq!(v[0].as_array().unwrap().len(), 1, "{v:?}");
        assert_eq!(v[0][0]["version"], 1);
        let lists = db.assert_same_lists(&cli_filters());
        assert_eq!(lists[0].as_array().unwrap().len(), 19);
        db.assert_same_show(&ids_of(&lists[0]));
        // The exact input text the CLI stored reads back the same in both.
        let a_prod = &db.lib_read(&[json!({"op": "getRun", "id": ids["a_prod"]})])[0];
        assert_eq!(
            a_prod["input"],
            json!({"z": 1, "a": [1, 2, {"b": null}], "s": "é"})
        );
        assert_eq!(a_prod["idempotencyKey"], "k1");
        assert_eq!(a_prod["concurrencyKey"], "c1");
        assert_eq!(id_of(a_prod).len(), 36, "the CLI writes UUIDv7 ids");

        // Idempotency and concurrency keys written by the CLI hold for the library's trigger.
        let t = db.trigger(json!([
            {"job": "echo", "input": {"other": true}, "options": {"idempotencyKey": "k1"}},
            {"job": "echo", "input": {}, "options": {"concurrencyKey": "c2", "coalesce": "skip"}},
            {"job": "echo", "input": {}, "options": {"concurrencyKey": "c2"}},
        ]));
        assert_eq!(t[0]["disposition"], "idempotent");
        assert_eq!(t[0]["id"], ids["a_prod"].as_str());
        assert_eq!(t[1]["disposition"], "coalesced");
        assert_eq!(t[1]["id"], ids["c2"].as_str());
        assert_eq!(t[2]["name"], "ConflictError", "{}", t[2]);

        // A library worker completes what the CLI enqueued.
        let pending = db.ls(&["--status", "pending"]).as_array().unwrap().len();
        assert_eq!(pending, 18);
        assert_eq!(db.lib("work", &[])["processed"], pending);
        assert_eq!(db.ls(&["--status", "pending"]), json!([]));
        let lists = db.assert_same_lists(&cli_filters());
        db.assert_same_show(&ids_of(&lists[0]));
        let done = db.show(&ids["a_prod"]);
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"]["echo"], a_prod["input"]);
        assert_eq!(done["output"]["by"], "library");
        assert_eq!(done["steps"].as_array().unwrap().len(), 2);
        assert_eq!(done["logs"].as_array().unwrap().len(), 2);
        let last = json!({"current": 2, "total": 2});
        if db.is_sqlite() {
            assert_eq!(done["progress"], last);
        } else {
            // The library does not wait for `step.progress` and, on PostgreSQL, nothing orders
            // it before the run's completion, which fences it out: the last report may be lost.
            let before_last = json!({"current": 1, "total": 2, "message": "half way"});
            assert!(
                [last, before_last].contains(&done["progress"]),
                "{}",
                done["progress"]
            );
        }
        let failed = db.show(&ids["fail"]);
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["error"], "kaboom");
        assert_eq!(failed["steps"][1]["status"], "failed");
        assert_eq!(failed["steps"][1]["error"], "kaboom");
        // `wait` reports the library's outcomes with the CLI's exit codes.
        let out = db.cli(&["wait", &ids["a_prod"]]);
        assert_eq!(exit_code(&out), 0, "{out:?}");
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed, done["output"]);
        assert_eq!(exit_code(&db.cli(&["wait", &ids["fail"]])), 5);
        assert_eq!(exit_code(&db.cli(&["wait", &ids["cancelled"]])), 6);
        // The library wrote rows, not schema.
        assert_eq!(db.schema(), before);
        db.assert_journal("wal");
    }
}

// ---------------------------------------------------------------------------------------------
// Library → CLI

/// (library filter, equivalent `ls` flags) over the runs of `lib.mjs fill`.
fn lib_filters() -> Filters {
    filters(&[
        r#"{} |"#,
        r#"{"labels":{"tenant":"lib"}} | --label tenant=lib"#,
        r#"{"labels":{"tenant":"lib","kind":"idem"}} | --label tenant=lib --label kind=idem"#,
        r#"{"labels":{"batch":"b1"},"status":"completed"} | --label batch=b1 --status completed"#,
        r#"{"labels":{"team/x.y_z-w":"v"}} | --label team/x.y_z-w=v"#,
        r#"{"status":"pending"} | --status pending"#,
        r#"{"status":["failed","cancelled"]} | --status failed --status cancelled"#,
        r#"{"jobName":"fail"} | --job fail"#,
    ])
}

/// The library migrates and fills the database (`lib.mjs fill`); the CLI lists, shows and
/// resolves its runs as the library reads them, and honours its keys. Returns what the
/// library made.
fn lib_fill(db: &Db) -> Value {
    db.lib("migrate", &[]);
    let made = db.lib("fill", &[]);
    let id = |k: &str| id_of(&made[k]);
    assert_eq!(made["idem"]["disposition"], "created");
    assert_eq!(made["idemAgain"]["disposition"], "idempotent");
    assert_eq!(made["idemAgain"]["id"], made["idem"]["id"]);
    assert_eq!(made["ckCoalesced"]["disposition"], "coalesced");
    assert_eq!(made["ckCoalesced"]["id"], made["ck"]["id"]);
    assert_eq!(made["ckConflict"]["name"], "ConflictError");
    assert_eq!(made["processed"], 7);
    assert_eq!(id("idem").len(), 26, "the library writes ULIDs");

    // Listed and filtered alike; shown alike, with the library's steps and logs.
    let lists = db.assert_same_lists(&lib_filters());
    assert_eq!(lists[0].as_array().unwrap().len(), 10);
    assert_eq!(lists[5].as_array().unwrap().len(), 2);
    db.assert_same_show(&ids_of(&lists[0]));
    let shown = db.show(&id("idem"));
    assert_eq!(shown["steps"].as_array().unwrap().len(), 2);
    assert_eq!(shown["logs"].as_array().unwrap().len(), 2);
    let shown = db.show(&id("fail"));
    assert_eq!(shown["status"], "failed");
    assert_eq!(shown["steps"][1]["status"], "failed");
    assert_eq!(shown["logs"][0]["level"], "error");
    let quiet = db.show(&id("quiet"));
    assert_eq!(
        quiet["output"],
        Value::Null,
        "a job returning nothing stores NULL"
    );
    // ULIDs resolve by a case-insensitive prefix, and by their random tail.
    let prefix = id("fail")[..16].to_lowercase();
    assert_eq!(db.show(&prefix)["id"], id("fail").as_str());
    let tail = id("fail")[id("fail").len() - 8..].to_lowercase();
    assert_eq!(db.show(&tail)["id"], id("fail").as_str());
    // Table output works on the library's rows.
    let table = db.cli_ok(&["ls"]);
    assert!(table.contains("echo") && table.contains("fail"), "{table}");

    // Keys the library wrote hold for the CLI's enqueue.
    let dup = db.enqueue("--job echo --idempotency-key lib-idem-1");
    assert_eq!(dup["disposition"], "idempotent");
    assert_eq!(dup["id"], made["idem"]["id"]);
    assert_eq!(dup, {
        let mut v = db.lib_read(&[json!({"op": "getRun", "id": id("idem")})])[0].clone();
        v["disposition"] = json!("idempotent");
        v
    });
    let conflict = db.cli(&["enqueue", "--job", "echo", "--concurrency-key", "lib-ck"]);
    assert_eq!(exit_code(&conflict), 4, "{conflict:?}");
    let co = db.enqueue("--job echo --concurrency-key lib-ck --coalesce");
    assert_eq!(co["disposition"], "coalesced");
    assert_eq!(co["id"], made["ck"]["id"]);
    made
}

scenarios! {
    /// The CLI cancels, retriggers, deletes and purges the library's runs (the library's
    /// worker executes what it retriggers), and reads labels beyond its own write limits.
    fn library_database_managed_by_cli() {
        let e = env();
        let db = Db::of(&e);
        let made = lib_fill(&db);
        let id = |k: &str| id_of(&made[k]);

        // Cancel: the library sees the CLI's cancellation.
        db.cli_ok(&["cancel", &id("pending")]);
        assert_eq!(exit_code(&db.cli(&["cancel", &id("pending")])), 4);
        assert_eq!(exit_code(&db.cli(&["cancel", &id("idem")])), 4);
        let c = &db.lib_read(&[json!({"op": "getRun", "id": id("pending")})])[0];
        assert_eq!(c["status"], "cancelled");
        assert!(is_iso_ms(&c["completedAt"]));
        assert_eq!(c["completedAt"], c["updatedAt"]);
        assert_eq!(c["leaseOwner"], Value::Null);

        // Retrigger: a new run the library recognises and can execute.
        assert_eq!(exit_code(&db.cli(&["retrigger", &id("ck")])), 4);
        let new_id = db.cli_ok(&["retrigger", &id("idem")]).trim().to_string();
        let new_fail = db.cli_ok(&["retrigger", &id("fail")]).trim().to_string();
        let r = db.lib_read(&[
            json!({"op": "getRun", "id": new_id}),
            json!({"op": "getRun", "id": id("idem")}),
        ]);
        let (new, old) = (&r[0], &r[1]);
        assert_eq!(new["status"], "pending");
        for k in ["jobName", "input", "labels", "concurrencyKey"] {
            assert_eq!(new[k], old[k], "{k}");
        }
        assert_eq!(new["idempotencyKey"], Value::Null);
        assert_eq!(new["leaseGeneration"], 0);
        let w = db.lib("work", &[]);
        assert_eq!(
            w["processed"], 3,
            "the retriggered runs and the pending lib-ck run"
        );
        let done = db.show(&new_id);
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"]["echo"], old["input"]);
        assert_eq!(db.show(&new_fail)["status"], "failed");

        // Delete one run; purge a job's terminal runs: their steps and logs go with them.
        let rows = |table: &str, run: &str| {
            e.count(&format!(
                "SELECT count(*) FROM {table} WHERE run_id = {}",
                lit(run)
            ))
        };
        assert!(rows("durably_steps", &id("idem")) > 0);
        db.cli_ok(&["rm", &id("idem")]);
        let pending_one = id_of(&db.trigger(json!([{"job": "echo", "input": {}}]))[0]);
        assert_eq!(exit_code(&db.cli(&["rm", &pending_one])), 4);
        let purged = db.cli_json(&["rm", "--older-than", "0s", "--job", "fail", "--json"]);
        assert_eq!(purged["deleted"], 2);
        let r = db.lib_read(&[
            json!({"op": "getRun", "id": id("idem")}),
            json!({"op": "getSteps", "id": id("idem")}),
            json!({"op": "getLogs", "id": id("idem")}),
            json!({"op": "getRuns", "filter": {"jobName": "fail"}}),
            json!({"op": "getSteps", "id": id("fail")}),
            json!({"op": "getLogs", "id": id("fail")}),
            json!({"op": "getRun", "id": pending_one}),
        ]);
        assert_eq!(r[0], Value::Null);
        for i in [1, 2, 3, 4, 5] {
            assert_eq!(r[i], json!([]), "query {i}");
        }
        assert_eq!(r[6]["status"], "pending");
        for t in ["durably_steps", "durably_logs", "durably_run_labels"] {
            assert_eq!(rows(t, &id("idem")), 0, "{t}");
            assert_eq!(rows(t, &id("fail")), 0, "{t}");
        }
        // Labels beyond the CLI's own write limits (the library has none) are found by filters
        // and shown; retriggering such a run is refused with the limit's error.
        let long_value = "v".repeat(5000);
        let long_key = "k".repeat(300);
        let t = db.trigger(json!([{"job": "echo", "input": {},
            "options": {"labels": {"long": long_value, long_key.clone(): "x"}}}]));
        let long_id = id_of(&t[0]);
        let by_value = format!("long={long_value}");
        let by_key = format!("{long_key}=x");
        let r = db.lib_read(&[
            json!({"op": "getRuns", "filter": {"labels": {"long": long_value}}}),
            json!({"op": "getRuns", "filter": {"labels": {long_key.clone(): "x"}}}),
        ]);
        assert_same_runs("long label value", &r[0], &db.ls(&["--label", &by_value]));
        assert_same_runs("long label key", &r[1], &db.ls(&["--label", &by_key]));
        assert_eq!(ids_of(&r[0]), vec![long_id.clone()]);
        db.assert_same_show(std::slice::from_ref(&long_id));
        db.cli_ok(&["cancel", &long_id]);
        let out = db.cli(&["retrigger", &long_id]);
        assert_eq!(exit_code(&out), 1);
        assert!(String::from_utf8_lossy(&out.stderr).contains("too long"));
        let purged = db.cli_json(&["rm", "--older-than", "0s", "--label", &by_value, "--json"]);
        assert_eq!(purged["deleted"], 1);

        // Everything still agrees; the application's journal mode is untouched.
        let all = db.assert_same_all("after the CLI's changes");
        db.assert_same_show(&ids_of(&all));
        db.assert_journal("delete");
    }

    /// In a schema of its own (on PostgreSQL): the CLI's `enqueue-many` answers per line on the
    /// library's keys, all or nothing; the CLI's worker completes the library's pending runs;
    /// removal and retrigger as the library sees them.
    fn library_runs_managed_and_worked_by_cli() {
        let e = env();
        let db = Db::named(&e, "app");
        let made = lib_fill(&db);
        let id = |k: &str| id_of(&made[k]);
        let count = || {
            db.lib_read(&[json!({"op": "getRuns", "filter": {}})])[0]
                .as_array()
                .unwrap()
                .len()
        };
        let before = count();
        let lines = [
            r#"{"job":"echo","idempotencyKey":"lib-idem-1"}"#,
            r#"{"job":"echo","concurrencyKey":"lib-ck","coalesce":"skip"}"#,
            r#"{"job":"echo","labels":{"tenant":"cli"}}"#,
        ]
        .join("\n");
        let out = db.cli_stdin(&["enqueue-many", "--json", "-"], &lines);
        assert_success("enqueue-many", &out);
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
        assert_eq!(count(), before + 1);
        let lines = [
            r#"{"job":"echo","labels":{"tenant":"cli"}}"#,
            r#"{"job":"echo","concurrencyKey":"lib-ck"}"#,
        ]
        .join("\n");
        let out = db.cli_stdin(&["enqueue-many", "-"], &lines);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(exit_code(&out), 4, "{stderr}");
        assert!(stderr.contains("line 2"), "{stderr}");
        assert_eq!(count(), before + 1, "the batch was rolled back");

        // The CLI's worker completes the library's pending runs; the library reads the results.
        let out = db.work_cmd(&["--until-idle"]).output().unwrap();
        assert_success("durably work", &out);
        for k in ["ck", "pending"] {
            let run = &db.lib_read(&[json!({"op": "show", "id": id(k)})])[0];
            assert_eq!(run["status"], "completed", "{k}: {run}");
            assert_eq!(run["output"]["by"], "cli", "{k}: {run}");
            assert_eq!(run["steps"].as_array().unwrap().len(), 2, "{k}: {run}");
            assert_eq!(run["progress"], json!({"current": 2, "total": 2}));
        }
        // Removal, retrigger and purge by the CLI as the library sees them.
        db.cli_ok(&["rm", &id("toCancel")]);
        let gone = db.lib_read(&[json!({"op": "getRun", "id": id("toCancel")})]);
        assert_eq!(gone[0], Value::Null);
        let again_id = id_of(&db.cli_json(&["retrigger", "--json", &id("fail")]));
        assert_ne!(again_id, id("fail"));
        let lib = &db.lib_read(&[json!({"op": "getRun", "id": again_id})])[0];
        assert_eq!(lib["status"], "pending");
        assert_eq!(lib["jobName"], "fail");
        assert_eq!(lib["input"], json!({"why": "test"}));
        let lists = db.assert_same_lists(&lib_filters());
        db.assert_same_show(&ids_of(&lists[0]));
    }
}

// ---------------------------------------------------------------------------------------------
// Both at once

scenarios! {
    /// The library's polling worker on its own database (DELETE journal mode on SQLite, where
    /// readers and writers block each other) while CLI writers enqueue and read.
    fn library_worker_beside_cli_writers() {
        let e = env();
        let db = Db::of(&e);
        db.lib("migrate", &[]);
        let log = e.path("append.log");
        let ready = e.path("ready");
        const WRITERS: usize = 4;
        const EACH: usize = 30;
        let total = WRITERS * EACH;
        let mut worker = Reaped::spawn(
            db.lib_cmd("serve", &[log.to_str().unwrap(), &total.to_string()])
                .env("INTEROP_READY", &ready),
        );
        wait_ready(&mut worker, &ready);
        // CLI writers and readers while the library's worker claims, steps and completes.
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let label = format!("writer={w}");
                        let input = json!({"w": w, "i": i}).to_string();
                        db.cli_ok(&[
                            "enqueue", "--job", "append", "--label", &label, "--input", &input,
                        ]);
                        if i % 5 == 0 {
                            db.cli_ok(&["ls", "--limit", "5", "--label", &label]);
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let v = node_result("serve", &worker.wait());
        assert_eq!(v["lines"], total);
        let seen = appended(&log);
        assert_eq!(seen.len(), total);
        assert!(seen.values().all(|who| who == "library"));
        let done = db.ls(&["--status", "completed", "--job", "append"]);
        assert_eq!(
            ids_of(&done).into_iter().collect::<BTreeSet<_>>(),
            seen.keys().cloned().collect::<BTreeSet<_>>()
        );
        let lib = db.lib_read(&[json!({"op": "getRuns", "filter": {"jobName": "append"}})]);
        assert_same_runs("after the shared run", &lib[0], &db.ls(&[]));
        db.assert_journal("delete");
    }

    /// The CLI's worker executes the library's runs and its own (its handlers' `durably step`,
    /// `log` and `progress` reach the schema of the URL through DURABLY_DB on PostgreSQL); the
    /// library reads the results as the CLI shows them, and its own execution of the same job
    /// has the same shape.
    fn cli_worker_and_library_read_each_others_work() {
        let e = env();
        let db = Db::named(&e, "work");
        db.lib("migrate", &[]);
        let input = json!({"n": 1, "nested": {"a": [1, 2]}, "s": "é"});
        let t = db.trigger(json!([
            {"job": "echo", "input": input, "options": {"labels": {"tenant": "t1"}}},
            {"job": "fail", "input": {}, "options": {"labels": {"tenant": "t1"}}},
            {"job": "quiet", "input": null},
        ]));
        let (lib_echo, lib_fail, lib_quiet) = (id_of(&t[0]), id_of(&t[1]), id_of(&t[2]));
        let cli_echo = id_of(&db.enqueue(&format!("--job echo --label tenant=t2 --input {input}")));

        // The CLI's worker executes all four; exit 5: lib_fail fails, as it should.
        let out = db.work_cmd(&["--until-idle"]).output().unwrap();
        assert_no_busy("durably work", &out);
        assert_eq!(
            exit_code(&out),
            5,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(db.ls(&["--status", "pending"]), json!([]));

        // The library reads the CLI's results, steps, logs and progress exactly as the CLI
        // shows them.
        db.assert_same_show(&[
            lib_echo.clone(),
            lib_fail.clone(),
            lib_quiet.clone(),
            cli_echo,
        ]);
        db.assert_same_all("after the CLI's worker");
        let r = db.lib_read(&[
            json!({"op": "show", "id": lib_echo}),
            json!({"op": "show", "id": lib_fail}),
            json!({"op": "show", "id": lib_quiet}),
        ]);
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
            let text = db.cli_ok(&["logs", "--json", id]);
            let lines: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let lib = db.lib_read(&[json!({"op": "getLogs", "id": id})]);
            assert_eq!(Value::Array(lines), lib[0], "logs of {id}");
        }

        // The same job executed by the library has the same shape: steps, logs, progress,
        // output (on PostgreSQL the library's last progress report may be lost, see
        // `cli_database_read_and_worked_by_library`).
        let again = db.trigger(json!([
            {"job": "echo", "input": input, "options": {"labels": {"tenant": "t1"}}}
        ]));
        assert_eq!(db.lib("work", &[])["processed"], 1);
        let by_lib = db.show(&id_of(&again[0]));
        assert_eq!(by_lib["output"]["by"], "library");
        let shape = |run: &Value| {
            let mut v = execution_shape(run);
            if !db.is_sqlite() {
                v["progress"] = json!("…");
            }
            v
        };
        assert_eq!(
            shape(&by_lib),
            shape(&db.show(&lib_echo)),
            "left: executed by the library, right: by the CLI"
        );
        db.assert_journal("delete");
    }

    /// Half the queue from the CLI (a WAL file it creates, on SQLite), half from the library,
    /// drained by both workers at once: every run executed exactly once.
    fn library_and_cli_workers_drain_one_queue() {
        let e = env();
        let db = Db::named(&e, "queue");
        if !db.is_sqlite() {
            db.cli_ok(&["init"]);
        }
        let log = e.path("append.log");
        let each = if db.is_sqlite() { 150 } else { 60 };
        let lines: String = (0..each)
            .map(|i| json!({"job": "append", "input": {"i": i}, "labels": {"from": "cli"}}))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_success(
            "enqueue-many",
            &db.cli_stdin(&["enqueue-many", "-"], &lines),
        );
        let batch: Vec<Value> = (0..each)
            .map(|i| json!({"input": {"i": i}, "options": {"labels": {"from": "library"}}}))
            .collect();
        let t = db.trigger(json!([{"job": "append", "batch": batch}]));
        assert_eq!(t[0].as_array().unwrap().len(), each);
        let total = 2 * each;

        // The library's worker holds its first run until the CLI's worker has completed one,
        // so both provably take part; then both drain the queue until idle.
        let ready = e.path("ready");
        let mut lib = Reaped::spawn(
            db.lib_cmd("drain", &[log.to_str().unwrap()])
                .env("INTEROP_READY", &ready)
                .env("INTEROP_WAIT_FOR_OTHER", "cli"),
        );
        wait_ready(&mut lib, &ready);
        let cli_out = db
            .work_cmd(&["--until-idle", "--concurrency", "2"])
            .env("INTEROP_LOG", &log)
            .output()
            .unwrap();
        let lib_out = lib.wait();
        assert_no_busy("durably work", &cli_out);
        assert_success("durably work", &cli_out);
        let lib_result = node_result("drain", &lib_out);

        // Every run executed exactly once, completed, with the output of whoever executed it.
        let seen = appended(&log);
        assert_eq!(seen.len(), total);
        let by_lib = seen.values().filter(|w| *w == "library").count();
        assert_eq!(lib_result["processed"], by_lib);
        assert!(by_lib > 0 && by_lib < total, "library {by_lib} of {total}");
        let done = db.ls(&["--status", "completed"]);
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
        db.assert_same_all("after both workers");
        db.assert_journal("wal");
    }

    /// A concurrency key held by one runtime's worker is never claimed by the other's: the
    /// next run of the key stays pending while an unrelated run is executed.
    fn concurrency_key_is_never_leased_twice_across_runtimes() {
        let e = env();
        let db = Db::of(&e);
        db.lib("migrate", &[]);

        // The library's worker holds a run of key k1; the CLI's worker must leave the next one
        // of k1 pending while executing an unrelated run.
        let (mark, go) = (e.path("mark-lib"), e.path("go-lib"));
        let first = id_of(
            &db.trigger(json!([{"job": "slow", "input": {}, "options": {"concurrencyKey": "k1"}}]))
                [0],
        );
        let lib = Reaped::spawn(
            db.lib_cmd("work", &[])
                .env("INTEROP_MARKER", &mark)
                .env("INTEROP_GO", &go),
        );
        assert_eq!(marker(&mark), first);
        let second = id_of(&db.enqueue("--job slow --concurrency-key k1"));
        let other = id_of(&db.enqueue("--job quiet"));
        assert_success(
            "durably work",
            &db.work_cmd(&["--until-idle"]).output().unwrap(),
        );
        assert_eq!(db.show(&other)["status"], "completed");
        let held = db.show(&second);
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
        let (a, b) = (db.show(&first), db.show(&second));
        assert_eq!(
            (&a["status"], &b["status"]),
            (&json!("completed"), &json!("completed"))
        );

        // The other way round: the CLI's worker holds k2; the library's leaves the next pending.
        let (mark, go) = (e.path("mark-cli"), e.path("go-cli"));
        let first = id_of(&db.enqueue("--job slow --concurrency-key k2"));
        let cli = Reaped::spawn(
            db.work_cmd(&["--until-idle"])
                .env("INTEROP_MARKER", &mark)
                .env("INTEROP_GO", &go),
        );
        assert_eq!(marker(&mark), first);
        let second = id_of(
            &db.trigger(json!([{"job": "slow", "input": {}, "options": {"concurrencyKey": "k2"}}]))
                [0],
        );
        assert_eq!(db.lib("work", &[])["processed"], 0);
        let held = &db.lib_read(&[json!({"op": "getRun", "id": second})])[0];
        assert_eq!(
            held["status"], "pending",
            "the library claimed a key the CLI holds"
        );
        assert_eq!(held["leaseGeneration"], 0);
        std::fs::write(&go, "go").unwrap();
        assert_success("durably work", &cli.wait());
        let runs = db.lib_read(&[
            json!({"op": "getRun", "id": first}),
            json!({"op": "getRun", "id": second}),
        ]);
        assert_eq!(
            (&runs[0]["status"], &runs[1]["status"]),
            (&json!("completed"), &json!("completed"))
        );
    }
}

scenarios! {
    /// Producers and polling workers of both runtimes on three keys: no key is ever seen leased
    /// twice in the committed rows, nor run twice at once by the handlers.
    fn concurrency_keys_under_contention_across_runtimes() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let e = env();
        let db = Db::of(&e);
        db.cli_ok(&["init"]);
        let log = e.path("exclusive.log");
        let locks = e.path("locks");
        std::fs::create_dir(&locks).unwrap();
        let (ready, stop) = (e.path("ready"), e.path("stop"));
        const KEYS: [&str; 3] = ["k1", "k2", "k3"];
        const ROUNDS: usize = 15;

        // Both workers run four runs at once, polling; every run holds the lock of its key while
        // it runs (the job and the handler `exclusive`).
        let mut lib = Reaped::spawn(
            db.lib_cmd("serve", &[log.to_str().unwrap(), "1000000"])
                .env("INTEROP_READY", &ready)
                .env("INTEROP_STOP", &stop)
                .env("INTEROP_EXCLUSIVE", &locks)
                .env("INTEROP_CONCURRENCY", "4"),
        );
        wait_ready(&mut lib, &ready);
        let cli_err = e.path("work.stderr");
        let cli = Reaped(Some(
            db.work_cmd(&["--concurrency", "4", "--poll", "50ms"])
                .env("INTEROP_LOG", &log)
                .env("INTEROP_EXCLUSIVE", &locks)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&cli_err).unwrap())
                .spawn()
                .unwrap(),
        ));

        // Producers on both sides enqueue runs of the same keys, coalescing onto a pending one,
        // while a monitor reads the committed leases: never two leased runs of one key.
        let done = AtomicBool::new(false);
        let (created, doubles) = std::thread::scope(|s| {
            let monitor = s.spawn(|| {
                let mut doubles = BTreeSet::new();
                while !done.load(Ordering::Relaxed) {
                    doubles.extend(e.sql_rows(
                        "SELECT concurrency_key, string_agg(id, ' ') FROM durably_runs \
                     WHERE status = 'leased' AND concurrency_key IS NOT NULL \
                     GROUP BY concurrency_key HAVING count(*) > 1",
                    ));
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                doubles
            });
            let by_cli = s.spawn(|| {
                let mut n = 0;
                for _ in 0..ROUNDS {
                    for key in KEYS {
                        let input = json!({ "key": key }).to_string();
                        let r = db.enqueue(&format!(
                            "--job exclusive --concurrency-key {key} --coalesce --input {input}"
                        ));
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
                let t = db.trigger(Value::Array(calls));
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
        node_result("serve", &lib.wait());
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
        let runs = db.ls(&["--job", "exclusive"]);
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
}

// ---------------------------------------------------------------------------------------------
// Leases across runtimes

scenarios! {
    /// The CLI's worker stalls; once its lease has run out the library claims and completes
    /// the run, and what the CLI's worker writes after resuming does not land.
    fn library_takes_over_a_stalled_cli_worker() {
        let e = env();
        let db = Db::of(&e);
        let (mark, go) = (e.path("marker"), e.path("go"));
        let id = db.cli_ok(&["enqueue", "--job", "slow"]).trim().to_string();
        let worker = db.stalled_cli_worker(db.short_lease().0, &mark, &go);
        assert_eq!(marker(&mark), id);
        // The CLI's worker stalls (stopped, so that its lease renewals do not move the run while
        // it is compared); a run leased by the CLI, as the library sees it.
        let pid = worker.0.as_ref().unwrap().id() as i32;
        db.stop_outside_a_write(pid);
        db.assert_same_show(std::slice::from_ref(&id));
        let leased = db.show(&id);
        assert_eq!(leased["status"], "leased");
        assert_eq!(leased["leaseGeneration"], 1);
        assert!(is_iso_ms(&leased["leaseExpiresAt"]), "{leased}");
        assert!(leased["leaseOwner"]
            .as_str()
            .unwrap()
            .starts_with("durably-cli:"));
        // Once its lease has run out the library claims and completes the run.
        db.wait_lease_expired("the CLI's", &id);
        assert_eq!(db.lib("work", &[])["processed"], 1);
        // The CLI's worker resumes, its handler finishes: nothing it writes lands, and it says
        // so.
        std::fs::write(&go, "").unwrap();
        kill(pid, libc::SIGCONT);
        let out = worker.wait();
        assert_no_busy("durably work", &out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            exit_code(&out) != 0 && stderr.contains("lost the lease"),
            "the fenced-out worker: {out:?}"
        );
        let run = db.show(&id);
        assert_eq!(run["status"], "completed");
        assert_eq!(run["output"], json!({"by": "library"}));
        assert_eq!(run["leaseGeneration"], 2);
        db.assert_same_show(std::slice::from_ref(&id));
    }

    /// A library worker whose short lease is never renewed stalls in its job; the CLI claims
    /// the expired run and completes it, and the library's late completion is fenced out.
    fn cli_takes_over_a_stalled_library_worker() {
        let e = env();
        let db = Db::of(&e);
        let (mark, go) = (e.path("marker"), e.path("go"));
        db.lib("migrate", &[]);
        let id = id_of(&db.trigger(json!([{"job": "slow", "input": {}}]))[0]);
        let lib = db.stalled_lib_worker(&mark, &go, Some(db.short_lease().1));
        assert_eq!(marker(&mark), id);
        let leased = db.show(&id);
        assert_eq!(leased["status"], "leased");
        assert_eq!(leased["leaseGeneration"], 1);
        assert!(leased["leaseOwner"]
            .as_str()
            .unwrap()
            .starts_with("worker_"));
        db.wait_lease_expired("the library's", &id);
        // The CLI claims the expired run and completes it.
        let out = db.work_cmd(&["--once"]).output().unwrap();
        assert_no_busy("durably work", &out);
        assert_success("durably work", &out);
        // The library's job finishes late: its completion is fenced out, and it says so.
        std::fs::write(&go, "").unwrap();
        let answer = lib_answer(&lib.wait());
        assert_eq!(answer["processed"], 1);
        assert!(
            answer["workerErrors"].to_string().contains("Lease lost"),
            "{answer}"
        );
        let run = db.show(&id);
        assert_eq!(run["status"], "completed");
        assert_eq!(run["output"], json!({"by": "cli"}));
        assert_eq!(run["leaseGeneration"], 2);
        db.assert_same_show(std::slice::from_ref(&id));
    }

    /// The library completes step `a`, then stalls with a lease it never renews; the CLI
    /// resumes the run with `a` replayed from the library's row, not run again.
    fn cli_resumes_a_run_the_library_started() {
        let e = env();
        let db = Db::of(&e);
        let (mark, go) = (e.path("marker"), e.path("go"));
        db.lib("migrate", &[]);
        let id = id_of(&db.trigger(json!([{"job": "resumable", "input": {}}]))[0]);
        let lib = db.stalled_lib_worker(&mark, &go, Some(db.short_lease().1));
        assert_eq!(marker(&mark), id);
        db.wait_lease_expired("the library's", &id);
        let out = db.work_cmd(&["--once"]).output().unwrap();
        assert_success("durably work", &out);
        std::fs::write(&go, "").unwrap();
        assert_no_busy("the library", &lib.wait());
        let run = db.show(&id);
        assert_eq!(run["status"], "completed");
        assert_eq!(
            run["output"],
            json!({"a": {"from": "library", "n": 1}, "b": "cli-b", "by": "cli"})
        );
        // Step `a` is the library's (a ULID), step `b` the CLI's (a UUIDv7).
        assert_eq!(
            steps_of(&run),
            [("a".to_string(), 0, 26), ("b".to_string(), 1, 36)]
        );
        assert_eq!(run["completedStepCount"], 2);
        db.assert_same_show(std::slice::from_ref(&id));
    }

    /// The CLI completes step `a`, then its worker stalls; the library resumes the run with
    /// `a` replayed from the CLI's row.
    fn library_resumes_a_run_the_cli_started() {
        let e = env();
        let db = Db::of(&e);
        let (mark, go) = (e.path("marker"), e.path("go"));
        let id = db
            .cli_ok(&["enqueue", "--job", "resumable"])
            .trim()
            .to_string();
        let worker = db.stalled_cli_worker(db.short_lease().0, &mark, &go);
        assert_eq!(marker(&mark), id);
        let pid = worker.0.as_ref().unwrap().id() as i32;
        db.stop_outside_a_write(pid);
        db.wait_lease_expired("the CLI's", &id);
        assert_eq!(db.lib("work", &[])["processed"], 1);
        std::fs::write(&go, "").unwrap();
        kill(pid, libc::SIGCONT);
        assert_no_busy("durably work", &worker.wait());
        let run = db.show(&id);
        assert_eq!(run["status"], "completed");
        assert_eq!(
            run["output"],
            json!({"a": {"from": "cli", "n": 1}, "b": "library-b", "by": "library"})
        );
        // Step `a` is the CLI's; the library counts a replayed step again: its new step `b`
        // gets index 2, not 1.
        assert_eq!(
            steps_of(&run),
            [("a".to_string(), 0, 36), ("b".to_string(), 2, 26)]
        );
        db.assert_same_show(std::slice::from_ref(&id));
    }

    /// A cancel by one runtime reaches the worker of the other: nothing either worker writes
    /// afterwards lands.
    fn cancel_reaches_the_other_runtimes_worker() {
        let e = env();
        let db = Db::of(&e);
        // The library cancels a run the CLI's worker is executing: the worker stops the
        // handler at its next lease renewal and writes nothing.
        let (mark, go) = (e.path("marker1"), e.path("go1"));
        let id = db.cli_ok(&["enqueue", "--job", "slow"]).trim().to_string();
        let worker = db.stalled_cli_worker("3s", &mark, &go);
        assert_eq!(marker(&mark), id);
        db.lib("cancel", &[&id]);
        let out = worker.wait();
        assert_no_busy("durably work", &out);
        assert_eq!(
            exit_code(&out),
            6,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = db.show(&id);
        assert_eq!(run["status"], "cancelled");
        assert_eq!(run["output"], Value::Null);
        assert_eq!(run["leaseOwner"], Value::Null);
        db.assert_same_show(std::slice::from_ref(&id));

        // The CLI cancels a run the library's worker is executing: the library's completion is
        // refused (it reports the lost lease) and the run stays cancelled.
        let (mark, go) = (e.path("marker2"), e.path("go2"));
        let id = id_of(&db.trigger(json!([{"job": "slow", "input": {}}]))[0]);
        let lib = db.stalled_lib_worker(&mark, &go, None);
        assert_eq!(marker(&mark), id);
        db.cli_ok(&["cancel", &id]);
        std::fs::write(&go, "").unwrap();
        let answer = lib_answer(&lib.wait());
        assert!(
            answer["workerErrors"].to_string().contains("Lease lost"),
            "{answer}"
        );
        let run = db.show(&id);
        assert_eq!(run["status"], "cancelled");
        assert_eq!(run["output"], Value::Null);
        db.assert_same_show(std::slice::from_ref(&id));
    }
}

// ---------------------------------------------------------------------------------------------
// Applications

scenarios! {
    /// JavaScript strings may hold half a surrogate pair; JSON.stringify writes it as an escape,
    /// which the CLI shows as U+FFFD.
    fn lone_surrogates_from_javascript_are_shown_as_strings() {
        let e = env();
        let db = Db::of(&e);
        db.lib("migrate", &[]);
        let t = db.lib(
            "trigger",
            &[r#"[{"job":"quiet","input":{"s":"a\ud800b"},"options":{"labels":{"k":"\udfff"}}}]"#],
        );
        let shown = db.show(&id_of(&t[0]));
        assert_eq!(shown["input"], json!({"s": "a\u{fffd}b"}));
        assert_eq!(shown["labels"], json!({"k": "\u{fffd}"}));
    }

    /// An application triggers and waits; only a CLI worker executes runs.
    fn library_trigger_and_wait_is_served_by_a_cli_worker() {
        let e = env();
        let db = Db::of(&e);
        db.lib("migrate", &[]);
        let worker = Reaped::spawn(&mut db.work_cmd(&["--poll", "50ms"]));
        let input = json!({"order": 42, "s": "a\u{fffd}b"});
        let done = db.lib(
            "triggerAndWait",
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
        kill(worker.0.as_ref().unwrap().id() as i32, libc::SIGTERM);
        let out = worker.wait();
        assert_no_busy("durably work", &out);
        assert_success("durably work", &out);
        db.assert_same_show(&[id_of(&done)]);
    }

    /// `durably logs --follow` of a pending run prints what the library's worker logs, and ends
    /// with the run.
    fn logs_follow_prints_the_library_s_logs_until_its_run_ends() {
        let e = env();
        let db = Db::of(&e);
        db.lib("migrate", &[]);
        let id = id_of(&db.trigger(json!([{"job": "echo", "input": {"f": 1}}]))[0]);
        let follow = Reaped::spawn(&mut db.cli_cmd(&["logs", "--follow", "--json", &id]));
        assert_eq!(db.lib("work", &[])["processed"], 1);
        let out = follow.wait();
        assert_success("durably logs --follow", &out);
        let followed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let stored = db.lib_read(&[json!({"op": "getLogs", "id": id})]);
        let stored = stored[0].as_array().unwrap();
        assert_eq!(stored.len(), 2, "{stored:?}");
        // The library does not wait for its log writes, so one may commit after the run's
        // completion that ends the follow: what was printed is the stored logs, in order, or
        // the stored logs but such a late one.
        let mut rest = stored.iter();
        for line in &followed {
            assert!(
                rest.any(|s| s == line),
                "followed {line} is not among the stored logs, in order: {stored:?}"
            );
        }
        assert!(!followed.is_empty(), "nothing followed of {stored:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite only: the schema the library's migrate() makes in a file

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

/// The rows of a pragma, every value in its debug form.
fn pragma_rows(conn: &Connection, pragma: &str) -> Vec<Vec<String>> {
    let mut p = conn.prepare(pragma).unwrap();
    let n = p.column_count();
    p.query_map([], |r| {
        (0..n)
            .map(|i| {
                r.get::<_, rusqlite::types::Value>(i)
                    .map(|v| format!("{v:?}"))
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap()
    .collect::<Result<Vec<_>, _>>()
    .unwrap()
}

fn sqlite_schema(db: &Path) -> BTreeMap<String, Object> {
    let conn = Connection::open(db).unwrap();
    let rows = sqlite_rows(
        &conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name",
    );
    let mut out = BTreeMap::new();
    for row in rows {
        let text = |i: usize| row[i].clone().unwrap();
        let (kind, name, table) = (text(0), text(1), text(2));
        let mut columns = if kind == "table" {
            pragma_rows(&conn, &format!("PRAGMA table_xinfo(\"{name}\")"))
        } else {
            pragma_rows(&conn, &format!("PRAGMA index_xinfo(\"{name}\")"))
        };
        if kind == "index" {
            // index_list tells unique and partial (seq, name, unique, origin, partial).
            let flags: Vec<String> = pragma_rows(&conn, &format!("PRAGMA index_list(\"{table}\")"))
                .into_iter()
                .filter(|l| l[1] == format!("Text({name:?})"))
                .map(|l| format!("unique={} partial={}", l[2], l[4]))
                .collect();
            assert_eq!(flags.len(), 1, "index_list of {table} for {name}");
            columns.push(flags);
        }
        let sql = row[3].as_deref().map(normalize_sql);
        out.insert(
            name,
            Object {
                kind,
                table,
                sql,
                columns,
            },
        );
    }
    out
}

fn sqlite_versions(db: &Path) -> Vec<String> {
    let conn = Connection::open(db).unwrap();
    sqlite_rows(
        &conn,
        "SELECT version FROM durably_schema_versions ORDER BY version",
    )
    .into_iter()
    .map(|r| r[0].clone().unwrap())
    .collect()
}

#[test]
#[ignore = "needs Node.js and npm (the real library): .ci/run runs it"]
fn sqlite_schema_matches_library_migrate() {
    let e = env_on(Backend::Sqlite);
    let (lib_db, cli_db) = (Db::named(&e, "lib"), Db::named(&e, "cli"));
    let (lib_path, cli_path) = (Path::new(&lib_db.arg), Path::new(&cli_db.arg));
    lib_db.lib("migrate", &[]);
    cli_db.cli_ok(&["init"]);
    let lib = sqlite_schema(lib_path);
    let cli = sqlite_schema(cli_path);
    assert!(lib.len() >= 20, "the library made {} objects", lib.len());
    for (name, obj) in &lib {
        let ours = cli
            .get(name)
            .unwrap_or_else(|| panic!("the CLI's schema lacks {name}"));
        assert_eq!(obj, ours, "{name} differs (left: library, right: CLI)");
    }
    // Beside our indexes, our own tables (durably_cli_*, sql/cli.sql) and their indexes.
    let extra: BTreeSet<&str> = cli
        .keys()
        .filter(|n| !lib.contains_key(*n) && !n.contains("durably_cli_"))
        .map(String::as_str)
        .collect();
    assert_eq!(extra, EXTRA_INDEXES.into_iter().collect::<BTreeSet<_>>());
    assert_eq!(sqlite_versions(lib_path), ["1"]);
    assert_eq!(sqlite_versions(cli_path), ["1"]);
    // The library's own default journal mode, kept by the CLI on the library's file.
    lib_db.assert_journal("delete");

    // The library sees version 1 on the CLI's file: its migrate() changes nothing.
    cli_db.lib("migrate", &[]);
    assert_eq!(sqlite_schema(cli_path), cli);
    assert_eq!(sqlite_versions(cli_path), ["1"]);

    // The CLI on the library's file: reads without writing; `init` adds only our indexes and
    // keeps the application's journal mode.
    lib_db.cli_ok(&["ls"]);
    assert_eq!(sqlite_schema(lib_path), lib);
    lib_db.cli_ok(&["init"]);
    assert_eq!(sqlite_schema(lib_path), cli, "init on the library's file");
    lib_db.assert_journal("delete");
    assert_eq!(sqlite_versions(lib_path), ["1"]);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only: the schema the library's migrate() makes in a schema of a database

/// Columns of a schema's tables: (table, column) → (position, type, default, nullable).
fn pg_columns(
    c: &mut postgres::Client,
    schema: &str,
) -> BTreeMap<(String, String), Vec<Option<String>>> {
    c.query(
        "SELECT table_name::text, column_name::text, ordinal_position::text, data_type::text, \
                column_default::text, is_nullable::text \
         FROM information_schema.columns WHERE table_schema = $1 \
           AND table_name NOT LIKE 'durably\\_cli\\_%'",
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
fn pg_indexes(c: &mut postgres::Client, schema: &str) -> BTreeMap<String, String> {
    c.query(
        "SELECT indexname::text, replace(indexdef, $2, '') FROM pg_indexes WHERE schemaname = $1 \
         AND tablename NOT LIKE 'durably\\_cli\\_%'",
        &[&schema, &format!("{schema}.")],
    )
    .expect("read pg_indexes")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

fn pg_versions(c: &mut postgres::Client, schema: &str) -> Vec<i64> {
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
fn pg_extra_indexes() -> BTreeSet<String> {
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
fn pg_schema_matches_library_migrate() {
    let e = env_on(Backend::Postgres);
    let lib_db = Db::named(&e, "interop_lib");
    let cli_db = Db::named(&e, "interop_cli");
    lib_db.lib("migrate", &[]);
    cli_db.cli_ok(&["init"]);
    let mut c = pg_connect(&e.db_arg());

    // Both chose their schema through the URL: nothing landed in public.
    let in_public: i64 = c
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(in_public, 0, "tables created outside the chosen schema");

    let lib_cols = pg_columns(&mut c, "interop_lib");
    assert!(lib_cols.len() >= 30, "the library made {lib_cols:?}");
    assert_eq!(
        lib_cols,
        pg_columns(&mut c, "interop_cli"),
        "columns differ (left: library, right: CLI)"
    );
    let lib_idx = pg_indexes(&mut c, "interop_lib");
    let cli_idx = pg_indexes(&mut c, "interop_cli");
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
    assert_eq!(extra, pg_extra_indexes(), "the CLI's own indexes");
    assert_eq!(pg_versions(&mut c, "interop_lib"), vec![1]);
    assert_eq!(pg_versions(&mut c, "interop_cli"), vec![1]);

    // The library sees version 1 in the CLI's schema: its migrate() changes nothing.
    cli_db.lib("migrate", &[]);
    assert_eq!(pg_indexes(&mut c, "interop_cli"), cli_idx);
    assert_eq!(pg_versions(&mut c, "interop_cli"), vec![1]);

    // The CLI in the library's schema: reads without writing; `init` adds only our indexes.
    lib_db.cli_ok(&["ls"]);
    assert_eq!(pg_indexes(&mut c, "interop_lib"), lib_idx);
    lib_db.cli_ok(&["init"]);
    assert_eq!(
        pg_indexes(&mut c, "interop_lib"),
        cli_idx,
        "init in the library's schema"
    );
    assert_eq!(pg_columns(&mut c, "interop_lib"), lib_cols);
    assert_eq!(pg_versions(&mut c, "interop_lib"), vec![1]);
}

scenarios! {
    /// Issue 17, held runs: while held (`enqueue --in/--at/--after`), a run is not in
    /// durably_runs, so the library's `getRuns` never lists it (as pending or at all) and its
    /// worker never starts it; the library's `migrate()` accepts the database with our tables.
    /// Once the CLI released it (same id), the library sees it pending and its worker runs it,
    /// never before its due time.
    fn held_runs_are_invisible_to_the_library_until_released() {
        let e = env();
        let db = Db::of(&e);
        db.cli_ok(&["init"]);
        db.lib("migrate", &[]);
        let later = id_of(&db.enqueue("--job append --in 1h"));
        let soon: Vec<String> = (0..3)
            .map(|_| id_of(&db.enqueue("--job append --in 2s")))
            .collect();
        let waiting = id_of(&db.enqueue(&format!("--job append --after {}", soon[0])));
        let due_at: Vec<String> = soon
            .iter()
            .map(|id| db.show(id)["held"]["dueAt"].as_str().unwrap().to_string())
            .collect();
        let log = e.path("append.log");
        let read = |db: &Db| {
            db.lib_read(&[
                json!({"op": "getRuns", "filter": {}}),
                json!({"op": "getRuns", "filter": {"status": "pending"}}),
            ])
        };
        let before = read(&db);
        assert_eq!(before[0], json!([]), "getRuns lists no held run");
        assert_eq!(before[1], json!([]));
        // A library worker pass beside held runs starts none of them.
        let mut drain = db.lib_cmd("drain", &[log.to_str().unwrap()]);
        let drained = node_result("drain", &drain.output().expect("run node"));
        assert_eq!(drained["processed"], 0, "{drained}");
        db.lib("migrate", &[]);
        // The CLI releases the due runs (a worker with no handler for `append`: it only
        // releases), after their due time.
        wait_for("the due time", || {
            (timestamp_ago(std::time::Duration::ZERO) > due_at[2]).then_some(())
        });
        let only = e.path("no-handlers");
        std::fs::create_dir_all(&only).unwrap();
        script(&only.join("other"), "#!/bin/sh\necho ok\n");
        db.cli_ok(&["work", "--until-idle", "--handlers", only.to_str().unwrap()]);
        let after = read(&db);
        let mut pending = ids_of(&after[1]);
        pending.sort();
        let mut want = soon.clone();
        want.sort();
        assert_eq!(pending, want, "released with their ids, pending");
        assert!(!ids_of(&after[0]).contains(&later));
        assert!(!ids_of(&after[0]).contains(&waiting));
        // The library's worker runs them, none before its due time; then the CLI releases the
        // run that waited on the first, which the library runs too.
        let mut drain = db.lib_cmd("drain", &[log.to_str().unwrap()]);
        let drained = node_result("drain", &drain.output().expect("run node"));
        assert_eq!(drained["processed"], 3, "{drained}");
        for (id, due) in soon.iter().zip(&due_at) {
            let run = db.show(id);
            assert_eq!(run["status"], "completed", "{run}");
            assert!(run["startedAt"].as_str().unwrap() >= due.as_str(), "{run}");
        }
        db.cli_ok(&["work", "--until-idle", "--handlers", only.to_str().unwrap()]);
        assert_eq!(db.show(&waiting)["status"], "pending");
        let mut drain = db.lib_cmd("drain", &[log.to_str().unwrap()]);
        let drained = node_result("drain", &drain.output().expect("run node"));
        assert_eq!(drained["processed"], 1, "{drained}");
        assert_eq!(db.show(&waiting)["status"], "completed");
        assert_eq!(db.show(&later)["status"], "scheduled");
        let log = std::fs::read_to_string(&log).unwrap();
        assert_eq!(log.lines().count(), 4, "each released run ran once: {log}");
    }

    /// `durably pause` holds only CLI workers (issue 17): the library's worker knows nothing
    /// of `durably_cli_pauses` and completes a paused job's run, as README and `pause --help`
    /// say; its `migrate()` accepts the database with the pause table.
    fn library_worker_ignores_pauses() {
        let e = env();
        let db = Db::of(&e);
        db.cli_ok(&["init"]);
        db.cli_ok(&["pause", "--job", "echo"]);
        let id = id_of(&db.enqueue("--job echo"));
        let out = db.work_cmd(&["--until-idle"]).output().unwrap();
        assert_success("cli worker", &out);
        assert_eq!(db.show(&id)["status"], "pending", "a CLI worker claimed a paused job");
        db.lib("migrate", &[]);
        assert_eq!(db.lib("work", &[])["processed"], 1);
        assert_eq!(db.show(&id)["status"], "completed");
        assert_eq!(db.show(&id)["output"]["by"], "library");
    }
}

scenarios! {
    /// A retry's successor (issue 17) is held outside `durably_runs`: the library's `getRuns`
    /// lists only the failed run, its worker finds nothing to claim, its `migrate()` accepts
    /// the database with the CLI's attempt and held-run tables.
    fn library_never_sees_a_held_retry() {
        let e = env();
        let db = Db::of(&e);
        db.cli_ok(&["init"]);
        let id = id_of(&db.enqueue("--job fail --retries 2 --backoff 1h"));
        let out = db.work_cmd(&["--until-idle"]).output().unwrap();
        assert_eq!(exit_code(&out), 5, "{out:?}");
        let next = db.show(&id)["nextRunId"].as_str().unwrap().to_string();
        db.lib("migrate", &[]);
        let all = db.lib_read(&[json!({"op": "getRuns", "filter": {}})]);
        let ids = ids_of(&all[0]);
        assert_eq!(ids, std::slice::from_ref(&id), "the library sees only the failed run");
        assert_eq!(db.lib("work", &[])["processed"], 0);
        assert!(!ids.contains(&next));
        assert_eq!(db.show(&id)["status"], "failed");
    }
}
