//! The envelope: the one message format of every sync path — a session over
//! HTTP to the hub, bytes carried by an app between two phones, and bundle
//! files. Versioned, length-checked, and signed by the sender's device key.
//!
//! Layout: `"SLNS" | version u8 | kind u8 | session [16] | challenge [16] |
//! round varint | time zigzag | sender (0 | 1 certificate | 2 certificate
//! reference [16]) | body | has-signature u8 [signature 64]`. The signature covers every byte before
//! it, so nothing in an envelope can be altered without detection.
//!
//! The opening messages of a session (Hello, Reply) and a bundle carry the
//! office-signed revocations the sender holds (version 2), so revocations
//! spread with sync, and (version 3) the office's erasure orders it holds
//! (see [`crate::erasure`]), so erasures reach every replica the same way;
//! spread with sync; each is checked against the receiver's pinned office
//! key, never trusted for being in a signed envelope.
//!
//! Version 4: a Hello also carries the initiator's own audit entries its
//! hub has not acknowledged ([`crate::audit::DeviceEntry`], at most
//! [`crate::audit::MAX_ENTRIES`]), and a Reply says up to which of the
//! initiator's entries the responder holds (a hub; a phone holds none).
//! Versions 2 and 3 still read, as carrying no entries and no
//! acknowledgement.

use crate::audit::{self, DeviceEntry};
use crate::erasure::{self, ErasureOrder};
use crate::identity::{self, Certificate, IdentityError, Revocation};
use crate::wire::{self, Reader, WireError, Writer};

const MAGIC: &[u8; 4] = b"SLNS";
pub const VERSION: u8 = 4;
/// The oldest version still read: version 2 carried no erasure orders,
/// versions 2 and 3 no audit entries.
const OLDEST_READ: u8 = 2;
/// Largest envelope accepted; a phone must not be made to allocate more.
pub const MAX_ENVELOPE_BYTES: usize = 64 << 20;
/// Most documents named in one envelope.
pub const MAX_ITEMS: usize = 4096;
/// Largest single document or sync message inside an envelope.
pub const MAX_ITEM_BYTES: usize = 32 << 20;
/// Most heads one document may name (concurrent branches not yet merged).
pub const MAX_HEADS: usize = 1024;
/// Longest reason a refusal may carry (every reason silin writes is a
/// sentence).
pub const MAX_REASON_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a silin sync message or bundle (bad magic)")]
    NotAnEnvelope,
    #[error("sync message version {0} is newer than this silin understands; update silin")]
    UnsupportedVersion(u8),
    #[error("sync message of {0} bytes is over the limit of {MAX_ENVELOPE_BYTES}")]
    TooLarge(usize),
    #[error("sync message is malformed: {0}")]
    Malformed(#[from] WireError),
    #[error("sync message carries a bad certificate: {0}")]
    Certificate(IdentityError),
}

impl From<IdentityError> for EnvelopeError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Malformed(w) => EnvelopeError::Malformed(w),
            other => EnvelopeError::Certificate(other),
        }
    }
}

/// Who sent an envelope. A peer that already holds the sender's
/// certificate (from an earlier session) is sent a 16-byte reference to it
/// instead of the whole certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// An unenrolled device.
    Anonymous,
    Certificate(Certificate),
    Known([u8; 16]),
}

/// The reference by which a peer that holds `cert` can find it.
pub fn certificate_ref(cert: &Certificate) -> [u8; 16] {
    use sha2::Digest;
    let d = sha2::Sha256::digest(cert.encode());
    let mut r = [0u8; 16];
    r.copy_from_slice(&d[..16]);
    r
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Hello = 1,
    Reply = 2,
    Round = 3,
    Bundle = 4,
    Done = 5,
}

/// One document's heads, shortened to 8 bytes of their hash: enough to
/// tell "same" from "different" without sending 32 bytes per head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocHeads {
    pub doc: String,
    pub heads_hash: [u8; 8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An automerge sync protocol message for a document both sides hold.
    Sync { doc: String, message: Vec<u8> },
    /// A whole document (automerge save format) the receiver lacks.
    Whole { doc: String, bytes: Vec<u8> },
    /// Changes in automerge's format: what the peer is known to lack, from
    /// the sync state kept with it (sessions and bundles).
    Changes { doc: String, bytes: Vec<u8> },
    /// "Send me your changes after these heads" (the sender's own heads,
    /// when it is known to hold nothing the receiver lacks).
    Since {
        doc: String,
        heads: Vec<automerge::ChangeHash>,
    },
    /// "Send me this document whole."
    Want { doc: String },
    /// "I refused what you sent for this document, for this reason" (the
    /// write rules, or a check of the merged document); nothing of it was
    /// kept, and the rest of the session went on.
    Refused { doc: String, reason: String },
}

