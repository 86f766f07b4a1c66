//! The data of durably: runs, their statuses, labels, run specs, steps and logs, and their
//! camelCase JSON shapes, which follow @coji/durably's `Run`, `Step` and `Log` types.
//!
//! Rows the CLI did not write are parsed leniently: any JSON in `labels`, NULL or invalid JSON in
//! `output`, unknown step statuses. Text that is not JSON is shown as a JSON string.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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

pub const MAX_LABEL_KEY_BYTES: usize = 256;
pub const MAX_LABEL_VALUE_BYTES: usize = 4096;

/// Labels in the order they were given (the JSON column keeps that order, like the library).
pub type Labels = Vec<(String, String)>;

/// Checks a label key: `^[A-Za-z0-9._/-]+$`, at most 256 bytes.
pub fn validate_label_key(key: &str) -> Result<()> {
    if key.is_empty() {
        bail!("invalid label key \"\" (keys must not be empty)");
    }
    if key.len() > MAX_LABEL_KEY_BYTES {
        bail!(
            "invalid label key {:?}… ({} bytes; the limit is {MAX_LABEL_KEY_BYTES})",
            truncate(key, 32),
            key.len()
        );
    }
    validate_label_key_chars(key)
}

/// Checks a label key's characters only (`^[A-Za-z0-9._/-]+$`, the library's pattern).
fn validate_label_key_chars(key: &str) -> Result<()> {
    if key.is_empty() {
        bail!("invalid label key \"\" (keys must not be empty)");
    }
    if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')))
    {
        bail!(
            "invalid label key {:?} (character {bad:?} not allowed; use A-Z a-z 0-9 . _ / -)",
            truncate(key, 64)
        );
    }
    Ok(())
}

/// Checks a label value: at most 4 KiB.
pub fn validate_label_value(key: &str, value: &str) -> Result<()> {
    if value.len() > MAX_LABEL_VALUE_BYTES {
        bail!(
            "label {key:?} is too long ({} bytes; the limit is {MAX_LABEL_VALUE_BYTES})",
            value.len()
        );
    }
    Ok(())
}

/// Validates every label (keys and value lengths).
pub fn validate_labels(labels: &Labels) -> Result<()> {
    for (k, v) in labels {
        validate_label_key(k)?;
        validate_label_value(k, v)?;
    }
    Ok(())
}

/// Parses `KEY=VALUE` (split at the first `=`), validating key and value.
pub fn parse_label(text: &str) -> Result<(String, String)> {
    let Some((k, v)) = text.split_once('=') else {
        bail!(
            "invalid label {:?} (expected KEY=VALUE)",
            truncate(text, 64)
        );
    };
    validate_label_key(k)?;
    validate_label_value(k, v)?;
    Ok((k.to_string(), v.to_string()))
}

/// Parses a `KEY=VALUE` label *filter* (`ls`, `rm --older-than`): the key's characters are
/// checked like the library's `getRuns({labels})` does, but not the lengths, which only limit
/// what the CLI writes: runs the library wrote with longer labels can still be found.
pub fn parse_label_filter(text: &str) -> Result<(String, String)> {
    let Some((k, v)) = text.split_once('=') else {
        bail!(
            "invalid label {:?} (expected KEY=VALUE)",
            truncate(text, 64)
        );
    };
    validate_label_key_chars(k)?;
    Ok((k.to_string(), v.to_string()))
}

/// Sets `key` to `value`, replacing an earlier value in place (flags win over the spec).
pub fn merge_label(labels: &mut Labels, key: String, value: String) {
    match labels.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => labels.push((key, value)),
    }
}

/// The labels as the JSON object text stored in `durably_runs.labels`.
pub fn labels_json(labels: &Labels) -> String {
    let map: Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Value::Object(map).to_string()
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A run to enqueue, from a JSON spec and/or flags.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub job: String,
    /// The exact JSON text given (validated), `{}` by default.
    pub input: String,
    pub labels: Labels,
    pub idempotency_key: Option<String>,
    pub concurrency_key: Option<String>,
    pub coalesce: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSpec<'a> {
    #[serde(default)]
    job: Option<String>,
    /// `Some` for any JSON value given, `null` included (plain `Option` would turn an explicit
    /// `"input": null` into "absent" and store `{}` instead of the text given).
    #[serde(borrow, default, deserialize_with = "any_value_even_null")]
    input: Option<&'a RawValue>,
    #[serde(default)]
    labels: Option<Map<String, Value>>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    concurrency_key: Option<String>,
    #[serde(default)]
    coalesce: Option<String>,
}

