//! Property tests of the store.
//!
//! (a) Any sequence of edits, failing edits, merges from a second device,
//!     reopenings and compactions leaves the projections equal to a rebuild
//!     from the documents, and `check` finds nothing to repair.
//! (b) Replicas of one cell that edit concurrently (same fields included)
//!     and then merge in any connected order end identical: heads, view,
//!     conflicts and query answers.
//!
//! Case counts: PROPTEST_CASES (default 100 for (a)); for (b)
//! PROPTEST_CASES_CONVERGENCE, else PROPTEST_CASES (default 500).

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use rand::{Rng, SeedableRng};
use silin_core::model::*;
use silin_core::register::*;
use silin_core::{Durability, Error, Store, StoreOptions};
use std::path::Path;

fn cases(vars: &[&str], default: u32) -> u32 {
    vars.iter()
        .find_map(|v| std::env::var(v).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// One edit of a cell. Indices pick among what the replica holds at the
/// time (modulo its size), so every generated edit applies somewhere.
#[derive(Debug, Clone)]
enum Edit {
    AddHousehold(u8),
    AddMember {
        hh: u8,
        v: u8,
    },
    Member {
        m: u8,
        field: u8,
        v: u8,
    },
    Visit {
        kind: u8,
        m: Option<u8>,
        temp: Option<u8>,
        symptoms: bool,
        task: Option<u8>,
    },
    Report {
        day: u8,
        arrivals: u8,
        abnormal: u8,
        counted: bool,
    },
    AddTask {
        m: Option<u8>,
        due: Option<u8>,
    },
    TaskStatus {
        t: u8,
        status: u8,
    },
    Rename(u8),
    Lead(u8),
    /// A household and its members in one batch.
    Batch(u8),
    // Layout 2's records.
    Arrive {
        hh: u8,
        m: Option<u8>,
        risk: u8,
        day: u8,
    },
    Dose {
        m: u8,
        number: Option<u8>,
        day: Option<u8>,
    },
    Test {
        m: u8,
        day: u8,
        result: u8,
    },
    Errand {
        hh: u8,
    },
    CompleteErrand(u8),
    HandOver(u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => any::<u8>().prop_map(Edit::AddHousehold),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(hh, v)| Edit::AddMember { hh, v }),
        6 => (any::<u8>(), 0..19u8, any::<u8>()).prop_map(|(m, field, v)| Edit::Member { m, field, v }),
        3 => (0..5u8, proptest::option::of(any::<u8>()), proptest::option::of(0..4u8), any::<bool>(), proptest::option::weighted(0.2, any::<u8>()))
            .prop_map(|(kind, m, temp, symptoms, task)| Edit::Visit { kind, m, temp, symptoms, task }),
        2 => (0..3u8, 0..3u8, 0..2u8, any::<bool>())
            .prop_map(|(day, arrivals, abnormal, counted)| Edit::Report { day, arrivals, abnormal, counted }),
        1 => (proptest::option::of(any::<u8>()), proptest::option::of(0..3u8)).prop_map(|(m, due)| Edit::AddTask { m, due }),
        1 => (any::<u8>(), 0..3u8).prop_map(|(t, status)| Edit::TaskStatus { t, status }),
        1 => (0..3u8).prop_map(Edit::Rename),
        1 => (0..3u8).prop_map(Edit::Lead),
        1 => (1..3u8).prop_map(Edit::Batch),
        2 => (any::<u8>(), proptest::option::of(any::<u8>()), 0..3u8, 0..3u8)
            .prop_map(|(hh, m, risk, day)| Edit::Arrive { hh, m, risk, day }),
        1 => (any::<u8>(), proptest::option::of(1..4u8), proptest::option::of(0..3u8))
            .prop_map(|(m, number, day)| Edit::Dose { m, number, day }),
        1 => (any::<u8>(), 0..3u8, 0..3u8).prop_map(|(m, day, result)| Edit::Test { m, day, result }),
        1 => any::<u8>().prop_map(|hh| Edit::Errand { hh }),
        1 => any::<u8>().prop_map(Edit::CompleteErrand),
        1 => any::<u8>().prop_map(Edit::HandOver),
    ]
}

fn pick<T: Clone>(items: &[T], i: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[i as usize % items.len()].clone())
}

