//! Telling a write that failed from one whose outcome is unknown. An error before COMMIT was
//! sent, or one the server answered to COMMIT (a deferred constraint, a serialization
//! failure), leaves nothing written: the transaction rolled back. A connection lost after
//! COMMIT was sent leaves the outcome unknown: the server may have committed and died before
//! answering. That case becomes [`CommitUnknown`], which commands report as such.

use crate::store::CommitUnknown;

/// The error of a COMMIT: [`CommitUnknown`] when the connection was lost (the client saw it
/// close, or the server ended the session: SQLSTATE class 08 or 57P01–57P03), else the
/// server's answer, which means the transaction rolled back.
pub(super) fn commit_error(e: postgres::Error, location: &str, subject: String) -> anyhow::Error {
    let source = anyhow::Error::new(e);
    if super::is_connection_error(&source) {
        return CommitUnknown {
            location: location.to_string(),
            subject,
            source,
        }
        .into();
    }
    super::describe(source, location)
}
