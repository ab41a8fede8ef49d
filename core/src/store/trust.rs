//! What the store keeps for identity and sync: the device key, its
//! certificate and the pinned office key, revocations, known peers and
//! per-peer sync state. (A hub's enrolment tokens and office key are the
//! hub's: see silin-hub.) Kept next to the
//! documents so one backup, one encryption key and one transaction cover
//! both.

use super::{heads_from_bytes, Store};
use crate::error::{Error, Result};
use crate::identity::{self, Certificate, IdentityError, KeyPair, Role, Scope};
use automerge::ChangeHash;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// The role of the certificate a store holds, if any (read at open).
pub(super) fn enrolled_role(conn: &Connection) -> Result<Option<Role>> {
    Ok(get_meta(conn, "certificate")?
        .and_then(|b| Certificate::decode(&b).ok())
        .map(|c| c.role))
}

fn get_meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn put_meta(conn: &Connection, key: &str, value: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![key, value],
    )?;
    Ok(())
}

/// A transaction that reads and then writes: it takes the file's write
/// lock first, so another program's commit in between makes it wait
/// (busy timeout) instead of failing.
fn write_tx(conn: &Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
}

/// Runs `write`, a bookkeeping write of sync (sessions seen, peers'
/// certificates, sync states), committing without waiting for the disk:
/// the next document write's fsync carries it along (the WAL is one
/// sequence), and at most one fsync per round stays on the hub's one
/// writer lock. What a power cut may take back costs little: a sync state
/// or a peer's certificate only makes the next sync send more; a session
/// id lets that session's first message be seen once more within the
/// clock-skew window, and every later message still needs the peer's
/// signature. A user's edits and a peer's changes never go through here.
fn bookkeeping<T>(conn: &Connection, write: impl FnOnce() -> Result<T>) -> Result<T> {
    // 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
    let level: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    if level < 2 {
        return write();
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL")?;
    let out = write();
    conn.execute_batch(&format!("PRAGMA synchronous = {level}"))?;
    out
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn seed(bytes: Vec<u8>, what: &str) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| Error::Incompatible(format!("the stored {what} is not 32 bytes")))
}

/// A document as sync sees it without loading it: id, region path, heads.
#[derive(Debug, Clone)]
pub struct DocHeadsRow {
    pub id: String,
    pub path: String,
    pub heads: Vec<ChangeHash>,
}

impl DocHeadsRow {
    pub fn heads_hash(&self) -> [u8; 8] {
        heads_hash(&self.heads)
    }
}

/// 8 bytes of the hash of a set of heads (in any order).
pub fn heads_hash(heads: &[ChangeHash]) -> [u8; 8] {
    let mut sorted = heads.to_vec();
    sorted.sort();
    let mut h = Sha256::new();
    for head in &sorted {
        h.update(head.0);
    }
    let d = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// A known peer's certificate reference, and ours if the peer holds it.
pub type PeerRefs = ([u8; 16], Option<[u8; 16]>);

/// A hub TLS certificate fingerprint as stored (64 lowercase hex digits),
/// read back; anything else is a damaged store.
pub fn stored_fingerprint(bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes)
        .ok()
        .filter(|s| is_sha256_hex(s))
        .ok_or_else(|| {
            Error::Incompatible(
                "the stored hub certificate fingerprint is not 64 hex digits".into(),
            )
        })
}

/// A hub TLS certificate fingerprint to store: 64 hex digits, lowercased.
pub fn fingerprint_to_store(fingerprint: &str) -> Result<String> {
    if !is_sha256_hex(fingerprint) {
        return Err(crate::model::ValidationError::new(
            "hub_certificate",
            "a SHA-256 fingerprint: 64 hex digits",
        )
        .into());
    }
    Ok(fingerprint.to_ascii_lowercase())
}

