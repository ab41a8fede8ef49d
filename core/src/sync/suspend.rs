//! A session between round trips, as bytes: so a hub can keep it in its
//! database and let whichever hub process the device's next round reaches
//! carry on. The bytes are the hub's own (never a peer's), but they are
//! read back as carefully as anything else: a format this build does not
//! know is a typed error, never a panic.

use super::envelope::{read_items, write_items};
use super::{Peer, Phase, Refusal, Session, Side, SyncError, SyncResult, SyncStats, Trust};
use crate::identity::{Certificate, Scope};
use crate::replica::Replica;
use crate::wire::{Reader, WireError, Writer};
use automerge::sync::{BloomFilter, Capability, Have, State};
use automerge::ChangeHash;
use std::collections::{BTreeMap, BTreeSet};

const MAGIC: &[u8; 4] = b"SLNH";
const VERSION: u8 = 3;
/// Bounds for reading back: far above anything a session holds.
const MAX_DOCS: usize = 1_000_000;
const MAX_STATE_BYTES: usize = 64 << 20;
const MAX_TEXT: usize = 64 << 10;

impl Session {
    /// The session as bytes, to [`Session::resume`] later (on this replica
    /// or another process over the same storage).
    pub fn suspend(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(MAGIC).u8(VERSION);
        w.u8(match self.side {
            Side::Initiator => 0,
            Side::Responder => 1,
        });
        w.u8(match self.phase {
            Phase::Opening => 0,
            Phase::Running => 1,
            Phase::Done => 2,
        });
        w.raw(&self.session)
            .raw(&self.challenge)
            .uint(self.round.into());
        match &self.peer {
            None => {
                w.u8(0);
            }
            Some(p) => {
                w.u8(1);
                put_opt_str(&mut w, p.id.as_deref());
                match &p.key {
                    Some(k) => w.u8(1).raw(k),
                    None => w.u8(0),
                };
                put_strs(&mut w, p.scope.0.iter());
                match &p.cert {
                    Some(c) => w.u8(1).bytes(&c.encode()),
                    None => w.u8(0),
                };
            }
        }
        match &self.peer_holds_ours {
            Some(r) => w.u8(1).raw(r),
            None => w.u8(0),
        };
        w.uint(self.states.len() as u64);
        for (doc, state) in &self.states {
            w.str(doc);
            put_state(&mut w, state);
        }
        put_strs(&mut w, self.active.iter());
        put_strs(&mut w, self.sent.iter());
        put_strs(&mut w, self.received.iter());
        // One item at a time: a queue may hold more than an envelope may.
        w.uint(self.pending.len() as u64);
        for item in &self.pending {
            write_items(&mut w, std::slice::from_ref(item));
        }
        w.uint(self.pushed.len() as u64);
        for (doc, heads) in &self.pushed {
            w.str(doc);
            put_heads(&mut w, heads);
        }
        let s = &self.stats;
        for n in [
            s.docs_sent,
            s.docs_received,
            s.bytes_up,
            s.bytes_down,
            s.round_trips,
        ] {
            w.uint(n as u64);
        }
        put_refusals(&mut w, &s.refused);
        put_refusals(&mut w, &s.refused_by_peer);
        w.u8(u8::from(self.owe_done));
        put_refusals(&mut w, &self.untold);
        put_strs(&mut w, self.answered.iter());
        w.uint(self.parked.len() as u64);
        for (doc, changes) in &self.parked {
            w.str(doc).uint(changes.len() as u64);
            for c in changes {
                w.bytes(c);
            }
        }
        w.into_inner()
    }

    /// A session [`Session::suspend`] wrote, carrying on against `replica`
    /// (whose own key and certificate it takes afresh).
    pub fn resume(replica: &dyn Replica, bytes: &[u8]) -> SyncResult<Session> {
        let trust = Trust::load(replica)?;
        read_session(trust, bytes).map_err(|e| SyncError::Suspended(e.to_string()))
    }
}

