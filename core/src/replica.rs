//! What sync needs from whatever holds cell documents: the [`Replica`]
//! trait, and the trust boundary every implementation passes incoming bytes
//! through ([`absorb_checked`], [`admit_new`]).
//!
//! A sync [`crate::sync::Session`] and a bundle speak to a `Replica` only, so
//! the phone's SQLite [`crate::Store`] and the hub's storages (SQLite or
//! PostgreSQL) run the same protocol and refuse the same things. Nothing
//! outside a replica touches raw automerge: sync asks for heads, changes,
//! saved documents and sync messages, and hands over what a peer sent with
//! the sender's role, for the replica to check and persist in one
//! transaction.

use crate::audit::{CountKey, DeviceAction, DeviceEntry};
use crate::cell::{CellDoc, Touched};
use crate::clock::Clock;
use crate::erasure::ErasureOrder;
use crate::error::{Error, Result};
use crate::identity::{Certificate, KeyPair, Revocation, Role, Scope};
use crate::store::{DocHeadsRow, OrdersTaken, PeerRefs};
use automerge::sync::{Message, State};
use automerge::{ActorId, ChangeHash};
use std::collections::BTreeSet;

/// A holder of cell documents that sync can run against. Every method that
/// takes a peer's bytes checks them (guard, identity, layout, bounds, and
/// with a `sender` role the write rules of [`crate::rules`]) before anything
/// is kept: a refused input changes nothing and fails with
/// [`Error::Refused`].
pub trait Replica {
    // ---- this replica's own identity ----------------------------------

    fn clock(&self) -> &Clock;
    /// This replica's signing key, created on first use.
    fn device_key(&self) -> Result<KeyPair>;
    /// The certificate this replica enrolled with, if any.
    fn certificate(&self) -> Result<Option<Certificate>>;
    /// The office key certificates are checked against (`None`: open mode,
    /// which accepts any peer).
    fn office_public_key(&self) -> Result<Option<[u8; 32]>>;

    // ---- what it knows of peers ----------------------------------------

    fn is_revoked(&self, device_id: &str) -> Result<bool>;
    /// The office-signed revocations this replica holds, to pass on in
    /// sessions and bundles. (A replica that keeps none signed passes on
    /// none.)
    fn revocations(&self) -> Result<Vec<Revocation>> {
        Ok(Vec::new())
    }
    /// Keeps revocations a peer passed on, each already checked against
    /// the office key, so that their devices are refused from now on and
    /// the revocations travel on. Returns how many were new. (A replica
    /// that is itself the office's source of revocations may keep none.)
    fn record_revocations(&self, revocations: &[Revocation]) -> Result<usize> {
        let _ = revocations;
        Ok(0)
    }
    /// The office's erasure orders this replica holds, to pass on. (A
    /// replica that keeps none passes on none.)
    fn erasure_orders(&self) -> Result<Vec<ErasureOrder>> {
        Ok(Vec::new())
    }
    /// Takes erasure orders a peer passed on: checked against the office
    /// key, kept, and followed where the replica can (see
    /// [`crate::erasure`]). A replica that keeps none ignores them.
    fn take_erasure_orders(&self, orders: &[ErasureOrder]) -> Result<OrdersTaken> {
        let _ = orders;
        Ok(OrdersTaken::default())
    }
    /// Which of `cells` the replica waits for the new epoch of from a peer
    /// (an erasure it learnt of but could not follow): it then asks for
    /// such a document whole rather than syncing or passing on the old
    /// one. A session asks once, for every cell it shares with the peer.
    /// (A replica that keeps no orders waits for none.)
    fn awaiting_epochs(&self, cells: &[String]) -> Result<BTreeSet<String>> {
        let _ = cells;
        Ok(BTreeSet::new())
    }
    // ---- audit entries of devices' own actions (see crate::audit) -----

