//! Erasure orders: the office's signed word that a member, a household, some
//! records or a whole cell must be gone from every replica, history and all.
//!
//! A CRDT keeps every value ever written in its history, so nothing can be
//! deleted from a cell document in place. An order instead starts a new
//! **epoch** of the document (see doc/PRIVACY.md):
//!
//! - The office cuts the current lineage at its heads (`cut`) and builds the
//!   surviving state into a fresh document ([`crate::cell::CellDoc::next_epoch`]):
//!   the fixed layout change, then one change by an actor derived from the
//!   cell and the epoch, at the order's time, written in key order. The
//!   same state gives the same bytes on every device, so the order names the
//!   new lineage by that change's hash (`root`).
//! - A replica that holds the cut rebuilds the epoch itself and checks the
//!   hash; one that does not asks a peer for the new document whole.
//! - Either way, its own changes the office never saw (those after `clock`,
//!   the cut's last sequence number per actor) are replayed onto the new
//!   epoch, except where they touch what was erased. Then the old lineage —
//!   snapshot, chunks, sync states — is deleted and the file rewritten so
//!   that no erased byte remains (see [`crate::store`]).
//! - Orders are kept, without the erased values (ids only), and travel in
//!   every session and bundle, so a device offline for months still learns
//!   of them. Each is checked against the office key the receiver pinned.

use crate::identity::{verify_signature, KeyPair};
use crate::wire::{self, Reader, WireError, Writer};
use automerge::ChangeHash;
use std::collections::BTreeSet;

const ORDER_MAGIC: &[u8; 4] = b"SLER";
const VERSION: u8 = 1;
/// Most subjects in one order (a whole village's members fit).
pub const MAX_SUBJECTS: usize = 4096;
/// Most orders one message or bundle passes on.
pub const MAX_ORDERS: usize = 4096;
/// Most actors a cut names: devices that ever wrote to one cell.
pub const MAX_CLOCK: usize = 1024;
/// Longest reason, in characters. It is kept for good: a reference to the
/// request, never the person's details.
pub const MAX_REASON_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErasureError {
    #[error("erasure order is malformed: {0}")]
    Malformed(#[from] WireError),
    #[error(
        "erasure order for cell {cell} is not signed by this township's office; it was ignored"
    )]
    Forged { cell: String },
    #[error("nothing to erase: {0}")]
    NothingNamed(String),
    #[error("the erasure reason is over {MAX_REASON_CHARS} characters; give a reference to the request, not the details")]
    ReasonTooLong,
    #[error("only the township office can order an erasure (this store holds no office key)")]
    NotOffice,
    #[error("cell {cell}'s epoch {epoch} rebuilt here does not match the office's; waiting for the new document from a peer")]
    Mismatch { cell: String, epoch: u32 },
}

/// A record collection that retention or an order may name record by record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collection {
    Visit,
    Task,
    Arrival,
    Dose,
    Test,
    Errand,
    Notice,
}

impl Collection {
    pub const ALL: [Collection; 7] = [
        Collection::Visit,
        Collection::Task,
        Collection::Arrival,
        Collection::Dose,
        Collection::Test,
        Collection::Errand,
        Collection::Notice,
    ];

    /// The document's root key for it.
    pub fn key(self) -> &'static str {
        use crate::cell::*;
        match self {
            Collection::Visit => VISITS,
            Collection::Task => TASKS,
            Collection::Arrival => ARRIVALS,
            Collection::Dose => DOSES,
            Collection::Test => TESTS,
            Collection::Errand => ERRANDS,
            Collection::Notice => NOTICES,
        }
    }

    /// Its name on the command line: `visit`, `task`, …
    pub fn name(self) -> &'static str {
        match self {
            Collection::Visit => "visit",
            Collection::Task => "task",
            Collection::Arrival => "arrival",
            Collection::Dose => "dose",
            Collection::Test => "test",
            Collection::Errand => "errand",
            Collection::Notice => "notice",
        }
    }

    pub fn parse(s: &str) -> Option<Collection> {
        Collection::ALL.into_iter().find(|c| c.name() == s)
    }

    fn tag(self) -> u8 {
        Collection::ALL.iter().position(|c| *c == self).unwrap_or(0) as u8
    }
}

