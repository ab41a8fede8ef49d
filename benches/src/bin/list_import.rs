//! Importing the county's feedback list (issue 12's acceptance): a
//! 40,000-row XLSX vaccination list made from the seeded county (2,903
//! cells, about 40,000 people) with 2 % malformed resident IDs, 1 % people
//! listed twice and 1 % rows that name nobody uniquely (a name two people
//! in that village share, without ID or phone), imported into the county's
//! hub store by `silin office import-list … --accept-partial`, then again.
//!
//! Timed: each `silin` process, wall clock, and its peak resident memory.
//! Checked: every malformed, repeated and ambiguous row is rejected with
//! its reason, every other row becomes exactly one task, the second import
//! creates none.
//!
//! Baseline, same run: the same workbook read with calamine and its rows
//! inserted into a plain SQLite table in one fsynced transaction — the
//! least any import of this file does.
//!
//! With `--postgres [URL]`, the same list is then imported into a
//! PostgreSQL hub holding the same county (`--postgres URL` of the
//! command), in a database of the benchmark's own on that server (else on
//! `SILIN_TEST_POSTGRES`'s, else the throwaway `.ci/postgres` cluster):
//! the same checks, each process's time and peak memory, against the same
//! workbook's rows inserted into a plain PostgreSQL table in one
//! transaction.
//!
//! Run: `cargo build --release -p silin-cli && cargo run --release -p
//! silin-bench --bin list_import [-- CELLS] [--postgres [URL]]`. Writes
//! `target/silin-bench/list_import.json`.

use calamine::Reader;
use serde_json::json;
use silin_bench::*;
use silin_core::{Durability, Store};
use silin_workload::Workload;
use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::time::Instant;

const SEED: u64 = 20261129;
const ROWS: usize = 40_000;

struct Person {
    name: String,
    id_number: String,
    phone: Option<String>,
    village: String,
}