fn read_session(trust: Trust, bytes: &[u8]) -> Result<Session, WireError> {
    let mut r = Reader::new(bytes);
    if r.raw(4, "held session magic")? != MAGIC {
        return Err(r.invalid("held session magic"));
    }
    if r.u8("held session version")? != VERSION {
        return Err(r.invalid("held session version"));
    }
    let side = match r.u8("side")? {
        0 => Side::Initiator,
        1 => Side::Responder,
        _ => return Err(r.invalid("side")),
    };
    let mut s = Session::new(side, trust);
    s.phase = match r.u8("phase")? {
        0 => Phase::Opening,
        1 => Phase::Running,
        2 => Phase::Done,
        _ => return Err(r.invalid("phase")),
    };
    s.session = r.array::<16>("session id")?;
    s.challenge = r.array::<16>("challenge")?;
    s.round = u32::try_from(r.uint("round")?).map_err(|_| r.invalid("round"))?;
    if flag(&mut r, "peer")? {
        let id = get_opt_str(&mut r)?;
        let key = if flag(&mut r, "peer key")? {
            Some(r.array::<32>("peer key")?)
        } else {
            None
        };
        let scope = Scope(get_strs(&mut r)?);
        let cert = if flag(&mut r, "peer certificate")? {
            let b = r.bytes("peer certificate", MAX_TEXT)?;
            Some(Certificate::decode(b).map_err(|_| r.invalid("peer certificate"))?)
        } else {
            None
        };
        s.peer = Some(Peer {
            id,
            key,
            scope,
            cert,
        });
    }
    if flag(&mut r, "certificate reference")? {
        s.peer_holds_ours = Some(r.array::<16>("certificate reference")?);
    }
    let n = r.len("sync states", MAX_DOCS)?;
    for _ in 0..n {
        let doc = r.str("document id", MAX_TEXT)?.to_string();
        let state = get_state(&mut r)?;
        s.states.insert(doc, state);
    }
    s.active = get_strs(&mut r)?.into_iter().collect::<BTreeSet<_>>();
    s.sent = get_strs(&mut r)?.into_iter().collect();
    s.received = get_strs(&mut r)?.into_iter().collect();
    let n = r.len("pending items", MAX_DOCS)?;
    for _ in 0..n {
        s.pending.extend(read_items(&mut r)?);
    }
    let n = r.len("pushed documents", MAX_DOCS)?;
    let mut pushed = BTreeMap::new();
    for _ in 0..n {
        let doc = r.str("document id", MAX_TEXT)?.to_string();
        pushed.insert(doc, get_heads(&mut r)?);
    }
    s.pushed = pushed;
    let mut n = || -> Result<usize, WireError> {
        usize::try_from(r.uint("figure")?).map_err(|_| r.invalid("figure"))
    };
    s.stats = SyncStats {
        docs_sent: n()?,
        docs_received: n()?,
        bytes_up: n()?,
        bytes_down: n()?,
        round_trips: n()?,
        refused: get_refusals(&mut r)?,
        refused_by_peer: get_refusals(&mut r)?,
    };
    s.owe_done = flag(&mut r, "closing owed")?;
    s.untold = get_refusals(&mut r)?;
    s.answered = get_strs(&mut r)?.into_iter().collect();
    let n = r.len("documents with waiting changes", MAX_DOCS)?;
    for _ in 0..n {
        let doc = r.str("document id", MAX_TEXT)?.to_string();
        let count = r.len("waiting changes", MAX_DOCS)?;
        let mut changes = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            changes.push(r.bytes("waiting change", MAX_STATE_BYTES)?.to_vec());
        }
        s.parked.insert(doc, changes);
    }
    r.finish()?;
    Ok(s)
}

/// automerge's sync state whole: `State::encode` keeps only the shared
/// heads (what outlives a session), and a session resumed without the rest
/// (what the peer said it has and needs, what was sent, what is in flight)
/// would start automerge's exchange over every round and never settle.
fn put_state(w: &mut Writer, s: &State) {
    put_heads(w, &s.shared_heads);
    put_heads(w, &s.last_sent_heads);
    put_opt_heads(w, s.their_heads.as_deref());
    put_opt_heads(w, s.their_need.as_deref());
    match &s.their_have {
        None => {
            w.u8(0);
        }
        Some(haves) => {
            w.u8(1).uint(haves.len() as u64);
            for h in haves {
                put_heads(w, &h.last_sync);
                w.bytes(&h.bloom.to_bytes());
            }
        }
    }
    w.uint(s.sent_hashes.len() as u64);
    for h in &s.sent_hashes {
        w.raw(&h.0);
    }
    for b in [
        s.in_flight,
        s.have_responded,
        s.read_only,
        s.peer_read_only,
        s.needs_reset,
    ] {
        w.u8(u8::from(b));
    }
    match &s.their_capabilities {
        None => {
            w.u8(0);
        }
        Some(caps) => {
            w.u8(1).uint(caps.len() as u64);
            for c in caps {
                w.u8(match c {
                    Capability::MessageV1 => 1,
                    Capability::MessageV2 => 2,
                    Capability::SyncReset => 3,
                });
            }
        }
    }
}

