//! Who may see a resident ID number in full, and how everyone else sees it.
//!
//! The one rule every view of the register applies — office exports, the
//! hub's dashboard, anything printed for a clerk: an ID is shown masked,
//! its first four digits (the county's area code, 6201…) and its last four
//! (birth serial and check character, 123X) kept and the ten between them
//! starred — `6201**********123X` — unless the viewer's role may see it in
//! full. Only the county (which sends the feedback lists with full IDs and
//! answers for them) may; a township office, a grid worker and a lead work
//! from names, phones and masked IDs.
//!
//! And the rule for those who see counts only (the hub's `analyst`
//! dashboard login): a count from 1 to [`SMALL_COUNT_MAX`] is never shown
//! as it is ([`suppress_small`]), so that one sick person in a group of
//! households cannot be singled out from a table of counts; 0 and counts
//! above the threshold are shown as they are. Where the table also shows
//! sums (a row's cells are its reported plus its missing, a village's
//! figure is its groups'), [`withhold`] withholds enough other counts
//! beside a small one that it cannot be worked out by subtraction.

use crate::identity::Role;

/// The largest count withheld for viewers who see counts only: counts
/// from 1 to this are never shown (see [`withhold`] for the others
/// withheld beside them).
pub const SMALL_COUNT_MAX: i64 = 4;

/// Characters kept at each end of a masked ID.
const KEEP: usize = 4;

/// Whether `role` may see resident ID numbers in full.
pub fn may_see_full_resident_id(role: Role) -> bool {
    match role {
        Role::County => true,
        Role::Office | Role::GridWorker | Role::BuildingHead | Role::UnitHead | Role::Lead => false,
    }
}

/// `id` with everything but its first and last four characters starred
/// (`6201**********123X`); an ID of eight characters or fewer (never a
/// valid one) is starred whole, so a fragment never shows.
pub fn mask_resident_id(id: &str) -> String {
    let chars: Vec<char> = id.trim().chars().collect();
    if chars.len() <= 2 * KEEP {
        return "*".repeat(chars.len());
    }
    let mut out = String::with_capacity(chars.len());
    out.extend(&chars[..KEEP]);
    out.extend(std::iter::repeat_n('*', chars.len() - 2 * KEEP));
    out.extend(&chars[chars.len() - KEEP..]);
    out
}

/// The resident ID as `role` may see it: in full, or masked.
pub fn shown_resident_id(id: &str, role: Role) -> String {
    if may_see_full_resident_id(role) {
        id.trim().to_string()
    } else {
        mask_resident_id(id)
    }
}

/// `n` as a viewer who sees counts only may see it: `None` (suppressed)
/// for 1 to [`SMALL_COUNT_MAX`], the count itself otherwise (0, larger
/// counts, and a negative number, which no count is, unchanged).
pub fn suppress_small(n: i64) -> Option<i64> {
    if (1..=SMALL_COUNT_MAX).contains(&n) {
        None
    } else {
        Some(n)
    }
}

/// How a withheld count is written for people: `*`, the same mark for a
/// small count and for one withheld beside it, so that the mark does not
/// tell which of them is the small one (nor bound either).
pub fn suppressed_label() -> String {
    "*".into()
}

/// One count of a table, for [`withhold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub value: i64,
    /// Whether the table shows it. A count it does not show but which the
    /// viewer may know otherwise (a day's number of cells, the cells of
    /// its villages added up; a list's cancelled tasks) is taken as known
    /// unless it is small, and is never withheld to protect another:
    /// withholding what is not shown hides nothing.
    pub shown: bool,
}

impl Count {
    /// A count the table shows.
    pub fn shown(value: i64) -> Count {
        Count { value, shown: true }
    }

    /// A count the table does not show, which the viewer may know.
    pub fn unshown(value: i64) -> Count {
        Count {
            value,
            shown: false,
        }
    }
}

/// An addition the viewer can see: the count at `total` is the sum of
/// those at `parts` (indices into the same counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sum {
    pub total: usize,
    pub parts: Vec<usize>,
}