    /// This replica's own audit entries its hub has not acknowledged, the
    /// oldest [`crate::audit::MAX_ENTRIES`], to send up in a session's
    /// opening message. (A replica that keeps no log of its own sends
    /// none.)
    fn audit_to_send(&self) -> Result<Vec<DeviceEntry>> {
        Ok(Vec::new())
    }
    /// The hub said it holds this replica's entries up to `upto`: they
    /// are marked sent (never removed).
    fn audit_sent(&self, upto: u64) -> Result<()> {
        let _ = upto;
        Ok(())
    }
    /// Entries the device of `cert` (the session's verified certificate,
    /// never what the entries claim) sent up: a hub appends those it does
    /// not hold yet to its log, that device as the actor, and returns up
    /// to which of the device's sequence numbers it holds them. `None`:
    /// this replica keeps none (a phone), and the sender keeps them.
    fn take_device_audit(
        &self,
        cert: &Certificate,
        entries: &[DeviceEntry],
    ) -> Result<Option<u64>> {
        let _ = (cert, entries);
        Ok(None)
    }
    /// Logs one of this replica's own actions on personal data (a bundle
    /// exported) in its own log. (A replica that keeps none logs nothing.)
    fn record_audit(
        &self,
        action: DeviceAction,
        cell: Option<&str>,
        counts: &[(CountKey, i64)],
    ) -> Result<()> {
        let _ = (action, cell, counts);
        Ok(())
    }
    /// Records a session (or bundle) id; false if it was seen before.
    fn first_sighting(&self, session: &[u8; 16]) -> Result<bool>;
    /// Records a peer's certificate; with `ours`, also that the peer holds
    /// our certificate of that reference.
    fn remember_peer(&self, cert: &Certificate, ours: Option<[u8; 16]>) -> Result<()>;
    /// A peer's certificate by its reference, if this replica has seen it.
    fn peer_certificate(&self, cert_ref: &[u8; 16]) -> Result<Option<Certificate>>;
    fn peer_refs(&self, device_id: &str) -> Result<Option<PeerRefs>>;
    /// Every peer certificate this replica has met, to seal bundles to
    /// (a hub keeps none it would seal to).
    fn peer_certificates(&self) -> Result<Vec<Certificate>> {
        Ok(Vec::new())
    }
    /// automerge's sync state with `peer` for `doc`, as last saved.
    fn sync_state(&self, peer: &str, doc: &str) -> Result<Option<Vec<u8>>>;
    /// Saves several documents' sync states with one peer at once.
    fn save_sync_states(&self, peer: &str, states: &[(String, Vec<u8>)]) -> Result<()>;

    // ---- documents ------------------------------------------------------

    /// Ids, paths and heads of the documents `scope` covers, ordered by id,
    /// without loading any document.
    fn scope_heads(&self, scope: &Scope) -> Result<Vec<DocHeadsRow>>;
    /// The region path of a cell this replica holds.
    fn cell_path(&self, cell_id: &str) -> Result<Option<String>>;
    fn heads(&self, cell_id: &str) -> Result<Vec<ChangeHash>>;
    /// Whether the document holds every one of `hashes`.
    fn holds_changes(&self, cell_id: &str, hashes: &[ChangeHash]) -> Result<bool>;
    /// Its heads when it waits on no missing dependency, else `None`.
    fn settled_heads(&self, cell_id: &str) -> Result<Option<Vec<ChangeHash>>>;
    /// The changes a peer holding `heads` lacks.
    fn changes_after(&self, cell_id: &str, heads: &[ChangeHash]) -> Result<Vec<u8>>;
    /// The whole document in automerge's binary format.
    fn save_doc(&self, cell_id: &str) -> Result<Vec<u8>>;
    /// automerge's next sync message for the document, advancing `state`.
    fn generate_sync_message(&self, cell_id: &str, state: &mut State) -> Result<Option<Message>>;

    // ---- what a peer hands over ----------------------------------------

    /// Applies a peer's sync message.
    fn receive_sync_message(
        &self,
        cell_id: &str,
        sender: Option<Role>,
        state: &mut State,
        message: Message,
    ) -> Result<Absorbed>;
    /// Merges a whole document (a cell new to this replica is created from
    /// it, if `sender` may hand it over; `names_cell`: the sender's
    /// certificate names the cell by id). Returns the cell id and whether
    /// anything changed.
    fn merge_from(
        &self,
        bytes: &[u8],
        sender: Option<Role>,
        names_cell: bool,
    ) -> Result<(String, bool)>;
    /// Applies changes to a held cell.
    fn apply_changes_from(
        &self,
        cell_id: &str,
        bytes: &[u8],
        sender: Option<Role>,
    ) -> Result<Absorbed>;
}

/// What a replica did with a peer's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Absorbed {
    /// Something new was kept.
    pub changed: bool,
    /// Some of the changes depend on changes the replica lacks: they wait,
    /// unchecked and unpersisted, in the replica's copy until its next
    /// write (so that automerge asks the peer for what they need). The next
    /// write starts from the persisted document: a waiting change is only
    /// ever applied, and checked, in the call that offers it, against that
    /// call's sender. The sync session that brought them offers them again
    /// with what it receives next, on whichever process serves it.
    pub waiting: bool,
    /// The replica wrote a change of its own in the same write (a layout
    /// migration, or a lead's phone giving way on a crossed resident ID):
    /// the peer lacks it, so the session must send it on.
    pub wrote: bool,
}

