//! Dashboard logins of the township office: a name, a role (office or
//! county) and an Argon2id hash of the password (a PHC string, default
//! parameters), in the hub's own table `hub_users` inside the hub database.
//!
//! silin-core's store never reads these rows: the hub lays its tables out
//! through its own connection and its own numbered migrations
//! (`hub/sql/users_*.sql`, recorded in `hub_layout`), after the store has
//! opened (and so laid out, or refused) the file. The password itself is
//! never stored or logged.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use silin_core::Store;

/// Shortest password the office may set.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest: hashing is bounded work, whatever is pasted in.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Longest user name.
pub const MAX_NAME_CHARS: usize = 64;

/// The hub's migrations of its user table, in order: version n is the
/// n-th entry.
const MIGRATIONS: &[&str] = &[include_str!("../sql/users_001.sql")];
/// The row of `hub_layout` that records how far [`MIGRATIONS`] went.
const LAYOUT_PART: &str = "users";

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("a dashboard user named {0:?} already exists; choose another name")]
    Exists(String),
    #[error("{0}")]
    BadInput(String),
    #[error("the hub database: {0}")]
    Database(#[from] rusqlite::Error),
    /// A PostgreSQL hub's database failed (its message names it).
    #[error("{0}")]
    Storage(String),
    #[error("hashing the password failed: {0}")]
    Hash(String),
    #[error("the hub's own tables are at layout {found}, newer than this build knows ({known}); use a newer silin")]
    Newer { found: i64, known: i64 },
}

impl UserError {
    /// The caller gave something to refuse (exit 2), not a fault here.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            UserError::Exists(_) | UserError::BadInput(_) | UserError::Newer { .. }
        )
    }
}

pub type Result<T, E = UserError> = std::result::Result<T, E>;

/// Who a dashboard user is: the township office, or the county above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRole {
    Office,
    County,
}

impl UserRole {
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Office => "office",
            UserRole::County => "county",
        }
    }

    pub fn parse(s: &str) -> Result<UserRole> {
        match s {
            "office" => Ok(UserRole::Office),
            "county" => Ok(UserRole::County),
            other => Err(UserError::BadInput(format!(
                "role {other:?} is not a dashboard role; use office or county"
            ))),
        }
    }
}

/// The dashboard users of one hub database.
pub struct Users {
    conn: Connection,
    /// The store file, whose office key (beside it) signs the audit head.
    path: std::path::PathBuf,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").finish_non_exhaustive()
    }
}

impl Users {
    /// The users of the hub whose store this is. `key` is the store's
    /// SQLCipher key when it is encrypted (the same secret the store was
    /// opened with). Lays out the hub's user table if it is missing.
    pub fn open(store: &Store, key: Option<&str>) -> Result<Users> {
        let conn = Connection::open_with_flags(
            store.path(),
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        if let Some(key) = key {
            conn.execute_batch(&format!("PRAGMA key = {};", pragma_key(key)))?;
            let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
        }
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&conn)?;
        Ok(Users {
            conn,
            path: store.path().to_path_buf(),
        })
    }

    /// Adds a user with `password` (hashed here; never stored as given).
    /// `created` is when, as RFC 3339. Logins are added on the hub machine
    /// (`silin hub user add`): the audit log records it, by the office, in
    /// the same transaction.
    pub fn add(&self, name: &str, role: UserRole, password: &str, created: &str) -> Result<()> {
        use crate::audit::{self, Action, Actor, NewEntry};
        let (name, hash) = new_login(name, password)?;
        let at = chrono::DateTime::parse_from_rfc3339(created)
            .map_err(|e| UserError::BadInput(format!("created {created:?}: {e}")))?;
        let signer = audit::signer(&self.path).map_err(audit_error)?;
        let tx = audit::write_tx(&self.conn)?;
        let inserted = tx.execute(
            "INSERT INTO hub_users (name, role, password_hash, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO NOTHING",
            params![name, role.as_str(), hash, created],
        )?;
        if inserted == 0 {
            return Err(UserError::Exists(name));
        }
        audit::append(
            &tx,
            &at,
            &NewEntry::new(
                Actor::Office,
                Action::UserAdd,
                format!("user={name} role={}", role.as_str()),
            ),
            signer.as_ref(),
        )
        .map_err(audit_error)?;
        tx.commit()?;
        Ok(())
    }

