//! The office's side of identity, on the hub: its signing key and the hub's
//! own certificate, and the enrolment tokens it hands out (kept by
//! [`crate::enrolment`]).
//!
//! The office signing key is kept out of the serving database, in a file of
//! its own beside it (`<db>.office-key`, mode 0600): a copy of the database
//! (a backup, a support bundle, a stolen laptop's sync folder) then issues no
//! certificates. A database laid out before this kept the key inside; it is
//! moved out the first time the hub opens it (see [`office`]).

use crate::audit::{self, Action, Actor, NewEntry};
use crate::enrolment::{self, TokenGrant};
use silin_core::identity::{KeyPair, Office, Role, Scope};
use silin_core::{Error, Result, Store};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How long an enrolment token may wait before it is used.
pub const TOKEN_VALID_SECS: i64 = 14 * 86400;
/// Longest certificate the office hands out.
pub const MAX_VALID_DAYS: i64 = 10 * 365;
/// How long the hub's own office certificate is issued for; it is renewed
/// when less than a day is left.
const HUB_CERT_DAYS: i64 = 365;
/// The meta row an older layout kept the office key in.
const LEGACY_META_KEY: &str = "office_key";

/// The file holding the office key of the hub database at `db`.
pub fn key_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".office-key");
    db.with_file_name(name)
}

/// The office of the hub whose store this is: its key read from
/// [`key_path`] (created on first use; moved there from a database that
/// still holds it), and the hub's own device (re)enrolled by it over
/// `scope`; `None` keeps the scope the hub already has (`*` for a new hub).
/// Also makes the database and its -wal/-shm files readable by their owner
/// only.
///
/// A store enrolled as a phone (lead, grid worker) is refused: turning it
/// into a hub would replace its certificate and pinned office key. A hub
/// whose key file is missing is refused too: a new key would orphan every
/// device enrolled with the old one.
pub fn office(store: &Store, scope: Option<&Scope>) -> Result<Office> {
    let current = store.certificate()?;
    if let Some(c) = current.as_ref().filter(|c| c.role != Role::Office) {
        return Err(Error::Incompatible(format!(
            "this store belongs to a device enrolled as {} ({}); a hub needs a store of its own (pass another --db)",
            c.role.as_str(),
            c.device_id
        )));
    }
    owner_only(store.path())?;
    let (office, new_key_file) = load_key(store, current.is_some())?;
    if new_key_file {
        // Audit entries written before the hub had its key file: their
        // head is signed now, once (never a signed one again).
        crate::audit::sign_unsigned_head(store, &office).map_err(audit_error)?;
    }
    let scope = match (scope, current.as_ref()) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => c.scope.clone(),
        (None, None) => Scope::everything(),
    };
    let now = store.clock().timestamp();
    let fresh = current.as_ref().is_some_and(|c| {
        c.issuer == office.public_key() && c.scope == scope && c.expires > now + 86400
    });
    if !fresh {
        let cert = office.issue(
            &store.device_id(),
            store.device_key()?.public_key(),
            Role::Office,
            scope,
            now,
            now + HUB_CERT_DAYS * 86400,
        );
        store
            .install_certificate(&cert, &office.public_key())
            .map_err(|e| Error::Incompatible(e.to_string()))?;
    }
    Ok(office)
}

/// The office key: from its file; else moved out of a database of the
/// older layout; else new (for a store that is not a hub yet). True when
/// the key file was written just now.
fn load_key(store: &Store, was_hub: bool) -> Result<(Office, bool)> {
    let db = store.path();
    let file = key_path(db);
    let inside = legacy::read(store)?;
    let mut written = false;
    let seed = match (read_key_file(&file)?, inside) {
        (Some(seed), Some(old)) if seed != old => {
            return Err(Error::Incompatible(format!(
                "the office key in {} is not the one inside the hub database {}; keep the file whose key the devices were enrolled with and move the other aside",
                file.display(),
                db.display()
            )))
        }
        // Moved out before, but removing it from the database was cut short.
        (Some(seed), Some(_)) => {
            legacy::remove(store)?;
            seed
        }
        (Some(seed), None) => seed,
        // The older layout: the file first, synced, then out of the
        // database; a crash between the two leaves both, which the arm
        // above finishes.
        (None, Some(old)) => {
            let seed = write_key_file(&file, old)?;
            legacy::remove(store)?;
            written = true;
            seed
        }
        (None, None) if was_hub => {
            return Err(Error::Incompatible(format!(
                "the office key file {} is missing; restore it from the hub's backup (every enrolled device trusts that key only), or move {} aside to start a new office",
                file.display(),
                db.display()
            )))
        }
        (None, None) => {
            written = true;
            write_key_file(&file, KeyPair::generate().seed())?
        }
    };
    Ok((
        Office {
            key: KeyPair::from_seed(&seed),
        },
        written,
    ))
}

/// The office key of the hub database at `db` when its key file is there;
/// `None` otherwise (nothing is created). What signs the audit log's head.
pub fn existing_office(db: &Path) -> Result<Option<Office>> {
    Ok(read_key_file(&key_path(db))?.map(|seed| Office {
        key: KeyPair::from_seed(&seed),
    }))
}

