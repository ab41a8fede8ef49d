//! `silin`: the command-line tool for township offices, app developers
//! inspecting a phone's store, and scripts. The commands, flags and `--json`
//! fields are a public contract (shared/CLI.md): add, never change.
//!
//! Exit codes: 0 ok, 2 bad input or usage (nothing written), 1 anything else.

mod audit;
mod demo;
mod export;
mod office;
mod output;
mod pg;
mod region;
mod register;
mod serve;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use output::{fail, CliError, Out};
use silin_core::model::*;
use silin_core::store::{Store, StoreKey, StoreOptions};
use silin_core::Clock;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "silin",
    version,
    about = "Offline-first registers for neighbourhood micro-grid cells",
    after_help = "Environment: SILIN_NOW pins \"now\" (RFC 3339 or YYYY-MM-DD) for every command, \
                  e.g. to re-enter a past day's paper records. Full reference: doc/CLI.md."
)]
struct Cli {
    /// The store file.
    #[arg(long, global = true, default_value = "silin.db")]
    store: PathBuf,
    /// Name of an environment variable holding the SQLCipher key (never the key itself).
    #[arg(long, global = true, value_name = "VAR", conflicts_with = "key_file")]
    key_env: Option<String>,
    /// A file holding the store's key (default: `<store>.store-key` beside
    /// the store, made with a new store).
    #[arg(long, global = true, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Create a new store without encryption at rest (its disk is
    /// encrypted already, or other SQLite tools must read it). Not with
    /// --key-file or --key-env.
    #[arg(long, global = true)]
    unencrypted: bool,
    /// Print exactly one JSON value on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a county: offline edits on lead and grid-worker phones, merges, and the rollup.
    Demo {
        /// Seed of the generated county and its activity (same seed, same county).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of cells in the county.
        #[arg(long, default_value_t = 2903)]
        cells: usize,
        /// Days of offline activity to simulate.
        #[arg(long, default_value_t = 1)]
        days: u32,
    },
    /// Create a store and this device's identity (an existing store is kept).
    Init {
        /// A name for this device (shown as `by` on visits it records); renames an existing store's device.
        #[arg(long)]
        name: Option<String>,
    },
    /// Cells: create, show, save.
    #[command(subcommand)]
    Cell(CellCmd),
    /// Cells in the store.
    Cells,
    /// Households: add one to a cell.
    #[command(subcommand)]
    Household(HouseholdCmd),
    /// Members: add one to a household, edit fields.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Visits: door knocks, health checks, calls, errands, notices.
    #[command(subcommand)]
    Visit(VisitCmd),
    /// Daily reports: file a cell's report for a day.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Zero-report rollup per region at a level.
    Rollup {
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// county, township, village or group, or a level a branch names (community, building, unit: see `silin region levels`).
        #[arg(long, default_value = "county")]
        level: String,
    },
    /// Lists an office or a lead works from, without loading documents.
    #[command(subcommand)]
    List(ListCmd),
    /// Bundle files: carry cells between devices where no network reaches.
    #[command(subcommand)]
    Bundle(BundleCmd),
    /// Check the file, every document and every projection (repairs projections).
    Check,
    /// The township hub: serve, enrolment tokens, revocation.
    #[command(subcommand)]
    Hub(HubCmd),
    /// Enrol this device with the township hub using a one-time token.
    Enroll {
        /// The hub's address, like http://192.168.1.10:8080
        #[arg(long)]
        hub: String,
        /// The one-time token from the office.
        #[arg(long)]
        token: String,
    },
    /// Sync the store with the township hub.
    Sync {
        /// The hub's address, like http://192.168.1.10:8080
        #[arg(long)]
        hub: String,
    },
    /// Office work on the hub: feedback lists in as tasks, daily sheets out.
    #[command(subcommand)]
    Office(OfficeCmd),
    /// Arrivals recorded at the door.
    #[command(subcommand)]
    Arrival(register::ArrivalCmd),
    /// A member's dose and test history.
    #[command(subcommand)]
    History(register::HistoryCmd),
    /// Errands run for the elderly and disabled.
    #[command(subcommand)]
    Errand(register::ErrandCmd),
    /// Who leads a cell.
    #[command(subcommand)]
    Lead(register::LeadCmd),
    /// The office's notices to the cells of a region, and their reach.
    #[command(subcommand)]
    Notice(register::NoticeCmd),
    /// The hierarchy's levels: what each branch calls its levels (the county
    /// seat: community, building, unit).
    #[command(subcommand)]
    Region(RegionCmd),
    /// Set the office's monitoring and reporting policy for a cell
    /// (low_days, low_checks, medium_days, medium_checks, high_days,
    /// high_checks, report_due_hour).
    Policy {
        /// The cell's id.
        #[arg(long)]
        cell: String,
        /// KEY=VALUE settings.
        #[arg(required = true)]
        settings: Vec<String>,
    },
    /// Raise the day's alerts (missed health checks) and reminders (a
    /// report not filed by the policy's hour), once each.
    Alerts {
        /// The cell's id.
        #[arg(long)]
        cell: String,
    },
    /// The lead's day screen: checks due, tasks, calls, errands, the report's draft.
    Day {
        /// The cell's id.
        #[arg(long)]
        cell: String,
        /// The day, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
        /// List residents away not called for this many days.
        #[arg(long, default_value = "7", value_name = "N")]
        not_called_days: String,
    },
    /// The office's erasure orders this store holds, and whether it has followed each.
    Erasures,
    /// The audit log: on a hub, who exported, imported, viewed personal data in full, added logins, issued tokens, revoked devices, and what devices sent up; on a phone, its own exports, cell saves and erasures followed, and whether its hub holds each.
    Audit {
        /// The hub's (or the phone's) store (default: --store).
        #[arg(long, conflicts_with = "postgres")]
        db: Option<PathBuf>,
        /// A PostgreSQL hub's database instead, like postgres://user@host/db.
        #[arg(long)]
        postgres: Option<String>,
        /// Only the entries from this day on, YYYY-MM-DD.
        #[arg(long)]
        since: Option<String>,
        /// Walk the chain and check every entry and the signed head instead of printing the entries.
        #[arg(long)]
        verify: bool,
    },
}

#[derive(Subcommand)]
enum OfficeCmd {
    /// Import a feedback list (CSV or XLSX) as tasks in the matched members' cells.
    ImportList {
        /// The list: CSV (UTF-8 or GB18030) or XLSX, told apart by content.
        file: PathBuf,
        /// vaccination, test or notice
        #[arg(long)]
        kind: String,
        /// Import the matched rows even if others were rejected (default: a list with rejected rows imports nothing).
        #[arg(long)]
        accept_partial: bool,
        /// Where to write the rejected rows (default: FILE.rejected.csv beside the list).
        #[arg(long, value_name = "PATH")]
        report: Option<PathBuf>,
        /// A column under another header: FIELD=HEADER, FIELD one of name, id_number, phone, village, status, due, text (repeat for more).
        #[arg(long = "column", value_name = "FIELD=HEADER")]
        columns: Vec<String>,
        /// The tasks' title instead of the kind's (接种提醒, 核酸检测提醒); a notice's text when the list has no 通知内容 column.
        #[arg(long)]
        title: Option<String>,
        /// The hub's store (default: --store).
        #[arg(long, conflicts_with = "postgres")]
        db: Option<PathBuf>,
        /// A PostgreSQL hub (not available for this command yet).
        #[arg(long)]
        postgres: Option<String>,
    },
    /// Export a daily sheet as CSV or XLSX: the rollup, the cells missing their report, or task completion per list.
    Export {
        /// rollup, missing or tasks
        what: String,
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// The rollup's level: county, township, village or group, or a level a branch names (building, unit…).
        #[arg(long, default_value = "village")]
        level: String,
        /// csv (UTF-8 with a byte-order mark) or xlsx
        #[arg(long)]
        format: String,
        /// The file to write (replaced if it exists).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The hub's store (default: --store).
        #[arg(long, conflicts_with = "postgres")]
        db: Option<PathBuf>,
        /// A PostgreSQL hub (not available for this command yet).
        #[arg(long)]
        postgres: Option<String>,
    },
}

