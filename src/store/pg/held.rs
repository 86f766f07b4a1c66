//! Held runs on PostgreSQL: the statements of [`held::HeldStatements`] inside the caller's
//! READ COMMITTED transaction, the poll's read and the pages `ls` shows. `sql/postgres/held_*`.
//! Exactly once across processes and hosts: the due rows are taken `FOR UPDATE SKIP LOCKED`
//! (a concurrent release takes the next ones) and a waiting run is locked before it is judged;
//! times are the database's now ([`super::clock`]).

use super::runs;
use super::typed::p;
use super::Postgres;
use crate::model::held::{HeldColumns, HeldRun};
use crate::model::{labels_json, Run, RunSpec};
use crate::store::backend::HeldRuns;
use crate::store::columns::RUN_COLUMNS;
use crate::store::held::{self, HeldAnswer, HeldPeek, HeldStatements, Released, WaitOn};
use crate::store::Clock;
use anyhow::Result;
use postgres::{GenericClient, Row};

const COLUMNS: &str = include_str!("../../../sql/postgres/held_columns.sql");

/// A held run from a row of `sql/postgres/held_columns.sql`.
fn held_from_row(row: &Row) -> Result<HeldRun> {
    Ok(HeldRun::from_columns(HeldColumns {
        id: row.try_get(0)?,
        job_name: row.try_get(1)?,
        input: row.try_get(2)?,
        labels: row.try_get(3)?,
        idempotency_key: row.try_get(4)?,
        concurrency_key: row.try_get(5)?,
        due_at: row.try_get(6)?,
        after_any: row.try_get::<_, i64>(7)? != 0,
        created_at: row.try_get(8)?,
        after: row.try_get(9)?,
    }))
}

/// The statements of the held-run rules in one READ COMMITTED transaction.
pub struct Held<'a, C> {
    pub c: &'a mut C,
    pub clock: &'a mut Clock,
    /// In an `enqueue-many` batch: the database's now was read with its `BEGIN` (the
    /// transaction's start, what `now()` would answer), so no round trip is spent on it.
    pub batch: bool,
}

fn held_run(c: &mut impl GenericClient, id: &str, lock: &str) -> Result<Option<HeldRun>> {
    let sql = format!("{COLUMNS} WHERE h.id = $1 {lock}");
    c.query_typed_opt(&sql, &[p(&id)])?
        .map(|r| held_from_row(&r))
        .transpose()
}

