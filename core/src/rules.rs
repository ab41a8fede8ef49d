//! Write rules: what each role may change in a cell through sync.
//!
//! A peer's changes are not trusted for what they claim about themselves.
//! Every replica works out what a batch of changes *did* to its own copy
//! (automerge's diff between the heads it held and the heads after
//! applying them on a scratch copy) and checks each effect against the
//! table in [`lowest_role`], for the role of the device that handed the
//! changes over. The check needs no server: a lead's phone, a grid worker's
//! phone and the hub each refuse the same things.
//!
//! Attribution: a batch is judged against the sender, the enrolled device
//! whose certificate and signature opened the session or sealed the bundle.
//! automerge's actor ids are not bound to keys, so the author a change
//! names is a claim; the device that hands it over vouches for it. Roles
//! nest (lead ⊂ grid worker ⊂ office ⊂ county, each within its scope), so
//! a relay can pass on what anyone below it wrote, and never launders a
//! change it could not have made itself. See doc/SECURITY.md for the cost.

use crate::cell::{
    made_by_layout, ARRIVALS, DOSES, ERRANDS, HOUSEHOLDS, ID_NUMBER, LEADS, MEMBERS, NOTICES,
    POLICY, REPORTS, SCHEMA, TASKS, TESTS, VISITS,
};
use crate::identity::Role;
use automerge::{ChangeHash, ObjId, Prop, ReadDoc, ScalarValue, Value, ROOT};
use std::collections::BTreeSet;

/// A part of a cell a change can touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// The document's own structure: unknown root keys, replacing a
    /// collection, a schema moved anywhere but forward to this build's.
    Layout,
    /// Bringing an older layout forward (schema up to this build's, a
    /// missing collection created).
    Migration,
    /// `cell.id` and `cell.path`: which cell this is and where it belongs.
    CellIdentity,
    /// `cell.name` and `cell.lead`.
    CellDetails,
    Household,
    Member,
    /// A member's resident ID once one is recorded.
    ResidentId,
    Visit,
    Report,
    /// A task's title, target, due date or creation time.
    Task,
    TaskStatus,
    /// An arrival recorded at the door (layout 2).
    Arrival,
    /// A vaccine dose or a test in a member's history.
    HealthRecord,
    /// An errand asked for, done or called off.
    Errand,
    /// A lead householder taking the cell over.
    LeadTerm,
    /// The office's monitoring and reporting policy.
    Policy,
    /// A notice the office sends to the cells of a region.
    Notice,
    /// Whether a household has read a notice or had it relayed.
    NoticeStatus,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Layout => "the document layout",
            Part::Migration => "the layout version",
            Part::CellIdentity => "the cell's id or region",
            Part::CellDetails => "the cell's name or lead",
            Part::Household => "a household",
            Part::Member => "a member",
            Part::ResidentId => "a recorded resident ID",
            Part::Visit => "a visit",
            Part::Report => "a daily report",
            Part::Task => "a task",
            Part::TaskStatus => "a task's status",
            Part::Arrival => "an arrival",
            Part::HealthRecord => "a dose or test record",
            Part::Errand => "an errand",
            Part::LeadTerm => "the cell's lead householder",
            Part::Policy => "the monitoring policy",
            Part::Notice => "a notice",
            Part::NoticeStatus => "a household's notice status",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Act {
    Create,
    Edit,
    Delete,
}

impl Act {
    pub fn as_str(self) -> &'static str {
        match self {
            Act::Create => "create",
            Act::Edit => "change",
            Act::Delete => "delete",
        }
    }
}

/// One effect of a batch of changes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Touch {
    pub part: Part,
    pub act: Act,
    /// The household, member, visit or task id, or the report's day.
    pub what: Option<String>,
}

impl std::fmt::Display for Touch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.act.as_str(), self.part.as_str())?;
        if let Some(w) = &self.what {
            write!(f, " ({w})")?;
        }
        Ok(())
    }
}

/// Why a batch was refused: the first effect its sender's role may not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {} may not {touch}{}", role.as_str(), match lowest { Some(r) => format!("; only a {} or above may", r.as_str()), None => "; no device may, through sync".to_string() })]
pub struct RuleError {
    pub role: Role,
    pub touch: Touch,
    /// The lowest role that may, if any.
    pub lowest: Option<Role>,
}

