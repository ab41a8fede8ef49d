//! silin-workload: the "Liangdang scale" reference workload, generated
//! deterministically from a seed. One county (两当县) of 12 townships, 116
//! villages and 5 urban communities, about 270 groups and compounds, and N
//! micro-grid cells (2,903 at reference scale) of 3–5 households each, with
//! realistic Chinese names, valid resident ID numbers and mobile numbers,
//! migrant workers away from home, returnees under home monitoring and the
//! vulnerable people a lead householder runs errands for. [`plan::Planner`]
//! then produces each day's activity — the lead's door knocks, health checks,
//! errands and calls, the grid worker's visits and edits, returnee arrivals,
//! office imports and the daily zero report — together with the totals a
//! correct rollup must show. The demo, the tests and the benchmarks all use
//! it, so "2,903 cells" means the same thing everywhere. Nothing here reads
//! the clock: the same seed and size give the same county, byte for byte.

mod county_seat;
mod names;
pub mod plan;

pub use county_seat::{Building, Head, COMMUNITY_LEVELS, REFERENCE_BUILDINGS, REFERENCE_UNITS};
pub use plan::{
    apply_actions, Action, CellDayPlan, DayPlan, DayTotals, HandCount, Planner, ReportPlan,
    Reporter,
};

use chrono::{Datelike, Days, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use silin_core::cell::CellDoc;
use silin_core::model::{
    resident_id_check_char, MemberEdit, NewHousehold, NewMember, RegionPath, Residence, Sex,
    ValidationError, Vulnerability,
};
use std::collections::HashSet;

/// Cells in the reference county.
pub const REFERENCE_CELLS: usize = 2903;
/// Groups (村民小组) and compounds (小区) in the reference county.
pub const REFERENCE_GROUPS: usize = 270;
/// A grid worker's phone holds this many cells at least (unless the whole
/// township has fewer) and at most.
pub const GRID_WORKER_MIN_CELLS: usize = 20;
pub const GRID_WORKER_MAX_CELLS: usize = 120;
/// Days a returnee stays under home monitoring after arrival.
pub const MONITORING_DAYS: u64 = 14;

/// The first simulated day. Fixed so that output depends only on the seed
/// and the size, never on when the generator runs.
pub fn start_date() -> NaiveDate {
    // A constant, valid date: the fallback is never taken.
    NaiveDate::from_ymd_opt(2026, 11, 30).unwrap_or(NaiveDate::MIN)
}

/// Mixes the seed with a stream tag and an index (splitmix64), so every cell
/// and every grid worker draws from its own stream: a cell's content does not
/// depend on how many cells come before it or on processing order.
pub(crate) fn stream(seed: u64, tag: u64, index: u64) -> StdRng {
    let mut z =
        seed ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    StdRng::seed_from_u64(z)
}

const TAG_REGIONS: u64 = 1;
const TAG_CELL: u64 = 2;
const TAG_GRID_WORKER: u64 = 3;
pub(crate) const TAG_PLAN: u64 = 4;

/// A UUIDv7-shaped id from the generator's own stream: the timestamp part
/// counts up per cell so ids sort in creation order, the rest is random.
fn make_id(rng: &mut StdRng, ms: u64) -> String {
    let r: u64 = rng.random();
    let a = (r >> 52) & 0xFFF;
    let b: u64 = rng.random();
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        (ms >> 16) & 0xFFFF_FFFF,
        ms & 0xFFFF,
        a,
        0x8000 | ((b >> 48) & 0x3FFF),
        b & 0xFFFF_FFFF_FFFF
    )
}

