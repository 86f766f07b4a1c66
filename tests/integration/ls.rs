//! `durably ls`: filters (labels, statuses, jobs, combined), paging (limit, offset, --before),
//! newest-first order, every output format, colours, the footer, `--watch`, run handles in the
//! table, and a quiet broken pipe. Every test runs on both backends but the `--explain` one,
//! which names the SQLite store's strategy.

use crate::harness::*;
use serde_json::Value;

/// A database with runs of jobs a/b/c in several statuses and labels, made in one process so
/// ids are monotonic. Returns the env and the ids in creation order.
fn fixture(n: usize) -> (Env, Vec<String>) {
    let env = Env::new();
    let mut lines = String::new();
    for i in 0..n {
        let job = ["a", "b", "c"][i % 3];
        let tenant = if i % 2 == 0 { "even" } else { "odd" };
        let mut labels = format!(r#""tenant":"{tenant}""#);
        if i % 5 == 0 {
            labels.push_str(r#","five":"yes""#);
        }
        lines.push_str(&format!(
            "{{\"job\":\"{job}\",\"input\":{{\"i\":{i}}},\"labels\":{{{labels}}}}}\n"
        ));
    }
    let out = env.run_stdin(&["enqueue-many"], lines);
    let created: Vec<String> = out
        .ok()
        .stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    assert_eq!(created.len(), n);
    let statuses = ["pending", "leased", "completed", "failed", "cancelled"];
    let updates: String = created
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let s = statuses[(i / 3) % 5];
            format!(
                "UPDATE durably_runs SET status = {} WHERE id = {};\n",
                lit(s),
                lit(id)
            )
        })
        .collect();
    env.exec_batch(&updates);
    (env, created)
}

/// The answer computed independently: plain SQL over the whole table, newest first.
fn oracle(env: &Env, labels: &[(&str, &str)], statuses: &[&str], jobs: &[&str]) -> Vec<String> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let rows = env.sql_rows(
        "SELECT id, status, job_name FROM durably_runs ORDER BY created_at DESC, id DESC",
    );
    let run_labels: std::collections::BTreeSet<(String, String, String)> = env
        .sql_rows("SELECT run_id, key, value FROM durably_run_labels")
        .iter()
        .map(|r| (text(&r[0]), text(&r[1]), text(&r[2])))
        .collect();
    rows.iter()
        .map(|r| (text(&r[0]), text(&r[1]), text(&r[2])))
        .filter(|(id, status, job)| {
            (statuses.is_empty() || statuses.contains(&status.as_str()))
                && (jobs.is_empty() || jobs.contains(&job.as_str()))
                && labels
                    .iter()
                    .all(|(k, v)| run_labels.contains(&(id.clone(), k.to_string(), v.to_string())))
        })
        .map(|(id, _, _)| id)
        .collect()
}

fn ls_ids(env: &Env, args: &[&str]) -> Vec<String> {
    let mut all = vec!["ls", "--format", "ids", "--limit", "100000"];
    all.extend_from_slice(args);
    ids(env.run(&all).ok())
}

