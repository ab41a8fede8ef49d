//! Acceptance tests of the store: every edit survives closing and reopening
//! the file, bad input is refused with a typed error and writes nothing,
//! queries answer what a person would count by hand, observers fire after
//! commit, and older document layouts migrate forward.

mod common;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};
use chrono::NaiveDate;
use common::*;
use silin_core::model::*;
use silin_core::rollup::RollupRow;
use silin_core::{Error, Observer, Store};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// Drops the store, reopens the same file, and checks every cell reads the
/// same as before (and the projections agree with the documents).
fn reopen(store: Store) -> Store {
    let p = store.path().to_path_buf();
    let cells = store.cells(&[]).unwrap();
    let before: Vec<CellView> = cells.iter().map(|c| store.cell(&c.id).unwrap()).collect();
    let heads: Vec<_> = cells.iter().map(|c| store.heads(&c.id).unwrap()).collect();
    drop(store);
    let store = open(&p);
    assert_eq!(store.cells(&[]).unwrap(), cells, "cell list after reopen");
    for (i, c) in cells.iter().enumerate() {
        assert_eq!(
            store.cell(&c.id).unwrap(),
            before[i],
            "cell {} after reopen",
            c.name
        );
        assert_eq!(
            store.heads(&c.id).unwrap(),
            heads[i],
            "heads of {} after reopen",
            c.name
        );
    }
    assert!(store.projections_match_docs().unwrap());
    store
}

fn invalid_field(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::Invalid(v)) => v.field,
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

fn not_found(r: Result<impl std::fmt::Debug, Error>) -> &'static str {
    match r {
        Err(Error::NotFound { what, .. }) => what,
        other => panic!("expected Error::NotFound, got {other:?}"),
    }
}

fn store_in(dir: &tempfile::TempDir) -> (Store, PathBuf) {
    let p = dir.path().join("store.db");
    (open(&p), p)
}

fn member_of<'a>(v: &'a CellView, id: &str) -> &'a Member {
    members(v)
        .into_iter()
        .find(|m| m.id == id)
        .expect("member in view")
}

