//! Sync: bring two stores' cells to the same state over any link.
//!
//! A [`Session`] turns bytes in into bytes out; it knows nothing of the
//! transport (HTTP to the hub, Bluetooth between phones carried by the app,
//! or a bundle file). The initiator opens with a digest of (doc id, heads)
//! over its scope; equal digests end the session after one round trip.
//! Otherwise the responder lists short per-document heads, and the documents
//! that differ run automerge's sync protocol, batched one envelope per round
//! trip; documents one side lacks travel whole. automerge's sync state per
//! (peer, document) is kept in the store so the next session starts from
//! what both sides are known to share.
//!
//! Every envelope is checked whole before anything in it is applied: its
//! format and limits, the sender's certificate against the pinned office key,
//! the signature proving the sender holds its key, the session and challenge
//! it must echo, and the scope of every document it names.
//!
//! Revocations spread with sync: the opening messages and every bundle
//! carry the office-signed revocations the sender holds; the receiver
//! checks each against its pinned office key, keeps the new ones, and only
//! then looks whether the sender itself is revoked. A list holding one
//! revocation the office did not sign refuses the whole message.
//!
//! A device's own audit entries ([`crate::audit`]) ride up in its opening
//! message: the responder, if it is a hub that keeps them
//! ([`Replica::take_device_audit`]), appends them under the device of the
//! verified certificate and says in its reply up to which it holds them;
//! the initiator marks those sent, and only when the reply comes from an
//! office or county certificate. An initiator that knows its peer to be a
//! lead's or grid worker's phone sends none; a phone that is sent some
//! keeps none and acknowledges none. Bundles carry none.

pub mod bundle;
pub mod envelope;
pub mod seal;
mod suspend;

use crate::erasure::ErasureOrder;
use crate::guard;
use crate::identity::{Certificate, IdentityError, KeyPair, Revocation, Scope, CLOCK_SKEW_SECS};
use crate::replica::Replica;
use crate::store::{heads_hash, DocHeadsRow, Store};
use automerge::sync::{Message, State};
use automerge::ChangeHash;
use envelope::{certificate_ref, Body, DocHeads, Envelope, EnvelopeError, Item, Sender};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Most documents one scope may name in a Reply.
pub const MAX_SCOPE_DOCS: usize = 100_000;
/// A round carries at most this many documents' items and about this many
/// bytes; the rest wait for the next round trip.
pub const BATCH_DOCS: usize = 256;
pub const BATCH_BYTES: usize = 8 << 20;
/// A session that has not settled after this many round trips is cut.
pub const MAX_ROUNDS: u32 = 10_000;
/// Most bytes of a peer's changes a session keeps waiting for their
/// dependencies; past it the cell is refused for the session.
pub const MAX_PARKED_BYTES: usize = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("this session was seen before: a recorded sync was replayed; refused")]
    Replayed,
    #[error("the peer's clock ({peer}) is more than a day from this device's ({ours}); set the clock and sync again")]
    ClockSkew { peer: i64, ours: i64 },
    #[error("message does not belong to this session (wrong session, challenge or round); start a new sync")]
    WrongSession,
    #[error("unexpected {0} message at this point of the session; start a new sync")]
    Unexpected(&'static str),
    #[error("the peer named cell {doc}, which is outside its scope; refused, nothing applied")]
    OutOfScope { doc: String },
    #[error("cell {doc} from the peer is damaged: {reason}; nothing applied")]
    BadDocument { doc: String, reason: String },
    #[error("the peer has no certificate but this device only syncs with enrolled devices")]
    PeerNotEnrolled,
    #[error("the peer referred to a certificate this device does not hold; sync again (the certificate is then sent whole)")]
    UnknownCertificate,
    #[error("the session has already finished")]
    Finished,
    #[error("the session did not settle within {MAX_ROUNDS} round trips")]
    TooManyRounds,
    #[error("a held sync session could not be read back ({0}); start a new sync")]
    Suspended(String),
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    #[error(transparent)]
    Store(#[from] crate::Error),
}

impl SyncError {
    /// A short name of what failed, for logs: never a value from a cell.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::Envelope(_) => "envelope",
            SyncError::Identity(_) => "identity",
            SyncError::Replayed => "replayed",
            SyncError::ClockSkew { .. } => "clock_skew",
            SyncError::WrongSession => "wrong_session",
            SyncError::Unexpected(_) => "unexpected",
            SyncError::OutOfScope { .. } => "out_of_scope",
            SyncError::BadDocument { .. } => "bad_document",
            SyncError::PeerNotEnrolled => "peer_not_enrolled",
            SyncError::UnknownCertificate => "unknown_certificate",
            SyncError::Finished => "finished",
            SyncError::TooManyRounds => "too_many_rounds",
            SyncError::Suspended(_) => "suspended",
            SyncError::Seal(_) => "seal",
            SyncError::Store(_) => "store",
        }
    }

    /// True when the peer (or a forger) sent something this device must
    /// refuse, as opposed to a local failure.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            SyncError::Store(_) | SyncError::Finished | SyncError::Suspended(_)
        )
    }
}

pub type SyncResult<T> = Result<T, SyncError>;

/// What a session moved, for the caller to show or log.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncStats {
    pub docs_sent: usize,
    pub docs_received: usize,
    pub bytes_up: usize,
    pub bytes_down: usize,
    pub round_trips: usize,
    /// What this side refused of the peer's, per cell; the rest of the
    /// session went on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refusal>,
    /// What the peer said it refused of ours.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused_by_peer: Vec<Refusal>,
}

/// A cell whose incoming changes were refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    pub doc: String,
    pub reason: String,
    /// The bytes themselves did not pass (they do not decode, or the guard
    /// refused them), as opposed to changes refused for what they do.
    pub damaged: bool,
}

/// This device's side of trust: its key, certificate and pinned office key.
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    key: KeyPair,
    cert: Option<Certificate>,
    office: Option<[u8; 32]>,
    scope: Scope,
    clock: crate::Clock,
}

impl Trust {
    pub(crate) fn load(store: &dyn Replica) -> SyncResult<Trust> {
        let cert = store.certificate()?;
        let scope = cert
            .as_ref()
            .map(|c| c.scope.clone())
            .unwrap_or_else(Scope::everything);
        Ok(Trust {
            key: store.device_key()?,
            cert,
            office: store.office_public_key()?,
            scope,
            clock: store.clock().clone(),
        })
    }

    fn own_ref(&self) -> Option<[u8; 16]> {
        self.cert.as_ref().map(certificate_ref)
    }

    /// How to name ourselves to a peer that holds our certificate of
    /// reference `peer_holds` (if any).
    fn sender(&self, peer_holds: Option<[u8; 16]>) -> Sender {
        match (&self.cert, self.own_ref()) {
            (Some(_), Some(r)) if peer_holds == Some(r) => Sender::Known(r),
            (Some(c), _) => Sender::Certificate(c.clone()),
            (None, _) => Sender::Anonymous,
        }
    }

