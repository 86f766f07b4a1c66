//! Errors that carry an exit code.
//!
//! Everything below `main` returns `anyhow::Result`; an error that should end the process with
//! a code other than 1 wraps (or is) a [`Fail`]. `main` finds it anywhere in the cause chain.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use std::fmt;

/// Exit codes of SPEC.md §3.
pub mod code {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const NOT_FOUND: i32 = 3;
    pub const CONFLICT: i32 = 4;
    pub const RUN_FAILED: i32 = 5;
    pub const RUN_CANCELLED: i32 = 6;
    pub const TIMED_OUT: i32 = 124;
}

/// An error with a specific exit code. `message` is `None` when whatever printed the outcome
/// already said all there is to say (a failed run's error, for example).
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    pub message: Option<String>,
}

impl Fail {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Fail {
            code,
            message: Some(message.into()),
        }
    }
    pub fn silent(code: i32) -> Self {
        Fail {
            code,
            message: None,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(code::USAGE, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(code::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(code::CONFLICT, message)
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit {}", self.code),
        }
    }
}

impl std::error::Error for Fail {}

/// The exit code for an error: the first [`Fail`] in its chain, else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Fail>().map(|f| f.code))
        .unwrap_or(code::ERROR)
}

/// Whether the error should be printed (a silent [`Fail`] at the top is not).
pub fn is_silent(err: &anyhow::Error) -> bool {
    matches!(err.downcast_ref::<Fail>(), Some(Fail { message: None, .. }))
}

/// True when the error chain holds a broken pipe: writing to a closed `| head` is a quiet success.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// One line for one of clap's command-line errors, built from the error's kind and context
/// (never from its rendered text): what is wrong, what would be right when clap knows, and
/// which `--help` to read. `subcommand` names the command the line was for, if any.
///
/// `durably: ls: invalid value "yaml" for --format (expected table, json, ndjson, ids); see durably ls --help`
pub fn usage_line(err: &clap::Error, subcommand: Option<&str>) -> String {
    let arg = context_words(err, ContextKind::InvalidArg);
    let value = context_words(err, ContextKind::InvalidValue);
    let mut what = match err.kind() {
        ErrorKind::InvalidValue if value.is_empty() => format!("{arg} needs a value"),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            format!("invalid value {value:?} for {arg}")
        }
        ErrorKind::UnknownArgument => format!("unexpected argument {arg}"),
        ErrorKind::MissingRequiredArgument => format!("missing required argument {arg}"),
        ErrorKind::ArgumentConflict => {
            let prior = context_words(err, ContextKind::PriorArg);
            if prior.is_empty() {
                format!("{arg} cannot be used here")
            } else {
                format!("{arg} cannot be used with {prior}")
            }
        }
        ErrorKind::InvalidSubcommand => {
            let sub = context_words(err, ContextKind::InvalidSubcommand);
            format!("unknown command {sub:?}")
        }
        ErrorKind::TooManyValues => format!("unexpected value {value:?} for {arg}"),
        kind => {
            let general = kind.as_str().unwrap_or("invalid arguments").to_string();
            if arg.is_empty() {
                general
            } else {
                format!("{general}: {arg}")
            }
        }
    };
    let expected = context_words(err, ContextKind::ValidValue);
    let cause = std::error::Error::source(err).map(|c| c.to_string());
    let suggested = [
        ContextKind::SuggestedArg,
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedValue,
    ]
    .into_iter()
    .map(|kind| context_words(err, kind))
    .find(|s| !s.is_empty());
    if !expected.is_empty() {
        what.push_str(&format!(" (expected {expected})"));
    } else if let Some(cause) = cause.filter(|c| !c.is_empty()) {
        what.push_str(&format!(": {cause}"));
    }
    if let Some(suggested) = suggested {
        let one_of = if suggested.contains(", ") {
            "one of "
        } else {
            ""
        };
        what.push_str(&format!(" (did you mean {one_of}{suggested}?)"));
    }
    match subcommand {
        Some(sub) => format!("durably: {sub}: {what}; see durably {sub} --help"),
        None => format!("durably: {what}; see durably --help"),
    }
}

/// A context value of a clap error as plain words: an option's name without its value
/// placeholder (`--format`, not `--format <FORMAT>`), a positional as `<ID>` (not `[ID]...`),
/// lists joined with ", ".
fn context_words(err: &clap::Error, kind: ContextKind) -> String {
    let strip = |s: &str| -> String {
        let s = s.trim_end_matches("...");
        if let Some(name) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            return format!("<{name}>");
        }
        match s.split_once(' ') {
            Some((flag, _)) if flag.starts_with('-') => flag.to_string(),
            _ => s.to_string(),
        }
    };
    match err.get(kind) {
        Some(ContextValue::String(s)) => strip(s),
        Some(ContextValue::Strings(v)) => v.iter().map(|s| strip(s)).collect::<Vec<_>>().join(", "),
        Some(ContextValue::StyledStr(s)) => strip(&s.to_string()),
        Some(ContextValue::StyledStrs(v)) => v
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        Some(ContextValue::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}