impl Sum {
    pub fn new(total: usize, parts: impl IntoIterator<Item = usize>) -> Sum {
        Sum {
            total,
            parts: parts.into_iter().collect(),
        }
    }

    fn members(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.total).chain(self.parts.iter().copied())
    }
}

fn small(n: i64) -> bool {
    (1..=SMALL_COUNT_MAX).contains(&n)
}

/// Which of `counts` a viewer who sees counts only must not be shown
/// (`true`: withheld), given the `sums` the table shows beside them.
///
/// Every small count (1 to [`SMALL_COUNT_MAX`]) is withheld, and then, until
/// none of these holds, more:
/// - a sum with exactly one count withheld would give it (the total less
///   the other parts, or the parts added up): the smallest other part
///   that is shown and not 0 is withheld too, or, with no such part, the
///   total — for siblings under a parent, the next-smallest sibling; for a
///   parent whose only child is withheld, the parent;
/// - a shown total whose withheld parts are all 1 gives them all (their
///   sum equals their number, and a withheld count is never 0): one more
///   part is withheld, or the total;
/// - a small count that the sums taken together still give (a chain or
///   a cycle of them, [`derivable`]) has one more count withheld: in the
///   first of its own sums with one to withhold, else in the nearest sum
///   linked to them through withheld counts.
///
/// 0 is never withheld. A count not shown is never withheld to protect
/// another. Counts that no sum names are withheld only when small.
/// Indices out of range in a sum make that sum count for nothing.
pub fn withhold(counts: &[Count], sums: &[Sum]) -> Vec<bool> {
    let n = counts.len();
    let sums: Vec<&Sum> = sums.iter().filter(|s| s.members().all(|i| i < n)).collect();
    let mut withheld: Vec<bool> = counts.iter().map(|c| small(c.value)).collect();
    loop {
        let mut more = false;
        for s in &sums {
            if exposes(counts, s, &withheld) {
                if let Some(i) = complement(counts, s, &withheld) {
                    withheld[i] = true;
                    more = true;
                }
            }
        }
        if more {
            continue;
        }
        // Each sum on its own gives nothing: check them together, and
        // withhold one more count near the first small one they give.
        let given = derivable(counts, &sums, &withheld);
        for i in given.into_iter().filter(|&i| small(counts[i].value)) {
            if let Some(c) = complement_near(counts, &sums, &withheld, i) {
                withheld[c] = true;
                more = true;
                break;
            }
        }
        if !more {
            return withheld;
        }
    }
}

/// Whether `s` on its own gives a withheld count: it has exactly one, or
/// its total is known and its withheld parts are all at the least a
/// withheld count can be (1 if shown, 0 if not).
fn exposes(counts: &[Count], s: &Sum, withheld: &[bool]) -> bool {
    let hidden = s.members().filter(|&i| withheld[i]).count();
    if hidden == 1 {
        return true;
    }
    if hidden == 0 || withheld[s.total] {
        return false;
    }
    let (sum, least) =
        s.parts
            .iter()
            .filter(|&&p| withheld[p])
            .fold((0i64, 0i64), |(sum, least), &p| {
                (
                    sum.saturating_add(counts[p].value),
                    least + i64::from(counts[p].shown),
                )
            });
    sum == least
}

/// The count of `s` to withhold beside its withheld ones: its smallest
/// part that is shown, not withheld and not 0 (the first of equals), else
/// its total if that is; `None` when it has none.
fn complement(counts: &[Count], s: &Sum, withheld: &[bool]) -> Option<usize> {
    let open = |i: &usize| counts[*i].shown && !withheld[*i] && counts[*i].value > 0;
    s.parts
        .iter()
        .copied()
        .filter(open)
        .min_by_key(|&p| (counts[p].value, p))
        .or(Some(s.total).filter(open))
}

