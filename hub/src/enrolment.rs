//! Enrolment on the hub: the one-time tokens the office issues (only a hash
//! of each is kept) and the key each device id was enrolled with.
//!
//! The rules — who may spend a token, when it has run out, what it grants —
//! live here once ([`StoredToken`]); each storage only reads and writes the
//! rows under its own locks: the SQLite store's file below, PostgreSQL in
//! [`crate::pg`]. These tables are the hub's: a phone's store has none.

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use silin_core::identity::{self, IdentityError, Office, Role, Scope};
use silin_core::{Result, Store};

/// An enrolment token's grant, as the office issued it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub role: Role,
    pub scope: Scope,
    /// How long the certificate it buys is valid.
    pub valid_days: i64,
}

impl TokenGrant {
    /// The scope as a storage keeps it: one entry per line.
    pub fn stored_scope(&self) -> String {
        self.scope.0.join("\n")
    }
}

/// A token's row as a storage holds it.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub role: String,
    /// Scope entries, one per line.
    pub scope: String,
    pub valid_days: i64,
    /// Unix seconds.
    pub expires: i64,
    pub used_by: Option<String>,
    pub used_key: Option<Vec<u8>>,
}

impl StoredToken {
    /// Whether `device_id` holding `public_key` may spend the token at
    /// `now`: unspent and unexpired, or spent by that very device and key
    /// (its first answer was lost).
    pub fn may_be_spent_by(
        &self,
        device_id: &str,
        public_key: &[u8; 32],
        now: i64,
    ) -> std::result::Result<(), IdentityError> {
        let same_holder = self.used_by.as_deref() == Some(device_id)
            && self.used_key.as_deref() == Some(&public_key[..]);
        if self.used_by.is_some() && !same_holder {
            return Err(IdentityError::TokenUsed);
        }
        if now > self.expires {
            return Err(IdentityError::TokenExpired);
        }
        Ok(())
    }

    /// What the token grants; a row that does not parse grants nothing.
    pub fn grant(&self) -> std::result::Result<TokenGrant, IdentityError> {
        let entries: Vec<String> = self.scope.lines().map(str::to_string).collect();
        Ok(TokenGrant {
            role: Role::parse(&self.role)?,
            scope: Scope::parse(&entries)?,
            valid_days: self.valid_days,
        })
    }
}

/// What a hub keeps of an enrolment token: the hash of its secret part
/// only, so a copy of the hub's database hands out no enrolments.
pub fn token_hash(token: &str) -> Vec<u8> {
    let secret = token.split('.').next().unwrap_or_default();
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A new one-time enrolment token: a random secret and the fingerprint of
/// the office key, so the device can check the hub it enrols with.
pub fn new_token(office: &Office) -> String {
    let secret: [u8; 16] = identity::random_bytes();
    format!(
        "{}.{}",
        hex::encode(secret),
        identity::fingerprint(&office.public_key())
    )
}

/// The tables in a SQLite hub's store file; creating them is a no-op where
/// they are (every hub laid out before they moved here has them).
const SQLITE_LAYOUT: &str = include_str!("../sql/sqlite/001_enrolment.sql");

/// A transaction that reads and then writes: the file's write lock first,
/// so another program's commit in between makes it wait, not fail.
fn write_tx(conn: &Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
}

/// Records a token for `grant` in a SQLite hub's store, good for
/// `valid_for_secs`; returns the token text.
pub fn issue(
    store: &Store,
    office: &Office,
    grant: &TokenGrant,
    valid_for_secs: i64,
) -> Result<String> {
    let token = new_token(office);
    let expires = store.clock().timestamp() + valid_for_secs;
    store.with_connection(|conn| {
        conn.execute_batch(SQLITE_LAYOUT)?;
        conn.execute(
            "INSERT INTO enrol_tokens (token_hash, role, scope, valid_days, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                token_hash(&token),
                grant.role.as_str(),
                grant.stored_scope(),
                grant.valid_days,
                expires
            ],
        )?;
        Ok(())
    })?;
    Ok(token)
}

/// Spends a token in a SQLite hub's store for `device_id` holding
/// `public_key`: marks it used and returns its grant, in one transaction,
/// so a token enrols exactly one device with one key, and a device id this
/// hub enrolled with another key is refused. The outer error is the
/// store's; the inner, the token's.
pub fn redeem(
    store: &Store,
    token: &str,
    device_id: &str,
    public_key: &[u8; 32],
) -> Result<std::result::Result<TokenGrant, IdentityError>> {
    let now = store.clock().timestamp();
    let hash = token_hash(token);
    store.with_connection(|conn| {
        conn.execute_batch(SQLITE_LAYOUT)?;
        let tx = write_tx(conn)?;
        let stored = tx
            .query_row(
                "SELECT role, scope, valid_days, expires, used_by, used_key FROM enrol_tokens WHERE token_hash = ?1",
                [&hash],
                |r| {
                    Ok(StoredToken {
                        role: r.get(0)?,
                        scope: r.get(1)?,
                        valid_days: r.get(2)?,
                        expires: r.get(3)?,
                        used_by: r.get(4)?,
                        used_key: r.get(5)?,
                    })
                },
            )
            .optional()?;
        let Some(stored) = stored else {
            return Ok(Err(IdentityError::UnknownToken));
        };
        if let Err(e) = stored.may_be_spent_by(device_id, public_key, now) {
            return Ok(Err(e));
        }
        let known_key: Option<Vec<u8>> = tx
            .query_row(
                "SELECT public_key FROM enrolled WHERE device_id = ?1",
                [device_id],
                |r| r.get(0),
            )
            .optional()?;
        if known_key.is_some_and(|k| k != public_key[..]) {
            return Ok(Err(IdentityError::DeviceIdTaken(device_id.to_string())));
        }
        tx.execute(
            "UPDATE enrol_tokens SET used_by = ?2, used_key = ?3 WHERE token_hash = ?1",
            params![hash, device_id, &public_key[..]],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO enrolled (device_id, public_key, enrolled_at) VALUES (?1, ?2, ?3)",
            params![device_id, &public_key[..], now],
        )?;
        tx.commit()?;
        Ok(stored.grant())
    })
}
