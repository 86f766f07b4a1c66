//! The library's event objects, built from what the database shows. An [`Event`] keeps the
//! whole object the library's emitter sends to `/subscribe` (with `timestamp` and `sequence`)
//! and projects the fields `/runs/subscribe` sends for its type (`server.ts`,
//! `createRunsSSEStream`).

use crate::model::{Run, Step};
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// The events after which the library closes a `/subscribe` stream.
pub const TERMINAL: [&str; 4] = ["run:complete", "run:fail", "run:cancel", "run:delete"];

/// The emitter's sequence: one count per server, as the library's per instance.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// One event about one run.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: &'static str,
    pub run_id: String,
    pub job_name: String,
    /// The run's labels, for `/runs/subscribe`'s filter.
    pub labels: Map<String, Value>,
    /// The emitter's object, as `/subscribe` sends it.
    pub full: Value,
}

impl Event {
    /// Whether the library ends a run's `/subscribe` stream after it.
    pub fn is_terminal(&self) -> bool {
        TERMINAL.contains(&self.kind)
    }

    /// The object `/runs/subscribe` sends: the fields the library copies for this type.
    pub fn projected(&self) -> Value {
        let fields: &[&str] = match self.kind {
            "run:progress" => &["type", "runId", "jobName", "progress", "labels"],
            "step:start" | "step:complete" | "step:cancel" => &[
                "type",
                "runId",
                "jobName",
                "stepName",
                "stepIndex",
                "labels",
            ],
            "step:fail" => &[
                "type",
                "runId",
                "jobName",
                "stepName",
                "stepIndex",
                "error",
                "labels",
            ],
            "log:write" => &[
                "type", "runId", "jobName", "labels", "stepName", "level", "message", "data",
            ],
            _ => &["type", "runId", "jobName", "labels"],
        };
        let mut out = Map::new();
        for f in fields {
            // JSON.stringify drops undefined fields; a field we never set is dropped the same.
            if let Some(v) = self.full.get(*f) {
                out.insert((*f).to_string(), v.clone());
            }
        }
        Value::Object(out)
    }
}

/// The run's labels as stored (an object; anything else reads as `{}`).
pub fn labels_of(run: &Run) -> Map<String, Value> {
    match run.to_json().get("labels") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

/// An event of `kind` about `run` with `fields` after `runId` and `jobName`, then `labels`,
/// `timestamp` and `sequence` (the emitter's additions). `sequence` 0 is what the library's
/// `subscribe` gives the events it makes from the stored state.
pub fn event(kind: &'static str, run: &Run, fields: Vec<(&str, Value)>, initial: bool) -> Event {
    let labels = labels_of(run);
    let mut full = Map::new();
    full.insert("type".into(), Value::from(kind));
    full.insert("runId".into(), Value::from(run.id.clone()));
    full.insert("jobName".into(), Value::from(run.job_name.clone()));
    for (k, v) in fields {
        full.insert(k.to_string(), v);
    }
    full.insert("labels".into(), Value::Object(labels.clone()));
    full.insert("timestamp".into(), Value::from(crate::time::now()));
    let sequence = if initial {
        0
    } else {
        SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1
    };
    full.insert("sequence".into(), Value::from(sequence));
    Event {
        kind,
        run_id: run.id.clone(),
        job_name: run.job_name.clone(),
        labels,
        full: Value::Object(full),
    }
}

/// A field of the run's JSON (the library's `Run`), `null` when absent.
fn field(run: &Run, name: &str) -> Value {
    run.to_json().get(name).cloned().unwrap_or(Value::Null)
}

pub fn trigger(run: &Run) -> Event {
    event(
        "run:trigger",
        run,
        vec![("input", field(run, "input"))],
        false,
    )
}

pub fn leased(run: &Run, initial: bool) -> Event {
    let owner = run.lease_owner.clone().unwrap_or_default();
    let expires = run.lease_expires_at.clone().unwrap_or_default();
    let fields = vec![
        ("input", field(run, "input")),
        ("leaseOwner", Value::from(owner)),
        ("leaseExpiresAt", Value::from(expires)),
    ];
    event("run:leased", run, fields, initial)
}

pub fn progress(run: &Run, initial: bool) -> Event {
    event(
        "run:progress",
        run,
        vec![("progress", field(run, "progress"))],
        initial,
    )
}

/// `run:complete`; the duration from the run's start to its end (the library measures its
/// execution), 0 when unknown as in the library's replay of a stored state.
pub fn complete(run: &Run, initial: bool) -> Event {
    let duration = match (
        run.started_at.as_deref().and_then(crate::time::parse_ms),
        run.completed_at.as_deref().and_then(crate::time::parse_ms),
    ) {
        (Some(a), Some(b)) if !initial && b >= a => b - a,
        _ => 0,
    };
    let fields = vec![
        ("output", field(run, "output")),
        ("duration", Value::from(duration)),
    ];
    event("run:complete", run, fields, initial)
}

/// `run:fail`; `failed_step` the name of the run's failed step ("" when replayed from the
/// stored state, as the library does).
pub fn fail(run: &Run, failed_step: &str, initial: bool) -> Event {
    let error = run.error.clone().unwrap_or_else(|| "Unknown error".into());
    let fields = vec![
        ("error", Value::from(error)),
        ("failedStepName", Value::from(failed_step)),
    ];
    event("run:fail", run, fields, initial)
}

pub fn cancel(run: &Run, initial: bool) -> Event {
    event("run:cancel", run, Vec::new(), initial)
}

pub fn delete(run: &Run) -> Event {
    event("run:delete", run, Vec::new(), false)
}

/// The events of a step row seen for the first time: `step:start`, then its end.
pub fn step(run: &Run, step: &Step) -> Vec<Event> {
    let base = || {
        vec![
            ("stepName", Value::from(step.name.clone())),
            ("stepIndex", Value::from(step.index)),
        ]
    };
    let mut out = vec![event("step:start", run, base(), false)];
    match step.status.as_str() {
        "completed" => {
            let duration = match (
                crate::time::parse_ms(&step.started_at),
                step.completed_at.as_deref().and_then(crate::time::parse_ms),
            ) {
                (Some(a), Some(b)) if b >= a => b - a,
                _ => 0,
            };
            let mut f = base();
            f.push((
                "output",
                step.to_json().get("output").cloned().unwrap_or(Value::Null),
            ));
            f.push(("duration", Value::from(duration)));
            out.push(event("step:complete", run, f, false));
        }
        "failed" => {
            let mut f = vec![("error", Value::from(step.error.clone().unwrap_or_default()))];
            f.extend(base());
            out.push(event("step:fail", run, f, false));
        }
        "cancelled" => out.push(event("step:cancel", run, base(), false)),
        _ => {}
    }
    out
}

/// `log:write` of a stored log line.
pub fn log(run: &Run, log: &crate::model::Log) -> Event {
    let data = log.to_json().get("data").cloned().unwrap_or(Value::Null);
    let fields = vec![
        (
            "stepName",
            log.step_name.clone().map_or(Value::Null, Value::from),
        ),
        ("level", Value::from(log.level.clone())),
        ("message", Value::from(log.message.clone())),
        ("data", data),
    ];
    event("log:write", run, fields, false)
}
