//! `silin hub … --postgres URL`: the hub on a PostgreSQL database that
//! several `silin hub serve` processes share (behind a reverse proxy), each
//! given the same office key file.

use crate::output::{CliError, Out};
use crate::serve;
use chrono::NaiveDate;
use silin_core::erasure::{ErasureOrder, Retention, Subject};
use silin_core::identity::{Role, Scope};
use silin_core::Clock;
use silin_core::Replica;
use silin_hub::enrolment::TokenGrant;
use silin_hub::pg::{PgError, PgOptions, PgSessions, PgStorage};
use silin_hub::storage::HubStorage;
use std::path::Path;
use std::sync::Arc;

pub struct Serve<'a> {
    pub listen: &'a str,
    pub url: &'a str,
    pub office_key: &'a Path,
    pub pool: u32,
    pub scope: Scope,
    pub tls: serve::Tls<'a>,
}

pub(crate) fn pg_error(e: PgError) -> CliError {
    match e {
        PgError::BadUrl { .. } | PgError::Newer { .. } | PgError::NotOurs { .. } => {
            CliError::Usage(e.to_string())
        }
        e => CliError::Io(std::io::Error::other(e.to_string())),
    }
}

fn office_error(e: silin_core::Error) -> CliError {
    match e {
        silin_core::Error::Incompatible(m) => CliError::Usage(m),
        e => CliError::Core(e),
    }
}

/// Names a branch's levels in the database ([`PgStorage::set_region_levels`]).
pub fn set_region_levels(
    url: &str,
    prefix: &str,
    names: &[String],
) -> Result<silin_core::region::Hierarchy, CliError> {
    Ok(open(url, 1)?.set_region_levels(prefix, names)?)
}

/// The database's hierarchy of level names.
pub fn hierarchy(url: &str) -> Result<silin_core::region::Hierarchy, CliError> {
    Ok(open(url, 1)?.hierarchy()?)
}

/// The database, laid out to this build's layout, on the process's clock
/// (`SILIN_NOW` pins it, as for a SQLite hub; `main` has refused a value
/// that does not read).
pub(crate) fn open(url: &str, pool: u32) -> Result<PgStorage, CliError> {
    let options = PgOptions {
        clock: Clock::from_env().unwrap_or_else(|_| Clock::system()),
        ..PgOptions::default()
    };
    let storage = PgStorage::connect_with(url, pool, options).map_err(pg_error)?;
    storage.migrate().map_err(pg_error)?;
    // An erasure whose process stopped before it rewrote the tables.
    storage.finish_erasures()?;
    Ok(storage)
}

/// The database and its office: the key from `office_key` (which must be
/// the key the database already trusts), and the hub's own device enrolled
/// by it over `scope` (`None`: the scope it has, `*` for a new hub).
fn with_office(
    url: &str,
    office_key: &Path,
    pool: u32,
    scope: Option<&Scope>,
) -> Result<(PgStorage, silin_core::identity::Office), CliError> {
    let storage = open(url, pool)?;
    let pinned = storage.office_public_key()?;
    let office = silin_hub::office::key_file_office(office_key, pinned).map_err(office_error)?;
    let scope = match (scope, storage.certificate()?) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => c.scope,
        (None, None) => Scope::everything(),
    };
    storage.enrol_hub(&office, &scope).map_err(office_error)?;
    Ok((storage, office))
}

pub fn serve(out: &Out, args: Serve<'_>) -> Result<(), CliError> {
    let listener = serve::bind(args.listen)?;
    let (storage, office) = with_office(args.url, args.office_key, args.pool, Some(&args.scope))?;
    // Behind a reverse proxy that passes connections through, every
    // process serves the same certificate (kept beside the office key when
    // self-signed); tokens name the one the processes serve.
    let certificate = serve::certificate(&listener, &args.tls, args.office_key)?;
    storage
        .pin_hub_certificate(certificate.as_ref().map(|c| c.fingerprint()))
        .map_err(office_error)?;
    let serving = serve::Serving {
        device: HubStorage::device_id(&storage),
        what: format!("PostgreSQL {}", storage.target()),
        warnings: vec![],
    };
    let sessions = Arc::new(PgSessions::new(&storage));
    let storage = Arc::new(storage);
    // The office dashboard reads the same database.
    let dashboard = silin_hub::dashboard::DashboardSource::new(storage.clone());
    // Every process asks; the first to find the day due runs it.
    let retention = Some(storage.clone() as Arc<dyn silin_hub::retention::Standing>);
    serve::run(
        out,
        listener,
        serving,
        storage,
        sessions,
        office,
        silin_hub::HubConfig {
            scope: Some(args.scope),
            tls: certificate,
            dashboard: Some(dashboard),
            retention,
            ..Default::default()
        },
    )
}

pub fn issue_token(
    url: &str,
    office_key: &Path,
    role: Role,
    scope: Scope,
    days: i64,
) -> Result<String, CliError> {
    let (storage, office) = with_office(url, office_key, 1, None)?;
    let token = storage.issue_token(
        &office,
        &TokenGrant {
            role,
            scope,
            valid_days: days,
        },
        silin_hub::office::TOKEN_VALID_SECS,
    )?;
    // Devices pin the certificate the hub last served, from the token.
    Ok(match storage.pinned_hub_certificate()? {
        Some(fp) => silin_hub::api::token_with_certificate(&token, &fp),
        None => token,
    })
}

/// `silin hub erase --postgres URL --office-key FILE`: the office's order,
/// issued in the database every hub process serves.
pub fn erase(
    url: &str,
    office_key: &Path,
    cell: &str,
    subjects: Vec<Subject>,
    reason: &str,
) -> Result<ErasureOrder, CliError> {
    let (storage, _) = with_office(url, office_key, 1, None)?;
    Ok(storage.issue_erasure(cell, subjects, reason)?)
}

/// `silin hub retain --postgres URL --office-key FILE`: the policy applied
/// on `day`, and with `daily` also kept as the standing one (the day then
/// counts as run).
pub fn retain(
    url: &str,
    office_key: &Path,
    policy: &Retention,
    day: NaiveDate,
    reason: &str,
    daily: bool,
) -> Result<Vec<ErasureOrder>, CliError> {
    // Two connections: a standing policy's run holds its row lock on one
    // while the cells are erased on the other.
    let (storage, _) = with_office(url, office_key, 2, None)?;
    if !daily {
        return Ok(storage.apply_retention(policy, day, reason)?);
    }
    storage.set_retention(policy, reason)?;
    Ok(storage.run_retention_if_due(day)?.unwrap_or_default())
}

/// `silin hub retain --stop-daily --postgres URL`: true when there was a
/// standing policy to end.
pub fn stop_retention(url: &str) -> Result<bool, CliError> {
    Ok(open(url, 1)?.clear_retention()?)
}

pub fn revoke(url: &str, device: &str) -> Result<(), CliError> {
    Ok(open(url, 1)?.revoke(device)?)
}

/// `silin hub user add --postgres URL`: a dashboard login in the database
/// every hub process shares.
pub fn add_user(
    url: &str,
    name: &str,
    role: silin_hub::users::UserRole,
    password: &str,
    created: &str,
) -> Result<(), CliError> {
    open(url, 1)?
        .users()
        .add(name, role, password, created)
        .map_err(crate::users_error)
}