fn held_named(c: &mut impl GenericClient, given: &str) -> Result<Vec<String>> {
    let exact = c
        .query_typed_opt(
            "SELECT 1 FROM durably_cli_held_runs WHERE id = $1",
            &[p(&given)],
        )?
        .is_some();
    let mut sharing = Vec::new();
    if !exact && given.len() >= crate::store::handles::TAIL_MIN {
        let tail = given[given.len() - 8..].to_ascii_lowercase();
        sharing = c
            .query_typed(
                "SELECT id FROM durably_cli_held_runs WHERE lower(right(id, 8)) = $1 \
                 ORDER BY id COLLATE \"C\" LIMIT 6",
                &[p(&tail)],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
    }
    Ok(held::tail_matches(given, exact, sharing))
}

fn ids(rows: Vec<Row>) -> Result<Vec<String>> {
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

impl<C: GenericClient> HeldStatements for Held<'_, C> {
    fn now(&mut self) -> Result<String> {
        if self.batch && !self.clock.last().is_empty() {
            return Ok(self.clock.last().to_string());
        }
        let row = self.c.query_typed_one(super::clock::NOW, &[])?;
        let now: String = row.try_get(0)?;
        Ok(self.clock.observe(&now).to_string())
    }

    fn run_by_idempotency_key(&mut self, job: &str, key: &str) -> Result<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM durably_runs WHERE job_name = $1 AND idempotency_key = $2"
        );
        self.c
            .query_typed_opt(&sql, &[p(&job), p(&key)])?
            .map(|r| super::rows::run_from_row(&r))
            .transpose()
    }

    fn held_by_idempotency_key(&mut self, job: &str, key: &str) -> Result<Option<HeldRun>> {
        let sql = format!("{COLUMNS} WHERE h.job_name = $1 AND h.idempotency_key = $2");
        self.c
            .query_typed_opt(&sql, &[p(&job), p(&key)])?
            .map(|r| held_from_row(&r))
            .transpose()
    }

    fn resolve_run(&mut self, given: &str) -> Result<String> {
        runs::resolve_id(self.c, given)
    }

    fn held_named(&mut self, given: &str) -> Result<Vec<String>> {
        held_named(self.c, given)
    }

    fn insert_attempt(&mut self, a: &crate::model::Attempt) -> Result<()> {
        super::retries::insert_attempt(self.c, a)
    }

    fn insert_held(&mut self, h: &HeldRun) -> Result<()> {
        let r = &h.run;
        let labels = labels_json(&r.label_pairs());
        let after_any = i64::from(h.after_any);
        self.c.execute_typed(
            include_str!("../../../sql/postgres/held_insert.sql"),
            &[
                p(&r.id),
                p(&r.job_name),
                p(&r.input),
                p(&labels),
                p(&r.idempotency_key),
                p(&r.concurrency_key),
                p(&h.due_at),
                p(&after_any),
                p(&r.created_at),
                p(&h.after),
            ],
        )?;
        Ok(())
    }

    fn lock_held(&mut self, id: &str, skip_locked: bool) -> Result<Option<HeldRun>> {
        let lock = if skip_locked {
            "FOR UPDATE OF h SKIP LOCKED"
        } else {
            "FOR UPDATE OF h"
        };
        held_run(self.c, id, lock)
    }

    fn due_ids(
        &mut self,
        now: &str,
        after: &(String, String),
        limit: usize,
    ) -> Result<Vec<(String, String)>> {
        let limit = limit as i64;
        let rows = self.c.query_typed(
            include_str!("../../../sql/postgres/held_due.sql"),
            &[p(&now), p(&limit), p(&after.0), p(&after.1)],
        )?;
        Ok(rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, postgres::Error>>()?)
    }

    fn waits_of(&mut self, id: &str) -> Result<Vec<(String, WaitOn)>> {
        let rows = self.c.query_typed(
            include_str!("../../../sql/postgres/held_waits_of.sql"),
            &[p(&id)],
        )?;
        rows.iter()
            .map(|r| {
                let on: String = r.try_get(0)?;
                let status: Option<String> = r.try_get(1)?;
                let held: bool = r.try_get(2)?;
                let state = match (status, held) {
                    (_, true) => WaitOn::Held,
                    (Some(s), false) => WaitOn::Run(s),
                    (None, false) => WaitOn::Gone,
                };
                Ok((on, state))
            })
            .collect()
    }

    fn move_runs(&mut self, ids_: &[String], now: &str) -> Result<Vec<String>> {
        ids(self.c.query_typed(
            include_str!("../../../sql/postgres/held_move.sql"),
            &[p(&ids_), p(&now)],
        )?)
    }

    fn end_run(&mut self, id: &str, now: &str, error: &str, keep_key: bool) -> Result<bool> {
        let moved = self.c.query_typed(
            include_str!("../../../sql/postgres/held_end.sql"),
            &[p(&id), p(&now), p(&error), p(&keep_key)],
        )?;
        Ok(!moved.is_empty())
    }

    fn delete_held(&mut self, id: &str) -> Result<bool> {
        let gone = self.c.query_typed(
            include_str!("../../../sql/postgres/held_delete.sql"),
            &[p(&id)],
        )?;
        Ok(!gone.is_empty())
    }
}

/// The poll's first read ([`HeldPeek`]: now, whether a run is due, whether any waits): one
/// statement, one round trip, no transaction of its own.
fn peek_row(row: &Row) -> Result<HeldPeek> {
    Ok(HeldPeek {
        now: row.try_get(0)?,
        due: row.try_get(1)?,
        waits: row.try_get(2)?,
        ..HeldPeek::default()
    })
}

/// The rest of the poll's read when runs wait on others: the waiting runs to judge, in the
/// caller's read transaction (a later snapshot than [`peek_row`]'s: the release judges them
/// again under its locks).
fn peek_waits(
    c: &mut impl GenericClient,
    since: Option<&str>,
    sweep: Option<&(String, String)>,
    mut peek: HeldPeek,
) -> Result<HeldPeek> {
    if let Some(since) = since {
        let found = ids(c.query_typed(
            include_str!("../../../sql/postgres/held_recent.sql"),
            &[p(&since), p(&held::WAIT_PAGE)],
        )?)?;
        peek.candidates.extend(found);
    }
    if let Some((run, on)) = sweep {
        let rows = c.query_typed(
            include_str!("../../../sql/postgres/held_sweep.sql"),
            &[p(run), p(on), p(&held::WAIT_PAGE)],
        )?;
        let mut last = None;
        for r in &rows {
            let (id, waits_on, ended): (String, String, bool) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if ended {
                peek.candidates.push(id.clone());
            }
            last = Some((id, waits_on));
        }
        peek.sweep_next = last.filter(|_| rows.len() as i64 == held::WAIT_PAGE);
    }
    peek.candidates.sort();
    peek.candidates.dedup();
    Ok(peek)
}

