//! Every clap type: one struct per subcommand; the `///` comments are the `--help` text.

use crate::model::Status;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::ArgValueCompleter;
use std::path::PathBuf;
use std::time::Duration;

/// The heading of the options every subcommand accepts, shown apart from the command's own.
const GLOBAL: &str = "Global options";

/// Durable runs (queued jobs) in one SQLite file or a PostgreSQL database, executed by handler
/// programs.
///
/// The database is shared with the TypeScript library @coji/durably: same tables, statuses
/// and JSON shapes.
#[derive(Debug, Parser)]
#[command(
    name = "durably",
    version,
    max_term_width = 100,
    after_help = EXAMPLES_TOP
)]
pub struct Cli {
    /// The database: a SQLite file path or a postgres:// URL (or set DURABLY_DB) [default: $XDG_DATA_HOME/durably/durably.db or ~/.local/share/durably/durably.db]
    #[arg(
        long,
        global = true,
        env = "DURABLY_DB",
        hide_env_values = true,
        value_name = "FILE",
        help_heading = GLOBAL
    )]
    pub db: Option<PathBuf>,

    /// How long a writer waits for the database lock (on PostgreSQL also for a connection
    /// slot when the server is full) before giving up
    #[arg(
        long,
        global = true,
        value_name = "DUR",
        default_value = "30s",
        value_parser = busy_timeout,
        help_heading = GLOBAL
    )]
    pub busy_timeout: Duration,

    /// Cap the SQLite file at SIZE bytes (suffix K, M, G, T: powers of 1024): a write that
    /// would grow it further fails as "disk full", exit 1, nothing written (a quota, so that a
    /// runaway producer cannot fill a shared disk). A worker passes it on to its handlers.
    /// SQLite only
    #[arg(
        long,
        global = true,
        env = "DURABLY_MAX_DB_SIZE",
        value_name = "SIZE",
        value_parser = db_size,
        help_heading = GLOBAL
    )]
    pub max_db_size: Option<u64>,

    /// Colour statuses: auto (on a terminal, unless NO_COLOR is set), always or never
    #[arg(
        long,
        global = true,
        value_name = "WHEN",
        value_enum,
        default_value_t = ColorChoice::Auto,
        help_heading = GLOBAL
    )]
    pub color: ColorChoice,

    /// Show times in the local time zone (TZ, else /etc/localtime) instead of UTC; JSON keeps
    /// the stored UTC text
    #[arg(
        long,
        global = true,
        env = "DURABLY_LOCAL_TIME",
        value_parser = clap::builder::FalseyValueParser::new(),
        help_heading = GLOBAL
    )]
    pub local: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// When `--color` colours statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE also on a pipe)
    Auto,
    /// Also on a pipe, whatever NO_COLOR says
    Always,
    /// Never
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the schema (idempotent); with --wal also switch the file to WAL mode
    #[command(after_help = EXAMPLES_INIT)]
    Init(InitArgs),
    /// Enqueue one run from a JSON spec (FILE or -) and/or flags; prints its id
    #[command(after_help = EXAMPLES_ENQUEUE)]
    Enqueue(EnqueueArgs),
    /// Enqueue many runs from NDJSON or a JSON array, all or nothing
    #[command(after_help = EXAMPLES_ENQUEUE_MANY)]
    EnqueueMany(EnqueueManyArgs),
    /// List runs, newest first (the table's IDs are handles: unique id tails)
    #[command(visible_alias = "list", after_help = EXAMPLES_LS)]
    Ls(LsArgs),
    /// Show one run with its steps and logs
    #[command(after_help = EXAMPLES_SHOW)]
    Show(ShowArgs),
    /// Delete runs by id, or purge old terminal runs
    #[command(after_help = EXAMPLES_RM)]
    Rm(RmArgs),
    /// Cancel pending, leased or held (scheduled, waiting) runs
    #[command(after_help = EXAMPLES_CANCEL)]
    Cancel(IdsArgs),
    /// Enqueue a terminal run again as a new pending run; prints the new id
    #[command(after_help = EXAMPLES_RETRIGGER)]
    Retrigger(RetriggerArgs),
    /// Count runs by status and job
    #[command(after_help = EXAMPLES_STATS)]
    Stats(JsonArgs),
    /// Stop CLI workers from claiming runs of a job (--job), or of every job
    ///
    /// A paused job's pending runs stay pending and its running runs finish; `durably work`
    /// claims none of them until `durably resume`. Without --job the whole queue is paused;
    /// a job's own pause and the whole queue's are separate (resuming one leaves the other).
    /// Pausing what is paused already changes nothing (it keeps its first time).
    /// Only `durably work` knows about pauses: workers of @coji/durably itself (its
    /// `createDurably` worker) keep claiming runs of a paused job.
    #[command(after_help = EXAMPLES_PAUSE)]
    Pause(PauseArgs),
    /// Lift pauses: of the jobs named by --job, of the whole queue (no --job), or all (--all)
    #[command(after_help = EXAMPLES_PAUSE)]
    Resume(ResumeArgs),
    /// List what is paused (the whole queue, jobs) and since when
    #[command(after_help = EXAMPLES_PAUSE)]
    Paused(JsonArgs),
    /// Runs enqueued by the clock (a cron expression in a time zone, or every DUR): `durably
    /// work` materialises each due slot into one run
    #[command(subcommand, after_help = EXAMPLES_SCHEDULE)]
    Schedule(ScheduleCommand),
    /// Wait until a run is terminal and print its output
    #[command(after_help = EXAMPLES_WAIT)]
    Wait(WaitArgs),
    /// Execute runs with handler programs
    ///
    /// A handler is any executable, started without a shell, once per run. It gets:
    ///   stdin   the run's input JSON
    ///   env     DURABLY_DB (the database: a file's absolute path, or the PostgreSQL URL
    ///           without its password, which DURABLY_PASSFILE, a 0600 file, then holds for
    ///           the handler's own durably commands), DURABLY_RUN_ID, DURABLY_JOB,
    ///           DURABLY_LEASE_GENERATION, DURABLY_LABELS (the labels as a JSON object),
    ///           DURABLY_BIN (this durably binary, whose directory also comes first in PATH),
    ///           DURABLY_CLAIMED_AT (when this execution claimed the run: `durably step`
    ///           warns when it replays a step completed since then, e.g. a name reused in
    ///           a loop), DURABLY_EXECUTION_DIR (a private directory of this execution,
    ///           used by the commands below, removed when it ends),
    ///           on top of the worker's own environment without PGPASSWORD; the working
    ///           directory is the worker's
    /// and returns:
    ///   exit 0  the run is completed; its output is stdout, stored as JSON when it is JSON,
    ///           else as a JSON string of the text (empty stdout: no output)
    ///   exit ≠0 the run is failed (also when killed by a signal or --timeout); the error
    ///           names the exit and ends with the last 4 KiB of the handler's stderr; but
    ///           after a `durably step/progress/log` of it exited 75 (the database could not
    ///           be used), the run is given back to the queue instead, not failed
    /// Its stderr goes to the worker's stderr and is kept as the run's logs (`durably logs`):
    /// level info, data {"stream":"stderr"}, the first 1000 lines / 256 KiB, lines cut at
    /// 4 KiB, then one warn line counting the rest; written every 0.5 s or 100 lines,
    /// fenced by the lease (--no-stderr-logs: not kept). Inside it, `durably step`,
    /// `durably progress` and `durably log` write to the run it was started for.
    /// SIGINT, SIGTERM, SIGHUP and SIGQUIT stop the worker: it claims nothing more and waits
    /// for its running handlers (a second signal stops them). A worker without --once,
    /// --until-idle or --max-runs whose database is down at start waits for it.
    #[command(after_help = EXAMPLES_WORK, verbatim_doc_comment)]
    Work(WorkArgs),
    /// Show a run's logs
    #[command(after_help = EXAMPLES_LOGS)]
    Logs(LogsArgs),
    /// Print a run's logs as they are written until it ends (`logs --follow`): a command
    /// run's stdout and stderr, a handler's stderr and `durably log` lines
    #[command(after_help = EXAMPLES_FOLLOW)]
    Follow(FollowArgs),
    /// (inside a handler) Run CMD once per run as a named step; a run executed again replays it
    ///
    /// When CMD exits 0 its stdout is stored as the completed step (as JSON when it is JSON,
    /// else as a JSON string of the text) and printed as stored JSON text. When the run is
    /// executed again later (after a crash or a lost lease), a step that already completed is
    /// not run: its stored output is printed instead. A failing CMD is recorded as a failed step
    /// and `durably step` exits with CMD's code. DURABLY_STEP=STEP is exported to CMD, so a
    /// `durably log` inside it is attributed to the step. The name is reserved before CMD runs:
    /// a second `durably step STEP` started meanwhile waits, then prints the stored output.
    /// When the database cannot be used (full, locked, down) it exits 75 and the worker gives
    /// the run back instead of failing it (the same holds for `progress` and `log`).
    #[command(after_help = EXAMPLES_STEP)]
    Step(StepArgs),
    /// (inside a handler) Report progress of the current run
    #[command(after_help = EXAMPLES_PROGRESS)]
    Progress(ProgressArgs),
    /// (inside a handler) Write a log line for the current run
    #[command(after_help = EXAMPLES_LOG)]
    Log(LogArgs),
    /// Serve @coji/durably's HTTP API and a dashboard over the database
    ///
    /// The library's routes (createDurablyHandler of 0.15.0) under --base-path: GET /runs,
    /// /run, /steps, /subscribe and /runs/subscribe (server-sent events read from the
    /// database, so runs changed by CLI workers and the library appear), POST /trigger,
    /// /retrigger and /cancel, DELETE /run; also GET /stats and the dashboard at GET /.
    /// Listens on 127.0.0.1:8080 by default; another address needs --token (or
    /// DURABLY_TOKEN) unless --insecure is given. With a token every request needs
    /// `Authorization: Bearer TOKEN` (the dashboard: open /?token=TOKEN once, a cookie keeps
    /// it). Writes from a page of another origin are refused (--cors ORIGIN allows one);
    /// --read-only refuses every write. SIGINT or SIGTERM stops it: open streams end,
    /// requests in flight finish.
    #[command(after_help = EXAMPLES_SERVE, verbatim_doc_comment)]
    Serve(ServeArgs),
    /// Print a shell completion script
    #[command(after_help = EXAMPLES_COMPLETIONS)]
    Completions(CompletionsArgs),
}

