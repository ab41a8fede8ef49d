//! What the trust boundary's checks cost when a peer's changes are merged,
//! against the merge itself, measured in the same run.
//!
//! A hub holding CELLS cells with HISTORY days of activity takes one day of
//! a lead's offline edits per cell (the day a lead's phone brings in):
//!
//! - per cell, on the decoded document: automerge applying the day's
//!   changes (the baseline), then each check the store runs on top — the
//!   guard walking the bytes, the write rules (automerge's diff from the held
//!   heads, classified and checked), the merged-document validation as the
//!   store runs it (only what the diff shows) and, for comparison, the
//!   whole-document walk it replaced;
//! - end to end through the store (SQLite, projections, `Durability::Normal`):
//!   the same day applied to two identical hubs, one as an office tool would
//!   (no write rules) and one as sync does for a lead (with them),
//!   interleaved cell by cell.
//!
//! Run: `cargo run --release -p silin-bench --bin checks [-- CELLS HISTORY]`.
//! Writes `target/silin-bench/checks.json`.

use serde_json::json;
use silin_bench::*;
use silin_core::cell::CellDoc;
use silin_core::identity::Role;
use silin_core::{Durability, Store};
use silin_workload::{apply_actions, Workload};
use std::time::{Duration, Instant};

const SEED: u64 = 20261129;

fn main() -> silin_core::Result<()> {
    let mut args = std::env::args().skip(1);
    let cells: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(120);
    let history: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let dir = tempfile::tempdir()?;
    let workload = Workload::generate(SEED, cells);

    eprintln!("checks: building a hub of {cells} cells with {history} days");
    let hub = Store::open(
        dir.path().join("hub.db"),
        options(cells + 8, Durability::Normal),
    )?;
    let (ids, _) = build_hub(&hub, &workload, history)?;
    // Two more hubs with the same documents, and an unenrolled phone
    // standing in for the leads, which plays the next day.
    let copy = |name: &str| -> silin_core::Result<Store> {
        let s = Store::open(
            dir.path().join(name),
            options(cells + 8, Durability::Normal),
        )?;
        for id in &ids {
            s.merge_bytes(&hub.save_doc(id)?)?;
        }
        Ok(s)
    };
    let plain = copy("plain.db")?;
    let ruled = copy("ruled.db")?;
    let phone = copy("phone.db")?;
    let mut planner = workload.planner();
    for _ in 0..history {
        planner.next_day();
    }
    let plan = planner.next_day();
    for p in &plan.cells {
        apply_actions(&phone, &ids[p.cell], &p.lead)?;
        if p.report.lead_files() {
            phone.submit_report(&ids[p.cell], p.report.new_report(plan.date, "联户长", true))?;
        }
    }
    let days: Vec<(Vec<u8>, Vec<u8>)> = ids
        .iter()
        .map(|id| Ok((hub.save_doc(id)?, phone.changes_after(id, &hub.heads(id)?)?)))
        .collect::<silin_core::Result<_>>()?;
    let changes_bytes: usize = days.iter().map(|(_, c)| c.len()).sum();

    // Per cell, on the decoded document. Five rounds, the median kept.
    let actor = automerge::ActorId::random();
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let (mut merge, mut guard, mut rules, mut valid, mut whole) = (
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
        );
        for (doc, changes) in &days {
            let mut d = CellDoc::load(doc, &actor)?;
            let before = d.heads();
            let t = Instant::now();
            silin_core::guard::saved(changes).expect("our own changes pass the guard");
            guard += t.elapsed();
            let t = Instant::now();
            d.apply_bytes(changes)?;
            merge += t.elapsed();
            let t = Instant::now();
            let patches = d.diff_since(&before);
            let effects = d.effects(&patches, &before);
            silin_core::rules::check(Role::Lead, &effects).expect("a lead's own day passes");
            rules += t.elapsed();
            let t = Instant::now();
            d.check_patches(&patches)?;
            d.check_reloads(&before)?;
            valid += t.elapsed();
            let t = Instant::now();
            d.check_merged()?;
            whole += t.elapsed();
        }
        rounds.push([merge, guard, rules, valid, whole]);
    }
    let median = |i: usize| {
        let mut v: Vec<Duration> = rounds.iter().map(|r| r[i]).collect();
        v.sort();
        v[v.len() / 2]
    };
    let (merge, guard, rules, valid, whole) =
        (median(0), median(1), median(2), median(3), median(4));

    // End to end, interleaved: the same changes into two identical hubs.
    let (mut t_plain, mut t_ruled) = (Duration::ZERO, Duration::ZERO);
    for (id, (_, changes)) in ids.iter().zip(&days) {
        let t = Instant::now();
        assert!(plain.apply_changes(id, changes)?);
        t_plain += t.elapsed();
        let t = Instant::now();
        assert!(ruled.absorb_from(id, Some(Role::Lead), |d| d.apply_bytes(changes).map(|_| ()))?);
        t_ruled += t.elapsed();
    }

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!("{cells} cells, {history} days held, one day of a lead's edits each ({changes_bytes} bytes of changes)");
    println!("per cell, decoded (median of 5 rounds, all cells):");
    println!(
        "  automerge applies the changes   {:>9.2} ms  (baseline)",
        ms(merge)
    );
    println!(
        "  guard walks the bytes           {:>9.2} ms  {:.3}×",
        ms(guard),
        ratio(guard, merge)
    );
    println!(
        "  write rules (diff + table)      {:>9.2} ms  {:.3}×",
        ms(rules),
        ratio(rules, merge)
    );
    println!(
        "  validation from the diff, reload {:>8.2} ms  {:.3}×",
        ms(valid),
        ratio(valid, merge)
    );
    println!(
        "  (whole-document walk, before)   {:>9.2} ms  {:.3}×",
        ms(whole),
        ratio(whole, merge)
    );
    println!("through the store (SQLite, projections, Durability::Normal):");
    println!(
        "  without write rules             {:>9.2} ms  (baseline)",
        ms(t_plain)
    );
    println!(
        "  with write rules (as sync)      {:>9.2} ms  {:.3}×",
        ms(t_ruled),
        ratio(t_ruled, t_plain)
    );
    let out = json!({
        "cells": cells,
        "history_days": history,
        "changes_bytes": changes_bytes,
        "decoded_ms": {"merge": ms(merge), "guard": ms(guard), "rules": ms(rules), "validation": ms(valid), "whole_walk": ms(whole)},
        "store_ms": {"without_rules": ms(t_plain), "with_rules": ms(t_ruled)},
    });
    let path = target_dir().join("silin-bench");
    std::fs::create_dir_all(&path)?;
    std::fs::write(
        path.join("checks.json"),
        serde_json::to_vec_pretty(&out).unwrap_or_default(),
    )?;
    Ok(())
}
