//! Opening the database.
//!
//! Invariants:
//! - `--db`/`DURABLY_DB` is a file path, never an SQLite URI: `file:x.db` is a file of that name
//!   in the current directory, and `?`, `#`, `%` in a name are plain characters;
//! - one connection per process (a worker may open a second for lease renewal);
//! - the busy handler is installed before anything else, so writers wait instead of failing;
//! - `synchronous=FULL`: an acknowledged enqueue survives power loss;
//! - a file we create is switched to WAL; an existing file keeps its journal mode;
//! - opening an existing database runs no DDL and writes nothing: the schema check reads the
//!   version and one catalog query (every `durably_*` table, column and index), and refuses a
//!   newer version or a missing table, column or index before anything is written, naming
//!   what is missing and the @coji/durably release that added it;
//! - only `durably init` ([`Access::Repair`]) adds what is safe to add to an existing file: the
//!   library's indexes and our own, in one IMMEDIATE transaction;
//! - read-only commands never create a file or a schema; a missing default database reads as
//!   an empty queue, a missing explicit one is an error;
//! - writers create the parent directories of the default location only; an explicit path
//!   needs an existing directory (a typo must not leave directories behind).
//! - a path that names anything but a regular file (a FIFO, a directory, a device) is refused
//!   before SQLite opens it: opening a FIFO would block;
//! - a missing directory or a file locked past `--busy-timeout` is
//!   [`crate::error::Unavailable`]: a daemon worker waits for it at start;
//! - [`FileId`] tells the file a connection has open from what its path names now (a worker
//!   stops when they differ).

use crate::error::{StoreError, Unavailable};
use crate::store::{Access, Options, SCHEMA_VERSION};
use anyhow::{bail, Context, Result};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SCHEMA_V1: &str = include_str!("../../../sql/v1.sql");
/// Our own indexes (see the file for why each exists).
pub const SCHEMA_EXTRA: &str = include_str!("../../../sql/v1_extra.sql");
/// Our own tables (`durably_cli_*`, see [`crate::store::ours`]).
pub const SCHEMA_CLI: &str = include_str!("../../../sql/cli.sql");

/// Opens the database for a command, checking (and for writers, creating) the schema; says
/// whether the file has our own tables ([`crate::store::ours`]; a new file gets them).
pub fn open(path: &Path, opts: &Options, access: Access) -> Result<(Connection, bool)> {
    if path.as_os_str().is_empty() {
        return Err(StoreError::Invalid("--db: the database path is empty".into()).into());
    }
    let existed = path.exists();
    if !existed {
        match access {
            // No file yet at the default location: nothing was ever enqueued.
            Access::Read if opts.default => return Ok((empty_queue()?, true)),
            Access::Read | Access::WriteExisting => {
                bail!("database {} does not exist", path.display())
            }
            Access::Write | Access::Repair => prepare_directory(path, opts.default)?,
        }
    }
    let conn = connect(path, access, opts)?;
    let catalog = Catalog::read(&conn).map_err(|e| describe(e, path))?;
    let version = if catalog.has_table("durably_schema_versions") {
        schema_version(&conn).map_err(|e| describe(e.into(), path))?
    } else {
        None
    };
    match version {
        Some(v) if v > SCHEMA_VERSION => bail!(
            "database {} has schema version {v}, newer than this durably supports ({SCHEMA_VERSION}); upgrade durably",
            path.display()
        ),
        Some(_) => {
            catalog.check(path, access)?;
            if !catalog.has_ours() {
                return Ok((conn, false));
            }
        }
        None if matches!(access, Access::Write | Access::Repair) => {
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
    Ok((conn, true))
}

/// Creates our own tables a file lacks (one the library created), in one IMMEDIATE
/// transaction; a second process doing the same finds them there (`IF NOT EXISTS`).
pub fn create_ours(conn: &Connection) -> Result<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA_CLI)?;
    tx.commit()?;
    Ok(())
}

