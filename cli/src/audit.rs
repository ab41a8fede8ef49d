//! `silin audit`: the hub's office audit log ([`silin_hub::audit`]), of a
//! SQLite hub's store or a PostgreSQL hub's database — printed, or with
//! `--verify` walked and checked. A broken chain exits 1 with one line
//! naming the entry and what is wrong with it (with `--json`,
//! `{"ok":false,...}` on stdout as well).
//!
//! On a device's store (one that is no hub: no hub log, no office key
//! beside it) the same command reads the device's own log
//! ([`silin_core::audit`]): its entries, each with whether the hub holds it
//! yet.

use crate::output::{self, CliError, Out};
use chrono::NaiveDate;
use silin_core::store::OwnEntry;
use silin_core::Store;
use silin_hub::audit::{self, AuditError, Entry, Verified};
use silin_hub::pg::{PgError, PgStorage};

/// Where the log is kept.
pub enum Hub<'a> {
    Sqlite(&'a Store),
    Postgres(&'a str),
}

/// An audit failure as the command reports it: a broken log or a failing
/// store is exit 1, a request this hub cannot answer exit 2.
pub fn audit_error(e: AuditError) -> CliError {
    match e {
        AuditError::Store(e) => CliError::Core(e),
        e if e.is_user_error() => CliError::Usage(e.to_string()),
        e => CliError::Io(std::io::Error::other(e.to_string())),
    }
}

/// A PostgreSQL hub that cannot be reached or read: a URL that does not
/// parse is bad input, the rest a fault.
fn pg_error(e: PgError) -> CliError {
    match e {
        PgError::BadUrl { .. } => CliError::Usage(e.to_string()),
        e => CliError::Io(std::io::Error::other(e.to_string())),
    }
}

/// The log of one hub, opened.
enum Log<'a> {
    Sqlite(&'a Store),
    Postgres(PgStorage),
}

impl Log<'_> {
    fn open<'a>(hub: Hub<'a>) -> Result<Log<'a>, CliError> {
        Ok(match hub {
            Hub::Sqlite(store) => Log::Sqlite(store),
            Hub::Postgres(url) => Log::Postgres(PgStorage::connect(url, 1).map_err(pg_error)?),
        })
    }

    /// A SQLite store that is no hub's: a device's, with its own log.
    fn device(&self) -> Result<Option<&Store>, CliError> {
        match self {
            Log::Sqlite(store) if !audit::is_hub(store).map_err(audit_error)? => Ok(Some(store)),
            _ => Ok(None),
        }
    }

    fn entries(&self, since: Option<NaiveDate>) -> Result<Vec<Entry>, AuditError> {
        match self {
            Log::Sqlite(store) => audit::entries(store, since),
            Log::Postgres(pg) => pg.audit_entries(since),
        }
    }

    fn verify(&self) -> Result<Verified, AuditError> {
        match self {
            Log::Sqlite(store) => audit::verify(store),
            Log::Postgres(pg) => pg.audit_verify(),
        }
    }
}

/// Prints the entries from `since` on, or verifies the whole chain.
pub fn run(hub: Hub, out: &Out, since: Option<NaiveDate>, verify: bool) -> Result<(), CliError> {
    let log = Log::open(hub)?;
    if let Some(store) = log.device()? {
        return run_device(store, out, since, verify);
    }
    if !verify {
        let entries = log.entries(since).map_err(audit_error)?;
        return out.print(&entries, || table(&entries));
    }
    let verified = log.verify();
    match verified {
        Ok(v) => out.print(
            &serde_json::json!({
                "ok": true, "entries": v.entries, "head": v.head, "signed": v.signed,
            }),
            || {
                let head = v.head.as_deref().unwrap_or("none");
                format!(
                    "ok: {} entries, chain intact; head {head}{}",
                    v.entries,
                    if v.signed {
                        ", signed by the office key"
                    } else {
                        " (not signed: a PostgreSQL hub, or a store without an office key)"
                    }
                )
            },
        ),
        Err(AuditError::Broken { seq, problem }) => {
            let json = serde_json::json!({
                "ok": false, "entry": seq, "problem": problem.to_string(),
            });
            // Scripts read it on stdout; a person reads the error line.
            out.print(&json, String::new)?;
            Err(audit_error(AuditError::Broken { seq, problem }))
        }
        Err(e) => Err(audit_error(e)),
    }
}

/// An entry's counts as `key=n key=n`, in key order.
fn detail_text<'a, K: std::fmt::Display + 'a>(
    detail: impl IntoIterator<Item = (&'a K, &'a i64)>,
) -> String {
    detail
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn table(entries: &[Entry]) -> String {
    use output::Align::{Left, Right};
    output::table(
        &[
            ("seq", Right),
            ("at", Left),
            ("actor", Left),
            ("action", Left),
            ("target", Left),
            ("detail", Left),
        ],
        entries
            .iter()
            .map(|e| {
                vec![
                    e.seq.to_string(),
                    e.at.clone(),
                    match &e.actor {
                        audit::Actor::Office => "office".to_string(),
                        audit::Actor::User { name } => format!("user {name}"),
                        audit::Actor::Device { device_id, role } => {
                            format!("{role} {device_id}")
                        }
                    },
                    e.action.as_str().to_string(),
                    e.target.clone(),
                    detail_text(&e.detail),
                ]
            })
            .collect(),
    )
}

/// `silin audit` on a device's store: its own entries, or their chain.
fn run_device(
    store: &Store,
    out: &Out,
    since: Option<NaiveDate>,
    verify: bool,
) -> Result<(), CliError> {
    if !verify {
        let since = since.map(|d| d.to_string()).unwrap_or_default();
        let entries: Vec<OwnEntry> = store
            .audit_entries()?
            .into_iter()
            .filter(|e| e.at.get(..10).unwrap_or_default() >= since.as_str())
            .collect();
        return out.print(&entries, || device_table(&entries));
    }
    match store.verify_audit() {
        Ok(v) => out.print(
            &serde_json::json!({
                "ok": true, "entries": v.entries, "head": v.head, "signed": false,
                "unsent": v.unsent,
            }),
            || {
                format!(
                    "ok: {} entries, chain intact; head {} (this device's own log; {} not yet held by the hub)",
                    v.entries,
                    v.head.as_deref().unwrap_or("none"),
                    v.unsent
                )
            },
        ),
        Err(silin_core::Error::AuditBroken { seq, problem }) => {
            let json = serde_json::json!({ "ok": false, "entry": seq, "problem": problem });
            out.print(&json, String::new)?;
            Err(CliError::Core(silin_core::Error::AuditBroken { seq, problem }))
        }
        Err(e) => Err(e.into()),
    }
}

fn device_table(entries: &[OwnEntry]) -> String {
    use output::Align::{Left, Right};
    output::table(
        &[
            ("seq", Right),
            ("at", Left),
            ("action", Left),
            ("target", Left),
            ("detail", Left),
            ("sent", Left),
        ],
        entries
            .iter()
            .map(|e| {
                vec![
                    e.seq.to_string(),
                    e.at.clone(),
                    e.action.as_str().to_string(),
                    e.target.clone(),
                    detail_text(&e.detail),
                    if e.sent { "yes" } else { "no" }.to_string(),
                ]
            })
            .collect(),
    )
}