/// An 18-character resident ID number: area code, birth date, a 3-digit
/// sequence whose last digit is odd for men and even for women, and the
/// ISO 7064 MOD 11-2 check character.
pub fn resident_id(area: &str, birth: NaiveDate, seq: u32, male: bool) -> String {
    let seq = (seq % 500) * 2 + u32::from(male);
    let body = format!("{area}{}{seq:03}", birth.format("%Y%m%d"));
    let check = resident_id_check_char(&body);
    format!("{body}{check}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Township {
    pub name: String,
    pub villages: Vec<Village>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Village {
    pub name: String,
    /// An urban community (社区), whose groups are compounds (小区).
    pub urban: bool,
    pub groups: Vec<String>,
    /// A community's buildings (in its compounds) and their units, where
    /// its cells are; empty for a village.
    pub buildings: Vec<Building>,
}

impl Village {
    /// The regions below this one that hold cells: a village's groups, a
    /// community's units (each as building, unit).
    fn leaves(&self) -> Vec<Vec<String>> {
        if self.urban {
            self.buildings
                .iter()
                .flat_map(|b| b.units.iter().map(|u| vec![b.name.clone(), u.clone()]))
                .collect()
        } else {
            self.groups.iter().map(|g| vec![g.clone()]).collect()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Arrival {
    pub from: String,
    pub risk_area: bool,
    pub date: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberSpec {
    pub id: String,
    pub name: String,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub id_number: String,
    pub phone: Option<String>,
    pub relation: String,
    pub residence: Residence,
    pub arrival: Option<Arrival>,
    /// Home monitoring (since, until), both inclusive.
    pub monitoring: Option<(NaiveDate, NaiveDate)>,
    pub vulnerable: Vec<Vulnerability>,
}

impl MemberSpec {
    /// Needs someone to run errands: an old person living alone, or anyone
    /// disabled or with poor mobility.
    pub fn needs_errands(&self) -> bool {
        let has = |v| self.vulnerable.contains(&v);
        (has(Vulnerability::Elderly) && has(Vulnerability::Alone))
            || has(Vulnerability::Disabled)
            || has(Vulnerability::Mobility)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HouseholdSpec {
    pub id: String,
    pub address: String,
    pub door: String,
    pub phone: Option<String>,
    pub members: Vec<MemberSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellSpec {
    pub index: usize,
    /// e.g. 东关村三组第5联户
    pub name: String,
    /// county/township/village/group, or in the county seat
    /// county/township/community/building/unit
    pub path: Vec<String>,
    /// Name of the lead householder (联户长), head of the first household.
    pub lead: String,
    pub lead_member_id: String,
    pub households: Vec<HouseholdSpec>,
}

impl CellSpec {
    pub fn region_path(&self) -> Result<RegionPath, ValidationError> {
        RegionPath::from_parts(self.path.clone())
    }

    pub fn members(&self) -> impl Iterator<Item = (&HouseholdSpec, &MemberSpec)> {
        self.households
            .iter()
            .flat_map(|h| h.members.iter().map(move |m| (h, m)))
    }

    /// Registers the cell's households and members (with their arrival and
    /// monitoring records) in a new cell document, as an office import does.
    /// `today` is the day of registration; `at` the commit time.
    pub fn write_to(&self, doc: &mut CellDoc, today: NaiveDate, at: i64) -> silin_core::Result<()> {
        for h in &self.households {
            doc.add_household(
                &h.id,
                NewHousehold {
                    address: Some(h.address.clone()),
                    door: Some(h.door.clone()),
                    phone: h.phone.clone(),
                },
                at,
            )?;
            for m in &h.members {
                doc.add_member(
                    &h.id,
                    &m.id,
                    NewMember {
                        name: m.name.clone(),
                        sex: Some(m.sex),
                        birth_year: Some(i64::from(m.birth_date.year())),
                        id_number: Some(m.id_number.clone()),
                        phone: m.phone.clone(),
                        relation: Some(m.relation.clone()),
                        residence: Some(m.residence),
                        vulnerable: m.vulnerable.clone(),
                    },
                    today,
                    at,
                )?;
                let mut edits = Vec::new();
                if let Some(a) = &m.arrival {
                    edits.push(MemberEdit::ArrivalFrom(Some(a.from.clone())));
                    edits.push(MemberEdit::ArrivalRiskArea(a.risk_area));
                    edits.push(MemberEdit::ArrivalDate(Some(a.date)));
                }
                if let Some((since, until)) = m.monitoring {
                    edits.push(MemberEdit::MonitoringSince(Some(since)));
                    edits.push(MemberEdit::MonitoringUntil(Some(until)));
                }
                if !edits.is_empty() {
                    doc.edit_member(&m.id, &edits, at)?;
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GridWorker {
    pub index: usize,
    pub name: String,
    pub phone: String,
    pub township: String,
    /// Villages (or communities) whose cells this worker's phone holds.
    pub villages: Vec<String>,
    /// Indexes into [`Workload::cells`], in path order.
    pub cells: Vec<usize>,
}

/// The generated county.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    pub seed: u64,
    pub start: NaiveDate,
    pub county: String,
    pub townships: Vec<Township>,
    pub cells: Vec<CellSpec>,
    pub grid_workers: Vec<GridWorker>,
    /// The county seat's building and unit heads.
    pub heads: Vec<Head>,
}

impl Workload {
    /// The reference county with `cells` cells (2,903 at reference scale).
    pub fn generate(seed: u64, cells: usize) -> Workload {
        let start = start_date();
        let mut rng = stream(seed, TAG_REGIONS, 0);
        let mut townships = regions(&mut rng);
        // Its own stream, so the villages stay as they were drawn.
        county_seat::lay_out(&mut stream(seed, TAG_REGIONS, 1), &mut townships);
        let leaves: Vec<(&Township, &Village, Vec<String>)> = townships
            .iter()
            .flat_map(|t| t.villages.iter().map(move |v| (t, v)))
            .flat_map(|(t, v)| v.leaves().into_iter().map(move |l| (t, v, l)))
            .collect();
        let urban: Vec<bool> = leaves.iter().map(|(_, v, _)| v.urban).collect();
        let counts = allocate_cells(&mut rng, &urban, cells);
        let mut specs = Vec::with_capacity(cells);
        for ((t, v, leaf), count) in leaves.iter().zip(counts) {
            for n in 1..=count {
                let index = specs.len();
                let mut path = vec![names::COUNTY.to_string(), t.name.clone(), v.name.clone()];
                path.extend(leaf.iter().cloned());
                specs.push(make_cell(seed, index, path, v.urban, n, start));
            }
        }
        let grid_workers = assign_grid_workers(seed, &townships, &specs);
        let heads = county_seat::heads(seed, &townships, &specs);
        Workload {
            seed,
            start,
            county: names::COUNTY.to_string(),
            townships,
            cells: specs,
            grid_workers,
            heads,
        }
    }

    pub fn households(&self) -> usize {
        self.cells.iter().map(|c| c.households.len()).sum()
    }

    pub fn members(&self) -> usize {
        self.cells.iter().map(|c| c.members().count()).sum()
    }

    pub fn villages(&self) -> usize {
        self.townships.iter().map(|t| t.villages.len()).sum()
    }

    pub fn groups(&self) -> usize {
        self.townships
            .iter()
            .flat_map(|t| &t.villages)
            .map(|v| v.groups.len())
            .sum()
    }

    /// The grid worker holding each cell, by cell index.
    pub fn grid_worker_of_cells(&self) -> Vec<usize> {
        let mut out = vec![0; self.cells.len()];
        for g in &self.grid_workers {
            for &c in &g.cells {
                out[c] = g.index;
            }
        }
        out
    }

    /// The day-by-day activity plan, starting at [`Workload::start`].
    pub fn planner(&self) -> Planner<'_> {
        Planner::new(self)
    }
}

/// Townships, villages and communities, and their groups and compounds.
fn regions(rng: &mut StdRng) -> Vec<Township> {
    let mut used: HashSet<String> = HashSet::new();
    let mut townships = Vec::new();
    for (ti, (tname, n_villages)) in names::TOWNSHIPS.iter().enumerate() {
        let mut villages = Vec::new();
        for vi in 0..*n_villages {
            let name = if ti == 0 && vi == 0 {
                // The town's old east gate; the name the docs use as example.
                "东关村".to_string()
            } else {
                village_name(rng, &used)
            };
            used.insert(name.clone());
            villages.push(Village {
                name,
                urban: false,
                groups: Vec::new(),
                buildings: Vec::new(),
            });
        }
        if ti == 0 {
            for c in names::COMMUNITIES {
                villages.push(Village {
                    name: c.to_string(),
                    urban: true,
                    groups: Vec::new(),
                    buildings: Vec::new(),
                });
            }
        }
        townships.push(Township {
            name: tname.to_string(),
            villages,
        });
    }
    // Every village has two groups; REFERENCE_GROUPS - 2·villages of them,
    // drawn at random, have a third.
    let total: usize = townships.iter().map(|t| t.villages.len()).sum();
    let mut order: Vec<usize> = (0..total).collect();
    for i in 0..total {
        let j = rng.random_range(i..total);
        order.swap(i, j);
    }
    let extra = REFERENCE_GROUPS.saturating_sub(2 * total).min(total);
    let three: HashSet<usize> = order[..extra].iter().copied().collect();
    let mut compounds: Vec<&str> = names::COMPOUNDS.to_vec();
    for i in 0..compounds.len() {
        let j = rng.random_range(i..compounds.len());
        compounds.swap(i, j);
    }
    let mut next_compound = 0;
    let mut vi = 0;
    for t in &mut townships {
        for v in &mut t.villages {
            let n = if three.contains(&vi) { 3 } else { 2 };
            for g in 1..=n {
                let name = if v.urban {
                    let c = compounds
                        .get(next_compound)
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| format!("第{}小区", names::chinese_number(g)));
                    next_compound += 1;
                    c
                } else {
                    format!("{}组", names::chinese_number(g))
                };
                v.groups.push(name);
            }
            vi += 1;
        }
    }
    townships
}

fn village_name(rng: &mut StdRng, used: &HashSet<String>) -> String {
    for _ in 0..200 {
        let name = format!(
            "{}{}村",
            names::pick(rng, names::VILLAGE_FIRST),
            names::pick(rng, names::VILLAGE_SECOND)
        );
        if !used.contains(&name) {
            return name;
        }
    }
    // Over a thousand combinations for 116 villages: practically unreachable,
    // but a numbered name keeps paths unique whatever happens.
    format!("新建{}村", used.len() + 1)
}

/// Spreads `n` cells over the groups in proportion to random group sizes
/// (largest remainder, ties to the earlier group).
fn allocate_cells(rng: &mut StdRng, urban: &[bool], n: usize) -> Vec<usize> {
    // A unit of a building holds a dozen or so households, a village group
    // three or four times that.
    let weights: Vec<u64> = urban
        .iter()
        .map(|&u| {
            if u {
                rng.random_range(20..=40u64)
            } else {
                rng.random_range(60..=140u64)
            }
        })
        .collect();
    let total: u64 = weights.iter().sum();
    let n64 = n as u64;
    let mut counts: Vec<usize> = weights.iter().map(|w| (n64 * w / total) as usize).collect();
    let given: usize = counts.iter().sum();
    let mut by_remainder: Vec<(u64, usize)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| ((n64 * w) % total, i))
        .collect();
    by_remainder.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in by_remainder.iter().take(n - given) {
        counts[*i] += 1;
    }
    counts
}

#[derive(Clone, Copy)]
enum Role {
    Head,
    Spouse,
    Parent,
    Child,
    Grandchild,
}

fn make_cell(
    seed: u64,
    index: usize,
    path: Vec<String>,
    urban: bool,
    n: usize,
    start: NaiveDate,
) -> CellSpec {
    let mut rng = stream(seed, TAG_CELL, index as u64);
    // Ids count up from the start date, 64 per cell, so they sort by cell.
    let base_ms = start
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis() as u64)
        .unwrap_or(0)
        + index as u64 * 64;
    let mut seq = 0u64;
    let mut next_id = |rng: &mut StdRng| {
        seq += 1;
        make_id(rng, base_ms + seq)
    };
    let n_households = match rng.random_range(0..100) {
        0..30 => 3,
        30..70 => 4,
        _ => 5,
    };
    let village = &path[2];
    // A village's group, or a community's building and unit.
    let group = path[3..].concat();
    let mut households = Vec::new();
    for h in 0..n_households {
        let size = match rng.random_range(0..100) {
            0..25 => 2,
            25..55 => 3,
            55..80 => 4,
            80..93 => 5,
            _ => 6,
        };
        let (address, door) = if urban {
            let unit = path.get(4).map(String::as_str).unwrap_or("");
            let room = format!("{}0{}", rng.random_range(1..=6), rng.random_range(1..=2));
            (
                format!("{}{village}{group}{room}", path[1]),
                format!("{unit}{room}"),
            )
        } else {
            let door = (n - 1) * 5 + h + 1;
            (
                format!("{}{village}{group}{door}号", path[1]),
                format!("{door}号"),
            )
        };
        let members = make_household(&mut rng, &mut next_id, size, urban, start);
        let phone = members.iter().find_map(|m| m.phone.clone());
        households.push(HouseholdSpec {
            id: next_id(&mut rng),
            address,
            door,
            phone,
            members,
        });
    }
    let (lead, lead_member_id) = households
        .first()
        .and_then(|h| h.members.first())
        .map(|m| (m.name.clone(), m.id.clone()))
        .unwrap_or_default();
    let name = format!("{village}{group}第{n}联户");
    CellSpec {
        index,
        name,
        path,
        lead,
        lead_member_id,
        households,
    }
}

fn make_household(
    rng: &mut StdRng,
    next_id: &mut impl FnMut(&mut StdRng) -> String,
    size: usize,
    urban: bool,
    start: NaiveDate,
) -> Vec<MemberSpec> {
    let head_age: i32 = rng.random_range(28..=78);
    let head_male = rng.random_bool(0.82);
    let head_surname = names::surname(rng);
    let mut roles: Vec<(Role, bool, i32, &str)> =
        vec![(Role::Head, head_male, head_age, head_surname)];
    let mut father_surname = head_surname;
    if size > 1 && rng.random_bool(0.88) {
        let s = names::surname(rng);
        let age = (head_age + rng.random_range(-4..=4)).max(20);
        roles.push((Role::Spouse, !head_male, age, s));
        if !head_male {
            father_surname = s;
        }
    }
    if head_age <= 50 {
        for male in [true, false] {
            let age = head_age + rng.random_range(22..=32);
            if roles.len() < size && age <= 95 && rng.random_bool(0.45) {
                let s = if male {
                    head_surname
                } else {
                    names::surname(rng)
                };
                roles.push((Role::Parent, male, age, s));
            }
        }
    }
    let mut children = 0;
    while roles.len() < size {
        let male = rng.random_bool(0.52);
        if head_age >= 52 && children >= 2 {
            roles.push((
                Role::Grandchild,
                male,
                rng.random_range(1..=14),
                father_surname,
            ));
        } else {
            let age = head_age - rng.random_range(22..=32);
            let age = if age < 1 {
                rng.random_range(1..=5)
            } else {
                age
            };
            roles.push((Role::Child, male, age, father_surname));
            children += 1;
        }
    }
    let year = start.year();
    let away_rate = if urban { 0.15 } else { 0.32 };
    roles
        .into_iter()
        .map(|(role, male, age, surname)| {
            let birth_year = year - age;
            let days_in_year = if NaiveDate::from_ymd_opt(birth_year, 12, 31)
                .is_some_and(|d| d.ordinal() == 366)
            {
                366
            } else {
                365
            };
            let birth_date = NaiveDate::from_yo_opt(birth_year, rng.random_range(1..=days_in_year))
                .unwrap_or(start);
            let area = if matches!(role, Role::Spouse) && rng.random_bool(0.2) {
                names::pick(rng, names::NEIGHBOUR_AREA_CODES)
            } else {
                names::AREA_CODE
            };
            let id_number = resident_id(area, birth_date, rng.random_range(0..500), male);
            let name = format!("{surname}{}", names::given_name(rng, male));
            let relation = match role {
                Role::Head => "户主",
                Role::Spouse => "配偶",
                Role::Parent if male => "父亲",
                Role::Parent => "母亲",
                Role::Child if male => "子",
                Role::Child => "女",
                Role::Grandchild if male => "孙子",
                Role::Grandchild => "孙女",
            };
            let phone_rate = match age {
                0..14 => 0.0,
                14..70 => 0.92,
                _ => 0.45,
            };
            let phone = rng.random_bool(phone_rate).then(|| names::mobile(rng));
            // Residence: heads stay home (the lead is a head); working-age
            // others may be away, back from work, or back and still under
            // home monitoring.
            let (mut residence, mut arrival, mut monitoring) = (Residence::Resident, None, None);
            let working = (18..=50).contains(&age) && !matches!(role, Role::Head);
            if working {
                let x: f64 = rng.random();
                if x < 0.008 {
                    let since = start - Days::new(rng.random_range(0..=12));
                    residence = Residence::Returned;
                    arrival = Some(make_arrival(rng, since));
                    monitoring = Some((since, since + Days::new(MONITORING_DAYS)));
                } else if x < 0.048 {
                    let date = start - Days::new(rng.random_range(20..=200));
                    residence = Residence::Returned;
                    arrival = Some(make_arrival(rng, date));
                    monitoring = Some((date, date + Days::new(MONITORING_DAYS)));
                } else if x < 0.048 + away_rate {
                    residence = Residence::Away;
                }
            }
            let mut vulnerable = Vec::new();
            if age >= 70 {
                vulnerable.push(Vulnerability::Elderly);
                if rng.random_bool(0.12) {
                    vulnerable.push(Vulnerability::Alone);
                }
            }
            if rng.random_bool(0.02) {
                vulnerable.push(Vulnerability::Disabled);
            }
            if rng.random_bool(if age >= 80 { 0.3 } else { 0.003 }) {
                vulnerable.push(Vulnerability::Mobility);
            }
            if age >= 50 && rng.random_bool(0.12) {
                vulnerable.push(Vulnerability::Chronic);
            }
            vulnerable.sort_by_key(|v| v.as_str());
            MemberSpec {
                id: next_id(rng),
                name,
                sex: if male { Sex::Male } else { Sex::Female },
                birth_date,
                id_number,
                phone,
                relation: relation.to_string(),
                residence,
                arrival,
                monitoring,
                vulnerable,
            }
        })
        .collect()
}

fn make_arrival(rng: &mut StdRng, date: NaiveDate) -> Arrival {
    let (city, _) = names::CITIES[rng.random_range(0..names::CITIES.len())];
    Arrival {
        from: city.to_string(),
        risk_area: rng.random_bool(0.08),
        date,
    }
}

/// Grid workers by township: consecutive villages' cells go to one worker
/// until it holds at least [`GRID_WORKER_MIN_CELLS`]; a village with more
/// than [`GRID_WORKER_MAX_CELLS`] is split; a township's small remainder
/// joins its last worker when that stays within the maximum.
fn assign_grid_workers(seed: u64, townships: &[Township], cells: &[CellSpec]) -> Vec<GridWorker> {
    let mut out: Vec<GridWorker> = Vec::new();
    let mut next = 0usize;
    for t in townships {
        let first_in_township = out.len();
        let mut bucket: Vec<usize> = Vec::new();
        let mut villages: Vec<String> = Vec::new();
        let close =
            |bucket: &mut Vec<usize>, villages: &mut Vec<String>, out: &mut Vec<GridWorker>| {
                if bucket.is_empty() {
                    return;
                }
                let index = out.len();
                let mut rng = stream(seed, TAG_GRID_WORKER, index as u64);
                let male = rng.random_bool(0.6);
                out.push(GridWorker {
                    index,
                    name: format!(
                        "{}{}",
                        names::surname(&mut rng),
                        names::given_name(&mut rng, male)
                    ),
                    phone: names::mobile(&mut rng),
                    township: t.name.clone(),
                    villages: std::mem::take(villages),
                    cells: std::mem::take(bucket),
                });
            };
        for v in &t.villages {
            let mut here: Vec<usize> = Vec::new();
            while next < cells.len()
                && cells[next].path[1] == t.name
                && cells[next].path[2] == v.name
            {
                here.push(next);
                next += 1;
            }
            if here.is_empty() {
                continue;
            }
            if here.len() > GRID_WORKER_MAX_CELLS {
                close(&mut bucket, &mut villages, &mut out);
                let parts = here.len().div_ceil(GRID_WORKER_MAX_CELLS);
                let per = here.len().div_ceil(parts);
                for chunk in here.chunks(per) {
                    bucket.extend_from_slice(chunk);
                    villages.push(v.name.clone());
                    close(&mut bucket, &mut villages, &mut out);
                }
                continue;
            }
            if bucket.len() + here.len() > GRID_WORKER_MAX_CELLS {
                close(&mut bucket, &mut villages, &mut out);
            }
            bucket.extend(here);
            villages.push(v.name.clone());
            if bucket.len() >= GRID_WORKER_MIN_CELLS {
                close(&mut bucket, &mut villages, &mut out);
            }
        }
        if !bucket.is_empty() {
            let fits = out.len() > first_in_township
                && out
                    .last()
                    .is_some_and(|g| g.cells.len() + bucket.len() <= GRID_WORKER_MAX_CELLS);
            match out.last_mut() {
                Some(last) if fits => {
                    last.cells.append(&mut bucket);
                    for v in villages.drain(..) {
                        if !last.villages.contains(&v) {
                            last.villages.push(v);
                        }
                    }
                }
                _ => close(&mut bucket, &mut villages, &mut out),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
