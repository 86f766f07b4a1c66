//! The spool of `enqueue-many`: validated specs waiting for their transaction, in a compact
//! binary form, in memory up to [`SPOOL_MEMORY`] and then in an anonymous temporary file, so
//! memory does not grow with the input; and the decoder that reads them back into one reused
//! spec, so the insert loop allocates little.

use super::input::Place;
use crate::model::held::{Due, Hold};
use crate::model::{RetryPolicy, RunSpec};
use anyhow::{anyhow, Context as _, Result};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};

/// Spooled records kept in memory before they move to a temporary file.
pub const SPOOL_MEMORY: usize = 1 << 20;

/// Validated specs waiting for their transaction, in a compact binary form: per record a u32
/// length, then line, index + 1 (0: none), a flag byte, job, input, the keys present and the
/// labels, each string a u32 length and its bytes; a held run's hold after them (due kind,
/// its u64 value, the runs waited on); a retry policy last (max attempts, backoff and backoff
/// max in milliseconds, the exit codes retried: a count, 0 for every failure, and each i32).
pub struct Spool {
    buf: Vec<u8>,
    file: Option<File>,
    /// Records spooled since the last [`Spool::clear`].
    pub records: u64,
}

const HAS_IDEMPOTENCY_KEY: u8 = 1;
const HAS_CONCURRENCY_KEY: u8 = 2;
const COALESCE: u8 = 4;
const HELD: u8 = 8;
const AFTER_ANY: u8 = 16;
const RETRY: u8 = 32;

/// A hold's due time: none, at (milliseconds since the epoch), in (milliseconds).
const DUE_NONE: u8 = 0;
const DUE_AT: u8 = 1;
const DUE_IN: u8 = 2;

fn put_hold(b: &mut Vec<u8>, hold: &Hold) {
    let (kind, value) = match &hold.due {
        None => (DUE_NONE, 0u64),
        Some(Due::At(ms)) => (DUE_AT, *ms as u64),
        Some(Due::In(d)) => (DUE_IN, d.as_millis().min(u64::MAX as u128) as u64),
    };
    b.push(kind);
    b.extend_from_slice(&value.to_le_bytes());
    b.extend_from_slice(&(hold.after.len() as u32).to_le_bytes());
    for a in &hold.after {
        put_str(b, a);
    }
}

fn take_hold(rec: &mut &[u8], after_any: bool) -> Result<Hold> {
    let kind = take(rec, 1)?[0];
    let value = take_u64(rec)?;
    let due = match kind {
        DUE_AT => Some(Due::At(value as i64)),
        DUE_IN => Some(Due::In(std::time::Duration::from_millis(value))),
        _ => None,
    };
    let n = take_u32(rec)?;
    let after = (0..n)
        .map(|_| take_str(rec).map(str::to_string))
        .collect::<Result<_>>()?;
    Ok(Hold {
        due,
        after,
        after_any,
    })
}

fn put_retry(b: &mut Vec<u8>, policy: &RetryPolicy) {
    b.extend_from_slice(&policy.max_attempts.to_le_bytes());
    b.extend_from_slice(&policy.backoff_ms.to_le_bytes());
    b.extend_from_slice(&policy.backoff_max_ms.to_le_bytes());
    let codes = policy.retry_on.as_deref().unwrap_or_default();
    b.extend_from_slice(&(codes.len() as u32).to_le_bytes());
    for c in codes {
        b.extend_from_slice(&c.to_le_bytes());
    }
}

