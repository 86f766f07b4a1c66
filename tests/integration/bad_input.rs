//! SEMANTICS.md, "Bad input": every bad input gets one clear line on stderr (`durably: …`, no panic), the
//! documented exit code, and leaves the database unchanged (same row counts in every
//! `durably_*` table, and where cheap the same file bytes).

use crate::harness::*;
use std::process::Command;

/// A database with a few runs (labels, one per status) to be left untouched.
fn populated() -> Env {
    let env = Env::new();
    env.run_stdin(
        &["enqueue-many", "--quiet"],
        "{\"job\":\"a\",\"labels\":{\"t\":\"1\"}}\n{\"job\":\"b\",\"concurrencyKey\":\"c\"}\n{\"job\":\"c\",\"idempotencyKey\":\"k\"}\n",
    )
    .ok();
    env
}

/// Runs `args` (with `stdin`) and asserts a one-line failure with `code` mentioning `needle`,
/// and that neither the row counts nor the file's bytes changed.
#[track_caller]
fn refused(env: &Env, args: &[&str], stdin: &[u8], code: i32, needle: &str) -> Out {
    let counts = env.db.exists().then(|| env.counts());
    let bytes = env.db.exists().then(|| env.bytes());
    let out = env.run_stdin(args, stdin);
    out.fails(code, needle);
    if let Some(counts) = counts {
        assert_eq!(env.counts(), counts, "{args:?} changed rows");
        assert!(env.bytes() == bytes.unwrap(), "{args:?} changed the file");
    } else {
        assert!(!env.db.exists(), "{args:?} created the database");
    }
    out
}

#[test]
fn malformed_json() {
    let env = populated();
    let f = env.file("m.json", "{\"job\": \"a\", ");
    let p = f.to_str().unwrap();
    refused(&env, &["enqueue", p], b"", 1, "malformed JSON");
    refused(
        &env,
        &["enqueue", "-"],
        b"{\"job\" \"a\"}",
        1,
        "malformed JSON",
    );
    refused(&env, &["enqueue", "-"], b"", 1, "malformed JSON");
    refused(
        &env,
        &["enqueue", "--job", "a", "--input", "{nope"],
        b"",
        2,
        "--input is not valid JSON",
    );
    // Batches name the line (NDJSON) and the line and item (array).
    let out = refused(
        &env,
        &["enqueue-many"],
        b"{\"job\":\"a\"}\n\n{\"job\":\"b\"}\n{\"job\" \"c\"}\n{\"job\":\"d\"}\n",
        1,
        "line 4: malformed JSON",
    );
    assert!(!out.stderr.contains("line 1 "), "{out:?}");
    refused(
        &env,
        &["enqueue-many"],
        b"[\n{\"job\":\"a\"},\n{\"job\":\"b\"},\n{\"job\" \"c\"}\n]",
        1,
        "line 4",
    );
    refused(
        &env,
        &["enqueue-many"],
        b"[{\"job\":\"a\"},\n{\"job\":\"b\"}\n",
        1,
        "malformed JSON array",
    );
    refused(
        &env,
        &["enqueue-many"],
        b"[{\"job\":\"a\"}] trailing",
        1,
        "after the array",
    );
}

#[test]
fn a_spec_that_is_not_an_object() {
    let env = populated();
    for (text, kind) in [
        ("[1]", "array"),
        ("\"job\"", "string"),
        ("42", "number"),
        ("null", "null"),
        ("true", "boolean"),
    ] {
        let f = env.file("s.json", text);
        refused(&env, &["enqueue", f.to_str().unwrap()], b"", 1, kind);
        refused(&env, &["enqueue", "-"], text.as_bytes(), 1, "JSON object");
    }
    refused(
        &env,
        &["enqueue-many"],
        b"{\"job\":\"a\"}\n[1]\n",
        1,
        "line 2: a run spec must be a JSON object, not an array",
    );
    refused(
        &env,
        &["enqueue-many"],
        b"[{\"job\":\"a\"},\n5]",
        1,
        "line 2 (item 1): a run spec must be a JSON object, not a number",
    );
    refused(
        &env,
        &["enqueue-many"],
        b"{\"job\":\"a\",\"labels\":[\"x\"]}\n",
        1,
        "line 1",
    );
}

