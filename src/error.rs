//! Exit codes and the errors that carry them.
//!
//! Everything below `main` returns `anyhow::Result`; an error that should end the process with
//! a code other than 1 wraps (or is) a [`CodedError`]. `main` finds it anywhere in the cause
//! chain.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use std::fmt;

/// How the process ends: the exit codes of SEMANTICS.md ("Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: done.
    Ok,
    /// 1: any other error (I/O, database, a handler that cannot start).
    Error,
    /// 2: a command line or input that is not valid.
    Usage,
    /// 3: an unknown run id.
    NotFound,
    /// 4: refused because of the run's state (or a concurrency key already taken).
    Conflict,
    /// 5: the run (or one of the runs) failed.
    RunFailed,
    /// 6: the run was cancelled.
    RunCancelled,
    /// 75 (`EX_TEMPFAIL`): a handler-side command could not use the database for the
    /// database's own trouble; its worker gives the run back (see [`crate::handler_channel`]).
    DatabaseTrouble,
    /// 124: gave up waiting, like timeout(1).
    TimedOut,
    /// The exit status of the command `durably step` ran, passed on unchanged.
    StepCommand(i32),
}

impl ExitCode {
    /// The number the process exits with.
    pub fn as_i32(self) -> i32 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::Error => 1,
            ExitCode::Usage => 2,
            ExitCode::NotFound => 3,
            ExitCode::Conflict => 4,
            ExitCode::RunFailed => 5,
            ExitCode::RunCancelled => 6,
            ExitCode::DatabaseTrouble => 75,
            ExitCode::TimedOut => 124,
            ExitCode::StepCommand(code) => code,
        }
    }

    /// The one code for a command that acted on several ids (`rm`, `cancel`): not found if any
    /// id was unknown, else the highest code, so conflict if any run was refused.
    pub fn combine(self, other: ExitCode) -> ExitCode {
        if self == ExitCode::NotFound || other == ExitCode::NotFound {
            ExitCode::NotFound
        } else if other.as_i32() > self.as_i32() {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_i32())
    }
}

/// An error that ends the process with a specific exit code. `message` is `None` when whatever
/// printed the outcome already said all there is to say (a failed run's error, for example).
#[derive(Debug)]
pub struct CodedError {
    pub code: ExitCode,
    pub message: Option<String>,
}

impl CodedError {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        CodedError {
            code,
            message: Some(message.into()),
        }
    }
    pub fn silent(code: ExitCode) -> Self {
        CodedError {
            code,
            message: None,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Usage, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ExitCode::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Conflict, message)
    }
}

impl fmt::Display for CodedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit {}", self.code),
        }
    }
}

impl std::error::Error for CodedError {}

/// The database cannot be reached now, though it may be later: a PostgreSQL server that
/// refuses or drops the connection, a SQLite file in a directory that is not there (a volume
/// not mounted yet) or locked past `--busy-timeout`. A daemon worker waits for it at start
/// instead of exiting. Displays as its message.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// Whether `err` says the database is [`Unavailable`] for now.
pub fn is_unavailable(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.is::<Unavailable>())
}

/// What the store refuses, typed so that callers decide (the store picks no exit code;
/// [`exit_code`] maps each kind to one). Lost leases are answers, not errors
/// (`store::Fenced::LeaseLost`); a database's own error is an `anyhow` chain naming it.
#[derive(Debug)]
pub enum StoreError {
    /// No run has this handle.
    NotFound(String),
    /// The run's state refuses the operation, or a pending run already holds the key.
    Conflict(String),
    /// A value the store cannot use: an empty or ambiguous handle, a `--db` it cannot read,
    /// an option the backend does not have.
    Invalid(String),
}

impl StoreError {
    /// The exit code of the kind: 3, 4 or 2.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            StoreError::NotFound(_) => ExitCode::NotFound,
            StoreError::Conflict(_) => ExitCode::Conflict,
            StoreError::Invalid(_) => ExitCode::Usage,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound(m) | StoreError::Conflict(m) | StoreError::Invalid(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for StoreError {}

/// The exit code for an error: that of the first [`CodedError`] or [`StoreError`] in its
/// chain, else [`ExitCode::Error`].
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    err.chain()
        .find_map(|e| {
            e.downcast_ref::<CodedError>()
                .map(|f| f.code)
                .or_else(|| e.downcast_ref::<StoreError>().map(StoreError::exit_code))
        })
        .unwrap_or(ExitCode::Error)
}

/// Whether the error should be printed (a silent [`CodedError`] at the top is not).
pub fn is_silent(err: &anyhow::Error) -> bool {
    matches!(
        err.downcast_ref::<CodedError>(),
        Some(CodedError { message: None, .. })
    )
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

#[cfg(test)]
mod tests {
    use super::ExitCode::{self, *};

    fn combined(codes: &[ExitCode]) -> ExitCode {
        codes.iter().fold(Ok, |all, &c| all.combine(c))
    }

    #[test]
    fn several_ids_exit_not_found_if_any_is_unknown_else_conflict_if_any_is_refused() {
        assert_eq!(combined(&[]), Ok);
        assert_eq!(combined(&[Ok, Ok]), Ok);
        assert_eq!(combined(&[Ok, Conflict, Ok]), Conflict);
        assert_eq!(combined(&[Conflict, NotFound]), NotFound);
        assert_eq!(combined(&[NotFound, Conflict]), NotFound);
        assert_eq!(combined(&[NotFound, Ok, Conflict, Ok]), NotFound);
    }

    #[test]
    fn store_refusals_map_to_their_codes_through_context() {
        use super::{exit_code, StoreError};
        use anyhow::Context as _;
        let cases = [
            (StoreError::NotFound("run x not found".into()), NotFound),
            (StoreError::Conflict("run x is leased".into()), Conflict),
            (StoreError::Invalid("empty run id".into()), Usage),
        ];
        for (refusal, code) in cases {
            let text = refusal.to_string();
            let err = Err::<(), _>(anyhow::Error::from(refusal))
                .context("cannot do it")
                .unwrap_err();
            assert_eq!(exit_code(&err), code, "{text}");
            assert_eq!(format!("{err:#}"), format!("cannot do it: {text}"));
        }
        assert_eq!(exit_code(&anyhow::anyhow!("disk full")), Error);
    }

    #[test]
    fn codes_are_those_of_the_spec() {
        let codes = [
            (Ok, 0),
            (Error, 1),
            (Usage, 2),
            (NotFound, 3),
            (Conflict, 4),
            (RunFailed, 5),
            (RunCancelled, 6),
            (DatabaseTrouble, 75),
            (TimedOut, 124),
            (StepCommand(137), 137),
        ];
        for (code, number) in codes {
            assert_eq!(code.as_i32(), number, "{code:?}");
        }
    }
}
