//! Dynamic shell completion: `source <(DURABLY_COMPLETE=bash durably)` (zsh, fish likewise)
//! registers a completion that calls `durably` back for each TAB, which completes run handles
//! (the ids of the newest runs) and job names (those of the newest runs) from the database the
//! line being completed names (`--db`, else `DURABLY_DB`, else the default file).
//!
//! Completing must never hang, write or print an error: the database is opened for reading
//! with a short busy wait, at most [`RECENT`] runs are read, and any failure completes nothing.

use crate::model::Run;
use crate::store::{Access, ListFilter, Options, Store, Target};
use clap_complete::CompletionCandidate;
use std::ffi::{OsStr, OsString};
use std::time::Duration;

/// Runs read for candidates: a page, whatever the database's size.
const RECENT: u64 = 200;

/// The `--db` of the line being completed (the shell passes it after `--`), else
/// `DURABLY_DB`, else the default file.
fn target_of_line() -> Option<Target> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut db = None;
    for (i, arg) in args.iter().enumerate() {
        let text = arg.to_string_lossy();
        if text == "--db" {
            db = args.get(i + 1).cloned();
        } else if let Some(value) = text.strip_prefix("--db=") {
            db = Some(OsString::from(value));
        }
    }
    let db = db
        .or_else(|| std::env::var_os("DURABLY_DB").filter(|v| !v.is_empty()))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(crate::store::default_path);
    Target::parse(db).ok()
}

/// The newest runs of the line's database, or nothing.
fn recent_runs() -> Vec<Run> {
    let Some(target) = target_of_line() else {
        return Vec::new();
    };
    let opts = Options {
        target,
        busy_timeout: Duration::from_millis(200),
        default: false,
        max_size: None,
    };
    let filter = ListFilter {
        limit: RECENT,
        ..ListFilter::default()
    };
    Store::open(&opts, Access::Read)
        .and_then(|mut store| store.list_page(None, filter, false))
        .map(|(runs, _)| runs)
        .unwrap_or_default()
}

/// Run ids starting with what is typed, newest first, each with its job and status.
pub fn run_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    recent_runs()
        .into_iter()
        .filter(|r| r.id.starts_with(typed.as_ref()))
        .map(|r| {
            let help = format!("{} {}", r.job_name, r.status.as_str());
            CompletionCandidate::new(r.id).help(Some(help.into()))
        })
        .collect()
}

/// Job names of the newest runs starting with what is typed, each once.
pub fn job_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let mut names: Vec<String> = Vec::new();
    for run in recent_runs() {
        if run.job_name.starts_with(typed.as_ref()) && !names.contains(&run.job_name) {
            names.push(run.job_name);
        }
    }
    names.into_iter().map(CompletionCandidate::new).collect()
}