impl Store {
    /// This device's signing key, created on first use.
    pub fn device_key(&self) -> Result<KeyPair> {
        let inner = self.lock();
        if let Some(s) = get_meta(&inner.conn, "device_key")? {
            return Ok(KeyPair::from_seed(&seed(s, "device key")?));
        }
        let key = KeyPair::generate();
        put_meta(&inner.conn, "device_key", &key.seed())?;
        Ok(key)
    }

    /// The certificate this device enrolled with, if any.
    pub fn certificate(&self) -> Result<Option<Certificate>> {
        let inner = self.lock();
        match get_meta(&inner.conn, "certificate")? {
            None => Ok(None),
            Some(b) => Certificate::decode(&b).map(Some).map_err(|e| {
                Error::Incompatible(format!("the stored certificate does not decode: {e}"))
            }),
        }
    }

    /// The office key this device trusts, pinned at enrolment.
    pub fn office_public_key(&self) -> Result<Option<[u8; 32]>> {
        let inner = self.lock();
        get_meta(&inner.conn, "office_public_key")?
            .map(|b| seed(b, "office public key"))
            .transpose()
    }

    /// The SHA-256 fingerprint (64 lowercase hex digits) of the hub's TLS
    /// certificate this device pinned at enrolment: the only certificate it
    /// accepts from an https hub. On a hub's own store: the certificate that
    /// hub serves (so the tokens it issues can name it).
    pub fn pinned_hub_certificate(&self) -> Result<Option<String>> {
        let inner = self.lock();
        get_meta(&inner.conn, "hub_certificate")?
            .map(stored_fingerprint)
            .transpose()
    }

    /// Pins the hub's TLS certificate by its SHA-256 fingerprint (64 hex
    /// digits), or removes the pin (`None`).
    pub fn pin_hub_certificate(&self, fingerprint: Option<&str>) -> Result<()> {
        let inner = self.lock();
        match fingerprint {
            Some(f) => put_meta(
                &inner.conn,
                "hub_certificate",
                fingerprint_to_store(f)?.as_bytes(),
            ),
            None => {
                inner
                    .conn
                    .execute("DELETE FROM meta WHERE key = 'hub_certificate'", [])?;
                Ok(())
            }
        }
    }

    /// Stores a certificate issued for this device and pins the office key
    /// that signed it. Refuses one that is not ours or does not verify.
    pub fn install_certificate(
        &self,
        cert: &Certificate,
        office: &[u8; 32],
    ) -> Result<(), IdentityError> {
        let key = self.device_key().map_err(|_| IdentityError::NotOurs)?;
        if cert.public_key != key.public_key() || cert.device_id != self.device_id() {
            return Err(IdentityError::NotOurs);
        }
        cert.verify(office, self.now_ts())?;
        let mut inner = self.lock();
        let write = || -> Result<()> {
            let tx = write_tx(&inner.conn)?;
            put_meta(&tx, "certificate", &cert.encode())?;
            put_meta(&tx, "office_public_key", office)?;
            tx.commit()?;
            Ok(())
        };
        write().map_err(|_| IdentityError::NotOurs)?;
        inner.role = Some(cert.role);
        Ok(())
    }

    pub fn revoke(&self, device_id: &str) -> Result<()> {
        self.lock().conn.execute(
            "INSERT OR REPLACE INTO revoked (device_id, revoked_at) VALUES (?1, ?2)",
            params![device_id, self.now_ts()],
        )?;
        Ok(())
    }

    /// The office-signed revocations this store holds, to pass on (kept
    /// beside the `revoked` row, in `meta` under `revocation:<device id>`).
    /// One that no longer decodes is left out, never passed on.
    pub fn revocations(&self) -> Result<Vec<identity::Revocation>> {
        let inner = self.lock();
        let mut s = inner.conn.prepare_cached(
            "SELECT value FROM meta WHERE key >= 'revocation:' AND key < 'revocation;' ORDER BY key",
        )?;
        let rows = s.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for bytes in rows {
            if let Ok(rev) = identity::Revocation::decode(&bytes?) {
                out.push(rev);
            }
            if out.len() == identity::MAX_REVOCATIONS {
                break;
            }
        }
        Ok(out)
    }

