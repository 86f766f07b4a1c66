//! Every write a worker makes for a run it executes (its result, its logs, giving it back):
//! fenced by the lease generation, bounded by the run's local lease deadline, tried once more
//! on a new connection when the connection was lost; and the lines that say why a run is no
//! longer ours (cancelled, lease lost, deadline passed) when a write is refused.

use super::Outcome;
use crate::model::{FailureCause, Run};
use crate::store::{Claimed, CommitUnknown, Fenced, NextClaim, RunResult, Store};
use crate::worker::lease::{ActiveRun, Offer};
use crate::worker::ExecutorContext;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a run ended for this worker, with what `work -v` says of a failure.
pub(super) struct Finished {
    pub outcome: Outcome,
    /// The first line of the error of a run this worker failed.
    pub failed_with: Option<String>,
}

impl From<Outcome> for Finished {
    fn from(outcome: Outcome) -> Finished {
        Finished {
            outcome,
            failed_with: None,
        }
    }
}

/// What a fenced [`write()`] came to.
pub(super) struct Written {
    /// Ok(LeaseLost): the fence refused it (the run is no longer ours).
    pub result: anyhow::Result<Fenced>,
    /// The write was tried a second time, after a lost connection.
    pub retried: bool,
    /// Why the write may have been committed although it returned an error: a try's COMMIT
    /// was sent and never answered ([`CommitUnknown`]).
    pub unanswered: Option<String>,
}

/// What a try's error says of a COMMIT that was sent and never answered, if it was one.
fn unanswered(result: &anyhow::Result<Fenced>) -> Option<String> {
    let e = result.as_ref().err()?;
    let unknown = e.chain().find_map(|c| c.downcast_ref::<CommitUnknown>())?;
    Some(format!(
        "the connection to {} was lost after COMMIT was sent ({:#})",
        unknown.location, unknown.source
    ))
}

/// A write that could not be made before the run's local lease deadline: nothing was written.
#[derive(Debug)]
pub(super) struct DeadlinePassed;

impl std::fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the lease ran out")
    }
}

impl std::error::Error for DeadlinePassed {}

/// A fenced write of the shared store (one store method). Waiting for the store and for the
/// database lock ends at the run's local lease deadline (an error [`DeadlinePassed`], nothing
/// written).
///
/// A lost connection (a PostgreSQL server restarted, the backend terminated) is reopened and
/// the write tried once more before the deadline. The write is fenced, so one that committed
/// before the connection broke is refused the second time, never doubled.
pub(super) fn write(
    shared: &ExecutorContext,
    active: &ActiveRun,
    f: impl Fn(&mut Store) -> anyhow::Result<Fenced>,
) -> Written {
    let mut retried = false;
    let deadline = active.deadline();
    let Some(mut store) = shared.writes().lock_before(deadline) else {
        return Written {
            result: Err(DeadlinePassed.into()),
            retried,
            unanswered: None,
        };
    };
    let mut written = store.before_deadline(deadline, &f);
    let mut unanswered = unanswered(&written);
    let lost = written.as_ref().is_err_and(|e| store.is_lost_after(e));
    if lost && deadline.is_none_or(|d| Instant::now() < d) {
        match shared.reopen(&mut store) {
            Ok(_) => {
                retried = true;
                written = store.before_deadline(deadline, &f);
                unanswered = unanswered.or_else(|| self::unanswered(&written));
            }
            Err(e) => note!("cannot reconnect: {e:#}"),
        }
    }
    let result = match written {
        Err(_) if deadline.is_some_and(|d| Instant::now() >= d) => Err(DeadlinePassed.into()),
        other => other,
    };
    Written {
        result,
        retried,
        unanswered,
    }
}

/// Ends the lease of a run this worker could not start, so that it can be claimed at once.
pub fn give_back(shared: &ExecutorContext, run: &Run, active: &ActiveRun, why: &str) {
    let id = &run.id;
    let written = write(shared, active, |store| {
        store.give_back(id, run.lease_generation)
    });
    match (written.result, written.unanswered) {
        (Ok(_), _) => note!("{why}; run {id} was given back to the queue"),
        (Err(_), Some(unanswered)) => note!(
            "{why}; whether run {id} was given back to the queue is unknown: {unanswered}; if it was not, it stays leased until its lease runs out"
        ),
        (Err(e), None) => {
            note!("{why}; run {id} stays leased until its lease runs out ({e:#})")
        }
    }
}