#[test]
fn every_edit_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_in(&dir);
    let region = path("两当县/城关镇/东关村/一组");
    let cell = store
        .create_cell("东关一组第3联户", &region, Some("王建国"))
        .unwrap();
    let store = reopen(store);
    let info = store.cell(&cell).unwrap().cell;
    assert_eq!(
        (info.name.as_str(), &info.path, info.lead.as_deref()),
        ("东关一组第3联户", &region, Some("王建国"))
    );
    assert_eq!(store.cell(&cell).unwrap().schema, silin_core::cell::SCHEMA);

    store.rename_cell(&cell, "东关一组第三联户").unwrap();
    store.set_lead(&cell, "李秀英").unwrap();
    let store = reopen(store);
    let info = store.cell(&cell).unwrap().cell;
    assert_eq!(
        (info.name.as_str(), info.lead.as_deref()),
        ("东关一组第三联户", Some("李秀英"))
    );

    let hh = store
        .add_household(
            &cell,
            NewHousehold {
                address: Some("东关村一组12号".into()),
                door: Some("12".into()),
                phone: Some("139 0939 1234".into()),
            },
        )
        .unwrap();
    let store = reopen(store);
    let h = &store.cell(&cell).unwrap().households[0];
    assert_eq!(h.id, hh);
    assert_eq!(h.address.as_deref(), Some("东关村一组12号"));
    assert_eq!(h.door.as_deref(), Some("12"));
    assert_eq!(h.phone.as_deref(), Some("13909391234"));

    let id_number = resident_id("62122819560312004");
    let m = store
        .add_member(
            &hh,
            NewMember {
                name: "王秀兰".into(),
                sex: Some(Sex::Female),
                birth_year: Some(1956),
                id_number: Some(id_number.clone()),
                phone: Some("13809391111".into()),
                relation: Some("户主".into()),
                residence: Some(Residence::Returned),
                vulnerable: vec![Vulnerability::Elderly, Vulnerability::Chronic],
            },
            today(),
        )
        .unwrap();
    let store = reopen(store);
    let v = store.cell(&cell).unwrap();
    let got = member_of(&v, &m);
    assert_eq!(got.name, "王秀兰");
    assert_eq!(got.household_id, hh);
    assert_eq!(got.sex, Sex::Female);
    assert_eq!(got.birth_year, Some(1956));
    assert_eq!(got.id_number.as_deref(), Some(id_number.as_str()));
    assert_eq!(got.phone.as_deref(), Some("13809391111"));
    assert_eq!(got.relation.as_deref(), Some("户主"));
    assert_eq!(got.residence, Residence::Returned);
    assert_eq!(
        got.vulnerable,
        vec![Vulnerability::Elderly, Vulnerability::Chronic]
    );
    assert_eq!(store.member(&m).unwrap(), *got);

    // Every MemberEdit variant, set to a new value; checked after reopen.
    let d1 = day(2026, 11, 20);
    let d2 = day(2026, 12, 4);
    let set = vec![
        MemberEdit::Name("王秀芝".into()),
        MemberEdit::Sex(Sex::Unknown),
        MemberEdit::BirthYear(Some(1957)),
        MemberEdit::IdNumber(Some(resident_id("62122819570101002"))),
        MemberEdit::Phone(Some("15109391234".into())),
        MemberEdit::Relation(Some("母亲".into())),
        MemberEdit::Residence(Residence::Away),
        MemberEdit::ArrivalFrom(Some("兰州市城关区".into())),
        MemberEdit::ArrivalRiskArea(true),
        MemberEdit::ArrivalDate(Some(d1)),
        MemberEdit::MonitoringSince(Some(d1)),
        MemberEdit::MonitoringUntil(Some(d2)),
        MemberEdit::VaccinationDoses(3),
        MemberEdit::VaccinationLast(Some(day(2026, 6, 1))),
        MemberEdit::TestDate(Some(d1)),
        MemberEdit::TestResult(Some(TestResult::Negative)),
        MemberEdit::Vulnerable(Vulnerability::Alone, true),
        MemberEdit::Vulnerable(Vulnerability::Chronic, false),
    ];
    for e in &set {
        store.edit_member(&m, std::slice::from_ref(e)).unwrap();
    }
    let store = reopen(store);
    let got = store.member(&m).unwrap();
    let expected_set = Member {
        id: m.clone(),
        household_id: hh.clone(),
        name: "王秀芝".into(),
        sex: Sex::Unknown,
        birth_year: Some(1957),
        id_number: Some(resident_id("62122819570101002")),
        phone: Some("15109391234".into()),
        relation: Some("母亲".into()),
        residence: Residence::Away,
        arrival: Arrival {
            from: Some("兰州市城关区".into()),
            risk_area: true,
            date: Some(d1),
        },
        monitoring: Monitoring {
            since: Some(d1),
            until: Some(d2),
        },
        vaccination: Vaccination {
            doses: 3,
            last: Some(day(2026, 6, 1)),
        },
        test: LastTest {
            date: Some(d1),
            result: Some(TestResult::Negative),
        },
        vulnerable: vec![Vulnerability::Elderly, Vulnerability::Alone],
        away_at: None,
        referred: false,
    };
    assert_eq!(got, expected_set);

    // Clearing every optional field, in one edit.
    store
        .edit_member(
            &m,
            &[
                MemberEdit::BirthYear(None),
                MemberEdit::IdNumber(None),
                MemberEdit::Phone(None),
                MemberEdit::Relation(None),
                MemberEdit::ArrivalFrom(None),
                MemberEdit::ArrivalRiskArea(false),
                MemberEdit::ArrivalDate(None),
                MemberEdit::MonitoringSince(None),
                MemberEdit::MonitoringUntil(None),
                MemberEdit::VaccinationDoses(0),
                MemberEdit::VaccinationLast(None),
                MemberEdit::TestDate(None),
                MemberEdit::TestResult(None),
                MemberEdit::Vulnerable(Vulnerability::Elderly, false),
                MemberEdit::Vulnerable(Vulnerability::Alone, false),
            ],
        )
        .unwrap();
    let store = reopen(store);
    let got = store.member(&m).unwrap();
    assert_eq!(
        got,
        Member {
            birth_year: None,
            id_number: None,
            phone: None,
            relation: None,
            arrival: Arrival::default(),
            monitoring: Monitoring::default(),
            vaccination: Vaccination::default(),
            test: LastTest::default(),
            vulnerable: vec![],
            ..expected_set
        }
    );
    // The projections follow: the cleared member is neither monitored nor vulnerable.
    assert!(store.under_monitoring(d1).unwrap().is_empty());
    assert!(store.vulnerable_members().unwrap().is_empty());

    // A task, then a visit of every kind with every field.
    let task = store
        .add_task(
            &cell,
            "给王秀芝送药",
            Some(&hh),
            Some(&m),
            Some(d2),
            at(d1, 8, 0),
        )
        .unwrap();
    let mut visit_ids = Vec::new();
    for (i, kind) in VisitKind::ALL.iter().enumerate() {
        let mut v = NewVisit::new(*kind, at(d1, 9 + i as u32, 15), "李秀英");
        v.member_id = Some(m.clone());
        v.temperature = Some(36.4 + i as f64 * 0.3);
        v.symptoms = (i % 2 == 1).then(|| "咳嗽".to_string());
        v.note = Some(format!("第{i}次"));
        v.outcome = Some("正常".into());
        if *kind == VisitKind::Errand {
            v.task_id = Some(task.clone());
        }
        visit_ids.push(store.record_visit(&cell, v).unwrap());
    }
    store
        .set_task_status(&cell, &task, TaskStatus::Done)
        .unwrap();
    let store = reopen(store);
    let view = store.cell(&cell).unwrap();
    assert_eq!(view.visits.len(), VisitKind::ALL.len());
    for (i, (kind, vid)) in VisitKind::ALL.iter().zip(&visit_ids).enumerate() {
        let v = &view.visits[i];
        assert_eq!(&v.id, vid);
        assert_eq!(v.kind, *kind);
        assert_eq!(
            v.household_id.as_deref(),
            Some(hh.as_str()),
            "member implies household"
        );
        assert_eq!(v.member_id.as_deref(), Some(m.as_str()));
        assert_eq!(v.at, at(d1, 9 + i as u32, 15).to_rfc3339());
        assert_eq!(v.by, "李秀英");
        let t = ((36.4 + i as f64 * 0.3) * 10.0).round() / 10.0;
        assert_eq!(v.temperature, Some(t));
        assert_eq!(v.symptoms.as_deref(), (i % 2 == 1).then_some("咳嗽"));
        assert_eq!(v.note, Some(format!("第{i}次")));
        assert_eq!(v.outcome.as_deref(), Some("正常"));
        assert_eq!(v.task_id.is_some(), *kind == VisitKind::Errand);
    }
    // The abnormal health check raised an alert for the grid worker.
    let alerts: Vec<&Task> = view
        .tasks
        .iter()
        .filter(|t| t.kind == silin_core::register::TaskKind::Alert)
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].member_id.as_ref(), Some(&m));
    assert_eq!(alerts[0].status, TaskStatus::Open);
    assert_eq!(
        view.tasks
            .iter()
            .filter(|t| t.kind == silin_core::register::TaskKind::List)
            .cloned()
            .collect::<Vec<_>>(),
        vec![Task {
            id: task.clone(),
            title: "给王秀芝送药".into(),
            household_id: Some(hh.clone()),
            member_id: Some(m.clone()),
            due: Some(d2),
            status: TaskStatus::Done,
            created: at(d1, 8, 0).to_rfc3339(),
            kind: silin_core::register::TaskKind::List,
            source: None,
        }]
    );

    // Reports: a zero report, a non-zero one, and a re-filed one.
    let zero = NewReport {
        date: d1,
        by: "李秀英".into(),
        at: at(d1, 20, 0),
        arrivals: 0,
        under_monitoring: Some(0),
        abnormal: 0,
        errands: None,
        note: Some("无异常".into()),
    };
    store.submit_report(&cell, zero.clone()).unwrap();
    let d3 = day(2026, 11, 21);
    store
        .submit_report(
            &cell,
            NewReport {
                date: d3,
                at: at(d3, 20, 0),
                arrivals: 2,
                under_monitoring: Some(2),
                abnormal: 1,
                errands: Some(4),
                note: None,
                ..zero.clone()
            },
        )
        .unwrap();
    let store = reopen(store);
    let reports = store.cell(&cell).unwrap().reports;
    assert_eq!(reports.len(), 2);
    assert_eq!(
        reports[0],
        Report {
            date: d1,
            by: "李秀英".into(),
            at: at(d1, 20, 0).to_rfc3339(),
            arrivals: 0,
            under_monitoring: 0,
            abnormal: 0,
            errands: 1, // counted: the one errand visit of that day
            note: Some("无异常".into()),
            // The day's log has an abnormal check the report does not count.
            flag: Some("abnormal 0, log 1".into()),
        }
    );
    assert!(reports[0].is_zero());
    assert_eq!(
        (reports[1].arrivals, reports[1].abnormal, reports[1].errands),
        (2, 1, 4)
    );
    assert!(!reports[1].is_zero());

    // Re-filing the first day overwrites every field (the note is cleared).
    store
        .submit_report(
            &cell,
            NewReport {
                by: "王建国".into(),
                at: at(d1, 21, 30),
                arrivals: 1,
                under_monitoring: Some(1),
                abnormal: 0,
                errands: Some(0),
                note: None,
                ..zero
            },
        )
        .unwrap();
    let store = reopen(store);
    let reports = store.cell(&cell).unwrap().reports;
    assert_eq!(reports.len(), 2, "re-filing replaces, not adds");
    assert_eq!(
        reports[0],
        Report {
            date: d1,
            by: "王建国".into(),
            at: at(d1, 21, 30).to_rfc3339(),
            arrivals: 1,
            under_monitoring: 1,
            abnormal: 0,
            errands: 0,
            note: None,
            flag: Some(
                "arrivals 1, log 0; abnormal 0, log 1; under_monitoring 1, log 0; errands 0, log 1"
                    .into()
            ),
        }
    );
    let rolled = store.rollup(d1, Level::County).unwrap();
    assert_eq!(
        (rolled[0].arrivals, rolled[0].zero),
        (1, 0),
        "projection follows the re-filed report"
    );
    assert!(store.check().unwrap().ok);
}

