//! Schedules on SQLite: the statements of [`schedules::ScheduleWrites`] inside one
//! `BEGIN IMMEDIATE` transaction (nothing else writes until the commit, so the due row read is
//! the row advanced), the clock read after the lock was granted.

use super::{db, enqueue, Sqlite};
use crate::model::schedule::Schedule;
use crate::model::{Disposition, Run, RunSpec};
use crate::store::backend::Schedules;
use crate::store::schedules::{self, Materialised, ScheduleWrites};
use crate::store::Clock;
use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension, Row};

/// A row of `durably_cli_schedules` ([`schedules::SCHEDULE_COLUMNS`]).
fn schedule_from_row(row: &Row) -> rusqlite::Result<Schedule> {
    Ok(Schedule {
        name: row.get(0)?,
        cron: row.get(1)?,
        every_ms: row.get(2)?,
        tz: row.get(3)?,
        job_name: row.get(4)?,
        input: row.get(5)?,
        labels: row.get(6)?,
        concurrency_key: row.get(7)?,
        catch_up: row.get(8)?,
        retries: row.get(9)?,
        backoff_ms: row.get(10)?,
        backoff_max_ms: row.get(11)?,
        retry_on: row.get(12)?,
        paused: row.get::<_, i64>(13)? != 0,
        next_at: row.get(14)?,
        last_slot: row.get(15)?,
        created_at: row.get(16)?,
        updated_at: row.get(17)?,
    })
}

fn get(conn: &Connection, name: &str) -> Result<Option<Schedule>> {
    Ok(conn
        .prepare_cached(include_str!("../../../sql/schedule_get.sql"))?
        .query_row([name], schedule_from_row)
        .optional()?)
}

/// The statements of [`schedules`] in one `BEGIN IMMEDIATE` transaction.
struct Tx<'a> {
    conn: &'a Connection,
    clock: &'a mut Clock,
}

impl ScheduleWrites for Tx<'_> {
    fn now(&mut self) -> Result<String> {
        Ok(self.clock.now().to_string())
    }

    fn insert(&mut self, s: &Schedule) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(include_str!("../../../sql/schedule_insert.sql"))?
            .execute(params![
                s.name,
                s.cron,
                s.every_ms,
                s.tz,
                s.job_name,
                s.input,
                s.labels,
                s.concurrency_key,
                s.catch_up,
                s.retries,
                s.backoff_ms,
                s.backoff_max_ms,
                s.retry_on,
                s.paused as i64,
                s.next_at,
                s.last_slot,
                s.created_at,
                s.updated_at
            ])?;
        Ok(n == 1)
    }

    fn get(&mut self, name: &str) -> Result<Option<Schedule>> {
        get(self.conn, name)
    }

    fn due_locked(&mut self, name: &str, now: &str) -> Result<Option<Schedule>> {
        Ok(self
            .conn
            .prepare_cached(include_str!("../../../sql/schedule_lock.sql"))?
            .query_row([name, now], schedule_from_row)
            .optional()?)
    }

    fn advance(
        &mut self,
        name: &str,
        read: &str,
        next_at: &str,
        last_slot: Option<&str>,
        now: &str,
    ) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(include_str!("../../../sql/schedule_advance.sql"))?
            .execute(params![name, read, next_at, last_slot, now])?;
        Ok(n == 1)
    }

    fn set_paused(
        &mut self,
        name: &str,
        paused: bool,
        next_at: Option<&str>,
        now: &str,
    ) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(include_str!("../../../sql/schedule_pause.sql"))?
            .execute(params![name, paused as i64, next_at, now])?;
        Ok(n == 1)
    }

    fn delete(&mut self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(include_str!("../../../sql/schedule_delete.sql"))?
            .execute([name])?;
        Ok(n == 1)
    }

    fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)> {
        enqueue::enqueue(self.conn, spec, self.clock)
    }
}

impl Sqlite {
    /// `f` over [`Tx`] in one `BEGIN IMMEDIATE` transaction.
    fn schedule_write<T>(&mut self, f: impl FnOnce(&mut Tx) -> Result<T>) -> Result<T> {
        let clock = &mut self.clock;
        db::write(&mut self.conn, &self.path, |tx| {
            f(&mut Tx { conn: tx, clock })
        })
    }
}

impl Schedules for Sqlite {
    fn add_schedule(&mut self, s: &Schedule) -> Result<Schedule> {
        self.schedule_write(|tx| schedules::add(tx, s))
    }

    fn schedules(&mut self) -> Result<Vec<Schedule>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(include_str!("../../../sql/schedule_list.sql"))?;
            let rows = stmt.query_map([], schedule_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn schedule(&mut self, name: &str) -> Result<Option<Schedule>> {
        self.read(|c| get(c, name))
    }

    fn pause_schedule(&mut self, name: &str, paused: bool) -> Result<Schedule> {
        self.schedule_write(|tx| schedules::set_paused(tx, name, paused))
    }

    fn remove_schedule(&mut self, name: &str) -> Result<()> {
        self.schedule_write(|tx| schedules::remove(tx, name))
    }

    /// One read of `idx_durably_cli_schedules_next`, outside any write lock.
    fn due_schedules(&mut self, limit: u64) -> Result<Vec<String>> {
        let now = self.clock.now().to_string();
        let mut stmt = self
            .conn
            .prepare_cached(include_str!("../../../sql/schedule_due.sql"))
            .map_err(|e| db::describe(e.into(), &self.path))?;
        let rows = stmt
            .query_map(params![now, limit as i64], |r| r.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>());
        rows.map_err(|e| db::describe(e.into(), &self.path))
    }

    fn materialise(&mut self, name: &str) -> Result<Option<Materialised>> {
        self.schedule_write(|tx| schedules::materialise(tx, name))
    }
}
