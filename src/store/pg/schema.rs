//! The schema on PostgreSQL: checked on every open (with the session's setup, one round
//! trip), created by writers in one transaction as the library's `migrate()` does, completed
//! by `durably init`.

use super::typed::p;
use crate::store::{Access, SCHEMA_VERSION};
use anyhow::{anyhow, bail, Result};
use postgres::error::SqlState;
use postgres::{Client, GenericClient, SimpleQueryMessage};

const SCHEMA_V1: &str = include_str!("../../../sql/postgres/v1.sql");
const SCHEMA_EXTRA: &str = include_str!("../../../sql/postgres/extra.sql");
/// Our own tables (`durably_cli_*`, see [`crate::store::ours`]).
const SCHEMA_CLI: &str = include_str!("../../../sql/postgres/cli.sql");

/// Two processes creating the schema at once take turns on this transaction-level advisory lock
/// (an arbitrary constant: "durably" in ASCII).
const SCHEMA_LOCK: i64 = 0x0064_7572_6162_6C79;

/// Every table with its columns, in the order of sql/postgres/v1.sql.
const TABLES: &[(&str, &[&str])] = &[
    (
        "durably_runs",
        &[
            "id",
            "job_name",
            "input",
            "status",
            "idempotency_key",
            "concurrency_key",
            "labels",
            "current_step_index",
            "completed_step_count",
            "progress",
            "output",
            "error",
            "lease_owner",
            "lease_expires_at",
            "lease_generation",
            "started_at",
            "completed_at",
            "created_at",
            "updated_at",
        ],
    ),
    ("durably_run_labels", &["run_id", "key", "value"]),
    (
        "durably_steps",
        &[
            "id",
            "run_id",
            "name",
            "index",
            "status",
            "output",
            "error",
            "started_at",
            "completed_at",
        ],
    ),
    (
        "durably_logs",
        &[
            "id",
            "run_id",
            "step_name",
            "level",
            "message",
            "data",
            "created_at",
        ],
    ),
    ("durably_schema_versions", &["version", "applied_at"]),
];

/// The library's indexes (its primary keys aside).
pub const LIBRARY_INDEXES: &[&str] = &[
    "idx_durably_runs_job_idempotency",
    "idx_durably_runs_status_concurrency",
    "idx_durably_runs_status_created",
    "idx_durably_runs_status_lease_expires",
    "idx_durably_runs_job_created",
    "idx_durably_runs_status_completed",
    "idx_durably_run_labels_pk",
    "idx_durably_run_labels_key_value",
    "idx_durably_steps_run_index",
    "idx_durably_steps_completed_unique",
    "idx_durably_logs_run_created",
    "idx_durably_runs_pending_concurrency",
];

/// The durably tables, columns and indexes of the first schema of the search_path.
const CATALOG: &str = "\
    SELECT 'table', c.relname::text, c.relname::text FROM pg_class c \
     WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') \
       AND c.relname LIKE 'durably\\_%' \
    UNION ALL \
    SELECT 'column', c.relname::text, a.attname::text FROM pg_attribute a \
      JOIN pg_class c ON c.oid = a.attrelid \
     WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') \
       AND c.relname LIKE 'durably\\_%' AND a.attnum > 0 AND NOT a.attisdropped \
    UNION ALL \
    SELECT 'index', t.relname::text, i.relname::text FROM pg_index x \
      JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
     WHERE t.relnamespace = current_schema()::regnamespace AND t.relname LIKE 'durably\\_%'";

/// The schema version, after [`CATALOG`] in the one round trip of [`prepare`]; an error
/// (undefined table or column) when the database lacks the table.
const VERSION: &str = "SELECT 'version', max(version)::text FROM durably_schema_versions";

/// What the database has of the schema.
struct Catalog {
    rows: Vec<(String, String, String)>,
}

impl Catalog {
    fn read(c: &mut impl GenericClient) -> Result<Catalog> {
        let rows = c
            .query_typed(CATALOG, &[])?
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        Ok(Catalog { rows })
    }

