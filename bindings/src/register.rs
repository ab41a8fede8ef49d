//! Layout 2's records across the FFI: arrivals recorded at the door, the
//! dose and test histories, errands, handovers, and the lead's day screen
//! (checks due and missed, open tasks, residents away, errands waiting,
//! the report's draft, each member's health) in one call.

use crate::convert::{day, parse_day, parse_opt_day, CellTask, NewMember, Report, TestResult};
use crate::error::StoreError;
use crate::store::Store;
use silin_core::register as core;

macro_rules! same_choice {
    ($ffi:ident <=> $core:path { $($v:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $ffi { $($v),+ }
        impl From<$ffi> for $core {
            fn from(v: $ffi) -> Self { match v { $($ffi::$v => <$core>::$v),+ } }
        }
        impl From<$core> for $ffi {
            fn from(v: $core) -> Self { match v { $(<$core>::$v => $ffi::$v),+ } }
        }
    };
}

same_choice!(RiskLevel <=> core::RiskLevel { Low, Medium, High });
same_choice!(Means <=> core::Means { Car, Bus, Train, Plane, Other });
same_choice!(ArrivalKind <=> core::ArrivalKind { Returning, Visitor });
same_choice!(HealthStatus <=> core::HealthStatus { Normal, UnderMonitoring, Abnormal, Referred });
same_choice!(TestKind <=> core::TestKind { Pcr, Antigen, Antibody });
same_choice!(ErrandStatus <=> core::ErrandStatus { Requested, Done, Cancelled });
same_choice!(TaskKind <=> core::TaskKind { List, Alert, Reminder });
same_choice!(NoticeStatus <=> core::NoticeStatus { Read, Relayed });

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub id: String,
    pub title: String,
    pub text: String,
    pub region: String,
    pub from: String,
    pub at: String,
    pub households: std::collections::HashMap<String, NoticeStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewArrival {
    pub household_id: String,
    /// Someone already in the register …
    pub member_id: Option<String>,
    /// … or a new person, added to the household.
    pub new_member: Option<NewMember>,
    pub kind: ArrivalKind,
    pub from: String,
    pub risk: RiskLevel,
    pub date: String,
    pub means: Option<Means>,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewDose {
    pub member_id: String,
    pub number: Option<i64>,
    pub date: Option<String>,
    pub kind: Option<String>,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewTest {
    pub member_id: String,
    pub date: String,
    pub kind: TestKind,
    pub result: TestResult,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewErrand {
    pub household_id: String,
    pub member_id: Option<String>,
    pub request: String,
    pub due: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckDay {
    pub cell_id: String,
    pub member_id: String,
    pub name: String,
    pub household_id: String,
    pub day: String,
    pub required: i64,
    pub done: i64,
    pub until: String,
    pub days_left: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CellSummary {
    pub cell_id: String,
    pub name: String,
    pub path: String,
    pub lead: Option<String>,
    pub lead_phone: Option<String>,
    pub open_tasks: i64,
    pub reported: bool,
    pub under_monitoring: i64,
    pub checks_due: i64,
    pub checks_missed: i64,
    pub away_not_called: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AwayResident {
    pub cell_id: String,
    pub member_id: String,
    pub name: String,
    pub phone: Option<String>,
    pub away_at: Option<String>,
    pub last_called: Option<String>,
    pub called_by: Option<String>,
    pub days_since: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Errand {
    pub id: String,
    pub household_id: String,
    pub member_id: Option<String>,
    pub request: String,
    pub requested: String,
    pub due: Option<String>,
    pub status: ErrandStatus,
    pub done_at: Option<String>,
    pub done_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeadTerm {
    pub member_id: String,
    pub name: String,
    pub phone: Option<String>,
    pub since: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReportDraft {
    pub date: String,
    pub arrivals: i64,
    pub under_monitoring: i64,
    pub abnormal: i64,
    pub errands: i64,
    pub door_knocks: i64,
    pub calls: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemberStatus {
    pub member_id: String,
    pub name: String,
    pub household_id: String,
    pub health: HealthStatus,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeadDay {
    pub cell_id: String,
    pub date: String,
    pub lead: Option<LeadTerm>,
    pub due: Vec<CheckDay>,
    pub missed: Vec<CheckDay>,
    pub open_tasks: Vec<CellTask>,
    pub away: Vec<AwayResident>,
    pub errands: Vec<Errand>,
    pub draft: ReportDraft,
    pub report: Option<Report>,
    pub members: Vec<MemberStatus>,
}

fn check_day(cell_id: &str, c: core::CheckDay) -> CheckDay {
    CheckDay {
        cell_id: cell_id.to_string(),
        days_left: c.days_left(),
        member_id: c.member_id,
        name: c.name,
        household_id: c.household_id,
        day: c.day.to_string(),
        required: c.required,
        done: c.done,
        until: c.until.to_string(),
    }
}

fn away(cell_id: &str, a: core::AwayResident) -> AwayResident {
    AwayResident {
        cell_id: cell_id.to_string(),
        member_id: a.member_id,
        name: a.name,
        phone: a.phone,
        away_at: a.away_at,
        last_called: day(a.last_called),
        called_by: a.called_by,
        days_since: a.days_since,
    }
}

impl From<core::LeadDay> for LeadDay {
    fn from(d: core::LeadDay) -> Self {
        let cell = d.cell_id.clone();
        LeadDay {
            date: d.date.to_string(),
            lead: d.lead.map(|l| LeadTerm {
                member_id: l.member_id,
                name: l.name,
                phone: l.phone,
                since: l.since,
            }),
            due: d.due.into_iter().map(|c| check_day(&cell, c)).collect(),
            missed: d.missed.into_iter().map(|c| check_day(&cell, c)).collect(),
            open_tasks: d.open_tasks.into_iter().map(Into::into).collect(),
            away: d.away.into_iter().map(|a| away(&cell, a)).collect(),
            errands: d
                .errands
                .into_iter()
                .map(|e| Errand {
                    id: e.id,
                    household_id: e.household_id,
                    member_id: e.member_id,
                    request: e.request,
                    requested: e.requested,
                    due: day(e.due),
                    status: e.status.into(),
                    done_at: e.done_at,
                    done_by: e.done_by,
                })
                .collect(),
            draft: ReportDraft {
                date: d.draft.date.to_string(),
                arrivals: d.draft.arrivals,
                under_monitoring: d.draft.under_monitoring,
                abnormal: d.draft.abnormal,
                errands: d.draft.errands,
                door_knocks: d.draft.door_knocks,
                calls: d.draft.calls,
            },
            report: d.report.map(Into::into),
            members: d
                .members
                .into_iter()
                .map(|m| MemberStatus {
                    member_id: m.member_id,
                    name: m.name,
                    household_id: m.household_id,
                    health: m.health.into(),
                })
                .collect(),
            cell_id: d.cell_id,
        }
    }
}

impl Store {
    pub fn record_arrival(&self, arrival: NewArrival) -> Result<String, StoreError> {
        let person = match (arrival.member_id, arrival.new_member) {
            (Some(id), None) => core::Arriving::Member(id),
            (None, Some(m)) => core::Arriving::New(m.into()),
            _ => {
                return Err(StoreError::invalid(
                    "member",
                    "name who arrived: member_id for someone in the register, or new_member",
                ))
            }
        };
        let store = self.core()?;
        let at = store.clock().now();
        Ok(store.record_arrival(core::NewArrival {
            household_id: arrival.household_id,
            person,
            kind: arrival.kind.into(),
            from: arrival.from,
            risk: arrival.risk.into(),
            date: parse_day("date", &arrival.date)?,
            means: arrival.means.map(Into::into),
            by: arrival.by,
            at,
        })?)
    }

    pub fn add_dose(&self, dose: NewDose) -> Result<String, StoreError> {
        Ok(self.core()?.add_dose(core::NewDose {
            member_id: dose.member_id,
            number: dose.number,
            date: parse_opt_day("date", dose.date)?,
            kind: dose.kind,
            by: dose.by,
        })?)
    }

    pub fn add_test(&self, test: NewTest) -> Result<String, StoreError> {
        Ok(self.core()?.add_test(core::NewTest {
            member_id: test.member_id,
            date: parse_day("date", &test.date)?,
            kind: test.kind.into(),
            result: test.result.into(),
            by: test.by,
        })?)
    }

    pub fn request_errand(&self, errand: NewErrand) -> Result<String, StoreError> {
        let store = self.core()?;
        Ok(store.request_errand(core::NewErrand {
            household_id: errand.household_id,
            member_id: errand.member_id,
            request: errand.request,
            due: parse_opt_day("due", errand.due)?,
            at: store.clock().now(),
        })?)
    }

    pub fn complete_errand(
        &self,
        cell_id: String,
        errand_id: String,
        by: String,
        note: Option<String>,
    ) -> Result<String, StoreError> {
        Ok(self
            .core()?
            .complete_errand(&cell_id, &errand_id, &by, note)?)
    }

    pub fn hand_over(
        &self,
        cell_id: String,
        member_id: String,
        by: String,
    ) -> Result<String, StoreError> {
        Ok(self.core()?.hand_over(&cell_id, &member_id, &by)?)
    }

    pub fn raise_alerts(&self, cell_id: String) -> Result<Vec<String>, StoreError> {
        Ok(self.core()?.raise_alerts(&cell_id)?)
    }

    pub fn lead_day(
        &self,
        cell_id: String,
        day: String,
        not_called_days: i64,
    ) -> Result<LeadDay, StoreError> {
        let day = parse_day("day", &day)?;
        Ok(self
            .core()?
            .lead_day(&cell_id, day, not_called_days)?
            .into())
    }

    pub fn notices(&self, cell_id: String) -> Result<Vec<Notice>, StoreError> {
        let notices = self.core()?.with_doc(&cell_id, |d| Ok(d.notices()))?;
        Ok(notices
            .into_iter()
            .map(|n| Notice {
                id: n.id,
                title: n.title,
                text: n.text,
                region: n.region,
                from: n.from,
                at: n.at,
                households: n
                    .households
                    .into_iter()
                    .map(|(h, s)| (h, s.into()))
                    .collect(),
            })
            .collect())
    }

    pub fn mark_notice(
        &self,
        cell_id: String,
        notice_id: String,
        household_id: String,
        status: NoticeStatus,
    ) -> Result<(), StoreError> {
        Ok(self
            .core()?
            .mark_notice(&cell_id, &notice_id, &household_id, status.into())?)
    }

    pub fn due_checks(&self, scope: Vec<String>, day: String) -> Result<Vec<CheckDay>, StoreError> {
        let day = parse_day("day", &day)?;
        Ok(self
            .core()?
            .due_checks(&scope, day)?
            .into_iter()
            .map(|(cell, c)| check_day(&cell, c))
            .collect())
    }

    pub fn cell_summaries(
        &self,
        scope: Vec<String>,
        day: String,
        not_called_days: Option<i64>,
    ) -> Result<Vec<CellSummary>, StoreError> {
        let day = parse_day("day", &day)?;
        Ok(self
            .core()?
            .cell_summaries(&scope, day, not_called_days)?
            .into_iter()
            .map(|c| CellSummary {
                cell_id: c.cell_id,
                name: c.name,
                path: c.path.to_string(),
                lead: c.lead,
                lead_phone: c.lead_phone,
                open_tasks: c.open_tasks,
                reported: c.reported,
                under_monitoring: c.under_monitoring,
                checks_due: c.checks_due,
                checks_missed: c.checks_missed,
                away_not_called: c.away_not_called,
            })
            .collect())
    }

    pub fn away_not_called(
        &self,
        scope: Vec<String>,
        day: String,
        days: i64,
    ) -> Result<Vec<AwayResident>, StoreError> {
        let day = parse_day("day", &day)?;
        Ok(self
            .core()?
            .away_not_called(&scope, day, days)?
            .into_iter()
            .map(|(cell, a)| away(&cell, a))
            .collect())
    }
}
