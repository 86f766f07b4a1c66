//! Completing a run with a large output on PostgreSQL, streamed: the output is sent with
//! `COPY … FROM STDIN (FORMAT binary)` in 64 KiB pieces into a temporary table, then moved into
//! the run, all in the completion's one fenced transaction.
//!
//! A bound parameter is copied twice by the driver (its Bind message and its write buffer), so
//! a 15 MB output cost the worker three times its size; streamed, it costs the output itself.
//! The fence is the ordinary completion's (`lease_complete.sql`, run first with a NULL
//! output): if it refuses, nothing is sent. A role that may not create temporary tables gets
//! the output bound as before.

use super::typed::p;
use super::Postgres;
use crate::store::Fenced;
use anyhow::Result;
use postgres::error::SqlState;
use std::io::Write;

/// One binary COPY piece at most this long.
const PIECE: usize = 64 * 1024;

impl Postgres {
    /// Completes a leased run with `output` (fenced, lease unexpired), streaming the output.
    pub fn complete_streamed(&mut self, id: &str, generation: i64, output: &str) -> Result<Fenced> {
        self.fenced_write("record the result of a run", |tx| {
            let none: Option<&str> = None;
            let n = tx.execute_typed(
                include_str!("../../../sql/postgres/lease_complete.sql"),
                &[p(&id), p(&generation), p(&none)],
            )?;
            if n == 0 {
                return Ok(Fenced::LeaseLost);
            }
            // A role without the TEMP privilege cannot stream: the output is bound instead.
            let mut sp = tx.transaction()?;
            match sp.batch_execute(include_str!("../../../sql/postgres/big_output_table.sql")) {
                Ok(()) => sp.commit()?,
                Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                    sp.rollback()?;
                    let n = tx.execute_typed(
                        include_str!("../../../sql/postgres/big_output_bound.sql"),
                        &[p(&id), p(&generation), p(&output)],
                    )?;
                    return Ok(Fenced::when(n > 0, ()));
                }
                Err(e) => return Err(e.into()),
            }
            let mut copy = tx.copy_in(include_str!("../../../sql/postgres/big_output_copy.sql"))?;
            // PGCOPY header (signature, flags, no extension), one tuple of one field, trailer.
            copy.write_all(b"PGCOPY\n\xff\r\n\0")?;
            copy.write_all(&0i32.to_be_bytes())?;
            copy.write_all(&0i32.to_be_bytes())?;
            copy.write_all(&1i16.to_be_bytes())?;
            let len = i32::try_from(output.len())?;
            copy.write_all(&len.to_be_bytes())?;
            for piece in output.as_bytes().chunks(PIECE) {
                copy.write_all(piece)?;
            }
            copy.write_all(&(-1i16).to_be_bytes())?;
            copy.finish()?;
            let n = tx.execute_typed(
                include_str!("../../../sql/postgres/big_output_set.sql"),
                &[p(&id), p(&generation)],
            )?;
            Ok(Fenced::when(n > 0, ()))
        })
    }
}
