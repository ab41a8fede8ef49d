//! `silin demo`: the product's main job at county scale, end to end, on one
//! machine. It builds the reference county (silin-workload) in a fresh
//! temporary directory: an office hub store creates every cell, grid workers'
//! phones and every lead's phone receive their replicas, then each simulated
//! day leads and grid workers edit offline (with some same-field clashes),
//! leads file the daily report, and replicas sync lead ↔ grid worker ↔
//! office and back down until every replica of every cell has the same
//! heads. The office then rolls the last day up at all four levels and the
//! figures are checked against what the plan says they must be.
//!
//! Sync is the product's own: the office store is served by a real hub on a
//! loopback port; grid workers enrol with one-time tokens over HTTP and sync
//! with it through `silin_hub::client`; leads' phones meet grid workers'
//! phone-to-phone through sync sessions carried in memory (where an app
//! would carry the same bytes over Bluetooth).
//!
//! Every store is a real SQLite file opened through `Store::open`. The
//! simulated phones and the hub use `Durability::Normal` (no fsync per
//! commit): thousands of simulated devices on one disk would otherwise
//! measure the disk, not silin.

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use silin_core::identity::{Office, Role, Scope};
use silin_core::model::Level;
use silin_core::rollup::RollupRow;
use silin_core::store::TokenGrant;
use silin_core::sync::{sync_local, SyncStats};
use silin_core::{Durability, Error, Result, Store, StoreOptions};
use silin_workload::{DayPlan, DayTotals, GridWorker, Workload};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Instant;

pub struct DemoArgs {
    pub seed: u64,
    pub cells: usize,
    pub days: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub cells: usize,
    /// Every replica of every cell ended each day with identical heads, and
    /// every day's county rollup equals the plan's totals.
    pub converged: bool,
    /// The last day, at the office, at every level.
    pub rollup: Rollup,
    pub sync: SyncFigures,
    /// What the last day's county row must show, from the plan.
    pub expected: DayTotals,
    pub seed: u64,
    pub days: u32,
    pub start: NaiveDate,
    pub households: usize,
    pub members: usize,
    pub grid_workers: usize,
    /// Stores holding a copy of some cell: office + grid workers + leads.
    pub replicas: usize,
    pub visits: i64,
    pub member_edits: i64,
    pub reports_filed: i64,
    /// Fields edited concurrently on two phones (planned).
    pub same_field_edits: i64,
    /// Keys with concurrent values the office shows, in cells where a clash
    /// was planned. Fewer than planned when a later edit settled a clash.
    pub conflicts: usize,
    pub heads_agree: bool,
    pub rollups_match: bool,
    /// Cells whose replicas disagreed at the end of a day (0 when converged).
    pub cells_diverged: usize,
    pub durability: &'static str,
    pub threads: usize,
    pub seconds: f64,
    /// Of which: creating the county and handing out replicas.
    pub setup_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rollup {
    pub date: String,
    pub levels: Levels,
}

#[derive(Debug, Clone, Serialize)]
pub struct Levels {
    pub county: Vec<RollupRow>,
    pub township: Vec<RollupRow>,
    pub village: Vec<RollupRow>,
    pub group: Vec<RollupRow>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncFigures {
    /// Every sync envelope's bytes, both ways, set-up included.
    pub bytes: u64,
    /// One envelope and its answer.
    pub round_trips: u64,
    pub sessions: u64,
    /// Of which: grid workers with the hub over HTTP.
    pub hub_sessions: u64,
    pub hub_bytes: u64,
    /// Of which: leads with grid workers, phone to phone.
    pub phone_sessions: u64,
    pub phone_bytes: u64,
    /// Handing out the county at set-up (first contact: whole documents).
    pub setup_bytes: u64,
    pub setup_round_trips: u64,
    /// Sessions that found nothing changed in one round trip.
    pub nothing_changed: u64,
}

impl SyncFigures {
    fn add(&mut self, o: &SyncFigures) {
        self.bytes += o.bytes;
        self.round_trips += o.round_trips;
        self.sessions += o.sessions;
        self.hub_sessions += o.hub_sessions;
        self.hub_bytes += o.hub_bytes;
        self.phone_sessions += o.phone_sessions;
        self.phone_bytes += o.phone_bytes;
        self.setup_bytes += o.setup_bytes;
        self.setup_round_trips += o.setup_round_trips;
        self.nothing_changed += o.nothing_changed;
    }

