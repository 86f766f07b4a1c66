//! The run spec: what `enqueue` and `enqueue-many` read (a JSON object and/or flags).

use super::held::Hold;
use super::json::{check_depth, json_error, json_kind};
use super::labels::{merge_label, Labels};
use super::retry::RetryPolicy;
use super::text::refuse_nul;
use anyhow::{anyhow, bail, Result};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

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
    /// What holds the run back (`at`, `in`, `after`): None for a run claimable at once.
    pub hold: Option<Hold>,
    /// `--retries …` or the spec's `retries`, `backoff`, `backoffMax`, `retryOn`.
    pub retry: Option<RetryPolicy>,
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
    /// A due time (`--at`).
    #[serde(default)]
    at: Option<String>,
    /// A delay (`--in`).
    #[serde(default, rename = "in")]
    within: Option<String>,
    /// Runs to wait for (`--after`).
    #[serde(default)]
    after: Option<Vec<String>>,
    #[serde(default)]
    after_any: Option<bool>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    backoff: Option<String>,
    #[serde(default)]
    backoff_max: Option<String>,
    #[serde(default)]
    retry_on: Option<Vec<i32>>,
}

fn any_value_even_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue as Deserialize>::deserialize(d).map(Some)
}

/// The flags of `enqueue`/`enqueue-many` that supply a spec's fields or override them: a flag
/// given wins over the spec's field, labels are merged key by key.
#[derive(Debug, Clone, Default)]
pub struct SpecOverrides {
    pub job: Option<String>,
    pub input: Option<String>,
    pub labels: Labels,
    pub idempotency_key: Option<String>,
    pub concurrency_key: Option<String>,
    pub coalesce: bool,
    /// `--at TIME`.
    pub at: Option<String>,
    /// `--in DUR`.
    pub within: Option<String>,
    /// `--after ID…`.
    pub after: Vec<String>,
    /// `--after-any`.
    pub after_any: bool,
    pub retry: Option<RetryPolicy>,
}

/// The spec's retry fields as a policy (None without `retries`).
fn spec_retry(raw: &RawSpec) -> Result<Option<RetryPolicy>> {
    let Some(retries) = raw.retries else {
        if raw.backoff.is_some() || raw.backoff_max.is_some() || raw.retry_on.is_some() {
            bail!("\"backoff\", \"backoffMax\" and \"retryOn\" need \"retries\"");
        }
        return Ok(None);
    };
    let ms = |field: &str, text: &Option<String>| -> Result<Option<i64>> {
        text.as_deref()
            .map(|t| {
                crate::time::parse_duration(t)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                    .map_err(|e| anyhow!("invalid {field} {t:?}: {e:#}"))
            })
            .transpose()
    };
    let backoff = ms("backoff", &raw.backoff)?;
    let backoff_max = ms("backoffMax", &raw.backoff_max)?;
    RetryPolicy::new(retries, backoff, backoff_max, raw.retry_on.clone())
        .map(Some)
        .map_err(|e| anyhow!("invalid run spec: {}", e.to_string().replace("--", "")))
}

impl RunSpec {
    /// Parses one JSON run spec and applies the flags (`labels` merge, flags win).
    pub fn parse(text: &str, flags: &SpecOverrides) -> Result<RunSpec> {
        let raw = parse_raw(text)?;
        let retry = spec_retry(&raw)?;
        let labels = string_labels(raw.labels)?;
        let coalesce = match raw.coalesce.as_deref() {
            None => false,
            Some("skip") => true,
            Some(other) => bail!("invalid coalesce {other:?} (the only mode is \"skip\")"),
        };
        if let Some(input) = raw.input {
            check_depth(input.get(), "input")?;
        }
        // Flags win over the spec's fields, as for the other fields: a due time or `after`
        // given on the command line replaces the spec's hold.
        let flagged = flags.at.is_some() || flags.within.is_some() || !flags.after.is_empty();
        let hold = if flagged {
            None
        } else {
            Hold::from_parts(
                raw.at.as_deref(),
                raw.within.as_deref(),
                raw.after.unwrap_or_default(),
                raw.after_any.unwrap_or(false),
            )?
        };
        let spec = RunSpec {
            retry,
            job: raw.job.unwrap_or_default(),
            input: raw.input.map(|r| r.get().to_string()).unwrap_or_default(),
            labels,
            idempotency_key: raw.idempotency_key,
            concurrency_key: raw.concurrency_key,
            coalesce,
            hold,
        };
        spec.with_flags(flags)
    }

