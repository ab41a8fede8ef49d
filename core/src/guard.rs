//! What automerge may see of a peer's bytes.
//!
//! automerge trusts its input more than a register of named villagers can
//! afford: on malformed documents, changes and sync messages it panics, and
//! some fields it reads are sizes it allocates before checking them (a
//! bloom filter's probe count, a deflated column, a compressed change chunk,
//! the experimental bundle chunk). Like SQLite's stance on untrusted
//! database files, we set limits before decoding and refuse what silin never
//! writes:
//!
//! * [`saved`] walks every chunk header of saved bytes (a document, or
//!   changes) and lets through only the two chunk types silin writes —
//!   documents (type 0) and uncompressed changes (type 1) — with bounded
//!   counts, and inflates a document's deflated columns itself, under a
//!   budget, before automerge would inflate them without one;
//! * [`sync_message`] walks a sync message the same way: bounded hash lists,
//!   bloom filters whose size and probe count match what automerge builds,
//!   and each carried chunk through [`saved`];
//! * [`contain`] runs a decode or merge of peer bytes so that a panic
//!   becomes a typed error instead of unwinding through the store, the hub
//!   or the FFI. The caller drops whatever the panicking call touched.
//!
//! The byte layouts walked here are automerge's binary format (chunk header:
//! magic, checksum, type, LEB128 length; document and change chunk bodies;
//! sync message v1/v2).

use std::io::Read;

