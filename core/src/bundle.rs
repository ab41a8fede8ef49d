//! Bundles: a self-describing file of cell documents that travels where no
//! link does (a memory card, a chat attachment) and is imported on the other
//! side. Import merges, so it is idempotent and order-free.
//!
//! Layout (all integers little-endian):
//! `"SILINBDL" | version u8 | reserved u8 | doc count u32 |
//!  { id length u16 | id utf-8 | data length u32 | automerge bytes }*`.
//! Each document's bytes carry automerge's own checksums, so a damaged or
//! truncated bundle fails to decode rather than importing garbage.

use crate::error::Result;
use crate::store::Store;

const MAGIC: &[u8; 8] = b"SILINBDL";
const VERSION: u8 = 1;
/// Limits that keep a hostile or corrupt file from exhausting a phone.
pub const MAX_DOCS: usize = 100_000;
pub const MAX_DOC_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("not a silin bundle (bad magic); check the file is the one exported by `silin bundle export`")]
    NotABundle,
    #[error("bundle version {0} is newer than this silin understands; update silin")]
    UnsupportedVersion(u8),
    #[error("bundle is truncated at byte {0}; copy the file again")]
    Truncated(usize),
    #[error("bundle declares {0} documents, over the limit of {MAX_DOCS}")]
    TooManyDocs(usize),
    #[error("a document in the bundle is {0} bytes, over the limit of {MAX_DOC_BYTES}")]
    DocTooLarge(usize),
    #[error("bundle has {0} stray bytes after its last document")]
    TrailingBytes(usize),
    #[error("bundle names a document with an invalid id")]
    BadId,
}

/// One document as carried in a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleDoc {
    pub cell_id: String,
    pub bytes: Vec<u8>,
}

pub fn encode(docs: &[BundleDoc]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + docs.iter().map(|d| d.bytes.len() + 48).sum::<usize>());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(0);
    out.extend_from_slice(&(docs.len() as u32).to_le_bytes());
    for d in docs {
        out.extend_from_slice(&(d.cell_id.len() as u16).to_le_bytes());
        out.extend_from_slice(d.cell_id.as_bytes());
        out.extend_from_slice(&(d.bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&d.bytes);
    }
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BundleError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(BundleError::Truncated(self.pos))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(BundleError::Truncated(self.pos))?;
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, BundleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, BundleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

pub fn decode(bytes: &[u8]) -> Result<Vec<BundleDoc>, BundleError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    if r.take(8).map_err(|_| BundleError::NotABundle)? != MAGIC {
        return Err(BundleError::NotABundle);
    }
    let version = r.take(2)?[0];
    if version != VERSION {
        return Err(BundleError::UnsupportedVersion(version));
    }
    let count = r.u32()? as usize;
    if count > MAX_DOCS {
        return Err(BundleError::TooManyDocs(count));
    }
    let mut docs = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let id_len = r.u16()? as usize;
        let id = std::str::from_utf8(r.take(id_len)?).map_err(|_| BundleError::BadId)?;
        crate::model::check_id("cell", id).map_err(|_| BundleError::BadId)?;
        let len = r.u32()? as usize;
        if len > MAX_DOC_BYTES {
            return Err(BundleError::DocTooLarge(len));
        }
        docs.push(BundleDoc {
            cell_id: id.to_string(),
            bytes: r.take(len)?.to_vec(),
        });
    }
    if r.pos != bytes.len() {
        return Err(BundleError::TrailingBytes(bytes.len() - r.pos));
    }
    Ok(docs)
}

/// Writes the chosen cells (all when `cells` is empty) as a bundle.
pub fn export(store: &Store, cells: &[String]) -> Result<Vec<u8>> {
    let ids: Vec<String> = if cells.is_empty() {
        store.cells(&[])?.into_iter().map(|c| c.id).collect()
    } else {
        for id in cells {
            crate::model::check_id("cell", id)?;
            if !store.has_cell(id)? {
                return Err(crate::Error::not_found("cell", id));
            }
        }
        cells.to_vec()
    };
    let mut docs = Vec::with_capacity(ids.len());
    for id in ids {
        let bytes = store.save_doc(&id)?;
        docs.push(BundleDoc { cell_id: id, bytes });
    }
    Ok(encode(&docs))
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ImportOutcome {
    pub docs: usize,
    pub changed: usize,
}

/// Applies a bundle. The whole file is decoded and every document checked
/// before the first one is applied, so a bad file writes nothing.
pub fn import(store: &Store, bytes: &[u8]) -> Result<ImportOutcome, ImportError> {
    let docs = decode(bytes)?;
    let mut decoded = Vec::with_capacity(docs.len());
    for d in &docs {
        let doc = crate::cell::CellDoc::load(&d.bytes, &automerge::ActorId::random())
            .map_err(|e| ImportError::BadDocument(d.cell_id.clone(), e.to_string()))?;
        if doc.id() != d.cell_id {
            return Err(ImportError::BadDocument(
                d.cell_id.clone(),
                "the document inside is of another cell".into(),
            ));
        }
        decoded.push(d);
    }
    let mut outcome = ImportOutcome::default();
    for d in decoded {
        let (_, changed) = store.merge_bytes(&d.bytes)?;
        outcome.docs += 1;
        outcome.changed += usize::from(changed);
    }
    Ok(outcome)
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("document {0} in the bundle is damaged: {1}")]
    BadDocument(String, String),
    #[error(transparent)]
    Store(#[from] crate::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<BundleDoc> {
        vec![
            BundleDoc {
                cell_id: "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f".into(),
                bytes: vec![1, 2, 3],
            },
            BundleDoc {
                cell_id: "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e60".into(),
                bytes: vec![],
            },
        ]
    }

    #[test]
    fn bundle_round_trips() {
        assert_eq!(decode(&encode(&sample())).unwrap(), sample());
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        let b = encode(&sample());
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err(), "prefix of {n} bytes decoded");
        }
        let mut extra = b.clone();
        extra.push(0);
        assert_eq!(decode(&extra), Err(BundleError::TrailingBytes(1)));
        let mut v = b.clone();
        v[8] = 9;
        assert_eq!(decode(&v), Err(BundleError::UnsupportedVersion(9)));
        assert_eq!(decode(b"hello world"), Err(BundleError::NotABundle));
    }
}