/// Makes sure a new database file can be created at `path`: the default location gets its
/// directories; an explicit path must name a file in an existing directory, as with `sqlite3`.
fn prepare_directory(path: &Path, default: bool) -> Result<()> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if default {
        return std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create directory {}", parent.display()));
    }
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("{} is not a directory", parent.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Unavailable(format!("directory {} does not exist", parent.display())).into())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read directory {}", parent.display())),
    }
}

/// The empty queue a missing default database reads as: an in-memory database with the schema.
fn empty_queue() -> Result<Connection> {
    let conn = Connection::open_in_memory().context("cannot open an in-memory database")?;
    create_schema(&conn).context("cannot create the schema in memory")?;
    Ok(conn)
}

/// One object of the v1 schema the CLI relies on, and the @coji/durably release that added it
/// to the library's v1 migration (`None`: there since the first release). The library never
/// migrates a file that already has version 1, so a file made by an older release lacks what
/// later releases added. Established from packages/durably/src/migrations.ts at each release tag.
struct Required {
    kind: Kind,
    table: &'static str,
    name: &'static str,
    since: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Table,
    Column,
    Index,
}

const fn table(name: &'static str, since: Option<&'static str>) -> Required {
    Required {
        kind: Kind::Table,
        table: name,
        name,
        since,
    }
}
const fn column(table: &'static str, name: &'static str, since: Option<&'static str>) -> Required {
    Required {
        kind: Kind::Column,
        table,
        name,
        since,
    }
}
const fn index(table: &'static str, name: &'static str, since: Option<&'static str>) -> Required {
    Required {
        kind: Kind::Index,
        table,
        name,
        since,
    }
}

const V09: Option<&str> = Some("0.9.0");
const V13: Option<&str> = Some("0.13.0");
const V14: Option<&str> = Some("0.14.0");
const V15: Option<&str> = Some("0.15.0");

/// Every table, column and index of sql/v1.sql, in the order of that file (tables and their
/// columns first, so the first missing thing named is the most telling). Our own indexes
/// (sql/v1_extra.sql, the run-handle tail index among them) are not required: every query
/// works without them, only slower, and `durably init` adds them.
const REQUIRED: &[Required] = &[
    table("durably_runs", None),
    column("durably_runs", "id", None),
    column("durably_runs", "job_name", None),
    column("durably_runs", "input", V09),
    column("durably_runs", "status", None),
    column("durably_runs", "idempotency_key", None),
    column("durably_runs", "concurrency_key", None),
    column("durably_runs", "labels", V09),
    column("durably_runs", "current_step_index", None),
    column("durably_runs", "completed_step_count", V14),
    column("durably_runs", "progress", None),
    column("durably_runs", "output", None),
    column("durably_runs", "error", None),
    column("durably_runs", "lease_owner", V13),
    column("durably_runs", "lease_expires_at", V13),
    column("durably_runs", "lease_generation", V13),
    column("durably_runs", "started_at", V09),
    column("durably_runs", "completed_at", V09),
    column("durably_runs", "created_at", None),
    column("durably_runs", "updated_at", None),
    table("durably_run_labels", V13),
    column("durably_run_labels", "run_id", V13),
    column("durably_run_labels", "key", V13),
    column("durably_run_labels", "value", V13),
    table("durably_steps", None),
    column("durably_steps", "id", None),
    column("durably_steps", "run_id", None),
    column("durably_steps", "name", None),
    column("durably_steps", "index", None),
    column("durably_steps", "status", None),
    column("durably_steps", "output", None),
    column("durably_steps", "error", None),
    column("durably_steps", "started_at", None),
    column("durably_steps", "completed_at", None),
    table("durably_logs", None),
    column("durably_logs", "id", None),
    column("durably_logs", "run_id", None),
    column("durably_logs", "step_name", None),
    column("durably_logs", "level", None),
    column("durably_logs", "message", None),
    column("durably_logs", "data", None),
    column("durably_logs", "created_at", None),
    table("durably_schema_versions", None),
    column("durably_schema_versions", "version", None),
    column("durably_schema_versions", "applied_at", None),
    index("durably_runs", "idx_durably_runs_job_created", V13),
    index("durably_runs", "idx_durably_runs_job_idempotency", None),
    index("durably_runs", "idx_durably_runs_pending_concurrency", V15),
    index("durably_runs", "idx_durably_runs_status_completed", V13),
    index("durably_runs", "idx_durably_runs_status_concurrency", None),
    index("durably_runs", "idx_durably_runs_status_created", None),
    index("durably_runs", "idx_durably_runs_status_lease_expires", V13),
    index(
        "durably_run_labels",
        "idx_durably_run_labels_key_value",
        V13,
    ),
    index("durably_run_labels", "idx_durably_run_labels_pk", V13),
    index("durably_steps", "idx_durably_steps_run_index", None),
    index("durably_steps", "idx_durably_steps_completed_unique", V13),
    index("durably_logs", "idx_durably_logs_run_created", None),
];

