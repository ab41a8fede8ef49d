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
//! Run: `cargo run --release -p silin-bench --bin hub_load [-- --cells N
//! --history DAYS --clients N --transport http|local]`.

use automerge::Automerge;
use rusqlite::{params, Connection};
use serde_json::json;
use silin_bench::*;
use silin_core::identity::Role;
use silin_core::sync::sync_local;
use silin_core::{Durability, Store};
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cells: usize = arg("--cells", 2903);
    let history: u32 = arg("--history", 7);
    let clients: usize = arg("--clients", 4);
    let transport: String = arg("--transport", "http".to_string());
    let dir = tempfile::tempdir()?;
    let t0 = Instant::now();
    let workload = Workload::generate(20261129, cells);
    // Built without fsync, then reopened as a hub runs: synchronous=FULL.
    let hub_path = dir.path().join("hub.db");
    let (ids, office) = {
        let hub = Store::open(&hub_path, options(1024, Durability::Normal))?;
        build_hub(&hub, &workload, history)?
    };
    let hub = Arc::new(Store::open(&hub_path, options(4096, Durability::Full))?);
    eprintln!(
        "hub built: {cells} cells × {history} days in {:.1} s",
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
        sync_local(&lead, &hub)?;
        let base = hub.heads(id)?;
        play_day(&lead, &lead, &ids, &plan, Some(&[i]))?;
        expected_changes.push((hub.save_doc(id)?, lead.changes_after(id, &base)?));
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
    let server = if transport == "http" {
        Some(silin_hub::server::spawn_with(
            "127.0.0.1:0",
            hub.clone(),
            silin_hub::server::HubConfig::default(),
        )?)
    } else {
        None
    };
    let url = server.as_ref().map(|h| h.url());
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(lead) = leads.get(i) else { break };
                let res = match &url {
                    Some(u) => silin_hub::client::sync(lead, u).map_err(|e| e.to_string()),
                    None => sync_local(lead, &hub).map_err(|e| e.to_string()),
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
    if let Some(h) = server {
        h.shutdown()?;
    }
    let mut lost = 0;
    for (lead, id) in leads.iter().zip(&ids) {
        if lead.heads(id)? != hub.heads(id)? {
            lost += 1;
        }
    }
    let out = json!({
        "devices": cells,
        "history_days": history,
        "clients": clients,
        "transport": transport,
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
    std::fs::write(
        target_dir().join("silin-bench/hub_load.json"),
        serde_json::to_vec_pretty(&out)?,
    )?;
    Ok(())
}
