//! Opening the database.
//!
//! Invariants:
//! - one connection per process (a worker may open a second for lease renewal);
//! - `busy_timeout` is set before anything else, so writers wait instead of failing;
//! - `synchronous=FULL`: an acknowledged enqueue survives power loss;
//! - a file we create is switched to WAL; an existing file keeps its journal mode;
//! - opening an existing database runs no DDL and writes nothing: the schema check is one read,
//!   and a schema newer than ours is refused before anything is written;
//! - read-only commands never create a file or a schema.

use crate::error::Fail;
use anyhow::{bail, Context, Result};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = 1;
const SCHEMA_V1: &str = include_str!("../sql/v1.sql");
/// Our own indexes (see the file for why each exists).
pub const SCHEMA_EXTRA: &str = include_str!("../sql/v1_extra.sql");

/// What the command will do with the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Never creates the file or the schema; a missing file is an error.
    Read,
    /// Creates parent directories, the file and the schema when missing.
    Write,
    /// Like `Write`, but a missing file is an error (in-handler commands: the worker made it).
    WriteExisting,
}

/// Connection options shared by every command.
#[derive(Debug, Clone)]
pub struct Options {
    pub path: PathBuf,
    pub busy_timeout: Duration,
}

/// The default database path: `$XDG_DATA_HOME/durably/durably.db`, else
/// `~/.local/share/durably/durably.db`.
pub fn default_path() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("durably").join("durably.db")
}

/// Opens the database for a command, checking (and for writers, creating) the schema.
pub fn open(opts: &Options, access: Access) -> Result<Connection> {
    let path = &opts.path;
    let existed = path.exists();
    if !existed {
        match access {
            Access::Read | Access::WriteExisting => {
                return Err(Fail::new(
                    crate::error::code::ERROR,
                    format!("database {} does not exist", path.display()),
                )
                .into())
            }
            Access::Write => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create directory {}", parent.display()))?;
                }
            }
        }
    }
    if existed && path.is_dir() {
        bail!("database {} is a directory", path.display());
    }
    let conn = connect(path, access, opts.busy_timeout)?;
    let version = schema_version(&conn, path)?;
    match version {
        Some(v) if v > SCHEMA_VERSION => bail!(
            "database {} has schema version {v}, newer than this durably supports ({SCHEMA_VERSION}); upgrade durably",
            path.display()
        ),
        Some(_) => {}
        None if access == Access::Write => {
            if !existed {
                // Our own new file: WAL, so readers never block the writer.
                conn.pragma_update(None, "journal_mode", "WAL")
                    .with_context(|| format!("cannot set WAL mode on {}", path.display()))?;
            }
            create_schema(&conn).map_err(|e| describe(e, path))?;
        }
        None => bail!(
            "database {} has no durably schema (run `durably init` first)",
            path.display()
        ),
    }
    Ok(conn)
}

/// How long a connection waits for the write lock (`--busy-timeout`), in ms, for [`busy_wait`].
static BUSY_TIMEOUT_MS: AtomicU64 = AtomicU64::new(30_000);