/// `durably schedule …`
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule: from its next slot on, `durably work` enqueues one run per slot
    ///
    /// Each run gets the labels durably.schedule=NAME and durably.slot=SLOT (the slot's time,
    /// UTC, as the library writes timestamps; a handler reads it from DURABLY_LABELS) and the
    /// idempotency key schedule:NAME:SLOT, so a slot never makes two runs.
    #[command(after_help = EXAMPLES_SCHEDULE_ADD)]
    Add(Box<ScheduleAddArgs>),
    /// List schedules with their next firing times
    #[command(visible_alias = "list")]
    Ls(JsonArgs),
    /// Show one schedule and its next firing times
    Show(ScheduleNameArgs),
    /// Delete a schedule (the runs it enqueued stay)
    Rm(ScheduleNameArgs),
    /// Stop materialising a schedule's slots
    Pause(ScheduleNameArgs),
    /// Materialise a paused schedule's slots again, from the first slot after now (slots that
    /// fell while it was paused are not caught up)
    Resume(ScheduleNameArgs),
}

/// Which slots missed while no worker ran become runs.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CatchUpArg {
    /// Skip them: only a slot at most 60s late is run
    None,
    /// One run, for the latest missed slot
    Last,
    /// One run per missed slot (at most the latest 100)
    All,
}