/// Whether `doc` holds changes automerge queued for a missing dependency.
/// A replica reports it as [`Absorbed::waiting`], and drops such a copy
/// before its next write.
pub fn holds_waiting(doc: &mut CellDoc) -> bool {
    doc.holds_waiting()
}

/// The trust boundary for a held cell: runs `f` (which applies a peer's
/// changes) on `doc`, whose persisted heads are `before`, and checks what it
/// did. Returns what changed (the projection rows the merge reached), or
/// `None` for nothing new. On `Err` the document may hold
/// part of the refused input: the caller must drop it and reload from what
/// it persisted. Identity is compared with what the replica held, never
/// with what the bytes claim; the write rules (with a `sender`) with what
/// the change did to the replica's copy.
pub fn absorb_checked(
    doc: &mut CellDoc,
    before: &[ChangeHash],
    sender: Option<Role>,
    f: impl FnOnce(&mut CellDoc) -> Result<()>,
) -> Result<Option<Touched>> {
    let id = doc.id();
    let refused = |reason: String| Error::Refused {
        doc: id.clone(),
        reason,
    };
    let identity = |d: &CellDoc| (d.id(), d.info().ok().map(|i| i.path.to_string()));
    let held = identity(doc);
    let held_epoch = doc.epoch();
    match crate::guard::contain(|| f(doc)) {
        Ok(r) => r?,
        Err(g) => return Err(refused(g.to_string())),
    }
    let mut after = doc.heads();
    after.sort();
    let mut sorted_before = before.to_vec();
    sorted_before.sort();
    if after == sorted_before {
        return Ok(None);
    }
    if identity(doc) != held {
        return Err(refused(
            "they would change the cell's id or region; only the office may move a cell".into(),
        ));
    }
    // An erasure's new lineage never mixes with the old: it replaces it
    // through its order ([`crate::store`]), and the old one's changes are
    // refused from then on.
    let other_lineage = doc.epoch() != held_epoch
        || crate::guard::contain(|| doc.foreign_change(before))
            .map_err(|g| refused(g.to_string()))?
            .is_some();
    if other_lineage {
        return Err(refused(format!(
            "they belong to another epoch of the cell than this device's (epoch {held_epoch}): the office erased data from it; both devices must first sync with the hub, or with a device that holds the erasure order"
        )));
    }
    // One diff, for the write rules and for checking only what the merge
    // added (the held document passed these checks before).
    let patches =
        crate::guard::contain(|| doc.diff_since(before)).map_err(|g| refused(g.to_string()))?;
    if let Some(role) = sender {
        let effects = crate::guard::contain(|| doc.effects(&patches, before))
            .map_err(|g| refused(g.to_string()))?;
        crate::rules::check(role, &effects).map_err(|e| refused(e.to_string()))?;
    }
    match crate::guard::contain(|| {
        doc.check_patches(&patches)?;
        doc.check_reloads(before)
    }) {
        Ok(Ok(())) => Ok(Some(Touched::by_patches(&patches))),
        Ok(Err(e)) => Err(refused(e.to_string())),
        Err(g) => Err(refused(g.to_string())),
    }
}

/// A whole document from a peer, decoded behind the guard (with `actor` as
/// this replica's actor), with its cell id. Bad bytes are refused before
/// they touch a stored document.
pub fn decode_whole(bytes: &[u8], actor: &ActorId) -> Result<(String, CellDoc)> {
    let refused = |reason: String| Error::Refused {
        doc: "?".into(),
        reason,
    };
    crate::guard::saved(bytes).map_err(|g| refused(g.to_string()))?;
    let doc = crate::guard::contain(|| CellDoc::load(bytes, actor))
        .map_err(|g| refused(g.to_string()))??;
    let info = doc.info()?;
    crate::model::check_id("cell", &info.id)?;
    Ok((info.id, doc))
}

/// The trust boundary for a cell new to the replica: taken only whole, only
/// from a role that may hand over cells, and only if it passes the checks a
/// merge must. Returns the document ready to store (migrated to the current
/// layout at `now`).
pub fn admit_new(
    mut doc: CellDoc,
    sender: Option<Role>,
    names_cell: bool,
    now: i64,
) -> Result<CellDoc> {
    let id = doc.id();
    if let Some(role) = sender {
        crate::rules::may_hand_over(role, names_cell).map_err(|e| Error::Refused {
            doc: id.clone(),
            reason: e.to_string(),
        })?;
    }
    crate::guard::contain(|| doc.check_merged()).map_err(|g| Error::Refused {
        doc: id.clone(),
        reason: g.to_string(),
    })??;
    doc.migrate(now)?;
    Ok(doc)
}
