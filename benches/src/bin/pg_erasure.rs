//! What an erasure costs on a PostgreSQL hub, against the same erasure on
//! a SQLite hub of the same cells and against its own floor, measured in
//! the same run.
//!
//! A SQLite hub of CELLS cells with HISTORY days of activity, and a
//! PostgreSQL hub holding the same documents. For ROUNDS cells in turn,
//! one household is erased on each:
//!
//! - on PostgreSQL, `PgStorage::issue_erasure` (the order, the new epoch,
//!   the lineage and rows replaced in one transaction, then the tables
//!   rewritten) against `PgStorage::purge` alone (`VACUUM FULL` of those
//!   tables, the floor);
//! - on SQLite, `Store::issue_erasure` of the same household (the
//!   baseline an office knows).
//!
//! Then a retention pass over every cell on each (health checks older than
//! half the history).
//!
//! Run: `cargo run --release -p silin-bench --bin pg_erasure [-- CELLS HISTORY ROUNDS]`
//! (PostgreSQL as for `hub_load`: `SILIN_TEST_POSTGRES`, else the
//! throwaway cluster of `.ci/postgres`). Writes
//! `target/silin-bench/pg_erasure.json`.

use serde_json::json;
use silin_bench::*;
use silin_core::erasure::{Retention, Subject};
use silin_core::identity::Scope;
use silin_core::{Durability, Replica, Store};
use silin_hub::pg::PgStorage;
use silin_workload::Workload;
use std::time::Duration;

const SEED: u64 = 20261206;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let cells: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let history: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(9);
    let database = BenchDatabase::create(String::new())?;
    let dir = tempfile::tempdir()?;
    let workload = Workload::generate(SEED, cells);
    eprintln!("pg_erasure: {cells} cells with {history} days on each hub");
    let end = history_end(&workload, history).ok_or("no such time")?;
    let clock = silin_core::Clock::starting_at(end);
    let hub = Store::open(
        dir.path().join("hub.db"),
        silin_core::StoreOptions {
            clock: clock.clone(),
            ..options(cells + 8, Durability::Full)
        },
    )?;
    let (ids, office) = build_hub(&hub, &workload, history)?;
    hub.compact_all()?;
    let pg = PgStorage::connect_with(
        &database.url,
        4,
        silin_hub::pg::PgOptions {
            clock,
            ..Default::default()
        },
    )?;
    pg.migrate()?;
    pg.enrol_hub(&office, &Scope::everything())?;
    for id in &ids {
        pg.merge_from(&hub.save_doc(id)?, None, false)?;
    }

    let (mut on_pg, mut floor, mut on_sqlite) = (Vec::new(), Vec::new(), Vec::new());
    let step = (ids.len() / rounds.max(1)).max(1);
    for round in 0..rounds.min(ids.len()) {
        let cell = &ids[round * step];
        let household = hub
            .cell(cell)?
            .households
            .last()
            .map(|h| h.id.clone())
            .ok_or("a cell without households")?;
        let subjects = || vec![Subject::Household(household.clone())];
        let (_, d) = timed(|| pg.purge())?;
        floor.push(d);
        let (_, d) = timed(|| pg.issue_erasure(cell, subjects(), "benchmark"))?;
        on_pg.push(d);
        let (_, d) = timed(|| hub.issue_erasure(&office.key, cell, subjects(), "benchmark"))?;
        on_sqlite.push(d);
    }

    let policy = Retention {
        checks_days: i64::from(history / 2),
        monitoring_days: 14,
    };
    let today = workload.start + chrono::Days::new(u64::from(history));
    let (pg_orders, pg_retain) = timed(|| pg.apply_retention(&policy, today, "benchmark"))?;
    let (sqlite_orders, sqlite_retain) =
        timed(|| hub.apply_retention(&office.key, &policy, today, "benchmark"))?;
    if pg_orders.len() != sqlite_orders.len() {
        return Err(format!(
            "retention erased from {} cells on PostgreSQL and {} on SQLite",
            pg_orders.len(),
            sqlite_orders.len()
        )
        .into());
    }

    let m = |v: &Vec<Duration>| ms(median(v.clone()));
    let report = json!({
        "cells": cells,
        "history_days": history,
        "rounds": rounds,
        "erasure": {
            "postgres_ms": m(&on_pg),
            "postgres_vacuum_full_ms": m(&floor),
            "sqlite_ms": m(&on_sqlite),
            "postgres_over_vacuum_full": m(&on_pg) / m(&floor),
            "postgres_over_sqlite": m(&on_pg) / m(&on_sqlite),
        },
        "retention": {
            "cells": pg_orders.len(),
            "postgres_ms": ms(pg_retain),
            "sqlite_ms": ms(sqlite_retain),
            "postgres_over_sqlite": ms(pg_retain) / ms(sqlite_retain),
        },
    });
    let out = target_dir().join("silin-bench");
    std::fs::create_dir_all(&out)?;
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(out.join("pg_erasure.json"), &text)?;
    println!("{text}");
    drop(pg);
    drop(database);
    Ok(())
}
