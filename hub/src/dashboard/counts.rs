//! The overview's counts as a viewer may see them, the one place the page
//! and `GET /overview.json` take them from: exact for the office and the
//! county; for a login that sees counts only, every small count and every
//! count that would give one away withheld, by
//! [`silin_core::privacy::withhold`] over the sums the overview shows:
//! - a row's cells are its reported plus its missing (a village's, a
//!   group's, and the day's in the trend, whose cells are not shown but are
//!   its villages' added up);
//! - each village's figure, in each column, is its groups' added up;
//! - the day's reported and missing in the trend are its villages';
//! - a list's total is its done plus its open plus its cancelled tasks
//!   (cancelled not shown, taken as known).
//!
//! The other days of the trend are figures of their own (no sum shown
//! links them to anything on the page), withheld only when small.

use super::Overview;
use silin_core::privacy::{withhold, Count, Sum};
use silin_core::rollup::RollupRow;

/// A village's or group's figures, in this order (the JSON's names).
pub(crate) const ROW_COLUMNS: [&str; 10] = [
    "cells",
    "reported",
    "missing",
    "zero",
    "arrivals",
    "abnormal",
    "under_monitoring",
    "door_knocks",
    "calls",
    "errands",
];
const CELLS: usize = 0;
const REPORTED: usize = 1;
const MISSING: usize = 2;

/// A count as shown: `None` when withheld.
pub(crate) type Shown = Option<i64>;

/// Everything the overview counts, as the viewer may see it, in the
/// overview's order.
pub(crate) struct ShownCounts {
    /// Each village's figures, in [`ROW_COLUMNS`] order.
    pub villages: Vec<[Shown; 10]>,
    pub groups: Vec<[Shown; 10]>,
    /// Each trend day's reported and missing.
    pub trend: Vec<[Shown; 2]>,
    /// Each list's total, done and open.
    pub lists: Vec<[Shown; 3]>,
}

fn figures(r: &RollupRow) -> [i64; 10] {
    [
        r.cells,
        r.reported,
        r.missing,
        r.zero,
        r.arrivals,
        r.abnormal,
        r.under_monitoring,
        r.door_knocks,
        r.calls,
        r.errands,
    ]
}

