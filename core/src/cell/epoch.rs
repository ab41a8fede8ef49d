//! A cell document's epochs: building the next epoch without what an
//! erasure order names (see [`crate::erasure`]), replaying a device's own
//! later edits onto it, and telling a change of another lineage.
//!
//! The rebuild is deterministic — same state at the cut, same subjects,
//! same bytes — because every replica that holds the cut makes the epoch
//! itself and checks it against the hash the office signed.

use super::{layout, CellDoc, HOUSEHOLDS, REPORTS};
use crate::erasure::Erased;
use crate::error::{Error, Result};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ChangeHash, ObjId, ObjType, Prop, ReadDoc, Value, ROOT};
use sha2::{Digest, Sha256};

/// The root key holding the epoch number (absent: epoch 0). Only an
/// epoch's own change writes it: the write rules refuse it from anyone.
pub const EPOCH: &str = "epoch";

/// Root keys every epoch carries over as they are.
const CELL: &str = "cell";
const POLICY: &str = super::POLICY;

/// The actor of an epoch's change: the same on every device for the cell
/// and epoch, so that the change is.
fn epoch_actor(cell: &str, epoch: u32) -> ActorId {
    let digest = Sha256::digest(format!("silin erasure epoch {epoch} of cell {cell}"));
    ActorId::from(&digest[..16])
}

/// Reads a document as it is, or as it was at some heads.
struct Src<'a> {
    doc: &'a AutoCommit,
    at: Option<&'a [ChangeHash]>,
}

impl Src<'_> {
    fn keys(&self, obj: &ObjId) -> Vec<String> {
        match self.at {
            Some(h) => self.doc.keys_at(obj, h).collect(),
            None => self.doc.keys(obj).collect(),
        }
    }

    fn get(&self, obj: &ObjId, prop: impl Into<Prop>) -> Option<(Value<'static>, ObjId)> {
        let got = match self.at {
            Some(h) => self.doc.get_at(obj, prop, h),
            None => self.doc.get(obj, prop),
        };
        got.ok().flatten().map(|(v, id)| (v.into_owned(), id))
    }

    fn length(&self, obj: &ObjId) -> usize {
        match self.at {
            Some(h) => self.doc.length_at(obj, h),
            None => self.doc.length(obj),
        }
    }

    fn text(&self, obj: &ObjId) -> String {
        match self.at {
            Some(h) => self.doc.text_at(obj, h),
            None => self.doc.text(obj),
        }
        .unwrap_or_default()
    }

    /// The object at a path of map keys from the root.
    fn walk(&self, path: &[String]) -> Option<(Value<'static>, ObjId)> {
        let mut cur = (Value::Object(ObjType::Map), ROOT);
        for key in path {
            if !matches!(cur.0, Value::Object(ObjType::Map | ObjType::Table)) {
                return None;
            }
            cur = self.get(&cur.1, key.as_str())?;
        }
        Some(cur)
    }

    /// Whether a record's own fields (or the lists among them) hold an
    /// erased id: a visit of an erased member, an errand of an erased
    /// household.
    fn references(&self, record: &ObjId, erased: &Erased) -> bool {
        self.keys(record).into_iter().any(|k| {
            match self.get(record, k.as_str()) {
                Some((Value::Scalar(s), _)) => s.as_str().is_some_and(|s| erased.holds(s)),
                Some((Value::Object(ObjType::List), list)) => (0..self.length(&list)).any(|i| {
                    matches!(self.get(&list, i), Some((Value::Scalar(s), _)) if s.as_str().is_some_and(|s| erased.holds(s)))
                }),
                _ => false,
            }
        })
    }
}

