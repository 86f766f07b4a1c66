//! Held runs on SQLite: the statements of [`held::HeldStatements`] inside the caller's
//! `BEGIN IMMEDIATE` transaction (which makes every release exactly once), the poll's read
//! ([`peek`]) and the pages `ls` shows. `sql/held_*.sql`.

use super::enqueue::KeyReads;
use crate::model::held::{HeldColumns, HeldRun};
use crate::model::{labels_json, Run};
use crate::store::held::{self, HeldPeek, HeldStatements, WaitOn};
use crate::store::rules::KeyHolders;
use crate::store::Clock;
use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension, Row};

const COLUMNS: &str = include_str!("../../../sql/held_columns.sql");

/// A held run from a row of `sql/held_columns.sql`.
fn held_from_row(row: &Row) -> rusqlite::Result<HeldRun> {
    Ok(HeldRun::from_columns(HeldColumns {
        id: row.get(0)?,
        job_name: row.get(1)?,
        input: row.get(2)?,
        labels: row.get(3)?,
        idempotency_key: row.get(4)?,
        concurrency_key: row.get(5)?,
        due_at: row.get(6)?,
        after_any: row.get::<_, i64>(7)? != 0,
        created_at: row.get(8)?,
        after: row.get(9)?,
    }))
}

/// The statements of the held-run rules in one `BEGIN IMMEDIATE` transaction.
pub struct Held<'a> {
    pub conn: &'a Connection,
    pub clock: &'a mut Clock,
}

fn one_held(
    conn: &Connection,
    filter: &str,
    key: &[&dyn rusqlite::ToSql],
) -> Result<Option<HeldRun>> {
    let sql = format!("{COLUMNS} WHERE {filter}");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(key, held_from_row)
        .optional()?)
}

/// The held run with exactly this id.
pub fn held_run(conn: &Connection, id: &str) -> Result<Option<HeldRun>> {
    one_held(conn, "h.id = ?1", &[&id])
}

