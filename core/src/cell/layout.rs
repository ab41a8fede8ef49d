//! The collections a layout adds, each set made by one fixed change.
//!
//! A map that two devices create at the same key while apart becomes two
//! objects; automerge shows one and hides the other with everything
//! written into it (the "shadowing" of layout 0's late `tasks` map). A
//! collection is therefore never created by a device's own change: it
//! comes from a change built the same way everywhere — a fixed actor, no
//! dependencies, time 0, the same operations — whose bytes, and so whose
//! hash, are the same on every device. Two devices that migrate apart add
//! the very same change, which merging keeps once.

use super::{ARRIVALS, DOSES, ERRANDS, LEADS, NOTICES, POLICY, TASKS, TESTS};
use crate::error::{Error, Result};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ReadDoc, ROOT};
use sha2::{Digest, Sha256};

/// A set of root collections and the fixed change that makes them.
pub(crate) struct Step {
    name: &'static str,
    keys: &'static [&'static str],
}

/// Layout 0 documents that lacked the tasks map.
pub(crate) const TASKS_MAP: Step = Step {
    name: "tasks map",
    keys: &[TASKS],
};

/// Layout 2: arrivals, the health histories, errands, leads, the policy,
/// the office's notices.
pub(crate) const LAYOUT_2: Step = Step {
    name: "layout 2",
    keys: &[ARRIVALS, DOSES, TESTS, ERRANDS, LEADS, POLICY, NOTICES],
};

impl Step {
    fn actor(&self) -> ActorId {
        let digest = Sha256::digest(format!("silin fixed layout change: {}", self.name));
        ActorId::from(&digest[..16])
    }

    /// The change: the same bytes on every device and in every build.
    fn change(&self) -> automerge::Change {
        let mut doc = AutoCommit::new().with_actor(self.actor());
        for key in self.keys {
            // ok: putting a map into an empty document's root cannot fail.
            let _ = doc.put_object(ROOT, *key, ObjType::Map);
        }
        doc.commit_with(
            CommitOptions::default()
                .with_message(format!("silin {}", self.name))
                .with_time(0),
        );
        doc.get_last_local_change()
            .expect("a commit with operations makes a change") // ok: seven puts just made
    }
}

/// Adds `step`'s collections to `doc` unless it has them. A document that
/// holds any of them made some other way is refused: its collection would
/// shadow, or be shadowed by, everyone else's.
pub(crate) fn add(doc: &mut AutoCommit, step: &Step) -> Result<()> {
    let present: Vec<bool> = step
        .keys
        .iter()
        .map(|k| matches!(doc.get(ROOT, *k), Ok(Some(_))))
        .collect();
    if present.iter().all(|p| *p) && step.keys.iter().all(|k| made_by(doc, step, k)) {
        return Ok(());
    }
    if let Some(k) = step
        .keys
        .iter()
        .zip(&present)
        .find(|(k, p)| **p && !made_by(doc, step, k))
    {
        return Err(Error::Damaged {
            doc: "?".into(),
            reason: format!("its `{}` map was not made by the layout's own change", k.0),
        });
    }
    doc.apply_changes([step.change()])?;
    Ok(())
}

/// The hashes of the fixed changes: the only changes of an epoch after
/// the first that do not descend from the epoch's own.
pub(crate) fn fixed_hashes() -> &'static [automerge::ChangeHash; 2] {
    static HASHES: std::sync::OnceLock<[automerge::ChangeHash; 2]> = std::sync::OnceLock::new();
    HASHES.get_or_init(|| [TASKS_MAP.change().hash(), LAYOUT_2.change().hash()])
}

fn made_by<D: ReadDoc>(doc: &D, step: &Step, key: &str) -> bool {
    let Some(i) = step.keys.iter().position(|k| *k == key) else {
        return false;
    };
    let actor = step.actor();
    // Every value at the key must be the fixed change's object: a second
    // one made elsewhere would conflict with it.
    let all = doc.get_all(ROOT, key).unwrap_or_default();
    !all.is_empty()
        && all.iter().all(|(_, id)| match id {
            automerge::ObjId::Id(counter, a, _) => *a == actor && *counter == i as u64 + 1,
            automerge::ObjId::Root => false,
        })
}

/// Whether every value at root key `key` is the object a fixed layout
/// change made (for the write rules: creating a collection any other way
/// is a rewrite of the layout).
pub(crate) fn made_by_layout<D: ReadDoc>(doc: &D, key: &str) -> bool {
    [&TASKS_MAP, &LAYOUT_2]
        .iter()
        .any(|step| made_by(doc, step, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_change_is_the_same_every_time() {
        assert_eq!(LAYOUT_2.change().hash(), LAYOUT_2.change().hash());
        assert_ne!(LAYOUT_2.change().hash(), TASKS_MAP.change().hash());
    }

    #[test]
    fn two_documents_adding_a_step_apart_merge_to_one_set_of_collections() {
        let mut a = AutoCommit::new();
        a.put(ROOT, "x", 1).unwrap();
        a.commit();
        let mut b = a.fork();
        a.put(ROOT, "y", 1).unwrap();
        add(&mut a, &LAYOUT_2).unwrap();
        add(&mut b, &LAYOUT_2).unwrap();
        let arrivals = a.get(ROOT, ARRIVALS).unwrap().unwrap().1;
        a.put(&arrivals, "from-a", 1).unwrap();
        let arrivals_b = b.get(ROOT, ARRIVALS).unwrap().unwrap().1;
        b.put(&arrivals_b, "from-b", 1).unwrap();
        a.merge(&mut b).unwrap();
        assert_eq!(a.get_all(ROOT, ARRIVALS).unwrap().len(), 1);
        let keys: Vec<String> = a.keys(&arrivals).collect();
        assert_eq!(keys, ["from-a", "from-b"]);
        assert!(made_by_layout(&a, ARRIVALS));
        // Adding it again is a no-op.
        let heads = a.get_heads();
        add(&mut a, &LAYOUT_2).unwrap();
        assert_eq!(a.get_heads(), heads);
    }

    #[test]
    fn a_collection_made_elsewhere_is_refused() {
        let mut a = AutoCommit::new();
        a.put_object(ROOT, DOSES, ObjType::Map).unwrap();
        assert!(!made_by_layout(&a, DOSES));
        assert!(add(&mut a, &LAYOUT_2).is_err());
    }
}