    /// A spec from flags alone.
    pub fn from_flags(flags: &SpecOverrides) -> Result<RunSpec> {
        RunSpec::default().with_flags(flags)
    }

    fn with_flags(mut self, flags: &SpecOverrides) -> Result<RunSpec> {
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
        let flagged_any = flags.after_any && !flags.after.is_empty();
        if let Some(hold) = Hold::from_parts(
            flags.at.as_deref(),
            flags.within.as_deref(),
            flags.after.clone(),
            flagged_any,
        )? {
            self.hold = Some(hold);
        } else if flags.after_any {
            // `--after-any` alone applies to the spec's `after`.
            match &mut self.hold {
                Some(h) if !h.after.is_empty() => h.after_any = true,
                _ => {
                    return Err(crate::error::CodedError::usage(
                        "after-any needs the runs to wait for (after)",
                    )
                    .into())
                }
            }
        }
        if self.coalesce && self.hold.is_some() {
            return Err(crate::error::CodedError::usage(
                "coalesce is for runs claimable at once, not held runs (at, in, after)",
            )
            .into());
        }
        if flags.retry.is_some() {
            self.retry = flags.retry.clone();
        }
        if self.input.is_empty() {
            self.input = "{}".to_string();
        }
        if self.job.trim().is_empty() {
            bail!("missing job name (give \"job\" in the spec or --job NAME)");
        }
        refuse_nul("the job name", &self.job)?;
        if let Some(key) = &self.idempotency_key {
            refuse_nul("the idempotency key", key)?;
        }
        if let Some(key) = &self.concurrency_key {
            refuse_nul("the concurrency key", key)?;
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

/// The spec's JSON object, its fields checked; a precise message for valid JSON that is not an
/// object, for malformed JSON and for fields of the wrong kind.
fn parse_raw(text: &str) -> Result<RawSpec<'_>> {
    if !text.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| anyhow!("malformed JSON: {}", json_error(&e, text)))?;
        bail!("a run spec must be a JSON object, not {}", json_kind(&v));
    }
    serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            anyhow!("invalid run spec: {}", json_error(&e, text))
        } else {
            anyhow!("malformed JSON: {}", json_error(&e, text))
        }
    })
}

/// The spec's `labels` object as pairs in the order given; every value must be a string.
fn string_labels(map: Option<Map<String, Value>>) -> Result<Labels> {
    let mut labels = Labels::new();
    for (k, v) in map.unwrap_or_default() {
        match v {
            Value::String(s) => labels.push((k, s)),
            other => bail!("label {k:?} must be a string, not {}", json_kind(&other)),
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::super::json::MAX_JSON_DEPTH;
    use super::*;

    #[test]
    fn spec_keeps_input_text_exactly() {
        let s = RunSpec::parse(
            r#"{"job":"a","input":{"z":1,"a":12345678901234567890123}}"#,
            &SpecOverrides::default(),
        )
        .unwrap();
        assert_eq!(s.input, r#"{"z":1,"a":12345678901234567890123}"#);
    }

    #[test]
    fn spec_errors() {
        let d = SpecOverrides::default();
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
        let d = SpecOverrides::default();
        let err = RunSpec::parse(r#"{"\null\u001b[2J":1}"#, &d).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(r"unknown field `\null\u{1b}[2J`"), "{msg}");
        assert!(!msg.chars().any(char::is_control), "{msg:?}");
    }

    #[test]
    fn deep_input_is_refused() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(RunSpec::parse(
            &format!(r#"{{"job":"a","input":{}}}"#, nest(MAX_JSON_DEPTH)),
            &SpecOverrides::default()
        )
        .is_ok());
        let spec = format!(r#"{{"job":"a","input":{}}}"#, nest(100_000));
        let err = RunSpec::parse(&spec, &SpecOverrides::default()).unwrap_err();
        assert!(format!("{err:#}").contains("input is nested too deeply"));
    }
}