const NAMES: [&str; 3] = ["王芳", "李强", "张秀英"];
const PHONES: [&str; 3] = ["13800000001", "13900000002", "15100000003"];

fn d(n: u8) -> NaiveDate {
    day(2026, 11, 20) + chrono::Days::new(u64::from(n))
}

use chrono::NaiveDate;

/// A valid value for every member field; `v` picks among a few, including
/// clearing, so replicas often write the same field.
fn member_edit(field: u8, v: u8) -> MemberEdit {
    let opt = |v: u8| v % 3 != 0;
    let i = (v % 3) as usize;
    match field {
        0 => MemberEdit::Name(NAMES[i].into()),
        1 => MemberEdit::Sex(Sex::ALL[i]),
        2 => MemberEdit::BirthYear(opt(v).then_some(1940 + i64::from(v % 3) * 10)),
        3 => MemberEdit::Phone(opt(v).then(|| PHONES[i].into())),
        4 => MemberEdit::Relation(opt(v).then(|| ["", "户主", "配偶"][i].into())),
        5 => MemberEdit::Residence(Residence::ALL[i]),
        6 => MemberEdit::ArrivalFrom(opt(v).then(|| ["", "兰州", "西安"][i].into())),
        7 => MemberEdit::ArrivalRiskArea(v % 2 == 0),
        8 => MemberEdit::ArrivalDate(opt(v).then(|| d(v % 3))),
        9 => MemberEdit::MonitoringSince(opt(v).then(|| d(v % 3))),
        10 => MemberEdit::MonitoringUntil(opt(v).then(|| d(5 + v % 3))),
        11 => MemberEdit::VaccinationDoses(i64::from(v % 4)),
        12 => MemberEdit::VaccinationLast(opt(v).then(|| d(v % 3))),
        13 => MemberEdit::TestDate(opt(v).then(|| d(v % 3))),
        14 => MemberEdit::TestResult(opt(v).then(|| TestResult::ALL[i])),
        15 => MemberEdit::Vulnerable(Vulnerability::ALL[(v / 2) as usize % 5], v % 2 == 0),
        17 => MemberEdit::AwayAt(opt(v).then(|| ["", "深圳", "兰州"][i].into())),
        18 => MemberEdit::Referred(v % 2 == 0),
        _ => MemberEdit::IdNumber(opt(v).then(|| {
            resident_id(
                [
                    "62122819560312004",
                    "62122819560312004",
                    "62122819800101003",
                ][i],
            )
        })),
    }
}

fn member_ids(v: &CellView) -> Vec<String> {
    members(v).iter().map(|m| m.id.clone()).collect()
}

