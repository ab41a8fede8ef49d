//! Store benchmarks, each against a baseline measured in the same run.
//!
//! (a) `record_visit` on a store with default options (WAL + synchronous=FULL)
//!     in a cell holding a year of history, against a raw rusqlite INSERT of
//!     the same visit serialized as JSON, in its own transaction, with the
//!     same pragmas, in a file in the same directory. Also both on
//!     `Durability::Normal`, for information.
//! (b) `Store::open` on 120 cells × one year and 120 cells × one week,
//!     against `Connection::open` + the same pragmas on the same file.
//! (c) bytes on disk per visit after `compact_all` + `vacuum`, against a
//!     JSON-row database holding the same visits (printed, not timed).
//!
//! Run: `cargo bench -p silin-core --bench store`. The 120-cell stores are
//! built once (deterministically, from a seed) and cached under
//! `target/silin-bench/`; set `SILIN_BENCH_REBUILD=1` to rebuild them.
//! Results and doc: doc/BENCHMARKS.md.

use chrono::{DateTime, Duration as Days, FixedOffset, NaiveDate, TimeZone};
use criterion::{BatchSize, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{params, Connection};
use silin_core::cell::CellDoc;
use silin_core::model::*;
use silin_core::{Durability, Store, StoreOptions};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bump when the generator changes, so cached stores are rebuilt.
const GENERATOR: u32 = 1;
const CELLS: usize = 120;
const YEAR: u32 = 365;
const WEEK: u32 = 7;
/// ~2,000 visits per cell-year (DESIGN.md, reference workload).
const VISITS_PER_YEAR: f64 = 2000.0;

// ---- deterministic workload ------------------------------------------------

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建国", "玉兰", "志强", "春梅", "海燕",
    "文", "红",
];
const TOWNSHIPS: &[&str] = &[
    "城关镇",
    "站儿巷镇",
    "西坡镇",
    "杨店镇",
    "显龙镇",
    "鱼池镇",
    "左家镇",
    "张家庄镇",
];
const OUTCOMES: &[&str] = &[
    "在家，情况正常",
    "体温正常，无不适",
    "已电话联系，本人在外务工",
    "已代购药品送达",
    "已通知接种加强针",
    "已告知次日核酸检测时间",
    "家中无人，已电话联系",
];
const NOTES: &[&str] = &[
    "老人独居，需每日查看",
    "腿脚不便，代取药品",
    "返乡人员，居家健康监测第3天",
    "已张贴告知书",
    "家属在外地，电话已核实",
];

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn name(&mut self) -> String {
        format!("{}{}", self.pick(SURNAMES), self.pick(GIVEN))
    }

    fn phone(&mut self) -> String {
        format!(
            "1{}{:09}",
            self.rng.random_range(3..=9),
            self.rng.random_range(0..1_000_000_000u64)
        )
    }

    /// A valid 18-digit resident ID (Liangdang county code 621225).
    fn resident_id(&mut self, birth_year: i32) -> String {
        let body = format!(
            "621225{birth_year:04}{:02}{:02}{:03}",
            self.rng.random_range(1..=12),
            self.rng.random_range(1..=28),
            self.rng.random_range(0..1000)
        );
        let check = resident_id_check_char(&body);
        format!("{body}{check}")
    }
}

/// What the generator needs to know about a cell to write visits for it.
struct CellPeople {
    lead: String,
    households: Vec<(String, Vec<String>)>,
}

fn day0() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).expect("date")
}

fn at(day: NaiveDate, secs: u32) -> DateTime<FixedOffset> {
    let tz = FixedOffset::east_opt(8 * 3600).expect("offset");
    let naive =
        day.and_hms_opt(0, 0, 0).expect("time") + chrono::Duration::seconds(i64::from(secs));
    tz.from_local_datetime(&naive).single().expect("local time")
}

