//! A grid worker's first screen: every cell the phone holds, each with what
//! needs doing in it on the day (`Store::cell_summaries`), answered from the
//! store's query tables — and every figure the one the cell's own day
//! (`Store::lead_day`, read from its document) gives: after the phone's own
//! writes, after syncs with the lead's phone and the hub, and after the
//! store is opened again.

mod common;

use chrono::{Days, NaiveDate};
use common::*;
use silin_core::model::*;
use silin_core::register::*;
use silin_core::sync::sync_local;
use silin_core::Store;

/// Three households in `cell`, members at home and away. The first member
/// is named `lead` and has no phone of their own (their household's is the
/// lead's phone).
fn register(s: &Store, cell: &str, lead: &str, d0: NaiveDate) -> Vec<Person> {
    let mut people = Vec::new();
    for h in 0..3 {
        let hh = s
            .add_household(
                cell,
                NewHousehold {
                    address: Some(format!("{}号", h + 1)),
                    phone: Some(format!("1510000{h:04}")),
                    ..Default::default()
                },
            )
            .unwrap();
        for k in 0..3 {
            let away = (h + k) % 3 == 1;
            let name = if h + k == 0 {
                lead.to_string()
            } else {
                format!("{}{}", ["赵", "钱", "孙"][h], ["一", "二", "三"][k])
            };
            let m = s
                .add_member(
                    &hh,
                    NewMember {
                        name,
                        phone: (h + k != 0).then(|| format!("1390000{h}{k:03}")),
                        residence: away.then_some(Residence::Away),
                        ..Default::default()
                    },
                    d0,
                )
                .unwrap();
            people.push((hh.clone(), m, away));
        }
    }
    people
}

/// `days` days of a cell's log from `d0`, written on `s`: arrivals from
/// places of every risk, monitoring set by hand, health checks, calls to
/// the residents away, residents leaving and coming home, tasks opened and
/// closed, and the report on most days.
fn log_days(
    s: &Store,
    cell: &str,
    people: &mut Vec<Person>,
    d0: NaiveDate,
    days: u64,
    dice: &mut Dice,
) {
    let mut open_tasks: Vec<String> = Vec::new();
    for k in 0..days {
        let today = d0 + Days::new(k);
        let pick = |dice: &mut Dice, people: &[Person]| people[dice.roll(people.len())].clone();
        if dice.one_in(3) {
            let (hh, m, _) = pick(dice, people);
            let new = dice.one_in(3);
            let id = s
                .record_arrival(NewArrival {
                    household_id: hh.clone(),
                    person: if new {
                        Arriving::New(NewMember {
                            name: format!("返乡{k}"),
                            ..Default::default()
                        })
                    } else {
                        Arriving::Member(m)
                    },
                    kind: ArrivalKind::Returning,
                    from: "西安市雁塔区".into(),
                    risk: [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High][dice.roll(3)],
                    date: today,
                    means: None,
                    by: "李秀英".into(),
                    at: at(today, 9, 0),
                })
                .unwrap();
            if new {
                people.push((hh, id, false));
            }
        }
        if dice.one_in(5) {
            let (_, m, _) = pick(dice, people);
            s.edit_member(
                &m,
                &[
                    MemberEdit::MonitoringSince((!dice.one_in(3)).then_some(today)),
                    MemberEdit::MonitoringUntil(Some(today + Days::new(dice.roll(8) as u64))),
                ],
            )
            .unwrap();
        }
        if dice.one_in(8) {
            let i = dice.roll(people.len());
            let away = !people[i].2;
            people[i].2 = away;
            let to = if away {
                Residence::Away
            } else {
                Residence::Returned
            };
            s.edit_member(&people[i].1, &[MemberEdit::Residence(to)])
                .unwrap();
        }
        let mut visits = Vec::new();
        for (_, m, away) in people.iter() {
            if dice.roll(100) < 40 {
                let mut v = NewVisit::new(
                    VisitKind::HealthCheck,
                    at(today, 10, dice.roll(60) as u32),
                    "李秀英",
                );
                v.member_id = Some(m.clone());
                v.temperature = Some(if dice.one_in(12) { 38.4 } else { 36.5 });
                visits.push(v);
            }
            if *away && dice.one_in(6) {
                let mut v = NewVisit::new(VisitKind::Call, at(today, 19, 0), "李秀英");
                v.member_id = Some(m.clone());
                visits.push(v);
            }
        }
        // One at a time, as a lead records them through the day (a round,
        // `record_visits`, is tested on its own below).
        visits.sort_by_key(|v| v.at);
        for v in visits {
            s.record_visit(cell, v).unwrap();
        }
        if dice.one_in(3) {
            let (hh, m, _) = pick(dice, people);
            open_tasks.push(
                s.add_task(
                    cell,
                    "核实返乡人员健康码",
                    Some(&hh),
                    Some(&m),
                    Some(today + Days::new(3)),
                    at(today, 11, 0),
                )
                .unwrap(),
            );
        }
        if !open_tasks.is_empty() && dice.one_in(3) {
            let t = open_tasks.remove(dice.roll(open_tasks.len()));
            s.set_task_status(cell, &t, TaskStatus::Done).unwrap();
        }
        if dice.roll(4) != 0 {
            s.submit_report(
                cell,
                NewReport {
                    date: today,
                    by: "李秀英".into(),
                    at: at(today, 19, 30),
                    arrivals: 0,
                    under_monitoring: None,
                    abnormal: 0,
                    errands: None,
                    note: None,
                },
            )
            .unwrap();
        }
    }
}

