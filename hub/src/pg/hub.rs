//! [`PgStorage`] as a [`HubStorage`]: the hub's own identity (kept in
//! `meta`, shared by every process), enrolment tokens, revocations, the
//! rollup, and the hub's own office certificate.
//!
//! What two processes may do at once is settled by the database: the
//! identity is created with `INSERT … ON CONFLICT DO NOTHING` and read
//! back, so every process ends up with the one written first; a token is
//! redeemed under its row's lock, so of two processes redeeming it at once
//! exactly one wins; a device id is claimed by the `enrolled` primary key.

use super::PgStorage;
use crate::enrolment::{new_token, token_hash, StoredToken, TokenGrant};
use crate::storage::HubStorage;
use chrono::NaiveDate;
use silin_core::identity::{self, Certificate, IdentityError, KeyPair, Office, Role, Scope};
use silin_core::model::{new_id, Level};
use silin_core::region::Hierarchy;
use silin_core::rollup::{roll_up_in, CellDay, RollupRow, VisitCounts};
use silin_core::store::{fingerprint_to_store, stored_fingerprint};
use silin_core::{Error, Result};

/// How long the hub's own office certificate is issued for; it is renewed
/// when less than a day is left (as on a SQLite hub, see `office`).
const HUB_CERT_DAYS: i64 = 365;

/// The hub's device id and signing key: one for the whole hub, whichever
/// process serves a device.
pub(crate) struct Identity {
    pub(super) device_id: String,
    seed: [u8; 32],
}

impl Identity {
    pub(super) fn key(&self) -> KeyPair {
        KeyPair::from_seed(&self.seed)
    }
}