/// A valid 18-digit resident ID with its check character changed.
fn malformed(id: &str) -> String {
    let (body, check) = id.split_at(17);
    let other = if check == "1" { "2" } else { "1" };
    format!("{body}{other}")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cells: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(2903);
    // `--postgres` alone: the default server.
    let postgres = args.iter().position(|a| a == "--postgres").map(|i| {
        args.get(i + 1)
            .filter(|a| !a.starts_with("--"))
            .cloned()
            .unwrap_or_default()
    });
    let silin = target_dir().join("release").join("silin");
    if !silin.exists() {
        return Err(format!(
            "{} is missing: run `cargo build --release -p silin-cli` first",
            silin.display()
        )
        .into());
    }
    let dir = tempfile::tempdir()?;
    let workload = Workload::generate(SEED, cells);
    let db = dir.path().join("hub.db");
    {
        let hub = Store::open(&db, options(1024, Durability::Normal))?;
        build_hub(&hub, &workload, 0)?;
    }
    let people: Vec<Person> = workload
        .cells
        .iter()
        .flat_map(|c| {
            c.members().map(move |(_, m)| Person {
                name: m.name.clone(),
                id_number: m.id_number.clone(),
                phone: m.phone.clone(),
                village: c.path[2].clone(),
            })
        })
        .collect();
    // Names two people of one village share: a row with only such a name
    // and the village names nobody uniquely.
    let mut by_name: HashMap<(&str, &str), usize> = HashMap::new();
    for p in &people {
        *by_name.entry((&p.name, &p.village)).or_default() += 1;
    }
    let mut shared: Vec<(&str, &str)> = by_name
        .into_iter()
        .filter(|&(_, n)| n >= 2)
        .map(|(k, _)| k)
        .collect();
    shared.sort();
    let bad = ROWS * 2 / 100;
    let twice = ROWS / 100;
    let ambiguous = (ROWS / 100).min(shared.len());
    let good = ROWS - bad - twice - ambiguous;
    // The generated register, like a real one, has a few resident IDs
    // written down for two people; a row naming one of those is refused
    // ("correct the register first"), so the list's good rows avoid them.
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for p in &people {
        *ids.entry(&p.id_number).or_default() += 1;
    }
    let shared_ids = ids.values().filter(|&&n| n > 1).count();
    let (unique, others): (Vec<&Person>, Vec<&Person>) = people.iter().partition(|p| {
        ids[p.id_number.as_str()] == 1 && !shared.contains(&(p.name.as_str(), p.village.as_str()))
    });
    // Typos land on anyone: first on the people the good rows leave out.
    let typos: Vec<&Person> = others
        .iter()
        .chain(unique[good..].iter())
        .copied()
        .collect();
    if unique.len() < good || typos.len() < bad {
        return Err(format!(
            "the county of {cells} cells has {} people with a name and an ID of their own; {good} are needed (give more cells)",
            unique.len()
        )
        .into());
    }

    // The list, as the county sends it: one header row, then the people.
    let mut rows: Vec<[String; 4]> = Vec::with_capacity(ROWS);
    let row = |p: &Person, id: String| {
        [
            p.name.clone(),
            id,
            p.phone.clone().unwrap_or_default(),
            p.village.clone(),
        ]
    };
    for p in &unique[..good] {
        rows.push(row(p, p.id_number.clone()));
    }
    for p in &typos[..bad] {
        rows.push(row(p, malformed(&p.id_number)));
    }
    for i in 0..twice {
        rows.push(rows[i * (good / twice)].clone());
    }
    for (name, village) in &shared[..ambiguous] {
        rows.push([
            name.to_string(),
            String::new(),
            String::new(),
            village.to_string(),
        ]);
    }
    let list = dir.path().join("接种反馈名单.xlsx");
    {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (c, h) in ["姓名", "身份证号", "手机号", "村"].iter().enumerate() {
            sheet.write_string(0, c as u16, *h)?;
        }
        for (r, cells) in rows.iter().enumerate() {
            for (c, v) in cells.iter().enumerate() {
                if !v.is_empty() {
                    sheet.write_string(r as u32 + 1, c as u16, v)?;
                }
            }
        }
        book.save(&list)?;
    }
    let list_bytes = std::fs::metadata(&list)?.len();
    eprintln!(
        "list_import: {} people in {cells} cells; list of {} rows, {list_bytes} bytes",
        people.len(),
        rows.len()
    );

    let now = format!("{}T10:00:00+08:00", workload.start);
    let import = |report: &str| -> Result<(serde_json::Value, f64), Box<dyn std::error::Error>> {
        let t = Instant::now();
        let out = Command::new(&silin)
            .args(["--json", "office", "import-list"])
            .arg(&list)
            .args(["--kind", "vaccination", "--accept-partial", "--db"])
            .arg(&db)
            .arg("--report")
            .arg(dir.path().join(report))
            .env("SILIN_NOW", &now)
            .output()?;
        let secs = t.elapsed().as_secs_f64();
        if !out.status.success() {
            return Err(format!(
                "silin office import-list failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok((serde_json::from_slice(&out.stdout)?, secs))
    };
    let (first, first_secs) = import("first.rejected.csv")?;
    let peak_kib = peak_child_kib();
    let (again, again_secs) = import("again.rejected.csv")?;

    // What the import said, against what the list holds.
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for r in first["rejected"].as_array().into_iter().flatten() {
        let reason = r["reason"].as_str().unwrap_or_default();
        let kind = if reason.starts_with("bad resident ID") {
            "malformed resident ID"
        } else if reason.starts_with("the same member as row") {
            "listed twice"
        } else {
            "no unique member"
        };
        *reasons.entry(kind.to_string()).or_default() += 1;
    }
    let tasks = {
        let hub = Store::open(&db, options(1024, Durability::Normal))?;
        let mut n = 0;
        for c in hub.cells(&[])? {
            n += hub.cell(&c.id)?.tasks.len();
        }
        n
    };
    let checks = [
        ("rows", first["rows"].as_u64() == Some(ROWS as u64)),
        ("matched", first["matched"].as_u64() == Some(good as u64)),
        (
            "tasks_created",
            first["tasks_created"].as_u64() == Some(good as u64),
        ),
        ("tasks in the store", tasks == good),
        (
            "rejected",
            reasons.get("malformed resident ID") == Some(&bad)
                && reasons.get("listed twice") == Some(&twice)
                && reasons.get("no unique member") == Some(&ambiguous),
        ),
        (
            "again creates none",
            again["tasks_created"].as_u64() == Some(0),
        ),
    ];
    for (what, ok) in &checks {
        if !ok {
            return Err(format!(
                "{what} is not as the list says: {} rows, {} matched, {} tasks created ({} again), {tasks} tasks in the store, rejected {reasons:?}",
                first["rows"], first["matched"], first["tasks_created"], again["tasks_created"]
            )
            .into());
        }
    }

    // Baseline: read the same workbook, insert its rows raw.
    let t = Instant::now();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&list)?;
    let range = book
        .worksheet_range_at(0)
        .ok_or("the list has no sheet")??;
    let raw = dir.path().join("raw.db");
    let mut conn = rusqlite::Connection::open(&raw)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE rows (name TEXT, id TEXT, phone TEXT, village TEXT);",
    )?;
    let tx = conn.transaction()?;
    {
        let mut s = tx.prepare("INSERT INTO rows VALUES (?1, ?2, ?3, ?4)")?;
        for r in range.rows().skip(1) {
            let cell = |i: usize| r.get(i).map(|c| c.to_string()).unwrap_or_default();
            s.execute(rusqlite::params![cell(0), cell(1), cell(2), cell(3)])?;
        }
    }
    tx.commit()?;
    let baseline = t.elapsed().as_secs_f64();

    let pg = match postgres {
        Some(server) => Some(on_postgres(
            server,
            &silin,
            &list,
            &workload,
            &now,
            dir.path(),
            good,
            &range,
        )?),
        None => None,
    };

    let out = json!({
        "postgres": pg,
        "cells": cells,
        "people": people.len(),
        "resident_ids_shared_in_the_register": shared_ids,
        "rows": ROWS,
        "list_bytes": list_bytes,
        "matched": good,
        "rejected": reasons,
        "first_import_seconds": first_secs,
        "first_import_peak_rss_kib": peak_kib,
        "again_seconds": again_secs,
        "again_tasks_created": again["tasks_created"],
        "baseline_read_and_insert_seconds": baseline,
        "ratio_to_baseline": first_secs / baseline,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    std::fs::create_dir_all(target_dir().join("silin-bench"))?;
    std::fs::write(
        target_dir().join("silin-bench").join("list_import.json"),
        serde_json::to_vec_pretty(&out)?,
    )?;
    Ok(())
}

/// The same list into a PostgreSQL hub holding the same cells: each
/// `silin office import-list --postgres` timed with its own peak memory,
/// the same checks, and the baseline of the rows inserted raw.
#[allow(clippy::too_many_arguments)]
fn on_postgres(
    server: String,
    silin: &std::path::Path,
    list: &std::path::Path,
    workload: &Workload,
    now: &str,
    dir: &std::path::Path,
    good: usize,
    range: &calamine::Range<calamine::Data>,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    use silin_core::Replica;
    let db = BenchDatabase::create(server)?;
    {
        // The county as it was before any import, built again and handed
        // to the database whole, as the SQLite hub's own was built.
        let source = Store::open(dir.join("pg-source.db"), options(64, Durability::Normal))?;
        build_hub(&source, workload, 0)?;
        let pg = silin_hub::pg::PgStorage::connect(&db.url, 2)?;
        pg.migrate()?;
        for c in source.cells(&[])? {
            pg.merge_from(&source.save_doc(&c.id)?, None, false)?;
        }
    }
    let import =
        |report: &str| -> Result<(serde_json::Value, f64, i64), Box<dyn std::error::Error>> {
            let mut cmd = Command::new(silin);
            cmd.args(["--json", "office", "import-list"])
                .arg(list)
                .args([
                    "--kind",
                    "vaccination",
                    "--accept-partial",
                    "--postgres",
                    &db.url,
                ])
                .arg("--report")
                .arg(dir.join(report))
                .env("SILIN_NOW", now);
            let (out, secs, peak) = measured(cmd)?;
            Ok((serde_json::from_slice(&out)?, secs, peak))
        };
    let (first, first_secs, first_kib) = import("pg-first.rejected.csv")?;
    let (again, again_secs, _) = import("pg-again.rejected.csv")?;
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls)?;
    let tasks: i64 = c.query_one("SELECT count(*) FROM tasks", &[])?.get(0);
    if first["tasks_created"].as_u64() != Some(good as u64)
        || tasks != good as i64
        || again["tasks_created"].as_u64() != Some(0)
    {
        return Err(format!(
            "on PostgreSQL: {} tasks created ({} again), {tasks} in the tasks table; {good} expected",
            first["tasks_created"], again["tasks_created"]
        )
        .into());
    }
    // Baseline: the workbook's rows (already read) into a plain table.
    let t = Instant::now();
    c.batch_execute("CREATE TABLE raw_rows (name text, id text, phone text, village text)")?;
    let mut tx = c.transaction()?;
    let s = tx.prepare("INSERT INTO raw_rows VALUES ($1, $2, $3, $4)")?;
    for r in range.rows().skip(1) {
        let cell = |i: usize| r.get(i).map(|c| c.to_string()).unwrap_or_default();
        tx.execute(&s, &[&cell(0), &cell(1), &cell(2), &cell(3)])?;
    }
    tx.commit()?;
    let baseline = t.elapsed().as_secs_f64();
    Ok(json!({
        "first_import_seconds": first_secs,
        "first_import_peak_rss_kib": first_kib,
        "again_seconds": again_secs,
        "again_tasks_created": again["tasks_created"],
        "baseline_insert_seconds": baseline,
        "ratio_to_baseline": first_secs / baseline,
    }))
}

/// Runs `cmd` to its end: its standard output, wall time and peak resident
/// memory in KiB (its own, from `wait4`, not the largest child's so far).
fn measured(mut cmd: Command) -> Result<(Vec<u8>, f64, i64), Box<dyn std::error::Error>> {
    use std::io::Read;
    let t = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()?;
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .ok_or("no stdout")?
        .read_to_end(&mut out)?;
    let mut status = 0;
    // SAFETY: wait4 writes into the zeroed struct and status it is given;
    // the child is ours and not waited for elsewhere.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = t.elapsed().as_secs_f64();
    if rc != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{cmd:?} failed (status {status})").into());
    }
    Ok((out, secs, usage.ru_maxrss))
}

/// The largest resident set of the child processes waited for so far, in
/// KiB (Linux reports `ru_maxrss` in KiB).
fn peak_child_kib() -> i64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if rc == 0 {
        usage.ru_maxrss
    } else {
        -1
    }
}
