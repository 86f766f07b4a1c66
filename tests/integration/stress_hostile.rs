//! Hostile input beyond SEMANTICS.md's "Bad input" (that list is tests/integration/bad_input.rs): huge and deep values,
//! invalid UTF-8, NUL bytes, SQL metacharacters, damaged and read-only database files, a full
//! disk, absurd numbers. Each must give one clear `durably: …` line, the documented exit code,
//! no panic, and leave the database as it was (or hold exactly what was accepted).

use crate::harness::*;

use serde_json::Value;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

/// Asserts the process failed with `code`, one `durably:` line on stderr mentioning `needle`,
/// nothing on stdout, and no panic.
#[track_caller]
fn refused(out: &Out, code: i32, needle: &str) {
    out.fails(code, needle);
}

/// Row counts and the bytes of the file, to prove nothing was written.
fn snapshot(env: &Env) -> (std::collections::BTreeMap<String, i64>, Vec<u8>) {
    (env.counts(), env.bytes())
}

#[test]
fn huge_label_values_are_refused_and_nothing_is_written() {
    let env = Env::init();
    env.enqueue(&["--job", "seed"]);
    let before = snapshot(&env);

    // 100 KB through a flag (one argv string is limited to 128 KiB by Linux): usage error.
    let flag = format!("tenant={}", "v".repeat(100_000));
    refused(
        &env.run(&["enqueue", "--job", "a", "--label", &flag]),
        2,
        "too long",
    );
    refused(
        &env.run(&["enqueue-many", "--job", "a", "--label", &flag]),
        2,
        "too long",
    );

    // 1 MB in a spec file, a stdin spec, an NDJSON batch and a JSON array.
    let big = "x".repeat(1 << 20);
    let spec = serde_json::json!({"job": "a", "labels": {"tenant": big}}).to_string();
    let file = env.file("big-label.json", &spec);
    refused(
        &env.run(&["enqueue", file.to_str().unwrap()]),
        1,
        "too long",
    );
    refused(&env.run_stdin(&["enqueue", "-"], &spec), 1, "too long");
    let batch = format!("{{\"job\":\"ok\"}}\n{spec}\n{{\"job\":\"ok2\"}}\n");
    let out = env.run_stdin(&["enqueue-many"], &batch);
    refused(&out, 1, "line 2");
    assert!(out.stderr.contains("too long"), "{}", out.stderr);
    let array = format!("[{{\"job\":\"ok\"}}, {spec}]");
    refused(&env.run_stdin(&["enqueue-many"], &array), 1, "item 1");

    // A value at the limit is fine; one byte over is not.
    let at_limit = format!("k={}", "y".repeat(4096));
    env.run(&["enqueue", "--job", "edge", "--label", &at_limit])
        .ok();
    let over = format!("k={}", "y".repeat(4097));
    refused(
        &env.run(&["enqueue", "--job", "a", "--label", &over]),
        2,
        "too long",
    );
    let after = env.counts();
    assert_eq!(after["durably_runs"], before.0["durably_runs"] + 1);
    assert_eq!(
        after["durably_run_labels"],
        before.0["durably_run_labels"] + 1
    );
}

#[test]
fn ten_megabyte_input_is_stored_exactly() {
    let env = Env::init();
    // Odd formatting, key order, a big integer, escapes: the stored text must be byte-identical.
    let units = (10 << 20) / 11 + 1;
    let blob = "é\\u00e9\\\"z".repeat(units);
    let input = format!(
        "{{ \"z\" : 1, \t\"a\": 123456789012345678901234567890, \"blob\": \"{blob}\", \"n\" : [ 1.50 , -0e0 ] }}"
    );
    assert!(input.len() >= 10 << 20);
    let spec = format!("{{\"job\":\"big\",\"input\":{input}}}");
    let file = env.file("big.json", &spec);
    let id = env.enqueue(&[file.to_str().unwrap()]);
    let stored: String = env
        .conn()
        .query_row("SELECT input FROM durably_runs WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(
        stored == input,
        "stored input differs ({} vs {} bytes)",
        stored.len(),
        input.len()
    );

    // The same through enqueue-many (NDJSON and array) from stdin.
    let out = env.run_stdin(&["enqueue-many"], format!("{spec}\n"));
    out.ok();
    let out = env.run_stdin(&["enqueue-many"], format!("[{spec}]"));
    out.ok();
    let n: i64 = env
        .conn()
        .query_row(
            "SELECT count(*) FROM durably_runs WHERE input = ?1",
            [&input],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 3);

    // show --json gives the input back as JSON with the big integer intact.
    let shown = env.run(&["show", &id, "--json"]).ok().json();
    assert_eq!(
        shown["input"]["blob"].as_str().unwrap(),
        "éé\"z".repeat(units)
    );
    assert_eq!(
        shown["input"]["a"].to_string(),
        "123456789012345678901234567890"
    );
    assert_integrity(&env.db);
}

