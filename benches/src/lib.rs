//! Shared set-up for silin's sync and hub benchmarks: a county (or a part
//! of one) built deterministically from silin-workload, enrolled devices,
//! and a day of offline edits. The benchmarks themselves are the binaries in
//! src/bin; their results and method are in doc/BENCHMARKS.md.

use silin_core::identity::{Office, Role, Scope};
use silin_core::{Durability, Result, Store, StoreOptions};
use silin_workload::{apply_actions, DayPlan, Workload};
use std::path::Path;
use std::time::Duration;

pub fn options(cache_docs: usize, durability: Durability) -> StoreOptions {
    StoreOptions {
        durability,
        cache_docs,
        ..Default::default()
    }
}

/// The hub's store: creates every cell of `workload` and plays `history`
/// days of activity into it (as if every earlier day had already synced).
/// Returns cell ids by cell index and the office.
pub fn build_hub(
    store: &Store,
    workload: &Workload,
    history: u32,
) -> Result<(Vec<String>, Office)> {
    let office = silin_hub::office::office(store, Some(&Scope::everything()))?;
    let today = workload.start;
    let at = today
        .and_hms_opt(8, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or(0);
    workload.name_levels(store)?;
    let mut ids = Vec::with_capacity(workload.cells.len());
    for spec in &workload.cells {
        let (id, ()) =
            store.create_cell_with(&spec.name, &spec.region_path()?, Some(&spec.lead), |doc| {
                spec.write_to(doc, today, at)
            })?;
        ids.push(id);
    }
    let mut planner = workload.planner();
    for _ in 0..history {
        let plan = planner.next_day();
        play_day(store, store, &ids, &plan, None)?;
    }
    Ok((ids, office))
}

/// Plays one day's plan: the lead's actions and report on `lead`, the grid
/// worker's and the office's on `worker`, for the cells in `only` (all when
/// `None`).
pub fn play_day(
    lead: &Store,
    worker: &Store,
    ids: &[String],
    plan: &DayPlan,
    only: Option<&[usize]>,
) -> Result<()> {
    for p in &plan.cells {
        if only.is_some_and(|o| !o.contains(&p.cell)) {
            continue;
        }
        let id = &ids[p.cell];
        apply_actions(lead, id, &p.lead)?;
        apply_actions(worker, id, &p.grid_worker)?;
        apply_actions(worker, id, &p.office)?;
        if p.report.lead_files() {
            lead.submit_report(id, p.report.new_report(plan.date, "联户长", true))?;
        }
        if p.report.grid_worker_files() {
            worker.submit_report(id, p.report.new_report(plan.date, "网格员", false))?;
        }
    }
    Ok(())
}

/// Enrols `store` with `office`.
pub fn enrol(store: &Store, office: &Office, role: Role, scope: Vec<String>) -> Result<()> {
    let now = chrono::Utc::now().timestamp();
    let scope = Scope::parse(&scope).map_err(|e| silin_core::Error::Incompatible(e.to_string()))?;
    let cert = office.issue(
        &store.device_id(),
        store.device_key()?.public_key(),
        role,
        scope,
        now,
        now + 30 * 86400,
    );
    store
        .install_certificate(&cert, &office.public_key())
        .map_err(|e| silin_core::Error::Incompatible(e.to_string()))
}

/// The village-level scope (county/township/village) of a workload's cells.
pub fn village_scope(workload: &Workload, cells: &[usize]) -> Vec<String> {
    let mut v: Vec<String> = cells
        .iter()
        .map(|&c| workload.cells[c].path[..3].join("/"))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The middle of `v`'s timings (the upper middle of an even count).
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `f`'s result and how long it took.
pub fn timed<T, E>(
    f: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<(T, Duration), E> {
    let t = std::time::Instant::now();
    let out = f()?;
    Ok((out, t.elapsed()))
}

/// 21:00 (UTC+8) on the day after `history` days of `workload`'s county:
/// where every device's clock stands after the history is played, so
/// nothing it played (doses, arrivals) is in its future.
pub fn history_end(
    workload: &Workload,
    history: u32,
) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let tz = chrono::FixedOffset::east_opt(8 * 3600)?;
    let day = workload.start + chrono::Days::new(u64::from(history));
    day.and_hms_opt(21, 0, 0)?.and_local_timezone(tz).single()
}

pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A database of the benchmark's own on a PostgreSQL server, dropped at the
/// end.
pub struct BenchDatabase {
    admin: String,
    name: String,
    /// Where to connect to it.
    pub url: String,
}

impl BenchDatabase {
    /// On `server` (a connection string), else `SILIN_TEST_POSTGRES`'s,
    /// else the throwaway cluster `.ci/postgres start` gives.
    pub fn create(
        server: String,
    ) -> std::result::Result<BenchDatabase, Box<dyn std::error::Error>> {
        let admin = if !server.is_empty() {
            server
        } else if let Ok(url) = std::env::var("SILIN_TEST_POSTGRES") {
            url
        } else {
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
            let out = std::process::Command::new(format!("{root}/.ci/postgres"))
                .arg("start")
                .current_dir(root)
                .output()?;
            if !out.status.success() {
                return Err(format!(
                    "PostgreSQL could not start: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
                .into());
            }
            String::from_utf8(out.stdout)?
                .lines()
                .last()
                .unwrap_or_default()
                .to_string()
        };
        let name = format!("silin_bench_{}", std::process::id());
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)?;
        client.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let url = format!("{admin} dbname={name}");
        Ok(BenchDatabase { admin, name, url })
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