/// The error of a run claimed more than `--max-lease-expiries` times without a result (each
/// claim bumps `lease_generation`; a result would have ended the run): its handler is not
/// started again, the run is failed with this error. None: execute it.
pub(super) fn crash_loop(shared: &ExecutorContext, run: &Run) -> Option<String> {
    let max = i64::from(shared.max_lease_expiries);
    let claims_before = run.lease_generation - 1;
    if max == 0 || claims_before < max {
        return None;
    }
    // Claims a CLI worker ended by giving the run back (its own trouble) are not expiries;
    // read only for a run claimed this often. Unreadable: execute it (never fail a run on
    // the worker's trouble).
    let given_back = {
        let mut store = shared.store.lock();
        store
            .with_ceiling(Duration::from_secs(2), |s| s.given_back(&run.id))
            .ok()?
    };
    let before = claims_before - given_back;
    (before >= max).then(|| {
        format!(
            "lease expired {before} times without a result: the worker crashed or was killed each time (crash loop; work --max-lease-expiries {max})"
        )
    })
}

/// Records the result; a refused fence means the run is no longer ours.
pub(super) fn finish(
    shared: &ExecutorContext,
    run: &Run,
    active: &ActiveRun,
    result: Result<Option<String>, String>,
    cause: FailureCause,
) -> Finished {
    let (id, generation) = (&run.id, run.lease_generation);
    // The successor a failure held (retries): said once the failure is recorded.
    let successor = std::cell::RefCell::new(None);
    let written = match &result {
        // A completion may claim the slot's next run in the same write ([`claim_ahead`]); a
        // failure goes through the retry rules alone (its successor is held in its write).
        Ok(output) => match claim_ahead(shared, active) {
            Some(offer) => {
                let claimed = std::cell::RefCell::new(None);
                let written = write(shared, active, |store| {
                    let (fenced, runs) =
                        finish_and_claim(store, run, Ok(output.as_deref()), &offer)?;
                    *claimed.borrow_mut() = runs;
                    Ok(fenced)
                });
                if let Some(runs) = claimed.into_inner() {
                    active.hand_on(runs);
                }
                written
            }
            None => write(shared, active, |store| {
                store.complete(id, generation, output.as_deref())
            }),
        },
        Err(error) => write(shared, active, |store| {
            let failed = store.fail_and_retry(
                id,
                generation,
                error,
                cause,
                shared.default_retry.as_ref(),
            )?;
            Ok(match failed {
                Fenced::Done(next) => {
                    *successor.borrow_mut() = next;
                    Fenced::Done(())
                }
                Fenced::LeaseLost => Fenced::LeaseLost,
            })
        }),
    };
    let held = matches!(written.result, Ok(Fenced::Done(())));
    let finished = record_outcome(shared, run, &result, written);
    if let (true, Some(next)) = (held, successor.borrow().as_ref()) {
        say_retry(id, next);
    }
    finished
}

/// What a result write came to: recorded, refused (the run is no longer ours) or unknown.
fn record_outcome(
    shared: &ExecutorContext,
    run: &Run,
    result: &Result<Option<String>, String>,
    written: Written,
) -> Finished {
    let (id, generation) = (&run.id, run.lease_generation);
    let wanted = if result.is_ok() {
        "completed"
    } else {
        "failed"
    };
    match written.result {
        Ok(Fenced::Done(())) => recorded(id, result),
        // Refused: the run is no longer ours, unless this was the retry after a lost
        // connection and the first attempt committed before the connection broke.
        Ok(Fenced::LeaseLost) if written.retried => {
            let status = status_of(shared, run);
            if is_recorded(status.as_ref(), generation, wanted) {
                recorded(id, result)
            } else {
                say_lost(run, status, true).into()
            }
        }
        Ok(Fenced::LeaseLost) => lost_outcome(shared, run, true).into(),
        // Whatever the last error, a COMMIT sent and never answered may have been committed.
        Err(_) if written.unanswered.is_some() => {
            let why = written.unanswered.unwrap_or_default();
            note!("{}", unknown_result(id, wanted, &why));
            Outcome::Lost.into()
        }
        Err(e) if e.is::<DeadlinePassed>() => {
            note!("could not record the result of run {id} before its lease ran out (the database was busy or a lock was held); nothing was written, and the run will be executed again once its lease has expired");
            Outcome::Lost.into()
        }
        Err(e) => {
            note!("cannot record the result of run {id}: {e:#}; nothing was written");
            Outcome::Lost.into()
        }
    }
}