both! {
    fn filters_alone_and_combined_match_plain_sql() {
        let (env, created) = fixture(90);
        // No filter: everything, newest first; equals creation order reversed.
        let all = ls_ids(&env, &[]);
        let mut reversed = created.clone();
        reversed.reverse();
        assert_eq!(all, reversed);
        assert_eq!(all, oracle(&env, &[], &[], &[]));

        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a [&'a str]);
        let cases: Vec<Case> = vec![
            (&[("tenant", "odd")], &[], &[]),
            (&[("five", "yes")], &[], &[]),
            (&[("tenant", "odd"), ("five", "yes")], &[], &[]),
            (&[("tenant", "nobody")], &[], &[]),
            (&[], &["pending"], &[]),
            (&[], &["pending", "failed"], &[]),
            (&[], &[], &["a"]),
            (&[], &[], &["a", "c"]),
            (&[], &["completed"], &["b"]),
            (&[], &["leased", "cancelled"], &["a", "b"]),
            (&[("tenant", "even")], &["pending"], &[]),
            (&[("tenant", "even")], &[], &["c"]),
            (
                &[("tenant", "even"), ("five", "yes")],
                &["pending", "completed"],
                &["a", "b"],
            ),
        ];
        for (labels, statuses, jobs) in cases {
            let mut args: Vec<String> = Vec::new();
            for (k, v) in labels {
                args.push("--label".into());
                args.push(format!("{k}={v}"));
            }
            for s in statuses {
                args.push("--status".into());
                args.push(s.to_string());
            }
            for j in jobs {
                args.push("--job".into());
                args.push(j.to_string());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let got = ls_ids(&env, &args);
            let want = oracle(&env, labels, statuses, jobs);
            assert_eq!(got, want, "ls {args:?}");
            // The first page, too.
            let mut paged = args.clone();
            paged.extend(["--limit", "4"]);
            let mut all = vec!["ls", "--format", "ids"];
            all.extend(paged);
            let first = ids(env.run(&all).ok());
            assert_eq!(
                first,
                want.iter().take(4).cloned().collect::<Vec<_>>(),
                "{all:?}"
            );
        }
        // A repeated filter value changes nothing.
        assert_eq!(
            ls_ids(&env, &["--status", "pending", "--status", "pending"]),
            oracle(&env, &[], &["pending"], &[])
        );
    }
}

/// SQLite only: `--explain` names the SQLite store's strategy.
#[test]
fn label_filter_with_many_matches_uses_index_streams_and_is_correct() {
    // More matches than the label-first cap (at least 200): the other strategy.
    let (env, _) = fixture(900);
    let explain = env.run(&["ls", "--label", "tenant=odd", "--explain"]);
    assert!(
        explain.ok().stdout.contains("strategy: index-streams"),
        "{explain:?}"
    );
    for args in [
        &["--label", "tenant=odd"][..],
        &["--label", "tenant=odd", "--status", "failed"][..],
        &["--label", "tenant=odd", "--job", "b"][..],
        &["--label", "tenant=odd", "--label", "five=yes"][..],
    ] {
        let mut page = vec!["ls", "--format", "ids", "--limit", "7"];
        page.extend_from_slice(args);
        let got = ids(env.run(&page).ok());
        let labels: Vec<(&str, &str)> = args
            .chunks(2)
            .filter(|c| c[0] == "--label")
            .map(|c| c[1].split_once('=').unwrap())
            .collect();
        let statuses: Vec<&str> = args
            .chunks(2)
            .filter(|c| c[0] == "--status")
            .map(|c| c[1])
            .collect();
        let jobs: Vec<&str> = args
            .chunks(2)
            .filter(|c| c[0] == "--job")
            .map(|c| c[1])
            .collect();
        let want: Vec<String> = oracle(&env, &labels, &statuses, &jobs)
            .into_iter()
            .take(7)
            .collect();
        assert_eq!(got, want, "{args:?}");
    }
}

both! {
    fn paging_with_limit_offset_and_before() {
        let (env, _) = fixture(40);
        for filter in [
            &[][..],
            &["--status", "pending", "--status", "completed"][..],
            &["--label", "tenant=even"][..],
            &["--job", "a"][..],
        ] {
            let whole = ls_ids(&env, filter);
            assert!(!whole.is_empty());
            // --before: walk pages of 3 by the last id of each page.
            let mut walked: Vec<String> = Vec::new();
            loop {
                let mut args = vec!["ls", "--format", "ids", "--limit", "3"];
                args.extend_from_slice(filter);
                let last = walked.last().cloned();
                if let Some(last) = &last {
                    args.extend(["--before", last.as_str()]);
                }
                let page = ids(env.run(&args).ok());
                assert!(page.len() <= 3);
                if page.is_empty() {
                    break;
                }
                walked.extend(page);
            }
            assert_eq!(walked, whole, "--before paging of {filter:?}");
            // --offset.
            for offset in [0, 1, 5, whole.len()] {
                let mut args = vec!["ls", "--format", "ids", "--limit", "4"];
                args.extend_from_slice(filter);
                let off = offset.to_string();
                args.extend(["--offset", off.as_str()]);
                let page = ids(env.run(&args).ok());
                let want: Vec<String> = whole.iter().skip(offset).take(4).cloned().collect();
                assert_eq!(page, want, "{args:?}");
            }
        }
        // Default limit is 50.
        let (env, _) = fixture(60);
        assert_eq!(ids(env.run(&["ls", "--format", "ids"]).ok()).len(), 50);
        // --before with an unknown id: not found.
        env.run(&["ls", "--before", "ffffffff"])
            .fails(3, "not found");
    }
}

both! {
    fn newest_first_breaks_created_at_ties_by_id() {
        let env = Env::init();
        // Same millisecond, ids inserted out of order (as another writer might).
        for id in ["b-run", "c-run", "a-run"] {
            env.exec(&format!(
                "INSERT INTO durably_runs (id, job_name, input, status, created_at, updated_at) VALUES ({}, 'j', '{{}}', 'pending', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')",
                lit(id)
            ));
        }
        env.exec(
            "INSERT INTO durably_runs (id, job_name, input, status, created_at, updated_at) VALUES ('0-older', 'j', '{}', 'pending', '2024-12-31T23:59:59.999Z', '2024-12-31T23:59:59.999Z')",
        );
        assert_eq!(ls_ids(&env, &[]), ["c-run", "b-run", "a-run", "0-older"]);
        assert_eq!(ls_ids(&env, &["--before", "b-run"]), ["a-run", "0-older"]);
        assert_eq!(
            ls_ids(&env, &["--status", "pending", "--job", "j"]),
            ["c-run", "b-run", "a-run", "0-older"]
        );
    }
}

both! {
    fn json_formats_have_exactly_the_run_fields() {
        let (env, _) = fixture(6);
        let json = env.run(&["ls", "--format", "json"]).ok().json();
        let arr = json.as_array().expect("an array");
        assert_eq!(arr.len(), 6);
        for run in arr {
            assert_eq!(sorted_keys(run), RUN_FIELDS);
            assert!(run["input"].is_object(), "input is JSON, not text");
            assert!(run["labels"]["tenant"].is_string());
        }
        // --json is the same as --format json.
        assert_eq!(env.run(&["ls", "--json"]).ok().json(), json);
        // NDJSON: one object a line, same content.
        let nd = env.run(&["ls", "--format", "ndjson"]);
        let lines: Vec<Value> = nd
            .ok()
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(&lines, arr);
        // Ids: one a line, same order.
        let id_lines = ids(env.run(&["ls", "--format", "ids"]).ok());
        let json_ids: Vec<&str> = arr.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(id_lines, json_ids);
        // Empty results: an empty array, nothing else.
        let empty = env
            .run(&["ls", "--job", "nope", "--format", "json"])
            .ok()
            .json();
        assert_eq!(empty, Value::Array(vec![]));
        assert_eq!(
            env.run(&["ls", "--job", "nope", "--format", "ids"])
                .ok()
                .stdout,
            ""
        );
        assert_eq!(
            env.run(&["ls", "--job", "nope", "--format", "ndjson"])
                .ok()
                .stdout,
            ""
        );
    }
}

/// Runs `durably ARGS` with stdout and stderr on a pseudo-terminal (`script`), `COLUMNS` set
/// or removed; returns what the terminal showed, CR LF turned back into LF.
fn on_terminal(env: &Env, args: &str, columns: Option<&str>) -> String {
    let mut script = std::process::Command::new("script");
    script
        .arg("-qec")
        .arg(format!("'{BIN}' --db '{}' {args}", env.db_arg()))
        .arg("/dev/null")
        .env_remove("DURABLY_DB")
        .env("NO_COLOR", "1");
    match columns {
        Some(c) => script.env("COLUMNS", c),
        None => script.env_remove("COLUMNS"),
    };
    let out = run_command(script, None);
    out.ok();
    out.stdout.replace("\r\n", "\n")
}

/// Terminal columns a line takes (East Asian wide characters two).
fn columns_of(line: &str) -> usize {
    line.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115f
            | 0x2e80..=0xa4cf
            | 0xac00..=0xd7a3
            | 0xf900..=0xfaff
            | 0xff00..=0xff60 => 2,
            _ => 1,
        })
        .sum()
}

