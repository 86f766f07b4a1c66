//! The statements of retries on PostgreSQL ([`crate::store::retries`] the rules). Times are
//! the database's `now()` (the failure's transaction's start).

use super::typed::p;
use crate::model::Attempt;
use crate::store::retries::{attempt_from, RetryRows};
use anyhow::{anyhow, Result};
use postgres::{GenericClient, Row};

fn attempt_row(r: &Row) -> Result<Attempt> {
    Ok(attempt_from(
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        i64::from(r.try_get::<_, i32>(3)?),
        i64::from(r.try_get::<_, i32>(4)?),
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
    ))
}

/// Inserts an attempt row (enqueue, a successor).
pub fn insert_attempt(c: &mut impl GenericClient, a: &Attempt) -> Result<()> {
    let attempt = i32::try_from(a.attempt).unwrap_or(i32::MAX);
    let max = i32::try_from(a.policy.max_attempts).unwrap_or(i32::MAX);
    let retry_on = a.policy.retry_on_json();
    c.execute_typed(
        include_str!("../../../sql/postgres/attempt_insert.sql"),
        &[
            p(&a.run_id),
            p(&a.first_run_id),
            p(&a.previous_run_id),
            p(&attempt),
            p(&max),
            p(&a.policy.backoff_ms),
            p(&a.policy.backoff_max_ms),
            p(&retry_on),
        ],
    )?;
    Ok(())
}

/// The attempt row of a run.
pub fn attempt_of(c: &mut impl GenericClient, run_id: &str) -> Result<Option<Attempt>> {
    c.query_typed_opt(
        include_str!("../../../sql/postgres/attempt_of.sql"),
        &[p(&run_id)],
    )?
    .map(|r| attempt_row(&r))
    .transpose()
}

/// Every attempt of the chain `run_id` belongs to, in order (empty: none).
pub fn chain(c: &mut impl GenericClient, run_id: &str) -> Result<Vec<Attempt>> {
    let Some(this) = attempt_of(c, run_id)? else {
        return Ok(Vec::new());
    };
    c.query_typed(
        include_str!("../../../sql/postgres/attempt_chain.sql"),
        &[p(&this.first_run_id)],
    )?
    .iter()
    .map(attempt_row)
    .collect()
}

/// Those of `ids` that have a successor.
pub fn superseded(c: &mut impl GenericClient, ids: &[String]) -> Result<Vec<String>> {
    let ids = ids.to_vec();
    Ok(c.query_typed(
        include_str!("../../../sql/postgres/attempts_superseded.sql"),
        &[p(&ids)],
    )?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?)
}

/// The retry statements inside one transaction.
pub struct Rows<'a>(pub &'a mut postgres::Client);

impl RetryRows for Rows<'_> {
    fn fail(&mut self, id: &str, generation: i64, error: &str) -> Result<bool> {
        let n = self.0.execute_typed(
            include_str!("../../../sql/postgres/lease_fail.sql"),
            &[p(&id), p(&generation), p(&error)],
        )?;
        Ok(n > 0)
    }

    fn attempt_of(&mut self, run_id: &str) -> Result<Option<Attempt>> {
        attempt_of(self.0, run_id)
    }

    fn hold(&mut self, successor: &str, failed: &str, delay_ms: i64) -> Result<String> {
        let row = self
            .0
            .query_typed_opt(
                include_str!("../../../sql/postgres/retry_hold.sql"),
                &[p(&successor), p(&delay_ms), p(&failed)],
            )?
            .ok_or_else(|| anyhow!("run {failed} vanished while its retry was held"))?;
        Ok(row.try_get(0)?)
    }

    fn insert_attempt(&mut self, attempt: &Attempt) -> Result<()> {
        insert_attempt(self.0, attempt)
    }
}

/// How often CLI workers gave the run back (durably_cli_given_back).
pub fn given_back(c: &mut impl GenericClient, run_id: &str) -> Result<i64> {
    Ok(c.query_typed_opt(
        include_str!("../../../sql/postgres/given_back.sql"),
        &[p(&run_id)],
    )?
    .map(|r| r.try_get(0))
    .transpose()?
    .unwrap_or(0))
}
