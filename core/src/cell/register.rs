//! Layout 2's records in the cell document: reads and edits of arrivals,
//! the dose and test histories, errands, lead handovers and the policy,
//! and what the lead's day is worked out from them (checks due and
//! missed, health status, residents not called, the report's draft).

use super::{CellDoc, Touched, ARRIVALS, DOSES, ERRANDS, LEADS, NOTICES, POLICY, TASKS, TESTS};
use crate::error::{Error, Result};
use crate::model::*;
use crate::register::*;
use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType};
use chrono::{DateTime, FixedOffset, NaiveDate, Timelike};
use std::collections::{HashMap, HashSet};

/// No monitoring runs longer than this, whatever a document claims: the
/// bound on every walk over a monitoring period.
const MAX_MONITORING_DAYS: i64 = 60;
/// Nor more health checks a day than this.
const MAX_CHECKS_PER_DAY: i64 = 6;

impl CellDoc {
    fn collection(&self, key: &str) -> Result<ObjId> {
        self.root_map(key)
    }

    /// The ids of a layout-2 collection, or none in an older layout.
    fn record_ids(&self, key: &str) -> Vec<(String, ObjId)> {
        let Some(coll) = self.map(&automerge::ROOT, key) else {
            return Vec::new();
        };
        self.keys(&coll)
            .into_iter()
            .filter_map(|id| self.map(&coll, &id).map(|o| (id, o)))
            .collect()
    }

    fn new_record(&mut self, key: &str, id: &str) -> Result<ObjId> {
        check_id("id", id)?;
        let coll = self.collection(key)?;
        if self.map(&coll, id).is_some() {
            return Err(ValidationError::new("id", "a record with this id exists").into());
        }
        Ok(self.doc.put_object(&coll, id, ObjType::Map)?)
    }

    // ---- policy --------------------------------------------------------

    /// The office's policy, defaults where it set nothing. Values a policy
    /// cannot hold (a peer's nonsense) read as the default.
    pub fn policy(&self) -> Policy {
        let mut p = Policy::default();
        if let Some(o) = self.map(&automerge::ROOT, POLICY) {
            for (key, _) in Policy::default().entries() {
                if let Some(v) = self.get_i64(&o, key) {
                    let _ = p.set(key, v);
                }
            }
        }
        p
    }

    pub fn set_policy(&mut self, key: &str, value: i64, at: i64) -> Result<Touched> {
        let mut p = self.policy();
        p.set(key, value)?;
        let o = self.collection(POLICY)?;
        self.doc.put(&o, key, value)?;
        self.commit("set policy", at);
        Ok(Touched::Parts(Vec::new()))
    }

    // ---- arrivals ------------------------------------------------------

    fn read_arrival(&self, id: &str, o: &ObjId) -> Option<ArrivalRecord> {
        let date = self.get_date(o, "date")?;
        let days = self
            .get_i64(o, "monitoring_days")
            .unwrap_or(0)
            .clamp(0, MAX_MONITORING_DAYS);
        let until = self
            .get_date(o, "until")
            .map(|u| u.min(date + chrono::Days::new(days.max(1) as u64 - 1)))
            .filter(|u| *u >= date);
        Some(ArrivalRecord {
            id: id.to_string(),
            member_id: self.get_str(o, "member")?,
            household_id: self.get_str(o, "household").unwrap_or_default(),
            kind: self.get_choice(o, "kind").unwrap_or(ArrivalKind::Returning),
            from: self.get_str(o, "from").unwrap_or_default(),
            risk: self.get_choice(o, "risk").unwrap_or(RiskLevel::Low),
            date,
            means: self.get_choice(o, "means"),
            monitoring_days: days,
            checks_per_day: self
                .get_i64(o, "checks_per_day")
                .unwrap_or(0)
                .clamp(0, MAX_CHECKS_PER_DAY),
            until,
            by: self.get_str(o, "by").unwrap_or_default(),
            at: self.get_str(o, "at").unwrap_or_default(),
        })
    }

    /// Every arrival, oldest first.
    pub fn arrivals(&self) -> Vec<ArrivalRecord> {
        let mut out: Vec<ArrivalRecord> = self
            .record_ids(ARRIVALS)
            .iter()
            .filter_map(|(id, o)| self.read_arrival(id, o))
            .collect();
        out.sort_by(|a, b| (a.date, &a.at, &a.id).cmp(&(b.date, &b.at, &b.id)));
        out
    }

