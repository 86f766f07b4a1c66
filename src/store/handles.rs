//! Run handles, the same on every backend: a run is named by its full id, or by a unique,
//! case-insensitive prefix, or by a unique, case-insensitive tail of at least [`TAIL_MIN`]
//! characters. The backends find the matching ids with their own index seeks ([`IdLookup`]);
//! the rules, the error text and the choice of the handle shown in tables live here.

use crate::error::StoreError;
use anyhow::Result;
use std::collections::{BTreeSet, HashMap};

/// The fewest characters of an id's end that resolve it as a handle (and the length of the
/// indexed tail: `lower(substr(id, -8))` in sql/v1_extra.sql, `lower(right(id, 8))` in
/// sql/postgres/extra.sql).
pub const TAIL_MIN: usize = 8;
/// Candidates an ambiguous handle's error lists by id.
pub const SHOWN_CANDIDATES: usize = 5;
/// Matches counted for "… and N more"; beyond it the count is "at least".
pub const COUNTED_CANDIDATES: usize = 1000;

/// Whether `text` can be a handle: ASCII letters, digits, `-` and `_` only, so no `LIKE` or
/// range trick ever sees a wildcard or a multi-byte character.
pub fn is_handle(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The error for a handle no run has (exit 3).
pub fn not_found(given: &str) -> anyhow::Error {
    StoreError::NotFound(format!("run {given} not found")).into()
}

/// The one id among `found` (the ids `given` names, in id order; `capped` when a lookup
/// stopped at [`COUNTED_CANDIDATES`]): unknown → exit 3; ambiguous → usage error (exit 2)
/// listing up to [`SHOWN_CANDIDATES`] candidates and how many more.
pub fn pick(given: &str, mut found: Vec<String>, capped: bool) -> Result<String> {
    match found.len() {
        0 => Err(not_found(given)),
        1 => Ok(found.remove(0)),
        n => {
            let shown = found[..n.min(SHOWN_CANDIDATES)].join(", ");
            let at_least = if capped { "at least " } else { "" };
            let more = match n.saturating_sub(SHOWN_CANDIDATES) {
                0 => String::new(),
                m => format!(" … and {at_least}{m} more"),
            };
            Err(StoreError::Invalid(format!(
                "run id {given} is ambiguous: it matches {at_least}{n} runs: {shown}{more} \
                 (give more characters)"
            ))
            .into())
        }
    }
}

/// The key of an id's tail index: its last [`TAIL_MIN`] characters in lower case. Only for
/// ids that [`eligible`] accepts (ASCII, longer than the key).
pub fn tail_key(id: &str) -> String {
    id[id.len() - TAIL_MIN..].to_ascii_lowercase()
}

/// Whether an id gets a tail as its handle; any other id is shown whole.
pub fn eligible(id: &str) -> bool {
    id.len() > TAIL_MIN && is_handle(id)
}

/// The short handle of each of `ids`, as shown in tables: its shortest tail, at least
/// [`TAIL_MIN`] characters, that no other run has as its tail or as its prefix, so resolving it
/// gives the id back. A tail never starts with `-` (it would read as an option). An id that
/// cannot be a handle (other characters) or is this short anyway is shown whole.
///
/// `sharing` holds every run id whose [`tail_key`] is the key of one of `ids` (the id itself
/// included); `prefix_taken(tail, id)` says whether a run other than `id` starts with `tail`
/// in any case. This is the rule one tail at a time; [`shortest_tails_batched`] gives the same
/// answer asking for many tails at once.
pub fn shortest_tails(
    ids: &[String],
    sharing: impl IntoIterator<Item = String>,
    mut prefix_taken: impl FnMut(&str, &str) -> Result<bool>,
) -> Result<Vec<String>> {
    let starts = start_lengths(ids, sharing);
    let mut handles = Vec::with_capacity(ids.len());
    for (id, start) in ids.iter().zip(starts) {
        let mut handle = id.clone();
        for tail in candidates(id, start) {
            if !prefix_taken(tail, id)? {
                handle = tail.to_string();
                break;
            }
        }
        handles.push(handle);
    }
    Ok(handles)
}

/// [`shortest_tails`] with `taken` answering a batch of `(tail, id)` questions at once (one
/// statement): first the shortest candidate tail of every id, then, for the few ids whose
/// tail another run starts with, their next [`LATER_CANDIDATES`] candidates together, and so
/// on. Two batches for any id of up to 8 + 32 characters, whatever the page's size, and the
/// same handles as one question at a time.
pub fn shortest_tails_batched(
    ids: &[String],
    sharing: impl IntoIterator<Item = String>,
    mut taken: impl FnMut(&[(&str, &str)]) -> Result<Vec<bool>>,
) -> Result<Vec<String>> {
    let starts = start_lengths(ids, sharing);
    let mut handles = ids.to_vec();
    let mut undecided: Vec<usize> = (0..ids.len()).collect();
    let mut asked_before = vec![0; ids.len()];
    let mut batch = 1;
    while !undecided.is_empty() {
        let mut asked: Vec<(usize, &str)> = Vec::new();
        for &i in &undecided {
            let some = candidates(&ids[i], starts[i])
                .skip(asked_before[i])
                .take(batch);
            asked.extend(some.map(|tail| (i, tail)));
            asked_before[i] += batch;
        }
        if asked.is_empty() {
            break;
        }
        let questions: Vec<(&str, &str)> = asked
            .iter()
            .map(|&(i, tail)| (tail, ids[i].as_str()))
            .collect();
        let answers = taken(&questions)?;
        let mut decided = vec![false; ids.len()];
        // Candidates are asked shortest first: the first free one is the handle.
        for (&(i, tail), is_taken) in asked.iter().zip(answers) {
            if !is_taken && !decided[i] {
                decided[i] = true;
                handles[i] = tail.to_string();
            }
        }
        // An id with no candidate left is shown whole.
        let exhausted = |i: usize| {
            candidates(&ids[i], starts[i])
                .nth(asked_before[i])
                .is_none()
        };
        undecided.retain(|&i| !decided[i] && !exhausted(i));
        batch = LATER_CANDIDATES;
    }
    Ok(handles)
}

/// Candidate tails asked for at once for each id whose shorter ones were all taken: enough
/// for the rest of a UUID's (36 characters) in one batch, and a bound on a batch's size
/// whatever length a run's id has.
pub const LATER_CANDIDATES: usize = 32;

/// The candidate tails of `id` from `start` characters on, shortest first (none when `start`
/// is `None`): every longer tail short of the whole id that does not start with `-`.
fn candidates(id: &str, start: Option<usize>) -> impl Iterator<Item = &str> {
    let lens = match start {
        Some(len) => len..id.len(),
        None => 0..0,
    };
    lens.map(move |len| &id[id.len() - len..])
        .filter(|tail| !tail.starts_with('-'))
}

/// The length each of `ids`' handle search starts at: [`TAIL_MIN`], or one more than the
/// longest tail it shares, in any case, with another id of `sharing` (see [`shortest_tails`]);
/// `None` for an id shown whole ([`eligible`]).
fn start_lengths(ids: &[String], sharing: impl IntoIterator<Item = String>) -> Vec<Option<usize>> {
    // Ids sharing a key, in lower case, by key. Only ASCII keys are asked for, so every id
    // found ends in 8 ASCII characters; any other is left out.
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for other in sharing {
        let other = other.to_ascii_lowercase();
        if other.len() >= TAIL_MIN && other.is_char_boundary(other.len() - TAIL_MIN) {
            groups.entry(tail_key(&other)).or_default().push(other);
        }
    }
    let start = |id: &String| {
        let lower = id.to_ascii_lowercase();
        let mut len = TAIL_MIN;
        let mut itself = false;
        for other in groups.get(&tail_key(id)).into_iter().flatten() {
            // The id itself is in its group once; another id equal to it but for case is not.
            if *other == lower && !itself {
                itself = true;
                continue;
            }
            let common = lower
                .bytes()
                .rev()
                .zip(other.bytes().rev())
                .take_while(|(a, b)| a == b)
                .count();
            len = len.max(common + 1);
        }
        len
    };
    ids.iter()
        .map(|id| eligible(id).then(|| start(id)))
        .collect()
}

/// The index seeks of one backend that handles are resolved with, inside one transaction.
pub trait IdLookup {
    /// The id equal to `id`, if a run has it.
    fn exact(&mut self, id: &str) -> Result<Option<String>>;
    /// The ids in `[from, to)` byte-wise other than `except`, at most `limit` (one range seek).
    fn in_range(&mut self, from: &str, to: &str, except: &str, limit: i64) -> Result<Vec<String>>;
    /// The ids other than `except` whose tail, in lower case, is `lower` (ASCII, at least
    /// [`TAIL_MIN`] characters; seek the tail index on [`tail_key`]), at most `limit`.
    fn with_tail(&mut self, lower: &str, except: &str, limit: i64) -> Result<Vec<String>>;
    /// Every id whose [`tail_key`] is among `keys`.
    fn sharing_tails(&mut self, keys: &[String]) -> Result<Vec<String>>;
    /// For each range, whether an id other than its `except` lies in it (byte-wise): what
    /// [`IdLookup::in_range`] with a limit of 1 says of each. One range seek each; a backend
    /// where a round trip costs something sends them all in one statement.
    fn ranges_taken(&mut self, ranges: &[IdRange]) -> Result<Vec<bool>> {
        ranges
            .iter()
            .map(|r| Ok(!self.in_range(&r.from, &r.to, &r.except, 1)?.is_empty()))
            .collect()
    }
}

/// The ids in `[from, to)`, byte-wise, other than `except` ([`IdLookup::ranges_taken`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdRange {
    pub from: String,
    pub to: String,
    pub except: String,
}

