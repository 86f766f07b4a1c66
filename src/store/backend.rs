//! The contract: the operations a backend must offer, one trait per concern, together
//! [`Backend`]. [`super::Store`] holds one backend and calls it through this contract; the
//! SQLite file (`sqlite::Sqlite`) and the PostgreSQL server (`pg::Postgres`) each implement
//! every trait with their own statements and transactions, under the invariants of
//! [`super`] (one transaction per call, fenced writes, the clock read after the write lock).
//! What a command means is not here but in [`super::rules`] and [`super::handles`], which the
//! backends call: a backend supplies statements, never rules.
//!
//! Results are typed: a refusal is a [`crate::error::StoreError`] (not found, conflict,
//! invalid) said once, in [`super::handles`] and [`super::rules`]; a lost lease an answer,
//! [`Fenced::LeaseLost`], from every write on behalf of a leased run; a database's own error an
//! `anyhow` chain naming the database; a commit whose answer was lost is [`super::CommitUnknown`].

use super::held::{HeldAnswer, HeldPeek, Released};
use super::schedules::Materialised;
use super::{
    Fence, Fenced, Jobs, ListFilter, NewLog, NewStep, Pending, Plan, PurgeFilter, StepRecord,
};
use crate::model::held::HeldRun;
use crate::model::schedule::Schedule;
use crate::model::{
    Attempt, Disposition, FailureCause, Log, Pause, PauseScope, RetryPolicy, Run, RunSpec, Step,
};
use anyhow::Result;
use std::time::{Duration, Instant};

/// Reading runs, steps and logs: each call one snapshot.
pub trait RunReads {
    /// Where the data lives, for messages: the file path or the server without its password.
    fn location(&self) -> String;
    /// The run with exactly this id.
    fn run(&self, id: &str) -> Result<Option<Run>>;
    /// The full id of the run a handle names ([`super::handles::resolve`]).
    fn resolve_id(&mut self, given: &str) -> Result<String>;
    /// Resolves a handle and loads the run.
    fn find_run(&mut self, given: &str) -> Result<Run>;
    /// A run with its steps and logs, from one snapshot.
    fn run_details(&mut self, given: &str) -> Result<(Run, Vec<Step>, Vec<Log>)>;
    /// A page of a run's logs after `(created_at, id)`, and whether the run was terminal (or
    /// gone) in the same snapshot: then no later log can appear.
    fn logs_page(
        &mut self,
        run_id: &str,
        after: Option<(&str, &str)>,
        limit: u64,
    ) -> Result<(bool, Vec<Log>)>;
    /// A page of runs, newest first, after the run `before` names; with `short_ids`, each
    /// run's short handle too ([`super::handles::unique_handles`]).
    fn list_page(
        &mut self,
        before: Option<&str>,
        filter: ListFilter,
        short_ids: bool,
    ) -> Result<(Vec<Run>, Vec<String>)>;
    /// How [`RunReads::list_page`] would read this page, and the database's own account of it.
    fn explain_list(
        &mut self,
        before: Option<&str>,
        filter: ListFilter,
    ) -> Result<(Plan, Vec<Vec<String>>)>;
    /// [`RunReads::list_page`] and the number of runs the filter matches from `before` on
    /// (ignoring offset and limit), counted up to `cap + 1` in the same snapshot.
    fn list_page_counted(
        &mut self,
        before: Option<&str>,
        filter: ListFilter,
        short_ids: bool,
        cap: u64,
    ) -> Result<(Vec<Run>, Vec<String>, u64)>;
    /// Runs counted by (status, job).
    fn counts(&self) -> Result<Vec<(String, String, i64)>>;
    /// A run's steps by index, from one snapshot.
    fn steps(&mut self, run_id: &str) -> Result<Vec<Step>>;
    /// Runs whose `updated_at` is at or after `since`, oldest change first, at most `limit`
    /// (`durably serve`'s event poller).
    fn runs_updated_since(&self, since: &str, limit: u64) -> Result<Vec<Run>>;
    /// Completed and failed runs counted by minute of `completed_at` from `since` on:
    /// (`YYYY-MM-DDTHH:MM`, status, count), oldest minute first (`durably serve`'s `/stats`).
    fn completions_per_minute(&self, since: &str) -> Result<Vec<(String, String, i64)>>;
}