/// Which of [`REQUIRED`] the file has: one query over `sqlite_schema` and
/// `pragma_table_info`, done before anything is written.
struct Catalog {
    /// `present[i]`: the file has `REQUIRED[i]`.
    present: Vec<bool>,
    /// The tables of our own (`durably_cli_*`) the file has.
    ours: Vec<String>,
}

impl Catalog {
    const QUERY: &'static str = "\
        SELECT m.type, m.tbl_name, m.name FROM sqlite_schema AS m \
         WHERE m.type IN ('table', 'index') AND m.tbl_name LIKE 'durably\\_%' ESCAPE '\\' \
        UNION ALL \
        SELECT 'column', m.name, c.name FROM sqlite_schema AS m, pragma_table_info(m.name) AS c \
         WHERE m.type = 'table' AND m.name LIKE 'durably\\_%' ESCAPE '\\'";

    fn read(conn: &Connection) -> Result<Catalog> {
        let mut stmt = conn.prepare_cached(Self::QUERY)?;
        let mut rows = stmt.query([])?;
        let mut catalog = Catalog {
            present: vec![false; REQUIRED.len()],
            ours: Vec::new(),
        };
        while let Some(row) = rows.next()? {
            let kind = match row.get_ref(0)?.as_str()? {
                "table" => Kind::Table,
                "index" => Kind::Index,
                _ => Kind::Column,
            };
            let (table, name) = (row.get_ref(1)?.as_str()?, row.get_ref(2)?.as_str()?);
            if kind == Kind::Table && table.starts_with("durably_cli_") {
                catalog.ours.push(table.to_string());
            }
            if let Some(i) = REQUIRED
                .iter()
                .position(|r| r.kind == kind && r.table == table && r.name == name)
            {
                catalog.present[i] = true;
            }
        }
        Ok(catalog)
    }

    /// Whether the file has every table of sql/cli.sql.
    fn has_ours(&self) -> bool {
        crate::store::ours::all_present(SCHEMA_CLI, |t| self.ours.iter().any(|o| o == t))
    }

    fn has_table(&self, name: &str) -> bool {
        REQUIRED
            .iter()
            .zip(&self.present)
            .any(|(r, &p)| p && r.kind == Kind::Table && r.name == name)
    }

    /// The required objects the file lacks, in [`REQUIRED`] order.
    fn missing(&self) -> Vec<&'static Required> {
        REQUIRED
            .iter()
            .zip(&self.present)
            .filter(|(_, &p)| !p)
            .map(|(r, _)| r)
            .collect()
    }

    /// Refuses a file that lacks a table or column (nothing can add them safely), or an index
    /// unless `durably init` is about to add it.
    fn check(&self, path: &Path, access: Access) -> Result<()> {
        let missing = self.missing();
        let (structure, indexes): (Vec<_>, Vec<_>) =
            missing.into_iter().partition(|r| r.kind != Kind::Index);
        if !structure.is_empty() {
            bail!(
                "{}; the library does not migrate an existing v1 file: recreate it",
                lacks(path, &structure)
            );
        }
        if !indexes.is_empty() && access != Access::Repair {
            bail!("{}; run `durably init` to add it", lacks(path, &indexes));
        }
        Ok(())
    }
}

