//! `silin`: the command-line tool for township offices, app developers
//! inspecting a phone's store, and scripts. The commands, flags and `--json`
//! fields are a public contract (shared/CLI.md): add, never change.
//!
//! Exit codes: 0 ok, 2 bad input or usage (nothing written), 1 anything else.

mod demo;
mod output;

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
    about = "Offline-first registers for neighbourhood micro-grid cells"
)]
struct Cli {
    /// The store file.
    #[arg(long, global = true, default_value = "silin.db")]
    store: PathBuf,
    /// Name of an environment variable holding the SQLCipher key (never the key itself).
    #[arg(long, global = true, value_name = "VAR")]
    key_env: Option<String>,
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
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 2903)]
        cells: usize,
        #[arg(long, default_value_t = 1)]
        days: u32,
    },
    /// Create a store and this device's identity.
    Init {
        /// A name for this device (shown as `by` on visits it records).
        #[arg(long)]
        name: Option<String>,
    },
    /// Cells: create, show, save.
    #[command(subcommand)]
    Cell(CellCmd),
    /// Cells in the store.
    Cells,
    #[command(subcommand)]
    Household(HouseholdCmd),
    #[command(subcommand)]
    Member(MemberCmd),
    #[command(subcommand)]
    Visit(VisitCmd),
    #[command(subcommand)]
    Report(ReportCmd),
    /// Zero-report rollup per region at a level.
    Rollup {
        #[arg(long)]
        date: String,
        #[arg(long, default_value = "county")]
        level: String,
    },
    /// Lists an office or a lead works from, without loading documents.
    #[command(subcommand)]
    List(ListCmd),
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
        /// A PostgreSQL URL (not available yet).
        #[arg(long)]
        postgres: Option<String>,
        /// Cells the hub shares: region paths or cell ids (`*` for all).
        #[arg(long, num_args = 1.., default_value = "*")]
        scope: Vec<String>,
    },
    /// Issue a one-time enrolment token (office admin, on the hub machine).
    Token {
        /// The hub's store (default: --store).
        #[arg(long)]
        db: Option<PathBuf>,
        /// lead, grid_worker, office or county
        #[arg(long)]
        role: String,
        /// Region paths (county/township/...) or cell ids the device may hold.
        #[arg(long, num_args = 1.., required = true)]
        scope: Vec<String>,
        /// Days the device's certificate stays valid.
        #[arg(long, default_value = "365", allow_hyphen_values = true)]
        valid_days: String,
    },
    /// Revoke a device: the hub refuses it from now on.
    Revoke {
        /// The hub's store (default: --store).
        #[arg(long)]
        db: Option<PathBuf>,
        #[arg(long)]
        device: String,
    },
}

