//! The password file a worker on PostgreSQL makes for its handlers' own `durably` commands
//! (`step`, `progress`, `log`): handlers get `DURABLY_DB` without the password and
//! `DURABLY_PASSFILE` naming this file, one line in the `~/.pgpass` format that matches only
//! the worker's server, port, database and user.
//!
//! The file is 0600 in a directory of its own, 0700, under `$XDG_RUNTIME_DIR` (else the
//! temporary directory), named `durably-pw-PID-…`. The worker removes it when it ends; one
//! killed with `kill -9` leaves it behind, and the next worker to start on this machine (as
//! the same user) removes the directories of workers that are gone.

use super::own_dir::OwnDir;
use crate::store::pg::connect;
use crate::store::{Options, Target};
use anyhow::{anyhow, Result};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const PREFIX: &str = "durably-pw-";

/// The directory and file; removed on drop.
pub struct Passfile {
    _dir: OwnDir,
    pub path: PathBuf,
}

/// The password file for a worker's handlers: None on SQLite and when the worker connects
/// without a password (trust, peer or certificate authentication).
pub fn for_handlers(opts: &Options) -> Result<Option<Passfile>> {
    let Target::Postgres(pg) = &opts.target else {
        return Ok(None);
    };
    let Some(line) = connect::target(pg.url(), opts.busy_timeout)?.pgpass_line() else {
        return Ok(None);
    };
    let base = base_dir();
    create(&base, &line).map(Some).map_err(|e| {
        anyhow!(
            "cannot create the password file for handlers in {}: {e}",
            base.display()
        )
    })
}

/// `$XDG_RUNTIME_DIR` (a per-user tmpfs) when it is set, else the temporary directory.
fn base_dir() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

fn create(base: &Path, line: &str) -> std::io::Result<Passfile> {
    let dir = OwnDir::create(base, PREFIX)?;
    let passfile = Passfile {
        path: dir.path().join("pgpass"),
        _dir: dir,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&passfile.path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    Ok(passfile)
}