/// The branches as stored; the outer error is PostgreSQL's.
fn read_hierarchy(
    c: &mut impl postgres::GenericClient,
) -> std::result::Result<Result<Hierarchy>, postgres::Error> {
    let rows = c
        .query(
            "SELECT prefix, names FROM region_levels ORDER BY prefix",
            &[],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<std::result::Result<Vec<(String, String)>, postgres::Error>>()?;
    Ok(Hierarchy::from_stored(rows))
}

impl PgStorage {
    /// Names `prefix`'s level and those below it, as
    /// [`silin_core::Store::set_region_levels`] does on SQLite: checked
    /// against the branches and the cells already there, in one
    /// transaction.
    pub fn set_region_levels(&self, prefix: &str, names: &[String]) -> Result<Hierarchy> {
        let doing = "naming the region levels";
        let fail = |e: postgres::Error| self.failed(doing, e);
        let mut c = self.client(doing)?;
        let mut tx = c.transaction().map_err(fail)?;
        tx.execute("LOCK TABLE region_levels IN EXCLUSIVE MODE", &[])
            .map_err(fail)?;
        let key = Hierarchy::branch_key(prefix)?;
        let h = read_hierarchy(&mut tx)
            .map_err(fail)??
            .with_branch(&key, names)?;
        let under = format!("{key}/");
        let cells = tx
            .query(
                "SELECT id, path FROM cells WHERE left(path, $2) = $1",
                &[&under, &(under.chars().count() as i32)],
            )
            .map_err(fail)?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<std::result::Result<Vec<(String, String)>, postgres::Error>>()
            .map_err(fail)?;
        h.check_cells_fit(cells)?;
        let json = h.stored_names(&key).unwrap_or_default();
        tx.execute(
            "INSERT INTO region_levels (prefix, names) VALUES ($1, $2)
             ON CONFLICT (prefix) DO UPDATE SET names = excluded.names",
            &[&key, &json],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(h)
    }

    fn now_ts(&self) -> i64 {
        self.local.clock.timestamp()
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let doing = format!("reading the hub's {key}");
        let mut c = self.client(&doing)?;
        c.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])
            .and_then(|r| r.map(|r| r.try_get(0)).transpose())
            .map_err(|e| self.failed(&doing, e))
    }

    fn put_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        let doing = format!("writing the hub's {key}");
        let mut c = self.client(&doing)?;
        c.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&key, &value],
        )
        .map_err(|e| self.failed(&doing, e))?;
        Ok(())
    }

    /// The hub's device id and key, created by whichever process asks first.
    pub(super) fn identity(&self) -> Result<&Identity> {
        if let Some(i) = self.local.identity.get() {
            return Ok(i);
        }
        let doing = "reading the hub's device identity";
        let fail = |e: postgres::Error| self.failed(doing, e);
        let mut c = self.client(doing)?;
        type Stored = (Option<Vec<u8>>, Option<Vec<u8>>);
        let read = |c: &mut postgres::Client| -> Result<Stored> {
            let mut id = None;
            let mut key = None;
            for r in c
                .query(
                    "SELECT key, value FROM meta WHERE key IN ('device_id', 'device_key')",
                    &[],
                )
                .map_err(fail)?
            {
                let k: String = r.try_get(0).map_err(fail)?;
                let v: Vec<u8> = r.try_get(1).map_err(fail)?;
                if k == "device_id" {
                    id = Some(v);
                } else {
                    key = Some(v);
                }
            }
            Ok((id, key))
        };
        let (mut id, mut key) = read(&mut c)?;
        if id.is_none() || key.is_none() {
            // Every process starting on a new database proposes its own;
            // the first written is the hub's, and all read that one back.
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('device_id', $1), ('device_key', $2)
                 ON CONFLICT (key) DO NOTHING",
                &[&new_id().as_bytes(), &KeyPair::generate().seed().as_slice()],
            )
            .map_err(fail)?;
            (id, key) = read(&mut c)?;
        }
        let device_id = id
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| Error::Incompatible("the hub's stored device id is not text".into()))?;
        let seed: [u8; 32] = key.and_then(|k| k.try_into().ok()).ok_or_else(|| {
            Error::Incompatible("the hub's stored device key is not 32 bytes".into())
        })?;
        Ok(self
            .local
            .identity
            .get_or_init(|| Identity { device_id, seed }))
    }

    /// The certificate the hub serves with, if it was enrolled
    /// ([`Replica::certificate`](silin_core::Replica::certificate)).
    pub(super) fn stored_certificate(&self) -> Result<Option<Certificate>> {
        match self.get_meta("certificate")? {
            None => Ok(None),
            Some(b) => Certificate::decode(&b).map(Some).map_err(|e| {
                Error::Incompatible(format!("the stored certificate does not decode: {e}"))
            }),
        }
    }

    /// The office key the hub checks every device's certificate against
    /// ([`Replica::office_public_key`](silin_core::Replica::office_public_key)).
    pub(super) fn pinned_office_key(&self) -> Result<Option<[u8; 32]>> {
        self.get_meta("office_public_key")?
            .map(|b| {
                <[u8; 32]>::try_from(b).map_err(|_| {
                    Error::Incompatible("the stored office public key is not 32 bytes".into())
                })
            })
            .transpose()
    }

    /// The SHA-256 fingerprint (64 lowercase hex digits) of the TLS
    /// certificate the hub serves, which tokens name so devices pin it.
    pub fn pinned_hub_certificate(&self) -> Result<Option<String>> {
        self.get_meta("hub_certificate")?
            .map(stored_fingerprint)
            .transpose()
    }

    /// Records the served TLS certificate's fingerprint (64 hex digits), or
    /// that the hub serves none (`None`). Every process of one hub serves
    /// the same certificate, so the last to start writes what all serve.
    pub fn pin_hub_certificate(&self, fingerprint: Option<&str>) -> Result<()> {
        match fingerprint {
            Some(f) => self.put_meta("hub_certificate", fingerprint_to_store(f)?.as_bytes()),
            None => {
                let doing = "removing the hub's certificate fingerprint";
                let mut c = self.client(doing)?;
                c.execute("DELETE FROM meta WHERE key = 'hub_certificate'", &[])
                    .map_err(|e| self.failed(doing, e))?;
                Ok(())
            }
        }
    }

    /// Enrols the hub's own device with `office` over `scope`, as
    /// `office::office` does for a SQLite hub: the device id and key are
    /// made once (by whichever process comes first), and an office
    /// certificate is issued when there is none, it has less than a day
    /// left, or it names another scope or office. The office key itself is
    /// never written to the database; this process keeps it for
    /// [`HubStorage::renew_certificate`].
    ///
    /// Refuses an office other than the one the database already trusts:
    /// every device enrolled here trusts that key only.
    pub fn enrol_hub(&self, office: &Office, scope: &Scope) -> Result<()> {
        let identity = self.identity()?;
        let key = identity.key();
        let ours = office.public_key();
        let another = |pinned: &[u8]| {
            Error::Incompatible(format!(
                "this hub database trusts another office key ({}), not the one given ({}); give every hub process the office key file its devices were enrolled with",
                <[u8; 32]>::try_from(pinned).map_or_else(|_| "unreadable".to_string(), |p| identity::fingerprint(&p)),
                identity::fingerprint(&ours)
            ))
        };
        if let Some(pinned) = self.pinned_office_key()? {
            if pinned != ours {
                return Err(another(&pinned));
            }
        }
        let now = self.now_ts();
        let fresh = self.stored_certificate()?.is_some_and(|c| {
            c.role == Role::Office
                && c.issuer == ours
                && &c.scope == scope
                && c.expires > now + 86400
                && c.device_id == identity.device_id
                && c.public_key == key.public_key()
        });
        if !fresh {
            let cert = office.issue(
                &identity.device_id,
                key.public_key(),
                Role::Office,
                scope.clone(),
                now,
                now + HUB_CERT_DAYS * 86400,
            );
            cert.verify(&ours, now)
                .map_err(|e| Error::Incompatible(e.to_string()))?;
            let doing = "installing the hub's certificate";
            let fail = |e: postgres::Error| self.failed(doing, e);
            let mut c = self.client(doing)?;
            let mut tx = c.transaction().map_err(fail)?;
            // Pinned by the first process to get here; one that came with
            // another office key meanwhile finds it pinned, and stops.
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('office_public_key', $1)
                 ON CONFLICT (key) DO NOTHING",
                &[&ours.as_slice()],
            )
            .map_err(fail)?;
            let pinned: Vec<u8> = tx
                .query_one(
                    "SELECT value FROM meta WHERE key = 'office_public_key' FOR UPDATE",
                    &[],
                )
                .and_then(|r| r.try_get(0))
                .map_err(fail)?;
            if pinned != ours {
                return Err(another(&pinned));
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('certificate', $1)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&cert.encode()],
            )
            .map_err(fail)?;
            tx.commit().map_err(fail)?;
        }
        *self.local.office.lock().unwrap_or_else(|p| p.into_inner()) = Some(office.clone());
        Ok(())
    }

    /// Report status of every cell for `day`, the input of a rollup.
    fn cell_days(&self, day: NaiveDate) -> Result<Vec<CellDay>> {
        let doing = "reading the day's reports";
        let fail = |e: postgres::Error| self.failed(doing, e);
        let mut c = self.client(doing)?;
        let rows = c
            .query(
                "SELECT c.id, c.path, r.arrivals, r.abnormal, r.under_monitoring
                 FROM cells c LEFT JOIN reports r ON r.cell_id = c.id AND r.date = $1",
                &[&day.to_string()],
            )
            .map_err(fail)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get(0).map_err(fail)?;
            let path: String = r.try_get(1).map_err(fail)?;
            let arrivals: Option<i64> = r.try_get(2).map_err(fail)?;
            let abnormal: Option<i64> = r.try_get(3).map_err(fail)?;
            let under: Option<i64> = r.try_get(4).map_err(fail)?;
            out.push(CellDay::from_stored(&id, &path, arrivals, abnormal, under)?);
        }
        // Door-knock rounds, calls and errands of the day, counted as the
        // SQLite store counts them (`VisitCounts::add`).
        let counted = c
            .query(
                "SELECT cell_id, kind, count(*) FROM visits WHERE day = $1 GROUP BY cell_id, kind",
                &[&day.to_string()],
            )
            .map_err(fail)?;
        let mut visits: std::collections::HashMap<String, VisitCounts> =
            std::collections::HashMap::new();
        for r in counted {
            let cell: String = r.try_get(0).map_err(fail)?;
            let kind: String = r.try_get(1).map_err(fail)?;
            let n: i64 = r.try_get(2).map_err(fail)?;
            visits.entry(cell).or_default().add(&kind, n);
        }
        for d in &mut out {
            if let Some(v) = visits.get(&d.cell_id) {
                d.visits = *v;
            }
        }
        Ok(out)
    }
}

