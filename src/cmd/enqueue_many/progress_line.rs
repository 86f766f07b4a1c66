//! The progress line of `enqueue-many` on a terminal's stderr: bytes read (a bar for a file
//! of a few MiB or more, a spinner for a stream), then runs read and inserted with their
//! rates. Nothing is drawn when stderr is not a terminal. The line fits the terminal: the bar
//! has a fixed width and the message (ASCII) is cut to what is left (`{wide_msg:!}`), so it
//! never wraps.

use indicatif::ProgressBar;
use std::io::{self, IsTerminal};
use std::time::Duration;

/// Progress while inserting: runs inserted of those read, per second of inserting.
pub fn show_inserting(progress: &Option<ProgressBar>, done: u64, read: u64, time: Duration) {
    if let Some(p) = progress {
        p.set_message(format!(
            "{}/{} inserted, {}",
            indicatif::HumanCount(done),
            indicatif::HumanCount(read),
            per_sec(done, time)
        ));
    }
}

/// Progress while reading: runs read and validated, per second of reading (`time`).
pub fn show_reading(progress: &Option<ProgressBar>, read: u64, time: Duration) {
    if let Some(p) = progress {
        p.set_message(format!(
            "{} runs read, {}",
            indicatif::HumanCount(read),
            per_sec(read, time)
        ));
    }
}

fn per_sec(n: u64, d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 0.001 {
        return "-/s".into();
    }
    format!(
        "{}/s",
        indicatif::HumanCount((n as f64 / secs).round() as u64)
    )
}

/// A progress line on stderr when it is a terminal and the input is large or a stream: bytes
/// read (a bar for a file), then runs read and inserted with their rates in the message.
pub fn make_progress(size: Option<u64>) -> Option<ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let (bar, template) = match size {
        Some(n) if n >= 4 << 20 => (
            ProgressBar::new(n),
            "{spinner} [{bar:20}] {binary_bytes}/{binary_total_bytes} {wide_msg:!}",
        ),
        Some(_) => return None,
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {binary_bytes} read, {wide_msg:!}",
        ),
    };
    let style = indicatif::ProgressStyle::with_template(template)
        .ok()?
        .progress_chars("=> ");
    let bar = bar.with_style(style);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
    bar.enable_steady_tick(Duration::from_millis(250));
    Some(bar)
}
