//! Pauses as a worker sees them (issue 17, `durably pause`). The claim statements skip runs of
//! paused jobs by themselves (a `NOT EXISTS` on `durably_cli_pauses`), so a pause holds from
//! the moment it is committed. This module reads the pause set at most once a second, to say
//! under `-v`, once per change, why runs are not claimed, and to leave paused jobs out of the
//! claim (a paused job's arm would walk all its pending runs; the whole queue paused: no claim
//! at all), so that a pause costs nothing whatever the paused backlog, from the next read on.
//! A read that fails keeps what was seen before: the claim still honours every pause.

use super::shared_store::SharedStore;
use crate::model::PauseScope;
use crate::store::Jobs;
use std::time::{Duration, Instant};

/// How often the pause set is read again.
const REREAD: Duration = Duration::from_secs(1);

/// The pause set last read.
#[derive(Default)]
pub(super) struct Seen {
    at: Option<Instant>,
    scopes: Vec<PauseScope>,
}

impl Seen {
    /// `jobs` without the jobs seen paused; None while the whole queue is paused (claim
    /// nothing). Call [`Seen::read`] first.
    pub fn claimable(&self, jobs: Jobs) -> Option<Jobs> {
        if self.scopes.contains(&PauseScope::Queue) {
            return None;
        }
        match jobs {
            Jobs::All => Some(Jobs::All),
            Jobs::Only(list) => Some(Jobs::Only(
                list.into_iter()
                    .filter(|j| !self.scopes.contains(&PauseScope::Job(j.clone())))
                    .collect(),
            )),
        }
    }

    /// Reads the pause set again when a second has passed and says its changes under `-v`.
    pub fn read(&mut self, store: &SharedStore, verbose: bool) {
        if self.at.is_none_or(|at| at.elapsed() >= REREAD) {
            self.at = Some(Instant::now());
            let read = store.lock().paused();
            if let Ok(pauses) = read {
                let mut now: Vec<PauseScope> = pauses.into_iter().map(|p| p.scope).collect();
                now.sort();
                if verbose {
                    say_changes(&self.scopes, &now);
                }
                self.scopes = now;
            }
        }
    }
}

/// One line per scope paused or resumed since the last read.
fn say_changes(before: &[PauseScope], now: &[PauseScope]) {
    for scope in now.iter().filter(|s| !before.contains(s)) {
        match scope {
            PauseScope::Queue => {
                note!("the whole queue is paused (durably pause): no run is claimed until `durably resume`")
            }
            PauseScope::Job(job) => {
                note!("job {job} is paused (durably pause): its runs are not claimed until `durably resume --job {job}`")
            }
        }
    }
    for scope in before.iter().filter(|s| !now.contains(s)) {
        note!("{} resumed: its runs are claimed again", scope.describe());
    }
}
