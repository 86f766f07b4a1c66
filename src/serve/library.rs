//! The library's routes (`server.ts` of @coji/durably 0.15.0), with its shapes, status codes
//! and error texts: `GET /runs`, `GET /run`, `GET /steps`, `GET /subscribe`,
//! `GET /runs/subscribe`, `POST /trigger`, `POST /retrigger`, `POST /cancel`, `DELETE /run`.
//! A run is looked up by its exact id, as the library does (no handles). Where the CLI differs
//! (no job registry; 400 where the library's unchecked input gives 500; a page of at most
//! [`MAX_PAGE`] runs), the README's "durably serve" section says so.

use super::events::{self, Event};
use super::http::{self, error, json};
use super::sse::{self, Decision, RunsFilter};
use super::{JobGate, State};
use crate::error::StoreError;
use crate::model::{Run, RunSpec, SpecOverrides, Status};
use crate::store::{ListFilter, Store};
use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The most runs one `GET /runs` answers (the library: all of them when no limit is given).
pub const MAX_PAGE: u64 = 1000;

/// The events the library's `subscribe(runId)` passes on (not `run:trigger`,
/// `run:coalesced` or `step:cancel`).
const SUBSCRIBED: [&str; 10] = [
    "run:leased",
    "run:complete",
    "run:fail",
    "run:cancel",
    "run:delete",
    "run:progress",
    "step:start",
    "step:complete",
    "step:fail",
    "log:write",
];

const STATUSES: &str = "pending, leased, completed, failed, cancelled";

/// A request refused before any store call: its status and error text.
type Refusal = (StatusCode, String);

fn refuse((status, message): Refusal) -> Response<Body> {
    error(status, &message)
}

/// An answer decided inside a store call: a body, or an error status and text.
type Answer = Result<Value, (StatusCode, String)>;

/// The library's client run (`toClientRun`): the run without its keys, lease and `updatedAt`,
/// with `isTerminal` and `isActive`.
pub fn client_run(run: &Run) -> Value {
    let mut v = run.to_json();
    if let Value::Object(m) = &mut v {
        for k in [
            "idempotencyKey",
            "concurrencyKey",
            "leaseOwner",
            "leaseExpiresAt",
            "leaseGeneration",
            "updatedAt",
        ] {
            m.shift_remove(k);
        }
        let status = run.status.as_str();
        let terminal = matches!(status, "completed" | "failed" | "cancelled");
        m.insert("isTerminal".into(), Value::Bool(terminal));
        m.insert(
            "isActive".into(),
            Value::Bool(matches!(status, "pending" | "leased")),
        );
    }
    v
}

/// A store error as the library would answer it: its typed refusals by their status, anything
/// else 500 with the (password-free) message.
pub fn failure(err: &anyhow::Error) -> Response<Body> {
    let typed = err.chain().find_map(|c| c.downcast_ref::<StoreError>());
    match typed {
        Some(StoreError::NotFound(_)) => error(StatusCode::NOT_FOUND, "Run not found"),
        Some(StoreError::Conflict(m)) => error(StatusCode::CONFLICT, m),
        Some(StoreError::Invalid(m)) => error(StatusCode::BAD_REQUEST, m),
        None => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{err:#}")),
    }
}

/// The answer of a store call that decided its own answer.
fn answered(result: anyhow::Result<Answer>) -> Response<Body> {
    match result {
        Ok(Ok(v)) => json(StatusCode::OK, &v),
        Ok(Err((status, message))) => error(status, &message),
        Err(e) => failure(&e),
    }
}

/// `runId`, or the library's 400.
fn run_id(q: &[(String, String)]) -> Result<String, Refusal> {
    match http::first(q, "runId") {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err((
            StatusCode::BAD_REQUEST,
            "runId query parameter is required".to_string(),
        )),
    }
}

/// `label.KEY=VALUE` parameters (a later one of a key wins, as object assignment does).
fn label_params(q: &[(String, String)]) -> Result<Vec<(String, String)>, Refusal> {
    let mut labels: Vec<(String, String)> = Vec::new();
    for (k, v) in q {
        let Some(key) = k.strip_prefix("label.") else {
            continue;
        };
        let valid = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        if !valid {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("Invalid label key \"{key}\": must contain only alphanumeric characters, dashes, underscores, dots, and slashes"),
            ));
        }
        crate::model::merge_label(&mut labels, key.to_string(), v.clone());
    }
    Ok(labels)
}