/// A count to withhold so that the sums no longer give the withheld count
/// `i`: [`complement`] in the first sum holding `i` that has one, else in
/// the first sum linked to those by a withheld count, and so on outward
/// (what gives `i` is a chain of sums linked by withheld counts).
fn complement_near(counts: &[Count], sums: &[&Sum], withheld: &[bool], i: usize) -> Option<usize> {
    let mut seen_sums = vec![false; sums.len()];
    let mut seen = vec![false; counts.len()];
    seen[i] = true;
    let mut frontier = vec![i];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for (k, s) in sums.iter().enumerate() {
            if seen_sums[k] || !s.members().any(|m| frontier.contains(&m)) {
                continue;
            }
            seen_sums[k] = true;
            if let Some(c) = complement(counts, s, withheld) {
                return Some(c);
            }
            for m in s.members() {
                if withheld[m] && !seen[m] {
                    seen[m] = true;
                    next.push(m);
                }
            }
        }
        frontier = next;
    }
    None
}

/// The withheld counts (indices, ascending) whose value follows from the
/// counts not withheld by `sums` taken together — any combination of
/// additions and subtractions of them, not only one sum at a time. Counts
/// not withheld, shown or not, are taken as known. Exact: integer
/// elimination over the withheld counts; were a coefficient ever to
/// overflow, every withheld count is answered (the safe side).
pub fn derivable<S: std::borrow::Borrow<Sum>>(
    counts: &[Count],
    sums: &[S],
    withheld: &[bool],
) -> Vec<usize> {
    let n = counts.len().min(withheld.len());
    let unknown: Vec<usize> = (0..n).filter(|&i| withheld[i]).collect();
    let mut column = vec![None; n];
    for (c, &i) in unknown.iter().enumerate() {
        column[i] = Some(c);
    }
    // One row per sum over the withheld counts: total −1, parts +1.
    let mut rows: Vec<Vec<i128>> = Vec::new();
    for s in sums.iter().map(|s| s.borrow()) {
        if !s.members().all(|i| i < n) {
            continue;
        }
        let mut row = vec![0i128; unknown.len()];
        let mut any = false;
        for (i, coef) in s
            .members()
            .zip(std::iter::once(-1).chain(std::iter::repeat(1)))
        {
            if let Some(c) = column[i] {
                row[c] += coef;
                any = true;
            }
        }
        if any && row.iter().any(|&x| x != 0) {
            rows.push(row);
        }
    }
    match reduce(&mut rows, unknown.len()) {
        Some(rank) => {
            let mut out: Vec<usize> = rows[..rank]
                .iter()
                .filter_map(|r| {
                    let mut nonzero = r.iter().enumerate().filter(|(_, &x)| x != 0);
                    match (nonzero.next(), nonzero.next()) {
                        (Some((c, _)), None) => Some(unknown[c]),
                        _ => None,
                    }
                })
                .collect();
            out.sort_unstable();
            out
        }
        None => unknown,
    }
}

