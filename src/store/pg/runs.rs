//! Reading runs, steps and logs on PostgreSQL, and the writes of `cancel`, `rm` and `purge`.
//! Ids are compared byte-wise (`COLLATE "C"`, served by `idx_durably_runs_id_c`) as on SQLite,
//! whatever the database's collation.

use super::rows::{log_from_row, run_from_row, step_from_row};
use super::typed::{p, texts};
use crate::model::{Log, Run, Step};
use crate::store::columns::{LOG_COLUMNS, RUN_COLUMNS, STEP_COLUMNS};
use crate::store::handles::{self, TAIL_MIN};
use crate::store::rules::{self, LABEL_FIRST_MAX_CAP, LABEL_FIRST_MIN_CAP};
use crate::store::{reads, Jobs, ListFilter, Param, Pending, Plan, PurgeFilter, Query};
use anyhow::Result;
use postgres::GenericClient;

/// The run with exactly this id.
pub fn get_run(c: &mut impl GenericClient, id: &str) -> Result<Option<Run>> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM durably_runs WHERE id = $1");
    c.query_typed_opt(&sql, &[p(&id)])?
        .map(|r| run_from_row(&r))
        .transpose()
}

/// Ids starting with a prefix, byte-wise (one range seek on `idx_durably_runs_id_c`): `$1` the
/// prefix, `$2` the prefix followed by U+10FFFF, `$3` an id to leave out, `$4` the limit.
pub const PREFIX_SQL: &str = "SELECT id FROM durably_runs WHERE id COLLATE \"C\" >= $1 \
     AND id COLLATE \"C\" < $2 AND id <> $3 LIMIT $4";
/// Ids ending with a tail, case-insensitively: `$1` its last 8 characters in lower case (the
/// key of `idx_durably_runs_id_tail`, the same expression so the planner seeks it), `$2` its
/// length, `$3` the tail in lower case, `$4` an id to leave out, `$5` the limit.
pub const TAIL_SQL: &str = "SELECT id FROM durably_runs \
     WHERE lower(right(id, 8) COLLATE \"C\") = $1 \
     AND lower(right(id, $2) COLLATE \"C\") = $3 AND id <> $4 LIMIT $5";
/// The ids whose last 8 characters, in lower case, are among `$1` (an array of keys).
pub const SAME_TAIL_SQL: &str =
    "SELECT id FROM durably_runs WHERE lower(right(id, 8) COLLATE \"C\") = ANY($1)";

/// For each range of ids, whether a run other than the one left out has its id in it.
const RANGES_TAKEN_SQL: &str = include_str!("../../../sql/postgres/handles_ranges_taken.sql");

/// The index seeks of handles on PostgreSQL, in the caller's transaction.
struct Ids<'a, C>(&'a mut C);