fn take_retry(rec: &mut &[u8]) -> Result<RetryPolicy> {
    let max_attempts = take_u32(rec)? as u32;
    let backoff_ms = take_u64(rec)? as i64;
    let backoff_max_ms = take_u64(rec)? as i64;
    let n = take_u32(rec)?;
    let codes = (0..n)
        .map(|_| take_u32(rec).map(|c| c as u32 as i32))
        .collect::<Result<Vec<_>>>()?;
    Ok(RetryPolicy {
        max_attempts,
        backoff_ms,
        backoff_max_ms,
        retry_on: (n > 0).then_some(codes),
    })
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

impl Spool {
    pub fn new() -> Spool {
        Spool {
            buf: Vec::with_capacity(64 * 1024),
            file: None,
            records: 0,
        }
    }

    pub fn push(&mut self, spec: &RunSpec, place: Place) -> Result<()> {
        let start = self.buf.len();
        let b = &mut self.buf;
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&place.line.to_le_bytes());
        b.extend_from_slice(&place.index.map_or(0, |i| i + 1).to_le_bytes());
        let mut flags = 0;
        if spec.idempotency_key.is_some() {
            flags |= HAS_IDEMPOTENCY_KEY;
        }
        if spec.concurrency_key.is_some() {
            flags |= HAS_CONCURRENCY_KEY;
        }
        if spec.coalesce {
            flags |= COALESCE;
        }
        if let Some(hold) = &spec.hold {
            flags |= HELD;
            if hold.after_any {
                flags |= AFTER_ANY;
            }
        }
        if spec.retry.is_some() {
            flags |= RETRY;
        }
        b.push(flags);
        put_str(b, &spec.job);
        put_str(b, &spec.input);
        if let Some(k) = &spec.idempotency_key {
            put_str(b, k);
        }
        if let Some(k) = &spec.concurrency_key {
            put_str(b, k);
        }
        b.extend_from_slice(&(spec.labels.len() as u32).to_le_bytes());
        for (k, v) in &spec.labels {
            put_str(b, k);
            put_str(b, v);
        }
        if let Some(hold) = &spec.hold {
            put_hold(b, hold);
        }
        if let Some(policy) = &spec.retry {
            put_retry(b, policy);
        }
        let len = (b.len() - start - 4) as u32;
        b[start..start + 4].copy_from_slice(&len.to_le_bytes());
        self.records += 1;
        if self.buf.len() >= SPOOL_MEMORY {
            self.spill()?;
        }
        Ok(())
    }

    /// Moves the in-memory records to the temporary file (created on first use).
    fn spill(&mut self) -> Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self
                .file
                .insert(tempfile::tempfile().context("cannot create a temporary file")?),
        };
        file.write_all(&self.buf)
            .context("cannot write the temporary spool file")?;
        self.buf.clear();
        Ok(())
    }

    /// A reader over every record, from the first.
    pub fn reader(&mut self) -> Result<Box<dyn Read + '_>> {
        if self.file.is_none() {
            return Ok(Box::new(&self.buf[..]));
        }
        self.spill()?;
        let mut f = self.file.as_ref().context("spool file")?;
        f.seek(io::SeekFrom::Start(0))
            .context("cannot read the temporary spool file")?;
        Ok(Box::new(BufReader::with_capacity(256 * 1024, f)))
    }

    pub fn clear(&mut self) -> Result<()> {
        self.buf.clear();
        self.records = 0;
        if let Some(f) = &mut self.file {
            f.set_len(0)
                .and_then(|()| f.seek(io::SeekFrom::Start(0)).map(|_| ()))
                .context("cannot reset the temporary spool file")?;
        }
        Ok(())
    }
}

/// Decodes spooled records into one reused spec, so the insert loop allocates little.
pub struct Unspool {
    rec: Vec<u8>,
    /// The record last read.
    pub spec: RunSpec,
}

fn take<'a>(rec: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
    if rec.len() < n {
        return Err(anyhow!("the temporary spool file is truncated"));
    }
    let (head, tail) = rec.split_at(n);
    *rec = tail;
    Ok(head)
}

fn take_u32(rec: &mut &[u8]) -> Result<usize> {
    let b = take(rec, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

fn take_u64(rec: &mut &[u8]) -> Result<u64> {
    let mut a = [0u8; 8];
    a.copy_from_slice(take(rec, 8)?);
    Ok(u64::from_le_bytes(a))
}

fn take_str<'a>(rec: &mut &'a [u8]) -> Result<&'a str> {
    let n = take_u32(rec)?;
    std::str::from_utf8(take(rec, n)?).context("the temporary spool file is corrupt")
}

fn set(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

fn set_opt(dst: &mut Option<String>, src: Option<&str>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => set(d, s),
        (_, s) => *dst = s.map(str::to_string),
    }
}

impl Unspool {
    pub fn new() -> Unspool {
        Unspool {
            rec: Vec::with_capacity(1024),
            spec: RunSpec::default(),
        }
    }