#[test]
fn unknown_fields() {
    let env = populated();
    let f = env.file("u.json", r#"{"job":"a","jobName":"b"}"#);
    refused(
        &env,
        &["enqueue", f.to_str().unwrap()],
        b"",
        1,
        "unknown field `jobName`",
    );
    refused(
        &env,
        &["enqueue-many"],
        b"{\"job\":\"a\"}\n{\"job\":\"a\",\"priority\":1}\n",
        1,
        "line 2: invalid run spec: unknown field `priority`",
    );
    refused(
        &env,
        &["enqueue", "-"],
        br#"{"job":"a","coalesce":"merge","concurrencyKey":"c"}"#,
        1,
        "coalesce",
    );
    // Flags, too: clap's one-line usage error.
    refused(
        &env,
        &["enqueue", "--job", "a", "--priority", "1"],
        b"",
        2,
        "--priority",
    );
}

#[test]
fn labels_without_equals_bad_keys_and_over_long() {
    let env = populated();
    let long_key = "k".repeat(257);
    let long_value = "v".repeat(4097);
    let flag_cases: Vec<(String, &str)> = vec![
        ("tenant".into(), "expected KEY=VALUE"),
        ("=v".into(), "must not be empty"),
        ("bad key=v".into(), "invalid label key"),
        ("ключ=v".into(), "invalid label key"),
        ("a;drop=v".into(), "invalid label key"),
        (format!("{long_key}=v"), "257 bytes"),
        (format!("k={long_value}"), "4097 bytes"),
    ];
    for (label, needle) in &flag_cases {
        refused(
            &env,
            &["enqueue", "--job", "a", "--label", label],
            b"",
            2,
            needle,
        );
        refused(
            &env,
            &["enqueue-many", "--label", label],
            b"{\"job\":\"a\"}",
            2,
            needle,
        );
    }
    // The same in a spec: exit 1, with the line number in a batch.
    let spec_cases: Vec<(String, &str)> = vec![
        (r#"{"":"v"}"#.into(), "must not be empty"),
        (r#"{"bad key":"v"}"#.into(), "invalid label key"),
        (format!(r#"{{"{long_key}":"v"}}"#), "257 bytes"),
        (format!(r#"{{"k":"{long_value}"}}"#), "4097 bytes"),
        (r#"{"k":1}"#.into(), "must be a string"),
    ];
    for (labels, needle) in &spec_cases {
        let spec = format!(r#"{{"job":"a","labels":{labels}}}"#);
        refused(&env, &["enqueue", "-"], spec.as_bytes(), 1, needle);
        let batch = format!("{{\"job\":\"a\"}}\n{spec}\n");
        let out = refused(&env, &["enqueue-many"], batch.as_bytes(), 1, needle);
        assert!(out.stderr.contains("line 2"), "{out:?}");
    }
    // The limits themselves are fine.
    let key = "k".repeat(256);
    let value = "v".repeat(4096);
    env.enqueue(&["--job", "a", "--label", &format!("{key}={value}")]);
}

#[test]
fn empty_job_name() {
    let env = populated();
    refused(
        &env,
        &["enqueue", "--job", ""],
        b"",
        2,
        "job name must not be empty",
    );
    refused(
        &env,
        &["enqueue", "--job", "  "],
        b"",
        2,
        "job name must not be empty",
    );
    // Refused when the command line is parsed: the worker claims nothing, enqueue-many reads
    // no input.
    for args in [
        &["work", "--once", "--job", "", "--", "true"][..],
        &["work", "--once", "--job", "a", "--job", " ", "--", "true"][..],
        &["enqueue-many", "--job", ""][..],
    ] {
        refused(
            &env,
            args,
            b"{}\n",
            2,
            "for --job: the job name must not be empty",
        );
    }
    refused(
        &env,
        &["enqueue", "-"],
        br#"{"job":""}"#,
        1,
        "missing job name",
    );
    refused(
        &env,
        &["enqueue", "-"],
        br#"{"input":{}}"#,
        1,
        "missing job name",
    );
    refused(
        &env,
        &["enqueue-many"],
        b"{\"job\":\"a\"}\n{\"job\":\"\"}\n",
        1,
        "line 2: missing job name",
    );
    refused(
        &env,
        &["enqueue-many", "--job", ""],
        b"{\"job\":\"a\"}",
        2,
        "must not be empty",
    );
}

#[test]
fn missing_file() {
    let env = populated();
    refused(
        &env,
        &["enqueue", "/nonexistent/spec.json"],
        b"",
        1,
        "cannot read /nonexistent/spec.json",
    );
    refused(
        &env,
        &["enqueue-many", "/nonexistent/runs.ndjson"],
        b"",
        1,
        "cannot read /nonexistent/runs.ndjson",
    );
    // A directory instead of a file.
    let dir = env.dir.path().to_str().unwrap().to_string();
    let out = env.run(&["enqueue", &dir]);
    out.fails(1, "cannot read");
    // On a fresh path nothing is created either.
    let fresh = Env::new();
    refused(
        &fresh,
        &["enqueue", "/nonexistent/spec.json"],
        b"",
        1,
        "cannot read",
    );
}

#[test]
fn non_utf8_input() {
    let env = populated();
    let bad = b"{\"job\":\"a\",\"input\":\"caf\xe9\"}";
    let f = env.file("latin1.json", bad);
    refused(
        &env,
        &["enqueue", f.to_str().unwrap()],
        b"",
        1,
        "not valid UTF-8",
    );
    refused(&env, &["enqueue", "-"], bad, 1, "stdin is not valid UTF-8");
    refused(
        &env,
        &["enqueue-many"],
        b"{\"job\":\"a\"}\n{\"job\":\"b\xff\"}\n",
        1,
        "line 2: not valid UTF-8",
    );
    let f = env.file("batch.ndjson", b"{\"job\":\"a\"}\n\n{\"job\":\"\xc3\"}\n");
    refused(
        &env,
        &["enqueue-many", f.to_str().unwrap()],
        b"",
        1,
        "line 3: not valid UTF-8",
    );
    // In an array: the JSON reader names the place.
    refused(
        &env,
        &["enqueue-many"],
        b"[{\"job\":\"a\"},\n{\"job\":\"\xfe\"}]",
        1,
        "line 2: not valid UTF-8",
    );
    // A label flag that is not UTF-8 (clap refuses it).
    use std::os::unix::ffi::OsStrExt;
    let mut c = env.command(&["enqueue", "--job", "a", "--label"]);
    c.arg(std::ffi::OsStr::from_bytes(b"k=\xff"));
    let counts = env.counts();
    let out = run_command(c, None);
    out.fails(2, "UTF-8");
    assert_eq!(env.counts(), counts);
}

#[test]
fn a_file_that_is_not_sqlite() {
    let env = Env::new();
    let random: Vec<u8> = (0..16384u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for content in [random, b"hello, I am a text file\n".repeat(100)] {
        std::fs::write(&env.db, &content).unwrap();
        for args in [
            &["ls"][..],
            &["enqueue", "--job", "a"][..],
            &["init"][..],
            &["init", "--wal"][..],
            &["stats"][..],
            &["show", "abc"][..],
            &["rm", "--older-than", "1d"][..],
        ] {
            let out = env.run(args);
            out.fails(1, "is not a SQLite database");
            assert_eq!(std::fs::read(&env.db).unwrap(), content, "{args:?}");
        }
        for suffix in ["-wal", "-shm", "-journal"] {
            assert!(!env.path(&format!("durably.db{suffix}")).exists());
        }
    }
    // A directory where the file should be.
    std::fs::remove_file(&env.db).unwrap();
    std::fs::create_dir(&env.db).unwrap();
    env.run(&["enqueue", "--job", "a"])
        .fails(1, "is a directory");
    env.run(&["ls"]).fails(1, "is a directory");
}

#[test]
fn a_newer_schema_is_refused_untouched() {
    let env = populated();
    env.conn()
        .execute(
            "INSERT INTO durably_schema_versions (version, applied_at) VALUES (2, '2030-01-01T00:00:00.000Z')",
            [],
        )
        .unwrap();
    let bytes = env.bytes();
    let id: String = env
        .conn()
        .query_row("SELECT id FROM durably_runs LIMIT 1", [], |r| r.get(0))
        .unwrap();
    for args in [
        &["ls"][..],
        &["enqueue", "--job", "a"][..],
        &["init"][..],
        &["init", "--wal"][..],
        &["stats"][..],
        &["show", &id][..],
        &["cancel", &id][..],
        &["rm", "--force", &id][..],
        &["rm", "--older-than", "0s"][..],
        &["retrigger", &id][..],
    ] {
        refused(&env, args, b"", 1, "schema version 2");
    }
    refused(
        &env,
        &["enqueue-many"],
        b"{\"job\":\"a\"}",
        1,
        "newer than this durably supports",
    );
    assert!(env.bytes() == bytes);
}

fn can_chattr(path: &std::path::Path) -> bool {
    // DURABLY_TEST_NO_CHATTR=1 exercises the setpriv fallback on a machine that has chattr.
    if std::env::var_os("DURABLY_TEST_NO_CHATTR").is_some() {
        return false;
    }
    let ok = Command::new("chattr")
        .arg("+i")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        // The immutable bit must hold against root, or the test proves nothing.
        let writable = std::fs::OpenOptions::new().append(true).open(path).is_ok();
        if writable {
            let _ = Command::new("chattr").arg("-i").arg(path).status();
            return false;
        }
    }
    ok
}

/// Clears the immutable bit even when the test fails, so the temp dir can be removed.
struct Immutable(std::path::PathBuf);
impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

fn read_only_checks(env: &Env, run: &dyn Fn(&[&str], &[u8]) -> Out) {
    let counts = env.counts();
    let bytes = std::fs::read(&env.db).unwrap();
    let id: String = env
        .conn()
        .query_row(
            "SELECT id FROM durably_runs WHERE status = 'pending' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    for (args, stdin) in [
        (&["enqueue", "--job", "a"][..], &b""[..]),
        (&["enqueue-many"][..], &b"{\"job\":\"x\"}\n"[..]),
        (&["cancel", &id][..], &b""[..]),
        (&["rm", "--force", &id][..], &b""[..]),
        (&["rm", "--older-than", "0s"][..], &b""[..]),
    ] {
        let out = run(args, stdin);
        out.fails(1, "read-only");
    }
    // Reads still work.
    let out = run(&["ls", "--format", "ids"], b"");
    assert_eq!(
        out.ok().stdout.lines().count() as i64,
        counts["durably_runs"]
    );
    run(&["show", &id], b"").ok();
    run(&["stats"], b"").ok();
    assert_eq!(env.counts(), counts);
    assert_eq!(std::fs::read(&env.db).unwrap(), bytes);
}

#[test]
#[ignore = "needs root (chattr +i or setpriv): .ci/run runs it with --include-ignored"]
fn a_read_only_database() {
    // One DELETE-journal file (like the library's) and one WAL file (like ours).
    for wal in [false, true] {
        let env = populated();
        // Something terminal for purge to find.
        let done = env.enqueue(&["--job", "done"]);
        env.set_status(&done, "completed", Some("2000-01-01T00:00:00.000Z"));
        if !wal {
            let mode: String = env
                .conn()
                .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "delete");
        }
        if can_chattr(&env.db) {
            let _guard = Immutable(env.db.clone());
            read_only_checks(&env, &|args, stdin| env.run_stdin(args, stdin));
            continue;
        }
        // No chattr (not root, or a file system without it): drop privileges to nobody on a
        // copy in a world-readable directory.
        let setpriv = Command::new("setpriv").arg("--version").output().is_ok();
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n");
        assert!(
            setpriv && is_root,
            "neither chattr +i nor setpriv to nobody works here (needs root)"
        );
        use std::os::unix::fs::PermissionsExt;
        // The directory is writable by all (sticky, like /tmp) so that nobody can make the
        // -shm file a WAL reader needs; the database file itself stays root's, mode 0644.
        std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::fs::set_permissions(&env.db, std::fs::Permissions::from_mode(0o644)).unwrap();
        read_only_checks(&env, &|args, stdin| {
            let mut sp = Command::new("setpriv");
            sp.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                BIN,
                "--db",
            ])
            .arg(&env.db)
            .args(args)
            .env_remove("DURABLY_DB")
            .env("HOME", env.dir.path());
            run_command(sp, Some(stdin))
        });
    }
}

#[test]
fn a_full_disk_via_max_db_size() {
    let env = populated();
    let pages: i64 = env
        .conn()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let page_size: i64 = env
        .conn()
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    let counts = env.counts();
    let bytes = env.bytes();
    let batch: String = (0..3000)
        .map(|i| {
            format!(
                "{{\"job\":\"j\",\"input\":{{\"pad\":\"{}\"}},\"labels\":{{\"n\":\"{i}\"}}}}\n",
                "x".repeat(300)
            )
        })
        .collect();
    let cap = ((pages + 4) * page_size).to_string();
    let c = env.command(&["enqueue-many", "--max-db-size", &cap]);
    let out = run_command(c, Some(batch.as_bytes()));
    out.fails(1, "disk full");
    assert!(out.stderr.contains("nothing was enqueued"), "{out:?}");
    assert_eq!(env.counts(), counts);
    assert!(env.bytes() == bytes);
    // One big enqueue too.
    let mut c = env.command(&["enqueue", "--job", "j", "--input"]);
    c.arg(format!("\"{}\"", "x".repeat(100_000)));
    c.env("DURABLY_MAX_DB_SIZE", &cap);
    run_command(c, None).fails(1, "disk full");
    assert_eq!(env.counts(), counts);
    // The cap is what made it fail: without it the same batch goes in.
    env.run_stdin(&["enqueue-many", "--quiet"], &batch).ok();
}

/// `--max-db-size` (or `DURABLY_MAX_DB_SIZE`) is a size, and a SQLite file's: a bad value or a
/// PostgreSQL `--db` is a usage error before anything is opened.
#[test]
fn max_db_size_is_a_size_and_sqlite_only() {
    let env = populated();
    let counts = env.counts();
    for bad in ["0", "x", "1.5M", "10Q", "-1", "99999999999T"] {
        let flag = format!("--max-db-size={bad}");
        let out = refused(&env, &["ls", &flag], b"", 2, "--max-db-size");
        assert!(out.stderr.contains("size"), "{bad}: {out:?}");
        let mut c = env.command(&["enqueue", "--job", "j"]);
        c.env("DURABLY_MAX_DB_SIZE", bad);
        run_command(c, None).fails(2, "--max-db-size");
    }
    assert_eq!(env.counts(), counts);
    let home = tempfile::tempdir().unwrap();
    let pg = "postgres://u@127.0.0.1:1/db";
    let mut c = bare_command(home.path());
    c.args(["--db", pg, "--max-db-size", "1M", "ls"]);
    run_command(c, None).fails(2, "--max-db-size: a size cap is SQLite's");
    let mut c = bare_command(home.path());
    c.args(["--db", pg, "work", "--handlers", "."])
        .env("DURABLY_MAX_DB_SIZE", "1M");
    run_command(c, None).fails(2, "--max-db-size: a size cap is SQLite's");
}

#[test]
fn a_full_disk_via_ulimit_f() {
    let env = populated();
    let counts = env.counts();
    let batch: String = (0..3000)
        .map(|i| {
            format!(
                "{{\"job\":\"j\",\"input\":{{\"pad\":\"{}\"}},\"labels\":{{\"n\":\"{i}\"}}}}\n",
                "x".repeat(300)
            )
        })
        .collect();
    let batch_file = env.file("batch.ndjson", &batch);
    // SIGXFSZ ignored: writes past the limit fail with EFBIG instead of killing the process.
    // The limit is in 1 KiB blocks (bash); the database is about 100 KiB.
    let mut c = Command::new("bash");
    c.args([
        "-c",
        "trap '' XFSZ; ulimit -f 200; exec \"$0\" --db \"$1\" enqueue-many \"$2\"",
        BIN,
        env.db.to_str().unwrap(),
        batch_file.to_str().unwrap(),
    ])
    .env_remove("DURABLY_DB");
    let out = run_command(c, None);
    out.fails(1, "cannot write");
    assert!(out.stderr.contains("nothing was enqueued"), "{out:?}");
    assert_eq!(env.counts(), counts);
}

#[test]
fn unknown_ids() {
    let env = populated();
    for args in [
        &["show", "0000dead"][..],
        &["show", "00000000-0000-7000-8000-000000000000"][..],
        &["rm", "0000dead"][..],
        &["rm", "--force", "0000dead"][..],
        &["cancel", "0000dead"][..],
        &["retrigger", "0000dead"][..],
        &["wait", "0000dead", "--timeout", "1s"][..],
        &["ls", "--before", "0000dead"][..],
    ] {
        refused(&env, args, b"", 3, "0000");
    }
}

#[test]
fn invalid_durations() {
    let env = populated();
    for args in [
        &["rm", "--older-than", "soon"][..],
        &["rm", "--older-than=-5m"][..],
        &["rm", "--older-than", ""][..],
        &["wait", "x", "--timeout", "forever"][..],
        &["--busy-timeout", "1 fortnight", "ls"][..],
        &["enqueue", "--job", "a", "--wait", "--timeout", "10 parsecs"][..],
    ] {
        refused(&env, args, b"", 2, "invalid duration");
    }
}

/// The bounds of the worker's durations are checked when the command line is parsed: a refused
/// value starts no worker, claims nothing, and names the flag, the value and the bound.
#[test]
fn work_durations_out_of_bounds_are_refused_before_anything_runs() {
    let env = populated();
    let out = refused(
        &env,
        &["work", "--once", "--lease", "100ms", "--", "true"],
        b"",
        2,
        "--lease",
    );
    assert_eq!(
        out.stderr.trim_end(),
        "durably: work: invalid value \"100ms\" for --lease: must be at least 300ms; \
         see durably work --help"
    );
    for (args, needle) in [
        (
            &["work", "--once", "--lease", "299ms", "--", "true"][..],
            "at least 300ms",
        ),
        (
            &["work", "--once", "--poll", "366d", "--", "true"][..],
            "the limit is 365d",
        ),
        (
            &["work", "--once", "--timeout", "366d", "--", "true"][..],
            "the limit is 365d",
        ),
        (
            &["work", "--once", "--poll", "often", "--", "true"][..],
            "invalid duration",
        ),
        (
            &["work", "--once", "--timeout", "never", "--", "true"][..],
            "invalid duration",
        ),
        (
            &["work", "--once", "--retain", "a while", "--", "true"][..],
            "invalid duration",
        ),
    ] {
        refused(&env, args, b"", 2, needle);
    }
    // The bounds themselves are accepted (the queue holds no run of this job: nothing to do).
    env.run(&[
        "work", "--once", "--job", "none", "--lease", "300ms", "--", "true",
    ])
    .ok();
}

/// Statuses are matched in any case; `rm --older-than --status` takes terminal ones only and
/// says why it refuses the others.
#[test]
fn status_flags_are_parsed_in_any_case_and_rm_refuses_non_terminal_ones() {
    let env = populated();
    let pending = env.run(&["ls", "--status", "PENDING", "--format", "ids"]);
    assert_eq!(pending.ok().stdout.lines().count(), 3, "{pending:#?}");
    let out = refused(
        &env,
        &["rm", "--older-than", "0s", "--status", "Leased"],
        b"",
        2,
        "only terminal runs (completed, failed, cancelled) are purged",
    );
    assert!(out.stderr.contains("\"Leased\" for --status"), "{out:#?}");
    refused(
        &env,
        &["rm", "--older-than", "0s", "--status", "done"],
        b"",
        2,
        "(expected completed, failed, cancelled)",
    );
    refused(
        &env,
        &["ls", "--status", "done"],
        b"",
        2,
        "(expected pending, leased, completed, failed, cancelled, scheduled, waiting)",
    );
}

#[test]
fn clap_errors_are_one_line_with_exit_2() {
    let env = populated();
    for (args, needle) in [
        (&["ls", "--lables", "a=b"][..], "--lables"),
        (&["lss"][..], "lss"),
        (&["ls", "--limit"][..], "--limit"),
        (&["ls", "--limit", "many"][..], "many"),
        (&["ls", "--format", "yaml"][..], "yaml"),
        (&["show"][..], "ID"),
        (&["enqueue-many", "--chunk", "0"][..], "0"),
        (&["rm", "abc", "--older-than", "1d"][..], "--older-than"),
    ] {
        refused(&env, args, b"", 2, needle);
    }
    // Help and version are not errors.
    let out = env.run(&["--help"]);
    assert!(out.ok().stdout.contains("Usage"));
    env.run(&["--version"]).ok();
}

#[test]
fn a_locked_database_waits_then_fails_clearly() {
    let env = populated();
    let counts = env.counts();
    let holder = env.conn();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    // A short --busy-timeout: one clear line, exit 1, nothing written.
    for (args, stdin) in [
        (
            &["--busy-timeout", "100ms", "enqueue", "--job", "a"][..],
            &b""[..],
        ),
        (
            &["--busy-timeout", "100ms", "enqueue-many"][..],
            &b"{\"job\":\"a\"}"[..],
        ),
        (
            &["--busy-timeout", "100ms", "rm", "--older-than", "0s"][..],
            &b""[..],
        ),
    ] {
        env.run_stdin(args, stdin).fails(1, "is locked");
    }
    // Readers are not blocked by a writer (WAL).
    env.run(&["ls"]).ok();
    // The default timeout waits for the lock instead of failing: released while it waits.
    let mut c = env.command(&["enqueue", "--job", "waited"]);
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    wait_for("enqueue to wait for the write lock", || {
        asleep_in_a_wait(child.id()).then_some(())
    });
    holder.execute_batch("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(env.counts()["durably_runs"], counts["durably_runs"] + 1);
}

/// A typo in `--db` or `DURABLY_DB` names a directory that does not exist: one line, exit 1,
/// and no directory is made for it (only the default location gets its directories).
#[test]
fn a_db_path_in_a_missing_directory_creates_nothing() {
    let env = Env::new();
    let dir = std::path::PathBuf::from(format!("/nonexistent-durably-{}", std::process::id()));
    let db = dir.join("x.db");
    for args in [
        &["enqueue", "--job", "j"][..],
        &["init"][..],
        &["work", "--once", "--", "true"][..],
    ] {
        let mut c = bare_command(env.dir.path());
        c.arg("--db").arg(&db).args(args);
        let out = run_command(c, None);
        let created = dir.exists();
        let _ = std::fs::remove_dir_all(&dir);
        out.fails(1, &format!("directory {} does not exist", dir.display()));
        assert!(!created, "{args:?} created {}", dir.display());
        // The same through DURABLY_DB.
        let mut c = bare_command(env.dir.path());
        c.env("DURABLY_DB", &db).args(args);
        let out = run_command(c, None);
        let created = dir.exists();
        let _ = std::fs::remove_dir_all(&dir);
        out.fails(1, &format!("directory {} does not exist", dir.display()));
        assert!(
            !created,
            "{args:?} with DURABLY_DB created {}",
            dir.display()
        );
    }
    let mut c = bare_command(env.dir.path());
    c.arg("--db").arg(&db).arg("enqueue-many");
    run_command(c, Some(b"{\"job\":\"j\"}")).fails(1, "does not exist");
    assert!(!dir.exists());
}

/// `--db` naming another database's URL is a usage error naming its scheme, not a file that
/// "does not exist"; a file whose name contains `://` stays reachable as `./name`.
#[test]
fn another_databases_url_is_refused_naming_its_scheme() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "mysql://u@h/db",
        "sqlite://q.db",
        "Redis://h",
        "postgress://u@h/db",
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_durably"))
            .current_dir(dir.path())
            .args(["ls", "--db", url])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let scheme = url.split("://").next().unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert_eq!(err.lines().count(), 1, "{url}: {err}");
        assert!(
            err.contains(&format!("{scheme}:// is not a database durably can use")),
            "{url}: {err}"
        );
    }
    // POSTGRES:// in capitals is PostgreSQL (an unreachable one here), not refused as a scheme.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_durably"))
        .args(["ls", "--db", "POSTGRES://u@127.0.0.1:1/db"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
}

/// A `--db` (or `DURABLY_DB`) that is no database durably can use is refused before anything
/// is opened, by every kind of command: exit 2, one line naming `--db`, nothing created in the
/// working directory or the default location, no password shown.
#[test]
fn an_unusable_db_is_refused_by_every_command_creating_nothing() {
    let home = tempfile::tempdir().unwrap();
    let cases: [(&str, &str); 4] = [
        (
            "mysql://u:Hid3-pw@h/db",
            "mysql:// is not a database durably can use",
        ),
        (
            "SQLite://q.db",
            "SQLite:// is not a database durably can use",
        ),
        (
            "host=h dbname=d password=Hid3-pw",
            "key=value connection strings are not supported",
        ),
        (
            "postgress://h/db",
            "postgress:// is not a database durably can use",
        ),
    ];
    let commands: [&[&str]; 4] = [
        &["init"],
        &["enqueue", "job"],
        &["work", "--handlers", "."],
        &["ls"],
    ];
    for (db, needle) in cases {
        for args in commands {
            let mut given = bare_command(home.path());
            given
                .current_dir(home.path())
                .arg("--db")
                .arg(db)
                .args(args);
            let mut from_env = bare_command(home.path());
            from_env
                .current_dir(home.path())
                .env("DURABLY_DB", db)
                .args(args);
            for c in [given, from_env] {
                let out = run_command(c, None);
                out.fails(2, needle);
                assert!(out.stderr.contains("--db"), "{db} {args:?}: {out:?}");
                assert!(!out.stderr.contains("Hid3-pw"), "{db} {args:?}: {out:?}");
                let left: Vec<_> = std::fs::read_dir(home.path()).unwrap().flatten().collect();
                assert!(left.is_empty(), "{db} {args:?} created {left:?}");
            }
        }
    }
}

/// `init --wal` on PostgreSQL is refused before connecting: journal modes are SQLite's.
#[test]
fn init_wal_on_postgres_is_refused_before_connecting() {
    let home = tempfile::tempdir().unwrap();
    let mut c = bare_command(home.path());
    // Nothing listens on port 1: a connection attempt would fail with another message.
    c.args(["--db", "Postgres://u@127.0.0.1:1/db", "init", "--wal"]);
    run_command(c, None).fails(2, "--wal: journal modes are SQLite's");
}

#[test]
fn a_negative_page_size_and_empty_keys_are_refused_naming_the_flag() {
    let env = populated();
    for args in [
        &["ls", "-n", "-1"][..],
        &["ls", "--limit", "-5"],
        &["ls", "--limit", "x"],
    ] {
        let out = refused(&env, args, b"", 2, "invalid value");
        assert!(out.stderr.contains("--limit"), "{out:?}");
        assert!(out.stderr.contains("whole number"), "{out:?}");
    }
    let out = refused(&env, &["ls", "--offset", "-1"], b"", 2, "--offset");
    assert!(out.stderr.contains("whole number"), "{out:?}");
    refused(
        &env,
        &["enqueue", "a", "--idempotency-key", ""],
        b"",
        2,
        "--idempotency-key: empty",
    );
    refused(
        &env,
        &["enqueue", "a", "--concurrency-key", ""],
        b"",
        2,
        "--concurrency-key: empty",
    );
}

/// A `%` escape cut short by a multi-byte character in a PostgreSQL URL's query is kept as
/// text, never a panic: one line about the value, exit 1.
#[test]
fn a_percent_before_a_multibyte_character_in_a_url_is_not_a_panic() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_durably"))
        .args([
            "ls",
            "--db",
            "postgres://u@127.0.0.1:1/db?sslrootcert=%a\u{e9}",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("sslrootcert %a\u{e9}"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
