//! The office's side of identity, on the hub's store: its signing key and
//! the hub's own certificate, one-time enrolment tokens, revocation.

use silin_core::identity::{Office, Role, Scope};
use silin_core::store::TokenGrant;
use silin_core::{Error, Result, Store};

/// How long an enrolment token may wait before it is used.
pub const TOKEN_VALID_SECS: i64 = 14 * 86400;
/// Longest certificate the office hands out.
pub const MAX_VALID_DAYS: i64 = 10 * 365;

/// The office of the hub whose store this is, creating its key on first use
/// and (re)enrolling the hub's own device over `scope`; `None` keeps the
/// scope the hub already has (`*` for a new hub).
///
/// A store enrolled as a phone (lead, grid worker) is refused: turning it
/// into a hub would replace its certificate and pinned office key.
pub fn office(store: &Store, scope: Option<&Scope>) -> Result<Office> {
    let current = store.certificate()?;
    if let Some(c) = current.as_ref().filter(|c| c.role != Role::Office) {
        return Err(Error::Incompatible(format!(
            "this store belongs to a device enrolled as {} ({}); a hub needs a store of its own (pass another --db)",
            c.role.as_str(),
            c.device_id
        )));
    }
    let scope = match (scope, current) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => c.scope,
        (None, None) => Scope::everything(),
    };
    store.office(&scope)
}

/// A one-time token enrolling one device as `role` over `scope`, its
/// certificate valid for `valid_days`; the token itself is good for
/// [`TOKEN_VALID_SECS`].
pub fn issue_token(store: &Store, role: Role, scope: Scope, valid_days: i64) -> Result<String> {
    let office = office(store, None)?;
    store.issue_token(
        &office,
        &TokenGrant {
            role,
            scope,
            valid_days: valid_days.clamp(1, MAX_VALID_DAYS),
        },
        TOKEN_VALID_SECS,
    )
}