/// Registers 3–5 households of 1–5 members in a new cell document.
fn register(
    g: &mut Gen,
    doc: &mut CellDoc,
    lead: &str,
    village: &str,
) -> silin_core::Result<CellPeople> {
    let today = day0();
    let ts = at(today, 9 * 3600).timestamp();
    let mut households = Vec::new();
    for h in 0..g.rng.random_range(3..=5) {
        let hid = new_id();
        let nh = NewHousehold {
            address: Some(format!("{village}{}号", g.rng.random_range(1..200))),
            door: Some(format!("{}", h + 1)),
            phone: Some(g.phone()),
        };
        doc.add_household(&hid, nh, ts)?;
        let mut members = Vec::new();
        for m in 0..g.rng.random_range(1..=5) {
            let mid = new_id();
            let year = g.rng.random_range(1940..2020);
            let name = if h == 0 && m == 0 {
                lead.to_string()
            } else {
                g.name()
            };
            let nm = NewMember {
                name,
                sex: None,
                birth_year: Some(i64::from(year)),
                id_number: Some(g.resident_id(year)),
                phone: g.rng.random_bool(0.7).then(|| g.phone()),
                relation: Some(if m == 0 { "户主" } else { "家庭成员" }.to_string()),
                residence: Some(if g.rng.random_bool(0.15) {
                    Residence::Away
                } else {
                    Residence::Resident
                }),
                vulnerable: if year < 1955 {
                    vec![Vulnerability::Elderly]
                } else {
                    Vec::new()
                },
            };
            doc.add_member(&hid, &mid, nm, today, ts)?;
            members.push(mid);
        }
        households.push((hid, members));
    }
    Ok(CellPeople {
        lead: lead.to_string(),
        households,
    })
}

/// One visit of the daily mix: health checks, door knocks, calls, errands, notices.
fn visit(g: &mut Gen, p: &CellPeople, day: NaiveDate, secs: u32) -> NewVisit {
    let (hid, members) = &p.households[g.rng.random_range(0..p.households.len())];
    let member = members[g.rng.random_range(0..members.len())].clone();
    let roll = g.rng.random_range(0..100);
    let kind = match roll {
        0..40 => VisitKind::HealthCheck,
        40..65 => VisitKind::DoorKnock,
        65..80 => VisitKind::Call,
        80..90 => VisitKind::Errand,
        _ => VisitKind::Notify,
    };
    let mut v = NewVisit::new(kind, at(day, secs), &p.lead);
    match kind {
        VisitKind::HealthCheck => {
            v.member_id = Some(member);
            let fever = g.rng.random_bool(0.01);
            v.temperature = Some(if fever {
                37.6
            } else {
                36.0 + f64::from(g.rng.random_range(0..12u8)) / 10.0
            });
            if fever {
                v.symptoms = Some("发热，轻微咳嗽".into());
            }
            v.outcome = Some(OUTCOMES[1].into());
        }
        VisitKind::DoorKnock | VisitKind::Notify => {
            v.household_id = Some(hid.clone());
            v.outcome = Some(g.pick(OUTCOMES).into());
        }
        VisitKind::Call | VisitKind::Errand => {
            v.member_id = Some(member);
            v.outcome = Some(g.pick(OUTCOMES).into());
        }
    }
    if g.rng.random_bool(0.2) {
        v.note = Some(g.pick(NOTES).into());
    }
    v
}

/// Writes `days` days of visits and daily reports, one transaction per 30 days.
fn write_history(
    g: &mut Gen,
    store: &Store,
    cell: &str,
    p: &CellPeople,
    days: u32,
) -> silin_core::Result<()> {
    let per_day = VISITS_PER_YEAR / f64::from(YEAR);
    let mut d = 0;
    while d < days {
        let end = (d + 30).min(days);
        store.edit_batch(cell, |doc| {
            for di in d..end {
                let day = day0() + Days::days(i64::from(di));
                let n = per_day.floor() as u32 + u32::from(g.rng.random_bool(per_day.fract()));
                let mut abnormal = 0;
                let mut errands = 0;
                for k in 0..n {
                    let secs = 8 * 3600 + k * 1800 + g.rng.random_range(0..1200);
                    let v = visit(g, p, day, secs);
                    abnormal += i64::from(v.symptoms.is_some());
                    errands += i64::from(v.kind == VisitKind::Errand);
                    doc.record_visit(&new_id(), v)?;
                }
                doc.submit_report(NewReport {
                    date: day,
                    by: p.lead.clone(),
                    at: at(day, 20 * 3600),
                    arrivals: 0,
                    under_monitoring: Some(0),
                    abnormal,
                    errands: Some(errands),
                    note: None,
                })?;
            }
            Ok(())
        })?;
        d = end;
    }
    Ok(())
}