/// One line for a failure that held its retry.
fn say_retry(id: &str, next: &crate::store::retries::Successor) {
    let wait = humantime::format_duration(Duration::from_millis(
        next.delay_ms.max(0) as u64 / 1000 * 1000,
    ));
    note!(
        "run {id} will be retried: attempt {} of {} is run {}, held until {} (in {wait})",
        next.attempt,
        next.max_attempts,
        next.id,
        next.due_at
    );
}

/// The claim this executor may make with its run's result ([`ClaimAhead`]): the main loop's
/// offer, unless a signal came (the worker stops claiming) or the run's lease deadline is
/// near (a claim must not hold up the result: within a quarter of the lease of the deadline,
/// the result is written alone).
fn claim_ahead(shared: &ExecutorContext, active: &ActiveRun) -> Option<Arc<Offer>> {
    let offer = shared.ahead.current()?;
    if crate::signals::received() > 0 {
        return None;
    }
    let near = Instant::now() + offer.lease / 4;
    active.deadline().is_none_or(|d| d > near).then_some(offer)
}

/// The result and, in the same write, one run claimed for this executor's slot: the runs
/// claimed (None: none could be, the result was written alone). An error of the write that
/// is neither a lost connection nor a COMMIT left unanswered (say, the claim's statement
/// refused by the database) rolled both back: the result is then written alone.
fn finish_and_claim(
    store: &mut Store,
    run: &Run,
    result: RunResult,
    offer: &Offer,
) -> anyhow::Result<(Fenced, Option<Claimed>)> {
    let next = NextClaim {
        jobs: &offer.jobs,
        owner: &offer.owner,
        lease: offer.lease,
        max: 1,
    };
    let (id, generation) = (&run.id, run.lease_generation);
    match store.finish_and_claim(id, generation, result, &next) {
        Ok((fenced, runs)) => Ok((fenced, Some(runs))),
        Err(e) if store.is_lost_after(&e) || e.chain().any(|c| c.is::<CommitUnknown>()) => Err(e),
        Err(_) => {
            let fenced = match result {
                Ok(output) => store.complete(id, generation, output)?,
                Err(error) => store.fail(id, generation, error)?,
            };
            Ok((fenced, None))
        }
    }
}

/// The line for a result whose COMMIT was sent and never answered (`why`), with no retry
/// to settle it: it may be recorded or not, never "nothing was written", and how to tell.
fn unknown_result(id: &str, wanted: &str, why: &str) -> String {
    format!(
        "the outcome of recording the result of run {id} is unknown: {why}; `durably show {id}` tells: the run is {wanted} if the result was recorded, else it runs again once its lease runs out"
    )
}

/// The outcome of a result this worker recorded; a failure is said in one line.
fn recorded(id: &str, result: &Result<Option<String>, String>) -> Finished {
    match result {
        Ok(_) => Outcome::Completed.into(),
        Err(e) => {
            let first = e.lines().next().unwrap_or_default();
            note!("run {id} failed: {first}");
            Finished {
                outcome: Outcome::Failed,
                failed_with: Some(first.to_string()),
            }
        }
    }
}

/// Whether a run's status and lease generation say that this worker's result write (of
/// `generation`, making the run `wanted`) committed before a retry was refused: the run is
/// `wanted` with that generation. A claim by anyone else raises the generation; the retry
/// ran before the local deadline, so no one released the lease in between.
fn is_recorded(status: Option<&(String, i64)>, generation: i64, wanted: &str) -> bool {
    matches!(status, Some((s, g)) if s == wanted && *g == generation)
}

