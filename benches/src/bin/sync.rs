//! Sync benchmark: what a grid worker's phone holding 120 cells sends and
//! receives when it syncs with the hub, against baselines measured in the
//! same run.
//!
//! (a) nothing changed since the last sync: bytes and round trips, with the
//!     two certificates counted apart; baseline: automerge's own sync
//!     protocol run per document with persisted sync states.
//! (b) one day of offline edits in all 120 cells: bytes on the wire against
//!     the size of the raw automerge changes the day made; baseline: the same
//!     automerge sync protocol per document.
//! (c) the same two scenarios through automerge-repo's WebSocket sync server
//!     (benches/automerge-repo, Node), fed the very same documents, when its
//!     npm packages are installed (`npm ci` there).
//!
//! Sessions run in-process through `sync_local`: the bytes are the envelope
//! bodies exactly as `silin sync` POSTs them (HTTP headers not counted, as
//! WebSocket framing is not counted for automerge-repo).
//!
//! Run: `cargo run --release -p silin-bench --bin sync [-- --history DAYS]`.

use automerge::sync::{Message, State, SyncDoc};
use automerge::Automerge;
use serde_json::json;
use silin_bench::*;
use silin_core::identity::Role;
use silin_core::sync::{sync_local, Session};
use silin_core::{Clock, Durability, Store, StoreOptions};
use silin_workload::Workload;
use std::path::Path;
use std::process::Command;

const CELLS: usize = 120;
const SEED: u64 = 20261129;

struct RawRun {
    bytes: usize,
    messages: usize,
    round_trips: usize,
}

/// automerge's sync protocol between two copies of one document until both
/// sides have nothing to send. Messages alternate; a round trip is one
/// message each way.
fn raw_sync(a: &mut Automerge, b: &mut Automerge, sa: &mut State, sb: &mut State) -> RawRun {
    let mut run = RawRun {
        bytes: 0,
        messages: 0,
        round_trips: 0,
    };
    loop {
        let ma = a.generate_sync_message(sa);
        if let Some(m) = ma.clone() {
            let enc = m.encode();
            run.bytes += enc.len();
            run.messages += 1;
            b.receive_sync_message(sb, Message::decode(&enc).expect("own message"))
                .expect("receive");
        }
        let mb = b.generate_sync_message(sb);
        if let Some(m) = mb.clone() {
            let enc = m.encode();
            run.bytes += enc.len();
            run.messages += 1;
            a.receive_sync_message(sa, Message::decode(&enc).expect("own message"))
                .expect("receive");
        }
        if ma.is_none() && mb.is_none() {
            return run;
        }
        run.round_trips += 1;
    }
}