    fn seal(&self, mut env: Envelope) -> Vec<u8> {
        // An unenrolled device has nothing binding its key to an identity,
        // so a signature would prove nothing; it sends none.
        if self.cert.is_some() {
            env.signature = Some(self.key.sign(&env.signed_part()));
        }
        env.encode()
    }

    /// Checks the first message from a peer: certificate, revocation and
    /// proof of key. Returns who the peer is.
    fn admit(
        &self,
        store: &dyn Replica,
        env: &Envelope,
        bytes: &[u8],
        signed_len: usize,
    ) -> SyncResult<Peer> {
        let now = self.clock.timestamp();
        let cert = match &env.sender {
            Sender::Anonymous => None,
            Sender::Certificate(c) => Some(c.clone()),
            Sender::Known(r) => Some(
                store
                    .peer_certificate(r)?
                    .ok_or(SyncError::UnknownCertificate)?,
            ),
        };
        let Some(office) = self.office else {
            // Open mode: an unenrolled store (an office tool on local files)
            // has no trust anchor and so accepts any peer.
            return Ok(Peer {
                id: cert.as_ref().map(|c| c.device_id.clone()),
                key: None,
                scope: Scope::everything(),
                cert: None,
            });
        };
        // Revocations first, whoever carried them: they are the office's
        // word, checked against its key, so the sender may be refused by
        // the very message that told of its revocation.
        take_revocations(store, &office, env.body.revocations())?;
        let cert = cert.ok_or(SyncError::PeerNotEnrolled)?;
        cert.verify(&office, now)?;
        if store.is_revoked(&cert.device_id)? {
            return Err(IdentityError::Revoked {
                device: cert.device_id.clone(),
            }
            .into());
        }
        let peer = Peer {
            id: Some(cert.device_id.clone()),
            key: Some(cert.public_key),
            scope: cert.scope.clone(),
            cert: Some(cert),
        };
        peer.check_signature(env, bytes, signed_len)?;
        take_orders(store, env.body.orders())?;
        Ok(peer)
    }
}

/// Takes the erasure orders a verified peer passed on: the replica checks
/// each against the office key and follows it (see [`crate::erasure`]).
/// One it refuses is logged and skipped: the session goes on.
fn take_orders(store: &dyn Replica, orders: &[ErasureOrder]) -> SyncResult<()> {
    if orders.is_empty() {
        return Ok(());
    }
    let taken = store.take_erasure_orders(orders)?;
    if taken.new > 0 || !taken.refused.is_empty() {
        tracing::info!(
            new = taken.new,
            applied = taken.applied.len(),
            awaiting = taken.awaiting.len(),
            refused = taken.refused.len(),
            "erasure orders received from a peer"
        );
    }
    Ok(())
}

/// Whether a peer of `role` may be the hub that keeps devices' audit
/// entries: an office's or county's certificate, never a phone's.
fn keeps_device_audit(role: crate::identity::Role) -> bool {
    matches!(
        role,
        crate::identity::Role::Office | crate::identity::Role::County
    )
}

/// What this replica passes on: every erasure order it holds.
fn orders_to_send(store: &dyn Replica) -> SyncResult<Vec<ErasureOrder>> {
    let mut list = store.erasure_orders()?;
    list.truncate(crate::erasure::MAX_ORDERS);
    Ok(list)
}

/// The heads hash a responder gives for a cell whose new epoch it waits
/// for (an erasure it learnt of but cannot build): "send it whole". No
/// real heads hash is all ones but by a 2^-64 chance, which costs a whole
/// document sent.
const AWAITING_EPOCH: [u8; 8] = [0xff; 8];

/// Checks revocations a peer passed on against the pinned office key and
/// keeps the ones this replica lacks. One the office did not sign (forged,
/// altered, or another office's) refuses the whole list: nothing is kept.
fn take_revocations(store: &dyn Replica, office: &[u8; 32], list: &[Revocation]) -> SyncResult<()> {
    if list.is_empty() {
        return Ok(());
    }
    let held: BTreeSet<(String, i64, [u8; 64])> = store
        .revocations()?
        .into_iter()
        .map(|r| (r.device_id, r.at, r.signature))
        .collect();
    let mut new = Vec::new();
    for rev in list {
        if held.contains(&(rev.device_id.clone(), rev.at, rev.signature)) {
            continue;
        }
        if !rev.signed_by(office) {
            return Err(IdentityError::ForgedRevocation {
                device: rev.device_id.clone(),
            }
            .into());
        }
        new.push(rev.clone());
    }
    if !new.is_empty() {
        let kept = store.record_revocations(&new)?;
        tracing::info!(revocations = kept, "revocations received from a peer");
    }
    Ok(())
}

/// What this replica passes on: the revocations it holds and `extra`
/// (a hub's, see [`Session::pass_on`]), one per device.
fn revocations_to_send(store: &dyn Replica, extra: &[Revocation]) -> SyncResult<Vec<Revocation>> {
    let mut list = store.revocations()?;
    list.extend(extra.iter().cloned());
    list.sort_by(|a, b| a.device_id.cmp(&b.device_id).then(a.at.cmp(&b.at)));
    list.dedup_by(|a, b| a.device_id == b.device_id);
    list.truncate(crate::identity::MAX_REVOCATIONS);
    Ok(list)
}

/// The other side as this session knows it.
#[derive(Debug, Clone)]
struct Peer {
    /// Device id; `None` for an anonymous peer of an unenrolled store, whose
    /// sync state is not kept.
    id: Option<String>,
    key: Option<[u8; 32]>,
    scope: Scope,
    /// The verified certificate (enrolled peers only).
    cert: Option<Certificate>,
}

impl Peer {
    fn check_signature(&self, env: &Envelope, bytes: &[u8], signed_len: usize) -> SyncResult<()> {
        let Some(key) = self.key else {
            return Ok(());
        };
        let device = self.id.clone().unwrap_or_default();
        let sig = env.signature.ok_or(IdentityError::NoProofOfKey {
            device: device.clone(),
        })?;
        if !crate::identity::verify_signature(&key, &bytes[..signed_len], &sig) {
            return Err(IdentityError::NoProofOfKey { device }.into());
        }
        Ok(())
    }
}

/// The digest of a set of documents' heads, in id order.
pub fn digest(rows: &[DocHeadsRow]) -> [u8; 32] {
    let mut h = Sha256::new();
    for r in rows {
        h.update(uuid::Uuid::parse_str(&r.id).unwrap_or_default().as_bytes());
        h.update((r.heads.len() as u32).to_le_bytes());
        for head in &r.heads {
            h.update(head.0);
        }
    }
    h.finalize().into()
}

fn random16() -> [u8; 16] {
    crate::identity::random_bytes()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Initiator,
    Responder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Initiator: Hello sent, waiting for the Reply. Responder: waiting for Hello.
    Opening,
    Running,
    Done,
}

