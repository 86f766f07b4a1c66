//! Every clap type: one struct per subcommand; the `///` comments are the `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Durable runs (queued jobs) in one SQLite file, executed by handler programs.
///
/// The database is shared with the TypeScript library @coji/durably: same tables, statuses
/// and JSON shapes.
#[derive(Debug, Parser)]
#[command(
    name = "durably",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Database file [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]
    #[arg(long, global = true, env = "DURABLY_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// How long a writer waits for the database lock before giving up
    #[arg(long, global = true, value_name = "DUR", default_value = "30s")]
    pub busy_timeout: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the schema (idempotent); with --wal also switch the file to WAL mode
    Init(InitArgs),
    /// Enqueue one run from a JSON spec (FILE or -) and/or flags; prints its id
    Enqueue(EnqueueArgs),
    /// Enqueue many runs from NDJSON or a JSON array, all or nothing
    EnqueueMany(EnqueueManyArgs),
    /// List runs, newest first
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show one run with its steps and logs
    Show(ShowArgs),
    /// Delete runs by id, or purge old terminal runs
    Rm(RmArgs),
    /// Cancel pending or leased runs
    Cancel(IdsArgs),
    /// Enqueue a terminal run again as a new pending run; prints the new id
    Retrigger(RetriggerArgs),
    /// Count runs by status and job
    Stats(JsonArgs),
    /// Wait until a run is terminal and print its output
    Wait(WaitArgs),
    /// Execute runs with handler programs
    Work(WorkArgs),
    /// Show a run's logs
    Logs(LogsArgs),
    /// (inside a handler) Run CMD once per run as the named step, memoized across retries
    Step(StepArgs),
    /// (inside a handler) Report progress of the current run
    Progress(ProgressArgs),
    /// (inside a handler) Write a log line for the current run
    Log(LogArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Switch the database to WAL journal mode (readers never block the writer)
    #[arg(long)]
    pub wal: bool,
}

