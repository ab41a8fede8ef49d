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
//! The run goes in phases (set-up; per day, everyone's offline edits, then
//! the syncs; the rollup; clean-up), each with a progress bar on a terminal
//! and its seconds in the report. Phones are opened when used and closed
//! after, as apps are, so memory follows the phones in hand, not the
//! county's 2,999 replicas.
//!
//! Every store is a real SQLite file opened through `Store::open`,
//! encrypted at rest (SQLCipher) as every store of the product is, each
//! under a fresh random key of its own held in memory only, as an app
//! holds its phone's key. The simulated phones and the hub use
//! `Durability::Normal` (no fsync per commit): thousands of simulated
//! devices on one disk would otherwise measure the disk, not silin.

use chrono::NaiveDate;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use silin_core::identity::{Office, Role, Scope};
use silin_core::model::Level;
use silin_core::rollup::RollupRow;
use silin_core::sync::{sync_local, SyncStats};
use silin_core::{Durability, Error, Result, Store, StoreKey, StoreOptions};
use silin_hub::client::Hub;
use silin_hub::enrolment::TokenGrant;
use silin_workload::{DayPlan, DayTotals, GridWorker, Workload};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

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
    /// The county seat's communities, by building and unit.
    pub county_seat: CountySeat,
    pub erasure: ErasureFigures,
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
    /// Every cell's report draft for the last day (worked out by silin
    /// from the merged log at the office) equals the hand count of the
    /// generated day.
    pub drafts_match: bool,
    /// Cells whose draft differed from the hand count (0 when they match).
    pub drafts_differing: usize,
    /// Reports of the last day whose counts disagree with the log.
    pub reports_flagged: usize,
    /// Cells whose replicas disagreed at the end of a day (0 when converged).
    pub cells_diverged: usize,
    pub durability: &'static str,
    pub threads: usize,
    pub seconds: f64,
    /// Of which: creating the county and handing out replicas.
    pub setup_seconds: f64,
    /// Of set-up: until the office had created every cell (the hand-out to
    /// phones runs alongside).
    pub setup_office_seconds: f64,
    /// Where the time went, phase by phase, in order; the phases do not
    /// overlap and add up to `seconds`.
    pub phases: Vec<PhaseTime>,
    /// Peak resident memory of the process, where the platform tells
    /// (Linux: VmHWM).
    pub peak_rss_bytes: Option<u64>,
}

/// The county seat in community mode: its buildings and units, their
/// heads, and the last day's rollup by unit (the levels the office named).
#[derive(Debug, Clone, Serialize)]
pub struct CountySeat {
    pub communities: usize,
    pub buildings: usize,
    pub units: usize,
    pub building_heads: usize,
    pub unit_heads: usize,
    pub cells: usize,
    pub reported: i64,
    pub missing: i64,
    /// One row per unit, as the office's rollup names it.
    pub units_rollup: Vec<RollupRow>,
}

/// An erasure at the end of the run: the office erases one household of
/// a cell; the grid worker's phone and the lead's follow at their next sync.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureFigures {
    pub cell: String,
    /// People of the household erased.
    pub members: usize,
    pub epoch: u32,
    /// Replicas of the cell (office, grid worker, lead) that moved to the
    /// new epoch without the household, on the same heads.
    pub replicas_followed: usize,
    /// The erased ids (household and members) found in those replicas'
    /// files before the order, and left after it: the `.db`'s and the
    /// `-wal`'s pages decrypted with the store's key (what the files
    /// would give up with the key), and the `-shm`'s raw bytes.
    pub ids_found_before: usize,
    pub ids_left_after: usize,
    /// From the order to the last replica following it.
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseTime {
    pub phase: String,
    pub seconds: f64,
    /// CPU time of the whole process (every thread, the hub's included)
    /// during the phase, where the platform tells (Linux).
    pub cpu_seconds: Option<f64>,
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
    hub: Hub,
    office: Office,
    /// The hub's store, where the office issues enrolment tokens.
    hub_store: Arc<Store>,
}