#[derive(Debug, Args)]
pub struct ScheduleAddArgs {
    /// The schedule's name (A-Z a-z 0-9 . _ / -, at most 200 bytes)
    #[arg(value_name = "NAME", value_parser = schedule_name)]
    pub name: String,
    /// A cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6 with
    /// seconds first; @daily and the like too
    #[arg(
        long,
        value_name = "EXPR",
        required_unless_present = "every",
        conflicts_with = "every"
    )]
    pub cron: Option<String>,
    /// A slot every DUR (at least 1s), at multiples of DUR since 1970-01-01T00:00:00Z
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub every: Option<Duration>,
    /// The IANA time zone the cron expression is read in (DST handled by the tz database)
    #[arg(
        long,
        value_name = "ZONE",
        default_value = "UTC",
        conflicts_with = "every"
    )]
    pub tz: String,
    /// The job of the runs
    #[arg(long, value_name = "JOB", add = ArgValueCompleter::new(crate::cmd::complete::job_names), value_parser = job_name)]
    pub job: String,
    /// The runs' input as JSON text (default {})
    #[arg(long, value_name = "JSON")]
    pub input: Option<String>,
    /// Label KEY=VALUE of the runs, repeatable
    #[arg(long = "label", short = 'l', value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// The runs' concurrency key: a slot whose job still has a pending run with it adds none
    #[arg(long, value_name = "KEY", value_parser = key_arg)]
    pub concurrency_key: Option<String>,
    /// Which slots missed while no worker ran become runs
    #[arg(long, value_enum, default_value_t = CatchUpArg::Last)]
    pub catch_up: CatchUpArg,
    /// Retry a failed run up to N more times (the runs' retry policy)
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// With --retries: the first backoff
    #[arg(long, value_name = "DUR", requires = "retries", value_parser = duration)]
    pub backoff: Option<Duration>,
    /// With --retries: the longest backoff
    #[arg(long, value_name = "DUR", requires = "retries", value_parser = duration)]
    pub backoff_max: Option<Duration>,
    /// With --retries: retry only these exit codes (comma-separated)
    #[arg(
        long,
        value_name = "CODES",
        requires = "retries",
        value_delimiter = ','
    )]
    pub retry_on: Vec<i32>,
    /// Print the schedule as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ScheduleNameArgs {
    /// The schedule's name
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Print the schedule as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0: any free port, printed at start)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// Path prefix of every route, e.g. /api/durably
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub base_path: String,
    /// Refuse every writing route (trigger, retrigger, cancel, delete) with 403
    #[arg(long)]
    pub read_only: bool,
    /// Bearer token every request must carry (prefer DURABLY_TOKEN: arguments show in ps)
    #[arg(
        long,
        env = "DURABLY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Allow a non-loopback --bind without a token
    #[arg(long)]
    pub insecure: bool,
    /// Answer CORS requests from this origin (e.g. https://app.example.com), repeatable
    #[arg(long, value_name = "ORIGIN")]
    pub cors: Vec<String>,
    /// Accept this Host header name too (a reverse proxy's), repeatable
    #[arg(long, value_name = "HOST")]
    pub allow_host: Vec<String>,
    /// Accept /trigger and /retrigger only for jobs with a handler in DIR (default: any job)
    #[arg(long, value_name = "DIR")]
    pub handlers: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Switch the database to WAL journal mode (readers never block the writer)
    #[arg(long)]
    pub wal: bool,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Pause this job (repeatable); without it, the whole queue
    #[arg(long, short, value_name = "JOB", add = ArgValueCompleter::new(crate::cmd::complete::job_names), value_parser = job_name)]
    pub job: Vec<String>,
    /// Print one JSON object per scope (scope, job, paused: newly paused or already)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Resume this job (repeatable); without it (and without --all), the whole queue
    #[arg(long, short, value_name = "JOB", add = ArgValueCompleter::new(crate::cmd::complete::job_names), value_parser = job_name)]
    pub job: Vec<String>,
    /// Lift every pause: the whole queue's and every job's
    #[arg(long, conflicts_with = "job")]
    pub all: bool,
    /// Print one JSON object per scope (scope, job, resumed: whether it was paused)
    #[arg(long)]
    pub json: bool,
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
    #[arg(long, value_name = "JOB", add = ArgValueCompleter::new(crate::cmd::complete::job_names), value_parser = job_name)]
    pub job: Option<String>,
    /// Label KEY=VALUE, repeatable (merged with the spec's labels; flags win)
    #[arg(long = "label", short = 'l', value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Hold the run until TIME: RFC 3339 with an offset or Z (2026-12-24T18:00:00+01:00), or
    /// YYYY-MM-DD HH:MM[:SS] in the local time zone (TZ, else /etc/localtime); a time past is
    /// due at once (spec field "at")
    #[arg(long, value_name = "TIME", conflicts_with = "within")]
    pub at: Option<String>,
    /// Hold the run for DUR from now by the database's clock, e.g. 90s, 5m, 2h, 1d (spec
    /// field "in")
    #[arg(long = "in", id = "within", value_name = "DUR")]
    pub within: Option<String>,
    /// Hold the run until every run ID names has completed (repeatable, or several IDs); one
    /// that fails, is cancelled or is deleted cancels this run (spec field "after")
    #[arg(long, value_name = "ID", num_args = 1.., conflicts_with_all = ["at", "within"])]
    pub after: Vec<String>,
    /// With --after: release when every run waited on has ended, however (spec field
    /// "afterAny")
    #[arg(long)]
    pub after_any: bool,
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
    #[arg(long, value_name = "KEY", value_parser = key_arg)]
    pub idempotency_key: Option<String>,
    /// At most one pending run per job and key; a second one is a conflict (exit 4)
    #[arg(long, value_name = "KEY", value_parser = key_arg)]
    pub concurrency_key: Option<String>,
    /// With --concurrency-key: return the pending run instead of a conflict
    #[arg(long)]
    pub coalesce: bool,
    /// When a CLI worker's handler fails the run, try again up to N more times, each a new
    /// run held until its backoff has passed (the library's workers never retry)
    #[arg(long, value_name = "N", help_heading = "Retries")]
    pub retries: Option<u32>,
    /// With --retries: the first delay; each next one doubles, ±10 % [default: 10s]
    #[arg(long, value_name = "DUR", requires = "retries", value_parser = duration, help_heading = "Retries")]
    pub backoff: Option<Duration>,
    /// With --retries: the longest delay [default: 1h]
    #[arg(long, value_name = "DUR", requires = "retries", value_parser = duration, help_heading = "Retries")]
    pub backoff_max: Option<Duration>,
    /// With --retries: retry only these exit codes (e.g. 75,111); default: every failure
    #[arg(long, value_name = "CODES", requires = "retries", value_delimiter = ',', value_parser = exit_code, help_heading = "Retries")]
    pub retry_on: Option<Vec<i32>>,
    /// Then wait until the run is terminal (id on stderr, output on stdout)
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after DUR (exit 124)
    #[arg(long, value_name = "DUR", requires = "wait", value_parser = duration)]
    pub timeout: Option<Duration>,
    /// Print the run as JSON with its disposition
    #[arg(long)]
    pub json: bool,
    /// With -- CMD: store variable NAME (its value here) or NAME=VALUE for the command
    /// (repeatable; nothing of the environment is stored otherwise)
    #[arg(long = "env", short = 'e', value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// A command run: CMD ARGS (after --), executed from this directory, never through a
    /// shell, by a worker started with --commands (job `cmd` unless --job)
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
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
    #[arg(long = "label", short = 'l', value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Only runs in this status (repeat for any of several); scheduled and waiting are held
    /// runs (enqueue --at/--in, --after), listed above the page
    #[arg(long, short, value_name = "STATUS", ignore_case = true, value_parser = ls_status())]
    pub status: Vec<LsStatus>,
    /// Only runs of this job (repeat for any of several)
    #[arg(long, short, value_name = "JOB", add = ArgValueCompleter::new(crate::cmd::complete::job_names))]
    pub job: Vec<String>,
    /// Page size (a cut page says so: the footer, or a line on stderr)
    #[arg(long, short = 'n', value_name = "N", default_value_t = 50, allow_negative_numbers = true, value_parser = count_arg)]
    pub limit: u64,
    /// Skip N runs (linear in N: prefer --before for deep paging)
    #[arg(long, value_name = "N", default_value_t = 0, allow_negative_numbers = true, value_parser = count_arg)]
    pub offset: u64,
    /// Every matching run, read page by page (memory stays flat)
    #[arg(long, conflicts_with_all = ["limit", "offset", "watch", "explain"])]
    pub all: bool,
    /// Only runs older than this run, by id or handle (next page: pass the last id of this one)
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
    /// Only the latest attempt of each retry chain (`enqueue --retries`): runs a retry
    /// followed are left out
    #[arg(long, conflicts_with_all = ["watch", "explain", "all"])]
    pub latest: bool,
    /// Redraw the table every DUR (default 2s) until Ctrl-C; needs a terminal
    #[arg(
        long,
        value_name = "DUR",
        num_args = 0..=1,
        default_missing_value = "2s",
        require_equals = false,
        value_parser = watch_interval,
        conflicts_with_all = ["json", "explain"]
    )]
    pub watch: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id, or a handle: a unique prefix, or a unique tail of 8+ characters (what `ls` shows)
    #[arg(value_name = "ID", add = ArgValueCompleter::new(crate::cmd::complete::run_ids))]
    pub id: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Run ids or handles (unique prefixes, or unique tails of 8+ characters) to delete
    #[arg(value_name = "ID", add = ArgValueCompleter::new(crate::cmd::complete::run_ids), conflicts_with_all = ["older_than", "status", "labels", "job", "dry_run"])]
    pub ids: Vec<String>,
    /// Also delete pending, leased and held (scheduled, waiting) runs (explicit ids only)
    #[arg(long)]
    pub force: bool,
    /// Purge terminal runs that completed more than DUR ago (e.g. 7d, 12h, 0s)
    #[arg(long, value_name = "DUR", conflicts_with = "force", value_parser = duration)]
    pub older_than: Option<Duration>,
    /// With --older-than: only these terminal statuses
    #[arg(
        long,
        short,
        value_name = "STATUS",
        requires = "older_than",
        ignore_case = true,
        value_parser = terminal_status()
    )]
    pub status: Vec<Status>,
    /// With --older-than: only runs with this label (repeat to AND)
    #[arg(
        long = "label",
        short = 'l',
        value_name = "KEY=VALUE",
        requires = "older_than"
    )]
    pub labels: Vec<String>,
    /// With --older-than: only runs of this job (repeatable)
    #[arg(long, short, value_name = "JOB", add = ArgValueCompleter::new(crate::cmd::complete::job_names), requires = "older_than")]
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
    /// Run ids or handles (unique prefixes, or unique tails of 8+ characters)
    #[arg(required = true, value_name = "ID", add = ArgValueCompleter::new(crate::cmd::complete::run_ids))]
    pub ids: Vec<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RetriggerArgs {
    /// Run id, or a handle (a unique prefix, or a unique tail of 8+ characters) of a terminal run
    #[arg(value_name = "ID", add = ArgValueCompleter::new(crate::cmd::complete::run_ids))]
    pub id: String,
    /// Print the new run as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Run id, or a handle: a unique prefix, or a unique tail of 8+ characters (what `ls` shows)
    #[arg(value_name = "ID", add = ArgValueCompleter::new(crate::cmd::complete::run_ids))]
    pub id: String,
    /// Give up after DUR (exit 124)
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub timeout: Option<Duration>,
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
    #[arg(long, short = 'c', value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Only claim runs of this job (repeatable)
    #[arg(long, short, value_name = "JOB", add = ArgValueCompleter::new(crate::cmd::complete::job_names), value_parser = job_name)]
    pub job: Vec<String>,
    /// Lease length; renewed every 5s or a third of it, whichever is shorter (nothing is
    /// claimed while renewals fail)
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = lease_duration)]
    pub lease: Duration,
    /// How often an idle worker looks for runs
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = work_duration)]
    pub poll: Duration,
    /// Kill a handler that runs longer than DUR and fail its run
    #[arg(long, value_name = "DUR", value_parser = work_duration)]
    pub timeout: Option<Duration>,
    /// Exit after this many runs
    #[arg(long, value_name = "N")]
    pub max_runs: Option<u64>,
    /// While idle, purge terminal runs that completed more than DUR ago
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub retain: Option<Duration>,
    /// Do not keep handlers' stderr lines as their runs' logs (they still reach our stderr)
    #[arg(long)]
    pub no_stderr_logs: bool,
    /// One line on stderr per claimed and per ended run, and one when idle (for a journal)
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Fail a run claimed N times without a result (its worker crashed or was killed each
    /// time: a crash loop) instead of executing it again; 0: never. The library's workers
    /// reclaim such a run forever
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_lease_expiries: u32,
    /// Directory of handlers: a run of job J is executed by DIR/J
    #[arg(
        long,
        env = "DURABLY_HANDLERS",
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub handlers: Option<PathBuf>,
    /// Also execute command runs (`durably enqueue -- CMD`) of job `cmd`, or of the jobs
    /// named (--commands=JOB,JOB). Opt-in: whoever can write the database chooses their commands
    #[arg(long, value_name = "JOB", add = ArgValueCompleter::new(crate::cmd::complete::job_names), num_args = 0..=1, require_equals = true,
          default_missing_value = "cmd", value_delimiter = ',', value_parser = job_name)]
    pub commands: Option<Vec<String>>,
    /// Handler command for every run (after --), never through a shell
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
    /// The default retry policy of this worker (one unit or cron line per handler directory
    /// carries its own): a run it fails that was enqueued without `--retries` is tried again
    /// up to N more times, each a new run held until its backoff has passed. A run's own
    /// policy always wins; 0: none
    #[arg(long, value_name = "N", help_heading = "Retries")]
    pub retries: Option<u32>,
    /// With --retries: the first delay; each next one doubles, ±10 % [default: 10s]
    #[arg(long, value_name = "DUR", requires = "retries", value_parser = duration, help_heading = "Retries")]
    pub backoff: Option<Duration>,
    /// With --retries: the longest delay [default: 1h]
    #[arg(long, value_name = "DUR", requires = "retries", value_parser = duration, help_heading = "Retries")]
    pub backoff_max: Option<Duration>,
    /// With --retries: retry only these exit codes (e.g. 75,111); default: every failure
    #[arg(long, value_name = "CODES", requires = "retries", value_delimiter = ',', value_parser = exit_code, help_heading = "Retries")]
    pub retry_on: Option<Vec<i32>>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Run id, or a handle: a unique prefix, or a unique tail of 8+ characters (what `ls` shows)
    #[arg(value_name = "ID", add = ArgValueCompleter::new(crate::cmd::complete::run_ids))]
    pub id: String,
    /// Keep printing new logs until the run is terminal
    #[arg(long, short)]
    pub follow: bool,
    /// Print one JSON object per log
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FollowArgs {
    /// Run id, or a handle: a unique prefix, or a unique tail of 8+ characters (what `ls` shows)
    #[arg(value_name = "ID", add = ArgValueCompleter::new(crate::cmd::complete::run_ids))]
    pub id: String,
    /// Print one JSON object per log
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StepArgs {
    /// Step name, unique within the run
    #[arg(value_name = "STEP")]
    pub name: String,
    /// Print the output as text: a step whose output was text prints that text (not a JSON
    /// string); JSON output prints as stored. For `rows=$(durably step s --raw -- cmd)`.
    #[arg(long)]
    pub raw: bool,
    /// Command to run (after --)
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProgressArgs {
    /// Current amount of work done
    #[arg(value_name = "N")]
    pub current: u64,
    /// Total amount of work
    #[arg(long, value_name = "N")]
    pub total: Option<u64>,
    /// What is happening now (bytes that are not UTF-8 are stored as U+FFFD)
    #[arg(long, value_name = "TEXT")]
    pub message: Option<std::ffi::OsString>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log message (bytes that are not UTF-8 are stored as U+FFFD)
    #[arg(value_name = "TEXT")]
    pub message: std::ffi::OsString,
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

// The parsers of flag values: each turns the text into its type or refuses it with the reason
// that `error::usage_line` puts after "invalid value ... for --flag:".

/// The longest `--lease`, `--poll` and `--timeout` of `work`: longer ones overflow `Instant`
/// (a panic after the claim, leaving the run leased) or wrap the lease expiry into the past (or
/// past year 9999, where string comparison calls it expired), letting another worker claim it.
const MAX_WORK_DURATION: (Duration, &str) = (Duration::from_secs(365 * 24 * 3600), "365d");

/// The shortest `--lease`: renewed every third of it, a shorter lease leaves a renewal (a write
/// that may wait for the lock) no time to land before the lease expires.
const MIN_LEASE: (Duration, &str) = (Duration::from_millis(300), "300ms");

/// The longest `--busy-timeout`: SQLite takes it as an int of milliseconds (rusqlite panics
/// above that).
const MAX_BUSY_TIMEOUT: (Duration, &str) = (Duration::from_millis(i32::MAX as u64), "24d");

/// A duration such as `30s`, `5m`, `1h30m`, `250ms`, `7d` or a bare number of seconds.
fn duration(text: &str) -> Result<Duration, String> {
    crate::time::parse_duration(text).map_err(|e| format!("{e:#}"))
}

fn duration_at_most(text: &str, (max, max_text): (Duration, &str)) -> Result<Duration, String> {
    let d = duration(text)?;
    if d > max {
        return Err(format!("too long (the limit is {max_text})"));
    }
    Ok(d)
}

/// `work --poll` and `work --timeout`.
fn work_duration(text: &str) -> Result<Duration, String> {
    duration_at_most(text, MAX_WORK_DURATION)
}

/// `work --lease`.
fn lease_duration(text: &str) -> Result<Duration, String> {
    let d = work_duration(text)?;
    let (min, min_text) = MIN_LEASE;
    if d < min {
        return Err(format!("must be at least {min_text}"));
    }
    Ok(d)
}

/// `ls --limit` and `--offset`: a whole number of runs, 0 or more (`-n -1` reaches here as a
/// value, not as an unknown flag).
fn count_arg(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| "not a whole number of runs, 0 or more".to_string())
}

/// `--idempotency-key` and `--concurrency-key`: a key, never empty (an empty key would be a
/// key every run given it shares, which nobody means).
fn key_arg(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("empty (leave the flag out for no key)".to_string());
    }
    Ok(text.to_string())
}

/// `ls --watch`: from 100ms to a day.
fn watch_interval(text: &str) -> Result<Duration, String> {
    let d = duration_at_most(text, (Duration::from_secs(86_400), "1d"))?;
    if d < Duration::from_millis(100) {
        return Err("too short (the least is 100ms)".to_string());
    }
    Ok(d)
}

/// `--busy-timeout`.
fn busy_timeout(text: &str) -> Result<Duration, String> {
    duration_at_most(text, MAX_BUSY_TIMEOUT)
}

/// `--max-db-size`: bytes, or a whole number of KiB, MiB, GiB or TiB (`K`/`KiB`, any case).
fn db_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        _ => return Err("not a size (bytes, or a whole number with K, M, G or T)".to_string()),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| "not a size (bytes, or a whole number with K, M, G or T)".to_string())?;
    let bytes = n
        .checked_mul(1 << shift)
        .ok_or_else(|| "too large".to_string())?;
    if bytes == 0 {
        return Err("must be more than 0".to_string());
    }
    Ok(bytes)
}