/// "database P lacks column T.C (added in @coji/durably 0.N) and K more": the first missing
/// object, the release that added it, and how many others are missing too.
fn lacks(path: &Path, missing: &[&Required]) -> String {
    let first = missing[0];
    let what = match first.kind {
        Kind::Table => format!("table {}", first.name),
        Kind::Column => format!("column {}.{}", first.table, first.name),
        Kind::Index => format!("index {}", first.name),
    };
    let since = match first.since {
        Some(v) => format!(" (added in @coji/durably {v})"),
        None => String::new(),
    };
    let more = match missing.len() - 1 {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!("database {} lacks {what}{since}{more}", path.display())
}

/// `durably init` on an existing v1 file: adds the library's indexes the file lacks and our
/// own, in one IMMEDIATE transaction. Tables and columns are never added here ([`open`] has
/// refused a file that lacks one). A unique index that the rows violate fails the whole
/// transaction, and nothing changes.
pub fn repair(conn: &Connection, path: &Path) -> Result<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(|e| describe(e.into(), path))?;
    // Read again inside the write lock: another process may have changed the file since open.
    let catalog = Catalog::read(&tx).map_err(|e| describe(e, path))?;
    let missing = catalog.missing();
    if missing.iter().any(|r| r.kind != Kind::Index) {
        catalog.check(path, Access::Repair)?;
    }
    for r in missing {
        let ddl = index_ddl(r.name)
            .with_context(|| format!("no definition of index {} in sql/v1.sql", r.name))?;
        tx.execute_batch(ddl).map_err(|e| {
            let e = describe(e.into(), path);
            anyhow::anyhow!(
                "cannot add index {} to database {}: {e:#}",
                r.name,
                path.display()
            )
        })?;
    }
    tx.execute_batch(SCHEMA_EXTRA)
        .map_err(|e| describe(e.into(), path))?;
    tx.execute_batch(SCHEMA_CLI)
        .map_err(|e| describe(e.into(), path))?;
    tx.commit().map_err(|e| describe(e.into(), path))?;
    Ok(())
}

/// The `CREATE … INDEX` statement of sql/v1.sql that creates index `name`.
fn index_ddl(name: &str) -> Option<&'static str> {
    SCHEMA_V1.lines().find(|line| {
        line.starts_with("CREATE")
            && line.contains(" INDEX ")
            && line.split_whitespace().any(|w| w.trim_matches('"') == name)
    })
}

/// How long a connection waits for the write lock (`--busy-timeout`), in ms, for [`busy_wait`].
static BUSY_TIMEOUT_MS: AtomicU64 = AtomicU64::new(30_000);

thread_local! {
    /// When the current wait for a lock began (reset on the handler's first call of each wait).
    static BUSY_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The deadline that bounds this thread's current write instead of the timeout (a worker's
    /// result write ends with the run's lease); None: `--busy-timeout`.
    static WRITE_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Bounds this thread's waits for the lock by `deadline` (None: `--busy-timeout` again).
pub fn set_write_deadline(deadline: Option<Instant>) {
    WRITE_DEADLINE.set(deadline);
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
    let limit = WRITE_DEADLINE
        .get()
        .unwrap_or_else(|| since + Duration::from_millis(BUSY_TIMEOUT_MS.load(Ordering::Relaxed)));
    if now >= limit {
        return false;
    }
    std::thread::sleep((limit - now).min(Duration::from_millis(1)));
    true
}

/// Opens a second connection to the same file (a worker's lease-renewal thread).
pub fn connect_again(path: &Path, opts: &Options) -> Result<Connection> {
    connect(path, Access::WriteExisting, opts)
}

/// Refuses a path that names something other than a regular file (a missing one is fine: it
/// is created or reported by the caller). Opening a FIFO blocks until a writer comes, a
/// directory or a device is never a database: each is one clear error before SQLite sees it.
fn check_regular(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let t = meta.file_type();
    let what = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    bail!("database {} is {what}, not a regular file", path.display())
}

/// The identity of a database file: its device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the file `path` names now (None: it names nothing).
    pub fn of_path(path: &Path) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileId {
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    /// The identity of the file `conn` has open, read from the main database file's
    /// descriptor (`/proc/self/fd`), so that it is the file SQLite writes, not whatever the
    /// path names by now. None when it cannot be told (no /proc, an in-memory database).
    pub fn of_connection(conn: &Connection) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        let name = conn.path().filter(|p| !p.is_empty())?;
        let name = Path::new(name);
        for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
            let Ok(target) = std::fs::read_link(entry.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            let target = target.strip_suffix(" (deleted)").unwrap_or(&target);
            if Path::new(target) == name {
                let m = std::fs::metadata(entry.path()).ok()?;
                return Some(FileId {
                    dev: m.dev(),
                    ino: m.ino(),
                });
            }
        }
        None
    }
}