fn hub_sync(store: &Store, net: &Net, fig: &mut SyncFigures) -> Result<()> {
    let s = net
        .hub
        .sync(store, |_| {})
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

/// One thread's share of a phase.
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
    lead_key: Key,
    lead_name: String,
}

/// A grid worker's phone between uses: its file and its cells. Phones are
/// opened for each phase and closed after it, as an app is, so the demo
/// holds only the phones being worked with, not the county's.
struct Phone {
    name: String,
    path: PathBuf,
    key: Key,
    cells: Vec<CellLink>,
}

impl Phone {
    fn open(&self) -> Result<Store> {
        Store::open(&self.path, phone_options(self.cells.len(), &self.key))
    }
}

/// A store's key: 32 random bytes, fresh for each store (each phone's app
/// makes its own), kept in memory only and never printed. SQLCipher takes
/// them as a raw key (64 hex digits), so the demo's thousands of opens pay
/// no key derivation.
#[derive(Clone)]
struct Key([u8; 32]);

impl Key {
    fn fresh() -> Key {
        Key(silin_core::identity::random_bytes())
    }

    fn store_key(&self) -> StoreKey {
        StoreKey::new(hex::encode(self.0))
    }
}

fn options(cache_docs: usize, key: &Key) -> StoreOptions {
    StoreOptions {
        key: Some(key.store_key()),
        durability: Durability::Normal,
        cache_docs,
        ..Default::default()
    }
}

/// A grid worker's phone with `cells` cells: room for them and a few of a
/// neighbour's that share a village (its scope is whole villages).
fn phone_options(cells: usize, key: &Key) -> StoreOptions {
    options(cells + 8, key)
}

/// A lead's phone carries one cell.
fn lead_options(key: &Key) -> StoreOptions {
    options(1, key)
}

fn invalid(e: impl std::fmt::Display) -> Error {
    Error::Incompatible(e.to_string())
}

fn thread_failed() -> Error {
    Error::Io(std::io::Error::other(
        "a demo worker thread stopped unexpectedly",
    ))
}

/// Worker threads. A phone's work here waits on the disk much of the time
/// (a new SQLite file, a checkpoint when a store closes, a freed file's
/// blocks), so several threads per core keep the cores busy meanwhile.
/// Measured on 2 cores (doc/BENCHMARKS.md): 8 threads beat 4, each thread
/// holding one grid worker's phones open costs about 15 MB.
fn thread_count() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (cores * 4).clamp(4, 8)
}

/// Process CPU time so far (user + system, every thread). Linux reports it
/// in /proc in clock ticks of USER_HZ, which is 100 on every architecture
/// this runs on.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; fields are counted after its ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Times the demo's phases and shows one progress bar per phase.
struct Phases {
    bars: MultiProgress,
    progress: bool,
    style: Option<ProgressStyle>,
    done: Vec<PhaseTime>,
    started: Instant,
    cpu: Option<f64>,
}

impl Phases {
    fn new(progress: bool) -> Phases {
        let bars = if progress {
            MultiProgress::new()
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        };
        Phases {
            bars,
            progress,
            style: ProgressStyle::with_template(
                "{msg:28} [{bar:36}] {pos:>5}/{len:5} {elapsed_precise} (eta {eta})",
            )
            .ok()
            .map(|s| s.progress_chars("=> ")),
            done: Vec::new(),
            started: Instant::now(),
            cpu: cpu_seconds(),
        }
    }

    /// A bar for part of the current phase (`len` steps).
    fn bar(&self, label: &str, len: u64) -> ProgressBar {
        let bar = self.bars.add(ProgressBar::new(len));
        if let Some(style) = &self.style {
            bar.set_style(style.clone());
        }
        bar.set_message(label.to_string());
        if self.progress {
            // The elapsed time moves even while a slow step holds the count.
            bar.enable_steady_tick(Duration::from_millis(250));
        }
        bar
    }