/// One sync session with one peer. Feed it what the peer sent with
/// [`Session::receive`]; send what it returns; stop when it returns `None`.
#[derive(Debug)]
pub struct Session {
    side: Side,
    phase: Phase,
    trust: Trust,
    session: [u8; 16],
    challenge: [u8; 16],
    round: u32,
    peer: Option<Peer>,
    states: BTreeMap<String, State>,
    /// Documents under automerge sync in this session.
    active: BTreeSet<String>,
    /// Initiator: items not yet sent for lack of room in a round.
    pending: VecDeque<Item>,
    /// Initiator: documents pushed as changes, with the heads pushed; they
    /// become shared once the responder answers the round.
    pushed: BTreeMap<String, Vec<ChangeHash>>,
    /// Responder: the reference of our certificate the initiator holds.
    peer_holds_ours: Option<[u8; 16]>,
    sent: BTreeSet<String>,
    received: BTreeSet<String>,
    stats: SyncStats,
    /// Initiator: the session ended after the responder's reply, so the
    /// responder is still waiting to hear that it is over.
    owe_done: bool,
    /// Refusals not yet told to the peer (they ride in the next message).
    untold: Vec<Refusal>,
    /// Cells whose refusal this side answered with its own copy, once a
    /// session (see [`Session::take_refusals`]).
    answered: BTreeSet<String>,
    /// Per document, the peer's changes that waited for a dependency the
    /// last time they were offered to the replica (see
    /// [`crate::replica::Absorbed::waiting`]): offered again with the
    /// document's next item, on whichever process runs the session then.
    parked: BTreeMap<String, Vec<Vec<u8>>>,
    /// Initiator: how many documents differed when the peer's reply came,
    /// for a progress display.
    planned: usize,
    /// Revocations to pass on besides the replica's own (see
    /// [`Session::pass_on`]); used by the opening exchange only, so not
    /// kept when a session is held.
    pass_on: Vec<Revocation>,
    /// Per cell asked about, whether this replica waits for its new epoch
    /// (see [`Replica::awaiting_epochs`]): every shared cell, asked in one
    /// call when the session plans. Not kept when a session is held: a
    /// resumed one asks again for the cells it is to send whole.
    waits: BTreeMap<String, bool>,
    /// Initiator: the last of its own audit entries its opening carried,
    /// to mark sent when the responder says it holds them. Not kept when
    /// a session is held: the reply comes in the same exchange.
    audit_upto: Option<u64>,
}

impl Session {
    fn new(side: Side, trust: Trust) -> Session {
        Session {
            side,
            phase: Phase::Opening,
            trust,
            session: [0; 16],
            challenge: [0; 16],
            round: 0,
            peer: None,
            states: BTreeMap::new(),
            active: BTreeSet::new(),
            pending: VecDeque::new(),
            pushed: BTreeMap::new(),
            peer_holds_ours: None,
            sent: BTreeSet::new(),
            received: BTreeSet::new(),
            stats: SyncStats::default(),
            owe_done: false,
            untold: Vec::new(),
            answered: BTreeSet::new(),
            parked: BTreeMap::new(),
            planned: 0,
            pass_on: Vec::new(),
            waits: BTreeMap::new(),
            audit_upto: None,
        }
    }

    /// Adds revocations for this side's opening message (a responder's
    /// reply) to pass on besides those its replica holds: a hub whose
    /// storage keeps revocations unsigned signs them with the office key
    /// and hands them here. Call before the first `receive`.
    pub fn pass_on(&mut self, revocations: Vec<Revocation>) {
        self.pass_on = revocations;
    }

    /// Starts a session as the side that speaks first. Returns the opening
    /// message to send.
    pub fn initiate(store: &dyn Replica) -> SyncResult<(Session, Vec<u8>)> {
        Session::initiate_to(store, None)
    }

    /// Like [`Session::initiate`], naming the peer expected (its device id,
    /// from an earlier session) so that certificates both sides already
    /// hold are referred to, not sent. If the peer has lost ours, the
    /// session fails with [`SyncError::UnknownCertificate`]; start again
    /// with [`Session::initiate`].
    pub fn initiate_to(store: &dyn Replica, peer: Option<&str>) -> SyncResult<(Session, Vec<u8>)> {
        let trust = Trust::load(store)?;
        let refs = match peer {
            Some(p) => store.peer_refs(p)?,
            None => None,
        };
        let mut s = Session::new(Side::Initiator, trust);
        s.session = random16();
        let rows = store.scope_heads(&s.trust.scope)?;
        // Own audit entries go to a peer that may be the hub: not from an
        // unenrolled store (nothing would tie them to a device), nor to a
        // peer known to be a phone.
        let peer_is_phone = match refs {
            Some((theirs, _)) => store
                .peer_certificate(&theirs)?
                .is_some_and(|c| !keeps_device_audit(c.role)),
            None => false,
        };
        let audit = if s.trust.cert.is_some() && !peer_is_phone {
            store.audit_to_send()?
        } else {
            Vec::new()
        };
        s.audit_upto = audit.last().map(|e| e.seq);
        let env = Envelope {
            session: s.session,
            challenge: [0; 16],
            round: 0,
            time: s.trust.clock.timestamp(),
            sender: s.trust.sender(refs.and_then(|(_, ours)| ours)),
            body: Body::Hello {
                digest: digest(&rows),
                docs: rows.len() as u32,
                known_peer: refs.map(|(theirs, _)| theirs),
                revocations: revocations_to_send(store, &[])?,
                orders: orders_to_send(store)?,
                audit,
            },
            signature: None,
        };
        let bytes = s.trust.seal(env);
        s.stats.bytes_up += bytes.len();
        s.stats.round_trips = 1;
        tracing::debug!(docs = rows.len(), "sync session opened");
        Ok((s, bytes))
    }

