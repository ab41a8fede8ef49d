//! The hierarchy above the cells, as data: what each level of each branch
//! is called.
//!
//! In the countryside a cell sits in county/township/village/group; in the
//! county seat the same county and town hold communities, their buildings
//! (or compounds) and the buildings' units, where building heads (楼长) and
//! unit heads (单元长) look after the cells. Rather than four fixed names,
//! a [`Hierarchy`] holds the countryside's names as the default and, for
//! any branch (a region path prefix such as `两当县/城关镇/城关社区`), the
//! names of its own level and those below it. The office sets them once
//! ([`crate::Store::set_region_levels`]); a cell made under a branch must be
//! as deep as its branch has levels, rollups name each row's level, and a
//! level's name picks its depth (`--level building`).

use crate::model::{region_part, Level, RegionPath, VResult, ValidationError, MAX_REGION_DEPTH};
use std::collections::BTreeMap;

/// Level names where no branch says otherwise.
pub const DEFAULT_LEVELS: [&str; 4] = ["county", "township", "village", "group"];

/// Longest level name: a word, not a sentence.
const MAX_LEVEL_NAME: usize = 32;

/// Named levels per branch of the region hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hierarchy {
    /// Branch prefix (its parts joined by `/`) → names of its own level and those below.
    branches: BTreeMap<String, Vec<String>>,
}

impl Hierarchy {
    /// The countryside's four levels everywhere.
    pub fn new() -> Hierarchy {
        Hierarchy::default()
    }

    /// Adds (or replaces) a branch: `prefix`'s own level and those below it
    /// named `names` (`城关社区` → community, building, unit).
    /// Refused, naming the problem, when a name is malformed, the branch
    /// would be deeper than a region path may be, or a name would then
    /// mean two depths (a level's name must say one depth to roll up at).
    pub fn with_branch(mut self, prefix: &str, names: &[String]) -> VResult<Hierarchy> {
        let key = Hierarchy::branch_key(prefix)?;
        let parts: Vec<&str> = key.split('/').collect();
        if names.is_empty() {
            return Err(ValidationError::new(
                "levels",
                "name at least one level below the branch",
            ));
        }
        // The names start at the branch's own level: 城关社区 is a
        // community, with buildings and units below it.
        if parts.len() - 1 + names.len() > MAX_REGION_DEPTH {
            return Err(ValidationError::new(
                "levels",
                format!(
                    "a branch of {} parts can name {} levels at most, its own and those below (a region path has {MAX_REGION_DEPTH} parts at most)",
                    parts.len(),
                    MAX_REGION_DEPTH + 1 - parts.len()
                ),
            ));
        }
        let names = names
            .iter()
            .map(|n| level_name(n))
            .collect::<VResult<Vec<String>>>()?;
        self.branches.insert(key, names);
        self.check_unambiguous()?;
        Ok(self)
    }

    /// A branch's prefix in its one spelling (the spelling cells store).
    pub fn branch_key(prefix: &str) -> VResult<String> {
        let parts = prefix
            .trim()
            .trim_end_matches('/')
            .split('/')
            .map(region_part)
            .collect::<VResult<Vec<String>>>()
            .map_err(|e| ValidationError::new("prefix", e.rule))?;
        Ok(parts.join("/"))
    }

    /// The level names of branch `key`, if it is one.
    pub fn below(&self, key: &str) -> Option<&[String]> {
        self.branches.get(key).map(Vec::as_slice)
    }

    /// A hierarchy as a store's `region_levels` table holds it (prefix,
    /// names as a JSON array), read back through the checks it was
    /// written with, so a tampered table is an error, not a different
    /// hierarchy. SQLite and PostgreSQL alike.
    pub fn from_stored(
        rows: impl IntoIterator<Item = (String, String)>,
    ) -> crate::Result<Hierarchy> {
        let mut h = Hierarchy::new();
        for (prefix, json) in rows {
            let damaged = |reason: String| crate::Error::Damaged {
                doc: format!("region_levels {prefix}"),
                reason,
            };
            let names: Vec<String> =
                serde_json::from_str(&json).map_err(|e| damaged(e.to_string()))?;
            h = h
                .with_branch(&prefix, &names)
                .map_err(|e| damaged(e.to_string()))?;
        }
        Ok(h)
    }

    /// Branch `key`'s names as the `region_levels` table stores them.
    pub fn stored_names(&self, key: &str) -> Option<String> {
        self.below(key).and_then(|n| serde_json::to_string(n).ok())
    }

    /// Each branch and the names of its levels, shallowest branch first.
    pub fn branches(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.branches
            .iter()
            .map(|(p, n)| (p.as_str(), n.as_slice()))
    }