/// The ids of held runs a handle names ([`HeldStatements::held_named`]).
pub fn held_named(conn: &Connection, given: &str) -> Result<Vec<String>> {
    let exact = conn
        .prepare_cached("SELECT 1 FROM durably_cli_held_runs WHERE id = ?1")?
        .exists([given])?;
    let mut sharing = Vec::new();
    if !exact && given.len() >= crate::store::handles::TAIL_MIN {
        let tail = given[given.len() - 8..].to_ascii_lowercase();
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM durably_cli_held_runs WHERE lower(substr(id, -8)) = ?1 ORDER BY id LIMIT 6",
        )?;
        sharing = stmt
            .query_map([tail], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(held::tail_matches(given, exact, sharing))
}

impl HeldStatements for Held<'_> {
    fn now(&mut self) -> Result<String> {
        Ok(self.clock.now().to_string())
    }

    fn run_by_idempotency_key(&mut self, job: &str, key: &str) -> Result<Option<Run>> {
        KeyReads(self.conn).by_idempotency_key(job, key)
    }

    fn held_by_idempotency_key(&mut self, job: &str, key: &str) -> Result<Option<HeldRun>> {
        one_held(
            self.conn,
            "h.job_name = ?1 AND h.idempotency_key = ?2",
            &[&job, &key],
        )
    }

    fn resolve_run(&mut self, given: &str) -> Result<String> {
        super::resolve_id(self.conn, given)
    }

    fn held_named(&mut self, given: &str) -> Result<Vec<String>> {
        held_named(self.conn, given)
    }

    fn insert_attempt(&mut self, a: &crate::model::Attempt) -> Result<()> {
        super::retries::insert_attempt(self.conn, a)
    }

    fn insert_held(&mut self, h: &HeldRun) -> Result<()> {
        let r = &h.run;
        self.conn
            .prepare_cached(include_str!("../../../sql/held_insert.sql"))?
            .execute(params![
                r.id,
                r.job_name,
                r.input,
                labels_json(&r.label_pairs()),
                r.idempotency_key,
                r.concurrency_key,
                h.due_at,
                i64::from(h.after_any),
                r.created_at
            ])?;
        let mut wait = self.conn.prepare_cached(
            "INSERT INTO durably_cli_held_waits (run_id, waits_on) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        )?;
        for on in &h.after {
            wait.execute([&r.id, on])?;
        }
        Ok(())
    }

    fn lock_held(&mut self, id: &str, _skip_locked: bool) -> Result<Option<HeldRun>> {
        held_run(self.conn, id)
    }

    fn due_ids(
        &mut self,
        now: &str,
        after: &(String, String),
        limit: usize,
    ) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached(include_str!("../../../sql/held_due.sql"))?;
        let keys = stmt
            .query_map(params![now, limit as i64, after.0, after.1], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    }

    fn waits_of(&mut self, id: &str) -> Result<Vec<(String, WaitOn)>> {
        let mut stmt = self
            .conn
            .prepare_cached(include_str!("../../../sql/held_waits_of.sql"))?;
        let rows = stmt
            .query_map([id], |r| {
                let on: String = r.get(0)?;
                let status: Option<String> = r.get(1)?;
                let held: bool = r.get(2)?;
                let state = match (status, held) {
                    (_, true) => WaitOn::Held,
                    (Some(s), false) => WaitOn::Run(s),
                    (None, false) => WaitOn::Gone,
                };
                Ok((on, state))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn move_runs(&mut self, ids: &[String], now: &str) -> Result<Vec<String>> {
        let json = serde_json::to_string(ids)?;
        let moved: Vec<String> = self
            .conn
            .prepare_cached(include_str!("../../../sql/held_move.sql"))?
            .query_map(params![json, now], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if !moved.is_empty() {
            self.move_rest(&serde_json::to_string(&moved)?)?;
        }
        Ok(moved)
    }

    fn end_run(&mut self, id: &str, now: &str, error: &str, keep_key: bool) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(include_str!("../../../sql/held_end.sql"))?
            .execute(params![id, now, error, keep_key])?;
        if n == 0 {
            return Ok(false);
        }
        self.move_rest(&serde_json::to_string(&[id])?)?;
        Ok(true)
    }

    fn delete_held(&mut self, id: &str) -> Result<bool> {
        // The held row first: only when there was one do its waits and attempt row go.
        for (i, stmt) in split(include_str!("../../../sql/held_delete.sql")).enumerate() {
            let n = self.conn.prepare_cached(stmt)?.execute([id])?;
            if i == 0 && n == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Held<'_> {
    /// The label rows of runs just moved in, and their held rows and waits deleted.
    fn move_rest(&mut self, ids_json: &str) -> Result<()> {
        for stmt in split(include_str!("../../../sql/held_move_rest.sql")) {
            self.conn.prepare_cached(stmt)?.execute([ids_json])?;
        }
        Ok(())
    }
}

/// The statements of a file of several, without its comments' semicolons mattering.
fn split(sql: &'static str) -> impl Iterator<Item = &'static str> {
    sql.split(';').map(str::trim).filter(|s| {
        s.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
    })
}

/// The poll's read ([`HeldPeek`]): whether a run is due now, whether any waits, and the
/// waiting runs to judge: those waiting on a run that ended at or after `since` (None: no
/// recent scan) and a page of the sweep after `sweep` (None: no sweep this time).
pub fn peek(
    conn: &Connection,
    now: &str,
    since: Option<&str>,
    sweep: Option<&(String, String)>,
) -> Result<HeldPeek> {
    let (due, waits) = conn
        .prepare_cached(include_str!("../../../sql/held_peek.sql"))?
        .query_row([now], |r| Ok((r.get::<_, bool>(0)?, r.get::<_, bool>(1)?)))?;
    let mut peek = HeldPeek {
        now: now.to_string(),
        due,
        waits,
        ..HeldPeek::default()
    };
    if !waits {
        return Ok(peek);
    }
    if let Some(since) = since {
        let mut stmt = conn.prepare_cached(include_str!("../../../sql/held_recent.sql"))?;
        let ids: Vec<String> = stmt
            .query_map(params![since, held::WAIT_PAGE], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        peek.candidates.extend(ids);
    }
    if let Some((run, on)) = sweep {
        let mut stmt = conn.prepare_cached(include_str!("../../../sql/held_sweep.sql"))?;
        let rows: Vec<(String, String, bool)> = stmt
            .query_map(params![run, on, held::WAIT_PAGE], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        peek.sweep_next = (rows.len() as i64 == held::WAIT_PAGE)
            .then(|| rows.last().map(|(r, o, _)| (r.clone(), o.clone())))
            .flatten();
        peek.candidates
            .extend(rows.into_iter().filter(|r| r.2).map(|r| r.0));
    }
    peek.candidates.sort();
    peek.candidates.dedup();
    Ok(peek)
}

/// A page of held runs for `ls`, newest first (by id, which is time-ordered): of `job` when
/// given, only `scheduled` or only `waiting` when asked; at most `limit`.
pub fn page(
    conn: &Connection,
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
        "{COLUMNS} WHERE (?1 IS NULL OR h.job_name = ?1){kind} ORDER BY h.id DESC LIMIT ?2"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![job, limit as i64], held_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

impl crate::store::backend::HeldRuns for super::Sqlite {
    fn enqueue_held(&mut self, spec: &crate::model::RunSpec) -> Result<held::HeldAnswer> {
        let clock = &mut self.clock;
        super::db::write(&mut self.conn, &self.path, |tx| {
            held::enqueue(&mut Held { conn: tx, clock }, spec)
        })
    }

    fn peek_held(
        &mut self,
        since: Option<&str>,
        sweep: Option<&(String, String)>,
    ) -> Result<HeldPeek> {
        let now = self.clock.now().to_string();
        self.read(|c| peek(c, &now, since, sweep))
    }

    fn release_held(
        &mut self,
        candidates: &[String],
        limit: usize,
        after: Option<&(String, String)>,
    ) -> Result<held::Released> {
        let clock = &mut self.clock;
        super::db::write(&mut self.conn, &self.path, |tx| {
            held::release(&mut Held { conn: tx, clock }, candidates, limit, after)
        })
    }

    fn find_held(&mut self, given: &str) -> Result<Option<HeldRun>> {
        self.read(|c| {
            let clock = &mut Clock::default();
            let Some(id) = held::resolve_held(&mut Held { conn: c, clock }, given)? else {
                return Ok(None);
            };
            held_run(c, &id)
        })
    }

    fn cancel_held(&mut self, given: &str) -> Result<Option<String>> {
        let clock = &mut self.clock;
        super::db::write(&mut self.conn, &self.path, |tx| {
            let st = &mut Held { conn: tx, clock };
            let Some(id) = held::resolve_held(st, given)? else {
                return Ok(None);
            };
            Ok(held::cancel(st, &id)?.then_some(id))
        })
    }

    fn delete_held(&mut self, given: &str) -> Result<Option<String>> {
        let clock = &mut self.clock;
        super::db::write(&mut self.conn, &self.path, |tx| {
            let st = &mut Held { conn: tx, clock };
            let Some(id) = held::resolve_held(st, given)? else {
                return Ok(None);
            };
            Ok(st.delete_held(&id)?.then_some(id))
        })
    }

    fn held_page(
        &mut self,
        job: Option<&str>,
        scheduled: Option<bool>,
        limit: u64,
    ) -> Result<Vec<HeldRun>> {
        self.read(|c| page(c, job, scheduled, limit))
    }
}
