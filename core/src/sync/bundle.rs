//! Bundles: sync where no link reaches. A bundle is one signed envelope in a
//! file (a memory card, a chat attachment) carrying whole cells, or only the
//! changes a known peer lacks. Import checks it exactly like a session
//! message (format, certificate, signature, scope) before applying anything,
//! and merging makes it idempotent and order-free.

use super::envelope::{Body, Envelope, Item};
use super::{check_items, random16, SyncError, SyncResult, Trust};
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
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
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
    let env = Envelope {
        session: random16(),
        challenge: [0; 16],
        round: 0,
        time: store.clock().timestamp(),
        sender: trust.sender(None),
        body: Body::Bundle {
            items,
            revocations: super::revocations_to_send(store, &[])?,
        },
        signature: None,
    };
    Ok((trust.seal(env), count))
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
    Ok(outcome)
}

/// Decodes a bundle file without applying it (inspection, fuzzing).
pub fn decode(bytes: &[u8]) -> SyncResult<Vec<Item>> {
    match super::envelope::decode(bytes)?.body {
        Body::Bundle { items, .. } => Ok(items),
        _ => Err(SyncError::Unexpected("session")),
    }
}