/// Bytes a peer's document may inflate to (its deflated columns together).
pub const MAX_INFLATED: u64 = 64 << 20;
/// Hashes in one list (heads, deps, needs, a `have`'s last sync).
pub const MAX_HASHES: u64 = 100_000;
/// Actors named in one chunk, columns in one column list, `have`s and
/// changes in one sync message.
pub const MAX_ACTORS: u64 = 100_000;
pub const MAX_COLUMNS: u64 = 256;
pub const MAX_HAVES: u64 = 64;
pub const MAX_SYNC_CHANGES: u64 = 1_000_000;
/// automerge builds its bloom filters with 10 bits per entry and 7 probes;
/// anything far from that is not a filter an honest peer made.
pub const MAX_BLOOM_BITS_PER_ENTRY: u64 = 64;
pub const MAX_BLOOM_PROBES: u64 = 64;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const CHUNK_DOCUMENT: u8 = 0;
const CHUNK_CHANGE: u8 = 1;
const SYNC_V1: u8 = 0x42;
const SYNC_V2: u8 = 0x43;
/// Bit of a column spec that says its data is deflated.
const COLUMN_DEFLATE: u64 = 0b1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("the bytes end inside {0}")]
    Truncated(&'static str),
    #[error("not an automerge chunk (bad magic bytes)")]
    NotAChunk,
    #[error("chunk type {0} is not one silin writes (only documents and uncompressed changes)")]
    ChunkType(u8),
    #[error("{what} is {value}, over the limit of {limit}")]
    TooMany {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    #[error("a deflated column does not inflate: {0}")]
    Deflate(String),
    #[error("not a sync message (first byte {0:#04x})")]
    NotASyncMessage(u8),
    #[error("a bloom filter's size does not match its parameters")]
    BloomShape,
    #[error("the document library failed on these bytes ({0}); refused")]
    Panicked(String),
}

/// Runs `f` over peer bytes; a panic inside becomes [`GuardError::Panicked`].
/// The caller must treat whatever `f` had mutable access to as poisoned.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, GuardError> {
    // automerge's panics are about its own invariants on bad input, not about
    // broken shared state of ours: the closure's captures are dropped by the
    // caller on error, so asserting unwind safety is sound here.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        GuardError::Panicked(msg.chars().take(200).collect())
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn rest(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn is_empty(&self) -> bool {
        self.rest() == 0
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], GuardError> {
        let n = usize::try_from(n).map_err(|_| GuardError::Truncated(what))?;
        if n > self.rest() {
            return Err(GuardError::Truncated(what));
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, GuardError> {
        Ok(self.take(1, what)?[0])
    }

    /// Unsigned LEB128, at most 10 bytes.
    fn uleb(&mut self, what: &'static str) -> Result<u64, GuardError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.byte(what)?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(GuardError::TooMany {
                    what,
                    value: u64::MAX,
                    limit: u64::MAX,
                });
            }
            value |= part << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(GuardError::Truncated(what))
    }

    /// Signed LEB128: only its extent matters here.
    fn sleb(&mut self, what: &'static str) -> Result<(), GuardError> {
        for _ in 0..10 {
            if self.byte(what)? & 0x80 == 0 {
                return Ok(());
            }
        }
        Err(GuardError::Truncated(what))
    }

    fn count(&mut self, what: &'static str, limit: u64) -> Result<u64, GuardError> {
        let value = self.uleb(what)?;
        if value > limit {
            return Err(GuardError::TooMany { what, value, limit });
        }
        Ok(value)
    }

    fn hashes(&mut self, what: &'static str) -> Result<(), GuardError> {
        let n = self.count(what, MAX_HASHES)?;
        self.take(n * 32, what).map(|_| ())
    }

    fn length_prefixed(&mut self, what: &'static str) -> Result<&'a [u8], GuardError> {
        let n = self.uleb(what)?;
        self.take(n, what)
    }

    /// A column list: `(spec, length)` pairs. Returns them.
    fn columns(&mut self, what: &'static str) -> Result<Vec<(u64, u64)>, GuardError> {
        let n = self.count(what, MAX_COLUMNS)?;
        (0..n)
            .map(|_| Ok((self.uleb(what)?, self.uleb(what)?)))
            .collect()
    }
}

/// Checks saved bytes (one or more chunks: a document and/or changes).
pub fn saved(bytes: &[u8]) -> Result<(), GuardError> {
    let mut r = Reader::new(bytes);
    let mut inflated = 0u64;
    while !r.is_empty() {
        if r.take(4, "a chunk header")? != MAGIC {
            return Err(GuardError::NotAChunk);
        }
        r.take(4, "a chunk checksum")?;
        let kind = r.byte("a chunk type")?;
        let body = r.length_prefixed("a chunk")?;
        match kind {
            CHUNK_DOCUMENT => document(body, &mut inflated)?,
            CHUNK_CHANGE => change(body)?,
            other => return Err(GuardError::ChunkType(other)),
        }
    }
    Ok(())
}

/// The change chunks of `bytes` (each whole, header included), for a check
/// that what the store writes decodes back; any other chunk type is refused.
pub fn change_chunks(bytes: &[u8]) -> Result<Vec<&[u8]>, GuardError> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while !r.is_empty() {
        let start = bytes.len() - r.rest();
        if r.take(4, "a chunk header")? != MAGIC {
            return Err(GuardError::NotAChunk);
        }
        r.take(4, "a chunk checksum")?;
        let kind = r.byte("a chunk type")?;
        r.length_prefixed("a chunk")?;
        if kind != CHUNK_CHANGE {
            return Err(GuardError::ChunkType(kind));
        }
        out.push(&bytes[start..bytes.len() - r.rest()]);
    }
    Ok(out)
}

fn document(body: &[u8], inflated: &mut u64) -> Result<(), GuardError> {
    let mut r = Reader::new(body);
    let actors = r.count("a document's actors", MAX_ACTORS)?;
    for _ in 0..actors {
        r.length_prefixed("an actor id")?;
    }
    r.hashes("a document's heads")?;
    let change_cols = r.columns("a document's change columns")?;
    let op_cols = r.columns("a document's op columns")?;
    for (spec, len) in change_cols.into_iter().chain(op_cols) {
        let data = r.take(len, "a document column")?;
        if spec & COLUMN_DEFLATE != 0 {
            // Inflate under what is left of the budget, one byte over it to
            // tell "exactly at" from "over".
            let budget = MAX_INFLATED.saturating_sub(*inflated);
            let mut sink = std::io::sink();
            let n = std::io::copy(
                &mut flate2::read::DeflateDecoder::new(data).take(budget + 1),
                &mut sink,
            )
            .map_err(|e| GuardError::Deflate(e.to_string()))?;
            if n > budget {
                return Err(GuardError::TooMany {
                    what: "a document's inflated size",
                    value: *inflated + n,
                    limit: MAX_INFLATED,
                });
            }
            *inflated += n;
        }
    }
    // What follows is the heads' indices: automerge checks them itself and
    // allocates nothing by them.
    Ok(())
}

