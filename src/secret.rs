//! Keeping database passwords secret: finding the password in a `--db` value, the value
//! without it (what handlers get), hiding it in this process's own argv (what `ps` shows), and
//! scrubbing every password this process knows of from the text it prints.
//!
//! A password may sit in a PostgreSQL URL's user info (`postgres://user:PASSWORD@host/db`), in
//! its query (`?password=PASSWORD`), or in a key=value connection string (`password=PASSWORD`,
//! which `--db` does not accept as PostgreSQL, but a mistyped value still must not be printed).
//! URLs are cut the way the client crate cuts them: the user info runs to the first `@`.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::RwLock;

/// What a password is replaced with wherever it would be shown.
pub const MASK: &str = "***";

/// The passwords this process knows of (raw and %-decoded), scrubbed from what it prints.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// The byte ranges of `text` that hold a password (as written, still %-encoded).
fn password_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = match url_start(text) {
        Some(start) => url_ranges(text, start),
        None => conninfo_ranges(text),
    };
    ranges.retain(|r| !r.is_empty());
    ranges
}

/// Where the part after `SCHEME://` starts, if `text` is a URL: `postgres://` and
/// `postgresql://`, but also a mistyped scheme, whose value is then taken for a file name and
/// may be quoted in a message.
fn url_start(text: &str) -> Option<usize> {
    let end = text.find("://")?;
    let scheme = &text[..end];
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(end + 3)
}

fn url_ranges(text: &str, start: usize) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let rest = &text[start..];
    let mut after_credentials = start;
    if let Some(at) = rest.find('@') {
        if let Some(colon) = rest[..at].find(':') {
            ranges.push(start + colon + 1..start + at);
        }
        after_credentials = start + at + 1;
    }
    if let Some(q) = text[after_credentials..].find('?') {
        let mut pos = after_credentials + q + 1;
        for pair in text[pos..].split('&') {
            if let Some((key, _)) = pair.split_once('=') {
                if percent_decode(key) == "password" {
                    ranges.push(pos + key.len() + 1..pos + pair.len());
                }
            }
            pos += pair.len() + 1;
        }
    }
    ranges
}

/// `password=VALUE` or `password = 'quoted value'` in a key=value connection string.
fn conninfo_ranges(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("password") {
        let key = from + found;
        from = key + "password".len();
        if key > 0 && !bytes[key - 1].is_ascii_whitespace() {
            continue;
        }
        let mut i = from;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let value_start = i;
        if bytes.get(i) == Some(&b'\'') {
            i += 1;
            while i < bytes.len() && bytes[i] != b'\'' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
        }
        ranges.push(value_start..i);
        from = i;
    }
    ranges
}

/// `text` with each password replaced by [`MASK`]; None when it holds none.
pub fn mask(text: &str) -> Option<String> {
    let ranges = password_ranges(text);
    if ranges.is_empty() {
        return None;
    }
    Some(replace(text, &ranges, MASK))
}

fn replace(text: &str, ranges: &[Range<usize>], with: &str) -> String {
    let mut sorted = ranges.to_vec();
    sorted.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for r in sorted {
        if r.start < pos {
            continue;
        }
        out.push_str(&text[pos..r.start]);
        out.push_str(with);
        pos = r.end;
    }
    out.push_str(&text[pos..]);
    out
}

/// A PostgreSQL URL without its password: `user:PASSWORD@` becomes `user@` and a
/// `password=` query parameter is dropped. What handlers get as `DURABLY_DB`.
pub fn without_password(url: &str) -> String {
    let Some(start) = url_start(url) else {
        return url.to_string();
    };
    let mut out = url.to_string();
    let mut ranges = url_ranges(url, start);
    // From the end, so earlier ranges stay valid.
    ranges.sort_by_key(|r| std::cmp::Reverse(r.start));
    for r in ranges {
        if out[..r.start].ends_with(':') && out[r.end..].starts_with('@') {
            // user info: drop the colon too
            out.replace_range(r.start - 1..r.end, "");
        } else {
            // a query pair `password=…` with its separator
            let key_start = out[..r.start].rfind(['?', '&']).map_or(r.start, |i| i + 1);
            // With the `&` after it, else with the `&` or `?` before it.
            let (cut_start, cut_end) = if out[r.end..].starts_with('&') {
                (key_start, r.end + 1)
            } else {
                (key_start.saturating_sub(1), r.end)
            };
            out.replace_range(cut_start..cut_end, "");
        }
    }
    out
}