#[test]
fn deeply_nested_json_is_a_clear_error_not_a_stack_overflow() {
    let env = Env::init();
    let before = snapshot(&env);
    let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    // 100 KB: one argv string may not exceed 128 KiB.
    let deep = nest(50_000);

    refused(
        &env.run(&["enqueue", "--job", "a", "--input", &deep]),
        2,
        "nested too deeply",
    );
    let spec = format!("{{\"job\":\"a\",\"input\":{deep}}}");
    refused(
        &env.run_stdin(&["enqueue", "-"], &spec),
        1,
        "nested too deeply",
    );
    let out = env.run_stdin(&["enqueue-many"], format!("{{\"job\":\"ok\"}}\n{spec}\n"));
    refused(&out, 1, "line 2");
    assert!(out.stderr.contains("nested too deeply"), "{}", out.stderr);
    refused(
        &env.run_stdin(&["enqueue-many"], format!("[{spec}]")),
        1,
        "nested too deeply",
    );
    // The array itself nested 100k deep, unclosed, and objects nested deep.
    refused(&env.run_stdin(&["enqueue-many"], &deep), 1, "item 0");
    refused(
        &env.run_stdin(&["enqueue-many"], "[".repeat(100_000)),
        1,
        "malformed",
    );
    let objects = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let spec = format!("{{\"job\":\"a\",\"input\":{objects}}}");
    refused(
        &env.run_stdin(&["enqueue", "-"], &spec),
        1,
        "nested too deeply",
    );
    // Deep label values and a deep spec are malformed specs, not crashes.
    let spec = format!("{{\"job\":\"a\",\"labels\":{{\"k\":{deep}}}}}");
    refused(&env.run_stdin(&["enqueue", "-"], &spec), 1, "stdin");
    refused(&env.run_stdin(&["enqueue", "-"], &deep), 1, "stdin");
    assert_eq!(
        snapshot(&env),
        before,
        "a refused input changed the database"
    );

    // At the limit the input is accepted and reads back as JSON, not as a string.
    let ok = nest(127);
    let id = env.enqueue(&["--job", "a", "--input", &ok]);
    // (The run object adds a level: parse the text, not with serde_json's default limit.)
    let shown = env.run(&["show", &id, "--json"]).ok().stdout.clone();
    assert!(
        shown.contains("\"input\": [\n"),
        "input not shown as JSON: {}",
        tail(&shown, 300)
    );
    refused(
        &env.run(&["enqueue", "--job", "a", "--input", &nest(128)]),
        2,
        "nested too deeply",
    );
}