/// Deserializes whatever JSON value is there, `null` included, as `Some`.
fn any_value_even_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue as Deserialize>::deserialize(d).map(Some)
}

/// The parts of a spec that flags may supply or override.
#[derive(Debug, Clone, Default)]
pub struct SpecDefaults {
    pub job: Option<String>,
    pub input: Option<String>,
    pub labels: Labels,
    pub idempotency_key: Option<String>,
    pub concurrency_key: Option<String>,
    pub coalesce: bool,
}

impl RunSpec {
    /// Parses one JSON run spec and applies the flags (`labels` merge, flags win).
    pub fn parse(text: &str, flags: &SpecDefaults) -> Result<RunSpec> {
        let trimmed = text.trim_start();
        if !trimmed.starts_with('{') {
            // Give a precise message for valid JSON that is not an object.
            let v: Value = serde_json::from_str(text)
                .map_err(|e| anyhow::anyhow!("malformed JSON: {}", json_error(&e, text)))?;
            bail!("a run spec must be a JSON object, not {}", json_kind(&v));
        }
        let raw: RawSpec = serde_json::from_str(text).map_err(|e| {
            if e.is_data() {
                anyhow::anyhow!("invalid run spec: {}", json_error(&e, text))
            } else {
                anyhow::anyhow!("malformed JSON: {}", json_error(&e, text))
            }
        })?;
        let mut labels = Labels::new();
        if let Some(map) = raw.labels {
            for (k, v) in map {
                match v {
                    Value::String(s) => labels.push((k, s)),
                    other => bail!("label {k:?} must be a string, not {}", json_kind(&other)),
                }
            }
        }
        let coalesce = match raw.coalesce.as_deref() {
            None => false,
            Some("skip") => true,
            Some(other) => bail!("invalid coalesce {other:?} (the only mode is \"skip\")"),
        };
        if let Some(input) = raw.input {
            check_depth(input.get(), "input")?;
        }
        let spec = RunSpec {
            job: raw.job.unwrap_or_default(),
            input: raw.input.map(|r| r.get().to_string()).unwrap_or_default(),
            labels,
            idempotency_key: raw.idempotency_key,
            concurrency_key: raw.concurrency_key,
            coalesce,
        };
        spec.with_flags(flags)
    }

    /// A spec from flags alone.
    pub fn from_flags(flags: &SpecDefaults) -> Result<RunSpec> {
        RunSpec::default().with_flags(flags)
    }

    fn with_flags(mut self, flags: &SpecDefaults) -> Result<RunSpec> {
        if let Some(job) = &flags.job {
            self.job = job.clone();
        }
        if let Some(input) = &flags.input {
            self.input = input.clone();
        }
        for (k, v) in &flags.labels {
            merge_label(&mut self.labels, k.clone(), v.clone());
        }
        if flags.idempotency_key.is_some() {
            self.idempotency_key = flags.idempotency_key.clone();
        }
        if flags.concurrency_key.is_some() {
            self.concurrency_key = flags.concurrency_key.clone();
        }
        self.coalesce |= flags.coalesce;
        if self.input.is_empty() {
            self.input = "{}".to_string();
        }
        if self.job.trim().is_empty() {
            bail!("missing job name (give \"job\" in the spec or --job NAME)");
        }
        if self.coalesce && self.concurrency_key.is_none() {
            return Err(crate::error::CodedError::usage(
                "coalesce needs a concurrency key (--concurrency-key or \"concurrencyKey\")",
            )
            .into());
        }
        Ok(self)
    }
}

/// Validates a JSON text given on the command line (`--input`, `--data`) and returns it as is.
pub fn validate_json(text: &str, what: &str) -> Result<String> {
    let raw = serde_json::from_str::<&RawValue>(text)
        .map(|r| r.get().to_string())
        .with_context(|| format!("{what} is not valid JSON"))?;
    check_depth(&raw, what)?;
    Ok(raw)
}

