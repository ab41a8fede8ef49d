"""Closing and reopening a store."""

import pytest

import silin
from silin import MemberEdit, NewHousehold, NewMember, NewReport, NewVisit, StoreError, SyncError, VisitKind

from support import DAY, Recorder, a_cell, sync_pair


def test_data_survives_close_and_reopen(tmp_path):
    path = str(tmp_path / "lead.db")
    store = silin.Store.open(path, None)
    device = store.identity().device_id
    cell, household, member = a_cell(store)
    store.edit_member(member, [MemberEdit.SET_MONITORING_SINCE(DAY), MemberEdit.SET_MONITORING_UNTIL("2026-12-05")])
    store.record_visit(cell, NewVisit(kind=VisitKind.HEALTH_CHECK, by="张建国", member_id=member,
                                      at=f"{DAY}T09:00:00+08:00", temperature=37.5))
    store.submit_report(cell, NewReport(date=DAY, by="张建国", arrivals=0, abnormal=1))
    view = store.cell(cell)
    store.close()
    assert store.is_closed()

    again = silin.Store.open(path, None)
    try:
        assert not again.is_closed()
        assert again.identity().device_id == device
        assert again.cell(cell) == view
        assert [s.member_id for s in again.under_monitoring(DAY)] == [member]
        assert [v.abnormal for v in again.visits_on(DAY)] == [True]
        assert again.cells_missing_report(DAY) == []
    finally:
        again.close()


def test_every_call_after_close_raises_closed(tmp_path):
    store = silin.Store.open(str(tmp_path / "s.db"), None)
    cell, household, member = a_cell(store)
    bundle = store.export_bundle([], None).data
    store.close()
    store.close()  # twice: harmless
    assert store.is_closed()

    store_calls = [
        store.identity,
        lambda: store.set_device_name("x"),
        lambda: store.create_cell("x", "a/b/c/d", None),
        lambda: store.rename_cell(cell, "x"),
        lambda: store.set_lead(cell, "x"),
        lambda: store.cells([]),
        lambda: store.cell(cell),
        lambda: store.conflicts(cell),
        lambda: store.add_household(cell, NewHousehold()),
        lambda: store.add_member(household, NewMember(name="x")),
        lambda: store.edit_member(member, [MemberEdit.SET_NAME("x")]),
        lambda: store.member(member),
        lambda: store.record_visit(cell, NewVisit(kind=VisitKind.CALL, by="x")),
        lambda: store.submit_report(cell, NewReport(date=DAY, by="x", arrivals=0, abnormal=0)),
        lambda: store.add_task(cell, silin.NewTask(title="x")),
        lambda: store.set_task_status(cell, member, silin.TaskStatus.DONE),
        lambda: store.under_monitoring(DAY),
        lambda: store.monitoring_ends(DAY),
        store.vulnerable_members,
        lambda: store.cells_missing_report(DAY),
        lambda: store.visits_on(DAY),
        lambda: store.rollup(DAY, silin.Level.VILLAGE),
        lambda: store.subscribe(Recorder()),
    ]
    for call in store_calls:
        with pytest.raises(StoreError.Closed) as e:
            call()
        assert "closed" in e.value.detail

    sync_calls = [
        lambda: store.enroll("http://127.0.0.1:1", "0" * 32 + "." + "0" * 16),
        lambda: store.sync_with_hub("http://127.0.0.1:1"),
        lambda: store.start_sync(None),
        store.accept_sync,
        lambda: store.export_bundle([], None),
        lambda: store.import_bundle(bundle),
    ]
    for call in sync_calls:
        with pytest.raises(SyncError.Closed) as e:
            call()
        assert "closed" in e.value.detail

    store.unsubscribe(1)  # no error: nothing to do
    store.close()


def test_a_session_whose_store_was_closed_raises_closed(new_store):
    a, b = new_store("a"), new_store("b")
    a_cell(a)
    start = a.start_sync(None)
    responder = b.accept_sync()
    reply = responder.receive(start.message)

    a.close()
    with pytest.raises(SyncError.Closed):
        start.session.receive(reply)
    # Each session belongs to its own store: b's fails once b is closed.
    b.close()
    with pytest.raises(SyncError.Closed):
        responder.receive(start.message)
    # A session's figures can still be read.
    assert start.session.stats().bytes_up > 0
    assert start.session.peer_device_id() is None
    assert isinstance(start.session.is_done(), bool)


def test_a_reopened_store_syncs_with_a_closed_sessions_peer(tmp_path):
    a = silin.Store.open(str(tmp_path / "a.db"), None)
    b = silin.Store.open(str(tmp_path / "b.db"), None)
    cell, _, _ = a_cell(a)
    start = a.start_sync(None)
    b.accept_sync().receive(start.message)
    a.close()
    a = silin.Store.open(str(tmp_path / "a.db"), None)
    sync_pair(a, b)
    assert b.cell(cell) == a.cell(cell)
    a.close()
    b.close()


def test_objects_outlive_their_store_handle(tmp_path):
    # Dropping the Python objects without closing is allowed too.
    store = silin.Store.open(str(tmp_path / "s.db"), None)
    cell, _, _ = a_cell(store)
    session = store.start_sync(None).session
    del store
    again = silin.Store.open(str(tmp_path / "s.db"), None)
    assert [c.id for c in again.cells([])] == [cell]
    assert session.is_done() is False
    again.close()


def test_two_opens_of_one_file_share_one_store(tmp_path):
    # Two screens (or a screen and a sync worker) each opening the register:
    # both handles see every write at once, and closing one leaves the other.
    path = str(tmp_path / "lead.db")
    screen = silin.Store.open(path, None)
    worker = silin.Store.open(str(tmp_path / "." / "lead.db"), None)
    cell, _, member = a_cell(screen)
    worker.record_visit(cell, NewVisit(kind=VisitKind.HEALTH_CHECK, by="张建国", member_id=member, temperature=36.8))
    assert len(screen.cell(cell).visits) == 1
    screen.record_visit(cell, NewVisit(kind=VisitKind.HEALTH_CHECK, by="张建国", member_id=member, temperature=36.9))
    assert worker.cell(cell) == screen.cell(cell)
    with pytest.raises(StoreError.WrongKey):
        silin.Store.open(path, "ab" * 32)
    screen.close()
    assert len(worker.cell(cell).visits) == 2
    worker.close()
