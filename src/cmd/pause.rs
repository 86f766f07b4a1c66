//! `durably pause [--job J]…`, `durably resume [--job J]… | --all`, `durably paused`: what CLI
//! workers do not claim (issue 17; [`crate::store::pauses`] the rules). Pausing creates our
//! tables on a database that lacks them; resuming and listing never do (nothing is paused
//! there). Only `durably work` honours pauses: the library's own workers do not know them.

use super::Context;
use crate::cli::{JsonArgs, PauseArgs, ResumeArgs};
use crate::error::ExitCode;
use crate::model::PauseScope;
use crate::output::escape;
use crate::store::Access;
use anyhow::Result;
use serde_json::json;
use std::io::Write;

/// The scopes `--job` names, or the whole queue.
fn scopes(jobs: &[String]) -> Vec<PauseScope> {
    if jobs.is_empty() {
        return vec![PauseScope::Queue];
    }
    let mut scopes: Vec<PauseScope> = jobs.iter().cloned().map(PauseScope::Job).collect();
    scopes.dedup();
    scopes
}

/// `{"scope": "queue"|"job", "job": …, KEY: flag}`.
fn scope_json(scope: &PauseScope, key: &str, flag: bool) -> serde_json::Value {
    let job = match scope {
        PauseScope::Queue => None,
        PauseScope::Job(name) => Some(name.as_str()),
    };
    let kind = if job.is_some() { "job" } else { "queue" };
    json!({"scope": kind, "job": job, key: flag})
}

pub fn pause(ctx: &Context, args: PauseArgs) -> Result<ExitCode> {
    let wanted = scopes(&args.job);
    let mut store = ctx.open(Access::Write)?;
    let added = store.pause(&wanted)?;
    let mut out = crate::output::stdout();
    for scope in &wanted {
        let new = added.contains(scope);
        if args.json {
            crate::output::json_line(&mut out, &scope_json(scope, "paused", new))?;
        } else if new {
            writeln!(out, "paused {}", escape(&scope.describe()))?;
        } else {
            writeln!(out, "{} was paused already", escape(&scope.describe()))?;
        }
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}

pub fn resume(ctx: &Context, args: ResumeArgs) -> Result<ExitCode> {
    let wanted = (!args.all).then(|| scopes(&args.job));
    let mut store = ctx.open(Access::Write)?;
    let lifted = store.resume(wanted.as_deref())?;
    let left = if args.json {
        Vec::new()
    } else {
        store.paused()?
    };
    let mut out = crate::output::stdout();
    let listed = wanted.clone().unwrap_or_else(|| lifted.clone());
    for scope in &listed {
        let was = lifted.contains(scope);
        if args.json {
            crate::output::json_line(&mut out, &scope_json(scope, "resumed", was))?;
        } else if was {
            writeln!(out, "resumed {}", escape(&scope.describe()))?;
        } else {
            writeln!(out, "{} was not paused", escape(&scope.describe()))?;
        }
    }
    if !args.json && listed.is_empty() {
        writeln!(out, "nothing was paused")?;
    }
    out.flush()?;
    if !left.is_empty() {
        let names: Vec<String> = left.iter().map(|p| p.scope.describe()).collect();
        eprintln!("durably: still paused: {}", escape(&names.join(", ")));
    }
    Ok(ExitCode::Ok)
}

pub fn paused(ctx: &Context, args: JsonArgs) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Read)?;
    let pauses = store.paused()?;
    let mut out = crate::output::stdout();
    if args.json {
        let list: Vec<_> = pauses.iter().map(|p| p.to_json()).collect();
        crate::output::json_pretty(&mut out, &list)?;
    } else if pauses.is_empty() {
        writeln!(out, "nothing is paused")?;
    } else {
        for p in &pauses {
            let since = crate::output::when(&p.paused_at);
            writeln!(
                out,
                "{}  (since {})",
                escape(&p.scope.describe()),
                escape(&since)
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}