both! {
    fn wide_job_names_and_the_reason_column_fit_80_columns() {
        let env = Env::init();
        env.enqueue(&["--job", "日本語のとても長いジョブの名前です本当に長い名前ですよ本当にとても長いジョブの名前です"]);
        let failed = env.enqueue(&["--job", "short"]);
        let killed = env.enqueue(&["--job", "short"]);
        for (id, error) in [
            (&failed, "handler exited with code 3\nthe stderr tail"),
            (&killed, "handler killed by signal 9 (SIGKILL)"),
        ] {
            env.exec(&format!(
                "UPDATE durably_runs SET status = 'failed', error = {} WHERE id = {}",
                lit(error),
                lit(id)
            ));
        }
        let text = on_terminal(&env, "ls", Some("80"));
        assert_eq!(text.lines().count(), 4, "{text}");
        for line in text.lines() {
            assert!(columns_of(line) <= 80, "{} columns: {line:?}", columns_of(line));
        }
        assert!(text.lines().next().unwrap().contains("REASON"), "{text}");
        let line_of = |id: &str| {
            text.lines()
                .find(|l| l.starts_with(&id[id.len() - 8..]) || l.starts_with(&id[..8]))
                .unwrap_or_else(|| panic!("no line for {id}:\n{text}"))
                .to_string()
        };
        assert!(line_of(&failed).trim_end().ends_with("exit 3"), "{text}");
        assert!(line_of(&killed).trim_end().ends_with("SIGKILL"), "{text}");
        // The wide name is cut on a character, its row still one line with the age after it.
        let wide = text.lines().find(|l| l.contains("日本語")).unwrap();
        assert!(wide.contains("… ") && wide.contains("pending"), "{text}");
        // A pipe keeps the whole name and the reason.
        let piped = env.ok(&["ls"]).stdout.clone();
        assert!(piped.contains("日本語のとても長いジョブの名前です本当に長い名前ですよ本当にとても長いジョブの名前です"), "{piped}");
        assert!(piped.contains("exit 3") && piped.contains("SIGKILL"), "{piped}");
    }
}

