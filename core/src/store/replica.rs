//! The SQLite store as a sync [`Replica`]: the phone's, and the default
//! hub's.

use super::{PeerRefs, Store};
use crate::clock::Clock;
use crate::error::Result;
use crate::identity::{Certificate, KeyPair, Role, Scope};
use crate::replica::{Absorbed, Replica};
use crate::store::DocHeadsRow;
use automerge::sync::{Message, State};
use automerge::ChangeHash;

impl Replica for Store {
    fn clock(&self) -> &Clock {
        Store::clock(self)
    }

    fn device_key(&self) -> Result<KeyPair> {
        Store::device_key(self)
    }

    fn certificate(&self) -> Result<Option<Certificate>> {
        Store::certificate(self)
    }

    fn office_public_key(&self) -> Result<Option<[u8; 32]>> {
        Store::office_public_key(self)
    }

    fn is_revoked(&self, device_id: &str) -> Result<bool> {
        Store::is_revoked(self, device_id)
    }

    fn revocations(&self) -> Result<Vec<crate::identity::Revocation>> {
        Store::revocations(self)
    }

    fn record_revocations(&self, revocations: &[crate::identity::Revocation]) -> Result<usize> {
        Store::record_revocations(self, revocations)
    }

    fn audit_to_send(&self) -> Result<Vec<crate::audit::DeviceEntry>> {
        Store::audit_to_send(self)
    }

    fn audit_sent(&self, upto: u64) -> Result<()> {
        Store::mark_audit_sent(self, upto)
    }

    fn take_device_audit(
        &self,
        cert: &Certificate,
        entries: &[crate::audit::DeviceEntry],
    ) -> Result<Option<u64>> {
        Store::take_device_audit(self, cert, entries)
    }

    fn record_audit(
        &self,
        action: crate::audit::DeviceAction,
        cell: Option<&str>,
        counts: &[(crate::audit::CountKey, i64)],
    ) -> Result<()> {
        Store::record_audit(self, action, cell, counts)
    }

    fn erasure_orders(&self) -> Result<Vec<crate::erasure::ErasureOrder>> {
        Store::erasure_orders(self)
    }

    fn take_erasure_orders(
        &self,
        orders: &[crate::erasure::ErasureOrder],
    ) -> Result<crate::store::OrdersTaken> {
        Store::take_erasure_orders(self, orders)
    }

    fn awaiting_epochs(&self, cells: &[String]) -> Result<std::collections::BTreeSet<String>> {
        Store::awaiting_epochs(self, cells)
    }

    fn first_sighting(&self, session: &[u8; 16]) -> Result<bool> {
        Store::first_sighting(self, session)
    }

    fn remember_peer(&self, cert: &Certificate, ours: Option<[u8; 16]>) -> Result<()> {
        Store::remember_peer(self, cert, ours)
    }

    fn peer_certificate(&self, cert_ref: &[u8; 16]) -> Result<Option<Certificate>> {
        Store::peer_certificate(self, cert_ref)
    }

    fn peer_refs(&self, device_id: &str) -> Result<Option<PeerRefs>> {
        Store::peer_refs(self, device_id)
    }

    fn peer_certificates(&self) -> Result<Vec<Certificate>> {
        Store::peer_certificates(self)
    }

    fn sync_state(&self, peer: &str, doc: &str) -> Result<Option<Vec<u8>>> {
        Store::sync_state(self, peer, doc)
    }

    fn save_sync_states(&self, peer: &str, states: &[(String, Vec<u8>)]) -> Result<()> {
        Store::save_sync_states(self, peer, states)
    }

    fn scope_heads(&self, scope: &Scope) -> Result<Vec<DocHeadsRow>> {
        Store::scope_heads(self, scope)
    }

    fn cell_path(&self, cell_id: &str) -> Result<Option<String>> {
        Store::cell_path(self, cell_id)
    }

    fn heads(&self, cell_id: &str) -> Result<Vec<ChangeHash>> {
        Store::heads(self, cell_id)
    }

    fn holds_changes(&self, cell_id: &str, hashes: &[ChangeHash]) -> Result<bool> {
        self.with_doc(cell_id, |d| Ok(d.holds_changes(hashes)))
    }

    fn settled_heads(&self, cell_id: &str) -> Result<Option<Vec<ChangeHash>>> {
        self.with_doc(cell_id, |d| Ok(d.settled_heads()))
    }

    fn changes_after(&self, cell_id: &str, heads: &[ChangeHash]) -> Result<Vec<u8>> {
        Store::changes_after(self, cell_id, heads)
    }

    fn save_doc(&self, cell_id: &str) -> Result<Vec<u8>> {
        Store::save_doc(self, cell_id)
    }

    fn generate_sync_message(&self, cell_id: &str, state: &mut State) -> Result<Option<Message>> {
        self.with_doc(cell_id, |d| Ok(d.generate_sync_message(state)))
    }

    fn receive_sync_message(
        &self,
        cell_id: &str,
        sender: Option<Role>,
        state: &mut State,
        message: Message,
    ) -> Result<Absorbed> {
        self.absorb_with(cell_id, sender, |d| d.receive_sync_message(state, message))
    }

    fn merge_from(
        &self,
        bytes: &[u8],
        sender: Option<Role>,
        names_cell: bool,
    ) -> Result<(String, bool)> {
        Store::merge_from(self, bytes, sender, names_cell)
    }

    fn apply_changes_from(
        &self,
        cell_id: &str,
        bytes: &[u8],
        sender: Option<Role>,
    ) -> Result<Absorbed> {
        self.absorb_with(cell_id, sender, |d| d.apply_bytes(bytes).map(|_| ()))
    }
}