/// `rows` to reduced row echelon form (each pivot the only non-zero in its
/// column; rows scaled, not divided), the rank first. `None` on overflow.
fn reduce(rows: &mut [Vec<i128>], columns: usize) -> Option<usize> {
    let mut rank = 0;
    for c in 0..columns {
        let Some(p) = (rank..rows.len()).find(|&r| rows[r][c] != 0) else {
            continue;
        };
        rows.swap(rank, p);
        let pivot = rows[rank].clone();
        for (r, row) in rows.iter_mut().enumerate() {
            if r == rank || row[c] == 0 {
                continue;
            }
            let (a, b) = (pivot[c], row[c]);
            let mut g = 0i128;
            for (x, &y) in row.iter_mut().zip(&pivot) {
                *x = x.checked_mul(a)?.checked_sub(y.checked_mul(b)?)?;
                g = gcd(g, *x);
            }
            if g > 1 {
                row.iter_mut().for_each(|x| *x /= g);
            }
        }
        rank += 1;
    }
    Some(rank)
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    // Entries stay far below i128::MAX (checked above), so this fits.
    i128::try_from(a).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_keeps_its_area_and_check_digits_only() {
        assert_eq!(mask_resident_id("62012319800101123X"), "6201**********123X");
        assert_eq!(
            mask_resident_id(" 620123198001011234 "),
            "6201**********1234"
        );
        assert_eq!(mask_resident_id("12345678"), "********");
        assert_eq!(mask_resident_id(""), "");
    }

    #[test]
    fn only_the_county_sees_ids_in_full() {
        let id = "62012319800101123X";
        assert_eq!(shown_resident_id(id, Role::County), id);
        for role in [Role::Office, Role::GridWorker, Role::Lead] {
            assert_eq!(shown_resident_id(id, role), "6201**********123X");
        }
    }

    #[test]
    fn counts_from_one_to_four_are_suppressed_and_the_rest_shown() {
        assert_eq!(suppress_small(0), Some(0));
        for n in 1..=4 {
            assert_eq!(suppress_small(n), None, "{n}");
        }
        for n in [5, 6, 100, 40_000] {
            assert_eq!(suppress_small(n), Some(n));
        }
        assert_eq!(suppress_small(-1), Some(-1));
        assert_eq!(suppressed_label(), "*");
    }

    fn shown_all(values: &[i64]) -> Vec<Count> {
        values.iter().map(|&v| Count::shown(v)).collect()
    }

    /// Which of `values` are withheld, as their indices.
    fn withheld_of(counts: &[Count], sums: &[Sum]) -> Vec<usize> {
        let w = withhold(counts, sums);
        (0..w.len()).filter(|&i| w[i]).collect()
    }

    #[test]
    fn a_rows_small_part_is_withheld_with_the_smallest_other_part() {
        // cells 10 = reported 9 + missing 1: missing alone would be 10 − 9.
        let counts = shown_all(&[10, 9, 1]);
        assert_eq!(withheld_of(&counts, &[Sum::new(0, [1, 2])]), [1, 2]);
        // cells 12 = reported 5 + missing 3 + other 6: the smallest other.
        let counts = shown_all(&[14, 5, 3, 6]);
        assert_eq!(withheld_of(&counts, &[Sum::new(0, [1, 2, 3])]), [1, 2]);
    }

    #[test]
    fn a_small_part_beside_parts_of_zero_takes_the_total_with_it() {
        // cells 7 = reported 0 + missing 3 … no: 3 = 0 + 3 is small itself;
        // a total of 0 + a part withheld as a complement elsewhere:
        // 9 = 0 + 9, and 9 withheld beside a small sibling.
        let counts = shown_all(&[9, 0, 9, 12, 3]);
        let sums = [Sum::new(0, [1, 2]), Sum::new(3, [2, 4])];
        assert_eq!(withheld_of(&counts, &sums), [0, 2, 4]);
    }

    #[test]
    fn a_small_total_has_a_part_withheld_with_it() {
        // reported 3 = … the total is small, its parts 3 and 0: 0 stays
        // shown, and 3 is small itself.
        let counts = shown_all(&[3, 3, 0]);
        assert_eq!(withheld_of(&counts, &[Sum::new(0, [1, 2])]), [0, 1]);
        // A withheld total beside shown parts gives nothing away once one
        // part is withheld with it: the smallest non-zero one.
        let counts = shown_all(&[2, 0, 1, 1]);
        assert_eq!(withheld_of(&counts, &[Sum::new(0, [1, 2, 3])]), [0, 2, 3]);
    }

    #[test]
    fn one_small_sibling_takes_the_next_smallest_with_it() {
        // A village of 20 = groups 1 + 7 + 12: 7 is withheld too, 20 shown.
        let counts = shown_all(&[20, 12, 1, 7]);
        assert_eq!(withheld_of(&counts, &[Sum::new(0, [1, 2, 3])]), [2, 3]);
        // Two small siblings already hide each other (1 + 3 = 4 ≠ 2).
        let counts = shown_all(&[20, 16, 1, 3]);
        assert_eq!(withheld_of(&counts, &[Sum::new(0, [1, 2, 3])]), [2, 3]);
    }

    #[test]
    fn a_parent_whose_only_child_is_withheld_is_withheld() {
        // Group 7 = 3 + 4 row … the group's 9 withheld beside a small
        // sibling (12 = 3 + 9), and its village has it as only child.
        let counts = shown_all(&[12, 3, 9, 9]);
        let sums = [Sum::new(0, [1, 2]), Sum::new(3, [2])];
        assert_eq!(withheld_of(&counts, &sums), [1, 2, 3]);
    }

    #[test]
    fn withheld_ones_under_a_shown_total_take_one_more_part() {
        // 10 = 8 + 1 + 1: the two ones add up to 2, which only 1 + 1 is.
        let counts = shown_all(&[10, 8, 1, 1]);
        assert_eq!(withheld_of(&counts, &[Sum::new(0, [1, 2, 3])]), [1, 2, 3]);
        // 10 = 7 + 2 + 1: 3 is 2 + 1 or 1 + 2, so nothing more.
        let counts = shown_all(&[10, 7, 2, 1]);
        assert_eq!(withheld_of(&counts, &[Sum::new(0, [1, 2, 3])]), [2, 3]);
    }

    #[test]
    fn zero_is_never_withheld_and_large_counts_alone_are_shown() {
        let counts = shown_all(&[0, 0, 0, 5, 40]);
        assert!(withheld_of(&counts, &[Sum::new(0, [1, 2]), Sum::new(4, [3])]).is_empty());
        // Only zeros beside a small count: the total goes with it.
        let counts = shown_all(&[4, 0, 4, 0]);
        assert_eq!(withheld_of(&counts, &[Sum::new(0, [1, 2, 3])]), [0, 2]);
    }

    #[test]
    fn an_unshown_count_is_never_withheld_for_another() {
        // A list: total 20 = done 3 + open 11 + cancelled 6 (not shown,
        // taken as known): open is withheld, not cancelled.
        let counts = [
            Count::shown(20),
            Count::shown(3),
            Count::shown(11),
            Count::unshown(6),
        ];
        assert_eq!(withheld_of(&counts, &[Sum::new(0, [1, 2, 3])]), [1, 2]);
        // With nothing else to withhold, the total goes.
        let counts = [
            Count::shown(9),
            Count::shown(3),
            Count::shown(0),
            Count::unshown(6),
        ];
        assert_eq!(withheld_of(&counts, &[Sum::new(0, [1, 2, 3])]), [0, 1]);
    }

    #[test]
    fn sums_taken_together_give_what_each_alone_does_not() {
        // A chain: a = b + c, b = d + e. With c alone withheld, a − b gives
        // it; with b, c and d withheld, b + c and b − d are known and none
        // of the three.
        let counts = shown_all(&[20, 12, 8, 7, 5]);
        let sums = [Sum::new(0, [1, 2]), Sum::new(1, [3, 4])];
        let w = [false, false, true, false, false];
        assert_eq!(derivable(&counts, &sums, &w), [2]);
        let w = [false, true, true, true, false];
        assert!(derivable(&counts, &sums, &w).is_empty());
        // A 2 × 2 block of a table with its margins: each line has two
        // withheld cells and the block still moves (+1 −1 / −1 +1).
        //   x00 x01 | r0
        //   x10 x11 | r1
        //   c0  c1  |
        let counts = shown_all(&[3, 6, 7, 8, 9, 14, 10, 15]);
        let sums = [
            Sum::new(4, [0, 1]),
            Sum::new(5, [2, 3]),
            Sum::new(6, [0, 2]),
            Sum::new(7, [1, 3]),
        ];
        let w = [true, true, true, true, false, false, false, false];
        assert!(derivable(&counts, &sums, &w).is_empty());
        // Two such blocks joined by one withheld cell: every line still has
        // two withheld, but the joining cell is the rows' margins less the
        // columns' of one block, and is given.
        //        c0  c1  c2  c3
        //   r0  x00 x01  .   .
        //   r1  x10 x11 x12  .
        //   r2   .   .  x22 x23
        //   r3   .   .  x32 x33
        let (rows, cols) = (4, 4);
        let cell = |r: usize, c: usize| r * cols + c;
        let mut values = vec![10i64; rows * cols];
        values[cell(1, 2)] = 2;
        let mut counts: Vec<Count> = values.iter().map(|&v| Count::shown(v)).collect();
        let mut sums = Vec::new();
        for r in 0..rows {
            counts.push(Count::shown((0..cols).map(|c| values[cell(r, c)]).sum()));
            sums.push(Sum::new(counts.len() - 1, (0..cols).map(|c| cell(r, c))));
        }
        for c in 0..cols {
            counts.push(Count::shown((0..rows).map(|r| values[cell(r, c)]).sum()));
            sums.push(Sum::new(counts.len() - 1, (0..rows).map(|r| cell(r, c))));
        }
        let mut w = vec![false; counts.len()];
        for (r, c) in [
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 1),
            (1, 2),
            (2, 2),
            (2, 3),
            (3, 2),
            (3, 3),
        ] {
            w[cell(r, c)] = true;
        }
        assert_eq!(derivable(&counts, &sums, &w), [cell(1, 2)]);
        // And `withhold` from there withholds more until it is not.
        let out = withhold(&counts, &sums);
        assert!(out[cell(1, 2)]);
        assert!(
            derivable(&counts, &sums, &out).is_empty(),
            "{:?}",
            (0..out.len()).filter(|&i| out[i]).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_small_total_given_by_another_sum_has_a_count_withheld_there() {
        // 3 = 1 + 2 all small; 8 = 1 + 5 + 2 gives 1 + 2 = 3, and so the
        // 3: its own sum has nothing left, so 5 goes.
        let counts = shown_all(&[1, 5, 2, 3, 8]);
        let sums = [Sum::new(3, [0, 2]), Sum::new(4, [0, 1, 2])];
        assert_eq!(withheld_of(&counts, &sums), [0, 1, 2, 3]);
    }

    /// Rank of `rows` (small integer rows), by exact fractions-free
    /// elimination in i128 — written apart from `reduce` on purpose.
    fn rank(mut rows: Vec<Vec<i128>>) -> usize {
        let cols = rows.first().map_or(0, Vec::len);
        let mut r = 0;
        for c in 0..cols {
            let Some(p) = (r..rows.len()).find(|&i| rows[i][c] != 0) else {
                continue;
            };
            rows.swap(r, p);
            let pivot = rows[r].clone();
            for row in rows.iter_mut().skip(r + 1) {
                let (a, b) = (pivot[c], row[c]);
                if b != 0 {
                    for (x, &y) in row.iter_mut().zip(&pivot) {
                        *x = *x * a - y * b;
                    }
                    let g = row.iter().fold(0i128, |g, &x| gcd(g, x));
                    if g > 1 {
                        row.iter_mut().for_each(|x| *x /= g);
                    }
                }
            }
            r += 1;
        }
        r
    }

    /// Whether the withheld count `j` is given by `sums`: the unit row of
    /// `j` lies in the span of the sums' rows over the withheld counts.
    fn given(counts: &[Count], sums: &[Sum], w: &[bool], j: usize) -> bool {
        let unknown: Vec<usize> = (0..counts.len()).filter(|&i| w[i]).collect();
        let col = |i: usize| unknown.iter().position(|&u| u == i);
        let mut rows: Vec<Vec<i128>> = sums
            .iter()
            .map(|s| {
                let mut row = vec![0i128; unknown.len()];
                if let Some(c) = col(s.total) {
                    row[c] -= 1;
                }
                for &p in &s.parts {
                    if let Some(c) = col(p) {
                        row[c] += 1;
                    }
                }
                row
            })
            .collect();
        let before = rank(rows.clone());
        let mut unit = vec![0i128; unknown.len()];
        if let Some(c) = col(j) {
            unit[c] = 1;
        }
        rows.push(unit);
        rank(rows) == before
    }

    /// The overview's shape: a day's total over villages over groups,
    /// each row's cells = reported + missing, each column adding up, and
    /// one more column (arrivals) that adds up by region only. The day's
    /// cells are not shown (taken as known); its arrivals are not in it.
    fn overview_table(villages: &[Vec<[i64; 3]>]) -> (Vec<Count>, Vec<Sum>) {
        let mut counts = Vec::new();
        let mut sums = Vec::new();
        // A row: [cells, reported, missing, arrivals] at `base`.
        let row = |counts: &mut Vec<Count>, r: i64, m: i64, a: i64, shown_cells: bool| {
            let base = counts.len();
            counts.push(Count {
                value: r + m,
                shown: shown_cells,
            });
            counts.extend([Count::shown(r), Count::shown(m), Count::shown(a)]);
            base
        };
        let total = |rows: &[[i64; 3]]| {
            rows.iter()
                .fold([0, 0, 0], |t, g| [t[0] + g[0], t[1] + g[1], t[2] + g[2]])
        };
        let all: Vec<[i64; 3]> = villages.iter().map(|v| total(v)).collect();
        let t = total(&all);
        let day = row(&mut counts, t[0], t[1], 0, false);
        sums.push(Sum::new(day, [day + 1, day + 2]));
        let mut village_rows = Vec::new();
        for (v, groups) in villages.iter().enumerate() {
            let vr = row(&mut counts, all[v][0], all[v][1], all[v][2], true);
            sums.push(Sum::new(vr, [vr + 1, vr + 2]));
            village_rows.push(vr);
            let mut group_rows = Vec::new();
            for g in groups {
                let gr = row(&mut counts, g[0], g[1], g[2], true);
                sums.push(Sum::new(gr, [gr + 1, gr + 2]));
                group_rows.push(gr);
            }
            for col in 0..4 {
                sums.push(Sum::new(vr + col, group_rows.iter().map(|g| g + col)));
            }
        }
        for col in 0..3 {
            sums.push(Sum::new(day + col, village_rows.iter().map(|v| v + col)));
        }
        (counts, sums)
    }

    /// What every table's withholding must hold to.
    fn check(counts: &[Count], sums: &[Sum]) -> Result<(), String> {
        let w = withhold(counts, sums);
        for (i, c) in counts.iter().enumerate() {
            if small(c.value) && !w[i] {
                return Err(format!("small count {i} shown"));
            }
            if c.value == 0 && w[i] {
                return Err(format!("0 at {i} withheld"));
            }
            if !c.shown && !small(c.value) && w[i] {
                return Err(format!("unshown {i} withheld"));
            }
        }
        for s in sums {
            if s.members().filter(|&i| w[i]).count() == 1 {
                return Err(format!("{s:?} has one withheld"));
            }
        }
        for j in (0..counts.len()).filter(|&j| w[j] && small(counts[j].value)) {
            if given(counts, sums, &w, j) {
                return Err(format!("{j} is given by the sums"));
            }
        }
        let mut got = derivable(counts, sums, &w);
        got.retain(|&i| small(counts[i].value));
        if !got.is_empty() {
            return Err(format!("derivable says {got:?}"));
        }
        Ok(())
    }

    fn a_count() -> impl proptest::strategy::Strategy<Value = i64> {
        use proptest::prelude::*;
        prop_oneof![3 => Just(0i64), 4 => 1..=4i64, 3 => 5..=40i64]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        #[test]
        fn no_withheld_small_count_is_given_by_the_overviews_sums(
            villages in proptest::collection::vec(
                proptest::collection::vec([a_count(), a_count(), a_count()], 1..=4),
                1..=4,
            )
        ) {
            let (counts, sums) = overview_table(&villages);
            if let Err(e) = check(&counts, &sums) {
                proptest::prop_assert!(false, "{e} in {villages:?}");
            }
        }

        #[test]
        fn no_withheld_small_count_is_given_by_any_sums(
            values in proptest::collection::vec(a_count(), 2..=14),
            sums in proptest::collection::vec(
                (0usize..14, proptest::collection::vec(0usize..14, 1..=4)),
                0..=6,
            )
        ) {
            // Sums over distinct counts that hold: each total after its
            // parts, a count the total of one sum at most, totals worked
            // out in order.
            let n = values.len();
            let mut counts = shown_all(&values);
            let mut totals = std::collections::BTreeSet::new();
            let mut sums: Vec<Sum> = sums
                .into_iter()
                .filter_map(|(t, parts)| {
                    let t = t % n;
                    let mut parts: Vec<usize> =
                        parts.into_iter().map(|p| p % n).filter(|&p| p < t).collect();
                    parts.sort_unstable();
                    parts.dedup();
                    (!parts.is_empty() && totals.insert(t)).then(|| Sum::new(t, parts))
                })
                .collect();
            sums.sort_by_key(|s| s.total);
            for s in &sums {
                counts[s.total].value = s.parts.iter().map(|&p| counts[p].value).sum();
            }
            if let Err(e) = check(&counts, &sums) {
                proptest::prop_assert!(false, "{e} in {counts:?} {sums:?}");
            }
        }
    }

    /// Every table of one village with two groups, each group's reported
    /// and missing from 0, 1, 2, 4, 5, 6: a viewer who knows the shown
    /// counts, the sums and that a withheld count is at least 1 can never
    /// pin a withheld small count to one value (found by trying every
    /// value of the withheld groups' counts up to 14).
    #[test]
    fn in_every_small_village_no_withheld_small_count_can_be_pinned() {
        let values = [0i64, 1, 2, 4, 5, 6];
        let mut tables = 0;
        for &r0 in &values {
            for &m0 in &values {
                for &r1 in &values {
                    for &m1 in &values {
                        let leaves = [r0, m0, r1, m1];
                        let (counts, sums) = overview_table(&[vec![[r0, m0, 0], [r1, m1, 0]]]);
                        check(&counts, &sums).unwrap_or_else(|e| panic!("{e} in {leaves:?}"));
                        let w = withhold(&counts, &sums);
                        // The counts as the leaves give them, in the
                        // table's order (day, village, group 0, group 1;
                        // cells, reported, missing, arrivals).
                        let of = |l: [i64; 4]| {
                            let row = |r: i64, m: i64| [r + m, r, m, 0];
                            let (g0, g1) = (row(l[0], l[1]), row(l[2], l[3]));
                            let v = row(l[0] + l[2], l[1] + l[3]);
                            let mut out = vec![v[0], v[1], v[2], 0];
                            out.extend(v);
                            out.extend(g0);
                            out.extend(g1);
                            out
                        };
                        let leaf_index = [9, 10, 13, 14];
                        let mut seen: Vec<std::collections::BTreeSet<i64>> =
                            vec![Default::default(); counts.len()];
                        let range = |k: usize| {
                            if w[leaf_index[k]] {
                                0..=14
                            } else {
                                leaves[k]..=leaves[k]
                            }
                        };
                        for a in range(0) {
                            for b in range(1) {
                                for c in range(2) {
                                    for d in range(3) {
                                        let got = of([a, b, c, d]);
                                        let fits = (0..counts.len()).all(|i| {
                                            if w[i] {
                                                !counts[i].shown || got[i] >= 1
                                            } else {
                                                got[i] == counts[i].value
                                            }
                                        });
                                        if fits {
                                            for i in 0..counts.len() {
                                                seen[i].insert(got[i]);
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        for i in (0..counts.len()).filter(|&i| w[i] && small(counts[i].value)) {
                            assert!(
                                seen[i].len() > 1,
                                "count {i} pinned to {:?} in {leaves:?}, withheld {:?}",
                                seen[i],
                                (0..w.len()).filter(|&i| w[i]).collect::<Vec<_>>()
                            );
                        }
                        tables += 1;
                    }
                }
            }
        }
        assert_eq!(tables, 6usize.pow(4));
    }
}