/// The job name of `enqueue --job` and `work --job`: not empty (nor only blanks).
/// A schedule's name: the label key's characters (it is in the runs' labels and keys).
fn schedule_name(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 200 {
        return Err("a schedule name has 1 to 200 bytes".to_string());
    }
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')))
    {
        return Err(format!(
            "character {bad:?} not allowed (use A-Z a-z 0-9 . _ / -)"
        ));
    }
    Ok(text.to_string())
}

fn job_name(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("the job name must not be empty".to_string());
    }
    Ok(text.to_string())
}

/// A status `ls --status` filters on: a run's, or a held run's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LsStatus {
    Run(Status),
    /// A held run with a due time (`enqueue --at/--in`).
    Scheduled,
    /// A held run waiting on other runs (`enqueue --after`).
    Waiting,
}

impl LsStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LsStatus::Run(s) => s.as_str(),
            LsStatus::Scheduled => crate::model::held::SCHEDULED,
            LsStatus::Waiting => crate::model::held::WAITING,
        }
    }
}

/// `ls --status`: a run status or a held run's (scheduled, waiting), in any case.
fn ls_status() -> impl TypedValueParser<Value = LsStatus> {
    let mut values: Vec<&str> = Status::ALL.map(Status::as_str).to_vec();
    values.extend([crate::model::held::SCHEDULED, crate::model::held::WAITING]);
    PossibleValuesParser::new(values).try_map(|s| match s.to_ascii_lowercase().as_str() {
        crate::model::held::SCHEDULED => Ok(LsStatus::Scheduled),
        crate::model::held::WAITING => Ok(LsStatus::Waiting),
        _ => s.parse::<Status>().map(LsStatus::Run),
    })
}

