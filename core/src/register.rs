//! The lead's day beyond households and visits (layout 2): arrivals and the
//! home monitoring that follows from them, vaccination and test histories,
//! errands for the elderly and disabled, the lead as a member of the cell
//! with a history of handovers, and the daily report that drafts itself.
//!
//! These are the domain types and rules; [`crate::cell`] keeps them in the
//! document and [`crate::store`] answers the day's lists from them.

use crate::model::{check_text, choice, VResult, ValidationError};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

choice!(
    /// The risk level of the place someone came from, as the office set it
    /// on the day they arrived.
    RiskLevel, "risk" {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
);

choice!(
    /// How someone travelled.
    Means, "means" {
        Car => "car",
        Bus => "bus",
        Train => "train",
        Plane => "plane",
        Other => "other",
    }
);

choice!(
    /// A resident coming home, or a visitor staying with a household.
    ArrivalKind, "arrival_kind" {
        Returning => "returning",
        Visitor => "visitor",
    }
);

choice!(
    /// A member's health as the lists show it.
    HealthStatus, "health" {
        Normal => "normal",
        UnderMonitoring => "under_monitoring",
        Abnormal => "abnormal",
        Referred => "referred",
    }
);

choice!(TestKind, "test_kind" {
    Pcr => "pcr",
    Antigen => "antigen",
    Antibody => "antibody",
});

choice!(ErrandStatus, "errand_status" {
    Requested => "requested",
    Done => "done",
    Cancelled => "cancelled",
});

choice!(
    /// Where a task came from.
    TaskKind, "task_kind" {
        // From an office feedback list, or written by hand.
        List => "list",
        // A missed or abnormal health check, for the grid worker.
        Alert => "alert",
        // The day's report is not in after the hour the policy sets.
        Reminder => "reminder",
    }
);

choice!(
    /// How far a notice has reached a household.
    NoticeStatus, "notice_status" {
        Read => "read",
        Relayed => "relayed",
    }
);

/// A notice the office sent to every cell of a region (what used to go
/// through chat groups), and how far it has reached each household.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub id: String,
    pub title: String,
    pub text: String,
    /// The region it was sent to, as the office wrote it.
    pub region: String,
    pub from: String,
    pub at: String,
    /// Household id → how far it reached them; households not listed
    /// have not had it yet.
    pub households: std::collections::BTreeMap<String, NoticeStatus>,
}

/// A notice's reach in one cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeCoverage {
    pub notice_id: String,
    pub cell_id: String,
    pub households: i64,
    pub read: i64,
    pub relayed: i64,
}

/// What an arrival from a place of a given risk sets off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Days of home monitoring, counting the day of arrival; 0: none.
    pub days: i64,
    /// Health checks due on each of those days.
    pub checks_per_day: i64,
}

/// The office's policy for a cell. Kept in the document (`policy`), set
/// by the office only; keys it never set read as these defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub low: Rule,
    pub medium: Rule,
    pub high: Rule,
    /// A day's report not filed by this hour (local time) raises a
    /// reminder task.
    pub report_due_hour: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            low: Rule {
                days: 0,
                checks_per_day: 0,
            },
            medium: Rule {
                days: 7,
                checks_per_day: 1,
            },
            high: Rule {
                days: 14,
                checks_per_day: 2,
            },
            report_due_hour: 20,
        }
    }
}

impl Policy {
    pub fn rule(&self, risk: RiskLevel) -> Rule {
        match risk {
            RiskLevel::Low => self.low,
            RiskLevel::Medium => self.medium,
            RiskLevel::High => self.high,
        }
    }

