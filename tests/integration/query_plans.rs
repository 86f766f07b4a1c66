//! `ls` query plans on a large database: for every filter combination, the
//! plan must read an index in order (no full table scan, no sort of all matches) and label
//! filters must go through the label indexes, never json_extract. The label-first strategy
//! sorts, but only up to its cap, which the note reports. Results are compared with plain SQL.

use crate::harness::*;
use rusqlite::{params, Connection};

const RUNS: i64 = 200_000;
const STATUSES: [&str; 5] = ["pending", "leased", "completed", "failed", "cancelled"];

fn status_of(i: i64) -> &'static str {
    match i % 20 {
        0 => "pending",
        1 => "leased",
        2 => "failed",
        3 => "cancelled",
        _ => "completed",
    }
}

/// `durably init`, then RUNS runs with two labels each (tenant: 10 values; kind: 3 values)
/// and a rare label on 50 of them, inserted with rusqlite in one transaction.
fn big_database() -> Env {
    let env = Env::init();
    let mut conn = env.conn();
    let tx = conn.transaction().unwrap();
    // Bulk load: drop the (non-automatic) indexes and build them again afterwards, which is
    // several times faster than maintaining ten indexes row by row. Same schema at the end.
    let index_sql: Vec<(String, String)> = tx
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for (name, _) in &index_sql {
        tx.execute_batch(&format!("DROP INDEX \"{name}\"")).unwrap();
    }
    {
        let mut run = tx
            .prepare(
                "INSERT INTO durably_runs (id, job_name, input, status, labels, created_at, updated_at, completed_at) \
                 VALUES (?1, ?2, '{}', ?3, ?4, ?5, ?5, ?6)",
            )
            .unwrap();
        let mut label = tx
            .prepare("INSERT INTO durably_run_labels (run_id, key, value) VALUES (?1, ?2, ?3)")
            .unwrap();
        let base = 1_735_689_600_000i64; // 2025-01-01
        for i in 0..RUNS {
            // Several runs share a millisecond, so the id tie-break matters.
            let ms = base + i / 3;
            let id = format!("{:012x}-7000-8000-{:012x}", ms, i);
            let created = durably::time::format_ms(ms);
            let status = status_of(i);
            let done =
                matches!(status, "completed" | "failed" | "cancelled").then(|| created.clone());
            let tenant = format!("t{}", i % 10);
            let kind = format!("k{}", i % 3);
            let rare = i % 4000 == 7;
            // A label only the oldest runs have (a tenant that stopped submitting): its
            // matches are many, but an index walk from the newest run passes 90% of the
            // database before the first one.
            let old = i < RUNS / 10;
            let labels = if rare {
                format!(r#"{{"tenant":"{tenant}","kind":"{kind}","rare":"yes"}}"#)
            } else {
                format!(r#"{{"tenant":"{tenant}","kind":"{kind}"}}"#)
            };
            run.execute(params![
                id,
                format!("job-{}", i % 10),
                status,
                labels,
                created,
                done
            ])
            .unwrap();
            label.execute(params![id, "tenant", tenant]).unwrap();
            label.execute(params![id, "kind", kind]).unwrap();
            if rare {
                label.execute(params![id, "rare", "yes"]).unwrap();
            }
            if old {
                label.execute(params![id, "era", "old"]).unwrap();
            }
        }
    }
    for (_, sql) in &index_sql {
        tx.execute_batch(sql).unwrap();
    }
    tx.commit().unwrap();
    env
}

/// A filter combination, as `ls` arguments.
struct Case {
    name: &'static str,
    labels: Vec<(&'static str, &'static str)>,
    statuses: Vec<&'static str>,
    jobs: Vec<&'static str>,
    before: bool,
}

fn case(
    name: &'static str,
    labels: &[(&'static str, &'static str)],
    statuses: &[&'static str],
    jobs: &[&'static str],
    before: bool,
) -> Case {
    Case {
        name,
        labels: labels.to_vec(),
        statuses: statuses.to_vec(),
        jobs: jobs.to_vec(),
        before,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case("none", &[], &[], &[], false),
        case("status", &[], &["pending"], &[], false),
        case("two statuses", &[], &["pending", "failed"], &[], false),
        case("all statuses", &[], &STATUSES, &[], false),
        case("job", &[], &[], &["job-3"], false),
        case("two jobs", &[], &[], &["job-3", "job-4"], false),
        case("job+status", &[], &["failed"], &["job-2"], false),
        case(
            "jobs+statuses",
            &[],
            &["failed", "pending"],
            &["job-2", "job-5"],
            false,
        ),
        case("common label", &[("tenant", "t3")], &[], &[], false),
        case("rare label", &[("rare", "yes")], &[], &[], false),
        case(
            "two labels",
            &[("tenant", "t3"), ("kind", "k1")],
            &[],
            &[],
            false,
        ),
        case(
            "common+rare label",
            &[("tenant", "t7"), ("rare", "yes")],
            &[],
            &[],
            false,
        ),
        case(
            "label+status",
            &[("tenant", "t3")],
            &["pending"],
            &[],
            false,
        ),
        case(
            "rare label+status",
            &[("rare", "yes")],
            &["completed"],
            &[],
            false,
        ),
        case("label+job", &[("tenant", "t3")], &[], &["job-3"], false),
        case(
            "label+job+status",
            &[("kind", "k2")],
            &["completed"],
            &["job-5"],
            false,
        ),
        case("unknown label", &[("tenant", "nobody")], &[], &[], false),
        case("old label", &[("era", "old")], &[], &[], false),
        case(
            "old label+common label",
            &[("era", "old"), ("tenant", "t4")],
            &[],
            &[],
            false,
        ),
        case(
            "old label+status",
            &[("era", "old")],
            &["failed"],
            &[],
            false,
        ),
        case("old label+job", &[("era", "old")], &[], &["job-1"], false),
        case("before+old label", &[("era", "old")], &[], &[], true),
        case("before", &[], &[], &[], true),
        case("before+status", &[], &["completed"], &[], true),
        case("before+job", &[], &[], &["job-1"], true),
        case("before+label", &[("tenant", "t1")], &[], &[], true),
        case("before+rare label", &[("rare", "yes")], &[], &[], true),
        case(
            "before+label+status+job",
            &[("kind", "k0")],
            &["completed"],
            &["job-6"],
            true,
        ),
    ]
}

/// An id in the middle of the database, for `--before`.
fn middle_id(conn: &Connection) -> String {
    conn.query_row(
        "SELECT id FROM durably_runs ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?1",
        [RUNS / 2],
        |r| r.get(0),
    )
    .unwrap()
}

fn args_of(c: &Case, before: &str) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    for (k, v) in &c.labels {
        a.extend(["--label".into(), format!("{k}={v}")]);
    }
    for s in &c.statuses {
        a.extend(["--status".into(), s.to_string()]);
    }
    for j in &c.jobs {
        a.extend(["--job".into(), j.to_string()]);
    }
    if c.before {
        a.extend(["--before".into(), before.to_string()]);
    }
    a
}

/// The first page by plain SQL, independent of the CLI's strategies.
fn oracle(conn: &Connection, c: &Case, before: &str, limit: usize) -> Vec<String> {
    let mut sql = String::from("SELECT r.id FROM durably_runs r WHERE 1");
    let mut p: Vec<String> = Vec::new();
    for (k, v) in &c.labels {
        p.push(k.to_string());
        p.push(v.to_string());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM durably_run_labels x WHERE x.run_id = r.id AND x.key = ?{} AND x.value = ?{})",
            p.len() - 1,
            p.len()
        ));
    }
    if !c.statuses.is_empty() {
        let marks: Vec<String> = c
            .statuses
            .iter()
            .map(|s| {
                p.push(s.to_string());
                format!("?{}", p.len())
            })
            .collect();
        sql.push_str(&format!(" AND r.status IN ({})", marks.join(",")));
    }
    if !c.jobs.is_empty() {
        let marks: Vec<String> = c
            .jobs
            .iter()
            .map(|j| {
                p.push(j.to_string());
                format!("?{}", p.len())
            })
            .collect();
        sql.push_str(&format!(" AND r.job_name IN ({})", marks.join(",")));
    }
    if c.before {
        p.push(before.to_string());
        sql.push_str(&format!(
            " AND (r.created_at, r.id) < (SELECT created_at, id FROM durably_runs WHERE id = ?{})",
            p.len()
        ));
    }
    sql.push_str(&format!(
        " ORDER BY r.created_at DESC, r.id DESC LIMIT {limit}"
    ));
    conn.prepare(&sql)
        .unwrap()
        .query_map(rusqlite::params_from_iter(p.iter()), |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Checks one `ls --explain` output; returns a description of every problem found.
fn plan_problems(c: &Case, explain: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let strategy = explain
        .lines()
        .find_map(|l| l.strip_prefix("strategy: "))
        .unwrap_or("")
        .to_string();
    if !matches!(
        strategy.as_str(),
        "label-first" | "label-first-deep" | "index-streams"
    ) {
        problems.push(format!("unknown strategy {strategy:?}"));
    }
    if explain.to_lowercase().contains("json_extract")
        || explain.to_lowercase().contains("json_each")
    {
        problems.push("uses json_extract/json_each".into());
    }
    let queries = explain.lines().filter(|l| l.starts_with("query: ")).count();
    if queries == 0 {
        problems.push("no query".into());
    }
    let plan_lines: Vec<&str> = explain
        .lines()
        .filter(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    for line in &plan_lines {
        let scan = line.starts_with("SCAN ");
        if scan && !(line.contains("USING INDEX") || line.contains("USING COVERING INDEX")) {
            problems.push(format!("full scan: {line}"));
        }
        // A scan of an index is only an ordered walk of the runs, stopped by LIMIT; scanning
        // the label table would read every label.
        if scan
            && (line.contains("durably_run_labels")
                || line.starts_with("SCAN l")
                || line.starts_with("SCAN x"))
        {
            problems.push(format!("label table scanned: {line}"));
        }
        if line.contains("USE TEMP B-TREE") && !strategy.starts_with("label-first") {
            problems.push(format!("sort outside label-first: {line}"));
        }
    }
    // Without filters on status/job, an index scan of the runs must be the created_at one
    // (read backwards and cut by LIMIT); with them, runs are reached by SEARCH on an index
    // whose prefix is the filter.
    if strategy == "index-streams" {
        for line in &plan_lines {
            if line.starts_with("SCAN") && !line.contains("idx_durably_runs_created_id") {
                problems.push(format!(
                    "index-streams scans an index other than created_id: {line}"
                ));
            }
            if (!c.statuses.is_empty() || !c.jobs.is_empty()) && line.starts_with("SCAN") {
                problems.push(format!("status/job filter answered by a scan: {line}"));
            }
        }
    }
    if !c.labels.is_empty() {
        let via_index = plan_lines.iter().any(|l| {
            l.contains("idx_durably_run_labels_key_value")
                || l.contains("idx_durably_run_labels_pk")
        });
        if !via_index {
            problems.push("label filter not through a label index".into());
        }
        // Every label-table access is an index search.
        for l in &plan_lines {
            if (l.contains(" l ")
                || l.contains(" x ")
                || l.starts_with("SEARCH l")
                || l.starts_with("SEARCH x"))
                && l.starts_with("SEARCH")
                && !(l.contains("idx_durably_run_labels_key_value")
                    || l.contains("idx_durably_run_labels_pk"))
            {
                problems.push(format!("label access without a label index: {l}"));
            }
        }
    }
    if strategy == "label-first" {
        if c.labels.is_empty() {
            problems.push("label-first without labels".into());
        }
        // "driving label K=V matches N runs (cap C)": the sort is bounded by the cap.
        let note = explain
            .lines()
            .find_map(|l| l.strip_prefix("note: "))
            .unwrap_or("");
        let nums: Vec<i64> = note
            .split(|ch: char| !ch.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        match (note.find("matches"), nums.len()) {
            (Some(_), n) if n >= 2 => {
                let (matches, cap) = (nums[nums.len() - 2], nums[nums.len() - 1]);
                if matches > cap {
                    problems.push(format!("label-first sorts {matches} > cap {cap}"));
                }
                if cap > 20_000 {
                    problems.push(format!("cap {cap} too large"));
                }
            }
            _ => problems.push(format!("label-first note unreadable: {note:?}")),
        }
    }
    if strategy == "label-first-deep" {
        // "driving label K=V matches N runs; an index walk would first pass at least M newer
        // runs": the sort is only chosen when it is smaller than the walk.
        let note = explain
            .lines()
            .find_map(|l| l.strip_prefix("note: "))
            .unwrap_or("");
        let nums: Vec<i64> = note
            .split(|ch: char| !ch.is_ascii_digit())
            .filter_map(|s| s.parse().ok())
            .collect();
        match nums.as_slice() {
            [.., matches, newer] if matches < newer => {}
            _ => problems.push(format!("label-first-deep without a reason: {note:?}")),
        }
    }
    problems
}

fn check_all(env: &Env, label: &str) {
    let conn = env.conn();
    let before = middle_id(&conn);
    let mut failures = Vec::new();
    for c in cases() {
        let args = args_of(&c, &before);
        let mut explain_args: Vec<&str> = vec!["ls", "--explain"];
        explain_args.extend(args.iter().map(String::as_str));
        let out = env.run(&explain_args);
        out.ok();
        let mut problems = plan_problems(&c, &out.stdout);
        if c.name == "old label" && !out.stdout.contains("strategy: label-first-deep") {
            problems.push("an old label must not walk the whole runs index".into());
        }
        if c.name == "common label" && !out.stdout.contains("strategy: index-streams") {
            problems.push("a common, recent label is cheapest by the index walk".into());
        }
        if std::env::var_os("PLAN_DEBUG").is_some() {
            eprintln!(
                "[{label}] {} {:?}\n{}",
                c.name,
                std::time::Instant::now(),
                out.stdout
            );
        }
        if !problems.is_empty() {
            failures.push(format!(
                "[{label}] {}: {problems:?}\n{}",
                c.name, out.stdout
            ));
        }
        // The first page is right.
        let mut ls_args: Vec<&str> = vec!["ls", "--format", "ids", "--limit", "20"];
        ls_args.extend(args.iter().map(String::as_str));
        let got = ids(env.run(&ls_args).ok());
        let want = oracle(&conn, &c, &before, 20);
        if got != want {
            failures.push(format!(
                "[{label}] {}: wrong page {got:?} != {want:?}",
                c.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_filter_combination_uses_indexes_on_a_large_database() {
    let t = std::time::Instant::now();
    let env = big_database();
    eprintln!("built in {:?}", t.elapsed());
    check_all(&env, "no statistics");
    check_handles(&env, "no statistics");
    // An application may have run ANALYZE: the plans must hold with statistics too.
    env.conn().execute_batch("ANALYZE").unwrap();
    check_all(&env, "after ANALYZE");
    check_handles(&env, "after ANALYZE");
}

/// The plan of each SQL statement that resolves or shows a run handle, one line per step.
fn handle_plans(conn: &Connection) -> Vec<(&'static str, Vec<String>)> {
    use durably::store::sqlite::{PREFIX_SQL, SAME_TAIL_SQL, TAIL_SQL};
    let tail = "0000000f4241";
    let key = &tail[tail.len() - 8..];
    let plan = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Vec<String> {
        conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(p, |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    vec![
        (
            "prefix",
            plan(PREFIX_SQL, params!["0194", "0194\u{10FFFF}", "", 6]),
        ),
        ("tail", plan(TAIL_SQL, params![key, -12, tail, "", 6])),
        (
            "same tail",
            plan(SAME_TAIL_SQL, params![format!(r#"["{key}","0000002a"]"#)]),
        ),
    ]
}

/// Handle lookups are index seeks on the large database: no plan step scans durably_runs, the
/// tail lookups seek `idx_durably_runs_id_tail`, and the binary resolves tails and shows them.
fn check_handles(env: &Env, label: &str) {
    let conn = env.conn();
    for (name, plan) in handle_plans(&conn) {
        assert!(
            !plan.iter().any(|l| l.starts_with("SCAN durably_runs")),
            "{label}: {name} lookup scans: {plan:?}"
        );
        if name != "prefix" {
            assert!(
                plan.iter()
                    .any(|l| l.contains("USING INDEX idx_durably_runs_id_tail")),
                "{label}: {name} lookup does not seek the tail index: {plan:?}"
            );
        }
    }
    // Run 42: its id ends in its number in hex.
    let id: String = conn
        .query_row(
            "SELECT id FROM durably_runs WHERE id LIKE '%-00000000002a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let v = env.run(&["show", "0000002A", "--json"]).ok().json();
    assert_eq!(v["id"], id.as_str(), "{label}");
    let table = env.run(&["ls", "--limit", "3"]).ok().stdout.clone();
    assert!(table.lines().count() == 4, "{label}: {table}");
}

#[test]
fn the_plan_checker_catches_bad_plans() {
    // The checker itself must be able to fail (a test that cannot fail is a defect).
    let c = case("x", &[("k", "v")], &["pending"], &[], false);
    let bad = "strategy: index-streams\nquery: SELECT ...\n  SCAN durably_runs\n  USE TEMP B-TREE FOR ORDER BY\n";
    let p = plan_problems(&c, bad);
    assert!(p.iter().any(|x| x.contains("full scan")), "{p:?}");
    assert!(p.iter().any(|x| x.contains("sort outside")), "{p:?}");
    assert!(
        p.iter().any(|x| x.contains("label filter not through")),
        "{p:?}"
    );
    let over_cap = "strategy: label-first\nnote: driving label k=v matches 5000 runs (cap 200)\nquery: SELECT json_extract(labels)\n  SEARCH l USING INDEX idx_durably_run_labels_key_value (key=? AND value=?)\n  USE TEMP B-TREE FOR ORDER BY\n";
    let p = plan_problems(&c, over_cap);
    assert!(p.iter().any(|x| x.contains("5000 > cap 200")), "{p:?}");
    assert!(p.iter().any(|x| x.contains("json_extract")), "{p:?}");
    // Without the tail index the tail lookups scan, and the plans say so.
    let env = Env::init();
    let conn = env.conn();
    conn.execute_batch("DROP INDEX idx_durably_runs_id_tail")
        .unwrap();
    let plans = handle_plans(&conn);
    assert!(
        plans
            .iter()
            .filter(|(_, p)| p.iter().any(|l| l.starts_with("SCAN durably_runs")))
            .count()
            == 2,
        "{plans:?}"
    );
}