impl<C: GenericClient> handles::IdLookup for Ids<'_, C> {
    fn exact(&mut self, id: &str) -> Result<Option<String>> {
        let row = self
            .0
            .query_typed_opt("SELECT id FROM durably_runs WHERE id = $1", &[p(&id)])?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Byte-wise, one range seek on `idx_durably_runs_id_c`.
    fn in_range(&mut self, from: &str, to: &str, except: &str, limit: i64) -> Result<Vec<String>> {
        let rows = self
            .0
            .query_typed(PREFIX_SQL, &[p(&from), p(&to), p(&except), p(&limit)])?;
        Ok(rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    /// A seek of the tail index on the last 8 characters (the same expression).
    fn with_tail(&mut self, lower: &str, except: &str, limit: i64) -> Result<Vec<String>> {
        let key = &lower[lower.len() - TAIL_MIN..];
        let len = i32::try_from(lower.len()).unwrap_or(i32::MAX);
        let rows = self.0.query_typed(
            TAIL_SQL,
            &[p(&key), p(&len), p(&lower), p(&except), p(&limit)],
        )?;
        Ok(rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    /// Seeks on `idx_durably_runs_id_tail`.
    fn sharing_tails(&mut self, keys: &[String]) -> Result<Vec<String>> {
        let rows = self.0.query_typed(SAME_TAIL_SQL, &[p(&keys)])?;
        Ok(rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    /// Every range in one statement (sql/postgres/handles_ranges_taken.sql): one round trip
    /// for a page's short handles, where a seek each cost one.
    fn ranges_taken(&mut self, ranges: &[handles::IdRange]) -> Result<Vec<bool>> {
        let from: Vec<&str> = ranges.iter().map(|r| r.from.as_str()).collect();
        let to: Vec<&str> = ranges.iter().map(|r| r.to.as_str()).collect();
        let except: Vec<&str> = ranges.iter().map(|r| r.except.as_str()).collect();
        let rows = self
            .0
            .query_typed(RANGES_TAKEN_SQL, &[p(&from), p(&to), p(&except)])?;
        let mut taken = vec![false; ranges.len()];
        for row in rows {
            let n: i64 = row.try_get(0)?;
            let slot = usize::try_from(n - 1)
                .ok()
                .and_then(|i| taken.get_mut(i))
                .ok_or_else(|| anyhow::anyhow!("range number {n} out of 1..={}", ranges.len()))?;
            *slot = true;
        }
        Ok(taken)
    }
}

/// Resolves a handle to the run's id ([`handles::resolve`]).
pub fn resolve_id(c: &mut impl GenericClient, given: &str) -> Result<String> {
    handles::resolve(&mut Ids(c), given)
}

/// Resolves and loads a run (not found when unknown).
pub fn find_run(c: &mut impl GenericClient, given: &str) -> Result<Run> {
    let id = resolve_id(c, given)?;
    get_run(c, &id)?.ok_or_else(|| handles::not_found(given))
}

/// The short handle of each of `ids`, as shown in tables ([`handles::unique_handles`]).
pub fn unique_handles(c: &mut impl GenericClient, ids: &[String]) -> Result<Vec<String>> {
    handles::unique_handles(&mut Ids(c), ids)
}

pub fn steps_of(c: &mut impl GenericClient, run_id: &str) -> Result<Vec<Step>> {
    let sql = format!(
        "SELECT {STEP_COLUMNS} FROM durably_steps WHERE run_id = $1 ORDER BY \"index\", started_at"
    );
    c.query_typed(&sql, &[p(&run_id)])?
        .iter()
        .map(step_from_row)
        .collect()
}

/// The run's logs in creation order after `after` (created_at, id), at most `limit`.
pub fn logs_of(
    c: &mut impl GenericClient,
    run_id: &str,
    after: Option<(&str, &str)>,
    limit: Option<u64>,
) -> Result<Vec<Log>> {
    let (created, id) = after.unwrap_or(("", ""));
    let limit = match limit {
        Some(l) => format!(" LIMIT {}", l.min(i64::MAX as u64)),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {LOG_COLUMNS} FROM durably_logs WHERE run_id = $1 \
         AND (created_at, id COLLATE \"C\") > ($2, $3) \
         ORDER BY created_at, id COLLATE \"C\"{limit}"
    );
    c.query_typed(&sql, &[p(&run_id), p(&created), p(&id)])?
        .iter()
        .map(log_from_row)
        .collect()
}

/// How a page of runs is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// One ordered index range per (status, job), read newest first, each label probed per run
    /// on `idx_durably_run_labels_pk`; the ranges are merged by the server (Merge Append).
    IndexStreams,
    /// Start from the rows of label `driver` on `idx_durably_run_labels_key_value` (at most the
    /// cap), look each run up by id, sort the matches and keep the page.
    LabelFirst { driver: usize },
}

/// The strategy of `f` and a note saying why: label-first when the rarest label filter matches
/// at most the cap (counted on `idx_durably_run_labels_key_value`, stopping there). Parallel
/// plans are off in the read transaction (the caller's begin, `SET LOCAL`; here again with
/// labels): a page reads tens to a few thousand index entries, less than starting workers
/// costs, and a Gather Merge over a parallel index walk reads ahead of the page in every
/// worker. No round trip without labels, one with.
pub fn choose(c: &mut impl GenericClient, f: &ListFilter) -> Result<(Strategy, String)> {
    if f.labels.is_empty() {
        return Ok((Strategy::IndexStreams, String::new()));
    }
    let page = f.limit.saturating_add(f.offset) as f64;
    // The bound from the planner's row count (no scan; -1 before the table's first VACUUM or
    // ANALYZE, then the smallest bound), and each label's matches counted up to it.
    let mut params = vec![p(&page)];
    let mut counts = Vec::new();
    for (k, v) in &f.labels {
        params.push(p(k));
        params.push(p(v));
        counts.push(format!(
            "(SELECT count(*) FROM (SELECT 1 FROM durably_run_labels WHERE key = ${} AND value = ${} \
             LIMIT (SELECT cap FROM c) + 1) AS m)",
            params.len() - 1,
            params.len()
        ));
    }
    let sql = format!(
        "WITH c AS (SELECT least(greatest(sqrt(greatest($1::float8, 1) * greatest(reltuples, 1)), \
         {LABEL_FIRST_MIN_CAP}), {LABEL_FIRST_MAX_CAP})::bigint AS cap FROM pg_class WHERE oid = 'durably_runs'::regclass) \
         SELECT cap, ARRAY[{}]::bigint[], set_config('max_parallel_workers_per_gather', '0', true) FROM c",
        counts.join(", ")
    );
    let row = c.query_typed_one(&sql, &params)?;
    let cap: i64 = row.try_get(0)?;
    let counted: Vec<i64> = row.try_get(1)?;
    let (n, driver) = counted
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, i))
        .min()
        .unwrap_or((i64::MAX, 0));
    let (k, v) = &f.labels[driver];
    if n <= cap {
        Ok((
            Strategy::LabelFirst { driver },
            format!("driving label {k}={v} matches {n} runs (cap {cap})"),
        ))
    } else {
        Ok((
            Strategy::IndexStreams,
            format!("rarest label {k}={v} matches more than the cap {cap}: index walk"),
        ))
    }
}

/// A label check as a scalar subquery on `idx_durably_run_labels_pk` ((run_id, key) is unique,
/// so it returns true or NULL). PostgreSQL runs it per row as a SubPlan, where an EXISTS would
/// become a join that the planner may answer by hashing every match of the label.
fn label_probe(table: &str, key: &str, value: &str) -> String {
    format!(
        " AND (SELECT true FROM durably_run_labels AS l WHERE l.run_id = {table}.id AND l.key = {key} AND l.value = {value})"
    )
}

/// The statement of a page of runs, newest first, keyset `(created_at, id) < before`:
/// - [`Strategy::IndexStreams`]: the status and job filters as one ordered index range per
///   (status, job) pair, each cut at a page and merged by the planner (Merge Append), each label
///   probed per run (`label_probe`). Cost: page × streams ÷ the labels' selectivity.
/// - [`Strategy::LabelFirst`]: the driving label's rows, each run looked up by id in a LATERAL
///   subquery (OFFSET 0 keeps it a per-row lookup, never a hash join with a scan of the runs),
///   filtered, and the page kept by a top-N sort. Cost: the label's matches, at most the cap.
pub fn list_query(f: &ListFilter, strategy: &Strategy) -> (String, Vec<String>) {
    let mut params: Vec<String> = Vec::new();
    let mut statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
    statuses.sort();
    statuses.dedup();
    let mut jobs: Vec<&str> = f.jobs.iter().map(String::as_str).collect();
    jobs.sort();
    jobs.dedup();
    let sql = match strategy {
        Strategy::LabelFirst { driver } => {
            label_first_query(f, *driver, &statuses, &jobs, &mut params)
        }
        Strategy::IndexStreams => index_streams_query(f, &statuses, &jobs, &mut params),
    };
    (sql, params)
}

/// `$n` for a new parameter `v`.
fn mark(params: &mut Vec<String>, v: &str) -> String {
    params.push(v.to_string());
    format!("${}", params.len())
}

/// [`Strategy::LabelFirst`]: the statement of [`list_query`] driven by label `driver`.
fn label_first_query(
    f: &ListFilter,
    driver: usize,
    statuses: &[&str],
    jobs: &[&str],
    params: &mut Vec<String>,
) -> String {
    let (limit, offset) = (f.limit.min(i64::MAX as u64), f.offset.min(i64::MAX as u64));
    let (k, v) = &f.labels[driver];
    let (a, b) = (mark(params, k), mark(params, v));
    let mut cond = String::from("r.id = d.run_id");
    if !statuses.is_empty() {
        let marks: Vec<String> = statuses.iter().map(|s| mark(params, s)).collect();
        cond.push_str(&format!(" AND r.status IN ({})", marks.join(", ")));
    }
    if !jobs.is_empty() {
        let marks: Vec<String> = jobs.iter().map(|j| mark(params, j)).collect();
        cond.push_str(&format!(" AND r.job_name IN ({})", marks.join(", ")));
    }
    if let Some((created, id)) = &f.before {
        let (c1, c2) = (mark(params, created), mark(params, id));
        cond.push_str(&format!(
            " AND (r.created_at, r.id COLLATE \"C\") < ({c1}, {c2})"
        ));
    }
    for (i, (k, v)) in f.labels.iter().enumerate() {
        if i != driver {
            let (c1, c2) = (mark(params, k), mark(params, v));
            cond.push_str(&label_probe("r", &c1, &c2));
        }
    }
    format!(
        "SELECT r.* FROM durably_run_labels AS d CROSS JOIN LATERAL \
         (SELECT {RUN_COLUMNS} FROM durably_runs AS r WHERE {cond} OFFSET 0) AS r \
         WHERE d.key = {a} AND d.value = {b} \
         ORDER BY r.created_at DESC, r.id COLLATE \"C\" DESC LIMIT {limit} OFFSET {offset}"
    )
}

/// Each of `given`, or None (any) when none is given.
fn each_or_any<'a>(given: &[&'a str]) -> Vec<Option<&'a str>> {
    if given.is_empty() {
        vec![None]
    } else {
        given.iter().copied().map(Some).collect()
    }
}

/// [`Strategy::IndexStreams`]: the statement of [`list_query`], one stream per (job, status)
/// pair (one stream when neither is filtered).
fn index_streams_query(
    f: &ListFilter,
    statuses: &[&str],
    jobs: &[&str],
    params: &mut Vec<String>,
) -> String {
    let page = f.limit.saturating_add(f.offset).min(i64::MAX as u64);
    let (limit, offset) = (f.limit.min(i64::MAX as u64), f.offset.min(i64::MAX as u64));
    let mut common = String::new();
    if let Some((created, id)) = &f.before {
        let (a, b) = (mark(params, created), mark(params, id));
        common.push_str(&format!(" AND (created_at, id COLLATE \"C\") < ({a}, {b})"));
    }
    for (k, v) in &f.labels {
        let (a, b) = (mark(params, k), mark(params, v));
        common.push_str(&label_probe("r", &a, &b));
    }
    let order = "ORDER BY created_at DESC, id COLLATE \"C\" DESC";
    let mut streams = Vec::new();
    for job in each_or_any(jobs) {
        for status in each_or_any(statuses) {
            let mut cond = String::from("TRUE");
            if let Some(j) = job {
                cond.push_str(&format!(" AND job_name = {}", mark(params, j)));
            }
            if let Some(s) = status {
                cond.push_str(&format!(" AND status = {}", mark(params, s)));
            }
            streams.push(format!(
                "SELECT {RUN_COLUMNS} FROM durably_runs AS r WHERE {cond}{common} {order} LIMIT {page}"
            ));
        }
    }
    if streams.len() == 1 {
        // One stream: its own LIMIT is the page's.
        let one = streams.remove(0);
        let cut = one.rfind(" LIMIT ").unwrap_or(one.len());
        return format!("{} LIMIT {limit} OFFSET {offset}", &one[..cut]);
    }
    format!(
        "SELECT * FROM ({}) AS r {order} LIMIT {limit} OFFSET {offset}",
        streams
            .iter()
            .map(|s| format!("({s})"))
            .collect::<Vec<_>>()
            .join(" UNION ALL "),
    )
}

pub fn list(c: &mut impl GenericClient, f: &ListFilter) -> Result<Vec<Run>> {
    let (strategy, _) = choose(c, f)?;
    let (sql, params) = list_query(f, &strategy);
    c.query_typed(&sql, &texts(&params))?
        .iter()
        .map(run_from_row)
        .collect()
}

/// The statements of [`reads`] in the caller's read transaction.
pub struct Reads<'a, C>(pub &'a mut C);