/// Whether a `--db` value is a key=value connection string with a password (`host=… password=…`),
/// which `--db` does not take: it would name a SQLite file, printed in messages, password and
/// all.
pub fn is_conninfo_with_password(db: &str) -> bool {
    url_start(db).is_none() && !conninfo_ranges(db).is_empty()
}

/// Remembers the passwords in a `--db` value, so that [`scrub`] hides them from any message.
pub fn remember_in(db: &str) {
    let db = db.strip_prefix("--db=").unwrap_or(db);
    for r in password_ranges(db) {
        remember(&db[r]);
    }
}

/// Remembers one password (raw and %-decoded) for [`scrub`].
pub fn remember(password: &str) {
    let decoded = percent_decode(password);
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for s in [password.to_string(), decoded] {
        if !s.is_empty() && !secrets.contains(&s) {
            secrets.push(s);
        }
    }
    // Longest first: a password that contains another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Passwords shorter than this are not searched for in free text (every `a` of a message is
/// not a password `a`); they are still masked where a URL or `password=` shows them.
const MIN_SCRUBBED: usize = 4;

/// `text` without any password this process knows of, and with the password of every URL
/// (`scheme://user:PASSWORD@…`, `?password=`) or `password=` pair in it masked.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    if out.contains("://") {
        if let Some(m) = mask_urls(&out) {
            out = Cow::Owned(m);
        }
    }
    if out.contains("password") {
        if let Some(m) = mask_conninfo(&out) {
            out = Cow::Owned(m);
        }
    }
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    for s in secrets.iter().filter(|s| s.len() >= MIN_SCRUBBED) {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), MASK));
        }
    }
    out
}