    /// Ends the current phase under `name`; the next one starts now.
    fn end(&mut self, name: impl Into<String>) -> f64 {
        let seconds = self.started.elapsed().as_secs_f64();
        let cpu = cpu_seconds();
        self.done.push(PhaseTime {
            phase: name.into(),
            seconds,
            cpu_seconds: cpu.zip(self.cpu).map(|(now, then)| now - then),
        });
        self.started = Instant::now();
        self.cpu = cpu;
        seconds
    }
}

/// Runs `work` once for every index below `n` on `threads` threads, each
/// taking the next index as it finishes the last; returns the threads'
/// tallies added up.
fn for_each_parallel(
    n: usize,
    threads: usize,
    work: impl Fn(usize, &mut Tally) -> Result<()> + Sync,
) -> Result<Tally> {
    let next = AtomicUsize::new(0);
    let results: Vec<Result<Tally>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.min(n).max(1))
            .map(|_| {
                s.spawn(|| -> Result<Tally> {
                    let mut t = Tally::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        work(i, &mut t)?;
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
    let mut total = Tally::default();
    for r in results {
        total.add(&r?);
    }
    Ok(total)
}

/// Set-up for one grid worker: its phone enrols and takes its cells from
/// the office; then each of its leads' phones is enrolled for its one cell
/// and takes it from the grid worker's phone (first contact: whole
/// documents). Every phone is closed when done.
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
    let path = dir.join("phone.db");
    let key = Key::fresh();
    let store = Store::open(&path, phone_options(gw.cells.len(), &key))?;
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
    let token = silin_hub::enrolment::issue(&net.hub_store, &net.office, &grant, 86400)?;
    net.hub
        .enroll(&store, &token)
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
        let lead_key = Key::fresh();
        let lead = Store::open(&lead_path, lead_options(&lead_key))?;
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
        drop(lead);
        cells.push(CellLink {
            cell: c,
            id,
            lead_path,
            lead_key,
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
        path,
        key,
        cells,
    })
}

/// A day's offline work for one grid worker's cells: the lead, the grid
/// worker and the office each edit their own replica; leads and grid
/// workers file the day's report.
fn edit_day(office: &Store, phone: &Phone, plan: &DayPlan, t: &mut Tally) -> Result<()> {
    let worker = phone.open()?;
    for link in &phone.cells {
        let p = &plan.cells[link.cell];
        {
            let lead = Store::open(&link.lead_path, lead_options(&link.lead_key))?;
            silin_workload::apply_actions(&lead, &link.id, &p.lead)?;
            if p.report.lead_files() {
                lead.submit_report(
                    &link.id,
                    p.report.new_report(plan.date, &link.lead_name, true),
                )?;
                t.reports += 1;
            }
        }
        silin_workload::apply_actions(&worker, &link.id, &p.grid_worker)?;
        if p.report.grid_worker_files() {
            worker.submit_report(&link.id, p.report.new_report(plan.date, &phone.name, false))?;
            t.reports += 1;
        }
        silin_workload::apply_actions(office, &link.id, &p.office)?;
    }
    Ok(())
}

/// A day's syncs for one grid worker: each lead's phone meets the grid
/// worker's, the grid worker's phone reaches the office (one session for all
/// its cells), and what the office added goes back down to the leads. Then
/// every replica of each cell must have the office's heads.
fn sync_day(
    office: &Store,
    net: &Net,
    phone: &Phone,
    t: &mut Tally,
    bar: &ProgressBar,
) -> Result<()> {
    let worker = phone.open()?;
    let mut leads = Vec::with_capacity(phone.cells.len());
    for link in &phone.cells {
        let lead = Store::open(&link.lead_path, lead_options(&link.lead_key))?;
        phone_sync(&lead, &worker, &mut t.sync)?;
        leads.push(lead);
    }
    hub_sync(&worker, net, &mut t.sync)?;
    for (link, lead) in phone.cells.iter().zip(&leads) {
        phone_sync(lead, &worker, &mut t.sync)?;
        let mut h = office.heads(&link.id)?;
        h.sort();
        let same = |s: &Store| -> Result<bool> {
            let mut x = s.heads(&link.id)?;
            x.sort();
            Ok(x == h)
        };
        if !same(lead)? || !same(&worker)? {
            t.diverged += 1;
        }
        bar.inc(1);
    }
    Ok(())
}

/// SQLCipher 4's page layout with its default settings, as silin's
/// stores have it: 4096-byte pages, each AES-256-CBC under the raw key
/// from its start (on page 1, after the 16-byte salt) up to its last 80
/// bytes, the reserve, which begins with the page's IV.
const PAGE: usize = 4096;
const PAGE_RESERVE: usize = 80;
const PAGE_1_SALT: usize = 16;
/// A `-wal` file's header, and each frame's before its page.
const WAL_HEADER: usize = 32;
const WAL_FRAME_HEADER: usize = 24;

/// The plain text of page `pgno` (from 1) of an encrypted store, as read
/// from its `.db` or a `-wal` frame. The page's HMAC is not checked: this
/// only looks for what is written there.
fn decrypt_page(key: &Key, pgno: u32, page: &[u8]) -> Vec<u8> {
    use aes::cipher::{Array, BlockModeDecrypt, KeyIvInit};
    let start = if pgno == 1 { PAGE_1_SALT } else { 0 };
    let end = PAGE - PAGE_RESERVE;
    let mut text = page[start..end].to_vec();
    let iv = &page[end..end + 16];
    // The key is 32 bytes and the IV 16, so the decryptor is always made;
    // the text, 4000 or 4016 bytes, is a whole number of blocks.
    if let Ok(mut d) = cbc::Decryptor::<aes::Aes256>::new_from_slices(&key.0, iv) {
        d.decrypt_blocks(Array::slice_as_chunks_mut(&mut text).0);
    }
    text
}

/// The plain text of the store at `path`: its `.db` and `-wal` pages
/// decrypted with `key` (in the `-wal`, every frame, the stale ones
/// included), and the `-shm`, which holds no page, as it is.
fn plain_text(path: &Path, key: &Key) -> Vec<u8> {
    let file = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        std::fs::read(PathBuf::from(p)).unwrap_or_default()
    };
    let mut text = Vec::new();
    for (pgno, page) in (1..).zip(file("").chunks_exact(PAGE)) {
        text.extend(decrypt_page(key, pgno, page));
    }
    let wal = file("-wal");
    for frame in wal
        .get(WAL_HEADER..)
        .unwrap_or_default()
        .chunks_exact(WAL_FRAME_HEADER + PAGE)
    {
        let pgno = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        text.extend(decrypt_page(key, pgno, &frame[WAL_FRAME_HEADER..]));
    }
    text.extend(file("-shm"));
    text
}

/// How many of `needles` lie in the files of the store at `path`,
/// encrypted with `key`, read as [`plain_text`].
fn in_files(path: &Path, key: &Key, needles: &[String]) -> Result<usize> {
    let bytes = plain_text(path, key);
    Ok(needles
        .iter()
        .filter(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes()))
        .count())
}