    /// Prepares to answer a peer that will speak first.
    pub fn accept(store: &dyn Replica) -> SyncResult<Session> {
        Ok(Session::new(Side::Responder, Trust::load(store)?))
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The initiator's closing message, once `receive` has returned `None`:
    /// send it so the responder's session ends too (its `receive` then
    /// returns `None`). `None` when there is nothing to tell — the responder
    /// already knows (its reply said both sides were equal), the session
    /// failed, or this is the responder — and after the first call.
    pub fn close_message(&mut self) -> Option<Vec<u8>> {
        if !std::mem::take(&mut self.owe_done) {
            return None;
        }
        self.round += 1;
        let message = self.seal(Body::Done);
        self.stats.bytes_up += message.len();
        Some(message)
    }

    pub fn stats(&self) -> SyncStats {
        let mut s = self.stats.clone();
        s.docs_sent = self.sent.len();
        s.docs_received = self.received.len();
        s
    }

    /// Progress for a display: (documents sent or received so far, documents
    /// known to differ). The second is the initiator's plan once the peer's
    /// reply came; a responder learns it as the documents arrive, so for it
    /// both numbers grow together.
    pub fn progress(&self) -> (usize, usize) {
        let touched = self.sent.union(&self.received).count();
        (touched, self.planned.max(touched))
    }

    /// The peer's device id, once known.
    pub fn peer_id(&self) -> Option<&str> {
        self.peer.as_ref().and_then(|p| p.id.as_deref())
    }

    /// Whether `bytes` are a message of this session signed by the peer it
    /// admitted. A holder of sessions (the hub) asks before handing a
    /// message to the session, so nobody else can end or disturb it by
    /// naming its id.
    pub fn is_from_peer(&self, bytes: &[u8]) -> bool {
        let Ok((env, signed_len)) = Envelope::decode(bytes) else {
            return false;
        };
        env.session == self.session
            && env.challenge == self.challenge
            && self
                .peer
                .as_ref()
                .is_some_and(|p| p.check_signature(&env, bytes, signed_len).is_ok())
    }

    /// The session id (set by the initiator's opening message).
    pub fn id(&self) -> [u8; 16] {
        self.session
    }

    /// Takes the peer's message; returns the message to send back, or `None`
    /// when the session is over. A refused message changes nothing, and the
    /// session cannot continue after it.
    pub fn receive(&mut self, store: &dyn Replica, bytes: &[u8]) -> SyncResult<Option<Vec<u8>>> {
        if self.phase == Phase::Done {
            return Err(SyncError::Finished);
        }
        let (env, signed_len) = Envelope::decode(bytes)?;
        self.stats.bytes_down += bytes.len();
        let out = match self.side {
            Side::Initiator => self.initiator_receive(store, env, bytes, signed_len),
            Side::Responder => self.responder_receive(store, env, bytes, signed_len),
        };
        match out {
            Ok(Some(reply)) => {
                self.stats.bytes_up += reply.len();
                if self.side == Side::Initiator {
                    self.stats.round_trips += 1;
                }
                Ok(Some(reply))
            }
            Ok(None) => {
                // The responder is live only if the exchange went past its
                // reply: then it waits to be told the session is over.
                self.owe_done = self.side == Side::Initiator && self.phase == Phase::Running;
                self.phase = Phase::Done;
                // Counts only: what a log may carry leaves people out.
                tracing::info!(
                    docs_sent = self.sent.len(),
                    docs_received = self.received.len(),
                    bytes_up = self.stats.bytes_up,
                    bytes_down = self.stats.bytes_down,
                    round_trips = self.stats.round_trips,
                    refused = self.stats.refused.len(),
                    refused_by_peer = self.stats.refused_by_peer.len(),
                    "sync session finished"
                );
                Ok(None)
            }
            Err(e) => {
                self.phase = Phase::Done;
                tracing::warn!(kind = e.kind(), "sync session failed");
                Err(e)
            }
        }
    }

    fn initiator_receive(
        &mut self,
        store: &dyn Replica,
        env: Envelope,
        bytes: &[u8],
        signed_len: usize,
    ) -> SyncResult<Option<Vec<u8>>> {
        if env.session != self.session {
            return Err(SyncError::WrongSession);
        }
        match (self.phase, &env.body) {
            (
                Phase::Opening,
                Body::Reply {
                    equal,
                    heads,
                    audit_held,
                    ..
                },
            ) => {
                let peer = self.trust.admit(store, &env, bytes, signed_len)?;
                if let Some(cert) = &peer.cert {
                    // The responder accepted our opening, so it holds our
                    // certificate from now on.
                    store.remember_peer(cert, self.trust.own_ref())?;
                    // A hub holds our audit entries up to this: never past
                    // what this opening carried, and only a hub's word.
                    if let (Some(held), Some(sent)) = (audit_held, self.audit_upto) {
                        if keeps_device_audit(cert.role) {
                            store.audit_sent((*held).min(sent))?;
                        }
                    }
                }
                self.challenge = env.challenge;
                self.peer = Some(peer);
                if *equal {
                    return Ok(None);
                }
                self.plan(store, heads)?;
                self.phase = Phase::Running;
                self.next_round(store)
            }
            (Phase::Running, Body::Round { items }) => {
                self.check_round(&env, bytes, signed_len)?;
                // The responder answered: what we pushed is now shared.
                for (doc, heads) in std::mem::take(&mut self.pushed) {
                    self.state(store, &doc)?.shared_heads = heads;
                }
                let requests = self.absorb_items(store, items)?;
                if !requests.is_empty() {
                    return Err(SyncError::Unexpected("request from the responder"));
                }
                self.next_round(store)
            }
            (_, body) => Err(SyncError::Unexpected(body_name(body))),
        }
    }

    fn responder_receive(
        &mut self,
        store: &dyn Replica,
        env: Envelope,
        bytes: &[u8],
        signed_len: usize,
    ) -> SyncResult<Option<Vec<u8>>> {
        match (self.phase, &env.body) {
            (
                Phase::Opening,
                Body::Hello {
                    digest: theirs,
                    known_peer,
                    audit,
                    ..
                },
            ) => {
                let peer = self.trust.admit(store, &env, bytes, signed_len)?;
                let now = self.trust.clock.timestamp();
                if (env.time - now).abs() > CLOCK_SKEW_SECS {
                    return Err(SyncError::ClockSkew {
                        peer: env.time,
                        ours: now,
                    });
                }
                if peer.key.is_some() && !store.first_sighting(&env.session)? {
                    return Err(SyncError::Replayed);
                }
                if let Some(cert) = &peer.cert {
                    store.remember_peer(cert, None)?;
                }
                // The initiator's own audit entries, attributed to the
                // device its verified certificate names (an unenrolled
                // peer's cannot be, and are not taken).
                let audit_held = match &peer.cert {
                    Some(cert) if !audit.is_empty() => store.take_device_audit(cert, audit)?,
                    _ => None,
                };
                self.peer_holds_ours = *known_peer;
                self.session = env.session;
                self.challenge = random16();
                let rows = self.shared_rows(store, &peer.scope)?;
                self.peer = Some(peer);
                self.phase = Phase::Running;
                let equal = &digest(&rows) == theirs;
                let heads = if equal {
                    Vec::new()
                } else {
                    self.ask_waits(store, rows.iter().map(|r| &r.id))?;
                    let mut heads = Vec::with_capacity(rows.len());
                    for r in &rows {
                        heads.push(DocHeads {
                            doc: r.id.clone(),
                            heads_hash: if self.waits_for(&r.id) {
                                AWAITING_EPOCH
                            } else {
                                r.heads_hash()
                            },
                        });
                    }
                    heads
                };
                if equal {
                    self.phase = Phase::Done;
                }
                let revocations = revocations_to_send(store, &self.pass_on)?;
                Ok(Some(self.seal(Body::Reply {
                    equal,
                    heads,
                    revocations,
                    orders: orders_to_send(store)?,
                    audit_held,
                })))
            }
            (Phase::Running, Body::Round { items }) => {
                if env.session != self.session {
                    return Err(SyncError::WrongSession);
                }
                self.check_round(&env, bytes, signed_len)?;
                let requests = self.absorb_items(store, items)?;
                // Known since the plan, unless the session was held and
                // resumed: then one call for every cell wanted whole.
                self.ask_waits(
                    store,
                    requests.iter().filter_map(|i| match i {
                        Item::Want { doc } => Some(doc),
                        _ => None,
                    }),
                )?;
                let mut out = Vec::new();
                for item in requests {
                    match item {
                        Item::Want { doc } => out.push(self.whole(store, doc)?),
                        Item::Since { doc, heads } => {
                            if let Some(item) = self.since(store, doc, &heads)? {
                                out.push(item);
                            }
                        }
                        _ => {}
                    }
                }
                let docs: Vec<String> = self.active.iter().cloned().collect();
                for doc in docs {
                    if let Some(item) = self.generate(store, &doc)? {
                        out.push(item);
                    }
                }
                out.extend(self.take_refusals(store)?);
                self.note_sent(&out);
                self.save_states(store)?;
                Ok(Some(self.seal(Body::Round { items: out })))
            }
            (Phase::Running, Body::Done) => {
                if env.session != self.session {
                    return Err(SyncError::WrongSession);
                }
                self.check_round(&env, bytes, signed_len)?;
                Ok(None)
            }
            (_, body) => Err(SyncError::Unexpected(body_name(body))),
        }
    }

    /// Documents this store holds that both its own scope and the peer's
    /// cover.
    fn shared_rows(&self, store: &dyn Replica, peer_scope: &Scope) -> SyncResult<Vec<DocHeadsRow>> {
        // Looked up by the narrower scope: a hub covers every cell, a
        // lead's phone one; reading the hub's thousands of rows for each
        // lead's session would make every sync cost the size of the hub.
        let own = &self.trust.scope;
        let (lookup, other) = if own.0.iter().any(|e| e == crate::identity::SCOPE_ALL) {
            (peer_scope, own)
        } else {
            (own, peer_scope)
        };
        Ok(store
            .scope_heads(lookup)?
            .into_iter()
            .filter(|r| other.covers(&r.id, &r.path))
            .collect())
    }

    /// Initiator, after a Reply that differs: decide per document.
    fn plan(&mut self, store: &dyn Replica, theirs: &[DocHeads]) -> SyncResult<()> {
        let peer_scope = self
            .peer
            .as_ref()
            .map(|p| p.scope.clone())
            .unwrap_or_default();
        let mine = self.shared_rows(store, &peer_scope)?;
        self.ask_waits(store, mine.iter().map(|r| &r.id))?;
        let theirs: BTreeMap<&str, [u8; 8]> = theirs
            .iter()
            .map(|h| (h.doc.as_str(), h.heads_hash))
            .collect();
        let mut ours = BTreeSet::new();
        for row in &mine {
            ours.insert(row.id.as_str());
            // A cell whose new epoch this side waits for: never send the
            // old lineage; ask for the new one if the peer holds the cell.
            if self.waits_for(&row.id) {
                if theirs
                    .get(row.id.as_str())
                    .is_some_and(|h| *h != AWAITING_EPOCH)
                {
                    self.pending.push_back(Item::Want {
                        doc: row.id.clone(),
                    });
                }
                continue;
            }
            match theirs.get(row.id.as_str()) {
                None => self.pending.push_back(Item::Whole {
                    doc: row.id.clone(),
                    bytes: Vec::new(),
                }),
                // The peer waits for this cell's new epoch: all of it.
                Some(h) if *h == AWAITING_EPOCH => self.pending.push_back(Item::Whole {
                    doc: row.id.clone(),
                    bytes: Vec::new(),
                }),
                Some(h) if *h != row.heads_hash() => {
                    let item = self.fast_path(store, row, *h)?;
                    self.pending.push_back(item);
                }
                Some(_) => {}
            }
        }
        for doc in theirs.keys() {
            if !ours.contains(doc) {
                // The Reply only lists documents inside our scope, but check:
                // it came from the peer.
                if uuid::Uuid::parse_str(doc).is_err() {
                    return Err(SyncError::Unexpected("reply"));
                }
                self.pending.push_back(Item::Want {
                    doc: doc.to_string(),
                });
            }
        }
        self.planned = self.pending.len();
        tracing::debug!(docs = self.planned, "cells differ from the peer's");
        Ok(())
    }

    /// Initiator, for a document both sides hold with different heads: when
    /// the sync state kept with this peer says one side holds exactly what
    /// both last shared, the other side's changes since then are all that
    /// is missing — push them (or ask for them) without automerge's
    /// heads-and-bloom exchange. Otherwise run automerge's sync protocol.
    fn fast_path(
        &mut self,
        store: &dyn Replica,
        row: &DocHeadsRow,
        theirs: [u8; 8],
    ) -> SyncResult<Item> {
        let doc = row.id.clone();
        let shared = self.state(store, &doc)?.shared_heads.clone();
        let usable = !shared.is_empty() && store.holds_changes(&doc, &shared)?;
        if usable && heads_hash(&shared) == theirs {
            return Ok(Item::Changes {
                doc,
                bytes: Vec::new(),
            });
        }
        if usable && heads_hash(&shared) == row.heads_hash() {
            return Ok(Item::Since {
                doc,
                heads: Vec::new(),
            });
        }
        Ok(Item::Sync {
            doc,
            message: Vec::new(),
        })
    }

    /// Responder: the changes after `heads`, or — when this side lacks some
    /// of those heads — automerge's sync protocol for the document.
    fn since(
        &mut self,
        store: &dyn Replica,
        doc: String,
        heads: &[ChangeHash],
    ) -> SyncResult<Option<Item>> {
        if !store.holds_changes(&doc, heads)? {
            self.active.insert(doc.clone());
            return self.generate(store, &doc);
        }
        let ours = store.heads(&doc)?;
        let bytes = store.changes_after(&doc, heads)?;
        // Optimistic, as for whole documents: a lost answer makes automerge
        // reset the next time.
        self.state(store, &doc)?.shared_heads = ours;
        Ok(Some(Item::Changes { doc, bytes }))
    }

    /// Initiator: the next round's message, or `None` when nothing is left.
    fn next_round(&mut self, store: &dyn Replica) -> SyncResult<Option<Vec<u8>>> {
        let mut items = Vec::new();
        let mut size = 0;
        let docs: Vec<String> = self.active.iter().cloned().collect();
        for doc in docs {
            if let Some(item) = self.generate(store, &doc)? {
                size += item.size();
                items.push(item);
            }
        }
        // Pending placeholders become real items only when they fit, so a
        // county's worth of whole documents is never held in memory at once.
        while items.len() < BATCH_DOCS && size < BATCH_BYTES {
            let Some(next) = self.pending.pop_front() else {
                break;
            };
            let item = match next {
                Item::Whole { doc, .. } => Some(self.whole(store, doc)?),
                Item::Sync { doc, .. } => {
                    self.active.insert(doc.clone());
                    self.generate(store, &doc)?
                }
                Item::Changes { doc, .. } => {
                    let shared = self.state(store, &doc)?.shared_heads.clone();
                    let bytes = store.changes_after(&doc, &shared)?;
                    self.pushed.insert(doc.clone(), store.heads(&doc)?);
                    Some(Item::Changes { doc, bytes })
                }
                Item::Since { doc, .. } => Some(Item::Since {
                    heads: store.heads(&doc)?,
                    doc,
                }),
                other => Some(other),
            };
            if let Some(item) = item {
                size += item.size();
                items.push(item);
            }
        }
        items.extend(self.take_refusals(store)?);
        self.save_states(store)?;
        if items.is_empty() {
            return Ok(None);
        }
        if self.round >= MAX_ROUNDS {
            return Err(SyncError::TooManyRounds);
        }
        self.round += 1;
        self.note_sent(&items);
        Ok(Some(self.seal(Body::Round { items })))
    }

    /// A document to send whole. Its heads are recorded as shared with the
    /// peer: if the message is lost, automerge's protocol notices the peer
    /// lacks them and resets, so the optimism costs only a longer sync.
    fn whole(&mut self, store: &dyn Replica, doc: String) -> SyncResult<Item> {
        self.ask_waits(store, [&doc])?;
        if self.waits_for(&doc) {
            // Its old lineage is not passed on (see `plan`).
            return Ok(Item::Refused {
                doc,
                reason: "this device waits for the cell's new epoch after an erasure too".into(),
            });
        }
        let bytes = store.save_doc(&doc)?;
        let heads = store.heads(&doc)?;
        let state = self.state(store, &doc)?;
        if state.shared_heads.is_empty() {
            state.shared_heads = heads;
        }
        Ok(Item::Whole { doc, bytes })
    }

    /// Asks the replica, in one call, whether it waits for the new epoch
    /// of each of `cells` this session has not asked about yet.
    fn ask_waits<'a>(
        &mut self,
        store: &dyn Replica,
        cells: impl IntoIterator<Item = &'a String>,
    ) -> SyncResult<()> {
        let ask: Vec<String> = cells
            .into_iter()
            .filter(|c| !self.waits.contains_key(*c))
            .cloned()
            .collect();
        if ask.is_empty() {
            return Ok(());
        }
        let awaiting = store.awaiting_epochs(&ask)?;
        for cell in ask {
            let waits = awaiting.contains(&cell);
            self.waits.insert(cell, waits);
        }
        Ok(())
    }

