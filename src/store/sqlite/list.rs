//! Listing runs newest first (`created_at DESC, id DESC`) at a cost that follows the page, not
//! the database.
//!
//! A filter is answered by one of two strategies:
//! - **index streams**: one ordered index range per (status, job) combination asked for
//!   (`idx_durably_runs_created_id`, `…_status_created_id`, `…_job_status_created_id`), read
//!   newest first, labels checked per row through `idx_durably_run_labels_pk`; each range stops
//!   after a page and the ranges are merged here. Cost: page × streams / label selectivity.
//! - **label first**: when the rarest label filter matches few runs (counted through
//!   `idx_durably_run_labels_key_value`, stopping at a cap), start from those label rows and sort
//!   their (created_at, id) keys; only the page's rows are read whole. Cost: bounded by the cap.
//!
//! The cap is about √(page × runs): below it the label-first sort is cheaper than walking the
//! runs index until a page of matches has been seen, above it the reverse — provided the
//! matches are spread over time. When every label matches more than the cap but the newest
//! match is old (a tenant that stopped submitting long ago), the walk would read every newer
//! run before the first match. So the plan also counts the runs newer than the label's newest
//! match (found through the label index in insertion order, a cheap estimate) and the label's
//! matches, both in steps that grow 4×, and stops at the smaller: **label-first-deep** sorts the
//! matches when they are fewer than the runs the walk would skip. Deciding costs about as much
//! as the cheaper plan, so the first page costs O(min(matches, runs newer than the newest
//! match) + page). Not covered: filters that are each common but rarely meet (a label and a
//! status that almost never go together); the walk then reads the whole stream, and the
//! label-first plan would sort all the label's matches — no index of the shared schema can
//! answer that intersection in O(page).

use super::rows::run_from_row;
use crate::model::{Run, Status};
use crate::store::columns::RUN_COLUMNS;
use crate::store::{rules, ListFilter, Param, Plan, Query};
use anyhow::Result;

use rusqlite::{Connection, OptionalExtension};

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(match self {
            Param::Text(text) => rusqlite::types::ToSqlOutput::from(text.as_str()),
            Param::Integer(n) => rusqlite::types::ToSqlOutput::from(*n),
        })
    }
}

/// Chooses the strategy and builds the statements.
pub fn plan(conn: &Connection, f: &ListFilter) -> Result<Plan> {
    // Saturating: `--limit`/`--offset` near u64::MAX must not wrap to a negative LIMIT.
    let page = i64::try_from(f.limit.saturating_add(f.offset)).unwrap_or(i64::MAX);
    if !f.labels.is_empty() {
        let runs: i64 = conn
            .prepare_cached("SELECT coalesce(max(rowid), 0) FROM durably_runs")?
            .query_row([], |r| r.get(0))?;
        let cap = rules::label_first_cap(page, runs);
        let mut counted = Vec::with_capacity(f.labels.len());
        let mut count_stmt = conn.prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM durably_run_labels WHERE key = ?1 AND value = ?2 LIMIT ?3)",
        )?;
        for (i, (k, v)) in f.labels.iter().enumerate() {
            let n: i64 = count_stmt.query_row(rusqlite::params![k, v, cap + 1], |r| r.get(0))?;
            counted.push((n, i));
        }
        let (n, driver) = counted.into_iter().min().expect("labels is not empty");
        if n <= cap {
            return Ok(Plan {
                strategy: "label-first",
                queries: vec![label_first(f, driver, page)],
                note: format!(
                    "driving label {}={} matches {n} runs (cap {cap})",
                    f.labels[driver].0, f.labels[driver].1
                ),
                keys_only: false,
            });
        }
        if let Some(plan) = deep_labels(conn, f, cap, page)? {
            return Ok(plan);
        }
    }
    let queries = index_streams(f, page);
    Ok(Plan {
        strategy: "index-streams",
        keys_only: queries.len() > 1,
        queries,
        note: String::new(),
    })
}

/// How much dearer one match is for label-first (label row, run lookup, sort) than one run
/// for the index walk (one index step and one label-index probe).
const LABEL_FIRST_COST: i64 = 3;

