"""A lead householder's day, end to end through the Python API."""

import pytest

import silin
from silin import (
    Level,
    MemberEdit,
    NewHousehold,
    NewMember,
    NewReport,
    NewTask,
    NewVisit,
    Residence,
    Sex,
    TaskStatus,
    VisitKind,
    Vulnerability,
)

from support import DAY, TOWNSHIP, close_quietly

VILLAGE = f"{TOWNSHIP}/东关村"
REGION = f"{VILLAGE}/一组"
NEIGHBOUR = f"{VILLAGE}/二组"
OTHER_TOWNSHIP = "两当县/站儿巷镇/太阳寺村/三组"


def at(hhmm):
    return f"{DAY}T{hhmm}:00+08:00"


def test_a_full_lead_householder_day(new_store):
    store = new_store("lead")
    store.set_device_name("张建国的手机")
    assert store.identity().device_name == "张建国的手机"
    assert store.identity().enrolled is False

    cell = store.create_cell("东关村一组", REGION, "张建国")
    neighbour = store.create_cell("东关村二组", NEIGHBOUR, None)
    far = store.create_cell("太阳寺村三组", OTHER_TOWNSHIP, None)
    info = store.cell(cell).cell
    assert (info.id, info.name, info.region_path, info.lead) == (cell, "东关村一组", REGION, "张建国")
    assert {c.id for c in store.cells([])} == {cell, neighbour, far}
    assert {c.id for c in store.cells([VILLAGE])} == {cell, neighbour}
    assert {c.id for c in store.cells([TOWNSHIP + "/"])} == {cell, neighbour}
    store.rename_cell(neighbour, "东关村第二组")
    store.set_lead(neighbour, "刘芳")
    assert (store.cell(neighbour).cell.name, store.cell(neighbour).cell.lead) == ("东关村第二组", "刘芳")
    assert store.cells(["两当县/城关"]) == []  # whole parts only

    # Two households.
    h1 = store.add_household(cell, NewHousehold(address="东关村3号", door="3", phone="13800000001"))
    h2 = store.add_household(cell, NewHousehold(address="东关村7号"))

    # Household 1: a family; the son is back from a risk area.
    father = store.add_member(
        h1,
        NewMember(name="李德明", sex=Sex.MALE, birth_year=1962, id_number="621221196203150014",
                  phone="13800000002", relation="户主"),
    )
    son = store.add_member(h1, NewMember(name="李强", sex=Sex.MALE, birth_year=1990, relation="子"))
    store.edit_member(son, [
        MemberEdit.SET_RESIDENCE(Residence.RETURNED),
        MemberEdit.SET_ARRIVAL_FROM("西安市雁塔区"),
        MemberEdit.SET_ARRIVAL_RISK_AREA(True),
        MemberEdit.SET_ARRIVAL_DATE("2026-11-27"),
        MemberEdit.SET_MONITORING_SINCE("2026-11-27"),
        MemberEdit.SET_MONITORING_UNTIL("2026-12-03"),
        MemberEdit.SET_PHONE("13900000003"),
    ])
    # Household 2: an elderly woman living alone.
    widow = store.add_member(
        h2,
        NewMember(name="王秀英", sex=Sex.FEMALE, birth_year=1941,
                  vulnerable=[Vulnerability.ELDERLY, Vulnerability.ALONE]),
    )

    m = store.member(son)
    assert m.household_id == h1
    assert m.residence == Residence.RETURNED
    assert (m.arrival_from, m.arrival_risk_area, m.arrival_date) == ("西安市雁塔区", True, "2026-11-27")
    assert (m.monitoring_since, m.monitoring_until) == ("2026-11-27", "2026-12-03")
    assert m.phone == "13900000003"
    f = store.member(father)
    assert (f.name, f.sex, f.birth_year, f.id_number, f.relation) == (
        "李德明", Sex.MALE, 1962, "621221196203150014", "户主")
    assert f.monitoring_since is None and f.arrival_risk_area is False
    assert set(store.member(widow).vulnerable) == {Vulnerability.ELDERLY, Vulnerability.ALONE}

    # The door-knock round, then health checks: the son has a fever.
    knocks = [
        store.record_visit(cell, NewVisit(kind=VisitKind.DOOR_KNOCK, by="张建国", household_id=h, at=at(t),
                                          outcome="在家"))
        for h, t in ((h1, "08:30"), (h2, "08:45"))
    ]
    ok = store.record_visit(cell, NewVisit(kind=VisitKind.HEALTH_CHECK, by="张建国", household_id=h1,
                                           member_id=father, at=at("09:00"), temperature=36.5))
    fever = store.record_visit(cell, NewVisit(kind=VisitKind.HEALTH_CHECK, by="张建国", household_id=h1,
                                              member_id=son, at=at("09:05"), temperature=38.2,
                                              note="已报告卫生院"))
    widow_check = store.record_visit(cell, NewVisit(kind=VisitKind.HEALTH_CHECK, by="张建国",
                                                    household_id=h2, member_id=widow, at=at("09:20"),
                                                    temperature=36.9))

    # An errand for the widow: a task, the errand visit that carries it out,
    # and the task marked done.
    task = store.add_task(cell, NewTask(title="代购降压药", household_id=h2, member_id=widow, due=DAY))
    # (The fever check raised an alert task of its own.)
    [alert] = [t for t in store.cell(cell).tasks if t.kind == silin.TaskKind.ALERT]
    assert (alert.member_id, alert.source) == (son, f"abnormal:{fever}")
    [t] = [t for t in store.cell(cell).tasks if t.kind == silin.TaskKind.LIST]
    assert (t.id, t.title, t.household_id, t.member_id, t.due, t.status) == (
        task, "代购降压药", h2, widow, DAY, TaskStatus.OPEN)
    errand = store.record_visit(cell, NewVisit(kind=VisitKind.ERRAND, by="张建国", household_id=h2,
                                               member_id=widow, at=at("11:00"), task_id=task,
                                               outcome="药已送到"))
    store.set_task_status(cell, task, TaskStatus.DONE)

    view = store.cell(cell)
    assert [t.status for t in view.tasks if t.id == task] == [TaskStatus.DONE]
    visits = {v.id: v for v in view.visits}
    assert set(visits) == {*knocks, ok, fever, widow_check, errand}
    assert visits[fever].abnormal is True
    assert visits[fever].temperature == 38.2
    assert visits[fever].member_id == son
    assert visits[fever].note == "已报告卫生院"
    assert [visits[v].abnormal for v in (ok, widow_check, *knocks, errand)] == [False] * 5
    assert visits[errand].task_id == task
    assert visits[errand].kind == VisitKind.ERRAND
    assert all(v.by == "张建国" for v in view.visits)
    households = {h.id: h for h in view.households}
    assert set(households) == {h1, h2}
    assert {m.id for m in households[h1].members} == {father, son}
    assert [m.id for m in households[h2].members] == [widow]
    assert households[h1].door == "3" and households[h1].phone == "13800000001"
    assert view.conflicts == [] and view.reports == []

    # Queries over every cell held.
    monitored = store.under_monitoring(DAY)
    assert [s.member_id for s in monitored] == [son]
    assert (monitored[0].cell_id, monitored[0].household_id, monitored[0].name) == (cell, h1, "李强")
    assert monitored[0].monitoring_until == "2026-12-03"
    assert store.under_monitoring("2026-11-26") == []
    assert store.under_monitoring("2026-12-04") == []
    assert [s.member_id for s in store.monitoring_ends("2026-12-03")] == [son]

    vulnerable = store.vulnerable_members()
    assert [s.member_id for s in vulnerable] == [widow]
    assert set(vulnerable[0].vulnerable) == {Vulnerability.ELDERLY, Vulnerability.ALONE}

    on_day = {v.visit_id: v for v in store.visits_on(DAY)}
    assert set(on_day) == set(visits)
    assert [v.visit_id for v in on_day.values() if v.abnormal] == [fever]
    assert on_day[errand].kind == VisitKind.ERRAND
    assert all(v.cell_id == cell and v.day == DAY for v in on_day.values())
    assert store.visits_on("2026-11-28") == []

    assert {c.id for c in store.cells_missing_report(DAY)} == {cell, neighbour, far}

    # The daily report: one arrival, one abnormal; monitoring and errands
    # are counted from the register.
    store.submit_report(cell, NewReport(date=DAY, by="张建国", arrivals=1, abnormal=1, note="李强发热，已报告"))
    [report] = store.cell(cell).reports
    assert (report.date, report.by, report.arrivals, report.abnormal) == (DAY, "张建国", 1, 1)
    assert report.under_monitoring == 1
    assert report.errands == 1
    assert report.zero is False
    assert report.note == "李强发热，已报告"
    assert {c.id for c in store.cells_missing_report(DAY)} == {neighbour, far}

    # The neighbour files a zero report.
    store.submit_report(neighbour, NewReport(date=DAY, by="刘芳", arrivals=0, abnormal=0))
    assert store.cell(neighbour).reports[0].zero is True
    assert [c.id for c in store.cells_missing_report(DAY)] == [far]

    # The rollup at every level.
    def rows(level):
        return {r.path: r for r in store.rollup(DAY, level)}

    county = rows(Level.COUNTY)
    assert set(county) == {"两当县"}
    c = county["两当县"]
    assert (c.cells, c.reported, c.missing, c.zero, c.arrivals, c.abnormal, c.under_monitoring) == (
        3, 2, 1, 1, 1, 1, 1)

    township = rows(Level.TOWNSHIP)
    assert set(township) == {TOWNSHIP, "两当县/站儿巷镇"}
    t = township[TOWNSHIP]
    assert (t.cells, t.reported, t.missing, t.zero, t.arrivals, t.abnormal) == (2, 2, 0, 1, 1, 1)
    other = township["两当县/站儿巷镇"]
    assert (other.cells, other.reported, other.missing) == (1, 0, 1)

    village = rows(Level.VILLAGE)
    assert set(village) == {VILLAGE, "两当县/站儿巷镇/太阳寺村"}
    assert (village[VILLAGE].cells, village[VILLAGE].reported) == (2, 2)

    group = rows(Level.GROUP)
    assert set(group) == {REGION, NEIGHBOUR, OTHER_TOWNSHIP}
    g = group[REGION]
    assert (g.cells, g.reported, g.missing, g.zero, g.arrivals, g.abnormal, g.under_monitoring) == (
        1, 1, 0, 0, 1, 1, 1)
    assert (group[NEIGHBOUR].zero, group[OTHER_TOWNSHIP].missing) == (1, 1)

    # Another day: nobody has reported yet.
    assert all(r.reported == 0 and r.missing == r.cells for r in store.rollup("2026-11-30", Level.COUNTY))


