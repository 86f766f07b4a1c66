//! What both a handler (through `durably step`) and the worker need about a command's output
//! and end: the stored form of stdout, its size limit, and signal names for messages.

/// Handler stdout beyond this fails the run.
pub const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// A handler's stdout as stored output: JSON if it parses, else the text (one trailing newline
/// trimmed, invalid UTF-8 replaced) as a JSON string; empty → NULL.
///
/// Done in place, in the buffer the output was read into, so that a large output costs its
/// size once here: JSON is trimmed of surrounding whitespace where it lies; text that needs no
/// escaping (no control character, quote or backslash: the usual case for big outputs) gets
/// its quotes around it in the same buffer. Only text that needs escapes or replacements is
/// copied (once, while the input is still held).
pub fn output_json(stdout: Vec<u8>) -> Option<String> {
    let mut text = match String::from_utf8(stdout) {
        Ok(mut text) => {
            // RawValue::get is a slice of `text`: keep just that slice.
            let span = serde_json::from_str::<&serde_json::value::RawValue>(&text)
                .ok()
                .map(|raw| {
                    let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
                    (start, start + raw.get().len())
                });
            if let Some((start, end)) = span {
                text.truncate(end);
                text.drain(..start);
                return Some(text);
            }
            text
        }
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    if text.ends_with('\n') {
        text.pop();
    }
    if text.is_empty() {
        return None;
    }
    if text
        .bytes()
        .any(|b| b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f)
    {
        return Some(serde_json::Value::String(text).to_string());
    }
    text.reserve_exact(2);
    text.insert(0, '"');
    text.push('"');
    Some(text)
}

/// A signal's name for messages.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {

    fn output_json(bytes: &[u8]) -> Option<String> {
        super::output_json(bytes.to_vec())
    }

    #[test]
    fn output_shapes() {
        assert_eq!(output_json(b"").as_deref(), None);
        assert_eq!(output_json(b"\n").as_deref(), None);
        assert_eq!(output_json(b"{\"a\": 1}\n").as_deref(), Some("{\"a\": 1}"));
        assert_eq!(
            output_json(b"12345678901234567890123").as_deref(),
            Some("12345678901234567890123")
        );
        assert_eq!(output_json(b"hello\n").as_deref(), Some("\"hello\""));
        assert_eq!(output_json(b"a\nb\n\n").as_deref(), Some("\"a\\nb\\n\""));
        assert_eq!(output_json(b"\xff\n").as_deref(), Some("\"\u{fffd}\""));
        // JSON keeps its own text between the whitespace around it.
        assert_eq!(output_json(b" \n [1, 2]\t\n").as_deref(), Some("[1, 2]"));
        assert_eq!(output_json(b"\"a\"").as_deref(), Some("\"a\""));
        // Text with and without characters that need escapes, as serde_json writes it.
        for text in [
            "plain words",
            "tab\there",
            "quote \" and \\",
            "del \u{7f}",
            "a\u{0}b",
            "é ü",
        ] {
            let want = serde_json::Value::String(text.to_string()).to_string();
            assert_eq!(
                output_json(text.as_bytes()).as_deref(),
                Some(want.as_str()),
                "{text:?}"
            );
        }
    }
}