    /// Records an arrival in one step: the person (added to the household
    /// if new), where from, the risk level, and the home monitoring the
    /// policy sets for it. Returns the member's id.
    pub fn record_arrival(
        &mut self,
        id: &str,
        new_member_id: &str,
        a: NewArrival,
        at: i64,
    ) -> Result<(String, Touched)> {
        let a = a.validated()?;
        self.household_obj(&a.household_id)?;
        let today = a.at.date_naive();
        let member_id = match &a.person {
            Arriving::Member(m) => {
                let (hh, _) = self.member_obj(m.as_str())?;
                if hh != a.household_id {
                    return Err(ValidationError::new(
                        "member",
                        "this member is not in the household given",
                    )
                    .into());
                }
                m.clone()
            }
            Arriving::New(m) => {
                let mut m = m.clone();
                m.residence = Some(match a.kind {
                    ArrivalKind::Returning => Residence::Returned,
                    ArrivalKind::Visitor => Residence::Visitor,
                });
                self.put_member(&a.household_id, new_member_id, m, today)?;
                new_member_id.to_string()
            }
        };
        let rule = self.policy().rule(a.risk);
        let until = (rule.days > 0).then(|| a.date + chrono::Days::new(rule.days as u64 - 1));
        let o = self.new_record(ARRIVALS, id)?;
        for (k, v) in [
            ("member", Some(member_id.clone())),
            ("household", Some(a.household_id.clone())),
            ("kind", Some(a.kind.as_str().to_string())),
            ("from", Some(a.from.clone())),
            ("risk", Some(a.risk.as_str().to_string())),
            ("date", Some(a.date.to_string())),
            ("means", a.means.map(|m| m.as_str().to_string())),
            ("until", until.map(|u| u.to_string())),
            ("by", Some(a.by.clone())),
            ("at", Some(a.at.to_rfc3339())),
        ] {
            if let Some(v) = v {
                self.doc.put(&o, k, v)?;
            }
        }
        self.doc.put(&o, "monitoring_days", rule.days)?;
        self.doc.put(&o, "checks_per_day", rule.checks_per_day)?;
        // The member's own fields say the same, for the lists and the
        // rollup that read them.
        let (_, m) = self.member_obj(&member_id)?;
        let mut edits = vec![
            MemberEdit::ArrivalFrom(Some(a.from.clone())),
            MemberEdit::ArrivalRiskArea(a.risk != RiskLevel::Low),
            MemberEdit::ArrivalDate(Some(a.date)),
        ];
        if let Some(u) = until {
            edits.push(MemberEdit::MonitoringSince(Some(a.date)));
            edits.push(MemberEdit::MonitoringUntil(Some(u)));
        }
        if matches!(a.person, Arriving::Member(_)) && a.kind == ArrivalKind::Returning {
            edits.push(MemberEdit::Residence(Residence::Returned));
        }
        for e in &edits {
            self.apply_member_edit(&m, e)?;
        }
        self.commit("record arrival", at);
        Ok((member_id.clone(), Touched::Member(member_id)))
    }

    // ---- the health histories -----------------------------------------

    pub fn doses(&self) -> Vec<Dose> {
        let mut out: Vec<Dose> = self
            .record_ids(DOSES)
            .iter()
            .filter_map(|(id, o)| {
                Some(Dose {
                    id: id.clone(),
                    member_id: self.get_str(o, "member")?,
                    number: self.get_i64(o, "number").filter(|n| (1..=10).contains(n)),
                    date: self.get_date(o, "date"),
                    kind: self.get_str(o, "kind"),
                    by: self.get_str(o, "by").unwrap_or_default(),
                })
            })
            .collect();
        out.sort_by(|a, b| (a.date, a.number, &a.id).cmp(&(b.date, b.number, &b.id)));
        out
    }

    pub fn add_dose(&mut self, id: &str, d: NewDose, at: DateTime<FixedOffset>) -> Result<Touched> {
        let d = d.validated(at.date_naive())?;
        self.member_obj(&d.member_id)?;
        let o = self.new_record(DOSES, id)?;
        self.doc.put(&o, "member", d.member_id.as_str())?;
        self.doc.put(&o, "by", d.by.as_str())?;
        if let Some(n) = d.number {
            self.doc.put(&o, "number", n)?;
        }
        self.put_opt(&o, "date", d.date.map(|d| d.to_string()))?;
        self.put_opt(&o, "kind", d.kind)?;
        self.commit("add dose", at.timestamp());
        Ok(Touched::Member(d.member_id))
    }