/// Copies `src`'s object into `dst`'s (both of type `ty`), leaving out map
/// entries keyed by an erased id, and a member's parts let go (`owner`: the
/// object's key in its parent, a member's id for a member).
fn copy_obj(
    src: &Src<'_>,
    s_obj: &ObjId,
    dst: &mut AutoCommit,
    d_obj: &ObjId,
    ty: ObjType,
    erased: &Erased,
    owner: &str,
) -> Result<()> {
    match ty {
        ObjType::Map | ObjType::Table => {
            for key in src.keys(s_obj) {
                if erased.holds(&key) || erased.drops(owner, &key) {
                    continue;
                }
                match src.get(s_obj, key.as_str()) {
                    Some((Value::Scalar(s), _)) => dst.put(d_obj, key.as_str(), s.into_owned())?,
                    Some((Value::Object(t), child)) => {
                        let made = dst.put_object(d_obj, key.as_str(), t)?;
                        copy_obj(src, &child, dst, &made, t, erased, &key)?;
                    }
                    None => {}
                }
            }
        }
        ObjType::List => {
            for i in 0..src.length(s_obj) {
                match src.get(s_obj, i) {
                    Some((Value::Scalar(s), _)) => dst.insert(d_obj, i, s.into_owned())?,
                    Some((Value::Object(t), child)) => {
                        let made = dst.insert_object(d_obj, i, t)?;
                        copy_obj(src, &child, dst, &made, t, erased, owner)?;
                    }
                    None => {}
                }
            }
        }
        ObjType::Text => {
            dst.splice_text(d_obj, 0, 0, &src.text(s_obj))?;
        }
    }
    Ok(())
}

/// Copies a root collection of records, leaving out every record that is
/// erased or refers to an erased id (all of them for a whole cell).
fn copy_records(
    src: &Src<'_>,
    s_obj: &ObjId,
    dst: &mut AutoCommit,
    d_obj: &ObjId,
    erased: &Erased,
) -> Result<()> {
    if erased.whole_cell {
        return Ok(());
    }
    for key in src.keys(s_obj) {
        if erased.holds(&key) {
            continue;
        }
        match src.get(s_obj, key.as_str()) {
            Some((Value::Object(t), child)) => {
                if src.references(&child, erased) {
                    continue;
                }
                let made = dst.put_object(d_obj, key.as_str(), t)?;
                copy_obj(src, &child, dst, &made, t, erased, &key)?;
            }
            Some((Value::Scalar(s), _)) => dst.put(d_obj, key.as_str(), s.into_owned())?,
            None => {}
        }
    }
    Ok(())
}

impl CellDoc {
    /// A document as automerge holds it (an epoch's state at its root).
    pub(crate) fn from_automerge(doc: AutoCommit) -> CellDoc {
        CellDoc {
            doc,
            homes: Default::default(),
        }
    }

