//! A cell document: the automerge document that is the truth about one cell,
//! with typed reads and fine-grained edits.
//!
//! Layout (see doc/merge-rules.md):
//! `{schema, cell{id,name,path[],lead}, households{id→{address,door,phone,
//! members{id→member}}}, visits{id→visit}, reports{date→report}, tasks{id→task}}`,
//! and since layout 2 `arrivals`, `doses`, `tests`, `errands`, `leads`,
//! `notices` (id→record) and `policy` (key→number), made by one fixed change
//! ([`layout`]) so that two devices adding them concurrently add the same
//! objects.
//! Collections are maps keyed by UUIDv7 (reports by date) so concurrent
//! appends never interleave and re-applying the same change is a no-op.
//! Every edit touches only the keys it changes, so concurrent edits of
//! different fields merge cleanly and edits of the same field keep the
//! losing values visible as conflicts.

use crate::error::{Error, Result};
use crate::model::*;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    hydrate, ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, ScalarValueRef,
    Value, ValueRef, ROOT,
};
use chrono::NaiveDate;
use std::collections::HashMap;

mod epoch;
mod layout;
mod orders;
mod register;
mod resident_id;

pub(crate) use resident_id::ID_NUMBER;

/// Version of the document layout this build writes.
pub const SCHEMA: i64 = 2;

pub(crate) const HOUSEHOLDS: &str = "households";
pub(crate) const MEMBERS: &str = "members";
pub(crate) const VISITS: &str = "visits";
pub(crate) const REPORTS: &str = "reports";
pub(crate) const TASKS: &str = "tasks";
pub(crate) const ARRIVALS: &str = "arrivals";
pub(crate) const DOSES: &str = "doses";
pub(crate) const TESTS: &str = "tests";
pub(crate) const ERRANDS: &str = "errands";
pub(crate) const LEADS: &str = "leads";
pub(crate) const POLICY: &str = "policy";
pub(crate) const NOTICES: &str = "notices";
pub use epoch::EPOCH;
pub(crate) use layout::made_by_layout;
pub use orders::Followed;
pub use register::CheckSchedule;

/// The layout nests root → households → household → members → member →
/// sub-record → value: anything deeper came from no silin device.
const MAX_DEPTH: usize = 8;
/// No field of the model holds more characters than this (notes are the
/// longest); longer text came from no silin device.
const MAX_TEXT_CHARS: usize = 4096;
/// Values in one cell document: a year of daily visits and reports in a
/// five-household cell is a few hundred thousand.
const MAX_OBJECTS: usize = 2_000_000;

pub struct CellDoc {
    doc: AutoCommit,
    /// Which household each member was last seen in: a hint that saves
    /// walking every household on each visit to a member (the walk was a
    /// sixth of a visit's instructions on a year-old cell). Always checked
    /// against the document before use, so a stale hint costs a walk, never
    /// a wrong answer; filled by [`CellDoc::learn_homes`].
    homes: HashMap<String, String>,
}

impl std::fmt::Debug for CellDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellDoc").finish_non_exhaustive()
    }
}

/// What an edit touched, so the store can update just those projection rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Touched {
    Cell,
    Household(String),
    Member(String),
    Visit(String),
    /// Several visits at once (a door-knock round).
    Visits(Vec<String>),
    Report(NaiveDate),
    Task(String),
    /// Several parts at once: what a merge's diff reached.
    Parts(Vec<Touched>),
    /// Anything may have changed (migration, removals): recompute the cell.
    All,
}

impl Touched {
    /// The projection rows a merge's patches reach: each visit, member,
    /// household, report and task under a changed path, the cell's own row
    /// for its fields. Anything the layout does not place (a collection
    /// replaced whole, a removal, the schema) recomputes the cell.
    pub fn by_patches(patches: &[automerge::Patch]) -> Touched {
        use automerge::PatchAction as A;
        let mut parts: Vec<Touched> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in patches {
            // The map keys from the root to what the patch changed.
            let mut keys: Vec<&str> = Vec::with_capacity(p.path.len() + 1);
            for (_, prop) in &p.path {
                match prop {
                    automerge::Prop::Map(k) => keys.push(k.as_str()),
                    automerge::Prop::Seq(_) => break,
                }
            }
            let removal = matches!(p.action, A::DeleteMap { .. });
            if keys.len() == p.path.len() {
                if let A::PutMap { key, .. } | A::DeleteMap { key } = &p.action {
                    keys.push(key.as_str());
                }
            }
            let part = match keys.as_slice() {
                ["cell", _, ..] if !removal => Touched::Cell,
                [HOUSEHOLDS, _, MEMBERS, m, rest @ ..] if !(removal && rest.is_empty()) => {
                    Touched::Member(m.to_string())
                }
                // A member removed (or the members map replaced whole).
                [HOUSEHOLDS, _, MEMBERS, ..] => return Touched::All,
                [HOUSEHOLDS, h, rest @ ..] if !(removal && rest.is_empty()) => {
                    Touched::Household(h.to_string())
                }
                [VISITS, v, rest @ ..] if !(removal && rest.is_empty()) => {
                    Touched::Visit(v.to_string())
                }
                [REPORTS, day, rest @ ..] if !(removal && rest.is_empty()) => match day.parse() {
                    Ok(day) => Touched::Report(day),
                    Err(_) => return Touched::All,
                },
                [TASKS, t, rest @ ..] if !(removal && rest.is_empty()) => {
                    Touched::Task(t.to_string())
                }
                // Layout 2's records have no projection rows of their own:
                // what the lists need of them is read from the document.
                [ARRIVALS | DOSES | TESTS | ERRANDS | LEADS | POLICY | NOTICES, _, ..] => continue,
                _ => return Touched::All,
            };
            if seen.insert(part.clone()) {
                parts.push(part);
            }
        }
        Touched::Parts(parts)
    }
}

impl CellDoc {
    /// A new cell. `actor` identifies the writing device in the change log.
    pub fn create(info: &CellInfo, actor: &ActorId, at: i64) -> Result<CellDoc> {
        crate::model::check_id("cell", &info.id)?;
        let name = check_text("name", &info.name, 64, true)?;
        let mut doc = AutoCommit::new().with_actor(actor.clone());
        layout::add(&mut doc, &layout::LAYOUT_2)?;
        doc.put(ROOT, "schema", SCHEMA)?;
        let cell = doc.put_object(ROOT, "cell", ObjType::Map)?;
        doc.put(&cell, "id", info.id.as_str())?;
        doc.put(&cell, "name", name)?;
        let path = doc.put_object(&cell, "path", ObjType::List)?;
        for (i, p) in info.path.parts().iter().enumerate() {
            doc.insert(&path, i, p.as_str())?;
        }
        if let Some(lead) = &info.lead {
            doc.put(&cell, "lead", check_text("lead", lead, 64, false)?)?;
        }
        for key in [HOUSEHOLDS, VISITS, REPORTS, TASKS] {
            doc.put_object(ROOT, key, ObjType::Map)?;
        }
        doc.commit_with(
            CommitOptions::default()
                .with_message("create cell")
                .with_time(at),
        );
        Ok(CellDoc::from_automerge(doc))
    }

    /// Loads a saved document (snapshot followed by any number of chunks),
    /// migrating an older layout forward in a change of its own.
    pub fn load(bytes: &[u8], actor: &ActorId) -> Result<CellDoc> {
        let doc = AutoCommit::load(bytes)?.with_actor(actor.clone());
        let cell = CellDoc::from_automerge(doc);
        cell.check_layout()?;
        Ok(cell)
    }

    /// Adds more saved bytes (incremental chunks, or another replica's whole
    /// document) to this one. Returns the number of new changes applied.
    pub fn apply_bytes(&mut self, bytes: &[u8]) -> Result<usize> {
        let n = self.doc.load_incremental(bytes)?;
        Ok(n)
    }

