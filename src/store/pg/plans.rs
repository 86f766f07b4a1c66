//! Plans kept by the server: the statements a worker runs for every run (the batch claim, the
//! result) as PL/pgSQL functions, which PostgreSQL plans once per session and keeps.
//!
//! Why: the claim is one statement over five scans of `durably_runs`, a table of fourteen
//! indexes; sent as text (a simple query, or an unnamed statement) it is planned again at
//! every call, 0.5 ms of the server's time at every run, more than it takes to execute
//! (BENCHMARKS.md, "Plans kept by the server"). A statement prepared under a name would keep
//! its plan too, but PgBouncer in transaction mode cannot follow named statements
//! ([`super::typed`]); a function's plan lives in whichever server session runs it, so the
//! same call works directly and through a pooler.
//!
//! Each function's name carries a hash of its whole definition (`durably_cli_claim_1a2b3c4d`):
//! another version of a statement is another function, and workers of two versions of durably
//! run each their own. The body is the statement's file of `sql/postgres/` unchanged, its `$1`…
//! the function's parameters. `durably work` creates the functions it lacks when it starts
//! ([`Postgres::ensure_plans`], under the schema's advisory lock); a worker that cannot (no
//! right to create functions) sends the statements as text, as before. Like our tables, the
//! functions are named `durably_cli_*`, and the library never sees them.

use super::literal::{self, Lit};
use super::Postgres;
use anyhow::Result;
use postgres::types::Type;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

const ROWS: &str = include_str!("../../../sql/postgres/plan_rows.sql");
const COUNT: &str = include_str!("../../../sql/postgres/plan_count.sql");