    /// Whether this replica waits for `doc`'s new epoch, as asked by
    /// [`Session::ask_waits`].
    fn waits_for(&self, doc: &str) -> bool {
        self.waits.get(doc).copied().unwrap_or(false)
    }

    fn note_sent(&mut self, items: &[Item]) {
        for it in items {
            let carries = match it {
                Item::Whole { .. } | Item::Changes { .. } => true,
                Item::Sync { message, .. } => Message::decode(message)
                    .map(|m| !m.changes.is_empty())
                    .unwrap_or(false),
                Item::Want { .. } | Item::Since { .. } | Item::Refused { .. } => false,
            };
            if carries {
                self.sent.insert(it.doc().to_string());
            }
        }
    }

    fn seal(&self, body: Body) -> Vec<u8> {
        // Certificates travel in the opening exchange only; later rounds are
        // bound to it by the session, challenge and signature.
        let sender = match body {
            Body::Hello { .. } | Body::Reply { .. } => self.trust.sender(self.peer_holds_ours),
            _ => Sender::Anonymous,
        };
        self.trust.seal(Envelope {
            session: self.session,
            challenge: self.challenge,
            round: self.round,
            time: self.trust.clock.timestamp(),
            sender,
            body,
            signature: None,
        })
    }

    fn check_round(&mut self, env: &Envelope, bytes: &[u8], signed_len: usize) -> SyncResult<()> {
        let expected = match self.side {
            // The responder's answer carries the round it answers.
            Side::Initiator => self.round,
            Side::Responder => self.round + 1,
        };
        if env.challenge != self.challenge || env.round != expected {
            return Err(SyncError::WrongSession);
        }
        let peer = self.peer.as_ref().ok_or(SyncError::WrongSession)?;
        peer.check_signature(env, bytes, signed_len)?;
        if self.side == Side::Responder {
            self.round = expected;
        }
        Ok(())
    }