/// `GET /runs`'s filter, checked in the library's order: statuses, limit, offset, labels.
fn run_filter(q: &[(String, String)]) -> Result<ListFilter, Refusal> {
    let mut statuses = Vec::new();
    for s in http::all(q, "status") {
        if s.is_empty() {
            let m = format!("Invalid status: empty value. Must be one of: {STATUSES}");
            return Err((StatusCode::BAD_REQUEST, m));
        }
        match Status::ALL.into_iter().find(|st| st.as_str() == s) {
            Some(st) => statuses.push(st),
            None => {
                let m = format!("Invalid status: {s}. Must be one of: {STATUSES}");
                return Err((StatusCode::BAD_REQUEST, m));
            }
        }
    }
    let number = |name: &str, what: &str| -> Result<Option<u64>, Refusal> {
        match http::first(q, name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => match http::js_parse_int(v) {
                Some(n) if n >= 0 => Ok(Some(n as u64)),
                _ => Err((
                    StatusCode::BAD_REQUEST,
                    format!("Invalid {what}: must be a non-negative integer"),
                )),
            },
        }
    };
    let limit = number("limit", "limit")?;
    let offset = number("offset", "offset")?;
    Ok(ListFilter {
        labels: label_params(q)?,
        statuses,
        jobs: http::all(q, "jobName")
            .into_iter()
            .map(String::from)
            .collect(),
        before: None,
        limit: limit.unwrap_or(MAX_PAGE).min(MAX_PAGE),
        offset: offset.unwrap_or(0),
    })
}

pub async fn runs(state: &Arc<State>, q: &[(String, String)]) -> Response<Body> {
    let filter = match run_filter(q) {
        Ok(f) => f,
        Err(e) => return refuse(e),
    };
    if filter.limit == 0 {
        return json(StatusCode::OK, &json!([]));
    }
    let result = state
        .pool
        .call(move |s| Ok(s.list_page(None, filter, false)?.0))
        .await;
    match result {
        Ok(runs) => json(
            StatusCode::OK,
            &Value::Array(runs.iter().map(client_run).collect()),
        ),
        Err(e) => failure(&e),
    }
}

/// The run with exactly this id, or the library's 404.
fn exact(s: &mut Store, id: &str) -> anyhow::Result<Result<Run, (StatusCode, String)>> {
    Ok(s.run(id)?
        .ok_or((StatusCode::NOT_FOUND, "Run not found".to_string())))
}

/// A read route about one run (`GET /run`, `/steps`, `/logs`): 400 without `runId`, 404
/// `Run not found` for an unknown id, else `answer` of the run, in one store call.
async fn of_run(
    state: &Arc<State>,
    q: &[(String, String)],
    answer: impl FnOnce(&mut Store, Run) -> anyhow::Result<Value> + Send + 'static,
) -> Response<Body> {
    let id = match run_id(q) {
        Ok(id) => id,
        Err(e) => return refuse(e),
    };
    let result = state
        .pool
        .call(move |s| match exact(s, &id)? {
            Ok(run) => answer(s, run).map(Ok),
            Err(e) => Ok(Err(e)),
        })
        .await;
    answered(result)
}

pub async fn run(state: &Arc<State>, q: &[(String, String)]) -> Response<Body> {
    of_run(state, q, |_, run| Ok(client_run(&run))).await
}

pub async fn steps(state: &Arc<State>, q: &[(String, String)]) -> Response<Body> {
    of_run(state, q, |s, run| {
        Ok(Value::Array(
            s.steps(&run.id)?.iter().map(|st| st.to_json()).collect(),
        ))
    })
    .await
}

/// How many stored log lines `GET /logs` answers at most (the oldest first; `durably logs ID`
/// prints them all).
pub const LOGS_LIMIT: u64 = 1000;

/// `GET /logs?runId=` (ours, for the dashboard's run page): the run's stored logs as the
/// library's `Log` objects, oldest first, at most [`LOGS_LIMIT`]; 400 without `runId`, 404 for
/// an unknown run, as `/steps`.
pub async fn logs(state: &Arc<State>, q: &[(String, String)]) -> Response<Body> {
    of_run(state, q, |s, run| {
        let (_, logs) = s.logs_page(&run.id, None, LOGS_LIMIT)?;
        Ok(Value::Array(logs.iter().map(|l| l.to_json()).collect()))
    })
    .await
}