fn rank(role: Role) -> u8 {
    match role {
        Role::Lead => 0,
        // A building or unit head does a grid worker's work for the cells of
        // its building or unit; its scope says which.
        Role::GridWorker | Role::BuildingHead | Role::UnitHead => 1,
        Role::Office => 2,
        Role::County => 3,
    }
}

/// The table: the lowest role that may do `act` to `part` of a cell its
/// scope covers, or `None` when no device may through sync.
///
/// - The register (households, members, visits, reports) is the lead's to
///   keep; nothing in it is deleted through sync, so a record once synced
///   cannot be made to vanish from other replicas.
/// - Visits are a log: written once, never changed, whoever asks.
/// - A resident ID, once recorded, is corrected by a grid worker who has
///   seen the card, not by the lead. A lead may still leave an ID on a value
///   the receiver holds for it: that is how a lead whose first ID crossed a
///   grid worker's yields to it. This is the one rule whose verdict on a
///   lead's honest write can turn on a concurrent write of a higher role
///   (record ids are random, so no two devices create the same visit, dose
///   or task).
/// - Which cell a document is and where it sits never changes by sync: an
///   office moves a cell by making a new one (the store refuses any move).
///   A lead hands over a cell the receiver lacks only if its certificate
///   names that cell by id ([`may_hand_over`]).
/// - Tasks: leads create errands and close tasks; what a task asks for is
///   fixed once written.
/// - Arrivals, errands and the dose and test histories are the lead's to
///   keep like the rest of the register; a dose or test once recorded is
///   corrected by a grid worker who has seen the card or the result.
/// - Who leads a cell is the grid worker's decision, and the monitoring
///   policy the office's.
pub fn lowest_role(part: Part, act: Act) -> Option<Role> {
    use Act::*;
    use Part::*;
    match (part, act) {
        (Migration, _) => Some(Role::Lead),
        // Handing over a whole cell this replica lacks: grid workers carry
        // the office's new cells to their leads' phones.
        (CellIdentity, Create) => Some(Role::GridWorker),
        (Layout, _) | (CellIdentity, _) => None,
        (CellDetails, Create | Edit) => Some(Role::GridWorker),
        (Household | Member | Report, Create | Edit) => Some(Role::Lead),
        (ResidentId, Edit) => Some(Role::GridWorker),
        (Visit, Create) => Some(Role::Lead),
        (Task, Create) => Some(Role::Lead),
        (TaskStatus, Edit) => Some(Role::Lead),
        (Arrival | Errand, Create | Edit) => Some(Role::Lead),
        (HealthRecord, Create) => Some(Role::Lead),
        (HealthRecord, Edit) => Some(Role::GridWorker),
        (LeadTerm, Create) => Some(Role::GridWorker),
        (Policy, Create | Edit | Delete) => Some(Role::Office),
        (Notice, Create) => Some(Role::Office),
        (NoticeStatus, Create | Edit) => Some(Role::Lead),
        _ => None,
    }
}

/// Whether a sender of `role` may hand over a whole cell the receiver
/// lacks. A lead may only when its certificate names that very cell by id:
/// the office enrolled it for a cell the lead set up on its phone, and the
/// id in the signed certificate is the office's word for it.
pub fn may_hand_over(role: Role, names_cell: bool) -> Result<(), RuleError> {
    let creation = Touch {
        part: Part::CellIdentity,
        act: Act::Create,
        what: None,
    };
    if role == Role::Lead && names_cell {
        return Ok(());
    }
    check(role, &[creation])
}

/// Whether `role` may change a resident ID once recorded (else its device
/// yields where its own first one crossed another's).
pub fn may_change_resident_ids(role: Role) -> bool {
    allowed(
        role,
        &Touch {
            part: Part::ResidentId,
            act: Act::Edit,
            what: None,
        },
    )
}

pub fn allowed(role: Role, touch: &Touch) -> bool {
    lowest_role(touch.part, touch.act).is_some_and(|low| rank(role) >= rank(low))
}

/// Checks every effect against `role`; the first one refused is the reason.
pub fn check(role: Role, touches: &[Touch]) -> Result<(), RuleError> {
    match touches.iter().find(|t| !allowed(role, t)) {
        None => Ok(()),
        Some(t) => Err(RuleError {
            role,
            touch: t.clone(),
            lowest: lowest_role(t.part, t.act),
        }),
    }
}