#[derive(Subcommand)]
enum CellCmd {
    Create {
        #[arg(long)]
        name: String,
        /// county/township/village/group
        #[arg(long)]
        path: String,
        /// The lead householder's name.
        #[arg(long)]
        lead: Option<String>,
    },
    Show {
        #[arg(long)]
        cell: String,
    },
    /// Write the cell's automerge document in automerge's standard binary format.
    Save {
        #[arg(long)]
        cell: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum HouseholdCmd {
    Add {
        #[arg(long)]
        cell: String,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        door: Option<String>,
        #[arg(long)]
        phone: Option<String>,
    },
}

#[derive(Subcommand)]
enum MemberCmd {
    Add(MemberAdd),
    /// Edit fields: FIELD=VALUE (empty VALUE clears).
    Set {
        #[arg(long)]
        member: String,
        #[arg(required = true, value_name = "FIELD=VALUE")]
        assignments: Vec<String>,
    },
}

#[derive(Args)]
struct MemberAdd {
    #[arg(long)]
    household: String,
    #[arg(long)]
    name: String,
    #[arg(long)]
    id_number: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    birth_year: Option<String>,
    #[arg(long)]
    sex: Option<String>,
    #[arg(long)]
    relation: Option<String>,
    #[arg(long)]
    residence: Option<String>,
    /// Comma-separated: elderly, disabled, mobility, alone, chronic.
    #[arg(long)]
    vulnerable: Option<String>,
}

#[derive(Subcommand)]
enum VisitCmd {
    Record {
        #[arg(long)]
        cell: String,
        /// door_knock, health_check, call, errand, notify
        #[arg(long)]
        kind: String,
        #[arg(long)]
        household: Option<String>,
        #[arg(long)]
        member: Option<String>,
        /// Body temperature in °C (34.0–43.0).
        #[arg(long, allow_hyphen_values = true)]
        temperature: Option<String>,
        #[arg(long)]
        symptoms: Option<String>,
        #[arg(long)]
        outcome: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
enum ReportCmd {
    Submit {
        #[arg(long)]
        cell: String,
        #[arg(long)]
        date: String,
        #[arg(long, default_value = "0", allow_hyphen_values = true)]
        arrivals: String,
        #[arg(long, default_value = "0", allow_hyphen_values = true)]
        abnormal: String,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
enum ListCmd {
    /// Members under home monitoring on a date (default today).
    Monitoring {
        #[arg(long)]
        date: Option<String>,
    },
    /// Members whose monitoring ends on a date (default today).
    Ending {
        #[arg(long)]
        date: Option<String>,
    },
    /// Elderly, disabled and other members who need errands run.
    Vulnerable,
    /// Cells that have not filed the report for a date (default today).
    Missing {
        #[arg(long)]
        date: Option<String>,
    },
    /// Visits recorded on a date (default today).
    Visits {
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Subcommand)]
enum BundleCmd {
    /// Write cells (all, or those named) to a bundle file.
    Export {
        #[arg(long)]
        out: PathBuf,
        #[arg(long = "cell")]
        cells: Vec<String>,
        /// Only what this device (id) lacks, from earlier syncs with it.
        #[arg(long = "for-peer")]
        for_peer: Option<String>,
    },
    /// Apply a bundle file; importing twice changes nothing.
    Import { file: PathBuf },
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
    if let Err(e) = run(&cli, &out) {
        fail(e);
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

fn options(cli: &Cli) -> Result<StoreOptions, CliError> {
    let key = match &cli.key_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(k) if !k.is_empty() => Some(StoreKey::new(k)),
            _ => {
                return Err(CliError::Usage(format!(
                    "environment variable {var} (from --key-env) is not set or empty; export it with the store key"
                )))
            }
        },
    };
    Ok(StoreOptions {
        key,
        clock: clock().clone(),
        ..Default::default()
    })
}

/// Opens an existing store; only `init` creates one, so a mistyped path
/// does not silently start an empty register.
fn open_existing(cli: &Cli) -> Result<Store, CliError> {
    if !Path::new(&cli.store).exists() {
        return Err(CliError::Usage(format!(
            "no store at {}; create one with `silin init` or pass --store PATH",
            cli.store.display()
        )));
    }
    Ok(Store::open(&cli.store, options(cli)?)?)
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
            let store = Store::open(&cli.store, options(cli)?)?;
            if let Some(n) = name {
                store.set_device_name(n)?;
            }
            let id = store.device_id();
            out.print(&serde_json::json!({ "device_id": id }), || {
                if existed {
                    format!("store {} already exists; device {id}", cli.store.display())
                } else {
                    format!("created store {}; device {id}", cli.store.display())
                }
            })
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
            let level = parse_level(level)?;
            let rows = store.rollup(date, level)?;
            out.print(&rows, || {
                let mut s = format!(
                    "{:<40} {:>6} {:>8} {:>7} {:>8} {:>8}\n",
                    "region", "cells", "reported", "missing", "arrivals", "abnormal"
                );
                for r in &rows {
                    s.push_str(&format!(
                        "{:<40} {:>6} {:>8} {:>7} {:>8} {:>8}\n",
                        r.path, r.cells, r.reported, r.missing, r.arrivals, r.abnormal
                    ));
                }
                s.trim_end().to_string()
            })
        }
        Command::List(cmd) => run_list(cli, out, cmd),
        Command::Bundle(BundleCmd::Export {
            out: file,
            cells,
            for_peer,
        }) => {
            let store = open_existing(cli)?;
            let (bytes, docs) = silin_core::bundle::export(
                &store,
                &silin_core::bundle::ExportOptions {
                    cells: cells.clone(),
                    for_peer: for_peer.clone(),
                },
            )?;
            output::write_file_atomically(file, &bytes)?;
            out.print(
                &serde_json::json!({ "docs": docs, "bytes": bytes.len() }),
                || {
                    format!(
                        "wrote {docs} cells, {} bytes, to {}",
                        bytes.len(),
                        file.display()
                    )
                },
            )
        }
        Command::Bundle(BundleCmd::Import { file }) => {
            let store = open_existing(cli)?;
            let bytes = std::fs::read(file).map_err(|e| {
                CliError::Usage(format!("cannot read bundle {}: {e}", file.display()))
            })?;
            let outcome = silin_core::bundle::import(&store, &bytes)?;
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
            let client = silin_hub::client::Hub::new(hub).map_err(client_error)?;
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
                format!(
                    "synced with {}: {} cells received, {} sent; {} bytes up, {} down, {} round trips",
                    client.url(),
                    stats.docs_received,
                    stats.docs_sent,
                    stats.bytes_up,
                    stats.bytes_down,
                    stats.round_trips
                )
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
    let path = db.as_ref().unwrap_or(&cli.store);
    if !create && !path.exists() {
        return Err(CliError::Usage(format!(
            "no hub store at {}; pass the hub's --db PATH",
            path.display()
        )));
    }
    Ok(Store::open(path, options(cli)?)?)
}

fn run_hub(cli: &Cli, out: &Out, cmd: &HubCmd) -> Result<(), CliError> {
    use silin_core::identity::Role;
    match cmd {
        HubCmd::Serve {
            listen,
            db,
            postgres,
            scope,
        } => {
            if postgres.is_some() {
                return Err(CliError::Usage(
                    "the PostgreSQL backend is not built yet; run the hub on SQLite with --db PATH"
                        .into(),
                ));
            }
            let scope = scope_arg(scope)?;
            std::net::ToSocketAddrs::to_socket_addrs(listen.as_str()).map_err(|e| {
                CliError::Usage(format!(
                    "--listen {listen:?} is not an address to listen on ({e}); write it like 0.0.0.0:8080"
                ))
            })?;
            let store = std::sync::Arc::new(hub_store(cli, db, true)?);
            let path = store.path().display().to_string();
            let device = store.device_id();
            silin_hub::server::init_logging();
            let config = silin_hub::HubConfig {
                scope: Some(scope),
                ..Default::default()
            };
            silin_hub::server::run(listen, store, config, |addr| {
                let json = serde_json::json!({
                    "listen": addr.to_string(), "url": format!("http://{addr}"), "device_id": device,
                });
                let _ = out.print(&json, || {
                    format!("silin hub listening on http://{addr} (store {path}); Ctrl-C to stop")
                });
            })
            .map_err(hub_error)
        }
        HubCmd::Token {
            db,
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
            let store = hub_store(cli, db, true)?;
            let token =
                silin_hub::office::issue_token(&store, role, scope, days).map_err(office_error)?;
            out.print(&serde_json::json!({ "token": token }), || token.clone())
        }
        HubCmd::Revoke { db, device } => {
            check_id("device", device)?;
            let store = hub_store(cli, db, false)?;
            store.revoke(device)?;
            out.print(
                &serde_json::json!({ "device_id": device, "revoked": true }),
                || format!("revoked device {device}; the hub refuses it from now on"),
            )
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
        cells
            .iter()
            .map(|c| format!("{}  {}  {}", c.id, c.path, c.name))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn parse_level(s: &str) -> Result<Level, CliError> {
    Ok(match s {
        "county" => Level::County,
        "township" => Level::Township,
        "village" => Level::Village,
        "group" => Level::Group,
        _ => {
            return Err(
                ValidationError::new("level", "one of county, township, village, group").into(),
            )
        }
    })
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
            let bytes = store.save_doc(cell)?;
            output::write_file_atomically(file, &bytes)?;
            out.print(
                &serde_json::json!({ "cell_id": cell, "bytes": bytes.len() }),
                || format!("wrote {} bytes to {}", bytes.len(), file.display()),
            )
        }
    }
}

fn run_list(cli: &Cli, out: &Out, cmd: &ListCmd) -> Result<(), CliError> {
    let store = open_existing(cli)?;
    let members = |ms: Vec<silin_core::store::MemberSummary>| {
        let text = ms
            .iter()
            .map(|m| {
                format!(
                    "{}  {}  {}  {}",
                    m.member_id,
                    m.name,
                    m.monitoring_until.as_deref().unwrap_or("-"),
                    m.vulnerable.join(",")
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
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
                visits
                    .iter()
                    .map(|v| {
                        format!(
                            "{}  {}  {}{}",
                            v.cell_id,
                            v.kind,
                            v.visit_id,
                            if v.abnormal { "  ABNORMAL" } else { "" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}