/// What a failed edit must leave untouched: the file's tables, the heads,
/// the stats and what the store shows.
struct Snapshot {
    tables: Vec<(String, Vec<Vec<rusqlite::types::Value>>)>,
    heads: Vec<automerge::ChangeHash>,
    stats: String,
    view: CellView,
}

fn snapshot(store: &Store, p: &Path, cell: &str) -> Snapshot {
    Snapshot {
        tables: dump_tables(p),
        heads: store.heads(cell).unwrap(),
        stats: format!("{:?}", store.stats().unwrap()),
        view: store.cell(cell).unwrap(),
    }
}

fn assert_unchanged(store: &Store, p: &Path, cell: &str, before: &Snapshot, what: &str) {
    let after = snapshot(store, p, cell);
    assert_eq!(after.heads, before.heads, "{what}: heads changed");
    assert_eq!(after.stats, before.stats, "{what}: stats changed");
    assert_eq!(after.view, before.view, "{what}: cell view changed");
    assert!(
        after.tables == before.tables,
        "{what}: the file's tables changed"
    );
}

struct Fixture {
    store: Store,
    path: PathBuf,
    cell: String,
    hh: String,
    hh2: String,
    member: String,
    task: String,
}

fn fixture(dir: &tempfile::TempDir) -> Fixture {
    let (store, path) = store_in(dir);
    let cell = store
        .create_cell("一组", &path_c(), Some("王建国"))
        .unwrap();
    let hh = store.add_household(&cell, NewHousehold::default()).unwrap();
    let hh2 = store.add_household(&cell, NewHousehold::default()).unwrap();
    let member = store
        .add_member(
            &hh,
            NewMember {
                name: "王芳".into(),
                ..Default::default()
            },
            today(),
        )
        .unwrap();
    let task = store
        .add_task(&cell, "送药", None, None, None, at(today(), 8, 0))
        .unwrap();
    Fixture {
        store,
        path,
        cell,
        hh,
        hh2,
        member,
        task,
    }
}

fn path_c() -> RegionPath {
    path("c/t/v/g")
}