/// Changing runs from the command line: each call one write transaction.
pub trait RunChanges {
    /// Enqueues one run (or finds its idempotent/coalesced twin).
    fn enqueue(&mut self, spec: &RunSpec) -> Result<(Run, Disposition)>;
    /// [`super::rules::retrigger`].
    fn retrigger(&mut self, given: &str) -> Result<Run>;
    /// [`super::rules::cancel`].
    fn cancel(&mut self, given: &str) -> Result<String>;
    /// [`super::rules::delete`].
    fn delete(&mut self, given: &str, force: bool) -> Result<String>;
}

/// Writes from inside a handler, fenced by the run's lease: a lost lease writes nothing.
pub trait FencedWrites {
    /// The completed step `name` of a run, if any.
    fn completed_step(&self, run_id: &str, name: &str) -> Result<Option<Step>>;
    /// Whether the fence's lease is still held (a read; writes re-check).
    fn holds_lease(&self, fence: &Fence) -> Result<Fenced>;
    /// Records a step; a completed step is not recorded twice (the first one's output answers).
    fn record_step(&mut self, fence: &Fence, step: &NewStep) -> Result<Fenced<StepRecord>>;
    /// Sets the run's progress.
    fn set_progress(&mut self, fence: &Fence, progress: &str) -> Result<Fenced>;
    /// Appends a log line.
    fn append_log(&mut self, fence: &Fence, log: &NewLog) -> Result<Fenced>;
    /// Appends log lines, each with its own created_at, all or none.
    fn append_logs(&mut self, fence: &Fence, logs: &[(&str, NewLog)]) -> Result<Fenced>;
}

/// Claimed runs, each with when its lease began by the local clock.
pub type Claimed = Vec<(Run, Instant)>;

/// A run's result: Ok(its output) completes it, Err(its error) fails it.
pub type RunResult<'a> = std::result::Result<Option<&'a str>, &'a str>;

/// The claim a worker makes together with a run's result ([`Leases::finish_and_claim`]): at
/// most `max` runs of `jobs` for `owner`, for `lease`.
#[derive(Debug, Clone, Copy)]
pub struct NextClaim<'a> {
    pub jobs: &'a Jobs,
    pub owner: &'a str,
    pub lease: Duration,
    pub max: usize,
}

