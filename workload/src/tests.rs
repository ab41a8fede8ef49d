use super::*;
use silin_core::model::{check_phone, check_resident_id};
use silin_core::register::RiskLevel;

#[test]
fn same_seed_same_county_and_plan() {
    let a = Workload::generate(7, 120);
    let b = Workload::generate(7, 120);
    assert_eq!(a, b);
    let pa: Vec<DayPlan> = a.planner().take(3).collect();
    let pb: Vec<DayPlan> = b.planner().take(3).collect();
    assert_eq!(pa, pb);
    let c = Workload::generate(8, 120);
    assert_ne!(a.cells, c.cells, "another seed gives another county");
}

#[test]
fn ids_and_phones_are_valid() {
    let w = Workload::generate(1, 300);
    let mut ids = HashSet::new();
    for c in &w.cells {
        assert!(c.region_path().is_ok(), "{:?}", c.path);
        for (h, m) in c.members() {
            let id = check_resident_id(&m.id_number, w.start)
                .unwrap_or_else(|e| panic!("{}: {e}", m.id_number));
            assert_eq!(id[6..14], m.birth_date.format("%Y%m%d").to_string());
            let odd = (id.as_bytes()[16] - b'0') % 2 == 1;
            assert_eq!(odd, m.sex == Sex::Male, "{id}");
            if let Some(p) = &m.phone {
                assert_eq!(check_phone(p).as_deref(), Ok(p.as_str()));
            }
            assert!(ids.insert(m.id.clone()), "member ids are unique");
            assert!(silin_core::model::check_id("member", &m.id).is_ok());
            assert!(silin_core::model::check_id("household", &h.id).is_ok());
            let chars = m.name.chars().count();
            assert!((2..=4).contains(&chars), "{}", m.name);
        }
        if let Some(p) = &c.households[0].phone {
            assert!(check_phone(p).is_ok());
        }
    }
    for g in &w.grid_workers {
        assert!(check_phone(&g.phone).is_ok());
    }
}

#[test]
fn reference_scale_counts() {
    let w = Workload::generate(2026, REFERENCE_CELLS);
    assert_eq!(w.cells.len(), REFERENCE_CELLS);
    assert_eq!(w.townships.len(), 12);
    assert_eq!(w.villages(), 121);
    let communities = w
        .townships
        .iter()
        .flat_map(|t| &t.villages)
        .filter(|v| v.urban)
        .count();
    assert_eq!(communities, 5);
    assert_eq!(w.groups(), REFERENCE_GROUPS);
    let hh = w.households();
    let people = w.members();
    assert!((11_000..=13_000).contains(&hh), "households {hh}");
    assert!((37_000..=43_000).contains(&people), "people {people}");
    for c in &w.cells {
        assert!((3..=5).contains(&c.households.len()));
        assert!(c
            .households
            .iter()
            .all(|h| (2..=6).contains(&h.members.len())));
        assert!(!c.lead.is_empty());
        assert!(c.name.ends_with("联户"), "{}", c.name);
    }
    assert!(w.cells.iter().any(|c| c.name.starts_with("东关村")));
    // Grid workers hold every cell exactly once, 20–120 each (a township
    // with fewer cells than that has one smaller worker).
    let mut seen = vec![0; w.cells.len()];
    for g in &w.grid_workers {
        assert!(g.cells.len() <= GRID_WORKER_MAX_CELLS, "{}", g.cells.len());
        assert!(g.cells.len() >= GRID_WORKER_MIN_CELLS, "{}", g.cells.len());
        for &c in &g.cells {
            seen[c] += 1;
            assert_eq!(w.cells[c].path[1], g.township);
        }
    }
    assert!(seen.iter().all(|&n| n == 1));
    county_seat_has_its_buildings_units_and_heads(&w);
    let vulnerable = w
        .cells
        .iter()
        .flat_map(|c| c.members())
        .filter(|(_, m)| !m.vulnerable.is_empty())
        .count();
    let away = w
        .cells
        .iter()
        .flat_map(|c| c.members())
        .filter(|(_, m)| m.residence == Residence::Away)
        .count();
    let monitored = w
        .cells
        .iter()
        .flat_map(|c| c.members())
        .filter(|(_, m)| {
            m.monitoring
                .is_some_and(|(s, u)| s <= w.start && w.start <= u)
        })
        .count();
    assert!(
        vulnerable > people / 20 && vulnerable < people / 3,
        "vulnerable {vulnerable}"
    );
    assert!(away > people / 20 && away < people / 4, "away {away}");
    assert!(
        monitored > 10 && monitored < people / 100,
        "monitored {monitored}"
    );

    // A day of activity at reference scale looks like a day.
    let day = w.planner().next_day();
    let t = &day.totals;
    assert_eq!(t.cells, REFERENCE_CELLS as i64);
    assert_eq!(t.reported + t.missing, t.cells);
    assert!(t.missing > 0 && t.missing < 40, "missing {}", t.missing);
    assert!(
        t.visits > 4 * t.cells && t.visits < 12 * t.cells,
        "visits {}",
        t.visits
    );
    assert!(t.arrivals > 0 && t.abnormal < 50, "{t:?}");
    assert!(t.same_field_edits > 0, "{t:?}");
}

