//! `durably show ID [--json]`

use super::Context;
use crate::cli::ShowArgs;
use crate::error::ExitCode;
use crate::model::held::HeldRun;
use crate::model::{Attempt, RunDetails};
use crate::output::escape;
use crate::store::{Access, Store};
use anyhow::Result;
use serde_json::{json, Value};
use std::io::Write;

pub fn run(ctx: &Context, args: ShowArgs) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Read)?;
    if let Some(held) = store.find_held(&args.id)? {
        return show_held(&held, args.json);
    }
    // The run, its steps and its logs from one snapshot; the read ends before printing, so a
    // stalled pager never holds a lock (rollback journal) or pins the WAL.
    let (run, steps, logs) = store.run_details(&args.id)?;
    let chain = retry_chain(&mut store, &run.id)?;
    let mut out = crate::output::stdout();
    if args.json {
        let details = RunDetails {
            run: &run,
            steps: &steps,
            logs: &logs,
        };
        let mut value = serde_json::to_value(&details)?;
        if let (Some(chain), Value::Object(map)) = (&chain, &mut value) {
            for (k, v) in chain.json_links() {
                map.insert(k.to_string(), v);
            }
        }
        crate::output::json_pretty(&mut out, &value)?;
    } else {
        crate::output::run_details(&mut out, &run, &steps, &logs)?;
        if let Some(chain) = &chain {
            chain.print(&mut out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// A held run: its fields, then when it is due or what it waits on; JSON: the run with
/// `"held"` (see [`HeldRun::to_json`]) and no steps or logs.
fn show_held(held: &HeldRun, json: bool) -> Result<ExitCode> {
    let mut out = crate::output::stdout();
    if json {
        let mut v = held.to_json();
        v["steps"] = serde_json::json!([]);
        v["logs"] = serde_json::json!([]);
        crate::output::json_pretty(&mut out, &v)?;
    } else {
        crate::output::run_details(&mut out, &held.run, &[], &[])?;
        let (name, value) = match &held.due_at {
            Some(at) => ("due", crate::time::local_text(at)),
            None if held.after_any => ("after any", held.after.join(", ")),
            None => ("after", held.after.join(", ")),
        };
        writeln!(out, "{name:<18}{}", crate::output::escape(&value))?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// The retry chain a run belongs to (`enqueue --retries`), each attempt with its status.
struct Chain {
    run_id: String,
    attempts: Vec<(Attempt, String)>,
}

/// The chain of `run_id` (None: not enqueued with retries), read after the run's snapshot;
/// an attempt not in `durably_runs` is a successor still held for its backoff.
fn retry_chain(store: &mut Store, run_id: &str) -> Result<Option<Chain>> {
    let attempts = store.attempts(run_id)?;
    if attempts.is_empty() {
        return Ok(None);
    }
    let mut with_status = Vec::with_capacity(attempts.len());
    for a in attempts {
        let status = match store.run(&a.run_id)? {
            Some(r) => r.status.as_str().to_string(),
            None => "held".to_string(),
        };
        with_status.push((a, status));
    }
    Ok(Some(Chain {
        run_id: run_id.to_string(),
        attempts: with_status,
    }))
}

impl Chain {
    fn this(&self) -> Option<&Attempt> {
        self.attempts
            .iter()
            .map(|(a, _)| a)
            .find(|a| a.run_id == self.run_id)
    }

    /// `attempt`, `maxAttempts`, `previousRunId`, `nextRunId`, `firstRunId`, `attempts`.
    fn json_links(&self) -> Vec<(&'static str, Value)> {
        let Some(this) = self.this() else {
            return Vec::new();
        };
        let next = self
            .attempts
            .iter()
            .find(|(a, _)| a.previous_run_id.as_deref() == Some(this.run_id.as_str()))
            .map(|(a, _)| a.run_id.clone());
        let all: Vec<Value> = self
            .attempts
            .iter()
            .map(|(a, s)| json!({"attempt": a.attempt, "runId": a.run_id, "status": s}))
            .collect();
        vec![
            ("attempt", json!(this.attempt)),
            ("maxAttempts", json!(this.policy.max_attempts)),
            ("previousRunId", json!(this.previous_run_id)),
            ("nextRunId", json!(next)),
            ("firstRunId", json!(this.first_run_id)),
            ("attempts", Value::Array(all)),
        ]
    }

    /// `attempts` and one line per attempt, this run's marked.
    fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let max = self.this().map_or(0, |a| a.policy.max_attempts);
        writeln!(out, "\nattempts (at most {max})")?;
        for (a, status) in &self.attempts {
            let mark = if a.run_id == self.run_id {
                "  <- this run"
            } else {
                ""
            };
            writeln!(
                out,
                "{:>3}  {}  {}{mark}",
                a.attempt,
                escape(&a.run_id),
                escape(status)
            )?;
        }
        Ok(())
    }
}