    /// Keeps office-signed revocations (the caller has checked them against
    /// the office key) in one transaction: each device is refused from now
    /// on, and the signed record is passed on in later sessions and
    /// bundles. Returns how many were new to this store.
    pub fn record_revocations(&self, revocations: &[identity::Revocation]) -> Result<usize> {
        let inner = self.lock();
        let tx = write_tx(&inner.conn)?;
        let mut new = 0;
        for rev in revocations {
            tx.execute(
                "INSERT OR IGNORE INTO revoked (device_id, revoked_at) VALUES (?1, ?2)",
                params![rev.device_id, rev.at],
            )?;
            new += tx.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
                params![format!("revocation:{}", rev.device_id), rev.encode()],
            )?;
        }
        tx.commit()?;
        Ok(new)
    }

    pub fn is_revoked(&self, device_id: &str) -> Result<bool> {
        Ok(self
            .lock()
            .conn
            .query_row(
                "SELECT 1 FROM revoked WHERE device_id = ?1",
                [device_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Records a session (or bundle) id; false if it was seen before.
    pub fn first_sighting(&self, session: &[u8; 16]) -> Result<bool> {
        let inner = self.lock();
        let now = self.now_ts();
        bookkeeping(&inner.conn, || {
            let tx = write_tx(&inner.conn)?;
            tx.execute(
                "DELETE FROM seen_sessions WHERE seen_at < ?1",
                [now - 2 * identity::CLOCK_SKEW_SECS],
            )?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO seen_sessions (session, seen_at) VALUES (?1, ?2)",
                params![&session[..], now],
            )?;
            tx.commit()?;
            Ok(n == 1)
        })
    }

    /// Records a peer's certificate; with `ours`, also that the peer holds
    /// our certificate of that reference.
    pub fn remember_peer(&self, cert: &Certificate, ours: Option<[u8; 16]>) -> Result<()> {
        let r = crate::sync::envelope::certificate_ref(cert);
        let inner = self.lock();
        bookkeeping(&inner.conn, || {
            inner.conn.execute(
                "INSERT INTO peers (device_id, certificate, cert_ref, ours_sent, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (device_id) DO UPDATE SET certificate = ?2, cert_ref = ?3,
                     ours_sent = coalesce(?4, ours_sent), last_seen = ?5",
                params![
                    cert.device_id,
                    cert.encode(),
                    &r[..],
                    ours.map(|o| o.to_vec()),
                    self.now_ts()
                ],
            )?;
            Ok(())
        })
    }

    /// The device id of the peer last reached at `address` (a hub URL), so
    /// the next session can name it and refer to certificates.
    pub fn peer_at(&self, address: &str) -> Result<Option<String>> {
        let inner = self.lock();
        Ok(get_meta(&inner.conn, &format!("peer_at:{address}"))?
            .and_then(|b| String::from_utf8(b).ok()))
    }

    pub fn remember_peer_at(&self, address: &str, device_id: &str) -> Result<()> {
        let inner = self.lock();
        put_meta(
            &inner.conn,
            &format!("peer_at:{address}"),
            device_id.as_bytes(),
        )
    }

    /// A peer's certificate by its reference, if this device has seen it.
    pub fn peer_certificate(&self, cert_ref: &[u8; 16]) -> Result<Option<Certificate>> {
        let bytes: Option<Vec<u8>> = self
            .lock()
            .conn
            .prepare_cached("SELECT certificate FROM peers WHERE cert_ref = ?1")?
            .query_row([&cert_ref[..]], |r| r.get(0))
            .optional()?;
        Ok(bytes.and_then(|b| Certificate::decode(&b).ok()))
    }

    /// Every peer's certificate this device has met (each verified when it
    /// was remembered), by device id.
    pub fn peer_certificates(&self) -> Result<Vec<Certificate>> {
        let rows: Vec<Vec<u8>> = self
            .lock()
            .conn
            .prepare_cached("SELECT certificate FROM peers ORDER BY device_id")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows
            .iter()
            .filter_map(|b| Certificate::decode(b).ok())
            .collect())
    }

    /// For a known peer: the reference of its certificate, and of ours if
    /// it holds it.
    pub fn peer_refs(&self, device_id: &str) -> Result<Option<PeerRefs>> {
        let row: Option<(Vec<u8>, Option<Vec<u8>>)> = self
            .lock()
            .conn
            .prepare_cached("SELECT cert_ref, ours_sent FROM peers WHERE device_id = ?1")?
            .query_row([device_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row.and_then(|(theirs, ours)| {
            let theirs: [u8; 16] = theirs.try_into().ok()?;
            Some((theirs, ours.and_then(|o| o.try_into().ok())))
        }))
    }

    /// Ids, paths and heads of the documents `scope` covers, from the
    /// tables alone (no document is loaded), ordered by id.
    pub fn scope_heads(&self, scope: &Scope) -> Result<Vec<DocHeadsRow>> {
        let inner = self.lock();
        let select = "SELECT d.id, c.path, d.heads FROM docs d JOIN cells c ON c.id = d.id";
        let mut rows: Vec<(String, String, Vec<u8>)> = Vec::new();
        let mut push = |r: &rusqlite::Row<'_>| -> rusqlite::Result<()> {
            rows.push((r.get(0)?, r.get(1)?, r.get(2)?));
            Ok(())
        };
        // A hub holds thousands of cells and a lead's scope names one: look
        // each entry up by index rather than scanning every document.
        if scope.0.iter().any(|e| e == identity::SCOPE_ALL) {
            let mut s = inner.conn.prepare_cached(select)?;
            let mut q = s.query([])?;
            while let Some(r) = q.next()? {
                push(r)?;
            }
        } else {
            for entry in &scope.0 {
                // A cell id, or a region path prefix ('0' follows '/').
                let filter = if uuid::Uuid::parse_str(entry).is_ok() {
                    "d.id = ?1"
                } else {
                    "c.path = ?1 OR (c.path >= ?1 || '/' AND c.path < ?1 || '0')"
                };
                let mut s = inner
                    .conn
                    .prepare_cached(&format!("{select} WHERE {filter}"))?;
                let mut q = s.query([entry])?;
                while let Some(r) = q.next()? {
                    push(r)?;
                }
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows.dedup_by(|a, b| a.0 == b.0);
        let mut out = Vec::with_capacity(rows.len());
        for (id, path, heads) in rows {
            if !scope.covers(&id, &path) {
                continue;
            }
            let heads = heads_from_bytes(&heads).ok_or_else(|| Error::Damaged {
                doc: id.clone(),
                reason: "stored heads are malformed".into(),
            })?;
            out.push(DocHeadsRow { id, path, heads });
        }
        Ok(out)
    }

    /// The region path of a cell this store holds.
    pub fn cell_path(&self, cell_id: &str) -> Result<Option<String>> {
        Ok(self
            .lock()
            .conn
            .query_row("SELECT path FROM cells WHERE id = ?1", [cell_id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn sync_state(&self, peer: &str, doc: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .lock()
            .conn
            .prepare_cached("SELECT state FROM sync_states WHERE peer = ?1 AND doc_id = ?2")?
            .query_row([peer, doc], |r| r.get(0))
            .optional()?)
    }

    /// Saves several documents' sync states with one peer in one transaction.
    pub fn save_sync_states(&self, peer: &str, states: &[(String, Vec<u8>)]) -> Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        let inner = self.lock();
        bookkeeping(&inner.conn, || {
            let tx = write_tx(&inner.conn)?;
            {
                let mut s = tx.prepare_cached(
                    "INSERT OR REPLACE INTO sync_states (peer, doc_id, state) VALUES (?1, ?2, ?3)",
                )?;
                for (doc, state) in states {
                    s.execute(params![peer, doc, state])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }
}