/// Applies `e` to `cell` in `s`. Every generated edit is valid.
fn apply(s: &Store, cell: &str, e: &Edit) -> silin_core::Result<()> {
    let view = s.cell(cell)?;
    let hhs: Vec<String> = view.households.iter().map(|h| h.id.clone()).collect();
    let ms = member_ids(&view);
    let tasks: Vec<String> = view.tasks.iter().map(|t| t.id.clone()).collect();
    let new_member = |v: u8| NewMember {
        name: NAMES[v as usize % 3].into(),
        phone: (v % 2 == 0).then(|| PHONES[v as usize % 3].into()),
        vulnerable: if v % 4 == 1 {
            vec![Vulnerability::Elderly]
        } else {
            vec![]
        },
        ..Default::default()
    };
    match e {
        Edit::AddHousehold(v) => {
            s.add_household(
                cell,
                NewHousehold {
                    address: Some(format!("{v}号")),
                    door: None,
                    phone: (v % 2 == 0).then(|| PHONES[*v as usize % 3].into()),
                },
            )?;
        }
        Edit::AddMember { hh, v } => {
            if let Some(hh) = pick(&hhs, *hh) {
                s.add_member(&hh, new_member(*v), today())?;
            }
        }
        Edit::Member { m, field, v } => {
            if let Some(m) = pick(&ms, *m) {
                s.edit_member(&m, &[member_edit(*field, *v)])?;
            }
        }
        Edit::Visit {
            kind: k,
            m,
            temp,
            symptoms,
            task,
        } => {
            let member = m.and_then(|m| pick(&ms, m));
            let mut kind = VisitKind::ALL[*k as usize];
            if kind == VisitKind::HealthCheck && member.is_none() {
                kind = VisitKind::DoorKnock;
            }
            let mut v = NewVisit::new(kind, at(d(*k % 3), 9, 0), "lead");
            v.member_id = member;
            v.temperature = temp.map(|t| [36.5, 37.5, 38.2, 35.1][t as usize]);
            v.symptoms = symptoms.then(|| "咳嗽".into());
            v.task_id = task.and_then(|t| pick(&tasks, t));
            s.record_visit(cell, v)?;
        }
        Edit::Report {
            day,
            arrivals,
            abnormal,
            counted,
        } => s.submit_report(
            cell,
            NewReport {
                date: d(*day),
                by: "lead".into(),
                at: at(d(*day), 20, 0),
                arrivals: i64::from(*arrivals),
                under_monitoring: (!counted).then_some(1),
                abnormal: i64::from(*abnormal),
                errands: (!counted).then_some(0),
                note: (*arrivals > 0).then(|| "有返乡".into()),
            },
        )?,
        Edit::AddTask { m, due } => {
            let member = m.and_then(|m| pick(&ms, m));
            s.add_task(
                cell,
                "送药",
                None,
                member.as_deref(),
                due.map(d),
                at(d(0), 8, 0),
            )?;
        }
        Edit::TaskStatus { t, status } => {
            if let Some(t) = pick(&tasks, *t) {
                s.set_task_status(cell, &t, TaskStatus::ALL[*status as usize])?;
            }
        }
        Edit::Rename(v) => s.rename_cell(cell, ["一组", "东关一组", "第三联户"][*v as usize])?,
        Edit::Lead(v) => s.set_lead(cell, ["王建国", "李秀英", "张三"][*v as usize])?,
        Edit::Batch(n) => s.edit_batch(cell, |doc| {
            let hh = new_id();
            doc.add_household(&hh, NewHousehold::default(), 1)?;
            for i in 0..*n {
                doc.add_member(&hh, &new_id(), new_member(i), today(), 1)?;
            }
            Ok(())
        })?,
        Edit::Arrive { hh, m, risk, day } => {
            let Some(hh) = pick(&hhs, *hh) else {
                return Ok(());
            };
            let in_hh: Vec<String> = view
                .households
                .iter()
                .find(|h| h.id == hh)
                .map(|h| h.members.iter().map(|m| m.id.clone()).collect())
                .unwrap_or_default();
            let person = match m.and_then(|m| pick(&in_hh, m)) {
                Some(id) => Arriving::Member(id),
                None => Arriving::New(new_member(*risk)),
            };
            s.record_arrival(NewArrival {
                household_id: hh,
                person,
                kind: ArrivalKind::ALL[*day as usize % 2],
                from: ["武汉", "西安", "兰州"][*risk as usize].into(),
                risk: RiskLevel::ALL[*risk as usize],
                date: d(*day),
                means: Some(Means::ALL[*day as usize]),
                by: "lead".into(),
                at: at(d(*day), 10, 0),
            })?;
        }
        Edit::Dose { m, number, day } => {
            if let Some(m) = pick(&ms, *m) {
                s.add_dose(NewDose {
                    member_id: m,
                    number: number.map(i64::from),
                    date: day.map(d),
                    kind: Some("灭活".into()),
                    by: "lead".into(),
                })?;
            }
        }
        Edit::Test { m, day, result } => {
            if let Some(m) = pick(&ms, *m) {
                s.add_test(NewTest {
                    member_id: m,
                    date: d(*day),
                    kind: TestKind::ALL[*result as usize],
                    result: TestResult::ALL[*result as usize],
                    by: "lead".into(),
                })?;
            }
        }
        Edit::Errand { hh } => {
            if let Some(hh) = pick(&hhs, *hh) {
                s.request_errand(NewErrand {
                    household_id: hh,
                    member_id: None,
                    request: "买药".into(),
                    due: Some(d(1)),
                    at: at(d(0), 8, 0),
                })?;
            }
        }
        Edit::CompleteErrand(e) => {
            let open: Vec<String> = s
                .with_doc(cell, |d| Ok(d.errands()))?
                .into_iter()
                .filter(|e| e.status == ErrandStatus::Requested)
                .map(|e| e.id)
                .collect();
            if let Some(e) = pick(&open, *e) {
                s.complete_errand(cell, &e, "lead", None)?;
            }
        }
        Edit::HandOver(m) => {
            if let Some(m) = pick(&ms, *m) {
                s.hand_over(cell, &m, "worker")?;
            }
        }
    }
    Ok(())
}