#[test]
fn bad_input_is_refused_with_a_typed_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(&dir);
    let (s, cell, hh, member) = (&f.store, f.cell.as_str(), f.hh.as_str(), f.member.as_str());
    let unknown = new_id();
    let visit = |kind| NewVisit::new(kind, at(today(), 10, 0), "王建国");
    let named = |name: &str| NewMember {
        name: name.into(),
        ..Default::default()
    };
    let before = snapshot(s, &f.path, cell);

    type Case<'a> = (&'a str, Box<dyn Fn() -> Error + 'a>);
    let err = |r: silin_core::Result<String>| r.expect_err("must fail");
    let err0 = |r: silin_core::Result<()>| r.expect_err("must fail");
    let invalid: Vec<(&str, Case)> = vec![
        (
            "id_number",
            (
                "bad ID checksum",
                Box::new(|| {
                    err(s.add_member(
                        hh,
                        NewMember {
                            id_number: Some("110105194912310021".into()),
                            ..named("甲")
                        },
                        today(),
                    ))
                }),
            ),
        ),
        (
            "phone",
            (
                "bad member phone",
                Box::new(|| {
                    err(s.add_member(
                        hh,
                        NewMember {
                            phone: Some("12812345678".into()),
                            ..named("乙")
                        },
                        today(),
                    ))
                }),
            ),
        ),
        (
            "phone",
            (
                "bad household phone",
                Box::new(|| {
                    err(s.add_household(
                        cell,
                        NewHousehold {
                            phone: Some("1381234567".into()),
                            ..Default::default()
                        },
                    ))
                }),
            ),
        ),
        (
            "phone",
            (
                "bad phone in an edit",
                Box::new(|| err0(s.edit_member(member, &[MemberEdit::Phone(Some("110".into()))]))),
            ),
        ),
        (
            "id_number",
            (
                "bad ID number in an edit",
                Box::new(|| {
                    err0(s.edit_member(
                        member,
                        &[MemberEdit::IdNumber(Some("110105194912310021".into()))],
                    ))
                }),
            ),
        ),
        (
            "name",
            (
                "empty name in an edit",
                Box::new(|| err0(s.edit_member(member, &[MemberEdit::Name("  ".into())]))),
            ),
        ),
        (
            "birth_year",
            (
                "birth year contradicts the card",
                Box::new(|| {
                    err(s.add_member(
                        hh,
                        NewMember {
                            id_number: Some("11010519491231002X".into()),
                            birth_year: Some(1950),
                            ..named("丙")
                        },
                        today(),
                    ))
                }),
            ),
        ),
        (
            "temperature",
            (
                "temperature 43.5",
                Box::new(|| {
                    let mut v = visit(VisitKind::HealthCheck);
                    v.member_id = Some(member.to_string());
                    v.temperature = Some(43.5);
                    err(s.record_visit(cell, v))
                }),
            ),
        ),
        (
            "member",
            (
                "health check without member",
                Box::new(|| err(s.record_visit(cell, visit(VisitKind::HealthCheck)))),
            ),
        ),
        (
            "member",
            (
                "non-UUID member id",
                Box::new(|| {
                    let mut v = visit(VisitKind::Call);
                    v.member_id = Some("wang-fang".into());
                    err(s.record_visit(cell, v))
                }),
            ),
        ),
        (
            "member",
            (
                "member not in the household given",
                Box::new(|| {
                    let mut v = visit(VisitKind::Call);
                    v.member_id = Some(member.to_string());
                    v.household_id = Some(f.hh2.clone());
                    err(s.record_visit(cell, v))
                }),
            ),
        ),
        (
            "member",
            (
                "non-UUID id to edit_member",
                Box::new(|| err0(s.edit_member("12", &[]))),
            ),
        ),
        (
            "household",
            (
                "non-UUID household id",
                Box::new(|| err(s.add_member("hh-1", named("丁"), today()))),
            ),
        ),
        (
            "cell",
            (
                "non-UUID cell id",
                Box::new(|| err0(s.rename_cell("cell 1", "x"))),
            ),
        ),
        (
            "name",
            (
                "empty cell name",
                Box::new(|| err0(s.rename_cell(cell, ""))),
            ),
        ),
        (
            "arrivals",
            (
                "negative count in a report",
                Box::new(|| {
                    err0(s.submit_report(
                        cell,
                        NewReport {
                            date: today(),
                            by: "王建国".into(),
                            at: at(today(), 20, 0),
                            arrivals: -1,
                            under_monitoring: None,
                            abnormal: 0,
                            errands: None,
                            note: None,
                        },
                    ))
                }),
            ),
        ),
    ];
    for (field, (what, run)) in &invalid {
        match run() {
            Error::Invalid(v) => assert_eq!(v.field, *field, "{what}: {v}"),
            other => panic!("{what}: expected Invalid({field}), got {other:?}"),
        }
        assert_unchanged(s, &f.path, cell, &before, what);
    }

    let missing: Vec<(&str, Case)> = vec![
        (
            "household",
            (
                "unknown household for a member",
                Box::new(|| err(s.add_member(&unknown, named("戊"), today()))),
            ),
        ),
        (
            "household",
            (
                "unknown household for a visit",
                Box::new(|| {
                    let mut v = visit(VisitKind::DoorKnock);
                    v.household_id = Some(unknown.clone());
                    err(s.record_visit(cell, v))
                }),
            ),
        ),
        (
            "member",
            (
                "unknown member for a visit",
                Box::new(|| {
                    let mut v = visit(VisitKind::HealthCheck);
                    v.member_id = Some(unknown.clone());
                    err(s.record_visit(cell, v))
                }),
            ),
        ),
        (
            "member",
            (
                "unknown member to edit",
                Box::new(|| err0(s.edit_member(&unknown, &[MemberEdit::Sex(Sex::Male)]))),
            ),
        ),
        (
            "task",
            (
                "unknown task",
                Box::new(|| err0(s.set_task_status(cell, &unknown, TaskStatus::Done))),
            ),
        ),
        (
            "task",
            (
                "visit for an unknown task",
                Box::new(|| {
                    let mut v = visit(VisitKind::Errand);
                    v.task_id = Some(unknown.clone());
                    err(s.record_visit(cell, v))
                }),
            ),
        ),
        (
            "member",
            (
                "task for an unknown member",
                Box::new(|| {
                    err(s.add_task(cell, "x", None, Some(&unknown), None, at(today(), 9, 0)))
                }),
            ),
        ),
        (
            "cell",
            (
                "unknown cell",
                Box::new(|| err0(s.set_lead(&unknown, "王"))),
            ),
        ),
    ];
    for (what_kind, (what, run)) in &missing {
        match run() {
            Error::NotFound { what: w, .. } => assert_eq!(w, *what_kind, "{what}"),
            other => panic!("{what}: expected NotFound({what_kind}), got {other:?}"),
        }
        assert_unchanged(s, &f.path, cell, &before, what);
    }
    assert_eq!(not_found(s.member(&unknown)), "member");
    assert_eq!(invalid_field(s.cell("nope")), "cell");
    // Bytes that are not automerge never reach automerge: the guard refuses.
    assert!(matches!(
        s.merge_bytes(b"not a document"),
        Err(Error::Refused { .. })
    ));
    assert_unchanged(s, &f.path, cell, &before, "garbage merge");

    // Still unchanged after reopening the file.
    let task = f.task.clone();
    drop(invalid);
    drop(missing);
    drop(f.store);
    let s = open(&f.path);
    assert_unchanged(&s, &f.path, cell, &before, "after reopen");
    assert_eq!(s.cell(cell).unwrap().tasks[0].id, task);
    assert!(s.check().unwrap().ok);
}