#[derive(Subcommand)]
enum RegionCmd {
    /// Name a branch's levels (--prefix with --levels), or list the branches named.
    Levels {
        /// The branch: a region path prefix, e.g. 两当县/城关镇/城关社区.
        #[arg(long, requires = "levels")]
        prefix: Option<String>,
        /// Names of the branch's own level and those below, comma-separated, e.g. community,building,unit.
        #[arg(long, requires = "prefix", value_name = "NAMES")]
        levels: Option<String>,
        /// The hub's store (default: --store).
        #[arg(long, conflicts_with = "postgres")]
        db: Option<PathBuf>,
        /// A PostgreSQL hub's database instead, like postgres://user@host/db.
        #[arg(long)]
        postgres: Option<String>,
    },
}

#[derive(Subcommand)]
enum HubCmd {
    /// Run the hub until Ctrl-C or SIGTERM.
    Serve {
        /// Address to listen on, like 0.0.0.0:8080 (port 0 picks a free one).
        #[arg(long)]
        listen: String,
        /// The hub's SQLite store (default: --store); created if missing.
        #[arg(long, conflicts_with = "postgres")]
        db: Option<PathBuf>,
        /// Serve a PostgreSQL database instead (several hub processes may serve one), like postgres://user@host/db or "host=... dbname=...".
        #[arg(long, requires = "office_key")]
        postgres: Option<String>,
        /// With --postgres: the office key file every hub process is given (created on the first start; keep it owner-only and backed up).
        #[arg(long, value_name = "FILE", requires = "postgres")]
        office_key: Option<PathBuf>,
        /// With --postgres: database connections this process keeps open.
        #[arg(long, default_value = "16", requires = "postgres")]
        pool: String,
        /// Cells the hub shares: region paths or cell ids (`*` for all).
        #[arg(long, num_args = 1.., default_value = "*")]
        scope: Vec<String>,
        /// Serve https with this certificate (PEM, end-entity first) instead of the hub's self-signed one.
        #[arg(long, value_name = "PEM", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM, readable by its owner only).
        #[arg(long, value_name = "PEM", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Serve https on a loopback address too (beyond loopback it is the default).
        #[arg(long)]
        tls: bool,
        /// Serve plain HTTP beyond loopback (readable and alterable by anyone on the network).
        #[arg(long, conflicts_with_all = ["tls", "tls_cert"])]
        insecure_http: bool,
    },
    /// Issue a one-time enrolment token (office admin, on the hub machine).
    Token {
        /// The hub's store (default: --store); created if missing.
        #[arg(long, conflicts_with = "postgres")]
        db: Option<PathBuf>,
        /// The hub's PostgreSQL database instead.
        #[arg(long, requires = "office_key")]
        postgres: Option<String>,
        /// With --postgres: the hub's office key file.
        #[arg(long, value_name = "FILE", requires = "postgres")]
        office_key: Option<PathBuf>,
        /// lead, grid_worker, building_head, unit_head, office or county
        #[arg(long)]
        role: String,
        /// Region paths (county/township/...) or cell ids the device may hold.
        #[arg(long, num_args = 1.., required = true)]
        scope: Vec<String>,
        /// Days the device's certificate stays valid.
        #[arg(long, default_value = "365", allow_hyphen_values = true)]
        valid_days: String,
    },
    /// Encrypt a plain hub store at rest, in place, under a new key file (the hub stopped).
    Encrypt {
        /// The hub's store (default: --store).
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Revoke a device: the hub refuses it from now on.
    Revoke {
        /// The hub's store (default: --store).
        #[arg(long, conflicts_with = "postgres")]
        db: Option<PathBuf>,
        /// The hub's PostgreSQL database instead.
        #[arg(long)]
        postgres: Option<String>,
        /// The device's id (as `silin enroll` printed it).
        #[arg(long)]
        device: String,
    },
    /// Erase people or records from a cell on every device, history included: the office's signed order starts a new epoch of the cell without them.
    Erase {
        /// The hub's store (default: --store).
        #[arg(long, conflicts_with = "postgres")]
        db: Option<PathBuf>,
        /// The hub's PostgreSQL database instead.
        #[arg(long, requires = "office_key")]
        postgres: Option<String>,
        /// With --postgres: the hub's office key file (the office signs the order).
        #[arg(long, value_name = "FILE", requires = "postgres")]
        office_key: Option<PathBuf>,
        /// The cell's id.
        #[arg(long)]
        cell: String,
        /// A member to erase, with every record about them (repeatable).
        #[arg(long, value_name = "ID")]
        member: Vec<String>,
        /// A household to erase, its members and every record about them (repeatable).
        #[arg(long, value_name = "ID")]
        household: Vec<String>,
        /// One record, KIND:ID with KIND visit, task, arrival, dose, test, errand or notice (repeatable).
        #[arg(long, value_name = "KIND:ID")]
        record: Vec<String>,
        /// Everything in the cell but its id, name and region.
        #[arg(long)]
        whole_cell: bool,
        /// A reference to the request (kept for good with the order: no names).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Apply the retention policy on every device: erase health checks and test results older than N days, and arrival records M days after their home monitoring ended.
    Retain {
        /// The hub's store (default: --store).
        #[arg(long, conflicts_with = "postgres")]
        db: Option<PathBuf>,
        /// The hub's PostgreSQL database instead.
        #[arg(long)]
        postgres: Option<String>,
        /// With --postgres: the hub's office key file (the office signs the orders; not needed for --stop-daily).
        #[arg(long, value_name = "FILE", requires = "postgres")]
        office_key: Option<PathBuf>,
        /// Keep health checks and test results this many days.
        #[arg(
            long,
            value_name = "N",
            allow_hyphen_values = true,
            required_unless_present = "stop_daily"
        )]
        checks_days: Option<String>,
        /// Keep arrival records this many days after their monitoring ended.
        #[arg(
            long,
            value_name = "N",
            default_value = "14",
            allow_hyphen_values = true
        )]
        monitoring_days: String,
        /// The day the policy is applied on, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
        /// A reference for the orders (kept with them: no names).
        #[arg(long, default_value = "retention")]
        reason: String,
        /// Also keep the policy: the serving hub applies it once a day from now on.
        #[arg(long, conflicts_with = "date")]
        daily: bool,
        /// End the standing daily policy (nothing is erased).
        #[arg(long, conflicts_with_all = ["checks_days", "daily", "date"])]
        stop_daily: bool,
    },
    /// Dashboard logins of the office.
    #[command(subcommand)]
    User(HubUserCmd),
}

#[derive(Subcommand)]
enum HubUserCmd {
    /// Add a dashboard login; its password is read from standard input (one line).
    Add {
        /// The hub's store (default: --store); created if missing.
        #[arg(long, conflicts_with = "postgres")]
        db: Option<PathBuf>,
        /// A PostgreSQL hub: the login is kept in its database, for every process.
        #[arg(long)]
        postgres: Option<String>,
        /// The login name.
        #[arg(long)]
        name: String,
        /// office or county (who see people), or analyst (counts only, small ones suppressed)
        #[arg(long, default_value = "office")]
        role: String,
    },
}