/// Edits that must fail, and leave the cell as it was.
#[derive(Debug, Clone, Copy)]
enum Bad {
    UnknownMember,
    UnknownHousehold,
    Temperature,
    HealthCheckWithoutMember,
    Phone,
    IdNumber,
    NonUuid,
    BatchFailingLate,
    UnknownTask,
}

fn bad() -> impl Strategy<Value = Bad> {
    prop_oneof![
        Just(Bad::UnknownMember),
        Just(Bad::UnknownHousehold),
        Just(Bad::Temperature),
        Just(Bad::HealthCheckWithoutMember),
        Just(Bad::Phone),
        Just(Bad::IdNumber),
        Just(Bad::NonUuid),
        Just(Bad::BatchFailingLate),
        Just(Bad::UnknownTask),
    ]
}

fn apply_bad(s: &Store, cell: &str, b: Bad) -> silin_core::Result<()> {
    let view = s.cell(cell)?;
    let ms = member_ids(&view);
    let visit = |k| NewVisit::new(k, at(d(0), 9, 0), "lead");
    match b {
        Bad::UnknownMember => s.edit_member(&new_id(), &[MemberEdit::Sex(Sex::Male)]),
        Bad::UnknownHousehold => s
            .add_member(
                &new_id(),
                NewMember {
                    name: "x".into(),
                    ..Default::default()
                },
                today(),
            )
            .map(drop),
        Bad::Temperature => {
            let mut v = visit(VisitKind::DoorKnock);
            v.temperature = Some(43.5);
            s.record_visit(cell, v).map(drop)
        }
        Bad::HealthCheckWithoutMember => s
            .record_visit(cell, visit(VisitKind::HealthCheck))
            .map(drop),
        Bad::Phone => match ms.first() {
            Some(m) => s.edit_member(
                m,
                &[
                    MemberEdit::Name("新名".into()),
                    MemberEdit::Phone(Some("1234".into())),
                ],
            ),
            None => s
                .add_household(
                    cell,
                    NewHousehold {
                        phone: Some("1234".into()),
                        ..Default::default()
                    },
                )
                .map(drop),
        },
        Bad::IdNumber => match view.households.first() {
            Some(h) => s
                .add_member(
                    &h.id,
                    NewMember {
                        name: "x".into(),
                        id_number: Some("110105194912310021".into()),
                        ..Default::default()
                    },
                    today(),
                )
                .map(drop),
            None => s.rename_cell(cell, " "),
        },
        Bad::NonUuid => {
            let mut v = visit(VisitKind::Call);
            v.household_id = Some("household-1".into());
            s.record_visit(cell, v).map(drop)
        }
        Bad::BatchFailingLate => s.edit_batch(cell, |doc| {
            doc.rename("批量改名", 1)?;
            let hh = new_id();
            doc.add_household(&hh, NewHousehold::default(), 1)?;
            doc.set_task_status(&new_id(), TaskStatus::Done, 1)
                .map(drop)
        }),
        Bad::UnknownTask => s.set_task_status(cell, &new_id(), TaskStatus::Done),
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// An edit on this device.
    Local(u8, Edit),
    /// An edit on the second device's copy (taken first if it has none).
    Remote(u8, Edit),
    /// This device takes the second device's copy: whole, or as changes.
    Pull(u8, bool),
    /// The second device takes this device's copy.
    Push(u8),
    Fail(u8, Bad),
    Reopen,
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..2u8, edit()).prop_map(|(c, e)| Op::Local(c, e)),
        3 => (0..2u8, edit()).prop_map(|(c, e)| Op::Remote(c, e)),
        2 => (0..2u8, any::<bool>()).prop_map(|(c, w)| Op::Pull(c, w)),
        1 => (0..2u8).prop_map(Op::Push),
        2 => (0..2u8, bad()).prop_map(|(c, b)| Op::Fail(c, b)),
        1 => Just(Op::Reopen),
        1 => Just(Op::Compact),
    ]
}