fn change(body: &[u8]) -> Result<(), GuardError> {
    let mut r = Reader::new(body);
    r.hashes("a change's dependencies")?;
    r.length_prefixed("a change's actor")?;
    r.uleb("a change's sequence number")?;
    r.uleb("a change's start op")?;
    r.sleb("a change's time")?;
    r.length_prefixed("a change's message")?;
    let others = r.count("a change's other actors", MAX_ACTORS)?;
    for _ in 0..others {
        r.length_prefixed("an actor id")?;
    }
    for (spec, len) in r.columns("a change's columns")? {
        if spec & COLUMN_DEFLATE != 0 {
            return Err(GuardError::Deflate(
                "a change's columns are never deflated".into(),
            ));
        }
        r.take(len, "a change column")?;
    }
    Ok(())
}

/// Checks an automerge sync message before it is decoded.
pub fn sync_message(bytes: &[u8]) -> Result<(), GuardError> {
    let mut r = Reader::new(bytes);
    let version = r.byte("a sync message")?;
    if version != SYNC_V1 && version != SYNC_V2 {
        return Err(GuardError::NotASyncMessage(version));
    }
    r.hashes("a sync message's heads")?;
    r.hashes("a sync message's needs")?;
    let haves = r.count("a sync message's haves", MAX_HAVES)?;
    for _ in 0..haves {
        r.hashes("a have's last sync")?;
        bloom(r.length_prefixed("a bloom filter")?)?;
    }
    let changes = r.count("a sync message's changes", MAX_SYNC_CHANGES)?;
    for _ in 0..changes {
        saved(r.length_prefixed("a sync message's change")?)?;
    }
    // Then optional flags, length-prefixed; automerge reads them as bits.
    if !r.is_empty() {
        r.length_prefixed("a sync message's flags")?;
    }
    Ok(())
}

