//! The backend a test runs on: a SQLite file in the env's temp dir, or a fresh PostgreSQL
//! database on the server named by `DURABLY_TEST_PG` (created for the test, dropped after it).
//!
//! `both!` declares a test once and runs it on both: `name::sqlite` always, and
//! `name::pg`, `#[ignore]`d unless `--include-ignored`. The backend of the running test is a
//! thread-local that [`Env::new`](super::Env::new) reads, so a test body is the same text on
//! both. A PostgreSQL run without `DURABLY_TEST_PG` panics: an ignored test that is asked to run
//! must fail, never pass.
//!
//! The SQL helpers ([`Env::sql_rows`](super::Env::sql_rows), [`Env::exec`](super::Env::exec),
//! …) take one query text both dialects accept, with values inlined by [`lit`], and answer every
//! value as text (PostgreSQL's simple query protocol does the same), so assertions compare the
//! same strings on both.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the PostgreSQL server of the PostgreSQL runs.
pub const PG_VAR: &str = "DURABLY_TEST_PG";

/// Where a test's database lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

thread_local! {
    static CURRENT: Cell<Backend> = const { Cell::new(Backend::Sqlite) };
}

impl Backend {
    /// The backend of the test running on this thread (SQLite unless [`Backend::run`] set it).
    pub fn current() -> Backend {
        CURRENT.with(Cell::get)
    }

    /// Runs `body` with this backend as the current one.
    pub fn run(self, body: impl FnOnce()) {
        CURRENT.with(|c| c.set(self));
        body();
    }
}

/// Declares tests once and runs each on both backends: `fn name() { … }` becomes a module
/// `name` holding `#[test] fn sqlite()` and `#[test] #[ignore = "needs PostgreSQL…"] fn pg()`.
macro_rules! both {
    ($($(#[$attr:meta])* fn $name:ident() $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body() $body

            $(#[$attr])*
            #[test]
            fn sqlite() {
                $crate::harness::Backend::Sqlite.run(body)
            }

            $(#[$attr])*
            #[test]
            #[ignore = "needs PostgreSQL: DURABLY_TEST_PG=postgres://… cargo test -- --include-ignored"]
            fn pg() {
                $crate::harness::Backend::Postgres.run(body)
            }
        }
    )*};
}

/// The server URL from `DURABLY_TEST_PG`; panics with what to set when it is missing.
#[track_caller]
pub fn pg_server() -> String {
    match std::env::var(PG_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "this test needs PostgreSQL: set {PG_VAR}=postgres://user@host:port/db (a server \
             where the tests may create and drop databases), or run .ci/run, which starts one"
        ),
    }
}

/// The server a test may restart and the shell command restarting it, from
/// `DURABLY_TEST_PG_RESTART_URL` and `DURABLY_TEST_PG_RESTART`: a server of its own, since a
/// restart ends the sessions of every test on it. Panics with what to set when one is missing.
#[track_caller]
pub fn pg_restartable() -> (String, String) {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match (
        var("DURABLY_TEST_PG_RESTART_URL"),
        var("DURABLY_TEST_PG_RESTART"),
    ) {
        (Some(url), Some(cmd)) => (url, cmd),
        _ => panic!(
            "this test restarts a PostgreSQL server: set DURABLY_TEST_PG_RESTART_URL to a server \
             no other test uses and DURABLY_TEST_PG_RESTART to a shell command restarting it \
             (e.g. pg_ctl -D DIR -l LOG -m fast -w restart), or run .ci/run, which sets both"
        ),
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub fn with_dbname(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Connects to a PostgreSQL URL without TLS (the test servers are local).
#[track_caller]
pub fn pg_connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to PostgreSQL {url}: {e}"))
}

/// A PostgreSQL database created for one test and dropped (with its sessions) when it drops.
pub struct PgDatabase {
    pub name: String,
    pub url: String,
    server: String,
}

impl PgDatabase {
    /// Creates a database on the server of `DURABLY_TEST_PG`.
    #[track_caller]
    pub fn create() -> PgDatabase {
        PgDatabase::create_on(pg_server())
    }

    /// Creates a database on `server` with a name unique to this process and moment.
    #[track_caller]
    pub fn create_on(server: String) -> PgDatabase {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "durably_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        pg_connect(&server)
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        let url = with_dbname(&server, &name);
        PgDatabase { name, url, server }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // A failed drop leaves a database behind on a throwaway server: not worth a panic
        // during an unwinding test.
        if let Ok(mut c) = postgres::Client::connect(&self.server, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// `s` as an SQL string literal (both dialects: quotes doubled).
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `s` as an SQL string literal, or NULL.
pub fn lit_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "NULL".to_string(), lit)
}

/// The rows of a PostgreSQL simple query's answer, every value as text.
pub fn simple_rows(messages: Vec<postgres::SimpleQueryMessage>) -> Vec<Vec<Option<String>>> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

/// Rows of a query on SQLite, every value as text.
pub fn sqlite_rows(conn: &rusqlite::Connection, sql: &str) -> Vec<Vec<Option<String>>> {
    use rusqlite::types::ValueRef;
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => None,
                        ValueRef::Integer(v) => Some(v.to_string()),
                        ValueRef::Real(v) => Some(v.to_string()),
                        ValueRef::Text(t) | ValueRef::Blob(t) => {
                            Some(String::from_utf8_lossy(t).into_owned())
                        }
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>());
    rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
}