/// The ranges that hold the ids starting with `prefix` in any case: the prefix as given, in
/// lower case and in upper case (repeats next to each other dropped), each `[prefix, prefix +
/// U+10FFFF)`: exactly the ids that start with it, byte-wise (UTF-8 bytes compare like code
/// points), one seek of the id's index.
fn prefix_ranges(prefix: &str) -> Vec<(String, String)> {
    let mut variants = vec![
        prefix.to_string(),
        prefix.to_ascii_lowercase(),
        prefix.to_ascii_uppercase(),
    ];
    variants.dedup();
    variants
        .into_iter()
        .map(|v| {
            let end = format!("{v}\u{10FFFF}");
            (v, end)
        })
        .collect()
}

/// Resolves a handle to the run's id: the full id, or a case-insensitive prefix, or a
/// case-insensitive tail of at least [`TAIL_MIN`] characters, that only one run has.
/// Unknown → exit 3; ambiguous → usage error (exit 2) listing the candidates.
pub fn resolve(ids: &mut impl IdLookup, given: &str) -> Result<String> {
    let given = given.trim();
    if given.is_empty() {
        return Err(StoreError::Invalid("empty run id".into()).into());
    }
    if let Some(id) = ids.exact(given)? {
        return Ok(id);
    }
    if !is_handle(given) {
        return Err(not_found(given));
    }
    let (mut found, mut capped) = prefix_matches(ids, given, "", COUNTED_CANDIDATES)?;
    if given.len() >= TAIL_MIN {
        // A seek of the tail index on the last 8 characters, the whole tail then compared on
        // the few rows that share them. Without the index (a database `durably init` has not
        // repaired) this is a scan: slower, still right.
        let lower = given.to_ascii_lowercase();
        let limit = i64::try_from(COUNTED_CANDIDATES).unwrap_or(i64::MAX);
        let tails = ids.with_tail(&lower, "", limit)?;
        capped |= tails.len() == COUNTED_CANDIDATES;
        found.extend(tails);
    }
    pick(given, found.into_iter().collect(), capped)
}