fn options(compact_after: i64) -> StoreOptions {
    StoreOptions {
        durability: Durability::Normal,
        // One decoded document for two cells: every switch reloads.
        cache_docs: 1,
        compact_after_chunks: compact_after,
        // Compaction inside the write, as before issue 15: this test reads
        // the store's stats before and after each refused op, and the
        // default background compaction may change them in between
        // (core/tests/compaction.rs tests that mode).
        compaction: silin_core::store::Compaction::InWrite,
        ..Default::default()
    }
}

fn ensure_copy(from: &Store, to: &Store, cell: &str) {
    if !to.has_cell(cell).unwrap() {
        to.merge_bytes(&from.save_doc(cell).unwrap()).unwrap();
    }
}

fn run_ops(dir: &Path, ops: &[Op]) -> Result<(), TestCaseError> {
    let pa = dir.join("a.db");
    let mut a = Store::open(&pa, options(5)).unwrap();
    let b = Store::open(dir.join("b.db"), options(1000)).unwrap();
    let cells = [
        a.create_cell("一组", &path("c/t/v/g1"), None).unwrap(),
        a.create_cell("二组", &path("c/t/v/g2"), Some("李"))
            .unwrap(),
    ];
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Local(c, e) => apply(&a, &cells[*c as usize], e).unwrap(),
            Op::Remote(c, e) => {
                let cell = &cells[*c as usize];
                ensure_copy(&a, &b, cell);
                apply(&b, cell, e).unwrap();
            }
            Op::Pull(c, whole) => {
                let cell = &cells[*c as usize];
                if b.has_cell(cell).unwrap() {
                    if *whole {
                        a.merge_bytes(&b.save_doc(cell).unwrap()).unwrap();
                    } else {
                        let changes = b.changes_after(cell, &a.heads(cell).unwrap()).unwrap();
                        a.apply_changes(cell, &changes).unwrap();
                    }
                }
            }
            Op::Push(c) => {
                let cell = &cells[*c as usize];
                ensure_copy(&a, &b, cell);
                b.merge_bytes(&a.save_doc(cell).unwrap()).unwrap();
            }
            Op::Fail(c, bad) => {
                let cell = &cells[*c as usize];
                let (heads, view, stats) = (
                    a.heads(cell).unwrap(),
                    a.cell(cell).unwrap(),
                    format!("{:?}", a.stats().unwrap()),
                );
                let r = apply_bad(&a, cell, *bad);
                prop_assert!(
                    matches!(r, Err(Error::Invalid(_) | Error::NotFound { .. })),
                    "op {i} {bad:?}: {r:?}"
                );
                prop_assert_eq!(
                    a.heads(cell).unwrap(),
                    heads,
                    "op {} {:?} moved the heads",
                    i,
                    bad
                );
                prop_assert_eq!(a.cell(cell).unwrap(), view);
                prop_assert_eq!(format!("{:?}", a.stats().unwrap()), stats);
            }
            Op::Reopen => {
                let views: Vec<_> = cells.iter().map(|c| a.cell(c).unwrap()).collect();
                drop(a);
                a = Store::open(&pa, options(5)).unwrap();
                for (c, v) in cells.iter().zip(&views) {
                    prop_assert_eq!(
                        &a.cell(c).unwrap(),
                        v,
                        "op {}: cell changed across reopen",
                        i
                    );
                }
            }
            Op::Compact => a.compact_all().unwrap(),
        }
        prop_assert!(
            a.projections_match_docs().unwrap(),
            "projections disagree after op {i}: {op:?}"
        );
    }
    let report = a.check().unwrap();
    prop_assert!(report.ok && report.repaired.is_empty(), "{report:?}");
    prop_assert!(b.projections_match_docs().unwrap());
    // And from the file alone.
    let views: Vec<_> = cells.iter().map(|c| a.cell(c).unwrap()).collect();
    drop(a);
    let a = Store::open(&pa, options(5)).unwrap();
    prop_assert!(a.check().unwrap().ok);
    for (c, v) in cells.iter().zip(&views) {
        prop_assert_eq!(&a.cell(c).unwrap(), v);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(&["PROPTEST_CASES"], 100),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn projections_always_match_documents(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        run_ops(dir.path(), &ops)?;
    }
}

#[derive(Debug, Clone)]
enum Step {
    Edit(usize, Edit),
    /// `to` takes what `from` has, whole or as changes after `to`'s heads.
    Sync {
        from: usize,
        to: usize,
        whole: bool,
    },
}

