//! `durably enqueue-many [FILE|-] [--chunk N]`
//!
//! Reads NDJSON (one spec a line, blank lines skipped) or one JSON array. Every item is parsed
//! and checked before any transaction begins: validated specs go to a spool (memory up to
//! [`spool::SPOOL_MEMORY`], then an anonymous temporary file), and only when the batch is in
//! hand (the whole input, or N items with `--chunk N`) does one IMMEDIATE transaction insert
//! it, all or nothing. No transaction is ever open while the process waits for input, so a slow producer
//! never blocks other writers. Per-line results go to a second temporary file and are copied to
//! stdout after each commit, so memory does not grow with the input.
//!
//! This file is the command (batches, transactions, results, messages); [`input`] reads the
//! input item by item, [`spool`] is the spool's binary codec, [`progress_line`] the progress
//! line on a terminal.

mod input;
mod progress_line;
mod spool;

use super::Context;
use crate::cli::EnqueueManyArgs;
use crate::error::{CodedError, ExitCode};
use crate::model::{Disposition, RunSpec, SpecOverrides};
use crate::store::Access;
use crate::store::{EnqueueBatch, Store};
use anyhow::{anyhow, Context as _, Result};
use input::Place;
use progress_line::{make_progress, show_inserting};
use spool::{Spool, Unspool};
use std::fs::File;
use std::io::{self, IsTerminal, Read, Seek, Write};
use std::time::{Duration, Instant};

#[derive(Default, Clone, Copy)]
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

/// `pause` stretched by up to half again, from the clock's low bits: two batches that
/// deadlocked do not retry in lockstep.
fn jittered(pause: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    pause + pause.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

/// Reads and validates items into the spool, and inserts each full batch in one transaction.
struct Batch {
    /// Taken out while a batch is inserted (the insert borrows the rest of `self`).
    store: Option<Store>,
    /// How long a batch that deadlocked with another may be tried again (`--busy-timeout`).
    busy_timeout: Duration,
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
    /// Some item is held (`at`, `in`, `after`) or has a retry policy (its attempt row): our
    /// tables are needed.
    needs_ours: bool,
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
        self.needs_ours |= spec.hold.is_some() || spec.retry.is_some();
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
        if self.needs_ours {
            // Held runs and attempt rows go to tables of our own, created on first use
            // (store::ours), before the batch's transaction.
            if let Err(e) = store.ensure_ours() {
                self.store = Some(store);
                return Err(e);
            }
        }
        let before = self.counts;
        let mut pause = Duration::from_millis(10);
        let inserted = loop {
            let inserted = store.enqueue_batch(true, |b| self.insert_spooled(b, began));
            // A deadlock with another batch (PostgreSQL) rolled the whole batch back: it is
            // inserted again from the spool, within --busy-timeout, after a jittered pause.
            let retry = inserted
                .as_ref()
                .is_err_and(crate::store::is_transient_conflict)
                && began.elapsed() + pause < self.busy_timeout;
            if !retry {
                break inserted;
            }
            self.discard_results()?;
            self.counts = before;
            self.seen = ChunkSeen::default();
            std::thread::sleep(jittered(pause));
            pause = (pause * 2).min(Duration::from_millis(500));
        };
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
        // Without our tables the trial would only meet their absence (they are created at
        // the first commit): the input's own error is reported.
        if self.needs_ours && !self.store.as_ref()?.has_ours() {
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
                if crate::store::is_transient_conflict(&e) {
                    return e; // the batch is tried again: see Batch::insert
                }
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
        let time = self.started.elapsed().saturating_sub(self.insert_time);
        progress_line::show_reading(&self.progress, self.read, time);
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
        // The writer's buffer goes too (into_parts does not flush it): results of a batch
        // that was rolled back must never reach the file.
        let fresh = io::BufWriter::with_capacity(64 * 1024, self.spill_file.try_clone()?);
        let _ = std::mem::replace(&mut self.spill, fresh).into_parts();
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
        busy_timeout: ctx.opts.busy_timeout,
        flags,
        chunk: args.chunk,
        spool: Spool::new(),
        unspool: Unspool::new(),
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
        needs_ours: false,
    };
    let progress = batch.progress.clone();
    let fed = input::feed(reader, &name, progress.as_ref(), &mut |text, place| {
        batch.add(text, place)
    });
    let result = match fed {
        Ok(()) => batch.insert(),
        Err(e) => Err(batch.earlier_error().unwrap_or(e)),
    };
    if let Some(p) = &batch.progress {
        p.finish_and_clear();
    }
    if let Err(e) = result {
        return Err(failed(e, &batch, &name));
    }
    let c = &batch.counts;
    if io::stderr().is_terminal() || args.quiet {
        eprintln!(
            "durably: {} runs from {} in {:.2?} (created {}, idempotent {}, coalesced {})",
            thousands(c.total()),
            crate::output::escape(&name),
            batch.started.elapsed(),
            thousands(c.created),
            thousands(c.idempotent),
            thousands(c.coalesced)
        );
    }
    Ok(ExitCode::Ok)
}

fn thousands(n: impl TryInto<u64>) -> String {
    crate::output::thousands(n.try_into().unwrap_or(u64::MAX))
}

/// The error of an import that stopped at `e`: what was committed (earlier chunks), what was
/// not, or that the last chunk's outcome is unknown.
fn failed(e: anyhow::Error, batch: &Batch, name: &str) -> anyhow::Error {
    let committed = batch.committed;
    if let Some(unknown) = e
        .chain()
        .find_map(|c| c.downcast_ref::<crate::store::CommitUnknown>())
    {
        return anyhow!(unknown_outcome(unknown, &batch.seen, committed, name));
    }
    // The results of earlier chunks were printed at their commits; those of the chunk that
    // failed were never committed and are not reported.
    if committed > 0 {
        let code = crate::error::exit_code(&e);
        return CodedError::new(
            code,
            format!(
                "{e:#}; the {committed} runs of earlier chunks were committed, the rest of the input was not"
            ),
        )
        .into();
    }
    e.context(format!("nothing was enqueued from {name}"))
        .context_first()
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
