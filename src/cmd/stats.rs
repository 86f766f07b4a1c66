//! `durably stats [--json]`

use super::Context;
use crate::cli::JsonArgs;
use crate::db::Access;
use crate::error::ExitCode;
use crate::model::Status;
use crate::output::escape;
use crate::store;
use anyhow::Result;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;

pub fn run(ctx: &Context, args: JsonArgs) -> Result<ExitCode> {
    let conn = ctx.open(Access::Read)?;
    // One statement, stepped to its end before anything is printed: no read is open while
    // output waits on a slow pipe.
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
        // Columns as wide as their widest cell, two spaces apart: fits 80 columns for job
        // names up to ~20 characters, and never misaligns on a longer one. Job names and
        // statuses are escaped (see output::escape) before their widths are measured.
        // Lifecycle order, then any status another writer may have used.
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
        let jobs: Vec<Cow<str>> = by_job.keys().map(|j| escape(j)).collect();
        let job_width = jobs
            .iter()
            .map(|j| j.chars().count())
            .chain([3])
            .max()
            .unwrap_or(3);
        let width = |header: &str, n: i64| header.chars().count().max(n.to_string().len());
        let widths: Vec<usize> = statuses
            .iter()
            .zip(&shown)
            .map(|(s, name)| width(name, by_status[*s]))
            .collect();
        let total_width = width("total", total);
        write!(out, "{:<job_width$}", "JOB")?;
        for (s, w) in shown.iter().zip(&widths) {
            write!(out, "  {s:>w$}")?;
        }
        writeln!(out, "  {:>total_width$}", "total")?;
        for ((_, m), job) in by_job.iter().zip(&jobs) {
            write!(out, "{job:<job_width$}")?;
            for (s, w) in statuses.iter().zip(&widths) {
                write!(out, "  {:>w$}", m.get(*s).copied().unwrap_or(0))?;
            }
            writeln!(out, "  {:>total_width$}", m.values().sum::<i64>())?;
        }
        write!(out, "{:<job_width$}", "all")?;
        for (s, w) in statuses.iter().zip(&widths) {
            write!(out, "  {:>w$}", by_status[*s])?;
        }
        writeln!(out, "  {total:>total_width$}")?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}