    /// The document's epoch: 0 until the first erasure.
    pub fn epoch(&self) -> u32 {
        self.get_i64(&ROOT, EPOCH)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0)
    }

    /// Whether member `member_id`'s own record holds the part `key`
    /// (`arrival`, `monitoring`, `test`).
    pub fn holds_member_part(&self, member_id: &str, key: &str) -> bool {
        self.member_obj(member_id)
            .is_ok_and(|(_, m)| matches!(self.doc.get(&m, key), Ok(Some((Value::Object(_), _)))))
    }

    /// Whether root collection `key` holds a record `id`.
    pub fn holds_record(&self, key: &str, id: &str) -> bool {
        matches!(self.doc.get(ROOT, key), Ok(Some((Value::Object(_), coll)))
            if matches!(self.doc.get(&coll, id), Ok(Some((Value::Object(_), _)))))
    }

    /// The last sequence number of every actor's changes: where an
    /// erasure cuts, told per actor so that a device that lacks some of
    /// the cut still knows which of its own changes came after it.
    pub fn clock(&mut self) -> Vec<(Vec<u8>, u64)> {
        let mut last: std::collections::BTreeMap<Vec<u8>, u64> = Default::default();
        for m in self.doc.get_changes_meta(&[]) {
            let seq = last.entry(m.actor.to_bytes().to_vec()).or_default();
            *seq = (*seq).max(m.seq);
        }
        last.into_iter().collect()
    }

    /// The member ids of `erased`'s households as this document holds them
    /// (at `at`, or now), added to it: erasing a household erases them.
    pub fn erased_members(&mut self, erased: &mut Erased, at: Option<&[ChangeHash]>) {
        let src = Src { doc: &self.doc, at };
        let Some((_, households)) = src.get(&ROOT, HOUSEHOLDS) else {
            return;
        };
        let mut more = Vec::new();
        for h in src.keys(&households) {
            if !erased.whole_cell && !erased.holds(&h) {
                continue;
            }
            let Some((_, household)) = src.get(&households, h.as_str()) else {
                continue;
            };
            if let Some((_, members)) = src.get(&household, super::MEMBERS) {
                more.extend(src.keys(&members));
            }
        }
        erased.ids.extend(more);
    }

    /// The next epoch of this document as it was at `cut`, without what
    /// `erased` names: the fixed layout change, then one change by the
    /// epoch's actor at time `at`. Returns it (with `actor` as its writer
    /// from now on) and the hash of its change.
    pub fn next_epoch(
        &mut self,
        cut: &[ChangeHash],
        erased: &Erased,
        epoch: u32,
        at: i64,
        actor: &ActorId,
    ) -> Result<(CellDoc, ChangeHash)> {
        let cell = self.id();
        if !self.doc.get_missing_deps(cut).is_empty() {
            return Err(Error::Damaged {
                doc: cell,
                reason: "it does not hold the changes an erasure was cut at".into(),
            });
        }
        let mut dst = AutoCommit::new().with_actor(epoch_actor(&cell, epoch));
        layout::add(&mut dst, &layout::LAYOUT_2)?;
        let src = Src {
            doc: &self.doc,
            at: Some(cut),
        };
        for key in src.keys(&ROOT) {
            if key == EPOCH {
                continue;
            }
            let Some((value, s_obj)) = src.get(&ROOT, key.as_str()) else {
                continue;
            };
            let t = match value {
                Value::Scalar(s) => {
                    dst.put(ROOT, key.as_str(), s.into_owned())?;
                    continue;
                }
                Value::Object(t) => t,
            };
            // Layout 2's collections are the fixed change's objects.
            let d_obj = match dst.get(ROOT, key.as_str())? {
                Some((Value::Object(_), id)) if layout::made_by_layout(&dst, &key) => id,
                _ => dst.put_object(ROOT, key.as_str(), t)?,
            };
            match key.as_str() {
                CELL => {
                    for field in src.keys(&s_obj) {
                        // A whole cell keeps only what places it.
                        if erased.whole_cell && !matches!(field.as_str(), "id" | "name" | "path") {
                            continue;
                        }
                        match src.get(&s_obj, field.as_str()) {
                            Some((Value::Scalar(s), _)) => {
                                dst.put(&d_obj, field.as_str(), s.into_owned())?
                            }
                            Some((Value::Object(t), child)) => {
                                let made = dst.put_object(&d_obj, field.as_str(), t)?;
                                copy_obj(&src, &child, &mut dst, &made, t, erased, &field)?;
                            }
                            None => {}
                        }
                    }
                }
                POLICY => copy_obj(&src, &s_obj, &mut dst, &d_obj, t, erased, &key)?,
                REPORTS if !erased.whole_cell => {
                    copy_obj(&src, &s_obj, &mut dst, &d_obj, t, erased, &key)?
                }
                _ if t == ObjType::Map => copy_records(&src, &s_obj, &mut dst, &d_obj, erased)?,
                _ => {}
            }
        }
        dst.put(ROOT, EPOCH, epoch as i64)?;
        dst.commit_with(
            CommitOptions::default()
                .with_message(format!("silin erasure: epoch {epoch}"))
                .with_time(at),
        );
        let root = dst
            .get_last_local_change()
            .map(|c| c.hash())
            .ok_or_else(|| Error::Damaged {
                doc: cell,
                reason: "its new epoch made no change".into(),
            })?;
        dst.set_actor(actor.clone());
        Ok((CellDoc::from_automerge(dst), root))
    }

    /// Replays onto `onto` (the new epoch) what `actor`'s changes after
    /// sequence number `after` did to this document, leaving out whatever
    /// touches an erased id or record, as one change at time `at`. Returns
    /// how many changes were replayed (0: nothing of the device's own was
    /// newer than the cut).
    pub fn replay_own(
        &mut self,
        onto: &mut CellDoc,
        actor: &ActorId,
        after: u64,
        erased: &Erased,
        at: i64,
    ) -> Result<usize> {
        if erased.whole_cell {
            return Ok(0);
        }
        let mut own: Vec<(u64, Vec<ChangeHash>, ChangeHash)> = self
            .doc
            .get_changes_meta(&[])
            .into_iter()
            .filter(|m| m.actor.as_ref() == actor && m.seq > after)
            .map(|m| (m.seq, m.deps.clone(), m.hash))
            .collect();
        own.sort_by_key(|(seq, _, _)| *seq);
        for (_, deps, hash) in &own {
            let patches = self.doc.diff(deps, &[*hash]);
            let src = Src {
                doc: &self.doc,
                at: Some(std::slice::from_ref(hash)),
            };
            let mut done: Vec<Vec<String>> = Vec::new();
            for p in &patches {
                let Some(path) = replay_path(p) else {
                    continue;
                };
                if done.iter().any(|d| path.starts_with(d)) || touches_erased(&src, &path, erased) {
                    continue;
                }
                put_path(&src, &mut onto.doc, &path, erased)?;
                done.push(path);
            }
        }
        if !own.is_empty() {
            onto.doc.commit_with(
                CommitOptions::default()
                    .with_message("replayed after an erasure")
                    .with_time(at),
            );
        }
        Ok(own.len())
    }

    /// The first of the changes after `before` that belongs to another
    /// lineage than this epoch's, if any: in an epoch after the first,
    /// every change but the fixed layout changes descends from the epoch's
    /// own, so a new change must depend on something else than those.
    pub fn foreign_change(&mut self, before: &[ChangeHash]) -> Option<ChangeHash> {
        if self.epoch() == 0 {
            return None;
        }
        let fixed = layout::fixed_hashes();
        let epoch_actor = epoch_actor(&self.id(), self.epoch());
        self.doc
            .get_changes_meta(before)
            .into_iter()
            .find(|m| {
                let own_epoch = m.actor.as_ref() == &epoch_actor && m.seq == 1;
                !fixed.contains(&m.hash) && !own_epoch && m.deps.iter().all(|d| fixed.contains(d))
            })
            .map(|m| m.hash)
    }
}

