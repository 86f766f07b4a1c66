//! The directory of a worker's execution directories: each execution's private directory
//! (`DURABLY_EXECUTION_DIR`, [`crate::handler_channel::Channel`]) is made in it. Named
//! `durably-x-PID-…`, mode 0700, in `TMPDIR` when the user set it, else in memory
//! (`XDG_RUNTIME_DIR`, the user's own, or `/dev/shm`), where making and removing a directory
//! a run costs a few microseconds instead of a journalled inode and block of a disk's file
//! system (a third of a no-op run's executor time on ext4, BENCHMARKS.md); else the system's
//! temporary directory. The worker removes it when it ends; one killed with `kill -9` leaves
//! it behind, and the next worker to start on this machine (as the same user) removes those of
//! workers that are gone ([`super::own_dir`]).

use super::own_dir::OwnDir;
use std::path::{Path, PathBuf};

const PREFIX: &str = "durably-x-";

/// The worker's directory of execution directories, in the first of [`places`] that can hold
/// one (after removing the abandoned ones there). An error saying why when none can: handlers
/// then run without an execution directory (their `durably` commands work, without trouble
/// reports or step reservations).
pub fn create() -> Result<OwnDir, String> {
    let mut why = String::new();
    for place in places() {
        match OwnDir::create(&place, PREFIX) {
            Ok(dir) => return Ok(dir),
            Err(e) => why = format!("{}: {e}", place.display()),
        }
    }
    Err(format!(
        "cannot make a directory for executions ({why}): handlers run without \
         DURABLY_EXECUTION_DIR (no step reservations; a handler's database trouble fails its run)"
    ))
}

/// Where the directory may go, in order of preference (see the module's text).
fn places() -> Vec<PathBuf> {
    let set = |var: &str| {
        std::env::var_os(var)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p.is_dir())
    };
    let mut places: Vec<PathBuf> = Vec::new();
    if let Some(tmp) = set("TMPDIR") {
        places.push(tmp);
    } else {
        places.extend(set("XDG_RUNTIME_DIR"));
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            places.push(shm.to_path_buf());
        }
    }
    places.push(std::env::temp_dir());
    places
}