/// The row the cell's own day says the first screen should show.
fn from_lead_day(s: &Store, cell: &CellInfo, day: NaiveDate, not_called: i64) -> CellSummary {
    let lead_day = s.lead_day(&cell.id, day, not_called).unwrap();
    let view = s.cell(&cell.id).unwrap();
    // The lead's phone: the member of that name's own, else their
    // household's (the first such member by id).
    let mut named: Vec<(&Member, &Household)> = view
        .households
        .iter()
        .flat_map(|h| h.members.iter().map(move |m| (m, h)))
        .filter(|(m, _)| Some(m.name.as_str()) == cell.lead.as_deref().map(str::trim))
        .collect();
    named.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let lead_phone = named
        .iter()
        .find_map(|(m, h)| m.phone.clone().or(h.phone.clone()));
    if let Some(term) = &lead_day.lead {
        // After a handover the cell names the lead the day shows.
        assert_eq!(cell.lead.as_deref(), Some(term.name.as_str()));
    }
    CellSummary {
        cell_id: cell.id.clone(),
        name: cell.name.clone(),
        path: cell.path.clone(),
        lead: cell.lead.clone(),
        lead_phone,
        open_tasks: lead_day.open_tasks.len() as i64,
        reported: lead_day.report.is_some(),
        under_monitoring: lead_day.draft.under_monitoring,
        checks_due: lead_day.due.len() as i64,
        checks_missed: lead_day.missed.len() as i64,
        away_not_called: Some(lead_day.away.len() as i64),
    }
}

/// The first screen equals what each cell's day says, for every day of the
/// log and a few lengths of "not called"; returns how many rows had
/// something to show, to check that the log exercised every figure.
fn agrees_with_each_day(s: &Store, days: impl Iterator<Item = NaiveDate> + Clone) -> [usize; 6] {
    let cells = s.cells(&[]).unwrap();
    let mut seen = [0; 6];
    for day in days {
        for not_called in [0, 3, 7, 30] {
            let screen = s.cell_summaries(&[], day, Some(not_called)).unwrap();
            let want: Vec<CellSummary> = cells
                .iter()
                .map(|c| from_lead_day(s, c, day, not_called))
                .collect();
            assert_eq!(screen, want, "{day}, not called for {not_called} days");
            for r in &screen {
                seen[0] += usize::from(r.open_tasks > 0);
                seen[1] += usize::from(r.reported);
                seen[2] += usize::from(r.under_monitoring > 0);
                seen[3] += usize::from(r.away_not_called > Some(0));
                seen[4] += usize::from(r.checks_due > 0);
                seen[5] += usize::from(r.checks_missed > 0);
            }
            // Without the residents away, the same rows without that count.
            let without: Vec<CellSummary> = screen
                .into_iter()
                .map(|r| CellSummary {
                    away_not_called: None,
                    ..r
                })
                .collect();
            assert_eq!(s.cell_summaries(&[], day, None).unwrap(), without);
        }
    }
    seen
}

fn days_from(d0: NaiveDate, n: u64) -> impl Iterator<Item = NaiveDate> + Clone {
    (0..n).map(move |k| d0 + Days::new(k))
}

