//! The daily activity plan: what each cell's lead, its grid worker and the
//! office do on a given day, and what the day's rollup must then show.
//!
//! Each cell has its own random stream and its own state (who is away, who
//! is under monitoring), carried from day to day, so the plan for a cell is
//! the same whatever order cells are planned or applied in.

use crate::names;
use crate::{stream, Workload, TAG_PLAN};
use chrono::{DateTime, Days, FixedOffset, NaiveDate, TimeZone};
use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;
use silin_core::model::{MemberEdit, NewReport, NewVisit, Residence, TestResult, VisitKind};
use silin_core::register::{ArrivalKind, Arriving, Means, NewArrival, NewDose, Policy, RiskLevel};

/// China Standard Time: every timestamp in the plan is local time there.
fn cst() -> FixedOffset {
    // 8 hours is within ±24 h: the fallback is never taken.
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| chrono::Offset::fix(&chrono::Utc))
}

/// Chance per day that a member working away comes home.
const P_ARRIVE: f64 = 0.004;
/// Chance a health check finds a temperature of 37.3 °C or more.
const P_FEVER: f64 = 0.02;
/// Chance per cell-day that the lead and the grid worker both correct the
/// same member's phone number, to different values, before syncing.
const P_PHONE_CLASH: f64 = 0.02;
/// Chance the grid worker also records a returnee's arrival (with the place
/// written differently), concurrently with the lead.
const P_ARRIVAL_CLASH: f64 = 0.35;

/// One thing someone does to a cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Visit(NewVisit),
    Edit {
        member_id: String,
        edits: Vec<MemberEdit>,
    },
    /// An arrival recorded at the door (layout 2's arrivals: the office's
    /// policy sets the monitoring from its risk level).
    Arrival(NewArrival),
    /// A dose added to a member's history (the office's import from the
    /// health system).
    Dose(NewDose),
}

/// Applies a phone's or the office's actions of the day to `cell`, in order.
pub fn apply_actions(
    store: &silin_core::Store,
    cell: &str,
    actions: &[Action],
) -> silin_core::Result<()> {
    for a in actions {
        match a {
            Action::Visit(v) => {
                store.record_visit(cell, v.clone())?;
            }
            Action::Edit { member_id, edits } => store.edit_member(member_id, edits)?,
            Action::Arrival(a) => {
                store.record_arrival(a.clone())?;
            }
            Action::Dose(d) => {
                store.add_dose(d.clone())?;
            }
        }
    }
    Ok(())
}

/// Who files the day's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reporter {
    Lead,
    /// The lead phoned it in and the grid worker filed it.
    GridWorker,
    /// Both filed it, offline, with the same figures.
    Both,
    Nobody,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReportPlan {
    pub reporter: Reporter,
    pub arrivals: i64,
    pub abnormal: i64,
    /// Members whose monitoring covers the day, as the register will count.
    pub under_monitoring: i64,
    pub lead_at: DateTime<FixedOffset>,
    pub grid_worker_at: DateTime<FixedOffset>,
}

impl ReportPlan {
    pub fn lead_files(&self) -> bool {
        matches!(self.reporter, Reporter::Lead | Reporter::Both)
    }

    pub fn grid_worker_files(&self) -> bool {
        matches!(self.reporter, Reporter::GridWorker | Reporter::Both)
    }

