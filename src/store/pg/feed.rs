//! What `durably serve` reads beside the commands' reads: the runs changed since the event
//! poller's cursor and the completions per minute of `/stats`
//! (`sql/postgres/runs_updated_since.sql`, `sql/postgres/completions_per_minute.sql`).

use super::rows::run_from_row;
use super::typed::p;
use crate::model::Run;
use anyhow::Result;
use postgres::GenericClient;

/// Runs whose `updated_at` is at or after `since`, oldest change first, at most `limit`.
pub fn runs_updated_since(c: &mut impl GenericClient, since: &str, limit: u64) -> Result<Vec<Run>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    c.query_typed(
        include_str!("../../../sql/postgres/runs_updated_since.sql"),
        &[p(&since), p(&limit)],
    )?
    .iter()
    .map(run_from_row)
    .collect()
}

/// Completed and failed runs counted by minute of `completed_at` from `since` on:
/// (`YYYY-MM-DDTHH:MM`, status, count).
pub fn completions_per_minute(
    c: &mut impl GenericClient,
    since: &str,
) -> Result<Vec<(String, String, i64)>> {
    c.query_typed(
        include_str!("../../../sql/postgres/completions_per_minute.sql"),
        &[p(&since)],
    )?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
    .collect()
}