impl<C: GenericClient> reads::Snapshot for Reads<'_, C> {
    fn run(&mut self, id: &str) -> Result<Option<Run>> {
        get_run(self.0, id)
    }

    fn find_run(&mut self, given: &str) -> Result<Run> {
        find_run(self.0, given)
    }

    fn steps_of(&mut self, run_id: &str) -> Result<Vec<Step>> {
        steps_of(self.0, run_id)
    }

    fn logs_of(
        &mut self,
        run_id: &str,
        after: Option<(&str, &str)>,
        limit: Option<u64>,
    ) -> Result<Vec<Log>> {
        logs_of(self.0, run_id, after, limit)
    }

    fn list(&mut self, filter: &ListFilter) -> Result<Vec<Run>> {
        list(self.0, filter)
    }

    fn count(&mut self, filter: &ListFilter, cap: u64) -> Result<u64> {
        count(self.0, filter, cap)
    }

    fn explain(&mut self, filter: &ListFilter) -> Result<(Plan, Vec<Vec<String>>)> {
        explain(self.0, filter)
    }

    fn unique_handles(&mut self, ids: &[String]) -> Result<Vec<String>> {
        unique_handles(self.0, ids)
    }
}

/// How many runs `f` matches (ignoring its limit and offset), counted up to `cap + 1`: the
/// page statement with a limit of `cap + 1`, wrapped in a count.
pub fn count(c: &mut impl GenericClient, f: &ListFilter, cap: u64) -> Result<u64> {
    let counting = ListFilter {
        limit: cap.saturating_add(1),
        offset: 0,
        ..f.clone()
    };
    let (strategy, _) = choose(c, &counting)?;
    let (sql, params) = list_query(&counting, &strategy);
    let row = c.query_typed_one(
        &format!("SELECT count(*) FROM ({sql}) AS page"),
        &texts(&params),
    )?;
    Ok(u64::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0))
}

