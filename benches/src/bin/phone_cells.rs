//! A grid worker's phone with 120 cells (issue 15, item 7): the first full
//! sync from the hub, the cold open and first screen of the phone's
//! encrypted store, and the library's resident memory, each against a
//! baseline measured in the same run.
//!
//! Set-up (not timed): a hub store with the 120 cells of the reference
//! county, `--history` days of the workload's activity each, and three tasks
//! per cell from the office (a third of them done), served by `silin-hub` on
//! a loopback port. The phone's store is encrypted with a 32-byte raw key,
//! as an app holding a Keystore/Keychain secret opens it, and enrolled as the
//! grid worker of the cells' villages.
//!
//! 1. First full sync: `Store::sync_with_hub` of the bindings (what the apps
//!    call, minus the foreign-language layer) over HTTP: bytes up and down,
//!    round trips, wall time. Baselines: the 120 documents saved whole
//!    (automerge's compressed format: the least any protocol could send), and
//!    the time to load those documents and write them into an encrypted
//!    SQLite file in one fsynced transaction, with no protocol and no query
//!    tables. The same first sync run in-process (`sync_local`, no HTTP) into
//!    a second phone says how much of the time is the transport.
//! 2. Open + first screen, each in a fresh process (this binary run with
//!    `--child`): `Store::open` on the file with the key, then the list a grid
//!    worker's app shows first — the cells in scope (`cells`) with today's
//!    report status (`cells_missing_report`) — and then the open tasks of
//!    each cell, which the bindings offer only through the cell's full view
//!    (`cell`, one document load per cell). Baselines: the same screen from
//!    a plain rusqlite query on the same file (SQLCipher, same key), and
//!    silin on an empty encrypted store. Warm: the OS page cache holds the
//!    file. Cold (when this process may write `/proc/sys/vm/drop_caches`,
//!    i.e. as root): the page cache is dropped before every child.
//!    Where a full view's time goes is measured in-process too: loading
//!    the 120 documents alone, and core's `cell` with every document cached.
//!    The first screen from the store's own query, `Store::cell_summaries`
//!    (each cell's lead and phone, open tasks, today's report, members under
//!    monitoring; no document read), in fresh processes too, without and
//!    with the residents away not called for 7 days, against the
//!    per-cell-open baseline above in the same run; and the same figures
//!    from each cell's `lead_day` (one document load per cell) in those
//!    processes, checked equal to the query's.
//! 3. Resident memory: `VmRSS` of the child before the open (its baseline),
//!    after the open, after the first screen and after all 120 full views
//!    (the document cache at its fullest), and its `VmHWM`.
//! 4. The lead's day of each of the 120 cells (documents cached), read in
//!    one pass over each cell's log (`Store::lead_day`), against the same
//!    lists read one by one, each reading the log itself (the shape
//!    `lead_day` had before), interleaved round by round.
//!
//! Run: `cargo run --release -p silin-bench --bin phone_cells [-- --history
//! DAYS --opens N --cold-opens N --lead-day-rounds N]`. Raw output:
//! `target/silin-bench/phone_cells.json`.

use automerge::Automerge;
use chrono::{Days, FixedOffset, NaiveDate, TimeZone};
use rusqlite::{params, Connection, OpenFlags};
use serde_json::{json, Value};
use silin_bench::*;
use silin_core::identity::Role;
use silin_core::model::TaskStatus;
use silin_core::register::{ErrandStatus, LeadDay};
use silin_core::sync::sync_local;
use silin_core::{Clock, Durability, Store, StoreKey, StoreOptions};
use silin_ffi as ffi;
use silin_workload::Workload;
use std::collections::HashSet;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

const CELLS: usize = 120;
const SEED: u64 = 20261129;
/// A 32-byte raw key in hex: SQLCipher uses it as is, without its KDF, as an
/// app does with a secret from the Android Keystore or the iOS Keychain.
const KEY: &str = "5a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff0";
/// Residents away not called for this many days are counted on the screen.
const NOT_CALLED_DAYS: i64 = 7;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let (mode, path, day) = match (args.get(2), args.get(3), args.get(4)) {
            (Some(m), Some(p), Some(d)) => (m.as_str(), p.as_str(), d.as_str()),
            _ => return Err("--child MODE PATH DAY".into()),
        };
        let out = match mode {
            "silin" | "empty" => child_silin(path, day)?,
            "raw" => child_raw(path, day)?,
            "summaries" => child_summaries(path, day, false)?,
            "summaries_away" => child_summaries(path, day, true)?,
            other => return Err(format!("unknown child mode {other}").into()),
        };
        println!("{out}");
        return Ok(());
    }
    parent()
}