    fn count(&mut self, s: &SyncStats, hub: bool) {
        let bytes = (s.bytes_up + s.bytes_down) as u64;
        self.bytes += bytes;
        self.round_trips += s.round_trips as u64;
        self.sessions += 1;
        if hub {
            self.hub_sessions += 1;
            self.hub_bytes += bytes;
        } else {
            self.phone_sessions += 1;
            self.phone_bytes += bytes;
        }
        if s.round_trips == 1 {
            self.nothing_changed += 1;
        }
    }
}

/// What every simulated device needs to reach the office.
struct Net {
    hub_url: String,
    office: Office,
    /// The hub's store, where the office issues enrolment tokens.
    hub_store: Arc<Store>,
}

fn hub_sync(store: &Store, net: &Net, fig: &mut SyncFigures) -> Result<()> {
    let s = silin_hub::client::sync(store, &net.hub_url)
        .map_err(|e| Error::Io(std::io::Error::other(format!("sync with the hub: {e}"))))?;
    fig.count(&s, true);
    Ok(())
}

fn phone_sync(lead: &Store, worker: &Store, fig: &mut SyncFigures) -> Result<()> {
    let s = sync_local(lead, worker)
        .map_err(|e| Error::Io(std::io::Error::other(format!("phone-to-phone sync: {e}"))))?;
    fig.count(&s, false);
    Ok(())
}

/// One simulated day's work by one thread.
#[derive(Debug, Default)]
struct Tally {
    sync: SyncFigures,
    reports: i64,
    diverged: usize,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.sync.add(&o.sync);
        self.reports += o.reports;
        self.diverged += o.diverged;
    }
}

/// A cell as a grid worker's phone knows it: where its lead's phone is.
struct CellLink {
    cell: usize,
    id: String,
    lead_path: PathBuf,
    lead_name: String,
}

struct Phone {
    name: String,
    store: Store,
    cells: Vec<CellLink>,
}

fn options(cache_docs: usize) -> StoreOptions {
    StoreOptions {
        durability: Durability::Normal,
        cache_docs,
        ..Default::default()
    }
}

fn invalid(e: impl std::fmt::Display) -> Error {
    Error::Incompatible(e.to_string())
}

fn thread_failed() -> Error {
    Error::Io(std::io::Error::other(
        "a demo worker thread stopped unexpectedly",
    ))
}

/// Set-up for one grid worker: its phone takes its cells from the office,
/// and hands each lead's phone its one cell.
fn hand_out(
    dir: &Path,
    gw: &GridWorker,
    workload: &Workload,
    net: &Net,
    ids: &[OnceLock<String>],
    progress: &ProgressBar,
    sync: &mut SyncFigures,
) -> Result<Phone> {
    // Each grid worker's phone and its leads' phones in a directory of their
    // own, as on separate devices; it also spreads the files' inodes.
    let dir = dir.join(format!("grid-worker-{:03}", gw.index));
    std::fs::create_dir_all(&dir)?;
    let store = Store::open(dir.join("phone.db"), options(gw.cells.len() + 8))?;
    store.set_device_name(&gw.name)?;
    // The office prints a token for the worker's villages; the phone enrols
    // with it over HTTP and takes its cells from the hub.
    let mut villages: Vec<String> = gw
        .cells
        .iter()
        .map(|&c| workload.cells[c].path[..3].join("/"))
        .collect();
    villages.dedup();
    let grant = TokenGrant {
        role: Role::GridWorker,
        scope: Scope::parse(&villages).map_err(invalid)?,
        valid_days: 365,
    };
    let token = net.hub_store.issue_token(&net.office, &grant, 86400)?;
    silin_hub::client::enroll(&store, &net.hub_url, &token)
        .map_err(|e| Error::Io(std::io::Error::other(format!("enrolment: {e}"))))?;
    let mut fig = SyncFigures::default();
    hub_sync(&store, net, &mut fig)?;
    let mut cells = Vec::with_capacity(gw.cells.len());
    for &c in &gw.cells {
        let spec = &workload.cells[c];
        let id = ids[c]
            .get()
            .cloned()
            .ok_or_else(|| Error::not_found("cell", &spec.name))?;
        let lead_path = dir.join(format!("lead-{c:05}.db"));
        let lead = Store::open(&lead_path, options(4))?;
        lead.set_device_name(&spec.lead)?;
        // Leads' phones are enrolled at the office for their one cell, then
        // take it from the grid worker's phone.
        let now = lead.clock().timestamp();
        let cert = net.office.issue(
            &lead.device_id(),
            lead.device_key()?.public_key(),
            Role::Lead,
            Scope(vec![id.clone()]),
            now,
            now + 365 * 86400,
        );
        lead.install_certificate(&cert, &net.office.public_key())
            .map_err(invalid)?;
        phone_sync(&lead, &store, &mut fig)?;
        cells.push(CellLink {
            cell: c,
            id,
            lead_path,
            lead_name: spec.lead.clone(),
        });
        progress.inc(1);
    }
    sync.setup_bytes += fig.bytes;
    sync.setup_round_trips += fig.round_trips;
    sync.add(&SyncFigures {
        setup_bytes: 0,
        setup_round_trips: 0,
        ..fig
    });
    Ok(Phone {
        name: gw.name.clone(),
        store,
        cells,
    })
}

/// One day for one grid worker and the leads of its cells.
fn run_day(
    office: &Store,
    net: &Net,
    phone: &mut Phone,
    plan: &DayPlan,
    progress: &ProgressBar,
) -> Result<Tally> {
    let mut t = Tally::default();
    let mut leads = Vec::with_capacity(phone.cells.len());
    // Offline: the lead, the grid worker and the office each edit their own
    // replica; then the lead's phone meets the grid worker's.
    for link in &mut phone.cells {
        let p = &plan.cells[link.cell];
        let lead = Store::open(&link.lead_path, options(4))?;
        silin_workload::apply_actions(&lead, &link.id, &p.lead)?;
        silin_workload::apply_actions(&phone.store, &link.id, &p.grid_worker)?;
        silin_workload::apply_actions(office, &link.id, &p.office)?;
        if p.report.lead_files() {
            lead.submit_report(
                &link.id,
                p.report.new_report(plan.date, &link.lead_name, true),
            )?;
            t.reports += 1;
        }
        if p.report.grid_worker_files() {
            phone
                .store
                .submit_report(&link.id, p.report.new_report(plan.date, &phone.name, false))?;
            t.reports += 1;
        }
        phone_sync(&lead, &phone.store, &mut t.sync)?;
        leads.push(lead);
    }
    // The grid worker reaches the office: one session for all its cells.
    hub_sync(&phone.store, net, &mut t.sync)?;
    // Back down: what the office added reaches the leads.
    for (link, lead) in phone.cells.iter().zip(&leads) {
        phone_sync(lead, &phone.store, &mut t.sync)?;
        let mut h = office.heads(&link.id)?;
        h.sort();
        let same = |s: &Store| -> Result<bool> {
            let mut x = s.heads(&link.id)?;
            x.sort();
            Ok(x == h)
        };
        if !same(lead)? || !same(&phone.store)? {
            t.diverged += 1;
        }
        progress.inc(1);
    }
    Ok(t)
}

fn county_matches(row: Option<&RollupRow>, t: &DayTotals) -> bool {
    row.is_some_and(|r| {
        (
            r.cells,
            r.reported,
            r.missing,
            r.zero,
            r.arrivals,
            r.abnormal,
            r.under_monitoring,
        ) == (
            t.cells,
            t.reported,
            t.missing,
            t.zero,
            t.arrivals,
            t.abnormal,
            t.under_monitoring,
        )
    })
}

pub fn run(args: &DemoArgs, progress: bool) -> Result<DemoReport> {
    let started = Instant::now();
    let workload = Workload::generate(args.seed, args.cells);
    let dir = tempfile::Builder::new().prefix("silin-demo-").tempdir()?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let bar = if progress {
        let b = ProgressBar::new((workload.cells.len() as u64) * (1 + u64::from(args.days)));
        if let Ok(style) = ProgressStyle::with_template("{msg:24} [{bar:40}] {pos}/{len} ({eta})") {
            b.set_style(style);
        }
        b
    } else {
        ProgressBar::hidden()
    };

    // The office creates every cell, one transaction each; as soon as a grid
    // worker's cells exist, another thread hands them out to its phone and
    // its leads' phones.
    bar.set_message("setting up the county");
    let office = Arc::new(Store::open(dir.path().join("office.db"), options(256))?);
    office.set_device_name("两当县网格化服务中心")?;
    let hub = silin_hub::server::spawn_with(
        "127.0.0.1:0",
        office.clone(),
        silin_hub::server::HubConfig::default(),
    )
    .map_err(|e| Error::Io(std::io::Error::other(format!("starting the hub: {e}"))))?;
    let net = Net {
        hub_url: hub.url(),
        office: office.office(&Scope::everything())?,
        hub_store: office.clone(),
    };
    let ids: Vec<OnceLock<String>> = (0..workload.cells.len()).map(|_| OnceLock::new()).collect();
    let mut setup = SyncFigures::default();
    let mut phones: Vec<Phone> = Vec::with_capacity(workload.grid_workers.len());
    let (tx, rx) = mpsc::channel::<usize>();
    let rx = Mutex::new(rx);
    let today = workload.start;
    let results: Vec<Result<(Vec<Phone>, SyncFigures)>> = std::thread::scope(|s| {
        let (workload, office, net, ids, rx, bar, dir) =
            (&workload, &*office, &net, &ids, &rx, &bar, dir.path());
        let take = move || -> Result<(Vec<Phone>, SyncFigures)> {
            let mut out = Vec::new();
            let mut sync = SyncFigures::default();
            loop {
                let next = rx.lock().map_err(|_| thread_failed())?.recv();
                let Ok(g) = next else { break };
                let gw = &workload.grid_workers[g];
                out.push(hand_out(dir, gw, workload, net, ids, bar, &mut sync)?);
            }
            Ok((out, sync))
        };
        let mut handles = Vec::new();
        handles.push(s.spawn(move || -> Result<(Vec<Phone>, SyncFigures)> {
            let at = today
                .and_hms_opt(8, 0, 0)
                .map(|t| t.and_utc().timestamp())
                .unwrap_or(0);
            for gw in &workload.grid_workers {
                for &c in &gw.cells {
                    let spec = &workload.cells[c];
                    let path = spec.region_path()?;
                    let (id, ()) =
                        office.create_cell_with(&spec.name, &path, Some(&spec.lead), |doc| {
                            spec.write_to(doc, today, at)
                        })?;
                    let _ = ids[c].set(id);
                }
                // The receiver only goes away if every consumer failed; their
                // error is reported below.
                if tx.send(gw.index).is_err() {
                    break;
                }
            }
            drop(tx);
            take()
        }));
        for _ in 1..threads {
            handles.push(s.spawn(take));
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(thread_failed())))
            .collect()
    });
    for r in results {
        let (p, sync) = r?;
        phones.extend(p);
        setup.add(&sync);
    }
    phones.sort_by_key(|p| p.cells.first().map(|c| c.cell));
    if phones.iter().map(|p| p.cells.len()).sum::<usize>() != workload.cells.len() {
        return Err(Error::Io(std::io::Error::other(
            "not every cell reached a grid worker's phone",
        )));
    }

