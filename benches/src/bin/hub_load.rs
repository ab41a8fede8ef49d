//! Hub load benchmark (d): a township hub absorbing 2,903 lead devices, each
//! syncing one day's offline edits of its cell, with no error and no lost
//! change, against a baseline measured in the same run.
//!
//! Set-up (not timed): the hub store holds every cell with `--history` days
//! of activity; each lead's phone (a real SQLite file) is enrolled, has
//! synced its cell once, and then plays one day offline (visits, member
//! edits, the daily report).
//!
//! Timed: `--clients` threads run every lead's sync session against the hub
//! — over HTTP to a real hub on a loopback port (`--transport http`, the
//! default) or in-process (`--transport local`). Then every lead's heads
//! must equal the hub's.
//!
//! Baseline: the same changes absorbed by raw automerge + rusqlite — load
//! the cell from a snapshot row, apply the change bytes, write them as a row,
//! one fsynced transaction per device — single-threaded, the least a durable
//! hub could do per device with no protocol at all.
//!
//! Backends: the SQLite store (`--backend sqlite`, the default) or
//! PostgreSQL (`--backend postgres [--processes N] [--postgres URL]`): N hub
//! servers, each with a storage of its own (its own connection pool and
//! document cache, as separate processes have) over one database, devices
//! spread over them. Without `--postgres` the throwaway cluster of
//! `.ci/postgres` is started, and the benchmark works in a database of its
//! own that it drops afterwards.
//!
//! Run: `cargo run --release -p silin-bench --bin hub_load [-- --cells N
//! --history DAYS --clients N --transport http|local --backend
//! sqlite|postgres --processes N --encrypted]` (`--encrypted`: the SQLite
//! hub's store under a raw key, as `silin` makes hub stores).