/// One exit code of `enqueue --retry-on 1,75`.
fn exit_code(text: &str) -> Result<i32, String> {
    let codes = crate::model::retry::parse_exit_codes(text).map_err(|e| format!("{e:#}"))?;
    Ok(codes[0])
}

/// A terminal run status (`rm --older-than` purges only those): a non-terminal one is refused
/// with the reason, and left out of completions and of the list of expected values.
fn terminal_status() -> impl TypedValueParser<Value = Status> {
    let values = Status::ALL.map(|s| PossibleValue::new(s.as_str()).hide(!s.is_terminal()));
    PossibleValuesParser::new(values).try_map(|s| {
        let status = s.parse::<Status>()?;
        if !status.is_terminal() {
            return Err("only terminal runs (completed, failed, cancelled) are purged".to_string());
        }
        Ok(status)
    })
}

// The "Examples:" section of each command's --help: real commands that run as written (ids
// come from an earlier command's output).

const EXAMPLES_TOP: &str = "\
Examples:
  durably enqueue --job hello --input '{\"name\":\"world\"}'
  durably work --until-idle --job hello -- cat
  durably ls --job hello
  durably --db /srv/durably.db stats";

const EXAMPLES_INIT: &str = "\
Examples:
  durably init
  durably --db ./app.db init --wal";