    let setup_seconds = started.elapsed().as_secs_f64();

    // The days.
    let mut planner = workload.planner();
    let mut tally = Tally::default();
    let mut rollups_match = true;
    let mut clashing: BTreeSet<usize> = BTreeSet::new();
    let (mut visits, mut member_edits, mut same_field) = (0, 0, 0);
    let mut last: Option<DayPlan> = None;
    let phones: Vec<Mutex<Phone>> = phones.into_iter().map(Mutex::new).collect();
    for _ in 0..args.days {
        let plan = planner.next_day();
        bar.set_message(format!("day {}", plan.date));
        let next = AtomicUsize::new(0);
        let results: Vec<Result<Tally>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| -> Result<Tally> {
                        let mut t = Tally::default();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(p) = phones.get(i) else { break };
                            let mut phone = p.lock().map_err(|_| thread_failed())?;
                            t.add(&run_day(&office, &net, &mut phone, &plan, &bar)?);
                        }
                        Ok(t)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(thread_failed())))
                .collect()
        });
        for r in results {
            tally.add(&r?);
        }
        let county = office.rollup(plan.date, Level::County)?;
        rollups_match &= county.len() == 1 && county_matches(county.first(), &plan.totals);
        visits += plan.totals.visits;
        member_edits += plan.totals.member_edits;
        same_field += plan.totals.same_field_edits;
        clashing.extend(
            plan.cells
                .iter()
                .filter(|c| {
                    c.same_field_edits > 0 || c.report.reporter == silin_workload::Reporter::Both
                })
                .map(|c| c.cell),
        );
        last = Some(plan);
    }
    let Some(last) = last else {
        return Err(Error::Io(std::io::Error::other(
            "the demo needs at least one day",
        )));
    };
    bar.set_message("rolling up");
    let mut conflicts = 0;
    for c in &clashing {
        if let Some(id) = ids[*c].get() {
            conflicts += office.conflicts(id)?.len();
        }
    }
    let level = |l| office.rollup(last.date, l);
    let rollup = Rollup {
        date: last.date.to_string(),
        levels: Levels {
            county: level(Level::County)?,
            township: level(Level::Township)?,
            village: level(Level::Village)?,
            group: level(Level::Group)?,
        },
    };
    bar.finish_and_clear();
    let mut sync = tally.sync;
    sync.add(&setup);
    let heads_agree = tally.diverged == 0;
    let grid_workers = phones.len();
    // Close every store before the directory goes.
    drop(phones);
    hub.shutdown()
        .map_err(|e| Error::Io(std::io::Error::other(format!("stopping the hub: {e}"))))?;
    drop(office);
    drop(dir);
    Ok(DemoReport {
        cells: workload.cells.len(),
        converged: heads_agree && rollups_match,
        rollup,
        sync,
        expected: last.totals,
        seed: args.seed,
        days: args.days,
        start: workload.start,
        households: workload.households(),
        members: workload.members(),
        grid_workers,
        replicas: 1 + grid_workers + workload.cells.len(),
        visits,
        member_edits,
        reports_filed: tally.reports,
        same_field_edits: same_field,
        conflicts,
        heads_agree,
        rollups_match,
        cells_diverged: tally.diverged,
        durability: "normal",
        threads,
        seconds: started.elapsed().as_secs_f64(),
        setup_seconds,
    })
}

