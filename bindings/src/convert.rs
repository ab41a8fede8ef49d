//! The records and enums of udl/silin.udl, and their conversion to and from
//! silin-core's types. Dates cross as "YYYY-MM-DD" and instants as RFC 3339,
//! so every language reads them without a date library of ours.

use crate::error::StoreError;
use chrono::{DateTime, FixedOffset, NaiveDate};
use silin_core::model as core;
use silin_core::store::{MemberSummary as CoreMemberSummary, VisitSummary as CoreVisitSummary};
use std::sync::Arc;

// ---- choices: the same sets as silin-core's, named for the UDL ----------

/// Maps a UDL enum onto the core enum of the same variants, both ways.
macro_rules! same_choice {
    ($ffi:ident <=> $core:path { $($v:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ffi { $($v),+ }

        impl From<$ffi> for $core {
            fn from(v: $ffi) -> Self {
                match v { $($ffi::$v => <$core>::$v),+ }
            }
        }

        impl From<$core> for $ffi {
            fn from(v: $core) -> Self {
                match v { $(<$core>::$v => $ffi::$v),+ }
            }
        }
    };
}

same_choice!(VisitKind <=> core::VisitKind { DoorKnock, HealthCheck, Call, Errand, Notify });
same_choice!(Residence <=> core::Residence { Resident, Away, Returned, Visitor });
same_choice!(Sex <=> core::Sex { Male, Female, Unknown });
same_choice!(TestResult <=> core::TestResult { Negative, Positive, Pending });
same_choice!(TaskStatus <=> core::TaskStatus { Open, Done, Cancelled });
same_choice!(Vulnerability <=> core::Vulnerability { Elderly, Disabled, Mobility, Alone, Chronic });
same_choice!(Role <=> silin_core::identity::Role { Lead, GridWorker, Office, County, BuildingHead, UnitHead });

/// The countryside's levels; a level is a depth in the core
/// ([`core::Level`]), whatever a branch calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    County,
    Township,
    Village,
    Group,
}

impl From<Level> for core::Level {
    fn from(v: Level) -> Self {
        match v {
            Level::County => core::Level::County,
            Level::Township => core::Level::Township,
            Level::Village => core::Level::Village,
            Level::Group => core::Level::Group,
        }
    }
}

// ---- read side ------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct CellInfo {
    pub id: String,
    pub name: String,
    pub region_path: String,
    pub lead: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: String,
    pub household_id: String,
    pub name: String,
    pub sex: Sex,
    pub birth_year: Option<i64>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub relation: Option<String>,
    pub residence: Residence,
    pub arrival_from: Option<String>,
    pub arrival_risk_area: bool,
    pub arrival_date: Option<String>,
    pub monitoring_since: Option<String>,
    pub monitoring_until: Option<String>,
    pub vaccination_doses: i64,
    pub vaccination_last: Option<String>,
    pub test_date: Option<String>,
    pub test_result: Option<TestResult>,
    pub vulnerable: Vec<Vulnerability>,
    pub away_at: Option<String>,
    pub referred: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Household {
    pub id: String,
    pub address: Option<String>,
    pub door: Option<String>,
    pub phone: Option<String>,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    pub id: String,
    pub kind: VisitKind,
    pub household_id: Option<String>,
    pub member_id: Option<String>,
    pub at: String,
    pub by: String,
    pub temperature: Option<f64>,
    pub symptoms: Option<String>,
    pub outcome: Option<String>,
    pub note: Option<String>,
    pub task_id: Option<String>,
    pub abnormal: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub date: String,
    pub by: String,
    pub at: String,
    pub arrivals: i64,
    pub under_monitoring: i64,
    pub abnormal: i64,
    pub errands: i64,
    pub note: Option<String>,
    pub zero: bool,
    pub flag: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CellTask {
    pub id: String,
    pub title: String,
    pub household_id: Option<String>,
    pub member_id: Option<String>,
    pub due: Option<String>,
    pub status: TaskStatus,
    pub created: String,
    pub kind: crate::register::TaskKind,
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub path: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CellView {
    pub cell: CellInfo,
    pub households: Vec<Household>,
    pub visits: Vec<Visit>,
    pub reports: Vec<Report>,
    pub tasks: Vec<CellTask>,
    pub conflicts: Vec<Conflict>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberSummary {
    pub cell_id: String,
    pub household_id: String,
    pub member_id: String,
    pub name: String,
    pub phone: Option<String>,
    pub residence: Residence,
    pub monitoring_since: Option<String>,
    pub monitoring_until: Option<String>,
    pub vulnerable: Vec<Vulnerability>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VisitSummary {
    pub cell_id: String,
    pub visit_id: String,
    pub day: String,
    pub kind: VisitKind,
    pub member_id: Option<String>,
    pub abnormal: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RollupRow {
    pub path: String,
    pub cells: i64,
    pub reported: i64,
    pub missing: i64,
    pub zero: i64,
    pub arrivals: i64,
    pub abnormal: i64,
    pub under_monitoring: i64,
}

pub(crate) fn day(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.to_string())
}

impl From<core::CellInfo> for CellInfo {
    fn from(c: core::CellInfo) -> Self {
        CellInfo {
            id: c.id,
            name: c.name,
            region_path: c.path.to_string(),
            lead: c.lead,
        }
    }
}

impl From<core::Report> for Report {
    fn from(r: core::Report) -> Self {
        Report {
            zero: r.is_zero(),
            date: r.date.to_string(),
            by: r.by,
            at: r.at,
            arrivals: r.arrivals,
            under_monitoring: r.under_monitoring,
            abnormal: r.abnormal,
            errands: r.errands,
            note: r.note,
            flag: r.flag,
        }
    }
}

impl From<core::Task> for CellTask {
    fn from(t: core::Task) -> Self {
        CellTask {
            id: t.id,
            title: t.title,
            household_id: t.household_id,
            member_id: t.member_id,
            due: day(t.due),
            status: t.status.into(),
            created: t.created,
            kind: t.kind.into(),
            source: t.source,
        }
    }
}

impl From<core::Member> for Member {
    fn from(m: core::Member) -> Self {
        Member {
            id: m.id,
            household_id: m.household_id,
            name: m.name,
            sex: m.sex.into(),
            birth_year: m.birth_year,
            id_number: m.id_number,
            phone: m.phone,
            relation: m.relation,
            residence: m.residence.into(),
            arrival_from: m.arrival.from,
            arrival_risk_area: m.arrival.risk_area,
            arrival_date: day(m.arrival.date),
            monitoring_since: day(m.monitoring.since),
            monitoring_until: day(m.monitoring.until),
            vaccination_doses: m.vaccination.doses,
            vaccination_last: day(m.vaccination.last),
            test_date: day(m.test.date),
            test_result: m.test.result.map(Into::into),
            vulnerable: m.vulnerable.into_iter().map(Into::into).collect(),
            away_at: m.away_at,
            referred: m.referred,
        }
    }
}

impl From<core::CellView> for CellView {
    fn from(v: core::CellView) -> Self {
        CellView {
            cell: v.cell.into(),
            households: v
                .households
                .into_iter()
                .map(|h| Household {
                    id: h.id,
                    address: h.address,
                    door: h.door,
                    phone: h.phone,
                    members: h.members.into_iter().map(Into::into).collect(),
                })
                .collect(),
            visits: v
                .visits
                .into_iter()
                .map(|v| Visit {
                    abnormal: v.is_abnormal(),
                    id: v.id,
                    kind: v.kind.into(),
                    household_id: v.household_id,
                    member_id: v.member_id,
                    at: v.at,
                    by: v.by,
                    temperature: v.temperature,
                    symptoms: v.symptoms,
                    outcome: v.outcome,
                    note: v.note,
                    task_id: v.task_id,
                })
                .collect(),
            reports: v.reports.into_iter().map(Into::into).collect(),
            tasks: v.tasks.into_iter().map(Into::into).collect(),
            conflicts: v.conflicts.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<core::Conflict> for Conflict {
    fn from(c: core::Conflict) -> Self {
        Conflict {
            path: c.path,
            values: c.values,
        }
    }
}

impl From<CoreMemberSummary> for MemberSummary {
    fn from(m: CoreMemberSummary) -> Self {
        MemberSummary {
            residence: m.residence.into(),
            vulnerable: m.vulnerable.into_iter().map(Into::into).collect(),
            cell_id: m.cell_id,
            household_id: m.household_id,
            member_id: m.member_id,
            name: m.name,
            phone: m.phone,
            monitoring_since: m.monitoring_since.map(|d| d.to_string()),
            monitoring_until: m.monitoring_until.map(|d| d.to_string()),
        }
    }
}

impl From<CoreVisitSummary> for VisitSummary {
    fn from(v: CoreVisitSummary) -> Self {
        VisitSummary {
            kind: v.kind.into(),
            cell_id: v.cell_id,
            visit_id: v.visit_id,
            day: v.day.to_string(),
            member_id: v.member_id,
            abnormal: v.abnormal,
        }
    }
}

impl From<silin_core::rollup::RollupRow> for RollupRow {
    fn from(r: silin_core::rollup::RollupRow) -> Self {
        RollupRow {
            path: r.path,
            cells: r.cells,
            reported: r.reported,
            missing: r.missing,
            zero: r.zero,
            arrivals: r.arrivals,
            abnormal: r.abnormal,
            under_monitoring: r.under_monitoring,
        }
    }
}

// ---- write side -------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct NewHousehold {
    pub address: Option<String>,
    pub door: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewMember {
    pub name: String,
    pub sex: Option<Sex>,
    pub birth_year: Option<i64>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub relation: Option<String>,
    pub residence: Option<Residence>,
    pub vulnerable: Vec<Vulnerability>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MemberEdit {
    SetName { name: String },
    SetSex { sex: Sex },
    SetBirthYear { year: Option<i64> },
    SetIdNumber { id_number: Option<String> },
    SetPhone { phone: Option<String> },
    SetRelation { relation: Option<String> },
    SetResidence { residence: Residence },
    SetArrivalFrom { place: Option<String> },
    SetArrivalRiskArea { risk_area: bool },
    SetArrivalDate { date: Option<String> },
    SetMonitoringSince { date: Option<String> },
    SetMonitoringUntil { date: Option<String> },
    SetVaccinationDoses { doses: i64 },
    SetVaccinationLast { date: Option<String> },
    SetTestDate { date: Option<String> },
    SetTestResult { result: Option<TestResult> },
    SetVulnerable { flag: Vulnerability, on: bool },
    SetAwayAt { place: Option<String> },
    SetReferred { referred: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewVisit {
    pub kind: VisitKind,
    pub by: String,
    pub household_id: Option<String>,
    pub member_id: Option<String>,
    pub at: Option<String>,
    pub temperature: Option<f64>,
    pub symptoms: Option<String>,
    pub outcome: Option<String>,
    pub note: Option<String>,
    pub task_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewReport {
    pub date: String,
    pub by: String,
    pub arrivals: i64,
    pub abnormal: i64,
    pub under_monitoring: Option<i64>,
    pub errands: Option<i64>,
    pub note: Option<String>,
    pub at: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub title: String,
    pub household_id: Option<String>,
    pub member_id: Option<String>,
    pub due: Option<String>,
}

pub(crate) fn parse_day(field: &str, s: &str) -> Result<NaiveDate, StoreError> {
    Ok(core::parse_date(field, s)?)
}

pub(crate) fn parse_opt_day(
    field: &str,
    s: Option<String>,
) -> Result<Option<NaiveDate>, StoreError> {
    s.filter(|s| !s.trim().is_empty())
        .map(|s| parse_day(field, &s))
        .transpose()
}

/// An instant given by the app, or now on the store's clock (the phone's
/// own, unless the store was opened at a set time).
pub(crate) fn instant(
    field: &str,
    s: Option<String>,
    clock: &silin_core::Clock,
) -> Result<DateTime<FixedOffset>, StoreError> {
    match s.filter(|s| !s.trim().is_empty()) {
        None => Ok(clock.now()),
        Some(s) => DateTime::parse_from_rfc3339(s.trim()).map_err(|_| {
            StoreError::invalid(
                field,
                "an instant is written RFC 3339 with an offset, e.g. 2026-11-29T09:30:00+08:00",
            )
        }),
    }
}

/// Today on the phone's clock, for what no store is asked about.
pub(crate) fn today() -> NaiveDate {
    silin_core::Clock::system().today()
}

impl From<NewHousehold> for core::NewHousehold {
    fn from(h: NewHousehold) -> Self {
        core::NewHousehold {
            address: h.address,
            door: h.door,
            phone: h.phone,
        }
    }
}

impl From<NewMember> for core::NewMember {
    fn from(m: NewMember) -> Self {
        core::NewMember {
            name: m.name,
            sex: m.sex.map(Into::into),
            birth_year: m.birth_year,
            id_number: m.id_number,
            phone: m.phone,
            relation: m.relation,
            residence: m.residence.map(Into::into),
            vulnerable: m.vulnerable.into_iter().map(Into::into).collect(),
        }
    }
}

impl TryFrom<MemberEdit> for core::MemberEdit {
    type Error = StoreError;
    fn try_from(e: MemberEdit) -> Result<Self, StoreError> {
        use core::MemberEdit as C;
        Ok(match e {
            MemberEdit::SetName { name } => C::Name(name),
            MemberEdit::SetSex { sex } => C::Sex(sex.into()),
            MemberEdit::SetBirthYear { year } => C::BirthYear(year),
            MemberEdit::SetIdNumber { id_number } => C::IdNumber(id_number),
            MemberEdit::SetPhone { phone } => C::Phone(phone),
            MemberEdit::SetRelation { relation } => C::Relation(relation),
            MemberEdit::SetResidence { residence } => C::Residence(residence.into()),
            MemberEdit::SetArrivalFrom { place } => C::ArrivalFrom(place),
            MemberEdit::SetArrivalRiskArea { risk_area } => C::ArrivalRiskArea(risk_area),
            MemberEdit::SetArrivalDate { date } => {
                C::ArrivalDate(parse_opt_day("arrival_date", date)?)
            }
            MemberEdit::SetMonitoringSince { date } => {
                C::MonitoringSince(parse_opt_day("monitoring_since", date)?)
            }
            MemberEdit::SetMonitoringUntil { date } => {
                C::MonitoringUntil(parse_opt_day("monitoring_until", date)?)
            }
            MemberEdit::SetVaccinationDoses { doses } => C::VaccinationDoses(doses),
            MemberEdit::SetVaccinationLast { date } => {
                C::VaccinationLast(parse_opt_day("vaccination_last", date)?)
            }
            MemberEdit::SetTestDate { date } => C::TestDate(parse_opt_day("test_date", date)?),
            MemberEdit::SetTestResult { result } => C::TestResult(result.map(Into::into)),
            MemberEdit::SetVulnerable { flag, on } => C::Vulnerable(flag.into(), on),
            MemberEdit::SetAwayAt { place } => C::AwayAt(place),
            MemberEdit::SetReferred { referred } => C::Referred(referred),
        })
    }
}

/// A visit as the app gave it; no time means now on `clock`.
pub(crate) fn new_visit(
    v: NewVisit,
    clock: &silin_core::Clock,
) -> Result<core::NewVisit, StoreError> {
    Ok(core::NewVisit {
        kind: v.kind.into(),
        household_id: v.household_id,
        member_id: v.member_id,
        at: instant("at", v.at, clock)?,
        by: v.by,
        temperature: v.temperature,
        symptoms: v.symptoms,
        outcome: v.outcome,
        note: v.note,
        task_id: v.task_id,
    })
}

/// A report as the app gave it; no time means now on `clock`.
pub(crate) fn new_report(
    r: NewReport,
    clock: &silin_core::Clock,
) -> Result<core::NewReport, StoreError> {
    Ok(core::NewReport {
        date: parse_day("date", &r.date)?,
        by: r.by,
        at: instant("at", r.at, clock)?,
        arrivals: r.arrivals,
        under_monitoring: r.under_monitoring,
        abnormal: r.abnormal,
        errands: r.errands,
        note: r.note,
    })
}

// ---- identity and sync --------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceIdentity {
    pub device_id: String,
    pub device_name: Option<String>,
    pub enrolled: bool,
    pub role: Option<Role>,
    pub scope: Vec<String>,
    pub expires: Option<String>,
    pub office_fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncStats {
    pub docs_sent: u64,
    pub docs_received: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub round_trips: u32,
    pub refused: Vec<SyncRefusal>,
    pub refused_by_peer: Vec<SyncRefusal>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRefusal {
    pub cell_id: String,
    pub reason: String,
    pub damaged: bool,
}

impl From<silin_core::sync::Refusal> for SyncRefusal {
    fn from(r: silin_core::sync::Refusal) -> Self {
        SyncRefusal {
            cell_id: r.doc,
            reason: r.reason,
            damaged: r.damaged,
        }
    }
}

impl From<silin_core::sync::SyncStats> for SyncStats {
    fn from(s: silin_core::sync::SyncStats) -> Self {
        // usize → u64 is lossless on every platform silin ships on.
        SyncStats {
            docs_sent: s.docs_sent as u64,
            docs_received: s.docs_received as u64,
            bytes_up: s.bytes_up as u64,
            bytes_down: s.bytes_down as u64,
            round_trips: u32::try_from(s.round_trips).unwrap_or(u32::MAX),
            refused: s.refused.into_iter().map(Into::into).collect(),
            refused_by_peer: s.refused_by_peer.into_iter().map(Into::into).collect(),
        }
    }
}

pub struct SyncStart {
    pub session: Arc<crate::SyncSession>,
    pub message: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBundle {
    pub data: Vec<u8>,
    pub cells: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleImport {
    pub cells: u32,
    pub changed: u32,
}

pub(crate) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// An erasure order as a device holds it (see `Store::erasure_orders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRecord {
    pub cell_id: String,
    pub epoch: u32,
    pub issued_at: i64,
    pub subjects: u32,
    pub reason: String,
    pub followed: bool,
}
