//! The private directory a worker gives each execution of a handler (`DURABLY_EXECUTION_DIR`,
//! mode 0700, deleted when the handler has ended), and the two things handler-side commands
//! do with it:
//!
//! - **Trouble reports.** A handler-side command (`durably step`, `progress`, `log`) whose
//!   database could not be opened or written (a full disk, a lock held past the lease, a
//!   server that is down) appends one line to the file `trouble` there and exits with
//!   [`ExitCode::DatabaseTrouble`] (75, `EX_TEMPFAIL`). When the handler then exits non-zero,
//!   the worker reads the line, gives the run back (its lease ended at once, not failed) and
//!   says why on stderr; a handler that carried on and exited 0 completes as usual. So a
//!   `set -e` handler does not fail its run for the database's trouble.
//! - **Step reservations.** `durably step NAME` takes an exclusive `flock` on a file of that
//!   name's hash there before it looks for a completed step and runs the body, and holds it
//!   until the step is recorded: concurrent calls of one name in one execution run the body
//!   once, one after the other, the later ones printing the memoized output. The lock is the
//!   kernel's: a killed process holds nothing, no transaction stays open while a body runs,
//!   and the fences still decide every write.
//!
//! A handler can write `trouble` itself and have its failures given back instead of recorded,
//! again and again: the channel protects handlers from the database, not the queue from its
//! handlers. Handlers are trusted code (they hold the database's address and could write any
//! row); the worker says every such give-back on stderr with the reported line. Without the
//! variable (a handler's environment emptied with `env -i`), commands run as before: trouble
//! is an ordinary error (still exit 75) and steps are not reserved.

use crate::error::{exit_code, CodedError, ExitCode};
use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The variable naming the execution's private directory in a handler's environment.
pub const DIR_VAR: &str = "DURABLY_EXECUTION_DIR";
/// The report file in it.
const TROUBLE: &str = "trouble";
/// A report line is cut at this many bytes.
const MAX_REPORT: usize = 1024;

fn dir() -> Option<PathBuf> {
    std::env::var_os(DIR_VAR)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// Handler side: appends `what` as one line to the worker's report file, if there is one
/// (opened without `O_CREAT`: nothing is created anywhere else). Whether it was reported.
pub fn report(what: &str) -> bool {
    let Some(dir) = dir() else {
        return false;
    };
    let mut line: String = what.replace('\n', " ");
    if line.len() > MAX_REPORT {
        let mut cut = MAX_REPORT;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    line.push('\n');
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(TROUBLE));
    file.and_then(|mut f| f.write_all(line.as_bytes())).is_ok()
}

/// Handler side: `err`, an error opening or using the database in `durably {command}`,
/// reported to the worker and marked with exit code 75. An error that carries its own code
/// (a usage error) is returned as it is.
pub fn handler_error(command: &str, err: anyhow::Error) -> anyhow::Error {
    if exit_code(&err) != ExitCode::Error {
        return err;
    }
    let said = if report(&format!("durably {command}: {err:#}")) {
        "the database cannot be used; the worker gives the run back (exit 75)"
    } else {
        "the database cannot be used (exit 75)"
    };
    CodedError::new(ExitCode::DatabaseTrouble, format!("{said}: {err:#}")).into()
}

/// Handler side: a held reservation of a step name (released when dropped).
pub struct StepReservation {
    _lock: Flock<File>,
}

/// Handler side: waits until no other process of this execution holds step `name`, and holds
/// it. None without the execution directory.
pub fn reserve_step(name: &str) -> Result<Option<StepReservation>> {
    let Some(dir) = dir() else {
        return Ok(None);
    };
    // Names may be long and hold any character: the file is named by a hash (a collision
    // only makes two names wait for each other).
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let path = dir.join(format!("step-{:016x}.lock", h.finish()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot reserve step {name:?} ({})", path.display()))?;
    let mut file = file;
    loop {
        match Flock::lock(file, FlockArg::LockExclusive) {
            Ok(lock) => return Ok(Some(StepReservation { _lock: lock })),
            Err((f, nix::errno::Errno::EINTR)) => file = f,
            Err((_, e)) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot reserve step {name:?} ({})", path.display())))
            }
        }
    }
}

/// Worker side: the private directory of one execution, removed when dropped.
pub struct Channel {
    dir: tempfile::TempDir,
}

impl Channel {
    /// A new directory with an empty report file in `parent` (the worker's directory of
    /// them, `worker::executions`); None when it cannot be made: the handler then runs
    /// without it.
    pub fn new(parent: &Path) -> Option<Channel> {
        let dir = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(parent)
            .ok()?;
        File::create(dir.path().join(TROUBLE)).ok()?;
        Some(Channel { dir })
    }

    /// The variable to put into the handler's environment.
    pub fn env(&self) -> (String, Vec<u8>) {
        let path = self.dir.path().as_os_str().as_encoded_bytes().to_vec();
        (DIR_VAR.to_string(), path)
    }

    /// The first reported line, if a handler-side command reported trouble.
    pub fn reported(&self) -> Option<String> {
        let file = File::open(self.dir.path().join(TROUBLE)).ok()?;
        let mut head = Vec::new();
        file.take(MAX_REPORT as u64 + 1)
            .read_to_end(&mut head)
            .ok()?;
        let text = String::from_utf8_lossy(&head);
        let first = text.lines().next()?.trim();
        (!first.is_empty()).then(|| first.to_string())
    }
}
