//! Where the database is: the value of `--db` (or `DURABLY_DB`, or the default path) read
//! once, where the command line is read, into a [`Target`]: a SQLite file or a PostgreSQL
//! server. Nothing above the store asks what kind of text it was given: it matches on the
//! target, or asks the store.
//!
//! The rules, in order:
//! - a value that is not UTF-8 is a file path (a file name may be any bytes);
//! - a key=value connection string with a password (`host=… password=…`) is refused: it would
//!   name a SQLite file, shown in messages password and all;
//! - `SCHEME://…` with `SCHEME` `postgres` or `postgresql`, in any case (schemes are
//!   case-insensitive, RFC 3986 §3.1; `POSTGRES://` is PostgreSQL, its scheme written in lower
//!   case), is a PostgreSQL server;
//! - `SCHEME://…` with any other well-formed scheme (`mysql://`, `sqlite://`, `postgress://`)
//!   is refused naming the scheme, instead of being taken for a file in a directory `mysql:`
//!   that "does not exist"; a file whose name really contains `://` is still `./name`;
//! - anything else is a SQLite file path.

use crate::error::StoreError;
use std::fmt;
use std::path::{Path, PathBuf};

/// The database a command works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server.
    Postgres(PgTarget),
}

/// A PostgreSQL URL, its scheme in lower case, with the form of it that may be shown.
#[derive(Clone, PartialEq, Eq)]
pub struct PgTarget {
    url: String,
    shown: String,
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PgTarget").field(&self.shown).finish()
    }
}

impl PgTarget {
    /// The URL as given, password and all: only for connecting.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL without its password (user info or `password=` parameter): what handlers get
    /// as `DURABLY_DB`, and what messages may show.
    pub fn without_password(&self) -> &str {
        &self.shown
    }
}

impl Target {
    /// Reads a `--db` value (see the module's rules); a refusal is [`StoreError::Invalid`], one
    /// line that names `--db`.
    pub fn parse(db: PathBuf) -> Result<Target, StoreError> {
        let Some(text) = db.to_str() else {
            return Ok(Target::Sqlite(db));
        };
        if crate::secret::is_conninfo_with_password(text) {
            return Err(StoreError::Invalid(
                "--db: key=value connection strings are not supported (give a postgres:// URL)"
                    .into(),
            ));
        }
        let Some((scheme, rest)) = text.split_once("://").filter(|(s, _)| is_scheme(s)) else {
            return Ok(Target::Sqlite(db));
        };
        let lower = scheme.to_ascii_lowercase();
        if lower != "postgres" && lower != "postgresql" {
            return Err(StoreError::Invalid(format!(
                "--db: {scheme}:// is not a database durably can use (give a SQLite file path or a postgres:// URL)"
            )));
        }
        let url = format!("{lower}://{rest}");
        let shown = crate::secret::without_password(&url);
        Ok(Target::Postgres(PgTarget { url, shown }))
    }

    /// The SQLite file, if the target is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Target::Sqlite(path) => Some(path),
            Target::Postgres(_) => None,
        }
    }
}

/// The file path, or the URL without its password.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Sqlite(path) => path.display().fmt(f),
            Target::Postgres(pg) => f.write_str(&pg.shown),
        }
    }
}

/// A URI scheme (RFC 3986 §3.1): a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Target, StoreError> {
        Target::parse(PathBuf::from(text))
    }

    #[test]
    fn urls_and_paths_are_told_apart_once() {
        assert_eq!(parse("q.db").unwrap(), Target::Sqlite("q.db".into()));
        assert_eq!(parse("./a://b").unwrap(), Target::Sqlite("./a://b".into()));
        assert_eq!(parse("://x").unwrap(), Target::Sqlite("://x".into()));
        let Target::Postgres(pg) = parse("POSTGRESQL://u:pw@h/db").unwrap() else {
            panic!("not PostgreSQL");
        };
        assert_eq!(pg.url(), "postgresql://u:pw@h/db");
        assert_eq!(pg.without_password(), "postgresql://u@h/db");
        assert!(!format!("{pg:?}").contains("pw"));
        for refused in [
            "mysql://h/db",
            "postgress://h",
            "sqlite://q.db",
            "host=h password=x",
        ] {
            assert!(parse(refused).is_err(), "{refused}");
        }
    }
}