fn region(i: usize) -> RegionPath {
    let t = TOWNSHIPS[i / 15 % TOWNSHIPS.len()];
    RegionPath::parse(&format!("两当县/{t}/村{}/组{}", i / 5, i % 5 + 1)).expect("path")
}

/// Builds `cells` cells with `days` of history each (Durability::Normal),
/// then compacts and vacuums. Returns the cell ids.
fn build_store(path: &Path, cells: usize, days: u32, seed: u64) -> Vec<String> {
    let _ = std::fs::remove_file(path);
    let store = Store::open(
        path,
        StoreOptions {
            durability: Durability::Normal,
            cache_docs: 4,
            ..StoreOptions::default()
        },
    )
    .expect("open");
    let mut g = Gen::new(seed);
    let mut ids = Vec::new();
    for i in 0..cells {
        let lead = g.name();
        let village = format!("村{}", i / 5);
        let (id, people) = store
            .create_cell_with(
                &format!("第{}联户", i + 1),
                &region(i),
                Some(&lead),
                |doc| register(&mut g, doc, &lead, &village),
            )
            .expect("create cell");
        write_history(&mut g, &store, &id, &people, days).expect("history");
        ids.push(id);
    }
    store.compact_all().expect("compact");
    store.vacuum().expect("vacuum");
    ids
}

// ---- JSON-row baseline -------------------------------------------------------

const PRAGMAS_FULL: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                            PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";
const PRAGMAS_NORMAL: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                              PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

fn open_json(path: &Path, pragmas: &str) -> Connection {
    let conn = Connection::open(path).expect("open json db");
    conn.execute_batch(pragmas).expect("pragmas");
    conn.execute_batch("CREATE TABLE IF NOT EXISTS visits (id TEXT PRIMARY KEY, cell_id TEXT NOT NULL, json TEXT NOT NULL);")
        .expect("table");
    conn
}

/// The visit record as the store would read it back, for the JSON baseline.
fn visit_record(id: String, v: NewVisit) -> Visit {
    Visit {
        id,
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
    }
}

fn insert_json(conn: &mut Connection, cell: &str, v: &Visit) {
    let json = serde_json::to_string(v).expect("json");
    let tx = conn.transaction().expect("tx");
    tx.prepare_cached("INSERT INTO visits (id, cell_id, json) VALUES (?1, ?2, ?3)")
        .expect("prepare")
        .execute(params![v.id, cell, json])
        .expect("insert");
    tx.commit().expect("commit");
}

/// Copies every visit of `store` into a JSON-row database (one bulk
/// transaction), vacuumed and checkpointed. Returns the visit count.
fn json_copy(store: &Store, cells: &[String], path: &Path) -> usize {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut conn = open_json(path, PRAGMAS_NORMAL);
    let tx = conn.transaction().expect("tx");
    let mut n = 0;
    for cell in cells {
        let visits = store.with_doc(cell, |d| d.visits()).expect("visits");
        let mut s = tx
            .prepare_cached("INSERT INTO visits (id, cell_id, json) VALUES (?1, ?2, ?3)")
            .expect("prepare");
        for v in &visits {
            s.execute(params![v.id, cell, serde_json::to_string(v).expect("json")])
                .expect("insert");
            n += 1;
        }
    }
    tx.commit().expect("commit");
    conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("vacuum");
    n
}

// ---- fixtures --------------------------------------------------------------------

fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(d);
    }
    // target/<profile>/deps/store-<hash>
    let exe = std::env::current_exe().expect("exe");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("criterion"))
}

struct Fixture {
    store: PathBuf,
    json: PathBuf,
    visits: usize,
}