/// The deepest nesting of arrays and objects accepted in stored JSON. serde_json reads back at
/// most 127 levels (its recursion limit is 128), so deeper text would be stored but shown by
/// `show`/`ls --json` as a string; it is refused with a clear error instead.
pub const MAX_JSON_DEPTH: usize = 127;

/// Refuses (already validated) JSON text nested deeper than [`MAX_JSON_DEPTH`]. One pass over
/// the bytes, no recursion, so 100k `[` cost no stack.
pub fn check_depth(text: &str, what: &str) -> Result<()> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    bail!("{what} is nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays and objects)");
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// serde_json's message, with its position as "at column C" when the text is one line (an
/// NDJSON line already named by its line number; "line 1" there would contradict it).
fn json_error(e: &serde_json::Error, text: &str) -> String {
    printable(json_error_text(e, text))
}

fn json_error_text(e: &serde_json::Error, text: &str) -> String {
    let full = e.to_string();
    if e.line() == 0 || text.trim_end().contains('\n') {
        return full;
    }
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match full.strip_suffix(&suffix) {
        // The end of a one-line text needs no position (it may even be on "line 2").
        Some(message) if e.is_eof() => message.to_string(),
        Some(message) => format!("{message} at column {}", e.column()),
        None => full,
    }
}

/// serde quotes an unknown field name as given: a key holding `\n` or ESC (found by
/// tests/stress_fuzz.rs) put a line break or a terminal escape into the one-line error.
fn printable(text: String) -> String {
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A row of `durably_runs`, as stored.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub job_name: String,
    pub input: String,
    pub status: String,
    pub idempotency_key: Option<String>,
    pub concurrency_key: Option<String>,
    pub labels: String,
    pub current_step_index: i64,
    pub completed_step_count: i64,
    pub progress: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<String>,
    pub lease_generation: i64,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Columns in the order [`Run::from_row`] reads them.
pub const RUN_COLUMNS: &str = "id, job_name, input, status, idempotency_key, concurrency_key, \
labels, current_step_index, completed_step_count, progress, output, error, lease_owner, \
lease_expires_at, lease_generation, started_at, completed_at, created_at, updated_at";

impl Run {
    pub fn from_row(row: &rusqlite::Row) -> rusqlite::Result<Run> {
        Ok(Run {
            id: row.get(0)?,
            job_name: row.get(1)?,
            input: row.get(2)?,
            status: row.get(3)?,
            idempotency_key: row.get(4)?,
            concurrency_key: row.get(5)?,
            labels: row.get(6)?,
            current_step_index: row.get(7)?,
            completed_step_count: row.get(8)?,
            progress: row.get(9)?,
            output: row.get(10)?,
            error: row.get(11)?,
            lease_owner: row.get(12)?,
            lease_expires_at: row.get(13)?,
            lease_generation: row.get(14)?,
            started_at: row.get(15)?,
            completed_at: row.get(16)?,
            created_at: row.get(17)?,
            updated_at: row.get(18)?,
        })
    }

    pub fn status(&self) -> Option<Status> {
        self.status.parse().ok()
    }

    pub fn is_terminal(&self) -> bool {
        self.status().is_some_and(Status::is_terminal)
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

    /// The run as @coji/durably's `Run` object.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone().into());
        m.insert("jobName".into(), self.job_name.clone().into());
        m.insert("status".into(), self.status.clone().into());
        m.insert("input".into(), json_or_string(Some(&self.input)));
        m.insert("labels".into(), json_or_object(&self.labels));
        m.insert("output".into(), json_or_null(self.output.as_deref()));
        m.insert("error".into(), opt(&self.error));
        m.insert("progress".into(), json_or_null(self.progress.as_deref()));
        m.insert("idempotencyKey".into(), opt(&self.idempotency_key));
        m.insert("concurrencyKey".into(), opt(&self.concurrency_key));
        m.insert("currentStepIndex".into(), self.current_step_index.into());
        m.insert(
            "completedStepCount".into(),
            self.completed_step_count.into(),
        );
        m.insert("leaseOwner".into(), opt(&self.lease_owner));
        m.insert("leaseExpiresAt".into(), opt(&self.lease_expires_at));
        m.insert("leaseGeneration".into(), self.lease_generation.into());
        m.insert("startedAt".into(), opt(&self.started_at));
        m.insert("completedAt".into(), opt(&self.completed_at));
        m.insert("createdAt".into(), self.created_at.clone().into());
        m.insert("updatedAt".into(), self.updated_at.clone().into());
        Value::Object(m)
    }
}

fn opt(v: &Option<String>) -> Value {
    v.clone().map(Value::String).unwrap_or(Value::Null)
}

/// Parses stored JSON text; text that is not JSON becomes a JSON string. Uses serde_json's
/// arbitrary order-preserving map, so keys keep their order.
pub fn json_or_string(text: Option<&str>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => parse_stored(t).unwrap_or_else(|| Value::String(t.to_string())),
    }
}

