//! The PostgreSQL backend of [`super::Store`]: the schema @coji/durably's `migrate()` creates
//! on PostgreSQL, one synchronous `postgres::Client`, every write in one transaction, and the
//! library's claim (`FOR UPDATE SKIP LOCKED` plus a transaction-level advisory lock per
//! concurrency key). Statements live in `sql/postgres/`.

mod lease;
mod steps;

use super::{pending, Access, Jobs, ListFilter, Options, Plan, PurgeFilter};
use crate::model::{Disposition, Log, Run, RunSpec, Step};
use anyhow::Result;
use std::cell::RefCell;
use std::time::Instant;

pub mod connect;
pub mod schema;

/// One connection to a PostgreSQL database.
pub struct Postgres {
    pub(super) client: RefCell<postgres::Client>,
    /// `host:port/dbname`, for messages (never the password).
    pub(super) shown: String,
    /// The bound on lock waits of the current write ([`Postgres::set_deadline`]).
    pub(super) deadline: Option<Instant>,
    /// Timestamps of this process never go backwards, even if the system clock does.
    pub clock: super::enqueue::Clock,
}

/// A PostgreSQL error as one line naming the database: the server's message (and detail) for
/// an error the server reported, else the client's; errors that carry an exit code unchanged.
pub fn describe(e: anyhow::Error, location: &str) -> anyhow::Error {
    match e.downcast::<postgres::Error>() {
        Ok(pg) => anyhow::anyhow!("database {location}: {}", error_text(&pg)),
        Err(e) => e,
    }
}

/// One line for a PostgreSQL error: the server's message and detail, or the client's error with
/// its causes (the client's own text says only "error connecting to server").
pub fn error_text(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let detail = db.detail().map(|d| format!(" ({d})")).unwrap_or_default();
        return format!("{}{detail}", db.message());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// Enqueues inside the one transaction of [`Postgres::enqueue_batch`].
pub struct PgBatch<'s> {
    tx: postgres::Transaction<'s>,
}

impl PgBatch<'_> {
    pub fn enqueue(&mut self, _spec: &RunSpec) -> Result<(Run, Disposition)> {
        let _ = &mut self.tx;
        Err(not_yet("enqueue-many"))
    }
}

fn not_yet(what: &str) -> anyhow::Error {
    anyhow::anyhow!("{what} is not supported on PostgreSQL yet")
}

impl Postgres {
    /// Connects and checks (for writers, creates) the schema; see [`connect::target`] for how
    /// the URL and the `PG*` variables are read.
    pub fn open(opts: &Options, access: Access) -> Result<Postgres> {
        let url = opts.path.to_str().ok_or_else(|| {
            crate::error::CodedError::usage("--db: the PostgreSQL URL is not valid UTF-8")
        })?;
        let target = connect::target(url, opts.busy_timeout)?;
        let mut client = connect::connect(&target)?;
        schema::prepare(&mut client, &target.shown, access)
            .map_err(|e| describe(e, &target.shown))?;
        Ok(Postgres {
            client: RefCell::new(client),
            shown: target.shown,
            deadline: None,
            clock: Default::default(),
        })
    }

    /// A second connection to the same database (a worker's lease-renewal thread): the schema
    /// was checked by the first.
    pub fn open_again(opts: &Options) -> Result<Postgres> {
        let url = opts.path.to_str().ok_or_else(|| {
            crate::error::CodedError::usage("--db: the PostgreSQL URL is not valid UTF-8")
        })?;
        let target = connect::target(url, opts.busy_timeout)?;
        let client = connect::connect(&target)?;
        Ok(Postgres {
            client: RefCell::new(client),
            shown: target.shown,
            deadline: None,
            clock: Default::default(),
        })
    }

    /// The server and database, for messages (never the password).
    pub fn location(&self) -> String {
        self.shown.clone()
    }