both! {
    fn terminal_table_is_one_line_per_run_cut_to_the_width() {
        let env = Env::new();
        for i in 0..3 {
            env.enqueue(&[
                "--job",
                &format!("a-really-long-job-name-{i}-that-would-not-fit"),
                "--label",
                "tenant=acme-corporation-international-holdings",
            ]);
        }
        for (columns, width) in [(Some("50"), 50), (Some("0"), 80), (None, 80)] {
            let text = on_terminal(&env, "ls", columns);
            assert_eq!(text.lines().count(), 4, "COLUMNS={columns:?}:\n{text}");
            for line in text.lines() {
                assert!(
                    line.chars().count() <= width,
                    "COLUMNS={columns:?}: {} chars: {line:?}",
                    line.chars().count()
                );
            }
            // The line fits because cells were shortened or dropped, not cut off: ID, JOB,
            // STATUS and AGE stay, each long job name ends with `…` and the age follows it.
            let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
            assert_eq!(header[..3], ["ID", "JOB", "STATUS"], "{text}");
            assert!(header.contains(&"AGE"), "{text}");
            for line in text.lines().skip(1) {
                assert!(line.contains("… ") && line.contains("pending"), "{text}");
                assert!(line.trim_end().ends_with("ms") || line.ends_with('s'), "{text}");
            }
        }
        // A wide terminal (200 columns) shows every cell whole, one line per run.
        let wide = on_terminal(&env, "ls", Some("200"));
        assert_eq!(wide.lines().count(), 4, "{wide}");
        assert!(
            wide.lines()
                .all(|l| l.chars().count() <= 200 && !l.ends_with('…')),
            "{wide}"
        );
        assert!(wide.contains("acme-corporation-international-holdings"), "{wide}");
        // A pipe is never cut: `durably ls | grep` finds whole names.
        let piped = env.run(&["ls"]).ok().stdout.clone();
        assert!(
            piped.contains("a-really-long-job-name-2-that-would-not-fit")
                && piped.contains("tenant=acme-corporation-international-holdings")
                && !piped.contains('…'),
            "{piped}"
        );
        // Nothing to list: a note for people on a terminal, the header alone on a pipe.
        assert_eq!(on_terminal(&env, "ls --job nope", None), "no runs match\n");
        let piped = env.run(&["ls", "--job", "nope"]);
        assert_eq!(piped.ok().stdout.lines().count(), 1, "{piped:?}");
        assert!(
            piped.stdout.contains("JOB") && piped.stderr.is_empty(),
            "{piped:?}"
        );
    }
}

both! {
    fn bad_filters_are_usage_errors() {
        let (env, _) = fixture(3);
        env.run(&["ls", "--status", "done"]).fails(2, "done");
        env.run(&["ls", "--label", "novalue"]).fails(2, "novalue");
        env.run(&["ls", "--format", "xml"]).fails(2, "xml");
        env.run(&["ls", "--limit", "-1"]).code(2);
    }
}

both! {
    fn broken_pipe_is_quiet() {
        let env = Env::new();
        let lines: String = (0..3000)
            .map(|i| format!("{{\"job\":\"j{i}\"}}\n"))
            .collect();
        env.run_stdin(&["enqueue-many", "--quiet"], lines).ok();
        for format in ["ids", "json", "ndjson", "table"] {
            let script = format!(
                "set -o pipefail; \"$0\" --db \"$1\" ls --limit 3000 --format {format} | head -1"
            );
            let mut sh = std::process::Command::new("bash");
            sh.args(["-c", &script, BIN, &env.db_arg()])
                .env_remove("DURABLY_DB");
            let out = run_command(sh, None);
            assert_eq!(out.code, 0, "{format}: {out:?}");
            assert_eq!(out.stderr, "", "{format}: {out:?}");
            assert_eq!(out.stdout.lines().count(), 1);
        }
    }
}

/// Runs `durably ARGS` on a pseudo-terminal (`script`) with colour left to `--color auto`:
/// `NO_COLOR`, `CLICOLOR_FORCE`, `COLUMNS` and `LINES` removed, `TERM=xterm`, then `set`
/// applied. Returns what the terminal showed, CR LF turned back into LF.
fn on_pty(env: &Env, args: &str, set: &[(&str, &str)]) -> Out {
    let mut script = std::process::Command::new("script");
    script
        .arg("-qec")
        .arg(format!("'{BIN}' --db '{}' {args}", env.db_arg()))
        .arg("/dev/null")
        .env_remove("DURABLY_DB")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("COLUMNS")
        .env_remove("LINES")
        .env("TERM", "xterm");
    for (k, v) in set {
        script.env(k, v);
    }
    let mut out = run_command(script, None);
    out.stdout = out.stdout.replace("\r\n", "\n");
    out
}

/// Text with its SGR colour sequences (`ESC [ … m`) removed.
fn strip_sgr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The SGR sequence right before each status word of a table, by status.
fn status_colours(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut found = std::collections::BTreeMap::new();
    for status in ["pending", "leased", "completed", "failed", "cancelled"] {
        if let Some(at) = text.find(&format!("m{status}\u{1b}[")) {
            let start = text[..at]
                .rfind('\u{1b}')
                .expect("an escape before the status");
            found.insert(status.to_string(), text[start..=at].to_string());
        }
    }
    found
}