/// The events the library's `subscribe` makes from a run's stored state, and whether the
/// stream ends after them (a terminal run).
fn stored_state(run: &Run) -> (Vec<Value>, bool) {
    match run.status.as_str() {
        "leased" => {
            let mut first = vec![events::leased(run, true).full];
            if run.progress.is_some() {
                first.push(events::progress(run, true).full);
            }
            (first, false)
        }
        "completed" => (vec![events::complete(run, true).full], true),
        "failed" => (vec![events::fail(run, "", true).full], true),
        "cancelled" => (vec![events::cancel(run, true).full], true),
        _ => (Vec::new(), false),
    }
}

pub async fn subscribe(state: &Arc<State>, q: &[(String, String)]) -> Response<Body> {
    let id = match run_id(q) {
        Ok(id) => id,
        Err(e) => return refuse(e),
    };
    // Listen before reading: nothing between the read and the first event is missed.
    let watch = state.feed.watch(&id);
    let events = state.feed.subscribe();
    let read_id = id.clone();
    let run = match state.pool.call(move |s| exact(s, &read_id)).await {
        Ok(Ok(run)) => run,
        Ok(Err((status, m))) => return error(status, &m),
        Err(e) => return failure(&e),
    };
    let (first, ended) = stored_state(&run);
    sse::stream(
        first,
        ended,
        events,
        state.shutdown.clone(),
        watch,
        move |e: &Event| {
            if e.run_id != id || !SUBSCRIBED.contains(&e.kind) {
                Decision::Skip
            } else if e.is_terminal() {
                Decision::Last(e.full.clone())
            } else {
                Decision::Send(e.full.clone())
            }
        },
    )
}

pub fn runs_subscribe(state: &Arc<State>, q: &[(String, String)]) -> Response<Body> {
    let labels = match label_params(q) {
        Ok(l) => l,
        Err(e) => return refuse(e),
    };
    let filter = RunsFilter {
        jobs: http::all(q, "jobName")
            .into_iter()
            .map(String::from)
            .collect(),
        labels,
    };
    let events = state.feed.subscribe();
    sse::stream(
        Vec::new(),
        false,
        events,
        state.shutdown.clone(),
        (),
        move |e: &Event| {
            if filter.matches(e) {
                Decision::Send(e.projected())
            } else {
                Decision::Skip
            }
        },
    )
}

/// Whether `/trigger` and `/retrigger` accept this job name.
fn job_accepted(gate: &JobGate, job: &str) -> bool {
    match gate {
        JobGate::Any => true,
        JobGate::Only(has_handler) => has_handler(job),
    }
}

pub async fn trigger(state: &Arc<State>, body: Body) -> Response<Body> {
    let bytes = match axum::body::to_bytes(body, super::guard::MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
    };
    let spec = match trigger_spec(&state.config.jobs, &bytes) {
        Ok(spec) => spec,
        Err((status, m)) => return error(status, &m),
    };
    let result = state
        .pool
        .call(move |s| match s.enqueue(&spec) {
            Ok((run, disposition)) => Ok(Ok(
                json!({"runId": run.id, "disposition": disposition.as_str()}),
            )),
            Err(e) if is_conflict(&e) => {
                let key = spec.concurrency_key.clone().unwrap_or_default();
                Ok(Err((StatusCode::CONFLICT, format!(
                    "A pending run already exists for concurrency key \"{key}\" in job \"{}\". Use coalesce: 'skip' to return the existing run instead.",
                    spec.job
                ))))
            }
            Err(e) => Err(e),
        })
        .await;
    answered(result)
}

fn is_conflict(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<StoreError>(),
            Some(StoreError::Conflict(_))
        )
    })
}