    /// The catalog and the version from the answer of `setup; CATALOG; VERSION` sent as one
    /// simple query: rows of three columns are the catalog's, the one of two the version.
    fn from_simple(messages: &[SimpleQueryMessage]) -> (Catalog, Option<i64>) {
        let mut rows = Vec::new();
        let mut version = None;
        for m in messages {
            let SimpleQueryMessage::Row(r) = m else {
                continue;
            };
            let text = |i| r.get(i).unwrap_or("").to_string();
            match r.len() {
                3 => rows.push((text(0), text(1), text(2))),
                2 if r.get(0) == Some("version") => version = r.get(1).and_then(|v| v.parse().ok()),
                _ => {}
            }
        }
        (Catalog { rows }, version)
    }

    /// Whether the database has every table of sql/postgres/cli.sql.
    fn has_ours(&self) -> bool {
        crate::store::ours::all_present(SCHEMA_CLI, |t| self.has("table", t, t))
    }

    fn has(&self, kind: &str, table: &str, name: &str) -> bool {
        self.rows
            .iter()
            .any(|(k, t, n)| k == kind && t == table && n == name)
    }

    /// Missing tables and columns ("table T", "column T.C"), then missing library indexes.
    fn missing(&self) -> (Vec<String>, Vec<&'static str>) {
        let mut structure = Vec::new();
        for (table, columns) in TABLES {
            if !self.has("table", table, table) {
                structure.push(format!("table {table}"));
                continue;
            }
            for col in *columns {
                if !self.has("column", table, col) {
                    structure.push(format!("column {table}.{col}"));
                }
            }
        }
        let indexes = LIBRARY_INDEXES
            .iter()
            .copied()
            .filter(|i| !self.rows.iter().any(|(k, _, n)| k == "index" && n == i))
            .collect();
        (structure, indexes)
    }
}