    fn state(&mut self, store: &dyn Replica, doc: &str) -> SyncResult<&mut State> {
        let mut loaded = None;
        if !self.states.contains_key(doc) {
            let saved = match self.peer.as_ref().and_then(|p| p.id.as_deref()) {
                Some(peer) => store.sync_state(peer, doc)?,
                None => None,
            };
            // A state that does not decode only costs a longer sync.
            loaded = saved.and_then(|b| State::decode(&b).ok());
        }
        Ok(self
            .states
            .entry(doc.to_string())
            .or_insert_with(|| loaded.unwrap_or_default()))
    }

    fn generate(&mut self, store: &dyn Replica, doc: &str) -> SyncResult<Option<Item>> {
        let mut state = std::mem::take(self.state(store, doc)?);
        let msg = store.generate_sync_message(doc, &mut state);
        self.states.insert(doc.to_string(), state);
        Ok(msg?.map(|m| Item::Sync {
            doc: doc.to_string(),
            message: m.encode(),
        }))
    }

    fn save_states(&self, store: &dyn Replica) -> SyncResult<()> {
        let Some(peer) = self.peer.as_ref().and_then(|p| p.id.as_deref()) else {
            return Ok(());
        };
        let encoded: Vec<(String, Vec<u8>)> = self
            .states
            .iter()
            .map(|(d, s)| (d.clone(), s.encode()))
            .collect();
        store.save_sync_states(peer, &encoded)?;
        Ok(())
    }

    /// Checks every item, then applies them. Returns the peer's requests
    /// (`Want`, `Since`) for the caller to answer. A cell whose changes are
    /// refused (write rules, merged-document checks) is skipped and the
    /// refusal told to the peer; the other cells go on.
    fn absorb_items(&mut self, store: &dyn Replica, items: &[Item]) -> SyncResult<Vec<Item>> {
        let peer = self.peer.clone().ok_or(SyncError::WrongSession)?;
        let checked = check_items(store, &self.trust.scope, &peer.scope, items)?;
        let sender = peer.cert.as_ref().map(|c| c.role);
        let mut wants = Vec::new();
        for (item, checked) in items.iter().zip(checked) {
            let applied = match checked {
                Ok(checked) => self.absorb_item(store, sender, item, checked),
                Err(reason) => Err(SyncError::BadDocument {
                    doc: item.doc().to_string(),
                    reason,
                }),
            };
            match applied {
                Ok(()) => {}
                Err(SyncError::Store(crate::Error::Refused { doc, reason })) => {
                    self.refuse(item.doc(), doc, reason, false)
                }
                Err(SyncError::BadDocument { doc, reason }) => {
                    self.refuse(item.doc(), doc, reason, true)
                }
                Err(e) => return Err(e),
            }
            if let Item::Want { .. } | Item::Since { .. } = item {
                wants.push(item.clone());
            }
        }
        Ok(wants)
    }