/// Copies the whole WAL into the file `conn` has open and empties it
/// (`wal_checkpoint(TRUNCATE)`). For a worker whose path no longer names that file: SQLite
/// leaves the WAL of a renamed or unlinked file in place when it closes, and the file that
/// takes the name (or is created under it later) would read this WAL's pages as its own.
pub fn empty_wal(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

fn connect(path: &Path, access: Access, opts: &Options) -> Result<Connection> {
    check_regular(path)?;
    // No SQLITE_OPEN_URI; and the bundled SQLite is built with SQLITE_USE_URI, which reads a
    // name beginning with `file:` as a URI even without the flag, so a relative path is opened
    // as `./NAME`: then `file:x.db` and `:memory:` are plain file names like any other.
    let file = if path.is_relative() {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    };
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if matches!(access, Access::Write | Access::Repair) {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = match Connection::open_with_flags(&file, flags) {
        Ok(c) => c,
        // A read on a file we may not write (chattr +i, another user's file) still works.
        Err(_) if access == Access::Read => Connection::open_with_flags(
            &file,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| describe(e.into(), path))?,
        Err(e) => return Err(describe(e.into(), path)),
    };
    set_busy_wait(&conn, opts.busy_timeout)?;
    // Only set when it differs: a read-only file refuses even a no-op pragma write on some
    // builds, and FULL is what durability needs for writers.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| describe(e.into(), path))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    if let Some(bytes) = opts.max_size {
        cap_size(&conn, bytes).map_err(|e| describe(e.into(), path))?;
    }
    Ok(conn)
}

/// `--max-db-size`: caps the file at `bytes` (whole pages, at least one), so that a write
/// that would grow it further fails with SQLITE_FULL ("disk full"). `max_page_count` belongs to
/// the connection, not the file: every connection sets it. A file already larger takes no
/// more pages (SQLite keeps the cap at its size).
fn cap_size(conn: &Connection, bytes: u64) -> rusqlite::Result<()> {
    let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let pages = (bytes / page_size.max(1)).max(1);
    conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
}

/// The highest version in `durably_schema_versions` (the table exists), or `None` when it
/// has no rows.
fn schema_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT max(version) FROM durably_schema_versions",
        [],
        |r| r.get(0),
    )
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
    tx.execute_batch(SCHEMA_CLI)?;
    tx.execute(
        "INSERT INTO durably_schema_versions (version, applied_at) VALUES (?1, ?2)",
        rusqlite::params![SCHEMA_VERSION, crate::time::now()],
    )?;
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
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => Unavailable(format!(
            "database {p} is locked: another process held it longer than --busy-timeout"
        ))
        .into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// REQUIRED lists exactly the tables, columns and indexes sql/v1.sql creates, and each
    /// index has a statement `repair` can run.
    #[test]
    fn required_is_exactly_the_v1_schema() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        let catalog = Catalog::read(&conn).unwrap();
        assert!(catalog.missing().is_empty());
        let objects: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM sqlite_schema WHERE type IN ('table', 'index') \
                   AND name NOT LIKE 'sqlite_autoindex%') \
                 + (SELECT count(*) FROM sqlite_schema AS m, pragma_table_info(m.name) \
                   WHERE m.type = 'table')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(objects as usize, REQUIRED.len());
        for r in REQUIRED.iter().filter(|r| r.kind == Kind::Index) {
            let ddl = index_ddl(r.name).unwrap();
            conn.execute_batch(&format!("DROP INDEX {}", r.name))
                .unwrap();
            conn.execute_batch(ddl).unwrap();
        }
    }
}
