//! A directory of this worker's own (`PREFIX` + PID + `-…`, mode 0700), removed when it drops;
//! one left by a worker killed with `kill -9` is removed by the next worker that makes one of
//! the same kind in the same place (as the same user). The password file for handlers
//! ([`super::passfile`]) and the executions' directories ([`super::executions`]) live in one.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The directory; removed on drop.
pub struct OwnDir {
    path: PathBuf,
}

impl Drop for OwnDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl OwnDir {
    /// Removes the abandoned directories of `prefix` in `base`, then makes this worker's.
    pub fn create(base: &Path, prefix: &str) -> std::io::Result<OwnDir> {
        remove_abandoned(base, prefix);
        let name = format!(
            "{prefix}{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        );
        let path = base.join(name);
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(OwnDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Removes the directories named `prefix` + PID + `-…` in `base` of this user's workers that
/// no longer run (their password files, their execution directories).
fn remove_abandoned(base: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let uid = nix::unistd::getuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let ours = entry
            .path()
            .symlink_metadata()
            .is_ok_and(|m| m.is_dir() && m.uid() == uid);
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH);
        if ours && gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