#[test]
fn a_failing_batch_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(&dir);
    let (s, cell) = (&f.store, f.cell.as_str());
    let before = snapshot(s, &f.path, cell);
    let new_hh = new_id();
    let r = s.edit_batch(cell, |d| {
        d.add_household(&new_hh, NewHousehold::default(), 1)?;
        d.add_member(
            &new_hh,
            &new_id(),
            NewMember {
                name: "王一".into(),
                ..Default::default()
            },
            today(),
            1,
        )?;
        d.rename("改了名", 1)?;
        d.add_member(
            &new_hh,
            &new_id(),
            NewMember {
                name: "王二".into(),
                phone: Some("0939-1234567".into()),
                ..Default::default()
            },
            today(),
            1,
        )?;
        Ok(())
    });
    assert_eq!(invalid_field(r), "phone");
    assert_unchanged(s, &f.path, cell, &before, "failed batch");
    assert!(!s.with_doc(cell, |d| Ok(d.has_household(&new_hh))).unwrap());
    assert_eq!(not_found(s.cell_of_household(&new_hh)), "household");

    // The same batch without the bad member commits as one action.
    let chunks = s.stats().unwrap().chunks;
    s.edit_batch(cell, |d| {
        d.add_household(&new_hh, NewHousehold::default(), 1)?;
        d.add_member(
            &new_hh,
            &new_id(),
            NewMember {
                name: "王一".into(),
                ..Default::default()
            },
            today(),
            1,
        )?;
        d.rename("改了名", 1)
    })
    .unwrap();
    assert_eq!(
        s.stats().unwrap().chunks,
        chunks + 1,
        "one action, one chunk"
    );
    let path = f.path.clone();
    drop(f.store);
    let s = open(&path);
    let v = s.cell(cell).unwrap();
    assert_eq!(v.cell.name, "改了名");
    assert_eq!(v.households.len(), 3);
    assert_eq!(s.cell_of_household(&new_hh).unwrap(), cell);
    assert!(s.projections_match_docs().unwrap());
}

fn add(
    s: &Store,
    hh: &str,
    name: &str,
    since: Option<NaiveDate>,
    until: Option<NaiveDate>,
    vul: &[Vulnerability],
) -> String {
    let m = s
        .add_member(
            hh,
            NewMember {
                name: name.into(),
                vulnerable: vul.to_vec(),
                ..Default::default()
            },
            today(),
        )
        .unwrap();
    s.edit_member(
        &m,
        &[
            MemberEdit::MonitoringSince(since),
            MemberEdit::MonitoringUntil(until),
        ],
    )
    .unwrap();
    m
}

fn names(mut v: Vec<silin_core::store::MemberSummary>) -> Vec<String> {
    let mut n: Vec<String> = v.drain(..).map(|m| m.name).collect();
    n.sort();
    n
}