    /// The document keys of the policy and their current values.
    pub fn entries(&self) -> [(&'static str, i64); 7] {
        [
            ("low_days", self.low.days),
            ("low_checks", self.low.checks_per_day),
            ("medium_days", self.medium.days),
            ("medium_checks", self.medium.checks_per_day),
            ("high_days", self.high.days),
            ("high_checks", self.high.checks_per_day),
            ("report_due_hour", self.report_due_hour as i64),
        ]
    }

    /// Sets one key; values outside what a policy can mean are refused.
    pub fn set(&mut self, key: &str, value: i64) -> VResult<()> {
        let days = |v: i64| {
            if (0..=60).contains(&v) {
                Ok(v)
            } else {
                Err(ValidationError::new(key, "a number of days, 0–60"))
            }
        };
        let checks = |v: i64| {
            if (0..=6).contains(&v) {
                Ok(v)
            } else {
                Err(ValidationError::new(key, "checks a day, 0–6"))
            }
        };
        match key {
            "low_days" => self.low.days = days(value)?,
            "low_checks" => self.low.checks_per_day = checks(value)?,
            "medium_days" => self.medium.days = days(value)?,
            "medium_checks" => self.medium.checks_per_day = checks(value)?,
            "high_days" => self.high.days = days(value)?,
            "high_checks" => self.high.checks_per_day = checks(value)?,
            "report_due_hour" => {
                if !(0..=23).contains(&value) {
                    return Err(ValidationError::new(key, "an hour, 0–23"));
                }
                self.report_due_hour = value as u32
            }
            _ => {
                return Err(ValidationError::new(
                    key,
                    format!(
                        "not a policy key; use one of {}",
                        Policy::default().entries().map(|(k, _)| k).join(", ")
                    ),
                ))
            }
        }
        Ok(())
    }
}

/// One arrival, as recorded at the door.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArrivalRecord {
    pub id: String,
    pub member_id: String,
    pub household_id: String,
    pub kind: ArrivalKind,
    /// The place, as the person named it.
    pub from: String,
    pub risk: RiskLevel,
    pub date: NaiveDate,
    pub means: Option<Means>,
    /// What the policy set on the day it was recorded.
    pub monitoring_days: i64,
    pub checks_per_day: i64,
    /// The last day of home monitoring, if any.
    pub until: Option<NaiveDate>,
    pub by: String,
    pub at: String,
}

impl ArrivalRecord {
    pub fn monitors(&self, day: NaiveDate) -> bool {
        self.until.is_some_and(|u| self.date <= day && day <= u)
    }
}

/// Who arrived: someone already in the register, or a new person.
#[derive(Debug, Clone, PartialEq)]
pub enum Arriving {
    Member(String),
    New(crate::model::NewMember),
}

/// An arrival to record in one step from the door.
#[derive(Debug, Clone, PartialEq)]
pub struct NewArrival {
    pub household_id: String,
    pub person: Arriving,
    pub kind: ArrivalKind,
    pub from: String,
    pub risk: RiskLevel,
    pub date: NaiveDate,
    pub means: Option<Means>,
    pub by: String,
    pub at: chrono::DateTime<chrono::FixedOffset>,
}

impl NewArrival {
    pub fn validated(mut self) -> VResult<NewArrival> {
        self.from = check_text("from", &self.from, 128, true)?;
        self.by = check_text("by", &self.by, 64, false)?;
        crate::model::check_id("household", &self.household_id)?;
        if let Arriving::Member(id) = &self.person {
            crate::model::check_id("member", id)?;
        }
        if self.date > self.at.date_naive() {
            return Err(ValidationError::new(
                "date",
                "an arrival is recorded on or after the day it happened",
            ));
        }
        Ok(self)
    }
}

/// A vaccine dose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dose {
    pub id: String,
    pub member_id: String,
    /// Which dose this was (1, 2, booster 3 …), if known.
    pub number: Option<i64>,
    pub date: Option<NaiveDate>,
    /// The vaccine, as written on the card.
    pub kind: Option<String>,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewDose {
    pub member_id: String,
    pub number: Option<i64>,
    pub date: Option<NaiveDate>,
    pub kind: Option<String>,
    pub by: String,
}

impl NewDose {
    pub fn validated(mut self, today: NaiveDate) -> VResult<NewDose> {
        crate::model::check_id("member", &self.member_id)?;
        if let Some(n) = self.number {
            if !(1..=10).contains(&n) {
                return Err(ValidationError::new("number", "a dose number, 1–10"));
            }
        }
        if self.date.is_some_and(|d| d > today) {
            return Err(ValidationError::new("date", "a dose given in the future"));
        }
        if let Some(k) = self.kind.take() {
            self.kind = Some(check_text("kind", &k, 64, false)?).filter(|s| !s.is_empty());
        }
        self.by = check_text("by", &self.by, 64, false)?;
        Ok(self)
    }
}

