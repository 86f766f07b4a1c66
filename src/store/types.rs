//! The backend-neutral types of the store: what commands and the worker hand to [`super::Store`]
//! and get back from it, whichever backend holds the data. Nothing here names a driver type
//! (no rusqlite, no postgres): each backend binds these values in its own dialect.

use super::target::Target;
use crate::model::{Labels, Status};
use crate::time;
use std::path::PathBuf;
use std::time::Duration;

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = 1;

/// What the command will do with the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Never creates the file or the schema; a missing explicit file is an error, a missing
    /// default one an empty queue.
    Read,
    /// Creates the file and the schema when missing (and the default location's directories).
    Write,
    /// Like `Write`, but a missing file is an error (in-handler commands: the worker made it).
    WriteExisting,
    /// `durably init`: like `Write`, but a missing index is no error; [`super::Store::repair`]
    /// adds it.
    Repair,
}

/// Connection options shared by every command.
#[derive(Debug, Clone)]
pub struct Options {
    /// The database, read once from `--db` ([`Target::parse`]).
    pub target: Target,
    pub busy_timeout: Duration,
    /// The target is the default location (no `--db`, no `DURABLY_DB`).
    pub default: bool,
    /// `--max-db-size`: the most bytes a SQLite file may grow to (None: no cap).
    pub max_size: Option<u64>,
}

/// The default database path: `$XDG_DATA_HOME/durably/durably.db`, else
/// `~/.local/share/durably/durably.db`.
pub fn default_path() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("durably").join("durably.db")
}

/// Which runs a worker may claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jobs {
    /// Any job.
    All,
    /// Only these jobs (never empty when claimed with; an empty list claims nothing).
    Only(Vec<String>),
}

/// Most jobs one claim statement names (SQLite allows 500 arms in a compound SELECT).
pub const MAX_JOBS_PER_CLAIM: usize = 200;

/// What `ls` asks for.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub labels: Labels,
    pub statuses: Vec<Status>,
    pub jobs: Vec<String>,
    /// Only runs strictly older than this (created_at, id).
    pub before: Option<(String, String)>,
    pub limit: u64,
    pub offset: u64,
}

/// One SQL statement of a plan, with its parameters.
#[derive(Debug, Clone)]
pub struct Query {
    pub sql: String,
    pub params: Vec<Param>,
}

/// A parameter of a [`Query`], bound by the backend that built it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Text(String),
    Integer(i64),
}

/// How a filter will be answered.
#[derive(Debug, Clone)]
pub struct Plan {
    pub strategy: &'static str,
    pub queries: Vec<Query>,
    /// Label-first only: the counted matches of the driving label and the cap.
    pub note: String,
    /// The queries return only `(created_at, id)` keys (several index streams, read from
    /// covering indexes); whole rows are fetched for the merged page alone.
    pub keys_only: bool,
}

/// Which terminal runs a purge removes.
#[derive(Debug, Clone)]
pub struct PurgeFilter {
    /// `completed_at` strictly before this timestamp.
    pub cutoff: String,
    /// The age the cutoff was computed from ([`PurgeFilter::older_than`]): a backend with a
    /// clock of its own (PostgreSQL's `now()`) computes the cutoff from it instead of this
    /// host's. None: `cutoff` as given.
    pub age: Option<Duration>,
    /// Terminal statuses (empty = all three).
    pub statuses: Vec<Status>,
    pub jobs: Vec<String>,
    pub labels: Labels,
}

impl PurgeFilter {
    /// Every terminal run completed more than `age` ago (the cutoff is fixed now); narrow it
    /// with the other fields.
    pub fn older_than(age: Duration) -> PurgeFilter {
        PurgeFilter {
            cutoff: crate::time::ago(age),
            age: Some(age),
            statuses: Vec::new(),
            jobs: Vec::new(),
            labels: Labels::new(),
        }
    }
}

/// The lease a handler's writes are fenced by.
#[derive(Debug, Clone)]
pub struct Fence {
    pub run_id: String,
    pub generation: i64,
}

/// A step to record.
#[derive(Debug, Clone)]
pub struct NewStep<'a> {
    pub name: &'a str,
    /// `completed` or `failed`.
    pub status: &'a str,
    pub output: Option<&'a str>,
    pub error: Option<&'a str>,
    pub started_at: &'a str,
}

/// A log line to record.
#[derive(Debug, Clone)]
pub struct NewLog<'a> {
    pub step_name: Option<&'a str>,
    pub level: &'a str,
    pub message: &'a str,
    pub data: Option<&'a str>,
}

/// Hands out `created_at` values that never go backwards within a process, read after the
/// transaction began so that `created_at` order is commit order.
#[derive(Debug, Default)]
pub struct Clock {
    last_ms: i64,
    text: String,
}

impl Clock {
    pub fn now(&mut self) -> &str {
        let ms = time::now_ms().max(self.last_ms);
        if ms != self.last_ms || self.text.is_empty() {
            self.last_ms = ms;
            self.text = time::format_ms(ms);
        }
        &self.text
    }

    /// The last time handed out ("" before the first).
    pub fn last(&self) -> &str {
        &self.text
    }

    /// Takes `text`, a time read from the database's clock (PostgreSQL), as the time handed
    /// out from now on unless an earlier one was later: the database's clock decides, and
    /// `created_at` still never goes backwards within a process.
    pub fn observe(&mut self, text: &str) -> &str {
        if let Some(ms) = time::parse_ms(text) {
            if ms > self.last_ms || self.text.is_empty() {
                self.last_ms = ms;
                self.text = text.to_string();
            }
        }
        &self.text
    }
}

/// Pending runs of a worker's jobs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Every pending run of these jobs.
    pub total: u64,
    /// Those whose concurrency key another run holds with an unexpired lease at `now`.
    pub blocked: u64,
}

/// The answer of a write on behalf of a leased run: done, or the lease is no longer ours (its
/// fence was refused: the run was released, re-claimed or finished by someone else).
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fenced<T = ()> {
    Done(T),
    LeaseLost,
}

impl<T> Fenced<T> {
    /// `Done(value)` when the fenced statement took effect (`ok`), else `LeaseLost`.
    pub fn when(ok: bool, value: T) -> Fenced<T> {
        if ok {
            Fenced::Done(value)
        } else {
            Fenced::LeaseLost
        }
    }

    /// Whether the lease was lost (nothing was written).
    pub fn is_lost(&self) -> bool {
        matches!(self, Fenced::LeaseLost)
    }
}

/// What a fenced step write did while the lease was held (a lost lease is
/// [`Fenced::LeaseLost`]: nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepRecord {
    /// Recorded; the stored output.
    Recorded(Option<String>),
    /// Another process of the same run completed the step first; its stored output.
    AlreadyDone(Option<String>),
}
