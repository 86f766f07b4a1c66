//! One module per command: validate arguments, call the store, render. No SQL here.

mod cancel;
mod common;
pub mod complete;
mod completions;
mod enqueue;
mod enqueue_many;
mod init;
mod log;
mod logs;
mod ls;
mod pause;
mod progress;
mod retrigger;
mod rm;
mod schedule;
mod serve;
mod show;
mod stats;
mod step;
mod wait;
mod work;

pub use wait::wait_for;

use crate::cli::{Cli, Command};
use crate::error::{CodedError, ExitCode};
use crate::model::{parse_label, Labels};
use crate::store::Store;
use crate::store::{Access, Options, Target};
use anyhow::{Context as _, Result};
use std::io::Read;
use std::path::PathBuf;

/// What every command gets: where the database is and how to open it.
pub struct Context {
    pub opts: Options,
}

impl Context {
    pub fn open(&self, access: Access) -> Result<Store> {
        Store::open(&self.opts, access)
    }
}

/// Runs the command; returns the exit code of a command that succeeded in part.
pub fn run(cli: Cli) -> Result<ExitCode> {
    crate::output::set_color(match cli.color {
        crate::cli::ColorChoice::Auto => None,
        crate::cli::ColorChoice::Always => Some(true),
        crate::cli::ColorChoice::Never => Some(false),
    });
    crate::output::set_local_time(cli.local);
    let default = cli.db.is_none();
    // Read once, here: below, commands match on the target or ask the store.
    let target = Target::parse(cli.db.clone().unwrap_or_else(crate::store::default_path))?;
    if cli.max_db_size.is_some() && target.file().is_none() {
        return Err(CodedError::usage(
            "--max-db-size: a size cap is SQLite's; a PostgreSQL server's disk is its own to manage",
        )
        .into());
    }
    let ctx = Context {
        opts: Options {
            target,
            busy_timeout: cli.busy_timeout,
            default,
            max_size: cli.max_db_size,
        },
    };
    match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Enqueue(a) => enqueue::run(&ctx, a),
        Command::EnqueueMany(a) => enqueue_many::run(&ctx, a),
        Command::Ls(a) => ls::run(&ctx, a),
        Command::Show(a) => show::run(&ctx, a),
        Command::Rm(a) => rm::run(&ctx, a),
        Command::Cancel(a) => cancel::cancel(&ctx, a),
        Command::Retrigger(a) => retrigger::run(&ctx, a),
        Command::Stats(a) => stats::run(&ctx, a),
        Command::Completions(a) => completions::run(a),
        Command::Pause(a) => pause::pause(&ctx, a),
        Command::Resume(a) => pause::resume(&ctx, a),
        Command::Paused(a) => pause::paused(&ctx, a),
        Command::Wait(a) => wait::run(&ctx, a),
        Command::Work(a) => work::run(&ctx, a),
        Command::Logs(a) => logs::run(&ctx, a),
        Command::Follow(a) => logs::run(
            &ctx,
            crate::cli::LogsArgs {
                id: a.id,
                follow: true,
                json: a.json,
            },
        ),
        Command::Step(a) => step::run(&ctx, a),
        Command::Progress(a) => progress::run(&ctx, a),
        Command::Log(a) => log::run(&ctx, a),
        Command::Serve(a) => serve::run(&ctx, a),
        Command::Schedule(a) => schedule::run(&ctx, a),
    }
}

/// Parses `--label K=V` flags (usage errors).
pub fn parse_labels(flags: &[String]) -> Result<Labels> {
    let mut labels = Labels::new();
    for f in flags {
        let (k, v) = parse_label(f).map_err(|e| CodedError::usage(format!("{e:#}")))?;
        crate::model::merge_label(&mut labels, k, v);
    }
    Ok(labels)
}

/// Parses `--label K=V` filter flags (usage errors): no length limits, see
/// [`crate::model::parse_label_filter`].
pub fn parse_label_filters(flags: &[String]) -> Result<Labels> {
    let mut labels = Labels::new();
    for f in flags {
        let (k, v) =
            crate::model::parse_label_filter(f).map_err(|e| CodedError::usage(format!("{e:#}")))?;
        crate::model::merge_label(&mut labels, k, v);
    }
    Ok(labels)
}

/// Reads FILE (or stdin for `-`/none) whole, as UTF-8.
pub fn read_text(file: Option<&PathBuf>) -> Result<String> {
    let mut bytes = Vec::new();
    match file {
        None => {
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("cannot read stdin")?;
        }
        Some(p) if p.as_os_str() == "-" => {
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("cannot read stdin")?;
        }
        Some(p) => {
            bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        }
    }
    let name = file
        .filter(|p| p.as_os_str() != "-")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "stdin".into());
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{name} is not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}