    /// The name of each level of `path`, county first: the defaults,
    /// overridden by every branch `path` lies in, deeper branches last.
    pub fn names_of(&self, path: &[String]) -> Vec<String> {
        let mut names = self.names_of_branch(path);
        names.truncate(path.len());
        names
    }

    /// Refuses a cell path that stops short of, or goes past, the levels
    /// its branch names — a unit's cell placed at its building, or a rural
    /// cell given a fifth part.
    pub fn check_cell_path(&self, path: &RegionPath) -> VResult<()> {
        let names = self.names_of_branch(path.parts());
        if names.len() == path.depth() {
            return Ok(());
        }
        Err(ValidationError::new(
            "path",
            format!(
                "a cell here sits at {} ({} parts); this path has {}",
                names.join("/"),
                names.len(),
                path.depth()
            ),
        ))
    }

    /// Refuses a branch's new names that cells already under it (`cells`:
    /// id and stored path) would not fit: they were made under the names
    /// before.
    pub fn check_cells_fit(
        &self,
        cells: impl IntoIterator<Item = (String, String)>,
    ) -> VResult<()> {
        for (id, path) in cells {
            let Ok(path) = RegionPath::parse(&path) else {
                continue;
            };
            if let Err(e) = self.check_cell_path(&path) {
                return Err(ValidationError::new(
                    "levels",
                    format!("cell {id} at {path} would not fit: {}", e.rule),
                ));
            }
        }
        Ok(())
    }

    /// The level named `name` (any branch's name for it, or a default), or
    /// given by its depth (`5`: below county, township, community and
    /// building).
    pub fn level(&self, name: &str) -> VResult<Level> {
        let name = name.trim();
        if let Ok(d) = name.parse::<usize>() {
            return Level::at(d).ok_or_else(|| {
                ValidationError::new("level", format!("a depth is 1 to {MAX_REGION_DEPTH}"))
            });
        }
        let depths = self.depths_named(name);
        match depths.first() {
            Some(&d) => Level::at(d).ok_or_else(|| ValidationError::new("level", "too deep")),
            None => Err(ValidationError::new(
                "level",
                format!("one of {}", self.level_names().join(", ")),
            )),
        }
    }

    /// Every level name in use, shallowest first.
    pub fn level_names(&self) -> Vec<String> {
        let mut all: Vec<(usize, String)> = DEFAULT_LEVELS
            .iter()
            .enumerate()
            .map(|(i, n)| (i + 1, n.to_string()))
            .collect();
        for (prefix, below) in &self.branches {
            let at = prefix.split('/').count();
            all.extend(below.iter().enumerate().map(|(i, n)| (at + i, n.clone())));
        }
        all.sort();
        all.dedup();
        all.into_iter().map(|(_, n)| n).collect()
    }

    /// The name of `level` on `path`'s branch, for a rollup row.
    pub fn name_at(&self, path: &[String], level: Level) -> String {
        self.names_of_branch(path)
            .get(level.depth() - 1)
            .cloned()
            .unwrap_or_else(|| format!("level {}", level.depth()))
    }

    /// The names of every level of `path`'s branch, to its cells.
    fn names_of_branch(&self, path: &[String]) -> Vec<String> {
        let mut names: Vec<String> = DEFAULT_LEVELS.iter().map(|s| s.to_string()).collect();
        let mut branches: Vec<(usize, &Vec<String>)> = self
            .branches
            .iter()
            .filter(|(p, _)| is_within(path, p))
            .map(|(p, n)| (p.split('/').count(), n))
            .collect();
        branches.sort_by_key(|(at, _)| *at);
        for (at, below) in branches {
            names.truncate(at - 1);
            // A branch that starts below the last level named so far (a
            // six-part branch naming only its own level, or a branch inside
            // a shallower one whose levels stop above it) has levels
            // between with no name: they are called by their depth.
            while names.len() < at - 1 {
                names.push(format!("level {}", names.len() + 1));
            }
            names.extend(below.iter().cloned());
        }
        names
    }

    fn depths_named(&self, name: &str) -> Vec<usize> {
        let mut depths: Vec<usize> = DEFAULT_LEVELS
            .iter()
            .position(|n| *n == name)
            .map(|i| i + 1)
            .into_iter()
            .collect();
        for (prefix, below) in &self.branches {
            let at = prefix.split('/').count();
            if let Some(i) = below.iter().position(|n| n == name) {
                depths.push(at + i);
            }
        }
        depths.sort_unstable();
        depths.dedup();
        depths
    }