/// A part of a member's own record that retention may let go while the
/// member stays: what they told of a journey, their home monitoring, their
/// last test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberPart {
    Arrival,
    Monitoring,
    Test,
}

impl MemberPart {
    pub const ALL: [MemberPart; 3] = [
        MemberPart::Arrival,
        MemberPart::Monitoring,
        MemberPart::Test,
    ];

    /// The member map's key for it.
    pub fn key(self) -> &'static str {
        match self {
            MemberPart::Arrival => "arrival",
            MemberPart::Monitoring => "monitoring",
            MemberPart::Test => "test",
        }
    }

    fn tag(self) -> u8 {
        MemberPart::ALL.iter().position(|p| *p == self).unwrap_or(0) as u8
    }
}

/// What an order erases.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// Everything in the cell but its id, name and region.
    Cell,
    /// A member and every record about them.
    Member(String),
    /// A household, its members, and every record about any of them.
    Household(String),
    /// One record (retention: a health check past its keeping time).
    Record(Collection, String),
    /// A part of a member's record (retention: monitoring long over).
    MemberPart(String, MemberPart),
}

impl Subject {
    fn write(&self, w: &mut Writer) {
        match self {
            Subject::Cell => {
                w.u8(0);
            }
            Subject::Member(id) => {
                w.u8(1);
                wire::put_id(w, id);
            }
            Subject::Household(id) => {
                w.u8(2);
                wire::put_id(w, id);
            }
            Subject::Record(c, id) => {
                w.u8(3).u8(c.tag());
                wire::put_id(w, id);
            }
            Subject::MemberPart(id, part) => {
                w.u8(4).u8(part.tag());
                wire::put_id(w, id);
            }
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Subject, WireError> {
        Ok(match r.u8("erasure subject")? {
            0 => Subject::Cell,
            1 => Subject::Member(wire::get_id(r, "erased member")?),
            2 => Subject::Household(wire::get_id(r, "erased household")?),
            3 => {
                let tag = r.u8("erased record's collection")?;
                let c = *Collection::ALL
                    .get(tag as usize)
                    .ok_or_else(|| r.invalid("erased record's collection"))?;
                Subject::Record(c, wire::get_id(r, "erased record")?)
            }
            4 => {
                let tag = r.u8("erased part of a member")?;
                let part = *MemberPart::ALL
                    .get(tag as usize)
                    .ok_or_else(|| r.invalid("erased part of a member"))?;
                Subject::MemberPart(wire::get_id(r, "member of an erased part")?, part)
            }
            _ => return Err(r.invalid("erasure subject")),
        })
    }
}

/// What an order says: everything the office signs. [`ErasureOrder::sign`]
/// makes it an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsigned {
    pub cell: String,
    /// The epoch this order starts (the first order of a cell starts 1).
    pub epoch: u32,
    pub subjects: Vec<Subject>,
    /// The old lineage's heads the office cut at.
    pub cut: Vec<ChangeHash>,
    /// The cut's last sequence number per actor: a replica's own changes
    /// after its entry are the ones to replay onto the new epoch.
    pub clock: Vec<(Vec<u8>, u64)>,
    /// The new epoch's change, the same on every device that rebuilds it.
    pub root: ChangeHash,
    pub reason: String,
    /// Unix seconds; also the new epoch change's time.
    pub issued_at: i64,
}

impl Unsigned {
    /// The signed bytes: the order's encoding up to its signature.
    fn write(&self) -> Writer {
        let mut w = Writer::with_capacity(128 + self.subjects.len() * 18);
        w.raw(ORDER_MAGIC).u8(VERSION);
        wire::put_id(&mut w, &self.cell);
        w.uint(self.epoch as u64);
        w.uint(self.subjects.len() as u64);
        for s in &self.subjects {
            s.write(&mut w);
        }
        w.uint(self.cut.len() as u64);
        for h in &self.cut {
            w.raw(&h.0);
        }
        w.uint(self.clock.len() as u64);
        for (actor, seq) in &self.clock {
            w.bytes(actor).uint(*seq);
        }
        w.raw(&self.root.0).str(&self.reason).int(self.issued_at);
        w
    }