/// A cached 120-cell store with `days` of history and its JSON copy.
fn fixture(dir: &Path, label: &str, days: u32, seed: u64) -> Fixture {
    let stem = format!(
        "{label}-{CELLS}x{days}-g{GENERATOR}-l{}",
        silin_core::store::LAYOUT
    );
    let f = Fixture {
        store: dir.join(format!("{stem}.db")),
        json: dir.join(format!("{stem}-json.db")),
        visits: 0,
    };
    let count_file = dir.join(format!("{stem}.visits"));
    let rebuild = std::env::var_os("SILIN_BENCH_REBUILD").is_some();
    if !rebuild {
        if let Some(n) = std::fs::read_to_string(&count_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            if f.store.exists() && f.json.exists() {
                return Fixture { visits: n, ..f };
            }
        }
    }
    let _ = std::fs::remove_file(&count_file);
    eprintln!(
        "building {} ({CELLS} cells × {days} days)…",
        f.store.display()
    );
    let t = Instant::now();
    let ids = build_store(&f.store, CELLS, days, seed);
    let built = t.elapsed();
    let store = Store::open(&f.store, StoreOptions::default()).expect("reopen");
    let n = json_copy(&store, &ids, &f.json);
    drop(store);
    eprintln!(
        "  built in {:.1} s, {n} visits; JSON copy in {:.1} s",
        built.as_secs_f64(),
        t.elapsed().as_secs_f64() - built.as_secs_f64()
    );
    std::fs::write(&count_file, n.to_string()).expect("write count");
    Fixture { visits: n, ..f }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

// ---- (c) bytes per visit ----------------------------------------------------------

struct SizeRow {
    label: String,
    ours: f64,
    base: f64,
}

fn table_bytes(path: &Path) -> Vec<(String, i64)> {
    let conn = Connection::open(path).expect("open");
    let Ok(mut s) = conn.prepare(
        "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d \
         LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1 ORDER BY 2 DESC",
    ) else {
        return Vec::new();
    };
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .unwrap_or_default()
}

fn sizes(f: &Fixture, label: &str) -> SizeRow {
    // Both files were checkpointed with TRUNCATE after VACUUM; a stray WAL
    // (none expected) is counted too.
    let ours = file_len(&f.store) + file_len(&f.store.with_extension("db-wal"));
    let base = file_len(&f.json) + file_len(&PathBuf::from(format!("{}-wal", f.json.display())));
    let n = f.visits.max(1) as f64;
    println!(
        "(c) {label}: {} visits; silin store {} bytes = {:.1} B/visit; JSON rows {} bytes = {:.1} B/visit; ratio {:.2} (target ≤ 1.5)",
        f.visits,
        ours,
        ours as f64 / n,
        base,
        base as f64 / n,
        ours as f64 / base as f64
    );
    let tables = table_bytes(&f.store);
    if !tables.is_empty() {
        let parts: Vec<String> = tables
            .iter()
            .map(|(t, b)| format!("{t} {:.1}", *b as f64 / n))
            .collect();
        println!(
            "    silin store by table (B/visit, pages incl. indexes): {}",
            parts.join(", ")
        );
    }
    SizeRow {
        label: label.to_string(),
        ours: ours as f64 / n,
        base: base as f64 / n,
    }
}

// ---- (a) record_visit ---------------------------------------------------------------

/// Cells the write benchmarks rotate over, so that each gains only a few
/// hundred visits however many iterations criterion picks (a year of
/// history stays about a year), and all stay in the document cache.
const WRITE_CELLS: usize = 32;

fn remove_db(p: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
}

/// Fresh copies of a cached store and its JSON-row twin, side by side in
/// `dir`: every cell, and the JSON table, already hold their history.
fn write_fixture(dir: &Path, from: &Fixture) -> (PathBuf, PathBuf) {
    let store = dir.join("write.db");
    let json = dir.join("write-json.db");
    remove_db(&store);
    remove_db(&json);
    std::fs::copy(&from.store, &store).expect("copy store");
    std::fs::copy(&from.json, &json).expect("copy json");
    (store, json)
}

/// Opens the store with `durability` (otherwise default options), loads the
/// first [`WRITE_CELLS`] cells, and returns them with their people.
fn open_for_writes(path: &Path, durability: Durability) -> (Store, Vec<(String, CellPeople)>) {
    let store = Store::open(
        path,
        StoreOptions {
            durability,
            ..StoreOptions::default()
        },
    )
    .expect("open");
    let cells = store.cells(&[]).expect("cells");
    let mut out = Vec::new();
    for c in cells.into_iter().take(WRITE_CELLS) {
        let households = store
            .with_doc(&c.id, |d| d.households())
            .expect("households")
            .into_iter()
            .map(|h| (h.id, h.members.into_iter().map(|m| m.id).collect()))
            .collect();
        let lead = c.lead.clone().unwrap_or_else(|| "联户长".into());
        out.push((c.id, CellPeople { lead, households }));
    }
    (store, out)
}

/// Hands out the next (cell, visit) pair, round-robin over the cells, on
/// days after the year of history.
struct VisitSource<'a> {
    g: Gen,
    cells: &'a [(String, CellPeople)],
    n: usize,
}

