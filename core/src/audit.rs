//! Audit entries of a device's own actions on personal data, and the hash
//! rule every audit log in silin chains its entries with.
//!
//! A phone keeps a log of what it did with people's data that a sync does
//! not show: bundles it exported (plain or sealed), cells saved out of the
//! store whole (`silin cell save`), and erasure orders it followed (its
//! copy of a cell moved to the new epoch). The log lives in the store
//! (`device_audit`, core/sql/009_device_audit.sql, [`crate::Store::audit_entries`]),
//! append-only and chained with [`entry_hash`], the rule the hub's own
//! log uses (silin-hub re-exports it: one place for the rule).
//!
//! Entries the hub has not acknowledged ride up in a session's opening
//! message ([`DeviceEntry`], envelope version 4) and the hub appends each
//! to its own log with the device of the session's verified certificate as
//! the actor, deduplicated by (device, sequence); its reply says up to
//! which sequence it holds them, and only then does the device mark them
//! sent. An entry holds ids and counts only: a cell id as its target, and
//! counts under keys fixed here ([`CountKey`]) — no name, phone or ID
//! number can reach it. What the log does not prove is in doc/SECURITY.md,
//! "Audit log".

use crate::wire::{self, Reader, WireError, Writer};
use sha2::{Digest, Sha256};

/// The `prev_hash` of a log's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Most device entries one opening message carries; the rest wait for the
/// next session.
pub const MAX_ENTRIES: usize = 256;
/// Most counts one entry carries (there are fewer keys than this).
pub const MAX_COUNTS: usize = 8;

/// SHA-256 over `prev_hash` and an entry's columns, each as an 8-byte
/// big-endian length and its bytes (the sequence number as 8 bytes
/// big-endian), after a version tag; hex. The hub's log and a device's
/// own log both chain with it.
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(b"silin-audit-v1\0");
    let seq = seq.to_be_bytes();
    let parts: [&[u8]; 7] = [
        prev_hash.as_bytes(),
        &seq,
        at.as_bytes(),
        actor.as_bytes(),
        action.as_bytes(),
        target.as_bytes(),
        detail.as_bytes(),
    ];
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// What a device did. Closed: an entry with an action this build does not
/// know does not read (from the store or from a peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceAction {
    /// A bundle file's bytes were made (`silin bundle export`, the app's
    /// export): every cell in it, plain or sealed.
    BundleExport,
    /// A cell's whole document was saved out of the store (`silin cell
    /// save`).
    CellSave,
    /// An office erasure order (or a retention run's) was followed: the
    /// device's copy of the cell moved to the new epoch and the erased
    /// values left its file.
    ErasureFollowed,
}

impl DeviceAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceAction::BundleExport => "bundle_export",
            DeviceAction::CellSave => "cell_save",
            DeviceAction::ErasureFollowed => "erasure_followed",
        }
    }

    pub fn parse(s: &str) -> Option<DeviceAction> {
        Some(match s {
            "bundle_export" => DeviceAction::BundleExport,
            "cell_save" => DeviceAction::CellSave,
            "erasure_followed" => DeviceAction::ErasureFollowed,
            _ => return None,
        })
    }

    fn tag(self) -> u8 {
        match self {
            DeviceAction::BundleExport => 1,
            DeviceAction::CellSave => 2,
            DeviceAction::ErasureFollowed => 3,
        }
    }

    fn from_tag(tag: u8) -> Option<DeviceAction> {
        Some(match tag {
            1 => DeviceAction::BundleExport,
            2 => DeviceAction::CellSave,
            3 => DeviceAction::ErasureFollowed,
            _ => return None,
        })
    }
}

/// The keys a device entry's counts may have: fixed here, so a detail can
/// never carry text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CountKey {
    /// Cells in a bundle.
    Docs,
    /// Devices a bundle is sealed to (0: a plain file anyone can read).
    Recipients,
    /// Bytes written.
    Bytes,
    /// The epoch a cell moved to.
    Epoch,
    /// Orders followed at once (several when a device missed some).
    Orders,
}

impl CountKey {
    pub const ALL: [CountKey; 5] = [
        CountKey::Docs,
        CountKey::Recipients,
        CountKey::Bytes,
        CountKey::Epoch,
        CountKey::Orders,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CountKey::Docs => "docs",
            CountKey::Recipients => "recipients",
            CountKey::Bytes => "bytes",
            CountKey::Epoch => "epoch",
            CountKey::Orders => "orders",
        }
    }

    pub fn parse(s: &str) -> Option<CountKey> {
        CountKey::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn tag(self) -> u8 {
        match self {
            CountKey::Docs => 1,
            CountKey::Recipients => 2,
            CountKey::Bytes => 3,
            CountKey::Epoch => 4,
            CountKey::Orders => 5,
        }
    }

    fn from_tag(tag: u8) -> Option<CountKey> {
        CountKey::ALL.into_iter().find(|k| k.tag() == tag)
    }
}

/// One of a device's own entries as it travels to the hub: its sequence
/// number in the device's log, the time on the device's clock (unix
/// seconds), what was done, the cell (if one), and counts. Who did it is
/// not in it: the hub takes that from the session's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEntry {
    pub seq: u64,
    pub at: i64,
    pub action: DeviceAction,
    pub cell: Option<String>,
    /// Each key at most once, in key order.
    pub counts: Vec<(CountKey, i64)>,
}

impl DeviceEntry {
    /// The target as a log writes it: `cell=ID`, or `bundle` for a bundle
    /// that names no single cell.
    pub fn target(&self) -> String {
        match &self.cell {
            Some(c) => format!("cell={c}"),
            None => "bundle".to_string(),
        }
    }
}