    pub fn tests(&self) -> Vec<TestRecord> {
        let mut out: Vec<TestRecord> = self
            .record_ids(TESTS)
            .iter()
            .filter_map(|(id, o)| {
                Some(TestRecord {
                    id: id.clone(),
                    member_id: self.get_str(o, "member")?,
                    date: self.get_date(o, "date")?,
                    kind: self.get_choice(o, "kind")?,
                    result: self.get_choice(o, "result")?,
                    by: self.get_str(o, "by").unwrap_or_default(),
                })
            })
            .collect();
        out.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
        out
    }

    pub fn add_test(&mut self, id: &str, t: NewTest, at: DateTime<FixedOffset>) -> Result<Touched> {
        let t = t.validated(at.date_naive())?;
        self.member_obj(&t.member_id)?;
        let o = self.new_record(TESTS, id)?;
        self.doc.put(&o, "member", t.member_id.as_str())?;
        self.doc.put(&o, "date", t.date.to_string())?;
        self.doc.put(&o, "kind", t.kind.as_str())?;
        self.doc.put(&o, "result", t.result.as_str())?;
        self.doc.put(&o, "by", t.by.as_str())?;
        self.commit("add test", at.timestamp());
        Ok(Touched::Member(t.member_id))
    }

    /// Folds the histories into the members' summaries: the doses given
    /// (the highest dose number or the count of doses, whichever is more,
    /// and never fewer than a summary recorded before histories were kept)
    /// and the latest test.
    pub(super) fn fold_histories(&self, members: &mut [&mut Member]) {
        let doses = self.doses();
        let tests = self.tests();
        if doses.is_empty() && tests.is_empty() {
            return;
        }
        for m in members.iter_mut() {
            let mine: Vec<&Dose> = doses.iter().filter(|d| d.member_id == m.id).collect();
            if !mine.is_empty() {
                let numbered = mine.iter().filter_map(|d| d.number).max().unwrap_or(0);
                let count = mine.len() as i64;
                m.vaccination.doses = m.vaccination.doses.max(numbered).max(count);
                m.vaccination.last = m
                    .vaccination
                    .last
                    .max(mine.iter().filter_map(|d| d.date).max());
            }
            if let Some(t) = tests.iter().rfind(|t| t.member_id == m.id) {
                if m.test.date.is_none_or(|d| d <= t.date) {
                    m.test.date = Some(t.date);
                    m.test.result = Some(t.result);
                }
            }
        }
    }

    // ---- errands -------------------------------------------------------

    pub fn errands(&self) -> Vec<Errand> {
        let mut out: Vec<Errand> = self
            .record_ids(ERRANDS)
            .iter()
            .map(|(id, o)| Errand {
                id: id.clone(),
                household_id: self.get_str(o, "household").unwrap_or_default(),
                member_id: self.get_str(o, "member"),
                request: self.get_str(o, "request").unwrap_or_default(),
                requested: self.get_str(o, "requested").unwrap_or_default(),
                due: self.get_date(o, "due"),
                status: self
                    .get_choice(o, "status")
                    .unwrap_or(ErrandStatus::Requested),
                done_at: self.get_str(o, "done_at"),
                done_by: self.get_str(o, "done_by"),
                visit_id: self.get_str(o, "visit"),
            })
            .collect();
        out.sort_by(|a, b| (&a.requested, &a.id).cmp(&(&b.requested, &b.id)));
        out
    }

    pub fn request_errand(&mut self, id: &str, e: NewErrand) -> Result<Touched> {
        let e = e.validated()?;
        self.household_obj(&e.household_id)?;
        if let Some(m) = &e.member_id {
            let (hh, _) = self.member_obj(m)?;
            if hh != e.household_id {
                return Err(ValidationError::new(
                    "member",
                    "this member is not in the household given",
                )
                .into());
            }
        }
        let o = self.new_record(ERRANDS, id)?;
        self.doc.put(&o, "household", e.household_id.as_str())?;
        self.put_opt(&o, "member", e.member_id)?;
        self.doc.put(&o, "request", e.request.as_str())?;
        self.doc.put(&o, "requested", e.at.to_rfc3339())?;
        self.put_opt(&o, "due", e.due.map(|d| d.to_string()))?;
        self.doc
            .put(&o, "status", ErrandStatus::Requested.as_str())?;
        self.commit("request errand", e.at.timestamp());
        Ok(Touched::Parts(Vec::new()))
    }

