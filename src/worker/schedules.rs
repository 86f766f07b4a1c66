//! The worker's schedule hook: at each poll (at most once per `--poll`), one indexed read of
//! the schedules whose next slot has come ([`crate::store::Store::due_schedules`]; nothing
//! more when none is due), then one transaction per due schedule that materialises its slots
//! ([`crate::store::schedules::materialise`]): a slot becomes one run whichever of several
//! workers, on however many hosts, gets there first. Every worker materialises every schedule,
//! whatever jobs it executes. Errors are said (at most once a minute) and tried again at the
//! next poll; they never stop the worker.

use super::shared_store::SharedStore;
use crate::model::Disposition;
use std::time::{Duration, Instant};

/// Due schedules materialised per poll at most (the rest at the next one).
const PER_POLL: u64 = 64;

/// When this worker last looked for due schedules.
#[derive(Default)]
pub(super) struct Materialiser {
    last: Option<Instant>,
}

impl Materialiser {
    /// Materialises the due schedules, unless this worker looked less than `poll` ago; with
    /// `verbose`, one line per slot enqueued.
    pub(super) fn poll(&mut self, store: &SharedStore, poll: Duration, verbose: bool) {
        if self.last.is_some_and(|t| t.elapsed() < poll) {
            return;
        }
        self.last = Some(Instant::now());
        let due = store.lock().due_schedules(PER_POLL);
        let names = match due {
            Ok(names) => names,
            Err(e) => return repeated!("cannot read the schedules: {e:#}"),
        };
        for name in names {
            match store.lock().materialise(&name) {
                Ok(Some(done)) if verbose => {
                    for (slot, run, disposition) in &done.runs {
                        let how = match disposition {
                            Disposition::Created => "enqueued",
                            _ => disposition.as_str(),
                        };
                        note!("schedule {name}: slot {slot} → run {} ({how})", run.id);
                    }
                }
                Ok(_) => {}
                Err(e) => repeated!("cannot materialise schedule {name}: {e:#}"),
            }
        }
    }
}