/// Writes a list of entries (at most [`MAX_ENTRIES`]: the caller takes the
/// oldest that many).
pub(crate) fn write_entries(w: &mut Writer, entries: &[DeviceEntry]) {
    let entries = &entries[..entries.len().min(MAX_ENTRIES)];
    w.uint(entries.len() as u64);
    for e in entries {
        w.uint(e.seq).int(e.at).u8(e.action.tag());
        match &e.cell {
            Some(c) => {
                w.u8(1);
                wire::put_id(w, c);
            }
            None => {
                w.u8(0);
            }
        }
        w.uint(e.counts.len() as u64);
        for (k, v) in &e.counts {
            w.u8(k.tag()).int(*v);
        }
    }
}

/// Reads a list of entries: bounded in count and size, sequence numbers
/// from 1 and strictly increasing, every action and key known, each key
/// once and no count negative. Anything else is an error and nothing of
/// the list is kept.
pub(crate) fn read_entries(r: &mut Reader<'_>) -> Result<Vec<DeviceEntry>, WireError> {
    let n = r.len("audit entry count", MAX_ENTRIES)?;
    let mut out: Vec<DeviceEntry> = Vec::with_capacity(n);
    for _ in 0..n {
        let seq = r.uint("audit entry sequence")?;
        let after = out.last().map_or(0, |e| e.seq);
        if seq <= after || seq > i64::MAX as u64 {
            return Err(r.invalid("audit entry sequence"));
        }
        let at = r.int("audit entry time")?;
        let action = DeviceAction::from_tag(r.u8("audit action")?)
            .ok_or_else(|| r.invalid("audit action"))?;
        let cell = match r.u8("audit cell flag")? {
            0 => None,
            1 => Some(wire::get_id(r, "audit cell")?),
            _ => return Err(r.invalid("audit cell flag")),
        };
        let k = r.len("audit count count", MAX_COUNTS)?;
        let mut counts: Vec<(CountKey, i64)> = Vec::with_capacity(k);
        for _ in 0..k {
            let key = CountKey::from_tag(r.u8("audit count key")?)
                .ok_or_else(|| r.invalid("audit count key"))?;
            let v = r.int("audit count")?;
            if v < 0 || counts.last().is_some_and(|(prev, _)| *prev >= key) {
                return Err(r.invalid("audit count"));
            }
            counts.push((key, v));
        }
        out.push(DeviceEntry {
            seq,
            at,
            action,
            cell,
            counts,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CELL: &str = "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f";

    fn two() -> Vec<DeviceEntry> {
        vec![
            DeviceEntry {
                seq: 1,
                at: 1_790_000_000,
                action: DeviceAction::BundleExport,
                cell: None,
                counts: vec![(CountKey::Docs, 3), (CountKey::Recipients, 2)],
            },
            DeviceEntry {
                seq: 4,
                at: -5,
                action: DeviceAction::ErasureFollowed,
                cell: Some(CELL.into()),
                counts: vec![(CountKey::Epoch, 2), (CountKey::Orders, 1)],
            },
        ]
    }

    fn encoded(entries: &[DeviceEntry]) -> Vec<u8> {
        let mut w = Writer::default();
        write_entries(&mut w, entries);
        w.into_inner()
    }

    fn read(bytes: &[u8]) -> Result<Vec<DeviceEntry>, WireError> {
        let mut r = Reader::new(bytes);
        let e = read_entries(&mut r)?;
        r.finish()?;
        Ok(e)
    }

    #[test]
    fn entries_round_trip_and_every_truncation_is_an_error() {
        let b = encoded(&two());
        assert_eq!(read(&b).unwrap(), two());
        for n in 0..b.len() {
            assert!(read(&b[..n]).is_err(), "prefix {n} read");
        }
    }

    #[test]
    fn out_of_order_unknown_or_negative_entries_are_refused() {
        let mut same_seq = two();
        same_seq[1].seq = 1;
        assert!(read(&encoded(&same_seq)).is_err());
        let mut zero = two();
        zero[0].seq = 0;
        assert!(read(&encoded(&zero)).is_err());
        let mut negative = two();
        negative[0].counts[0].1 = -1;
        assert!(read(&encoded(&negative)).is_err());
        let mut twice = two();
        twice[0].counts = vec![(CountKey::Docs, 1), (CountKey::Docs, 2)];
        assert!(read(&encoded(&twice)).is_err());
        let mut b = encoded(&two());
        // The first entry's action tag: count, seq, time (5 bytes), tag.
        let at = 1 + 1 + 5;
        b[at] = 99;
        assert!(read(&b).is_err());
        // More entries than the limit: refused before reading them.
        let mut w = Writer::default();
        w.uint(MAX_ENTRIES as u64 + 1);
        assert!(matches!(read(&w.buf), Err(WireError::TooLong { .. })));
    }

    #[test]
    fn the_hash_covers_every_column_and_their_boundaries() {
        let base = entry_hash(GENESIS, 1, "t", "office", "export", "ab", "{}");
        assert_ne!(
            base,
            entry_hash(GENESIS, 2, "t", "office", "export", "ab", "{}")
        );
        assert_ne!(
            base,
            entry_hash(GENESIS, 1, "t", "office", "export", "ab", "{\"n\":1}")
        );
        // "ab" + "{}" is not "a" + "b{}".
        assert_ne!(
            base,
            entry_hash(GENESIS, 1, "t", "office", "export", "a", "b{}")
        );
    }
}