use automerge::Automerge;
use rusqlite::{params, Connection};
use serde_json::json;
use silin_bench::*;
use silin_core::identity::Role;
use silin_core::identity::Scope;
use silin_core::sync::{sync_local, sync_replicas};
use silin_core::{Durability, Replica, Store, StoreOptions};
use silin_hub::pg::{PgSessions, PgStorage};
use silin_hub::storage::HubStorage;
use silin_workload::Workload;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A 32-byte raw key in hex (`--encrypted`): SQLCipher uses it without its
/// key derivation, as with the key file `silin` writes beside a hub store.
const KEY: &str = "5a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff0";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cells: usize = arg("--cells", 2903);
    let history: u32 = arg("--history", 7);
    let clients: usize = arg("--clients", 4);
    let transport: String = arg("--transport", "http".to_string());
    let backend: String = arg("--backend", "sqlite".to_string());
    let processes: usize = arg("--processes", 1);
    // The SQLite hub's store under a raw key, as `silin` makes hub stores.
    let encrypted = std::env::args().any(|a| a == "--encrypted");
    let hub_options = |cache, durability| StoreOptions {
        key: encrypted.then(|| silin_core::StoreKey::new(KEY)),
        ..options(cache, durability)
    };
    let postgres = match backend.as_str() {
        "sqlite" => None,
        "postgres" => Some(BenchDatabase::create(arg("--postgres", String::new()))?),
        other => return Err(format!("--backend {other}: sqlite or postgres").into()),
    };
    let dir = tempfile::tempdir()?;
    let t0 = Instant::now();
    let workload = Workload::generate(20261129, cells);
    // Built without fsync, then reopened as a hub runs: synchronous=FULL.
    let hub_path = dir.path().join("hub.db");
    let (ids, office) = {
        let hub = Store::open(&hub_path, hub_options(1024, Durability::Normal))?;
        build_hub(&hub, &workload, history)?
    };
    let hub = Arc::new(Store::open(&hub_path, hub_options(4096, Durability::Full))?);
    // Each "process" a storage of its own over the one database.
    let pgs: Vec<Arc<PgStorage>> = match &postgres {
        None => Vec::new(),
        Some(db) => {
            let first = PgStorage::connect(&db.url, 16)?;
            first.migrate()?;
            first.enrol_hub(&office, &Scope::everything())?;
            for id in &ids {
                first.merge_from(&hub.save_doc(id)?, None, false)?;
            }
            let mut all = vec![Arc::new(first)];
            for _ in 1..processes.max(1) {
                let p = PgStorage::connect(&db.url, 16)?;
                p.enrol_hub(&office, &Scope::everything())?;
                all.push(Arc::new(p));
            }
            all
        }
    };
    // What the leads sync with: the SQLite hub, or the first PostgreSQL one.
    let replica: &(dyn Replica + Sync) = match pgs.first() {
        Some(p) => p.as_ref(),
        None => hub.as_ref(),
    };
    eprintln!(
        "hub built ({backend}): {cells} cells × {history} days in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let mut planner = workload.planner();
    let plan = (0..=history)
        .map(|_| planner.next_day())
        .last()
        .ok_or("no day")?;
    let mut leads = Vec::with_capacity(cells);
    let mut expected_changes = Vec::with_capacity(cells);
    for (i, id) in ids.iter().enumerate() {
        let lead = Store::open(
            dir.path().join(format!("lead-{i}.db")),
            options(2, Durability::Normal),
        )?;
        enrol(&lead, &office, Role::Lead, vec![id.clone()])?;
        sync_replicas(&lead, replica, None)?;
        let base = replica.heads(id)?;
        play_day(&lead, &lead, &ids, &plan, Some(&[i]))?;
        expected_changes.push((replica.save_doc(id)?, lead.changes_after(id, &base)?));
        leads.push(lead);
    }
    eprintln!(
        "{cells} lead phones ready in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // Baseline: raw automerge + rusqlite, one fsynced transaction per device.
    let raw = Connection::open(dir.path().join("raw.db"))?;
    raw.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE snap (id TEXT PRIMARY KEY, bytes BLOB NOT NULL);
         CREATE TABLE chunk (id TEXT NOT NULL, seq INTEGER NOT NULL, bytes BLOB NOT NULL);",
    )?;
    for (id, (snap, _)) in ids.iter().zip(&expected_changes) {
        raw.execute("INSERT INTO snap VALUES (?1, ?2)", params![id, snap])?;
    }
    let t = Instant::now();
    for (id, (_, changes)) in ids.iter().zip(&expected_changes) {
        let tx = raw.unchecked_transaction()?;
        let snap: Vec<u8> =
            tx.query_row("SELECT bytes FROM snap WHERE id = ?1", [id], |r| r.get(0))?;
        let mut doc = Automerge::load(&snap)?;
        let heads = doc.get_heads();
        doc.load_incremental(changes)?;
        let chunk = doc.save_after(&heads);
        tx.execute("INSERT INTO chunk VALUES (?1, 0, ?2)", params![id, chunk])?;
        tx.commit()?;
    }
    let baseline = t.elapsed().as_secs_f64();

    // Ours.
    let next = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    let (up, down, rts) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let mut servers = Vec::new();
    if transport == "http" && pgs.is_empty() {
        servers.push(silin_hub::server::spawn_with(
            "127.0.0.1:0",
            hub.clone(),
            silin_hub::server::HubConfig::default(),
        )?);
    } else if transport == "http" {
        for p in &pgs {
            let storage: Arc<dyn HubStorage> = p.clone();
            servers.push(silin_hub::server::spawn_storage(
                "127.0.0.1:0",
                storage,
                Arc::new(PgSessions::new(p)),
                office.clone(),
                silin_hub::server::HubConfig::default(),
            )?);
        }
    }
    let urls: Vec<String> = servers.iter().map(|h| h.url()).collect();
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(lead) = leads.get(i) else { break };
                let res = match urls.get(i % urls.len().max(1)) {
                    Some(u) => silin_hub::client::sync(lead, u).map_err(|e| e.to_string()),
                    None if pgs.is_empty() => sync_local(lead, &hub).map_err(|e| e.to_string()),
                    None => sync_replicas(lead, replica, None).map_err(|e| e.to_string()),
                };
                match res {
                    Ok(st) => {
                        up.fetch_add(st.bytes_up, Ordering::Relaxed);
                        down.fetch_add(st.bytes_down, Ordering::Relaxed);
                        rts.fetch_add(st.round_trips, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("lead {i}: {e}");
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let ours = t.elapsed().as_secs_f64();
    for h in servers {
        h.shutdown()?;
    }
    let mut lost = 0;
    for (lead, id) in leads.iter().zip(&ids) {
        if lead.heads(id)? != replica.heads(id)? {
            lost += 1;
        }
    }
    let out = json!({
        "devices": cells,
        "history_days": history,
        "clients": clients,
        "transport": transport,
        "backend": backend,
        "encrypted": encrypted,
        "processes": if pgs.is_empty() { 1 } else { pgs.len() },
        "seconds": ours,
        "syncs_per_second": cells as f64 / ours,
        "errors": errors.load(Ordering::Relaxed),
        "cells_not_converged": lost,
        "bytes_up": up.load(Ordering::Relaxed),
        "bytes_down": down.load(Ordering::Relaxed),
        "round_trips": rts.load(Ordering::Relaxed),
        "baseline_raw_seconds": baseline,
        "baseline_raw_per_second": cells as f64 / baseline,
        "ratio_to_baseline": ours / baseline,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    std::fs::create_dir_all(target_dir().join("silin-bench"))?;
    let name = match &postgres {
        None if encrypted => "hub_load_encrypted.json".to_string(),
        None => "hub_load.json".to_string(),
        Some(_) => format!("hub_load_postgres_{}.json", pgs.len()),
    };
    drop(pgs);
    drop(postgres);
    std::fs::write(
        target_dir().join("silin-bench").join(name),
        serde_json::to_vec_pretty(&out)?,
    )?;
    Ok(())
}