#[test]
fn plan_totals_follow_the_plan_and_monitoring_follows_the_policy() {
    let w = Workload::generate(3, 400);
    let days: Vec<DayPlan> = w.planner().take(20).collect();
    for d in &days {
        let t = &d.totals;
        let reported = d
            .cells
            .iter()
            .filter(|c| c.report.reporter != Reporter::Nobody)
            .count() as i64;
        assert_eq!(t.reported, reported);
        for c in &d.cells {
            for a in c.lead.iter().chain(&c.grid_worker) {
                if let Action::Visit(v) = a {
                    assert_eq!(v.at.date_naive(), d.date);
                    assert!(v.clone().validated().is_ok());
                    if let Some(temp) = v.temperature {
                        assert!((36.0..=38.6).contains(&temp));
                    }
                }
            }
        }
    }
    let arrivals: i64 = days.iter().map(|d| d.totals.arrivals).sum();
    assert!(arrivals > 0, "20 days of 400 cells see someone come home");
    // Arrivals are recorded at the door with a risk level; the office's
    // default policy monitors a high-risk arrival 14 days (the arrival day
    // and 13 more), a medium one 7, a low one not at all.
    let arrivals_on = |d: usize, cell: usize, risk: Option<RiskLevel>| {
        days[d].cells[cell]
            .lead
            .iter()
            .filter(|a| match a {
                Action::Arrival(x) => {
                    assert_eq!(x.date, days[d].date);
                    assert!(x.clone().validated().is_ok());
                    risk.is_none_or(|r| x.risk == r)
                }
                _ => false,
            })
            .count() as i64
    };
    let (d0, c) = (0..=5)
        .flat_map(|d| (0..400).map(move |c| (d, c)))
        .find(|&(d, c)| arrivals_on(d, c, Some(RiskLevel::High)) > 0)
        .expect("a high-risk arrival in the first six days");
    let counted = |d: usize| days[d].cells[c].report.under_monitoring;
    let monitored_on = |d: usize| {
        arrivals_on(d, c, Some(RiskLevel::High)) + arrivals_on(d, c, Some(RiskLevel::Medium))
    };
    let high = arrivals_on(d0, c, Some(RiskLevel::High));
    assert!(counted(d0 + 13) >= high);
    assert!(counted(d0 + 13) - counted(d0 + 14) + monitored_on(d0 + 14) >= high);
    let all: i64 = (0..20)
        .flat_map(|d| (0..400).map(move |c| (d, c)))
        .map(|(d, c)| arrivals_on(d, c, None))
        .sum();
    let low: i64 = (0..20)
        .flat_map(|d| (0..400).map(move |c| (d, c)))
        .map(|(d, c)| arrivals_on(d, c, Some(RiskLevel::Low)))
        .sum();
    assert!(
        low > 0 && low < all,
        "most arrivals are from low-risk places: {low} of {all}"
    );
}

#[test]
fn resident_id_layout() {
    let d = NaiveDate::from_ymd_opt(1949, 12, 31).unwrap_or(NaiveDate::MIN);
    let id = resident_id("110105", d, 1, false);
    assert_eq!(id, "11010519491231002X");
}

/// The county seat at reference scale: 5 communities, 103 buildings, 198
/// units, a head for each, every head's cells under its scope and every
/// community cell under exactly one unit head and one building head.
fn county_seat_has_its_buildings_units_and_heads(w: &Workload) {
    use silin_core::identity::Role;
    assert_eq!(w.buildings(), REFERENCE_BUILDINGS);
    assert_eq!(w.units(), REFERENCE_UNITS);
    let count = |r: Role| w.heads.iter().filter(|h| h.role == r).count();
    assert_eq!(count(Role::BuildingHead), REFERENCE_BUILDINGS);
    assert_eq!(count(Role::UnitHead), REFERENCE_UNITS);
    let urban: Vec<&CellSpec> = w.cells.iter().filter(|c| c.path.len() == 5).collect();
    assert!(urban.len() > 300, "county seat cells {}", urban.len());
    let mut under = vec![(0, 0); w.cells.len()];
    for h in &w.heads {
        assert!(
            !h.cells.is_empty(),
            "{} has no cells at reference scale",
            h.scope
        );
        assert!(h.member_id.is_some());
        assert!(check_phone(&h.phone).is_ok());
        for &c in &h.cells {
            let path = w.cells[c].path.join("/");
            let scope = silin_core::identity::Scope(vec![h.scope.clone()]);
            assert!(
                scope.covers(&w.cells[c].lead_member_id, &path),
                "{path} under {}",
                h.scope
            );
            match h.role {
                Role::BuildingHead => under[c].0 += 1,
                _ => under[c].1 += 1,
            }
        }
    }
    for c in &urban {
        assert_eq!(under[c.index], (1, 1), "{}", c.path.join("/"));
        assert!(c.path[3].ends_with("号楼") && c.path[4].ends_with("单元"));
    }
    // Every cell's path fits the levels its branch is given.
    let dir = tempfile::tempdir().unwrap();
    let store = silin_core::Store::open(dir.path().join("office.db"), Default::default()).unwrap();
    w.name_levels(&store).unwrap();
    let h = store.hierarchy().unwrap();
    for c in &w.cells {
        h.check_cell_path(&c.region_path().unwrap()).unwrap();
    }
}