fn replicas_and_steps() -> impl Strategy<Value = (usize, Vec<Step>, u64)> {
    (2..=5usize).prop_flat_map(|n| {
        let step = prop_oneof![
            6 => (0..n, edit()).prop_map(|(r, e)| Step::Edit(r, e)),
            1 => (0..n, 0..n, any::<bool>()).prop_map(|(from, to, whole)| Step::Sync { from, to, whole }),
        ];
        (Just(n), proptest::collection::vec(step, 1..30), any::<u64>())
    })
}

fn sync(from: &Store, to: &Store, cell: &str, whole: bool) {
    if whole {
        to.merge_bytes(&from.save_doc(cell).unwrap()).unwrap();
    } else {
        let changes = from.changes_after(cell, &to.heads(cell).unwrap()).unwrap();
        to.apply_changes(cell, &changes).unwrap();
    }
}

/// The value a document shows at a `/`-separated path of map keys, written
/// as `Conflict` writes values.
/// The value a path shows: a record two devices made apart (a day's
/// report) reads field by field across its objects, the winner's first.
fn shown_value(doc: &automerge::AutoCommit, path: &str) -> Option<String> {
    use automerge::{ObjType, ReadDoc, ScalarValue, Value};
    let mut objs = vec![automerge::ROOT];
    let mut last = None;
    for key in path.split('/') {
        let (obj, (v, _)) = objs
            .iter()
            .find_map(|o| doc.get(o, key).ok().flatten().map(|got| (o.clone(), got)))?;
        last = Some(match &v {
            Value::Object(t) => format!("<{t:?}>"),
            Value::Scalar(sv) => match sv.as_ref() {
                ScalarValue::Str(s) => s.to_string(),
                other => other.to_string(),
            },
        });
        let mut all: Vec<_> = doc
            .get_all(&obj, key)
            .ok()?
            .into_iter()
            .filter(|(v, _)| matches!(v, Value::Object(ObjType::Map)))
            .map(|(_, id)| id)
            .collect();
        all.reverse();
        objs = all;
    }
    last
}

fn sorted_heads(s: &Store, cell: &str) -> Vec<automerge::ChangeHash> {
    let mut h = s.heads(cell).unwrap();
    h.sort();
    h
}

/// What the query tables answer, for comparing replicas.
fn answers(s: &Store) -> String {
    let mut out = String::new();
    for n in 0..8 {
        out += &format!("{:?}", s.under_monitoring(d(n)).unwrap());
        out += &format!("{:?}", s.monitoring_ends(d(n)).unwrap());
        out += &format!("{:?}", s.visits_on(d(n)).unwrap());
        out += &format!("{:?}", s.rollup(d(n), Level::Group).unwrap());
        // The lead's day: checks due and missed, the away list, errands,
        // the report's draft, each member's health.
        for c in s.cells(&[]).unwrap() {
            out += &format!("{:?}", s.lead_day(&c.id, d(n), 3).unwrap());
        }
    }
    out += &format!(
        "{:?}{:?}",
        s.vulnerable_members().unwrap(),
        s.cells(&[]).unwrap()
    );
    out
}