    /// Reads what [`Unsigned::write`] wrote.
    fn read(r: &mut Reader<'_>) -> Result<Unsigned, WireError> {
        if r.raw(4, "erasure order magic")? != ORDER_MAGIC {
            return Err(r.invalid("erasure order magic"));
        }
        if r.u8("erasure order version")? != VERSION {
            return Err(r.invalid("erasure order version"));
        }
        let cell = wire::get_id(r, "erased cell")?;
        let epoch = u32::try_from(r.uint("epoch")?).map_err(|_| r.invalid("epoch"))?;
        if epoch == 0 {
            return Err(r.invalid("epoch"));
        }
        let n = r.len("erasure subjects", MAX_SUBJECTS)?;
        let mut subjects = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            subjects.push(Subject::read(r)?);
        }
        let n = r.len("cut heads", crate::sync::envelope::MAX_HEADS)?;
        let mut cut = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            cut.push(ChangeHash(r.array::<32>("cut head")?));
        }
        let n = r.len("cut clock", MAX_CLOCK)?;
        let mut clock = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let actor = r.bytes("cut actor", 32)?.to_vec();
            clock.push((actor, r.uint("cut sequence")?));
        }
        let root = ChangeHash(r.array::<32>("epoch root")?);
        let reason = r.str("erasure reason", MAX_REASON_CHARS * 4)?.to_string();
        let issued_at = r.int("erasure time")?;
        Ok(Unsigned {
            cell,
            epoch,
            subjects,
            cut,
            clock,
            root,
            reason,
            issued_at,
        })
    }
}

/// The office's order: what it says, and the office's signature over it.
/// Its fields read through to the body (`order.cell`, `order.epoch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureOrder {
    pub body: Unsigned,
    pub signature: [u8; 64],
}

impl std::ops::Deref for ErasureOrder {
    type Target = Unsigned;

    fn deref(&self) -> &Unsigned {
        &self.body
    }
}

impl ErasureOrder {
    pub fn sign(body: Unsigned, office: &KeyPair) -> ErasureOrder {
        let signature = office.sign(&body.write().buf);
        ErasureOrder { body, signature }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = self.body.write();
        w.raw(&self.signature);
        w.into_inner()
    }

    pub fn decode(bytes: &[u8]) -> Result<ErasureOrder, ErasureError> {
        let mut r = Reader::new(bytes);
        let o = Self::read(&mut r)?;
        r.finish()?;
        Ok(o)
    }

    /// Reads one order from inside a larger message. Checks no signature:
    /// see [`ErasureOrder::signed_by`].
    pub fn read(r: &mut Reader<'_>) -> Result<ErasureOrder, WireError> {
        let body = Unsigned::read(r)?;
        let signature = r.array::<64>("erasure signature")?;
        Ok(ErasureOrder { body, signature })
    }

    /// Whether the office whose public key is `office` signed it.
    pub fn signed_by(&self, office: &[u8; 32]) -> bool {
        verify_signature(office, &self.body.write().buf, &self.signature)
    }

    /// The cut's last sequence number of `actor` (0: none of its changes).
    pub fn cut_seq(&self, actor: &[u8]) -> u64 {
        self.clock
            .iter()
            .find(|(a, _)| a.as_slice() == actor)
            .map_or(0, |(_, s)| *s)
    }
}

/// Writes a list of orders (a count, then each).
pub fn write_orders(w: &mut Writer, list: &[ErasureOrder]) {
    w.uint(list.len() as u64);
    for o in list {
        w.raw(&o.encode());
    }
}

