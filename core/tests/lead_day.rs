//! The lead's and the grid worker's day, as scenarios: an arrival recorded
//! at the door and the home monitoring it sets off, a resident away called
//! on the phone, errands, the dose and test histories, a handover of the
//! cell, the report that drafts itself — and layout 2 brought in by two
//! devices at once.
//!
//! Each day is a reopening of the store with its clock set to that day, as
//! the phone app is opened each morning; no test reads the system's date.

mod common;

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ROOT};
use chrono::{DateTime, Days, FixedOffset, NaiveDate};
use common::*;
use silin_core::identity::Role;
use silin_core::model::*;
use silin_core::register::*;
use silin_core::sync::sync_local;
use silin_core::{Clock, Durability, Store, StoreOptions};
use std::path::Path;

fn open_at(p: &Path, now: DateTime<FixedOffset>) -> Store {
    Store::open(
        p,
        StoreOptions {
            durability: Durability::Normal,
            clock: Clock::starting_at(now),
            ..Default::default()
        },
    )
    .unwrap()
}

fn plus(d: NaiveDate, n: u64) -> NaiveDate {
    d + Days::new(n)
}

fn check(s: &Store, cell: &str, member: &str, when: DateTime<FixedOffset>, t: f64) {
    let mut v = NewVisit::new(VisitKind::HealthCheck, when, "李秀英");
    v.member_id = Some(member.to_string());
    v.temperature = Some(t);
    s.record_visit(cell, v).unwrap();
}

struct Cell {
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
    cell: String,
    hh: String,
    resident: String,
}