fn get_state(r: &mut Reader<'_>) -> Result<State, WireError> {
    let mut s = State::new();
    s.shared_heads = get_heads(r)?;
    s.last_sent_heads = get_heads(r)?;
    s.their_heads = get_opt_heads(r)?;
    s.their_need = get_opt_heads(r)?;
    if flag(r, "their haves")? {
        let n = r.len("their haves", MAX_DOCS)?;
        let mut haves = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let last_sync = get_heads(r)?;
            let bloom = BloomFilter::try_from(r.bytes("bloom filter", MAX_STATE_BYTES)?)
                .map_err(|_| r.invalid("bloom filter"))?;
            haves.push(Have { last_sync, bloom });
        }
        s.their_have = Some(haves);
    }
    s.sent_hashes = get_heads(r)?.into_iter().collect();
    s.in_flight = flag(r, "in flight")?;
    s.have_responded = flag(r, "responded")?;
    s.read_only = flag(r, "read only")?;
    s.peer_read_only = flag(r, "peer read only")?;
    s.needs_reset = flag(r, "needs reset")?;
    if flag(r, "capabilities")? {
        let n = r.len("capabilities", 16)?;
        let mut caps = Vec::with_capacity(n);
        for _ in 0..n {
            caps.push(match r.u8("capability")? {
                1 => Capability::MessageV1,
                2 => Capability::MessageV2,
                3 => Capability::SyncReset,
                _ => return Err(r.invalid("capability")),
            });
        }
        s.their_capabilities = Some(caps);
    }
    Ok(s)
}

fn put_opt_heads(w: &mut Writer, heads: Option<&[ChangeHash]>) {
    match heads {
        Some(h) => {
            w.u8(1);
            put_heads(w, h);
        }
        None => {
            w.u8(0);
        }
    }
}

fn get_opt_heads(r: &mut Reader<'_>) -> Result<Option<Vec<ChangeHash>>, WireError> {
    Ok(if flag(r, "heads present")? {
        Some(get_heads(r)?)
    } else {
        None
    })
}

fn flag(r: &mut Reader<'_>, what: &'static str) -> Result<bool, WireError> {
    match r.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(r.invalid(what)),
    }
}

fn put_opt_str(w: &mut Writer, s: Option<&str>) {
    match s {
        Some(s) => w.u8(1).str(s),
        None => w.u8(0),
    };
}

fn get_opt_str(r: &mut Reader<'_>) -> Result<Option<String>, WireError> {
    Ok(if flag(r, "text present")? {
        Some(r.str("text", MAX_TEXT)?.to_string())
    } else {
        None
    })
}

fn put_strs<'a>(w: &mut Writer, items: impl ExactSizeIterator<Item = &'a String>) {
    w.uint(items.len() as u64);
    for s in items {
        w.str(s);
    }
}

fn get_strs(r: &mut Reader<'_>) -> Result<Vec<String>, WireError> {
    let n = r.len("text count", MAX_DOCS)?;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        out.push(r.str("text", MAX_TEXT)?.to_string());
    }
    Ok(out)
}

fn put_heads(w: &mut Writer, heads: &[ChangeHash]) {
    w.uint(heads.len() as u64);
    for h in heads {
        w.raw(&h.0);
    }
}

fn get_heads(r: &mut Reader<'_>) -> Result<Vec<ChangeHash>, WireError> {
    let n = r.len("heads", MAX_DOCS)?;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        out.push(ChangeHash(r.array::<32>("head")?));
    }
    Ok(out)
}

fn put_refusals(w: &mut Writer, refusals: &[Refusal]) {
    w.uint(refusals.len() as u64);
    for f in refusals {
        w.str(&f.doc).str(&f.reason).u8(u8::from(f.damaged));
    }
}

fn get_refusals(r: &mut Reader<'_>) -> Result<Vec<Refusal>, WireError> {
    let n = r.len("refusals", MAX_DOCS)?;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        out.push(Refusal {
            doc: r.str("refused document", MAX_TEXT)?.to_string(),
            reason: r.str("refusal reason", MAX_TEXT)?.to_string(),
            damaged: flag(r, "damaged")?,
        });
    }
    Ok(out)
}
