//! Dashboard logins of the township office: a name, a role (office,
//! county or analyst) and an Argon2id hash of the password (a PHC string, default
//! parameters), in the hub's own table `hub_users` inside the hub database.
//!
//! silin-core's store never reads these rows: the hub lays its tables out
//! with its own numbered migrations (`hub/sql/users_*.sql`, recorded in
//! `hub_layout`), after the store has opened (and so laid out, or refused)
//! the file, on the store's own connection ([`Store::with_connection`]).
//! Not on a second connection of the hub's: another connection on the file
//! is what once made a serving hub stop seeing other programs' commits (a
//! checkpoint run there), and it would need the store's key passed again.
//! The password itself is never stored or logged.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OptionalExtension};
use silin_core::Store;

/// Shortest password the office may set.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest: hashing is bounded work, whatever is pasted in.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Longest user name.
pub const MAX_NAME_CHARS: usize = 64;

/// The hub's migrations of its user table, in order: version n is the
/// n-th entry.
const MIGRATIONS: &[&str] = &[
    include_str!("../sql/users_001.sql"),
    include_str!("../sql/users_002.sql"),
];
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
    /// The store whose connection the hub's tables are reached through.
    #[error(transparent)]
    Store(#[from] silin_core::Error),
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
        match self {
            UserError::Exists(_) | UserError::BadInput(_) | UserError::Newer { .. } => true,
            UserError::Store(e) => e.is_user_error(),
            _ => false,
        }
    }
}

pub type Result<T, E = UserError> = std::result::Result<T, E>;

/// Who a dashboard user is: the township office, the county above it, or
/// an analyst who sees counts only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRole {
    Office,
    County,
    /// Counts only: the overview's figures by village and group, the
    /// trend, each list's completion, with small counts and the counts
    /// that would give them away withheld
    /// ([`silin_core::privacy::withhold`]); never a person, a cell, a lead
    /// or a device.
    Analyst,
}

impl UserRole {
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Office => "office",
            UserRole::County => "county",
            UserRole::Analyst => "analyst",
        }
    }

    pub fn parse(s: &str) -> Result<UserRole> {
        match s {
            "office" => Ok(UserRole::Office),
            "county" => Ok(UserRole::County),
            "analyst" => Ok(UserRole::Analyst),
            other => Err(UserError::BadInput(format!(
                "role {other:?} is not a dashboard role; use office or county (who see people) or analyst (counts only)"
            ))),
        }
    }

    /// Whether this login sees counts only, with small ones suppressed.
    pub fn sees_counts_only(self) -> bool {
        match self {
            UserRole::Analyst => true,
            UserRole::Office | UserRole::County => false,
        }
    }
}

/// The dashboard users of one hub database, read and written through the
/// store's own connection.
pub struct Users<'a> {
    store: &'a Store,
}

impl std::fmt::Debug for Users<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").finish_non_exhaustive()
    }
}

