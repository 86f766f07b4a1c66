//! `durably enqueue-many [FILE|-] [--chunk N]`
//!
//! Reads NDJSON (one spec a line, blank lines skipped) or one JSON array. Every item is parsed
//! and checked before any transaction begins: validated specs go to a spool (memory up to
//! [`SPOOL_MEMORY`], then an anonymous temporary file), and only when the batch is in hand (the
//! whole input, or N items with `--chunk N`) does one IMMEDIATE transaction insert it, all or
//! nothing. No transaction is ever open while the process waits for input, so a slow producer
//! never blocks other writers. Per-line results go to a second temporary file and are copied to
//! stdout after each commit, so memory does not grow with the input.

use super::enqueue::{too_long, MAX_SPEC_BYTES};
use super::Context;
use crate::cli::EnqueueManyArgs;
use crate::error::{CodedError, ExitCode};
use crate::model::{Disposition, RunSpec, SpecOverrides};
use crate::store::Access;
use crate::store::{EnqueueBatch, Store};
use anyhow::{anyhow, Context as _, Result};
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Seek, Write};
use std::rc::Rc;
use std::time::Instant;

/// Spooled records kept in memory before they move to a temporary file.
const SPOOL_MEMORY: usize = 1 << 20;

/// Where an item of the input is: the line it ends on, and its array index if any.
#[derive(Clone, Copy)]
struct Place {
    line: u64,
    index: Option<u64>,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.index {
            Some(i) => write!(f, "line {} (item {i})", self.line),
            None => write!(f, "line {}", self.line),
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

/// Validated specs waiting for their transaction, in a compact binary form: per record a u32
/// length, then line, index + 1 (0: none), a flag byte, job, input, the keys present and the
/// labels, each string a u32 length and its bytes.
struct Spool {
    buf: Vec<u8>,
    file: Option<File>,
    records: u64,
}

const HAS_IDEMPOTENCY_KEY: u8 = 1;
const HAS_CONCURRENCY_KEY: u8 = 2;
const COALESCE: u8 = 4;

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

impl Spool {
    fn new() -> Spool {
        Spool {
            buf: Vec::with_capacity(64 * 1024),
            file: None,
            records: 0,
        }
    }

    fn push(&mut self, spec: &RunSpec, place: Place) -> Result<()> {
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
    fn reader(&mut self) -> Result<Box<dyn Read + '_>> {
        if self.file.is_none() {
            return Ok(Box::new(&self.buf[..]));
        }
        self.spill()?;
        let mut f = self.file.as_ref().context("spool file")?;
        f.seek(io::SeekFrom::Start(0))
            .context("cannot read the temporary spool file")?;
        Ok(Box::new(BufReader::with_capacity(256 * 1024, f)))
    }

    fn clear(&mut self) -> Result<()> {
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
struct Unspool {
    rec: Vec<u8>,
    spec: RunSpec,
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
    /// Reads the next record; `None` at the end.
    fn next(&mut self, r: &mut dyn Read) -> Result<Option<Place>> {
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
        Ok(Some(Place { line, index }))
    }
}

/// Reads and validates items into the spool, and inserts each full batch in one transaction.
struct Batch {
    /// Taken out while a batch is inserted (the insert borrows the rest of `self`).
    store: Option<Store>,
    flags: SpecOverrides,
    chunk: Option<u64>,
    spool: Spool,
    unspool: Unspool,
    counts: Counts,
    committed: u64,
    spill: io::BufWriter<File>,
    spill_file: File,
    json: bool,
    quiet: bool,
    /// Set when stdout was closed (`| head`): results are dropped, the import goes on.
    stdout_closed: bool,
    progress: Option<indicatif::ProgressBar>,
    /// Items read and validated so far, all chunks together.
    read: u64,
    started: Instant,
    /// Time spent inserting (in transactions) by the chunks before the current one.
    insert_time: std::time::Duration,
    /// The chunk being inserted: its first and last item, and its first new run (what to look
    /// for when its commit's outcome is unknown).
    seen: ChunkSeen,
}

/// What the transaction of one chunk wrote, for the message when its commit's outcome is
/// unknown ([`crate::store::CommitUnknown`]).
#[derive(Default)]
struct ChunkSeen {
    first: Option<Place>,
    last: Option<Place>,
    items: u64,
    first_new: Option<String>,
}

impl Batch {
    /// Validates one item and spools it; a full chunk is inserted at once.
    fn add(&mut self, text: &str, place: Place) -> Result<()> {
        let spec = RunSpec::parse(text, &self.flags).map_err(|e| anyhow!("{place}: {e:#}"))?;
        self.spool.push(&spec, place)?;
        self.read += 1;
        if self.read % 4096 == 0 {
            self.show_reading();
        }
        if let Some(n) = self.chunk {
            if self.spool.records >= n {
                self.insert()?;
            }
        }
        Ok(())
    }

    /// Inserts the spooled records in one IMMEDIATE transaction, then prints their results.
    fn insert(&mut self) -> Result<()> {
        if self.spool.records == 0 {
            return Ok(());
        }
        let began = Instant::now();
        self.seen = ChunkSeen::default();
        let mut store = self.store.take().context("the database is not open")?;
        let inserted = store.enqueue_batch(true, |b| self.insert_spooled(b, began));
        self.store = Some(store);
        self.insert_time += began.elapsed();
        if let Err(e) = inserted {
            self.spool.clear()?;
            return Err(e);
        }
        self.committed = self.counts.total();
        self.spool.clear()?;
        self.flush_results()
    }

    /// After the input failed at some item: the error an earlier item of the same batch would
    /// have met in the database (an invalid label, a concurrency-key conflict), found by
    /// inserting the batch so far in a transaction that is rolled back. The first bad item in
    /// input order is the one reported, as if the items were enqueued one by one.
    fn earlier_error(&mut self) -> Option<anyhow::Error> {
        if self.spool.records == 0 {
            return None;
        }
        let mut store = self.store.take()?;
        let tried = store.enqueue_batch(false, |b| Ok(self.insert_spooled(b, Instant::now())));
        self.store = Some(store);
        let _ = self.discard_results();
        tried.ok()?.err()
    }

    fn insert_spooled(&mut self, batch: &mut EnqueueBatch, began: Instant) -> Result<()> {
        self.show_inserting(began);
        let mut reader = self.spool.reader()?;
        while let Some(place) = self.unspool.next(&mut reader)? {
            let spec = &self.unspool.spec;
            // A read-only or full file is about the database, not the line: the store names it.
            let (run, disposition) = batch.enqueue(spec).map_err(|e| {
                let code = crate::error::exit_code(&e);
                anyhow::Error::new(CodedError::new(code, format!("{place}: {e:#}")))
            })?;
            let seen = &mut self.seen;
            seen.first.get_or_insert(place);
            seen.last = Some(place);
            seen.items += 1;
            if disposition == Disposition::Created && seen.first_new.is_none() {
                seen.first_new = Some(run.id.clone());
            }
            match disposition {
                Disposition::Created => self.counts.created += 1,
                Disposition::Idempotent => self.counts.idempotent += 1,
                Disposition::Coalesced => self.counts.coalesced += 1,
            }
            let done = self.counts.total();
            if done % 4096 == 0 {
                let time = self.insert_time + began.elapsed();
                show_inserting(&self.progress, done, self.read, time);
            }
            if !self.quiet && !self.stdout_closed {
                if self.json {
                    let v = serde_json::json!({
                        "line": place.line,
                        "id": run.id,
                        "jobName": run.job_name,
                        "disposition": disposition.as_str(),
                    });
                    serde_json::to_writer(&mut self.spill, &v)?;
                    self.spill.write_all(b"\n")?;
                } else {
                    let id = crate::output::escape(&run.id);
                    writeln!(self.spill, "{id}\t{}", disposition.as_str())?;
                }
            }
        }
        Ok(())
    }

    /// Progress while reading: runs read and validated, per second of reading.
    fn show_reading(&self) {
        if let Some(p) = &self.progress {
            let secs = self.started.elapsed().saturating_sub(self.insert_time);
            p.set_message(format!(
                "{} runs read ({})",
                indicatif::HumanCount(self.read),
                per_sec(self.read, secs)
            ));
        }
    }

    fn show_inserting(&self, began: Instant) {
        show_inserting(
            &self.progress,
            self.counts.total(),
            self.read,
            self.insert_time + began.elapsed(),
        );
    }

    /// Copies the results of the transaction just committed to stdout.
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
        self.discard_results()
    }

    /// Forgets the results spooled since the last commit.
    fn discard_results(&mut self) -> Result<()> {
        self.spill_file.set_len(0)?;
        self.spill.get_mut().seek(io::SeekFrom::Start(0))?;
        Ok(())
    }
}

pub fn run(ctx: &Context, args: EnqueueManyArgs) -> Result<ExitCode> {
    let flags = super::common::spec_overrides(&args.spec)?;
    let (reader, size, name): (Box<dyn Read>, Option<u64>, String) = match &args.file {
        Some(p) if p.as_os_str() != "-" => {
            let f = File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
            let size = f.metadata().ok().map(|m| m.len());
            (Box::new(f), size, p.display().to_string())
        }
        _ => (Box::new(io::stdin().lock()), None, "stdin".into()),
    };
    // Opened (and created) before reading, so a bad database fails before a long input is read;
    // no transaction is open until a batch is in hand.
    let store = ctx.open(Access::Write)?;
    let spill_file = tempfile::tempfile().context("cannot create a temporary file")?;
    let progress = make_progress(size);
    let mut batch = Batch {
        store: Some(store),
        flags,
        chunk: args.chunk,
        spool: Spool::new(),
        unspool: Unspool {
            rec: Vec::with_capacity(1024),
            spec: RunSpec::default(),
        },
        counts: Counts::default(),
        committed: 0,
        spill: io::BufWriter::with_capacity(64 * 1024, spill_file.try_clone()?),
        spill_file,
        json: args.json,
        quiet: args.quiet,
        stdout_closed: false,
        progress,
        read: 0,
        started: Instant::now(),
        insert_time: std::time::Duration::ZERO,
        seen: ChunkSeen::default(),
    };
    let result = match feed(&mut batch, reader, &name) {
        Ok(()) => batch.insert(),
        Err(e) => Err(batch.earlier_error().unwrap_or(e)),
    };
    if let Some(p) = &batch.progress {
        p.finish_and_clear();
    }
    if let Err(e) = result {
        let committed = batch.committed;
        if let Some(unknown) = e
            .chain()
            .find_map(|c| c.downcast_ref::<crate::store::CommitUnknown>())
        {
            return Err(anyhow!(unknown_outcome(
                unknown,
                &batch.seen,
                committed,
                &name
            )));
        }
        // The results of earlier chunks were printed at their commits; those of the chunk that
        // failed were never committed and are not reported.
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
            "durably: {} runs from {} in {:.2?} (created {}, idempotent {}, coalesced {})",
            c.total(),
            crate::output::escape(&name),
            batch.started.elapsed(),
            c.created,
            c.idempotent,
            c.coalesced
        );
    }
    Ok(ExitCode::Ok)
}

/// The message for a chunk whose COMMIT was sent but never answered: it is all there or not
/// at all, and one of its new runs tells which. Never "nothing was enqueued": the runs may be
/// there, and enqueueing the batch again would double them.
fn unknown_outcome(
    unknown: &crate::store::CommitUnknown,
    chunk: &ChunkSeen,
    committed: u64,
    name: &str,
) -> String {
    let lines = match (chunk.first, chunk.last) {
        (Some(a), Some(b)) if a.line != b.line => format!("lines {}-{}", a.line, b.line),
        (Some(a), _) => format!("line {}", a.line),
        _ => "its lines".into(),
    };
    let earlier = if committed > 0 {
        format!(" (the {committed} runs of earlier chunks were committed)")
    } else {
        String::new()
    };
    let check = match &chunk.first_new {
        Some(id) => format!(
            "`durably show {id}` (its first new run) tells which; enqueue {lines} again only if that run is not found (specs with idempotency keys can be enqueued again safely)"
        ),
        None => "it held no new run, so it can be enqueued again safely".into(),
    };
    format!(
        "the outcome of enqueueing {lines} of {name} is unknown: the connection to {} was lost after COMMIT was sent ({:#}); the {} runs of {lines} were all committed or none was{earlier}: {check}",
        unknown.location, unknown.source, chunk.items
    )
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

/// Progress while inserting: runs inserted of those read, per second of inserting.
fn show_inserting(
    progress: &Option<indicatif::ProgressBar>,
    done: u64,
    read: u64,
    time: std::time::Duration,
) {
    if let Some(p) = progress {
        p.set_message(format!(
            "{} of {} runs inserted ({})",
            indicatif::HumanCount(done),
            indicatif::HumanCount(read),
            per_sec(done, time)
        ));
    }
}

fn per_sec(n: u64, d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 0.001 {
        return "… runs/s".into();
    }
    format!(
        "{} runs/s",
        indicatif::HumanCount((n as f64 / secs).round() as u64)
    )
}

/// A progress line on stderr when it is a terminal and the input is large or a stream: bytes
/// read (a bar for a file), then runs read and inserted with their rates in the message.
fn make_progress(size: Option<u64>) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let (bar, template) = match size {
        Some(n) if n >= 4 << 20 => (
            indicatif::ProgressBar::new(n),
            "{spinner} [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg}",
        ),
        Some(_) => return None,
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {binary_bytes} read, {msg}",
        ),
    };
    let style = indicatif::ProgressStyle::with_template(template)
        .ok()?
        .progress_chars("=> ");
    let bar = bar.with_style(style);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    Some(bar)
}

/// What the array reader shares with the visitor: lines seen, bytes since the current item
/// began, and whether the size cap stopped the read.
#[derive(Default)]
struct ArrayState {
    lines: Cell<u64>,
    item_bytes: Cell<u64>,
    too_long: Cell<bool>,
}

/// Counts newlines and bytes as serde reads an array, so errors can name a line, and stops an
/// item at [`MAX_SPEC_BYTES`] so that memory stays bounded.
struct Counting<R> {
    inner: R,
    state: Rc<ArrayState>,
    bytes: u64,
    progress: Option<indicatif::ProgressBar>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.state.item_bytes.get() > MAX_SPEC_BYTES {
            self.state.too_long.set(true);
            return Err(io::Error::other("item too long"));
        }
        let n = self.inner.read(buf)?;
        let newlines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        let s = &self.state;
        s.lines.set(s.lines.get() + newlines);
        s.item_bytes.set(s.item_bytes.get() + n as u64);
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
        // At most one byte past the cap (its newline aside) is read, so a line without end
        // (`< /dev/zero`) costs bounded memory.
        let n = (&mut reader)
            .take(MAX_SPEC_BYTES + 1)
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {name}"))?;
        if n == 0 {
            if let Some(p) = &batch.progress {
                p.set_position(bytes);
            }
            return Ok(());
        }
        line_no += 1;
        if n as u64 > MAX_SPEC_BYTES && buf.last() != Some(&b'\n') {
            return Err(anyhow!("line {line_no}: {}", too_long()));
        }
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
        if !text.trim().is_empty() {
            batch.add(
                text,
                Place {
                    line: line_no,
                    index: None,
                },
            )?;
        }
        // A huge line's buffer is not kept for the rest of the input.
        if buf.capacity() > SPOOL_MEMORY {
            buf = Vec::with_capacity(1024);
        }
    }
}