impl VisitSource<'_> {
    fn next(&mut self) -> (String, NewVisit) {
        let (id, people) = &self.cells[self.n % self.cells.len()];
        let day = day0() + Days::days(i64::from(YEAR) + (self.n / self.cells.len()) as i64 / 6);
        let secs = (self.n as u32 % 86_000).max(1);
        self.n += 1;
        (id.clone(), visit(&mut self.g, people, day, secs))
    }
}

fn pragmas(durability: Durability) -> &'static str {
    match durability {
        Durability::Full => PRAGMAS_FULL,
        Durability::Normal => PRAGMAS_NORMAL,
    }
}

fn bench_record_visit(c: &mut Criterion, dir: &Path, year: &Fixture) {
    for (durability, name, secs) in [
        (Durability::Full, "full", 5),
        (Durability::Normal, "normal", 3),
    ] {
        let (store_path, json_path) = write_fixture(dir, year);
        let (store, cells) = open_for_writes(&store_path, durability);
        let mut conn = open_json(&json_path, pragmas(durability));
        let mut src = VisitSource {
            g: Gen::new(11),
            cells: &cells,
            n: 0,
        };
        let mut group = c.benchmark_group(format!("a_record_visit_{name}"));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(secs));
        group.bench_function("silin", |b| {
            b.iter_batched(
                || src.next(),
                |(cell, v)| black_box(store.record_visit(&cell, v).expect("record")),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("json_row", |b| {
            b.iter_batched(
                || src.next(),
                |(cell, v)| insert_json(&mut conn, &cell, &visit_record(new_id(), v)),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

struct Paired {
    label: &'static str,
    pairs: usize,
    ours: Vec<f64>,
    base: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    v[v.len() / 2]
}

fn pct(v: &[f64], p: f64) -> f64 {
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The same comparison with the two writes interleaved one by one, so both
/// see the same disk (fsync latency on this shared VM drifts by several
/// milliseconds from minute to minute). Per-write times in ns, sorted.
fn paired_record_visit(
    dir: &Path,
    from: &Fixture,
    durability: Durability,
    label: &'static str,
    pairs: usize,
) -> Paired {
    let (store_path, json_path) = write_fixture(dir, from);
    let (store, cells) = open_for_writes(&store_path, durability);
    let mut conn = open_json(&json_path, pragmas(durability));
    let mut src = VisitSource {
        g: Gen::new(13),
        cells: &cells,
        n: 0,
    };
    let mut ours = Vec::with_capacity(pairs);
    let mut base = Vec::with_capacity(pairs);
    for i in 0..pairs + 64 {
        let (cell, v) = src.next();
        let (cell2, v2) = src.next();
        let v2 = visit_record(new_id(), v2);
        let t = Instant::now();
        black_box(store.record_visit(&cell, v).expect("record"));
        let a = t.elapsed();
        let t = Instant::now();
        insert_json(&mut conn, &cell2, &v2);
        let b = t.elapsed();
        // The first rounds warm the caches (and fill the WAL a little).
        if i >= 64 {
            ours.push(a.as_nanos() as f64);
            base.push(b.as_nanos() as f64);
        }
    }
    ours.sort_by(f64::total_cmp);
    base.sort_by(f64::total_cmp);
    let p = Paired {
        label,
        pairs,
        ours,
        base,
    };
    print_paired(&p);
    p
}

fn print_paired(p: &Paired) {
    println!(
        "(a) paired {} ({} interleaved pairs): silin median {} p90 {} p99 {} mean {} | JSON row median {} p90 {} p99 {} mean {} | ratio median {:.2}, mean {:.2}",
        p.label,
        p.pairs,
        fmt_ns(median(&p.ours)),
        fmt_ns(pct(&p.ours, 0.9)),
        fmt_ns(pct(&p.ours, 0.99)),
        fmt_ns(mean(&p.ours)),
        fmt_ns(median(&p.base)),
        fmt_ns(pct(&p.base, 0.9)),
        fmt_ns(pct(&p.base, 0.99)),
        fmt_ns(mean(&p.base)),
        median(&p.ours) / median(&p.base),
        mean(&p.ours) / mean(&p.base)
    );
}

// ---- (b) open --------------------------------------------------------------------------

fn bench_open(c: &mut Criterion, year: &Fixture, week: &Fixture) {
    let mut group = c.benchmark_group("b_open");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (label, f) in [("year", year), ("week", week)] {
        // Time the open only: closing a WAL database checkpoints and removes
        // the WAL, which is not what this measures.
        group.bench_function(format!("silin_{label}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let s = Store::open(&f.store, StoreOptions::default()).expect("open");
                    total += t.elapsed();
                    drop(black_box(s));
                }
                total
            })
        });
        group.bench_function(format!("rusqlite_{label}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let conn = Connection::open(&f.store).expect("open");
                    conn.execute_batch(PRAGMAS_FULL).expect("pragmas");
                    total += t.elapsed();
                    drop(black_box(conn));
                }
                total
            })
        });
    }
    group.finish();
}

// ---- summary -------------------------------------------------------------------------------

/// Mean and 95 % interval (ns) of a benchmark measured in this run.
fn estimate(group: &str, bench: &str, since: std::time::SystemTime) -> Option<(f64, f64, f64)> {
    let p = criterion_dir()
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&p).and_then(|m| m.modified()).ok()?;
    if modified < since {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
    let mean = &v["mean"];
    Some((
        mean["point_estimate"].as_f64()?,
        mean["confidence_interval"]["lower_bound"].as_f64()?,
        mean["confidence_interval"]["upper_bound"].as_f64()?,
    ))
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

fn summary(since: std::time::SystemTime, sizes: &[SizeRow], paired: &[Paired]) {
    println!("\n==== summary (criterion mean, 95% CI; ratio = silin / baseline) ====");
    let pairs = [
        ("a_record_visit_full", "silin", "json_row", "≤ 1.5×"),
        ("a_record_visit_normal", "silin", "json_row", "info"),
        ("b_open", "silin_year", "rusqlite_year", "≤ 20 ms"),
        ("b_open", "silin_week", "rusqlite_week", "≤ 20 ms"),
    ];
    for (group, ours, base, target) in pairs {
        match (estimate(group, ours, since), estimate(group, base, since)) {
            (Some(o), Some(b)) => println!(
                "{group}/{ours}: {} [{} – {}] vs {base}: {} [{} – {}]  ratio {:.2}  target {target}",
                fmt_ns(o.0),
                fmt_ns(o.1),
                fmt_ns(o.2),
                fmt_ns(b.0),
                fmt_ns(b.1),
                fmt_ns(b.2),
                o.0 / b.0
            ),
            _ => println!("{group}/{ours}: not measured in this run"),
        }
    }
    for p in paired {
        print_paired(p);
    }
    for s in sizes {
        println!(
            "c_bytes_per_visit/{}: {:.1} B vs JSON rows {:.1} B  ratio {:.2}  target ≤ 1.5×",
            s.label,
            s.ours,
            s.base,
            s.ours / s.base
        );
    }
}

fn main() {
    let since = std::time::SystemTime::now();
    let dir = target_dir().join("silin-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let year = fixture(&dir, "year", YEAR, 1);
    let week = fixture(&dir, "week", WEEK, 2);
    let size_rows = vec![sizes(&year, "year"), sizes(&week, "week")];

    let mut c = Criterion::default().configure_from_args();
    bench_record_visit(&mut c, &dir, &year);
    bench_open(&mut c, &year, &week);
    c.final_summary();
    // Skipped when a filter was given that does not name them.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut paired = Vec::new();
    if filter
        .as_deref()
        .is_none_or(|f| "a_record_visit_paired".contains(f) || f.contains("paired"))
    {
        for (from, durability, label, pairs) in [
            (&year, Durability::Full, "full", 1000),
            (&year, Durability::Normal, "normal", 2000),
            // Cells with a week of history: a write should not cost more
            // with a year behind it.
            (&week, Durability::Normal, "normal, week-old cells", 2000),
        ] {
            paired.push(paired_record_visit(&dir, from, durability, label, pairs));
        }
    }
    summary(since, &size_rows, &paired);
}