/// Parses JSON text a row holds, also when JavaScript wrote a lone surrogate into it.
fn parse_stored<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&without_lone_surrogates(text)?).ok())
}

/// JSON text with each lone UTF-16 surrogate escape (`"\ud800"`, which JavaScript's
/// `JSON.stringify` writes for such strings and serde_json refuses) replaced by `\ufffd`, so the
/// value is shown as the string it is, with U+FFFD in place of the unpaired half. `None` when
/// there is none.
fn without_lone_surrogates(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let unit = |i: usize| -> Option<u16> {
        if b.get(i) == Some(&b'\\') && b.get(i + 1) == Some(&b'u') {
            u16::from_str_radix(text.get(i + 2..i + 6)?, 16).ok()
        } else {
            None
        }
    };
    let (mut out, mut last, mut i, mut changed) = (String::new(), 0, 0, false);
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        match unit(i) {
            // A proper pair: keep it.
            Some(0xD800..=0xDBFF) if matches!(unit(i + 6), Some(0xDC00..=0xDFFF)) => i += 12,
            Some(0xD800..=0xDFFF) => {
                out.push_str(&text[last..i]);
                out.push_str("\\ufffd");
                i += 6;
                last = i;
                changed = true;
            }
            // Any other escape: skip the backslash and the escaped character.
            _ => i += 2,
        }
    }
    changed.then(|| {
        out.push_str(&text[last..]);
        out
    })
}

/// Like the library's `row.output ? JSON.parse(row.output) : null`: empty or NULL is null.
pub fn json_or_null(text: Option<&str>) -> Value {
    match text {
        None | Some("") => Value::Null,
        other => json_or_string(other),
    }
}

fn json_or_object(text: &str) -> Value {
    parse_stored(text).unwrap_or_else(|| Value::Object(Map::new()))
}

/// A row of `durably_steps`.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub run_id: String,
    pub name: String,
    pub index: i64,
    pub status: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub started_at: String,
    pub completed_at: Option<String>,
}

pub const STEP_COLUMNS: &str =
    "id, run_id, name, \"index\", status, output, error, started_at, completed_at";

impl Step {
    pub fn from_row(row: &rusqlite::Row) -> rusqlite::Result<Step> {
        Ok(Step {
            id: row.get(0)?,
            run_id: row.get(1)?,
            name: row.get(2)?,
            index: row.get(3)?,
            status: row.get(4)?,
            output: row.get(5)?,
            error: row.get(6)?,
            started_at: row.get(7)?,
            completed_at: row.get(8)?,
        })
    }

    /// The step as @coji/durably's `StepRecord`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "runId": self.run_id,
            "name": self.name,
            "index": self.index,
            "status": self.status,
            "output": json_or_null(self.output.as_deref()),
            "error": self.error,
            "startedAt": self.started_at,
            "completedAt": self.completed_at,
        })
    }
}

/// A row of `durably_logs`.
#[derive(Debug, Clone)]
pub struct Log {
    pub id: String,
    pub run_id: String,
    pub step_name: Option<String>,
    pub level: String,
    pub message: String,
    pub data: Option<String>,
    pub created_at: String,
}

pub const LOG_COLUMNS: &str = "id, run_id, step_name, level, message, data, created_at";