/// Reads a list written by [`write_orders`], none of them checked yet.
pub fn read_orders(r: &mut Reader<'_>) -> Result<Vec<ErasureOrder>, WireError> {
    let n = r.len("erasure order count", MAX_ORDERS)?;
    let mut out = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        out.push(ErasureOrder::read(r)?);
    }
    Ok(out)
}

/// What is gone, as the rebuild and the replay of a device's own changes
/// test it: a record goes when it is named, when its id is an erased id, or
/// when one of its own fields holds an erased id (a visit's member, an
/// errand's household); anywhere, a map entry keyed by an erased id goes (a
/// household's mark on a notice). Ids are UUIDs, so an id matches nothing
/// but what it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    pub whole_cell: bool,
    pub ids: BTreeSet<String>,
    /// (member id, key of the part): a member's part let go.
    pub parts: BTreeSet<(String, String)>,
}

impl Erased {
    /// The subjects of `orders`, households' members not yet added (see
    /// [`crate::cell::CellDoc::erased_members`]).
    pub fn of<'a>(orders: impl IntoIterator<Item = &'a ErasureOrder>) -> Erased {
        let mut e = Erased::default();
        for o in orders {
            e.add(&o.subjects);
        }
        e
    }

    /// Adds `subjects` to what is erased.
    pub fn add(&mut self, subjects: &[Subject]) {
        for s in subjects {
            match s {
                Subject::Cell => self.whole_cell = true,
                Subject::Member(id) | Subject::Household(id) | Subject::Record(_, id) => {
                    self.ids.insert(id.clone());
                }
                Subject::MemberPart(id, part) => {
                    self.parts.insert((id.clone(), part.key().to_string()));
                }
            }
        }
    }

    /// Whether the entry `key` of the object found under `owner` (its key
    /// in its parent) is a member's part let go.
    pub fn drops(&self, owner: &str, key: &str) -> bool {
        !self.parts.is_empty() && self.parts.contains(&(owner.to_string(), key.to_string()))
    }

    pub fn holds(&self, s: &str) -> bool {
        self.ids.contains(s)
    }
}

/// How long the office keeps health and travel records once they are no
/// longer needed: what `silin hub retain` erases, cell by cell, by the
/// same orders as any erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Health checks (and test results) older than this many days.
    pub checks_days: i64,
    /// Arrival records this many days after their home monitoring ended
    /// (or after the arrival, when there was none).
    pub monitoring_days: i64,
}

impl Retention {
    /// A policy keeps records 0 days or more.
    pub fn check(&self) -> Result<(), crate::model::ValidationError> {
        if self.checks_days < 0 || self.monitoring_days < 0 {
            return Err(crate::model::ValidationError::new(
                "retention",
                "records are kept 0 days or more",
            ));
        }
        Ok(())
    }

