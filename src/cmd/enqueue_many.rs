//! `durably enqueue-many [FILE|-] [--chunk N]`
//!
//! Streams NDJSON (one spec a line, blank lines skipped) or one JSON array. By default the whole
//! input is one IMMEDIATE transaction: the first bad line aborts it and nothing is written. With
//! `--chunk N` every N runs commit on their own. Per-line results go to an anonymous temporary
//! file and are copied to stdout after each commit, so memory does not grow with the input.

use super::Context;
use crate::cli::EnqueueManyArgs;
use crate::db::{self, Access};
use crate::error::{CodedError, ExitCode};
use crate::model::{RunSpec, SpecDefaults};
use crate::store::enqueue::{enqueue, Clock};
use anyhow::{anyhow, Context as _, Result};
use rusqlite::Connection;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Seek, Write};
use std::rc::Rc;
use std::time::Instant;

/// One item of the input: its text, the line it ends on, and its array index if any.
struct Item<'a> {
    text: &'a str,
    line: u64,
    index: Option<u64>,
}

impl Item<'_> {
    fn place(&self) -> String {
        match self.index {
            Some(i) => format!("line {} (item {i})", self.line),
            None => format!("line {}", self.line),
        }
    }
}

#[derive(Default)]
struct Counts {
    created: u64,
    idempotent: u64,
    coalesced: u64,
}

impl Counts {
    fn total(&self) -> u64 {
        self.created + self.idempotent + self.coalesced
    }
}

/// The transaction loop: applies items, commits per chunk, spills results.
struct Batch<'c> {
    conn: &'c Connection,
    path: std::path::PathBuf,
    flags: SpecDefaults,
    chunk: Option<u64>,
    in_chunk: u64,
    clock: Clock,
    counts: Counts,
    committed: u64,
    spill: io::BufWriter<File>,
    spill_file: File,
    json: bool,
    quiet: bool,
    /// Set when stdout was closed (`| head`): results are dropped, the import goes on.
    stdout_closed: bool,
    progress: Option<indicatif::ProgressBar>,
}

impl<'c> Batch<'c> {
    fn begin(&mut self) -> Result<()> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| db::describe(e.into(), &self.path))
    }

    fn apply(&mut self, item: Item) -> Result<()> {
        let spec = RunSpec::parse(item.text, &self.flags)
            .map_err(|e| anyhow!("{}: {e:#}", item.place()))?;
        // The connection is inside the transaction opened by `begin`.
        let (run, disposition) = enqueue(self.conn, &spec, &mut self.clock).map_err(|e| {
            // A read-only or full file is about the database, not the line: name it clearly.
            let e = db::describe(e, &self.path);
            let code = crate::error::exit_code(&e);
            let msg = format!("{}: {e:#}", item.place());
            anyhow::Error::new(CodedError::new(code, msg))
        })?;
        match disposition {
            crate::model::Disposition::Created => self.counts.created += 1,
            crate::model::Disposition::Idempotent => self.counts.idempotent += 1,
            crate::model::Disposition::Coalesced => self.counts.coalesced += 1,
        }
        if !self.quiet && !self.stdout_closed {
            if self.json {
                let v = serde_json::json!({
                    "line": item.line,
                    "id": run.id,
                    "jobName": run.job_name,
                    "disposition": disposition.as_str(),
                });
                serde_json::to_writer(&mut self.spill, &v)?;
                self.spill.write_all(b"\n")?;
            } else {
                writeln!(self.spill, "{}\t{}", run.id, disposition.as_str())?;
            }
        }
        self.in_chunk += 1;
        if let Some(n) = self.chunk {
            if self.in_chunk >= n {
                self.commit()?;
                self.begin()?;
            }
        }
        Ok(())
    }

    /// Commits the open transaction and copies its results to stdout.
    fn commit(&mut self) -> Result<()> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| db::describe(e.into(), &self.path))?;
        self.committed = self.counts.total();
        self.in_chunk = 0;
        self.flush_results()
    }

    fn flush_results(&mut self) -> Result<()> {
        self.spill.flush()?;
        let mut f = &self.spill_file;
        f.seek(io::SeekFrom::Start(0))?;
        if !self.stdout_closed {
            let mut out = io::stdout().lock();
            match io::copy(&mut f, &mut out).and_then(|_| out.flush()) {
                // The reader is gone, but the runs of the next chunks must still be enqueued:
                // a closed pipe must not end an import halfway.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.stdout_closed = true,
                other => other?,
            }
        }
        self.spill_file.set_len(0)?;
        self.spill.get_mut().seek(io::SeekFrom::Start(0))?;
        Ok(())
    }
}