impl<'a> Users<'a> {
    /// The users of the hub whose store this is. Lays out the hub's user
    /// table if it is missing.
    pub fn open(store: &'a Store) -> Result<Users<'a>> {
        on_connection(store, migrate)?;
        Ok(Users { store })
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
        let signer = audit::signer(self.store.path()).map_err(audit_error)?;
        on_connection(self.store, |conn| {
            let tx = audit::write_tx(conn)?;
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
        })
    }

    /// The role of `name` if `password` is theirs; `None` for a wrong
    /// password or an unknown name (which costs the same hashing work, so
    /// timing does not tell which).
    pub fn verify(&self, name: &str, password: &str) -> Result<Option<UserRole>> {
        // Read under the store's lock, hashed after it: the Argon2 work
        // must not hold up the store's other readers and writers.
        let row: Option<(String, String)> = on_connection(self.store, |conn| {
            Ok(conn
                .query_row(
                    "SELECT role, password_hash FROM hub_users WHERE name = ?1",
                    [name.trim()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })?;
        judge(row, password)
    }

    /// Names and roles of the users, by name.
    pub fn list(&self) -> Result<Vec<(String, UserRole)>> {
        let rows: Vec<(String, String)> = on_connection(self.store, |conn| {
            let mut s = conn.prepare("SELECT name, role FROM hub_users ORDER BY name")?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        rows.into_iter()
            .map(|(name, role)| Ok((name, UserRole::parse(&role)?)))
            .collect()
    }
}

/// Runs `f` on the store's own connection, under the store's lock (see
/// [`Store::with_connection`]): the hub's tables share the file, its key
/// and its one connection with the store. A transaction `f` leaves open
/// is rolled back there.
pub(crate) fn on_connection<T>(
    store: &Store,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    store.with_connection(|conn| Ok(f(conn)))?
}

/// An audit log failure, as this module reports storage failures.
pub(crate) fn audit_error(e: crate::audit::AuditError) -> UserError {
    match e {
        crate::audit::AuditError::Database(e) => UserError::Database(e),
        crate::audit::AuditError::Store(e) => UserError::Store(e),
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

/// Brings the hub's user table to the newest layout, recorded in
/// `hub_layout`.
fn migrate(conn: &Connection) -> Result<()> {
    migrate_part(conn, LAYOUT_PART, MIGRATIONS)
}

/// Brings one part of the hub's own tables (`part`, as `hub_layout` names
/// it) to the newest of `migrations`, all steps and their record in one
/// transaction that takes the file's write lock first and reads the
/// version inside it, so two programs opening an old file at once apply
/// each step once: the second waits, then finds it done.
pub(crate) fn migrate_part(conn: &Connection, part: &str, migrations: &[&str]) -> Result<()> {
    let known = migrations.len() as i64;
    let version = |conn: &Connection| -> Result<i64> {
        let has_layout: bool = conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'hub_layout'",
            [],
            |r| r.get(0),
        )?;
        if !has_layout {
            return Ok(0);
        }
        Ok(conn
            .query_row(
                "SELECT version FROM hub_layout WHERE part = ?1",
                [part],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    };
    // Read first, outside any write: opening an up-to-date file (every
    // login does) takes no write lock.
    let current = version(conn)?;
    if current > known {
        return Err(UserError::Newer {
            found: current,
            known,
        });
    }
    if current == known {
        return Ok(());
    }
    let tx = crate::audit::write_tx(conn)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS hub_layout (part TEXT PRIMARY KEY, version INTEGER NOT NULL);",
    )?;
    let current = version(&tx)?;
    if current > known {
        return Err(UserError::Newer {
            found: current,
            known,
        });
    }
    for (i, sql) in migrations.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT OR REPLACE INTO hub_layout (part, version) VALUES (?1, ?2)",
            params![part, i as i64 + 1],
        )?;
    }
    tx.commit()?;
    Ok(())
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
        let users = Users::open(&store).unwrap();
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
        let stored: String = store
            .with_connection(|c| {
                Ok(c.query_row("SELECT password_hash FROM hub_users", [], |r| r.get(0))?)
            })
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
        let users = Users::open(&store).unwrap();
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
        let users = Users::open(&store).unwrap();
        for bad in ["", "   ", "1234567", "短密码"] {
            let e = users
                .add("wang", UserRole::Office, bad, "2026-11-29T08:00:00+08:00")
                .unwrap_err();
            assert!(e.is_user_error(), "{e}");
        }
        assert!(users.list().unwrap().is_empty());
    }

    #[test]
    fn an_encrypted_hubs_logins_and_lists_use_the_stores_own_key() {
        // The store was opened with its key; the hub's tables are reached
        // through that connection, so no key is passed again (a second
        // connection opened without it could not read the file at all).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        let options = StoreOptions {
            key: Some(silin_core::store::StoreKey::new("城关镇的口令")),
            ..StoreOptions::default()
        };
        let store = Store::open(&path, options).unwrap();
        let users = Users::open(&store).unwrap();
        let at = "2026-11-29T08:00:00+08:00";
        users
            .add("zhang", UserRole::Office, "correct horse", at)
            .unwrap();
        assert_eq!(
            users.verify("zhang", "correct horse").unwrap(),
            Some(UserRole::Office)
        );
        let list = crate::lists::ListInfo {
            list_id: "l1".into(),
            kind: "test".into(),
            title: "核酸检测提醒".into(),
            file: "名单.csv".into(),
            rows: 1,
            imported: at.into(),
        };
        let mut lists = crate::lists::Lists::open(&store).unwrap();
        lists
            .record(&list, &[(2, "c1".into(), "t1".into())])
            .unwrap();
        assert_eq!(lists.lists().unwrap(), vec![list]);
        assert_eq!(
            lists.tasks("l1").unwrap(),
            vec![("c1".to_string(), "t1".to_string())]
        );
        // Still unreadable without the key: nothing was written in the clear.
        let plain = Connection::open(&path).unwrap();
        assert!(plain
            .query_row("SELECT count(*) FROM hub_users", [], |r| r.get::<_, i64>(0))
            .is_err());
    }

    #[test]
    fn a_hub_file_laid_out_by_a_newer_build_is_refused_and_left_alone() {
        let (_dir, store) = hub();
        Users::open(&store).unwrap();
        store
            .with_connection(|c| {
                c.execute("UPDATE hub_layout SET version = 9 WHERE part = 'users'", [])?;
                Ok(())
            })
            .unwrap();
        let e = Users::open(&store).unwrap_err();
        assert!(matches!(e, UserError::Newer { found: 9, known: 2 }), "{e}");
        assert!(e.is_user_error());
        // The lists' part is its own: laid out beside it, and once only.
        crate::lists::Lists::open(&store).unwrap();
        crate::lists::Lists::open(&store).unwrap();
        let layout: Vec<(String, i64)> = store
            .with_connection(|c| {
                let mut s = c.prepare("SELECT part, version FROM hub_layout ORDER BY part")?;
                let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        assert_eq!(layout, vec![("lists".into(), 1), ("users".into(), 9)]);
    }

    #[test]
    fn reopening_keeps_the_users_and_the_layout() {
        let (_dir, store) = hub();
        Users::open(&store)
            .unwrap()
            .add(
                "zhao",
                UserRole::County,
                "12345678",
                "2026-11-29T08:00:00+08:00",
            )
            .unwrap();
        let again = Users::open(&store).unwrap();
        assert_eq!(
            again.verify("zhao", "12345678").unwrap(),
            Some(UserRole::County)
        );
        // The store itself still checks clean beside the hub's table.
        assert!(store.check().unwrap().ok);
    }

    #[test]
    fn a_hub_file_of_the_first_user_layout_takes_analysts_and_keeps_its_logins() {
        // A hub file as the first layout left it: logins of the two old
        // roles, a CHECK that refuses any other.
        let (_dir, store) = hub();
        let old = include_str!("../sql/users_001.sql");
        let hash = hash_password("correct horse").unwrap();
        store
            .with_connection(|c| {
                c.execute_batch(old)?;
                c.execute_batch(
                    "CREATE TABLE hub_layout (part TEXT PRIMARY KEY, version INTEGER NOT NULL);
                     INSERT INTO hub_layout VALUES ('users', 1);",
                )?;
                c.execute(
                    "INSERT INTO hub_users VALUES ('zhang', 'office', ?1, '2026-11-01T08:00:00+08:00')",
                    [&hash],
                )?;
                assert!(c
                    .execute(
                        "INSERT INTO hub_users VALUES ('qian', 'analyst', ?1, '2026-11-01T08:00:00+08:00')",
                        [&hash],
                    )
                    .is_err());
                Ok(())
            })
            .unwrap();
        let users = Users::open(&store).unwrap();
        assert_eq!(
            users.verify("zhang", "correct horse").unwrap(),
            Some(UserRole::Office)
        );
        users
            .add(
                "qian",
                UserRole::parse("analyst").unwrap(),
                "counts only please",
                "2026-11-29T08:00:00+08:00",
            )
            .unwrap();
        assert_eq!(
            users.verify("qian", "counts only please").unwrap(),
            Some(UserRole::Analyst)
        );
        assert!(UserRole::Analyst.sees_counts_only());
        assert!(!UserRole::Office.sees_counts_only() && !UserRole::County.sees_counts_only());
        // Still no role beyond the three.
        let refused = store.with_connection(|c| {
            Ok(c.execute(
                "INSERT INTO hub_users VALUES ('x', 'lead', 'h', '2026-11-29T08:00:00+08:00')",
                [],
            )
            .is_err())
        });
        assert!(refused.unwrap());
        let version: i64 = store
            .with_connection(|c| {
                Ok(c.query_row(
                    "SELECT version FROM hub_layout WHERE part = 'users'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(version, 2);
        assert!(store.check().unwrap().ok);
    }
}
