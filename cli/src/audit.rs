//! `silin audit`: the hub's office audit log ([`silin_hub::audit`]), of a
//! SQLite hub's store or a PostgreSQL hub's database — printed, or with
//! `--verify` walked and checked. A broken chain exits 1 with one line
//! naming the entry and what is wrong with it (with `--json`,
//! `{"ok":false,...}` on stdout as well).

use crate::output::{self, CliError, Out};
use chrono::NaiveDate;
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
                    e.detail
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            })
            .collect(),
    )
}