/// The map-key path a patch's effect is replayed at: the value it put or
/// deleted, or — for anything inside a list or text — that whole object.
/// `None` for what a replay leaves alone: the root's own keys (layout,
/// schema, epoch), which the epoch carries already.
fn replay_path(p: &automerge::Patch) -> Option<Vec<String>> {
    use automerge::PatchAction as A;
    let mut path = Vec::with_capacity(p.path.len() + 1);
    let mut whole = false;
    for (_, prop) in &p.path {
        match prop {
            Prop::Map(k) => path.push(k.clone()),
            Prop::Seq(_) => {
                whole = true;
                break;
            }
        }
    }
    if !whole {
        match &p.action {
            A::PutMap { key, .. } | A::DeleteMap { key } => path.push(key.clone()),
            A::Increment {
                prop: Prop::Map(key),
                ..
            } => path.push(key.clone()),
            A::Conflict { .. } | A::Mark { .. } => return None,
            // Inside a list or text: the object itself.
            _ => {}
        }
    }
    (path.len() >= 2).then_some(path)
}

/// Whether replaying at `path` would bring back something erased: a key on
/// the way is an erased id, or the record it is in is erased or refers to
/// an erased id (as the device's change left it).
fn touches_erased(src: &Src<'_>, path: &[String], erased: &Erased) -> bool {
    if path.iter().any(|k| erased.holds(k)) || path.windows(2).any(|w| erased.drops(&w[0], &w[1])) {
        return true;
    }
    // Households and members are keyed by their ids (checked above); the
    // other collections hold records that may refer to them.
    if ![HOUSEHOLDS, CELL, POLICY, REPORTS].contains(&path[0].as_str()) {
        if let Some((Value::Object(_), record)) = src.walk(&path[..2]) {
            return src.references(&record, erased);
        }
    }
    false
}

/// Puts `src`'s value at `path` into `dst` (or deletes it there, if `src`
/// no longer has it). Nothing is made where `dst` lacks the parent: the
/// parent was erased, or removed by someone else since.
fn put_path(src: &Src<'_>, dst: &mut AutoCommit, path: &[String], erased: &Erased) -> Result<()> {
    let (last, parents) = path
        .split_last()
        .expect("replay paths have two keys or more"); // ok: replay_path
    let mut parent = ROOT;
    for key in parents {
        match dst.get(&parent, key.as_str())? {
            Some((Value::Object(ObjType::Map | ObjType::Table), id)) => parent = id,
            _ => return Ok(()),
        }
    }
    match src.walk(path) {
        Some((Value::Scalar(s), _)) => dst.put(&parent, last.as_str(), s.into_owned())?,
        Some((Value::Object(t), s_obj)) => {
            let made = dst.put_object(&parent, last.as_str(), t)?;
            copy_obj(src, &s_obj, dst, &made, t, erased, last)?;
        }
        None => {
            if dst.get(&parent, last.as_str())?.is_some() {
                dst.delete(&parent, last.as_str())?;
            }
        }
    }
    Ok(())
}