    /// Merges another replica of the same cell into this one.
    pub fn merge(&mut self, other: &mut CellDoc) -> Result<Vec<ChangeHash>> {
        Ok(self.doc.merge(&mut other.doc)?)
    }

    fn check_layout(&self) -> Result<()> {
        let schema = self.get_i64(&ROOT, "schema").unwrap_or(0);
        if schema > SCHEMA {
            return Err(Error::Incompatible(format!(
                "cell document has layout {schema}, newer than this app understands ({SCHEMA}); update the app"
            )));
        }
        if self.map(&ROOT, "cell").is_none() {
            return Err(Error::Damaged {
                doc: "?".into(),
                reason: "not a cell document (no `cell` map)".into(),
            });
        }
        // Layout 2's collections come only from the layout's fixed change:
        // another object at one of those keys would shadow it.
        for key in [ARRIVALS, DOSES, TESTS, ERRANDS, LEADS, POLICY, NOTICES] {
            if !self.doc.get_all(ROOT, key).unwrap_or_default().is_empty()
                && !made_by_layout(&self.doc, key)
            {
                return Err(Error::Damaged {
                    doc: self.id(),
                    reason: format!("its `{key}` map was not made by the layout's own change"),
                });
            }
        }
        Ok(())
    }

    /// Checks a document that took a peer's changes before it is committed:
    /// a layout this build knows, nesting no deeper than the layout's own,
    /// text no longer than any field allows, and report counts within the
    /// model's rule. Whatever a peer's raw changes wrote, a document that
    /// passes can be shown, projected and synced on by every device.
    pub fn check_merged(&self) -> Result<()> {
        self.check_layout()?;
        let damaged = |reason: String| Error::Damaged {
            doc: self.id(),
            reason,
        };
        let mut budget = MAX_OBJECTS;
        self.check_bounds(&ROOT, 0, &mut budget).map_err(damaged)?;
        for r in self.reports()? {
            check_report_counts(&r)?;
        }
        Ok(())
    }