/// What applying changes did to `doc`, from `before` to its current heads,
/// as a set of effects on the cell's parts.
///
/// `arrived` lists the changes the merge brought in when a patch touched a
/// resident ID ([`touches_resident_id`]); it may be empty otherwise.
pub fn touches<D: ReadDoc>(
    doc: &D,
    patches: &[automerge::Patch],
    before: &[ChangeHash],
    arrived: &[Arrived],
) -> BTreeSet<Touch> {
    let mut out = BTreeSet::new();
    for p in patches {
        // Every (object, key) from the root down to what the patch changed.
        let mut steps: Vec<(ObjId, Option<String>)> = p
            .path
            .iter()
            .map(|(o, prop)| (o.clone(), map_key(prop)))
            .collect();
        use automerge::PatchAction as A;
        match &p.action {
            A::PutMap { key, .. } | A::DeleteMap { key } => {
                steps.push((p.obj.clone(), Some(key.clone())))
            }
            A::Increment { prop, .. } | A::Conflict { prop } => {
                steps.push((p.obj.clone(), map_key(prop)))
            }
            // Inside a list or text: the list itself is what was touched.
            _ => {}
        }
        out.insert(classify(doc, &steps, before, arrived));
    }
    out
}

/// A change a merge brought in: which ops are its, and what it was made on.
#[derive(Debug, Clone)]
pub struct Arrived {
    actor: automerge::ActorId,
    ops: std::ops::RangeInclusive<u64>,
    deps: Vec<ChangeHash>,
    hash: ChangeHash,
}

impl From<automerge::ChangeMetadata<'_>> for Arrived {
    fn from(c: automerge::ChangeMetadata<'_>) -> Self {
        Arrived {
            actor: c.actor.into_owned(),
            ops: c.start_op..=c.max_op,
            deps: c.deps,
            hash: c.hash,
        }
    }
}

/// Whether any of `patches` touches a member's resident ID: only then do
/// the rules need the changes that arrived ([`touches`]).
pub fn touches_resident_id(patches: &[automerge::Patch]) -> bool {
    use automerge::PatchAction as A;
    patches.iter().any(|p| match &p.action {
        A::PutMap { key, .. } | A::DeleteMap { key } => key == ID_NUMBER,
        A::Conflict { prop } => matches!(prop, Prop::Map(k) if k == ID_NUMBER),
        _ => false,
    })
}

fn map_key(prop: &Prop) -> Option<String> {
    match prop {
        Prop::Map(k) => Some(k.clone()),
        Prop::Seq(_) => None,
    }
}

fn exists_before<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str, before: &[ChangeHash]) -> bool {
    matches!(doc.get_at(obj, key, before), Ok(Some(_)))
}

fn exists_now<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> bool {
    matches!(doc.get(obj, key), Ok(Some(_)))
}

/// Create, edit or delete of the entity at `obj[key]`, from whether it was
/// there before and is there now.
fn entity_act<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str, before: &[ChangeHash]) -> Act {
    match (
        exists_before(doc, obj, key, before),
        exists_now(doc, obj, key),
    ) {
        (false, _) => Act::Create,
        (true, true) => Act::Edit,
        (true, false) => Act::Delete,
    }
}

