//! Two devices share a cell and edit it offline; merging both ways gives
//! both the same winner, and the losing value stays visible as a conflict.

mod common;

use common::*;
use silin_core::model::*;
use silin_core::Store;

struct Pair {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    lead: Store,
    worker: Store,
    cell: String,
    hh: String,
    member: String,
}

/// The lead's phone creates the cell; the grid worker's phone takes a copy.
fn pair() -> Pair {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let lead = open(&d1.path().join("lead.db"));
    let worker = open(&d2.path().join("worker.db"));
    let cell = lead
        .create_cell("一组", &path("c/t/v/g"), Some("王建国"))
        .unwrap();
    let hh = lead.add_household(&cell, NewHousehold::default()).unwrap();
    let member = lead
        .add_member(
            &hh,
            NewMember {
                name: "王芳".into(),
                phone: Some("13700000000".into()),
                ..Default::default()
            },
            today(),
        )
        .unwrap();
    assert_eq!(
        worker.merge_bytes(&lead.save_doc(&cell).unwrap()).unwrap(),
        (cell.clone(), true)
    );
    assert_eq!(worker.cell(&cell).unwrap(), lead.cell(&cell).unwrap());
    Pair {
        _dirs: (d1, d2),
        lead,
        worker,
        cell,
        hh,
        member,
    }
}

/// Merges both ways through saved documents, as a bundle would.
fn sync(p: &Pair) {
    let a = p.lead.save_doc(&p.cell).unwrap();
    let b = p.worker.save_doc(&p.cell).unwrap();
    p.lead.merge_bytes(&b).unwrap();
    p.worker.merge_bytes(&a).unwrap();
    assert_eq!(
        p.lead.heads(&p.cell).unwrap(),
        p.worker.heads(&p.cell).unwrap()
    );
}

#[test]
fn same_field_edited_on_two_devices_shows_one_winner_and_the_conflict() {
    let p = pair();
    p.lead
        .edit_member(&p.member, &[MemberEdit::Phone(Some("13811111111".into()))])
        .unwrap();
    p.worker
        .edit_member(&p.member, &[MemberEdit::Phone(Some("13922222222".into()))])
        .unwrap();
    assert!(
        p.lead.conflicts(&p.cell).unwrap().is_empty(),
        "no conflict before the merge"
    );
    sync(&p);

    let (a, b) = (
        p.lead.member(&p.member).unwrap(),
        p.worker.member(&p.member).unwrap(),
    );
    assert_eq!(a, b, "both devices show the same member");
    let winner = a.phone.clone().unwrap();
    assert!(["13811111111", "13922222222"].contains(&winner.as_str()));
    let loser = if winner == "13811111111" {
        "13922222222"
    } else {
        "13811111111"
    };

    let ca = p.lead.conflicts(&p.cell).unwrap();
    assert_eq!(ca, p.worker.conflicts(&p.cell).unwrap());
    assert_eq!(
        ca,
        vec![Conflict {
            path: format!("households/{}/members/{}/phone", p.hh, p.member),
            values: vec![winner.clone(), loser.to_string()],
        }],
        "the conflict lists the path and both values, the shown one first"
    );
    assert_eq!(
        p.lead.cell(&p.cell).unwrap().conflicts,
        ca,
        "the view carries the conflicts"
    );
    // The projections follow the winner on both devices.
    for s in [&p.lead, &p.worker] {
        assert!(s.projections_match_docs().unwrap());
        assert!(s.check().unwrap().ok);
    }

    // The conflict survives reopening, and a new edit settles it everywhere.
    let path = p.lead.path().to_path_buf();
    let Pair {
        _dirs,
        lead,
        worker,
        cell,
        member,
        hh,
    } = p;
    drop(lead);
    let lead = open(&path);
    assert_eq!(lead.conflicts(&cell).unwrap(), ca);
    lead.edit_member(&member, &[MemberEdit::Phone(Some(loser.into()))])
        .unwrap();
    let p = Pair {
        _dirs,
        lead,
        worker,
        cell,
        hh,
        member,
    };
    sync(&p);
    for s in [&p.lead, &p.worker] {
        assert!(s.conflicts(&p.cell).unwrap().is_empty());
        assert_eq!(s.member(&p.member).unwrap().phone.as_deref(), Some(loser));
    }
}

