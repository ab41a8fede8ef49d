//! What encryption at rest costs the township office: the same hub store,
//! plain and encrypted, under the office's everyday `silin` commands.
//!
//! Set-up (not timed): a hub store of `--cells` cells of the reference
//! county with `--history` days of activity, built plain; a byte copy of it
//! encrypted in place by the real `silin hub encrypt` (as an office upgrades
//! a hub made before stores were encrypted by default), so both hold the
//! same register page for page.
//!
//! Timed: each command run `--rounds` times on each store as a fresh `silin`
//! process (open, the work, exit — what a clerk or a script pays), plain
//! and encrypted alternating so both see the same machine load. The plain
//! store is the baseline; the ratio is encrypted over plain, per command,
//! from the medians. Commands: `cells`, `rollup --level township`, `list
//! monitoring`, `check` (reads every page), and `visit record` (a durable
//! write). The files' sizes are reported too.
//!
//! Run: `cargo build --release -p silin-cli && cargo run --release -p
//! silin-bench --bin at_rest [-- --cells N --history DAYS --rounds N]`. Raw
//! output: `target/silin-bench/at_rest.json`.

use chrono::{Days, FixedOffset, TimeZone};
use serde_json::json;
use silin_bench::*;
use silin_core::{Clock, Durability, Store, StoreOptions};
use silin_workload::Workload;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `silin --store STORE --json ARGS` at `now`; its wall time in ms.
fn run(silin: &Path, store: &Path, now: &str, args: &[&str]) -> Result<f64, String> {
    let t = Instant::now();
    let out = Command::new(silin)
        .arg("--store")
        .arg(store)
        .arg("--json")
        .args(args)
        .env("SILIN_NOW", now)
        .output()
        .map_err(|e| e.to_string())?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        return Err(format!(
            "silin {args:?} on {}: {}",
            store.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(ms)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cells: usize = arg("--cells", 2903);
    let history: u32 = arg("--history", 7);
    let rounds: usize = arg("--rounds", 9);
    let silin: PathBuf = target_dir().join("release").join("silin");
    if !silin.is_file() {
        return Err(format!(
            "no silin binary at {}; run `cargo build --release -p silin-cli` first",
            silin.display()
        )
        .into());
    }
    let dir = tempfile::tempdir()?;
    let workload = Workload::generate(20261129, cells);
    // "Now" is the day after the history, whatever today's date is.
    let day = workload.start + Days::new(u64::from(history));
    let now = FixedOffset::east_opt(8 * 3600)
        .ok_or("offset")?
        .from_local_datetime(&day.and_hms_opt(18, 0, 0).ok_or("time")?)
        .single()
        .ok_or("time")?;
    let plain = dir.path().join("plain.db");
    let t0 = Instant::now();
    let (ids, _) = {
        let hub = Store::open(
            &plain,
            StoreOptions {
                clock: Clock::starting_at(now),
                ..options(1024, Durability::Normal)
            },
        )?;
        // Closed here: its write-ahead log goes into the file copied next.
        build_hub(&hub, &workload, history)?
    };
    let encrypted = dir.path().join("encrypted.db");
    std::fs::copy(&plain, &encrypted)?;
    let now_text = now.to_rfc3339();
    run(&silin, &encrypted, &now_text, &["hub", "encrypt"])?;
    eprintln!(
        "{cells} cells × {history} days built and encrypted in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let date = day.to_string();
    let cell = ids.first().ok_or("no cell")?.clone();
    let commands: Vec<(&str, Vec<&str>)> = vec![
        ("cells", vec!["cells"]),
        (
            "rollup --level township",
            vec!["rollup", "--date", &date, "--level", "township"],
        ),
        (
            "list monitoring",
            vec!["list", "monitoring", "--date", &date],
        ),
        ("check", vec!["check"]),
        (
            "visit record",
            vec!["visit", "record", "--cell", &cell, "--kind", "door_knock"],
        ),
    ];
    let mut results = Vec::new();
    for (name, args) in &commands {
        // One untimed run each: the page cache holds both files alike.
        run(&silin, &plain, &now_text, args)?;
        run(&silin, &encrypted, &now_text, args)?;
        let (mut p, mut e) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            if r % 2 == 0 {
                p.push(run(&silin, &plain, &now_text, args)?);
                e.push(run(&silin, &encrypted, &now_text, args)?);
            } else {
                e.push(run(&silin, &encrypted, &now_text, args)?);
                p.push(run(&silin, &plain, &now_text, args)?);
            }
        }
        let (pm, em) = (median(p.clone()), median(e.clone()));
        eprintln!(
            "{name}: plain {pm:.1} ms, encrypted {em:.1} ms, {:.2}×",
            em / pm
        );
        results.push(json!({
            "command": name,
            "plain_ms_median": pm,
            "encrypted_ms_median": em,
            "ratio": em / pm,
            "plain_ms": p,
            "encrypted_ms": e,
        }));
    }
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let out = json!({
        "cells": cells,
        "history_days": history,
        "rounds": rounds,
        "plain_bytes": size(&plain),
        "encrypted_bytes": size(&encrypted),
        "commands": results,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    std::fs::create_dir_all(target_dir().join("silin-bench"))?;
    std::fs::write(
        target_dir().join("silin-bench").join("at_rest.json"),
        serde_json::to_vec_pretty(&out)?,
    )?;
    Ok(())
}