const EXAMPLES_ENQUEUE: &str = "\
Examples:
  durably enqueue --job email --label tenant=acme --input '{\"to\":\"a@example.com\"}'
  echo '{\"job\":\"report\",\"input\":{\"month\":\"2026-10\"}}' | durably enqueue -
  durably enqueue --job email --idempotency-key welcome-42 --json
  durably enqueue --job sync --concurrency-key acme --coalesce
  durably enqueue --label kind=backup -- tar -czf /backups/home.tgz /home   # a command run
  durably enqueue --env AWS_PROFILE --env MODE=full -- ./sync.sh
  durably enqueue --job fetch --retries 5 --backoff 30s --retry-on 75   # retried with backoff
  durably enqueue --job report --at '2026-12-24 18:00'   # held until then (local time)
  durably enqueue --job cleanup --in 10m
  durably enqueue --job publish --after 0e9a41d2 --after 7c1b33f0   # when both completed";

const EXAMPLES_ENQUEUE_MANY: &str = "\
Examples:
  durably enqueue-many runs.ndjson
  printf '%s\\n' '{\"job\":\"email\"}' '{\"job\":\"sms\"}' | durably enqueue-many -
  durably enqueue-many --chunk 1000 --quiet big.ndjson";

const EXAMPLES_LS: &str = "\
Examples:
  durably ls --label tenant=acme
  durably ls --status pending --job email --format ndjson
  durably ls --limit 20 --before \"$(durably ls --limit 20 --format ids | tail -n 1)\"
  durably ls --all --status failed --format ids | xargs -n 1 durably retrigger
  durably ls --watch 1s --status leased";