pub fn run(ctx: &Context, args: EnqueueManyArgs) -> Result<ExitCode> {
    let flags = super::enqueue::spec_defaults(&args.spec)?;
    let (reader, size, name): (Box<dyn Read>, Option<u64>, String) = match &args.file {
        Some(p) if p.as_os_str() != "-" => {
            let f = File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
            let size = f.metadata().ok().map(|m| m.len());
            (Box::new(f), size, p.display().to_string())
        }
        _ => (Box::new(io::stdin().lock()), None, "stdin".into()),
    };
    let mut conn = ctx.open(Access::Write)?;
    let _ = &mut conn;
    let spill_file = tempfile::tempfile().context("cannot create a temporary file")?;
    let progress = make_progress(size);
    let mut batch = Batch {
        conn: &conn,
        path: ctx.path().to_path_buf(),
        flags,
        chunk: args.chunk,
        in_chunk: 0,
        clock: Clock::default(),
        counts: Counts::default(),
        committed: 0,
        spill: io::BufWriter::with_capacity(64 * 1024, spill_file.try_clone()?),
        spill_file,
        json: args.json,
        quiet: args.quiet,
        stdout_closed: false,
        progress,
    };
    let started = Instant::now();
    batch.begin()?;
    let result = feed(&mut batch, reader, &name).and_then(|()| batch.commit());
    if let Some(p) = &batch.progress {
        p.finish_and_clear();
    }
    if let Err(e) = result {
        let _ = conn.execute_batch("ROLLBACK");
        let committed = batch.committed;
        // The results of earlier chunks were printed at their commits; the spill now holds only
        // those of the chunk just rolled back, which must not be reported.
        if committed > 0 {
            let code = crate::error::exit_code(&e);
            return Err(CodedError::new(
                code,
                format!(
                    "{e:#}; the {committed} runs of earlier chunks were committed, the rest of the input was not"
                ),
            )
            .into());
        }
        return Err(e
            .context(format!("nothing was enqueued from {name}"))
            .context_first());
    }
    let c = &batch.counts;
    if io::stderr().is_terminal() || args.quiet {
        eprintln!(
            "durably: {} runs from {name} in {:.2?} (created {}, idempotent {}, coalesced {})",
            c.total(),
            started.elapsed(),
            c.created,
            c.idempotent,
            c.coalesced
        );
    }
    Ok(ExitCode::Ok)
}

/// Puts the error's own message first: "line 3: …; nothing was enqueued from FILE".
trait ContextFirst {
    fn context_first(self) -> anyhow::Error;
}

impl ContextFirst for anyhow::Error {
    fn context_first(self) -> anyhow::Error {
        let mut chain = self.chain();
        let outer = chain.next().map(|e| e.to_string()).unwrap_or_default();
        let inner: Vec<String> = chain.map(|e| e.to_string()).collect();
        let code = crate::error::exit_code(&self);
        anyhow::Error::new(CodedError::new(
            code,
            format!("{}; {outer}", inner.join(": ")),
        ))
    }
}

fn make_progress(size: Option<u64>) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {bytes}/{total_bytes} [{bar:30}] {per_sec} eta {eta}",
    )
    .ok()?
    .progress_chars("=> ");
    match size {
        Some(n) if n >= 4 << 20 => {
            let bar = indicatif::ProgressBar::new(n).with_style(style);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
            Some(bar)
        }
        Some(_) => None,
        None => {
            let bar = indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {bytes} read {binary_bytes_per_sec}",
                )
                .ok()?,
            );
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
            Some(bar)
        }
    }
}

/// Counts newlines and bytes as serde reads an array, so errors can name a line.
struct Counting<R> {
    inner: R,
    lines: Rc<Cell<u64>>,
    bytes: u64,
    progress: Option<indicatif::ProgressBar>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let newlines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.lines.set(self.lines.get() + newlines);
        self.bytes += n as u64;
        if let Some(p) = &self.progress {
            p.set_position(self.bytes);
        }
        Ok(n)
    }
}

fn feed(batch: &mut Batch, reader: Box<dyn Read>, name: &str) -> Result<()> {
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    // Peek at the first non-blank byte: `[` means one JSON array.
    let first = loop {
        let buf = reader
            .fill_buf()
            .with_context(|| format!("cannot read {name}"))?;
        if buf.is_empty() {
            break None;
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break Some(buf[i]),
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    match first {
        None => Ok(()),
        Some(b'[') => feed_array(batch, reader, name),
        Some(_) => feed_ndjson(batch, reader, name),
    }
}

fn feed_ndjson(batch: &mut Batch, mut reader: impl BufRead, name: &str) -> Result<()> {
    let mut line_no = 0u64;
    let mut bytes = 0u64;
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {name}"))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        bytes += n as u64;
        if let Some(p) = &batch.progress {
            if line_no % 4096 == 0 {
                p.set_position(bytes);
            }
        }
        let text = std::str::from_utf8(&buf).map_err(|e| {
            anyhow!(
                "line {line_no}: not valid UTF-8 (at byte {})",
                e.valid_up_to()
            )
        })?;
        if text.trim().is_empty() {
            continue;
        }
        batch.apply(Item {
            text,
            line: line_no,
            index: None,
        })?;
    }
}

fn feed_array(batch: &mut Batch, reader: impl BufRead, name: &str) -> Result<()> {
    let progress = batch.progress.clone();
    let lines = Rc::new(Cell::new(1));
    let counting = Counting {
        inner: reader,
        lines: lines.clone(),
        bytes: 0,
        progress,
    };
    let mut de = serde_json::Deserializer::from_reader(counting);
    let mut failure: Option<anyhow::Error> = None;
    let seed = ArraySeed {
        batch,
        lines,
        failure: &mut failure,
    };
    let parsed = seed.deserialize(&mut de);
    if let Some(e) = failure {
        return Err(e);
    }
    parsed.map_err(|e| {
        if e.is_io() {
            anyhow!("cannot read {name}: {e}")
        } else if e.to_string().starts_with("invalid unicode code point") {
            // What serde_json says about bytes that are not UTF-8 inside a string.
            anyhow!("line {}: not valid UTF-8 (column {})", e.line(), e.column())
        } else {
            anyhow!("malformed JSON array: {e}")
        }
    })?;
    de.end()
        .map_err(|e| anyhow!("malformed JSON after the array: {e}"))?;
    Ok(())
}

struct ArraySeed<'b, 'c, 'f> {
    batch: &'b mut Batch<'c>,
    lines: Rc<Cell<u64>>,
    failure: &'f mut Option<anyhow::Error>,
}

impl<'de> DeserializeSeed<'de> for ArraySeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of run specs")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0u64;
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            let item = Item {
                text: raw.get(),
                line: self.lines.get(),
                index: Some(index),
            };
            if let Err(e) = self.batch.apply(item) {
                *self.failure = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
            index += 1;
        }
        Ok(())
    }
}