impl Log {
    pub fn from_row(row: &rusqlite::Row) -> rusqlite::Result<Log> {
        Ok(Log {
            id: row.get(0)?,
            run_id: row.get(1)?,
            step_name: row.get(2)?,
            level: row.get(3)?,
            message: row.get(4)?,
            data: row.get(5)?,
            created_at: row.get(6)?,
        })
    }

    /// The log as @coji/durably's `Log`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "runId": self.run_id,
            "stepName": self.step_name,
            "level": self.level,
            "message": self.message,
            "data": json_or_null(self.data.as_deref()),
            "createdAt": self.created_at,
        })
    }
}

/// A new id: UUIDv7 text, ordered within this process.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_keeps_input_text_exactly() {
        let s = RunSpec::parse(
            r#"{"job":"a","input":{"z":1,"a":12345678901234567890123}}"#,
            &SpecDefaults::default(),
        )
        .unwrap();
        assert_eq!(s.input, r#"{"z":1,"a":12345678901234567890123}"#);
    }

    #[test]
    fn spec_errors() {
        let d = SpecDefaults::default();
        assert!(RunSpec::parse("[1]", &d)
            .unwrap_err()
            .to_string()
            .contains("JSON object"));
        assert!(RunSpec::parse(r#"{"job":"a","x":1}"#, &d)
            .unwrap_err()
            .to_string()
            .contains("unknown field"));
        assert!(RunSpec::parse(r#"{"job":""}"#, &d).is_err());
        assert!(RunSpec::parse(r#"{"job":"a""#, &d)
            .unwrap_err()
            .to_string()
            .contains("malformed JSON"));
    }

    #[test]
    fn errors_quote_control_characters() {
        let d = SpecDefaults::default();
        let err = RunSpec::parse(r#"{"\null\u001b[2J":1}"#, &d).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(r"unknown field `\null\u{1b}[2J`"), "{msg}");
        assert!(!msg.chars().any(char::is_control), "{msg:?}");
    }

    #[test]
    fn depth_limit_matches_what_serde_json_reads_back() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let ok = nest(MAX_JSON_DEPTH);
        assert!(serde_json::from_str::<Value>(&ok).is_ok());
        assert!(validate_json(&ok, "--input").is_ok());
        let deep = nest(MAX_JSON_DEPTH + 1);
        assert!(serde_json::from_str::<Value>(&deep).is_err());
        let err = validate_json(&deep, "--input").unwrap_err().to_string();
        assert!(err.contains("nested too deeply"), "{err}");
        // Brackets inside strings (escaped quotes included) do not count.
        let quoted = format!(r#"{{"a":"\"{}"}}"#, "[".repeat(1000));
        assert!(validate_json(&quoted, "--input").is_ok());
        let spec = format!(r#"{{"job":"a","input":{}}}"#, nest(100_000));
        let err = RunSpec::parse(&spec, &SpecDefaults::default()).unwrap_err();
        assert!(format!("{err:#}").contains("input is nested too deeply"));
    }

    #[test]
    fn lone_surrogates_written_by_javascript_read_as_strings() {
        assert_eq!(
            json_or_string(Some(r#""\ud800""#)),
            Value::String("\u{fffd}".into())
        );
        assert_eq!(
            json_or_string(Some(r#"{"a":"x\udc00y\\ud800","b":"\ud83d\ude00"}"#)),
            serde_json::json!({"a": "x\u{fffd}y\\ud800", "b": "\u{1f600}"})
        );
        assert_eq!(
            json_or_string(Some("not json")),
            Value::String("not json".into())
        );
    }

    #[test]
    fn label_filters_check_characters_not_lengths() {
        let long = format!("k={}", "x".repeat(5000));
        assert_eq!(parse_label_filter(&long).unwrap().1.len(), 5000);
        assert!(parse_label_filter(&format!("{}=v", "k".repeat(300))).is_ok());
        assert!(parse_label_filter("bad key=v").is_err());
        assert!(parse_label_filter("=v").is_err());
        assert!(parse_label_filter("nokey").is_err());
    }

    #[test]
    fn labels() {
        assert_eq!(parse_label("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_label("nokey").is_err());
        assert!(parse_label("bad key=x").is_err());
        assert!(parse_label(&format!("k={}", "x".repeat(4097))).is_err());
    }
}