/// The office erases a household of the first grid worker's first cell;
/// the worker's phone syncs with the hub and the lead's with the worker's.
fn erase_a_household(
    office: &Store,
    office_path: &Path,
    office_key: &Key,
    net: &Net,
    phone: &Phone,
) -> Result<ErasureFigures> {
    use silin_core::erasure::Subject;
    let link = phone
        .cells
        .first()
        .ok_or_else(|| Error::not_found("cell", "of the first grid worker"))?;
    let view = office.cell(&link.id)?;
    let household = view
        .households
        .iter()
        .rev()
        .find(|h| !h.members.is_empty())
        .ok_or_else(|| Error::not_found("household", "with members"))?;
    let mut ids: Vec<String> = household.members.iter().map(|m| m.id.clone()).collect();
    ids.push(household.id.clone());
    let files = [
        (office_path, office_key),
        (phone.path.as_path(), &phone.key),
        (link.lead_path.as_path(), &link.lead_key),
    ];
    let mut found_before = 0;
    for (path, key) in files {
        found_before += in_files(path, key, &ids)?;
    }
    let started = Instant::now();
    let order = office.issue_erasure(
        &net.office.key,
        &link.id,
        vec![Subject::Household(household.id.clone())],
        "demo: a resident's request",
    )?;
    let mut fig = SyncFigures::default();
    {
        let worker = phone.open()?;
        let lead = Store::open(&link.lead_path, lead_options(&link.lead_key))?;
        hub_sync(&worker, net, &mut fig)?;
        phone_sync(&lead, &worker, &mut fig)?;
        let mut h = office.heads(&link.id)?;
        h.sort();
        let mut followed = 0;
        for s in [office, &worker, &lead] {
            let mut x = s.heads(&link.id)?;
            x.sort();
            let gone = !s
                .cell(&link.id)?
                .households
                .iter()
                .any(|x| x.id == household.id);
            followed += usize::from(x == h && gone && s.cell(&link.id)?.cell.id == link.id);
        }
        let seconds = started.elapsed().as_secs_f64();
        drop((worker, lead));
        let mut left = 0;
        for (path, key) in files {
            left += in_files(path, key, &ids)?;
        }
        Ok(ErasureFigures {
            cell: link.id.clone(),
            members: household.members.len(),
            epoch: order.epoch,
            replicas_followed: followed,
            ids_found_before: found_before,
            ids_left_after: left,
            seconds,
        })
    }
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
    let mut phases = Phases::new(progress);
    let workload = Workload::generate(args.seed, args.cells);
    let dir = tempfile::Builder::new().prefix("silin-demo-").tempdir()?;
    let threads = thread_count();
    let cells = workload.cells.len() as u64;
    phases.end("plan");

    // Set-up. The office creates every cell, one transaction each; as soon
    // as a grid worker's cells exist, another thread hands them out to its
    // phone and its leads' phones.
    let office_bar = phases.bar("set-up: office creates cells", cells);
    let phones_bar = phases.bar("set-up: phones take cells", cells);
    let office_key = Key::fresh();
    let office = Arc::new(Store::open(
        dir.path().join("office.db"),
        options(256, &office_key),
    )?);
    // The county seat's communities have buildings and units.
    workload.name_levels(&office)?;
    office.set_device_name("两当县网格化服务中心")?;
    let hub = silin_hub::server::spawn_with(
        "127.0.0.1:0",
        office.clone(),
        silin_hub::server::HubConfig::default(),
    )
    .map_err(|e| Error::Io(std::io::Error::other(format!("starting the hub: {e}"))))?;
    let net = Net {
        hub: Hub::new(&hub.url())
            .map_err(|e| Error::Io(std::io::Error::other(format!("the hub's address: {e}"))))?,
        office: silin_hub::office::office(&office, None)?,
        hub_store: office.clone(),
    };
    let ids: Vec<OnceLock<String>> = (0..workload.cells.len()).map(|_| OnceLock::new()).collect();
    let mut setup = SyncFigures::default();
    let mut phones: Vec<Phone> = Vec::with_capacity(workload.grid_workers.len());
    let (tx, rx) = mpsc::channel::<usize>();
    let rx = Mutex::new(rx);
    let today = workload.start;
    let office_done: OnceLock<f64> = OnceLock::new();
    let setup_started = Instant::now();
    let results: Vec<Result<(Vec<Phone>, SyncFigures)>> = std::thread::scope(|s| {
        let (workload, office, net, ids, rx, dir) =
            (&workload, &*office, &net, &ids, &rx, dir.path());
        let (office_bar, phones_bar, office_done) = (&office_bar, &phones_bar, &office_done);
        let take = move || -> Result<(Vec<Phone>, SyncFigures)> {
            let mut out = Vec::new();
            let mut sync = SyncFigures::default();
            loop {
                let next = rx.lock().map_err(|_| thread_failed())?.recv();
                let Ok(g) = next else { break };
                let gw = &workload.grid_workers[g];
                out.push(hand_out(
                    dir, gw, workload, net, ids, phones_bar, &mut sync,
                )?);
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
                    office_bar.inc(1);
                }
                // The receiver only goes away if every consumer failed; their
                // error is reported below.
                if tx.send(gw.index).is_err() {
                    break;
                }
            }
            drop(tx);
            let _ = office_done.set(setup_started.elapsed().as_secs_f64());
            office_bar.finish();
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
    phones_bar.finish();
    phones.sort_by_key(|p| p.cells.first().map(|c| c.cell));
    if phones.iter().map(|p| p.cells.len()).sum::<usize>() != workload.cells.len() {
        return Err(Error::Io(std::io::Error::other(
            "not every cell reached a grid worker's phone",
        )));
    }
    let setup_office_seconds = office_done.get().copied().unwrap_or(0.0);
    let setup_seconds = phases.end("set-up");

    // The days: first everyone's offline edits, then the syncs.
    let mut planner = workload.planner();
    let mut tally = Tally::default();
    let mut rollups_match = true;
    let mut clashing: BTreeSet<usize> = BTreeSet::new();
    let (mut visits, mut member_edits, mut same_field) = (0, 0, 0);
    let mut last: Option<DayPlan> = None;
    for _ in 0..args.days {
        let plan = planner.next_day();
        let bar = phases.bar(&format!("{}: offline edits", plan.date), cells);
        let edits = for_each_parallel(phones.len(), threads, |i, t| {
            let phone = &phones[i];
            edit_day(&office, phone, &plan, t)?;
            bar.inc(phone.cells.len() as u64);
            Ok(())
        })?;
        bar.finish();
        tally.add(&edits);
        phases.end(format!("{}: edits", plan.date));

        let bar = phases.bar(&format!("{}: sync", plan.date), cells);
        let synced = for_each_parallel(phones.len(), threads, |i, t| {
            sync_day(&office, &net, &phones[i], t, &bar)
        })?;
        bar.finish();
        tally.add(&synced);
        // The day is over when the office's county row shows what the plan
        // says it must.
        let county = office.rollup(plan.date, Level::County)?;
        rollups_match &= county.len() == 1 && county_matches(county.first(), &plan.totals);
        phases.end(format!("{}: sync", plan.date));

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
    // The report that drafts itself: the office's draft of every cell's
    // last day against the hand count of the generated day.
    let bar = phases.bar("report drafts", cells);
    let (mut drafts_differing, mut reports_flagged) = (0, 0);
    for c in &last.cells {
        let Some(id) = ids[c.cell].get() else {
            continue;
        };
        let (draft, mut report) = office.with_doc(id, |d| {
            let mut report: Vec<_> = d.report(last.date)?.into_iter().collect();
            d.flag_reports(&mut report)?;
            Ok((d.draft_report(last.date)?, report))
        })?;
        let hand = c.hand_count(last.date, &workload.cells[c.cell]);
        let drafted = silin_workload::HandCount {
            arrivals: draft.arrivals,
            under_monitoring: draft.under_monitoring,
            abnormal: draft.abnormal,
            errands: draft.errands,
            door_knocks: draft.door_knocks,
            calls: draft.calls,
        };
        if drafted != hand {
            drafts_differing += 1;
        }
        if report.pop().is_some_and(|r| r.flag.is_some()) {
            reports_flagged += 1;
        }
        bar.inc(1);
    }
    bar.finish();
    phases.end("report drafts");
    let bar = phases.bar("rollup", 5);
    let mut conflicts = 0;
    for c in &clashing {
        if let Some(id) = ids[*c].get() {
            conflicts += office.conflicts(id)?.len();
        }
    }
    bar.inc(1);
    let level = |l| {
        let rows = office.rollup(last.date, l);
        bar.inc(1);
        rows
    };
    let rollup = Rollup {
        date: last.date.to_string(),
        levels: Levels {
            county: level(Level::County)?,
            township: level(Level::Township)?,
            village: level(Level::Village)?,
            group: level(Level::Group)?,
        },
    };
    let units_rollup: Vec<RollupRow> = office
        .rollup(last.date, office.hierarchy()?.level("unit")?)?
        .into_iter()
        .filter(|r| r.level == "unit")
        .collect();
    let heads = |role| workload.heads.iter().filter(|h| h.role == role).count();
    let county_seat = CountySeat {
        communities: workload
            .townships
            .iter()
            .flat_map(|t| &t.villages)
            .filter(|v| v.urban)
            .count(),
        buildings: workload.buildings(),
        units: workload.units(),
        building_heads: heads(silin_core::identity::Role::BuildingHead),
        unit_heads: heads(silin_core::identity::Role::UnitHead),
        cells: units_rollup.iter().map(|r| r.cells as usize).sum(),
        reported: units_rollup.iter().map(|r| r.reported).sum(),
        missing: units_rollup.iter().map(|r| r.missing).sum(),
        units_rollup,
    };
    bar.finish();
    phases.end("rollup");
    let erasure = erase_a_household(
        &office,
        &dir.path().join("office.db"),
        &office_key,
        &net,
        &phones[0],
    )?;
    phases.end("erasure");

    let mut sync = tally.sync;
    sync.add(&setup);
    let heads_agree = tally.diverged == 0;
    let grid_workers = phones.len();
    // Close every store before the directory goes.
    hub.shutdown()
        .map_err(|e| Error::Io(std::io::Error::other(format!("stopping the hub: {e}"))))?;
    drop(net);
    drop(office);
    let peak_rss_bytes = peak_rss_bytes();
    // Removing thousands of just-written files waits on the disk for each
    // (on this VM every freed block is discarded synchronously): one grid
    // worker's directory per thread overlaps the waits. Best effort, as the
    // temporary directory's own removal below.
    let _ = for_each_parallel(phones.len(), threads, |i, _| {
        if let Some(d) = phones[i].path.parent() {
            let _ = std::fs::remove_dir_all(d);
        }
        Ok(())
    });
    drop(dir);
    phases.end("clean-up");
    Ok(DemoReport {
        cells: workload.cells.len(),
        converged: heads_agree && rollups_match,
        rollup,
        county_seat,
        erasure,
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
        drafts_match: drafts_differing == 0,
        drafts_differing,
        reports_flagged,
        cells_diverged: tally.diverged,
        durability: "normal",
        threads,
        seconds: started.elapsed().as_secs_f64(),
        setup_seconds,
        setup_office_seconds,
        phases: phases.done,
        peak_rss_bytes,
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
        let e = &self.erasure;
        s.push_str(&format!(
            "erasure: a household of {} erased at the office (epoch {}) reached {} of 3 replicas (office, grid worker, lead) in {:.2} s; its ids in their files: {} before, {} after\n",
            e.members, e.epoch, e.replicas_followed, e.seconds, e.ids_found_before, e.ids_left_after
        ));
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
            "({} villages and communities, {} groups and buildings in the full rollup; --json for all levels)\n",
            self.rollup.levels.village.len(),
            self.rollup.levels.group.len()
        ));
        let cs = &self.county_seat;
        s.push_str(&format!(
            "county seat: {} communities, {} buildings with {} building heads, {} units with {} unit heads; {} cells, {} reported, {} missing ({} units in the rollup; --json for them)\n",
            cs.communities,
            cs.buildings,
            cs.building_heads,
            cs.units,
            cs.unit_heads,
            cs.cells,
            cs.reported,
            cs.missing,
            cs.units_rollup.len()
        ));
        s.push_str(&format!(
            "report drafts: {} of {} cells' drafts equal the hand count of the day; {} reports flagged as disagreeing with the log\n",
            self.cells - self.drafts_differing,
            self.cells,
            self.reports_flagged
        ));
        s.push_str(&format!(
            "done in {:.1} s on {} threads ({:.1} s setting up)",
            self.seconds, self.threads, self.setup_seconds
        ));
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|p| format!("{} {:.1} s", p.phase, p.seconds))
            .collect();
        s.push_str(&format!("\n  phases: {}", phases.join(", ")));
        if let Some(b) = self.peak_rss_bytes {
            s.push_str(&format!("; peak memory {}", megabytes(b)));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_demo_store_is_encrypted_under_its_own_key_and_read_back_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lead.db");
        let key = Key::fresh();
        let marker = vec!["加密标记丙".to_string()];
        let raw = |path: &Path| {
            ["", "-wal"]
                .iter()
                .flat_map(|suffix| {
                    let mut p = path.as_os_str().to_owned();
                    p.push(suffix);
                    std::fs::read(PathBuf::from(p)).unwrap_or_default()
                })
                .collect::<Vec<u8>>()
        };
        // The bytes on disk hide it; the pages decrypted with the store's
        // key show it, with another key nothing.
        let check = |when: &str| {
            let bytes = raw(&path);
            assert!(!bytes.starts_with(b"SQLite format 3\0"), "{when}");
            assert!(
                !bytes
                    .windows(marker[0].len())
                    .any(|w| w == marker[0].as_bytes()),
                "{when}"
            );
            assert_eq!(in_files(&path, &key, &marker).unwrap(), 1, "{when}");
            assert_eq!(in_files(&path, &Key::fresh(), &marker).unwrap(), 0);
        };
        let store = Store::open(&path, lead_options(&key)).unwrap();
        store.set_device_name(&marker[0]).unwrap();
        check("store open");
        drop(store);
        check("store closed");
    }

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
        // The erasure reached every replica and left none of its ids behind.
        let e = &r.erasure;
        assert_eq!(e.replicas_followed, 3, "{e:?}");
        assert!(e.members > 0 && e.ids_found_before > 0, "{e:?}");
        assert_eq!(e.ids_left_after, 0, "{e:?}");
        // Every cell's draft of the last day equals the hand count, and the
        // reports filed (as planned, from the same figures) are not flagged.
        assert!(
            r.drafts_match,
            "{} cells' drafts differ",
            r.drafts_differing
        );
        assert_eq!(r.reports_flagged, 0);
        // The county seat's buildings and units are there whatever the
        // size; its cells roll up by unit and add up.
        let cs = &r.county_seat;
        assert_eq!(
            (
                cs.communities,
                cs.buildings,
                cs.units,
                cs.building_heads,
                cs.unit_heads
            ),
            (5, 103, 198, 103, 198)
        );
        assert_eq!(cs.reported + cs.missing, cs.cells as i64);
        assert!(cs
            .units_rollup
            .iter()
            .all(|u| u.path.split('/').count() == 5));
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
        // Phases in order, one edit and one sync phase per day, adding up to
        // the whole run.
        let names: Vec<&str> = r.phases.iter().map(|p| p.phase.as_str()).collect();
        assert_eq!(
            names,
            [
                "plan",
                "set-up",
                "2026-11-30: edits",
                "2026-11-30: sync",
                "2026-12-01: edits",
                "2026-12-01: sync",
                "report drafts",
                "rollup",
                "erasure",
                "clean-up"
            ]
        );
        let sum: f64 = r.phases.iter().map(|p| p.seconds).sum();
        assert!(
            sum <= r.seconds && sum > r.seconds * 0.9,
            "{sum} of {}",
            r.seconds
        );
        assert!(json["phases"][1]["seconds"].as_f64().is_some());
    }
}