const EXAMPLES_SHOW: &str = "\
Examples:
  durably show 0e9a41d2         # a handle: the id's tail, as ls shows it
  durably show 019ab3c1-6f1e    # a unique prefix
  durably show --json \"$(durably ls --limit 1 --format ids)\"";

const EXAMPLES_RM: &str = "\
Examples:
  durably rm 0e9a41d2
  durably rm --force 0e9a41d2 5c7f13b8
  durably rm --older-than 7d --status completed --dry-run
  durably rm --older-than 30d --job email";

const EXAMPLES_CANCEL: &str = "\
Examples:
  durably cancel 0e9a41d2
  durably ls --all --status pending --job email --format ids | xargs durably cancel";

const EXAMPLES_RETRIGGER: &str = "\
Examples:
  durably retrigger 0e9a41d2
  durably retrigger --json 0e9a41d2";

const EXAMPLES_SERVE: &str = "\
Examples:
  durably serve
  durably serve --bind 127.0.0.1:9000 --base-path /api/durably --read-only
  DURABLY_TOKEN=s3cret durably serve --bind 0.0.0.0:8080 --handlers /srv/jobs";
const EXAMPLES_SCHEDULE: &str = "\
Examples:
  durably schedule add nightly --cron '30 2 * * *' --tz Europe/Paris --job backup
  durably schedule add heartbeat --every 1m --job ping --catch-up none
  durably schedule ls
  durably schedule show nightly --json
  durably schedule pause nightly; durably schedule resume nightly
  durably schedule rm heartbeat";

