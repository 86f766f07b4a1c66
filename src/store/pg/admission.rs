//! Connecting while the server refuses for lack of room: SQLSTATE 53300 ("sorry, too many
//! clients already", "too many connections for database/role", reserved slots) is a moment's
//! crowding, like a locked SQLite file, so a connection is tried again with backoff until
//! `--busy-timeout` has passed, then refused with one line. Every other failure to connect
//! is answered at once.

use anyhow::Result;
use postgres::error::SqlState;
use std::time::{Duration, Instant};

/// A connection refused with SQLSTATE 53300, with the message of the attempt.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// `err` (the message of a failed attempt) as [`Refused`] when the server refused for lack of
/// room (`cause`'s SQLSTATE is 53300), else unchanged.
pub fn mark(err: anyhow::Error, cause: &postgres::Error) -> anyhow::Error {
    if cause.code() == Some(&SqlState::TOO_MANY_CONNECTIONS) {
        anyhow::Error::new(Refused(format!("{err:#}")))
    } else {
        err
    }
}

/// The first pause; doubled after each refusal up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// `connect()` until it succeeds, fails otherwise than [`Refused`], or `patience` has passed
/// since the first attempt.
pub fn retry<T>(patience: Duration, mut connect: impl FnMut() -> Result<T>) -> Result<T> {
    let began = Instant::now();
    let mut pause = FIRST_PAUSE;
    let mut attempts = 1u32;
    loop {
        let err = match connect() {
            Ok(v) => return Ok(v),
            Err(e) if e.is::<Refused>() => e,
            Err(e) => return Err(e),
        };
        let left = patience.saturating_sub(began.elapsed());
        if left.is_zero() {
            let tried = began.elapsed();
            return Err(anyhow::anyhow!(
                "{err:#} (refused {attempts} times in {} ms; --busy-timeout bounds the wait)",
                tried.as_millis()
            ));
        }
        // Jitter: enqueuers refused together do not all come back at the same moment.
        let jitter = pause.mul_f64(f64::from(std::process::id() % 997) / 1994.0);
        std::thread::sleep((pause + jitter).min(left));
        pause = (pause * 2).min(MAX_PAUSE);
        attempts += 1;
    }
}