#[test]
fn invalid_utf8_is_refused_with_its_position() {
    let env = Env::init();
    let before = snapshot(&env);
    let bad_spec: &[u8] = b"{\"job\":\"a\xff\"}";
    let file = env.file("bad.json", bad_spec);
    refused(
        &env.run(&["enqueue", file.to_str().unwrap()]),
        1,
        "not valid UTF-8",
    );
    refused(
        &env.run_stdin(&["enqueue", "-"], bad_spec),
        1,
        "not valid UTF-8",
    );
    let mut batch = b"{\"job\":\"a\"}\n\n{\"job\":\"b\"}\n".to_vec();
    batch.extend_from_slice(bad_spec);
    batch.push(b'\n');
    let out = env.run_stdin(&["enqueue-many"], &batch);
    refused(&out, 1, "line 4");
    assert!(out.stderr.contains("UTF-8"), "{}", out.stderr);
    let mut array = b"[{\"job\":\"a\"},".to_vec();
    array.extend_from_slice(bad_spec);
    array.push(b']');
    refused(
        &env.run_stdin(&["enqueue-many"], &array),
        1,
        "nothing was enqueued",
    );
    // Overlong encodings and lone surrogates (as bytes and as escapes).
    refused(
        &env.run_stdin(&["enqueue", "-"], b"{\"job\":\"\xc0\xaf\"}"),
        1,
        "UTF-8",
    );
    refused(
        &env.run_stdin(&["enqueue", "-"], b"{\"job\":\"\xed\xa0\x80\"}"),
        1,
        "UTF-8",
    );
    refused(
        &env.run_stdin(&["enqueue", "-"], br#"{"job":"\ud800"}"#),
        1,
        "stdin",
    );

    // Invalid UTF-8 in arguments: a usage error from the argument parser, one line.
    for args in [
        vec![&b"enqueue"[..], b"--job", b"a\xff"],
        vec![b"enqueue", b"--job", b"a", b"--label", b"k=\xff"],
        vec![b"enqueue", b"--job", b"a", b"--input", b"\"\xff\""],
        vec![b"ls", b"--label", b"k=\xfe"],
    ] {
        let mut cmd = env.command(&[]);
        cmd.args(args.iter().map(|a| std::ffi::OsStr::from_bytes(a)));
        let out = run_command(cmd, None);
        assert_eq!(out.code, 2, "{args:?}: {out:#?}");
        assert_one_error_line(&out.stderr, "UTF-8");
    }
    assert_eq!(
        snapshot(&env),
        before,
        "a refused input changed the database"
    );

    // A lone surrogate escape inside the input is valid JSON text (JavaScript's JSON.parse reads
    // it): stored exactly as given.
    let out = env.run_stdin(&["enqueue", "-"], br#"{"job":"a","input":["\ud800"]}"#);
    let stored: String = env
        .conn()
        .query_row(
            "SELECT input FROM durably_runs WHERE id = ?1",
            [out.ok().line()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, r#"["\ud800"]"#);

    // A database path that is not UTF-8 is just a path.
    let odd = env
        .dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"odd-\xff.db"));
    let mut cmd = bare_command(env.dir.path());
    cmd.arg("--db").arg(&odd).args(["enqueue", "--job", "a"]);
    run_command(cmd, None).ok();
    assert!(odd.exists());
}

#[test]
fn nul_bytes_are_stored_exactly_or_refused() {
    let env = Env::init();
    // Escaped NULs are valid JSON strings: the input's text keeps them verbatim.
    let spec = r#"{"job":"a","input":"x\u0000y","labels":{"k":"v"}}"#;
    let id = env
        .run_stdin(&["enqueue", "-"], spec)
        .ok()
        .line()
        .to_string();
    let conn = env.conn();
    let input: String = conn
        .query_row("SELECT input FROM durably_runs WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(input, r#""x\u0000y""#);

    // A NUL in a job name or label value cannot be stored on PostgreSQL: refused on both
    // backends alike (tests/integration/poison.rs has the rest).
    let before = snapshot(&env);
    refused(
        &env.run_stdin(&["enqueue", "-"], r#"{"job":"a\u0000b"}"#),
        1,
        "job name contains a NUL",
    );
    refused(
        &env.run_stdin(
            &["enqueue", "-"],
            r#"{"job":"a","labels":{"k":"v\u0000w"}}"#,
        ),
        1,
        "contains a NUL",
    );
    assert_eq!(snapshot(&env), before);
    let before = snapshot(&env);
    // A NUL in a label key breaks the key pattern.
    refused(
        &env.run_stdin(&["enqueue", "-"], r#"{"job":"a","labels":{"k\u0000":"v"}}"#),
        1,
        "invalid label key",
    );
    // Raw NUL bytes (not escaped) are not allowed in JSON strings, and are not whitespace.
    refused(
        &env.run_stdin(&["enqueue", "-"], b"{\"job\":\"a\0b\"}"),
        1,
        "stdin",
    );
    let out = env.run_stdin(&["enqueue-many"], b"{\"job\":\"a\"}\n{\"job\":\"a\0\"}\n");
    refused(&out, 1, "line 2");
    refused(&env.run_stdin(&["enqueue-many"], b"\0\0\0\0"), 1, "line 1");
    assert_eq!(snapshot(&env), before);
}

#[test]
fn sql_metacharacters_in_label_keys_are_refused_and_values_are_plain_data() {
    let env = Env::init();
    env.enqueue(&["--job", "seed", "--label", "k=v"]);
    let before = snapshot(&env);
    let keys = [
        "k'",
        "k\"",
        "a;DROP TABLE durably_runs;--",
        "k' OR '1'='1",
        "k%",
        "k*",
        "k?",
        "k[1]",
        "k\\",
        "k()",
        "k k",
        "ключ",
        "k\t",
        "",
    ];
    for key in keys {
        let flag = format!("{key}=v");
        refused(
            &env.run(&["enqueue", "--job", "a", "--label", &flag]),
            2,
            "invalid label",
        );
        refused(&env.run(&["ls", "--label", &flag]), 2, "invalid label");
        let spec = serde_json::json!({"job": "a", "labels": {key: "v"}}).to_string();
        refused(
            &env.run_stdin(&["enqueue", "-"], &spec),
            1,
            "invalid label key",
        );
        let out = env.run_stdin(&["enqueue-many"], format!("{{\"job\":\"ok\"}}\n{spec}\n"));
        refused(&out, 1, "line 2");
    }
    // A key over 256 bytes, made only of allowed characters.
    let long = format!("{}=v", "k".repeat(257));
    refused(
        &env.run(&["enqueue", "--job", "a", "--label", &long]),
        2,
        "invalid label key",
    );
    assert_eq!(
        snapshot(&env),
        before,
        "a refused label changed the database"
    );

    // Values and job names may hold anything: they are bound, never spliced into SQL.
    let nasty = "v'); DROP TABLE durably_runs; --\"%_*";
    let job = "j'; DELETE FROM durably_runs; --";
    let id = env.enqueue(&["--job", job, "--label", &format!("k={nasty}")]);
    let out = env
        .run(&["ls", "--label", &format!("k={nasty}"), "--format", "ids"])
        .ok()
        .line()
        .to_string();
    assert_eq!(out, id);
    let out = env
        .run(&["ls", "--job", job, "--format", "ids"])
        .ok()
        .line()
        .to_string();
    assert_eq!(out, id);
    // LIKE/GLOB wildcards in a value or an id prefix match only themselves.
    let out = env
        .run(&["ls", "--label", "k=%", "--format", "ids"])
        .ok()
        .line()
        .to_string();
    assert_eq!(out, "");
    for prefix in ["%", "*", "?", "[0-9]*", "' OR 1=1 --"] {
        refused(&env.run(&["show", prefix]), 3, "not found");
    }
    assert_eq!(env.counts()["durably_runs"], before.0["durably_runs"] + 1);
    assert_integrity(&env.db);
}

/// Every command that touches the file, for the damaged-file tests.
fn every_command(env: &Env) -> Vec<Vec<String>> {
    let spec = env.file("one.json", "{\"job\":\"a\"}\n");
    let spec = spec.to_str().unwrap().to_string();
    [
        vec!["ls"],
        vec!["ls", "--label", "k=v"],
        vec!["show", "0193"],
        vec!["stats"],
        vec!["enqueue", "--job", "a"],
        vec!["enqueue-many", &spec],
        vec!["init"],
        vec!["cancel", "0193"],
        vec!["rm", "--older-than", "0s"],
        vec!["retrigger", "0193"],
        vec!["wait", "0193", "--timeout", "1s"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect()
}

/// Runs every command; each must end with exit 1 and one clear line, or (for damage it cannot
/// see) succeed, or say not found/ambiguous (3/2) when the file still reads; never panic.
fn run_every_command(env: &Env, expect: &str) -> usize {
    let mut errors = 0;
    for args in every_command(env) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.run(&args);
        assert!(
            [0, 1, 2, 3].contains(&out.code),
            "{args:?} on {expect}: exit {}: {}",
            out.code,
            out.stderr
        );
        assert_no_busy_or_panic(&format!("{args:?}"), &out.stderr);
        if out.code == 1 {
            errors += 1;
            let lines: Vec<&str> = out.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{args:?}: {:?}", out.stderr);
            assert!(
                lines[0].starts_with("durably: "),
                "{args:?}: {:?}",
                out.stderr
            );
            let l = lines[0].to_lowercase();
            assert!(
                ["not a sqlite database", "corrupt", "malformed", "schema"]
                    .iter()
                    .any(|w| l.contains(w)),
                "{args:?} on {expect}: unclear error {:?}",
                lines[0]
            );
        }
    }
    errors
}

fn populated() -> Env {
    let env = Env::init();
    let mut batch = String::new();
    for i in 0..2000 {
        batch.push_str(&format!(
            "{{\"job\":\"j{}\",\"input\":{{\"i\":{i},\"pad\":\"{}\"}},\"labels\":{{\"tenant\":\"t{}\"}}}}\n",
            i % 7,
            "p".repeat(200),
            i % 10
        ));
    }
    env.run_stdin(&["enqueue-many", "-q"], batch).ok();
    // Everything into the main file, so damage to it is damage to the data.
    let conn = env.conn();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    drop(conn);
    env
}

#[test]
fn garbage_and_truncated_database_files_give_a_clear_error() {
    let mut rng = Rng::new("garbage_and_truncated_database_files_give_a_clear_error");
    // Random bytes from the start: "not a SQLite database", the file untouched.
    let env = Env::new();
    let mut garbage = vec![0u8; 100_000];
    for b in garbage.iter_mut() {
        *b = rng.next() as u8;
    }
    std::fs::write(&env.db, &garbage).unwrap();
    for args in every_command(&env) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&env.run(&args), 1, "not a SQLite database");
    }
    assert_eq!(
        std::fs::read(&env.db).unwrap(),
        garbage,
        "garbage was rewritten"
    );
    // A text file, and a file holding only a valid-looking header.
    std::fs::write(&env.db, "hello, world\n").unwrap();
    refused(
        &env.run(&["enqueue", "--job", "a"]),
        1,
        "not a SQLite database",
    );
    let mut header = b"SQLite format 3\0".to_vec();
    header.resize(100, 0xff);
    std::fs::write(&env.db, &header).unwrap();
    assert!(run_every_command(&env, "a lone header") > 0);

    // A real database truncated at page boundaries and odd sizes.
    let good = populated();
    let bytes = std::fs::read(&good.db).unwrap();
    let cuts = [
        1,
        50,
        99,
        100,
        4096,
        4097,
        8192,
        bytes.len() / 2,
        bytes.len() - 4096,
    ];
    for cut in cuts {
        let env = Env::new();
        std::fs::write(&env.db, &bytes[..cut]).unwrap();
        let errors = run_every_command(&env, &format!("truncated at {cut}"));
        assert!(errors > 0, "truncated at {cut}: no command noticed");
    }
    // Garbage over random pages after the header: whatever a command reads is either right or
    // a clear error.
    for _ in 0..scale(6, 40) {
        let env = Env::new();
        let mut damaged = bytes.clone();
        let page = 1 + rng.below((bytes.len() / 4096 - 1) as u64) as usize;
        for b in &mut damaged[page * 4096..(page + 1) * 4096] {
            *b = rng.next() as u8;
        }
        std::fs::write(&env.db, &damaged).unwrap();
        run_every_command(&env, &format!("garbage on page {page}"));
    }
}

#[test]
fn a_damaged_schema_gives_a_clear_error() {
    let env = populated();
    env.conn()
        .execute_batch("ALTER TABLE durably_runs DROP COLUMN progress")
        .unwrap();
    for args in [
        vec!["ls"],
        vec!["ls", "--label", "tenant=t1"],
        vec!["enqueue", "--job", "a"],
    ] {
        let out = env.run(&args);
        assert_eq!(out.code, 1, "{args:?}: {out:#?}");
        assert_one_error_line(&out.stderr, "");
    }
    let env = populated();
    env.conn()
        .execute_batch("DROP TABLE durably_run_labels")
        .unwrap();
    let out = env.run(&["enqueue", "--job", "a", "--label", "k=v"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert_one_error_line(&out.stderr, "durably_run_labels");
    // The run's insert was rolled back with the failed label insert.
    assert_eq!(
        count(
            &env.conn(),
            "SELECT count(*) FROM durably_runs WHERE job_name = 'a'"
        ),
        0
    );
}

#[test]
fn garbage_in_the_wal_file_loses_nothing_that_was_checkpointed() {
    let env = populated();
    let wal = env.path("durably.db-wal");
    let mut rng = Rng::new("garbage_in_the_wal_file");
    let junk: Vec<u8> = (0..64 * 1024).map(|_| rng.next() as u8).collect();
    std::fs::write(&wal, junk).unwrap();
    let out = env.run(&["stats", "--json"]).ok().json();
    assert_eq!(out["total"], 2000, "{out}");
    env.enqueue(&["--job", "after"]);
    assert_eq!(env.counts()["durably_runs"], 2001);
    assert_integrity(&env.db);
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

#[test]
#[ignore = "needs root (chattr +i): .ci/run runs it with --include-ignored"]
fn an_immutable_database_refuses_writes_and_still_reads() {
    assert!(is_root(), "chattr +i needs root");
    let env = populated();
    let id = env
        .run(&["ls", "--limit", "1", "--format", "ids"])
        .ok()
        .line()
        .to_string();
    let before = std::fs::read(&env.db).unwrap();
    let chattr = Command::new("chattr").arg("+i").arg(&env.db).status();
    assert!(
        matches!(chattr, Ok(s) if s.success()),
        "chattr +i failed (not supported on this file system?): {chattr:?}"
    );
    struct Unlock<'a>(&'a std::path::Path);
    impl Drop for Unlock<'_> {
        fn drop(&mut self) {
            let _ = Command::new("chattr").arg("-i").arg(self.0).status();
        }
    }
    let _unlock = Unlock(&env.db);
    refused(&env.run(&["enqueue", "--job", "a"]), 1, "read-only");
    refused(
        &env.run_stdin(&["enqueue-many"], "{\"job\":\"a\"}\n"),
        1,
        "read-only",
    );
    refused(&env.run(&["cancel", &id]), 1, "read-only");
    refused(&env.run(&["rm", "--force", &id]), 1, "read-only");
    env.run(&["ls", "--limit", "3"]).ok();
    env.run(&["show", &id]).ok();
    assert_eq!(std::fs::read(&env.db).unwrap(), before);
}

#[test]
#[ignore = "needs root (drops privileges): .ci/run runs it with --include-ignored"]
fn a_database_owned_by_someone_else_is_read_only_for_us() {
    assert!(is_root(), "dropping privileges needs root");
    let env = populated();
    // A rollback-journal file (the library's default), readable by everyone.
    env.conn()
        .pragma_update(None, "journal_mode", "DELETE")
        .unwrap();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&env.db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::read(&env.db).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
            .env_remove("DURABLY_DB")
            .env("HOME", "/nonexistent")
            .arg("--db")
            .arg(&env.db)
            .args(args);
        run_command(c, None)
    };
    refused(&as_nobody(&["enqueue", "--job", "a"]), 1, "read-only");
    as_nobody(&["init"]).ok();
    let out = as_nobody(&["ls", "--limit", "2", "--format", "ids"]);
    out.ok();
    assert_eq!(out.stdout.lines().count(), 2);
    assert_eq!(std::fs::read(&env.db).unwrap(), before);
}

/// `bash -c 'trap "" XFSZ; ulimit -f BLOCKS; exec durably …'`: writing past the limit is an
/// EFBIG error instead of a kill.
fn with_file_limit(env: &Env, blocks: u64, args: &[&str], stdin: &[u8]) -> Out {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""
        ))
        .arg(BIN)
        .env_remove("DURABLY_DB")
        .env("HOME", env.dir.path())
        .arg("--db")
        .arg(&env.db)
        .args(args);
    run_command(c, Some(stdin))
}

#[test]
fn a_full_disk_fails_the_batch_whole() {
    let env = Env::init();
    env.enqueue(&["--job", "seed"]);
    let before = env.counts();
    let pad = "f".repeat(1000);
    let batch: String = (0..5000)
        .map(|i| format!("{{\"job\":\"fill\",\"input\":{{\"i\":{i},\"pad\":\"{pad}\"}},\"labels\":{{\"n\":\"{i}\"}}}}\n"))
        .collect();
    // 1 MiB (2048 blocks of 512 bytes) is far less than the 5 MB batch.
    let out = with_file_limit(&env, 2048, &["enqueue-many", "-q"], batch.as_bytes());
    assert_eq!(out.code, 1, "{out:#?}");
    assert_one_error_line(&out.stderr, "");
    let l = out.stderr.to_lowercase();
    assert!(
        l.contains("disk") || l.contains("full") || l.contains("too large") || l.contains("i/o"),
        "{}",
        out.stderr
    );
    assert_eq!(env.counts(), before, "a failed batch left rows behind");
    assert_integrity(&env.db);
    // The file is still usable once there is room again.
    env.enqueue(&["--job", "after"]);

    // --chunk: every committed chunk is whole, the failed one is absent.
    let out = with_file_limit(
        &env,
        2048,
        &["enqueue-many", "-q", "--chunk", "100"],
        batch.as_bytes(),
    );
    assert_eq!(out.code, 1, "{out:#?}");
    assert_one_error_line(&out.stderr, "");
    let filled = count(
        &env.conn(),
        "SELECT count(*) FROM durably_runs WHERE job_name = 'fill'",
    );
    assert_eq!(
        filled % 100,
        0,
        "a partial chunk was committed ({filled} rows)"
    );
    assert!(filled < 5000);
    let labels = count(
        &env.conn(),
        "SELECT count(*) FROM durably_run_labels WHERE key = 'n'",
    );
    assert_eq!(labels, filled);
    assert_integrity(&env.db);
    // One big single enqueue hits the limit too.
    let big = format!("{{\"job\":\"big\",\"input\":\"{}\"}}", "b".repeat(3 << 20));
    let out = with_file_limit(&env, 2048, &["enqueue", "-"], big.as_bytes());
    assert_eq!(out.code, 1, "{out:#?}");
    assert_one_error_line(&out.stderr, "");
    assert_eq!(
        count(
            &env.conn(),
            "SELECT count(*) FROM durably_runs WHERE job_name = 'big'"
        ),
        0
    );
}

#[test]
fn absurd_numbers_are_refused_or_saturate_never_wrap() {
    let env = Env::init();
    let id = env.enqueue(&["--job", "a"]);
    env.run(&["cancel", &id]).ok();
    let max = u64::MAX.to_string();
    // An age past the epoch means "nothing is that old", not "everything" (it used to wrap).
    let out = env
        .run(&["rm", "--older-than", &max, "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(out["wouldDelete"], 0);
    let out = env.run(&["rm", "--older-than", &max, "--json"]).ok().json();
    assert_eq!(out["deleted"], 0);
    assert_eq!(env.counts()["durably_runs"], 1);
    // A busy timeout SQLite cannot hold is a usage error, not a panic.
    refused(&env.run(&["--busy-timeout", &max, "ls"]), 2, "busy-timeout");
    refused(
        &env.run(&["--busy-timeout", "30d", "ls"]),
        2,
        "busy-timeout",
    );
    env.run(&["--busy-timeout", "24d", "ls"]).ok();
    // Paging with u64::MAX limits and offsets.
    let ids = env
        .run(&["ls", "--limit", &max, "--format", "ids"])
        .ok()
        .line()
        .to_string();
    assert_eq!(ids, id);
    let out = env
        .run(&["ls", "--offset", &max, "--format", "ids"])
        .ok()
        .line()
        .to_string();
    assert_eq!(out, "");
    let out = env
        .run(&[
            "ls", "--offset", &max, "--limit", &max, "--label", "k=v", "--format", "ids",
        ])
        .ok()
        .line()
        .to_string();
    assert_eq!(out, "");
    env.run_stdin(&["enqueue-many", "--chunk", &max], "{\"job\":\"a\"}\n")
        .ok();
    for flag in ["--limit", "--offset", "--chunk"] {
        let cmd = if flag == "--chunk" {
            "enqueue-many"
        } else {
            "ls"
        };
        let out = env.run(&[cmd, flag, "18446744073709551616"]);
        assert_eq!(out.code, 2, "{out:#?}");
        assert_one_error_line(&out.stderr, flag);
    }
}

// ---- hostile input to the worker ----

#[test]
fn job_names_never_reach_outside_the_handlers_dir() {
    let env = Env::init();
    let root = env.dir.path();
    let handlers = root.join("handlers");
    std::fs::create_dir_all(handlers.join("sub")).unwrap();
    let record = |name: &str| {
        format!(
            "echo \"{name} $DURABLY_JOB\" >> \"{}/ran\"\necho '\"ok\"'\n",
            root.display()
        )
    };
    script(&handlers.join("ok"), &record("ok"));
    script(&handlers.join(".hidden"), &record("hidden"));
    script(&handlers.join("sub/x"), &record("sub"));
    script(&root.join("escape"), &record("ESCAPED"));
    script(&root.join("abs"), &record("ESCAPED-ABS"));
    let abs = root.join("abs");
    let hostile = [
        "../escape",
        "../../escape",
        "..",
        ".",
        ".hidden",
        "sub/x",
        "sub/../ok",
        "./ok",
        "ok/",
        " ok",
        "ok ",
        abs.to_str().unwrap(),
        "sub",
    ];
    for job in hostile {
        env.enqueue(&["--job", job]);
    }
    // A NUL byte cannot be part of a file name (the CLI refuses it; another writer may not).
    let nul = env.enqueue(&["--job", "placeholder"]);
    env.conn()
        .execute(
            "UPDATE durably_runs SET job_name = 'ok' || char(0) || '../escape' WHERE id = ?1",
            [&nul],
        )
        .unwrap();
    let control = env.enqueue(&["--job", "ok"]);
    let out = env.run(&[
        "work",
        "--until-idle",
        "--poll",
        "50ms",
        "--handlers",
        handlers.to_str().unwrap(),
    ]);
    out.ok();
    assert_no_busy_or_panic("work", &out.stderr);
    let ran = read_lossy(&root.join("ran"));
    assert_eq!(ran, "ok ok\n", "only the plain name may run");
    let conn = env.conn();
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM durably_runs WHERE status = 'pending'"
        ),
        hostile.len() as i64 + 1,
        "hostile names must stay pending, unclaimed"
    );
    let status: String = conn
        .query_row(
            "SELECT status FROM durably_runs WHERE id = ?1",
            [&control],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "completed");
}

#[test]
fn a_nul_byte_in_a_job_name_fails_the_run_cleanly_in_command_mode() {
    let env = Env::init();
    // The CLI refuses such a name; another writer (or an older CLI) may have stored it.
    let id = env.enqueue(&["--job", "placeholder"]);
    env.conn()
        .execute(
            "UPDATE durably_runs SET job_name = 'a' || char(0) || 'b' WHERE id = ?1",
            [&id],
        )
        .unwrap();
    let out = env.run(&[
        "work",
        "--until-idle",
        "--poll",
        "50ms",
        "--",
        "sh",
        "-c",
        "echo '\"ran\"'",
    ]);
    assert_no_busy_or_panic("work", &out.stderr);
    let run = env.run(&["show", &id, "--json"]).ok().json();
    // DURABLY_JOB cannot carry a NUL: the run fails with a clear error instead of a crash.
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("cannot execute handler"),
        "{run}"
    );
}

#[test]
fn a_handler_printing_too_much_fails_its_run_and_the_worker_survives_in_bounded_memory() {
    let env = Env::init();
    let handlers = env.handlers.clone();
    // stdout over the 16 MiB limit; 20 MB of stderr (fine: only its tail is kept); a handler that
    // never reads its 10 MB input; and a plain one after them.
    script(
        &handlers.join("loud"),
        "head -c \"$BYTES\" /dev/zero | tr '\\0' x\n",
    );
    script(
        &handlers.join("noisy"),
        "head -c 20000000 /dev/zero | tr '\\0' e >&2\necho '\"fine\"'\n",
    );
    script(&handlers.join("deaf"), "echo '\"deaf\"'\n");
    script(
        &handlers.join("quiet"),
        "cat > /dev/null\necho '\"quiet\"'\n",
    );
    let loud20 = env.enqueue(&["--job", "loud", "--input", "20"]);
    let noisy = env.enqueue(&["--job", "noisy"]);
    let big_input = format!(
        "{{\"job\":\"deaf\",\"input\":\"{}\"}}",
        "i".repeat(10 << 20)
    );
    let deaf = env
        .run_stdin(&["enqueue", "-"], big_input)
        .ok()
        .line()
        .to_string();
    let quiet = env.enqueue(&["--job", "quiet"]);
    let mut c = env.command(&[
        "work",
        "--until-idle",
        "--poll",
        "50ms",
        "--handlers",
        handlers.to_str().unwrap(),
    ]);
    c.env("BYTES", "20000000");
    let out = run_command(c, None);
    // Exit 5: a run it executed (the one printing too much) failed.
    assert_eq!(out.code, 5, "{}", tail(&out.stderr, 2000));
    assert_no_busy_or_panic("work", &out.stderr);
    let status = |id: &str| env.run(&["show", id, "--json"]).ok().json();
    let r = status(&loud20);
    assert_eq!(r["status"], "failed");
    assert!(
        r["error"].as_str().unwrap().contains("16 MiB"),
        "{}",
        r["error"]
    );
    assert_eq!(r["output"], Value::Null);
    let r = status(&noisy);
    assert_eq!(
        (r["status"].as_str(), r["output"].as_str()),
        (Some("completed"), Some("fine"))
    );
    let r = status(&deaf);
    assert_eq!(
        (r["status"].as_str(), r["output"].as_str()),
        (Some("completed"), Some("deaf"))
    );
    let r = status(&quiet);
    assert_eq!(
        (r["status"].as_str(), r["output"].as_str()),
        (Some("completed"), Some("quiet"))
    );

    // Memory does not follow the output: 400 MB (2 GB heavy) of stdout; the worker's own peak
    // resident memory (VmHWM, sampled while it runs) stays far below it.
    let bytes = scale(400_000_000, 2_000_000_000);
    let huge = env.enqueue(&["--job", "loud"]);
    let mut c = env.command(&[
        "work",
        "--until-idle",
        "--poll",
        "50ms",
        "--handlers",
        handlers.to_str().unwrap(),
    ]);
    c.env("BYTES", bytes.to_string());
    let mut w = Bg::spawn(c, env.dir.path(), "work-huge");
    let mut peak_kib = 0;
    while !w.ended() {
        if let Some(k) = peak_rss_kib(w.pid()) {
            peak_kib = peak_kib.max(k);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let st = w.wait_max(Duration::from_secs(5));
    assert_eq!(st.code(), Some(5), "{}", tail(&w.err(), 2000));
    let r = status(&huge);
    assert_eq!(r["status"], "failed");
    eprintln!("worker peak RSS with {bytes} bytes of handler stdout: {peak_kib} KiB");
    assert!(peak_kib > 0, "no memory sample taken");
    assert!(
        peak_kib < bytes / 1024 / 4,
        "worker peak RSS {peak_kib} KiB for {bytes} bytes of output"
    );
    assert_integrity(&env.db);
}

#[test]
fn absurd_worker_durations_are_usage_errors_not_panics() {
    let env = Env::init();
    let done = env.enqueue(&["--job", "a"]);
    env.run(&["cancel", &done]).ok();
    let id = env.enqueue(&["--job", "a"]);
    let max = u64::MAX.to_string();
    // These used to panic after the claim (Instant overflow), leaving the run leased, or to
    // wrap the lease expiry into the past.
    for (flag, value) in [
        ("--lease", max.as_str()),
        ("--timeout", max.as_str()),
        ("--poll", max.as_str()),
        ("--lease", "300000y"),
        ("--lease", "366d"),
    ] {
        let out = env.run(&["work", "--until-idle", flag, value, "--", "true"]);
        assert_eq!(out.code, 2, "{flag} {value}: {out:#?}");
        assert_one_error_line(&out.stderr, flag);
    }
    // A retention past the epoch purges nothing.
    let out = env.run(&["work", "--until-idle", "--retain", &max, "--", "true"]);
    out.ok();
    assert_no_busy_or_panic("--retain", &out.stderr);
    let conn = env.conn();
    assert_eq!(
        count(&conn, "SELECT count(*) FROM durably_runs"),
        2,
        "--retain purged"
    );
    let status: String = conn
        .query_row(
            "SELECT status FROM durably_runs WHERE id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "completed");
    // The longest lease is accepted, and its expiry is in the future, in the 4-digit-year format.
    let id = env.enqueue(&["--job", "a"]);
    let mut c = env.command(&["work", "--once", "--lease", "365d", "--", "sh", "-c"]);
    c.arg(format!("{BIN} show \"$DURABLY_RUN_ID\" --json"));
    run_command(c, None).ok();
    let run = env.run(&["show", &id, "--json"]).ok().json();
    assert_eq!(run["status"], "completed", "{run}");
    // The handler's output is the run as it saw it while holding the lease.
    let shown = &run["output"];
    let expires = shown["leaseExpiresAt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(expires.len(), 24, "{shown}");
    assert!(
        expires.as_str() > run["createdAt"].as_str().unwrap(),
        "{expires}"
    );
}

#[test]
fn a_full_disk_during_a_batch_or_a_completion_writes_nothing_half_way() {
    let env = Env::init();
    env.enqueue(&["--job", "seed"]);
    let before = env.counts();
    let pages = count(&env.conn(), "PRAGMA page_count");
    let pad = "f".repeat(500);
    let batch: String = (0..3000)
        .map(|i| format!("{{\"job\":\"fill\",\"input\":\"{pad}\",\"labels\":{{\"n\":\"{i}\"}}}}\n"))
        .collect();
    let page_size = count(&env.conn(), "PRAGMA page_size");
    let mut c = env.command(&["enqueue-many", "-q"]);
    c.env(
        "DURABLY_MAX_DB_SIZE",
        ((pages + 20) * page_size).to_string(),
    );
    let out = run_command(c, Some(batch.as_bytes()));
    assert_eq!(out.code, 1, "{out:#?}");
    assert_one_error_line(&out.stderr, "full");
    assert_eq!(env.counts(), before);
    assert_integrity(&env.db);
    // A completion that does not fit: the run is not completed half-way; the next worker with
    // room completes it.
    let handlers = env.handlers.clone();
    script(
        &handlers.join("big"),
        "head -c 2000000 /dev/zero | tr '\\0' o\n",
    );
    let id = env.enqueue(&["--job", "big"]);
    let pages = count(&env.conn(), "PRAGMA page_count");
    let mut c = env.command(&[
        "work",
        "--once",
        "--lease",
        "1s",
        "--handlers",
        handlers.to_str().unwrap(),
    ]);
    c.env(
        "DURABLY_MAX_DB_SIZE",
        ((pages + 20) * page_size).to_string(),
    );
    let out = run_command(c, None);
    assert_no_busy_or_panic("work", &out.stderr);
    assert!(out.stderr.contains("full"), "{out:#?}");
    let run = env.run(&["show", &id, "--json"]).ok().json();
    assert_ne!(run["status"], "completed", "{run}");
    assert_eq!(run["output"], Value::Null);
    assert_integrity(&env.db);
    let done = wait_until(Duration::from_secs(30), || {
        env.run(&[
            "work",
            "--until-idle",
            "--handlers",
            handlers.to_str().unwrap(),
        ])
        .ok();
        env.run(&["show", &id, "--json"]).ok().json()["status"] == "completed"
    });
    assert!(done, "the run was never completed once there was room");
    let len: i64 = env
        .conn()
        .query_row(
            "SELECT length(output) FROM durably_runs WHERE id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        len, 2_000_002,
        "the output was stored whole (as a JSON string)"
    );
}

#[test]
fn huge_names_and_step_outputs_do_not_stall_tables_or_drive_the_terminal() {
    let env = Env::init();
    // A 1 MB job name, and one with terminal escape sequences.
    let long = format!("{{\"job\":\"{}\"}}", "j".repeat(1 << 20));
    env.run_stdin(&["enqueue", "-"], long).ok();
    env.run_stdin(
        &["enqueue", "-"],
        r#"{"job":"evil\u001b]0;pwned\u0007\u001b[2J"}"#,
    )
    .ok();
    // A run with a 1 MB step output and a 100 KB step name (one argv string holds 128 KiB).
    let id = env.enqueue(&["--job", "steps"]);
    let step = format!(
        "{BIN} step \"$(head -c 100000 /dev/zero | tr '\\0' n)\" -- sh -c \"head -c 1000000 /dev/zero | tr '\\\\0' s\" > /dev/null; echo '\"ok\"'"
    );
    let out = env.run(&[
        "work",
        "--until-idle",
        "--job",
        "steps",
        "--",
        "sh",
        "-c",
        &step,
    ]);
    out.ok();
    let run = env.run(&["show", &id, "--json"]).ok().json();
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["steps"][0]["output"].as_str().map(str::len),
        Some(1_000_000)
    );

    // comfy-table wraps a long cell in quadratic time: these took hours before cells were
    // clipped. A bound on waiting, not a timing assertion.
    for args in [vec!["ls"], vec!["show", id.as_str()]] {
        let mut bg = Bg::spawn(env.command(&args), env.dir.path(), args[0]);
        let st = bg.wait_max(Duration::from_secs(120));
        assert!(st.success(), "{args:?}: {}", bg.err());
        let text = bg.out();
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{args:?} printed raw escapes"
        );
        if args[0] == "ls" {
            // A header and one line per run (a pipe never wraps); the job and labels cells
            // are whole up to 4 KiB each, the megabyte names cut there (`--json` has them).
            assert_eq!(text.lines().count(), 4, "{text}");
            for line in text.lines() {
                assert!(
                    line.chars().count() <= 2 * 4096 + 120,
                    "ls line of {} columns",
                    line.chars().count()
                );
            }
        } else {
            let table: Vec<&str> = text.lines().skip_while(|l| *l != "steps").collect();
            assert!(table.len() <= 8, "the step table is {} lines", table.len());
        }
    }
}
