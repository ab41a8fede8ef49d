"""The lead's day (layout 2) through the Python API: an arrival at the door
and its monitoring, checks due and missed, alerts, the flagged report,
errands, dose and test histories, the handover, residents away.

The store's clock is the system's: every day is counted from silin's
today(), and alerts are told apart by kind (after 20:00 raise_alerts also
adds a report reminder).
"""

import uuid
from datetime import date, datetime, time, timedelta

import pytest

import silin
from silin import (
    ArrivalKind,
    HealthStatus,
    Means,
    MemberEdit,
    NewArrival,
    NewDose,
    NewErrand,
    NewMember,
    NewReport,
    NewTest,
    NewVisit,
    Residence,
    RiskLevel,
    TaskKind,
    VisitKind,
)

from support import a_cell

TODAY = date.fromisoformat(silin.today())


def day(offset):
    return (TODAY + timedelta(days=offset)).isoformat()


def morning(offset):
    """10:00 on that day in the device's zone, RFC 3339."""
    local = datetime.combine(TODAY + timedelta(days=offset), time(10, 0)).astimezone()
    return local.isoformat(timespec="seconds")


def check(store, cell, member, temperature, at=None):
    return store.record_visit(
        cell, NewVisit(kind=VisitKind.HEALTH_CHECK, by="李秀英", member_id=member, temperature=temperature, at=at)
    )


def health(lead, member):
    return next(m.health for m in lead.members if m.member_id == member)


def new_arrival(household, *, member_id=None, new_member=None, risk=RiskLevel.HIGH, date=None,
                kind=ArrivalKind.VISITOR, means=None):
    # `from` is a Python keyword: the generated class names it `_from`.
    return NewArrival(household_id=household, member_id=member_id, new_member=new_member, kind=kind,
                      _from="武汉市洪山区", risk=risk, date=date or day(0), means=means, by="李秀英")


def test_an_arrival_at_the_door_and_the_due_list(new_store):
    store = new_store("lead")
    cell, household, resident = a_cell(store)
    visitor = store.record_arrival(
        new_arrival(household, new_member=NewMember(name="李强", phone="13900000002"), means=Means.TRAIN)
    )
    m = store.member(visitor)
    assert (m.household_id, m.residence, m.arrival_risk_area) == (household, Residence.VISITOR, True)
    assert (m.monitoring_since, m.monitoring_until) == (day(0), day(13))

    lead = store.lead_day(cell, day(0), 7)
    [due] = lead.due
    assert (due.member_id, due.name, due.required, due.done, due.until, due.days_left) == (
        visitor, "李强", 2, 0, day(13), 13)
    assert store.due_checks([], day(0)) == [due]
    assert health(lead, visitor) == HealthStatus.UNDER_MONITORING
    assert health(lead, resident) == HealthStatus.NORMAL
    assert (lead.draft.arrivals, lead.draft.under_monitoring) == (1, 1)

    check(store, cell, visitor, 36.5)
    assert [d.done for d in store.lead_day(cell, day(0), 7).due] == [1]
    check(store, cell, visitor, 36.6)
    assert store.lead_day(cell, day(0), 7).due == []
    assert store.due_checks([cell], day(0)) == []

    # Someone in the register returning from a medium-risk area: 7 days, one check.
    assert store.record_arrival(
        new_arrival(household, member_id=resident, risk=RiskLevel.MEDIUM, kind=ArrivalKind.RETURNING)
    ) == resident
    assert store.member(resident).monitoring_until == day(6)
    [theirs] = [d for d in store.due_checks([], day(0)) if d.member_id == resident]
    assert (theirs.required, theirs.days_left) == (1, 6)


def test_missed_and_abnormal_checks_raise_alerts_and_a_zero_report_is_flagged(new_store):
    store = new_store("lead")
    cell, household, _ = a_cell(store)
    visitor = store.record_arrival(new_arrival(household, new_member=NewMember(name="李强"), date=day(-1)))
    lead = store.lead_day(cell, day(0), 7)
    assert [(d.day, d.done, d.required) for d in lead.missed] == [(day(-1), 0, 2)]

    raised = store.raise_alerts(cell)
    alerts = [t for t in store.lead_day(cell, day(0), 7).open_tasks if t.kind == TaskKind.ALERT]
    assert [(t.member_id, t.source) for t in alerts] == [(visitor, f"missed:{visitor}:{day(-1)}")]
    assert alerts[0].id in raised
    assert store.raise_alerts(cell) == [], "raised once"

    check(store, cell, visitor, 38.4)
    lead = store.lead_day(cell, day(0), 7)
    assert health(lead, visitor) == HealthStatus.ABNORMAL
    assert sum(t.kind == TaskKind.ALERT for t in lead.open_tasks) == 2
    assert lead.draft.abnormal == 1

    store.submit_report(cell, NewReport(date=day(0), by="李秀英", arrivals=0, abnormal=0))
    report = store.lead_day(cell, day(0), 7).report
    assert report.zero is True
    assert report.flag == "abnormal 0, log 1"