#[test]
fn different_fields_edited_on_two_devices_merge_without_conflict() {
    let p = pair();
    let d = day(2026, 11, 20);
    p.lead
        .edit_member(
            &p.member,
            &[
                MemberEdit::Residence(Residence::Returned),
                MemberEdit::ArrivalFrom(Some("兰州".into())),
                MemberEdit::Vulnerable(Vulnerability::Elderly, true),
            ],
        )
        .unwrap();
    p.worker
        .edit_member(
            &p.member,
            &[
                MemberEdit::Phone(Some("13922222222".into())),
                MemberEdit::ArrivalDate(Some(d)),
                MemberEdit::MonitoringUntil(Some(day(2026, 12, 4))),
                MemberEdit::Vulnerable(Vulnerability::Alone, true),
            ],
        )
        .unwrap();
    p.lead.rename_cell(&p.cell, "东关一组").unwrap();
    p.worker.set_lead(&p.cell, "李秀英").unwrap();
    let mut v = NewVisit::new(VisitKind::Call, at(today(), 9, 0), "王建国");
    v.member_id = Some(p.member.clone());
    let v1 = p.lead.record_visit(&p.cell, v.clone()).unwrap();
    v.by = "网格员".into();
    let v2 = p.worker.record_visit(&p.cell, v).unwrap();
    sync(&p);

    for s in [&p.lead, &p.worker] {
        assert!(
            s.conflicts(&p.cell).unwrap().is_empty(),
            "{:?}",
            s.conflicts(&p.cell)
        );
        let m = s.member(&p.member).unwrap();
        assert_eq!(m.residence, Residence::Returned);
        assert_eq!(m.phone.as_deref(), Some("13922222222"));
        assert_eq!(m.arrival.from.as_deref(), Some("兰州"));
        assert_eq!(m.arrival.date, Some(d));
        assert_eq!(m.monitoring.until, Some(day(2026, 12, 4)));
        assert_eq!(
            m.vulnerable,
            vec![Vulnerability::Elderly, Vulnerability::Alone]
        );
        let view = s.cell(&p.cell).unwrap();
        assert_eq!(
            (view.cell.name.as_str(), view.cell.lead.as_deref()),
            ("东关一组", Some("李秀英"))
        );
        let mut ids: Vec<_> = view.visits.iter().map(|v| v.id.clone()).collect();
        ids.sort();
        let mut want = vec![v1.clone(), v2.clone()];
        want.sort();
        assert_eq!(ids, want, "both visits kept");
        assert_eq!(s.under_monitoring(day(2026, 12, 1)).unwrap().len(), 1);
        assert!(s.projections_match_docs().unwrap());
    }
    assert_eq!(
        p.lead.cell(&p.cell).unwrap(),
        p.worker.cell(&p.cell).unwrap()
    );
}

#[test]
fn the_same_days_report_filed_on_two_devices_converges_and_shows_the_conflict() {
    let p = pair();
    let r = NewReport {
        date: today(),
        by: "王建国".into(),
        at: at(today(), 20, 0),
        arrivals: 0,
        under_monitoring: Some(0),
        abnormal: 0,
        errands: Some(0),
        note: Some("零报告".into()),
    };
    p.lead.submit_report(&p.cell, r.clone()).unwrap();
    p.worker
        .submit_report(
            &p.cell,
            NewReport {
                by: "网格员".into(),
                arrivals: 2,
                abnormal: 1,
                note: None,
                ..r
            },
        )
        .unwrap();
    sync(&p);
    let (a, b) = (
        p.lead.cell(&p.cell).unwrap(),
        p.worker.cell(&p.cell).unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(a.reports.len(), 1, "one report per date");
    // Both devices created the date's map concurrently: the report reads
    // field by field across both filings, and the fields they filed
    // differently are the conflicts, each with both values.
    let paths: Vec<&str> = a.conflicts.iter().map(|c| c.path.as_str()).collect();
    let day = today();
    for field in ["abnormal", "arrivals", "by"] {
        assert!(
            paths.contains(&format!("reports/{day}/{field}").as_str()),
            "{field} in {paths:?}"
        );
    }
    assert!(!paths.contains(&format!("reports/{day}").as_str()));
    let shown = &a.reports[0];
    let whole = |by: &str, arrivals, abnormal| {
        shown.by == by && shown.arrivals == arrivals && shown.abnormal == abnormal
    };
    assert!(whole("王建国", 0, 0) || whole("网格员", 2, 1), "{shown:?}");
    // A field only one device filed is never hidden by the other's filing.
    assert_eq!(shown.note.as_deref(), Some("零报告"));
    let rollup = p.lead.rollup(today(), Level::County).unwrap();
    assert_eq!(rollup, p.worker.rollup(today(), Level::County).unwrap());
    assert_eq!(
        (rollup[0].arrivals, rollup[0].abnormal),
        (shown.arrivals, shown.abnormal)
    );

    // Re-filing after the merge writes into the shown map and settles nothing
    // else; both devices agree again after the next sync.
    p.worker
        .submit_report(
            &p.cell,
            NewReport {
                by: "网格员".into(),
                at: at(today(), 21, 0),
                arrivals: 1,
                under_monitoring: Some(0),
                abnormal: 0,
                errands: Some(0),
                note: None,
                date: today(),
            },
        )
        .unwrap();
    sync(&p);
    let (a, b) = (
        p.lead.cell(&p.cell).unwrap(),
        p.worker.cell(&p.cell).unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(
        (a.reports[0].by.as_str(), a.reports[0].arrivals),
        ("网格员", 1)
    );
}