fn classify<D: ReadDoc>(
    doc: &D,
    steps: &[(ObjId, Option<String>)],
    before: &[ChangeHash],
    arrived: &[Arrived],
) -> Touch {
    let touch = |part, act, what: Option<&str>| Touch {
        part,
        act,
        what: what.map(str::to_string),
    };
    let layout = touch(Part::Layout, Act::Edit, None);
    let key = |i: usize| steps.get(i).and_then(|(_, k)| k.as_deref());
    let Some(top) = key(0) else {
        return layout;
    };
    // An entity of a collection: `coll[id]`, its act decided by existence.
    let entity = |i: usize, part: Part| -> Touch {
        let (obj, Some(id)) = &steps[i] else {
            return touch(part, Act::Edit, None);
        };
        touch(part, entity_act(doc, obj, id, before), Some(id))
    };
    match top {
        "schema" if steps.len() == 1 => {
            let old = doc
                .get_at(&ROOT, "schema", before)
                .ok()
                .flatten()
                .and_then(|(v, _)| as_int(&v))
                .unwrap_or(0);
            let new = doc
                .get(&ROOT, "schema")
                .ok()
                .flatten()
                .and_then(|(v, _)| as_int(&v));
            match new {
                // Equal: another device moved the layout forward too.
                Some(n) if n >= old && n > 0 && n <= SCHEMA => {
                    touch(Part::Migration, Act::Edit, None)
                }
                _ => layout,
            }
        }
        "cell" => match key(1) {
            Some("name" | "lead") if steps.len() == 2 => touch(Part::CellDetails, Act::Edit, None),
            _ => touch(Part::CellIdentity, Act::Edit, None),
        },
        HOUSEHOLDS | VISITS | REPORTS | TASKS if steps.len() == 1 => {
            // The collection itself: only creating a missing one (an old
            // layout brought forward) is not a rewrite of the layout.
            if exists_before(doc, &ROOT, top, before) && !made_by_layout(doc, top) {
                layout
            } else {
                touch(Part::Migration, Act::Create, None)
            }
        }
        ARRIVALS | DOSES | TESTS | ERRANDS | LEADS | POLICY | NOTICES if steps.len() == 1 => {
            // Layout 2's collections come only from its fixed change, the
            // same on every device; any other object there would shadow it.
            if made_by_layout(doc, top) {
                touch(Part::Migration, Act::Create, None)
            } else {
                layout
            }
        }
        ARRIVALS => entity(1, Part::Arrival),
        DOSES | TESTS => entity(1, Part::HealthRecord),
        ERRANDS => entity(1, Part::Errand),
        LEADS => entity(1, Part::LeadTerm),
        NOTICES => {
            let notice = entity(1, Part::Notice);
            // A household's mark, inside a notice that was there before.
            if notice.act == Act::Edit && key(2) == Some("households") && steps.len() == 4 {
                return entity(3, Part::NoticeStatus);
            }
            notice
        }
        POLICY => {
            let (obj, key) = &steps[1];
            let act = match key {
                Some(k) => entity_act(doc, obj, k, before),
                None => Act::Edit,
            };
            touch(Part::Policy, act, None)
        }
        HOUSEHOLDS => {
            let household = entity(1, Part::Household);
            if household.act != Act::Edit || key(2) != Some(MEMBERS) {
                return household;
            }
            if steps.len() == 3 {
                // Replacing an existing household's members map drops them.
                return touch(Part::Member, Act::Delete, key(1));
            }
            let member = entity(3, Part::Member);
            if member.act == Act::Edit && key(4) == Some(ID_NUMBER) && steps.len() == 5 {
                let (obj, _) = &steps[4];
                let had = doc
                    .get_at(obj, ID_NUMBER, before)
                    .ok()
                    .flatten()
                    .is_some_and(|(v, _)| !matches!(v.as_str(), Some("")));
                if had && !settles_on_held(doc, obj, before) && !settles_crossed(doc, obj, arrived)
                {
                    return touch(Part::ResidentId, Act::Edit, key(3));
                }
            }
            member
        }
        // Writing a new visit's own fields is part of creating it.
        VISITS => entity(1, Part::Visit),
        REPORTS => entity(1, Part::Report),
        TASKS => {
            let task = entity(1, Part::Task);
            if task.act == Act::Edit && key(2) == Some("status") && steps.len() == 3 {
                return touch(Part::TaskStatus, Act::Edit, key(1));
            }
            task
        }
        _ => layout,
    }
}

/// Whether a member's resident ID is left on one value that the receiver
/// already held for it, shown or in conflict: a device settling an ID two
/// devices recorded at once ([`crate::cell::CellDoc::yield_resident_ids`]),
/// not recording another. Only a value some device was allowed to record
/// can be settled on, and no conflict is left for a later write to win.
fn settles_on_held<D: ReadDoc>(doc: &D, member: &ObjId, before: &[ChangeHash]) -> bool {
    let now = doc.get_all(member, ID_NUMBER).unwrap_or_default();
    let [(Value::Scalar(value), _)] = now.as_slice() else {
        return false;
    };
    doc.get_all_at(member, ID_NUMBER, before)
        .unwrap_or_default()
        .iter()
        .any(|(held, _)| matches!(held, Value::Scalar(h) if h == value))
}