impl HeldRuns for Postgres {
    fn enqueue_held(&mut self, spec: &RunSpec) -> Result<HeldAnswer> {
        self.write_then(
            |c, clock| {
                held::enqueue(
                    &mut Held {
                        c,
                        clock,
                        batch: false,
                    },
                    spec,
                )
            },
            |answer| match answer {
                HeldAnswer::Created(h) => format!(
                    "held run {} was enqueued if `durably show {}` finds it",
                    h.run.id, h.run.id
                ),
                _ => "nothing was written".to_string(),
            },
        )
    }

    fn peek_held(
        &mut self,
        since: Option<&str>,
        sweep: Option<&(String, String)>,
    ) -> Result<HeldPeek> {
        let row = self
            .read_typed(
                "look for due held runs",
                include_str!("../../../sql/postgres/held_peek.sql"),
                &[],
            )?
            .ok_or_else(|| anyhow::anyhow!("the held runs' poll read returned no row"))?;
        let peek = peek_row(&row)?;
        if !peek.waits || (since.is_none() && sweep.is_none()) {
            return Ok(peek);
        }
        self.read(|c| peek_waits(c, since, sweep, peek))
    }

    fn release_held(
        &mut self,
        candidates: &[String],
        limit: usize,
        after: Option<&(String, String)>,
    ) -> Result<Released> {
        self.write_then(
            |c, clock| {
                let st = &mut Held {
                    c,
                    clock,
                    batch: false,
                };
                held::release(st, candidates, limit, after)
            },
            |_| {
                "held runs may or may not have been released; the next poll releases what is left"
                    .to_string()
            },
        )
    }

    fn find_held(&mut self, given: &str) -> Result<Option<HeldRun>> {
        self.read(|c| {
            let clock = &mut Clock::default();
            let Some(id) = held::resolve_held(
                &mut Held {
                    c: &mut *c,
                    clock,
                    batch: false,
                },
                given,
            )?
            else {
                return Ok(None);
            };
            held_run(c, &id, "")
        })
    }

    fn cancel_held(&mut self, given: &str) -> Result<Option<String>> {
        self.write_then(
            |c, clock| {
                let st = &mut Held {
                    c,
                    clock,
                    batch: false,
                };
                let Some(id) = held::resolve_held(st, given)? else {
                    return Ok(None);
                };
                Ok(held::cancel(st, &id)?.then_some(id))
            },
            |id| {
                format!(
                    "`durably show {}` tells whether it was cancelled",
                    id.as_deref().unwrap_or("")
                )
            },
        )
    }

    fn delete_held(&mut self, given: &str) -> Result<Option<String>> {
        self.write_then(
            |c, clock| {
                let st = &mut Held {
                    c,
                    clock,
                    batch: false,
                };
                let Some(id) = held::resolve_held(st, given)? else {
                    return Ok(None);
                };
                Ok(st.delete_held(&id)?.then_some(id))
            },
            |id| {
                format!(
                    "`durably show {}` tells whether it was deleted",
                    id.as_deref().unwrap_or("")
                )
            },
        )
    }

    fn held_page(
        &mut self,
        job: Option<&str>,
        scheduled: Option<bool>,
        limit: u64,
    ) -> Result<Vec<HeldRun>> {
        let kind = match scheduled {
            Some(true) => " AND h.due_at IS NOT NULL",
            Some(false) => " AND h.due_at IS NULL",
            None => "",
        };
        let sql = format!(
            "{COLUMNS} WHERE ($1::text IS NULL OR h.job_name = $1){kind} \
             ORDER BY h.id DESC LIMIT $2"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            c.query_typed(&sql, &[p(&job), p(&limit)])?
                .iter()
                .map(held_from_row)
                .collect()
        })
    }
}
