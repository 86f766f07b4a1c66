//! The schema the CLI creates, compared object by object with what @coji/durably 0.15.0 creates
//! (tests/fixtures/durably-0.15.0-v1-schema.sql, the library's migrate() output), plus journal
//! modes, read-only commands on a missing file, and "opening an existing database runs no DDL".

use crate::harness::*;
use rusqlite::Connection;
use std::collections::BTreeMap;

const REFERENCE: &str = include_str!("../fixtures/durably-0.15.0-v1-schema.sql");

/// Our own indexes (sql/v1_extra.sql); any other difference from the library is a failure.
const EXTRA_INDEXES: [&str; 5] = [
    "idx_durably_runs_created_id",
    "idx_durably_runs_id_tail",
    "idx_durably_runs_job_status_created_id",
    "idx_durably_runs_status_created_id",
    "idx_durably_runs_updated_id",
];

/// The reference file's statements: one per `CREATE`, continuation lines joined.
fn reference_statements() -> Vec<String> {
    let mut stmts: Vec<String> = Vec::new();
    for line in REFERENCE.lines() {
        if line.starts_with("CREATE ") {
            stmts.push(line.to_string());
        } else if let Some(last) = stmts.last_mut() {
            last.push('\n');
            last.push_str(line);
        }
    }
    assert_eq!(stmts.len(), 17, "reference file changed shape");
    stmts
}

/// A database made the way the library makes it: its v1 DDL and version row 1, nothing more.
fn library_db(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    for s in reference_statements() {
        conn.execute_batch(&s).unwrap();
    }
    conn.execute(
        "INSERT INTO durably_schema_versions (version, applied_at) VALUES (1, '2025-01-01T00:00:00.000Z')",
        [],
    )
    .unwrap();
    conn
}

type Columns = Vec<(String, String, bool, Option<String>, i64, i64)>;