#[test]
fn the_first_screen_says_what_each_cell_s_day_says() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("phone.db");
    let d0 = day(2026, 11, 1);
    let s = open_fast(&file);
    let mut dice = Dice(20261205);
    let mut all = Vec::new();
    for (name, region, lead) in [
        ("东关一组", "两当县/城关镇/东关村/一组", "王建国"),
        ("东关二组", "两当县/城关镇/东关村/二组", "李秀英"),
        ("广香一组", "两当县/城关镇/广香村/一组", "张桂兰"),
    ] {
        let cell = s.create_cell(name, &path(region), Some(lead)).unwrap();
        let mut people = register(&s, &cell, lead, d0);
        log_days(&s, &cell, &mut people, d0, 21, &mut dice);
        all.push((cell, people));
    }
    // A handover: the cell's lead is now another member, with a phone.
    s.hand_over(&all[1].0, &all[1].1[4].1, "网格员张").unwrap();
    let seen = agrees_with_each_day(&s, days_from(d0 - Days::new(1), 24));
    assert!(seen.iter().all(|n| *n > 0), "{seen:?}");

    // The scope picks cells as `cells` does, in the same order.
    let village = ["两当县/城关镇/东关村".to_string()];
    let rows = s.cell_summaries(&village, d0, Some(7)).unwrap();
    let cells = s.cells(&village).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows.iter().map(|r| &r.cell_id).collect::<Vec<_>>(),
        cells.iter().map(|c| &c.id).collect::<Vec<_>>()
    );
    let one = s.cell_summaries(&[all[2].0.clone()], d0, Some(7)).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].cell_id, all[2].0);
    assert!(s
        .cell_summaries(&["两当县/站儿巷镇".to_string()], d0, Some(7))
        .unwrap()
        .is_empty());
    let e = s
        .cell_summaries(&["".to_string()], d0, Some(7))
        .unwrap_err();
    assert!(e.to_string().contains("scope"), "{e}");

    // More writes on this phone, and the store opened again from its file.
    let last = d0 + Days::new(21);
    for (cell, people) in &mut all {
        log_days(&s, cell, people, last, 3, &mut dice);
    }
    drop(s);
    let s = open_fast(&file);
    agrees_with_each_day(&s, days_from(last - Days::new(2), 6));
}