/// One run in each of the five statuses, created in the year 2000 (a day apart, so the AGE
/// column reads the same from one listing to the next).
fn five_statuses(env: &Env) {
    for (day, status) in ["pending", "leased", "completed", "failed", "cancelled"]
        .into_iter()
        .enumerate()
    {
        let id = env.enqueue(&["--job", status]);
        env.exec(&format!(
            "UPDATE durably_runs SET status = {}, created_at = {} WHERE id = {}",
            lit(status),
            lit(&format!("2000-01-0{}T00:00:00.000Z", day + 1)),
            lit(&id)
        ));
    }
}

both! {
    fn statuses_are_coloured_on_a_terminal_or_when_asked_and_never_in_json() {
        let env = Env::new();
        five_statuses(&env);
        // A terminal with --color auto: each status in its own colour.
        let tty = on_pty(&env, "ls", &[]);
        tty.ok();
        let colours = status_colours(&tty.stdout);
        assert_eq!(colours.len(), 5, "{colours:?} in {:?}", tty.stdout);
        let distinct: std::collections::BTreeSet<_> = colours.values().collect();
        assert_eq!(distinct.len(), 5, "{colours:?}");
        // NO_COLOR (not empty) and TERM=dumb turn auto off; an empty NO_COLOR does not.
        for set in [[("NO_COLOR", "1")], [("TERM", "dumb")]] {
            let plain = on_pty(&env, "ls", &set);
            assert!(!plain.ok().stdout.contains('\u{1b}'), "{set:?}: {plain:?}");
        }
        let empty = on_pty(&env, "ls", &[("NO_COLOR", "")]);
        assert_eq!(status_colours(&empty.ok().stdout).len(), 5, "{empty:?}");
        // --color never on a terminal: plain.
        let never = on_pty(&env, "--color never ls", &[]);
        assert!(!never.ok().stdout.contains('\u{1b}'), "{never:?}");

        // A pipe: plain with auto (the harness sets NO_COLOR; without it too), coloured with
        // --color always even when NO_COLOR is set, and with CLICOLOR_FORCE unless NO_COLOR.
        let piped = env.ok(&["ls"]);
        assert!(!piped.stdout.contains('\u{1b}'), "{piped:?}");
        let mut c = env.command(&["ls"]);
        c.env_remove("NO_COLOR");
        let auto_pipe = run_command(c, None);
        assert!(!auto_pipe.ok().stdout.contains('\u{1b}'), "{auto_pipe:?}");
        let always = env.ok(&["--color", "always", "ls"]);
        assert_eq!(status_colours(&always.stdout), colours, "{always:?}");
        let mut c = env.command(&["ls"]);
        c.env_remove("NO_COLOR").env("CLICOLOR_FORCE", "1");
        let forced = run_command(c, None);
        assert_eq!(status_colours(&forced.ok().stdout).len(), 5, "{forced:?}");
        let mut c = env.command(&["ls"]);
        c.env("CLICOLOR_FORCE", "1");
        let no_color_wins = run_command(c, None);
        assert!(
            !no_color_wins.ok().stdout.contains('\u{1b}'),
            "{no_color_wins:?}"
        );

        // Columns are as wide as their visible text: without the escapes the coloured table is
        // the plain one.
        assert_eq!(strip_sgr(&always.stdout), piped.stdout);
        // JSON is never coloured.
        for format in ["json", "ndjson", "ids"] {
            let out = env.ok(&["--color", "always", "ls", "--format", format]);
            assert!(!out.stdout.contains('\u{1b}'), "{format}: {out:?}");
        }
        let json = on_pty(&env, "ls --json", &[]);
        assert!(!json.ok().stdout.contains('\u{1b}'), "{json:?}");
        env.run(&["--color", "sometimes", "ls"])
            .fails(2, "sometimes");
    }
}

both! {
    fn coloured_lines_are_cut_to_the_width_on_their_visible_text() {
        let env = Env::new();
        five_statuses(&env);
        let text = on_pty(&env, "ls", &[("COLUMNS", "40")]).ok().stdout.clone();
        assert_eq!(text.lines().count(), 6, "{text}");
        for line in text.lines() {
            let visible = strip_sgr(line);
            assert!(visible.chars().count() <= 40, "{visible:?}");
            // A cut line ends with a reset: no colour runs on past it.
            if line.contains('\u{1b}') {
                assert!(line.rfind("\u{1b}[").is_some_and(|at| {
                    let tail = &line[at..];
                    tail.starts_with("\u{1b}[0m") || tail.starts_with("\u{1b}[39m")
                }));
            }
        }
    }
}