/// A template without its header comment (which names the `@…@` places it fills).
fn template(file: &str) -> String {
    file.lines()
        .skip_while(|l| l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One statement kept as a function.
pub struct Plan {
    /// The function's name (with the hash of `ddl`).
    pub name: String,
    /// Its `CREATE OR REPLACE FUNCTION`.
    pub ddl: String,
    /// How many parameters it takes.
    pub arity: usize,
}

impl Plan {
    /// A function returning the rows of a claim whose `$3` is how many runs at most
    /// (`columns`: `name type, …`): the statement once for each `$3` up to [`BRANCHES`]
    /// with its `LIMIT $3` written in, planned once; a larger `$3` planned at each call.
    fn rows(stem: &str, args: &[&str], columns: &str, body: &str) -> Plan {
        let body = body.trim_end().trim_end_matches(';');
        let branches: Vec<String> = (1..=BRANCHES)
            .map(|n| {
                let limited = body.replace("LIMIT $3", &format!("LIMIT {n}"));
                format!("WHEN {n} THEN RETURN QUERY\n{limited};")
            })
            .collect();
        let using: Vec<String> = (1..=args.len()).map(|i| format!("${i}")).collect();
        let template = template(ROWS)
            .replace("@COLUMNS@", columns)
            .replace("@BRANCHES@", &branches.join("\n"))
            .replace("@USING@", &using.join(", "));
        Plan::new(stem, args, template, body)
    }

    /// A function returning how many rows the statement changed.
    fn count(stem: &str, args: &[&str], body: &str) -> Plan {
        Plan::new(stem, args, template(COUNT), body)
    }

    fn new(stem: &str, args: &[&str], template: String, body: &str) -> Plan {
        let body = body.trim_end().trim_end_matches(';');
        let unnamed = template
            .replace("@ARGS@", &args.join(", "))
            .replace("@BODY@", body);
        let name = format!("durably_cli_{stem}_{:08x}", fnv(&unnamed) as u32);
        let ddl = unnamed.replace("@NAME@", &name);
        Plan {
            name,
            ddl,
            arity: args.len(),
        }
    }

    /// `SELECT * FROM "schema".name($1, …)`, its parameters as placeholders (a count function
    /// answers one row of one column).
    pub fn call(&self) -> String {
        let params: Vec<String> = (1..=self.arity).map(|i| format!("${i}")).collect();
        let schema = SCHEMA.get().map(|s| s.as_str()).unwrap_or("public");
        let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
        format!(
            "SELECT * FROM {quoted}.{}({})",
            self.name,
            params.join(", ")
        )
    }

    /// The call with `params` written in, for a simple query ([`literal`]).
    pub fn call_inline(&self, params: &[Lit]) -> Result<String> {
        literal::inline(&self.call(), params)
    }
}

/// The largest number of runs a claim function has a plan of its own for.
const BRANCHES: usize = 16;

/// FNV-1a, 64 bits: a name that changes with the definition (not a secret).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The statements kept as functions.
pub struct Plans {
    /// `lease_claim_batch.sql`: owner, lease (ms), max.
    pub claim: Plan,
    /// `lease_claim_batch_jobs.sql`: owner, lease (ms), max, jobs.
    pub claim_jobs: Plan,
    /// `lease_complete.sql`: id, generation, output.
    pub complete: Plan,
    /// `lease_fail.sql`: id, generation, error.
    pub fail: Plan,
}

impl Plans {
    fn all(&self) -> [&Plan; 4] {
        [&self.claim, &self.claim_jobs, &self.complete, &self.fail]
    }
}

/// Drops the functions of earlier durably versions (`plans_stale.sql`) in `tx` (`durably init`,
/// under the schema's lock); their names.
pub fn drop_stale(tx: &mut impl postgres::GenericClient) -> Result<Vec<String>> {
    let names: Vec<&str> = plans().all().iter().map(|p| p.name.as_str()).collect();
    let stale: Vec<String> = tx
        .query_typed(
            include_str!("../../../sql/postgres/plans_stale.sql"),
            &[(&names, Type::TEXT_ARRAY)],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    for function in &stale {
        // A regprocedure's text: the name (schema-qualified when needed) and argument types.
        tx.batch_execute(&format!("DROP FUNCTION IF EXISTS {function}"))?;
    }
    Ok(stale)
}

/// The claim's rows: a run's columns ([`crate::store::columns::RUN_COLUMNS`]) typed as the
/// database types them (`%TYPE`: the library's `integer` or a `bigint`), then the flag.
fn claim_columns() -> String {
    let mut columns: Vec<String> = crate::store::columns::RUN_COLUMNS
        .split(',')
        .map(str::trim)
        .enumerate()
        .map(|(i, c)| format!("r{i} durably_runs.{c}%TYPE"))
        .collect();
    columns.push(format!("r{} boolean", columns.len()));
    columns.join(", ")
}

/// The plans of this build.
pub fn plans() -> &'static Plans {
    static PLANS: OnceLock<Plans> = OnceLock::new();
    PLANS.get_or_init(|| {
        let columns = claim_columns();
        Plans {
            claim: Plan::rows(
                "claim",
                &["text", "int8", "int8"],
                &columns,
                include_str!("../../../sql/postgres/lease_claim_batch.sql"),
            ),
            claim_jobs: Plan::rows(
                "claim_jobs",
                &["text", "int8", "int8", "text[]"],
                &columns,
                include_str!("../../../sql/postgres/lease_claim_batch_jobs.sql"),
            ),
            complete: Plan::count(
                "complete",
                &["text", "int8", "text"],
                include_str!("../../../sql/postgres/lease_complete.sql"),
            ),
            fail: Plan::count(
                "fail",
                &["text", "int8", "text"],
                include_str!("../../../sql/postgres/lease_fail.sql"),
            ),
        }
    })
}

impl Postgres {
    /// Creates the functions of [`plans`] the database lacks, in one transaction under the
    /// schema's advisory lock (one round trip when they are all there). Done: the lease
    /// writes call them from now on. A database that refuses (no right to create functions
    /// in the schema) is not an error: the statements are then sent as text. Whether the
    /// claim's partial index is there (true when that could not be read).
    pub fn ensure_plans(&mut self) -> Result<bool> {
        let names: Vec<&str> = plans().all().iter().map(|p| p.name.as_str()).collect();
        let shown = self.shown.clone();
        let result = (|| -> Result<(String, bool)> {
            let mut client = self.client.borrow_mut();
            let row = client.query_typed_one(
                include_str!("../../../sql/postgres/plans_present.sql"),
                &[(&names, Type::TEXT_ARRAY)],
            )?;
            let (present, schema): (i64, Option<String>) = (row.try_get(0)?, row.try_get(1)?);
            let index: bool = row.try_get(2)?;
            let schema = schema.ok_or_else(|| anyhow::anyhow!("no schema on the search_path"))?;
            if usize::try_from(present).ok() != Some(names.len()) {
                // Functions of these names another role owns make this fail: text, then.
                super::schema::create_under_lock(
                    &mut client,
                    plans().all().map(|p| p.ddl.as_str()),
                )?;
            }
            Ok((schema, index))
        })();
        match result {
            Ok((schema, index)) => {
                // One database a process: the schema is the same at every call.
                if SCHEMA.get_or_init(|| schema.clone()) == &schema {
                    READY.store(true, Ordering::Relaxed);
                }
                Ok(index)
            }
            Err(e) if super::is_connection_error(&e) => Err(super::describe(e, &shown)),
            Err(_) => Ok(true),
        }
    }
}

/// Whether this process made sure of the functions ([`Postgres::ensure_plans`]); every
/// connection it opens to the database (one database a process) calls them then.
static READY: AtomicBool = AtomicBool::new(false);

/// The schema the functions were made sure of in; the calls name it.
static SCHEMA: OnceLock<String> = OnceLock::new();

/// The functions to call, when [`Postgres::ensure_plans`] made sure of them.
pub(super) fn ready() -> Option<&'static Plans> {
    READY.load(Ordering::Relaxed).then(plans)
}

/// After an error that says a function is missing (dropped while the worker ran): the
/// statements go as text from now on.
pub(super) fn forget_if_missing(e: &anyhow::Error) {
    let missing = super::loss::any_driver_error(e, |pg| {
        pg.code() == Some(&postgres::error::SqlState::UNDEFINED_FUNCTION)
    });
    if missing {
        READY.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_changes_with_its_definition_and_the_body_is_the_file() {
        let a = Plan::count("x", &["text"], "UPDATE t SET a = $1");
        let b = Plan::count("x", &["text"], "UPDATE t SET a = $1 ");
        let c = Plan::count("x", &["text"], "UPDATE t SET b = $1");
        assert_eq!(a.name, b.name, "trailing space and semicolons do not count");
        assert_ne!(a.name, c.name);
        assert!(a.name.starts_with("durably_cli_x_") && a.name.len() == 22);
        assert!(a.ddl.contains(&format!("FUNCTION {}(text)", a.name)));
        assert!(a.ddl.contains("UPDATE t SET a = $1;\nGET DIAGNOSTICS"));
        assert_eq!(a.call(), format!("SELECT * FROM \"public\".{}($1)", a.name));
        let p = plans();
        assert!(p.claim.ddl.contains("r19 boolean"));
        assert!(p.claim.ddl.contains("WHEN 16 THEN RETURN QUERY\n"));
        assert!(p.claim.ddl.contains("LIMIT 16\n"));
        assert!(!p.claim.ddl.contains("WHEN 17"));
        assert!(p.claim.ddl.contains("USING $1, $2, $3;"));
        assert!(p.claim_jobs.ddl.contains("USING $1, $2, $3, $4;"));
        assert!(p
            .claim
            .ddl
            .contains("r14 durably_runs.lease_generation%TYPE"));
        assert_eq!(p.claim_jobs.arity, 4);
    }
}