    /// Reads the next record; `None` at the end.
    pub fn next(&mut self, r: &mut dyn Read) -> Result<Option<Place>> {
        let mut len = [0u8; 4];
        match r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e).context("cannot read the temporary spool file"),
        }
        self.rec.clear();
        self.rec.resize(u32::from_le_bytes(len) as usize, 0);
        r.read_exact(&mut self.rec)
            .context("cannot read the temporary spool file")?;
        let mut rec = &self.rec[..];
        let line = take_u64(&mut rec)?;
        let index = take_u64(&mut rec)?.checked_sub(1);
        let flags = take(&mut rec, 1)?[0];
        let s = &mut self.spec;
        set(&mut s.job, take_str(&mut rec)?);
        set(&mut s.input, take_str(&mut rec)?);
        let key = if flags & HAS_IDEMPOTENCY_KEY != 0 {
            Some(take_str(&mut rec)?)
        } else {
            None
        };
        set_opt(&mut s.idempotency_key, key);
        let key = if flags & HAS_CONCURRENCY_KEY != 0 {
            Some(take_str(&mut rec)?)
        } else {
            None
        };
        set_opt(&mut s.concurrency_key, key);
        s.coalesce = flags & COALESCE != 0;
        let n = take_u32(&mut rec)?;
        s.labels.truncate(n);
        for i in 0..n {
            let (k, v) = (take_str(&mut rec)?, take_str(&mut rec)?);
            match s.labels.get_mut(i) {
                Some((dk, dv)) => {
                    set(dk, k);
                    set(dv, v);
                }
                None => s.labels.push((k.to_string(), v.to_string())),
            }
        }
        s.hold = if flags & HELD != 0 {
            Some(take_hold(&mut rec, flags & AFTER_ANY != 0)?)
        } else {
            None
        };
        s.retry = if flags & RETRY != 0 {
            Some(take_retry(&mut rec)?)
        } else {
            None
        };
        Ok(Some(Place { line, index }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(i: usize) -> RunSpec {
        RunSpec {
            job: format!("job{i}"),
            input: format!("{{\"n\":{i},\"pad\":\"{}\"}}", "é".repeat(i % 300)),
            labels: (0..i % 4)
                .map(|k| (format!("k{k}"), format!("v{i}")))
                .collect(),
            idempotency_key: (i % 2 == 0).then(|| format!("i{i}")),
            concurrency_key: (i % 3 == 0).then(|| format!("c{i}")),
            coalesce: i % 6 == 0,
            hold: match i % 7 {
                1 => Some(Hold {
                    due: Some(Due::At(i as i64 * 1000)),
                    ..Hold::default()
                }),
                2 => Some(Hold {
                    due: Some(Due::In(std::time::Duration::from_millis(i as u64))),
                    ..Hold::default()
                }),
                3 => Some(Hold {
                    due: None,
                    after: vec![format!("a{i}"), format!("b{i}")],
                    after_any: i % 2 == 0,
                }),
                _ => None,
            },
            retry: match i % 5 {
                1 => Some(RetryPolicy::new(3, None, None, None).unwrap()),
                2 => Some(RetryPolicy::new(1, Some(500), Some(2000), Some(vec![75, 111])).unwrap()),
                _ => None,
            },
        }
    }

    fn place(i: usize) -> Place {
        Place {
            line: i as u64 + 1,
            index: (i % 5 != 0).then_some(i as u64),
        }
    }

    /// Records come back as they went in, in memory and through the temporary file, with the
    /// decoded spec reused from one record to the next (fewer labels, keys gone).
    #[test]
    fn spool_round_trip() {
        for n in [0, 1, 7, 20_000] {
            let mut spool = Spool::new();
            for i in 0..n {
                spool.push(&spec(i), place(i)).unwrap();
            }
            assert_eq!(spool.records, n as u64);
            assert_eq!(spool.file.is_some(), n == 20_000);
            for _pass in 0..2 {
                let mut un = Unspool {
                    rec: Vec::new(),
                    spec: RunSpec::default(),
                };
                let mut r = spool.reader().unwrap();
                let mut i = 0;
                while let Some(p) = un.next(&mut r).unwrap() {
                    let want = spec(i);
                    let s = &un.spec;
                    assert_eq!(
                        (&s.job, &s.input, &s.labels),
                        (&want.job, &want.input, &want.labels)
                    );
                    assert_eq!(s.idempotency_key, want.idempotency_key);
                    assert_eq!(s.concurrency_key, want.concurrency_key);
                    assert_eq!(s.coalesce, want.coalesce);
                    assert_eq!(s.hold, want.hold);
                    assert_eq!(s.retry, want.retry);
                    assert_eq!((p.line, p.index), (place(i).line, place(i).index));
                    i += 1;
                }
                assert_eq!(i, n);
            }
            spool.clear().unwrap();
            assert_eq!(spool.records, 0);
            spool.push(&spec(3), place(3)).unwrap();
            let mut un = Unspool {
                rec: Vec::new(),
                spec: RunSpec::default(),
            };
            let mut r = spool.reader().unwrap();
            assert!(un.next(&mut r).unwrap().is_some());
            assert_eq!(un.spec.job, "job3");
            assert!(un.next(&mut r).unwrap().is_none());
        }
    }
}
