//! `durably stats [--json]`

use super::Context;
use crate::cli::JsonArgs;
use crate::error::ExitCode;
use crate::model::Status;
use crate::output::escape;
use crate::store::Access;
use anyhow::Result;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;

pub fn run(ctx: &Context, args: JsonArgs) -> Result<ExitCode> {
    let store = ctx.open(Access::Read)?;
    // One statement, stepped to its end before anything is printed: no read is open while
    // output waits on a slow pipe.
    let rows = store.counts()?;
    let mut by_status: BTreeMap<String, i64> = Status::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), 0))
        .collect();
    let mut by_job: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut total = 0;
    for (status, job, n) in &rows {
        *by_status.entry(status.clone()).or_default() += n;
        *by_job
            .entry(job.clone())
            .or_default()
            .entry(status.clone())
            .or_default() += n;
        total += n;
    }
    let mut out = crate::output::stdout();
    if args.json {
        let jobs: Map<String, Value> = by_job.iter().map(|(j, m)| (j.clone(), json!(m))).collect();
        crate::output::json_pretty(
            &mut out,
            &json!({"total": total, "byStatus": by_status, "byJob": jobs}),
        )?;
    } else {
        text_table(&mut out, &by_status, &by_job, total)?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// The counts for people: a row per job and an `all` row, a column per status (lifecycle order,
/// then any status another writer used) and a `total` column. Job names and statuses are
/// escaped (see [`escape`]).
fn text_table(
    out: &mut impl Write,
    by_status: &BTreeMap<String, i64>,
    by_job: &BTreeMap<String, BTreeMap<String, i64>>,
    total: i64,
) -> std::io::Result<()> {
    let mut statuses: Vec<&String> = Status::ALL
        .iter()
        .filter_map(|s| by_status.get_key_value(s.as_str()).map(|(k, _)| k))
        .collect();
    statuses.extend(
        by_status
            .keys()
            .filter(|k| !Status::ALL.iter().any(|s| s.as_str() == k.as_str())),
    );
    let shown: Vec<Cow<str>> = statuses.iter().map(|s| escape(s)).collect();
    let mut headers = vec!["JOB"];
    headers.extend(shown.iter().map(|s| s.as_ref()));
    headers.push("total");
    let row = |name: String, counts: &BTreeMap<String, i64>, sum: i64| {
        let mut cells = vec![name];
        cells.extend(
            statuses
                .iter()
                .map(|s| counts.get(*s).copied().unwrap_or(0).to_string()),
        );
        cells.push(sum.to_string());
        cells
    };
    let mut rows: Vec<Vec<String>> = by_job
        .iter()
        .map(|(job, m)| row(escape(job).into_owned(), m, m.values().sum()))
        .collect();
    rows.push(row("all".to_string(), by_status, total));
    crate::output::counts_table(out, &headers, rows)
}
