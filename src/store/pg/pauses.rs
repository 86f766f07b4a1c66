//! The statements of pauses on PostgreSQL ([`crate::store::pauses`] the rules); a pause's
//! time is the database's `now()`.

use super::typed::p;
use crate::store::pauses::PauseRows;
use anyhow::Result;
use postgres::Client;

/// The pause statements inside one transaction.
pub struct Rows<'a>(pub &'a mut Client);

impl PauseRows for Rows<'_> {
    fn add(&mut self, key: &str) -> Result<bool> {
        let n = self.0.execute_typed(
            include_str!("../../../sql/postgres/pause_add.sql"),
            &[p(&key)],
        )?;
        Ok(n > 0)
    }

    fn remove(&mut self, key: &str) -> Result<bool> {
        let n = self.0.execute_typed(
            include_str!("../../../sql/postgres/pause_remove.sql"),
            &[p(&key)],
        )?;
        Ok(n > 0)
    }

    fn all(&mut self) -> Result<Vec<(String, String)>> {
        let rows = self
            .0
            .query_typed(include_str!("../../../sql/postgres/pauses.sql"), &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
