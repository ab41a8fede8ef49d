//! `silin audit`: the hub's office audit log ([`silin_hub::audit`]) —
//! printed, or with `--verify` walked and checked. A broken chain exits 1
//! with one line naming the entry and what is wrong with it (with `--json`,
//! `{"ok":false,...}` on stdout as well); a PostgreSQL hub, which keeps no
//! log yet, is refused with exit 2.

use crate::output::{self, CliError, Out};
use chrono::NaiveDate;
use silin_core::Store;
use silin_hub::audit::{self, AuditError, Entry};

/// An audit failure as the command reports it: a broken log or a failing
/// store is exit 1, a request this hub cannot answer exit 2.
pub fn audit_error(e: AuditError) -> CliError {
    match e {
        AuditError::Store(e) => CliError::Core(e),
        e if e.is_user_error() => CliError::Usage(e.to_string()),
        e => CliError::Io(std::io::Error::other(e.to_string())),
    }
}

/// `silin audit --postgres`: refused, typed.
pub fn refuse_postgres() -> CliError {
    audit_error(AuditError::NotOnPostgres)
}

/// Prints the entries from `since` on, or verifies the whole chain.
pub fn run(
    store: &Store,
    out: &Out,
    since: Option<NaiveDate>,
    verify: bool,
) -> Result<(), CliError> {
    if !verify {
        let entries = audit::entries(store, since).map_err(audit_error)?;
        return out.print(&entries, || table(&entries));
    }
    match audit::verify(store) {
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
                        " (not signed: this store has no office key)"
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