fn converge(n: usize, steps: &[Step], seed: u64) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<Store> = (0..n)
        .map(|i| {
            Store::open(
                dir.path().join(format!("r{i}.db")),
                StoreOptions {
                    durability: Durability::Normal,
                    ..Default::default()
                },
            )
            .unwrap()
        })
        .collect();
    // The lead's device sets the cell up; every replica starts from it.
    let s0 = &stores[0];
    let cell = s0
        .create_cell("一组", &path("c/t/v/g"), Some("王建国"))
        .unwrap();
    let hh = s0.add_household(&cell, NewHousehold::default()).unwrap();
    for name in ["王芳", "李强"] {
        s0.add_member(
            &hh,
            NewMember {
                name: name.into(),
                ..Default::default()
            },
            today(),
        )
        .unwrap();
    }
    s0.add_task(&cell, "送药", Some(&hh), None, None, at(d(0), 8, 0))
        .unwrap();
    let start = s0.save_doc(&cell).unwrap();
    for s in &stores[1..] {
        s.merge_bytes(&start).unwrap();
    }

    for step in steps {
        match step {
            Step::Edit(r, e) => apply(&stores[*r], &cell, e).unwrap(),
            Step::Sync { from, to, whole } => {
                if from != to {
                    sync(&stores[*from], &stores[*to], &cell, *whole);
                }
            }
        }
    }

    // Gossip in a random order (pairs drawn from the seed) until everyone
    // has everything.
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let all_equal = |stores: &[Store]| {
        let h0 = sorted_heads(&stores[0], &cell);
        stores[1..].iter().all(|s| sorted_heads(s, &cell) == h0)
    };
    let mut rounds = 0;
    while !all_equal(&stores) {
        let from = rng.random_range(0..n);
        let to = (from + rng.random_range(1..n)) % n;
        sync(&stores[from], &stores[to], &cell, rng.random_bool(0.5));
        rounds += 1;
        prop_assert!(rounds < 10_000, "gossip did not converge");
    }

    let view0 = stores[0].cell(&cell).unwrap();
    let conflicts0 = stores[0].conflicts(&cell).unwrap();
    let answers0 = answers(&stores[0]);
    for (i, s) in stores.iter().enumerate() {
        prop_assert_eq!(
            &s.cell(&cell).unwrap(),
            &view0,
            "replica {} shows a different cell",
            i
        );
        prop_assert_eq!(
            &s.conflicts(&cell).unwrap(),
            &conflicts0,
            "replica {} lists other conflicts",
            i
        );
        prop_assert!(
            s.projections_match_docs().unwrap(),
            "replica {} projections",
            i
        );
        prop_assert_eq!(
            answers(s),
            answers0.clone(),
            "replica {} answers queries differently",
            i
        );
    }
    // Each conflict lists the value the document shows first.
    let shown = stores[0]
        .with_doc(&cell, |doc| {
            Ok(conflicts0
                .iter()
                .map(|c| shown_value(doc.automerge(), &c.path))
                .collect::<Vec<_>>())
        })
        .unwrap();
    for (c, v) in conflicts0.iter().zip(shown) {
        prop_assert!(c.values.len() >= 2, "{:?}", c);
        prop_assert_eq!(Some(&c.values[0]), v.as_ref(), "{:?}", c);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(&["PROPTEST_CASES_CONVERGENCE", "PROPTEST_CASES"], 500),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicas_converge_whatever_the_merge_order((n, steps, seed) in replicas_and_steps()) {
        converge(n, &steps, seed)?;
    }
}

// ---- (c) sync sessions --------------------------------------------------
//
// 3–6 enrolled replicas of two cells — a hub over everything, grid workers
// over the village, leads over one cell each — make random edits and run
// sync sessions in random pairs, some cut after a random message (the
// message lost, the session abandoned). Once every replica has synced with
// the hub twice (a connected schedule), every replica that may hold a cell
// holds it, with the same heads, view and conflicts as the hub; no replica
// holds a cell outside its scope.
//
// Case count: PROPTEST_CASES_SYNC, else PROPTEST_CASES (default 300).

#[derive(Debug, Clone)]
enum SyncStep {
    Edit { r: usize, cell: u8, e: Edit },
    Session { a: usize, b: usize, cut: Option<u8> },
}

/// Replica roles: 0 is the hub; then a mix of grid workers and leads.
fn sync_plan() -> impl Strategy<Value = (Vec<u8>, Vec<SyncStep>)> {
    (3..=6usize).prop_flat_map(|n| {
        let step = prop_oneof![
            5 => (0..n, 0..2u8, edit()).prop_map(|(r, cell, e)| SyncStep::Edit { r, cell, e }),
            2 => (0..n, 0..n, proptest::option::weighted(0.3, 0..6u8))
                .prop_map(|(a, b, cut)| SyncStep::Session { a, b, cut }),
        ];
        (
            proptest::collection::vec(0..3u8, n - 1),
            proptest::collection::vec(step, 1..40),
        )
    })
}

/// Runs a session from `a` to `b`; with `cut`, drops the message at that
/// index and abandons the session. Refusals must not happen between
/// enrolled peers of one office.
fn session(a: &Store, b: &Store, cut: Option<u8>) -> Result<(), TestCaseError> {
    use silin_core::sync::Session;
    let (mut sa, mut msg) = Session::initiate(a).unwrap();
    let mut sb = Session::accept(b).unwrap();
    let mut sent = 0u8;
    loop {
        if cut == Some(sent) {
            return Ok(());
        }
        let reply = sb
            .receive(b, &msg)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let reply = reply.expect("a responder always answers");
        sent += 1;
        if cut == Some(sent) {
            return Ok(());
        }
        match sa
            .receive(a, &reply)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
        {
            Some(next) => msg = next,
            None => return Ok(()),
        }
        sent += 1;
    }
}