/// The village a group rolls up into: the village whose path is the
/// group's, or the longest that begins it.
fn village_of(villages: &[RollupRow], group: &RollupRow) -> Option<usize> {
    villages
        .iter()
        .enumerate()
        .filter(|(_, v)| {
            group.path == v.path
                || group
                    .path
                    .strip_prefix(v.path.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|(_, v)| v.path.len())
        .map(|(i, _)| i)
}

/// The counts of `o` and the sums among them, each part of the overview
/// at its first index.
struct Table {
    counts: Vec<Count>,
    sums: Vec<Sum>,
    villages: usize,
    groups: usize,
    trend: usize,
    lists: usize,
}

fn table(o: &Overview) -> Table {
    let len = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let mut counts: Vec<Count> = Vec::new();
    let mut sums = Vec::new();
    let row_at = |base: usize, i: usize| base + i * ROW_COLUMNS.len();

    let villages = counts.len();
    for r in &o.villages {
        counts.extend(figures(r).map(Count::shown));
    }
    let groups = counts.len();
    for r in &o.groups {
        counts.extend(figures(r).map(Count::shown));
    }
    for base in (0..o.villages.len())
        .map(|i| row_at(villages, i))
        .chain((0..o.groups.len()).map(|i| row_at(groups, i)))
    {
        sums.push(Sum::new(base + CELLS, [base + REPORTED, base + MISSING]));
    }
    let mut children = vec![Vec::new(); o.villages.len()];
    for (g, group) in o.groups.iter().enumerate() {
        if let Some(v) = village_of(&o.villages, group) {
            children[v].push(row_at(groups, g));
        }
    }
    for (v, kids) in children.iter().enumerate() {
        if kids.is_empty() {
            continue;
        }
        let base = row_at(villages, v);
        for col in 0..ROW_COLUMNS.len() {
            sums.push(Sum::new(base + col, kids.iter().map(|k| k + col)));
        }
    }

    let trend = counts.len();
    for t in &o.trend {
        counts.extend([Count::shown(t.reported), Count::shown(t.missing)]);
    }
    // The overview's own day in the trend: the villages' totals.
    if let Some(d) = o.trend.iter().position(|t| t.date == o.day) {
        let (reported, missing) = (trend + 2 * d, trend + 2 * d + 1);
        let cells = counts.len();
        counts.push(Count::unshown(o.trend[d].reported + o.trend[d].missing));
        sums.push(Sum::new(cells, [reported, missing]));
        if !o.villages.is_empty() {
            for (total, col) in [(cells, CELLS), (reported, REPORTED), (missing, MISSING)] {
                sums.push(Sum::new(
                    total,
                    (0..o.villages.len()).map(|v| row_at(villages, v) + col),
                ));
            }
        }
    }

    // Each list: total, done, open shown, then its cancelled tasks.
    let lists = counts.len();
    for l in &o.lists {
        let (total, done, open) = (len(l.total), len(l.done), len(l.open));
        let base = counts.len();
        counts.extend([
            Count::shown(total),
            Count::shown(done),
            Count::shown(open),
            Count::unshown((total - done - open).max(0)),
        ]);
        sums.push(Sum::new(base, [base + 1, base + 2, base + 3]));
    }
    Table {
        counts,
        sums,
        villages,
        groups,
        trend,
        lists,
    }
}

impl ShownCounts {
    /// The counts of `o` as a viewer sees them: all exact, or, for one who
    /// sees counts only, with what [`silin_core::privacy::withhold`]
    /// withholds left out.
    pub(crate) fn of(o: &Overview, counts_only: bool) -> ShownCounts {
        let t = table(o);
        let withheld = if counts_only {
            withhold(&t.counts, &t.sums)
        } else {
            vec![false; t.counts.len()]
        };
        let at = |i: usize| (!withheld[i]).then_some(t.counts[i].value);
        let row = |base: usize, i: usize| -> [Shown; 10] {
            std::array::from_fn(|c| at(base + i * ROW_COLUMNS.len() + c))
        };
        ShownCounts {
            villages: (0..o.villages.len()).map(|i| row(t.villages, i)).collect(),
            groups: (0..o.groups.len()).map(|i| row(t.groups, i)).collect(),
            trend: (0..o.trend.len())
                .map(|d| [at(t.trend + 2 * d), at(t.trend + 2 * d + 1)])
                .collect(),
            lists: (0..o.lists.len())
                .map(|l| std::array::from_fn(|c| at(t.lists + 4 * l + c)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ListSummary, TrendDay};
    use super::*;
    use chrono::NaiveDate;

    fn region(path: &str, reported: i64, missing: i64, abnormal: i64) -> RollupRow {
        RollupRow {
            path: path.into(),
            cells: reported + missing,
            reported,
            missing,
            abnormal,
            ..Default::default()
        }
    }

    fn overview(villages: Vec<RollupRow>, groups: Vec<RollupRow>) -> Overview {
        let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default();
        let (reported, missing) = villages
            .iter()
            .fold((0, 0), |(r, m), v| (r + v.reported, m + v.missing));
        Overview {
            day,
            villages,
            groups,
            monitored: Vec::new(),
            lists: vec![ListSummary {
                list_id: "l".into(),
                kind: "test".into(),
                title: "t".into(),
                total: 30,
                done: 3,
                open: 27,
            }],
            devices: Vec::new(),
            stale: 3,
            trend: vec![
                TrendDay {
                    date: day - chrono::Duration::days(1),
                    reported: 40,
                    missing: 2,
                },
                TrendDay {
                    date: day,
                    reported,
                    missing,
                },
            ],
            notices: Vec::new(),
        }
    }

    #[test]
    fn the_analyst_gets_no_count_alone_that_subtraction_would_give() {
        // 东村: 一组 reports 20 of 21 (1 missing), 二组 10 of 10, one
        // abnormal in 一组; 西村: 15 of 15.
        let o = overview(
            vec![region("c/t/东村", 30, 1, 1), region("c/t/西村", 15, 0, 0)],
            vec![
                region("c/t/东村/一组", 20, 1, 1),
                region("c/t/东村/二组", 10, 0, 0),
                region("c/t/西村/一组", 15, 0, 0),
            ],
        );
        let s = ShownCounts::of(&o, true);
        let (v0, g0, g1) = (&s.villages[0], &s.groups[0], &s.groups[1]);
        // 一组's missing 1 and the smallest other part of its row.
        assert_eq!(g0[MISSING], None);
        assert_eq!(g0[REPORTED], None);
        assert_eq!(g0[CELLS], Some(21));
        // Its village's missing is 1 as well, and its reported goes too.
        assert_eq!(
            (v0[MISSING], v0[REPORTED], v0[CELLS]),
            (None, None, Some(31))
        );
        // The reported column: 一组's and the village's are both withheld,
        // so 二组's 10 gives only their difference and stays.
        assert_eq!(g1[REPORTED], Some(10));
        // The abnormal column: 1 = 1 + 0, both small; 0 stays.
        let abnormal = 5;
        assert_eq!(ROW_COLUMNS[abnormal], "abnormal");
        assert_eq!(
            (v0[abnormal], g0[abnormal], g1[abnormal]),
            (None, None, Some(0))
        );
        // The day in the trend: 45 reported, 1 missing — the missing is
        // the villages' (1 + 0) and withheld, and reported with it.
        assert_eq!(s.trend[1], [None, None]);
        // The day before: figures of their own, only small ones withheld.
        assert_eq!(s.trend[0], [Some(40), None]);
        // The list: done 3 withheld, and open (total − done) with it.
        assert_eq!(s.lists[0], [Some(30), None, None]);
        // Zero stays.
        assert_eq!(s.villages[1][MISSING], Some(0));
    }

    #[test]
    fn the_office_and_the_county_get_every_count_exact() {
        let o = overview(
            vec![region("c/t/东村", 30, 1, 1)],
            vec![region("c/t/东村/一组", 30, 1, 1)],
        );
        let s = ShownCounts::of(&o, false);
        assert_eq!(s.villages[0][..3], [Some(31), Some(30), Some(1)]);
        assert_eq!(s.trend, [[Some(40), Some(2)], [Some(30), Some(1)]]);
        assert_eq!(s.lists[0], [Some(30), Some(3), Some(27)]);
    }

    #[test]
    fn a_group_rolls_up_into_the_longest_village_that_begins_its_path() {
        let villages = [region("c/t", 1, 0, 0), region("c/t/东村", 1, 0, 0)];
        let g = |p: &str| village_of(&villages, &region(p, 1, 0, 0));
        assert_eq!(g("c/t/东村/一组"), Some(1));
        assert_eq!(g("c/t"), Some(0));
        assert_eq!(g("c/t/东村二/一组"), Some(0));
        assert_eq!(g("c/u/西村/一组"), None);
    }
}
