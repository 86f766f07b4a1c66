//! One SQLite statement executed with its text values bound without a copy (`SQLITE_STATIC`),
//! for writes of a large value (a handler's output of up to 16 MiB).
//!
//! rusqlite binds every text `SQLITE_TRANSIENT`: SQLite copies the value at bind time, and
//! copies it again into the row's record while the statement runs, so a value of n bytes costs
//! 3n beside the caller's own copy. Bound static, SQLite reads the caller's buffer and only the
//! record is a copy: 2n, the least a row in one record allows. The values outlive the
//! statement, which is prepared, run to completion and finalized here.

use rusqlite::{ffi, Connection};
use std::ffi::{c_char, c_int, CString};

/// A value of [`execute`], bound to `?1`, `?2`, … in order.
pub enum Param<'a> {
    Text(&'a str),
    Int(i64),
    Null,
}

/// Runs `sql` (one statement without rows) with `params`; the number of rows changed.
pub fn execute(conn: &Connection, sql: &str, params: &[Param]) -> rusqlite::Result<usize> {
    let sql = CString::new(sql).map_err(rusqlite::Error::NulError)?;
    // SAFETY: `db` is the open connection `conn` owns (used on this thread only, as `conn`
    // is not Sync); `stmt` is finalized by `Finalize` on every path; every bound text is
    // borrowed from `params`, which outlives the statement.
    unsafe {
        let db = conn.handle();
        let mut stmt = std::ptr::null_mut();
        let rc = ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut());
        if rc != ffi::SQLITE_OK {
            return Err(error(db));
        }
        let _finalize = Finalize(stmt);
        for (i, p) in params.iter().enumerate() {
            let index = (i + 1) as c_int;
            let rc = match p {
                Param::Text(s) => ffi::sqlite3_bind_text64(
                    stmt,
                    index,
                    s.as_ptr().cast::<c_char>(),
                    s.len() as ffi::sqlite3_uint64,
                    ffi::SQLITE_STATIC(),
                    ffi::SQLITE_UTF8 as u8,
                ),
                Param::Int(n) => ffi::sqlite3_bind_int64(stmt, index, *n),
                Param::Null => ffi::sqlite3_bind_null(stmt, index),
            };
            if rc != ffi::SQLITE_OK {
                return Err(error(db));
            }
        }
        match ffi::sqlite3_step(stmt) {
            ffi::SQLITE_DONE => Ok(ffi::sqlite3_changes(db) as usize),
            _ => Err(error(db)),
        }
    }
}

/// The connection's last error, as rusqlite reports its own.
///
/// # Safety
/// `db` must be the open connection whose last call failed, used by this thread only until
/// this returns (the message it reads belongs to the connection and changes with its next call).
unsafe fn error(db: *mut ffi::sqlite3) -> rusqlite::Error {
    let code = ffi::sqlite3_extended_errcode(db);
    let message = std::ffi::CStr::from_ptr(ffi::sqlite3_errmsg(db))
        .to_string_lossy()
        .into_owned();
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message))
}

struct Finalize(*mut ffi::sqlite3_stmt);

impl Drop for Finalize {
    fn drop(&mut self) {
        // SAFETY: a statement prepared above and finalized only here.
        unsafe { ffi::sqlite3_finalize(self.0) };
    }
}