/// `ls --explain`: the chosen strategy, its statement and PostgreSQL's EXPLAIN of it.
pub fn explain(c: &mut impl GenericClient, f: &ListFilter) -> Result<(Plan, Vec<Vec<String>>)> {
    let (strategy, note) = choose(c, f)?;
    let (sql, params) = list_query(f, &strategy);
    let lines = c
        .query_typed(&format!("EXPLAIN {sql}"), &texts(&params))?
        .iter()
        .map(|r| r.try_get::<_, String>(0).map_err(Into::into))
        .collect::<Result<Vec<String>>>()?;
    let plan = Plan {
        strategy: match strategy {
            Strategy::IndexStreams => "index-streams",
            Strategy::LabelFirst { .. } => "label-first",
        },
        queries: vec![Query {
            sql,
            params: params.into_iter().map(Param::Text).collect(),
        }],
        note,
        keys_only: false,
    };
    Ok((plan, vec![lines]))
}

/// Runs counted by (status, job).
pub fn counts(c: &mut impl GenericClient) -> Result<Vec<(String, String, i64)>> {
    c.query_typed(
        "SELECT status, job_name, count(*) FROM durably_runs GROUP BY status, job_name \
         ORDER BY job_name COLLATE \"C\", status COLLATE \"C\"",
        &[],
    )?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
    .collect()
}