const EXAMPLES_SCHEDULE_ADD: &str = "\
Examples:
  durably schedule add nightly --cron '30 2 * * *' --tz Europe/Paris --job backup
  durably schedule add report --cron '0 9 * * 1-5' --tz America/New_York --job report \\
      --input '{\"format\":\"pdf\"}' --label team=finance --catch-up all
  durably schedule add heartbeat --every 30s --job ping --concurrency-key ping";

const EXAMPLES_STATS: &str = "\
Examples:
  durably stats
  durably stats --json";

const EXAMPLES_PAUSE: &str = "\
Examples:
  durably pause --job email          # CLI workers claim no email run
  durably paused
  durably resume --job email
  durably pause && durably resume    # the whole queue
  durably resume --all --json";

const EXAMPLES_WAIT: &str = "\
Examples:
  durably wait 0e9a41d2
  durably wait --timeout 5m --json 0e9a41d2";

const EXAMPLES_WORK: &str = "\
Examples:
  durably work --handlers /srv/jobs
  durably work --until-idle --job resize -- ./resize.py
  durably work --once --handlers /srv/jobs
  durably work --concurrency 4 --timeout 10m --retain 7d --handlers /srv/jobs
  durably work --retries 3 --backoff 30s --handlers /srv/jobs   # retry this directory's runs
  durably work --commands                       # execute command runs (enqueue -- CMD)
  durably work --commands=cmd,backup --handlers /srv/jobs";

const EXAMPLES_LOGS: &str = "\
Examples:
  durably logs 0e9a41d2
  durably logs --follow --json 0e9a41d2";

const EXAMPLES_FOLLOW: &str = "\
Examples:
  durably follow 0e9a41d2
  id=$(durably enqueue -- make test) && durably follow \"$id\"";

const EXAMPLES_STEP: &str = "\
Examples:
  durably step download -- curl -fsS -o /tmp/data.csv https://example.com/data.csv
  rows=$(durably step count -- sh -c 'wc -l < /tmp/data.csv')";

const EXAMPLES_PROGRESS: &str = "\
Examples:
  durably progress 3 --total 10
  durably progress 10 --total 10 --message done";

const EXAMPLES_LOG: &str = "\
Examples:
  durably log \"starting import\"
  durably log --level warn --data '{\"rows\": 0}' \"nothing to import\"";

const EXAMPLES_COMPLETIONS: &str = "\
Examples:
  durably completions bash > ~/.local/share/bash-completion/completions/durably
  durably completions zsh > ~/.zfunc/_durably
  durably completions fish > ~/.config/fish/completions/durably.fish";

/// The subcommand named on a command line (`ls` for `durably --db x.db list -n 3`), found by
/// walking the top-level arguments: options are skipped with their values, the first other
/// word is looked up among the subcommands and their aliases.
pub fn subcommand_of(args: &[std::ffi::OsString]) -> Option<String> {
    use clap::CommandFactory;
    let top = Cli::command();
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(word) = words.next() {
        if word == "--" {
            return None;
        }
        if let Some(long) = word.strip_prefix("--") {
            let takes_value = !long.contains('=')
                && top
                    .get_arguments()
                    .any(|a| a.get_long() == Some(long) && a.get_action().takes_values());
            if takes_value {
                words.next();
            }
            continue;
        }
        if word.starts_with('-') {
            continue;
        }
        return top
            .find_subcommand(word.as_ref())
            .map(|c| c.get_name().to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{db_size, subcommand_of};

    #[test]
    fn db_sizes_are_bytes_or_powers_of_1024() {
        assert_eq!(db_size("4096"), Ok(4096));
        assert_eq!(db_size("10K"), Ok(10 << 10));
        assert_eq!(db_size("3 MiB"), Ok(3 << 20));
        assert_eq!(db_size("2g"), Ok(2 << 30));
        assert_eq!(db_size("1T"), Ok(1 << 40));
        for bad in [
            "",
            "0",
            "0K",
            "-1",
            "1.5M",
            "10Q",
            "M",
            "1KB",
            "99999999999T",
        ] {
            assert!(db_size(bad).is_err(), "{bad}");
        }
    }

    fn sub(line: &str) -> Option<String> {
        let args: Vec<std::ffi::OsString> = line.split(' ').map(Into::into).collect();
        subcommand_of(&args)
    }

    #[test]
    fn finds_the_subcommand_past_global_options_and_through_aliases() {
        assert_eq!(sub("durably ls --format yaml").as_deref(), Some("ls"));
        assert_eq!(sub("durably --db ls list").as_deref(), Some("ls"));
        assert_eq!(
            sub("durably --db=x.db --busy-timeout 1s show").as_deref(),
            Some("show")
        );
        assert_eq!(
            sub("durably -h enqueue-many").as_deref(),
            Some("enqueue-many")
        );
        assert_eq!(sub("durably lss"), None);
        assert_eq!(sub("durably --db"), None);
        assert_eq!(sub("durably -- ls"), None);
    }
}