fn sessions_converge(roles: &[u8], steps: &[SyncStep]) -> Result<(), TestCaseError> {
    use silin_core::identity::Role;
    let dir = tempfile::tempdir().unwrap();
    let open = |i: usize| {
        Store::open(
            dir.path().join(format!("r{i}.db")),
            StoreOptions {
                durability: Durability::Normal,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let o = office();
    let hub = open(0);
    enrol(&hub, &o, Role::Office, &["*"]);
    let mut cells = Vec::new();
    for name in ["一组", "二组"] {
        let cell = hub
            .create_cell(name, &path("c/t/v/g"), Some("王建国"))
            .unwrap();
        let hh = hub.add_household(&cell, NewHousehold::default()).unwrap();
        for m in ["王芳", "李强"] {
            hub.add_member(
                &hh,
                NewMember {
                    name: m.into(),
                    ..Default::default()
                },
                today(),
            )
            .unwrap();
        }
        hub.add_task(&cell, "送药", Some(&hh), None, None, at(d(0), 8, 0))
            .unwrap();
        cells.push(cell);
    }
    let mut stores = vec![hub];
    // Which cells each replica may hold.
    let mut covers: Vec<Vec<bool>> = vec![vec![true, true]];
    for (i, role) in roles.iter().enumerate() {
        let s = open(i + 1);
        match role {
            0 => {
                enrol(&s, &o, Role::GridWorker, &["c/t/v"]);
                covers.push(vec![true, true]);
            }
            r => {
                let c = usize::from(*r - 1);
                enrol(&s, &o, Role::Lead, &[&cells[c]]);
                covers.push(vec![c == 0, c == 1]);
            }
        }
        stores.push(s);
    }
    for step in steps {
        match step {
            SyncStep::Edit { r, cell, e } => {
                let cell = &cells[usize::from(*cell)];
                if stores[*r].has_cell(cell).unwrap() {
                    // A lead's phone refuses what its role may not do (a
                    // rename, a recorded resident ID): nothing is written,
                    // so nothing is left that no peer would take.
                    match apply(&stores[*r], cell, e) {
                        Ok(_) => {}
                        Err(silin_core::Error::NotAllowed(rule)) => {
                            prop_assert_eq!(rule.role, Role::Lead, "{}", rule)
                        }
                        Err(other) => panic!("{other}"),
                    }
                }
            }
            SyncStep::Session { a, b, cut } => {
                if a != b {
                    session(&stores[*a], &stores[*b], *cut)?;
                }
            }
        }
    }
    // A connected schedule: everyone to the hub, three times round. A lead
    // relaying a grid worker's change its own role may not make has that
    // cell refused until the worker's own sync brings the change (round
    // one); the lead's edits then go up in round two, and reach everyone in
    // round three.
    for _ in 0..3 {
        for i in 1..stores.len() {
            session(&stores[i], &stores[0], None)?;
        }
    }
    for (c, cell) in cells.iter().enumerate() {
        let heads = sorted_heads(&stores[0], cell);
        let view = stores[0].cell(cell).unwrap();
        let conflicts = stores[0].conflicts(cell).unwrap();
        for (i, s) in stores.iter().enumerate().skip(1) {
            prop_assert_eq!(
                s.has_cell(cell).unwrap(),
                covers[i][c],
                "replica {} cell {}",
                i,
                c
            );
            if covers[i][c] {
                prop_assert_eq!(
                    sorted_heads(s, cell),
                    heads.clone(),
                    "replica {} cell {}",
                    i,
                    c
                );
                prop_assert_eq!(&s.cell(cell).unwrap(), &view);
                prop_assert_eq!(&s.conflicts(cell).unwrap(), &conflicts);
            }
        }
    }
    for s in &stores {
        prop_assert!(s.projections_match_docs().unwrap());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(&["PROPTEST_CASES_SYNC", "PROPTEST_CASES"], 300),
        max_shrink_iters: 1000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn sessions_converge_whatever_the_topology_and_interruptions((roles, steps) in sync_plan()) {
        sessions_converge(&roles, &steps)?;
    }
}