fn bloom(bytes: &[u8]) -> Result<(), GuardError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut r = Reader::new(bytes);
    let entries = r.uleb("a bloom filter")?;
    let bits_per_entry = r.uleb("a bloom filter")?;
    let probes = r.uleb("a bloom filter")?;
    if bits_per_entry > MAX_BLOOM_BITS_PER_ENTRY {
        return Err(GuardError::TooMany {
            what: "a bloom filter's bits per entry",
            value: bits_per_entry,
            limit: MAX_BLOOM_BITS_PER_ENTRY,
        });
    }
    if probes > MAX_BLOOM_PROBES {
        return Err(GuardError::TooMany {
            what: "a bloom filter's probes",
            value: probes,
            limit: MAX_BLOOM_PROBES,
        });
    }
    // automerge reads ceil(entries * bits / 8) bytes of bits, and takes
    // probes modulo their bit count: a filter with entries but no bits
    // would divide by zero.
    let bits = entries
        .checked_mul(bits_per_entry)
        .map(|b| b.div_ceil(8))
        .ok_or(GuardError::BloomShape)?;
    if bits != r.rest() as u64 || (entries > 0 && (bits == 0 || probes == 0)) {
        return Err(GuardError::BloomShape);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::sync::SyncDoc;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    fn doc_with(n: usize) -> AutoCommit {
        let mut d = AutoCommit::new();
        for i in 0..n {
            d.put(ROOT, format!("k{i}"), "值".repeat(50)).unwrap();
            d.commit();
        }
        d
    }

    #[test]
    fn what_silin_writes_passes() {
        let mut d = doc_with(40);
        let whole = d.save();
        saved(&whole).unwrap();
        let heads = d.get_heads();
        d.put(ROOT, "more", 1).unwrap();
        d.commit();
        saved(&d.save_after(&heads)).unwrap();
        saved(&d.save_incremental()).unwrap();
        let mut other = doc_with(3);
        let mut a = automerge::sync::State::new();
        let mut b = automerge::sync::State::new();
        // A full exchange: every message either side makes passes.
        for _ in 0..10 {
            if let Some(m) = d.sync().generate_sync_message(&mut a) {
                let bytes = m.encode();
                sync_message(&bytes).unwrap();
                let m = automerge::sync::Message::decode(&bytes).unwrap();
                other.sync().receive_sync_message(&mut b, m).unwrap();
            }
            if let Some(m) = other.sync().generate_sync_message(&mut b) {
                let bytes = m.encode();
                sync_message(&bytes).unwrap();
                let m = automerge::sync::Message::decode(&bytes).unwrap();
                d.sync().receive_sync_message(&mut a, m).unwrap();
            }
        }
        assert_eq!(d.get_heads(), other.get_heads());
    }

    /// Unsigned LEB128, as automerge writes lengths.
    fn push_uleb(out: &mut Vec<u8>, mut n: u64) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { b } else { b | 0x80 });
            if n == 0 {
                return;
            }
        }
    }

    fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend([0, 0, 0, 0, kind]);
        push_uleb(&mut out, body.len() as u64);
        out.extend(body);
        out
    }

    #[test]
    fn saved_changes_split_into_chunks_that_decode_to_the_same_hashes() {
        let mut d = doc_with(3);
        let held: Vec<_> = d.get_changes(&[]).iter().map(|c| c.hash()).collect();
        let bytes = d.save_after(&[]);
        let chunks = change_chunks(&bytes).unwrap();
        let saved: Vec<_> = chunks
            .iter()
            .map(|c| automerge::Change::try_from(*c).unwrap().hash())
            .collect();
        assert_eq!(saved, held);
        // A whole document is not a run of changes.
        assert!(matches!(
            change_chunks(&d.save()),
            Err(GuardError::ChunkType(0))
        ));
        assert!(matches!(
            change_chunks(&bytes[..bytes.len() - 1]),
            Err(GuardError::Truncated(_))
        ));
    }

    #[test]
    fn chunk_types_silin_never_writes_are_refused() {
        assert_eq!(saved(&chunk(2, &[1, 2, 3])), Err(GuardError::ChunkType(2)));
        assert_eq!(saved(&chunk(3, &[])), Err(GuardError::ChunkType(3)));
        assert_eq!(
            saved(&[0x85, 0x6f]),
            Err(GuardError::Truncated("a chunk header"))
        );
        assert_eq!(saved(b"not automerge"), Err(GuardError::NotAChunk));
    }

    #[test]
    fn a_deflate_bomb_is_refused_before_it_inflates() {
        use std::io::Write;
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..=(MAX_INFLATED >> 20) {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        // A document: no actors, no heads, one deflated change column.
        let mut body = vec![0, 0, 1];
        body.push(COLUMN_DEFLATE as u8);
        push_uleb(&mut body, bomb.len() as u64);
        body.push(0);
        body.extend(&bomb);
        assert!(matches!(
            saved(&chunk(0, &body)),
            Err(GuardError::TooMany {
                what: "a document's inflated size",
                ..
            })
        ));
    }

    #[test]
    fn hostile_bloom_parameters_are_refused() {
        // v1, no heads, no needs, one have with no last sync and a filter
        // claiming 2^32-1 probes over one byte of bits.
        let mut m = vec![SYNC_V1, 0, 0, 1, 0];
        let filter = [1u8, 8, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff];
        m.push(filter.len() as u8);
        m.extend(filter);
        m.push(0);
        assert!(matches!(sync_message(&m), Err(GuardError::TooMany { .. })));
        // Entries but no bits: automerge would take a probe modulo zero.
        let mut m = vec![SYNC_V1, 0, 0, 1, 0, 3, 1, 0, 7, 0];
        assert_eq!(sync_message(&m), Err(GuardError::BloomShape));
        m[0] = 0x99;
        assert_eq!(sync_message(&m), Err(GuardError::NotASyncMessage(0x99)));
    }

    #[test]
    fn a_panic_becomes_an_error() {
        let r: Result<(), _> = contain(|| panic!("boom"));
        assert_eq!(r, Err(GuardError::Panicked("boom".into())));
    }
}