/// An audit failure where the office's own calls report store errors.
fn audit_error(e: crate::audit::AuditError) -> Error {
    match e {
        crate::audit::AuditError::Store(e) => e,
        crate::audit::AuditError::Database(e) => e.into(),
        e => Error::Incompatible(e.to_string()),
    }
}

/// The office key of a hub whose database holds no key file beside it
/// (PostgreSQL, served by several processes): read from `path`, which every
/// process is given. `pinned` is the office public key the database already
/// trusts, if any: the file must hold that key, and a missing file is
/// created only for a database that trusts none yet.
pub fn key_file_office(path: &Path, pinned: Option<[u8; 32]>) -> Result<Office> {
    let seed = match (read_key_file(path)?, pinned) {
        (Some(seed), _) => seed,
        (None, None) => write_key_file(path, KeyPair::generate().seed())?,
        (None, Some(_)) => {
            return Err(Error::Incompatible(format!(
                "the office key file {} is missing; copy it from the hub machine that first served this database (every enrolled device trusts that key only)",
                path.display()
            )))
        }
    };
    let office = Office {
        key: KeyPair::from_seed(&seed),
    };
    if pinned.is_some_and(|p| p != office.public_key()) {
        return Err(Error::Incompatible(format!(
            "the office key in {} is not the one this hub database trusts; give every hub process the key file the devices were enrolled with",
            path.display()
        )));
    }
    Ok(office)
}

pub(crate) fn cannot_write(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::CannotWrite {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Reads an office key file: 64 hex digits and a newline, owner-only.
fn read_key_file(path: &Path) -> Result<Option<[u8; 32]>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Incompatible(format!(
                "cannot read the office key file {}: {e}",
                path.display()
            )))
        }
    };
    refuse_shared(path, "office key")?;
    hex::decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(Some)
        .ok_or_else(|| {
            Error::Incompatible(format!(
                "the office key file {} is not 64 hex digits; restore it from the hub's backup",
                path.display()
            ))
        })
}

/// Refuses a secret file (`what`: "office key", "TLS key") that others
/// than its owner may read.
pub(crate) fn refuse_shared(path: &Path, what: &str) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Incompatible(format!(
                "the {what} file {} can be read by others (mode {mode:o}); run `chmod 600 {}` and start again",
                path.display(),
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, what);
    Ok(())
}

/// Writes `seed` to a new key file, readable by its owner only, synced
/// with its directory entry before this returns. Never replaces a key file
/// another process wrote first: that one's key is returned instead.
fn write_key_file(path: &Path, seed: [u8; 32]) -> Result<[u8; 32]> {
    if write_new_file(path, format!("{}\n", hex::encode(seed)).as_bytes())? {
        Ok(seed)
    } else {
        read_key_file(path)?.ok_or_else(|| cannot_write(path, "it vanished"))
    }
}

/// Writes `contents` to a new file at `path`, readable by its owner only
/// (0600), synced with its directory entry before this returns: written
/// under a temporary name, fsynced, hard-linked to `path`, the directory
/// fsynced. Returns false, writing nothing, when `path` already exists:
/// two processes starting on the same new database keep whichever file
/// landed first, and the caller reads that one. For the office key and
/// the hub's TLS key and certificate.
pub(crate) fn write_new_file(path: &Path, contents: &[u8]) -> Result<bool> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| -> std::io::Result<()> {
        let mut f = options.open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(cannot_write(path, e));
    }
    // A hard link fails if the name exists.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(cannot_write(path, e)),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        #[cfg(unix)]
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| cannot_write(dir, e))?;
    }
    Ok(true)
}

/// Makes the database and its -wal/-shm files readable by their owner only
/// (SQLite creates them under the process umask, often world-readable).
fn owner_only(db: &Path) -> Result<()> {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut p = db.as_os_str().to_os_string();
        p.push(suffix);
        let p = PathBuf::from(p);
        match std::fs::metadata(&p) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| cannot_write(&p, e))?;
            }
            _ => {}
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}

/// The office key as the older layout kept it, in the store's meta table,
/// reached through the store's own connection (so an encrypted store reads
/// as well as a plain one).
mod legacy {
    use super::LEGACY_META_KEY;
    use rusqlite::OptionalExtension;
    use silin_core::{Result, Store};

    /// The key inside the database, if it is there.
    pub fn read(store: &Store) -> Result<Option<[u8; 32]>> {
        store.with_connection(|conn| {
            let value: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT value FROM meta WHERE key = ?1",
                    [LEGACY_META_KEY],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(value.and_then(|v| <[u8; 32]>::try_from(v).ok()))
        })
    }