/// Cancels a pending or leased run; false when it is not (any longer) cancellable.
pub fn cancel(c: &mut impl GenericClient, id: &str) -> Result<bool> {
    let n = c.execute_typed(
        include_str!("../../../sql/postgres/cancel_run.sql"),
        &[p(&id)],
    )?;
    Ok(n > 0)
}

/// Deletes a run with its labels, steps and logs, and (`ours`: our tables exist) our rows of
/// it.
pub fn delete_run(c: &mut impl GenericClient, id: &str, ours: bool) -> Result<()> {
    delete_runs(c, &[id.to_string()], ours)
}

/// Deletes runs with their labels, steps and logs (`delete_runs.sql`), and (`ours`) our rows
/// of them (`delete_ours.sql`: their attempt rows and give-back counts).
fn delete_runs(c: &mut impl GenericClient, ids: &[String], ours: bool) -> Result<()> {
    let theirs = include_str!("../../../sql/postgres/delete_runs.sql");
    let ours = if ours {
        include_str!("../../../sql/postgres/delete_ours.sql")
    } else {
        ""
    };
    for stmt in [theirs, ours]
        .into_iter()
        .flat_map(|sql| sql.split(';'))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        c.execute_typed(stmt, &[p(&ids)])?;
    }
    Ok(())
}