/// The status and lease generation of `run` as the database has it now (None: deleted or
/// unreadable); a lost connection is reopened first.
fn status_of(shared: &ExecutorContext, run: &Run) -> Option<(String, i64)> {
    let mut store = shared.store.lock();
    if store.is_lost() {
        let _ = shared.reconnect(&mut store);
    }
    // Only to say what happened: not worth more than a moment when the database does not answer.
    store
        .with_ceiling(Duration::from_secs(2), |s| s.status_of(&run.id))
        .ok()
        .flatten()
}

/// Says why a run is no longer ours. `finished`: the handler ended on its own (its result
/// was refused), rather than being stopped by the worker.
pub(super) fn lost_outcome(shared: &ExecutorContext, run: &Run, finished: bool) -> Outcome {
    let status = status_of(shared, run);
    say_lost(run, status, finished)
}

/// Says that a handler was stopped at its lease deadline: no renewal succeeded in time (the
/// database was locked or unreachable, the worker starved or stopped), which is not the same
/// as a lease someone else took: a run that is still leased to this generation (or cannot be
/// read) is said to have hit its deadline; one cancelled or taken over meanwhile as such.
pub(super) fn deadline_outcome(shared: &ExecutorContext, run: &Run) -> Outcome {
    let status = status_of(shared, run);
    let still_ours = match &status {
        Some((s, g)) => s == "leased" && *g == run.lease_generation,
        None => true,
    };
    if !still_ours {
        return say_lost(run, status, false);
    }
    note!(
        "the lease of run {} could not be renewed before its deadline; its handler was stopped and nothing was written",
        crate::output::escape(&run.id)
    );
    Outcome::Lost
}

/// Says why a run is no longer ours, from its `status` as read after the fact.
fn say_lost(run: &Run, status: Option<(String, i64)>, finished: bool) -> Outcome {
    let id = &run.id;
    match status {
        Some((s, _)) if s == "cancelled" => {
            if finished {
                note!("run {id} was cancelled before its result was recorded; nothing was written");
            } else {
                note!("run {id} was cancelled; its handler was stopped");
            }
            Outcome::Cancelled
        }
        Some((s, g)) if finished && s == "leased" && g == run.lease_generation => {
            note!("could not record the result of run {id} before its lease ran out (the database was busy or a lock was held); nothing was written, and the run will be executed again once its lease has expired");
            Outcome::Lost
        }
        _ if finished => {
            note!("lost the lease of run {id} after its handler finished; nothing was written");
            Outcome::Lost
        }
        _ => {
            note!("lost the lease of run {id}; its handler was stopped and nothing was written");
            Outcome::Lost
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{is_recorded, unknown_result};

    #[test]
    fn an_unanswered_result_commit_is_said_to_be_unknown_with_how_to_tell() {
        let why = "the connection to h:5432/db was lost after COMMIT was sent (db error)";
        let line = unknown_result("0193abc", "completed", why);
        assert!(line.contains("result of run 0193abc is unknown"), "{line}");
        assert!(line.contains(why), "{line}");
        assert!(line.contains("`durably show 0193abc`"), "{line}");
        assert!(line.contains("the run is completed if"), "{line}");
        assert!(!line.contains("nothing was"), "{line}");
    }

    #[test]
    fn a_refused_result_counts_as_recorded_only_when_terminal_with_our_generation() {
        let row = |s: &str, g: i64| Some((s.to_string(), g));
        assert!(is_recorded(row("completed", 3).as_ref(), 3, "completed"));
        assert!(is_recorded(row("failed", 3).as_ref(), 3, "failed"));
        // Not the result this worker wrote.
        assert!(!is_recorded(row("failed", 3).as_ref(), 3, "completed"));
        assert!(!is_recorded(row("completed", 3).as_ref(), 3, "failed"));
        // Claimed again by someone else since, whatever its status now.
        assert!(!is_recorded(row("completed", 4).as_ref(), 3, "completed"));
        assert!(!is_recorded(row("leased", 4).as_ref(), 3, "completed"));
        // Still ours but not written (the lease ran out), cancelled, or gone.
        assert!(!is_recorded(row("leased", 3).as_ref(), 3, "completed"));
        assert!(!is_recorded(row("pending", 3).as_ref(), 3, "completed"));
        assert!(!is_recorded(row("cancelled", 3).as_ref(), 3, "completed"));
        assert!(!is_recorded(None, 3, "completed"));
    }
}
