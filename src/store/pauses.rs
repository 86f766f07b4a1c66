//! Pauses (issue 17), written once for both backends: what `pause`, `resume` and `paused` do
//! with the rows of `durably_cli_pauses` ([`crate::model::pause`] the scopes and their keys).
//! A backend supplies the three statements ([`PauseRows`]) inside its own transaction. The
//! claim statements of both backends skip runs whose job (or the whole queue) is paused.

use crate::model::{Pause, PauseScope};
use anyhow::Result;

/// The statements a backend offers inside one transaction.
pub trait PauseRows {
    /// Inserts the pause unless the scope is paused already; whether it was inserted.
    fn add(&mut self, key: &str) -> Result<bool>;
    /// Deletes the pause of a scope; whether there was one.
    fn remove(&mut self, key: &str) -> Result<bool>;
    /// Every stored pause as (key, paused_at), the whole queue first.
    fn all(&mut self) -> Result<Vec<(String, String)>>;
}

/// Pauses each scope not yet paused; those newly paused (a scope already paused keeps the
/// time it was paused at).
pub fn pause(rows: &mut impl PauseRows, scopes: &[PauseScope]) -> Result<Vec<PauseScope>> {
    let mut added = Vec::new();
    for scope in scopes {
        if rows.add(&scope.key())? {
            added.push(scope.clone());
        }
    }
    Ok(added)
}

/// Lifts the pauses of `scopes` (None: every pause); those that were in force.
pub fn resume(rows: &mut impl PauseRows, scopes: Option<&[PauseScope]>) -> Result<Vec<PauseScope>> {
    let scopes: Vec<PauseScope> = match scopes {
        Some(s) => s.to_vec(),
        None => list(rows)?.into_iter().map(|p| p.scope).collect(),
    };
    let mut lifted = Vec::new();
    for scope in scopes {
        if rows.remove(&scope.key())? {
            lifted.push(scope);
        }
    }
    Ok(lifted)
}

/// Every pause in force (keys of another kind are skipped: a later version's).
pub fn list(rows: &mut impl PauseRows) -> Result<Vec<Pause>> {
    Ok(rows
        .all()?
        .into_iter()
        .filter_map(|(key, paused_at)| {
            PauseScope::from_key(&key).map(|scope| Pause { scope, paused_at })
        })
        .collect())
}