thread_local! {
    /// When the current wait for a lock began (reset on the handler's first call of each wait).
    static BUSY_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Installs [`busy_wait`] with this timeout (it replaces SQLite's `busy_timeout`).
fn set_busy_wait(conn: &Connection, timeout: Duration) -> rusqlite::Result<()> {
    BUSY_TIMEOUT_MS.store(
        u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    conn.busy_handler(Some(busy_wait))
}

/// The busy handler: retry every millisecond until the timeout. SQLite's own `busy_timeout`
/// sleeps 1, 2, 5, 10, … up to 100 ms between tries, so a writer that commits and begins again
/// at once (a purge in batches, a worker, `enqueue-many --chunk`) kept a waiting `enqueue` out
/// for seconds: it was asleep in every gap (bench/run.sh, purge: worst enqueue 1.9 s while
/// `rm --older-than` deleted 50k runs in 1.8 s). Polling every millisecond lets a waiter into
/// the gaps that batch loops leave between their transactions.
fn busy_wait(count: i32) -> bool {
    let now = Instant::now();
    let since = BUSY_SINCE.with(|s| match s.get() {
        Some(t) if count > 0 => t,
        _ => {
            s.set(Some(now));
            now
        }
    });
    let limit = Duration::from_millis(BUSY_TIMEOUT_MS.load(Ordering::Relaxed));
    let waited = now.duration_since(since);
    if waited >= limit {
        return false;
    }
    std::thread::sleep((limit - waited).min(Duration::from_millis(1)));
    true
}

/// Opens a second connection to the same file (a worker's lease-renewal thread).
pub fn connect_again(opts: &Options) -> Result<Connection> {
    connect(&opts.path, Access::WriteExisting, opts.busy_timeout)
}

fn connect(path: &Path, access: Access, busy: Duration) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    if access == Access::Write {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = match Connection::open_with_flags(path, flags) {
        Ok(c) => c,
        // A read on a file we may not write (chattr +i, another user's file) still works.
        Err(_) if access == Access::Read => Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| describe(e.into(), path))?,
        Err(e) => return Err(describe(e.into(), path)),
    };
    set_busy_wait(&conn, busy)?;
    // Only set when it differs: a read-only file refuses even a no-op pragma write on some
    // builds, and FULL is what durability needs for writers.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| describe(e.into(), path))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // Hidden test hook (not in --help, not a supported setting): `DURABLY_MAX_PAGE_COUNT=N`
    // caps this connection's database at N pages, so tests/bad_input.rs can produce SQLITE_FULL
    // ("disk full") deterministically. `PRAGMA max_page_count` is per connection, so it can
    // only be set from inside the process.
    if let Some(pages) = std::env::var("DURABLY_MAX_PAGE_COUNT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .map_err(|e| describe(e.into(), path))?;
    }
    Ok(conn)
}

/// The highest version in `durably_schema_versions`, or `None` when there is no schema.
/// One read; also how a file that is not SQLite is noticed.
fn schema_version(conn: &Connection, path: &Path) -> Result<Option<i64>> {
    match conn.query_row(
        "SELECT max(version) FROM durably_schema_versions",
        [],
        |r| r.get::<_, Option<i64>>(0),
    ) {
        Ok(v) => Ok(v),
        Err(rusqlite::Error::SqliteFailure(_, Some(msg))) if msg.contains("no such table") => {
            Ok(None)
        }
        Err(e) => Err(describe(e.into(), path)),
    }
}

/// Creates the v1 schema, our indexes and version row 1 in one IMMEDIATE transaction, unless
/// another process did it first.
fn create_schema(conn: &Connection) -> Result<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let exists: bool = tx.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'durably_schema_versions'",
        [],
        |r| r.get(0),
    )?;
    if exists {
        let version: Option<i64> = tx.query_row(
            "SELECT max(version) FROM durably_schema_versions",
            [],
            |r| r.get(0),
        )?;
        if version.is_some() {
            return Ok(());
        }
    }
    let partial: i64 = tx.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name LIKE 'durably\\_%' ESCAPE '\\'",
        [],
        |r| r.get(0),
    )?;
    if partial > 0 && !exists {
        bail!("the database has durably tables but no schema version; refusing to guess");
    }
    if !exists {
        tx.execute_batch(SCHEMA_V1)?;
    }
    tx.execute_batch(SCHEMA_EXTRA)?;
    tx.execute(
        "INSERT INTO durably_schema_versions (version, applied_at) VALUES (?1, ?2)",
        rusqlite::params![SCHEMA_VERSION, crate::time::now()],
    )?;
    tx.commit()?;
    Ok(())
}

/// Adds our indexes to an existing v1 database (`durably init` on a library-made file).
pub fn ensure_extra_indexes(conn: &Connection) -> Result<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA_EXTRA)?;
    tx.commit()?;
    Ok(())
}

/// Turns SQLite's terse errors about the file into a message that names it.
pub fn describe(err: anyhow::Error, path: &Path) -> anyhow::Error {
    use rusqlite::ErrorCode;
    let sqlite = err
        .chain()
        .find_map(|e| e.downcast_ref::<rusqlite::Error>());
    let code = sqlite.and_then(|e| e.sqlite_error_code());
    let extended = match sqlite {
        Some(rusqlite::Error::SqliteFailure(e, _)) => Some(e.extended_code),
        _ => None,
    };
    let p = path.display();
    match code {
        Some(ErrorCode::NotADatabase) => anyhow::anyhow!("{p} is not a SQLite database"),
        Some(ErrorCode::DatabaseCorrupt) => {
            anyhow::anyhow!("database {p} is corrupt (run `sqlite3 {p} 'PRAGMA integrity_check'`)")
        }
        Some(ErrorCode::ReadOnly) => anyhow::anyhow!("database {p} is read-only"),
        Some(ErrorCode::CannotOpen) => anyhow::anyhow!("cannot open database {p}"),
        Some(ErrorCode::PermissionDenied) => {
            anyhow::anyhow!("permission denied opening database {p}")
        }
        Some(ErrorCode::DiskFull) => anyhow::anyhow!("database {p}: disk full"),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => anyhow::anyhow!(
            "database {p} is locked: another process held it longer than --busy-timeout"
        ),
        // SQLITE_IOERR_WRITE: the disk filled up under SQLite, or a file size limit was hit.
        Some(ErrorCode::SystemIoFailure) if extended == Some(778) => {
            anyhow::anyhow!("database {p}: cannot write to the file (disk full or file size limit)")
        }
        Some(ErrorCode::SystemIoFailure) => anyhow::anyhow!("database {p}: disk I/O error"),
        _ => err,
    }
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits; SQLite errors name the file.
pub fn write<T>(
    conn: &mut Connection,
    path: &Path,
    f: impl FnOnce(&rusqlite::Transaction) -> Result<T>,
) -> Result<T> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| describe(e.into(), path))?;
    let value = f(&tx).map_err(|e| describe(e, path))?;
    tx.commit().map_err(|e| describe(e.into(), path))?;
    Ok(value)
}