    fn absorb_item(
        &mut self,
        store: &dyn Replica,
        sender: Option<crate::identity::Role>,
        item: &Item,
        checked: Checked,
    ) -> SyncResult<()> {
        match item {
            Item::Sync { doc, message } => {
                let Checked::Sync(mut msg) = checked else {
                    return Err(SyncError::Unexpected("sync item without a message"));
                };
                let waited = self.parked.remove(doc);
                if let Some(waited) = &waited {
                    // Offered again, ahead of what the peer sent now.
                    let mut changes = waited.clone();
                    changes.extend(msg.changes.iter().map(|c| c.to_vec()));
                    msg.changes = changes.into();
                }
                let mut state = std::mem::take(self.state(store, doc)?);
                let absorbed = store.receive_sync_message(doc, sender, &mut state, msg);
                self.states.insert(doc.clone(), state);
                let absorbed = absorbed?;
                if absorbed.changed {
                    self.received.insert(doc.clone());
                }
                if absorbed.waiting {
                    // Rare (a dependency the peer's bloom filter hid): the
                    // item's changes are read from it again to keep them.
                    let mut changes = waited.unwrap_or_default();
                    if let Ok(Ok(m)) = guard::contain(|| Message::decode(message)) {
                        changes.extend(m.changes.iter().map(|c| c.to_vec()));
                    }
                    self.park(doc, changes)?;
                }
                self.active.insert(doc.clone());
            }
            Item::Whole { doc, bytes } => {
                let names_cell = self.peer.as_ref().is_some_and(|p| p.scope.names_cell(doc));
                let changed = store.merge_from(bytes, sender, names_cell)?.1;
                if changed {
                    self.received.insert(doc.clone());
                }
                // The sender holds at least what it sent: record that as
                // shared, so the next session (or a bundle for this
                // peer) starts from there instead of from nothing.
                let heads = match checked {
                    Checked::Whole(h) => h,
                    _ => Vec::new(),
                };
                // This side holds more than was sent (its own edits replayed
                // onto a new epoch, a migration): sync the cell on, so the
                // peer has them by the end of this session.
                let mut ours = store.heads(doc)?;
                ours.sort();
                let mut sent = heads.clone();
                sent.sort();
                // After the peer refused ours in this session, only what
                // its copy changed here (a resident ID given way) can make
                // ours go through: sending the same again would be refused
                // again.
                let refused = self.stats.refused_by_peer.iter().any(|r| r.doc == *doc);
                if ours != sent && (changed || !refused) {
                    self.active.insert(doc.clone());
                }
                let state = self.state(store, doc)?;
                if state.shared_heads.is_empty() {
                    state.shared_heads = heads;
                }
            }
            Item::Changes { doc, bytes } => {
                let mut offered = self.parked.remove(doc).unwrap_or_default();
                offered.push(bytes.clone());
                let absorbed = store.apply_changes_from(doc, &offered.concat(), sender)?;
                if absorbed.changed {
                    self.received.insert(doc.clone());
                }
                if absorbed.waiting {
                    self.park(doc, offered)?;
                } else if absorbed.wrote {
                    // This side wrote on top of them (a migration, a
                    // yielded resident ID): the peer lacks that, so what
                    // this side holds is not shared. Sync the cell on, so
                    // the peer has it by the end of this session.
                    self.active.insert(doc.clone());
                } else if let Some(heads) = store.settled_heads(doc)? {
                    // With nothing left waiting for a dependency, this side
                    // now holds everything the sender had: both share it.
                    self.state(store, doc)?.shared_heads = heads;
                }
            }
            Item::Refused { doc, reason } => {
                // The peer kept nothing of ours for this cell: what we
                // believed shared with it is not, and automerge's protocol
                // must not wait on it in this session.
                self.active.remove(doc);
                self.pushed.remove(doc);
                self.parked.remove(doc);
                self.states.insert(doc.clone(), State::new());
                // One entry per cell: the figures name what was refused.
                if !self.stats.refused_by_peer.iter().any(|r| r.doc == *doc) {
                    self.stats.refused_by_peer.push(Refusal {
                        doc: doc.clone(),
                        reason: reason.clone(),
                        damaged: false,
                    });
                }
            }
            Item::Want { .. } | Item::Since { .. } => {}
        }
        Ok(())
    }

    /// Skips a cell whose incoming changes this side refused: nothing of
    /// them was kept, the cell leaves this session, and the sync state
    /// starts afresh so the next session does not build on them.
    fn refuse(&mut self, item_doc: &str, doc: String, reason: String, damaged: bool) {
        let doc = if doc == "?" {
            item_doc.to_string()
        } else {
            doc
        };
        self.active.remove(&doc);
        self.parked.remove(&doc);
        self.states.insert(doc.clone(), State::new());
        // The cell's id and nothing of the reason, which may quote values.
        tracing::warn!(cell = %doc, damaged, "a cell from the peer was refused");
        let refusal = Refusal {
            doc,
            reason,
            damaged,
        };
        if !self.stats.refused.iter().any(|r| r.doc == refusal.doc) {
            self.stats.refused.push(refusal.clone());
        }
        self.untold.push(refusal);
    }

    /// Keeps a peer's changes that wait on a dependency, to offer them
    /// again with the document's next item (bounded: a peer that never
    /// sends what they need gets the cell refused).
    fn park(&mut self, doc: &str, changes: Vec<Vec<u8>>) -> SyncResult<()> {
        let held: usize = self.parked.values().flatten().map(Vec::len).sum();
        let adding: usize = changes.iter().map(Vec::len).sum();
        if held + adding > MAX_PARKED_BYTES {
            return Err(crate::Error::Refused {
                doc: doc.to_string(),
                reason: format!(
                    "over {MAX_PARKED_BYTES} bytes of its changes wait for changes it never sent"
                ),
            }
            .into());
        }
        self.parked.insert(doc.to_string(), changes);
        Ok(())
    }