def test_errands_doses_tests_and_a_handover(new_store):
    store = new_store("lead")
    cell, household, resident = a_cell(store)
    errand = store.request_errand(NewErrand(household_id=household, member_id=resident, request="代购降压药", due=day(1)))
    [waiting] = store.lead_day(cell, day(0), 7).errands
    assert (waiting.id, waiting.due, waiting.status) == (errand, day(1), silin.ErrandStatus.REQUESTED)
    visit = store.complete_errand(cell, errand, "李秀英", "药已送到")
    lead = store.lead_day(cell, day(0), 7)
    assert lead.errands == [] and lead.draft.errands == 1
    assert next(v for v in store.cell(cell).visits if v.id == visit).kind == VisitKind.ERRAND
    with pytest.raises(silin.StoreError):
        store.complete_errand(cell, errand, "李秀英", None)

    store.edit_member(resident, [MemberEdit.SET_VACCINATION_DOSES(2)])
    store.add_dose(NewDose(member_id=resident, number=3, date="2022-03-01", kind="灭活疫苗", by="李秀英"))
    store.add_test(NewTest(member_id=resident, date=day(0), kind=silin.TestKind.ANTIGEN, result=silin.TestResult.NEGATIVE, by="李秀英"))
    m = store.member(resident)
    assert (m.vaccination_doses, m.vaccination_last) == (3, "2022-03-01")
    assert (m.test_date, m.test_result) == (day(0), silin.TestResult.NEGATIVE)

    second = store.add_member(household, NewMember(name="李秀英", phone="13700000004"))
    store.hand_over(cell, resident, "网格员张")
    store.hand_over(cell, second, "网格员张")
    lead = store.lead_day(cell, day(0), 7).lead
    assert (lead.member_id, lead.name, lead.phone) == (second, "李秀英", "13700000004")


def test_a_resident_away_is_called_and_the_list_updates(new_store):
    store = new_store("lead")
    cell, household, _ = a_cell(store)
    away = store.add_member(household, NewMember(name="王小军", phone="15100000003", residence=Residence.AWAY))
    store.edit_member(away, [MemberEdit.SET_AWAY_AT("深圳市宝安区")])
    [never] = store.away_not_called([], day(0), 7)
    assert (never.member_id, never.away_at, never.last_called, never.days_since) == (away, "深圳市宝安区", None, None)

    store.record_visit(cell, NewVisit(kind=VisitKind.CALL, by="李秀英", member_id=away, at=morning(-8)))
    [stale] = store.away_not_called([], day(0), 7)
    assert (stale.last_called, stale.called_by, stale.days_since) == (day(-8), "李秀英", 8)
    store.record_visit(cell, NewVisit(kind=VisitKind.CALL, by="李秀英", member_id=away))
    assert store.away_not_called([], day(0), 7) == []
    assert store.lead_day(cell, day(0), 7).away == []

    store.edit_member(away, [MemberEdit.SET_REFERRED(True)])
    assert store.member(away).referred is True
    assert health(store.lead_day(cell, day(0), 7), away) == HealthStatus.REFERRED


def test_bad_arrivals_are_refused_with_their_field(new_store):
    store = new_store("lead")
    cell, household, resident = a_cell(store)
    with pytest.raises(silin.StoreError.Invalid) as e:
        store.record_arrival(new_arrival(household, member_id=resident, date=day(1)))
    assert e.value.field == "date"
    with pytest.raises(silin.StoreError.Invalid) as e:
        store.record_arrival(new_arrival(household))
    assert e.value.field == "member"
    with pytest.raises(silin.StoreError.NotFound):
        store.lead_day(str(uuid.uuid4()), day(0), 7)
    assert [m.member_id for m in store.lead_day(cell, day(0), 7).members] == [resident]


def test_a_grid_workers_first_screen_agrees_with_each_cells_day(new_store):
    store = new_store("worker")
    cell, household, _ = a_cell(store)
    village = store.cell(cell).cell.region_path.rsplit("/", 1)[0]
    quiet, _, _ = a_cell(store, name="东关村二组", region=f"{village}/二组")
    store.record_arrival(new_arrival(household, new_member=NewMember(name="王强"), risk=RiskLevel.HIGH))
    store.raise_alerts(cell)
    store.submit_report(cell, NewReport(date=day(0), by="李秀英", arrivals=1, abnormal=0))

    rows = {s.cell_id: s for s in store.cell_summaries([], day(0), 7)}
    assert set(rows) == {cell, quiet}
    for c in (cell, quiet):
        lead = store.lead_day(c, day(0), 7)
        s = rows[c]
        assert (s.open_tasks, s.reported, s.under_monitoring, s.away_not_called) == (
            len(lead.open_tasks), lead.report is not None, lead.draft.under_monitoring, len(lead.away))
        assert (s.checks_due, s.checks_missed) == (len(lead.due), len(lead.missed))
    assert rows[cell].reported and not rows[quiet].reported
    assert rows[cell].under_monitoring == 1
    # The arrival from a high-risk area has today's checks still to do.
    assert rows[cell].checks_due == 1 and rows[quiet].checks_due == 0
    # Without a number of days the away count is not worked out.
    assert all(s.away_not_called is None for s in store.cell_summaries([], day(0), None))
    # A scope narrows it like every other query over the cells held.
    assert [s.cell_id for s in store.cell_summaries([cell], day(0), None)] == [cell]
