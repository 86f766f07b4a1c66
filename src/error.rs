//! Errors that carry an exit code.
//!
//! Everything below `main` returns `anyhow::Result`; an error that should end the process with
//! a code other than 1 wraps (or is) a [`Fail`]. `main` finds it anywhere in the cause chain.

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
