//! Schedules on PostgreSQL: the statements of [`schedules::ScheduleWrites`] in one READ
//! COMMITTED transaction. Now is the database's `now()` (the transaction's start), so workers
//! on hosts whose clocks disagree decide the same slots at the same moment; the due row is
//! locked `FOR UPDATE SKIP LOCKED` (a second worker skips it) and advanced by compare-and-set.

use super::rows::int;
use super::typed::p;
use super::{clock, describe, enqueue, Postgres};
use crate::model::schedule::Schedule;
use crate::model::{Disposition, Run, RunSpec};
use crate::store::backend::Schedules;
use crate::store::schedules::{self, Materialised, ScheduleWrites};
use crate::store::Clock;
use anyhow::{anyhow, Result};
use postgres::Row;

/// A row of `durably_cli_schedules` ([`schedules::SCHEDULE_COLUMNS`]).
fn schedule_from_row(row: &Row) -> Result<Schedule> {
    let opt_int = |i: usize| -> Result<Option<i64>> {
        Ok(match row.try_get::<_, Option<i64>>(i) {
            Ok(v) => v,
            Err(_) => row.try_get::<_, Option<i32>>(i)?.map(i64::from),
        })
    };
    Ok(Schedule {
        name: row.try_get(0)?,
        cron: row.try_get(1)?,
        every_ms: opt_int(2)?,
        tz: row.try_get(3)?,
        job_name: row.try_get(4)?,
        input: row.try_get(5)?,
        labels: row.try_get(6)?,
        concurrency_key: row.try_get(7)?,
        catch_up: row.try_get(8)?,
        retries: opt_int(9)?,
        backoff_ms: opt_int(10)?,
        backoff_max_ms: opt_int(11)?,
        retry_on: row.try_get(12)?,
        paused: int(row, 13)? != 0,
        next_at: row.try_get(14)?,
        last_slot: row.try_get(15)?,
        created_at: row.try_get(16)?,
        updated_at: row.try_get(17)?,
    })
}

fn get(c: &mut postgres::Client, name: &str) -> Result<Option<Schedule>> {
    c.query_typed_opt(
        include_str!("../../../sql/postgres/schedule_get.sql"),
        &[p(&name)],
    )?
    .map(|r| schedule_from_row(&r))
    .transpose()
}

/// The statements of [`schedules`] in one READ COMMITTED transaction.
struct Tx<'a> {
    c: &'a mut postgres::Client,
    clock: &'a mut Clock,
}

impl ScheduleWrites for Tx<'_> {
    fn now(&mut self) -> Result<String> {
        let row = self.c.query_typed_one(clock::NOW, &[])?;
        let now: String = row.try_get(0)?;
        Ok(self.clock.observe(&now).to_string())
    }

    fn insert(&mut self, s: &Schedule) -> Result<bool> {
        let paused = s.paused as i32;
        let n = self.c.execute_typed(
            include_str!("../../../sql/postgres/schedule_insert.sql"),
            &[
                p(&s.name),
                p(&s.cron),
                p(&s.every_ms),
                p(&s.tz),
                p(&s.job_name),
                p(&s.input),
                p(&s.labels),
                p(&s.concurrency_key),
                p(&s.catch_up),
                p(&s.retries),
                p(&s.backoff_ms),
                p(&s.backoff_max_ms),
                p(&s.retry_on),
                p(&paused),
                p(&s.next_at),
                p(&s.last_slot),
                p(&s.created_at),
                p(&s.updated_at),
            ],
        )?;
        Ok(n == 1)
    }

    fn get(&mut self, name: &str) -> Result<Option<Schedule>> {
        get(self.c, name)
    }

    /// `now` is the database's own now() in the statement; the text given is the same instant.
    fn due_locked(&mut self, name: &str, _now: &str) -> Result<Option<Schedule>> {
        self.c
            .query_typed_opt(
                include_str!("../../../sql/postgres/schedule_lock.sql"),
                &[p(&name)],
            )?
            .map(|r| schedule_from_row(&r))
            .transpose()
    }

    fn advance(
        &mut self,
        name: &str,
        read: &str,
        next_at: &str,
        last_slot: Option<&str>,
        now: &str,
    ) -> Result<bool> {
        let n = self.c.execute_typed(
            include_str!("../../../sql/postgres/schedule_advance.sql"),
            &[p(&name), p(&read), p(&next_at), p(&last_slot), p(&now)],
        )?;
        Ok(n == 1)
    }

    fn set_paused(
        &mut self,
        name: &str,
        paused: bool,
        next_at: Option<&str>,
        now: &str,
    ) -> Result<bool> {
        let paused = paused as i32;
        let n = self.c.execute_typed(
            include_str!("../../../sql/postgres/schedule_pause.sql"),
            &[p(&name), p(&paused), p(&next_at), p(&now)],
        )?;
        Ok(n == 1)
    }

    fn delete(&mut self, name: &str) -> Result<bool> {
        let n = self.c.execute_typed(
            include_str!("../../../sql/postgres/schedule_delete.sql"),
            &[p(&name)],
        )?;
        Ok(n == 1)
    }

    fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)> {
        enqueue::enqueue(self.c, spec, self.clock, &mut Default::default())
    }
}

impl Postgres {
    /// `f` over [`Tx`] in one write transaction; `what` says what to check when the commit's
    /// outcome is unknown.
    fn schedule_write<T>(&mut self, what: &str, f: impl FnOnce(&mut Tx) -> Result<T>) -> Result<T> {
        self.write_then(
            |c, clock| f(&mut Tx { c, clock }),
            |_| format!("`durably schedule ls` tells whether {what}"),
        )
    }
}

impl Schedules for Postgres {
    fn add_schedule(&mut self, s: &Schedule) -> Result<Schedule> {
        let what = format!("schedule {:?} was added", s.name);
        self.schedule_write(&what, |tx| schedules::add(tx, s))
    }

    fn schedules(&mut self) -> Result<Vec<Schedule>> {
        self.read(|c| {
            c.query_typed(include_str!("../../../sql/postgres/schedule_list.sql"), &[])?
                .iter()
                .map(schedule_from_row)
                .collect()
        })
    }

    fn schedule(&mut self, name: &str) -> Result<Option<Schedule>> {
        self.read(|c| get(c, name))
    }

    fn pause_schedule(&mut self, name: &str, paused: bool) -> Result<Schedule> {
        let what = format!("schedule {name:?} is paused");
        self.schedule_write(&what, |tx| schedules::set_paused(tx, name, paused))
    }

    fn remove_schedule(&mut self, name: &str) -> Result<()> {
        let what = format!("schedule {name:?} was removed");
        self.schedule_write(&what, |tx| schedules::remove(tx, name))
    }

    /// One read of `idx_durably_cli_schedules_next` against the database's now, outside any
    /// transaction.
    fn due_schedules(&mut self, limit: u64) -> Result<Vec<String>> {
        let limit = i64::try_from(limit).map_err(|_| anyhow!("limit {limit} too large"))?;
        let _armed = self.armed();
        let mut client = self.client.borrow_mut();
        let rows = client
            .query_typed(
                include_str!("../../../sql/postgres/schedule_due.sql"),
                &[p(&limit)],
            )
            .map_err(|e| describe(e.into(), &self.shown))?;
        rows.iter()
            .map(|r| Ok(r.try_get::<_, String>(0)?))
            .collect()
    }

    fn materialise(&mut self, name: &str) -> Result<Option<Materialised>> {
        let what = format!("schedule {name:?} was materialised (its next slot moved)");
        self.schedule_write(&what, |tx| schedules::materialise(tx, name))
    }
}