#[test]
fn queries_match_hand_counts() {
    use Vulnerability::*;
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = store_in(&dir);
    let a = s.create_cell("A", &path("c/t1/v1/g1"), None).unwrap();
    let b = s.create_cell("B", &path("c/t1/v1/g2"), None).unwrap();
    let c = s.create_cell("C", &path("c/t2/v1/g1"), None).unwrap();
    let ha = s.add_household(&a, NewHousehold::default()).unwrap();
    let hb = s.add_household(&b, NewHousehold::default()).unwrap();
    let hc = s.add_household(&c, NewHousehold::default()).unwrap();
    let d = |dd| day(2026, 11, dd);
    let m1 = add(&s, &ha, "m1", Some(d(20)), Some(d(29)), &[]);
    let m2 = add(&s, &ha, "m2", Some(d(25)), Some(day(2026, 12, 5)), &[]);
    add(&s, &hb, "m3", None, Some(d(28)), &[]);
    add(&s, &hb, "m4", Some(d(30)), Some(day(2026, 12, 10)), &[]);
    let m5 = add(&s, &hc, "m5", None, None, &[Elderly, Alone]);
    add(&s, &hb, "m6", None, None, &[Chronic]);
    add(&s, &hc, "m7", Some(d(1)), None, &[]); // no end: not counted

    assert_eq!(names(s.under_monitoring(d(29)).unwrap()), ["m1", "m2"]);
    assert_eq!(
        names(s.under_monitoring(d(28)).unwrap()),
        ["m1", "m2", "m3"]
    );
    assert_eq!(names(s.under_monitoring(d(24)).unwrap()), ["m1", "m3"]);
    assert_eq!(names(s.under_monitoring(d(19)).unwrap()), ["m3"]);
    assert_eq!(names(s.under_monitoring(d(30)).unwrap()), ["m2", "m4"]);
    assert_eq!(names(s.monitoring_ends(d(29)).unwrap()), ["m1"]);
    assert_eq!(names(s.monitoring_ends(d(28)).unwrap()), ["m3"]);
    assert!(s.monitoring_ends(d(27)).unwrap().is_empty());
    let vul = s.vulnerable_members().unwrap();
    let mut got: Vec<(String, Vec<&str>, String)> = vul
        .iter()
        .map(|m| {
            let flags = m.vulnerable.iter().map(|v| v.as_str()).collect();
            (m.name.clone(), flags, m.cell_id.clone())
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("m5".to_string(), vec!["elderly", "alone"], c.clone()),
            ("m6".to_string(), vec!["chronic"], b.clone()),
        ]
    );
    let under = s.under_monitoring(d(29)).unwrap();
    let m1row = under.iter().find(|m| m.member_id == m1).unwrap();
    assert_eq!(
        (
            m1row.cell_id.as_str(),
            m1row.household_id.as_str(),
            m1row.monitoring_since,
            m1row.monitoring_until
        ),
        (a.as_str(), ha.as_str(), Some(d(20)), Some(d(29)))
    );

    // Edits move members in and out of the answers.
    s.edit_member(&m2, &[MemberEdit::MonitoringUntil(None)])
        .unwrap();
    s.edit_member(
        &m5,
        &[
            MemberEdit::Vulnerable(Elderly, false),
            MemberEdit::Vulnerable(Alone, false),
        ],
    )
    .unwrap();
    assert_eq!(names(s.under_monitoring(d(29)).unwrap()), ["m1"]);
    assert_eq!(names(s.vulnerable_members().unwrap()), ["m6"]);
    s.edit_member(&m2, &[MemberEdit::MonitoringUntil(Some(d(29)))])
        .unwrap();
    assert_eq!(names(s.monitoring_ends(d(29)).unwrap()), ["m1", "m2"]);

    // Visits: day is the recorder's local date.
    let visit =
        |cell: &str, kind, when, member: Option<&str>, t: Option<f64>, sym: Option<&str>| {
            let mut v = NewVisit::new(kind, when, "lead");
            v.member_id = member.map(str::to_string);
            v.temperature = t;
            v.symptoms = sym.map(str::to_string);
            s.record_visit(cell, v).unwrap()
        };
    let v1 = visit(
        &a,
        VisitKind::HealthCheck,
        at(d(29), 8, 0),
        Some(&m1),
        Some(37.5),
        None,
    );
    let v2 = visit(
        &a,
        VisitKind::HealthCheck,
        at(d(29), 23, 30),
        Some(&m2),
        Some(36.5),
        None,
    );
    let v3 = visit(&a, VisitKind::Errand, at(d(29), 10, 0), None, None, None);
    let v4 = visit(&a, VisitKind::Errand, at(d(29), 11, 0), None, None, None);
    visit(&a, VisitKind::Errand, at(d(28), 11, 0), None, None, None);
    let v5 = visit(
        &b,
        VisitKind::Call,
        at(d(29), 0, 10),
        None,
        None,
        Some("咳嗽"),
    );
    visit(&c, VisitKind::DoorKnock, at(d(30), 0, 10), None, None, None);
    let on29 = s.visits_on(d(29)).unwrap();
    let mut got: Vec<(String, String, &str, Option<String>, bool)> = on29
        .iter()
        .map(|v| {
            assert_eq!(v.day, d(29));
            (
                v.cell_id.clone(),
                v.visit_id.clone(),
                v.kind.as_str(),
                v.member_id.clone(),
                v.abnormal,
            )
        })
        .collect();
    got.sort();
    let mut want = vec![
        (a.clone(), v1, "health_check", Some(m1.clone()), true),
        (a.clone(), v2, "health_check", Some(m2.clone()), false),
        (a.clone(), v3, "errand", None, false),
        (a.clone(), v4, "errand", None, false),
        (b.clone(), v5, "call", None, true),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(s.visits_on(d(28)).unwrap().len(), 1);
    assert_eq!(s.visits_on(d(30)).unwrap().len(), 1);
    assert!(s.visits_on(d(27)).unwrap().is_empty());

    // Reports and the rollup.
    let report = |cell: &str, date, arrivals, abnormal, under: Option<i64>| {
        s.submit_report(
            cell,
            NewReport {
                date,
                by: "lead".into(),
                at: at(date, 20, 0),
                arrivals,
                under_monitoring: under,
                abnormal,
                errands: None,
                note: None,
            },
        )
        .unwrap()
    };
    let ids = |v: Vec<CellInfo>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.cells_missing_report(d(29)).unwrap()),
        [a.clone(), b.clone(), c.clone()]
    );
    report(&a, d(29), 0, 0, None); // under monitoring counted from the register: m1, m2
    report(&b, d(29), 2, 1, Some(3));
    report(&c, d(28), 1, 0, Some(1));
    assert_eq!(ids(s.cells_missing_report(d(29)).unwrap()), vec![c.clone()]);
    assert_eq!(
        ids(s.cells_missing_report(d(28)).unwrap()),
        [a.clone(), b.clone()]
    );
    let ra = s.cell(&a).unwrap().reports;
    assert_eq!((ra[0].under_monitoring, ra[0].errands), (2, 2));

    let row = |p: &str, cells, reported, zero, arrivals, abnormal, under| RollupRow {
        path: p.into(),
        // The countryside's names: no branch here names its own.
        level: silin_core::region::DEFAULT_LEVELS[p.split('/').count() - 1].into(),
        cells,
        reported,
        missing: cells - reported,
        zero,
        arrivals,
        abnormal,
        under_monitoring: under,
        ..RollupRow::default()
    };
    // Door-knock rounds, calls and errands of the day count too.
    let worked = |r: RollupRow, door_knocks, calls, errands| RollupRow {
        door_knocks,
        calls,
        errands,
        ..r
    };
    assert_eq!(
        s.rollup(d(29), Level::County).unwrap(),
        [worked(row("c", 3, 2, 1, 2, 1, 5), 0, 1, 2)]
    );
    assert_eq!(
        s.rollup(d(29), Level::Township).unwrap(),
        [
            worked(row("c/t1", 2, 2, 1, 2, 1, 5), 0, 1, 2),
            row("c/t2", 1, 0, 0, 0, 0, 0)
        ]
    );
    assert_eq!(
        s.rollup(d(29), Level::Village).unwrap(),
        [
            worked(row("c/t1/v1", 2, 2, 1, 2, 1, 5), 0, 1, 2),
            row("c/t2/v1", 1, 0, 0, 0, 0, 0)
        ]
    );
    assert_eq!(
        s.rollup(d(29), Level::Group).unwrap(),
        [
            worked(row("c/t1/v1/g1", 1, 1, 1, 0, 0, 2), 0, 0, 2),
            worked(row("c/t1/v1/g2", 1, 1, 0, 2, 1, 3), 0, 1, 0),
            row("c/t2/v1/g1", 1, 0, 0, 0, 0, 0),
        ]
    );
    assert_eq!(
        s.rollup(d(28), Level::County).unwrap(),
        [worked(row("c", 3, 1, 0, 1, 0, 1), 0, 0, 1)]
    );
    assert_eq!(
        s.rollup(d(27), Level::County).unwrap(),
        [row("c", 3, 0, 0, 0, 0, 0)]
    );
    assert_eq!(s.cells(&["c/t1".into()]).unwrap().len(), 2);
    assert_eq!(
        s.cells(&["c/t1/v1/g2".into(), "c/t2".into()])
            .unwrap()
            .len(),
        2
    );
    assert!(
        s.cells(&["c/t".into()]).unwrap().is_empty(),
        "scope matches whole path parts"
    );

    // The answers survive reopening.
    let county = s.rollup(d(29), Level::Group).unwrap();
    let s = reopen(s);
    assert_eq!(s.rollup(d(29), Level::Group).unwrap(), county);
    assert_eq!(s.visits_on(d(29)).unwrap(), on29);
}