fn table_columns(conn: &Connection, table: &str) -> Columns {
    let mut s = conn
        .prepare(&format!("PRAGMA table_xinfo(\"{table}\")"))
        .unwrap();
    s.query_map([], |r| {
        Ok((
            r.get::<_, String>("name")?,
            r.get::<_, String>("type")?.to_lowercase(),
            r.get::<_, bool>("notnull")?,
            r.get::<_, Option<String>>("dflt_value")?,
            r.get::<_, i64>("pk")?,
            r.get::<_, i64>("hidden")?,
        ))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

#[derive(Debug, PartialEq, Eq)]
struct Index {
    table: String,
    unique: bool,
    origin: String,
    partial: bool,
    /// Key columns: (name, descending, collation).
    columns: Vec<(Option<String>, bool, String)>,
    /// The WHERE clause, lowercased, without quotes or whitespace.
    predicate: Option<String>,
}

fn normalize_predicate(sql: &str) -> Option<String> {
    let lower = sql.to_lowercase();
    let at = lower.find(" where ").or_else(|| lower.find("\nwhere "))?;
    Some(
        lower[at + 7..]
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '"' | '`' | ';'))
            .collect(),
    )
}

/// Every index on a `durably_*` table, by name (automatic pk indexes included).
fn indexes(conn: &Connection) -> BTreeMap<String, Index> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'durably%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut out = BTreeMap::new();
    for table in tables {
        let list: Vec<(String, bool, String, bool)> = conn
            .prepare(&format!("PRAGMA index_list(\"{table}\")"))
            .unwrap()
            .query_map([], |r| {
                Ok((
                    r.get("name")?,
                    r.get("unique")?,
                    r.get("origin")?,
                    r.get("partial")?,
                ))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for (name, unique, origin, partial) in list {
            let columns = conn
                .prepare(&format!("PRAGMA index_xinfo(\"{name}\")"))
                .unwrap()
                .query_map([], |r| {
                    Ok((
                        r.get::<_, bool>("key")?,
                        r.get::<_, Option<String>>("name")?,
                        r.get::<_, bool>("desc")?,
                        r.get::<_, String>("coll")?,
                    ))
                })
                .unwrap()
                .collect::<rusqlite::Result<Vec<_>>>()
                .unwrap()
                .into_iter()
                .filter(|c| c.0)
                .map(|(_, n, d, c)| (n, d, c))
                .collect();
            let sql: Option<String> = conn
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .unwrap();
            let predicate = sql.as_deref().and_then(normalize_predicate);
            assert_eq!(partial, predicate.is_some(), "{name}: {sql:?}");
            out.insert(
                name,
                Index {
                    table: table.clone(),
                    unique,
                    origin,
                    partial,
                    columns,
                    predicate,
                },
            );
        }
    }
    out
}

fn durably_tables(conn: &Connection) -> Vec<String> {
    conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'durably%' ORDER BY name",
    )
    .unwrap()
    .query_map([], |r| r.get(0))
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// Everything in sqlite_master, for "nothing changed" checks.
fn master(conn: &Connection) -> Vec<(String, String, Option<String>)> {
    conn.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn pragma_i64(conn: &Connection, name: &str) -> i64 {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        .unwrap()
}

fn journal_mode(env: &Env) -> String {
    env.conn()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn created_schema_matches_the_library_object_by_object() {
    let env = Env::init();
    let ours = env.conn();
    let reference = Connection::open_in_memory().unwrap();
    for s in reference_statements() {
        reference.execute_batch(&s).unwrap();
    }

    let tables = durably_tables(&reference);
    assert_eq!(tables.len(), 5);
    // Beside the library's tables, only tables of our own (durably_cli_*, sql/cli.sql).
    let library_tables: Vec<String> = durably_tables(&ours)
        .into_iter()
        .filter(|t| !t.starts_with("durably_cli_"))
        .collect();
    assert_eq!(library_tables, tables, "same durably_* tables");
    for t in &tables {
        assert_eq!(
            table_columns(&ours, t),
            table_columns(&reference, t),
            "columns of {t} (name, type, not null, default, pk, hidden)"
        );
    }

    let theirs = indexes(&reference);
    let mine = indexes(&ours);
    assert!(theirs.len() >= 13, "{theirs:#?}");
    for (name, index) in &theirs {
        assert_eq!(mine.get(name), Some(index), "index {name}");
    }
    // Indexes of our tables (idx_durably_cli_*) are not on the library's tables.
    let extra: Vec<&String> = mine
        .keys()
        .filter(|n| !theirs.contains_key(*n) && !n.contains("durably_cli_"))
        .collect();
    assert_eq!(
        extra, EXTRA_INDEXES,
        "our own indexes: every one documented in sql/v1_extra.sql"
    );
    for name in EXTRA_INDEXES {
        assert!(!mine[name].unique, "{name} must not add a constraint");
        assert!(!mine[name].partial);
    }

    // The partial predicates, spelled out, so a normalisation bug cannot hide a difference.
    assert_eq!(
        mine["idx_durably_runs_pending_concurrency"]
            .predicate
            .as_deref(),
        Some("status='pending'andconcurrency_keyisnotnull")
    );
    assert_eq!(
        mine["idx_durably_steps_completed_unique"]
            .predicate
            .as_deref(),
        Some("status='completed'")
    );

    // Only durably_* objects.
    for (kind, name, _) in master(&ours) {
        assert!(
            name.starts_with("durably_")
                || name.starts_with("idx_durably_")
                || name.starts_with("sqlite_autoindex_durably_"),
            "{kind} {name} is not ours"
        );
    }
}

#[test]
fn schema_versions_has_row_1() {
    let env = Env::init();
    let rows: Vec<(i64, String)> = env
        .conn()
        .prepare("SELECT version, applied_at FROM durably_schema_versions")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, 1);
    let at = &rows[0].1;
    assert_eq!(at.len(), 24, "{at}");
    assert!(at.ends_with('Z') && at.as_bytes()[10] == b'T', "{at}");
    // init again: idempotent, still one row.
    env.run(&["init"]).ok();
    assert_eq!(env.counts()["durably_schema_versions"], 1);
}

#[test]
fn a_file_the_cli_creates_is_wal() {
    for first in [&["init"][..], &["enqueue", "--job", "j"][..]] {
        let env = Env::new();
        env.run(first).ok();
        assert_eq!(journal_mode(&env), "wal", "after {first:?}");
    }
}

#[test]
fn an_explicit_path_needs_an_existing_directory() {
    let env = Env::new();
    for args in [&["enqueue", "--job", "j"][..], &["init"][..]] {
        let mut c = env.command(args);
        c.arg("--db").arg(env.path("a/b/c.db"));
        run_command(c, None).fails(
            1,
            &format!("directory {} does not exist", env.path("a/b").display()),
        );
        assert!(!env.path("a").exists(), "{args:?} created a directory");
    }
    // A file where the directory should be.
    env.file("plain", "x");
    let mut c = env.command(&["enqueue", "--job", "j"]);
    c.arg("--db").arg(env.path("plain/c.db"));
    run_command(c, None).fails(1, "is not a directory");
}

/// The default location gets its directories from a writer, and reads as an empty queue
/// before anything was enqueued.
#[test]
fn the_default_database_is_created_by_writers_and_empty_before() {
    let env = Env::new();
    let default = env.path("xdg/durably/durably.db");
    let mut c = bare_command(env.dir.path());
    c.arg("ls");
    // An empty queue: the table's header alone, as for any listing that matches nothing.
    let listed = run_command(c, None).ok().stdout.clone();
    assert_eq!(listed.lines().count(), 1, "{listed:?}");
    assert!(
        listed.contains("JOB") && listed.contains("STATUS"),
        "{listed:?}"
    );
    let mut c = bare_command(env.dir.path());
    c.args(["ls", "--format", "ids"]);
    assert_eq!(run_command(c, None).ok().stdout, "");
    let mut c = bare_command(env.dir.path());
    c.args(["stats", "--json"]);
    let stats = run_command(c, None).ok().json();
    assert_eq!(stats["total"], 0);
    let mut c = bare_command(env.dir.path());
    c.args(["show", "0190"]);
    run_command(c, None).fails(3, "not found");
    assert!(
        !env.path("xdg").exists(),
        "a read created the default directory"
    );
    let mut c = bare_command(env.dir.path());
    c.args(["enqueue", "--job", "j"]);
    run_command(c, None).ok();
    assert!(default.exists());
    let mut c = bare_command(env.dir.path());
    c.args(["stats", "--json"]);
    assert_eq!(run_command(c, None).ok().json()["total"], 1);
}

/// `--db NAME` runs in `dir` with no other database option: the way a user types a relative path.
fn in_dir(env: &Env, db: &std::ffi::OsStr, args: &[&str]) -> Out {
    let mut c = bare_command(env.dir.path());
    c.current_dir(env.dir.path()).arg("--db").arg(db).args(args);
    run_command(c, None)
}

#[test]
fn a_file_uri_is_a_plain_file_name() {
    let env = Env::new();
    let db = std::ffi::OsStr::new("file:x.db");
    let id = in_dir(&env, db, &["enqueue", "--job", "j"])
        .ok()
        .line()
        .to_string();
    assert_eq!(in_dir(&env, db, &["ls", "--format", "ids"]).ok().line(), id);
    in_dir(&env, db, &["show", &id]).ok();
    assert!(env.path("file:x.db").is_file());
    assert!(!env.path("x.db").exists(), "the name was read as a URI");
    // The handler gets the same file, by its absolute path, and in-handler commands use it.
    let seen = env.path("seen");
    let script = format!(
        "printf %s \"$DURABLY_DB\" > '{}' && '{}' log hello",
        seen.display(),
        BIN
    );
    in_dir(&env, db, &["work", "--once", "--", "sh", "-c", &script]).ok();
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        std::fs::canonicalize(env.path("file:x.db"))
            .unwrap()
            .to_str()
            .unwrap()
    );
    let conn = Connection::open(env.path("file:x.db")).unwrap();
    assert_eq!(crate::harness::counts(&conn)["durably_logs"], 1);
    let status: String = conn
        .query_row("SELECT status FROM durably_runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "completed");
    // Query parameters are part of the name, not options: mode=ro does not make it read-only.
    let ro = std::ffi::OsStr::new("x.db?mode=ro");
    in_dir(&env, ro, &["enqueue", "--job", "j"]).ok();
    in_dir(&env, ro, &["init"]).ok();
    assert!(env.path("x.db?mode=ro").is_file());
    assert!(!env.path("x.db").exists());
    // `:memory:` is a file too, not an in-memory database whose runs vanish.
    let mem = std::ffi::OsStr::new(":memory:");
    let id = in_dir(&env, mem, &["enqueue", "--job", "j"])
        .ok()
        .line()
        .to_string();
    assert_eq!(
        in_dir(&env, mem, &["ls", "--format", "ids"]).ok().line(),
        id
    );
    assert!(env.path(":memory:").is_file());
    // An absolute file: URI is a relative name too (a directory "file:" must exist).
    let abs = format!("file:{}", env.path("abs.db").display());
    in_dir(&env, abs.as_ref(), &["enqueue", "--job", "j"]).fails(1, "does not exist");
    assert!(!env.path("abs.db").exists());
}

#[test]
fn odd_characters_in_a_path_are_plain() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let names: [&[u8]; 5] = [
        b"a?b.db",
        b"a#b.db",
        b"a%20b.db",
        b"with space.db",
        b"caf\xe9-\xff.db",
    ];
    for name in names {
        let name = std::ffi::OsStr::from_bytes(name);
        let id = in_dir(&env, name, &["enqueue", "--job", "j"])
            .ok()
            .line()
            .to_string();
        assert_eq!(
            in_dir(&env, name, &["ls", "--format", "ids"]).ok().line(),
            id,
            "{name:?}"
        );
        let absolute = env.dir.path().join(name);
        assert!(
            absolute.is_file(),
            "{name:?} was not created under its own name"
        );
        let mut c = bare_command(env.dir.path());
        c.arg("--db").arg(&absolute).args(["show", &id]);
        run_command(c, None).ok();
    }
    // Nothing else: every file in the dir is one of the names (plus WAL side files and the
    // harness's handlers directory).
    let created = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter(|e| {
            let e = e.as_ref().unwrap();
            let n = e.file_name();
            e.path() != env.handlers
                && !n.as_bytes().ends_with(b"-wal")
                && !n.as_bytes().ends_with(b"-shm")
        })
        .count();
    assert_eq!(created, names.len());
}

/// A library database as an older @coji/durably release left it: the 0.15.0 schema minus
/// `drop` (a column, via a table rebuilt without it, or an index).
fn old_library_db(path: &std::path::Path, drop_column: Option<&str>, drop_index: Option<&str>) {
    let conn = library_db(path);
    if let Some(col) = drop_column {
        conn.execute_batch(&format!("ALTER TABLE durably_runs DROP COLUMN {col}"))
            .unwrap();
    }
    if let Some(idx) = drop_index {
        conn.execute_batch(&format!("DROP INDEX {idx}")).unwrap();
    }
    conn.execute_batch(
        "INSERT INTO durably_runs (id, job_name, input, status, created_at, updated_at) \
         VALUES ('01JDQ6ZK8M6R6X3Q1V2W3E4R5T', 'j', '{}', 'pending', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')",
    )
    .unwrap();
}

#[test]
fn a_database_without_a_column_is_refused_naming_it() {
    let env = Env::new();
    old_library_db(&env.db, Some("completed_step_count"), None);
    let bytes = env.bytes();
    let needle = format!(
        "database {} lacks column durably_runs.completed_step_count (added in @coji/durably 0.14.0)",
        env.db.display()
    );
    let handlers = &env.handlers;
    for args in [
        &["enqueue", "--job", "j"][..],
        &["ls"][..],
        &["stats"][..],
        &["show", "01JDQ6ZK"][..],
        &["work", "--once", "--", "true"][..],
        &[
            "work",
            "--until-idle",
            "--handlers",
            handlers.to_str().unwrap(),
        ][..],
        &["init"][..],
        &["init", "--wal"][..],
    ] {
        let out = env.run(args);
        out.fails(1, &needle);
        assert!(out.stderr.len() < 300, "{args:?}: {}", out.stderr);
        assert!(env.bytes() == bytes, "{args:?} changed the file");
    }
    env.run_stdin(&["enqueue-many"], "{\"job\":\"j\"}")
        .fails(1, &needle);
    assert!(env.bytes() == bytes);
}

#[test]
fn a_database_without_a_library_index_is_refused_until_init_adds_it() {
    let env = Env::new();
    old_library_db(&env.db, None, Some("idx_durably_runs_pending_concurrency"));
    let bytes = env.bytes();
    let needle = format!(
        "database {} lacks index idx_durably_runs_pending_concurrency (added in @coji/durably 0.15.0); run `durably init`",
        env.db.display()
    );
    for args in [
        &["enqueue", "--job", "j"][..],
        &["ls"][..],
        &["work", "--once", "--", "true"][..],
    ] {
        env.run(args).fails(1, &needle);
        assert!(env.bytes() == bytes, "{args:?} changed the file");
    }
    env.run(&["init"]).ok();
    let sql: String = env
        .conn()
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'idx_durably_runs_pending_concurrency'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(sql.contains("WHERE status = 'pending'"), "{sql}");
    let names: Vec<String> = master(&env.conn()).into_iter().map(|(_, n, _)| n).collect();
    for extra in EXTRA_INDEXES {
        assert!(names.iter().any(|n| n == extra), "init did not add {extra}");
    }
    env.enqueue(&["--job", "j", "--concurrency-key", "k"]);
    assert_eq!(env.counts()["durably_runs"], 2);
}

#[test]
fn init_adds_nothing_when_a_unique_index_cannot_be_built() {
    let env = Env::new();
    old_library_db(&env.db, None, Some("idx_durably_runs_pending_concurrency"));
    // Two pending runs with one concurrency key: what 0.14.0 allowed and the 0.15.0 index forbids.
    env.conn()
        .execute_batch(
            "INSERT INTO durably_runs (id, job_name, input, status, concurrency_key, created_at, updated_at) VALUES \
             ('a', 'j', '{}', 'pending', 'k', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z'), \
             ('b', 'j', '{}', 'pending', 'k', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')",
        )
        .unwrap();
    let bytes = env.bytes();
    env.run(&["init"])
        .fails(1, "cannot add index idx_durably_runs_pending_concurrency");
    assert!(env.bytes() == bytes, "init changed the file");
}

#[test]
fn an_existing_file_keeps_its_journal_mode_until_init_wal() {
    let env = Env::new();
    {
        let conn = Connection::open(&env.db).unwrap();
        conn.execute_batch("CREATE TABLE app_users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO app_users (name) VALUES ('ann');")
            .unwrap();
    }
    assert_eq!(journal_mode(&env), "delete");
    env.enqueue(&["--job", "j"]);
    assert_eq!(
        journal_mode(&env),
        "delete",
        "enqueue must not switch to WAL"
    );
    env.run(&["init"]).ok();
    assert_eq!(journal_mode(&env), "delete", "plain init must not switch");
    let out = env.run(&["init", "--wal"]);
    out.ok();
    assert!(out.stdout.contains("wal"), "{out:#?}");
    assert_eq!(journal_mode(&env), "wal");
    // The application's table is untouched.
    let n: i64 = env
        .conn()
        .query_row("SELECT count(*) FROM app_users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(env.counts()["durably_runs"], 1);
}

#[test]
fn read_only_commands_on_a_missing_file_create_nothing() {
    let env = Env::new();
    let db = env.path("missing/dir/durably.db");
    for args in [
        &["ls"][..],
        &["ls", "--format", "json"][..],
        &["show", "0190"][..],
        &["stats"][..],
        &["wait", "0190", "--timeout", "1s"][..],
        &["rm", "--older-than", "1d", "--dry-run"][..],
    ] {
        let mut c = env.command(args);
        c.arg("--db").arg(&db);
        let out = run_command(c, None);
        out.fails(1, "does not exist");
        assert!(
            !env.path("missing").exists(),
            "{args:?} created a directory"
        );
    }
}

#[test]
fn the_default_path_is_under_xdg_data_home() {
    let env = Env::new();
    let mut c = bare_command(env.dir.path());
    c.args(["enqueue", "--job", "j"]);
    run_command(c, None).ok();
    assert!(env.path("xdg/durably/durably.db").exists());
    // Without XDG_DATA_HOME: ~/.local/share/durably/durably.db.
    let mut c = bare_command(env.dir.path());
    c.env_remove("XDG_DATA_HOME")
        .args(["enqueue", "--job", "j"]);
    run_command(c, None).ok();
    assert!(env.path(".local/share/durably/durably.db").exists());
    // DURABLY_DB is honoured when --db is not given.
    let mut c = bare_command(env.dir.path());
    c.env("DURABLY_DB", &env.db).args(["enqueue", "--job", "j"]);
    run_command(c, None).ok();
    assert_eq!(env.counts()["durably_runs"], 1);
    // An empty DURABLY_DB counts as unset: the default path again, not a usage error.
    let mut c = bare_command(env.dir.path());
    c.env("DURABLY_DB", "").args(["enqueue", "--job", "j"]);
    run_command(c, None).ok();
    let conn = rusqlite::Connection::open(env.path("xdg/durably/durably.db")).unwrap();
    assert_eq!(crate::harness::counts(&conn)["durably_runs"], 2);
}

#[test]
fn opening_a_library_database_runs_no_ddl() {
    let env = Env::new();
    drop(library_db(&env.db));
    let before_master = master(&env.conn());
    let before_version = pragma_i64(&env.conn(), "schema_version");
    let id = env.enqueue(&["--job", "j", "--label", "k=v"]);
    env.run(&["ls"]).ok();
    env.run(&["ls", "--label", "k=v", "--format", "json"]).ok();
    env.run(&["ls", "--status", "pending", "--job", "j"]).ok();
    env.run(&["show", &id]).ok();
    // Without our tail index a handle still resolves (a scan) and the table shows handles.
    let tail = &id[id.len() - 8..];
    assert_eq!(
        env.run(&["show", tail, "--json"]).ok().json()["id"],
        id.as_str()
    );
    assert!(env.run(&["ls"]).ok().stdout.contains(tail));
    env.run(&["stats"]).ok();
    env.run(&["cancel", &id]).ok();
    env.run(&["retrigger", &id]).ok();
    env.run(&["rm", &id]).ok();
    env.run(&["rm", "--older-than", "0s"]).ok();
    let conn = env.conn();
    assert_eq!(master(&conn), before_master, "sqlite_master changed");
    assert_eq!(pragma_i64(&conn, "schema_version"), before_version);
    assert_eq!(journal_mode(&env), "delete");
    drop(conn);
    // init adds our indexes, and only them.
    env.run(&["init"]).ok();
    let after: Vec<String> = master(&env.conn())
        .into_iter()
        .map(|(_, n, _)| n)
        .filter(|n| !before_master.iter().any(|(_, b, _)| b == n))
        .collect();
    let mut expected: Vec<String> = EXTRA_INDEXES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    // …and our own tables with their indexes (sql/cli.sql), which a worker would also add.
    let after: Vec<String> = after
        .into_iter()
        .filter(|n| !n.contains("durably_cli_"))
        .collect();
    assert_eq!(after, expected);
}

#[test]
fn a_library_database_with_rows_is_read_leniently() {
    let env = Env::new();
    let conn = library_db(&env.db);
    // What the library may write: ULID ids, non-string label values, NULL output, a cancelled step.
    conn.execute_batch(
        r#"INSERT INTO durably_runs (id, job_name, input, status, labels, output, created_at, updated_at, completed_at)
           VALUES ('01JDQ6ZK8M6R6X3Q1V2W3E4R5T', 'lib-job', '{"b":1,"a":2}', 'completed', '{"n":1,"s":"x"}', NULL,
                   '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:01.000Z', '2025-01-01T00:00:01.000Z');
           INSERT INTO durably_run_labels VALUES ('01JDQ6ZK8M6R6X3Q1V2W3E4R5T', 's', 'x');
           INSERT INTO durably_steps (id, run_id, name, "index", status, started_at)
           VALUES ('s1', '01JDQ6ZK8M6R6X3Q1V2W3E4R5T', 'a', 0, 'cancelled', '2025-01-01T00:00:00.500Z');"#,
    )
    .unwrap();
    drop(conn);
    let run = env.run(&["show", "01jdq6zk", "--json"]).ok().json();
    assert_eq!(run["jobName"], "lib-job");
    assert_eq!(run["output"], serde_json::Value::Null);
    assert_eq!(run["labels"]["n"], 1);
    assert_eq!(run["steps"][0]["status"], "cancelled");
    let listed = env.run(&["ls", "--label", "s=x", "--format", "ids"]);
    assert_eq!(listed.ok().line(), "01JDQ6ZK8M6R6X3Q1V2W3E4R5T");
    env.run(&["ls"]).ok();
}

#[test]
fn our_tables_appear_on_first_use_not_on_open() {
    let env = Env::new();
    drop(library_db(&env.db));
    let ours = |env: &Env| -> Vec<String> {
        durably_tables(&env.conn())
            .into_iter()
            .filter(|t| t.starts_with("durably_cli_"))
            .collect()
    };
    // Plain commands on a database the library created run no DDL (the test above); a worker
    // is a first use: it releases held runs, so it makes sure of our tables.
    env.enqueue(&["--job", "j"]);
    env.run(&["ls"]).ok();
    assert!(ours(&env).is_empty(), "{:?}", ours(&env));
    env.run(&["work", "--until-idle", "--", "true"]).ok();
    let expected: Vec<String> = {
        let ddl = include_str!("../../sql/cli.sql");
        let mut t: Vec<String> = ddl
            .lines()
            .filter_map(|l| l.trim().strip_prefix("CREATE TABLE IF NOT EXISTS "))
            .map(|r| r.split([' ', '(']).next().unwrap().to_string())
            .collect();
        t.sort();
        t
    };
    assert!(!expected.is_empty());
    let mut got = ours(&env);
    got.sort();
    assert_eq!(got, expected);
    // A new database has them from the start.
    let fresh = Env::new();
    fresh.enqueue(&["--job", "j"]);
    let mut got = ours(&fresh);
    got.sort();
    assert_eq!(got, expected);
}