    /// Removes the key from the database and from its free space: deleted
    /// with secure_delete, the file rebuilt (VACUUM, so no stale copy of
    /// the row survives in a page's free space), and the WAL checkpointed
    /// and truncated.
    pub fn remove(store: &Store) -> Result<()> {
        store.with_connection(|conn| {
            conn.pragma_update(None, "secure_delete", true)?;
            let removed = (|| -> rusqlite::Result<()> {
                conn.execute("DELETE FROM meta WHERE key = ?1", [LEGACY_META_KEY])?;
                conn.execute_batch("VACUUM;")?;
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            })();
            // Once only: the store's everyday writes go without it.
            conn.pragma_update(None, "secure_delete", false)?;
            Ok(removed?)
        })
    }
}

/// A one-time token enrolling one device as `role` over `scope`, its
/// certificate valid for `valid_days`; the token itself is good for
/// [`TOKEN_VALID_SECS`]. When the hub last started serving https, the token
/// ends with its certificate's fingerprint (see [`crate::api::Token`]).
pub fn issue_token(store: &Store, role: Role, scope: Scope, valid_days: i64) -> Result<String> {
    let office = office(store, None)?;
    let valid_days = valid_days.clamp(1, MAX_VALID_DAYS);
    let target = format!("role={} scope={}", role.as_str(), scope.0.join(","));
    let token = enrolment::issue(
        store,
        &office,
        &TokenGrant {
            role,
            scope,
            valid_days,
        },
        TOKEN_VALID_SECS,
    )?;
    // Right after: the token's row is written by the enrolment module's
    // own transaction.
    audit::record(
        store,
        &NewEntry::new(Actor::Office, Action::TokenIssue, target).count("valid_days", valid_days),
    )
    .map_err(audit_error)?;
    // A hub that serves https names its certificate, so the device pins it
    // from the token alone (see `server::serve_with`, which records it).
    Ok(match store.pinned_hub_certificate()? {
        Some(fp) => crate::api::token_with_certificate(&token, &fp),
        None => token,
    })
}

/// Revokes `device_id` on the hub whose store this is (see
/// [`crate::storage::HubStorage::revoke`]), and logs it, by the office on
/// the hub machine, right after.
pub fn revoke(store: &Store, device_id: &str) -> Result<()> {
    crate::storage::HubStorage::revoke(store, device_id)?;
    audit::record(
        store,
        &NewEntry::new(Actor::Office, Action::Revoke, format!("device={device_id}")),
    )
    .map_err(audit_error)?;
    Ok(())
}

/// The office's key of the hub store, for erasure orders (made, with the
/// hub's own enrolment, on first use, as for `silin hub token`).
fn erasure_key(store: &Store) -> Result<KeyPair> {
    Ok(office(store, None)?.key)
}

/// The office applies a retention policy to every cell of the hub's store
/// on `today` (see `silin_core::erasure::Retention`): one order per cell
/// with records past their keeping time. Audited with counts.
pub fn retain(
    store: &Store,
    policy: &silin_core::erasure::Retention,
    today: chrono::NaiveDate,
    reason: &str,
) -> Result<Vec<silin_core::erasure::ErasureOrder>> {
    let key = erasure_key(store)?;
    let orders = store.apply_retention(&key, policy, today, reason)?;
    audit::record(store, &retention_entry(&orders, policy)).map_err(audit_error)?;
    Ok(orders)
}

/// The audit entry of a retention run: the policy and how much it erased.
pub(crate) fn retention_entry(
    orders: &[silin_core::erasure::ErasureOrder],
    policy: &silin_core::erasure::Retention,
) -> NewEntry {
    let records: usize = orders.iter().map(|o| o.subjects.len()).sum();
    NewEntry::new(Actor::Office, Action::Erase, "retention")
        .count("cells", orders.len())
        .count("records", records)
        .count("checks_days", policy.checks_days)
        .count("monitoring_days", policy.monitoring_days)
}

/// The office orders an erasure in one cell of the hub's store: the cell
/// moves to a new epoch without `subjects`, the file is rewritten without
/// their bytes, and the signed order goes out to every device at its next
/// sync (see `silin_core::erasure`). Audited with counts only.
pub fn erase(
    store: &Store,
    cell_id: &str,
    subjects: Vec<silin_core::erasure::Subject>,
    reason: &str,
) -> Result<silin_core::erasure::ErasureOrder> {
    let key = erasure_key(store)?;
    let entry = erase_entry(cell_id, &subjects);
    let order = store.issue_erasure(&key, cell_id, subjects, reason)?;
    audit::record(store, &entry.count("epoch", order.epoch)).map_err(audit_error)?;
    Ok(order)
}

/// The audit entry of an erasure the office ordered in `cell_id`: how many
/// of each kind of subject, never who.
pub(crate) fn erase_entry(cell_id: &str, subjects: &[silin_core::erasure::Subject]) -> NewEntry {
    use silin_core::erasure::Subject;
    let count = |f: fn(&Subject) -> bool| subjects.iter().filter(|s| f(s)).count();
    NewEntry::new(Actor::Office, Action::Erase, format!("cell={cell_id}"))
        .count("members", count(|s| matches!(s, Subject::Member(_))))
        .count("households", count(|s| matches!(s, Subject::Household(_))))
        .count("records", count(|s| matches!(s, Subject::Record(..))))
        .count("whole_cell", count(|s| matches!(s, Subject::Cell)))
}