/// The ids other than `except` that start with `prefix` in any case, at most `cap` per case
/// variant (the flag says one stopped there).
fn prefix_matches(
    ids: &mut impl IdLookup,
    prefix: &str,
    except: &str,
    cap: usize,
) -> Result<(BTreeSet<String>, bool)> {
    let mut found = BTreeSet::new();
    let mut capped = false;
    let limit = i64::try_from(cap).unwrap_or(i64::MAX);
    for (v, end) in prefix_ranges(prefix) {
        let some = ids.in_range(&v, &end, except, limit)?;
        capped |= some.len() == cap;
        found.extend(some);
    }
    Ok((found, capped))
}

/// The short handle of each of `of`, as shown in tables (see [`shortest_tails`]): one lookup
/// finds every run that shares its last 8 characters with one of them (seeks on the tail
/// index), then one batch of prefix seeks for every row's first candidate tail, and one more
/// only if some row needs a longer tail (more only for ids of over 40 characters,
/// [`shortest_tails_batched`]): a page costs O(page log n) seeks in two or three statements,
/// not a round trip per row.
pub fn unique_handles(ids: &mut impl IdLookup, of: &[String]) -> Result<Vec<String>> {
    let keys: Vec<String> = of
        .iter()
        .filter(|id| eligible(id))
        .map(|id| tail_key(id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let sharing = if keys.is_empty() {
        Vec::new()
    } else {
        ids.sharing_tails(&keys)?
    };
    shortest_tails_batched(of, sharing, |questions| {
        // Each (tail, id) as its case variants' ranges; taken when any of them holds an id.
        let mut ranges = Vec::new();
        let mut owner = Vec::new();
        for (q, &(tail, id)) in questions.iter().enumerate() {
            for (from, to) in prefix_ranges(tail) {
                let except = id.to_string();
                ranges.push(IdRange { from, to, except });
                owner.push(q);
            }
        }
        let mut taken = vec![false; questions.len()];
        for (q, hit) in owner.into_iter().zip(ids.ranges_taken(&ranges)?) {
            taken[q] |= hit;
        }
        Ok(taken)
    })
}
