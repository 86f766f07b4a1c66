//! Labels: `KEY=VALUE` pairs on a run, their checks and their stored JSON text.

use anyhow::{bail, Result};
use serde_json::{Map, Value};

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

/// Checks a label value: at most 4 KiB, no NUL (see [`super::text`]).
pub fn validate_label_value(key: &str, value: &str) -> Result<()> {
    super::text::refuse_nul(&format!("the value of label {key:?}"), value)?;
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

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
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

#[cfg(test)]
mod tests {
    use super::*;

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