/// Persisted state, as a store would keep it between sessions.
fn persisted(s: &State) -> State {
    State::decode(&s.encode()).expect("state")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let history: u32 = std::env::args()
        .skip_while(|a| a != "--history")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir()?;
    let workload = Workload::generate(SEED, CELLS);
    eprintln!("building {CELLS} cells with {history} days of history…");
    // The workload's days are fixed (from 2026-11-30) and may run past
    // today's date: both stores read their clock at the end of the last day
    // played (the worker's day after the history), so what they record
    // (doses, tests) is never in their future; or at the real time when
    // that is later, so the certificates issued at the real time are valid.
    let tz = chrono::FixedOffset::east_opt(8 * 3600).ok_or("UTC+8")?;
    let end = (workload.start + chrono::Days::new(u64::from(history)))
        .and_hms_opt(21, 0, 0)
        .and_then(|t| t.and_local_timezone(tz).single())
        .ok_or("no such time")?;
    let clock = Clock::starting_at(end.max(chrono::Utc::now().with_timezone(&tz)));
    let open = |name: &str| {
        Store::open(
            dir.path().join(name),
            StoreOptions {
                clock: clock.clone(),
                ..options(256, Durability::Normal)
            },
        )
    };
    let hub = open("hub.db")?;
    let (ids, office) = build_hub(&hub, &workload, history)?;
    let worker = open("worker.db")?;
    let all: Vec<usize> = (0..CELLS).collect();
    enrol(
        &worker,
        &office,
        Role::GridWorker,
        village_scope(&workload, &all),
    )?;

    // First contact: the worker takes its cells whole; a second session
    // settles sync state on both sides, as after any earlier day.
    let first = sync_local(&worker, &hub)?;
    assert_eq!(first.docs_received, CELLS, "worker did not get every cell");
    let certs = worker.certificate()?.map(|c| c.encode().len()).unwrap_or(0)
        + hub.certificate()?.map(|c| c.encode().len()).unwrap_or(0);

    // Baseline documents: raw automerge copies of the same cells, synced once
    // so both sides hold persisted states.
    let mut raw: Vec<(Automerge, Automerge, State, State)> = Vec::new();
    for id in &ids {
        let bytes = hub.save_doc(id)?;
        let mut a = Automerge::load(&bytes)?;
        let mut b = Automerge::load(&bytes)?;
        let (mut sa, mut sb) = (State::new(), State::new());
        raw_sync(&mut a, &mut b, &mut sa, &mut sb);
        raw.push((a, b, persisted(&sa), persisted(&sb)));
    }

    // (a) nothing changed: first as a peer that does not name the hub (both
    // certificates travel whole), then as `silin sync` does, naming it (both
    // certificates referred to).
    let unnamed = {
        let (mut s, hello) = Session::initiate(&worker)?;
        let mut r = Session::accept(&hub)?;
        let reply = r.receive(&hub, &hello)?.ok_or("no reply")?;
        assert!(s.receive(&worker, &reply)?.is_none(), "not one round trip");
        hello.len() + reply.len()
    };
    let a = sync_local(&worker, &hub)?;
    let (mut a_raw_bytes, mut a_raw_msgs, mut a_raw_rt) = (0, 0, 0);
    for (da, db, sa, sb) in raw.iter_mut() {
        let (mut sa2, mut sb2) = (persisted(sa), persisted(sb));
        let r = raw_sync(da, db, &mut sa2, &mut sb2);
        a_raw_bytes += r.bytes;
        a_raw_msgs += r.messages;
        a_raw_rt = a_raw_rt.max(r.round_trips);
    }

    // (b) a day of edits on the worker's phone (the leads' included, as after
    // phone-to-phone syncs in the village).
    let fixture = target_dir().join("silin-bench/sync-fixture");
    let _ = std::fs::remove_dir_all(&fixture);
    std::fs::create_dir_all(fixture.join("base"))?;
    std::fs::create_dir_all(fixture.join("day"))?;
    for id in &ids {
        std::fs::write(fixture.join(format!("base/{id}.am")), hub.save_doc(id)?)?;
    }
    let mut planner = workload.planner();
    let plan = (0..=history)
        .map(|_| planner.next_day())
        .last()
        .expect("a day");
    play_day(&worker, &worker, &ids, &plan, None)?;
    let mut change_bytes = 0;
    let mut changes = 0;
    for (i, id) in ids.iter().enumerate() {
        let base = hub.heads(id)?;
        let day = worker.save_doc(id)?;
        std::fs::write(fixture.join(format!("day/{id}.am")), &day)?;
        let mut doc = Automerge::load(&day)?;
        for c in doc.get_changes(&base) {
            change_bytes += c.raw_bytes().len();
            changes += 1;
        }
        // The same day onto the baseline's worker copy.
        raw[i]
            .0
            .load_incremental(&worker.changes_after(id, &base)?)?;
        let _ = &mut doc;
    }
    let b = sync_local(&worker, &hub)?;
    for id in &ids {
        assert_eq!(
            worker.heads(id)?,
            hub.heads(id)?,
            "cell {id} did not converge"
        );
    }
    let (mut b_raw_bytes, mut b_raw_rt) = (0, 0);
    for (da, db, sa, sb) in raw.iter_mut() {
        let (mut sa2, mut sb2) = (persisted(sa), persisted(sb));
        let r = raw_sync(da, db, &mut sa2, &mut sb2);
        b_raw_bytes += r.bytes;
        b_raw_rt = b_raw_rt.max(r.round_trips);
    }

    // (c) automerge-repo, if installed.
    let repo = automerge_repo(&fixture);

    let a_total = a.bytes_up + a.bytes_down;
    let b_total = b.bytes_up + b.bytes_down;
    let out = json!({
        "cells": CELLS,
        "history_days": history,
        "certificates_bytes": certs,
        "nothing_changed": {
            "bytes": a_total,
            "bytes_with_certificates_sent": unnamed,
            "bytes_besides_certificates": unnamed.saturating_sub(certs),
            "round_trips": a.round_trips,
            "automerge_sync_bytes": a_raw_bytes,
            "automerge_sync_messages": a_raw_msgs,
            "automerge_sync_round_trips": a_raw_rt,
        },
        "day": {
            "changes": changes,
            "raw_change_bytes": change_bytes,
            "bytes": b_total,
            "bytes_up": b.bytes_up,
            "bytes_down": b.bytes_down,
            "round_trips": b.round_trips,
            "ratio_to_raw_changes": b_total as f64 / change_bytes.max(1) as f64,
            "automerge_sync_bytes": b_raw_bytes,
            "automerge_sync_round_trips": b_raw_rt,
        },
        "automerge_repo": repo,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    eprintln!();
    eprintln!("(a) nothing changed, {CELLS} cells: {a_total} B, {} round trip(s) (certificates sent whole: {unnamed} B, {} B besides them); automerge sync per doc: {a_raw_bytes} B in {a_raw_msgs} messages",
        a.round_trips, unnamed.saturating_sub(certs));
    eprintln!("(b) one day, {changes} changes of {change_bytes} B: {b_total} B on the wire = {:.3}× the raw changes, {} round trips; automerge sync per doc: {b_raw_bytes} B",
        b_total as f64 / change_bytes.max(1) as f64, b.round_trips);
    if let Some(r) = out["automerge_repo"].as_object() {
        let ra = r["nothing_changed"]["bytes_up"].as_u64().unwrap_or(0)
            + r["nothing_changed"]["bytes_down"].as_u64().unwrap_or(0);
        let rb = r["day"]["bytes_up"].as_u64().unwrap_or(0)
            + r["day"]["bytes_down"].as_u64().unwrap_or(0);
        eprintln!(
            "(c) automerge-repo: nothing changed {ra} B = {:.1}× ours; day {rb} B = {:.3}× ours",
            ra as f64 / a_total.max(1) as f64,
            rb as f64 / b_total.max(1) as f64
        );
    }
    std::fs::write(
        target_dir().join("silin-bench/sync.json"),
        serde_json::to_vec_pretty(&out)?,
    )?;
    Ok(())
}

/// Runs the Node baseline on the fixture; `null` when Node or its packages
/// are missing (said on stderr).
fn automerge_repo(fixture: &Path) -> serde_json::Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("automerge-repo");
    if !dir.join("node_modules").exists() {
        eprintln!(
            "(c) skipped: run `npm ci` in {} to measure automerge-repo",
            dir.display()
        );
        return serde_json::Value::Null;
    }
    let out = Command::new("node")
        .arg(dir.join("sync-baseline.mjs"))
        .arg("--fixture")
        .arg(fixture)
        .output();
    match out {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            eprintln!("(c) automerge-repo printed no JSON: {e}");
            serde_json::Value::Null
        }),
        Ok(o) => {
            eprintln!(
                "(c) automerge-repo failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            serde_json::Value::Null
        }
        Err(e) => {
            eprintln!("(c) skipped: node not runnable: {e}");
            serde_json::Value::Null
        }
    }
}