/// Records each notification, and what the store shows at that moment,
/// read from inside the callback (the store must not hold its lock).
/// (cells notified, visits the store showed, visit rows committed).
type Seen = (Vec<String>, Option<usize>, i64);

struct Recorder {
    store: OnceLock<Weak<Store>>,
    seen: Mutex<Vec<Seen>>,
}

impl Observer for Recorder {
    fn cells_changed(&self, cell_ids: &[String]) {
        let store = self
            .store
            .get()
            .and_then(Weak::upgrade)
            .expect("store alive");
        // Read through the store on another thread, with a timeout, so a
        // lock held during notify shows up as a failure, not a hang.
        let (tx, rx) = mpsc::channel();
        let id = cell_ids[0].clone();
        let s2 = store.clone();
        std::thread::spawn(move || {
            let _ = tx.send(s2.cell(&id).map(|v| v.visits.len()).ok());
        });
        let visits = rx.recv_timeout(Duration::from_secs(5)).unwrap_or(None);
        // And through a separate connection: the change is committed.
        let conn = rusqlite::Connection::open(store.path()).unwrap();
        let rows: i64 = conn
            .query_row(
                "SELECT count(*) FROM visits WHERE cell_id = ?1",
                [&cell_ids[0]],
                |r| r.get(0),
            )
            .unwrap();
        self.seen
            .lock()
            .unwrap()
            .push((cell_ids.to_vec(), visits, rows));
    }
}

#[test]
fn observers_fire_once_per_committed_action_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    let store = Arc::new(open(&p));
    let rec = Arc::new(Recorder {
        store: OnceLock::new(),
        seen: Mutex::new(Vec::new()),
    });
    rec.store.set(Arc::downgrade(&store)).unwrap();
    let sub = store.subscribe(rec.clone());
    let take = || std::mem::take(&mut *rec.seen.lock().unwrap());

    let cell = store.create_cell("一组", &path_c(), None).unwrap();
    let other = store.create_cell("二组", &path_c(), None).unwrap();
    assert_eq!(
        take(),
        [
            (vec![cell.clone()], Some(0), 0),
            (vec![other.clone()], Some(0), 0)
        ]
    );

    let hh = store.add_household(&cell, NewHousehold::default()).unwrap();
    let m = store
        .add_member(
            &hh,
            NewMember {
                name: "王芳".into(),
                ..Default::default()
            },
            today(),
        )
        .unwrap();
    store
        .edit_member(&m, &[MemberEdit::Residence(Residence::Away)])
        .unwrap();
    assert_eq!(take().len(), 3);
    for i in 1..=3 {
        let mut v = NewVisit::new(VisitKind::HealthCheck, at(today(), 9, i), "王");
        v.member_id = Some(m.clone());
        store.record_visit(&cell, v).unwrap();
        // Fired once, for this cell, seeing the new visit in the store and
        // in the committed file.
        assert_eq!(take(), [(vec![cell.clone()], Some(i as usize), i as i64)]);
    }
    store.set_lead(&other, "李").unwrap();
    assert_eq!(take(), [(vec![other.clone()], Some(0), 0)]);

    // Failed edits stay silent.
    assert!(store
        .record_visit(
            &cell,
            NewVisit::new(VisitKind::HealthCheck, at(today(), 9, 0), "王")
        )
        .is_err());
    assert!(store.rename_cell(&cell, "").is_err());
    assert!(store.edit_batch(&cell, |d| d.rename("", 0)).is_err());
    assert!(store.set_lead(&new_id(), "x").is_err());
    assert!(take().is_empty());

    // A merge that brings something fires; the same bytes again do not.
    let dir2 = tempfile::tempdir().unwrap();
    let remote = open(&dir2.path().join("r.db"));
    let (rc, _) = remote.merge_bytes(&store.save_doc(&cell).unwrap()).unwrap();
    let mut v = NewVisit::new(VisitKind::Call, at(today(), 12, 0), "网格员");
    v.member_id = Some(m.clone());
    remote.record_visit(&rc, v).unwrap();
    let bytes = remote.save_doc(&rc).unwrap();
    assert_eq!(store.merge_bytes(&bytes).unwrap(), (cell.clone(), true));
    assert_eq!(take(), [(vec![cell.clone()], Some(4), 4)]);
    assert_eq!(store.merge_bytes(&bytes).unwrap(), (cell.clone(), false));
    assert!(take().is_empty());

    store.unsubscribe(sub);
    store.rename_cell(&cell, "新名").unwrap();
    assert!(take().is_empty());
}