    /// Bounds the lock waits and statements of the fenced writes that follow by `deadline`
    /// (None: no bound); see [`Postgres::fenced_write`].
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    pub fn enqueue_batch<T>(
        &mut self,
        _commit: bool,
        f: impl FnOnce(PgBatch) -> Result<T>,
    ) -> Result<T> {
        let client = self.client.get_mut();
        let tx = client.transaction()?;
        f(PgBatch { tx })
    }

    pub fn run(&self, _id: &str) -> Result<Option<Run>> {
        Err(not_yet("run"))
    }

    pub fn resolve_id(&mut self, _given: &str) -> Result<String> {
        Err(not_yet("resolve_id"))
    }

    pub fn find_run(&mut self, _given: &str) -> Result<Run> {
        Err(not_yet("find_run"))
    }

    pub fn run_details(&mut self, _given: &str) -> Result<(Run, Vec<Step>, Vec<Log>)> {
        Err(not_yet("run_details"))
    }

    pub fn logs_page(
        &mut self,
        _run_id: &str,
        _after: Option<(&str, &str)>,
        _limit: u64,
    ) -> Result<(bool, Vec<Log>)> {
        Err(not_yet("logs_page"))
    }

    pub fn list_page(
        &mut self,
        _before: Option<&str>,
        _filter: ListFilter,
        _short_ids: bool,
    ) -> Result<(Vec<Run>, Vec<String>)> {
        Err(not_yet("list_page"))
    }

    pub fn explain_list(
        &mut self,
        _before: Option<&str>,
        _filter: ListFilter,
    ) -> Result<(Plan, Vec<Vec<String>>)> {
        Err(not_yet("explain_list"))
    }

    pub fn counts(&self) -> Result<Vec<(String, String, i64)>> {
        Err(not_yet("counts"))
    }

    pub fn enqueue(&mut self, _spec: &RunSpec) -> Result<(Run, Disposition)> {
        Err(not_yet("enqueue"))
    }

    pub fn retrigger(&mut self, _given: &str) -> Result<Run> {
        Err(not_yet("retrigger"))
    }

    pub fn cancel(&mut self, _given: &str) -> Result<String> {
        Err(not_yet("cancel"))
    }

    pub fn delete(&mut self, _given: &str, _force: bool) -> Result<String> {
        Err(not_yet("delete"))
    }

    /// PostgreSQL has no write-ahead log file for us to checkpoint.
    pub fn is_wal(&self) -> Result<bool> {
        Ok(false)
    }

    /// Journal modes are SQLite's: `init` prints none for PostgreSQL.
    pub fn journal_mode(&self) -> Result<String> {
        Ok(String::new())
    }

    /// `init --wal` names a SQLite notion: a usage error here.
    pub fn enable_wal(&self) -> Result<()> {
        Err(crate::error::CodedError::usage(
            "--wal: journal modes are SQLite's; PostgreSQL keeps its own write-ahead log",
        )
        .into())
    }

    /// Adds the library's indexes the database lacks and ours.
    pub fn repair(&self) -> Result<()> {
        let mut client = self.client.borrow_mut();
        schema::repair(&mut client, &self.shown).map_err(|e| describe(e, &self.shown))
    }

    /// Nothing to checkpoint: the server manages its own log.
    pub fn checkpoint(&self) -> Result<()> {
        Ok(())
    }

    pub fn pending_for(&self, _jobs: &Jobs) -> Result<pending::Pending> {
        Err(not_yet("pending_for"))
    }

    pub fn purge_count(&self, _f: &PurgeFilter) -> Result<u64> {
        Err(not_yet("purge_count"))
    }

    pub fn purge_batch(&mut self, _f: &PurgeFilter, _batch: u64) -> Result<u64> {
        Err(not_yet("purge_batch"))
    }

    pub fn purge(&mut self, _filter: &PurgeFilter) -> Result<u64> {
        Err(not_yet("purge"))
    }
}