#[derive(Subcommand)]
enum CellCmd {
    /// Create a cell.
    Create {
        /// The cell's name, like 三组第5联户.
        #[arg(long)]
        name: String,
        /// county/township/village/group
        #[arg(long)]
        path: String,
        /// The lead householder's name.
        #[arg(long)]
        lead: Option<String>,
    },
    /// Show a cell: households, members, recent visits, reports, conflicts.
    Show {
        /// The cell's id.
        #[arg(long)]
        cell: String,
    },
    /// Write the cell's automerge document in automerge's standard binary format.
    Save {
        /// The cell's id.
        #[arg(long)]
        cell: String,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum HouseholdCmd {
    /// Add a household to a cell.
    Add {
        /// The cell's id.
        #[arg(long)]
        cell: String,
        /// Street address, like 东关村三组12号.
        #[arg(long)]
        address: Option<String>,
        /// Door number or sign on the door.
        #[arg(long)]
        door: Option<String>,
        /// The household's 11-digit mobile number.
        #[arg(long)]
        phone: Option<String>,
    },
}

#[derive(Subcommand)]
enum MemberCmd {
    /// Add a member to a household.
    Add(MemberAdd),
    /// Edit fields: FIELD=VALUE (empty VALUE clears).
    #[command(after_help = member_fields_help())]
    Set {
        /// The member's id.
        #[arg(long)]
        member: String,
        /// One or more edits, like residence=returned monitoring_until=2026-12-10.
        #[arg(required = true, value_name = "FIELD=VALUE")]
        assignments: Vec<String>,
    },
}

/// The FIELDS section of `member set --help`, from the list the parser
/// itself matches on, so help and parser cannot disagree.
fn member_fields_help() -> String {
    let width = MEMBER_FIELDS.iter().map(|f| f.len()).max().unwrap_or(0);
    let mut s = String::from("FIELDS:\n");
    for f in MemberField::ALL {
        s.push_str(&format!("  {:<width$}  {}\n", f.as_str(), f.value_hint()));
    }
    s.trim_end().to_string()
}

#[derive(Args)]
struct MemberAdd {
    /// The household's id.
    #[arg(long)]
    household: String,
    /// The member's name.
    #[arg(long)]
    name: String,
    /// 18-character resident ID number (sets birth year and sex).
    #[arg(long)]
    id_number: Option<String>,
    /// 11-digit mobile number.
    #[arg(long)]
    phone: Option<String>,
    /// Year of birth, like 1956.
    #[arg(long)]
    birth_year: Option<String>,
    /// male, female or unknown.
    #[arg(long)]
    sex: Option<String>,
    /// Relation to the head of household, like 户主 or 配偶.
    #[arg(long)]
    relation: Option<String>,
    /// resident, away or returned.
    #[arg(long)]
    residence: Option<String>,
    /// Comma-separated: elderly, disabled, mobility, alone, chronic.
    #[arg(long)]
    vulnerable: Option<String>,
}

#[derive(Subcommand)]
enum VisitCmd {
    /// Record a visit (timed now, by this device's name).
    Record {
        /// The cell's id.
        #[arg(long)]
        cell: String,
        /// door_knock, health_check, call, errand, notify
        #[arg(long)]
        kind: String,
        /// The household visited.
        #[arg(long)]
        household: Option<String>,
        /// The member visited (required for a health check).
        #[arg(long)]
        member: Option<String>,
        /// Body temperature in °C (34.0–43.0).
        #[arg(long, allow_hyphen_values = true)]
        temperature: Option<String>,
        /// Symptoms seen (any makes the visit abnormal).
        #[arg(long)]
        symptoms: Option<String>,
        /// What came of it.
        #[arg(long)]
        outcome: Option<String>,
        /// A free note.
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
enum ReportCmd {
    /// File a cell's daily report (a zero report when arrivals and abnormal are both 0).
    Submit {
        /// The cell's id.
        #[arg(long)]
        cell: String,
        /// The day reported on, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// People who arrived in the cell that day.
        #[arg(long, default_value = "0", allow_hyphen_values = true)]
        arrivals: String,
        /// People found abnormal (fever, symptoms) that day.
        #[arg(long, default_value = "0", allow_hyphen_values = true)]
        abnormal: String,
        /// A free note.
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
enum ListCmd {
    /// Members under home monitoring on a date (default today).
    Monitoring {
        /// The day, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
    },
    /// Members whose monitoring ends on a date (default today).
    Ending {
        /// The day, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
    },
    /// Elderly, disabled and other members who need errands run.
    Vulnerable,
    /// Cells that have not filed the report for a date (default today).
    Missing {
        /// The day, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
    },
    /// Visits recorded on a date (default today).
    Visits {
        /// The day, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Subcommand)]
enum BundleCmd {
    /// Write cells (all, or those named) to a bundle file.
    Export {
        /// The bundle file to write.
        #[arg(long)]
        out: PathBuf,
        /// A cell to export (repeat for more; default all in this device's scope).
        #[arg(long = "cell")]
        cells: Vec<String>,
        /// Only what this device (id) lacks, from earlier syncs with it.
        #[arg(long = "for-peer")]
        for_peer: Option<String>,
        /// Seal it to this device (id; repeat for more): only they can open it. An enrolled store seals to every device it has met that may hold the cells unless told otherwise.
        #[arg(long = "to", value_name = "DEVICE", conflicts_with = "plaintext")]
        to: Vec<String>,
        /// Write it unsealed, readable by anyone holding the file.
        #[arg(long)]
        plaintext: bool,
    },
    /// Apply a bundle file; importing twice changes nothing.
    Import {
        /// The bundle file to read.
        file: PathBuf,
    },
}

fn main() {
    output::install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => output::usage_error(e),
    };
    let out = Out::new(cli.json);
    match Clock::from_env() {
        Ok(c) => {
            let _ = CLOCK.set(c);
        }
        Err(e) => fail(CliError::Usage(e.to_string())),
    }
    // A panic that reaches here is a bug of ours: one line and exit 1. Panics
    // caught on the way (decoding a peer's bytes, a hub request) are not.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&cli, &out))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => fail(e),
        Err(_) => output::internal_error(),
    }
}

/// The process's clock: the system's, or the one `SILIN_NOW` pins (tests,
/// and an office re-entering a past day's paper records).
static CLOCK: std::sync::OnceLock<Clock> = std::sync::OnceLock::new();

fn clock() -> &'static Clock {
    CLOCK.get_or_init(Clock::system)
}

fn today() -> NaiveDate {
    clock().today()
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    clock().now()
}

fn date_arg(field: &str, s: &Option<String>) -> Result<NaiveDate, CliError> {
    match s {
        Some(s) => Ok(parse_date(field, s)?),
        None => Ok(today()),
    }
}

fn int_arg(field: &str, s: &str) -> Result<i64, CliError> {
    s.trim()
        .parse()
        .map_err(|_| ValidationError::new(field, "a whole number").into())
}

/// The key of the store at `path`, which is `new` when this command
/// creates it: `--key-env`'s variable, else `--key-file`'s file, else the
/// key file beside the store. A new store gets a fresh key in a new file
/// (at `--key-file`, or beside it) unless `--unencrypted` says otherwise:
/// stores hold named people's health records, so encryption at rest is
/// the default, and the key is never on the command line.
fn store_key(cli: &Cli, path: &Path, new: bool) -> Result<Option<StoreKey>, CliError> {
    use silin_hub::store_key;
    key_flags(cli)?;
    if let Some(var) = &cli.key_env {
        return match std::env::var(var) {
            Ok(k) if !k.is_empty() => Ok(Some(StoreKey::new(k))),
            _ => Err(CliError::Usage(format!(
                "environment variable {var} (from --key-env) is not set or empty; export it with the store key"
            ))),
        };
    }
    let file = cli
        .key_file
        .clone()
        .unwrap_or_else(|| store_key::beside(path));
    let key_error = |e: silin_core::Error| CliError::Usage(e.to_string());
    if let Some(key) = store_key::read(&file).map_err(key_error)? {
        if new && cli.unencrypted {
            return Err(CliError::Usage(format!(
                "--unencrypted asks for a plain store, but there is a key file at {}; remove it or leave out --unencrypted",
                file.display()
            )));
        }
        return Ok(Some(key));
    }
    match (&cli.key_file, new && !cli.unencrypted) {
        (_, true) => Ok(Some(store_key::create(&file).map_err(key_error)?)),
        (Some(f), false) if !new => Err(CliError::Usage(format!(
            "there is no key file at {} (from --key-file); give the file the store was encrypted with",
            f.display()
        ))),
        _ => Ok(None),
    }
}

/// Refuses `--unencrypted` (a plain store) beside `--key-file` or
/// `--key-env` (the key of an encrypted one): one of them is a slip, and
/// guessing which would write a store the office did not ask for.
fn key_flags(cli: &Cli) -> Result<(), CliError> {
    let keyed = match (&cli.key_env, &cli.key_file) {
        (Some(_), _) => "--key-env",
        (None, Some(_)) => "--key-file",
        (None, None) => return Ok(()),
    };
    if !cli.unencrypted {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "--unencrypted and {keyed} contradict each other: --unencrypted asks for a plain store, {keyed} gives the key of an encrypted one; \
         leave out {keyed} for a plain store, or --unencrypted for an encrypted one; nothing was changed"
    )))
}

fn options(key: Option<StoreKey>) -> StoreOptions {
    StoreOptions {
        key,
        clock: clock().clone(),
        ..Default::default()
    }
}

/// Opens an existing store; only `init` creates one, so a mistyped path
/// does not silently start an empty register.
fn open_existing(cli: &Cli) -> Result<Store, CliError> {
    open_store(cli, &cli.store, |path| {
        Some(format!(
            "no store at {}; create one with `silin init` or pass --store PATH",
            path.display()
        ))
    })
}

/// Opens the store at `path`. `missing` says why a path with no file is an
/// error (`None`: create the store there). An existing empty file is never
/// taken as a new store: the command-line user named a file that exists,
/// and it is not one (the library, unlike the command, reopens one as new,
/// since that is what a phone killed while creating its store leaves).
fn open_store(
    cli: &Cli,
    path: &Path,
    missing: impl FnOnce(&Path) -> Option<String>,
) -> Result<Store, CliError> {
    open_store_keyed(cli, path, missing).map(|(store, _)| store)
}

/// [`open_store`], and whether the store was opened with a key (is
/// encrypted at rest).
fn open_store_keyed(
    cli: &Cli,
    path: &Path,
    missing: impl FnOnce(&Path) -> Option<String>,
) -> Result<(Store, bool), CliError> {
    let new = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(why) = missing(path) {
                return Err(CliError::Usage(why));
            }
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(dir) = parent.filter(|p| !p.is_dir()) {
                return Err(CliError::Usage(format!(
                    "cannot create {}: there is no directory {}; create it first or choose another path",
                    path.display(),
                    dir.display()
                )));
            }
            true
        }
        Ok(m) if m.is_file() && m.len() == 0 => {
            return Err(silin_core::Error::NotAStore {
                path: path.to_path_buf(),
                reason: "it is empty; remove it if a new store should be created there".into(),
            }
            .into())
        }
        _ => false,
    };
    let key = store_key(cli, path, new)?;
    let keyed = key.is_some();
    let store = Store::open(path, options(key)).map_err(|e| match e {
        // Without a key, noise is either an encrypted store or no store at
        // all; with one, it is the key (or the file) that is wrong.
        silin_core::Error::WrongKey if !keyed => CliError::Usage(format!(
            "{} is not a silin store, or is an encrypted one whose key file {} is missing: \
             restore the key file, or give the key with --key-file PATH or --key-env VAR; nothing was changed",
            path.display(),
            silin_hub::store_key::beside(path).display()
        )),
        silin_core::Error::WrongKey => CliError::Usage(format!(
            "{} does not open with the key in {}: wrong key, or the store is not encrypted \
             (then leave out the key); nothing was changed",
            path.display(),
            match (&cli.key_env, &cli.key_file) {
                (Some(var), _) => format!("${var}"),
                (None, Some(f)) => f.display().to_string(),
                (None, None) => silin_hub::store_key::beside(path).display().to_string(),
            }
        )),
        e => e.into(),
    })?;
    Ok((store, keyed))
}

fn device_label(store: &Store) -> String {
    match store.device_name() {
        Ok(Some(n)) if !n.is_empty() => n,
        _ => store.device_id().chars().take(8).collect(),
    }
}

fn run(cli: &Cli, out: &Out) -> Result<(), CliError> {
    match &cli.command {
        Command::Demo { seed, cells, days } => {
            if *cells == 0 || *days == 0 {
                return Err(CliError::Usage(
                    "--cells and --days must be at least 1".into(),
                ));
            }
            let report = demo::run(
                &demo::DemoArgs {
                    seed: *seed,
                    cells: *cells,
                    days: *days,
                },
                out.progress_allowed(),
            )?;
            out.print(&report, || report.human())
        }
        Command::Init { name } => {
            let existed = cli.store.exists();
            let store = open_store(cli, &cli.store, |_| None)?;
            let before = store.device_name()?.filter(|n| !n.is_empty());
            if let Some(n) = name {
                store.set_device_name(n)?;
            }
            // The signing key now rather than on first use, so that a later
            // command that fails (a bad bundle) finds nothing to create.
            store.device_key()?;
            let after = store.device_name()?.filter(|n| !n.is_empty());
            let id = store.device_id();
            let shown = cli.store.display();
            out.print(
                &serde_json::json!({ "device_id": id, "created": !existed, "name": after }),
                || match (existed, &before, &after) {
                    (false, _, Some(n)) => format!("created store {shown}; device {id} ({n})"),
                    (false, _, None) => format!("created store {shown}; device {id}"),
                    (true, b, Some(n)) if b.as_ref() != Some(n) => format!(
                        "store {shown} already exists; device {id} renamed from {} to {n}",
                        b.as_deref().unwrap_or("(no name)")
                    ),
                    (true, _, Some(n)) => {
                        format!("store {shown} already exists; device {id} ({n})")
                    }
                    (true, _, None) => format!("store {shown} already exists; device {id}"),
                },
            )
        }
        Command::Cells => {
            let store = open_existing(cli)?;
            print_cells(out, &store.cells(&[])?)
        }
        Command::Cell(cmd) => run_cell(cli, out, cmd),
        Command::Household(HouseholdCmd::Add {
            cell,
            address,
            door,
            phone,
        }) => {
            let store = open_existing(cli)?;
            let id = store.add_household(
                cell,
                NewHousehold {
                    address: address.clone(),
                    door: door.clone(),
                    phone: phone.clone(),
                },
            )?;
            out.print(&serde_json::json!({ "household_id": id }), || id.clone())
        }
        Command::Member(MemberCmd::Add(a)) => {
            let store = open_existing(cli)?;
            let m = NewMember {
                name: a.name.clone(),
                sex: a.sex.as_deref().map(str::parse).transpose()?,
                birth_year: a
                    .birth_year
                    .as_deref()
                    .map(|y| int_arg("birth_year", y))
                    .transpose()?,
                id_number: a.id_number.clone(),
                phone: a.phone.clone(),
                relation: a.relation.clone(),
                residence: a.residence.as_deref().map(str::parse).transpose()?,
                vulnerable: a
                    .vulnerable
                    .as_deref()
                    .map(parse_vulnerabilities)
                    .transpose()?
                    .unwrap_or_default(),
            };
            let id = store.add_member(&a.household, m, today())?;
            out.print(&serde_json::json!({ "member_id": id }), || id.clone())
        }
        Command::Member(MemberCmd::Set {
            member,
            assignments,
        }) => {
            let store = open_existing(cli)?;
            let mut edits = Vec::new();
            for a in assignments {
                edits.extend(MemberEdit::parse_assignment(a, today())?);
            }
            store.edit_member(member, &edits)?;
            out.print(&serde_json::json!({ "member_id": member }), || {
                format!("updated {member}")
            })
        }
        Command::Visit(VisitCmd::Record {
            cell,
            kind,
            household,
            member,
            temperature,
            symptoms,
            outcome,
            note,
        }) => {
            let store = open_existing(cli)?;
            let mut v = NewVisit::new(kind.parse()?, now(), &device_label(&store));
            v.household_id = household.clone();
            v.member_id = member.clone();
            v.temperature = temperature
                .as_deref()
                .map(|t| {
                    t.trim().parse::<f64>().map_err(|_| {
                        ValidationError::new("temperature", "a number of °C like 36.6")
                    })
                })
                .transpose()?;
            v.symptoms = symptoms.clone();
            v.outcome = outcome.clone();
            v.note = note.clone();
            let id = store.record_visit(cell, v)?;
            out.print(&serde_json::json!({ "visit_id": id }), || id.clone())
        }
        Command::Report(ReportCmd::Submit {
            cell,
            date,
            arrivals,
            abnormal,
            note,
        }) => {
            let store = open_existing(cli)?;
            let date = parse_date("date", date)?;
            let r = NewReport {
                date,
                by: device_label(&store),
                at: now(),
                arrivals: int_arg("arrivals", arrivals)?,
                under_monitoring: None,
                abnormal: int_arg("abnormal", abnormal)?,
                errands: None,
                note: note.clone(),
            };
            let zero = r.arrivals == 0 && r.abnormal == 0;
            store.submit_report(cell, r)?;
            out.print(
                &serde_json::json!({ "cell_id": cell, "date": date.to_string(), "zero": zero }),
                || {
                    format!(
                        "{} report for {date} filed",
                        if zero { "zero" } else { "non-zero" }
                    )
                },
            )
        }
        Command::Rollup { date, level } => {
            let store = open_existing(cli)?;
            let date = parse_date("date", date)?;
            let level = parse_level(&store, level)?;
            let rows = store.rollup(date, level)?;
            out.print(&rows, || {
                use output::Align::{Left, Right};
                output::table(
                    &[
                        ("region", Left),
                        ("cells", Right),
                        ("reported", Right),
                        ("missing", Right),
                        ("arrivals", Right),
                        ("abnormal", Right),
                        ("door knocks", Right),
                        ("calls", Right),
                        ("errands", Right),
                    ],
                    rows.iter()
                        .map(|r| {
                            vec![
                                r.path.to_string(),
                                r.cells.to_string(),
                                r.reported.to_string(),
                                r.missing.to_string(),
                                r.arrivals.to_string(),
                                r.abnormal.to_string(),
                                r.door_knocks.to_string(),
                                r.calls.to_string(),
                                r.errands.to_string(),
                            ]
                        })
                        .collect(),
                )
            })
        }
        Command::List(cmd) => run_list(cli, out, cmd),
        Command::Bundle(BundleCmd::Export {
            out: file,
            cells,
            for_peer,
            to,
            plaintext,
        }) => {
            use silin_core::bundle::Sealing;
            let store = open_existing(cli)?;
            // An unenrolled store has no certified peers to seal to (and
            // its bundles carry no signature): it writes plain files.
            let sealing = if *plaintext || store.certificate()?.is_none() {
                Sealing::Plain
            } else if to.is_empty() {
                Sealing::KnownPeers
            } else {
                Sealing::To(to.clone())
            };
            let (bytes, docs) = silin_core::bundle::export(
                &store,
                &silin_core::bundle::ExportOptions {
                    cells: cells.clone(),
                    for_peer: for_peer.clone(),
                    sealing,
                },
            )
            .map_err(|e| match e {
                silin_core::sync::SyncError::Seal(e) => CliError::Usage(format!(
                    "{e} (--to DEVICE, or --plaintext to write it unsealed); nothing written"
                )),
                e => CliError::Sync(e),
            })?;
            let sealed_to = silin_core::sync::seal::recipients(&bytes).unwrap_or(0);
            output::write_file_atomically(file, &bytes)?;
            out.print(
                &serde_json::json!({ "docs": docs, "bytes": bytes.len(), "sealed_to": sealed_to }),
                || {
                    let sealed = if sealed_to == 0 {
                        "NOT sealed: anyone holding the file can read it".to_string()
                    } else {
                        format!("sealed to {sealed_to} device(s)")
                    };
                    format!(
                        "wrote {docs} cells, {} bytes, to {} ({sealed})",
                        bytes.len(),
                        file.display()
                    )
                },
            )
        }
        Command::Bundle(BundleCmd::Import { file }) => {
            let bytes = std::fs::read(file).map_err(|e| {
                CliError::Usage(format!("cannot read bundle {}: {e}", file.display()))
            })?;
            // A file that does not decode is refused before the store is
            // even opened, so nothing in it can change. A sealed one opens
            // only with the device's key, in the import itself.
            let decoded = if silin_core::sync::seal::is_sealed(&bytes) {
                silin_core::sync::seal::recipients(&bytes)
                    .map(|_| ())
                    .ok_or_else(|| silin_core::sync::seal::SealError::Broken.to_string())
            } else {
                silin_core::bundle::decode(&bytes)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            };
            decoded.map_err(|e| {
                CliError::Usage(format!(
                    "{} is not a usable bundle ({e}); nothing applied",
                    file.display()
                ))
            })?;
            let store = open_existing(cli)?;
            let outcome = silin_core::bundle::import(&store, &bytes).map_err(|e| match e {
                silin_core::sync::SyncError::Store(_) => CliError::Sync(e),
                // Refused contents: say which file they came from.
                e => CliError::Usage(format!("bundle {}: {e}", file.display())),
            })?;
            // Cells refused on their own (damaged, or changes the signer
            // may not make): the healthy ones were applied; say what was
            // not, as bad input.
            if let Some(first) = outcome.refused.first() {
                return Err(CliError::Usage(format!(
                    "bundle {}: cell {} refused: {}{}; {} other cells applied ({} changed)",
                    file.display(),
                    first.doc,
                    first.reason,
                    match outcome.refused.len() {
                        1 => String::new(),
                        n => format!(" (and {} more cells refused)", n - 1),
                    },
                    outcome.docs,
                    outcome.changed
                )));
            }
            out.print(&outcome, || {
                format!(
                    "{} cells in bundle, {} changed",
                    outcome.docs, outcome.changed
                )
            })
        }
        Command::Check => {
            let store = open_existing(cli)?;
            let report = store.check()?;
            let stats = store.stats()?;
            let json = serde_json::json!({
                "ok": report.ok, "docs": report.docs, "file_ok": report.file_ok,
                "problems": report.problems, "repaired": report.repaired,
                "chunks": stats.chunks, "snapshot_bytes": stats.snapshot_bytes, "chunk_bytes": stats.chunk_bytes,
            });
            out.print(&json, || {
                if report.ok {
                    format!(
                        "ok: {} documents, file and projections consistent",
                        report.docs
                    )
                } else {
                    format!("problems:\n  {}", report.problems.join("\n  "))
                }
            })?;
            if report.ok {
                Ok(())
            } else {
                Err(CliError::Silent)
            }
        }
        Command::Hub(cmd) => run_hub(cli, out, cmd),
        Command::Office(cmd) => run_office(cli, out, cmd),
        Command::Arrival(cmd) => register::arrival(cli, out, cmd),
        Command::History(cmd) => register::history(cli, out, cmd),
        Command::Errand(cmd) => register::errand(cli, out, cmd),
        Command::Lead(cmd) => register::lead(cli, out, cmd),
        Command::Notice(cmd) => register::notice(cli, out, cmd),
        Command::Policy { cell, settings } => register::policy(cli, out, cell, settings),
        Command::Region(RegionCmd::Levels {
            prefix,
            levels,
            db,
            postgres,
        }) => {
            let store;
            let place = match postgres {
                Some(url) => region::Place::Postgres(url),
                None => {
                    store = hub_store(cli, db, false)?;
                    region::Place::Sqlite(&store)
                }
            };
            region::levels(out, place, prefix.as_deref(), levels.as_deref())
        }
        Command::Alerts { cell } => register::alerts(cli, out, cell),
        Command::Day {
            cell,
            date,
            not_called_days,
        } => register::day(cli, out, cell, date, not_called_days),
        Command::Audit {
            db,
            postgres,
            since,
            verify,
        } => {
            let since = since
                .as_deref()
                .map(|d| parse_date("since", d))
                .transpose()?;
            match postgres {
                Some(url) => audit::run(audit::Hub::Postgres(url), out, since, *verify),
                None => {
                    let store = hub_store(cli, db, false)?;
                    audit::run(audit::Hub::Sqlite(&store), out, since, *verify)
                }
            }
        }
        Command::Erasures => {
            let store = open_existing(cli)?;
            let mut rows = Vec::new();
            for o in store.erasure_orders()? {
                rows.push(serde_json::json!({
                    "cell": o.cell,
                    "epoch": o.epoch,
                    "issued_at": o.issued_at,
                    "subjects": o.subjects.len(),
                    "reason": o.reason,
                    "followed": !store.awaits_epoch(&o.cell)?,
                }));
            }
            let human = rows
                .iter()
                .map(|r| {
                    format!(
                        "cell {} epoch {}: {} subject(s), {}{}",
                        r["cell"].as_str().unwrap_or(""),
                        r["epoch"],
                        r["subjects"],
                        if r["followed"] == true {
                            "followed"
                        } else {
                            "waiting for the new epoch from a peer"
                        },
                        match r["reason"].as_str() {
                            Some(t) if !t.is_empty() => format!(" ({t})"),
                            _ => String::new(),
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            out.print(&serde_json::Value::Array(rows), || {
                if human.is_empty() {
                    "no erasure orders".to_string()
                } else {
                    human.clone()
                }
            })
        }
        Command::Enroll { hub, token } => {
            let store = open_existing(cli)?;
            let outcome = silin_hub::enroll(&store, hub, token).map_err(client_error)?;
            out.print(&outcome, || {
                format!(
                    "enrolled device {} as {} over {} until {}",
                    outcome.device_id,
                    outcome.role,
                    outcome.scope.join(", "),
                    outcome.expires
                )
            })
        }
        Command::Sync { hub } => {
            let store = open_existing(cli)?;
            let client = silin_hub::client::Hub::for_store(hub, &store).map_err(client_error)?;
            let bar = out.progress_allowed().then(|| {
                let b = indicatif::ProgressBar::new_spinner();
                b.set_message(format!("syncing with {}", client.url()));
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                b
            });
            let stats = client.sync(&store, |s| {
                if let Some(b) = &bar {
                    b.set_message(format!(
                        "syncing with {}: {} round trips, {} cells received, {} sent",
                        client.url(),
                        s.round_trips,
                        s.docs_received,
                        s.docs_sent
                    ));
                }
            });
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            let stats = stats.map_err(client_error)?;
            out.print(&stats, || {
                let mut line = format!(
                    "synced with {}: {} cells received, {} sent; {} bytes up, {} down, {} round trips",
                    client.url(),
                    stats.docs_received,
                    stats.docs_sent,
                    stats.bytes_up,
                    stats.bytes_down,
                    stats.round_trips
                );
                // Cells one side refused: the others synced; these wait.
                for (who, list) in [("the hub", &stats.refused_by_peer), ("this store", &stats.refused)] {
                    for r in list {
                        line.push_str(&format!("\n{who} refused the changes to cell {}: {}", r.doc, r.reason));
                    }
                }
                line
            })
        }
    }
}

/// A hub client failure as the command reports it: refused input exits 2,
/// an unreachable or failing hub 1.
fn client_error(e: silin_hub::ClientError) -> CliError {
    use silin_hub::ClientError as E;
    match e {
        E::Sync(e) => CliError::Sync(e),
        E::Identity(e) => CliError::Sync(e.into()),
        E::Store(e) => CliError::Core(e),
        e if e.is_user_error() => CliError::Usage(e.to_string()),
        e => CliError::Io(std::io::Error::other(e.to_string())),
    }
}

fn hub_error(e: silin_hub::HubError) -> CliError {
    match e {
        silin_hub::HubError::Store(e) => office_error(e),
        e => CliError::Io(std::io::Error::other(e.to_string())),
    }
}

/// A store that cannot act as the hub (a phone's, or a newer layout) was
/// named by the caller: bad input.
fn office_error(e: silin_core::Error) -> CliError {
    match e {
        silin_core::Error::Incompatible(m) => CliError::Usage(m),
        e => CliError::Core(e),
    }
}

fn scope_arg(entries: &[String]) -> Result<silin_core::identity::Scope, CliError> {
    silin_core::identity::Scope::parse(entries).map_err(|e| {
        CliError::Usage(format!(
            "{e}; give --scope like 两当县/城关镇 or a cell id, or * for all"
        ))
    })
}

/// The hub's store: `--db`, else `--store`. `create` allows a new file (a
/// hub is set up by its first command).
fn hub_store(cli: &Cli, db: &Option<PathBuf>, create: bool) -> Result<Store, CliError> {
    hub_store_keyed(cli, db, create).map(|(store, _)| store)
}

/// [`hub_store`], and whether it is encrypted at rest.
fn hub_store_keyed(
    cli: &Cli,
    db: &Option<PathBuf>,
    create: bool,
) -> Result<(Store, bool), CliError> {
    let path = db.as_ref().unwrap_or(&cli.store);
    open_store_keyed(cli, path, |path| {
        (!create).then(|| {
            format!(
                "no hub store at {}; pass the hub's --db PATH",
                path.display()
            )
        })
    })
}

fn run_hub(cli: &Cli, out: &Out, cmd: &HubCmd) -> Result<(), CliError> {
    use silin_core::identity::Role;
    match cmd {
        HubCmd::Serve {
            listen,
            db,
            postgres,
            office_key,
            pool,
            scope,
            tls_cert,
            tls_key,
            tls,
            insecure_http,
        } => {
            let scope = scope_arg(scope)?;
            if let (Some(url), Some(key)) = (postgres, office_key) {
                let pool = int_arg("pool", pool)?;
                if !(1..=1000).contains(&pool) {
                    return Err(CliError::Usage("--pool must be between 1 and 1000".into()));
                }
                return pg::serve(
                    out,
                    pg::Serve {
                        listen,
                        url,
                        office_key: key,
                        pool: pool as u32,
                        scope,
                        tls: serve::Tls {
                            files: tls_cert.as_deref().zip(tls_key.as_deref()),
                            always: *tls,
                            insecure_http: *insecure_http,
                        },
                    },
                );
            }
            let listener = serve::bind(listen)?;
            // Whether it is encrypted comes from its key, never from
            // reading the file: closing a descriptor of a database this
            // process holds open would drop SQLite's locks on it.
            let (store, keyed) = hub_store_keyed(cli, db, true)?;
            let store = std::sync::Arc::new(store);
            // Refuse a store that cannot be a hub before saying we listen.
            let office = silin_hub::office::office(&store, Some(&scope)).map_err(office_error)?;
            let certificate = serve::certificate(
                &listener,
                &serve::Tls {
                    files: tls_cert.as_deref().zip(tls_key.as_deref()),
                    always: *tls,
                    insecure_http: *insecure_http,
                },
                store.path(),
            )?;
            // Tokens printed once we say we listen name the certificate.
            silin_hub::server::record_certificate(&store, certificate.as_ref())
                .map_err(hub_error)?;
            // The office dashboard reads the same store.
            let dashboard = silin_hub::dashboard::DashboardSource::new(store.clone());
            let plain = !keyed;
            let serving = serve::Serving {
                device: store.device_id(),
                what: format!(
                    "store {}{}",
                    store.path().display(),
                    if plain { "" } else { ", encrypted at rest" }
                ),
                warnings: plain
                    .then(|| {
                        format!(
                            "the hub database {} is not encrypted at rest: anyone with a copy of the file reads every cell; \
                             see doc/CLI.md (\"Encrypted at rest by default\") to move the register into an encrypted store",
                            store.path().display()
                        )
                    })
                    .into_iter()
                    .collect(),
            };
            // The office's standing retention policy, applied daily.
            let retention =
                Some(store.clone() as std::sync::Arc<dyn silin_hub::retention::Standing>);
            serve::run(
                out,
                listener,
                serving,
                store,
                std::sync::Arc::new(silin_hub::sessions::MemorySessions::new()),
                office,
                silin_hub::HubConfig {
                    scope: Some(scope),
                    tls: certificate,
                    dashboard: Some(dashboard),
                    retention,
                    ..Default::default()
                },
            )
        }
        HubCmd::Token {
            db,
            postgres,
            office_key,
            role,
            scope,
            valid_days,
        } => {
            let role = Role::parse(role).map_err(|e| CliError::Usage(e.to_string()))?;
            let scope = scope_arg(scope)?;
            let days = int_arg("valid_days", valid_days)?;
            if !(1..=silin_hub::office::MAX_VALID_DAYS).contains(&days) {
                return Err(CliError::Usage(format!(
                    "--valid-days must be between 1 and {}",
                    silin_hub::office::MAX_VALID_DAYS
                )));
            }
            let token = match (postgres, office_key) {
                (Some(url), Some(key)) => pg::issue_token(url, key, role, scope, days)?,
                _ => {
                    let store = hub_store(cli, db, true)?;
                    silin_hub::office::issue_token(&store, role, scope, days)
                        .map_err(office_error)?
                }
            };
            out.print(&serde_json::json!({ "token": token }), || token.clone())
        }
        HubCmd::Encrypt { db } => {
            let path = db.as_ref().unwrap_or(&cli.store);
            key_flags(cli)?;
            if cli.key_env.is_some() {
                return Err(CliError::Usage(
                    "hub encrypt writes a new key to a file; leave out --key-env (give --key-file PATH to put the file elsewhere)".into(),
                ));
            }
            if !path.is_file() {
                return Err(CliError::Usage(format!(
                    "no hub store at {}; pass the hub's --db PATH",
                    path.display()
                )));
            }
            let key_file = cli
                .key_file
                .clone()
                .unwrap_or_else(|| silin_hub::store_key::beside(path));
            silin_hub::store_key::encrypt_in_place(path, &key_file).map_err(|e| {
                use silin_hub::store_key::EncryptError;
                match e {
                    EncryptError::Store(e) => e.into(),
                    // Like a port in use: not bad input, but nothing to
                    // do until the other program stops.
                    e @ EncryptError::InUse(_) => {
                        CliError::Io(std::io::Error::other(e.to_string()))
                    }
                    e => CliError::Usage(e.to_string()),
                }
            })?;
            // Open it as every later command will, to prove the key works.
            let store = hub_store(cli, db, false)?;
            let cells = store.cells(&[])?.len();
            out.print(
                &serde_json::json!({
                    "store": path.display().to_string(),
                    "key_file": key_file.display().to_string(),
                    "cells": cells,
                }),
                || {
                    format!(
                        "{} is encrypted at rest ({cells} cells); its key is in {}: keep a copy of that file apart from the database's backups",
                        path.display(),
                        key_file.display()
                    )
                },
            )
        }
        HubCmd::Revoke {
            db,
            postgres,
            device,
        } => {
            check_id("device", device)?;
            match postgres {
                Some(url) => pg::revoke(url, device)?,
                None => silin_hub::office::revoke(&hub_store(cli, db, false)?, device)?,
            }
            out.print(
                &serde_json::json!({ "device_id": device, "revoked": true }),
                || format!("revoked device {device}; the hub refuses it from now on"),
            )
        }
        HubCmd::Erase {
            db,
            postgres,
            office_key,
            cell,
            member,
            household,
            record,
            whole_cell,
            reason,
        } => {
            use silin_core::erasure::{Collection, Subject};
            check_id("cell", cell)?;
            let mut subjects = Vec::new();
            for id in member {
                check_id("member", id)?;
                subjects.push(Subject::Member(id.clone()));
            }
            for id in household {
                check_id("household", id)?;
                subjects.push(Subject::Household(id.clone()));
            }
            for r in record {
                let (kind, id) = r
                    .split_once(':')
                    .and_then(|(k, id)| Some((Collection::parse(k)?, id)))
                    .ok_or_else(|| {
                        CliError::Usage(format!(
                            "--record {r}: give KIND:ID, KIND one of visit, task, arrival, dose, test, errand, notice"
                        ))
                    })?;
                check_id("record", id)?;
                subjects.push(Subject::Record(kind, id.to_string()));
            }
            if *whole_cell {
                subjects.push(Subject::Cell);
            }
            if subjects.is_empty() {
                return Err(CliError::Usage(
                    "name what to erase: --member, --household, --record or --whole-cell".into(),
                ));
            }
            let n = subjects.len();
            let order = match (postgres, office_key) {
                (Some(url), Some(key)) => pg::erase(url, key, cell, subjects, reason)?,
                _ => {
                    let store = hub_store(cli, db, false)?;
                    refuse_phone_store(&store)?;
                    silin_hub::office::erase(&store, cell, subjects, reason)?
                }
            };
            out.print(
                &serde_json::json!({
                    "cell": cell,
                    "epoch": order.epoch,
                    "subjects": n,
                    "issued_at": order.issued_at,
                }),
                || {
                    format!(
                        "erased {n} subject(s) from cell {cell}: epoch {} replaces its history here; every device follows at its next sync",
                        order.epoch
                    )
                },
            )
        }
        HubCmd::Retain {
            db,
            postgres,
            office_key,
            checks_days,
            monitoring_days,
            date,
            reason,
            daily,
            stop_daily,
        } => {
            if *stop_daily {
                let stopped = match postgres {
                    Some(url) => pg::stop_retention(url)?,
                    None => {
                        let store = hub_store(cli, db, false)?;
                        refuse_phone_store(&store)?;
                        silin_hub::retention::clear(&store).map_err(users_error)?
                    }
                };
                return out.print(&serde_json::json!({ "stopped": stopped }), || {
                    if stopped {
                        "the daily retention policy is ended; nothing was erased".into()
                    } else {
                        "there was no daily retention policy; nothing changed".into()
                    }
                });
            }
            let policy = silin_core::erasure::Retention {
                checks_days: int_arg("checks_days", checks_days.as_deref().unwrap_or_default())?,
                monitoring_days: int_arg("monitoring_days", monitoring_days)?,
            };
            policy.check().map_err(|_| {
                CliError::Usage("--checks-days and --monitoring-days are days, 0 or more".into())
            })?;
            let day = date_arg("date", date)?;
            let orders = if let Some(url) = postgres {
                let key = office_key.as_deref().ok_or_else(|| {
                    CliError::Usage(
                        "--postgres needs --office-key FILE: the office signs the orders".into(),
                    )
                })?;
                pg::retain(url, key, &policy, day, reason, *daily)?
            } else if *daily {
                let store = hub_store(cli, db, false)?;
                refuse_phone_store(&store)?;
                // Kept first, then applied for today as the serving hub
                // would: the day is recorded as run.
                silin_hub::retention::set(&store, &policy, reason).map_err(users_error)?;
                silin_hub::retention::run_if_due(&store, day)
                    .map_err(users_error)?
                    .unwrap_or_default()
            } else {
                let store = hub_store(cli, db, false)?;
                refuse_phone_store(&store)?;
                silin_hub::office::retain(&store, &policy, day, reason)?
            };
            let records: usize = orders.iter().map(|o| o.subjects.len()).sum();
            out.print(
                &serde_json::json!({
                    "date": day.to_string(),
                    "daily": *daily,
                    "cells": orders.len(),
                    "records": records,
                    "orders": orders
                        .iter()
                        .map(|o| serde_json::json!({"cell": o.cell, "epoch": o.epoch, "records": o.subjects.len()}))
                        .collect::<Vec<_>>(),
                }),
                || {
                    let mut s = format!(
                        "retention on {day}: {records} record(s) erased from {} cell(s); every device follows at its next sync",
                        orders.len()
                    );
                    if *daily {
                        s.push_str("\nkept as the daily policy: the serving hub applies it once a day (end it with --stop-daily)");
                    }
                    s
                },
            )
        }
        HubCmd::User(HubUserCmd::Add {
            db,
            postgres,
            name,
            role,
        }) => {
            let role = silin_hub::users::UserRole::parse(role).map_err(users_error)?;
            let password = read_password(name)?;
            silin_hub::users::check_password(&password).map_err(users_error)?;
            let created = now().to_rfc3339();
            match postgres {
                Some(url) => pg::add_user(url, name, role, &password, &created)?,
                None => {
                    let store = hub_store(cli, db, true)?;
                    refuse_phone_store(&store)?;
                    let users = silin_hub::users::Users::open(&store).map_err(users_error)?;
                    users
                        .add(name, role, &password, &created)
                        .map_err(users_error)?;
                }
            }
            let name = name.trim();
            out.print(
                &serde_json::json!({ "user": name, "role": role.as_str() }),
                || format!("added {} login {name}", role.as_str()),
            )
        }
    }
}

/// Erasure and retention: not on a PostgreSQL hub yet.
pub(crate) fn users_error(e: silin_hub::users::UserError) -> CliError {
    if e.is_user_error() {
        CliError::Usage(e.to_string())
    } else {
        CliError::Io(std::io::Error::other(e.to_string()))
    }
}

/// Office data belongs on the hub's store, not on a lead's or grid
/// worker's phone.
fn refuse_phone_store(store: &Store) -> Result<(), CliError> {
    use silin_core::identity::Role;
    match store.certificate()? {
        Some(c) if !matches!(c.role, Role::Office | Role::County) => Err(CliError::Usage(format!(
            "{} belongs to a device enrolled as {}; office work needs the hub's store (pass its --db)",
            store.path().display(),
            c.role.as_str()
        ))),
        _ => Ok(()),
    }
}

/// One line of standard input: the password (a prompt on a terminal).
fn read_password(name: &str) -> Result<String, CliError> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password for {name} (at least 8 characters), then Enter: ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|e| {
        CliError::Usage(format!("cannot read the password from standard input: {e}"))
    })?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn run_office(cli: &Cli, out: &Out, cmd: &OfficeCmd) -> Result<(), CliError> {
    match cmd {
        OfficeCmd::ImportList {
            file,
            kind,
            accept_partial,
            report,
            columns,
            title,
            db,
            postgres,
        } => {
            let kind = office::Kind::parse(kind)?;
            let args = office::ImportArgs {
                file,
                kind,
                accept_partial: *accept_partial,
                report: report.as_deref(),
                columns,
                title: title.as_deref(),
                today: today(),
                now: now(),
                progress: out.progress_allowed(),
            };
            let outcome = match postgres {
                Some(url) => {
                    let storage = pg::open(url, 1)?;
                    office::import_list(&office::PgHub { storage: &storage }, &args)?
                }
                None => {
                    let store = hub_store(cli, db, false)?;
                    refuse_phone_store(&store)?;
                    let hub = office::SqliteHub { store: &store };
                    office::import_list(&hub, &args)?
                }
            };
            out.print(&outcome, || {
                let mut s = format!(
                    "list {}: {} rows, {} matched, {} tasks created, {} rejected",
                    outcome.list_id,
                    outcome.rows,
                    outcome.matched,
                    outcome.tasks_created,
                    outcome.rejected.len()
                );
                for r in outcome.rejected.iter().take(20) {
                    s.push_str(&format!("\n  row {}: {}", r.row, r.reason));
                }
                if outcome.rejected.len() > 20 {
                    s.push_str(&format!("\n  … {} more", outcome.rejected.len() - 20));
                }
                if !outcome.rejected.is_empty() {
                    s.push_str(&format!("\nrejected rows written to {}", outcome.report));
                }
                s
            })?;
            if outcome.imported {
                Ok(())
            } else {
                Err(CliError::Usage(format!(
                    "{} of {} rows rejected (see {}); nothing imported: correct those rows, or pass --accept-partial to import the {} matched ones",
                    outcome.rejected.len(),
                    outcome.rows,
                    outcome.report,
                    outcome.matched
                )))
            }
        }
        OfficeCmd::Export {
            what,
            date,
            level,
            format,
            out: file,
            db,
            postgres,
        } => {
            let what = export::What::parse(what)?;
            let format = export::Format::parse(format)?;
            let date = parse_date("date", date)?;
            if let Some(url) = postgres {
                return export::run_postgres(out, url, what, date, level, format, file);
            }
            let store = hub_store(cli, db, false)?;
            let level_name = level.trim().to_string();
            let level = parse_level(&store, level)?;
            // The hub's own store has no certificate: it is the office.
            let role = store
                .certificate()?
                .map(|c| c.role)
                .unwrap_or(silin_core::identity::Role::Office);
            let args = export::ExportArgs {
                what,
                date,
                level,
                level_name,
                role,
            };
            export::write(out, &store, &args, format, file)
        }
    }
}

/// A list of cells, as `silin cells` prints it (the contract's JSON shape).
fn print_cells(out: &Out, cells: &[CellInfo]) -> Result<(), CliError> {
    let rows: Vec<_> = cells
        .iter()
        .map(|c| serde_json::json!({"cell_id": c.id, "name": c.name, "path": c.path.to_string()}))
        .collect();
    out.print(&rows, || {
        use output::Align::Left;
        output::table(
            &[("cell", Left), ("path", Left), ("name", Left)],
            cells
                .iter()
                .map(|c| vec![c.id.clone(), c.path.to_string(), c.name.clone()])
                .collect(),
        )
    })
}

/// A level by the name the store's hierarchy gives it (county … group,
/// or a branch's own: community, building, unit).
fn parse_level(store: &Store, s: &str) -> Result<Level, CliError> {
    Ok(store.hierarchy()?.level(s)?)
}

fn run_cell(cli: &Cli, out: &Out, cmd: &CellCmd) -> Result<(), CliError> {
    match cmd {
        CellCmd::Create { name, path, lead } => {
            let path = RegionPath::parse(path)?;
            let store = open_existing(cli)?;
            let id = store.create_cell(name, &path, lead.as_deref())?;
            out.print(&serde_json::json!({ "cell_id": id }), || id.clone())
        }
        CellCmd::Show { cell } => {
            let store = open_existing(cli)?;
            let view = store.cell(cell)?;
            out.print(&view, || output::cell_text(&view))
        }
        CellCmd::Save { cell, out: file } => {
            let store = open_existing(cli)?;
            let bytes = store.export_doc(cell)?;
            output::write_file_atomically(file, &bytes)?;
            out.print(
                &serde_json::json!({ "cell_id": cell, "bytes": bytes.len() }),
                || format!("wrote {} bytes to {}", bytes.len(), file.display()),
            )
        }
    }
}

fn run_list(cli: &Cli, out: &Out, cmd: &ListCmd) -> Result<(), CliError> {
    use output::Align::Left;
    let store = open_existing(cli)?;
    let members = |ms: Vec<silin_core::store::MemberSummary>| {
        let text = output::table(
            &[
                ("member", Left),
                ("name", Left),
                ("monitoring until", Left),
                ("vulnerable", Left),
            ],
            ms.iter()
                .map(|m| {
                    vec![
                        m.member_id.clone(),
                        m.name.clone(),
                        m.monitoring_until
                            .map_or_else(|| "-".into(), |d| d.to_string()),
                        m.vulnerable
                            .iter()
                            .map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    ]
                })
                .collect(),
        );
        out.print(&ms, || text)
    };
    match cmd {
        ListCmd::Monitoring { date } => members(store.under_monitoring(date_arg("date", date)?)?),
        ListCmd::Ending { date } => members(store.monitoring_ends(date_arg("date", date)?)?),
        ListCmd::Vulnerable => members(store.vulnerable_members()?),
        ListCmd::Missing { date } => {
            print_cells(out, &store.cells_missing_report(date_arg("date", date)?)?)
        }
        ListCmd::Visits { date } => {
            let visits = store.visits_on(date_arg("date", date)?)?;
            out.print(&visits, || {
                output::table(
                    &[
                        ("cell", Left),
                        ("kind", Left),
                        ("visit", Left),
                        ("abnormal", Left),
                    ],
                    visits
                        .iter()
                        .map(|v| {
                            vec![
                                v.cell_id.clone(),
                                v.kind.to_string(),
                                v.visit_id.clone(),
                                if v.abnormal { "ABNORMAL" } else { "" }.into(),
                            ]
                        })
                        .collect(),
                )
            })
        }
    }
}