    /// Marks an errand done with the errand visit that did it (recorded in
    /// the same change, so the day's errand count and the errand agree).
    pub fn complete_errand(
        &mut self,
        id: &str,
        visit_id: &str,
        by: &str,
        at: DateTime<FixedOffset>,
        note: Option<String>,
    ) -> Result<Touched> {
        let errand = self
            .errands()
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| Error::not_found("errand", id))?;
        if errand.status != ErrandStatus::Requested {
            return Err(ValidationError::new(
                "errand",
                format!("this errand is already {}", errand.status),
            )
            .into());
        }
        let mut v = NewVisit::new(VisitKind::Errand, at, by);
        v.household_id = Some(errand.household_id.clone());
        v.member_id = errand.member_id.clone();
        v.note = note.or(Some(errand.request.clone()));
        let v = v.validated()?;
        self.put_visit(visit_id, v)?;
        let o = self
            .map(&self.collection(ERRANDS)?, id)
            .ok_or_else(|| Error::not_found("errand", id))?;
        self.doc.put(&o, "status", ErrandStatus::Done.as_str())?;
        self.doc.put(&o, "done_at", at.to_rfc3339())?;
        self.doc
            .put(&o, "done_by", check_text("by", by, 64, false)?)?;
        self.doc.put(&o, "visit", visit_id)?;
        self.commit("complete errand", at.timestamp());
        Ok(Touched::Visit(visit_id.to_string()))
    }

    pub fn cancel_errand(&mut self, id: &str, at: i64) -> Result<Touched> {
        let o = self
            .map(&self.collection(ERRANDS)?, id)
            .ok_or_else(|| Error::not_found("errand", id))?;
        self.doc
            .put(&o, "status", ErrandStatus::Cancelled.as_str())?;
        self.commit("cancel errand", at);
        Ok(Touched::Parts(Vec::new()))
    }

    // ---- the lead householder -----------------------------------------

    /// Every lead the cell has had, in the order they took it over.
    pub fn leads(&self) -> Vec<LeadTerm> {
        let mut out: Vec<LeadTerm> = self
            .record_ids(LEADS)
            .iter()
            .filter_map(|(id, o)| {
                let member_id = self.get_str(o, "member")?;
                let m = self.member(&member_id).ok();
                Some(LeadTerm {
                    id: id.clone(),
                    name: m.as_ref().map(|m| m.name.clone()).unwrap_or_default(),
                    phone: m.and_then(|m| m.phone),
                    member_id,
                    since: self.get_str(o, "since").unwrap_or_default(),
                    by: self.get_str(o, "by").unwrap_or_default(),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.since, &a.id).cmp(&(&b.since, &b.id)));
        out
    }

    /// The lead now: the latest handover (by time, then id, so every
    /// replica agrees after two handovers made apart).
    pub fn current_lead(&self) -> Option<LeadTerm> {
        self.leads().pop()
    }

    /// Hands the cell to a member of it; earlier leads stay in the history.
    pub fn hand_over(
        &mut self,
        id: &str,
        member_id: &str,
        by: &str,
        at: DateTime<FixedOffset>,
    ) -> Result<Touched> {
        let m = self.member(member_id)?;
        let o = self.new_record(LEADS, id)?;
        self.doc.put(&o, "member", member_id)?;
        self.doc.put(&o, "since", at.to_rfc3339())?;
        self.doc.put(&o, "by", check_text("by", by, 64, false)?)?;
        // The name, where older builds and the cell's row look for it.
        let cell = self.root_map("cell")?;
        self.doc.put(&cell, "lead", m.name.as_str())?;
        self.commit("hand over cell", at.timestamp());
        Ok(Touched::Cell)
    }

    // ---- notices --------------------------------------------------------

    pub fn notices(&self) -> Vec<Notice> {
        let mut out: Vec<Notice> = self
            .record_ids(NOTICES)
            .iter()
            .map(|(id, o)| Notice {
                id: id.clone(),
                title: self.get_str(o, "title").unwrap_or_default(),
                text: self.get_str(o, "text").unwrap_or_default(),
                region: self.get_str(o, "region").unwrap_or_default(),
                from: self.get_str(o, "from").unwrap_or_default(),
                at: self.get_str(o, "at").unwrap_or_default(),
                households: self
                    .map(o, "households")
                    .map(|hs| {
                        self.keys(&hs)
                            .into_iter()
                            .filter_map(|h| Some((h.clone(), self.get_choice(&hs, &h)?)))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        out.sort_by(|a, b| (&a.at, &a.id).cmp(&(&b.at, &b.id)));
        out
    }

    /// Posts the office's notice into this cell (the same id in every cell
    /// of the region, so the office can count its reach).
    pub fn post_notice(
        &mut self,
        id: &str,
        title: &str,
        text: &str,
        region: &str,
        from: &str,
        at: DateTime<FixedOffset>,
    ) -> Result<Touched> {
        let title = check_text("title", title, 200, true)?;
        let text = check_text("text", text, 2000, true)?;
        let o = self.new_record(NOTICES, id)?;
        self.doc.put(&o, "title", title)?;
        self.doc.put(&o, "text", text)?;
        self.doc
            .put(&o, "region", check_text("region", region, 200, false)?)?;
        self.doc
            .put(&o, "from", check_text("from", from, 64, false)?)?;
        self.doc.put(&o, "at", at.to_rfc3339())?;
        // Made with the notice, so leads' marks all land in this one map.
        self.doc.put_object(&o, "households", ObjType::Map)?;
        self.commit("post notice", at.timestamp());
        Ok(Touched::Parts(Vec::new()))
    }

    /// Marks how far a notice has reached a household. A household marked
    /// relayed is not marked back to read.
    pub fn mark_notice(
        &mut self,
        id: &str,
        household_id: &str,
        status: NoticeStatus,
        at: i64,
    ) -> Result<Touched> {
        self.household_obj(household_id)?;
        let o = self
            .map(&self.collection(NOTICES)?, id)
            .ok_or_else(|| Error::not_found("notice", id))?;
        let hs = self.map(&o, "households").ok_or_else(|| Error::Damaged {
            doc: self.id(),
            reason: format!("notice {id} has no households map"),
        })?;
        let now: Option<NoticeStatus> = self.get_choice(&hs, household_id);
        if now == Some(NoticeStatus::Relayed) || now == Some(status) {
            return Ok(Touched::Parts(Vec::new()));
        }
        self.doc.put(&hs, household_id, status.as_str())?;
        self.commit("mark notice", at);
        Ok(Touched::Parts(Vec::new()))
    }

    // ---- the lead's day -------------------------------------------------

    /// What the day's lists are worked out from, read once: a lead's day
    /// reads the visit log, the arrivals and the register once for all its
    /// lists ([`DayLog`]); each list below, asked for alone, reads them too.
    pub(crate) fn day_log(&self) -> Result<DayLog> {
        Ok(DayLog {
            visits: self.visits()?,
            arrivals: self.arrivals(),
            households: self.households()?,
        })
    }

    /// Each day of home monitoring up to `today` for every monitored
    /// member, with the checks due and done. A member's period comes from
    /// their latest arrival; monitoring set by hand (layout 1) asks one
    /// check a day.
    pub fn check_days(&self, today: NaiveDate) -> Result<Vec<CheckDay>> {
        Ok(self.day_log()?.check_days(today))
    }

    /// The checks still due on `day`.
    pub fn due_checks(&self, day: NaiveDate) -> Result<Vec<CheckDay>> {
        Ok(self
            .check_days(day)?
            .into_iter()
            .filter(|c| c.due_on(day))
            .collect())
    }

    /// Days before `today` on which a monitored member had fewer checks
    /// than due.
    pub fn missed_checks(&self, today: NaiveDate) -> Result<Vec<CheckDay>> {
        Ok(self
            .check_days(today)?
            .into_iter()
            .filter(|c| c.missed_by(today))
            .collect())
    }

    /// Every member's health on `day`: referred until cleared; abnormal
    /// when their latest health check by then was; under monitoring while
    /// a monitoring period covers the day; otherwise normal.
    pub fn health_statuses(&self, day: NaiveDate) -> Result<Vec<MemberStatus>> {
        Ok(self.day_log()?.health_statuses(day))
    }

    /// Residents living away and when each was last called: those not
    /// called for `not_called_days` or more (or never), longest first.
    pub fn away_residents(
        &self,
        today: NaiveDate,
        not_called_days: i64,
    ) -> Result<Vec<AwayResident>> {
        Ok(self.day_log()?.away_residents(today, not_called_days))
    }

    /// The day's report as the log has it.
    pub fn draft_report(&self, date: NaiveDate) -> Result<ReportDraft> {
        Ok(self.day_log()?.draft(date))
    }

    /// The drafts of several days, reading the log once (see
    /// [`DayLog::drafts`]).
    pub fn drafts(&self, dates: &[NaiveDate]) -> Result<Vec<ReportDraft>> {
        Ok(self.day_log()?.drafts(dates))
    }

    /// Sets each report's flag: how its counts differ from the day's log as
    /// this replica holds it now — merged from every device, so a report
    /// phoned in and filed before the lead's visits arrived is not flagged
    /// once they have.
    pub fn flag_reports(&self, reports: &mut [Report]) -> Result<()> {
        let dates: Vec<NaiveDate> = reports.iter().map(|r| r.date).collect();
        for (r, d) in reports.iter_mut().zip(self.drafts(&dates)?) {
            r.flag = d.disagreement(r);
        }
        Ok(())
    }

    /// Raises what the day calls for, once each: an alert for every day a
    /// monitored member missed a check, and a reminder when the day's
    /// report is not in after the policy's hour. `ids` supplies new task
    /// ids. Returns the tasks raised (none: nothing written).
    pub fn raise_alerts(
        &mut self,
        now: DateTime<FixedOffset>,
        mut ids: impl FnMut() -> String,
    ) -> Result<Vec<String>> {
        let today = now.date_naive();
        let raised: HashSet<String> = self.tasks()?.into_iter().filter_map(|t| t.source).collect();
        // (source, title, kind, household, member) of each task to raise.
        type Raise = (String, String, TaskKind, Option<String>, Option<String>);
        let mut new: Vec<Raise> = Vec::new();
        for c in self.missed_checks(today)? {
            let source = format!("missed:{}:{}", c.member_id, c.day);
            if !raised.contains(&source) {
                let title = format!(
                    "漏测 missed check: {} {} ({}/{})",
                    c.name, c.day, c.done, c.required
                );
                new.push((
                    source,
                    title,
                    TaskKind::Alert,
                    Some(c.household_id),
                    Some(c.member_id),
                ));
            }
        }
        let policy = self.policy();
        if now.hour() >= policy.report_due_hour && self.report(today)?.is_none() {
            let source = format!("report:{today}");
            if !raised.contains(&source) {
                new.push((
                    source,
                    format!("零报告未报 report not filed: {today}"),
                    TaskKind::Reminder,
                    None,
                    None,
                ));
            }
        }
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (source, title, kind, household, member) in new {
            let id = ids();
            self.put_task(
                &id,
                &title,
                household.as_deref(),
                member.as_deref(),
                Some(today),
                now,
                kind,
                Some(&source),
            )?;
            out.push(id);
        }
        self.commit("raise alerts", now.timestamp());
        Ok(out)
    }

    /// An alert for an abnormal health check, written with the visit.
    pub(super) fn alert_for_abnormal(
        &mut self,
        visit_id: &str,
        task_id: &str,
        v: &NewVisit,
    ) -> Result<()> {
        let Some(member_id) = &v.member_id else {
            return Ok(());
        };
        let m = self.member(member_id)?;
        let what = match (v.temperature, &v.symptoms) {
            (Some(t), _) if t >= FEVER_THRESHOLD => format!("{t:.1}°C"),
            (_, Some(s)) => s.chars().take(40).collect(),
            _ => String::new(),
        };
        self.put_task(
            task_id,
            &format!("体温/症状异常 abnormal check: {} {what}", m.name),
            Some(&m.household_id),
            Some(member_id),
            Some(v.at.date_naive()),
            v.at,
            TaskKind::Alert,
            Some(&format!("abnormal:{visit_id}")),
        )
    }

    /// Writes a task's keys (no commit).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn put_task(
        &mut self,
        id: &str,
        title: &str,
        household_id: Option<&str>,
        member_id: Option<&str>,
        due: Option<NaiveDate>,
        at: DateTime<FixedOffset>,
        kind: TaskKind,
        source: Option<&str>,
    ) -> Result<()> {
        let title = check_text("title", title, 200, true)?;
        if let Some(h) = household_id {
            self.household_obj(h)?;
        }
        if let Some(m) = member_id {
            self.member_obj(m)?;
        }
        let tasks = self.root_map(TASKS)?;
        let obj = self.doc.put_object(&tasks, id, ObjType::Map)?;
        self.doc.put(&obj, "title", title)?;
        self.doc.put(&obj, "status", TaskStatus::Open.as_str())?;
        self.doc.put(&obj, "created", at.to_rfc3339())?;
        self.put_opt(&obj, "household", household_id)?;
        self.put_opt(&obj, "member", member_id)?;
        self.put_opt(&obj, "due", due.map(|d| d.to_string()))?;
        if kind != TaskKind::List {
            self.doc.put(&obj, "kind", kind.as_str())?;
        }
        self.put_opt(&obj, "source", source)?;
        Ok(())
    }
}

/// A cell's visit log, arrivals and register, read from the document once
/// ([`CellDoc::day_log`]); every list of the lead's day is worked out from
/// it. Reading these out of automerge is what a list costs (a year of a
/// cell's visits is thousands of maps); walking them again in memory is
/// not, so each list walks them on its own.
pub(crate) struct DayLog {
    /// In time order ([`CellDoc::visits`]).
    visits: Vec<Visit>,
    /// Oldest first ([`CellDoc::arrivals`]).
    arrivals: Vec<ArrivalRecord>,
    households: Vec<Household>,
}

/// A member's home-monitoring checks: every day from `since` to `until`,
/// `per_day` a day. The one rule for it, read by the lead's day
/// ([`CellDoc::check_days`]) and kept in the query tables for the first
/// screen of a phone with many cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSchedule {
    pub since: NaiveDate,
    /// Never more than [`MAX_MONITORING_DAYS`] after `since`.
    pub until: NaiveDate,
    pub per_day: i64,
}

impl CheckSchedule {
    /// The member's schedule from their latest arrival with a monitoring
    /// period (`arrivals` oldest first, as [`CellDoc::arrivals`]); without
    /// one, monitoring set by hand (layout 1) asks one check a day.
    pub fn of(m: &Member, arrivals: &[ArrivalRecord]) -> Option<CheckSchedule> {
        let latest = arrivals
            .iter()
            .rfind(|a| a.member_id == m.id && a.until.is_some());
        let (since, until, per_day) = match latest {
            Some(a) => (a.date, a.until.unwrap_or(a.date), a.checks_per_day),
            None => match (m.monitoring.since, m.monitoring.until) {
                (Some(s), Some(u)) if s <= u => (s, u, 1),
                (None, Some(u)) => (u, u, 1),
                _ => return None,
            },
        };
        let until = until.min(since + chrono::Days::new(MAX_MONITORING_DAYS as u64));
        Some(CheckSchedule {
            since,
            until,
            per_day,
        })
    }
}

impl DayLog {
    /// See [`CellDoc::check_days`].
    pub(crate) fn check_days(&self, today: NaiveDate) -> Vec<CheckDay> {
        let mut done: HashMap<(String, String), i64> = HashMap::new();
        for v in &self.visits {
            if v.kind == VisitKind::HealthCheck {
                if let Some(m) = &v.member_id {
                    *done.entry((m.clone(), v.day().to_string())).or_default() += 1;
                }
            }
        }
        let mut out = Vec::new();
        for h in &self.households {
            for m in &h.members {
                let Some(CheckSchedule {
                    since,
                    until,
                    per_day,
                }) = CheckSchedule::of(m, &self.arrivals)
                else {
                    continue;
                };
                let mut day = since;
                while day <= until && day <= today {
                    out.push(CheckDay {
                        member_id: m.id.clone(),
                        name: m.name.clone(),
                        household_id: h.id.clone(),
                        day,
                        required: per_day,
                        done: done
                            .get(&(m.id.clone(), day.to_string()))
                            .copied()
                            .unwrap_or(0),
                        until,
                    });
                    day = day + chrono::Days::new(1);
                }
            }
        }
        out
    }

    /// See [`CellDoc::health_statuses`].
    pub(crate) fn health_statuses(&self, day: NaiveDate) -> Vec<MemberStatus> {
        let day_s = day.to_string();
        // Each member's latest health check by `day` (visits come in time order).
        let mut latest: HashMap<&str, bool> = HashMap::new();
        for v in &self.visits {
            if v.kind == VisitKind::HealthCheck && v.day() <= day_s.as_str() {
                if let Some(m) = &v.member_id {
                    latest.insert(m.as_str(), v.is_abnormal());
                }
            }
        }
        let mut out = Vec::new();
        for h in &self.households {
            for m in &h.members {
                let health = if m.referred {
                    HealthStatus::Referred
                } else if latest.get(m.id.as_str()).copied().unwrap_or(false) {
                    HealthStatus::Abnormal
                } else if m.monitoring.active_on(day)
                    || self
                        .arrivals
                        .iter()
                        .any(|a| a.member_id == m.id && a.monitors(day))
                {
                    HealthStatus::UnderMonitoring
                } else {
                    HealthStatus::Normal
                };
                out.push(MemberStatus {
                    member_id: m.id.clone(),
                    name: m.name.clone(),
                    household_id: h.id.clone(),
                    health,
                });
            }
        }
        out
    }

    /// See [`CellDoc::away_residents`].
    pub(crate) fn away_residents(
        &self,
        today: NaiveDate,
        not_called_days: i64,
    ) -> Vec<AwayResident> {
        // Each member's latest call: (at, by).
        let mut last: HashMap<&str, (&str, &str)> = HashMap::new();
        for v in &self.visits {
            if v.kind != VisitKind::Call {
                continue;
            }
            if let Some(m) = &v.member_id {
                let entry = last.entry(m.as_str()).or_insert(("", ""));
                if v.at.as_str() > entry.0 {
                    *entry = (v.at.as_str(), v.by.as_str());
                }
            }
        }
        let mut out = Vec::new();
        for h in &self.households {
            for m in &h.members {
                if m.residence != Residence::Away {
                    continue;
                }
                let called = last.get(m.id.as_str());
                let last_called = called
                    .and_then(|(at, _)| NaiveDate::parse_from_str(at.get(..10)?, "%Y-%m-%d").ok());
                let days_since = last_called.map(|d| (today - d).num_days());
                if days_since.is_some_and(|d| d < not_called_days) {
                    continue;
                }
                out.push(AwayResident {
                    member_id: m.id.clone(),
                    name: m.name.clone(),
                    phone: m.phone.clone(),
                    away_at: m.away_at.clone(),
                    last_called,
                    called_by: called.map(|(_, by)| by.to_string()),
                    days_since,
                });
            }
        }
        out.sort_by_key(|a| (a.last_called, a.member_id.clone()));
        out
    }

    /// The draft of one day's report.
    pub(crate) fn draft(&self, date: NaiveDate) -> ReportDraft {
        // `drafts` gives one draft per date asked for.
        self.drafts(&[date])
            .pop()
            .unwrap_or_else(|| ReportDraft::empty(date))
    }

    /// The drafts of several days: arrivals recorded for the day (an
    /// arrival record or a member's arrival date), members whose
    /// monitoring covers it, members with an abnormal health check that
    /// day, and the day's errand, door-knock and call visits.
    pub(crate) fn drafts(&self, dates: &[NaiveDate]) -> Vec<ReportDraft> {
        let mut out: Vec<ReportDraft> =
            dates.iter().map(|&date| ReportDraft::empty(date)).collect();
        let index: HashMap<String, usize> = dates
            .iter()
            .enumerate()
            .map(|(i, d)| (d.to_string(), i))
            .collect();
        let mut arrived: Vec<HashSet<&str>> = vec![HashSet::new(); dates.len()];
        let mut abnormal: Vec<HashSet<&str>> = vec![HashSet::new(); dates.len()];
        for a in &self.arrivals {
            if let Some(&i) = index.get(&a.date.to_string()) {
                arrived[i].insert(a.member_id.as_str());
            }
        }
        for h in &self.households {
            for m in &h.members {
                for (i, d) in out.iter_mut().enumerate() {
                    if m.arrival.date == Some(d.date) {
                        arrived[i].insert(m.id.as_str());
                    }
                    if m.monitoring.active_on(d.date) {
                        d.under_monitoring += 1;
                    }
                }
            }
        }
        for v in &self.visits {
            let Some(&i) = index.get(v.day()) else {
                continue;
            };
            let d = &mut out[i];
            match v.kind {
                VisitKind::Errand => d.errands += 1,
                VisitKind::DoorKnock => d.door_knocks += 1,
                VisitKind::Call => d.calls += 1,
                VisitKind::HealthCheck if v.is_abnormal() => {
                    abnormal[i].extend(v.member_id.as_deref());
                }
                _ => {}
            }
        }
        for (i, d) in out.iter_mut().enumerate() {
            d.arrivals = arrived[i].len() as i64;
            d.abnormal = abnormal[i].len() as i64;
        }
        out
    }
}