/// A layout-0 cell document as pre-release builds wrote it: no `schema`
/// key and no `tasks` map.
fn v0_doc(cell: &str, hh: &str, m: &str, visit: &str) -> Vec<u8> {
    let mut d = AutoCommit::new();
    let c = d.put_object(ROOT, "cell", ObjType::Map).unwrap();
    d.put(&c, "id", cell).unwrap();
    d.put(&c, "name", "老版本联户").unwrap();
    let p = d.put_object(&c, "path", ObjType::List).unwrap();
    for (i, part) in ["c", "t", "v", "g"].iter().enumerate() {
        d.insert(&p, i, *part).unwrap();
    }
    d.put(&c, "lead", "赵大").unwrap();
    let hhs = d.put_object(ROOT, "households", ObjType::Map).unwrap();
    let h = d.put_object(&hhs, hh, ObjType::Map).unwrap();
    d.put(&h, "address", "老街1号").unwrap();
    let ms = d.put_object(&h, "members", ObjType::Map).unwrap();
    let mm = d.put_object(&ms, m, ObjType::Map).unwrap();
    d.put(&mm, "name", "赵二").unwrap();
    d.put(&mm, "sex", "male").unwrap();
    d.put(&mm, "residence", "returned").unwrap();
    d.put(&mm, "phone", "13912345678").unwrap();
    let mon = d.put_object(&mm, "monitoring", ObjType::Map).unwrap();
    d.put(&mon, "until", "2026-12-01").unwrap();
    let visits = d.put_object(ROOT, "visits", ObjType::Map).unwrap();
    let v = d.put_object(&visits, visit, ObjType::Map).unwrap();
    d.put(&v, "kind", "door_knock").unwrap();
    d.put(&v, "at", "2026-11-29T09:00:00+08:00").unwrap();
    d.put(&v, "by", "赵大").unwrap();
    d.put(&v, "household", hh).unwrap();
    d.put_object(ROOT, "reports", ObjType::Map).unwrap();
    d.commit();
    d.save()
}

#[test]
fn an_older_layout_migrates_forward() {
    let dir = tempfile::tempdir().unwrap();
    let (s, p) = store_in(&dir);
    let (cell, hh, m, visit) = (new_id(), new_id(), new_id(), new_id());
    let bytes = v0_doc(&cell, &hh, &m, &visit);
    assert_eq!(s.merge_bytes(&bytes).unwrap(), (cell.clone(), true));
    let v = s.cell(&cell).unwrap();
    assert_eq!(v.schema, silin_core::cell::SCHEMA);
    assert_eq!(v.cell.name, "老版本联户");
    assert_eq!(v.cell.lead.as_deref(), Some("赵大"));
    let got = s.member(&m).unwrap();
    assert_eq!(
        (got.name.as_str(), got.residence, got.phone.as_deref()),
        ("赵二", Residence::Returned, Some("13912345678"))
    );
    assert_eq!(v.visits.len(), 1);
    assert_eq!(v.visits[0].id, visit);
    assert!(v.tasks.is_empty());
    assert_eq!(
        names(s.under_monitoring(day(2026, 11, 30)).unwrap()),
        ["赵二"]
    );
    // The migrated document takes every edit, tasks included.
    let t = s
        .add_task(&cell, "回访", Some(&hh), Some(&m), None, at(today(), 9, 0))
        .unwrap();
    s.edit_member(&m, &[MemberEdit::Vulnerable(Vulnerability::Elderly, true)])
        .unwrap();
    let s = reopen(s);
    let v = s.cell(&cell).unwrap();
    assert_eq!(v.schema, silin_core::cell::SCHEMA);
    assert_eq!(v.tasks[0].id, t);
    assert!(v.conflicts.is_empty(), "{:?}", v.conflicts);
    assert!(s.check().unwrap().ok);
    // Merging the old bytes again changes nothing.
    assert_eq!(s.merge_bytes(&bytes).unwrap(), (cell.clone(), false));
    assert_eq!(s.cell(&cell).unwrap(), v);
    drop(s);
    let s = open(&p);
    assert_eq!(s.cell(&cell).unwrap(), v);
}

#[test]
fn a_newer_layout_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(&dir);
    let before = snapshot(&f.store, &f.path, &f.cell);
    let mut d = AutoCommit::load(&v0_doc(&new_id(), &new_id(), &new_id(), &new_id())).unwrap();
    d.put(ROOT, "schema", silin_core::cell::SCHEMA + 1).unwrap();
    d.commit();
    assert!(matches!(
        f.store.merge_bytes(&d.save()),
        Err(Error::Incompatible(_))
    ));
    assert_unchanged(&f.store, &f.path, &f.cell, &before, "newer layout");
    assert_eq!(f.store.cells(&[]).unwrap().len(), 1);
}
