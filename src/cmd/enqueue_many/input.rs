//! The streaming reader of `enqueue-many`: NDJSON (one spec a line, blank lines skipped) or
//! one JSON array, told apart by the first non-blank byte. Each item's text goes to a callback
//! with its [`Place`] as soon as it is read, so memory stays bounded by one item
//! ([`MAX_SPEC_BYTES`]) whatever the input's size; errors name the line (and array index).

use super::super::enqueue::{too_long, MAX_SPEC_BYTES};
use anyhow::{anyhow, Context as _, Result};
use indicatif::ProgressBar;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;

/// A line buffer grown past this by one huge line is not kept for the rest of the input.
const LINE_BUFFER_KEPT: usize = 1 << 20;

/// What takes each item: its text and where it is.
pub type Sink<'a> = dyn FnMut(&str, Place) -> Result<()> + 'a;

/// Where an item of the input is: the line it ends on, and its array index if any.
#[derive(Clone, Copy)]
pub struct Place {
    pub line: u64,
    pub index: Option<u64>,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.index {
            Some(i) => write!(f, "line {} (item {i})", self.line),
            None => write!(f, "line {}", self.line),
        }
    }
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
    progress: Option<ProgressBar>,
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

/// Reads `reader` (named `name` in errors) to its end, giving each item to `sink`; the first
/// error (the input's or the sink's) ends the read. `progress` shows the bytes read.
pub fn feed(
    reader: Box<dyn Read>,
    name: &str,
    progress: Option<&ProgressBar>,
    sink: &mut Sink,
) -> Result<()> {
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
        Some(b'[') => feed_array(reader, name, progress, sink),
        Some(_) => feed_ndjson(reader, name, progress, sink),
    }
}

fn feed_ndjson(
    mut reader: impl BufRead,
    name: &str,
    progress: Option<&ProgressBar>,
    sink: &mut Sink,
) -> Result<()> {
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
            if let Some(p) = progress {
                p.set_position(bytes);
            }
            return Ok(());
        }
        line_no += 1;
        if n as u64 > MAX_SPEC_BYTES && buf.last() != Some(&b'\n') {
            return Err(anyhow!("line {line_no}: {}", too_long()));
        }
        bytes += n as u64;
        if let Some(p) = progress {
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
            sink(
                text,
                Place {
                    line: line_no,
                    index: None,
                },
            )?;
        }
        // A huge line's buffer is not kept for the rest of the input.
        if buf.capacity() > LINE_BUFFER_KEPT {
            buf = Vec::with_capacity(1024);
        }
    }
}

fn feed_array(
    reader: impl BufRead,
    name: &str,
    progress: Option<&ProgressBar>,
    sink: &mut Sink,
) -> Result<()> {
    let state = Rc::new(ArrayState::default());
    state.lines.set(1);
    let counting = Counting {
        inner: reader,
        state: state.clone(),
        bytes: 0,
        progress: progress.cloned(),
    };
    let mut de = serde_json::Deserializer::from_reader(counting);
    let mut failure: Option<anyhow::Error> = None;
    let mut items = 0u64;
    let seed = ArraySeed {
        sink,
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

struct ArraySeed<'b, 's, 'f> {
    sink: &'b mut Sink<'f>,
    state: &'s ArrayState,
    items: &'s mut u64,
    failure: &'s mut Option<anyhow::Error>,
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
        self.state.item_bytes.set(0);
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            let place = Place {
                line: self.state.lines.get(),
                index: Some(*self.items),
            };
            if let Err(e) = (self.sink)(raw.get(), place) {
                *self.failure = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
            *self.items += 1;
            self.state.item_bytes.set(0);
        }
        Ok(())
    }
}