/// The password of every URL in `text` (a word around `://`) masked.
fn mask_urls(text: &str) -> Option<String> {
    let is_scheme = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.');
    let ends_word = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`');
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let sep = from + found;
        let start = text[..sep]
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_scheme(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let end = text[sep..].find(ends_word).map_or(text.len(), |e| sep + e);
        from = end.max(sep + 3);
        if let Some(scheme) = url_start(&text[start..end]) {
            ranges.extend(
                url_ranges(&text[start..end], scheme)
                    .into_iter()
                    .filter(|r| !r.is_empty())
                    .map(|r| start + r.start..start + r.end),
            );
        }
    }
    (!ranges.is_empty()).then(|| replace(text, &ranges, MASK))
}

fn mask_conninfo(text: &str) -> Option<String> {
    let ranges = conninfo_ranges(text);
    // A URL's `?password=` is not a conninfo pair (no whitespace before it): mask_urls has it.
    (!ranges.is_empty()).then(|| replace(text, &ranges, MASK))
}

/// `%XX` escapes decoded (invalid UTF-8 replaced); a `%` not followed by two hex digits is
/// kept as it is.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Hides the passwords of this process's own arguments from other processes (`ps`,
/// `/proc/PID/cmdline`, which any local user can read): the argument strings the kernel laid
/// out at `exec` are overwritten in place with their masked form, padded with NUL bytes.
/// Call it first thing in `main`, after taking a copy of the arguments (`std::env::args_os`
/// reads this same memory, so later calls see the masked text), and before forking, so every
/// forked process carries the masked copy. Until this runs (the first milliseconds after
/// `exec`) the password is visible: prefer `~/.pgpass`, `PGPASSWORD` or `DURABLY_DB`.
/// Returns how many arguments were masked.
#[cfg(target_os = "linux")]
pub fn hide_in_argv() -> usize {
    use std::os::unix::ffi::OsStrExt;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let masked: Vec<Option<String>> = args
        .iter()
        .map(|a| a.to_str().and_then(mask_argument))
        .collect();
    if masked.iter().all(Option::is_none) {
        return 0;
    }
    let Some((start, end)) = argument_area() else {
        return 0;
    };
    // The area must hold exactly our arguments, each NUL-terminated, one after the other:
    // anything else (a process that rewrote its title before us) is left alone.
    let expected: usize = args.iter().map(|a| a.as_bytes().len() + 1).sum();
    if end < start || end - start != expected {
        return 0;
    }
    let mut count = 0;
    let mut offset = start;
    for (arg, masked) in args.iter().zip(&masked) {
        let len = arg.as_bytes().len();
        if let Some(m) = masked.as_ref().filter(|m| m.len() <= len) {
            // SAFETY: [offset, offset + len) lies inside the argument area of this process
            // (checked against its size above), which is writable memory of the initial stack
            // that nothing else refers to but argv's pointers; the masked text is no longer
            // than the original, and the rest of it becomes NUL bytes (so each argv pointer
            // still reads a NUL-terminated string: the masked one).
            unsafe {
                let dst = offset as *mut u8;
                std::ptr::copy_nonoverlapping(m.as_ptr(), dst, m.len());
                std::ptr::write_bytes(dst.add(m.len()), 0, len - m.len());
            }
            count += 1;
        }
        offset += len + 1;
    }
    count
}

#[cfg(not(target_os = "linux"))]
pub fn hide_in_argv() -> usize {
    0
}

/// An argument masked: a URL or conninfo string, or `--db=` followed by one.
fn mask_argument(arg: &str) -> Option<String> {
    match arg.strip_prefix("--db=") {
        Some(value) => mask(value).map(|m| format!("--db={m}")),
        None => mask(arg),
    }
}

/// `arg_start` and `arg_end` of this process, from `/proc/self/stat` (fields 48 and 49).
#[cfg(target_os = "linux")]
fn argument_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state).
    let start = fields.get(48 - 3)?.parse().ok()?;
    let end = fields.get(49 - 3)?.parse().ok()?;
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_of_urls_are_found_where_the_client_reads_them() {
        assert_eq!(
            mask("postgres://u:p%40ss@h:5/db?sslmode=require").as_deref(),
            Some("postgres://u:***@h:5/db?sslmode=require")
        );
        assert_eq!(
            mask("postgresql://u@h/db?a=1&password=x&b=2").as_deref(),
            Some("postgresql://u@h/db?a=1&password=***&b=2")
        );
        assert_eq!(mask("postgres://u@h/db"), None);
        assert_eq!(mask("postgres://u:@h/db"), None);
        assert_eq!(
            mask("host=h password='a b' user=u").as_deref(),
            Some("host=h password=*** user=u")
        );
        assert_eq!(mask("/tmp/q.db"), None);
    }

    #[test]
    fn handlers_get_the_url_without_its_password() {
        assert_eq!(
            without_password("postgres://u:pw@h:5/db?sslmode=require"),
            "postgres://u@h:5/db?sslmode=require"
        );
        assert_eq!(
            without_password("postgres://u@h/db?password=pw"),
            "postgres://u@h/db"
        );
        assert_eq!(
            without_password("postgres://u@h/db?password=pw&sslmode=disable"),
            "postgres://u@h/db?sslmode=disable"
        );
        assert_eq!(
            without_password("postgres://u:a@h/db?sslmode=disable&password=pw"),
            "postgres://u@h/db?sslmode=disable"
        );
        assert_eq!(without_password("/srv/q.db"), "/srv/q.db");
    }

    #[test]
    fn scrub_masks_urls_and_remembered_passwords() {
        remember_in("postgres://u:Zq9-secret@h/db");
        assert_eq!(
            scrub("cannot connect to postgres://v:other@x/y: bad Zq9-secret"),
            "cannot connect to postgres://v:***@x/y: bad ***"
        );
        assert_eq!(scrub("nothing here"), "nothing here");
    }
}
