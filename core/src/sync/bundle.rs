//! Bundles: sync where no link reaches. A bundle is one signed envelope in a
//! file (a memory card, a chat attachment) carrying whole cells, or only the
//! changes a known peer lacks, sealed to the devices it is for
//! ([`super::seal`]) unless the caller asks for a plain file. Import opens
//! a sealed file with this device's key, then checks the bundle exactly
//! like a session message (format, certificate, signature, scope) before
//! applying anything; merging makes it idempotent and order-free.
//!
//! Exporting is logged in the device's own audit log
//! ([`crate::audit`]); a bundle carries no audit entries (they go up to the
//! hub in sync sessions only).

use super::envelope::{Body, Envelope, Item};
use super::seal::{self, SealError};
use super::{check_items, random16, SyncError, SyncResult, Trust};
use crate::audit::{CountKey, DeviceAction};
use crate::identity::Certificate;
use crate::model::check_id;
use crate::replica::Replica;
use automerge::sync::State;

/// What goes into a bundle.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Cells to export; all cells in this device's scope when empty.
    pub cells: Vec<String>,
    /// Export only what this peer (device id) is known to lack, using the
    /// sync state kept from earlier sessions; cells never shared with it go
    /// whole.
    pub for_peer: Option<String>,
    /// Who may open the file.
    pub sealing: Sealing,
}

/// Who a bundle is sealed to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Sealing {
    /// Not sealed: anyone holding the file reads it (say so to the user).
    #[default]
    Plain,
    /// Sealed to these devices (ids of peers this device has met, whose
    /// certificates it holds).
    To(Vec<String>),
    /// Sealed to every device this one has met that may hold one of the
    /// cells (its certificate's scope covers it) and is not revoked: the
    /// hub, the grid worker, the lead.
    KnownPeers,
}

/// Writes a bundle. Returns its bytes and how many cells it carries.
pub fn export(store: &dyn Replica, options: &ExportOptions) -> SyncResult<(Vec<u8>, usize)> {
    let trust = Trust::load(store)?;
    let ids: Vec<String> = if options.cells.is_empty() {
        store
            .scope_heads(&trust.scope)?
            .into_iter()
            .map(|r| r.id)
            .collect()
    } else {
        for id in &options.cells {
            check_id("cell", id).map_err(crate::Error::from)?;
            if store.cell_path(id)?.is_none() {
                return Err(crate::Error::not_found("cell", id).into());
            }
        }
        options.cells.clone()
    };
    // The old lineage of a cell whose erasure this device knows of but
    // has not yet followed is not passed on.
    let awaiting = store.awaiting_epochs(&ids)?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        if awaiting.contains(&id) {
            continue;
        }
        let shared = match &options.for_peer {
            Some(peer) => store
                .sync_state(peer, &id)?
                .and_then(|b| State::decode(&b).ok())
                .map(|s| s.shared_heads)
                .filter(|h| !h.is_empty()),
            None => None,
        };
        match shared {
            Some(heads) => {
                let bytes = store.changes_after(&id, &heads)?;
                if !bytes.is_empty() {
                    items.push(Item::Changes { doc: id, bytes });
                }
            }
            None => items.push(Item::Whole {
                bytes: store.save_doc(&id)?,
                doc: id,
            }),
        }
    }
    let count = items.len();
    let ids = ids_of(&items);
    let recipients = recipients(store, &options.sealing, &ids)?;
    let env = Envelope {
        session: random16(),
        challenge: [0; 16],
        round: 0,
        time: store.clock().timestamp(),
        sender: trust.sender(None),
        body: Body::Bundle {
            items,
            revocations: super::revocations_to_send(store, &[])?,
            orders: super::orders_to_send(store)?,
        },
        signature: None,
    };
    let plain = trust.seal(env);
    let sealed_to = recipients.as_ref().map_or(0, Vec::len);
    let bytes = match recipients {
        None => plain,
        Some(keys) => seal::seal(&plain, &keys)?,
    };
    // The device's own audit log: people's data left the store. A bundle
    // of one cell names it; the counts say how many and to how many
    // devices (0: a plain file anyone can read).
    let one = match ids.as_slice() {
        [only] => Some(only.as_str()),
        _ => None,
    };
    store.record_audit(
        DeviceAction::BundleExport,
        one,
        &[
            (CountKey::Docs, count as i64),
            (CountKey::Recipients, sealed_to as i64),
            (CountKey::Bytes, bytes.len() as i64),
        ],
    )?;
    Ok((bytes, count))
}

fn ids_of(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| i.doc().to_string()).collect()
}