fn feed_array(batch: &mut Batch, reader: impl BufRead, name: &str) -> Result<()> {
    let state = Rc::new(ArrayState::default());
    state.lines.set(1);
    let counting = Counting {
        inner: reader,
        state: state.clone(),
        bytes: 0,
        progress: batch.progress.clone(),
    };
    let mut de = serde_json::Deserializer::from_reader(counting);
    let mut failure: Option<anyhow::Error> = None;
    let mut items = 0u64;
    let seed = ArraySeed {
        batch,
        state: &state,
        items: &mut items,
        failure: &mut failure,
    };
    let parsed = seed.deserialize(&mut de);
    if let Some(e) = failure {
        return Err(e);
    }
    parsed.map_err(|e| {
        if state.too_long.get() {
            let place = Place {
                line: state.lines.get(),
                index: Some(items),
            };
            anyhow!("{place}: {}", too_long())
        } else if e.is_io() {
            anyhow!("cannot read {name}: {e}")
        } else if e.to_string().starts_with("invalid unicode code point") {
            // What serde_json says about bytes that are not UTF-8 inside a string.
            anyhow!("line {}: not valid UTF-8 (column {})", e.line(), e.column())
        } else {
            anyhow!("malformed JSON array: {e}")
        }
    })?;
    state.item_bytes.set(0);
    de.end().map_err(|e| {
        if state.too_long.get() {
            anyhow!("line {}: {} after the array", state.lines.get(), too_long())
        } else {
            anyhow!("malformed JSON after the array: {e}")
        }
    })?;
    Ok(())
}

struct ArraySeed<'b, 's> {
    batch: &'b mut Batch,
    state: &'s ArrayState,
    items: &'s mut u64,
    failure: &'s mut Option<anyhow::Error>,
}

impl<'de> DeserializeSeed<'de> for ArraySeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of run specs")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.state.item_bytes.set(0);
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            let place = Place {
                line: self.state.lines.get(),
                index: Some(*self.items),
            };
            if let Err(e) = self.batch.add(raw.get(), place) {
                *self.failure = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
            *self.items += 1;
            self.state.item_bytes.set(0);
        }
        Ok(())
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