    /// The role of `name` if `password` is theirs; `None` for a wrong
    /// password or an unknown name (which costs the same hashing work, so
    /// timing does not tell which).
    pub fn verify(&self, name: &str, password: &str) -> Result<Option<UserRole>> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT role, password_hash FROM hub_users WHERE name = ?1",
                [name.trim()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        judge(row, password)
    }

    /// Names and roles of the users, by name.
    pub fn list(&self) -> Result<Vec<(String, UserRole)>> {
        let mut s = self
            .conn
            .prepare("SELECT name, role FROM hub_users ORDER BY name")?;
        let rows = s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, role) = row?;
            out.push((name, UserRole::parse(&role)?));
        }
        Ok(out)
    }
}

/// An audit log failure, as this module reports storage failures.
pub(crate) fn audit_error(e: crate::audit::AuditError) -> UserError {
    match e {
        crate::audit::AuditError::Database(e) => UserError::Database(e),
        e => UserError::Storage(e.to_string()),
    }
}

/// A new login's name (checked, trimmed) and the hash of its password
/// (checked first): what any storage keeps of it.
pub(crate) fn new_login(name: &str, password: &str) -> Result<(String, String)> {
    let name = check_name(name)?;
    check_password(password)?;
    Ok((name, hash_password(password)?))
}

/// The verdict on a login, from the stored `(role, hash)` of the name if
/// there is one: its role when `password` is right, else `None`. An
/// unknown name costs the same hashing work as a wrong password.
pub(crate) fn judge(row: Option<(String, String)>, password: &str) -> Result<Option<UserRole>> {
    let Some((role, hash)) = row else {
        let _ = verify_password(DUMMY_HASH, password);
        return Ok(None);
    };
    if password.chars().count() > MAX_PASSWORD_CHARS || !verify_password(&hash, password)? {
        return Ok(None);
    }
    Ok(Some(UserRole::parse(&role)?))
}

/// Brings the hub's user table to the newest layout, each step in one
/// transaction with its record in `hub_layout`.
fn migrate(conn: &Connection) -> Result<()> {
    migrate_part(conn, LAYOUT_PART, MIGRATIONS)
}

/// Brings one part of the hub's own tables (`part`, as `hub_layout` names
/// it) to the newest of `migrations`.
pub(crate) fn migrate_part(conn: &Connection, part: &str, migrations: &[&str]) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS hub_layout (part TEXT PRIMARY KEY, version INTEGER NOT NULL);",
    )?;
    let current: i64 = conn
        .query_row(
            "SELECT version FROM hub_layout WHERE part = ?1",
            [part],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let known = migrations.len() as i64;
    if current > known {
        return Err(UserError::Newer {
            found: current,
            known,
        });
    }
    for (i, sql) in migrations.iter().enumerate().skip(current as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT OR REPLACE INTO hub_layout (part, version) VALUES (?1, ?2)",
            params![part, i as i64 + 1],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// SQLCipher's `PRAGMA key` value for a secret, as silin-core gives it:
/// 64 hex digits are a raw key, anything else a passphrase.
pub(crate) fn pragma_key(s: &str) -> String {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("\"x'{s}'\"")
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn check_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() {
        return Err(UserError::BadInput("a user name must not be empty".into()));
    }
    if n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) {
        return Err(UserError::BadInput(format!(
            "a user name has at most {MAX_NAME_CHARS} characters and no control characters"
        )));
    }
    Ok(n.to_string())
}

/// Refuses a password too short (or too long) to set.
pub fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if password.trim().is_empty() {
        return Err(UserError::BadInput(
            "the password is empty; type one of at least 8 characters".into(),
        ));
    }
    if n < MIN_PASSWORD_CHARS {
        return Err(UserError::BadInput(format!(
            "the password has {n} characters; use at least {MIN_PASSWORD_CHARS}"
        )));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(UserError::BadInput(format!(
            "the password has {n} characters; use at most {MAX_PASSWORD_CHARS}"
        )));
    }
    Ok(())
}

/// An Argon2id PHC string of `password` (default parameters, a random
/// 16-byte salt).
pub fn hash_password(password: &str) -> Result<String> {
    use rand::{RngCore, SeedableRng};
    let mut salt = [0u8; 16];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| UserError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Whether `password` is the one `phc` was made from. A malformed stored
/// hash is an error, not a "no".
pub fn verify_password(phc: &str, password: &str) -> Result<bool> {
    let parsed = PasswordHash::new(phc).map_err(|e| UserError::Hash(e.to_string()))?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(UserError::Hash(e.to_string())),
    }
}

