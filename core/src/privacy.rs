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
//! above the threshold are shown as they are.

use crate::identity::Role;

/// The largest count suppressed for viewers who see counts only: counts
/// from 1 to this are shown as "<5" (one more than this), never exactly.
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

/// How a suppressed count is written for people: `<5`.
pub fn suppressed_label() -> String {
    format!("<{}", SMALL_COUNT_MAX + 1)
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
        assert_eq!(suppressed_label(), "<5");
    }
}