#[test]
fn the_first_screen_follows_what_a_sync_brings() {
    let c = county();
    let d0 = day(2026, 11, 20);
    let today = d0 + Days::new(6);
    // The worker's phone takes the village's two cells from the hub, the
    // lead's phone its own.
    sync_local(&c.worker, &c.hub).unwrap();
    sync_local(&c.lead, &c.worker).unwrap();
    let mut dice = Dice(7);
    let mut mine = register(&c.lead, &c.cell, "王建国", d0);
    log_days(&c.lead, &c.cell, &mut mine, d0, 6, &mut dice);
    let mut other = register(&c.worker, &c.other, "钱二", d0);
    log_days(&c.worker, &c.other, &mut other, d0, 6, &mut dice);
    let window = || days_from(d0, 8);
    agrees_with_each_day(&c.worker, window());
    agrees_with_each_day(&c.lead, window());

    // They meet: the worker's screen shows the lead's week, as the lead's
    // own phone does.
    sync_local(&c.lead, &c.worker).unwrap();
    agrees_with_each_day(&c.worker, window());
    let row = |s: &Store, not_called: i64| {
        s.cell_summaries(std::slice::from_ref(&c.cell), today, Some(not_called))
            .unwrap()
            .remove(0)
    };
    assert_eq!(row(&c.worker, 7), row(&c.lead, 7));

    // The hub gives the cell a task; the lead files today's report and
    // calls everyone away. After the syncs, the worker sees all three.
    let before = row(&c.worker, 7);
    c.hub
        .add_task(
            &c.cell,
            "通知户主参加防汛演练",
            None,
            None,
            Some(today),
            at(today, 8, 0),
        )
        .unwrap();
    let calls: Vec<NewVisit> = mine
        .iter()
        .filter(|p| p.2)
        .map(|(_, m, _)| {
            let mut v = NewVisit::new(VisitKind::Call, at(today, 20, 0), "王建国");
            v.member_id = Some(m.clone());
            v
        })
        .collect();
    assert!(!calls.is_empty());
    c.lead.record_visits(&c.cell, calls).unwrap();
    if !before.reported {
        c.lead
            .submit_report(
                &c.cell,
                NewReport {
                    date: today,
                    by: "王建国".into(),
                    at: at(today, 20, 30),
                    arrivals: 0,
                    under_monitoring: None,
                    abnormal: 0,
                    errands: None,
                    note: None,
                },
            )
            .unwrap();
    }
    sync_local(&c.worker, &c.hub).unwrap();
    sync_local(&c.lead, &c.worker).unwrap();
    let after = row(&c.worker, 7);
    assert_eq!(after.open_tasks, before.open_tasks + 1);
    assert!(after.reported);
    assert_eq!(
        after.away_not_called,
        Some(0),
        "everyone away was called today"
    );
    assert_eq!(after, row(&c.lead, 7));
    agrees_with_each_day(&c.worker, window());
    agrees_with_each_day(&c.hub, window());

    // The worker's phone holds the village's cells only; the hub all three.
    let held = |s: &Store| {
        s.cell_summaries(&[], today, Some(7))
            .unwrap()
            .into_iter()
            .map(|r| r.cell_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(held(&c.worker).len(), 2);
    assert!(!held(&c.worker).contains(&c.far));
    assert_eq!(held(&c.hub).len(), 3);
}

#[test]
fn the_first_screen_needs_no_document_after_an_open() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("phone.db");
    let d0 = day(2026, 11, 1);
    let s = open_fast(&file);
    let cell = s
        .create_cell(
            "东关一组",
            &path("两当县/城关镇/东关村/一组"),
            Some("王建国"),
        )
        .unwrap();
    let mut people = register(&s, &cell, "王建国", d0);
    log_days(&s, &cell, &mut people, d0, 10, &mut Dice(99));
    let want = s.cell_summaries(&[], d0 + Days::new(9), Some(7)).unwrap();
    drop(s);
    // A store whose documents are all damaged beyond loading still answers
    // its first screen: it reads none of them.
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch("UPDATE snapshots SET snapshot = x'00'; DELETE FROM chunks;")
        .unwrap();
    drop(conn);
    let s = open_fast(&file);
    assert_eq!(
        s.cell_summaries(&[], d0 + Days::new(9), Some(7)).unwrap(),
        want
    );
    assert!(
        s.lead_day(&cell, d0, 7).is_err(),
        "the document is unreadable"
    );
}

#[test]
fn an_abnormal_check_in_a_round_counts_as_an_open_task() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_fast(&dir.path().join("phone.db"));
    let d0 = day(2026, 11, 1);
    let cell = s
        .create_cell(
            "东关一组",
            &path("两当县/城关镇/东关村/一组"),
            Some("王建国"),
        )
        .unwrap();
    let people = register(&s, &cell, "王建国", d0);
    let mut fever = NewVisit::new(VisitKind::HealthCheck, at(d0, 10, 0), "李秀英");
    fever.member_id = Some(people[0].1.clone());
    fever.temperature = Some(38.6);
    let mut knock = NewVisit::new(VisitKind::DoorKnock, at(d0, 10, 5), "李秀英");
    knock.household_id = Some(people[0].0.clone());
    s.record_visits(&cell, vec![fever, knock]).unwrap();
    assert_eq!(s.lead_day(&cell, d0, 7).unwrap().open_tasks.len(), 1);
    let row = s.cell_summaries(&[], d0, Some(7)).unwrap().remove(0);
    assert_eq!(row.open_tasks, 1);
}

#[test]
fn a_store_of_the_layout_before_gets_its_check_schedules_at_the_first_open() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("phone.db");
    let d0 = day(2026, 11, 1);
    let s = open_fast(&file);
    let cell = s
        .create_cell(
            "东关一组",
            &path("两当县/城关镇/东关村/一组"),
            Some("王建国"),
        )
        .unwrap();
    let mut people = register(&s, &cell, "王建国", d0);
    log_days(&s, &cell, &mut people, d0, 12, &mut Dice(7));
    let last = d0 + Days::new(11);
    let want = s.cell_summaries(&[], last, Some(7)).unwrap();
    assert!(
        want[0].checks_due + want[0].checks_missed > 0,
        "the log has checks to count: {want:?}"
    );
    drop(s);
    // The file as layout 7 left it: no schedule beside the members (and
    // no device audit log, which layout 9 adds).
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch(
        "DROP TABLE device_audit;
         DROP TABLE device_audit_sent;
         DROP INDEX members_checks;
         ALTER TABLE members DROP COLUMN check_since;
         ALTER TABLE members DROP COLUMN check_until;
         ALTER TABLE members DROP COLUMN checks_per_day;
         PRAGMA user_version = 7;",
    )
    .unwrap();
    drop(conn);
    // Opened by this build: laid out again and filled in from the
    // documents before the first screen is read.
    let s = open_fast(&file);
    assert_eq!(s.cell_summaries(&[], last, Some(7)).unwrap(), want);
    assert!(s.check().unwrap().problems.is_empty());
    let stale: i64 = rusqlite::Connection::open(&file)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM meta WHERE key = 'projections_stale'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stale, 0, "rebuilt once, not at every open");
}
