//! FFI overhead benchmark, Rust side: recording a health-check visit
//! through silin-core directly, and through the silin-ffi adapter called
//! from Rust (conversions and error mapping, no foreign language), in one
//! process. benches/ffi-overhead runs this and the Kotlin twin
//! (bindings/kotlin/bench) against the same library build and reports the
//! ratio Kotlin / Rust in doc/BENCHMARKS.md.
//!
//! Workload per store: a fresh file, one cell, one household, one member;
//! `--warmup` visits untimed, then `--visits` timed, each
//! record_visit(cell, HealthCheck by "lead", member, 36.6 °C, at now) —
//! one committed, fsynced transaction each, as on a phone. Then the same
//! visits as door-knock rounds of 5 (`record_visits`, one transaction per
//! round), through silin-core only.
//!
//! Run: `cargo run --profile ffi -p silin-bench --bin record_visit [--
//! --visits N --warmup N]`.

use serde_json::json;
use silin_core::model::{NewHousehold, NewMember, NewVisit, RegionPath, VisitKind};
use silin_core::{Store, StoreOptions};
use std::time::Instant;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Per-visit nanoseconds: one visit per call, and rounds of [`ROUND`].
fn core_run(dir: &std::path::Path, warmup: usize, visits: usize) -> (f64, f64) {
    let store = Store::open(dir.join("core.db"), StoreOptions::default()).expect("open");
    let path = RegionPath::parse("county/township/village/group").expect("path");
    let cell = store
        .create_cell("cell", &path, Some("lead"))
        .expect("cell");
    let h = store
        .add_household(&cell, NewHousehold::default())
        .expect("household");
    let today = chrono::Local::now().date_naive();
    let member = NewMember {
        name: "member".into(),
        ..Default::default()
    };
    let m = store.add_member(&h, member, today).expect("member");
    let new_visit = || {
        let mut v = NewVisit::new(
            VisitKind::HealthCheck,
            chrono::Local::now().fixed_offset(),
            "lead",
        );
        v.member_id = Some(m.clone());
        v.temperature = Some(36.6);
        v
    };
    let visit = || {
        store.record_visit(&cell, new_visit()).expect("visit");
    };
    let round = || {
        let five = (0..ROUND).map(|_| new_visit()).collect();
        store.record_visits(&cell, five).expect("round");
    };
    (0..warmup).for_each(|_| visit());
    let t = Instant::now();
    (0..visits).for_each(|_| visit());
    let single = t.elapsed().as_nanos() as f64 / visits as f64;
    (0..warmup / ROUND).for_each(|_| round());
    let t = Instant::now();
    (0..visits / ROUND).for_each(|_| round());
    let rounds = t.elapsed().as_nanos() as f64 / (visits / ROUND * ROUND) as f64;
    (single, rounds)
}

/// Visits in one door-knock round (`record_visits`): a cell's households.
const ROUND: usize = 5;

fn ffi_run(dir: &std::path::Path, warmup: usize, visits: usize) -> f64 {
    use silin_ffi as ffi;
    let path = dir.join("ffi.db").to_string_lossy().into_owned();
    let store = ffi::Store::open(path, None).expect("open");
    let cell = store
        .create_cell(
            "cell".into(),
            "county/township/village/group".into(),
            Some("lead".into()),
        )
        .expect("cell");
    let h = store
        .add_household(
            cell.clone(),
            ffi::NewHousehold {
                address: None,
                door: None,
                phone: None,
            },
        )
        .expect("household");
    let m = store
        .add_member(
            h,
            ffi::NewMember {
                name: "member".into(),
                sex: None,
                birth_year: None,
                id_number: None,
                phone: None,
                relation: None,
                residence: None,
                vulnerable: vec![],
            },
        )
        .expect("member");
    let visit = || {
        store
            .record_visit(
                cell.clone(),
                ffi::NewVisit {
                    kind: ffi::VisitKind::HealthCheck,
                    by: "lead".into(),
                    household_id: None,
                    member_id: Some(m.clone()),
                    at: None,
                    temperature: Some(36.6),
                    symptoms: None,
                    outcome: None,
                    note: None,
                    task_id: None,
                },
            )
            .expect("visit");
    };
    (0..warmup).for_each(|_| visit());
    let t = Instant::now();
    (0..visits).for_each(|_| visit());
    t.elapsed().as_nanos() as f64 / visits as f64
}

fn main() {
    let visits: usize = arg("--visits", 2000);
    let warmup: usize = arg("--warmup", 200);
    let dir = tempfile::tempdir().expect("temp dir");
    let (core, core_round) = core_run(dir.path(), warmup, visits);
    let adapter = ffi_run(dir.path(), warmup, visits);
    println!(
        "{}",
        json!({
            "visits": visits,
            "core_ns_per_visit": core.round(),
            "core_round_ns_per_visit": core_round.round(),
            "adapter_ns_per_visit": adapter.round(),
            "adapter_over_core": (adapter / core * 1000.0).round() / 1000.0,
        })
    );
}