    /// The refusals not yet told, each followed — once a session, and not
    /// for bytes that did not decode — by this side's own copy of the cell.
    /// A peer refused for what its changes did often lacks only what this
    /// side holds: a lead's phone whose first resident ID crossed a grid
    /// worker's yields once it holds the worker's, and its changes then go
    /// through in the same session. Without the copy, a session the
    /// worker's phone opened refused the lead's cell at every meeting: each
    /// side drops a refused cell from the session, so the worker's ID never
    /// reached the lead.
    fn take_refusals(&mut self, store: &dyn Replica) -> SyncResult<Vec<Item>> {
        let mut out = Vec::new();
        for r in std::mem::take(&mut self.untold) {
            let answer = !r.damaged && self.answered.insert(r.doc.clone());
            let doc = r.doc.clone();
            out.push(Item::Refused {
                doc: r.doc,
                reason: truncate(r.reason, envelope::MAX_REASON_BYTES),
            });
            if answer && store.heads(&doc).is_ok_and(|h| !h.is_empty()) {
                // Not the old lineage of a cell this side waits on.
                if let item @ Item::Whole { .. } = self.whole(store, doc)? {
                    out.push(item);
                }
            }
        }
        Ok(out)
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn body_name(b: &Body) -> &'static str {
    match b {
        Body::Hello { .. } => "opening",
        Body::Reply { .. } => "reply",
        Body::Round { .. } => "round",
        Body::Bundle { .. } => "bundle",
        Body::Done => "closing",
    }
}

/// What checking an item decoded, kept so applying it does not decode again.
pub(crate) enum Checked {
    /// A sync item's message.
    Sync(Message),
    /// A whole document's heads (what its sender holds).
    Whole(Vec<ChangeHash>),
    Other,
}

/// Validates items from a peer before any is applied. Every item must name
/// a document inside both scopes, or the whole message is refused (a peer
/// that names cells outside its scope is not merely mistaken). Then each
/// item's bytes must decode and, for a whole document of a held cell, keep
/// the cell where this device holds it; an item that fails is refused on
/// its own (`Err` with the reason, in its place) and the others go on.
/// Returns what was decoded, in item order.
pub(crate) fn check_items(
    store: &dyn Replica,
    own_scope: &Scope,
    peer_scope: &Scope,
    items: &[Item],
) -> SyncResult<Vec<Result<Checked, String>>> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let doc = item.doc();
        let out_of_scope = || SyncError::OutOfScope {
            doc: doc.to_string(),
        };
        // Scope comes from what this device already holds for the id, never
        // from a document's account of itself.
        let held = store.cell_path(doc)?;
        let mut whole = None;
        let path = match (&held, item) {
            (_, Item::Whole { bytes, .. }) => {
                let decoded = decode_whole(doc, bytes);
                let path = match (&held, &decoded) {
                    (Some(p), _) => p.clone(),
                    (None, Ok((p, _))) => p.clone(),
                    (None, Err(reason)) => {
                        out.push(Err(reason.clone()));
                        continue;
                    }
                };
                whole = Some(decoded);
                path
            }
            (Some(p), _) => p.clone(),
            (None, Item::Want { .. } | Item::Since { .. } | Item::Refused { .. }) => {
                return Err(out_of_scope())
            }
            (None, _) => {
                out.push(Err(
                    "this device does not hold the cell; it must be sent whole".into(),
                ));
                continue;
            }
        };
        if !peer_scope.covers(doc, &path) || !own_scope.covers(doc, &path) {
            return Err(out_of_scope());
        }
        out.push(match whole {
            Some(Err(reason)) => Err(reason),
            Some(Ok((inside, heads))) => {
                if held.as_ref().is_some_and(|h| *h != inside) {
                    Err("it files the cell under another region than this device holds; only the office may move a cell".into())
                } else {
                    Ok(Checked::Whole(heads))
                }
            }
            None => check_bytes(item),
        });
    }
    Ok(out)
}

/// A whole document's region and heads, once its bytes pass the guard and
/// it is the cell the item names.
fn decode_whole(doc: &str, bytes: &[u8]) -> Result<(String, Vec<ChangeHash>), String> {
    guard::saved(bytes).map_err(|e| e.to_string())?;
    let mut cell =
        guard::contain(|| crate::cell::CellDoc::load(bytes, &automerge::ActorId::random()))
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    let info = cell.info().map_err(|e| e.to_string())?;
    if info.id != doc {
        return Err("the document inside is of another cell".into());
    }
    Ok((info.path.to_string(), cell.heads()))
}

/// Decodes one item's bytes behind the guard.
fn check_bytes(item: &Item) -> Result<Checked, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    Ok(match item {
        // Decoded by `decode_whole` already.
        Item::Whole { .. } => Checked::Other,
        Item::Sync { message, .. } => {
            guard::sync_message(message).map_err(|x| e(&x))?;
            let m = guard::contain(|| Message::decode(message))
                .map_err(|x| e(&x))?
                .map_err(|x| e(&x))?;
            for chunk in m.changes.iter() {
                guard::contain(|| automerge::Automerge::new().load_incremental(chunk))
                    .map_err(|x| e(&x))?
                    .map_err(|x| e(&x))?;
            }
            Checked::Sync(m)
        }
        Item::Changes { bytes, .. } => {
            guard::saved(bytes).map_err(|x| e(&x))?;
            guard::contain(|| automerge::Automerge::new().load_incremental(bytes))
                .map_err(|x| e(&x))?
                .map_err(|x| e(&x))?;
            Checked::Other
        }
        Item::Want { .. } | Item::Since { .. } | Item::Refused { .. } => Checked::Other,
    })
}

/// Runs a whole session between two stores in this process (phone to phone
/// when both are local, tests, the demo). Returns the initiator's figures.
pub fn sync_local(initiator: &Store, responder: &Store) -> SyncResult<SyncStats> {
    match sync_local_once(initiator, responder, Some(&responder.device_id())) {
        Err(SyncError::UnknownCertificate) => sync_local_once(initiator, responder, None),
        other => other,
    }
}

fn sync_local_once(
    initiator: &Store,
    responder: &Store,
    hint: Option<&str>,
) -> SyncResult<SyncStats> {
    sync_replicas(initiator, responder, hint)
}

/// A whole session between any two replicas in this process (a hub's
/// storage set up in a benchmark or test), naming the responder's device
/// id when known (`hint`). Returns the initiator's figures.
pub fn sync_replicas(
    initiator: &dyn Replica,
    responder: &dyn Replica,
    hint: Option<&str>,
) -> SyncResult<SyncStats> {
    let (mut a, mut msg) = Session::initiate_to(initiator, hint)?;
    let mut b = Session::accept(responder)?;
    loop {
        let reply = b
            .receive(responder, &msg)?
            .ok_or(SyncError::Unexpected("empty reply"))?;
        match a.receive(initiator, &reply)? {
            Some(next) => msg = next,
            None => {
                if let Some(done) = a.close_message() {
                    if b.receive(responder, &done)?.is_some() {
                        return Err(SyncError::Unexpected("answer to the closing message"));
                    }
                }
                return Ok(a.stats());
            }
        }
    }
}
