//! What both a handler (through `durably step`) and the worker need about a command's output
//! and end: the stored form of stdout, its size limit, and signal names for messages.

/// Handler stdout beyond this fails the run.
pub const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// A handler's stdout as stored output: JSON if it parses, else the text (one trailing newline
/// trimmed, invalid UTF-8 replaced) as a JSON string; empty → NULL.
pub fn output_json(stdout: &[u8]) -> Option<String> {
    if let Ok(text) = std::str::from_utf8(stdout) {
        if let Ok(raw) = serde_json::from_str::<&serde_json::value::RawValue>(text) {
            return Some(raw.get().to_string());
        }
    }
    let text = String::from_utf8_lossy(stdout);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    if text.is_empty() {
        return None;
    }
    Some(serde_json::Value::String(text.to_string()).to_string())
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
    use super::output_json;

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
    }
}
