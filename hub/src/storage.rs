//! What a hub keeps, whatever keeps it: [`HubStorage`] is the sync
//! [`Replica`] (documents, peers, certificates, sync state) plus the hub's
//! own business — enrolment tokens, the office's rollup, and its own
//! certificate. The SQLite store (the one-command default) and the
//! PostgreSQL storage (several hub processes, [`crate::pg`]) implement it;
//! the server speaks to nothing else.

use crate::enrolment::{self, TokenGrant};
use crate::office;
use chrono::NaiveDate;
use silin_core::identity::{IdentityError, Office, Revocation, Scope};
use silin_core::model::Level;
use silin_core::region::Hierarchy;
use silin_core::rollup::RollupRow;
use silin_core::{Replica, Result, Store};

pub trait HubStorage: Replica + Send + Sync {
    /// The hub's own device id (the one its certificate names).
    fn device_id(&self) -> String;
    /// Spends an enrolment token for `device_id` holding `public_key`, in
    /// one transaction: a token enrols one device with one key (the same
    /// device and key may redeem it again, its first answer being lost).
    /// The outer error is the storage's; the inner, the token's.
    /// (Tokens are issued with [`HubStorage::issue_token`].)
    fn redeem_token(
        &self,
        token: &str,
        device_id: &str,
        public_key: &[u8; 32],
    ) -> Result<std::result::Result<TokenGrant, IdentityError>>;
    /// Records a one-time enrolment token for `grant`, good for
    /// `valid_for_secs`; returns the token text (only its hash is kept).
    fn issue_token(
        &self,
        office: &Office,
        grant: &TokenGrant,
        valid_for_secs: i64,
    ) -> Result<String>;
    /// Refuses `device_id` from now on, in every session and enrolment.
    fn revoke(&self, device_id: &str) -> Result<()>;
    /// The office-signed revocations the hub passes on in every session it
    /// answers (phones keep them and pass them on to each other).
    fn revocations_to_pass_on(&self) -> Result<Vec<Revocation>> {
        Replica::revocations(self)
    }
    /// Makes the storage keep the audit entries devices send up in the
    /// sessions it answers, in the hub's log (see
    /// [`Replica::take_device_audit`]); called when the hub starts to
    /// serve. (A storage whose replica keeps them already need do nothing.)
    fn keep_device_audit(&self) {}
    /// The day's zero reports rolled up to `level`.
    fn rollup(&self, day: NaiveDate, level: Level) -> Result<Vec<RollupRow>>;
    /// The hierarchy's level names, to read `level=building` with.
    fn hierarchy(&self) -> Result<Hierarchy>;
    /// How many cells the hub holds (health).
    fn cell_count(&self) -> Result<i64>;
    /// Keeps the hub's own certificate from running out while it serves for
    /// months: renews it from the office key when it nears its end.
    fn renew_certificate(&self, scope: Option<&Scope>) -> Result<()>;
}

impl HubStorage for Store {
    fn device_id(&self) -> String {
        Store::device_id(self)
    }

    fn redeem_token(
        &self,
        token: &str,
        device_id: &str,
        public_key: &[u8; 32],
    ) -> Result<std::result::Result<TokenGrant, IdentityError>> {
        enrolment::redeem(self, token, device_id, public_key)
    }

    fn issue_token(
        &self,
        office: &Office,
        grant: &TokenGrant,
        valid_for_secs: i64,
    ) -> Result<String> {
        enrolment::issue(self, office, grant, valid_for_secs)
    }

    /// Signs the revocation with the office key and keeps it signed, so
    /// that it travels to phones with sync.
    fn revoke(&self, device_id: &str) -> Result<()> {
        silin_core::model::check_id("device", device_id)?;
        let office = office::office(self, None)?;
        let revocation = office.revoke(device_id, self.clock().timestamp());
        Store::revoke(self, device_id)?;
        self.record_revocations(std::slice::from_ref(&revocation))
            .map(|_| ())
    }

    /// The store's replica keeps them with [`crate::audit::keep_device_entries`].
    fn keep_device_audit(&self) {
        Store::keep_device_audit(self, crate::audit::keep_device_entries);
    }

    fn rollup(&self, day: NaiveDate, level: Level) -> Result<Vec<RollupRow>> {
        Store::rollup(self, day, level)
    }

    fn hierarchy(&self) -> Result<Hierarchy> {
        Store::hierarchy(self)
    }

    fn cell_count(&self) -> Result<i64> {
        Ok(self.stats()?.docs)
    }

    fn renew_certificate(&self, scope: Option<&Scope>) -> Result<()> {
        office::office(self, scope).map(|_| ())
    }
}