/// `VmRSS` and `VmHWM` of this process, in kB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn us(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e6
}

/// One row of the first screen.
struct Row {
    id: String,
    name: String,
    reported: bool,
    open_tasks: usize,
}

/// The first screen through the bindings: the cells in scope with today's
/// report status.
fn screen(store: &ffi::Store, day: &str) -> Res<Vec<Row>> {
    let missing: HashSet<String> = store
        .cells_missing_report(day.to_string())?
        .into_iter()
        .map(|c| c.id)
        .collect();
    Ok(store
        .cells(vec![])?
        .into_iter()
        .map(|c| Row {
            reported: !missing.contains(&c.id),
            id: c.id,
            name: c.name,
            open_tasks: 0,
        })
        .collect())
}

/// The open tasks of every row, from each cell's full view (the only way
/// the bindings give a cell's tasks).
fn open_tasks(store: &ffi::Store, rows: &mut [Row]) -> Res<()> {
    for r in rows {
        let view = store.cell(r.id.clone())?;
        r.open_tasks = view
            .tasks
            .iter()
            .filter(|t| t.status == ffi::TaskStatus::Open)
            .count();
    }
    Ok(())
}

fn child_silin(path: &str, day: &str) -> Res<Value> {
    let (rss0, _) = memory();
    let t = Instant::now();
    let store = ffi::Store::open(path.to_string(), Some(KEY.to_string()))?;
    let open = us(t);
    let (rss_open, _) = memory();
    let t = Instant::now();
    let mut rows = screen(&store, day)?;
    let first = us(t);
    let (rss_screen, _) = memory();
    let t = Instant::now();
    open_tasks(&store, &mut rows)?;
    let views = us(t);
    let (rss_views, _) = memory();
    // Both again on the open store: the screen as the app redraws it.
    let t = Instant::now();
    let mut again = black_box(screen(&store, day)?);
    let warm_screen = us(t);
    let t = Instant::now();
    open_tasks(&store, &mut again)?;
    let warm_views = us(t);
    let (rss_end, hwm) = memory();
    store.close();
    Ok(json!({
        "open_us": open,
        "screen_us": first,
        "views_us": views,
        "warm_screen_us": warm_screen,
        "warm_views_us": warm_views,
        "rss0_kb": rss0,
        "rss_open_kb": rss_open,
        "rss_screen_kb": rss_screen,
        "rss_views_kb": rss_views,
        "rss_end_kb": rss_end,
        "hwm_kb": hwm,
        "cells": rows.len(),
        "named": rows.iter().filter(|r| !r.name.is_empty()).count(),
        "reported": rows.iter().filter(|r| r.reported).count(),
        "open_tasks": rows.iter().map(|r| r.open_tasks).sum::<usize>(),
    }))
}

