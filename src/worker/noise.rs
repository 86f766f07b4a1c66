//! Repeated diagnostics said once a minute. A worker that meets the same trouble at every poll
//! (a read-only or locked database, a server that is down) would print the same line several
//! times a second; [`say`] prints a line the first time, counts its repeats for a minute, and
//! [`flush`] (called by the main loop at every turn and at exit) then prints it once more with
//! the count: `… (37 more times in the last minute)`. Lines are compared whole, so lines that
//! name different runs are all printed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long repeats of a line are counted before they are said.
const WINDOW: Duration = Duration::from_secs(60);

struct Seen {
    /// When the line was last printed.
    said: Instant,
    /// Repeats since then.
    repeats: u64,
}

static SEEN: Mutex<Option<HashMap<String, Seen>>> = Mutex::new(None);

fn print(line: &str, repeats: u64) {
    use std::io::Write as _;
    let mut err = std::io::stderr();
    let _ = match repeats {
        0 => writeln!(err, "durably: {line}"),
        1 => writeln!(err, "durably: {line} (1 more time in the last minute)"),
        n => writeln!(err, "durably: {line} ({n} more times in the last minute)"),
    };
}

/// Prints `line` unless it was printed less than a minute ago (then it is counted).
pub fn say(line: String) {
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let seen = seen.get_or_insert_with(HashMap::new);
    let now = Instant::now();
    match seen.get_mut(&line) {
        Some(s) if now.duration_since(s.said) < WINDOW => s.repeats += 1,
        Some(s) => {
            print(&line, s.repeats);
            s.said = now;
            s.repeats = 0;
        }
        None => {
            print(&line, 0);
            seen.insert(
                line,
                Seen {
                    said: now,
                    repeats: 0,
                },
            );
        }
    }
}

/// Says the counted repeats of lines whose minute is over (all of them when `all`, at exit),
/// and forgets lines that were not repeated.
pub fn flush(all: bool) {
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(seen) = seen.as_mut() else {
        return;
    };
    let now = Instant::now();
    seen.retain(|line, s| {
        if !all && now.duration_since(s.said) < WINDOW {
            return true;
        }
        if s.repeats == 0 {
            return false;
        }
        print(line, s.repeats);
        s.said = now;
        s.repeats = 0;
        true
    });
}