/// The public keys a bundle of `cells` is sealed to, or `None` for a
/// plain one.
fn recipients(
    store: &dyn Replica,
    sealing: &Sealing,
    cells: &[String],
) -> SyncResult<Option<Vec<[u8; 32]>>> {
    let now = store.clock().timestamp();
    let usable = |c: &Certificate| -> SyncResult<bool> {
        Ok(c.expires > now && !store.is_revoked(&c.device_id)?)
    };
    let known = store.peer_certificates()?;
    let keys = match sealing {
        Sealing::Plain => return Ok(None),
        Sealing::To(ids) => {
            let mut keys = Vec::with_capacity(ids.len());
            for id in ids {
                let cert = known
                    .iter()
                    .find(|c| &c.device_id == id)
                    .ok_or(SealError::UnknownRecipient(id.clone()))?;
                if !usable(cert)? {
                    return Err(SealError::RecipientRevoked(id.clone()).into());
                }
                keys.push(cert.public_key);
            }
            keys
        }
        Sealing::KnownPeers => {
            let mut paths = Vec::with_capacity(cells.len());
            for id in cells {
                paths.push((id.as_str(), store.cell_path(id)?.unwrap_or_default()));
            }
            let mut keys = Vec::new();
            for c in &known {
                if usable(c)? && paths.iter().any(|(id, p)| c.scope.covers(id, p)) {
                    keys.push(c.public_key);
                }
            }
            if keys.is_empty() {
                return Err(SealError::NoKnownRecipient.into());
            }
            keys
        }
    };
    Ok(Some(keys))
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ImportOutcome {
    pub docs: usize,
    pub changed: usize,
    /// Cells whose changes were refused (write rules, merged-document
    /// checks): nothing of them was kept; the other cells were imported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<super::Refusal>,
}

/// Applies a bundle. The whole file is checked before the first cell is
/// applied, so a bad or foreign file writes nothing (but the office's
/// revocations it carries, once verified, are kept even when its sender is
/// refused).
pub fn import(store: &dyn Replica, bytes: &[u8]) -> SyncResult<ImportOutcome> {
    let trust = Trust::load(store)?;
    let opened;
    let bytes = if seal::is_sealed(bytes) {
        opened = seal::open(bytes, &trust.key)?;
        &opened[..]
    } else {
        bytes
    };
    let (env, signed_len) = Envelope::decode(bytes)?;
    let Body::Bundle { items, .. } = &env.body else {
        return Err(SyncError::Unexpected("session"));
    };
    let peer = trust.admit(store, &env, bytes, signed_len)?;
    let checked = check_items(store, &trust.scope, &peer.scope, items)?;
    let sender = peer.cert.as_ref().map(|c| c.role);
    let mut outcome = ImportOutcome::default();
    for (item, checked) in items.iter().zip(checked) {
        if let Err(reason) = checked {
            outcome.refused.push(super::Refusal {
                doc: item.doc().to_string(),
                reason,
                damaged: true,
            });
            continue;
        }
        let applied = match item {
            Item::Whole { doc, bytes } => store
                .merge_from(bytes, sender, peer.scope.names_cell(doc))
                .map(|(_, c)| c),
            Item::Changes { doc, bytes } => store
                .apply_changes_from(doc, bytes, sender)
                .map(|a| a.changed),
            // A bundle is one-way: sync messages and requests need a peer
            // that answers.
            Item::Sync { .. } | Item::Want { .. } | Item::Since { .. } | Item::Refused { .. } => {
                return Err(SyncError::Unexpected("session item in a bundle"))
            }
        };
        let changed = match applied {
            Ok(c) => c,
            Err(crate::Error::Refused { reason, .. }) => {
                outcome.refused.push(super::Refusal {
                    doc: item.doc().to_string(),
                    reason,
                    damaged: false,
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        outcome.docs += 1;
        outcome.changed += usize::from(changed);
    }
    // A verified sender whose cells were taken is a device met: bundles can
    // be sealed to it now. (A file refused whole writes nothing, not even
    // this.)
    if let (Some(cert), true) = (&peer.cert, outcome.docs > 0) {
        store.remember_peer(cert, None)?;
    }
    Ok(outcome)
}

/// Decodes a plain bundle file without applying it (inspection, fuzzing);
/// a sealed one is opened by [`import`] only, with the device's key.
pub fn decode(bytes: &[u8]) -> SyncResult<Vec<Item>> {
    match super::envelope::decode(bytes)?.body {
        Body::Bundle { items, .. } => Ok(items),
        _ => Err(SyncError::Unexpected("session")),
    }
}