/// Verified against when the name is unknown, so a miss costs as much as a
/// wrong password. (Argon2id of "dummy password" with default parameters.)
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2lsaW5kdW1teXNhbHQ$2Rl+VlGqC8o0oBn2RmY3Z8sCz8K6O3xTRV3yyZGz7Sg";

#[cfg(test)]
mod tests {
    use super::*;
    use silin_core::store::StoreOptions;

    fn hub() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("hub.db"), StoreOptions::default()).unwrap();
        (dir, store)
    }

    #[test]
    fn a_password_verifies_against_its_hash_and_nothing_else() {
        let phc = hash_password("鸡蛋灌饼 and tea").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("鸡蛋灌饼"));
        assert!(verify_password(&phc, "鸡蛋灌饼 and tea").unwrap());
        assert!(!verify_password(&phc, "鸡蛋灌饼 and coffee").unwrap());
        // Two hashes of one password differ (salted).
        assert_ne!(phc, hash_password("鸡蛋灌饼 and tea").unwrap());
        assert!(verify_password("not a phc string", "x").is_err());
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn an_office_login_is_stored_hashed_and_checked() {
        let (_dir, store) = hub();
        let users = Users::open(&store, None).unwrap();
        users
            .add(
                "zhang",
                UserRole::Office,
                "correct horse",
                "2026-11-29T08:00:00+08:00",
            )
            .unwrap();
        assert_eq!(
            users.verify("zhang", "correct horse").unwrap(),
            Some(UserRole::Office)
        );
        assert_eq!(users.verify("zhang", "correct hors").unwrap(), None);
        assert_eq!(users.verify("li", "correct horse").unwrap(), None);
        let stored: String = users
            .conn
            .query_row("SELECT password_hash FROM hub_users", [], |r| r.get(0))
            .unwrap();
        assert!(!stored.contains("correct horse"));
        assert!(matches!(
            users.add(
                "zhang",
                UserRole::County,
                "another one",
                "2026-11-29T08:00:00+08:00"
            ),
            Err(UserError::Exists(_))
        ));
        assert_eq!(
            users.list().unwrap(),
            vec![("zhang".to_string(), UserRole::Office)]
        );
    }

    #[test]
    fn a_login_added_is_audited_with_it_and_a_refused_one_is_not() {
        let (_dir, store) = hub();
        let users = Users::open(&store, None).unwrap();
        let at = "2026-11-29T08:00:00+08:00";
        users
            .add("zhang", UserRole::Office, "correct horse", at)
            .unwrap();
        assert!(users
            .add("zhang", UserRole::County, "another one", at)
            .is_err());
        assert!(users.add("li", UserRole::Office, "short", at).is_err());
        let log = crate::audit::entries(&store, None).unwrap();
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0].action, crate::audit::Action::UserAdd);
        assert_eq!(log[0].actor, crate::audit::Actor::Office);
        assert_eq!(log[0].target, "user=zhang role=office");
        assert_eq!(log[0].at, at);
        assert!(log[0].detail.is_empty());
    }

    #[test]
    fn short_and_empty_passwords_are_refused() {
        let (_dir, store) = hub();
        let users = Users::open(&store, None).unwrap();
        for bad in ["", "   ", "1234567", "短密码"] {
            let e = users
                .add("wang", UserRole::Office, bad, "2026-11-29T08:00:00+08:00")
                .unwrap_err();
            assert!(e.is_user_error(), "{e}");
        }
        assert!(users.list().unwrap().is_empty());
    }

    #[test]
    fn reopening_keeps_the_users_and_the_layout() {
        let (_dir, store) = hub();
        Users::open(&store, None)
            .unwrap()
            .add(
                "zhao",
                UserRole::County,
                "12345678",
                "2026-11-29T08:00:00+08:00",
            )
            .unwrap();
        let again = Users::open(&store, None).unwrap();
        assert_eq!(
            again.verify("zhao", "12345678").unwrap(),
            Some(UserRole::County)
        );
        // The store itself still opens and checks clean beside the hub's table.
        drop(again);
        assert!(store.check().unwrap().ok);
    }
}
