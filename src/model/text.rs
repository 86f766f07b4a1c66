//! Text headed for the database: what makes it storable on both backends, and the check that
//! refuses a NUL in a field a user gives.
//!
//! PostgreSQL's TEXT cannot hold the character U+0000 and SQLite's C API cuts text at it in
//! places; invalid UTF-8 cannot be a Rust `&str` at all. So text that the CLI *captures* (a
//! handler's stderr tail and lines, error messages, log messages, step errors) is made storable:
//! invalid UTF-8 and NUL both become U+FFFD (the replacement character), the same rule on both
//! backends, so no handler output can make a result unwritable. Text a user *gives* as a key or
//! name (job name, idempotency and concurrency keys, label values) is refused instead when it
//! holds a NUL: silently changing a key would make it match something else. JSON text kept
//! verbatim (inputs, `--data`, outputs) never holds a raw NUL: JSON writes it as `\u0000`.

use std::borrow::Cow;

/// What a NUL (and an invalid UTF-8 sequence) becomes in stored text.
pub const REPLACEMENT: char = char::REPLACEMENT_CHARACTER;

/// `text` with every NUL replaced by U+FFFD (borrowed when there is none).
pub fn storable(text: &str) -> Cow<'_, str> {
    if text.as_bytes().contains(&0) {
        Cow::Owned(text.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Captured bytes as storable text: invalid UTF-8 and NUL become U+FFFD.
pub fn storable_bytes(bytes: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(bytes) {
        Cow::Borrowed(text) => storable(text),
        Cow::Owned(text) => Cow::Owned(storable(&text).into_owned()),
    }
}

/// Refuses a NUL in a field a user gives (`what` names the field in the message).
pub fn refuse_nul(what: &str, value: &str) -> anyhow::Result<()> {
    if value.as_bytes().contains(&0) {
        anyhow::bail!("{what} contains a NUL character (\\u0000), which cannot be stored");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{refuse_nul, storable, storable_bytes};

    #[test]
    fn nul_and_invalid_utf8_become_the_replacement_character() {
        assert_eq!(storable("plain"), "plain");
        assert!(matches!(storable("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(storable("a\0b\0"), "a\u{fffd}b\u{fffd}");
        assert_eq!(
            storable_bytes(b"x\0\xff\xfey"),
            "x\u{fffd}\u{fffd}\u{fffd}y"
        );
        assert!(refuse_nul("job name", "ok").is_ok());
        let e = refuse_nul("job name", "a\0b").unwrap_err().to_string();
        assert!(e.starts_with("job name contains a NUL"), "{e}");
    }
}
