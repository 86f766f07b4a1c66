//! Steps, logs and progress of a run on PostgreSQL. Writes from inside a handler are fenced by
//! the lease (`status = 'leased' AND lease_generation = ?`): a handler that lost its run writes
//! nothing. A step write locks the run row first, so the step index it reads and advances is
//! not raced by another process of the same run.

use super::rows::step_from_row;
use super::typed::p;
use super::Postgres;
use crate::model::{new_id, Step};
use crate::store::backend::FencedWrites;
use crate::store::{Fence, Fenced, NewLog, NewStep, StepRecord};
use anyhow::Result;
use postgres::error::SqlState;
use postgres::GenericClient;

const COMPLETED: &str = include_str!("../../../sql/postgres/steps_completed.sql");

fn completed_in(c: &mut impl GenericClient, run_id: &str, name: &str) -> Result<Option<Step>> {
    c.query_typed_opt(COMPLETED, &[p(&run_id), p(&name)])?
        .as_ref()
        .map(step_from_row)
        .transpose()
}

impl FencedWrites for Postgres {
    /// The completed step `name` of a run, if any.
    fn completed_step(&self, run_id: &str, name: &str) -> Result<Option<Step>> {
        let row = self.read_typed("read a step", COMPLETED, &[p(&run_id), p(&name)])?;
        row.as_ref().map(step_from_row).transpose()
    }

    /// Whether the fence's lease is still held (a read; writes re-check).
    fn holds_lease(&self, fence: &Fence) -> Result<Fenced> {
        let row = self.read_typed(
            "read a run's lease",
            include_str!("../../../sql/postgres/steps_holds_lease.sql"),
            &[p(&fence.run_id), p(&fence.generation)],
        )?;
        Ok(Fenced::when(row.is_some(), ()))
    }

    /// Records a step (fenced) at the run's current step index; a completed step advances
    /// it and `completed_step_count`. A completed step is not recorded twice: when another
    /// process of the run completed it first, its stored output is the answer.
    fn record_step(&mut self, fence: &Fence, step: &NewStep) -> Result<Fenced<StepRecord>> {
        self.fenced_write("record a step", |tx| {
            // The step's own row keeps this host's clock, like its started_at; the run's
            // updated_at is the database's now (steps_advance.sql).
            let now = crate::time::now();
            let held = tx.query_typed_opt(
                include_str!("../../../sql/postgres/steps_lock_run.sql"),
                &[p(&fence.run_id), p(&fence.generation)],
            )?;
            if held.is_none() {
                return Ok(Fenced::LeaseLost);
            }
            if step.status == "completed" {
                if let Some(done) = completed_in(tx, &fence.run_id, step.name)? {
                    return Ok(Fenced::Done(StepRecord::AlreadyDone(done.output)));
                }
            }
            // A writer that does not lock the run (another runtime) may complete the same
            // step meanwhile: idx_durably_steps_completed_unique refuses ours with 23505.
            let mut sp = tx.transaction()?;
            let inserted = sp.query_typed_opt(
                include_str!("../../../sql/postgres/steps_insert.sql"),
                &[
                    p(&new_id()),
                    p(&fence.run_id),
                    p(&fence.generation),
                    p(&step.name),
                    p(&step.status),
                    p(&step.output),
                    p(&step.error),
                    p(&step.started_at),
                    p(&now),
                ],
            );
            let index: i64 = match inserted {
                Ok(Some(row)) => row.try_get(0)?,
                Ok(None) => return Ok(Fenced::LeaseLost),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    sp.rollback()?;
                    let done = completed_in(tx, &fence.run_id, step.name)?;
                    let output = done.and_then(|s| s.output);
                    return Ok(Fenced::Done(StepRecord::AlreadyDone(output)));
                }
                Err(e) => return Err(e.into()),
            };
            sp.commit()?;
            if step.status == "completed" {
                tx.execute_typed(
                    include_str!("../../../sql/postgres/steps_advance.sql"),
                    &[p(&fence.run_id), p(&fence.generation), p(&index)],
                )?;
            }
            Ok(Fenced::Done(StepRecord::Recorded(
                step.output.map(str::to_string),
            )))
        })
    }

    /// Sets the run's progress (fenced).
    fn set_progress(&mut self, fence: &Fence, progress: &str) -> Result<Fenced> {
        self.fenced_write("set a run's progress", |tx| {
            let n = tx.execute_typed(
                include_str!("../../../sql/postgres/steps_progress.sql"),
                &[p(&fence.run_id), p(&fence.generation), p(&progress)],
            )?;
            Ok(Fenced::when(n > 0, ()))
        })
    }

    /// Appends a log line (fenced).
    fn append_log(&mut self, fence: &Fence, log: &NewLog) -> Result<Fenced> {
        self.fenced_write("append a log line", |tx| {
            let now = crate::time::now();
            let n = tx.execute_typed(
                include_str!("../../../sql/postgres/steps_log.sql"),
                &[
                    p(&new_id()),
                    p(&fence.run_id),
                    p(&fence.generation),
                    p(&log.step_name),
                    p(&log.level),
                    p(&log.message),
                    p(&log.data),
                    p(&now),
                ],
            )?;
            Ok(Fenced::when(n > 0, ()))
        })
    }

    /// Appends log lines in one transaction (fenced, all or none). The run row is locked
    /// first, so the lease cannot change between the lines.
    fn append_logs(&mut self, fence: &Fence, logs: &[(&str, NewLog)]) -> Result<Fenced> {
        self.fenced_write("append log lines", |tx| {
            let held = tx.query_typed_opt(
                include_str!("../../../sql/postgres/steps_lock_run.sql"),
                &[p(&fence.run_id), p(&fence.generation)],
            )?;
            if held.is_none() {
                return Ok(Fenced::LeaseLost);
            }
            let insert = tx.prepare(include_str!("../../../sql/postgres/steps_log.sql"))?;
            for (at, log) in logs {
                tx.execute(
                    &insert,
                    &[
                        &new_id(),
                        &fence.run_id,
                        &fence.generation,
                        &log.step_name,
                        &log.level,
                        &log.message,
                        &log.data,
                        at,
                    ],
                )?;
            }
            Ok(Fenced::Done(()))
        })
    }
}