both! {
    fn a_cut_page_has_a_footer_with_the_count_and_the_next_page_on_a_terminal_only() {
        let (env, ids) = fixture(60);
        let newest_first: Vec<&String> = ids.iter().rev().collect();
        let tty = on_pty(&env, "ls", &[("NO_COLOR", "1")]);
        let last = tty.ok().stdout.lines().last().unwrap().to_string();
        let expected = format!(
            "50 of 60 runs — next page: durably ls --before {}",
            newest_first[49]
        );
        assert_eq!(last, expected, "{tty:?}");
        // The same filters and page size in the next-page command, which lists the next page.
        let tty = on_pty(
            &env,
            "ls --job a --label tenant=even --limit 3",
            &[("NO_COLOR", "1")],
        );
        let last = tty.ok().stdout.lines().last().unwrap().to_string();
        let (head, command) = last.split_once(" — next page: ").expect("a footer");
        let matching = oracle(&env, &[("tenant", "even")], &[], &["a"]);
        assert_eq!(head, format!("3 of {} runs", matching.len()), "{last}");
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(&words[..2], ["durably", "ls"], "{command}");
        let mut next = vec!["ls", "--format", "ids"];
        next.extend_from_slice(&words[2..]);
        assert_eq!(
            crate::harness::ids(&env.ok(&next)),
            matching[3..6],
            "{command}"
        );
        // A page that holds every match: no footer; a pipe: never a footer.
        let all = on_pty(&env, "ls --limit 60", &[("NO_COLOR", "1")]);
        assert!(!all.ok().stdout.contains("next page"), "{all:?}");
        let piped = env.ok(&["ls"]);
        assert_eq!(piped.stdout.lines().count(), 51, "{piped:?}");
        assert!(!piped.stdout.contains("next page"), "{piped:?}");
    }
}

both! {
    fn the_footer_count_stops_at_ten_thousand() {
        let env = Env::new();
        let lines: String = (0..10_002).map(|_| "{\"job\":\"j\"}\n").collect();
        env.run_stdin(&["enqueue-many", "--quiet"], lines).ok();
        let tty = on_pty(&env, "ls --limit 2", &[("NO_COLOR", "1")]);
        let last = tty.ok().stdout.lines().last().unwrap().to_string();
        assert!(
            last.starts_with("2 of more than 10,000 runs — next page: durably ls --before "),
            "{last}"
        );
        // Exactly 10,000 from --before on is still counted.
        let oldest_two = env.sql_column("SELECT id FROM durably_runs ORDER BY created_at, id LIMIT 2");
        let tty = on_pty(
            &env,
            &format!("ls --limit 2 --before {}", oldest_two[1]),
            &[("NO_COLOR", "1")],
        );
        assert!(!tty.ok().stdout.contains("next page"), "{tty:?}");
        let tty = on_pty(&env, "ls --limit 2 --offset 1", &[("NO_COLOR", "1")]);
        assert!(
            tty.ok().stdout.contains("2 of more than 10,000 runs"),
            "{tty:?}"
        );
    }
}

both! {
    fn watch_redraws_in_place_until_ctrl_c_and_exits_0() {
        let env = Env::new();
        five_statuses(&env);
        let pid_file = env.path("watch.pid");
        let mut script = std::process::Command::new("script");
        script
            .arg("-qec")
            .arg(format!(
                "echo $$ > '{}'; exec '{BIN}' --db '{}' ls --watch 0.1s --status failed",
                pid_file.display(),
                env.db_arg()
            ))
            .arg("/dev/null")
            .env_remove("DURABLY_DB")
            .env_remove("NO_COLOR")
            .env("TERM", "xterm");
        let mut bg = Bg::spawn(script, env.dir.path(), "watch");
        // At least two frames drawn, each from the cursor's home position.
        let frames = |text: &str| {
            text.matches("\u{1b}[Hevery 100ms: durably ls --status failed")
                .count()
        };
        assert!(
            wait_until(BOUND, || frames(&bg.out()) >= 2),
            "{:?}",
            bg.out()
        );
        // A change to the database shows up in a later frame.
        env.exec("UPDATE durably_runs SET status = 'failed' WHERE job_name = 'pending'");
        assert!(
            wait_until(BOUND, || {
                let out = bg.out();
                let latest = &out[out.rfind("\u{1b}[H").unwrap_or(0)..];
                latest.contains(" pending ") && latest.contains("\u{1b}[K")
            }),
            "{:?}",
            bg.out()
        );
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: a process this test started.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let status = bg.wait_max(BOUND);
        assert_eq!(status.code(), Some(0), "{:?} {:?}", bg.out(), bg.err());
        let out = bg.out();
        // The alternate screen is entered first and left last, the cursor shown again.
        assert!(out.starts_with("\u{1b}[?1049h"), "{out:?}");
        assert!(
            out.trim_end().ends_with("\u{1b}[?25h\u{1b}[?1049l"),
            "{out:?}"
        );
        assert!(
            out.contains("\u{1b}[31mfailed") || out.contains("mfailed\u{1b}["),
            "{out:?}"
        );

        // On a pipe --watch is a usage error, as are --format json and a too short interval.
        env.run(&["ls", "--watch"]).fails(2, "terminal");
        env.run(&["ls", "--watch", "--json"]).code(2);
        env.run(&["ls", "--watch", "--format", "ids"]).code(2);
        env.run(&["ls", "--watch", "10ms"]).fails(2, "10ms");
    }
}