    /// The report as filed by `by`. The lead lets the register count who is
    /// under monitoring (as the app does); the grid worker, whose copy may
    /// not have the lead's latest edits yet, types in the figure phoned in.
    pub fn new_report(&self, date: NaiveDate, by: &str, lead: bool) -> NewReport {
        NewReport {
            date,
            by: by.to_string(),
            at: if lead {
                self.lead_at
            } else {
                self.grid_worker_at
            },
            arrivals: self.arrivals,
            under_monitoring: if lead {
                None
            } else {
                Some(self.under_monitoring)
            },
            abnormal: self.abnormal,
            errands: None,
            note: (!lead).then(|| "联户长电话报告".to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CellDayPlan {
    pub cell: usize,
    /// On the lead's phone, in time order.
    pub lead: Vec<Action>,
    /// On the grid worker's phone.
    pub grid_worker: Vec<Action>,
    /// At the office (records imported from the health system).
    pub office: Vec<Action>,
    pub report: ReportPlan,
    /// Fields edited concurrently by lead and grid worker (conflicts to be).
    pub same_field_edits: usize,
}

/// A cell's day counted by hand from the plan and the register it started
/// from, independently of silin: what the report's draft must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HandCount {
    pub arrivals: i64,
    pub under_monitoring: i64,
    pub abnormal: i64,
    pub errands: i64,
    pub door_knocks: i64,
    pub calls: i64,
}

impl CellDayPlan {
    /// The hand count of `date` for this cell: the members whose arrival
    /// the register or the day's edits date that day, the monitored and
    /// feverish members the plan counted, and the day's visits by kind.
    pub fn hand_count(&self, date: NaiveDate, cell: &crate::CellSpec) -> HandCount {
        let actions = || {
            self.lead
                .iter()
                .chain(&self.grid_worker)
                .chain(&self.office)
        };
        let mut arrived: std::collections::BTreeSet<&str> = cell
            .members()
            .filter(|(_, m)| m.arrival.as_ref().is_some_and(|a| a.date == date))
            .map(|(_, m)| m.id.as_str())
            .collect();
        let count = |kind: VisitKind| {
            actions()
                .filter(|a| matches!(a, Action::Visit(v) if v.kind == kind))
                .count() as i64
        };
        let (errands, door_knocks, calls) = (
            count(VisitKind::Errand),
            count(VisitKind::DoorKnock),
            count(VisitKind::Call),
        );
        for a in actions() {
            match a {
                Action::Edit { member_id, edits }
                    if edits.contains(&MemberEdit::ArrivalDate(Some(date))) =>
                {
                    arrived.insert(member_id);
                }
                Action::Arrival(NewArrival {
                    person: Arriving::Member(id),
                    date: d,
                    ..
                }) if *d == date => {
                    arrived.insert(id);
                }
                _ => {}
            }
        }
        HandCount {
            arrivals: arrived.len() as i64,
            under_monitoring: self.report.under_monitoring,
            abnormal: self.report.abnormal,
            errands,
            door_knocks,
            calls,
        }
    }
}

/// What the day's county rollup must show, and how much work the day holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayTotals {
    pub date: NaiveDate,
    pub cells: i64,
    pub reported: i64,
    pub missing: i64,
    pub zero: i64,
    pub arrivals: i64,
    pub abnormal: i64,
    pub under_monitoring: i64,
    pub visits: i64,
    pub member_edits: i64,
    pub same_field_edits: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DayPlan {
    /// 0 for the first day.
    pub day: u32,
    pub date: NaiveDate,
    /// One per cell, by cell index.
    pub cells: Vec<CellDayPlan>,
    pub totals: DayTotals,
}

struct MemberState {
    id: String,
    household: String,
    residence: Residence,
    monitoring: Option<(NaiveDate, NaiveDate)>,
    errands: bool,
    has_phone: bool,
    doses: i64,
}

impl MemberState {
    fn monitored_on(&self, day: NaiveDate) -> bool {
        self.monitoring.is_some_and(|(s, u)| s <= day && day <= u)
    }
}

struct CellState {
    rng: StdRng,
    lead: String,
    lead_member: String,
    grid_worker: String,
    households: Vec<String>,
    members: Vec<MemberState>,
}

/// Produces the plan one day at a time (see [`Planner::next_day`]).
pub struct Planner<'w> {
    workload: &'w Workload,
    day: u32,
    cells: Vec<CellState>,
}

impl<'w> Planner<'w> {
    pub fn new(workload: &'w Workload) -> Planner<'w> {
        let gw_of = workload.grid_worker_of_cells();
        let cells = workload
            .cells
            .iter()
            .map(|c| CellState {
                rng: stream(workload.seed, TAG_PLAN, c.index as u64),
                lead: c.lead.clone(),
                lead_member: c.lead_member_id.clone(),
                grid_worker: workload
                    .grid_workers
                    .get(gw_of[c.index])
                    .map(|g| g.name.clone())
                    .unwrap_or_default(),
                households: c.households.iter().map(|h| h.id.clone()).collect(),
                members: c
                    .members()
                    .map(|(h, m)| MemberState {
                        id: m.id.clone(),
                        household: h.id.clone(),
                        residence: m.residence,
                        monitoring: m.monitoring,
                        errands: m.needs_errands(),
                        has_phone: m.phone.is_some(),
                        doses: 0,
                    })
                    .collect(),
            })
            .collect();
        Planner {
            workload,
            day: 0,
            cells,
        }
    }

    /// The next day's plan (the first call gives the start date's).
    pub fn next_day(&mut self) -> DayPlan {
        let date = self.workload.start + Days::new(u64::from(self.day));
        let cells: Vec<CellDayPlan> = self
            .cells
            .iter_mut()
            .enumerate()
            .map(|(i, c)| plan_cell(i, c, date))
            .collect();
        let mut t = DayTotals {
            date,
            cells: cells.len() as i64,
            reported: 0,
            missing: 0,
            zero: 0,
            arrivals: 0,
            abnormal: 0,
            under_monitoring: 0,
            visits: 0,
            member_edits: 0,
            same_field_edits: 0,
        };
        for c in &cells {
            let r = &c.report;
            if r.reporter == Reporter::Nobody {
                t.missing += 1;
            } else {
                t.reported += 1;
                t.arrivals += r.arrivals;
                t.abnormal += r.abnormal;
                t.under_monitoring += r.under_monitoring;
                if r.arrivals == 0 && r.abnormal == 0 {
                    t.zero += 1;
                }
            }
            for a in c.lead.iter().chain(&c.grid_worker).chain(&c.office) {
                match a {
                    Action::Visit(_) => t.visits += 1,
                    // An arrival and a dose edit the register too.
                    Action::Edit { .. } | Action::Arrival(_) | Action::Dose(_) => {
                        t.member_edits += 1
                    }
                }
            }
            t.same_field_edits += c.same_field_edits as i64;
        }
        let plan = DayPlan {
            day: self.day,
            date,
            cells,
            totals: t,
        };
        self.day += 1;
        plan
    }
}

impl Iterator for Planner<'_> {
    type Item = DayPlan;
    fn next(&mut self) -> Option<DayPlan> {
        Some(self.next_day())
    }
}

fn at(date: NaiveDate, minutes: u32) -> DateTime<FixedOffset> {
    let m = minutes.min(23 * 60 + 59);
    let naive = date.and_hms_opt(m / 60, m % 60, 0).unwrap_or_default();
    // A fixed offset has exactly one mapping for every local time.
    cst()
        .from_local_datetime(&naive)
        .single()
        .unwrap_or_else(|| naive.and_utc().fixed_offset())
}

fn visit(
    kind: VisitKind,
    when: DateTime<FixedOffset>,
    by: &str,
    household: &str,
    member: Option<&str>,
) -> NewVisit {
    let mut v = NewVisit::new(kind, when, by);
    v.household_id = Some(household.to_string());
    v.member_id = member.map(str::to_string);
    v
}

fn plan_cell(index: usize, c: &mut CellState, date: NaiveDate) -> CellDayPlan {
    let rng = &mut c.rng;
    let (mut lead, mut gw, mut office) = (Vec::new(), Vec::new(), Vec::new());
    let mut same_field = 0;
    let mut arrivals = 0;
    let mut abnormal = 0;
    // The lead's clock: starts between 8 and 9 and moves on with each visit.
    let mut clock = 8 * 60 + rng.random_range(0..60);
    let mut tick = |rng: &mut StdRng| {
        clock += rng.random_range(5..40);
        clock
    };

    // Returnees first: they are health-checked on the day they arrive.
    for m in c
        .members
        .iter_mut()
        .filter(|m| m.residence == Residence::Away)
    {
        if !rng.random_bool(P_ARRIVE) {
            continue;
        }
        let (city, full) = names::CITIES[rng.random_range(0..names::CITIES.len())];
        // The office rates the place; its policy sets the monitoring
        // (by default high 14 days, medium 7, low none).
        let risk = match rng.random_range(0..100) {
            0..8 => RiskLevel::High,
            8..30 => RiskLevel::Medium,
            _ => RiskLevel::Low,
        };
        let rule = Policy::default().rule(risk);
        let until = (rule.days > 0).then(|| date + Days::new(rule.days as u64 - 1));
        let means = Means::ALL[rng.random_range(0..Means::ALL.len())];
        lead.push(Action::Arrival(NewArrival {
            household_id: m.household.clone(),
            person: Arriving::Member(m.id.clone()),
            kind: ArrivalKind::Returning,
            from: city.to_string(),
            risk,
            date,
            means: Some(means),
            by: c.lead.clone(),
            at: at(date, tick(rng)),
        }));
        if rng.random_bool(P_ARRIVAL_CLASH) {
            // The village committee told the grid worker too; they write the
            // province out in full.
            gw.push(Action::Edit {
                member_id: m.id.clone(),
                edits: vec![
                    MemberEdit::ArrivalFrom(Some(full.to_string())),
                    MemberEdit::ArrivalDate(Some(date)),
                ],
            });
            same_field += 1;
        }
        m.residence = Residence::Returned;
        if let Some(until) = until {
            m.monitoring = Some((date, until));
        }
        arrivals += 1;
    }

    for m in c
        .members
        .iter()
        .filter(|m| m.monitored_on(date) && m.residence != Residence::Away)
    {
        let fever = rng.random_bool(P_FEVER);
        let tenths: u32 = if fever {
            rng.random_range(373..=386)
        } else {
            rng.random_range(360..=372)
        };
        let mut v = visit(
            VisitKind::HealthCheck,
            at(date, tick(rng)),
            &c.lead,
            &m.household,
            Some(&m.id),
        );
        v.temperature = Some(f64::from(tenths) / 10.0);
        if fever {
            abnormal += 1;
            v.symptoms = rng.random_bool(0.5).then(|| "发热、乏力".to_string());
            v.outcome = Some("体温偏高，已报告村卫生室".to_string());
        } else {
            v.outcome = Some("体温正常，无不适".to_string());
        }
        lead.push(Action::Visit(v));
    }

    // Most households get a knock most days; now and then the lead passes
    // on a notice (vaccination days, heating subsidy, road works).
    for h in &c.households {
        if rng.random_bool(0.8) {
            let mut v = visit(VisitKind::DoorKnock, at(date, tick(rng)), &c.lead, h, None);
            v.outcome = Some(
                if rng.random_bool(0.9) {
                    "在家，情况正常"
                } else {
                    "家中无人"
                }
                .to_string(),
            );
            lead.push(Action::Visit(v));
        }
        if rng.random_bool(0.15) {
            let mut v = visit(VisitKind::Notify, at(date, tick(rng)), &c.lead, h, None);
            v.note = Some(names::pick(rng, names::NOTICES).to_string());
            lead.push(Action::Visit(v));
        }
    }

    for m in c
        .members
        .iter()
        .filter(|m| m.errands && m.residence != Residence::Away)
    {
        if rng.random_bool(0.5) {
            let mut v = visit(
                VisitKind::Errand,
                at(date, tick(rng)),
                &c.lead,
                &m.household,
                Some(&m.id),
            );
            v.note = Some(names::pick(rng, names::ERRANDS).to_string());
            v.outcome = Some("已办结".to_string());
            lead.push(Action::Visit(v));
        }
    }

    for m in c.members.iter().filter(|m| m.residence == Residence::Away) {
        if rng.random_bool(0.04) {
            let mut v = visit(
                VisitKind::Call,
                at(date, tick(rng)),
                &c.lead,
                &m.household,
                Some(&m.id),
            );
            v.note = Some("电话询问近况，暂无返乡计划".to_string());
            lead.push(Action::Visit(v));
        }
    }

    let residents: Vec<usize> = (0..c.members.len())
        .filter(|&i| c.members[i].residence != Residence::Away)
        .collect();
    if !residents.is_empty() && rng.random_bool(0.03) {
        let m = &c.members[residents[rng.random_range(0..residents.len())]];
        lead.push(Action::Edit {
            member_id: m.id.clone(),
            edits: vec![
                MemberEdit::TestDate(Some(date)),
                MemberEdit::TestResult(Some(TestResult::Negative)),
            ],
        });
    }

    let with_phone: Vec<usize> = (0..c.members.len())
        .filter(|&i| c.members[i].has_phone)
        .collect();
    if !with_phone.is_empty() && rng.random_bool(P_PHONE_CLASH) {
        // The member changed numbers and told both, one of them misheard.
        let m = &c.members[with_phone[rng.random_range(0..with_phone.len())]];
        let new = names::mobile(rng);
        let misheard = names::mobile(rng);
        lead.push(Action::Edit {
            member_id: m.id.clone(),
            edits: vec![MemberEdit::Phone(Some(new))],
        });
        gw.push(Action::Edit {
            member_id: m.id.clone(),
            edits: vec![MemberEdit::Phone(Some(misheard))],
        });
        same_field += 1;
    }

    // The grid worker's own rounds.
    if rng.random_bool(0.25) {
        let h = &c.households[rng.random_range(0..c.households.len())];
        let mut v = visit(
            VisitKind::DoorKnock,
            at(date, rng.random_range(9 * 60..17 * 60)),
            &c.grid_worker,
            h,
            None,
        );
        v.note = Some("网格员走访".to_string());
        gw.push(Action::Visit(v));
    }
    if rng.random_bool(0.1) {
        let hh = c
            .members
            .iter()
            .find(|m| m.id == c.lead_member)
            .map(|m| m.household.clone())
            .unwrap_or_default();
        let mut v = visit(
            VisitKind::Call,
            at(date, rng.random_range(9 * 60..18 * 60)),
            &c.grid_worker,
            &hh,
            Some(&c.lead_member),
        );
        v.note = Some("与联户长核对当日情况".to_string());
        gw.push(Action::Visit(v));
    }

    // The office imports vaccination records from the health system.
    if !residents.is_empty() && rng.random_bool(0.015) {
        let i = residents[rng.random_range(0..residents.len())];
        let m = &mut c.members[i];
        m.doses = (m.doses + 1).min(10);
        office.push(Action::Dose(NewDose {
            member_id: m.id.clone(),
            number: Some(m.doses),
            date: Some(date - Days::new(rng.random_range(1..30))),
            kind: Some("新冠疫苗".to_string()),
            by: "县卫健局".to_string(),
        }));
    }

    let under_monitoring = c.members.iter().filter(|m| m.monitored_on(date)).count() as i64;
    let reporter = match rng.random_range(0..1000) {
        0..965 => Reporter::Lead,
        965..985 => Reporter::GridWorker,
        985..995 => Reporter::Both,
        _ => Reporter::Nobody,
    };
    let report = ReportPlan {
        reporter,
        arrivals,
        abnormal,
        under_monitoring,
        lead_at: at(date, (clock + 10).max(18 * 60)),
        grid_worker_at: at(date, rng.random_range(19 * 60..21 * 60)),
    };
    CellDayPlan {
        cell: index,
        lead,
        grid_worker: gw,
        office,
        report,
        same_field_edits: same_field,
    }
}
