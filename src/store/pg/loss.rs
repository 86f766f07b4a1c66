//! Telling a lost connection from any other failure, by the driver's error kind and the
//! server's SQLSTATE, never by the text: [`DbError`] carries the driver's error behind the
//! one line a person reads, and [`is_connection_error`] looks at it.

use super::Postgres;
use std::fmt;

/// A PostgreSQL error as one line naming the database ([`super::describe`]), with the
/// driver's error kept for callers that decide from its kind.
///
/// The driver's error is not its `source()`: the line already says what it says (a source
/// would repeat it in `{:#}`), and an `io::Error` in the chain would read to `main` as a
/// broken pipe on stdout, a quiet success.
#[derive(Debug)]
pub struct DbError {
    text: String,
    driver: postgres::Error,
}

impl DbError {
    pub fn new(text: String, driver: postgres::Error) -> DbError {
        DbError { text, driver }
    }

    /// The driver's error.
    pub fn driver(&self) -> &postgres::Error {
        &self.driver
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for DbError {}

/// Whether `err` says the connection is gone: the client saw it close, the server said so
/// before closing it (SQLSTATE class 08, connection exception, or 57P01–57P03: terminated by
/// an administrator, a shutdown, or a server not accepting connections), or the socket
/// failed (reset, aborted, broken pipe, timed out, unexpected end). The server's message can
/// arrive before the client notices the close, so [`Postgres::is_lost`] alone can miss it.
pub fn is_connection_error(err: &anyhow::Error) -> bool {
    any_driver_error(err, is_loss)
}

/// Whether a driver's error in `err`'s chain (itself, or behind a [`DbError`]) satisfies `f`.
pub fn any_driver_error(err: &anyhow::Error, f: impl Fn(&postgres::Error) -> bool) -> bool {
    err.chain().any(|cause| {
        let driver = cause
            .downcast_ref::<postgres::Error>()
            .or_else(|| cause.downcast_ref::<DbError>().map(DbError::driver));
        driver.is_some_and(&f)
    })
}

/// Whether `err` is the server's answer to a transaction it chose to abort for another's sake:
/// a deadlock (40P01: two batches that wait for each other's idempotency keys) or a
/// serialization failure (40001). Nothing of the transaction was written; running it again is
/// safe and will usually succeed.
pub fn is_transient_conflict(err: &anyhow::Error) -> bool {
    any_driver_error(err, |e| {
        e.code()
            .is_some_and(|c| matches!(c.code(), "40P01" | "40001"))
    })
}

fn is_loss(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let state = code.code();
        return state.starts_with("08") || matches!(state, "57P01" | "57P02" | "57P03");
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionReset
                    | ConnectionAborted
                    | ConnectionRefused
                    | NotConnected
                    | BrokenPipe
                    | TimedOut
                    | UnexpectedEof
            ) {
                return true;
            }
        }
        cause = c.source();
    }
    false
}

impl Postgres {
    /// Whether the connection is gone (server restart, terminated backend, network cut, a
    /// bound of [`super::watch`] passed): only a new connection can go on.
    pub fn is_lost(&self) -> bool {
        self.net.broken.get()
            || self
                .client
                .try_borrow()
                .map(|c| c.is_closed())
                .unwrap_or(false)
    }

    /// Like [`Postgres::is_lost`], judging also by `err`, an error a call on this connection
    /// just returned; a connection it says is gone stays lost.
    pub fn is_lost_after(&self, err: &anyhow::Error) -> bool {
        if is_connection_error(err) {
            self.net.broken.set(true);
        }
        self.is_lost()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> postgres::Error {
        // Port 1 on the loopback interface: nothing listens there. Through `watch::connect`,
        // which serialises connects, like every connect of the store.
        let mut config = postgres::Config::new();
        config.host("127.0.0.1").port(1).user("x");
        let peers = super::super::watch::Peers {
            tcp_ports: vec![1],
            unix: false,
        };
        let bound = std::time::Duration::from_secs(10);
        let (client, _) =
            super::super::watch::connect(bound, &peers, || config.connect(postgres::NoTls));
        client.err().expect("nothing listens on port 1")
    }

    #[test]
    fn a_described_driver_error_keeps_its_kind_behind_one_line() {
        let described = super::super::describe(refused().into(), "127.0.0.1:1/x");
        assert!(is_connection_error(&described), "{described:#}");
        let line = format!("{described:#}");
        assert!(line.starts_with("database 127.0.0.1:1/x: "), "{line}");
        assert_eq!(line.matches("refused").count(), 1, "{line}");
        // With context on top, as the store's callers add it.
        let wrapped = described.context("cannot record the result of a run");
        assert!(is_connection_error(&wrapped));
        // Not an io::Error in the chain: main must not take it for a broken stdout pipe.
        assert!(!crate::error::is_broken_pipe(&wrapped));
    }

    #[test]
    fn other_errors_are_not_connection_losses() {
        let config_error = "port=notaport"
            .parse::<postgres::Config>()
            .expect_err("a bad port");
        let described = super::super::describe(config_error.into(), "db");
        assert!(!is_connection_error(&described), "{described:#}");
        assert!(!is_connection_error(&anyhow::anyhow!(
            "terminating connection due to administrator command"
        )));
    }
}
