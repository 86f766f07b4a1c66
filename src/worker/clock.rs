//! Wall-clock jumps. Leases are written in wall-clock time (SQLite: the local clock), while
//! the watchdog and the supervisor count down on the monotonic clock; when the wall clock
//! steps forward (an operator's `date -s`, an NTP step, a resume from suspend), every lease
//! written before the step looks expired to every process that reads the clock afterwards,
//! and another worker may claim runs whose handlers still run here.
//!
//! [`ClockWatch`] compares the progress of the two clocks between two looks (the watchdog
//! looks every 25 ms, the main loop before each claim); a forward step larger than the lease
//! margin is a jump. Whoever sees it first stops every handler of this worker without writing
//! for its run (the lease looks expired, so its result would be refused anyway; the run is
//! executed again once claimed) and this worker holds its claims for one lease, so that
//! other workers' watchdogs, or their supervisors when they are stopped, have killed their
//! own handlers before their runs are taken over here.
//!
//! A backward step only makes leases written after it last longer than meant (a crashed
//! worker's runs wait longer); nothing runs twice, so it is not acted on. What cannot be seen
//! from inside a process: a clock that is simply ahead from the process's start (there is no
//! progress to compare), or a step while the process is stopped and never looks again.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The two clocks at the last look.
#[derive(Clone, Copy)]
struct Sample {
    mono: Instant,
    wall: SystemTime,
}

/// How close together the two clocks must be read for a sample to count: a thread preempted
/// between the two reads would otherwise see a jump as long as the preemption.
const TIGHT: Duration = Duration::from_millis(2);

impl Sample {
    /// Both clocks, read within [`TIGHT`] of each other (the wall clock between two monotonic
    /// reads; tried again when they lie further apart, the last try kept).
    fn now() -> Sample {
        let mut sample = None;
        for _ in 0..10 {
            let before = Instant::now();
            let wall = SystemTime::now();
            let after = Instant::now();
            sample = Some(Sample { mono: before, wall });
            if after.duration_since(before) <= TIGHT {
                break;
            }
        }
        sample.unwrap_or(Sample {
            mono: Instant::now(),
            wall: SystemTime::now(),
        })
    }
}

/// Watches the wall clock against the monotonic one.
pub struct ClockWatch {
    last: Mutex<Sample>,
    /// Claims wait until then after a jump.
    hold_until: Mutex<Option<Instant>>,
    /// A forward step larger than this is a jump.
    threshold: Duration,
    /// How long claims wait after a jump.
    hold: Duration,
}

impl ClockWatch {
    pub fn new(threshold: Duration, hold: Duration) -> ClockWatch {
        ClockWatch {
            last: Mutex::new(Sample::now()),
            hold_until: Mutex::new(None),
            threshold,
            hold,
        }
    }

    /// How far the wall clock stepped forward since the last look, beyond the monotonic
    /// clock's progress, when that is more than the threshold; each step is reported to one
    /// caller only. A jump also starts the hold on claims.
    pub fn jumped(&self) -> Option<Duration> {
        // Sampled under the lock: samples are stored in the order they were taken, so a step
        // is seen by one caller only.
        let (before, now) = {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            let now = Sample::now();
            (std::mem::replace(&mut *last, now), now)
        };
        let mono = now.mono.saturating_duration_since(before.mono);
        let wall = now.wall.duration_since(before.wall).ok()?;
        let ahead = wall.checked_sub(mono)?;
        if ahead <= self.threshold {
            return None;
        }
        *self.hold_until.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + self.hold);
        Some(ahead)
    }

    /// How long claims wait after a jump.
    pub fn hold_duration(&self) -> Duration {
        self.hold
    }

    /// Whether claims wait because of a recent jump.
    pub fn holding(&self) -> bool {
        self.hold_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| Instant::now() < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_clocks_are_no_jump() {
        let w = ClockWatch::new(Duration::from_millis(100), Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(w.jumped(), None);
        assert!(!w.holding());
    }

    #[test]
    fn a_forward_step_is_a_jump_once() {
        let w = ClockWatch::new(Duration::from_millis(100), Duration::from_secs(60));
        {
            let mut last = w.last.lock().unwrap();
            last.wall -= Duration::from_secs(3600);
        }
        let ahead = w.jumped().expect("a jump");
        assert!(ahead >= Duration::from_secs(3599), "{ahead:?}");
        assert!(w.holding());
        assert_eq!(w.jumped(), None);
    }

    #[test]
    fn a_backward_step_is_not_acted_on() {
        let w = ClockWatch::new(Duration::from_millis(100), Duration::from_secs(60));
        {
            let mut last = w.last.lock().unwrap();
            last.wall += Duration::from_secs(3600);
        }
        assert_eq!(w.jumped(), None);
        assert!(!w.holding());
    }
}
