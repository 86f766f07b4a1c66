//! Every SQL statement of durably, one function each, on `&Connection`/`&Transaction`.
//! The store never prints; callers own transactions (`db::write`).

pub mod admin;
pub mod enqueue;
pub mod lease;
pub mod list;
pub mod pending;
pub mod steps;

use crate::error::CodedError;
use crate::model::{Run, RUN_COLUMNS};
use anyhow::Result;
use rusqlite::{Connection, OptionalExtension};

/// The run with exactly this id.
pub fn get_run(conn: &Connection, id: &str) -> Result<Option<Run>> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM durably_runs WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], Run::from_row)
        .optional()?)
}

/// Resolves a full id or a unique, case-insensitive prefix to the run's id.
/// Unknown → exit 3; ambiguous → usage error.
pub fn resolve_id(conn: &Connection, given: &str) -> Result<String> {
    let given = given.trim();
    if given.is_empty() {
        return Err(CodedError::usage("empty run id").into());
    }
    if let Some(id) = conn
        .prepare_cached("SELECT id FROM durably_runs WHERE id = ?1")?
        .query_row([given], |r| r.get::<_, String>(0))
        .optional()?
    {
        return Ok(id);
    }
    if !given
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(CodedError::not_found(format!("run {given} not found")).into());
    }
    let mut found: Vec<String> = Vec::new();
    let mut variants = vec![
        given.to_string(),
        given.to_lowercase(),
        given.to_uppercase(),
    ];
    variants.dedup();
    // A range on the primary-key index: [prefix, prefix + U+10FFFF) holds exactly the ids
    // that start with the prefix (BINARY collation compares UTF-8 bytes), found by one seek.
    // (`id GLOB ?1 || '*'` cannot use the index: its pattern is an expression.)
    let mut stmt =
        conn.prepare_cached("SELECT id FROM durably_runs WHERE id >= ?1 AND id < ?2 LIMIT 2")?;
    for v in &variants {
        let end = format!("{v}\u{10FFFF}");
        for id in stmt.query_map([v.as_str(), end.as_str()], |r| r.get::<_, String>(0))? {
            let id = id?;
            if !found.contains(&id) {
                found.push(id);
            }
        }
    }
    match found.len() {
        0 => Err(CodedError::not_found(format!("run {given} not found")).into()),
        1 => Ok(found.remove(0)),
        _ => Err(CodedError::usage(format!(
            "run id prefix {given} is ambiguous (give more characters)"
        ))
        .into()),
    }
}

/// Resolves and loads a run (exit 3 when unknown).
pub fn find_run(conn: &Connection, given: &str) -> Result<Run> {
    let id = resolve_id(conn, given)?;
    get_run(conn, &id)?
        .ok_or_else(|| CodedError::not_found(format!("run {given} not found")).into())
}

/// The shortest prefix of `id` (at least 12 characters) that no other run shares: two index
/// seeks for the neighbours in id order, so a page of ids costs O(page log n).
pub fn unique_prefix(conn: &Connection, id: &str) -> Result<String> {
    let before: Option<String> = conn
        .prepare_cached("SELECT max(id) FROM durably_runs WHERE id < ?1")?
        .query_row([id], |r| r.get(0))?;
    let after: Option<String> = conn
        .prepare_cached("SELECT min(id) FROM durably_runs WHERE id > ?1")?
        .query_row([id], |r| r.get(0))?;
    let common = |other: &Option<String>| {
        other.as_deref().map_or(0, |o| {
            id.bytes()
                .zip(o.bytes())
                .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                .count()
        })
    };
    let len = (common(&before).max(common(&after)) + 1)
        .max(12)
        .min(id.len());
    Ok(id[..len].to_string())
}