impl HubStorage for PgStorage {
    /// The hub's device id. Known once [`PgStorage::enrol_hub`] (or any
    /// use of the hub's identity) has run; empty if the database could not
    /// be asked for it, in which case every other call fails too.
    fn device_id(&self) -> String {
        self.identity()
            .map(|i| i.device_id.clone())
            .unwrap_or_default()
    }

    fn redeem_token(
        &self,
        token: &str,
        device_id: &str,
        public_key: &[u8; 32],
    ) -> Result<std::result::Result<TokenGrant, IdentityError>> {
        let doing = "redeeming an enrolment token";
        let fail = |e: postgres::Error| self.failed(doing, e);
        let now = self.now_ts();
        let hash = token_hash(token);
        let mut c = self.client(doing)?;
        let mut tx = c.transaction().map_err(fail)?;
        // The token's row stays locked until this commits: a second
        // redemption, from any process, waits here and then finds it spent.
        let Some(row) = tx
            .query_opt(
                "SELECT role, scope, valid_days, expires, used_by, used_key
                 FROM enrol_tokens WHERE token_hash = $1 FOR UPDATE",
                &[&hash],
            )
            .map_err(fail)?
        else {
            return Ok(Err(IdentityError::UnknownToken));
        };
        let stored = StoredToken {
            role: row.try_get(0).map_err(fail)?,
            scope: row.try_get(1).map_err(fail)?,
            valid_days: row.try_get(2).map_err(fail)?,
            expires: row.try_get(3).map_err(fail)?,
            used_by: row.try_get(4).map_err(fail)?,
            used_key: row.try_get(5).map_err(fail)?,
        };
        if let Err(e) = stored.may_be_spent_by(device_id, public_key, now) {
            return Ok(Err(e));
        }
        // The device id is claimed by its primary key: of two enrolments
        // claiming one id with different keys through different tokens,
        // the second finds the first's key here.
        tx.execute(
            "INSERT INTO enrolled (device_id, public_key, enrolled_at) VALUES ($1, $2, $3)
             ON CONFLICT (device_id) DO NOTHING",
            &[&device_id, &&public_key[..], &now],
        )
        .map_err(fail)?;
        let known: Vec<u8> = tx
            .query_one(
                "SELECT public_key FROM enrolled WHERE device_id = $1",
                &[&device_id],
            )
            .and_then(|r| r.try_get(0))
            .map_err(fail)?;
        if known != public_key[..] {
            return Ok(Err(IdentityError::DeviceIdTaken(device_id.to_string())));
        }
        tx.execute(
            "UPDATE enrol_tokens SET used_by = $2, used_key = $3 WHERE token_hash = $1",
            &[&hash, &device_id, &&public_key[..]],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(stored.grant())
    }

    fn issue_token(
        &self,
        office: &Office,
        grant: &TokenGrant,
        valid_for_secs: i64,
    ) -> Result<String> {
        use crate::audit::{Action, Actor, NewEntry};
        let token = new_token(office);
        let doing = "recording an enrolment token";
        let mut c = self.client(doing)?;
        // The token and its audit entry in one transaction.
        let written = (|| {
            let mut tx = c.transaction()?;
            tx.execute(
                "INSERT INTO enrol_tokens (token_hash, role, scope, valid_days, expires)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &token_hash(&token),
                    &grant.role.as_str(),
                    &grant.stored_scope(),
                    &grant.valid_days,
                    &(self.now_ts() + valid_for_secs),
                ],
            )?;
            super::audit::append(
                &mut tx,
                &self.local.clock.now(),
                &NewEntry::new(
                    Actor::Office,
                    Action::TokenIssue,
                    format!(
                        "role={} scope={}",
                        grant.role.as_str(),
                        grant.scope.0.join(",")
                    ),
                )
                .count("valid_days", grant.valid_days),
            )?;
            tx.commit()
        })();
        written.map_err(|e| self.failed(doing, e))?;
        Ok(token)
    }

