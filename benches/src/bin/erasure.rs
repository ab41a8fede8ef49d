//! What an erasure costs, against what it is made of, measured in the same
//! run on the same files.
//!
//! A hub of CELLS cells with HISTORY days of activity, and a grid worker's
//! phone holding the same cells (its copies synced, so it holds every
//! order's cut). For ROUNDS cells in turn, one household is erased:
//!
//! - at the hub, `Store::issue_erasure` (rebuild the epoch, replace the
//!   lineage, rewrite the file) against `Store::vacuum` on the same file
//!   (the rewrite alone, the floor) and one durable visit (an everyday
//!   write);
//! - in memory, the epoch's rebuild alone (`CellDoc::next_epoch`) against
//!   saving the same document whole (`CellDoc::save`);
//! - on the phone, following the order (`take_erasure_orders`: verify,
//!   rebuild, check the hash, replace, rewrite) against the same phone's
//!   `vacuum`.
//!
//! Then a retention pass over every cell (`apply_retention`, health checks
//! older than half the history) against one `vacuum`, and the hub file's
//! size before and after.
//!
//! Run: `cargo run --release -p silin-bench --bin erasure [-- CELLS HISTORY ROUNDS]`.
//! Writes `target/silin-bench/erasure.json`.

use serde_json::json;
use silin_bench::*;
use silin_core::erasure::{Erased, Retention, Subject};
use silin_core::identity::Role;
use silin_core::model::{NewVisit, VisitKind};
use silin_core::sync::sync_local;
use silin_core::{Durability, Store};
use silin_workload::Workload;
use std::time::Duration;

const SEED: u64 = 20261205;

fn main() -> silin_core::Result<()> {
    let mut args = std::env::args().skip(1);
    let cells: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let history: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(9);
    let dir = tempfile::tempdir()?;
    let workload = Workload::generate(SEED, cells);
    eprintln!("erasure: a hub of {cells} cells with {history} days");
    // Every device on a clock at the end of the history, as the days it
    // plays (doses, arrivals) are not in its future.
    let end = history_end(&workload, history)
        .ok_or_else(|| silin_core::Error::Incompatible("no such time".into()))?;
    let open = |name: &str| {
        Store::open(
            dir.path().join(name),
            silin_core::StoreOptions {
                clock: silin_core::Clock::starting_at(end),
                ..options(cells + 8, Durability::Normal)
            },
        )
    };
    let hub_path = dir.path().join("hub.db");
    let hub = open("hub.db")?;
    let (ids, office) = build_hub(&hub, &workload, history)?;
    let phone = open("phone.db")?;
    enrol(&phone, &office, Role::GridWorker, vec!["*".into()])?;
    sync_local(&phone, &hub).map_err(|e| silin_core::Error::Incompatible(e.to_string()))?;
    hub.compact_all()?;
    hub.vacuum()?;
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let hub_bytes_before = size(&hub_path);

    let (mut issue, mut vacuum, mut visit) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rebuild, mut save) = (Vec::new(), Vec::new());
    let (mut follow, mut phone_vacuum) = (Vec::new(), Vec::new());
    let step = (ids.len() / rounds.max(1)).max(1);
    for round in 0..rounds.min(ids.len()) {
        let cell = &ids[round * step];
        let household = hub
            .cell(cell)?
            .households
            .last()
            .map(|h| h.id.clone())
            .ok_or_else(|| silin_core::Error::not_found("household", cell))?;
        // In memory: the rebuild alone, and a whole save of the same document.
        let (_, d) = timed(|| {
            hub.with_doc(cell, |doc| {
                let mut erased = Erased::default();
                erased.add(&[Subject::Household(household.clone())]);
                let cut = doc.heads();
                doc.erased_members(&mut erased, Some(&cut));
                let actor = automerge::ActorId::random();
                doc.next_epoch(&cut, &erased, doc.epoch() + 1, 0, &actor)
                    .map(|_| ())
            })
        })?;
        rebuild.push(d);
        let (_, d) = timed(|| hub.with_doc(cell, |doc| Ok(doc.save().len())))?;
        save.push(d);
        // On the hub's file: an everyday write, the rewrite alone, the order.
        let (_, d) = timed(|| {
            let mut v = NewVisit::new(VisitKind::DoorKnock, hub.clock().now(), "网格员");
            v.household_id = Some(household.clone());
            hub.record_visit(cell, v)
        })?;
        visit.push(d);
        // The phone syncs first, so it holds the cut the office will make.
        sync_local(&phone, &hub).map_err(|e| silin_core::Error::Incompatible(e.to_string()))?;
        let (_, d) = timed(|| hub.vacuum())?;
        vacuum.push(d);
        let (order, d) = timed(|| {
            hub.issue_erasure(
                &office.key,
                cell,
                vec![Subject::Household(household.clone())],
                "benchmark",
            )
        })?;
        issue.push(d);
        // The phone follows the order as a session would hand it over.
        let (_, d) = timed(|| phone.vacuum())?;
        phone_vacuum.push(d);
        let (taken, d) = timed(|| phone.take_erasure_orders(std::slice::from_ref(&order)))?;
        if taken.applied.len() != 1 {
            return Err(silin_core::Error::Incompatible(format!(
                "the phone did not follow the order itself: {taken:?}"
            )));
        }
        follow.push(d);
    }
    let hub_bytes_after_orders = size(&hub_path);

    // Retention over every cell: health checks older than half the history.
    let policy = Retention {
        checks_days: i64::from(history / 2),
        monitoring_days: 14,
    };
    let today = workload.start + chrono::Days::new(u64::from(history));
    let (_, vacuum_once) = timed(|| hub.vacuum())?;
    let (orders, retain) = timed(|| hub.apply_retention(&office.key, &policy, today, "benchmark"))?;
    let records: usize = orders.iter().map(|o| o.subjects.len()).sum();
    let hub_bytes_after_retention = size(&hub_path);

    let m = |v: &Vec<Duration>| ms(median(v.clone()));
    let report = json!({
        "cells": cells,
        "history_days": history,
        "rounds": rounds,
        "hub": {
            "issue_erasure_ms": m(&issue),
            "vacuum_ms": m(&vacuum),
            "durable_visit_ms": m(&visit),
            "issue_over_vacuum": m(&issue) / m(&vacuum),
            "issue_over_visit": m(&issue) / m(&visit),
        },
        "in_memory": {
            "next_epoch_ms": m(&rebuild),
            "save_ms": m(&save),
            "next_epoch_over_save": m(&rebuild) / m(&save),
        },
        "phone": {
            "follow_ms": m(&follow),
            "vacuum_ms": m(&phone_vacuum),
            "follow_over_vacuum": m(&follow) / m(&phone_vacuum),
        },
        "retention": {
            "cells": orders.len(),
            "records": records,
            "ms": ms(retain),
            "vacuum_ms": ms(vacuum_once),
            "over_vacuum": ms(retain) / ms(vacuum_once),
        },
        "hub_bytes": {
            "before": hub_bytes_before,
            "after_orders": hub_bytes_after_orders,
            "after_retention": hub_bytes_after_retention,
        },
    });
    let out = target_dir().join("silin-bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("erasure.json"),
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    )?;
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    Ok(())
}
