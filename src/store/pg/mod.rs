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

/// One connection to a PostgreSQL database.
pub struct Postgres {
    client: RefCell<postgres::Client>,
    /// The URL without its password, for messages.
    shown: String,
    /// The bound on lock waits of the current write ([`Postgres::set_deadline`]).
    deadline: Option<Instant>,
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
    pub fn open(_opts: &Options, _access: Access) -> Result<Postgres> {
        Err(not_yet("opening a database"))
    }

    pub fn open_again(opts: &Options) -> Result<Postgres> {
        Postgres::open(opts, Access::WriteExisting)
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

    pub fn is_wal(&self) -> Result<bool> {
        Err(not_yet("is_wal"))
    }

    pub fn journal_mode(&self) -> Result<String> {
        Err(not_yet("journal_mode"))
    }

    pub fn enable_wal(&self) -> Result<()> {
        Err(not_yet("enable_wal"))
    }

    pub fn repair(&self) -> Result<()> {
        Err(not_yet("repair"))
    }

    pub fn checkpoint(&self) -> Result<()> {
        Err(not_yet("checkpoint"))
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
