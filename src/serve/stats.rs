//! `GET /stats`, our route for the dashboard (the library has none): counts by status, the job
//! names, completed and failed runs per minute over the last hour (off the library's
//! `(status, completed_at)` index) and the server's time. Counting every run is a scan of an
//! index, so one answer serves every caller for [`FRESH`].

use super::pool::Pool;
use crate::model::Status;
use anyhow::Result;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one answer is reused.
pub const FRESH: Duration = Duration::from_millis(1000);

#[derive(Default)]
pub struct Cache(Mutex<Option<(Instant, Value)>>);

impl Cache {
    pub async fn get(&self, pool: &Pool) -> Result<Value> {
        if let Some((at, v)) = self.0.lock().ok().and_then(|c| c.clone()) {
            if at.elapsed() < FRESH {
                return Ok(v);
            }
        }
        let value = pool.call(read).await?;
        if let Ok(mut c) = self.0.lock() {
            *c = Some((Instant::now(), value.clone()));
        }
        Ok(value)
    }
}

/// One read of the counts and the last hour's completions.
fn read(store: &mut crate::store::Store) -> Result<Value> {
    let now_ms = crate::time::now_ms();
    let this_minute = now_ms - now_ms.rem_euclid(60_000);
    let first = this_minute - 59 * 60_000;
    let since = crate::time::format_ms(first);
    let per_minute = store.completions_per_minute(&since)?;
    let rows = store.counts()?;
    let mut counts: Map<String, Value> = Map::new();
    for s in Status::ALL {
        counts.insert(s.as_str().into(), json!(0));
    }
    let mut jobs = BTreeSet::new();
    for (status, job, n) in rows {
        if let Some(Value::Number(c)) = counts.get(&status) {
            let sum = c.as_i64().unwrap_or(0) + n;
            counts.insert(status, json!(sum));
        }
        jobs.insert(job);
    }
    let mut minutes: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (minute, status, n) in per_minute {
        let e = minutes.entry(minute).or_default();
        match status.as_str() {
            "completed" => e.0 += n,
            "failed" => e.1 += n,
            _ => {}
        }
    }
    let series: Vec<Value> = (0..60)
        .map(|i| {
            let at = crate::time::format_ms(first + i * 60_000);
            let (completed, failed) = minutes.get(&at[..16]).copied().unwrap_or((0, 0));
            json!({"minute": at, "completed": completed, "failed": failed})
        })
        .collect();
    Ok(json!({
        "counts": counts,
        "jobs": jobs.into_iter().collect::<Vec<_>>(),
        "perMinute": series,
        "now": crate::time::format_ms(now_ms),
    }))
}
