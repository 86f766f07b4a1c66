//! The statements of pauses on SQLite ([`crate::store::pauses`] the rules).

use crate::store::pauses::PauseRows;
use anyhow::Result;
use rusqlite::Connection;

/// The pause statements inside one transaction; `now` read after `BEGIN IMMEDIATE`.
pub struct Rows<'a> {
    pub conn: &'a Connection,
    pub now: String,
}

impl PauseRows for Rows<'_> {
    fn add(&mut self, key: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(include_str!("../../../sql/pause_add.sql"))?
            .execute([key, self.now.as_str()])?;
        Ok(n > 0)
    }

    fn remove(&mut self, key: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(include_str!("../../../sql/pause_remove.sql"))?
            .execute([key])?;
        Ok(n > 0)
    }

    fn all(&mut self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached(include_str!("../../../sql/pauses.sql"))?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
