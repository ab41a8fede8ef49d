//! Dashboard logins of a PostgreSQL hub, in its `hub_users` table (laid out
//! with the rest, layout 1): the same rules as on a SQLite hub
//! ([`crate::users`]: names, password length, Argon2id hashes, the cost of
//! a miss), over the shared database, so a user added on one hub machine
//! logs in at any process.

use super::PgStorage;
use crate::users::{judge, new_login, Result, UserError, UserRole};

/// The logins of one PostgreSQL hub database.
pub struct PgUsers<'a> {
    storage: &'a PgStorage,
}

impl PgStorage {
    /// This database's dashboard logins.
    pub fn users(&self) -> PgUsers<'_> {
        PgUsers { storage: self }
    }
}

impl PgUsers<'_> {
    fn failed(&self, doing: &str, e: impl Into<super::PgError>) -> UserError {
        UserError::Storage(self.storage.failed(doing, e).to_string())
    }

    /// Adds a user with `password` (hashed here; never stored as given).
    /// `created` is when, as RFC 3339. A name taken already is refused,
    /// whichever process added it. The audit log records it, by the
    /// office, in the same transaction.
    pub fn add(&self, name: &str, role: UserRole, password: &str, created: &str) -> Result<()> {
        use crate::audit::{Action, Actor, NewEntry};
        let (name, hash) = new_login(name, password)?;
        let doing = "adding a dashboard user";
        let mut c = self.storage.conn().map_err(|e| self.failed(doing, e))?;
        let mut tx = c.transaction().map_err(|e| self.failed(doing, e))?;
        let inserted = tx
            .execute(
                "INSERT INTO hub_users (name, role, password_hash, created) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &role.as_str(), &hash, &created],
            )
            .map_err(|e| self.failed(doing, e))?;
        if inserted == 0 {
            return Err(UserError::Exists(name));
        }
        let at = chrono::DateTime::parse_from_rfc3339(created)
            .map_err(|e| UserError::BadInput(format!("created {created:?}: {e}")))?;
        super::audit::append(
            &mut tx,
            &at,
            &NewEntry::new(
                Actor::Office,
                Action::UserAdd,
                format!("user={name} role={}", role.as_str()),
            ),
        )
        .and_then(|()| tx.commit())
        .map_err(|e| self.failed(doing, e))?;
        Ok(())
    }

    /// The role of `name` if `password` is theirs; `None` for a wrong
    /// password or an unknown name (the same hashing work either way).
    pub fn verify(&self, name: &str, password: &str) -> Result<Option<UserRole>> {
        let doing = "checking a dashboard login";
        let mut c = self.storage.conn().map_err(|e| self.failed(doing, e))?;
        let row = c
            .query_opt(
                "SELECT role, password_hash FROM hub_users WHERE name = $1",
                &[&name.trim()],
            )
            .map_err(|e| self.failed(doing, e))?;
        let row = match row {
            Some(r) => Some((
                r.try_get::<_, String>(0)
                    .map_err(|e| self.failed(doing, e))?,
                r.try_get::<_, String>(1)
                    .map_err(|e| self.failed(doing, e))?,
            )),
            None => None,
        };
        judge(row, password)
    }

    /// Names and roles of the users, by name.
    pub fn list(&self) -> Result<Vec<(String, UserRole)>> {
        let doing = "listing dashboard users";
        let mut c = self.storage.conn().map_err(|e| self.failed(doing, e))?;
        let rows = c
            .query("SELECT name, role FROM hub_users ORDER BY name", &[])
            .map_err(|e| self.failed(doing, e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let name: String = r.try_get(0).map_err(|e| self.failed(doing, e))?;
            let role: String = r.try_get(1).map_err(|e| self.failed(doing, e))?;
            out.push((name, UserRole::parse(&role)?));
        }
        Ok(out)
    }
}