both! {
    fn piped_table_is_one_whole_line_per_run_and_ids_are_usable_handles() {
        let env = Env::new();
        env.enqueue(&[
            "--job",
            "a-really-long-job-name-that-would-not-fit-in-any-reasonable-column",
            "--label",
            "tenant=acme-corporation-international-holdings",
            "--label",
            "region=eu-west-1",
            "--input",
            r#"{"x":"y"}"#,
        ]);
        for _ in 0..3 {
            env.enqueue(&["--job", "short"]);
        }
        let out = env.run(&["ls"]);
        let text = &out.ok().stdout;
        assert!(
            text.starts_with(char::is_whitespace) || text.starts_with("ID"),
            "{text}"
        );
        let header = text.lines().next().unwrap();
        for col in ["ID", "JOB", "STATUS", "LABELS", "AGE"] {
            assert!(header.contains(col), "{header}");
        }
        // On a pipe nothing is wrapped or cut: a header and one line per run, so `grep` sees
        // every run whole.
        assert_eq!(text.lines().count(), 5, "{text}");
        let long = text
            .lines()
            .find(|l| l.contains("a-really-long-job-name"))
            .unwrap_or_else(|| panic!("no line for the long run:\n{text}"));
        assert!(
            long.contains("tenant=") && long.contains("pending"),
            "{long}"
        );
        for line in text.lines() {
            assert_eq!(line, line.trim_end(), "trailing whitespace");
            assert!(!line.ends_with('…'), "line cut on a pipe: {line:?}");
        }
        // Every id cell is a unique tail of at least 8 characters that show accepts.
        let full = ids(env.run(&["ls", "--format", "ids"]).ok());
        for id in &full {
            let shown = text
                .split_whitespace()
                .find(|w| id.ends_with(*w) && w.len() >= 8)
                .unwrap_or_else(|| panic!("{id} not in table:\n{text}"));
            let run = env.run(&["show", shown, "--json"]).ok().json();
            assert_eq!(run["id"], id.as_str());
        }
    }
}

both! {
    fn the_table_shows_the_shortest_unique_tail_and_show_takes_it() {
        let env = Env::init();
        let insert = |id: &str| {
            env.exec(&format!(
                "INSERT INTO durably_runs (id, job_name, input, status, created_at, updated_at) VALUES ({}, 'j', '{{}}', 'pending', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')",
                lit(id)
            ));
        };
        // (id, the handle the table must show)
        let expected = [
            // Two ids sharing their last 10 characters need 11; one sharing 8 with them needs 9.
            ("01900000-0000-7000-8000-aa11deadbeef", "a11deadbeef"),
            ("01900000-0000-7000-8000-bb11deadbeef", "b11deadbeef"),
            ("01900000-0000-7000-8000-ccccdeadbeef", "cdeadbeef"),
            // The last 8 characters are another run's prefix: one more.
            ("01900000-0000-7000-8000-000012345678", "012345678"),
            ("12345678-0000-7000-8000-000000000001", "00000001"),
            // Tails of 8 to 12 characters that are other runs' prefixes, and 13 would start at
            // `-` (an option on the command line): 14.
            ("01900000-0000-7000-8000-cafecafecafe", "0-cafecafecafe"),
            ("cafecafecafe-one", "cafe-one"),
            ("ecafecafe-two", "cafe-two"),
            ("fecafecafe-three", "fe-three"),
            ("afecafecafe-four", "afe-four"),
            // Library ULIDs (26 upper-case characters), in the same column.
            ("01JD8X3V5Q7M2K9R4T6W8Y0ZAB", "6W8Y0ZAB"),
            ("01JD8X3V5Q8N3P0S5V7X9Z1BCD", "7X9Z1BCD"),
        ];
        for (id, _) in expected {
            insert(id);
        }
        let table = env.run(&["ls"]).ok().stdout.clone();
        let shown: Vec<(String, String)> = table
            .lines()
            .skip(1)
            .map(|l| {
                let handle = l.split_whitespace().next().unwrap().to_string();
                (handle, l.to_string())
            })
            .collect();
        assert_eq!(shown.len(), expected.len(), "{table}");
        let mut shown_sorted: Vec<&str> = shown.iter().map(|(h, _)| h.as_str()).collect();
        shown_sorted.sort();
        let mut want: Vec<&str> = expected.iter().map(|(_, h)| *h).collect();
        want.sort();
        assert_eq!(shown_sorted, want, "{table}");
        // Every cell gives its own run back, and each run has one.
        let mut resolved: Vec<String> = Vec::new();
        for (handle, _) in &shown {
            let v = env.run(&["show", handle, "--json"]).ok().json();
            resolved.push(v["id"].as_str().unwrap().to_string());
        }
        resolved.sort();
        let mut all: Vec<String> = expected.iter().map(|(id, _)| id.to_string()).collect();
        all.sort();
        assert_eq!(resolved, all);
        for (id, handle) in expected {
            assert!(
                shown.iter().any(|(h, _)| h == handle),
                "{id}: no {handle} in\n{table}"
            );
            let v = env.run(&["show", handle, "--json"]).ok().json();
            assert_eq!(v["id"], id);
        }
        // Programs get the full ids.
        let full = ids(env.run(&["ls", "--format", "ids"]).ok());
        assert_eq!(full.len(), expected.len());
        assert!(full.iter().all(|i| expected.iter().any(|(id, _)| id == i)));
    }
}