    /// The records of `doc` the policy lets go on `today`.
    pub fn subjects(
        &self,
        doc: &crate::cell::CellDoc,
        today: chrono::NaiveDate,
    ) -> crate::Result<Vec<Subject>> {
        let before = |days: i64| today - chrono::Duration::days(days.max(0));
        let checks_before = before(self.checks_days).to_string();
        let mut out = Vec::new();
        for v in doc.visits()? {
            if v.kind == crate::model::VisitKind::HealthCheck && v.day() < checks_before.as_str() {
                out.push(Subject::Record(Collection::Visit, v.id));
            }
        }
        for t in doc.tests() {
            if t.date < before(self.checks_days) {
                out.push(Subject::Record(Collection::Test, t.id));
            }
        }
        for a in doc.arrivals() {
            if a.until.unwrap_or(a.date) < before(self.monitoring_days) {
                out.push(Subject::Record(Collection::Arrival, a.id));
            }
        }
        // What a member's own record says of a journey and its monitoring,
        // once that is over; of their last test, once past its time.
        for h in doc.households()? {
            for m in h.members {
                let ended = m.monitoring.until.or(m.arrival.date);
                let mut parts = Vec::new();
                if ended.is_some_and(|d| d < before(self.monitoring_days)) {
                    parts.extend([MemberPart::Arrival, MemberPart::Monitoring]);
                }
                if m.test.date.is_some_and(|d| d < before(self.checks_days)) {
                    parts.push(MemberPart::Test);
                }
                for part in parts {
                    if doc.holds_member_part(&m.id, part.key()) {
                        out.push(Subject::MemberPart(m.id.clone(), part));
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(office: &KeyPair) -> ErasureOrder {
        ErasureOrder::sign(
            Unsigned {
                cell: "0190a0a0-0000-7000-8000-000000000001".into(),
                epoch: 1,
                subjects: vec![
                    Subject::Member("0190a0a0-0000-7000-8000-000000000002".into()),
                    Subject::Record(
                        Collection::Visit,
                        "0190a0a0-0000-7000-8000-000000000003".into(),
                    ),
                    Subject::Cell,
                    Subject::MemberPart(
                        "0190a0a0-0000-7000-8000-000000000004".into(),
                        MemberPart::Monitoring,
                    ),
                ],
                cut: vec![ChangeHash([3; 32])],
                clock: vec![(vec![1; 16], 7)],
                root: ChangeHash([4; 32]),
                reason: "request 2026-17".into(),
                issued_at: 1_700_000_000,
            },
            office,
        )
    }

    #[test]
    fn an_order_round_trips_and_its_signature_covers_every_field() {
        let office = KeyPair::from_seed(&[9; 32]);
        let o = order(&office);
        let bytes = o.encode();
        assert_eq!(ErasureOrder::decode(&bytes).unwrap(), o);
        assert!(o.signed_by(&office.public_key()));
        assert!(!o.signed_by(&KeyPair::from_seed(&[8; 32]).public_key()));
        // Any flipped byte: malformed, or no longer the office's.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            if let Ok(d) = ErasureOrder::decode(&b) {
                assert!(!d.signed_by(&office.public_key()), "byte {i}");
            }
        }
        for n in 0..bytes.len() {
            assert!(ErasureOrder::decode(&bytes[..n]).is_err());
        }
        assert_eq!(o.cut_seq(&[1; 16]), 7);
        assert_eq!(o.cut_seq(&[2; 16]), 0);
    }

    /// Orders are kept in stores and travel in envelopes and bundles: their
    /// bytes (signature included, ed25519 being deterministic) stay as they
    /// were first written.
    #[test]
    fn an_orders_bytes_stay_as_first_written() {
        let o = order(&KeyPair::from_seed(&[9; 32]));
        let expected = [
            "534c4552010190a0a00000700080000000000000010104010190a0a000007000",
            "800000000000000203000190a0a00000700080000000000000030004010190a0",
            "a000007000800000000000000401030303030303030303030303030303030303",
            "0303030303030303030303030303011001010101010101010101010101010101",
            "0704040404040404040404040404040404040404040404040404040404040404",
            "040f7265717565737420323032362d313780c49fd50cfb1aa831853a6736ecaa",
            "a72dd2639c43356a0a96f8fbac1bde997e6432dfff26e8d5b3782e79861892a8",
            "f8372aebea11a9e7876d25f284814347ad5938bac301",
        ]
        .concat();
        assert_eq!(hex::encode(o.encode()), expected);
    }

    #[test]
    fn erased_ids_come_from_every_subject() {
        let o = order(&KeyPair::from_seed(&[9; 32]));
        let e = Erased::of([&o]);
        assert!(e.whole_cell);
        assert!(e.holds("0190a0a0-0000-7000-8000-000000000002"));
        assert!(e.holds("0190a0a0-0000-7000-8000-000000000003"));
        assert!(e.drops("0190a0a0-0000-7000-8000-000000000004", "monitoring"));
        assert!(!e.drops("0190a0a0-0000-7000-8000-000000000004", "arrival"));
        assert!(!e.holds("0190a0a0-0000-7000-8000-000000000004"));
    }
}
