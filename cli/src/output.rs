//! How the command speaks: one JSON value or human text on stdout, one-line
//! errors on stderr, exit codes by whose fault it was, progress bars only
//! on a terminal.

use serde::Serialize;
use silin_core::model::{CellView, ValidationError};
use silin_core::sync::SyncError;
use std::io::{IsTerminal, Write};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Wrong usage or input that is not a field value (missing store, unset key variable).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Core(#[from] silin_core::Error),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The failure was already reported on stdout (e.g. `check` found problems).
    #[error("")]
    Silent,
}

impl From<ValidationError> for CliError {
    fn from(e: ValidationError) -> Self {
        CliError::Core(e.into())
    }
}

impl CliError {
    fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Core(e) => user_or_fault(e),
            CliError::Sync(SyncError::Store(e)) => user_or_fault(e),
            // A file or peer we refused is bad input, not a fault here.
            CliError::Sync(_) => 2,
            CliError::Io(_) | CliError::Silent => 1,
        }
    }
}

fn user_or_fault(e: &silin_core::Error) -> i32 {
    if e.is_user_error() {
        2
    } else {
        1
    }
}

pub fn fail(e: CliError) -> ! {
    let code = e.exit_code();
    if !matches!(e, CliError::Silent) {
        // One line: what was wrong and what to do.
        let msg = e.to_string().replace('\n', " ");
        eprintln!("silin: {msg}");
    }
    std::process::exit(code)
}

/// Clap's own errors, cut to one line; help and version print as usual.
pub fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        std::process::exit(
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                2
            } else {
                0
            },
        );
    }
    let text = e.to_string();
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("bad usage")
        .trim_start_matches("error: ");
    eprintln!("silin: {first} (see `silin --help`)");
    std::process::exit(2)
}

/// A bug must still end as one line and exit 1, never a backtrace.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        eprintln!("silin: internal error ({msg}); please report it with the command you ran");
        std::process::exit(1);
    }));
}

pub struct Out {
    json: bool,
}

impl Out {
    pub fn new(json: bool) -> Out {
        Out { json }
    }

    /// Progress bars go to a person at a terminal, never into pipes or JSON.
    pub fn progress_allowed(&self) -> bool {
        !self.json && std::io::stdout().is_terminal()
    }

    pub fn print<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> Result<(), CliError> {
        let mut stdout = std::io::stdout().lock();
        if self.json {
            let s = serde_json::to_string(value).map_err(|e| CliError::Io(e.into()))?;
            writeln!(stdout, "{s}")?;
        } else {
            let s = human();
            if !s.is_empty() {
                writeln!(stdout, "{s}")?;
            }
        }
        Ok(())
    }
}

/// Writes next to the target then renames, so a reader never sees half a file.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| CliError::Usage(format!("cannot write to {}: {e}", dir.display())))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| CliError::Usage(format!("cannot write {}: {}", path.display(), e.error)))?;
    Ok(())
}

pub fn cell_text(v: &CellView) -> String {
    let mut s = format!("{}  {}\n{}\n", v.cell.name, v.cell.path, v.cell.id);
    if let Some(lead) = &v.cell.lead {
        s.push_str(&format!("lead: {lead}\n"));
    }
    for h in &v.households {
        s.push_str(&format!(
            "\nhousehold {}  {}  {}\n",
            h.id,
            h.address.as_deref().unwrap_or(""),
            h.phone.as_deref().unwrap_or("")
        ));
        for m in &h.members {
            let mut flags: Vec<String> = m.vulnerable.iter().map(|v| v.to_string()).collect();
            if let Some(u) = m.monitoring.until {
                flags.push(format!("monitoring until {u}"));
            }
            s.push_str(&format!(
                "  {}  {}  {}  {}  {}\n",
                m.id,
                m.name,
                m.residence,
                m.phone.as_deref().unwrap_or("-"),
                flags.join(", ")
            ));
        }
    }
    let recent: Vec<_> = v.visits.iter().rev().take(10).collect();
    if !recent.is_empty() {
        s.push_str("\nrecent visits:\n");
        for vi in recent {
            s.push_str(&format!(
                "  {}  {}  {}{}\n",
                vi.at,
                vi.kind,
                vi.by,
                vi.temperature
                    .map(|t| format!("  {t:.1}°C"))
                    .unwrap_or_default()
            ));
        }
    }
    let mut reports: Vec<_> = v.reports.iter().collect();
    reports.sort_by_key(|r| std::cmp::Reverse(r.date));
    if !reports.is_empty() {
        s.push_str("\nreports:\n");
        for r in reports.iter().take(7) {
            s.push_str(&format!(
                "  {}  {}  arrivals {}  abnormal {}\n",
                r.date,
                if r.is_zero() { "zero" } else { "NON-ZERO" },
                r.arrivals,
                r.abnormal
            ));
        }
    }
    if !v.conflicts.is_empty() {
        s.push_str("\nconflicts (first value shown):\n");
        for c in &v.conflicts {
            s.push_str(&format!("  {}: {}\n", c.path, c.values.join(" | ")));
        }
    }
    s.trim_end().to_string()
}