/// Terminal width of a string: CJK characters take two columns.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) >= 0x2E80 { 2 } else { 1 })
        .sum()
}

fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(width(s))))
}

fn megabytes(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1_000_000.0)
}

impl DemoReport {
    pub fn human(&self) -> String {
        let mut s = String::new();
        let county = self.rollup.levels.county.first();
        let name = county.map(|r| r.path.as_str()).unwrap_or("");
        s.push_str(&format!(
            "{name}: {} cells, {} households, {} people; {} day(s) from {} (seed {})\n",
            self.cells, self.households, self.members, self.days, self.start, self.seed
        ));
        s.push_str(&format!(
            "replicas: 1 office hub + {} grid-worker phones + {} lead phones, each its own SQLite file\n  (Durability::Normal for the simulated devices: no fsync per commit)\n",
            self.grid_workers, self.cells
        ));
        s.push_str(&format!(
            "activity: {} visits and health checks, {} member edits, {} reports filed; {} same-field clashes, {} conflicts kept visible\n",
            self.visits, self.member_edits, self.reports_filed, self.same_field_edits, self.conflicts
        ));
        s.push_str(&format!(
            "sync: {} sessions, {} round trips, {} ({} of it handing out {} cells at set-up)\n  hub over HTTP on loopback: {} sessions, {}; phone to phone: {} sessions, {}; {} found nothing changed in one round trip\n",
            self.sync.sessions,
            self.sync.round_trips,
            megabytes(self.sync.bytes),
            megabytes(self.sync.setup_bytes),
            self.cells,
            self.sync.hub_sessions,
            megabytes(self.sync.hub_bytes),
            self.sync.phone_sessions,
            megabytes(self.sync.phone_bytes),
            self.sync.nothing_changed,
        ));
        s.push_str(&if self.converged {
            "converged: yes — every replica of every cell has the same heads, and the rollup matches the plan\n".to_string()
        } else {
            format!(
                "converged: NO — {} cells diverged; rollup {} the plan\n",
                self.cells_diverged,
                if self.rollups_match { "matches" } else { "does not match" }
            )
        });
        s.push_str(&format!("\nzero-report rollup for {}:\n", self.rollup.date));
        let header = [
            "",
            "cells",
            "reported",
            "missing",
            "zero",
            "arrivals",
            "abnormal",
            "monitored",
        ];
        let rows: Vec<&RollupRow> = self
            .rollup
            .levels
            .county
            .iter()
            .chain(&self.rollup.levels.township)
            .collect();
        let label = |r: &RollupRow| {
            let last = r.path.rsplit('/').next().unwrap_or("");
            if r.path.contains('/') {
                format!("  {last}")
            } else {
                last.to_string()
            }
        };
        let first = rows
            .iter()
            .map(|r| width(&label(r)))
            .max()
            .unwrap_or(0)
            .max(8);
        s.push_str(&pad("", first));
        for h in &header[1..] {
            s.push_str(&format!(" {h:>9}"));
        }
        s.push('\n');
        for r in rows {
            s.push_str(&pad(&label(r), first));
            for n in [
                r.cells,
                r.reported,
                r.missing,
                r.zero,
                r.arrivals,
                r.abnormal,
                r.under_monitoring,
            ] {
                s.push_str(&format!(" {n:>9}"));
            }
            s.push('\n');
        }
        s.push_str(&format!(
            "({} villages and communities, {} groups and compounds in the full rollup; --json for all levels)\n",
            self.rollup.levels.village.len(),
            self.rollup.levels.group.len()
        ));
        s.push_str(&format!(
            "done in {:.1} s on {} threads ({:.1} s setting up)",
            self.seconds, self.threads, self.setup_seconds
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_cells_two_days_converge_and_roll_up_as_planned() {
        let r = run(
            &DemoArgs {
                seed: 11,
                cells: 40,
                days: 2,
            },
            false,
        )
        .unwrap();
        assert!(r.heads_agree, "replicas diverged: {}", r.cells_diverged);
        assert!(r.rollups_match);
        assert!(r.converged);
        let county = &r.rollup.levels.county;
        assert_eq!(county.len(), 1);
        let c = &county[0];
        let e = &r.expected;
        assert_eq!(
            (
                c.cells,
                c.reported,
                c.missing,
                c.zero,
                c.arrivals,
                c.abnormal,
                c.under_monitoring
            ),
            (
                e.cells,
                e.reported,
                e.missing,
                e.zero,
                e.arrivals,
                e.abnormal,
                e.under_monitoring
            )
        );
        assert_eq!(r.rollup.date, "2026-12-01");
        for level in [
            &r.rollup.levels.county,
            &r.rollup.levels.township,
            &r.rollup.levels.village,
            &r.rollup.levels.group,
        ] {
            assert_eq!(level.iter().map(|row| row.cells).sum::<i64>(), 40);
        }
        assert!(r.sync.round_trips > 0 && r.sync.bytes > 0);
        assert_eq!(r.replicas, 1 + r.grid_workers + 40);
        let json = serde_json::to_value(&r).unwrap();
        for key in ["cells", "converged", "rollup", "sync"] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert!(json["rollup"]["levels"]["group"].is_array());
        assert!(json["sync"]["round_trips"].as_u64().is_some());
        assert!(r.human().contains("converged: yes"));
    }
}