fn lacks(location: &str, missing: &[String]) -> String {
    let more = match missing.len() - 1 {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!("database {location} lacks {}{more}", missing[0])
}

fn version(c: &mut impl GenericClient) -> Result<Option<i64>> {
    let row = c.query_typed_one(
        "SELECT max(version)::bigint FROM durably_schema_versions",
        &[],
    )?;
    Ok(row.get(0))
}

/// The session's `setup` statements (see `connect::Target::setup`), the catalog and the
/// version in one round trip; None when the database lacks the version table (or its column):
/// the statement fails, the setup with it, and [`prepare`] takes the long way.
fn check_in_one(client: &mut Client, setup: &str) -> Result<Option<(Catalog, Option<i64>)>> {
    match client.simple_query(&format!("{setup}{CATALOG}; {VERSION}")) {
        Ok(messages) => Ok(Some(Catalog::from_simple(&messages))),
        Err(e)
            if matches!(
                e.code(),
                Some(&SqlState::UNDEFINED_TABLE | &SqlState::UNDEFINED_COLUMN)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs the session's `setup` statements and checks the schema for `access`, in one round trip
/// when the schema is there; creates it for writers when the database has none (no version
/// row); a reader of a database without it gets an error, as for an explicit SQLite file.
/// Says whether the database has our own tables ([`crate::store::ours`]; a new schema gets
/// them).
pub fn prepare(client: &mut Client, location: &str, access: Access, setup: &str) -> Result<bool> {
    let (catalog, version) = match check_in_one(client, setup)? {
        Some(found) => found,
        None => {
            if !setup.is_empty() {
                client.batch_execute(setup)?;
            }
            let catalog = Catalog::read(client)?;
            if catalog.has(
                "table",
                "durably_schema_versions",
                "durably_schema_versions",
            ) {
                // The table is there but its query failed: the check names what is missing.
                check(&catalog, location, Access::Repair)?;
                let version = version(client)?;
                (catalog, version)
            } else {
                (catalog, None)
            }
        }
    };
    let has_table = catalog.has(
        "table",
        "durably_schema_versions",
        "durably_schema_versions",
    );
    // A version table of another schema of the search_path is not this one's.
    let version = version.filter(|_| has_table);
    match version {
        Some(v) if v > SCHEMA_VERSION => bail!(
            "database {location} has schema version {v}, newer than this durably supports ({SCHEMA_VERSION}); upgrade durably"
        ),
        Some(_) => {
            check(&catalog, location, access)?;
            Ok(catalog.has_ours())
        }
        None if matches!(access, Access::Write | Access::Repair) => {
            create(client)?;
            check(&Catalog::read(client)?, location, access)?;
            Ok(true)
        }
        None => bail!("database {location} has no durably schema (run `durably init` first)"),
    }
}

/// Refuses a database that lacks a table or column (nothing can add them safely), or a library
/// index unless `durably init` is about to add it.
fn check(catalog: &Catalog, location: &str, access: Access) -> Result<()> {
    let (structure, indexes) = catalog.missing();
    if !structure.is_empty() {
        bail!(
            "{}; the library does not migrate an existing v1 database: recreate it",
            lacks(location, &structure)
        );
    }
    if !indexes.is_empty() && access != Access::Repair {
        let named: Vec<String> = indexes.iter().map(|i| format!("index {i}")).collect();
        bail!("{}; run `durably init` to add it", lacks(location, &named));
    }
    Ok(())
}

/// Creates the schema as the library's migrate() does, in one transaction, with our indexes
/// and the version row; a second process doing the same waits on the advisory lock and then
/// finds the version row.
fn create(client: &mut Client) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute_typed("SELECT pg_advisory_xact_lock($1)", &[p(&SCHEMA_LOCK)])?;
    let has_versions = tx
        .query_typed_one(
            "SELECT to_regclass('durably_schema_versions') IS NOT NULL",
            &[],
        )?
        .get::<_, bool>(0);
    if has_versions && version(&mut tx)?.is_some() {
        return Ok(tx.commit()?);
    }
    tx.batch_execute(SCHEMA_V1)?;
    tx.batch_execute(SCHEMA_EXTRA)?;
    tx.batch_execute(SCHEMA_CLI)?;
    tx.execute_typed(
        "INSERT INTO durably_schema_versions (version, applied_at) VALUES ($1, $2)",
        &[p(&(SCHEMA_VERSION as i32)), p(&crate::time::now())],
    )?;
    Ok(tx.commit()?)
}

/// `durably init` on an existing database: adds the library's indexes it lacks and ours, and
/// drops the plan functions of earlier durably versions, in one transaction. A unique index
/// the rows violate fails it, and nothing changes.
pub fn repair(client: &mut Client, location: &str) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute_typed("SELECT pg_advisory_xact_lock($1)", &[p(&SCHEMA_LOCK)])?;
    let catalog = Catalog::read(&mut tx)?;
    let (structure, indexes) = catalog.missing();
    if !structure.is_empty() {
        bail!(
            "{}; the library does not migrate an existing v1 database: recreate it",
            lacks(location, &structure)
        );
    }
    for name in indexes {
        let ddl = SCHEMA_V1
            .lines()
            .find(|l| {
                l.to_ascii_lowercase().contains(" index ")
                    && l.split_whitespace().any(|w| w.trim_matches('"') == name)
            })
            .ok_or_else(|| anyhow!("no definition of index {name} in sql/postgres/v1.sql"))?;
        tx.batch_execute(ddl)
            .map_err(|e| anyhow!("cannot add index {name} to database {location}: {e}"))?;
    }
    tx.batch_execute(SCHEMA_EXTRA)?;
    tx.batch_execute(SCHEMA_CLI)?;
    super::plans::drop_stale(&mut tx)?;
    Ok(tx.commit()?)
}

/// Runs `ddl` in one transaction under the schema's advisory lock: two sessions creating the
/// same objects at once take turns (`CREATE TABLE IF NOT EXISTS` run together can otherwise
/// both try to create it).
pub fn create_under_lock<'a>(
    client: &mut Client,
    ddl: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute_typed("SELECT pg_advisory_xact_lock($1)", &[p(&SCHEMA_LOCK)])?;
    for statement in ddl {
        tx.batch_execute(statement)?;
    }
    Ok(tx.commit()?)
}

/// Creates our own tables a database lacks (one the library created).
pub fn create_ours(client: &mut Client) -> Result<()> {
    create_under_lock(client, [SCHEMA_CLI])
}
