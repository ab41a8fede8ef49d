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
    eprintln!("silin: {}", one_line_usage(&e.to_string()));
    std::process::exit(2)
}

/// Clap's message in one line: its first paragraph (which for a missing
/// argument is a heading followed by the arguments, one per line), and the
/// help of the command it was about.
fn one_line_usage(text: &str) -> String {
    let first: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = if first.is_empty() {
        "bad usage".to_string()
    } else {
        first.join(" ")
    };
    let message = message.trim_start_matches("error: ");
    // "Usage: silin member set --member <MEMBER> <FIELD=VALUE>..." names the
    // command up to its first option or value.
    let command = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(|u| {
            u.split_whitespace()
                .take_while(|w| !w.starts_with(['-', '[', '<']))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "silin".into());
    format!("{message} (see `{command} --help`)")
}

/// How a column of [`table`] lines up.
#[derive(Clone, Copy)]
pub enum Align {
    Left,
    Right,
}

/// A text table: a header row, then one row per entry, or "none". Columns
/// are padded by display width, so Chinese names (two columns each on a
/// terminal) line up with Latin ones.
pub fn table(columns: &[(&str, Align)], rows: Vec<Vec<String>>) -> String {
    use unicode_width::UnicodeWidthStr;
    let mut widths: Vec<usize> = columns.iter().map(|(h, _)| h.width()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, ((cell, (_, align)), w)) in cells.iter().zip(columns).zip(&widths).enumerate() {
            let pad = " ".repeat(w.saturating_sub(cell.width()));
            if i > 0 {
                s.push_str("  ");
            }
            match align {
                Align::Right => {
                    s.push_str(&pad);
                    s.push_str(cell);
                }
                // The last column is not padded: no trailing blanks.
                Align::Left if i == last => s.push_str(cell),
                Align::Left => {
                    s.push_str(cell);
                    s.push_str(&pad);
                }
            }
        }
        s.trim_end().to_string()
    };
    let mut out = vec![line(columns.iter().map(|(h, _)| *h).collect())];
    if rows.is_empty() {
        out.push("none".into());
    }
    for row in &rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

/// An RFC 3339 time as a person reads it: to the second, with its offset.
fn to_the_second(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S %:z").to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// A bug must still end as one line and exit 1, never a backtrace.
/// The last panic's message, kept for [`internal_error`].
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Keeps a panic's message instead of printing a backtrace, and never ends
/// the process from the hook: a panic inside a hub request or inside the
/// guarded decoding of a peer's bytes is caught where it happens (the hub
/// answers 500 and serves on); only one that reaches `main` ends the run.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(msg);
        }
    }));
}

/// A panic reached `main`: one line on stderr, exit 1.
pub fn internal_error() -> ! {
    let msg = LAST_PANIC
        .lock()
        .ok()
        .and_then(|m| m.clone())
        .unwrap_or_else(|| "unknown".into());
    eprintln!("silin: internal error ({msg}); please report it with the command you ran");
    std::process::exit(1);
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
                to_the_second(&vi.at),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_argument_is_named_on_one_line() {
        let clap = "error: the following required arguments were not provided:\n  --cell <CELL>\n  --date <DATE>\n\nUsage: silin report submit --cell <CELL> --date <DATE>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line_usage(clap),
            "the following required arguments were not provided: --cell <CELL> --date <DATE> (see `silin report submit --help`)"
        );
    }

    #[test]
    fn tables_pad_by_display_width() {
        let t = table(
            &[
                ("name", Align::Left),
                ("n", Align::Right),
                ("x", Align::Left),
            ],
            vec![
                vec!["王芳".into(), "1".into(), "a".into()],
                vec!["Li".into(), "10".into(), "b".into()],
            ],
        );
        assert_eq!(t, "name   n  x\n王芳   1  a\nLi    10  b");
        let empty = table(&[("name", Align::Left)], vec![]);
        assert_eq!(empty, "name\nnone");
    }

    #[test]
    fn visit_times_show_to_the_second() {
        assert_eq!(
            to_the_second("2026-11-29T10:00:00.123456789+08:00"),
            "2026-11-29 10:00:00 +08:00"
        );
    }
}