/// Whether every value the merge left for a member's resident ID was held
/// by the receiver or settles a conflict of held values: two lead phones
/// for one cell that each recorded a first ID and then yielded at once,
/// one to the other's value. A yield that reaches a receiver after the
/// other phone's yield removed the value it settles on is still taken:
/// the value was recorded by a device allowed to, and stood in a conflict
/// the yield resolves. Anything else written over a recorded ID is not.
fn settles_crossed<D: ReadDoc>(doc: &D, member: &ObjId, arrived: &[Arrived]) -> bool {
    let now = doc.get_all(member, ID_NUMBER).unwrap_or_default();
    if now.is_empty() || arrived.is_empty() {
        return false;
    }
    let mut judged = std::collections::HashMap::new();
    now.iter()
        .all(|(_, op)| settled_op(doc, member, op, arrived, &mut judged))
}

/// Whether `op`, a value of a resident ID, is one the receiver held before
/// the merge or one an arrived change wrote over a conflict of such values,
/// on one of them. `judged` remembers ops already decided, so a batch of
/// settles on settles costs one look at each.
fn settled_op<D: ReadDoc>(
    doc: &D,
    member: &ObjId,
    op: &ObjId,
    arrived: &[Arrived],
    judged: &mut std::collections::HashMap<ObjId, bool>,
) -> bool {
    let ObjId::Id(counter, actor, _) = op else {
        return false;
    };
    let Some(change) = arrived
        .iter()
        .find(|c| c.actor == *actor && c.ops.contains(counter))
    else {
        // Not brought by this merge: the receiver held it, so a device
        // allowed to wrote it.
        return true;
    };
    if let Some(&verdict) = judged.get(op) {
        return verdict;
    }
    // Decided false first, so a cycle in forged ops ends refused.
    judged.insert(op.clone(), false);
    let sources = doc
        .get_all_at(member, ID_NUMBER, &change.deps)
        .unwrap_or_default();
    let written = doc
        .get_all_at(member, ID_NUMBER, &[change.hash])
        .unwrap_or_default();
    let verdict = match written.as_slice() {
        // The change left one value, its own, over a conflict, and that
        // value is one of the conflict's.
        [(Value::Scalar(value), own)] if own == op && sources.len() >= 2 => {
            sources
                .iter()
                .any(|(v, _)| matches!(v, Value::Scalar(s) if s == value))
                && sources
                    .iter()
                    .all(|(_, src)| settled_op(doc, member, src, arrived, judged))
        }
        _ => false,
    };
    judged.insert(op.clone(), verdict);
    verdict
}

fn as_int(v: &Value<'_>) -> Option<i64> {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Int(i) => Some(*i),
            ScalarValue::Uint(u) => i64::try_from(*u).ok(),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest_so_a_relay_can_pass_on_what_those_below_it_wrote() {
        let parts = [
            Part::Layout,
            Part::Migration,
            Part::CellIdentity,
            Part::CellDetails,
            Part::Household,
            Part::Member,
            Part::ResidentId,
            Part::Visit,
            Part::Report,
            Part::Task,
            Part::TaskStatus,
            Part::Arrival,
            Part::HealthRecord,
            Part::Errand,
            Part::LeadTerm,
            Part::Policy,
            Part::Notice,
            Part::NoticeStatus,
        ];
        let roles = [Role::Lead, Role::GridWorker, Role::Office, Role::County];
        for part in parts {
            for act in [Act::Create, Act::Edit, Act::Delete] {
                let t = Touch {
                    part,
                    act,
                    what: None,
                };
                for pair in roles.windows(2) {
                    assert!(
                        !allowed(pair[0], &t) || allowed(pair[1], &t),
                        "{} may {t} but {} may not",
                        pair[0].as_str(),
                        pair[1].as_str()
                    );
                }
            }
        }
    }

    #[test]
    fn a_refusal_names_the_role_the_effect_and_who_may() {
        let t = Touch {
            part: Part::CellDetails,
            act: Act::Edit,
            what: None,
        };
        let e = check(Role::Lead, std::slice::from_ref(&t)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a lead may not change the cell's name or lead; only a grid_worker or above may"
        );
        let v = Touch {
            part: Part::Visit,
            act: Act::Edit,
            what: Some("v1".into()),
        };
        assert_eq!(
            check(Role::County, &[v]).unwrap_err().to_string(),
            "a county may not change a visit (v1); no device may, through sync"
        );
        assert!(check(Role::GridWorker, &[t]).is_ok());
    }
}
