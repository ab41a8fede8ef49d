//! The daily zero-report rollup: cells grouped by a prefix of their region
//! path (county → township → village → group), counting who reported and
//! what they reported, and the work the leads did that day — door-knock
//! rounds, calls and errands recorded as visits (the county counts
//! "door-knock actions", not only report fields). The hub's rollup API, the
//! demo, `silin rollup` and the office exports all come from [`roll_up`].

use crate::model::{Level, RegionPath};
use crate::region::Hierarchy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupRow {
    pub path: String,
    /// What the row's region is at its depth: village, community,
    /// building… ([`crate::region::Hierarchy`]).
    #[serde(default)]
    pub level: String,
    pub cells: i64,
    pub reported: i64,
    pub missing: i64,
    /// Reports with no arrivals and nothing abnormal.
    pub zero: i64,
    pub arrivals: i64,
    pub abnormal: i64,
    pub under_monitoring: i64,
    /// Door-knock rounds recorded that day.
    #[serde(default)]
    pub door_knocks: i64,
    /// Phone calls recorded that day.
    #[serde(default)]
    pub calls: i64,
    /// Errands run that day.
    #[serde(default)]
    pub errands: i64,
}

/// One cell's report for the day, if it filed one, and the visits of the
/// kinds the rollup counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellDay {
    pub cell_id: String,
    pub path: RegionPath,
    pub report: Option<ReportCounts>,
    pub visits: VisitCounts,
}

/// Visits of one cell on one day, by the kinds the county counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VisitCounts {
    pub door_knocks: i64,
    pub calls: i64,
    pub errands: i64,
}

impl VisitCounts {
    /// Adds `n` visits of `kind` (as stored: `door_knock`, `call`,
    /// `errand`; other kinds are not counted here).
    pub fn add(&mut self, kind: &str, n: i64) {
        match kind {
            "door_knock" => self.door_knocks += n,
            "call" => self.calls += n,
            "errand" => self.errands += n,
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportCounts {
    pub arrivals: i64,
    pub abnormal: i64,
    pub under_monitoring: i64,
}

impl CellDay {
    /// A cell's day as the query tables hold it (SQLite and PostgreSQL
    /// alike): its stored region path, and its report's counts when it
    /// filed one (`arrivals` is `None` when it did not).
    pub fn from_stored(
        cell_id: &str,
        path: &str,
        arrivals: Option<i64>,
        abnormal: Option<i64>,
        under_monitoring: Option<i64>,
    ) -> crate::Result<CellDay> {
        let path = RegionPath::parse(path).map_err(|e| crate::Error::Damaged {
            doc: cell_id.to_string(),
            reason: e.to_string(),
        })?;
        Ok(CellDay {
            cell_id: cell_id.to_string(),
            path,
            report: arrivals.map(|a| ReportCounts {
                arrivals: a,
                abnormal: abnormal.unwrap_or(0),
                under_monitoring: under_monitoring.unwrap_or(0),
            }),
            visits: VisitCounts::default(),
        })
    }
}

/// Groups cells at `level`, with the countryside's level names; rows come
/// out sorted by path.
pub fn roll_up<'a>(level: Level, cells: impl IntoIterator<Item = &'a CellDay>) -> Vec<RollupRow> {
    roll_up_in(&Hierarchy::new(), level, cells)
}

/// Groups cells at `level` (a depth), each row named as its branch of
/// `hierarchy` names that depth. A cell whose path is shorter than the
/// depth rolls up whole, so every cell counts at every level.
pub fn roll_up_in<'a>(
    hierarchy: &Hierarchy,
    level: Level,
    cells: impl IntoIterator<Item = &'a CellDay>,
) -> Vec<RollupRow> {
    let mut by_path: BTreeMap<String, RollupRow> = BTreeMap::new();
    for c in cells {
        let key = c.path.prefix(level);
        let row = by_path.entry(key.clone()).or_insert_with(|| {
            let depth = level.depth().min(c.path.depth());
            let at = Level::at(depth).unwrap_or(level);
            RollupRow {
                path: key,
                level: hierarchy.name_at(c.path.parts(), at),
                ..Default::default()
            }
        });
        row.cells += 1;
        row.door_knocks += c.visits.door_knocks;
        row.calls += c.visits.calls;
        row.errands += c.visits.errands;
        match &c.report {
            Some(r) => {
                row.reported += 1;
                row.arrivals += r.arrivals;
                row.abnormal += r.abnormal;
                row.under_monitoring += r.under_monitoring;
                if r.arrivals == 0 && r.abnormal == 0 {
                    row.zero += 1;
                }
            }
            None => row.missing += 1,
        }
    }
    by_path.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollup_groups_by_path_prefix_and_counts_missing() {
        let day = |p: &str, r: Option<(i64, i64)>| CellDay {
            cell_id: p.to_string(),
            path: RegionPath::parse(p).unwrap(),
            report: r.map(|(a, b)| ReportCounts {
                arrivals: a,
                abnormal: b,
                under_monitoring: a,
            }),
            visits: VisitCounts {
                door_knocks: 1,
                calls: 0,
                errands: 2,
            },
        };
        let cells = [
            day("c/t1/v1/g1", Some((0, 0))),
            day("c/t1/v1/g2", Some((2, 1))),
            day("c/t1/v2/g1", None),
            day("c/t2/v1/g1", Some((0, 0))),
        ];
        let county = roll_up(Level::County, &cells);
        assert_eq!(county.len(), 1);
        assert_eq!(
            (
                county[0].cells,
                county[0].reported,
                county[0].missing,
                county[0].zero
            ),
            (4, 3, 1, 2)
        );
        assert_eq!((county[0].arrivals, county[0].abnormal), (2, 1));
        assert_eq!(
            (county[0].door_knocks, county[0].calls, county[0].errands),
            (4, 0, 8)
        );
        let towns = roll_up(Level::Township, &cells);
        assert_eq!(
            towns.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
            ["c/t1", "c/t2"]
        );
        assert_eq!(towns[0].missing, 1);
        assert_eq!(roll_up(Level::Group, &cells).len(), 4);
    }

    #[test]
    fn a_county_seat_rolls_up_by_building_and_unit_beside_the_villages() {
        let day = |p: &str| CellDay {
            cell_id: p.to_string(),
            path: RegionPath::parse(p).unwrap(),
            report: None,
            visits: VisitCounts::default(),
        };
        let cells = [
            day("c/t/v/g"),
            day("c/t/城关社区/3号楼/1单元"),
            day("c/t/城关社区/3号楼/2单元"),
            day("c/t/城关社区/5号楼/1单元"),
        ];
        let names = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        let h = Hierarchy::new()
            .with_branch("c/t/城关社区", &names("community,building,unit"))
            .unwrap();
        let shown = |level: &str| {
            roll_up_in(&h, h.level(level).unwrap(), &cells)
                .into_iter()
                .map(|r| (r.path, r.level, r.cells))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shown("building"),
            [
                ("c/t/v/g".into(), "group".into(), 1),
                ("c/t/城关社区/3号楼".into(), "building".into(), 2),
                ("c/t/城关社区/5号楼".into(), "building".into(), 1),
            ]
        );
        // At the units' depth the village's cell still counts, whole.
        let units = shown("unit");
        assert_eq!(units.len(), 4);
        assert_eq!(units[0], ("c/t/v/g".into(), "group".into(), 1));
        assert_eq!(shown("village")[1].1, "community");
        assert_eq!(shown("county")[0].2, 4);
    }
}