    fn check_unambiguous(&self) -> VResult<()> {
        for name in self.level_names() {
            let depths = self.depths_named(&name);
            if depths.len() > 1 {
                return Err(ValidationError::new(
                    "levels",
                    format!(
                        "\"{name}\" would name levels at depths {}; a level's name must say one depth — name one of them differently",
                        depths
                            .iter()
                            .map(usize::to_string)
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `path` lies in the branch `prefix` (or is it).
fn is_within(path: &[String], prefix: &str) -> bool {
    let p: Vec<&str> = prefix.split('/').collect();
    p.len() <= path.len() && p.iter().zip(path).all(|(a, b)| *a == b.as_str())
}

/// A level name: one word a clerk types after `--level`.
fn level_name(s: &str) -> VResult<String> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.chars().count() <= MAX_LEVEL_NAME
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(ValidationError::new(
            "levels",
            format!(
                "a level name is one word of letters, digits, _ or - (at most {MAX_LEVEL_NAME}): {s:?}"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> Vec<String> {
        s.split('/').map(str::to_string).collect()
    }

    fn county_seat() -> Hierarchy {
        let names = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        Hierarchy::new()
            .with_branch("两当县/城关镇/城关社区", &names("community,building,unit"))
            .unwrap()
            .with_branch("两当县/城关镇/西关社区", &names("community,building,unit"))
            .unwrap()
    }

    #[test]
    fn the_countryside_keeps_its_four_levels() {
        let h = county_seat();
        let village = parts("两当县/城关镇/东关村/一组");
        assert_eq!(
            h.names_of(&village),
            DEFAULT_LEVELS.map(String::from).to_vec()
        );
        assert!(h
            .check_cell_path(&RegionPath::from_parts(village).unwrap())
            .is_ok());
    }

    #[test]
    fn a_community_branch_names_its_own_levels_and_depth() {
        let h = county_seat();
        let unit = parts("两当县/城关镇/城关社区/3号楼/2单元");
        assert_eq!(
            h.names_of(&unit),
            parts("county/township/community/building/unit")
        );
        assert!(h
            .check_cell_path(&RegionPath::from_parts(unit).unwrap())
            .is_ok());
        // A cell placed at its building, or a rural cell one part deeper,
        // is refused with the levels named.
        let e = h
            .check_cell_path(&RegionPath::parse("两当县/城关镇/城关社区/3号楼").unwrap())
            .unwrap_err();
        assert!(e.rule.contains("community/building/unit"), "{}", e.rule);
        assert!(h
            .check_cell_path(&RegionPath::parse("两当县/城关镇/东关村/一组/x").unwrap())
            .is_err());
        assert_eq!(h.level("building").unwrap(), Level::Group);
        assert_eq!(h.level("unit").unwrap().depth(), 5);
        assert_eq!(h.level("village").unwrap(), Level::Village);
        assert_eq!(h.level("5").unwrap().depth(), 5);
        assert!(h.level("7").is_err());
        assert_eq!(
            h.name_at(&parts("两当县/城关镇/城关社区/3号楼/2单元"), Level::Village),
            "community"
        );
        let e = h.level("floor").unwrap_err();
        assert!(
            e.rule.contains("building") && e.rule.contains("group"),
            "{}",
            e.rule
        );
    }

    #[test]
    fn levels_between_a_branch_and_the_names_above_it_are_called_by_depth() {
        let names = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        // Below the four default levels: a six-part branch may name its own
        // level only, and the fifth has no name.
        let deep = Hierarchy::new()
            .with_branch("a/b/c/d/e/f", &names("room"))
            .unwrap();
        let room = parts("a/b/c/d/e/f");
        assert_eq!(
            deep.names_of(&room),
            parts("county/township/village/group/level 5/room")
        );
        assert!(deep
            .check_cell_path(&RegionPath::from_parts(room.clone()).unwrap())
            .is_ok());
        assert_eq!(deep.name_at(&room, Level::at(5).unwrap()), "level 5");
        // Below a shallower branch whose own levels stop above it.
        let nested = Hierarchy::new()
            .with_branch("a/b", &names("estate"))
            .unwrap()
            .with_branch("a/b/c/d", &names("block"))
            .unwrap();
        let block = parts("a/b/c/d");
        assert_eq!(
            nested.names_of(&block),
            parts("county/estate/level 3/block")
        );
        assert!(nested
            .check_cell_path(&RegionPath::from_parts(block).unwrap())
            .is_ok());
    }

    #[test]
    fn a_name_may_not_mean_two_depths_and_branches_stay_within_six_parts() {
        let names = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        let e = county_seat()
            .with_branch(
                "两当县/城关镇/新区",
                &names("community,compound,building,unit"),
            )
            .unwrap_err();
        assert!(e.rule.contains("building"), "{}", e.rule);
        assert!(Hierarchy::new()
            .with_branch("a/b/c", &names("x,y,z,w,v"))
            .is_err());
        assert!(Hierarchy::new().with_branch("a/b", &[]).is_err());
        assert!(Hierarchy::new()
            .with_branch("a/b", &names("two words"))
            .is_err());
        assert!(Hierarchy::new()
            .with_branch("a/\u{200B}b", &names("x"))
            .is_err());
    }
}