/// A test and its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    pub id: String,
    pub member_id: String,
    pub date: NaiveDate,
    pub kind: TestKind,
    pub result: crate::model::TestResult,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTest {
    pub member_id: String,
    pub date: NaiveDate,
    pub kind: TestKind,
    pub result: crate::model::TestResult,
    pub by: String,
}

impl NewTest {
    pub fn validated(mut self, today: NaiveDate) -> VResult<NewTest> {
        crate::model::check_id("member", &self.member_id)?;
        if self.date > today {
            return Err(ValidationError::new("date", "a test taken in the future"));
        }
        self.by = check_text("by", &self.by, 64, false)?;
        Ok(self)
    }
}

/// An errand (代办) run for someone who cannot run it: asked for, then done
/// or called off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Errand {
    pub id: String,
    pub household_id: String,
    pub member_id: Option<String>,
    pub request: String,
    pub requested: String,
    pub due: Option<NaiveDate>,
    pub status: ErrandStatus,
    pub done_at: Option<String>,
    pub done_by: Option<String>,
    /// The errand visit that completed it.
    pub visit_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewErrand {
    pub household_id: String,
    pub member_id: Option<String>,
    pub request: String,
    pub due: Option<NaiveDate>,
    pub at: chrono::DateTime<chrono::FixedOffset>,
}

impl NewErrand {
    pub fn validated(mut self) -> VResult<NewErrand> {
        crate::model::check_id("household", &self.household_id)?;
        if let Some(m) = &self.member_id {
            crate::model::check_id("member", m)?;
        }
        self.request = check_text("request", &self.request, 200, true)?;
        Ok(self)
    }
}

/// One lead's time in charge of a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadTerm {
    pub id: String,
    pub member_id: String,
    pub name: String,
    pub phone: Option<String>,
    /// RFC 3339: when the cell was handed to this lead.
    pub since: String,
    pub by: String,
}

/// A monitored member's health checks on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckDay {
    pub member_id: String,
    pub name: String,
    pub household_id: String,
    pub day: NaiveDate,
    pub required: i64,
    pub done: i64,
    /// The last day of monitoring.
    pub until: NaiveDate,
}

impl CheckDay {
    pub fn outstanding(&self) -> i64 {
        (self.required - self.done).max(0)
    }
    /// Checks of `day` itself not all done: still due that day.
    pub fn due_on(&self, day: NaiveDate) -> bool {
        self.day == day && self.outstanding() > 0
    }
    /// An earlier day than `today` with checks not all done: missed.
    pub fn missed_by(&self, today: NaiveDate) -> bool {
        self.day < today && self.outstanding() > 0
    }
    /// Days of monitoring left after `day`.
    pub fn days_left(&self) -> i64 {
        (self.until - self.day).num_days()
    }
}

/// A resident living away, for the phone-round list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwayResident {
    pub member_id: String,
    pub name: String,
    pub phone: Option<String>,
    pub away_at: Option<String>,
    /// The day of the last call to them, and who made it.
    pub last_called: Option<NaiveDate>,
    pub called_by: Option<String>,
    /// Days since that call (None: never called).
    pub days_since: Option<i64>,
}

/// What the day's log says the report should hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportDraft {
    pub date: NaiveDate,
    /// Arrivals recorded for that day.
    pub arrivals: i64,
    /// Members under home monitoring that day.
    pub under_monitoring: i64,
    /// Members with an abnormal health check that day.
    pub abnormal: i64,
    /// Errand visits that day.
    pub errands: i64,
    pub door_knocks: i64,
    pub calls: i64,
}

impl ReportDraft {
    /// A day with nothing in the log.
    pub fn empty(date: NaiveDate) -> ReportDraft {
        ReportDraft {
            date,
            arrivals: 0,
            under_monitoring: 0,
            abnormal: 0,
            errands: 0,
            door_knocks: 0,
            calls: 0,
        }
    }