    fn check_bounds(&self, obj: &ObjId, depth: usize, budget: &mut usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("objects nest deeper than {MAX_DEPTH} levels"));
        }
        match self.doc.object_type(obj) {
            Ok(ObjType::List) => {
                for i in 0..self.doc.length(obj) {
                    if let Ok(Some((v, child))) = self.doc.get(obj, i) {
                        self.check_whole(&v, &child, depth + 1, budget)?;
                    }
                }
            }
            Ok(ObjType::Map | ObjType::Table) => {
                for key in self.doc.keys(obj) {
                    if key.chars().count() > MAX_TEXT_CHARS {
                        return Err("a key longer than any field".into());
                    }
                    // Conflicting values are kept and shown too: each must
                    // pass, not only the winner.
                    for (v, child) in self.doc.get_all(obj, key.as_str()).unwrap_or_default() {
                        self.check_whole(&v, &child, depth + 1, budget)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Brings an older layout up to [`SCHEMA`]. Returns true if it changed
    /// anything (the store then persists the migration change).
    pub fn migrate(&mut self, at: i64) -> Result<bool> {
        let schema = self.get_i64(&ROOT, "schema").unwrap_or(0);
        if schema >= SCHEMA {
            return Ok(false);
        }
        // Layout 0 (pre-release) lacked the schema key and possibly the tasks
        // map; layout 2 adds its collections. Each comes from a fixed change
        // (the same bytes on every device), so two devices migrating at
        // once add the same objects and neither shadows the other's.
        if self.map(&ROOT, TASKS).is_none() {
            layout::add(&mut self.doc, &layout::TASKS_MAP)?;
        }
        layout::add(&mut self.doc, &layout::LAYOUT_2)?;
        self.doc.put(ROOT, "schema", SCHEMA)?;
        self.commit("migrate layout", at);
        Ok(true)
    }

    /// What the changes after `before` (heads this document had) did to
    /// it, as effects on the cell's parts, for [`crate::rules::check`].
    pub fn effects_since(&mut self, before: &[ChangeHash]) -> Vec<crate::rules::Touch> {
        let patches = self.diff_since(before);
        self.effects(&patches, before)
    }

    /// automerge's patches from `before` to the current heads: what a merge
    /// did, computed once for the write rules and the checks.
    pub fn diff_since(&mut self, before: &[ChangeHash]) -> Vec<automerge::Patch> {
        let after = self.doc.get_heads();
        self.doc.diff(before, &after)
    }

    /// [`CellDoc::effects_since`] from patches already computed.
    pub fn effects(
        &mut self,
        patches: &[automerge::Patch],
        before: &[ChangeHash],
    ) -> Vec<crate::rules::Touch> {
        // Only a resident ID's rule asks which changes wrote what.
        let arrived: Vec<crate::rules::Arrived> = if crate::rules::touches_resident_id(patches) {
            let metas = self.doc.get_changes_meta(before);
            metas.into_iter().map(Into::into).collect()
        } else {
            Vec::new()
        };
        crate::rules::touches(&self.doc, patches, before, &arrived)
            .into_iter()
            .collect()
    }

    /// [`CellDoc::check_merged`] for a document that passed it before the
    /// merge: only what `patches` (the merge's diff) added or changed is
    /// checked — depth, text and key lengths, every value of a key the merge
    /// left in conflict (losing values are not in a diff), the counts of the
    /// reports it touched — instead of walking the whole document.
    pub fn check_patches(&self, patches: &[automerge::Patch]) -> Result<()> {
        self.check_layout()?;
        let damaged = |reason: String| Error::Damaged {
            doc: self.id(),
            reason,
        };
        if patches.len() > MAX_OBJECTS {
            return Err(damaged(format!(
                "more than {MAX_OBJECTS} values in one merge"
            )));
        }
        let mut budget = MAX_OBJECTS;
        let mut reports = std::collections::BTreeSet::new();
        for p in patches {
            let depth = p.path.len();
            if depth > MAX_DEPTH {
                return Err(damaged(format!(
                    "objects nest deeper than {MAX_DEPTH} levels"
                )));
            }
            let top = |i: usize| match p.path.get(i).map(|(_, prop)| prop) {
                Some(automerge::Prop::Map(k)) => Some(k.as_str()),
                _ => None,
            };
            use automerge::PatchAction as A;
            let key = match &p.action {
                A::PutMap { key, .. } | A::DeleteMap { key } => Some(key.as_str()),
                _ => None,
            };
            match (top(0), top(1), depth) {
                (Some(REPORTS), Some(day), _) => {
                    reports.insert(day.to_string());
                }
                (None, _, 0) if key == Some(REPORTS) => {
                    reports.insert(String::new());
                }
                (Some(REPORTS), None, 1) => {
                    reports.extend(key.map(str::to_string));
                }
                _ => {}
            }
            let value = |v: &Value<'_>, child: &ObjId, budget: &mut usize| {
                self.check_value(v, child, depth + 1, budget)
                    .map_err(damaged)
            };
            match &p.action {
                A::PutMap {
                    key,
                    value: (v, child),
                    conflict,
                } => {
                    if key.chars().count() > MAX_TEXT_CHARS {
                        return Err(damaged("a key longer than any field".into()));
                    }
                    value(v, child, &mut budget)?;
                    if *conflict {
                        for (v, child) in self.doc.get_all(&p.obj, key.as_str()).unwrap_or_default()
                        {
                            self.check_whole(&v, &child, depth + 1, &mut budget)
                                .map_err(damaged)?;
                        }
                    }
                }
                A::PutSeq {
                    index,
                    value: (v, child),
                    conflict,
                } => {
                    value(v, child, &mut budget)?;
                    if *conflict {
                        for (v, child) in self.doc.get_all(&p.obj, *index).unwrap_or_default() {
                            self.check_whole(&v, &child, depth + 1, &mut budget)
                                .map_err(damaged)?;
                        }
                    }
                }
                A::Insert { values, .. } => {
                    for (v, child, _) in values.iter() {
                        value(v, child, &mut budget)?;
                    }
                }
                A::SpliceText { .. } => {
                    let n = self.doc.length(&p.obj);
                    if n > MAX_TEXT_CHARS {
                        return Err(damaged(format!(
                            "a text of {n} characters (at most {MAX_TEXT_CHARS})"
                        )));
                    }
                }
                A::Conflict { prop } => {
                    for (v, child) in self.doc.get_all(&p.obj, prop.clone()).unwrap_or_default() {
                        self.check_whole(&v, &child, depth + 1, &mut budget)
                            .map_err(damaged)?;
                    }
                }
                _ => {}
            }
        }
        let days: Vec<NaiveDate> = if reports.contains("") {
            // The reports map itself was replaced: every report.
            self.reports()?.into_iter().map(|r| r.date).collect()
        } else {
            reports
                .iter()
                .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .collect()
        };
        for day in days {
            if let Some(r) = self.report(day)? {
                check_report_counts(&r)?;
            }
        }
        Ok(())
    }

    /// One value a merge wrote at `depth`: its own size and, for an
    /// object, its depth (its contents come as patches of their own).
    fn check_value(
        &self,
        v: &Value<'_>,
        child: &ObjId,
        depth: usize,
        budget: &mut usize,
    ) -> Result<(), String> {
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| format!("more than {MAX_OBJECTS} values"))?;
        match v {
            Value::Object(ObjType::Text) => {
                let n = self.doc.length(child);
                if n > MAX_TEXT_CHARS {
                    return Err(format!(
                        "a text of {n} characters (at most {MAX_TEXT_CHARS})"
                    ));
                }
                Ok(())
            }
            Value::Object(_) if depth > MAX_DEPTH => {
                Err(format!("objects nest deeper than {MAX_DEPTH} levels"))
            }
            Value::Object(_) => Ok(()),
            Value::Scalar(sv) => match sv.as_ref() {
                ScalarValue::Str(t) if t.chars().count() > MAX_TEXT_CHARS => Err(format!(
                    "a text of {} characters (at most {MAX_TEXT_CHARS})",
                    t.chars().count()
                )),
                ScalarValue::Bytes(b) if b.len() > MAX_TEXT_CHARS => {
                    Err(format!("{} bytes in one value", b.len()))
                }
                _ => Ok(()),
            },
        }
    }

    /// A value no patch describes in full (a conflict's losing value): the
    /// value and, for an object, everything under it.
    fn check_whole(
        &self,
        v: &Value<'_>,
        child: &ObjId,
        depth: usize,
        budget: &mut usize,
    ) -> Result<(), String> {
        self.check_value(v, child, depth, budget)?;
        match v {
            Value::Object(ObjType::Text) | Value::Scalar(_) => Ok(()),
            Value::Object(_) => self.check_bounds(child, depth, budget),
        }
    }

    /// Checks that the changes after `before` — what the store is about to
    /// write — decode back from their saved bytes to the very changes held
    /// in memory, so the cell reloads to the same heads after a restart.
    pub fn check_reloads(&mut self, before: &[ChangeHash]) -> Result<()> {
        let doc = self.id();
        let damaged = |reason: String| Error::Damaged {
            doc: doc.clone(),
            reason,
        };
        let bytes = self.doc.save_after(before);
        let mut held: Vec<ChangeHash> = self
            .doc
            .get_changes(before)
            .iter()
            .map(|c| c.hash())
            .collect();
        let chunks = crate::guard::change_chunks(&bytes).map_err(|e| damaged(e.to_string()))?;
        let mut saved = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            let change = automerge::Change::try_from(chunk)
                .map_err(|e| damaged(format!("a change does not decode once saved ({e})")))?;
            saved.push(change.hash());
        }
        held.sort();
        saved.sort();
        if held != saved {
            return Err(damaged(
                "its changes would not reload to the same heads once saved".into(),
            ));
        }
        Ok(())
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The whole document in automerge's standard compressed format.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Changes since the last `save`/`save_incremental` (or load).
    pub fn save_incremental(&mut self) -> Vec<u8> {
        self.doc.save_incremental()
    }

    /// Changes made after `heads`, for a peer that has those heads.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Drops an edit that failed half-way, so nothing of it is kept.
    pub fn rollback(&mut self) {
        self.doc.rollback();
    }

    /// Whether the document holds every change in `hashes`.
    pub fn holds_changes(&mut self, hashes: &[ChangeHash]) -> bool {
        hashes
            .iter()
            .all(|h| self.doc.get_change_by_hash(h).is_some())
    }

    /// Whether changes wait in automerge's queue for a dependency the
    /// document lacks (applied later, when it arrives).
    pub fn holds_waiting(&mut self) -> bool {
        !self.doc.get_missing_deps(&[]).is_empty()
    }

    /// The heads, when no change waits for a missing dependency: heads a
    /// peer may be told are settled.
    pub fn settled_heads(&mut self) -> Option<Vec<ChangeHash>> {
        (!self.holds_waiting()).then(|| self.heads())
    }

    /// The next automerge sync message for a peer whose sync state is `state`.
    pub fn generate_sync_message(
        &mut self,
        state: &mut automerge::sync::State,
    ) -> Option<automerge::sync::Message> {
        use automerge::sync::SyncDoc;
        self.doc.sync().generate_sync_message(state)
    }

    /// Takes in a peer's automerge sync message, unchecked: callers go
    /// through [`crate::replica::absorb_checked`] when it carries changes.
    pub fn receive_sync_message(
        &mut self,
        state: &mut automerge::sync::State,
        message: automerge::sync::Message,
    ) -> Result<()> {
        use automerge::sync::SyncDoc;
        self.doc
            .sync()
            .receive_sync_message(state, message)
            .map_err(Error::from)
    }

    /// The raw automerge document, for tests that inspect what a merge
    /// kept; silin's own code reads and writes through the methods above.
    #[doc(hidden)]
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    fn commit(&mut self, message: &str, at: i64) {
        self.doc.commit_with(
            CommitOptions::default()
                .with_message(message.to_string())
                .with_time(at),
        );
    }

    // ---- reads ---------------------------------------------------------

    fn map(&self, obj: &ObjId, key: &str) -> Option<ObjId> {
        match self.doc.get(obj, key) {
            Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
            _ => None,
        }
    }

    fn scalar(&self, obj: &ObjId, key: &str) -> Option<ScalarValue> {
        match self.doc.get(obj, key) {
            Ok(Some((Value::Scalar(s), _))) => Some(s.into_owned()),
            _ => None,
        }
    }

    fn get_str(&self, obj: &ObjId, key: &str) -> Option<String> {
        match self.scalar(obj, key)? {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        }
    }

    fn get_i64(&self, obj: &ObjId, key: &str) -> Option<i64> {
        match self.scalar(obj, key)? {
            ScalarValue::Int(i) => Some(i),
            ScalarValue::Uint(u) => i64::try_from(u).ok(),
            ScalarValue::F64(f) => Some(f as i64),
            _ => None,
        }
    }

    fn get_bool(&self, obj: &ObjId, key: &str) -> bool {
        matches!(self.scalar(obj, key), Some(ScalarValue::Boolean(true)))
    }

    fn get_date(&self, obj: &ObjId, key: &str) -> Option<NaiveDate> {
        self.get_str(obj, key)
            .and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
    }

    fn get_choice<T: std::str::FromStr>(&self, obj: &ObjId, key: &str) -> Option<T> {
        self.get_str(obj, key).and_then(|s| s.parse().ok())
    }

    fn root_map(&self, key: &str) -> Result<ObjId> {
        self.map(&ROOT, key).ok_or_else(|| Error::Damaged {
            doc: self.id(),
            reason: format!("missing `{key}` map"),
        })
    }

    pub fn id(&self) -> String {
        self.map(&ROOT, "cell")
            .and_then(|c| self.get_str(&c, "id"))
            .unwrap_or_default()
    }

    pub fn schema(&self) -> i64 {
        self.get_i64(&ROOT, "schema").unwrap_or(0)
    }

    pub fn info(&self) -> Result<CellInfo> {
        let cell = self.root_map("cell")?;
        let parts: Vec<String> = match self.doc.get(&cell, "path")? {
            Some((Value::Object(ObjType::List), list)) => (0..self.doc.length(&list))
                .filter_map(|i| match self.doc.get(&list, i) {
                    Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                        ScalarValue::Str(s) => Some(s.to_string()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let path = RegionPath::from_parts(parts).map_err(|e| Error::Damaged {
            doc: self.id(),
            reason: e.to_string(),
        })?;
        Ok(CellInfo {
            id: self.get_str(&cell, "id").unwrap_or_default(),
            name: self.get_str(&cell, "name").unwrap_or_default(),
            path,
            lead: self.get_str(&cell, "lead"),
        })
    }

    fn keys(&self, obj: &ObjId) -> Vec<String> {
        self.doc.keys(obj).collect()
    }

    fn household_obj(&self, id: &str) -> Result<ObjId> {
        self.map(&self.root_map(HOUSEHOLDS)?, id)
            .ok_or_else(|| Error::not_found("household", id))
    }

    /// The household holding member `id`, and the member's object.
    fn member_obj(&self, id: &str) -> Result<(String, ObjId)> {
        if let Some(hh) = self.homes.get(id) {
            if let Some(m) = self.member_in(hh, id) {
                return Ok((hh.clone(), m));
            }
        }
        let hhs = self.root_map(HOUSEHOLDS)?;
        for hh in self.keys(&hhs) {
            if let Some(m) = self.member_in(&hh, id) {
                return Ok((hh, m));
            }
        }
        Err(Error::not_found("member", id))
    }

    /// Member `id`'s object if household `hh` holds it.
    fn member_in(&self, hh: &str, id: &str) -> Option<ObjId> {
        let hhs = self.map(&ROOT, HOUSEHOLDS)?;
        let members = self.map(&hhs, hh).and_then(|h| self.map(&h, MEMBERS))?;
        self.map(&members, id)
    }

    /// Fills [`CellDoc::homes`] from the households as they are now.
    fn learn_homes(&mut self) -> Result<()> {
        let hhs = self.root_map(HOUSEHOLDS)?;
        let mut homes = HashMap::new();
        for hh in self.keys(&hhs) {
            if let Some(members) = self.map(&hhs, &hh).and_then(|h| self.map(&h, MEMBERS)) {
                for m in self.keys(&members) {
                    // The first in key order, as the walk above finds it.
                    homes.entry(m).or_insert_with(|| hh.clone());
                }
            }
        }
        self.homes = homes;
        Ok(())
    }

    pub fn has_household(&self, id: &str) -> bool {
        self.household_obj(id).is_ok()
    }

    pub fn has_member(&self, id: &str) -> bool {
        self.member_obj(id).is_ok()
    }

    pub fn household_ids(&self) -> Result<Vec<String>> {
        Ok(self.keys(&self.root_map(HOUSEHOLDS)?))
    }

    pub fn household(&self, id: &str) -> Result<Household> {
        let mut h = self.household_unfolded(id)?;
        self.fold_histories(&mut h.members.iter_mut().collect::<Vec<_>>());
        Ok(h)
    }

    fn household_unfolded(&self, id: &str) -> Result<Household> {
        let h = self.household_obj(id)?;
        let mut members = Vec::new();
        if let Some(ms) = self.map(&h, MEMBERS) {
            for mid in self.keys(&ms) {
                if let Some(m) = self.map(&ms, &mid) {
                    members.push(self.read_member(&mid, id, &m));
                }
            }
        }
        Ok(Household {
            id: id.to_string(),
            address: self.get_str(&h, "address"),
            door: self.get_str(&h, "door"),
            phone: self.get_str(&h, "phone"),
            members,
        })
    }

    pub fn households(&self) -> Result<Vec<Household>> {
        let mut out = self
            .household_ids()?
            .iter()
            .map(|id| self.household_unfolded(id))
            .collect::<Result<Vec<_>>>()?;
        self.fold_histories(
            &mut out
                .iter_mut()
                .flat_map(|h| &mut h.members)
                .collect::<Vec<_>>(),
        );
        Ok(out)
    }

    pub fn member(&self, id: &str) -> Result<Member> {
        let (hh, m) = self.member_obj(id)?;
        let mut m = self.read_member(id, &hh, &m);
        self.fold_histories(&mut [&mut m]);
        Ok(m)
    }

    fn read_member(&self, id: &str, household_id: &str, m: &ObjId) -> Member {
        let sub = |k: &str| self.map(m, k);
        let arrival = sub("arrival")
            .map(|a| Arrival {
                from: self.get_str(&a, "from"),
                risk_area: self.get_bool(&a, "risk_area"),
                date: self.get_date(&a, "date"),
            })
            .unwrap_or_default();
        let monitoring = sub("monitoring")
            .map(|o| Monitoring {
                since: self.get_date(&o, "since"),
                until: self.get_date(&o, "until"),
            })
            .unwrap_or_default();
        let vaccination = sub("vaccination")
            .map(|o| Vaccination {
                doses: self.get_i64(&o, "doses").unwrap_or(0),
                last: self.get_date(&o, "last"),
            })
            .unwrap_or_default();
        let test = sub("test")
            .map(|o| LastTest {
                date: self.get_date(&o, "date"),
                result: self.get_choice(&o, "result"),
            })
            .unwrap_or_default();
        let vulnerable = sub("vulnerable")
            .map(|o| {
                Vulnerability::ALL
                    .iter()
                    .copied()
                    .filter(|v| self.get_bool(&o, v.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        Member {
            id: id.to_string(),
            household_id: household_id.to_string(),
            name: self.get_str(m, "name").unwrap_or_default(),
            sex: self.get_choice(m, "sex").unwrap_or(Sex::Unknown),
            birth_year: self.get_i64(m, "birth_year"),
            id_number: self.get_str(m, ID_NUMBER),
            phone: self.get_str(m, "phone"),
            relation: self.get_str(m, "relation"),
            residence: self
                .get_choice(m, "residence")
                .unwrap_or(Residence::Resident),
            arrival,
            monitoring,
            vaccination,
            test,
            vulnerable,
            away_at: self.get_str(m, "away_at"),
            referred: self.get_bool(m, "referred"),
        }
    }

    pub fn visit_ids(&self) -> Result<Vec<String>> {
        Ok(self.keys(&self.root_map(VISITS)?))
    }

    pub fn visit(&self, id: &str) -> Result<Visit> {
        let v = self
            .map(&self.root_map(VISITS)?, id)
            .ok_or_else(|| Error::not_found("visit", id))?;
        let mut out = Visit {
            id: id.to_string(),
            kind: VisitKind::DoorKnock,
            household_id: None,
            member_id: None,
            at: String::new(),
            by: String::new(),
            temperature: None,
            symptoms: None,
            outcome: None,
            note: None,
            task_id: None,
        };
        // One pass over the visit's map: a lookup per field costs a seek
        // each, and this runs on every recorded visit (projection row) and
        // for every visit of a cell when its projections are rebuilt. Same
        // reading rules as `get_str` / `get_f64` / `get_choice`.
        for item in self.doc.map_range(&v, ..) {
            let ValueRef::Scalar(value) = item.value else {
                continue;
            };
            let text = match &value {
                ScalarValueRef::Str(s) => Some(s.to_string()),
                _ => None,
            };
            match item.key.as_ref() {
                "kind" => {
                    out.kind = text
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(VisitKind::DoorKnock)
                }
                "household" => out.household_id = text,
                "member" => out.member_id = text,
                "at" => out.at = text.unwrap_or_default(),
                "by" => out.by = text.unwrap_or_default(),
                "symptoms" => out.symptoms = text,
                "outcome" => out.outcome = text,
                "note" => out.note = text,
                "task" => out.task_id = text,
                "temperature" => {
                    out.temperature = match value {
                        ScalarValueRef::F64(f) => Some(f),
                        ScalarValueRef::Int(i) => Some(i as f64),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    pub fn visits(&self) -> Result<Vec<Visit>> {
        let mut out: Vec<Visit> = self
            .visit_ids()?
            .iter()
            .map(|id| self.visit(id))
            .collect::<Result<_>>()?;
        out.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The report of a day. Two devices that filed the same day before
    /// they met each made the day's object; the report is read field by
    /// field across both, the winning object's value first, so a field
    /// only one of them filed is never hidden.
    pub fn report(&self, date: NaiveDate) -> Result<Option<Report>> {
        let key = date.to_string();
        let objs = self.maps_at(&self.root_map(REPORTS)?, &key);
        if objs.is_empty() {
            return Ok(None);
        }
        let str_of = |k: &str| objs.iter().find_map(|o| self.get_str(o, k));
        let num_of = |k: &str| objs.iter().find_map(|o| self.get_i64(o, k)).unwrap_or(0);
        Ok(Some(Report {
            date,
            by: str_of("by").unwrap_or_default(),
            at: str_of("at").unwrap_or_default(),
            arrivals: num_of("arrivals"),
            under_monitoring: num_of("under_monitoring"),
            abnormal: num_of("abnormal"),
            errands: num_of("errands"),
            note: str_of("note"),
            // Worked out from the log by `flag_reports` where it is shown.
            flag: None,
        }))
    }

    /// Every map at `obj[key]`, the one `get` shows first: more than one
    /// when devices made it concurrently.
    fn maps_at(&self, obj: &ObjId, key: &str) -> Vec<ObjId> {
        let mut all: Vec<ObjId> = self
            .doc
            .get_all(obj, key)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(v, id)| matches!(v, Value::Object(ObjType::Map)).then_some(id))
            .collect();
        // automerge lists the winner last.
        all.reverse();
        all
    }

    pub fn reports(&self) -> Result<Vec<Report>> {
        let mut out = Vec::new();
        for key in self.keys(&self.root_map(REPORTS)?) {
            if let Ok(d) = NaiveDate::parse_from_str(&key, "%Y-%m-%d") {
                out.extend(self.report(d)?);
            }
        }
        Ok(out)
    }

    pub fn task(&self, id: &str) -> Result<Task> {
        let t = self
            .map(&self.root_map(TASKS)?, id)
            .ok_or_else(|| Error::not_found("task", id))?;
        Ok(Task {
            id: id.to_string(),
            title: self.get_str(&t, "title").unwrap_or_default(),
            household_id: self.get_str(&t, "household"),
            member_id: self.get_str(&t, "member"),
            due: self.get_date(&t, "due"),
            status: self.get_choice(&t, "status").unwrap_or(TaskStatus::Open),
            created: self.get_str(&t, "created").unwrap_or_default(),
            kind: self
                .get_choice(&t, "kind")
                .unwrap_or(crate::register::TaskKind::List),
            source: self.get_str(&t, "source"),
        })
    }

    pub fn tasks(&self) -> Result<Vec<Task>> {
        self.keys(&self.root_map(TASKS)?)
            .iter()
            .map(|id| self.task(id))
            .collect()
    }

    /// Every key that holds more than one concurrent value, with the winning
    /// value first. Walks the whole document.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        let mut out = Vec::new();
        self.collect_conflicts(&ROOT, String::new(), &mut out)?;
        Ok(out)
    }

    fn collect_conflicts(
        &self,
        obj: &ObjId,
        prefix: String,
        out: &mut Vec<Conflict>,
    ) -> Result<()> {
        for key in self.keys(obj) {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}/{key}")
            };
            let all = self.doc.get_all(obj, key.as_str())?;
            let maps = self.maps_at(obj, &key);
            if maps.len() > 1 {
                // The same record made on two devices (a day's report filed
                // on both): it reads field by field, so a conflict is a
                // field the two filed differently.
                let mut fields: Vec<String> = maps.iter().flat_map(|m| self.keys(m)).collect();
                fields.sort();
                fields.dedup();
                for f in fields {
                    let mut values: Vec<String> = Vec::new();
                    for m in &maps {
                        for (v, _) in self.doc.get_all(m, f.as_str())?.iter().rev() {
                            values.push(value_text(v));
                        }
                    }
                    let first = values.first().cloned();
                    if values.iter().any(|v| Some(v) != first.as_ref()) {
                        out.push(Conflict {
                            path: format!("{path}/{f}"),
                            values,
                        });
                    }
                }
            } else if all.len() > 1 {
                // automerge lists the winner (what `get` returns) last.
                let values: Vec<String> = all.iter().rev().map(|(v, _)| value_text(v)).collect();
                // Two devices writing the same value (both moving the layout
                // forward) is agreement, not a conflict.
                if values.iter().any(|v| *v != values[0]) {
                    out.push(Conflict {
                        path: path.clone(),
                        values,
                    });
                }
            }
            if let Some((Value::Object(ObjType::Map), child)) = self.doc.get(obj, key.as_str())? {
                self.collect_conflicts(&child, path, out)?;
            }
        }
        Ok(())
    }

    pub fn view(&self) -> Result<CellView> {
        Ok(CellView {
            cell: self.info()?,
            schema: self.schema(),
            households: self.households()?,
            visits: self.visits()?,
            reports: {
                let mut r = self.reports()?;
                self.flag_reports(&mut r)?;
                r
            },
            tasks: self.tasks()?,
            conflicts: self.conflicts()?,
        })
    }

    // ---- edits ---------------------------------------------------------
    // Each validates first, writes only the keys it changes, and commits one
    // change. On error nothing is left pending.

    pub fn rename(&mut self, name: &str, at: i64) -> Result<Touched> {
        let name = check_text("name", name, 64, true)?;
        let cell = self.root_map("cell")?;
        self.doc.put(&cell, "name", name)?;
        self.commit("rename cell", at);
        Ok(Touched::Cell)
    }

    pub fn set_lead(&mut self, lead: &str, at: i64) -> Result<Touched> {
        let lead = check_text("lead", lead, 64, true)?;
        let cell = self.root_map("cell")?;
        self.doc.put(&cell, "lead", lead)?;
        self.commit("set lead", at);
        Ok(Touched::Cell)
    }

    pub fn add_household(&mut self, id: &str, h: NewHousehold, at: i64) -> Result<Touched> {
        let h = h.validated()?;
        let hhs = self.root_map(HOUSEHOLDS)?;
        if self.map(&hhs, id).is_some() {
            return Err(
                ValidationError::new("household", "a household with this id exists").into(),
            );
        }
        let obj = self.doc.put_object(&hhs, id, ObjType::Map)?;
        for (k, v) in [("address", h.address), ("door", h.door), ("phone", h.phone)] {
            if let Some(v) = v {
                self.doc.put(&obj, k, v)?;
            }
        }
        self.doc.put_object(&obj, MEMBERS, ObjType::Map)?;
        self.commit("add household", at);
        Ok(Touched::Household(id.to_string()))
    }

    pub fn add_member(
        &mut self,
        household_id: &str,
        id: &str,
        m: NewMember,
        today: NaiveDate,
        at: i64,
    ) -> Result<Touched> {
        self.put_member(household_id, id, m, today)?;
        self.commit("add member", at);
        Ok(Touched::Member(id.to_string()))
    }

    /// Writes a new member's keys (no commit).
    fn put_member(
        &mut self,
        household_id: &str,
        id: &str,
        m: NewMember,
        today: NaiveDate,
    ) -> Result<()> {
        check_id("member", id)?;
        if self.member_obj(id).is_ok() {
            return Err(ValidationError::new("member", "a member with this id exists").into());
        }
        let m = m.validated(today)?;
        let h = self.household_obj(household_id)?;
        let members = match self.map(&h, MEMBERS) {
            Some(ms) => ms,
            None => self.doc.put_object(&h, MEMBERS, ObjType::Map)?,
        };
        let obj = self.doc.put_object(&members, id, ObjType::Map)?;
        self.doc.put(&obj, "name", m.name)?;
        self.doc
            .put(&obj, "sex", m.sex.unwrap_or(Sex::Unknown).as_str())?;
        self.doc.put(
            &obj,
            "residence",
            m.residence.unwrap_or(Residence::Resident).as_str(),
        )?;
        if let Some(y) = m.birth_year {
            self.doc.put(&obj, "birth_year", y)?;
        }
        for (k, v) in [
            (ID_NUMBER, m.id_number),
            ("phone", m.phone),
            ("relation", m.relation),
        ] {
            if let Some(v) = v {
                self.doc.put(&obj, k, v)?;
            }
        }
        // Sub-maps exist from the start so that later concurrent edits of
        // different sub-fields land in the same object instead of racing to
        // create it.
        for sub in ["arrival", "monitoring", "vaccination", "test"] {
            self.doc.put_object(&obj, sub, ObjType::Map)?;
        }
        let vul = self.doc.put_object(&obj, "vulnerable", ObjType::Map)?;
        for v in &m.vulnerable {
            self.doc.put(&vul, v.as_str(), true)?;
        }
        Ok(())
    }

    /// Applies validated field edits to one member in one change.
    pub fn edit_member(&mut self, id: &str, edits: &[MemberEdit], at: i64) -> Result<Touched> {
        let (_, m) = self.member_obj(id)?;
        // Validate every edit before writing any of them.
        let today = chrono::DateTime::from_timestamp(at, 0)
            .map(|t| t.date_naive())
            .unwrap_or(NaiveDate::MAX);
        let edits = edits
            .iter()
            .map(|e| e.clone().validated(today))
            .collect::<Result<Vec<_>, _>>()?;
        for e in &edits {
            self.apply_member_edit(&m, e)?;
        }
        self.commit("edit member", at);
        Ok(Touched::Member(id.to_string()))
    }

    fn sub_map(&mut self, m: &ObjId, key: &str) -> Result<ObjId> {
        match self.map(m, key) {
            Some(o) => Ok(o),
            None => Ok(self.doc.put_object(m, key, ObjType::Map)?),
        }
    }

    fn put_opt<V: Into<ScalarValue>>(
        &mut self,
        obj: &ObjId,
        key: &str,
        v: Option<V>,
    ) -> Result<()> {
        match v {
            Some(v) => self.doc.put(obj, key, v)?,
            None => {
                if self.doc.get(obj, key)?.is_some() {
                    self.doc.delete(obj, key)?
                }
            }
        }
        Ok(())
    }

    fn apply_member_edit(&mut self, m: &ObjId, e: &MemberEdit) -> Result<()> {
        let date = |d: &Option<NaiveDate>| d.map(|d| d.to_string());
        match e {
            MemberEdit::Name(v) => self.doc.put(m, "name", v.as_str())?,
            MemberEdit::Sex(v) => self.doc.put(m, "sex", v.as_str())?,
            MemberEdit::BirthYear(v) => self.put_opt(m, "birth_year", *v)?,
            MemberEdit::IdNumber(v) => self.put_opt(m, ID_NUMBER, v.clone())?,
            MemberEdit::Phone(v) => self.put_opt(m, "phone", v.clone())?,
            MemberEdit::Relation(v) => self.put_opt(m, "relation", v.clone())?,
            MemberEdit::Residence(v) => self.doc.put(m, "residence", v.as_str())?,
            MemberEdit::ArrivalFrom(v) => {
                let o = self.sub_map(m, "arrival")?;
                self.put_opt(&o, "from", v.clone())?
            }
            MemberEdit::ArrivalRiskArea(v) => {
                let o = self.sub_map(m, "arrival")?;
                self.doc.put(&o, "risk_area", *v)?
            }
            MemberEdit::ArrivalDate(v) => {
                let o = self.sub_map(m, "arrival")?;
                self.put_opt(&o, "date", date(v))?
            }
            MemberEdit::MonitoringSince(v) => {
                let o = self.sub_map(m, "monitoring")?;
                self.put_opt(&o, "since", date(v))?
            }
            MemberEdit::MonitoringUntil(v) => {
                let o = self.sub_map(m, "monitoring")?;
                self.put_opt(&o, "until", date(v))?
            }
            MemberEdit::VaccinationDoses(v) => {
                let o = self.sub_map(m, "vaccination")?;
                self.doc.put(&o, "doses", *v)?
            }
            MemberEdit::VaccinationLast(v) => {
                let o = self.sub_map(m, "vaccination")?;
                self.put_opt(&o, "last", date(v))?
            }
            MemberEdit::TestDate(v) => {
                let o = self.sub_map(m, "test")?;
                self.put_opt(&o, "date", date(v))?
            }
            MemberEdit::TestResult(v) => {
                let o = self.sub_map(m, "test")?;
                self.put_opt(&o, "result", v.map(|r| r.as_str()))?
            }
            MemberEdit::AwayAt(v) => self.put_opt(m, "away_at", v.clone())?,
            MemberEdit::Referred(v) => {
                if self.get_bool(m, "referred") != *v {
                    self.doc.put(m, "referred", *v)?
                }
            }
            MemberEdit::Vulnerable(flag, on) => {
                let o = self.sub_map(m, "vulnerable")?;
                // Only write when it changes, so setting the same flags again
                // costs nothing and cannot conflict.
                if self.get_bool(&o, flag.as_str()) != *on {
                    self.doc.put(&o, flag.as_str(), *on)?
                }
            }
        }
        Ok(())
    }

    /// Records a visit. Household and member, when given, must be in this
    /// cell. An abnormal health check raises an alert task for the grid
    /// worker in the same change.
    pub fn record_visit(&mut self, id: &str, v: NewVisit) -> Result<Touched> {
        let v = v.validated()?;
        let at = v.at.timestamp();
        let alert = (v.kind == VisitKind::HealthCheck && v.is_abnormal()).then(new_id);
        self.put_visit(id, v.clone())?;
        let visit = Touched::Visit(id.to_string());
        let touched = match alert {
            Some(task) => {
                self.alert_for_abnormal(id, &task, &v)?;
                Touched::Parts(vec![visit, Touched::Task(task)])
            }
            None => visit,
        };
        self.commit("record visit", at);
        Ok(touched)
    }

    /// Writes a validated visit's keys (no commit).
    fn put_visit(&mut self, id: &str, v: NewVisit) -> Result<()> {
        if let Some(h) = &v.household_id {
            self.household_obj(h)?;
        }
        // The member implies the household; store it so day queries need no join.
        let mut household = v.household_id.clone();
        if let Some(mid) = &v.member_id {
            if !self.homes.contains_key(mid) {
                self.learn_homes()?;
            }
            let (hh, _) = self.member_obj(mid)?;
            if v.household_id.as_ref().is_some_and(|h| *h != hh) {
                return Err(ValidationError::new(
                    "member",
                    "this member is not in the household given",
                )
                .into());
            }
            household = Some(hh);
        }
        if let Some(t) = &v.task_id {
            self.task(t)?;
        }
        let visits = self.root_map(VISITS)?;
        // The visit's map and its keys go in as one object: automerge
        // splices its op set twice instead of once per key, which was a
        // third of a visit's CPU (doc/BENCHMARKS.md, "The write path").
        // The ops, and so the document and what peers receive, are the same.
        let mut keys: HashMap<&str, hydrate::Value> = HashMap::with_capacity(10);
        keys.insert("kind", hydrate::Value::scalar(v.kind.as_str()));
        keys.insert("at", hydrate::Value::scalar(v.at.to_rfc3339()));
        keys.insert("by", hydrate::Value::scalar(v.by));
        for (k, val) in [
            ("household", household),
            ("member", v.member_id),
            ("symptoms", v.symptoms),
            ("outcome", v.outcome),
            ("note", v.note),
            ("task", v.task_id),
        ] {
            if let Some(val) = val {
                keys.insert(k, hydrate::Value::scalar(val));
            }
        }
        if let Some(t) = v.temperature {
            keys.insert("temperature", hydrate::Value::scalar(t));
        }
        self.doc
            .batch_create_object(&visits, id, &hydrate::Value::from(keys), false)?;
        Ok(())
    }

    /// Files (or re-files) the report for a date. Counts left as None are
    /// taken from the register and the visit log.
    pub fn submit_report(&mut self, r: NewReport) -> Result<Touched> {
        let r = r.validated()?;
        let under = match r.under_monitoring {
            Some(n) => n,
            None => self.count_under_monitoring(r.date)?,
        };
        let errands = match r.errands {
            Some(n) => n,
            None => {
                let day = r.date.to_string();
                self.visits()?
                    .iter()
                    .filter(|v| v.kind == VisitKind::Errand && v.day() == day)
                    .count() as i64
            }
        };
        let reports = self.root_map(REPORTS)?;
        let key = r.date.to_string();
        let obj = match self.map(&reports, &key) {
            Some(o) => o,
            None => self.doc.put_object(&reports, key.as_str(), ObjType::Map)?,
        };
        self.doc.put(&obj, "by", r.by.as_str())?;
        self.doc.put(&obj, "at", r.at.to_rfc3339())?;
        self.doc.put(&obj, "arrivals", r.arrivals)?;
        self.doc.put(&obj, "under_monitoring", under)?;
        self.doc.put(&obj, "abnormal", r.abnormal)?;
        self.doc.put(&obj, "errands", errands)?;
        self.put_opt(&obj, "note", r.note)?;
        self.commit("submit report", r.at.timestamp());
        Ok(Touched::Report(r.date))
    }

    fn count_under_monitoring(&self, day: NaiveDate) -> Result<i64> {
        Ok(self
            .households()?
            .iter()
            .flat_map(|h| &h.members)
            .filter(|m| m.monitoring.active_on(day))
            .count() as i64)
    }

    pub fn add_task(
        &mut self,
        id: &str,
        title: &str,
        household_id: Option<&str>,
        member_id: Option<&str>,
        due: Option<NaiveDate>,
        at: chrono::DateTime<chrono::FixedOffset>,
    ) -> Result<Touched> {
        self.put_task(
            id,
            title,
            household_id,
            member_id,
            due,
            at,
            crate::register::TaskKind::List,
            None,
        )?;
        self.commit("add task", at.timestamp());
        Ok(Touched::Task(id.to_string()))
    }

    pub fn set_task_status(&mut self, id: &str, status: TaskStatus, at: i64) -> Result<Touched> {
        let t = self
            .map(&self.root_map(TASKS)?, id)
            .ok_or_else(|| Error::not_found("task", id))?;
        self.doc.put(&t, "status", status.as_str())?;
        self.commit("set task status", at);
        Ok(Touched::Task(id.to_string()))
    }
}

/// A report's counts within the model's rule (the same rule the form
/// applies when a report is filed).
fn check_report_counts(r: &Report) -> Result<()> {
    for (field, n) in [
        ("arrivals", r.arrivals),
        ("under_monitoring", r.under_monitoring),
        ("abnormal", r.abnormal),
        ("errands", r.errands),
    ] {
        check_count(field, n)?;
    }
    Ok(())
}

fn value_text(v: &Value<'_>) -> String {
    match v {
        Value::Object(t) => format!("<{t:?}>"),
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => s.to_string(),
            other => other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit_by_lookups(d: &CellDoc, id: &str) -> Visit {
        let v = d.map(&d.root_map(VISITS).unwrap(), id).unwrap();
        let temperature = match d.scalar(&v, "temperature") {
            Some(ScalarValue::F64(f)) => Some(f),
            Some(ScalarValue::Int(i)) => Some(i as f64),
            _ => None,
        };
        Visit {
            id: id.to_string(),
            kind: d.get_choice(&v, "kind").unwrap_or(VisitKind::DoorKnock),
            household_id: d.get_str(&v, "household"),
            member_id: d.get_str(&v, "member"),
            at: d.get_str(&v, "at").unwrap_or_default(),
            by: d.get_str(&v, "by").unwrap_or_default(),
            temperature,
            symptoms: d.get_str(&v, "symptoms"),
            outcome: d.get_str(&v, "outcome"),
            note: d.get_str(&v, "note"),
            task_id: d.get_str(&v, "task"),
        }
    }

    /// A merge's diff names the rows it reached, so the store rewrites
    /// those and not the whole cell; what the layout does not place
    /// recomputes the cell.
    #[test]
    fn a_merge_touches_the_rows_its_changes_reach() {
        let (mut hub, hh, m) = cell_with_member();
        let mut phone = CellDoc::load(&hub.save(), &ActorId::random()).unwrap();
        let before = hub.heads();

        let at = chrono::DateTime::parse_from_rfc3339("2025-03-01T09:30:00+08:00").unwrap();
        let vid = new_id();
        phone
            .record_visit(&vid, NewVisit::new(VisitKind::DoorKnock, at, "赵敏"))
            .unwrap();
        phone
            .edit_member(&m, &[MemberEdit::Phone(Some("13800000000".into()))], 1)
            .unwrap();
        phone.rename("第二联户（东）", 1).unwrap();
        hub.merge(&mut phone).unwrap();
        let patches = hub.diff_since(&before);
        let Touched::Parts(parts) = Touched::by_patches(&patches) else {
            panic!("a merge of edits recomputed the whole cell");
        };
        for want in [
            Touched::Visit(vid.clone()),
            Touched::Member(m.clone()),
            Touched::Cell,
        ] {
            assert!(parts.contains(&want), "{want:?} not in {parts:?}");
        }
        assert_eq!(parts.len(), 3, "{parts:?}");

        // A removal is not placed row by row: a visit's, or a member's
        // (which must not pass for an edit of the household).
        let before = hub.heads();
        let visits = hub.root_map(VISITS).unwrap();
        hub.doc.delete(&visits, vid.as_str()).unwrap();
        hub.commit("remove", 2);
        let patches = hub.diff_since(&before);
        assert_eq!(Touched::by_patches(&patches), Touched::All);
        let before = hub.heads();
        let household = hub.map(&hub.root_map(HOUSEHOLDS).unwrap(), &hh).unwrap();
        let members = hub.map(&household, MEMBERS).unwrap();
        hub.doc.delete(&members, m.as_str()).unwrap();
        hub.commit("remove", 3);
        let patches = hub.diff_since(&before);
        assert_eq!(Touched::by_patches(&patches), Touched::All);
    }

    /// `visit` reads a visit in one pass; it must agree with reading each
    /// field by lookup, conflicts (winner shown) included.
    #[test]
    fn one_pass_visit_read_agrees_with_lookups() {
        let (mut a, hh, m) = cell_with_member();
        let at = chrono::DateTime::parse_from_rfc3339("2025-03-01T09:30:00+08:00").unwrap();
        let mut v = NewVisit::new(VisitKind::HealthCheck, at, "王伟");
        v.member_id = Some(m.clone());
        v.temperature = Some(37.8);
        v.symptoms = Some("咳嗽".into());
        v.note = Some("复查".into());
        let vid = new_id();
        a.record_visit(&vid, v).unwrap();
        let plain_id = new_id();
        a.record_visit(&plain_id, NewVisit::new(VisitKind::Notify, at, "王伟"))
            .unwrap();

        // A concurrent edit of the same visit on another replica.
        let mut b = CellDoc::load(&a.save(), &ActorId::random()).unwrap();
        let obj = b.map(&b.root_map(VISITS).unwrap(), &vid).unwrap();
        b.doc.put(&obj, "temperature", 36i64).unwrap();
        b.doc.put(&obj, "outcome", "已就医").unwrap();
        b.commit("edit", 1);
        let obj = a.map(&a.root_map(VISITS).unwrap(), &vid).unwrap();
        a.doc.put(&obj, "outcome", "居家观察").unwrap();
        a.commit("edit", 1);
        a.merge(&mut b).unwrap();

        for id in [&vid, &plain_id] {
            assert_eq!(a.visit(id).unwrap(), visit_by_lookups(&a, id));
        }
        let read = a.visit(&vid).unwrap();
        assert_eq!(read.member_id.as_deref(), Some(m.as_str()));
        assert_eq!(read.household_id.as_deref(), Some(hh.as_str()));
        assert_eq!(read.temperature, Some(36.0));
        assert!(a.visit(&new_id()).is_err());
    }

    fn cell_with_member() -> (CellDoc, String, String) {
        let info = CellInfo {
            id: new_id(),
            name: "第三联户".into(),
            path: RegionPath::parse("两当县/城关镇/广香村/三组").unwrap(),
            lead: None,
        };
        let mut d = CellDoc::create(&info, &ActorId::random(), 0).unwrap();
        let hh = new_id();
        d.add_household(&hh, NewHousehold::default(), 0).unwrap();
        let m = new_id();
        let member = NewMember {
            name: "李华".into(),
            ..NewMember::default()
        };
        let day = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        d.add_member(&hh, &m, member, day, 0).unwrap();
        (d, hh, m)
    }

    /// Two devices that each yield their first resident ID to the other's
    /// (two phones holding a lead's certificate) settle when they meet:
    /// no conflict is left and neither yields again.
    #[test]
    fn two_devices_yielding_at_once_settle_when_they_meet() {
        let (mut base, _, m) = cell_with_member();
        let saved = base.save();
        let copy = |d: &mut CellDoc| CellDoc::load(&d.save(), &ActorId::random()).unwrap();
        let mut a = CellDoc::load(&saved, &ActorId::random()).unwrap();
        let mut b = CellDoc::load(&saved, &ActorId::random()).unwrap();
        let (x, y) = ("621221196203150014", "11010519491231002X");
        let id = |v: &str| [MemberEdit::IdNumber(Some(v.into()))];
        a.edit_member(&m, &id(x), 1).unwrap();
        b.edit_member(&m, &id(y), 1).unwrap();
        let (mut a_first, mut b_first) = (copy(&mut a), copy(&mut b));
        // Each meets the other's first ID before the other's yield, and
        // yields to it: a to y, b to x.
        a.merge(&mut b_first).unwrap();
        b.merge(&mut a_first).unwrap();
        assert!(a.yield_resident_ids(2).unwrap());
        assert!(b.yield_resident_ids(2).unwrap());
        let shown = |d: &CellDoc| d.member(&m).unwrap().id_number;
        assert_eq!(
            (shown(&a).as_deref(), shown(&b).as_deref()),
            (Some(y), Some(x))
        );
        // Then each meets the other's yield: neither yields again, and both
        // hold the same document.
        let (mut a_now, mut b_now) = (copy(&mut a), copy(&mut b));
        a.merge(&mut b_now).unwrap();
        b.merge(&mut a_now).unwrap();
        assert_eq!(a.conflicts().unwrap(), vec![]);
        assert!(!a.yield_resident_ids(3).unwrap(), "a yield yielded again");
        assert!(!b.yield_resident_ids(3).unwrap(), "a yield yielded again");
        let (mut ha, mut hb) = (a.heads(), b.heads());
        ha.sort();
        hb.sort();
        assert_eq!(ha, hb);
        assert_eq!(shown(&a), shown(&b));
    }

    /// A visit goes in as one object (`batch_create_object`); a peer
    /// must see the same change as the key-by-key writes made before:
    /// one map with one op per field, the values with their types.
    #[test]
    fn a_visit_written_in_one_batch_has_the_ops_of_key_by_key_writes() {
        let (mut a, hh, m) = cell_with_member();
        let base = a.save();
        let mut b = CellDoc::load(&base, &ActorId::random()).unwrap();
        let before = a.heads();
        let at = chrono::DateTime::parse_from_rfc3339("2025-03-01T09:30:00+08:00").unwrap();
        let mut v = NewVisit::new(VisitKind::HealthCheck, at, "李华");
        v.member_id = Some(m.clone());
        v.temperature = Some(36.6);
        v.outcome = Some("体温正常".into());
        let vid = new_id();
        a.record_visit(&vid, v.clone()).unwrap();
        let batched = a.doc.get_changes(&before);
        assert_eq!(batched.len(), 1);

        // The same visit key by key, on a replica of the same history.
        let visits = b.root_map(VISITS).unwrap();
        let obj = b
            .doc
            .put_object(&visits, vid.as_str(), ObjType::Map)
            .unwrap();
        b.doc.put(&obj, "kind", v.kind.as_str()).unwrap();
        b.doc.put(&obj, "at", at.to_rfc3339()).unwrap();
        b.doc.put(&obj, "by", "李华").unwrap();
        b.doc.put(&obj, "household", hh.as_str()).unwrap();
        b.doc.put(&obj, "member", m.as_str()).unwrap();
        b.doc.put(&obj, "outcome", "体温正常").unwrap();
        b.doc.put(&obj, "temperature", 36.6).unwrap();
        b.commit("record visit", at.timestamp());
        let by_key = b.doc.get_changes(&before);
        assert_eq!(by_key.len(), 1);

        let ops = |c: &automerge::Change| {
            let mut ops: Vec<String> = c
                .decode()
                .operations
                .iter()
                .map(|op| format!("{:?} {:?} {:?}", op.key, op.action, op.pred))
                .collect();
            ops.sort();
            ops
        };
        assert_eq!(ops(&batched[0]), ops(&by_key[0]));
        assert_eq!(a.visit(&vid).unwrap(), b.visit(&vid).unwrap());
        // A replica of the history before takes the batched change and
        // reads the same visit.
        let mut c = CellDoc::load(&base, &ActorId::random()).unwrap();
        c.doc.apply_changes([batched[0].clone()]).unwrap();
        assert_eq!(c.visit(&vid).unwrap(), a.visit(&vid).unwrap());
        assert_eq!(c.heads(), a.heads());
    }

    /// The member-to-household hint is checked against the document: a
    /// member gone from the household it was last seen in is not found.
    #[test]
    fn a_visit_follows_the_document_not_a_stale_household_hint() {
        let (mut d, hh, m) = cell_with_member();
        let at = chrono::DateTime::parse_from_rfc3339("2025-03-01T09:30:00+08:00").unwrap();
        let mut v = NewVisit::new(VisitKind::Call, at, "李华");
        v.member_id = Some(m.clone());
        let first = new_id();
        d.record_visit(&first, v.clone()).unwrap();
        assert_eq!(d.homes.get(&m), Some(&hh));
        assert_eq!(
            d.visit(&first).unwrap().household_id.as_deref(),
            Some(hh.as_str())
        );

        // The member is removed behind the hint's back (as a merged change
        // could), then put in another household.
        let other = new_id();
        d.add_household(&other, NewHousehold::default(), 0).unwrap();
        let members = d.map(&d.household_obj(&hh).unwrap(), MEMBERS).unwrap();
        d.doc.delete(&members, m.as_str()).unwrap();
        d.commit("remove", 1);
        assert!(matches!(
            d.record_visit(&new_id(), v.clone()),
            Err(Error::NotFound { .. })
        ));
        let moved = d.map(&d.household_obj(&other).unwrap(), MEMBERS).unwrap();
        d.doc.put_object(&moved, m.as_str(), ObjType::Map).unwrap();
        d.commit("move", 2);
        let second = new_id();
        d.record_visit(&second, v).unwrap();
        assert_eq!(
            d.visit(&second).unwrap().household_id.as_deref(),
            Some(other.as_str())
        );
    }
}