/// The worker's leases: claims, renewals, fenced results, expired leases released.
pub trait Leases {
    /// Claims the oldest claimable run of `jobs` for `owner` for `lease`; also when the lease
    /// began by the local clock (never after the database's start of it).
    fn claim(
        &mut self,
        jobs: &Jobs,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<(Run, Instant)>>;
    /// Claims at most `max` (at least one) of the oldest claimable runs of `jobs` for `owner`
    /// for `lease`, under the rules of [`Leases::claim`], at most one per concurrency key;
    /// each with when its lease began by the local clock. Fewer than `max`: fewer were
    /// claimable (PostgreSQL takes at most one keyed run per call).
    fn claim_many(
        &mut self,
        jobs: &Jobs,
        owner: &str,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<(Run, Instant)>>;
    /// Extends a lease by `lease` from now (fenced, only while unexpired): Done(when the
    /// renewal began by the local clock).
    fn renew(&mut self, id: &str, generation: i64, lease: Duration) -> Result<Fenced<Instant>>;
    /// Extends the leases of `runs` (id, generation) by `lease` from now in one write, each
    /// fenced as [`Leases::renew`]; a run whose row another transaction holds is skipped, not
    /// waited for (PostgreSQL). The ids renewed, and when the write began by the local clock;
    /// a run left out is renewed alone or is no longer this worker's.
    fn renew_many(
        &mut self,
        runs: &[(String, i64)],
        lease: Duration,
    ) -> Result<(Vec<String>, Instant)>;
    /// Completes a leased run with its output (fenced, unexpired).
    fn complete(&mut self, id: &str, generation: i64, output: Option<&str>) -> Result<Fenced>;
    /// Fails a leased run with its error (fenced, unexpired).
    fn fail(&mut self, id: &str, generation: i64, error: &str) -> Result<Fenced>;
    /// A run's result ([`Leases::complete`] or [`Leases::fail`], fenced alike) and a claim
    /// after it ([`Leases::claim_many`] of `next`), made whether or not the fence held: a
    /// worker's slot that a finished run frees is filled again in the same write. PostgreSQL
    /// sends both in one message, one transaction (one round trip, one commit); this default
    /// makes them two transactions, the result first. An error of the claim alone is not the
    /// result's: then nothing is claimed (the worker's next claim meets it again).
    fn finish_and_claim(
        &mut self,
        id: &str,
        generation: i64,
        result: RunResult,
        next: &NextClaim,
    ) -> Result<(Fenced, Vec<(Run, Instant)>)> {
        let fenced = match result {
            Ok(output) => self.complete(id, generation, output)?,
            Err(error) => self.fail(id, generation, error)?,
        };
        let claimed = self
            .claim_many(next.jobs, next.owner, next.lease, next.max)
            .unwrap_or_default();
        Ok((fenced, claimed))
    }
    /// Gives a leased run back to the queue at once: pending again (fenced).
    fn expire(&mut self, id: &str, generation: i64) -> Result<Fenced>;
    /// The status and generation of a run (None when deleted).
    fn status_of(&self, id: &str) -> Result<Option<(String, i64)>>;
    /// Whether any lease has run out (a read: lets an idle worker skip the write).
    fn has_expired(&self) -> Result<bool>;
    /// Releases at most `limit` expired leases in one transaction, like the library's
    /// `releaseExpiredLeases`; how many.
    fn release_expired(&mut self, limit: u64) -> Result<u64>;
}

/// Keeping the database in shape: `init`'s repair, purges, the worker's closing counts.
pub trait Maintenance {
    /// Adds what `init` may add to an existing schema (missing indexes).
    fn repair(&self) -> Result<()>;
    /// Pending runs of `jobs`, and how many a live lease on their concurrency key blocks now.
    fn pending_for(&self, jobs: &Jobs) -> Result<Pending>;
    /// How many runs a purge would delete.
    fn purge_count(&self, f: &PurgeFilter) -> Result<u64>;
    /// Deletes at most `batch` runs of a purge in one transaction; how many.
    fn purge_batch(&mut self, f: &PurgeFilter, batch: u64) -> Result<u64>;
    /// A whole purge in short batches that let other writers in between; how many.
    fn purge(&mut self, filter: &PurgeFilter) -> Result<u64>;
}

/// Held runs (issue 17, the rules in [`super::held`]): each call one transaction, on a
/// database that has our own tables ([`super::Store`] reads them as empty otherwise).
pub trait HeldRuns {
    /// Enqueues a run with a hold ([`super::held::enqueue`]).
    fn enqueue_held(&mut self, spec: &RunSpec) -> Result<HeldAnswer>;
    /// The poll's read: whether a held run is due, and the waiting runs to judge (those
    /// waiting on a run that ended at or after `since`; a page of the sweep after `sweep`).
    fn peek_held(
        &mut self,
        since: Option<&str>,
        sweep: Option<&(String, String)>,
    ) -> Result<HeldPeek>;
    /// One release of at most `limit` due runs (after the key `after`) and the waiting
    /// `candidates`
    /// ([`super::held::release`]).
    fn release_held(
        &mut self,
        candidates: &[String],
        limit: usize,
        after: Option<&(String, String)>,
    ) -> Result<Released>;
    /// The held run a handle names (full id or tail), None when none does.
    fn find_held(&mut self, given: &str) -> Result<Option<HeldRun>>;
    /// Cancels the held run a handle names ([`super::held::cancel`]): its id, None when no
    /// held run has it.
    fn cancel_held(&mut self, given: &str) -> Result<Option<String>>;
    /// Deletes the held run a handle names: its id, None when no held run has it.
    fn delete_held(&mut self, given: &str) -> Result<Option<String>>;
    /// A page of held runs, newest first: of `job` when given, only scheduled (`Some(true)`)
    /// or only waiting (`Some(false)`) when asked.
    fn held_page(
        &mut self,
        job: Option<&str>,
        scheduled: Option<bool>,
        limit: u64,
    ) -> Result<Vec<HeldRun>>;
}

/// Schedules (`durably schedule`, [`super::schedules`]): each call one transaction. Callers
/// make sure our tables exist ([`super::Store::ensure_ours`]) before any of these.
pub trait Schedules {
    /// [`super::schedules::add`].
    fn add_schedule(&mut self, s: &Schedule) -> Result<Schedule>;
    /// Every schedule, by name, from one snapshot.
    fn schedules(&mut self) -> Result<Vec<Schedule>>;
    /// The schedule named `name`.
    fn schedule(&mut self, name: &str) -> Result<Option<Schedule>>;
    /// [`super::schedules::set_paused`].
    fn pause_schedule(&mut self, name: &str, paused: bool) -> Result<Schedule>;
    /// [`super::schedules::remove`].
    fn remove_schedule(&mut self, name: &str) -> Result<()>;
    /// The worker's one indexed read per poll: at most `limit` unpaused schedules due now.
    fn due_schedules(&mut self, limit: u64) -> Result<Vec<String>>;
    /// [`super::schedules::materialise`].
    fn materialise(&mut self, name: &str) -> Result<Option<Materialised>>;
}

/// Pauses (issue 17): what CLI workers do not claim ([`super::pauses`] the rules). Called only
/// on a database that has our tables ([`super::Store`] sees to it).
pub trait Pauses {
    /// Pauses each scope not yet paused, in one transaction; those newly paused.
    fn pause(&mut self, scopes: &[PauseScope]) -> Result<Vec<PauseScope>>;
    /// Lifts the pauses of `scopes` (None: every pause) in one transaction; those lifted.
    fn resume(&mut self, scopes: Option<&[PauseScope]>) -> Result<Vec<PauseScope>>;
    /// Every pause in force, from one snapshot.
    fn paused(&mut self) -> Result<Vec<Pause>>;
}

/// Retries (issue 17): a CLI worker's failure of a run with a retry policy ([`super::retries`]
/// the rules). Called only on a database that has our tables ([`super::Store`] sees to it).
pub trait Retries {
    /// Fails a leased run (fenced, unexpired) and, when its policy retries this failure, holds
    /// its successor, in one transaction; a run without a policy of its own takes `default`
    /// (the worker's `--retries`). `jitter` in [-1, 1].
    fn fail_and_retry(
        &mut self,
        id: &str,
        generation: i64,
        error: &str,
        cause: FailureCause,
        default: Option<&RetryPolicy>,
        jitter: f64,
    ) -> Result<Fenced<Option<super::retries::Successor>>>;
    /// Every attempt of the retry chain a run belongs to, in order (empty: none).
    fn attempts(&mut self, run_id: &str) -> Result<Vec<Attempt>>;
    /// Those of `ids` that have a successor (a later attempt), in one read.
    fn superseded(&mut self, ids: &[String]) -> Result<Vec<String>>;
    /// Gives a leased run back (fenced, as [`FencedWrites::expire`]) and counts the give-back,
    /// in one transaction.
    fn give_back(&mut self, id: &str, generation: i64) -> Result<Fenced>;
    /// How often CLI workers gave the run back.
    fn given_back(&mut self, id: &str) -> Result<i64>;
}

/// Every operation a backend must offer.
pub trait Backend:
    RunReads
    + RunChanges
    + FencedWrites
    + Leases
    + Maintenance
    + HeldRuns
    + Schedules
    + Pauses
    + Retries
{
}

impl<
        T: RunReads
            + RunChanges
            + FencedWrites
            + Leases
            + Maintenance
            + HeldRuns
            + Schedules
            + Pauses
            + Retries,
    > Backend for T
{
}
