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
//!
//! `--write-path` measures something else: the latency distribution of a
//! durable visit into cells holding a year of history (issue 15, item 7),
//! at synchronous=NORMAL and FULL, interleaved one by one with its baseline,
//! the same visit serialized with serde_json and `INSERT`ed as one row in
//! its own transaction (same pragmas, a file in the same directory, a table
//! holding a year of visits too). See [`write_path`] and doc/BENCHMARKS.md
//! ("The write path"). `cargo run --release -p silin-bench --bin
//! record_visit -- --write-path [--cells N --pairs N --full-pairs N]`.

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
    if std::env::args().any(|a| a == "--write-path") {
        write_path::run();
        return;
    }
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

/// The write path on year-old cells: p50/p99 of a durable visit against the
/// raw JSON row, interleaved so both see the same disk.
mod write_path {
    use super::arg;
    use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone};
    use rusqlite::{params, Connection};
    use serde_json::json;
    use silin_core::model::{
        new_id, NewHousehold, NewMember, NewReport, NewVisit, RegionPath, Visit, VisitKind,
    };
    use silin_core::store::Compaction;
    use silin_core::{Durability, Store, StoreOptions};
    use std::path::{Path, PathBuf};
    use std::time::Instant;

    /// Bump when the generator changes, so cached fixtures are rebuilt.
    const GENERATOR: u32 = 1;
    const DAYS: i64 = 365;
    /// Rows the JSON table holds before the run: the criterion bench's
    /// 120 cells × a year of visits, so both B-trees are as deep as there.
    const JSON_ROWS: usize = 240_000;
    const OUTCOMES: &[&str] = &[
        "在家，情况正常",
        "体温正常，无不适",
        "已电话联系，本人在外务工",
        "已代购药品送达",
        "家中无人，已电话联系",
    ];
    const NOTES: &[&str] = &["老人独居，需每日查看", "腿脚不便，代取药品", "已张贴告知书"];

    /// A small deterministic generator (no dependency on rand).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    struct People {
        lead: String,
        households: Vec<(String, Vec<String>)>,
    }

    fn at(day: NaiveDate, secs: i64) -> DateTime<FixedOffset> {
        let tz = FixedOffset::east_opt(8 * 3600).expect("offset");
        let naive = day.and_hms_opt(0, 0, 0).expect("time") + Duration::seconds(secs);
        tz.from_local_datetime(&naive).single().expect("local time")
    }

    fn day0() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, 1).expect("date")
    }

    /// The criterion bench's daily mix: 40 % health checks with a
    /// temperature, 25 % door knocks, 15 % calls, 10 % errands, 10 % notices;
    /// 20 % with a note.
    fn visit(g: &mut Lcg, p: &People, day: NaiveDate, secs: i64) -> NewVisit {
        let (hid, members) = &p.households[g.below(p.households.len() as u64) as usize];
        let member = members[g.below(members.len() as u64) as usize].clone();
        let kind = match g.below(100) {
            0..40 => VisitKind::HealthCheck,
            40..65 => VisitKind::DoorKnock,
            65..80 => VisitKind::Call,
            80..90 => VisitKind::Errand,
            _ => VisitKind::Notify,
        };
        let mut v = NewVisit::new(kind, at(day, secs), &p.lead);
        let outcome = OUTCOMES[g.below(OUTCOMES.len() as u64) as usize];
        match kind {
            VisitKind::HealthCheck => {
                v.member_id = Some(member);
                v.temperature = Some(36.0 + g.below(12) as f64 / 10.0);
                v.outcome = Some(OUTCOMES[1].into());
            }
            VisitKind::DoorKnock | VisitKind::Notify => {
                v.household_id = Some(hid.clone());
                v.outcome = Some(outcome.into());
            }
            VisitKind::Call | VisitKind::Errand => {
                v.member_id = Some(member);
                v.outcome = Some(outcome.into());
            }
        }
        if g.below(5) == 0 {
            v.note = Some(NOTES[g.below(NOTES.len() as u64) as usize].into());
        }
        v
    }

    fn remove_db(p: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }

    fn target_dir() -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target"))
    }

    /// `cells` cells with a year of history each (about 2,000 visits and 365
    /// reports, one `edit_batch` per 30 days), compacted and vacuumed; and
    /// the JSON table. Cached under target/silin-bench/.
    fn fixture(cells: usize) -> (PathBuf, PathBuf) {
        let dir = target_dir().join("silin-bench");
        std::fs::create_dir_all(&dir).expect("bench dir");
        let stem = format!(
            "write-path-{cells}x{DAYS}-g{GENERATOR}-l{}",
            silin_core::store::LAYOUT
        );
        let store_path = dir.join(format!("{stem}.db"));
        let json_path = dir.join(format!("{stem}-json.db"));
        let done = dir.join(format!("{stem}.done"));
        if done.exists() && std::env::var_os("SILIN_BENCH_REBUILD").is_none() {
            return (store_path, json_path);
        }
        eprintln!("building {} …", store_path.display());
        remove_db(&store_path);
        remove_db(&json_path);
        let _ = std::fs::remove_file(&done);
        let store = Store::open(
            &store_path,
            StoreOptions {
                durability: Durability::Normal,
                cache_docs: 2,
                ..Default::default()
            },
        )
        .expect("open");
        let mut g = Lcg(7);
        let path = RegionPath::parse("两当县/城关镇/东关村/一组").expect("path");
        for c in 0..cells {
            let lead = format!("联户长{c}");
            let (cell, people) = store
                .create_cell_with(&format!("第{}联户", c + 1), &path, Some(&lead), |d| {
                    let mut households = Vec::new();
                    for h in 0..4 {
                        let hid = new_id();
                        d.add_household(
                            &hid,
                            NewHousehold {
                                door: Some(format!("{}", h + 1)),
                                ..Default::default()
                            },
                            0,
                        )?;
                        let mut members = Vec::new();
                        for m in 0..3 {
                            let mid = new_id();
                            let name = if h == 0 && m == 0 {
                                lead.clone()
                            } else {
                                format!("成员{h}{m}")
                            };
                            d.add_member(
                                &hid,
                                &mid,
                                NewMember {
                                    name,
                                    birth_year: Some(1950 + m),
                                    ..Default::default()
                                },
                                day0(),
                                0,
                            )?;
                            members.push(mid);
                        }
                        households.push((hid, members));
                    }
                    Ok(People {
                        lead: lead.clone(),
                        households,
                    })
                })
                .expect("cell");
            let mut d = 0;
            while d < DAYS {
                let end = (d + 30).min(DAYS);
                store
                    .edit_batch(&cell, |doc| {
                        for di in d..end {
                            let day = day0() + Duration::days(di);
                            let n = 5 + u64::from(g.below(2) == 0);
                            for k in 0..n as i64 {
                                doc.record_visit(
                                    &new_id(),
                                    visit(&mut g, &people, day, 8 * 3600 + k * 1800),
                                )?;
                            }
                            doc.submit_report(NewReport {
                                date: day,
                                by: people.lead.clone(),
                                at: at(day, 20 * 3600),
                                arrivals: 0,
                                under_monitoring: Some(0),
                                abnormal: 0,
                                errands: None,
                                note: None,
                            })?;
                        }
                        Ok(())
                    })
                    .expect("history");
                d = end;
            }
        }
        store.compact_all().expect("compact");
        store.vacuum().expect("vacuum");
        // The JSON table: every visit of the store, padded with copies to
        // JSON_ROWS rows.
        let mut visits = Vec::new();
        for c in store.cells(&[]).expect("cells") {
            for v in store.with_doc(&c.id, |d| d.visits()).expect("visits") {
                visits.push((c.id.clone(), v));
            }
        }
        drop(store);
        let mut conn = open_json(&json_path, Durability::Normal);
        let tx = conn.transaction().expect("tx");
        {
            let mut s = tx
                .prepare("INSERT INTO visits (id, cell_id, json) VALUES (?1, ?2, ?3)")
                .expect("prepare");
            for i in 0..JSON_ROWS {
                let (cell, v) = &visits[i % visits.len()];
                let v = Visit {
                    id: new_id(),
                    ..v.clone()
                };
                s.execute(params![
                    v.id,
                    cell,
                    serde_json::to_string(&v).expect("json")
                ])
                .expect("insert");
            }
        }
        tx.commit().expect("commit");
        conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("vacuum");
        std::fs::write(&done, "").expect("done");
        (store_path, json_path)
    }

    fn open_json(path: &Path, durability: Durability) -> Connection {
        let conn = Connection::open(path).expect("open json db");
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS visits (id TEXT PRIMARY KEY, cell_id TEXT NOT NULL, json TEXT NOT NULL);"
        ))
        .expect("pragmas");
        conn
    }

    fn insert_json(conn: &mut Connection, cell: &str, v: NewVisit) {
        let v = Visit {
            id: new_id(),
            kind: v.kind,
            household_id: v.household_id,
            member_id: v.member_id,
            at: v.at.to_rfc3339(),
            by: v.by,
            temperature: v.temperature,
            symptoms: v.symptoms,
            outcome: v.outcome,
            note: v.note,
            task_id: v.task_id,
        };
        let json = serde_json::to_string(&v).expect("json");
        let tx = conn.transaction().expect("tx");
        tx.prepare_cached("INSERT INTO visits (id, cell_id, json) VALUES (?1, ?2, ?3)")
            .expect("prepare")
            .execute(params![v.id, cell, json])
            .expect("insert");
        tx.commit().expect("commit");
    }

    /// A store under test: a copy of the fixture opened with `options`.
    struct Side {
        label: &'static str,
        store: Store,
        cells: Vec<(String, People)>,
        ns: Vec<f64>,
        /// The calling thread's CPU time per write (ns): what the write
        /// cost, without the time it waited for the disk or a core.
        cpu: Vec<f64>,
    }

    fn side(dir: &Path, from: &Path, label: &'static str, options: StoreOptions) -> Side {
        let path = dir.join(format!("{label}.db"));
        remove_db(&path);
        std::fs::copy(from, &path).expect("copy store");
        let store = Store::open(&path, options).expect("open");
        let mut cells = Vec::new();
        for c in store.cells(&[]).expect("cells") {
            let households = store
                .with_doc(&c.id, |d| d.households())
                .expect("households")
                .into_iter()
                .map(|h| (h.id, h.members.into_iter().map(|m| m.id).collect()))
                .collect();
            let lead = c.lead.clone().unwrap_or_default();
            cells.push((c.id, People { lead, households }));
        }
        Side {
            label,
            store,
            cells,
            ns: Vec::new(),
            cpu: Vec::new(),
        }
    }

    /// The sides compared: the store as it is by default (compaction on its
    /// own thread after the write returns) and, as the baseline of that
    /// change, the same build compacting inside the write as it did before.
    fn sides(dir: &Path, from: &Path, durability: Durability) -> Vec<Side> {
        let with = |compaction| StoreOptions {
            durability,
            compaction,
            ..Default::default()
        };
        let mut v = vec![
            side(dir, from, "silin", with(Compaction::Background)),
            side(
                dir,
                from,
                "silin_compacting_in_write",
                with(Compaction::InWrite),
            ),
            // Nobody calls `maintain` and no cell reaches the bound in this
            // run: the same writes with no compaction at all, the floor.
            side(
                dir,
                from,
                "silin_not_compacting",
                with(Compaction::OnMaintain),
            ),
        ];
        // `SILIN_BENCH_SIDES=silin,…`: only these sides (fewer stores, fewer
        // fsyncs of one another's in the same run).
        if let Ok(only) = std::env::var("SILIN_BENCH_SIDES") {
            v.retain(|s| only.split(',').any(|o| o == s.label));
        }
        if std::env::var_os("SILIN_BENCH_NO_AUTOCHECKPOINT").is_some() {
            let s = side(
                dir,
                from,
                "silin_no_autocheckpoint",
                with(Compaction::OnMaintain),
            );
            s.store
                .with_connection(|c| Ok(c.execute_batch("PRAGMA wal_autocheckpoint = 0")?))
                .expect("pragma");
            v.push(s);
        }
        v
    }

    fn pct(sorted: &[f64], p: f64) -> f64 {
        sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
    }

    fn summary(ns: &mut [f64]) -> serde_json::Value {
        ns.sort_by(f64::total_cmp);
        let mean = ns.iter().sum::<f64>() / ns.len() as f64;
        let us = |x: f64| (x / 100.0).round() / 10.0;
        json!({
            "p50_us": us(pct(ns, 0.5)),
            "p90_us": us(pct(ns, 0.9)),
            "p99_us": us(pct(ns, 0.99)),
            "max_us": us(ns[ns.len() - 1]),
            "mean_us": us(mean),
        })
    }

    /// One durability: every side and the JSON row written in turn, one
    /// visit each per round, the order rotating every round.
    fn measure(
        from: &(PathBuf, PathBuf),
        durability: Durability,
        pairs: usize,
    ) -> serde_json::Value {
        let dir = tempfile::tempdir_in(target_dir().join("silin-bench")).expect("temp dir");
        let json_path = dir.path().join("json.db");
        std::fs::copy(&from.1, &json_path).expect("copy json");
        let mut conn = open_json(&json_path, durability);
        let mut sides = sides(dir.path(), &from.0, durability);
        let cells = sides[0].cells.len();
        let mut g = Lcg(11);
        // Stagger the cells' chunk counts (the fixture compacted them all),
        // as in a store in use: cell k starts with k × 128 / cells chunks.
        for s in &mut sides {
            for (k, (cell, people)) in s.cells.iter().enumerate() {
                for i in 0..k * 128 / cells {
                    let v = visit(&mut g, people, day0() + Duration::days(DAYS), i as i64 + 1);
                    s.store.record_visit(cell, v).expect("stagger");
                }
            }
        }
        let mut base = Vec::with_capacity(pairs);
        let mut base_cpu = Vec::with_capacity(pairs);
        let warmup = 64;
        for round in 0..pairs + warmup {
            let k = round % cells;
            let day = day0() + Duration::days(DAYS + 1 + (round / cells / 6) as i64);
            let secs = (round % 80_000) as i64 + 1;
            let n = sides.len() + 1;
            for j in 0..n {
                let who = (round + j) % n;
                if who == sides.len() {
                    let (cell, people) = &sides[0].cells[k];
                    let v = visit(&mut g, people, day, secs);
                    let cell = cell.clone();
                    let (t, c) = (Instant::now(), thread_cpu_ns());
                    insert_json(&mut conn, &cell, v);
                    if round >= warmup {
                        base.push(t.elapsed().as_nanos() as f64);
                        base_cpu.push(thread_cpu_ns() - c);
                    }
                } else {
                    let s = &mut sides[who];
                    let (cell, people) = &s.cells[k];
                    let v = visit(&mut g, people, day, secs);
                    let (t, c) = (Instant::now(), thread_cpu_ns());
                    s.store.record_visit(cell, v).expect("record");
                    if round >= warmup {
                        s.ns.push(t.elapsed().as_nanos() as f64);
                        s.cpu.push(thread_cpu_ns() - c);
                    }
                }
            }
        }
        let mut base_sum = summary(&mut base);
        let base_p50 = pct(&base, 0.5);
        base_sum["cpu"] = summary(&mut base_cpu);
        let base_cpu_p50 = pct(&base_cpu, 0.5);
        let mut out = serde_json::Map::new();
        out.insert("json_row".into(), base_sum);
        for s in &mut sides {
            let mut sum = summary(&mut s.ns);
            let mut cpu = summary(&mut s.cpu);
            let (c50, c99) = (pct(&s.cpu, 0.5), pct(&s.cpu, 0.99));
            cpu["p99_over_p50"] = json!((c99 / c50 * 100.0).round() / 100.0);
            cpu["p50_over_json_row_us"] = json!(((c50 - base_cpu_p50) / 100.0).round() / 10.0);
            sum["cpu"] = cpu;
            let p50 = pct(&s.ns, 0.5);
            let p99 = pct(&s.ns, 0.99);
            sum["p99_over_p50"] = json!((p99 / p50 * 100.0).round() / 100.0);
            sum["p50_over_json_row_us"] = json!(((p50 - base_p50) / 100.0).round() / 10.0);
            sum["p50_ratio_to_json_row"] = json!((p50 / base_p50 * 100.0).round() / 100.0);
            let stats = s.store.stats().expect("stats");
            sum["chunks_left"] = json!(stats.chunks);
            out.insert(s.label.into(), sum);
        }
        serde_json::Value::Object(out)
    }

    /// CPU time of the calling thread, in ns.
    fn thread_cpu_ns() -> f64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a
        // constant every Linux provides.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
    }

    pub fn run() {
        let cells: usize = arg("--cells", 8);
        let pairs: usize = arg("--pairs", 2000);
        let full_pairs: usize = arg("--full-pairs", 1000);
        let t = Instant::now();
        let from = fixture(cells);
        let fixture_s = t.elapsed().as_secs_f64();
        let normal = measure(&from, Durability::Normal, pairs);
        let full = measure(&from, Durability::Full, full_pairs);
        println!(
            "{}",
            json!({
                "cells": cells,
                "fixture_s": (fixture_s * 10.0).round() / 10.0,
                "normal": normal,
                "normal_pairs": pairs,
                "full": full,
                "full_pairs": full_pairs,
            })
        );
    }
}