#[derive(Debug, Args, Clone)]
pub struct JsonArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// Flags that build or override a run spec.
#[derive(Debug, Args, Clone)]
pub struct SpecArgs {
    /// Job name (overrides the spec's "job")
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// Label KEY=VALUE, repeatable (merged with the spec's labels; flags win)
    #[arg(long = "label", short = 'l', value_name = "K=V")]
    pub labels: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// File with one JSON run spec, or - for stdin; omit to use flags only
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Input as JSON text (overrides the spec's "input"; default {})
    #[arg(long, value_name = "JSON")]
    pub input: Option<String>,
    /// Return the existing run of this job with this key instead of creating another
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// At most one pending run per job and key; a second one is a conflict (exit 4)
    #[arg(long, value_name = "KEY")]
    pub concurrency_key: Option<String>,
    /// With --concurrency-key: return the pending run instead of a conflict
    #[arg(long)]
    pub coalesce: bool,
    /// Then wait until the run is terminal (id on stderr, output on stdout)
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after DUR (exit 124)
    #[arg(long, value_name = "DUR", requires = "wait")]
    pub timeout: Option<String>,
    /// Print the run as JSON with its disposition
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EnqueueManyArgs {
    /// NDJSON (one spec a line) or a JSON array; - or omitted for stdin
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Commit every N runs (each chunk all or nothing) instead of once for the whole input
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk: Option<u64>,
    /// Print nothing but errors and the summary
    #[arg(long, short)]
    pub quiet: bool,
    /// Print one JSON object per run (id, jobName, disposition, line)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    Ids,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only runs with this label (exact match; repeat to AND)
    #[arg(long = "label", short = 'l', value_name = "K=V")]
    pub labels: Vec<String>,
    /// Only runs in this status (repeat for any of several)
    #[arg(long, short, value_name = "S")]
    pub status: Vec<String>,
    /// Only runs of this job (repeat for any of several)
    #[arg(long, short, value_name = "NAME")]
    pub job: Vec<String>,
    /// Page size
    #[arg(long, short = 'n', default_value_t = 50)]
    pub limit: u64,
    /// Skip N runs (linear in N: prefer --before for deep paging)
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
    /// Only runs older than this run (next page: pass the last id of this one)
    #[arg(long, value_name = "ID")]
    pub before: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Print the query plan instead of runs
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id (or a unique prefix)
    pub id: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Run ids (or unique prefixes) to delete
    #[arg(value_name = "ID", conflicts_with_all = ["older_than", "status", "labels", "job", "dry_run"])]
    pub ids: Vec<String>,
    /// Also delete pending and leased runs (explicit ids only)
    #[arg(long)]
    pub force: bool,
    /// Purge terminal runs that completed more than DUR ago (e.g. 7d, 12h, 0s)
    #[arg(long, value_name = "DUR", conflicts_with = "force")]
    pub older_than: Option<String>,
    /// With --older-than: only these terminal statuses
    #[arg(long, short, value_name = "S", requires = "older_than")]
    pub status: Vec<String>,
    /// With --older-than: only runs with this label (repeat to AND)
    #[arg(
        long = "label",
        short = 'l',
        value_name = "K=V",
        requires = "older_than"
    )]
    pub labels: Vec<String>,
    /// With --older-than: only runs of this job (repeatable)
    #[arg(long, short, value_name = "NAME", requires = "older_than")]
    pub job: Vec<String>,
    /// With --older-than: count what would be deleted, delete nothing
    #[arg(long, requires = "older_than")]
    pub dry_run: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IdsArgs {
    /// Run ids (or unique prefixes)
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RetriggerArgs {
    /// Run id (or a unique prefix) of a terminal run
    pub id: String,
    /// Print the new run as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Run id (or a unique prefix)
    pub id: String,
    /// Give up after DUR (exit 124)
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,
    /// Print the whole run as JSON instead of its output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("mode").args(["once", "until_idle"]))]
pub struct WorkArgs {
    /// Claim at most one run, then exit (0 idle or completed, 5 failed, 6 cancelled)
    #[arg(long)]
    pub once: bool,
    /// Exit when nothing is left to claim and nothing is running
    #[arg(long)]
    pub until_idle: bool,
    /// Handlers to run at once
    #[arg(long, short = 'c', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Only claim runs of this job (repeatable)
    #[arg(long, short, value_name = "NAME")]
    pub job: Vec<String>,
    /// Lease length; renewed every 5s or a third of it, whichever is shorter
    #[arg(long, value_name = "DUR", default_value = "30s")]
    pub lease: String,
    /// How often an idle worker looks for runs
    #[arg(long, value_name = "DUR", default_value = "1s")]
    pub poll: String,
    /// Kill a handler that runs longer than DUR and fail its run
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,
    /// Exit after this many runs
    #[arg(long, value_name = "N")]
    pub max_runs: Option<u64>,
    /// While idle, purge terminal runs that completed more than DUR ago
    #[arg(long, value_name = "DUR")]
    pub retain: Option<String>,
    /// Directory of handlers: a run of job J is executed by DIR/J
    #[arg(long, env = "DURABLY_HANDLERS", value_name = "DIR")]
    pub handlers: Option<PathBuf>,
    /// Handler command for every run (after --), never through a shell
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Run id (or a unique prefix)
    pub id: String,
    /// Keep printing new logs until the run is terminal
    #[arg(long, short)]
    pub follow: bool,
    /// Print one JSON object per log
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StepArgs {
    /// Step name, unique within the run
    pub name: String,
    /// Command to run (after --)
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProgressArgs {
    /// Current amount of work done
    pub current: u64,
    /// Total amount of work
    #[arg(long)]
    pub total: Option<u64>,
    /// What is happening now
    #[arg(long)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log message
    pub message: String,
    /// Level
    #[arg(long, value_enum, default_value_t = Level::Info)]
    pub level: Level,
    /// Structured data as JSON text
    #[arg(long, value_name = "JSON")]
    pub data: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell
    pub shell: clap_complete::Shell,
}
