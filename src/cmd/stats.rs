//! `durably stats [--json]`

use super::Context;
use crate::cli::JsonArgs;
use crate::db::Access;
use crate::model::Status;
use crate::store;
use anyhow::Result;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;

pub fn run(ctx: &Context, args: JsonArgs) -> Result<i32> {
    let conn = ctx.open(Access::Read)?;
    let rows = store::admin::stats(&conn)?;
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
        let statuses: Vec<&String> = by_status.keys().collect();
        write!(out, "{:<24}", "JOB")?;
        for s in &statuses {
            write!(out, "{s:>10}")?;
        }
        writeln!(out, "{:>10}", "total")?;
        for (job, m) in &by_job {
            write!(out, "{job:<24}")?;
            for s in &statuses {
                write!(out, "{:>10}", m.get(*s).copied().unwrap_or(0))?;
            }
            writeln!(out, "{:>10}", m.values().sum::<i64>())?;
        }
        write!(out, "{:<24}", "all")?;
        for s in &statuses {
            write!(out, "{:>10}", by_status[*s])?;
        }
        writeln!(out, "{total:>10}")?;
    }
    out.flush()?;
    Ok(0)
}