impl Item {
    pub fn doc(&self) -> &str {
        match self {
            Item::Sync { doc, .. }
            | Item::Whole { doc, .. }
            | Item::Changes { doc, .. }
            | Item::Since { doc, .. }
            | Item::Want { doc }
            | Item::Refused { doc, .. } => doc,
        }
    }

    /// Payload bytes, for batching.
    pub fn size(&self) -> usize {
        match self {
            Item::Sync { message: b, .. }
            | Item::Whole { bytes: b, .. }
            | Item::Changes { bytes: b, .. } => b.len() + 20,
            Item::Want { .. } => 17,
            Item::Since { heads, .. } => 18 + 32 * heads.len(),
            Item::Refused { reason, .. } => 20 + reason.len(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Round 1 from the initiator: a digest of (doc id, heads) over the
    /// documents in its scope.
    /// `known_peer` references the responder's certificate when the
    /// initiator holds it, so the responder need not send it again.
    Hello {
        digest: [u8; 32],
        docs: u32,
        known_peer: Option<[u8; 16]>,
        /// The office's revocations the initiator holds.
        revocations: Vec<Revocation>,
        /// The office's erasure orders the initiator holds.
        orders: Vec<ErasureOrder>,
        /// The initiator's own audit entries not yet acknowledged by its
        /// hub (version 4), oldest first.
        audit: Vec<DeviceEntry>,
    },
    /// The responder's answer: `equal` ends the session; otherwise the
    /// short heads of every document it holds in the shared scope.
    Reply {
        equal: bool,
        heads: Vec<DocHeads>,
        /// The office's revocations the responder holds.
        revocations: Vec<Revocation>,
        /// The office's erasure orders the responder holds.
        orders: Vec<ErasureOrder>,
        /// Up to which sequence number the responder holds the
        /// initiator's audit entries (version 4; a hub that took them),
        /// `None` when it keeps none.
        audit_held: Option<u64>,
    },
    /// Later rounds, either way.
    Round { items: Vec<Item> },
    /// A bundle file's content, and the office's revocations its exporter
    /// holds.
    Bundle {
        items: Vec<Item>,
        revocations: Vec<Revocation>,
        orders: Vec<ErasureOrder>,
    },
    /// The initiator's last word: it has nothing left to send. Over an
    /// app-carried link it is the only way the responder learns the
    /// session is over.
    Done,
}

impl Body {
    /// The revocations the message passes on (none for later rounds).
    pub fn revocations(&self) -> &[Revocation] {
        match self {
            Body::Hello { revocations, .. }
            | Body::Reply { revocations, .. }
            | Body::Bundle { revocations, .. } => revocations,
            Body::Round { .. } | Body::Done => &[],
        }
    }

    /// The erasure orders the message passes on (none for later rounds).
    pub fn orders(&self) -> &[ErasureOrder] {
        match self {
            Body::Hello { orders, .. }
            | Body::Reply { orders, .. }
            | Body::Bundle { orders, .. } => orders,
            Body::Round { .. } | Body::Done => &[],
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Body::Hello { .. } => Kind::Hello,
            Body::Reply { .. } => Kind::Reply,
            Body::Round { .. } => Kind::Round,
            Body::Bundle { .. } => Kind::Bundle,
            Body::Done => Kind::Done,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Chosen at random by the initiator (or the bundle's exporter).
    pub session: [u8; 16],
    /// Chosen at random by the responder in its Reply; echoed in every later
    /// message so a recorded message cannot be replayed into a new session.
    pub challenge: [u8; 16],
    pub round: u32,
    /// Sender's clock, unix seconds.
    pub time: i64,
    pub sender: Sender,
    pub body: Body,
    pub signature: Option<[u8; 64]>,
}

impl Envelope {
    /// The bytes the signature covers.
    pub fn signed_part(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(256);
        w.raw(MAGIC).u8(VERSION).u8(self.body.kind() as u8);
        w.raw(&self.session).raw(&self.challenge);
        w.uint(u64::from(self.round)).int(self.time);
        match &self.sender {
            Sender::Anonymous => {
                w.u8(0);
            }
            Sender::Certificate(c) => {
                w.u8(1).raw(&c.encode());
            }
            Sender::Known(r) => {
                w.u8(2).raw(r);
            }
        }
        write_body(&mut w, &self.body);
        w.into_inner()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.signed_part();
        match &self.signature {
            Some(s) => {
                out.push(1);
                out.extend_from_slice(s);
            }
            None => out.push(0),
        }
        out
    }

    /// Decodes and bounds-checks an envelope. Checks no signature: that
    /// needs the trust anchor, see `sync::verify`.
    pub fn decode(bytes: &[u8]) -> Result<(Envelope, usize), EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        if bytes.len() < 4 || &bytes[..4] != MAGIC {
            return Err(EnvelopeError::NotAnEnvelope);
        }
        let mut r = Reader::new(&bytes[4..]);
        let version = r.u8("version")?;
        if !(OLDEST_READ..=VERSION).contains(&version) {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        let kind = r.u8("kind")?;
        let session = r.array::<16>("session")?;
        let challenge = r.array::<16>("challenge")?;
        let round = u32::try_from(r.uint("round")?).map_err(|_| r.invalid("round"))?;
        let time = r.int("time")?;
        let sender = match r.u8("sender flag")? {
            0 => Sender::Anonymous,
            1 => Sender::Certificate(Certificate::read(&mut r)?),
            2 => Sender::Known(r.array::<16>("certificate reference")?),
            _ => return Err(r.invalid("sender flag").into()),
        };
        let body = read_body(&mut r, kind, version)?;
        let signed_len = 4 + r.pos();
        let signature = match r.u8("signature flag")? {
            0 => None,
            1 => Some(r.array::<64>("signature")?),
            _ => return Err(r.invalid("signature flag").into()),
        };
        r.finish()?;
        Ok((
            Envelope {
                session,
                challenge,
                round,
                time,
                sender,
                body,
                signature,
            },
            signed_len,
        ))
    }
}

/// Decodes an envelope (see [`Envelope::decode`]).
pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    Envelope::decode(bytes).map(|(e, _)| e)
}

pub(crate) fn write_items(w: &mut Writer, items: &[Item]) {
    w.uint(items.len() as u64);
    for it in items {
        let (tag, payload): (u8, Option<&[u8]>) = match it {
            Item::Sync { message, .. } => (1, Some(message)),
            Item::Whole { bytes, .. } => (2, Some(bytes)),
            Item::Changes { bytes, .. } => (3, Some(bytes)),
            Item::Want { .. } => (4, None),
            Item::Since { .. } => (5, None),
            Item::Refused { reason, .. } => (6, Some(reason.as_bytes())),
        };
        w.u8(tag);
        wire::put_id(w, it.doc());
        if let Some(p) = payload {
            w.bytes(p);
        }
        if let Item::Since { heads, .. } = it {
            w.uint(heads.len() as u64);
            for h in heads {
                w.raw(&h.0);
            }
        }
    }
}

pub(crate) fn read_items(r: &mut Reader<'_>) -> Result<Vec<Item>, WireError> {
    let n = r.len("item count", MAX_ITEMS)?;
    let mut items = Vec::with_capacity(n.min(256));
    for _ in 0..n {
        let tag = r.u8("item kind")?;
        let doc = wire::get_id(r, "document id")?;
        let mut payload = || -> Result<Vec<u8>, WireError> {
            Ok(r.bytes("item payload", MAX_ITEM_BYTES)?.to_vec())
        };
        items.push(match tag {
            1 => Item::Sync {
                doc,
                message: payload()?,
            },
            2 => Item::Whole {
                doc,
                bytes: payload()?,
            },
            3 => Item::Changes {
                doc,
                bytes: payload()?,
            },
            4 => Item::Want { doc },
            5 => {
                let n = r.len("heads count", MAX_HEADS)?;
                let mut heads = Vec::with_capacity(n);
                for _ in 0..n {
                    heads.push(automerge::ChangeHash(r.array::<32>("head")?));
                }
                Item::Since { doc, heads }
            }
            6 => {
                let reason = r.str("refusal reason", MAX_REASON_BYTES)?.to_string();
                Item::Refused { doc, reason }
            }
            _ => return Err(r.invalid("item kind")),
        });
    }
    Ok(items)
}

fn write_body(w: &mut Writer, body: &Body) {
    match body {
        Body::Hello {
            digest,
            docs,
            known_peer,
            revocations,
            orders,
            audit,
        } => {
            w.raw(digest).uint(u64::from(*docs));
            match known_peer {
                Some(r) => w.u8(1).raw(r),
                None => w.u8(0),
            };
            identity::write_revocations(w, revocations);
            erasure::write_orders(w, orders);
            audit::write_entries(w, audit);
        }
        Body::Reply {
            equal,
            heads,
            revocations,
            orders,
            audit_held,
        } => {
            w.u8(u8::from(*equal)).uint(heads.len() as u64);
            for h in heads {
                wire::put_id(w, &h.doc);
                w.raw(&h.heads_hash);
            }
            identity::write_revocations(w, revocations);
            erasure::write_orders(w, orders);
            match audit_held {
                Some(n) => w.u8(1).uint(*n),
                None => w.u8(0),
            };
        }
        Body::Round { items } => write_items(w, items),
        Body::Bundle {
            items,
            revocations,
            orders,
        } => {
            write_items(w, items);
            identity::write_revocations(w, revocations);
            erasure::write_orders(w, orders);
        }
        Body::Done => {}
    }
}

fn read_body(r: &mut Reader<'_>, kind: u8, version: u8) -> Result<Body, EnvelopeError> {
    let orders = |r: &mut Reader<'_>| -> Result<Vec<ErasureOrder>, WireError> {
        if version >= 3 {
            erasure::read_orders(r)
        } else {
            Ok(Vec::new())
        }
    };
    Ok(match kind {
        1 => Body::Hello {
            digest: r.array::<32>("digest")?,
            docs: u32::try_from(r.uint("doc count")?).map_err(|_| r.invalid("doc count"))?,
            known_peer: match r.u8("known peer flag")? {
                0 => None,
                1 => Some(r.array::<16>("known peer")?),
                _ => return Err(r.invalid("known peer flag").into()),
            },
            revocations: identity::read_revocations(r)?,
            orders: orders(r)?,
            audit: if version >= 4 {
                audit::read_entries(r)?
            } else {
                Vec::new()
            },
        },
        2 => {
            let equal = match r.u8("equal flag")? {
                0 => false,
                1 => true,
                _ => return Err(r.invalid("equal flag").into()),
            };
            let n = r.len("heads count", super::MAX_SCOPE_DOCS)?;
            let mut heads = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                heads.push(DocHeads {
                    doc: wire::get_id(r, "document id")?,
                    heads_hash: r.array::<8>("heads hash")?,
                });
            }
            Body::Reply {
                equal,
                heads,
                revocations: identity::read_revocations(r)?,
                orders: orders(r)?,
                audit_held: if version < 4 {
                    None
                } else {
                    match r.u8("audit held flag")? {
                        0 => None,
                        1 => Some(r.uint("audit held")?),
                        _ => return Err(r.invalid("audit held flag").into()),
                    }
                },
            }
        }
        3 => Body::Round {
            items: read_items(r)?,
        },
        4 => Body::Bundle {
            items: read_items(r)?,
            revocations: identity::read_revocations(r)?,
            orders: orders(r)?,
        },
        5 => Body::Done,
        _ => return Err(r.invalid("envelope kind").into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f";

    fn samples() -> Vec<Envelope> {
        let base = Envelope {
            session: [1; 16],
            challenge: [2; 16],
            round: 3,
            time: 1_790_000_000,
            sender: Sender::Known([3; 16]),
            body: Body::Hello {
                digest: [4; 32],
                docs: 120,
                known_peer: Some([7; 16]),
                revocations: vec![Revocation {
                    device_id: DOC.into(),
                    at: 1_789_000_000,
                    signature: [9; 64],
                }],
                orders: vec![crate::erasure::ErasureOrder {
                    body: crate::erasure::Unsigned {
                        cell: DOC.into(),
                        epoch: 2,
                        subjects: vec![crate::erasure::Subject::Member(DOC.into())],
                        cut: vec![automerge::ChangeHash([1; 32])],
                        clock: vec![(vec![2; 16], 9)],
                        root: automerge::ChangeHash([3; 32]),
                        reason: "申请 17".into(),
                        issued_at: 1_789_000_000,
                    },
                    signature: [4; 64],
                }],
                audit: vec![crate::audit::DeviceEntry {
                    seq: 7,
                    at: 1_789_000_001,
                    action: crate::audit::DeviceAction::BundleExport,
                    cell: Some(DOC.into()),
                    counts: vec![(crate::audit::CountKey::Docs, 1)],
                }],
            },
            signature: Some([5; 64]),
        };
        let bodies = vec![
            base.body.clone(),
            Body::Reply {
                equal: false,
                heads: vec![DocHeads {
                    doc: DOC.into(),
                    heads_hash: [6; 8],
                }],
                revocations: Vec::new(),
                orders: Vec::new(),
                audit_held: Some(7),
            },
            Body::Round {
                items: vec![
                    Item::Sync {
                        doc: DOC.into(),
                        message: vec![0x42, 0],
                    },
                    Item::Want { doc: DOC.into() },
                    Item::Since {
                        doc: DOC.into(),
                        heads: vec![automerge::ChangeHash([8; 32])],
                    },
                ],
            },
            Body::Bundle {
                items: vec![
                    Item::Whole {
                        doc: DOC.into(),
                        bytes: vec![1, 2, 3],
                    },
                    Item::Changes {
                        doc: DOC.into(),
                        bytes: vec![],
                    },
                ],
                revocations: vec![Revocation {
                    device_id: DOC.into(),
                    at: -1,
                    signature: [1; 64],
                }],
                orders: Vec::new(),
            },
            Body::Done,
        ];
        bodies
            .into_iter()
            .map(|body| Envelope {
                body,
                ..base.clone()
            })
            .collect()
    }

    #[test]
    fn every_kind_round_trips() {
        for e in samples() {
            assert_eq!(decode(&e.encode()).unwrap(), e);
        }
    }

    #[test]
    fn every_truncation_and_extension_is_a_typed_error() {
        for e in samples() {
            let b = e.encode();
            for n in 0..b.len() {
                assert!(decode(&b[..n]).is_err(), "prefix {n} decoded");
            }
            let mut long = b.clone();
            long.push(0);
            assert!(matches!(
                decode(&long),
                Err(EnvelopeError::Malformed(WireError::Trailing(1)))
            ));
        }
        let mut v = samples()[0].encode();
        v[4] = 99;
        assert_eq!(decode(&v), Err(EnvelopeError::UnsupportedVersion(99)));
        assert_eq!(decode(b"SILINBDL"), Err(EnvelopeError::NotAnEnvelope));
    }

    #[test]
    fn a_version_3_opening_still_reads_with_no_audit_entries() {
        let mut e = samples()[0].clone();
        if let Body::Hello { audit, .. } = &mut e.body {
            audit.clear();
        }
        e.signature = None;
        // Version 4 ends the Hello with an empty entry list (one 0 byte)
        // before the signature flag; version 3 had neither.
        let mut b = e.encode();
        assert_eq!(b[b.len() - 2..], [0, 0]);
        b.remove(b.len() - 2);
        b[4] = 3;
        assert_eq!(decode(&b).unwrap(), e);
        let mut reply = samples()[1].clone();
        if let Body::Reply { audit_held, .. } = &mut reply.body {
            *audit_held = None;
        }
        reply.signature = None;
        let mut b = reply.encode();
        assert_eq!(b[b.len() - 2..], [0, 0]);
        b.remove(b.len() - 2);
        b[4] = 3;
        assert_eq!(decode(&b).unwrap(), reply);
    }

    #[test]
    fn oversized_counts_are_refused_before_allocating() {
        let mut w = Writer::default();
        w.raw(MAGIC).u8(VERSION).u8(Kind::Round as u8);
        w.raw(&[0; 32]).uint(0).int(0).u8(0);
        w.uint(u64::MAX >> 1);
        assert!(matches!(
            decode(&w.buf),
            Err(EnvelopeError::Malformed(WireError::TooLong { .. }))
        ));
    }
}
