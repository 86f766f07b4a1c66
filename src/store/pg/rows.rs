//! Rows of the PostgreSQL backend: runs, steps and logs read from rows of the columns in
//! [`crate::store::columns`] order, the one mapper of each for every statement of `pg/`.

use crate::model::{Log, Run, Step};
use anyhow::Result;
use postgres::{Row, SimpleQueryRow};

/// An integer column as i64, whether the schema made it `integer` (the library) or `bigint`.
pub fn int(row: &Row, i: usize) -> Result<i64> {
    match row.try_get::<_, i32>(i) {
        Ok(v) => Ok(i64::from(v)),
        Err(_) => Ok(row.try_get::<_, i64>(i)?),
    }
}

/// A run from a row of the columns in [`crate::store::columns::RUN_COLUMNS`] order.
pub fn run_from_row(row: &Row) -> Result<Run> {
    Ok(Run {
        id: row.try_get(0)?,
        job_name: row.try_get(1)?,
        input: row.try_get(2)?,
        status: row.try_get::<_, String>(3)?.into(),
        idempotency_key: row.try_get(4)?,
        concurrency_key: row.try_get(5)?,
        labels: row.try_get(6)?,
        current_step_index: int(row, 7)?,
        completed_step_count: int(row, 8)?,
        progress: row.try_get(9)?,
        output: row.try_get(10)?,
        error: row.try_get(11)?,
        lease_owner: row.try_get(12)?,
        lease_expires_at: row.try_get(13)?,
        lease_generation: int(row, 14)?,
        started_at: row.try_get(15)?,
        completed_at: row.try_get(16)?,
        created_at: row.try_get(17)?,
        updated_at: row.try_get(18)?,
    })
}

/// A run from a row of a simple query (every value text) of the columns in
/// [`crate::store::columns::RUN_COLUMNS`] order: the lease writes sent as one message
/// ([`super::literal`]) read their claimed runs this way.
pub fn run_from_text(row: &SimpleQueryRow) -> Result<Run> {
    let text = |i: usize| -> Result<Option<String>> { Ok(row.try_get(i)?.map(str::to_string)) };
    let given = |i: usize| -> Result<String> {
        text(i)?.ok_or_else(|| anyhow::anyhow!("column {i} of a claimed run is NULL"))
    };
    let int = |i: usize| -> Result<i64> { Ok(given(i)?.parse()?) };
    Ok(Run {
        id: given(0)?,
        job_name: given(1)?,
        input: given(2)?,
        status: given(3)?.into(),
        idempotency_key: text(4)?,
        concurrency_key: text(5)?,
        labels: given(6)?,
        current_step_index: int(7)?,
        completed_step_count: int(8)?,
        progress: text(9)?,
        output: text(10)?,
        error: text(11)?,
        lease_owner: text(12)?,
        lease_expires_at: text(13)?,
        lease_generation: int(14)?,
        started_at: text(15)?,
        completed_at: text(16)?,
        created_at: given(17)?,
        updated_at: given(18)?,
    })
}

/// A step from a row of the columns in [`crate::store::columns::STEP_COLUMNS`] order.
pub fn step_from_row(row: &Row) -> Result<Step> {
    Ok(Step {
        id: row.try_get(0)?,
        run_id: row.try_get(1)?,
        name: row.try_get(2)?,
        index: int(row, 3)?,
        status: row.try_get(4)?,
        output: row.try_get(5)?,
        error: row.try_get(6)?,
        started_at: row.try_get(7)?,
        completed_at: row.try_get(8)?,
    })
}

/// A log from a row of the columns in [`crate::store::columns::LOG_COLUMNS`] order.
pub fn log_from_row(row: &Row) -> Result<Log> {
    Ok(Log {
        id: row.try_get(0)?,
        run_id: row.try_get(1)?,
        step_name: row.try_get(2)?,
        level: row.try_get(3)?,
        message: row.try_get(4)?,
        data: row.try_get(5)?,
        created_at: row.try_get(6)?,
    })
}