/// The purge's condition ([`rules::purge_condition`]) with PostgreSQL's marks, its cutoff
/// computed from the database's clock when the filter has an age (hosts whose clocks
/// disagree purge the same runs).
fn purge_where(c: &mut impl GenericClient, f: &PurgeFilter) -> Result<(String, Vec<String>)> {
    let Some(age) = f.age else {
        return Ok(rules::purge_condition(f, |n| format!("${n}")));
    };
    let ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    let cutoff: String = c
        .query_typed_one(
            include_str!("../../../sql/postgres/purge_cutoff.sql"),
            &[p(&ms)],
        )?
        .try_get(0)?;
    let f = PurgeFilter {
        cutoff,
        ..f.clone()
    };
    Ok(rules::purge_condition(&f, |n| format!("${n}")))
}

/// Counts what a purge would delete.
pub fn purge_count(c: &mut impl GenericClient, f: &PurgeFilter) -> Result<u64> {
    let (cond, params) = purge_where(c, f)?;
    let sql = format!("SELECT count(*) FROM durably_runs WHERE {cond}");
    let n: i64 = c.query_typed_one(&sql, &texts(&params))?.try_get(0)?;
    Ok(n as u64)
}

/// Deletes at most `batch` matching runs with their labels, steps and logs; how many.
pub fn purge_batch(
    c: &mut impl GenericClient,
    f: &PurgeFilter,
    batch: u64,
    ours: bool,
) -> Result<u64> {
    let (cond, params) = purge_where(c, f)?;
    let sql = format!(
        "SELECT id FROM durably_runs WHERE {cond} LIMIT {}",
        batch.min(i64::MAX as u64)
    );
    let ids: Vec<String> = c
        .query_typed(&sql, &texts(&params))?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Ok(0);
    }
    delete_runs(c, &ids, ours)?;
    Ok(ids.len() as u64)
}

/// Pending runs of `jobs` by the database's clock, and how many of them wait for a
/// concurrency key: another run holds it with an unexpired lease (the claim's own guard,
/// [`rules::key_held_by_live_lease`]), or
/// another session holds the key's advisory lock (a claim in flight, or a stuck session the
/// claim skips). A worker's closing note.
pub fn pending_for(c: &mut impl GenericClient, jobs: &Jobs) -> Result<Pending> {
    let names: Option<Vec<&str>> = match jobs {
        Jobs::All => None,
        Jobs::Only(list) if list.is_empty() => return Ok(Default::default()),
        Jobs::Only(list) => Some(list.iter().map(String::as_str).collect()),
    };
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        include_str!("../../../sql/postgres/pending_for.sql").replace(
            "{key_held_by_live_lease}",
            &rules::key_held_by_live_lease("p", "clock.now"),
        )
    });
    let row = c.query_typed_one(sql.as_str(), &[p(&names)])?;
    let (total, blocked): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    Ok(Pending {
        total: total.max(0) as u64,
        blocked: blocked.max(0) as u64,
    })
}
