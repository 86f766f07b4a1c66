//! The rows: runs, steps and logs, their statuses, and their camelCase JSON shapes, which
//! follow @coji/durably's `Run`, `StepRecord` and `Log` types field for field, in that order.

use super::json::parse_stored;
use super::json::stored;
use super::labels::Labels;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// A run's status. Terminal: completed, failed, cancelled; nothing leaves a terminal status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Leased,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Leased,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
    ];
    pub const TERMINAL: [Status; 3] = [Status::Completed, Status::Failed, Status::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Leased => "leased",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        Self::TERMINAL.contains(&self)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("invalid status {s:?} (expected pending, leased, completed, failed or cancelled)")
            })
    }
}

/// The status column of a run as read. Another writer may store a status this version does
/// not know; such a row stays readable and its text is shown exactly as stored (`Other`).
/// [`RunStatus::known`] reads `Other` text case-insensitively, as [`Status`]'s parser does;
/// text that names none of the five is not terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    Known(Status),
    Other(String),
}

impl RunStatus {
    /// The status text exactly as stored.
    pub fn as_str(&self) -> &str {
        match self {
            RunStatus::Known(s) => s.as_str(),
            RunStatus::Other(text) => text,
        }
    }

    /// The status, when it is one of the five this version knows.
    pub fn known(&self) -> Option<Status> {
        match self {
            RunStatus::Known(s) => Some(*s),
            RunStatus::Other(text) => text.parse().ok(),
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.known().is_some_and(Status::is_terminal)
    }
}

impl From<String> for RunStatus {
    fn from(text: String) -> RunStatus {
        match Status::ALL.into_iter().find(|s| s.as_str() == text) {
            Some(s) => RunStatus::Known(s),
            None => RunStatus::Other(text),
        }
    }
}

impl From<&str> for RunStatus {
    fn from(text: &str) -> RunStatus {
        RunStatus::from(text.to_string())
    }
}

impl PartialEq<Status> for RunStatus {
    fn eq(&self, other: &Status) -> bool {
        self.known() == Some(*other)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RunStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How an enqueue was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    Created,
    Idempotent,
    Coalesced,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Created => "created",
            Disposition::Idempotent => "idempotent",
            Disposition::Coalesced => "coalesced",
        }
    }
}

/// A row of `durably_runs`, as stored; serialized as @coji/durably's `Run` object. The JSON
/// columns hold text and are shown by the lenient rules of [`super::json`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub id: String,
    pub job_name: String,
    pub status: RunStatus,
    #[serde(serialize_with = "stored::string")]
    pub input: String,
    #[serde(serialize_with = "stored::object")]
    pub labels: String,
    #[serde(serialize_with = "stored::null")]
    pub output: Option<String>,
    pub error: Option<String>,
    #[serde(serialize_with = "stored::null")]
    pub progress: Option<String>,
    pub idempotency_key: Option<String>,
    pub concurrency_key: Option<String>,
    pub current_step_index: i64,
    pub completed_step_count: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<String>,
    pub lease_generation: i64,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Run {
    /// A run as enqueued: pending, never leased, with `labels` as stored JSON text.
    pub fn pending(id: String, spec: &super::RunSpec, labels: String, now: String) -> Run {
        Run::new_pending(
            id,
            spec.job.clone(),
            spec.input.clone(),
            labels,
            spec.idempotency_key.clone(),
            spec.concurrency_key.clone(),
            now,
        )
    }

    /// A run as enqueued from its fields: pending, never leased, created and updated at `now`.
    pub fn new_pending(
        id: String,
        job_name: String,
        input: String,
        labels: String,
        idempotency_key: Option<String>,
        concurrency_key: Option<String>,
        now: String,
    ) -> Run {
        Run {
            id,
            job_name,
            input,
            status: "pending".into(),
            idempotency_key,
            concurrency_key,
            labels,
            current_step_index: 0,
            completed_step_count: 0,
            progress: None,
            output: None,
            error: None,
            lease_owner: None,
            lease_expires_at: None,
            lease_generation: 0,
            started_at: None,
            completed_at: None,
            created_at: now.clone(),
            updated_at: now,
        }
    }

    /// The status, when it is one of the five this version knows.
    pub fn status(&self) -> Option<Status> {
        self.status.known()
    }

    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }

    /// Labels as (key, value-as-text) pairs, tolerating non-string values written by others.
    pub fn label_pairs(&self) -> Labels {
        match parse_stored::<Map<String, Value>>(&self.labels) {
            Some(map) => map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect(),
            None => Vec::new(),
        }
    }

    /// The run as @coji/durably's `Run` object, for callers that add fields to it.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A row of `durably_steps`; serialized as @coji/durably's `StepRecord`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub id: String,
    pub run_id: String,
    pub name: String,
    pub index: i64,
    /// As stored: a step status another writer uses is shown as is.
    pub status: String,
    #[serde(serialize_with = "stored::null")]
    pub output: Option<String>,
    pub error: Option<String>,
    pub started_at: String,
    pub completed_at: Option<String>,
}

impl Step {
    /// The step as @coji/durably's `StepRecord`.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A row of `durably_logs`; serialized as @coji/durably's `Log`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Log {
    pub id: String,
    pub run_id: String,
    pub step_name: Option<String>,
    pub level: String,
    pub message: String,
    #[serde(serialize_with = "stored::null")]
    pub data: Option<String>,
    pub created_at: String,
}

impl Log {
    /// The log as @coji/durably's `Log`.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A run with its steps and logs: `show --json`.
#[derive(Serialize)]
pub struct RunDetails<'a> {
    #[serde(flatten)]
    pub run: &'a Run,
    pub steps: &'a [Step],
    pub logs: &'a [Log],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_statuses_stay_readable_and_not_terminal() {
        let s = RunStatus::from("paused".to_string());
        assert_eq!(s, RunStatus::Other("paused".into()));
        assert_eq!(s.as_str(), "paused");
        assert!(!s.is_terminal());
        assert_eq!(RunStatus::from("failed".to_string()), Status::Failed);
        let upper = RunStatus::from("FAILED".to_string());
        assert_eq!(upper.as_str(), "FAILED");
        assert_eq!(upper.known(), Some(Status::Failed));
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""paused""#);
    }
}
