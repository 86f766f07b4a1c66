//! Tables of our own beside the library's schema: everything the CLI keeps that @coji/durably
//! has no column for (held runs, schedules, pauses) lives in tables named `durably_cli_*`,
//! declared in `sql/cli.sql` (SQLite) and `sql/postgres/cli.sql`, every statement `IF NOT
//! EXISTS`. The library ignores tables it does not know, so its `migrate()` and its workers
//! keep working on the same database.
//!
//! When they are created:
//! - with the schema (a new database), and by `durably init` on an existing one;
//! - on first use, in a transaction of their own under the write lock (`Store::ensure_ours`):
//!   by the first command that writes to one of them (`enqueue --at`, `schedule add`,
//!   `pause`, …) and by `durably work` when it starts (it releases held runs, materialises
//!   schedules and honours pauses) — so a database the library created gets them only when a
//!   feature that needs them is used, and plain `enqueue`, `ls`, `cancel` on it run no DDL;
//! - never by a reader: `has_ours()` (from the open's one catalog query) is false and the
//!   reader reads them as empty.
//!
//! The open's one catalog query already lists every `durably_*` table, so checking costs no
//! extra round trip.

/// The names of the tables a DDL file declares (`CREATE TABLE IF NOT EXISTS name`), in order.
pub fn tables(ddl: &'static str) -> impl Iterator<Item = &'static str> {
    ddl.lines().filter_map(|line| {
        let rest = line
            .trim_start()
            .strip_prefix("CREATE TABLE IF NOT EXISTS ")?;
        rest.split(|c: char| c.is_whitespace() || c == '(')
            .next()
            .filter(|name| !name.is_empty())
    })
}

/// Whether every table of `ddl` is among those `present` names.
pub fn all_present<'a>(ddl: &'static str, present: impl Fn(&str) -> bool + 'a) -> bool {
    tables(ddl).all(present)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_of_a_ddl_file_are_named_in_order() {
        const DDL: &str = "-- a comment naming CREATE TABLE IF NOT EXISTS nothing\n\
            CREATE TABLE IF NOT EXISTS durably_cli_a (x TEXT);\n\
            CREATE INDEX IF NOT EXISTS i ON durably_cli_a (x);\n  \
            CREATE TABLE IF NOT EXISTS durably_cli_b(\n  y TEXT\n);\n";
        assert_eq!(
            tables(DDL).collect::<Vec<_>>(),
            ["durably_cli_a", "durably_cli_b"]
        );
        assert!(all_present(DDL, |t| t.starts_with("durably_cli_")));
        assert!(!all_present(DDL, |t| t == "durably_cli_a"));
    }

    #[test]
    fn both_backends_declare_the_same_tables() {
        let sqlite: Vec<_> = tables(include_str!("../../sql/cli.sql")).collect();
        let pg: Vec<_> = tables(include_str!("../../sql/postgres/cli.sql")).collect();
        assert_eq!(sqlite, pg);
        assert!(sqlite.iter().all(|t| t.starts_with("durably_cli_")));
    }
}