/// The run spec of a `/trigger` body, checked in the library's order: `jobName`, the job,
/// `coalesce`; then the spec's own checks (labels are strings, no NUL in names and keys).
fn trigger_spec(gate: &JobGate, bytes: &[u8]) -> Result<RunSpec, (StatusCode, String)> {
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let body: Map<String, Value> = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(bad("jobName is required".into())),
        Err(e) => return Err(bad(format!("Invalid JSON body: {e}"))),
    };
    let job = match body.get("jobName") {
        None | Some(Value::Null) => return Err(bad("jobName is required".into())),
        Some(Value::String(s)) if s.is_empty() => return Err(bad("jobName is required".into())),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(bad("jobName must be a string".into())),
    };
    if !job_accepted(gate, &job) {
        return Err((StatusCode::NOT_FOUND, format!("Job not found: {job}")));
    }
    let key = |name: &str| match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("{name} must be a string"))),
    };
    let idempotency_key = key("idempotencyKey")?;
    let concurrency_key = key("concurrencyKey")?;
    let coalesce = match body.get("coalesce") {
        None => false,
        Some(Value::String(s)) if s == "skip" => true,
        Some(other) => {
            let shown = match other {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            return Err(bad(format!(
                "Invalid coalesce value: '{shown}'. Valid values: 'skip'"
            )));
        }
    };
    if coalesce && concurrency_key.as_deref().is_none_or(str::is_empty) {
        return Err(bad("coalesce requires concurrencyKey".into()));
    }
    let mut spec = Map::new();
    spec.insert("job".into(), Value::from(job));
    if let Some(input) = body.get("input") {
        spec.insert("input".into(), input.clone());
    }
    if let Some(labels) = body.get("labels").filter(|l| !l.is_null()) {
        spec.insert("labels".into(), labels.clone());
    }
    let text = Value::Object(spec).to_string();
    let flags = SpecOverrides {
        idempotency_key,
        concurrency_key,
        coalesce,
        ..SpecOverrides::default()
    };
    let spec = RunSpec::parse(&text, &flags).map_err(|e| bad(format!("{e:#}")))?;
    crate::model::validate_labels(&spec.labels).map_err(|e| bad(format!("{e:#}")))?;
    Ok(spec)
}

pub async fn retrigger(state: &Arc<State>, q: &[(String, String)]) -> Response<Body> {
    let id = match run_id(q) {
        Ok(id) => id,
        Err(e) => return refuse(e),
    };
    let st = state.clone();
    let result = state
        .pool
        .call(move |s| {
            let run = match exact(s, &id)? {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            let status = run.status.as_str();
            if matches!(status, "pending" | "leased") {
                let m = format!("Cannot retrigger {status} run: {id}");
                return Ok(Err((StatusCode::CONFLICT, m)));
            }
            if !job_accepted(&st.config.jobs, &run.job_name) {
                let m = format!("Unknown job: {}", run.job_name);
                return Ok(Err((StatusCode::NOT_FOUND, m)));
            }
            let next = s.retrigger(&id)?;
            Ok(Ok(json!({"success": true, "runId": next.id})))
        })
        .await;
    answered(result)
}

pub async fn cancel(state: &Arc<State>, q: &[(String, String)]) -> Response<Body> {
    let id = match run_id(q) {
        Ok(id) => id,
        Err(e) => return refuse(e),
    };
    let result = state
        .pool
        .call(move |s| {
            let run = match exact(s, &id)? {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            let refused = match run.status.as_str() {
                "completed" => Some(format!("Cannot cancel completed run: {id}")),
                "failed" => Some(format!("Cannot cancel failed run: {id}")),
                "cancelled" => Some(format!("Cannot cancel already cancelled run: {id}")),
                _ => None,
            };
            if let Some(m) = refused {
                return Ok(Err((StatusCode::CONFLICT, m)));
            }
            match s.cancel(&id) {
                Ok(_) => Ok(Ok(json!({"success": true}))),
                Err(e) if is_conflict(&e) => {
                    let now = s.run(&id)?.map(|r| r.status.as_str().to_string());
                    let now = now.unwrap_or_else(|| "deleted".into());
                    let m = format!("Cannot cancel run {id}: status changed to {now}");
                    Ok(Err((StatusCode::CONFLICT, m)))
                }
                Err(e) => Err(e),
            }
        })
        .await;
    answered(result)
}

pub async fn delete(state: &Arc<State>, q: &[(String, String)]) -> Response<Body> {
    let id = match run_id(q) {
        Ok(id) => id,
        Err(e) => return refuse(e),
    };
    let result = state
        .pool
        .call(move |s| {
            let run = match exact(s, &id)? {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            let status = run.status.as_str();
            if matches!(status, "pending" | "leased") {
                let m = format!("Cannot delete {status} run: {id}");
                return Ok(Err((StatusCode::CONFLICT, m)));
            }
            s.delete(&id, false)?;
            Ok(Ok(run))
        })
        .await;
    match result {
        Ok(Ok(run)) => {
            state.feed.publish(events::delete(&run));
            json(StatusCode::OK, &json!({"success": true}))
        }
        Ok(Err((status, m))) => error(status, &m),
        Err(e) => failure(&e),
    }
}