def test_cells_scope_names_cell_ids_and_star(new_store):
    store = new_store()
    cell = store.create_cell("东关村一组", REGION, None)
    store.create_cell("东关村二组", NEIGHBOUR, None)
    assert [c.id for c in store.cells([cell])] == [cell]
    assert len(store.cells(["*"])) == 2


def test_library_helpers():
    assert silin.library_version().count(".") == 2
    assert "monitoring_until" in silin.member_fields()
    assert "phone" in silin.member_fields()
    assert silin.check_resident_id("11010519491231002X") == "11010519491231002X"
    today = silin.today()
    assert len(today) == 10 and today[4] == "-" and today[7] == "-"


def test_a_door_knock_round_is_recorded_whole_or_not_at_all(new_store):
    store = new_store("lead")
    cell = store.create_cell("东关村一组", REGION, "张建国")
    homes = [store.add_household(cell, NewHousehold(door=f"{n}号")) for n in (1, 2, 3)]
    knock = lambda h, note: NewVisit(kind=VisitKind.DOOR_KNOCK, by="张建国", household_id=h, note=note, at=at("08:30"))

    bad = NewVisit(kind=VisitKind.HEALTH_CHECK, by="张建国", at=at("08:31"))  # no member
    with pytest.raises(silin.StoreError.Invalid) as e:
        store.record_visits(cell, [knock(homes[0], "在家"), bad, knock(homes[2], "在家")])
    assert e.value.field == "member"
    assert store.cell(cell).visits == []

    ids = store.record_visits(cell, [knock(h, f"第{i}户") for i, h in enumerate(homes, 1)])
    assert len(ids) == 3
    by_id = {v.id: v for v in store.cell(cell).visits}
    assert [by_id[i].household_id for i in ids] == homes
    assert [by_id[i].note for i in ids] == ["第1户", "第2户", "第3户"]
    assert len(store.visits_on(DAY)) == 3


def test_a_store_opened_at_a_set_time_dates_its_records_by_that_clock(tmp_path):
    """`Store.open_at` is how an app's own tests fix the day: what the store
    dates by itself follows that clock, whatever day the tests run on."""
    leap = "2028-02-29T09:00:00+08:00"
    store = silin.Store.open_at(str(tmp_path / "leap.db"), None, leap)
    try:
        cell = store.create_cell("东关村一组", REGION, "张建国")
        h = store.add_household(cell, NewHousehold(address="东关村3号"))
        knock = store.record_visit(cell, NewVisit(kind=VisitKind.DOOR_KNOCK, by="张建国", household_id=h))
        assert [v.visit_id for v in store.visits_on("2028-02-29")] == [knock]
        with pytest.raises(silin.StoreError.Invalid) as e:
            silin.Store.open(str(tmp_path / "leap.db"), None)
        assert e.value.field == "now"
    finally:
        close_quietly(store)
    for bad in ("2028-02-30", "soon"):
        with pytest.raises(silin.StoreError.Invalid) as e:
            silin.Store.open_at(str(tmp_path / "never.db"), None, bad)
        assert e.value.field == "now"
    assert not (tmp_path / "never.db").exists()