/// A cell with one household of one resident, set up on `d0`.
fn cell_on(d0: NaiveDate) -> Cell {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lead.db");
    let s = open_at(&file, at(d0, 8, 0));
    let cell = s
        .create_cell("东关一组", &path("两当县/城关镇/东关村/一组"), None)
        .unwrap();
    let hh = s
        .add_household(
            &cell,
            NewHousehold {
                address: Some("东关村12号".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let resident = s
        .add_member(
            &hh,
            NewMember {
                name: "王芳".into(),
                phone: Some("13800000001".into()),
                ..Default::default()
            },
            d0,
        )
        .unwrap();
    Cell {
        _dir: dir,
        file,
        cell,
        hh,
        resident,
    }
}

#[test]
fn an_arrival_at_the_door_sets_off_monitoring_checks_alerts_and_its_end() {
    let d0 = day(2026, 11, 20);
    let c = cell_on(d0);

    // Day 0, 10:00: a visitor from a high-risk area arrives by train; the
    // lead records them at the door in one step.
    let s = open_at(&c.file, at(d0, 10, 0));
    let visitor = s
        .record_arrival(NewArrival {
            household_id: c.hh.clone(),
            person: Arriving::New(NewMember {
                name: "李强".into(),
                phone: Some("13900000002".into()),
                ..Default::default()
            }),
            kind: ArrivalKind::Visitor,
            from: "武汉市洪山区".into(),
            risk: RiskLevel::High,
            date: d0,
            means: Some(Means::Train),
            by: "李秀英".into(),
            at: at(d0, 10, 0),
        })
        .unwrap();
    let m = s.member(&visitor).unwrap();
    assert_eq!(m.residence, Residence::Visitor);
    assert_eq!(m.household_id, c.hh);
    // The default policy: 14 days counting the day of arrival, two checks a day.
    assert_eq!(m.monitoring.since, Some(d0));
    assert_eq!(m.monitoring.until, Some(plus(d0, 13)));
    assert!(m.arrival.risk_area);
    let arrivals = s.with_doc(&c.cell, |d| Ok(d.arrivals())).unwrap();
    assert_eq!(arrivals.len(), 1);
    assert_eq!(
        (
            arrivals[0].risk,
            arrivals[0].means,
            arrivals[0].checks_per_day
        ),
        (RiskLevel::High, Some(Means::Train), 2)
    );

    // Two checks are due today; the first brings it to one.
    let day0 = s.lead_day(&c.cell, d0, 7).unwrap();
    assert_eq!(day0.due.len(), 1);
    assert_eq!((day0.due[0].required, day0.due[0].done), (2, 0));
    assert_eq!(day0.due[0].days_left(), 13);
    check(&s, &c.cell, &visitor, at(d0, 10, 30), 36.5);
    assert_eq!(s.lead_day(&c.cell, d0, 7).unwrap().due[0].outstanding(), 1);
    check(&s, &c.cell, &visitor, at(d0, 18, 0), 36.6);
    let day0 = s.lead_day(&c.cell, d0, 7).unwrap();
    assert!(day0.due.is_empty());
    assert_eq!(day0.draft.arrivals, 1);
    assert_eq!(day0.draft.under_monitoring, 1);
    // The lead files what the draft says: nothing to flag.
    s.submit_report(
        &c.cell,
        NewReport {
            date: d0,
            by: "李秀英".into(),
            at: at(d0, 19, 0),
            arrivals: day0.draft.arrivals,
            under_monitoring: None,
            abnormal: day0.draft.abnormal,
            errands: None,
            note: None,
        },
    )
    .unwrap();
    assert_eq!(s.cell(&c.cell).unwrap().reports[0].flag, None);
    drop(s);

    // Day 1: one check only.
    let d1 = plus(d0, 1);
    let s = open_at(&c.file, at(d1, 9, 0));
    check(&s, &c.cell, &visitor, at(d1, 9, 0), 36.4);
    drop(s);

    // Day 2, 09:00: the missed check of day 1 raises one alert, once.
    let d2 = plus(d0, 2);
    let s = open_at(&c.file, at(d2, 9, 0));
    let raised = s.raise_alerts(&c.cell).unwrap();
    assert_eq!(
        raised.len(),
        1,
        "day 1's missed check, and no reminder before 20:00"
    );
    assert!(s.raise_alerts(&c.cell).unwrap().is_empty(), "raised once");
    let day2 = s.lead_day(&c.cell, d2, 7).unwrap();
    assert_eq!(day2.missed.len(), 1);
    assert_eq!((day2.missed[0].day, day2.missed[0].done), (d1, 1));
    let alert = day2.open_tasks.iter().find(|t| t.id == raised[0]).unwrap();
    assert_eq!(alert.kind, TaskKind::Alert);
    assert_eq!(alert.member_id.as_deref(), Some(visitor.as_str()));
    assert!(alert.title.contains("李强"), "{}", alert.title);
    // An abnormal check raises its own alert at once, and shows in the list.
    check(&s, &c.cell, &visitor, at(d2, 10, 0), 37.9);
    let day2 = s.lead_day(&c.cell, d2, 7).unwrap();
    let health = |day: &LeadDay, id: &str| {
        day.members
            .iter()
            .find(|m| m.member_id == id)
            .unwrap()
            .health
    };
    assert_eq!(health(&day2, &visitor), HealthStatus::Abnormal);
    assert_eq!(health(&day2, &c.resident), HealthStatus::Normal);
    assert_eq!(
        day2.open_tasks
            .iter()
            .filter(|t| t.kind == TaskKind::Alert)
            .count(),
        2
    );
    assert_eq!(day2.draft.abnormal, 1);
    drop(s);

    // Day 2, 20:30: the report is not in; a reminder, once.
    let s = open_at(&c.file, at(d2, 20, 30));
    let raised = s.raise_alerts(&c.cell).unwrap();
    assert_eq!(raised.len(), 1);
    let reminder = s
        .cell(&c.cell)
        .unwrap()
        .tasks
        .into_iter()
        .find(|t| t.id == raised[0])
        .unwrap();
    assert_eq!(reminder.kind, TaskKind::Reminder);
    assert!(s.raise_alerts(&c.cell).unwrap().is_empty());
    // Filing a report that says nothing abnormal happened is flagged.
    s.submit_report(
        &c.cell,
        NewReport {
            date: d2,
            by: "李秀英".into(),
            at: at(d2, 20, 40),
            arrivals: 0,
            under_monitoring: None,
            abnormal: 0,
            errands: None,
            note: None,
        },
    )
    .unwrap();
    let filed = s
        .cell(&c.cell)
        .unwrap()
        .reports
        .into_iter()
        .find(|r| r.date == d2)
        .unwrap();
    assert_eq!(filed.flag.as_deref(), Some("abnormal 0, log 1"));
    drop(s);

    // Day 3: a normal check; back under monitoring, not abnormal.
    let d3 = plus(d0, 3);
    let s = open_at(&c.file, at(d3, 9, 0));
    check(&s, &c.cell, &visitor, at(d3, 9, 0), 36.5);
    assert_eq!(
        health(&s.lead_day(&c.cell, d3, 7).unwrap(), &visitor),
        HealthStatus::UnderMonitoring
    );
    drop(s);

    // Day 13 is the last day of monitoring; day 14 it has ended.
    let d13 = plus(d0, 13);
    let s = open_at(&c.file, at(d13, 9, 0));
    let last = s.lead_day(&c.cell, d13, 7).unwrap();
    assert_eq!(health(&last, &visitor), HealthStatus::UnderMonitoring);
    assert_eq!(last.due.len(), 1);
    assert_eq!(last.due[0].days_left(), 0);
    assert!(s
        .monitoring_ends(d13)
        .unwrap()
        .iter()
        .any(|m| m.member_id == visitor));
    drop(s);
    let d14 = plus(d0, 14);
    let s = open_at(&c.file, at(d14, 9, 0));
    let after = s.lead_day(&c.cell, d14, 7).unwrap();
    assert_eq!(health(&after, &visitor), HealthStatus::Normal);
    assert!(after.due.is_empty());
    assert!(s.under_monitoring(d14).unwrap().is_empty());
    // Days 2–13 had fewer than two checks (day 1's is raised already):
    // each raises one alert, and nothing after the end.
    let raised = s.raise_alerts(&c.cell).unwrap();
    assert_eq!(raised.len(), 12, "days 2 to 13");
}

#[test]
fn the_office_policy_sets_the_monitoring_and_a_lead_may_not_change_it() {
    let d0 = day(2026, 11, 20);
    let c = cell_on(d0);
    let s = open_at(&c.file, at(d0, 10, 0));
    s.set_policy(&c.cell, "medium_days", 10).unwrap();
    s.set_policy(&c.cell, "medium_checks", 3).unwrap();
    let e = s.set_policy(&c.cell, "medium_days", 100).unwrap_err();
    assert!(e.to_string().contains("0–60"), "{e}");
    let m = s
        .record_arrival(NewArrival {
            household_id: c.hh.clone(),
            person: Arriving::Member(c.resident.clone()),
            kind: ArrivalKind::Returning,
            from: "西安".into(),
            risk: RiskLevel::Medium,
            date: d0,
            means: None,
            by: "李秀英".into(),
            at: at(d0, 10, 0),
        })
        .unwrap();
    assert_eq!(m, c.resident, "an existing member arrives as themselves");
    let m = s.member(&m).unwrap();
    assert_eq!(m.residence, Residence::Returned);
    assert_eq!(m.monitoring.until, Some(plus(d0, 9)));
    assert_eq!(s.lead_day(&c.cell, d0, 7).unwrap().due[0].required, 3);
    // A low-risk arrival is registered and sets off no monitoring.
    let low = s
        .record_arrival(NewArrival {
            household_id: c.hh.clone(),
            person: Arriving::New(NewMember {
                name: "张三".into(),
                ..Default::default()
            }),
            kind: ArrivalKind::Returning,
            from: "兰州".into(),
            risk: RiskLevel::Low,
            date: d0,
            means: Some(Means::Bus),
            by: "李秀英".into(),
            at: at(d0, 11, 0),
        })
        .unwrap();
    assert_eq!(s.member(&low).unwrap().monitoring.until, None);
    assert_eq!(s.lead_day(&c.cell, d0, 7).unwrap().draft.arrivals, 2);
    // An arrival cannot be recorded before it happens.
    let e = s
        .record_arrival(NewArrival {
            household_id: c.hh.clone(),
            person: Arriving::Member(c.resident.clone()),
            kind: ArrivalKind::Returning,
            from: "西安".into(),
            risk: RiskLevel::High,
            date: plus(d0, 1),
            means: None,
            by: "李秀英".into(),
            at: at(d0, 12, 0),
        })
        .unwrap_err();
    assert!(e.to_string().contains("date"), "{e}");

    // An enrolled lead's phone may not set the policy: the office does.
    let lead_dir = tempfile::tempdir().unwrap();
    // (Certificates are issued at the real time: this store's clock too.)
    let lead = open_at(&lead_dir.path().join("lead.db"), Clock::system().now());
    enrol(&lead, &office(), Role::Lead, &[&c.cell]);
    lead.merge_bytes(&s.save_doc(&c.cell).unwrap()).unwrap();
    let e = lead.set_policy(&c.cell, "high_days", 7).unwrap_err();
    assert!(
        e.to_string().contains("monitoring policy"),
        "refused for the policy: {e}"
    );
}

#[test]
fn a_resident_away_is_called_and_the_list_updates() {
    let d0 = day(2026, 11, 20);
    let c = cell_on(d0);
    let s = open_at(&c.file, at(d0, 9, 0));
    let away = s
        .add_member(
            &c.hh,
            NewMember {
                name: "王小军".into(),
                phone: Some("15100000003".into()),
                residence: Some(Residence::Away),
                ..Default::default()
            },
            d0,
        )
        .unwrap();
    s.edit_member(&away, &[MemberEdit::AwayAt(Some("深圳市宝安区".into()))])
        .unwrap();
    let list = s.lead_day(&c.cell, d0, 7).unwrap().away;
    assert_eq!(list.len(), 1, "never called: on the list");
    assert_eq!(
        (
            list[0].away_at.as_deref(),
            list[0].last_called,
            list[0].days_since
        ),
        (Some("深圳市宝安区"), None, None)
    );
    let mut call = NewVisit::new(VisitKind::Call, at(d0, 19, 0), "李秀英");
    call.member_id = Some(away.clone());
    call.note = Some("在深圳务工，身体好".into());
    s.record_visit(&c.cell, call).unwrap();
    assert!(s.lead_day(&c.cell, d0, 7).unwrap().away.is_empty());
    drop(s);

    // Eight days on, the call is stale: back on the seven-day list, with
    // who called and when; the grid worker sees it across cells too.
    let d8 = plus(d0, 8);
    let s = open_at(&c.file, at(d8, 9, 0));
    let list = s.lead_day(&c.cell, d8, 7).unwrap().away;
    assert_eq!(list.len(), 1);
    assert_eq!(
        (
            list[0].last_called,
            list[0].called_by.as_deref(),
            list[0].days_since
        ),
        (Some(d0), Some("李秀英"), Some(8))
    );
    assert!(s.lead_day(&c.cell, d8, 10).unwrap().away.is_empty());
    let across = s.away_not_called(&[], d8, 7).unwrap();
    assert_eq!(across.len(), 1);
    assert_eq!(across[0].0, c.cell);
    // Moving home takes them off the list.
    s.edit_member(&away, &[MemberEdit::Residence(Residence::Resident)])
        .unwrap();
    assert!(s.lead_day(&c.cell, d8, 7).unwrap().away.is_empty());
}

#[test]
fn errands_histories_and_a_handover_keep_their_records() {
    let d0 = day(2026, 11, 20);
    let c = cell_on(d0);
    let s = open_at(&c.file, at(d0, 9, 0));
    // An errand for the elderly resident: asked for, then done with a visit.
    let errand = s
        .request_errand(NewErrand {
            household_id: c.hh.clone(),
            member_id: Some(c.resident.clone()),
            request: "代购降压药".into(),
            due: Some(plus(d0, 1)),
            at: at(d0, 9, 0),
        })
        .unwrap();
    assert_eq!(s.lead_day(&c.cell, d0, 7).unwrap().errands.len(), 1);
    let visit = s
        .complete_errand(&c.cell, &errand, "李秀英", Some("药已送到".into()))
        .unwrap();
    let day = s.lead_day(&c.cell, d0, 7).unwrap();
    assert!(day.errands.is_empty());
    assert_eq!(day.draft.errands, 1);
    let done = s.with_doc(&c.cell, |d| Ok(d.errands())).unwrap().remove(0);
    assert_eq!(done.status, ErrandStatus::Done);
    assert_eq!(done.visit_id.as_deref(), Some(visit.as_str()));
    let v = s
        .cell(&c.cell)
        .unwrap()
        .visits
        .into_iter()
        .find(|v| v.id == visit)
        .unwrap();
    assert_eq!(v.kind, VisitKind::Errand);
    assert_eq!(v.member_id.as_deref(), Some(c.resident.as_str()));
    let e = s
        .complete_errand(&c.cell, &errand, "李秀英", None)
        .unwrap_err();
    assert!(e.to_string().contains("already done"), "{e}");

    // Doses and tests are histories; the member's summary follows them.
    s.edit_member(
        &c.resident,
        &[
            MemberEdit::VaccinationDoses(2),
            MemberEdit::VaccinationLast(Some(day_(2021, 8, 1))),
        ],
    )
    .unwrap();
    s.add_dose(NewDose {
        member_id: c.resident.clone(),
        number: Some(3),
        date: Some(day_(2022, 3, 1)),
        kind: Some("灭活疫苗".into()),
        by: "李秀英".into(),
    })
    .unwrap();
    for (date, result) in [
        (plus(d0, 0) - Days::new(5), TestResult::Negative),
        (d0, TestResult::Pending),
    ] {
        s.add_test(NewTest {
            member_id: c.resident.clone(),
            date,
            kind: TestKind::Pcr,
            result,
            by: "李秀英".into(),
        })
        .unwrap();
    }
    let m = s.member(&c.resident).unwrap();
    assert_eq!(m.vaccination.doses, 3);
    assert_eq!(m.vaccination.last, Some(day_(2022, 3, 1)));
    assert_eq!(
        (m.test.date, m.test.result),
        (Some(d0), Some(TestResult::Pending))
    );
    assert_eq!(s.with_doc(&c.cell, |d| Ok(d.tests())).unwrap().len(), 2);
    let e = s
        .add_dose(NewDose {
            member_id: c.resident.clone(),
            number: Some(1),
            date: Some(plus(d0, 3)),
            kind: None,
            by: "李秀英".into(),
        })
        .unwrap_err();
    assert!(e.to_string().contains("future"), "{e}");

    // The lead is a member of the cell; handing over keeps the history.
    let second = s
        .add_member(
            &c.hh,
            NewMember {
                name: "李秀英".into(),
                phone: Some("13700000004".into()),
                ..Default::default()
            },
            d0,
        )
        .unwrap();
    s.hand_over(&c.cell, &c.resident, "网格员张").unwrap();
    drop(s);
    let s = open_at(&c.file, at(plus(d0, 30), 9, 0));
    s.hand_over(&c.cell, &second, "网格员张").unwrap();
    let leads = s.with_doc(&c.cell, |d| Ok(d.leads())).unwrap();
    assert_eq!(
        leads.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["王芳", "李秀英"]
    );
    let now = s.lead_day(&c.cell, plus(d0, 30), 7).unwrap().lead.unwrap();
    assert_eq!(
        (now.member_id.as_str(), now.phone.as_deref()),
        (second.as_str(), Some("13700000004"))
    );
    assert_eq!(
        s.cell(&c.cell).unwrap().cell.lead.as_deref(),
        Some("李秀英")
    );
}

fn day_(y: i32, m: u32, d: u32) -> NaiveDate {
    day(y, m, d)
}

/// A cell document as layout 1 wrote it, with a household, a member with
/// a vaccination summary, a visit, a report and a task.
fn layout_1_cell(id: &str) -> (Vec<u8>, String, String) {
    let mut doc = automerge::AutoCommit::new();
    let (hh, m) = (new_id(), new_id());
    doc.put(ROOT, "schema", 1).unwrap();
    let cell = doc.put_object(ROOT, "cell", ObjType::Map).unwrap();
    doc.put(&cell, "id", id).unwrap();
    doc.put(&cell, "name", "东关一组").unwrap();
    let p = doc.put_object(&cell, "path", ObjType::List).unwrap();
    for (i, part) in ["县", "镇", "村", "组"].iter().enumerate() {
        doc.insert(&p, i, *part).unwrap();
    }
    doc.put(&cell, "lead", "王芳").unwrap();
    let hhs = doc.put_object(ROOT, "households", ObjType::Map).unwrap();
    for key in ["visits", "reports", "tasks"] {
        doc.put_object(ROOT, key, ObjType::Map).unwrap();
    }
    let h = doc.put_object(&hhs, hh.as_str(), ObjType::Map).unwrap();
    let ms = doc.put_object(&h, "members", ObjType::Map).unwrap();
    let mo = doc.put_object(&ms, m.as_str(), ObjType::Map).unwrap();
    doc.put(&mo, "name", "王芳").unwrap();
    doc.put(&mo, "sex", "female").unwrap();
    doc.put(&mo, "residence", "resident").unwrap();
    for sub in ["arrival", "monitoring", "test", "vulnerable"] {
        doc.put_object(&mo, sub, ObjType::Map).unwrap();
    }
    let vac = doc.put_object(&mo, "vaccination", ObjType::Map).unwrap();
    doc.put(&vac, "doses", 2).unwrap();
    doc.put(&vac, "last", "2021-08-01").unwrap();
    doc.commit();
    (doc.save(), hh, m)
}

#[test]
fn two_devices_bringing_in_layout_2_at_once_lose_nothing() {
    // Certificates are issued at the real time: the stores' clocks too.
    let now = Clock::system().now();
    let d0 = now.date_naive();
    let dir = tempfile::tempdir().unwrap();
    let o = office();
    let cell = new_id();
    let (bytes, hh, member) = layout_1_cell(&cell);
    let lead = open_at(&dir.path().join("lead.db"), now);
    let worker = open_at(&dir.path().join("worker.db"), now);
    enrol(&lead, &o, Role::Lead, &[&cell]);
    enrol(&worker, &o, Role::GridWorker, &["县/镇/村"]);
    // Each device takes the old document and moves it to layout 2 apart.
    for s in [&lead, &worker] {
        s.merge_bytes(&bytes).unwrap();
        assert_eq!(s.cell(&cell).unwrap().schema, 2);
    }
    // And each writes into the new collections before they meet.
    let arrived = lead
        .record_arrival(NewArrival {
            household_id: hh.clone(),
            person: Arriving::New(NewMember {
                name: "李强".into(),
                ..Default::default()
            }),
            kind: ArrivalKind::Returning,
            from: "武汉".into(),
            risk: RiskLevel::High,
            date: d0,
            means: None,
            by: "王芳".into(),
            at: now,
        })
        .unwrap();
    lead.add_dose(NewDose {
        member_id: member.clone(),
        number: Some(3),
        date: Some(day(2022, 3, 1)),
        kind: None,
        by: "王芳".into(),
    })
    .unwrap();
    worker
        .add_test(NewTest {
            member_id: member.clone(),
            date: d0,
            kind: TestKind::Antigen,
            result: TestResult::Negative,
            by: "网格员".into(),
        })
        .unwrap();
    worker.hand_over(&cell, &member, "网格员").unwrap();
    worker
        .edit_member(&member, &[MemberEdit::Phone(Some("13800000001".into()))])
        .unwrap();

    // They meet: the write rules accept each other's migration, and both
    // hold everything either wrote.
    sync_local(&lead, &worker).unwrap();
    let (a, b) = (lead.cell(&cell).unwrap(), worker.cell(&cell).unwrap());
    assert_eq!(a, b);
    assert!(a.conflicts.is_empty(), "{:?}", a.conflicts);
    let m = members(&a).into_iter().find(|m| m.id == member).unwrap();
    assert_eq!(m.vaccination.doses, 3, "the old summary and the new dose");
    assert_eq!(m.test.result, Some(TestResult::Negative));
    assert_eq!(m.phone.as_deref(), Some("13800000001"));
    assert!(members(&a).iter().any(|m| m.id == arrived));
    for s in [&lead, &worker] {
        s.with_doc(&cell, |d| {
            assert_eq!(d.arrivals().len(), 1);
            assert_eq!(d.doses().len(), 1);
            assert_eq!(d.tests().len(), 1);
            assert_eq!(d.current_lead().unwrap().member_id, member);
            // One object per collection: neither device's shadows the other's.
            for key in ["arrivals", "doses", "tests", "errands", "leads", "policy"] {
                assert_eq!(d.automerge().get_all(ROOT, key).unwrap().len(), 1, "{key}");
            }
            Ok(())
        })
        .unwrap();
        assert!(s.projections_match_docs().unwrap());
    }
}

#[test]
fn a_collection_made_by_a_peer_instead_of_the_layout_change_is_refused() {
    use silin_core::rules::{touches, Part};
    let cell = new_id();
    let (bytes, _, _) = layout_1_cell(&cell);
    // A modified app makes layout 2's `arrivals` map itself on top of an
    // old document, which would shadow (or be shadowed by) everyone else's.
    let mut forged = automerge::AutoCommit::load(&bytes).unwrap();
    let before = forged.get_heads();
    forged.put_object(ROOT, "arrivals", ObjType::Map).unwrap();
    forged.commit();
    let changes = forged.save_after(&before);
    let after = forged.get_heads();
    let patches = forged.diff(&before, &after);
    let effects = touches(&forged, &patches, &before, &[]);
    assert!(
        effects.iter().any(|t| t.part == Part::Layout),
        "judged a rewrite of the layout: {effects:?}"
    );
    // The same from a real device's migration is a migration.
    let dir = tempfile::tempdir().unwrap();
    let s = open_at(&dir.path().join("s.db"), at(today(), 9, 0));
    s.merge_bytes(&bytes).unwrap();
    let migrated = s.save_doc(&cell).unwrap();
    let mut doc = automerge::AutoCommit::load(&bytes).unwrap();
    doc.load_incremental(&migrated).unwrap();
    let after = doc.get_heads();
    let patches = doc.diff(&before, &after);
    let effects = touches(&doc, &patches, &before, &[]);
    assert!(
        effects.iter().all(|t| t.part == Part::Migration),
        "{effects:?}"
    );
    // A store given the forged change, even as a file the user brought
    // (no role's rules), refuses it and keeps what it had.
    let heads = s.heads(&cell).unwrap();
    let e = s.apply_changes(&cell, &changes).unwrap_err();
    assert!(e.to_string().contains("arrivals"), "{e}");
    assert_eq!(s.heads(&cell).unwrap(), heads);
    let fresh = tempfile::tempdir().unwrap();
    let t = open_at(&fresh.path().join("t.db"), at(today(), 9, 0));
    let mut whole = automerge::AutoCommit::load(&bytes).unwrap();
    whole.load_incremental(&changes).unwrap();
    let e = t.merge_bytes(&whole.save()).unwrap_err();
    assert!(e.to_string().contains("arrivals"), "{e}");
    assert!(t.cells(&[]).unwrap().is_empty());
}

#[test]
fn an_office_notice_reaches_every_cell_of_the_region_and_the_office_sees_its_reach() {
    let c = county();
    let hh = c
        .hub
        .add_household(&c.cell, NewHousehold::default())
        .unwrap();
    let hh2 = c
        .hub
        .add_household(&c.cell, NewHousehold::default())
        .unwrap();
    let (notice, cells) = c
        .hub
        .post_notice(
            "县/镇/村",
            "接种通知",
            "明天上午九点在村卫生室接种加强针",
            "城关镇政府",
        )
        .unwrap();
    let mut sent = cells.clone();
    sent.sort();
    let mut want = vec![c.cell.clone(), c.other.clone()];
    want.sort();
    assert_eq!(sent, want, "the village's two cells, not the far one");
    sync_local(&c.worker, &c.hub).unwrap();
    sync_local(&c.lead, &c.worker).unwrap();
    let on_phone = c.lead.with_doc(&c.cell, |d| Ok(d.notices())).unwrap();
    assert_eq!(on_phone.len(), 1);
    assert_eq!(on_phone[0].title, "接种通知");
    // The lead tells one household in person and the other reads it.
    c.lead
        .mark_notice(&c.cell, &notice, &hh, NoticeStatus::Relayed)
        .unwrap();
    c.lead
        .mark_notice(&c.cell, &notice, &hh2, NoticeStatus::Read)
        .unwrap();
    // Relayed is not marked back to read.
    c.lead
        .mark_notice(&c.cell, &notice, &hh, NoticeStatus::Read)
        .unwrap();
    // A lead may not send notices: the office does.
    let e = c.lead.post_notice(&c.cell, "x", "y", "z").unwrap_err();
    assert!(e.to_string().contains("notice"), "{e}");
    sync_local(&c.lead, &c.worker).unwrap();
    sync_local(&c.worker, &c.hub).unwrap();
    let reach = c.hub.notice_coverage(&[]).unwrap();
    let mine = reach.iter().find(|r| r.cell_id == c.cell).unwrap();
    assert_eq!((mine.households, mine.read, mine.relayed), (2, 1, 1));
    let other = reach.iter().find(|r| r.cell_id == c.other).unwrap();
    assert_eq!((other.read, other.relayed), (0, 0));
    assert_eq!(reach.len(), 2);
}

#[test]
fn a_layout_0_cell_migrated_on_two_devices_keeps_both_devices_tasks() {
    // Layout 0 (pre-release) had no schema key and no tasks map; each
    // device used to make its own tasks map, and one hid the other's.
    let cell = new_id();
    let (bytes, hh, _) = layout_1_cell(&cell);
    let mut old = automerge::AutoCommit::load(&bytes).unwrap();
    old.delete(ROOT, "schema").unwrap();
    old.delete(ROOT, "tasks").unwrap();
    old.commit();
    let bytes = old.save();
    let dir = tempfile::tempdir().unwrap();
    let a = open_at(&dir.path().join("a.db"), at(today(), 9, 0));
    let b = open_at(&dir.path().join("b.db"), at(today(), 9, 0));
    let mut tasks = Vec::new();
    for (s, title) in [(&a, "送药"), (&b, "买菜")] {
        s.merge_bytes(&bytes).unwrap();
        tasks.push(
            s.add_task(&cell, title, Some(&hh), None, None, at(today(), 9, 0))
                .unwrap(),
        );
    }
    a.merge_bytes(&b.save_doc(&cell).unwrap()).unwrap();
    b.merge_bytes(&a.save_doc(&cell).unwrap()).unwrap();
    for s in [&a, &b] {
        let view = s.cell(&cell).unwrap();
        let mut got: Vec<String> = view.tasks.iter().map(|t| t.id.clone()).collect();
        got.sort();
        let mut want = tasks.clone();
        want.sort();
        assert_eq!(got, want, "both devices' tasks, after both migrated");
        assert!(view.conflicts.is_empty(), "{:?}", view.conflicts);
        assert_eq!(view.schema, 2);
    }
}

/// A busy cell: four households, some members away, `days` days of a
/// lead's log from `d0` — arrivals of every risk recorded at the door (some
/// a day late) and monitoring set by hand, health checks (some skipped,
/// some with a fever), calls to the residents away, door knocks, errands
/// asked for, done and called off, the office's tasks, alerts and
/// reminders raised, reports filed (not all agreeing with the log), a
/// referral and a handover. Returns the cell's id.
fn busy_cell(file: &Path, d0: NaiveDate, days: u64, seed: u64) -> String {
    let mut dice = Dice(seed | 1);
    let s = open_at(file, at(d0, 7, 0));
    let cell = s
        .create_cell(
            "东关二组",
            &path("两当县/城关镇/东关村/二组"),
            Some("赵建国"),
        )
        .unwrap();
    let mut people: Vec<Person> = Vec::new();
    for h in 0..4 {
        let hh = s
            .add_household(
                &cell,
                NewHousehold {
                    address: Some(format!("东关村{}号", h + 1)),
                    phone: Some(format!("1380000{h:04}")),
                    ..Default::default()
                },
            )
            .unwrap();
        for k in 0..3 {
            let away = (h + k) % 4 == 1;
            let m = s
                .add_member(
                    &hh,
                    NewMember {
                        name: format!("{}{}", ["赵", "钱", "孙", "李"][h], ["一", "二", "三"][k]),
                        phone: (k != 2).then(|| format!("1390000{h}{k:03}")),
                        residence: away.then_some(Residence::Away),
                        ..Default::default()
                    },
                    d0,
                )
                .unwrap();
            if away && k == 0 {
                s.edit_member(&m, &[MemberEdit::AwayAt(Some("广州市天河区".into()))])
                    .unwrap();
            }
            people.push((hh.clone(), m, away));
        }
    }
    drop(s);
    let mut errands: Vec<String> = Vec::new();
    let mut tasks: Vec<String> = Vec::new();
    for k in 0..days {
        let today = plus(d0, k);
        let s = open_at(file, at(today, 8, 0));
        let pick = |dice: &mut Dice, people: &[Person]| people[dice.roll(people.len())].clone();
        if dice.one_in(3) {
            let (hh, m, _) = pick(&mut dice, &people);
            let new = dice.one_in(3);
            let person = if new {
                Arriving::New(NewMember {
                    name: format!("访客{k}"),
                    ..Default::default()
                })
            } else {
                Arriving::Member(m)
            };
            let late = k > 0 && dice.one_in(3);
            let id = s
                .record_arrival(NewArrival {
                    household_id: hh.clone(),
                    person,
                    kind: if new {
                        ArrivalKind::Visitor
                    } else {
                        ArrivalKind::Returning
                    },
                    from: "西安市雁塔区".into(),
                    risk: [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High][dice.roll(3)],
                    date: if late { plus(d0, k - 1) } else { today },
                    means: None,
                    by: "李秀英".into(),
                    at: at(today, 9, 0),
                })
                .unwrap();
            if new {
                people.push((hh, id, false));
            }
        }
        if dice.one_in(6) {
            let (_, m, _) = pick(&mut dice, &people);
            let since = (!dice.one_in(3)).then_some(today);
            let until = plus(today, dice.roll(8) as u64);
            s.edit_member(
                &m,
                &[
                    MemberEdit::MonitoringSince(since),
                    MemberEdit::MonitoringUntil(Some(until)),
                ],
            )
            .unwrap();
        }
        let mut visits = Vec::new();
        for (hh, m, away) in &people {
            for round in 0..2 {
                if dice.roll(100) < 40 {
                    let when = at(
                        today,
                        9 + 8 * round + dice.roll(3) as u32,
                        dice.roll(60) as u32,
                    );
                    let mut v = NewVisit::new(VisitKind::HealthCheck, when, "李秀英");
                    v.member_id = Some(m.clone());
                    v.temperature = Some(if dice.one_in(12) { 38.3 } else { 36.6 });
                    visits.push(v);
                }
            }
            if *away && dice.one_in(5) {
                let mut v = NewVisit::new(VisitKind::Call, at(today, 19, 0), "李秀英");
                v.member_id = Some(m.clone());
                visits.push(v);
            }
            if dice.one_in(10) {
                let mut v = NewVisit::new(VisitKind::DoorKnock, at(today, 15, 0), "李秀英");
                v.household_id = Some(hh.clone());
                visits.push(v);
            }
        }
        // Visits come in time order within a day, as a lead records them.
        visits.sort_by_key(|v| v.at);
        if !visits.is_empty() {
            s.record_visits(&cell, visits).unwrap();
        }
        if dice.one_in(3) {
            let (hh, m, _) = pick(&mut dice, &people);
            errands.push(
                s.request_errand(NewErrand {
                    household_id: hh,
                    member_id: Some(m),
                    request: "代购降压药".into(),
                    due: Some(plus(today, 1)),
                    at: at(today, 10, 0),
                })
                .unwrap(),
            );
        }
        if !errands.is_empty() && dice.one_in(3) {
            let e = errands.remove(dice.roll(errands.len()));
            if dice.one_in(4) {
                s.cancel_errand(&cell, &e).unwrap();
            } else {
                s.complete_errand(&cell, &e, "李秀英", None).unwrap();
            }
        }
        if dice.one_in(4) {
            let (hh, m, _) = pick(&mut dice, &people);
            tasks.push(
                s.add_task(
                    &cell,
                    "核实返乡人员",
                    Some(&hh),
                    Some(&m),
                    Some(plus(today, 3)),
                    at(today, 11, 0),
                )
                .unwrap(),
            );
        }
        if !tasks.is_empty() && dice.one_in(3) {
            let t = tasks.remove(dice.roll(tasks.len()));
            s.set_task_status(&cell, &t, TaskStatus::Done).unwrap();
        }
        if k == 3 || k == 9 {
            let (_, m, _) = people[1].clone();
            s.edit_member(&m, &[MemberEdit::Referred(k == 3)]).unwrap();
        }
        if k == days / 2 {
            let (_, m, _) = people[5].clone();
            s.hand_over(&cell, &m, "网格员张").unwrap();
        }
        if dice.roll(4) != 0 {
            let draft = s.lead_day(&cell, today, 7).unwrap().draft;
            s.submit_report(
                &cell,
                NewReport {
                    date: today,
                    by: "李秀英".into(),
                    at: at(today, 19, 30),
                    arrivals: draft.arrivals + i64::from(dice.one_in(5)),
                    under_monitoring: None,
                    abnormal: if dice.one_in(5) { 0 } else { draft.abnormal },
                    errands: None,
                    note: None,
                },
            )
            .unwrap();
        }
        drop(s);
        if k % 3 == 2 {
            open_at(file, at(today, 21, 0)).raise_alerts(&cell).unwrap();
        }
    }
    cell
}

/// The lead's day as each list gives it alone, every one reading the
/// cell's log itself.
fn lead_day_list_by_list(s: &Store, cell: &str, date: NaiveDate, not_called: i64) -> LeadDay {
    s.with_doc(cell, |d| {
        Ok(LeadDay {
            cell_id: cell.to_string(),
            date,
            lead: d.current_lead(),
            due: d.due_checks(date)?,
            missed: d.missed_checks(date)?,
            open_tasks: d
                .tasks()?
                .into_iter()
                .filter(|t| t.status == TaskStatus::Open)
                .collect(),
            away: d.away_residents(date, not_called)?,
            errands: d
                .errands()
                .into_iter()
                .filter(|e| e.status == ErrandStatus::Requested)
                .collect(),
            draft: d.draft_report(date)?,
            report: match d.report(date)? {
                Some(r) => {
                    let mut one = [r];
                    d.flag_reports(&mut one)?;
                    let [r] = one;
                    Some(r)
                }
                None => None,
            },
            members: d.health_statuses(date)?,
        })
    })
    .unwrap()
}

#[test]
fn the_lead_s_day_read_in_one_pass_is_each_list_s_answer() {
    let d0 = day(2026, 11, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("busy.db");
    let days = 24;
    let cell = busy_cell(&file, d0, days, 20261201);
    let s = open_at(&file, at(plus(d0, days), 9, 0));
    let mut seen = (0, 0, 0, 0, 0);
    for k in 0..days + 3 {
        let date = plus(d0, k) - Days::new(1);
        for not_called in [0, 3, 7, 30] {
            let one_pass = s.lead_day(&cell, date, not_called).unwrap();
            assert_eq!(
                one_pass,
                lead_day_list_by_list(&s, &cell, date, not_called),
                "{date}, not called for {not_called} days"
            );
            seen.0 += one_pass.due.len();
            seen.1 += one_pass.missed.len();
            seen.2 += one_pass.away.len();
            seen.3 += usize::from(one_pass.report.as_ref().is_some_and(|r| r.flag.is_some()));
            seen.4 += one_pass
                .members
                .iter()
                .filter(|m| m.health != HealthStatus::Normal)
                .count();
        }
    }
    // The generated log exercises every list.
    assert!(
        seen.0 > 0 && seen.1 > 0 && seen.2 > 0 && seen.3 > 0 && seen.4 > 0,
        "{seen:?}"
    );
}