/// The same screen, tasks included, from one plain query on the file.
fn child_raw(path: &str, day: &str) -> Res<Value> {
    let (rss0, _) = memory();
    let t = Instant::now();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(&format!("PRAGMA key = \"x'{KEY}'\";"))?;
    // The first read decrypts page 1, as silin's open does.
    let _: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    let open = us(t);
    let (rss_open, _) = memory();
    let t = Instant::now();
    let mut s = conn.prepare(
        "SELECT c.id, c.name, r.cell_id IS NOT NULL,
                (SELECT count(*) FROM tasks t WHERE t.cell_id = c.id AND t.status = 'open')
         FROM cells c LEFT JOIN reports r ON r.cell_id = c.id AND r.date = ?1
         ORDER BY c.path, c.name, c.id",
    )?;
    let rows = s
        .query_map([day], |r| {
            Ok(Row {
                id: r.get(0)?,
                name: r.get(1)?,
                reported: r.get(2)?,
                open_tasks: r.get::<_, i64>(3)? as usize,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let first = us(t);
    let (rss_screen, hwm) = memory();
    black_box(rows.iter().map(|r| r.id.len()).sum::<usize>());
    Ok(json!({
        "open_us": open,
        "screen_us": first,
        "rss0_kb": rss0,
        "rss_open_kb": rss_open,
        "rss_screen_kb": rss_screen,
        "hwm_kb": hwm,
        "cells": rows.len(),
        "named": rows.iter().filter(|r| !r.name.is_empty()).count(),
        "reported": rows.iter().filter(|r| r.reported).count(),
        "open_tasks": rows.iter().map(|r| r.open_tasks).sum::<usize>(),
    }))
}

fn encrypted(cache_docs: usize) -> StoreOptions {
    StoreOptions {
        key: Some(StoreKey::new(KEY)),
        cache_docs,
        ..StoreOptions::default()
    }
}

/// The first screen from the store's query: open, then `cell_summaries`
/// (no document read), with the residents away not called for 7 days
/// counted when `away`. Then, in the same process, the same figures from
/// each cell's `lead_day` (a document load each), checked equal.
fn child_summaries(path: &str, day: &str, away: bool) -> Res<Value> {
    let date: NaiveDate = day.parse()?;
    let (rss0, _) = memory();
    let t = Instant::now();
    let store = Store::open(path, encrypted(64))?;
    let open = us(t);
    let (rss_open, _) = memory();
    let t = Instant::now();
    let not_called = away.then_some(NOT_CALLED_DAYS);
    let rows = store.cell_summaries(&[], date, not_called)?;
    let first = us(t);
    let (rss_screen, _) = memory();
    let t = Instant::now();
    black_box(store.cell_summaries(&[], date, not_called)?);
    let warm_screen = us(t);
    let t = Instant::now();
    let days = rows
        .iter()
        .map(|r| store.lead_day(&r.cell_id, date, NOT_CALLED_DAYS))
        .collect::<Result<Vec<_>, _>>()?;
    let lead_days = us(t);
    let (rss_end, hwm) = memory();
    let differ = rows
        .iter()
        .zip(&days)
        .filter(|(r, d)| {
            (
                r.open_tasks,
                r.reported,
                r.under_monitoring,
                r.away_not_called,
            ) != (
                d.open_tasks.len() as i64,
                d.report.is_some(),
                d.draft.under_monitoring,
                away.then_some(d.away.len() as i64),
            )
        })
        .count();
    Ok(json!({
        "open_us": open,
        "screen_us": first,
        "warm_screen_us": warm_screen,
        "lead_days_us": lead_days,
        "rss0_kb": rss0,
        "rss_open_kb": rss_open,
        "rss_screen_kb": rss_screen,
        "rss_end_kb": rss_end,
        "hwm_kb": hwm,
        "cells": rows.len(),
        "named": rows.iter().filter(|r| !r.name.is_empty()).count(),
        "reported": rows.iter().filter(|r| r.reported).count(),
        "open_tasks": rows.iter().map(|r| r.open_tasks).sum::<i64>(),
        "under_monitoring": rows.iter().map(|r| r.under_monitoring).sum::<i64>(),
        "away_not_called": rows.iter().filter_map(|r| r.away_not_called).sum::<i64>(),
        "with_lead_phone": rows.iter().filter(|r| r.lead_phone.is_some()).count(),
        "rows_differing_from_lead_day": differ,
    }))
}

/// The lead's day as its lists give it one by one, each reading the cell's
/// log itself: what `Store::lead_day` did before it read the log once (the
/// health list, the check days, the away list, the draft, and the draft
/// again to flag the filed report: five reads).
fn lead_day_list_by_list(store: &Store, cell: &str, date: NaiveDate) -> Res<LeadDay> {
    Ok(store.with_doc(cell, |d| {
        let members = d.health_statuses(date)?;
        let checks = d.check_days(date)?;
        Ok(LeadDay {
            cell_id: cell.to_string(),
            date,
            lead: d.current_lead(),
            due: checks.iter().filter(|c| c.due_on(date)).cloned().collect(),
            missed: checks.into_iter().filter(|c| c.missed_by(date)).collect(),
            open_tasks: d
                .tasks()?
                .into_iter()
                .filter(|t| t.status == TaskStatus::Open)
                .collect(),
            away: d.away_residents(date, NOT_CALLED_DAYS)?,
            errands: d
                .errands()
                .into_iter()
                .filter(|e| e.status == ErrandStatus::Requested)
                .collect(),
            draft: d.draft_report(date)?,
            report: match d.report(date)? {
                Some(r) => {
                    let mut one = [r];
                    d.flag_reports(&mut one)?;
                    let [r] = one;
                    Some(r)
                }
                None => None,
            },
            members,
        })
    })?)
}

/// Every cell's lead's day (part 4), one pass against list by list,
/// `rounds` rounds interleaved, every document cached.
fn lead_day_passes(path: &Path, ids: &[String], date: NaiveDate, rounds: usize) -> Res<Value> {
    let store = Store::open(path, encrypted(256))?;
    let (mut one, mut each) = (Vec::new(), Vec::new());
    let (mut checks, mut visits) = (0, 0);
    for id in ids {
        let a = store.lead_day(id, date, NOT_CALLED_DAYS)?;
        if a != lead_day_list_by_list(&store, id, date)? {
            return Err(format!("cell {id}: the one-pass day differs from the lists'").into());
        }
        checks += a.due.len() + a.missed.len();
        visits += store.with_doc(id, |d| Ok(d.visits()?.len()))?;
    }
    for _ in 0..rounds {
        let t = Instant::now();
        for id in ids {
            black_box(store.lead_day(id, date, NOT_CALLED_DAYS)?);
        }
        one.push(json!({ "t": us(t) }));
        let t = Instant::now();
        for id in ids {
            black_box(lead_day_list_by_list(&store, id, date)?);
        }
        each.push(json!({ "t": us(t) }));
    }
    let (one, each) = (stats(&one, "t"), stats(&each, "t"));
    let ratio =
        one["median"].as_f64().unwrap_or(0.0) / each["median"].as_f64().unwrap_or(0.0).max(1e-9);
    Ok(json!({
        "cells": ids.len(),
        "visits": visits,
        "check_days_listed": checks,
        "one_pass_us": one,
        "list_by_list_us": each,
        "ratio_one_pass_to_list_by_list": ratio,
    }))
}

/// Three tasks per cell from the office, a third of them done.
fn add_tasks(hub: &Store, workload: &Workload, ids: &[String], today: NaiveDate) -> Res<usize> {
    const TITLES: [&str; 3] = [
        "核实返乡人员健康码并登记",
        "为独居老人代购药品",
        "通知户主参加防汛演练",
    ];
    let tz = FixedOffset::east_opt(8 * 3600).ok_or("UTC+8")?;
    let mut open = 0;
    for (i, (id, spec)) in ids.iter().zip(&workload.cells).enumerate() {
        for (k, title) in TITLES.iter().enumerate() {
            let h = &spec.households[k % spec.households.len()];
            let member = h.members.first().map(|m| m.id.as_str());
            let day = today - Days::new(3 * (3 - k as u64));
            let at = tz
                .from_local_datetime(&day.and_hms_opt(9, 0, 0).ok_or("time")?)
                .single()
                .ok_or("time")?;
            let task =
                hub.add_task(id, title, Some(&h.id), member, Some(day + Days::new(7)), at)?;
            if (i + k) % 3 == 0 {
                hub.set_task_status(id, &task, TaskStatus::Done)?;
            } else {
                open += 1;
            }
        }
    }
    Ok(open)
}

/// Median and p95 (nearest rank) of `key` over `runs`.
fn stats(runs: &[Value], key: &str) -> Value {
    let mut v: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_by(f64::total_cmp);
    let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    json!({ "median": rank(0.5), "p95": rank(0.95), "min": v[0], "max": v[v.len() - 1], "n": v.len() })
}

fn sum_stats(runs: &[Value], keys: &[&str]) -> Value {
    let summed: Vec<Value> = runs
        .iter()
        .map(|r| json!({ "t": keys.iter().filter_map(|k| r[*k].as_f64()).sum::<f64>() }))
        .collect();
    stats(&summed, "t")
}

fn drop_page_cache() -> bool {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

fn run_child(mode: &str, path: &Path, day: &str) -> Res<Value> {
    let out = Command::new(std::env::current_exe()?)
        .arg("--child")
        .arg(mode)
        .arg(path)
        .arg(day)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "child {mode} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The children's runs, by mode.
struct Runs {
    silin: Vec<Value>,
    raw: Vec<Value>,
    empty: Vec<Value>,
    summaries: Vec<Value>,
    summaries_away: Vec<Value>,
}

/// Runs the five children `n` times, interleaved so that they share the
/// machine's noise; `cold` drops the page cache before each.
fn open_runs(n: usize, cold: bool, phone: &Path, empty: &Path, day: &str) -> Res<Runs> {
    let mut runs = Runs {
        silin: Vec::new(),
        raw: Vec::new(),
        empty: Vec::new(),
        summaries: Vec::new(),
        summaries_away: Vec::new(),
    };
    for _ in 0..n {
        for (mode, path, into) in [
            ("silin", phone, &mut runs.silin),
            ("raw", phone, &mut runs.raw),
            ("empty", empty, &mut runs.empty),
            ("summaries", phone, &mut runs.summaries),
            ("summaries_away", phone, &mut runs.summaries_away),
        ] {
            if cold && !drop_page_cache() {
                return Err("could not drop the page cache".into());
            }
            into.push(run_child(mode, path, day)?);
        }
    }
    Ok(runs)
}

fn summary(runs: &Runs) -> Value {
    let (silin, raw, empty) = (&runs.silin, &runs.raw, &runs.empty);
    let (summaries, with_away) = (&runs.summaries, &runs.summaries_away);
    let ms = |v: &Value| v["median"].as_f64().unwrap_or(0.0);
    let by_query = sum_stats(summaries, &["open_us", "screen_us"]);
    let by_query_away = sum_stats(with_away, &["open_us", "screen_us"]);
    let open_screen = sum_stats(silin, &["open_us", "screen_us"]);
    let with_tasks = sum_stats(silin, &["open_us", "screen_us", "views_us"]);
    let raw_total = sum_stats(raw, &["open_us", "screen_us"]);
    let empty_total = sum_stats(empty, &["open_us", "screen_us"]);
    let delta = |runs: &[Value], at: &str| {
        let d: Vec<Value> = runs
            .iter()
            .map(|r| {
                json!({ "d": r[at].as_f64().unwrap_or(0.0) - r["rss0_kb"].as_f64().unwrap_or(0.0) })
            })
            .collect();
        stats(&d, "d")
    };
    json!({
        "silin": {
            "open_us": stats(silin, "open_us"),
            "screen_us": stats(silin, "screen_us"),
            "open_and_screen_us": open_screen,
            "views_us": stats(silin, "views_us"),
            "open_screen_and_views_us": with_tasks,
            "warm_screen_us": stats(silin, "warm_screen_us"),
            "warm_views_us": stats(silin, "warm_views_us"),
            "rss0_kb": stats(silin, "rss0_kb"),
            "rss_after_open_minus_baseline_kb": delta(silin, "rss_open_kb"),
            "rss_after_screen_minus_baseline_kb": delta(silin, "rss_screen_kb"),
            "rss_after_views_minus_baseline_kb": delta(silin, "rss_views_kb"),
            "rss_end_minus_baseline_kb": delta(silin, "rss_end_kb"),
            "hwm_minus_baseline_kb": delta(silin, "hwm_kb"),
            "hwm_kb": stats(silin, "hwm_kb"),
        },
        "raw_sqlite": {
            "open_us": stats(raw, "open_us"),
            "screen_us": stats(raw, "screen_us"),
            "open_and_screen_us": raw_total,
            "rss_after_screen_minus_baseline_kb": delta(raw, "rss_screen_kb"),
            "hwm_kb": stats(raw, "hwm_kb"),
        },
        "empty_store": {
            "open_us": stats(empty, "open_us"),
            "open_and_screen_us": empty_total,
            "rss_after_screen_minus_baseline_kb": delta(empty, "rss_screen_kb"),
        },
        "cell_summaries": {
            "open_us": stats(summaries, "open_us"),
            "screen_us": stats(summaries, "screen_us"),
            "open_and_screen_us": by_query,
            "warm_screen_us": stats(summaries, "warm_screen_us"),
            "lead_days_us": stats(summaries, "lead_days_us"),
            "rss_after_screen_minus_baseline_kb": delta(summaries, "rss_screen_kb"),
            "rss_end_minus_baseline_kb": delta(summaries, "rss_end_kb"),
        },
        "cell_summaries_with_away": {
            "open_us": stats(with_away, "open_us"),
            "screen_us": stats(with_away, "screen_us"),
            "open_and_screen_us": by_query_away,
            "warm_screen_us": stats(with_away, "warm_screen_us"),
            "lead_days_us": stats(with_away, "lead_days_us"),
            "rss_after_screen_minus_baseline_kb": delta(with_away, "rss_screen_kb"),
        },
        "ratios": {
            "summaries_open_and_screen_to_per_cell_views": ms(&by_query) / ms(&with_tasks).max(1e-9),
            "summaries_with_away_open_and_screen_to_per_cell_views": ms(&by_query_away) / ms(&with_tasks).max(1e-9),
            "summaries_open_and_screen_to_raw": ms(&by_query) / ms(&raw_total).max(1e-9),
            "summaries_with_away_open_and_screen_to_raw": ms(&by_query_away) / ms(&raw_total).max(1e-9),
            "summaries_screen_to_raw_screen": ms(&stats(summaries, "screen_us")) / ms(&stats(raw, "screen_us")).max(1e-9),
            "summaries_screen_to_lead_days": ms(&stats(summaries, "screen_us")) / ms(&stats(summaries, "lead_days_us")).max(1e-9),
            "summaries_with_away_screen_to_lead_days": ms(&stats(with_away, "screen_us")) / ms(&stats(with_away, "lead_days_us")).max(1e-9),
            "open_and_screen_to_raw": ms(&open_screen) / ms(&raw_total).max(1e-9),
            "open_screen_and_views_to_raw": ms(&with_tasks) / ms(&raw_total).max(1e-9),
            "open_and_screen_to_empty_store": ms(&open_screen) / ms(&empty_total).max(1e-9),
        },
    })
}

fn parent() -> Res<()> {
    let history: u32 = arg("--history", 30);
    let opens: usize = arg("--opens", 30);
    let cold_opens: usize = arg("--cold-opens", 10);
    std::fs::create_dir_all(target_dir().join("silin-bench"))?;
    // On disk (not a tmpfs), so a cold open reads the disk.
    let dir = tempfile::tempdir_in(target_dir().join("silin-bench"))?;
    let t0 = Instant::now();
    let workload = Workload::generate(SEED, CELLS);
    let today = workload.start + Days::new(u64::from(history.max(1) - 1));
    let day = today.to_string();
    eprintln!("building the hub: {CELLS} cells × {history} days…");
    let hub_path = dir.path().join("hub.db");
    let (ids, office, open_tasks_made) = {
        // The workload's days are fixed and may run past today's date: the
        // hub that plays them reads its clock at the end of the last one,
        // so what it records (doses, tests) is never in its future. Its
        // certificate is issued first, at the real time (valid a year), so
        // that the phone, on the real time, accepts it when it syncs.
        silin_hub::office::office(
            &Store::open(&hub_path, options(16, Durability::Normal))?,
            Some(&silin_core::identity::Scope::everything()),
        )?;
        let tz = FixedOffset::east_opt(8 * 3600).ok_or("UTC+8")?;
        let end = tz
            .from_local_datetime(&today.and_hms_opt(21, 0, 0).ok_or("time")?)
            .single()
            .ok_or("time")?;
        let hub = Store::open(
            &hub_path,
            StoreOptions {
                clock: Clock::starting_at(end),
                ..options(256, Durability::Normal)
            },
        )?;
        let (ids, office) = build_hub(&hub, &workload, history)?;
        let open = add_tasks(&hub, &workload, &ids, today)?;
        hub.compact_all()?;
        (ids, office, open)
    };
    let hub = Arc::new(Store::open(&hub_path, options(4096, Durability::Full))?);
    let server = silin_hub::server::spawn_with(
        "127.0.0.1:0",
        hub.clone(),
        silin_hub::server::HubConfig::default(),
    )?;
    let url = server.url();
    eprintln!("hub ready in {:.1} s at {url}", t0.elapsed().as_secs_f64());

    // The phone: encrypted, enrolled over the cells' villages.
    let phone_path = dir.path().join("phone.db");
    let all: Vec<usize> = (0..CELLS).collect();
    let scope = village_scope(&workload, &all);
    {
        let phone = Store::open(
            &phone_path,
            StoreOptions {
                key: Some(StoreKey::new(KEY)),
                ..StoreOptions::default()
            },
        )?;
        enrol(&phone, &office, Role::GridWorker, scope.clone())?;
    }
    let empty_path = dir.path().join("empty.db");
    drop(Store::open(
        &empty_path,
        StoreOptions {
            key: Some(StoreKey::new(KEY)),
            ..StoreOptions::default()
        },
    )?);

    // 1. The first full sync, as the app calls it.
    let phone = ffi::Store::open(phone_path.to_string_lossy().into_owned(), Some(KEY.into()))?;
    let t = Instant::now();
    let first = phone.sync_with_hub(url.clone())?;
    let first_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let again = phone.sync_with_hub(url.clone())?;
    let again_s = t.elapsed().as_secs_f64();
    phone.close();
    if first.docs_received as usize != CELLS {
        return Err(format!("the phone got {} cells of {CELLS}", first.docs_received).into());
    }
    server.shutdown()?;
    let phone_bytes = std::fs::metadata(&phone_path)?.len();

    // Its baseline: the documents saved whole, loaded and written into an
    // encrypted SQLite file in one fsynced transaction.
    let docs: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| hub.save_doc(id))
        .collect::<Result<_, _>>()?;
    let doc_bytes: usize = docs.iter().map(Vec::len).sum();
    let raw = Connection::open(dir.path().join("raw.db"))?;
    raw.execute_batch(&format!(
        "PRAGMA key = \"x'{KEY}'\"; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE docs (id TEXT PRIMARY KEY, bytes BLOB NOT NULL);"
    ))?;
    let t = Instant::now();
    {
        let tx = raw.unchecked_transaction()?;
        for (id, bytes) in ids.iter().zip(&docs) {
            black_box(Automerge::load(bytes)?);
            tx.execute("INSERT INTO docs VALUES (?1, ?2)", params![id, bytes])?;
        }
        tx.commit()?;
    }
    let raw_s = t.elapsed().as_secs_f64();
    drop(raw);
    // Where the sync's time goes: the same first sync in-process (no HTTP)
    // into a second phone, and loading the 120 documents alone.
    let local_s = {
        let twin = Store::open(
            dir.path().join("twin.db"),
            StoreOptions {
                key: Some(StoreKey::new(KEY)),
                ..StoreOptions::default()
            },
        )?;
        enrol(&twin, &office, Role::GridWorker, scope.clone())?;
        let t = Instant::now();
        sync_local(&twin, &hub)?;
        t.elapsed().as_secs_f64()
    };
    let t = Instant::now();
    for bytes in &docs {
        black_box(Automerge::load(bytes)?);
    }
    let loads_s = t.elapsed().as_secs_f64();
    // Where a full view's time goes: core's `cell` on a store whose cache
    // holds every document (first pass loads, second reads the views only).
    let (core_first_s, core_again_s) = {
        let store = Store::open(
            &phone_path,
            StoreOptions {
                key: Some(StoreKey::new(KEY)),
                cache_docs: 256,
                ..StoreOptions::default()
            },
        )?;
        let t = Instant::now();
        for id in &ids {
            black_box(store.cell(id)?);
        }
        let first = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for id in &ids {
            black_box(store.cell(id)?);
        }
        (first, t.elapsed().as_secs_f64())
    };
    // 4. The lead's day, one pass against list by list.
    let lead_day = lead_day_passes(&phone_path, &ids, today, arg("--lead-day-rounds", 15))?;
    eprintln!(
        "lead's day × {CELLS}, documents cached: one pass {:.1} ms, list by list {:.1} ms (medians)",
        lead_day["one_pass_us"]["median"].as_f64().unwrap_or(0.0) / 1000.0,
        lead_day["list_by_list_us"]["median"].as_f64().unwrap_or(0.0) / 1000.0,
    );
    let hub_bytes = std::fs::metadata(&hub_path)?.len();
    drop(hub);
    eprintln!(
        "first sync: {} B up, {} B down, {} round trips, {:.3} s; documents saved whole: {doc_bytes} B, raw load+insert {:.3} s",
        first.bytes_up, first.bytes_down, first.round_trips, first_s, raw_s
    );

    // 2 and 3. Open + first screen in fresh processes.
    let warm_runs = open_runs(opens, false, &phone_path, &empty_path, &day)?;
    let (silin, raw_runs) = (&warm_runs.silin, &warm_runs.raw);
    let (by_query, with_away) = (&warm_runs.summaries, &warm_runs.summaries_away);
    let check = |a: &Value, b: &Value| {
        ["cells", "reported", "open_tasks", "named"]
            .iter()
            .all(|k| a[*k] == b[*k])
    };
    for (what, got) in [
        ("silin's screen", &silin[0]),
        ("cell_summaries", &by_query[0]),
        ("cell_summaries with the residents away", &with_away[0]),
    ] {
        if !check(got, &raw_runs[0]) {
            return Err(format!("{what} {got} differs from the query's {}", raw_runs[0]).into());
        }
    }
    for got in [&by_query[0], &with_away[0]] {
        if got["rows_differing_from_lead_day"] != 0 {
            return Err(format!("cell_summaries differs from lead_day: {got}").into());
        }
    }
    let warm = summary(&warm_runs);
    let cold = if cold_opens == 0 {
        Value::Null
    } else if drop_page_cache() {
        summary(&open_runs(
            cold_opens,
            true,
            &phone_path,
            &empty_path,
            &day,
        )?)
    } else {
        eprintln!("cold opens skipped: /proc/sys/vm/drop_caches is not writable (not root)");
        Value::Null
    };

    let out = json!({
        "cells": CELLS,
        "history_days": history,
        "today": day,
        "scope": scope,
        "tasks_open_made": open_tasks_made,
        "screen": {
            "cells": silin[0]["cells"],
            "reported_today": silin[0]["reported"],
            "open_tasks": silin[0]["open_tasks"],
            "under_monitoring": by_query[0]["under_monitoring"],
            "away_not_called": with_away[0]["away_not_called"],
            "with_lead_phone": by_query[0]["with_lead_phone"],
        },
        "hub_file_bytes": hub_bytes,
        "phone_file_bytes": phone_bytes,
        "first_sync": {
            "bytes_up": first.bytes_up,
            "bytes_down": first.bytes_down,
            "round_trips": first.round_trips,
            "seconds": first_s,
            "docs_saved_whole_bytes": doc_bytes,
            "bytes_down_to_docs": first.bytes_down as f64 / doc_bytes.max(1) as f64,
            "baseline_load_and_insert_seconds": raw_s,
            "ratio_to_baseline_time": first_s / raw_s.max(1e-9),
            "in_process_seconds": local_s,
            "documents_load_seconds": loads_s,
        },
        "full_views_in_process": {
            "core_cell_120_first_seconds": core_first_s,
            "core_cell_120_cached_seconds": core_again_s,
            "automerge_load_120_seconds": loads_s,
        },
        "lead_day_in_process": lead_day,
        "next_sync_nothing_changed": {
            "bytes_up": again.bytes_up,
            "bytes_down": again.bytes_down,
            "round_trips": again.round_trips,
            "seconds": again_s,
        },
        "warm": warm,
        "cold": cold,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    std::fs::write(
        target_dir().join("silin-bench/phone_cells.json"),
        serde_json::to_vec_pretty(&out)?,
    )?;
    let med = |v: &Value| v["median"].as_f64().unwrap_or(0.0) / 1000.0;
    let p95 = |v: &Value| v["p95"].as_f64().unwrap_or(0.0) / 1000.0;
    for (name, s) in [("warm", &warm), ("cold", &out["cold"])] {
        if s.is_null() {
            continue;
        }
        eprintln!(
            "{name}: cell_summaries open+screen {:.2} ms (p95 {:.2}), with the residents away {:.2} ms (p95 {:.2}); the same figures from 120 lead_days {:.1} ms",
            med(&s["cell_summaries"]["open_and_screen_us"]),
            p95(&s["cell_summaries"]["open_and_screen_us"]),
            med(&s["cell_summaries_with_away"]["open_and_screen_us"]),
            p95(&s["cell_summaries_with_away"]["open_and_screen_us"]),
            med(&s["cell_summaries"]["lead_days_us"]),
        );
        eprintln!(
            "{name}: open+screen {:.2} ms (p95 {:.2}), +120 views {:.2} ms (p95 {:.2}); raw query {:.2} ms; empty store {:.2} ms; RSS +{:.1} MB after screen, +{:.1} MB after views (HWM +{:.1} MB)",
            med(&s["silin"]["open_and_screen_us"]),
            p95(&s["silin"]["open_and_screen_us"]),
            med(&s["silin"]["open_screen_and_views_us"]),
            p95(&s["silin"]["open_screen_and_views_us"]),
            med(&s["raw_sqlite"]["open_and_screen_us"]),
            med(&s["empty_store"]["open_and_screen_us"]),
            s["silin"]["rss_after_screen_minus_baseline_kb"]["median"].as_f64().unwrap_or(0.0) / 1024.0,
            s["silin"]["rss_after_views_minus_baseline_kb"]["median"].as_f64().unwrap_or(0.0) / 1024.0,
            s["silin"]["hwm_minus_baseline_kb"]["median"].as_f64().unwrap_or(0.0) / 1024.0,
        );
    }
    Ok(())
}