    /// How a filed report's counts differ from the log, as the office reads
    /// it ("arrivals 0, log 1"), or None when they agree.
    pub fn disagreement(&self, r: &crate::model::Report) -> Option<String> {
        let mut out = Vec::new();
        for (field, filed, logged) in [
            ("arrivals", r.arrivals, self.arrivals),
            ("abnormal", r.abnormal, self.abnormal),
            (
                "under_monitoring",
                r.under_monitoring,
                self.under_monitoring,
            ),
            ("errands", r.errands, self.errands),
        ] {
            if filed != logged {
                out.push(format!("{field} {filed}, log {logged}"));
            }
        }
        (!out.is_empty()).then(|| out.join("; "))
    }
}

/// A member and their health, for the lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub member_id: String,
    pub name: String,
    pub household_id: String,
    pub health: HealthStatus,
}

/// Everything a lead's day screen shows for one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadDay {
    pub cell_id: String,
    pub date: NaiveDate,
    pub lead: Option<LeadTerm>,
    /// Health checks still due today.
    pub due: Vec<CheckDay>,
    /// Earlier days with checks missed.
    pub missed: Vec<CheckDay>,
    pub open_tasks: Vec<crate::model::Task>,
    /// Residents away not called for the given number of days.
    pub away: Vec<AwayResident>,
    /// Errands asked for and not yet done.
    pub errands: Vec<Errand>,
    pub draft: ReportDraft,
    pub report: Option<crate::model::Report>,
    pub members: Vec<MemberStatus>,
}

/// One row of a grid worker's first screen: a cell held here and what
/// needs doing in it on the day asked for, answered from the store's query
/// tables without reading the cell's document
/// ([`crate::Store::cell_summaries`]). Each count is the one the cell's
/// [`LeadDay`] gives for that day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellSummary {
    pub cell_id: String,
    pub name: String,
    pub path: crate::model::RegionPath,
    /// The lead's name, as the cell records it (after a handover, the
    /// lead's day's `lead.name`).
    pub lead: Option<String>,
    /// The lead's phone: the member of that name's own, else their
    /// household's.
    pub lead_phone: Option<String>,
    /// Tasks still open: the length of the lead's day's `open_tasks`.
    pub open_tasks: i64,
    /// Whether the day's report is filed: the lead's day's `report`.
    pub reported: bool,
    /// Members whose monitoring covers the day: the report draft's
    /// `under_monitoring`.
    pub under_monitoring: i64,
    /// Members whose health checks of the day are not all done: the
    /// length of the lead's day's `due`.
    pub checks_due: i64,
    /// Earlier days of monitoring, member by member, with checks not all
    /// done: the length of the lead's day's `missed`.
    pub checks_missed: i64,
    /// Residents away not called for the number of days asked for, or
    /// never: the length of the lead's day's `away`. None when not asked
    /// for (counting them reads the cells' last days of visits).
    pub away_not_called: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_its_keys_and_refuses_nonsense() {
        let mut p = Policy::default();
        p.set("high_days", 21).unwrap();
        assert_eq!(p.rule(RiskLevel::High).days, 21);
        assert_eq!(p.set("high_days", 99).unwrap_err().field, "high_days");
        assert_eq!(
            p.set("report_due_hour", 24).unwrap_err().field,
            "report_due_hour"
        );
        let e = p.set("colour", 1).unwrap_err();
        assert!(e.rule.contains("high_checks"), "{}", e.rule);
    }

    #[test]
    fn a_report_that_disagrees_with_the_log_says_how() {
        let draft = ReportDraft {
            date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            arrivals: 1,
            under_monitoring: 1,
            abnormal: 0,
            errands: 2,
            door_knocks: 0,
            calls: 0,
        };
        let mut r = crate::model::Report {
            date: draft.date,
            by: "l".into(),
            at: String::new(),
            arrivals: 1,
            under_monitoring: 1,
            abnormal: 0,
            errands: 2,
            note: None,
            flag: None,
        };
        assert_eq!(draft.disagreement(&r), None);
        r.arrivals = 0;
        assert_eq!(draft.disagreement(&r).unwrap(), "arrivals 0, log 1");
    }
}
