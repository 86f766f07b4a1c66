//! What `show`, `logs` and `ls` read, written once for both backends: a run with its steps and
//! logs, a page of logs with whether more can come, a page of runs after the run a handle
//! names (with short handles and a capped count). Each is one snapshot: the backend opens its
//! read transaction and supplies the statements inside it ([`Snapshot`]); the shape of the
//! answer and the order of the reads are here.

use super::{ListFilter, Plan};
use crate::model::{Log, Run, Step};
use anyhow::Result;

/// The statements of the reads below, all in one read transaction of the backend.
pub trait Snapshot {
    /// The run with exactly this id.
    fn run(&mut self, id: &str) -> Result<Option<Run>>;
    /// Resolves a handle ([`super::handles`]) and loads the run (not found when unknown).
    fn find_run(&mut self, given: &str) -> Result<Run>;
    /// The run's steps by index.
    fn steps_of(&mut self, run_id: &str) -> Result<Vec<Step>>;
    /// The run's logs in creation order after `(created_at, id)`, at most `limit`.
    fn logs_of(
        &mut self,
        run_id: &str,
        after: Option<(&str, &str)>,
        limit: Option<u64>,
    ) -> Result<Vec<Log>>;
    /// A page of runs, newest first, by the backend's planner (`filter.before` set).
    fn list(&mut self, filter: &ListFilter) -> Result<Vec<Run>>;
    /// The runs `filter` matches (ignoring offset and limit), counted up to `cap + 1`.
    fn count(&mut self, filter: &ListFilter, cap: u64) -> Result<u64>;
    /// How [`Snapshot::list`] would read the page, and the database's own account of it.
    fn explain(&mut self, filter: &ListFilter) -> Result<(Plan, Vec<Vec<String>>)>;
    /// The short handle of each of `ids` ([`super::handles::unique_handles`]).
    fn unique_handles(&mut self, ids: &[String]) -> Result<Vec<String>>;
}

/// A run with its steps and logs.
pub fn run_details(s: &mut impl Snapshot, given: &str) -> Result<(Run, Vec<Step>, Vec<Log>)> {
    let run = s.find_run(given)?;
    let steps = s.steps_of(&run.id)?;
    let logs = s.logs_of(&run.id, None, None)?;
    Ok((run, steps, logs))
}

/// A page of a run's logs after `(created_at, id)`, and whether the run was terminal (or gone)
/// in the same snapshot: then no later log can appear.
pub fn logs_page(
    s: &mut impl Snapshot,
    run_id: &str,
    after: Option<(&str, &str)>,
    limit: u64,
) -> Result<(bool, Vec<Log>)> {
    let terminal = s.run(run_id)?.is_none_or(|r| r.is_terminal());
    let logs = s.logs_of(run_id, after, Some(limit))?;
    Ok((terminal, logs))
}

/// A page of runs, newest first, after the run `before` names; with `short_ids`, each run's
/// short handle too.
pub fn list_page(
    s: &mut impl Snapshot,
    before: Option<&str>,
    mut filter: ListFilter,
    short_ids: bool,
) -> Result<(Vec<Run>, Vec<String>)> {
    filter.before = before_key(s, before)?;
    page(s, &filter, short_ids)
}

/// [`list_page`] and the number of runs the filter matches from `before` on, up to `cap + 1`
/// (a count above `cap` means "more than `cap`").
pub fn list_page_counted(
    s: &mut impl Snapshot,
    before: Option<&str>,
    mut filter: ListFilter,
    short_ids: bool,
    cap: u64,
) -> Result<(Vec<Run>, Vec<String>, u64)> {
    filter.before = before_key(s, before)?;
    let (runs, short) = page(s, &filter, short_ids)?;
    let count = s.count(&filter, cap)?;
    Ok((runs, short, count))
}

/// How [`list_page`] would read this page.
pub fn explain_list(
    s: &mut impl Snapshot,
    before: Option<&str>,
    mut filter: ListFilter,
) -> Result<(Plan, Vec<Vec<String>>)> {
    filter.before = before_key(s, before)?;
    s.explain(&filter)
}

/// A page of runs and, with `short_ids`, their short handles.
fn page(
    s: &mut impl Snapshot,
    filter: &ListFilter,
    short_ids: bool,
) -> Result<(Vec<Run>, Vec<String>)> {
    let runs = s.list(filter)?;
    let short = if short_ids {
        let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
        s.unique_handles(&ids)?
    } else {
        Vec::new()
    };
    Ok((runs, short))
}

/// The (created_at, id) of the run `before` names, for paging.
fn before_key(s: &mut impl Snapshot, before: Option<&str>) -> Result<Option<(String, String)>> {
    match before {
        Some(given) => {
            let run = s.find_run(given)?;
            Ok(Some((run.created_at, run.id)))
        }
        None => Ok(None),
    }
}