both! {
    fn a_cut_page_says_so_on_stderr_once_in_every_format_and_all_lists_every_run() {
        let env = Env::new();
        let lines: String = (0..2_345).map(|_| "{\"job\":\"j\"}\n").collect();
        env.run_stdin(&["enqueue-many", "--quiet"], lines).ok();
        let every = env.sql_column("SELECT id FROM durably_runs ORDER BY created_at DESC, id DESC");
        let note = "durably: showing 50 runs; more match: --all for every one, --limit N for more\n";
        // On a pipe: the page on stdout, one line on stderr, whatever the format.
        for format in ["table", "ids", "json", "ndjson"] {
            let out = env.ok(&["ls", "--format", format]);
            assert_eq!(out.stderr, note, "{format}: {out:?}");
        }
        let out = env.ok(&["ls", "--status", "pending", "-n", "3", "--format", "ids"]);
        assert_eq!(
            out.stderr,
            "durably: showing 3 runs; more match: --all for every one, --limit N for more\n"
        );
        // A page that holds every match says nothing.
        let out = env.ok(&["ls", "--limit", "2345", "--format", "ids"]);
        assert_eq!(out.stderr, "", "{out:?}");
        // On a terminal: the table's footer alone, not the stderr line as well; JSON: the line.
        let tty = on_pty(&env, "ls", &[("NO_COLOR", "1")]);
        assert!(tty.ok().stdout.contains("50 of 2,345 runs — next page"), "{tty:?}");
        assert!(!tty.stdout.contains("showing"), "{tty:?}");
        let tty = on_pty(&env, "ls --json", &[("NO_COLOR", "1")]);
        assert!(tty.ok().stdout.contains(note.trim_end()), "{tty:?}");
        // --all: every run, newest first, across pages, and no note.
        let out = env.ok(&["ls", "--all", "--format", "ids"]);
        assert_eq!(out.stderr, "");
        assert_eq!(crate::harness::ids(&out), every);
        let out = env.ok(&["ls", "--all", "--json"]);
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        let got: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, every);
        let out = env.ok(&["ls", "--all", "--format", "ndjson"]);
        assert_eq!(out.stdout.lines().count(), every.len());
        // A table: its header once, then a row per run.
        let out = env.ok(&["ls", "--all"]);
        let rows: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(rows.len(), every.len() + 1, "{}", &out.stdout[..200]);
        assert_eq!(rows.iter().filter(|l| l.trim_start().starts_with("ID ")).count(), 1);
        // From --before on, with a filter; nothing matching: an empty array.
        let out = env.ok(&["ls", "--all", "--format", "ids", "--before", &every[999]]);
        assert_eq!(crate::harness::ids(&out), every[1000..]);
        let out = env.ok(&["ls", "--all", "--json", "--job", "none"]);
        assert_eq!(out.stdout, "[]\n");
        env.run(&["ls", "--all", "--limit", "5"]).fails(2, "--all cannot be used with --limit");
        env.run(&["ls", "--all", "--offset", "5"]).fails(2, "--all cannot be used with --offset");
    }
}

both! {
    fn local_shows_times_in_the_local_zone_and_json_keeps_utc() {
        let env = Env::init();
        let id = env.enqueue(&["--job", "j"]);
        env.exec(&format!(
            "UPDATE durably_runs SET created_at = '2026-01-02T03:04:05.678Z' WHERE id = {}",
            lit(&id)
        ));
        let show = |args: &[&str], local: Option<&str>| {
            let mut c = env.command(args);
            c.env("TZ", "JST-9");
            if let Some(v) = local {
                c.env("DURABLY_LOCAL_TIME", v);
            }
            let out = run_command(c, None);
            out.ok();
            out.stdout.clone()
        };
        let utc = show(&["show", &id], None);
        assert!(utc.contains("created           2026-01-02T03:04:05.678Z"), "{utc}");
        for (args, local) in [(vec!["--local", "show", &id], None), (vec!["show", &id], Some("1"))] {
            let text = show(&args, local);
            assert!(text.contains("created           2026-01-02 12:04:05.678 +09:00"), "{text}");
        }
        assert_eq!(show(&["show", &id], Some("0")), utc);
        let json = show(&["--local", "show", &id, "--json"], None);
        assert!(json.contains("\"createdAt\": \"2026-01-02T03:04:05.678Z\""), "{json}");
    }
}
