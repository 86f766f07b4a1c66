//! JSON utilities: validation of JSON given on the command line, the depth limit, error text
//! for people, and the lenient reading of JSON text stored in a row.
//!
//! Stored JSON text is parsed (not copied) on output, so `--json` shows it re-indented with the
//! rest of the document. serde_json's order-preserving, arbitrary-precision `Value` keeps key
//! order and big integers. Text that is not JSON is shown as a JSON string.

use anyhow::{bail, Context, Result};
use serde::Serializer;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

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
pub(crate) fn json_error(e: &serde_json::Error, text: &str) -> String {
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

/// Control characters as visible escapes: serde quotes an unknown field name as given, and a
/// key holding `\n` or ESC must not put a line break or a terminal escape into a one-line error.
pub(crate) fn printable(text: String) -> String {
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

/// "a string", "an object": the kind of a JSON value, for error messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses stored JSON text; text that is not JSON becomes a JSON string.
pub fn json_or_string(text: Option<&str>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => parse_stored(t).unwrap_or_else(|| Value::String(t.to_string())),
    }
}

/// Like the library's `row.output ? JSON.parse(row.output) : null`: empty or NULL is null.
pub fn json_or_null(text: Option<&str>) -> Value {
    match text {
        None | Some("") => Value::Null,
        other => json_or_string(other),
    }
}

/// Parses stored labels; anything but a JSON object reads as `{}`.
pub(crate) fn json_or_object(text: &str) -> Value {
    parse_stored(text).unwrap_or_else(|| Value::Object(Map::new()))
}

/// Parses JSON text a row holds, also when JavaScript wrote a lone surrogate into it.
pub(crate) fn parse_stored<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
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

/// `serialize_with` helpers for the columns that hold JSON text, each with the lenient rule
/// above that fits the column.
pub(crate) mod stored {
    use super::*;
    use serde::Serialize;

    /// A column that is never NULL (`input`): its JSON, or the text as a string.
    pub fn string<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        json_or_string(Some(text)).serialize(s)
    }

    /// A nullable column (`output`, `progress`, step output, log data): NULL and empty are null.
    pub fn null<S: Serializer>(text: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        json_or_null(text.as_deref()).serialize(s)
    }

    /// `labels`: the stored object, or `{}` when it is not one.
    pub fn object<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        json_or_object(text).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