    fn revoke(&self, device_id: &str) -> Result<()> {
        use crate::audit::{Action, Actor, NewEntry};
        let doing = "recording a revocation";
        let mut c = self.client(doing)?;
        // The revocation and its audit entry in one transaction.
        let written = (|| {
            let mut tx = c.transaction()?;
            tx.execute(
                "INSERT INTO revoked (device_id, revoked_at) VALUES ($1, $2)
                 ON CONFLICT (device_id) DO UPDATE SET revoked_at = EXCLUDED.revoked_at",
                &[&device_id, &self.now_ts()],
            )?;
            super::audit::append(
                &mut tx,
                &self.local.clock.now(),
                &NewEntry::new(Actor::Office, Action::Revoke, format!("device={device_id}")),
            )?;
            tx.commit()
        })();
        written.map_err(|e| self.failed(doing, e))?;
        Ok(())
    }

    /// The revocations in `revoked`, signed with this process's office key
    /// as they are served (ed25519 signs deterministically, so every hub
    /// process serves the same bytes). A process given no office key
    /// passes on none; it still refuses the revoked devices itself.
    fn revocations_to_pass_on(&self) -> Result<Vec<identity::Revocation>> {
        let office = self
            .local
            .office
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(office) = office else {
            return Ok(Vec::new());
        };
        let doing = "reading revocations";
        let mut c = self.client(doing)?;
        let rows = c
            .query(
                "SELECT device_id, revoked_at FROM revoked ORDER BY device_id LIMIT $1",
                &[&(identity::MAX_REVOCATIONS as i64)],
            )
            .map_err(|e| self.failed(doing, e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let device: String = row.try_get(0).map_err(|e| self.failed(doing, e))?;
            let at: i64 = row.try_get(1).map_err(|e| self.failed(doing, e))?;
            // Only device ids travel; anything else was never a device.
            if silin_core::model::check_id("device", &device).is_ok() {
                out.push(office.revoke(&device, at));
            }
        }
        Ok(out)
    }

    fn rollup(&self, day: NaiveDate, level: Level) -> Result<Vec<RollupRow>> {
        let hierarchy = HubStorage::hierarchy(self)?;
        Ok(roll_up_in(&hierarchy, level, &self.cell_days(day)?))
    }

    fn hierarchy(&self) -> Result<Hierarchy> {
        let doing = "reading the region levels";
        let mut c = self.client(doing)?;
        read_hierarchy(&mut *c).map_err(|e| self.failed(doing, e))?
    }

    fn cell_count(&self) -> Result<i64> {
        let doing = "counting cells";
        let mut c = self.client(doing)?;
        c.query_one("SELECT count(*) FROM docs", &[])
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.failed(doing, e))
    }

    fn renew_certificate(&self, scope: Option<&Scope>) -> Result<()> {
        let office = self
            .local
            .office
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                Error::Incompatible(
                    "this hub process was given no office key (PgStorage::enrol_hub), so it cannot renew the hub's certificate".into(),
                )
            })?;
        let scope = match scope {
            Some(s) => s.clone(),
            None => self
                .stored_certificate()?
                .map(|c| c.scope)
                .unwrap_or_else(Scope::everything),
        };
        self.enrol_hub(&office, &scope)
    }
}
