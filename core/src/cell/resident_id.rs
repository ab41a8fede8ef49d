//! A resident ID recorded on two devices at once.
//!
//! A lead may record a member's first resident ID; only a grid worker may
//! change one that is recorded ([`crate::rules`]). When a lead and a grid
//! worker each record a first ID offline, a replica that took the worker's
//! first sees the lead's as a change of a recorded ID and refuses it — and
//! with it every later change of the lead to the cell, since they all
//! depend on it. So a device whose role may not change recorded IDs
//! yields: once it holds the other value, it writes that value over both.
//! The write rules take a write that leaves an ID on one value the
//! receiver already held, so the lead's changes then go through, and every
//! replica shows the other device's ID.

use super::{CellDoc, HOUSEHOLDS, MEMBERS};
use crate::error::Result;
use automerge::transaction::Transactable;
use automerge::{ObjId, ReadDoc, Value};

/// The member field holding the resident ID.
pub(crate) const ID_NUMBER: &str = "id_number";

impl CellDoc {
    /// Settles, on the other device's value, every resident ID where this
    /// device's own value stands in conflict with another's: on the highest
    /// other in automerge's order, the one a replica without ours shows.
    /// Commits at `at`; returns whether anything was written.
    pub fn yield_resident_ids(&mut self, at: i64) -> Result<bool> {
        let own = self.doc.get_actor().clone();
        let mut settle = Vec::new();
        for member in self.member_objs() {
            let values = self.doc.get_all(&member, ID_NUMBER)?;
            if values.len() < 2 {
                continue;
            }
            let is_own =
                |id: &automerge::ObjId| matches!(id, ObjId::Id(_, actor, _) if *actor == own);
            if !values.iter().any(|(_, id)| is_own(id)) {
                continue;
            }
            let other = values
                .into_iter()
                .filter(|(_, id)| !is_own(id))
                .max_by(|a, b| a.1.cmp(&b.1));
            if let Some((Value::Scalar(v), _)) = other {
                settle.push((member, v.into_owned()));
            }
        }
        if settle.is_empty() {
            return Ok(false);
        }
        for (member, v) in settle {
            self.doc.put(&member, ID_NUMBER, v)?;
        }
        self.commit("yield a resident ID recorded at the same time", at);
        Ok(true)
    }

    /// Every member's object, household by household.
    fn member_objs(&self) -> Vec<ObjId> {
        let Some(hhs) = self.map(&automerge::ROOT, HOUSEHOLDS) else {
            return Vec::new();
        };
        self.keys(&hhs)
            .into_iter()
            .filter_map(|hh| self.map(&hhs, &hh).and_then(|h| self.map(&h, MEMBERS)))
            .flat_map(|members| {
                self.keys(&members)
                    .into_iter()
                    .filter_map(move |m| self.map(&members, &m))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