/// Every label matches more than the cap. Returns a label-first plan when the matches of one
/// label are fewer than the runs an index walk would read before reaching any match.
fn deep_labels(conn: &Connection, f: &ListFilter, cap: i64, page: i64) -> Result<Option<Plan>> {
    // The walk reaches no match before the oldest of the labels' newest matches.
    let mut newest_match: Option<(String, String)> = None;
    let mut newest_stmt = conn.prepare_cached(
        "SELECT r.created_at, r.id FROM durably_run_labels AS l CROSS JOIN durably_runs AS r \
         WHERE l.key = ?1 AND l.value = ?2 AND r.id = l.run_id ORDER BY l.rowid DESC LIMIT 1",
    )?;
    for (k, v) in &f.labels {
        let newest: Option<(String, String)> = newest_stmt
            .query_row([k, v], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some(newest) = newest else {
            return Ok(None);
        };
        if newest_match.as_ref().is_none_or(|m| newest < *m) {
            newest_match = Some(newest);
        }
    }
    let Some(from) = newest_match else {
        return Ok(None);
    };
    let newer_query = newer_runs_query(f, &from);
    let count = |q: &Query, limit: i64| -> Result<i64> {
        let mut params = q.params.clone();
        params.push(Param::Integer(limit));
        Ok(conn
            .prepare_cached(&q.sql)?
            .query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))?)
    };
    if count(&newer_query, cap)? < cap {
        return Ok(None);
    }
    let mut count_labels = conn.prepare_cached(
        "SELECT count(*) FROM (SELECT 1 FROM durably_run_labels WHERE key = ?1 AND value = ?2 LIMIT ?3)",
    )?;
    let mut limit = cap;
    loop {
        limit = limit.saturating_mul(4);
        let mut fewest = (i64::MAX, 0);
        for (i, (k, v)) in f.labels.iter().enumerate() {
            let n: i64 = count_labels.query_row(rusqlite::params![k, v, limit], |r| r.get(0))?;
            fewest = fewest.min((n, i));
        }
        let (matches, driver) = fewest;
        if matches < limit {
            // The matches are counted exactly; count the passed runs just far enough to
            // know which plan is cheaper.
            let bound = matches.saturating_mul(LABEL_FIRST_COST).saturating_add(1);
            let newer = count(&newer_query, bound)?;
            if newer < bound {
                return Ok(None);
            }
            let (k, v) = &f.labels[driver];
            return Ok(Some(Plan {
                strategy: "label-first-deep",
                queries: vec![label_first(f, driver, page)],
                note: format!(
                    "driving label {k}={v} matches {matches} runs; an index walk would first pass at least {newer} newer runs"
                ),
                keys_only: false,
            }));
        }
        if count(&newer_query, limit)? < limit {
            // Fewer passed runs than matches: the walk is cheaper.
            return Ok(None);
        }
    }
}

/// Counts (up to a last parameter) the runs an index walk passes before `from`: newer than it,
/// older than `--before`, in the walked statuses and jobs.
fn newer_runs_query(f: &ListFilter, from: &(String, String)) -> Query {
    let mut params: Vec<Param> = vec![Param::Text(from.0.clone()), Param::Text(from.1.clone())];
    let mut sql = String::from(
        "SELECT count(*) FROM (SELECT 1 FROM durably_runs WHERE (created_at, id) > (?1, ?2)",
    );
    if let Some((created, id)) = &f.before {
        params.push(Param::Text(created.clone()));
        params.push(Param::Text(id.clone()));
        sql.push_str(" AND (created_at, id) < (?3, ?4)");
    }
    if !f.statuses.is_empty() {
        let marks = in_list(
            &mut params,
            f.statuses.iter().map(|s| s.as_str().to_string()),
        );
        sql.push_str(&format!(" AND status IN ({marks})"));
    }
    if !f.jobs.is_empty() {
        let marks = in_list(&mut params, f.jobs.iter().cloned());
        sql.push_str(&format!(" AND job_name IN ({marks})"));
    }
    sql.push_str(&format!(" LIMIT ?{})", params.len() + 1));
    Query { sql, params }
}

