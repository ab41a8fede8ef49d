//! The county seat's communities as their residents organise them: each
//! community's compounds hold numbered buildings, each building one to
//! three units (stairwells), and the cells of a unit are looked after by a
//! unit head (单元长), those of a building by a building head (楼长) —
//! beside the grid worker who holds the whole community. At reference
//! scale the five communities of 城关镇 have 103 buildings and 198 units.

use crate::{names, stream, CellSpec, Township};
use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;
use silin_core::identity::Role;
use silin_core::Store;

/// Buildings and units in the county seat's communities.
pub const REFERENCE_BUILDINGS: usize = 103;
pub const REFERENCE_UNITS: usize = 198;
/// What a community's branch calls its levels, its own first.
pub const COMMUNITY_LEVELS: [&str; 3] = ["community", "building", "unit"];
/// Most units a building has.
const MAX_UNITS: usize = 3;

/// The heads' own random stream (lib.rs has tags 1–4).
const TAG_HEAD: u64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Building {
    /// e.g. 锦苑小区3号楼
    pub name: String,
    /// e.g. 1单元, 2单元
    pub units: Vec<String>,
}

/// A building head or unit head: the region their phone is scoped to and
/// the cells in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    pub index: usize,
    /// [`Role::BuildingHead`] or [`Role::UnitHead`].
    #[serde(serialize_with = "role_name")]
    pub role: Role,
    pub name: String,
    pub phone: String,
    /// The member of a registered cell this head is, when there is one.
    pub member_id: Option<String>,
    /// county/township/community/building[/unit]: the head's scope.
    pub scope: String,
    /// Indexes into [`crate::Workload::cells`].
    pub cells: Vec<usize>,
}

fn role_name<S: serde::Serializer>(r: &Role, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.as_str())
}

/// Lays out the buildings and units of every urban community: 103
/// buildings spread over the communities (each at least a tenth of its
/// share), each building in one of the community's compounds, with one
/// unit each and the other 95 units given to buildings at random.
pub(crate) fn lay_out(rng: &mut StdRng, townships: &mut [Township]) {
    let communities: Vec<(usize, usize)> = townships
        .iter()
        .enumerate()
        .flat_map(|(t, tw)| {
            tw.villages
                .iter()
                .enumerate()
                .filter(|(_, v)| v.urban)
                .map(move |(v, _)| (t, v))
        })
        .collect();
    if communities.is_empty() {
        return;
    }
    let n = communities.len();
    // Building counts: an even share each, then the remainder at random.
    let mut per: Vec<usize> = vec![REFERENCE_BUILDINGS / n; n];
    for _ in 0..REFERENCE_BUILDINGS % n {
        per[rng.random_range(0..n)] += 1;
    }
    // (township, community, building) of every building.
    let mut buildings: Vec<(usize, usize, usize)> = Vec::new();
    for (k, &(t, v)) in communities.iter().enumerate() {
        let village = &mut townships[t].villages[v];
        let compounds = village.groups.clone();
        for b in 0..per[k] {
            // Buildings numbered within their compound, compounds in turn.
            let compound = &compounds[b % compounds.len().max(1)];
            let number = b / compounds.len().max(1) + 1;
            village.buildings.push(Building {
                name: format!("{compound}{number}号楼"),
                units: vec!["1单元".to_string()],
            });
            buildings.push((t, v, village.buildings.len() - 1));
        }
    }
    let mut extra = REFERENCE_UNITS.saturating_sub(REFERENCE_BUILDINGS);
    while extra > 0 {
        let (t, v, b) = buildings[rng.random_range(0..buildings.len())];
        let building = &mut townships[t].villages[v].buildings[b];
        if building.units.len() < MAX_UNITS {
            building
                .units
                .push(format!("{}单元", building.units.len() + 1));
            extra -= 1;
        }
    }
}

/// A head for every building and every unit, in path order. A unit head
/// is the head of the unit's first cell's second household (the lead
/// heads the first); a building head, the first member of its last cell's
/// last household. A building or unit with no cells registered yet (a
/// small county) still has a head, drawn from the generator's names.
pub(crate) fn heads(seed: u64, townships: &[Township], cells: &[CellSpec]) -> Vec<Head> {
    let mut out = Vec::new();
    for t in townships {
        for v in t.villages.iter().filter(|v| v.urban) {
            for b in &v.buildings {
                let building = [crate::names::COUNTY, &t.name, &v.name, &b.name].join("/");
                let in_building = cells_under(cells, &building);
                let chosen = in_building.last().and_then(|&c| {
                    let hh = cells[c].households.last()?;
                    hh.members.first().map(|m| (m, hh))
                });
                push(
                    &mut out,
                    seed,
                    Role::BuildingHead,
                    building.clone(),
                    in_building,
                    chosen,
                );
                for u in &b.units {
                    let unit = format!("{building}/{u}");
                    let in_unit = cells_under(cells, &unit);
                    let chosen = in_unit.first().and_then(|&c| {
                        let hh = cells[c].households.get(1).or(cells[c].households.first())?;
                        hh.members.first().map(|m| (m, hh))
                    });
                    push(&mut out, seed, Role::UnitHead, unit, in_unit, chosen);
                }
            }
        }
    }
    out
}

fn push(
    out: &mut Vec<Head>,
    seed: u64,
    role: Role,
    scope: String,
    cells: Vec<usize>,
    chosen: Option<(&crate::MemberSpec, &crate::HouseholdSpec)>,
) {
    let index = out.len();
    let mut rng = stream(seed, TAG_HEAD, index as u64);
    let phone = names::mobile(&mut rng);
    let (name, phone, member_id) = match chosen {
        Some((m, hh)) => (
            m.name.clone(),
            m.phone.clone().or(hh.phone.clone()).unwrap_or(phone),
            Some(m.id.clone()),
        ),
        None => {
            let male = rng.random_bool(0.5);
            let name = format!(
                "{}{}",
                names::surname(&mut rng),
                names::given_name(&mut rng, male)
            );
            (name, phone, None)
        }
    };
    out.push(Head {
        index,
        role,
        name,
        phone,
        member_id,
        scope,
        cells,
    });
}

/// Cells whose path is `prefix` or lies under it (as a scope covers).
fn cells_under(cells: &[CellSpec], prefix: &str) -> Vec<usize> {
    cells
        .iter()
        .filter(|c| {
            let p = c.path.join("/");
            p == prefix || (p.starts_with(prefix) && p.as_bytes().get(prefix.len()) == Some(&b'/'))
        })
        .map(|c| c.index)
        .collect()
}

impl crate::Workload {
    /// Names the levels of every community's branch in `store`
    /// (community, building, unit), as the office does before it
    /// registers the county seat's cells.
    pub fn name_levels(&self, store: &Store) -> silin_core::Result<()> {
        let levels: Vec<String> = COMMUNITY_LEVELS.iter().map(|s| s.to_string()).collect();
        for t in &self.townships {
            for v in t.villages.iter().filter(|v| v.urban) {
                store.set_region_levels(
                    &[self.county.as_str(), &t.name, &v.name].join("/"),
                    &levels,
                )?;
            }
        }
        Ok(())
    }

    pub fn buildings(&self) -> usize {
        self.townships
            .iter()
            .flat_map(|t| &t.villages)
            .map(|v| v.buildings.len())
            .sum()
    }

    pub fn units(&self) -> usize {
        self.townships
            .iter()
            .flat_map(|t| &t.villages)
            .flat_map(|v| &v.buildings)
            .map(|b| b.units.len())
            .sum()
    }
}