/// Runs the plan: at most `limit` runs after skipping `offset`, newest first.
pub fn list(conn: &Connection, f: &ListFilter) -> Result<Vec<Run>> {
    let plan = plan(conn, f)?;
    if plan.keys_only {
        let mut keys: Vec<(String, String)> = Vec::new();
        for q in &plan.queries {
            let mut stmt = conn.prepare_cached(&q.sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(q.params.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            for r in rows {
                keys.push(r?);
            }
        }
        keys.sort_by(|a, b| b.cmp(a));
        let mut runs = Vec::new();
        for (_, id) in keys
            .into_iter()
            .skip(f.offset as usize)
            .take(f.limit as usize)
        {
            // Same read transaction as the keys (cmd::ls): the row is there.
            if let Some(run) = super::rows::get_run(conn, &id)? {
                runs.push(run);
            }
        }
        return Ok(runs);
    }
    let mut runs: Vec<Run> = Vec::new();
    for q in &plan.queries {
        let mut stmt = conn.prepare_cached(&q.sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(q.params.iter()), run_from_row)?;
        for r in rows {
            runs.push(r?);
        }
    }
    if plan.queries.len() > 1 {
        runs.sort_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
    }
    Ok(runs
        .into_iter()
        .skip(f.offset as usize)
        .take(f.limit as usize)
        .collect())
}

/// `EXPLAIN QUERY PLAN` of every statement of the plan, for `ls --explain` and the tests.
pub fn explain(conn: &Connection, f: &ListFilter) -> Result<(Plan, Vec<Vec<String>>)> {
    let plan = plan(conn, f)?;
    let mut out = Vec::new();
    for q in &plan.queries {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", q.sql))?;
        let lines = stmt
            .query_map(rusqlite::params_from_iter(q.params.iter()), |r| {
                r.get::<_, String>(3)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.push(lines);
    }
    Ok((plan, out))
}

fn index_streams(f: &ListFilter, page: i64) -> Vec<Query> {
    // Every status when only jobs are given: the job index is (job, status, created_at, id).
    let statuses: Vec<Option<Status>> = match (f.statuses.is_empty(), f.jobs.is_empty()) {
        (true, true) => vec![None],
        (true, false) => Status::ALL.iter().copied().map(Some).collect(),
        (false, _) => dedup(f.statuses.clone()).into_iter().map(Some).collect(),
    };
    let jobs: Vec<Option<&String>> = if f.jobs.is_empty() {
        vec![None]
    } else {
        let mut j: Vec<&String> = f.jobs.iter().collect();
        j.sort();
        j.dedup();
        j.into_iter().map(Some).collect()
    };
    // Several streams are merged on their keys alone (covering index reads); one stream
    // reads its page's rows directly.
    let columns = if jobs.len() * statuses.len() > 1 {
        "created_at, id"
    } else {
        RUN_COLUMNS
    };
    let mut queries = Vec::new();
    for job in &jobs {
        for status in &statuses {
            let mut sql = format!("SELECT {columns} FROM durably_runs WHERE 1");
            let mut params: Vec<Param> = Vec::new();
            if let Some(j) = job {
                params.push(Param::Text((*j).clone()));
                sql.push_str(&format!(" AND job_name = ?{}", params.len()));
            }
            if let Some(s) = status {
                params.push(Param::Text(s.as_str().into()));
                sql.push_str(&format!(" AND status = ?{}", params.len()));
            }
            push_common(&mut sql, &mut params, f, "durably_runs", None, page);
            queries.push(Query { sql, params });
        }
    }
    queries
}

fn label_first(f: &ListFilter, driver: usize, page: i64) -> Query {
    let cols: String = RUN_COLUMNS
        .split(", ")
        .map(|c| format!("r.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (k, v) = &f.labels[driver];
    let mut params: Vec<Param> = vec![Param::Text(k.clone()), Param::Text(v.clone())];
    // CROSS JOIN keeps the label rows as the outer loop. The inner query sorts only the
    // (created_at, id) keys of the matches; whole rows are read for the page alone.
    let mut inner = String::from(
        "SELECT m.id FROM durably_run_labels AS l CROSS JOIN durably_runs AS m \
         WHERE l.key = ?1 AND l.value = ?2 AND m.id = l.run_id",
    );
    if !f.statuses.is_empty() {
        let marks = in_list(
            &mut params,
            f.statuses.iter().map(|s| s.as_str().to_string()),
        );
        inner.push_str(&format!(" AND m.status IN ({marks})"));
    }
    if !f.jobs.is_empty() {
        let marks = in_list(&mut params, f.jobs.iter().cloned());
        inner.push_str(&format!(" AND m.job_name IN ({marks})"));
    }
    push_common(&mut inner, &mut params, f, "m", Some(driver), page);
    let sql = format!(
        "SELECT {cols} FROM durably_runs AS r WHERE r.id IN ({inner}) \
         ORDER BY r.created_at DESC, r.id DESC"
    );
    Query { sql, params }
}

/// Adds the `--before` cursor, the label checks (all but `skip`), the order and the limit.
fn push_common(
    sql: &mut String,
    params: &mut Vec<Param>,
    f: &ListFilter,
    table: &str,
    skip: Option<usize>,
    page: i64,
) {
    if let Some((created, id)) = &f.before {
        params.push(Param::Text(created.clone()));
        params.push(Param::Text(id.clone()));
        let (a, b) = (params.len() - 1, params.len());
        sql.push_str(&format!(
            " AND ({table}.created_at, {table}.id) < (?{a}, ?{b})"
        ));
    }
    for (i, (k, v)) in f.labels.iter().enumerate() {
        if Some(i) == skip {
            continue;
        }
        params.push(Param::Text(k.clone()));
        params.push(Param::Text(v.clone()));
        let (a, b) = (params.len() - 1, params.len());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM durably_run_labels AS x WHERE x.run_id = {table}.id AND x.key = ?{a} AND x.value = ?{b})"
        ));
    }
    params.push(Param::Integer(page));
    sql.push_str(&format!(
        " ORDER BY {table}.created_at DESC, {table}.id DESC LIMIT ?{}",
        params.len()
    ));
}

fn in_list(params: &mut Vec<Param>, items: impl Iterator<Item = String>) -> String {
    let mut marks = Vec::new();
    for item in items {
        params.push(Param::Text(item));
        marks.push(format!("?{}", params.len()));
    }
    marks.join(", ")
}

fn dedup(mut s: Vec<Status>) -> Vec<Status> {
    s.sort_by_key(|x| x.as_str());
    s.dedup();
    s
}
