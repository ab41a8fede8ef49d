"""Failures reach Python as the right StoreError / SyncError subclass, with
fields an app can use, and nothing is written."""

import sqlite3
import uuid

import pytest

import silin
from silin import (
    MemberEdit,
    NewHousehold,
    NewMember,
    NewReport,
    NewTask,
    NewVisit,
    StoreError,
    SyncError,
    TaskStatus,
    VisitKind,
)

from support import DAY, a_cell, sync_pair, transcript

UNKNOWN = "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f"


@pytest.fixture
def cell(new_store):
    store = new_store()
    cell, household, member = a_cell(store)
    return store, cell, household, member


def invalid(call, field):
    with pytest.raises(StoreError.Invalid) as e:
        call()
    assert e.value.field == field, repr(e.value)
    assert e.value.rule and isinstance(e.value.rule, str)
    return e.value


def test_invalid_values_name_their_field_and_write_nothing(cell):
    store, cell_id, household, member = cell
    before = store.cell(cell_id)

    err = invalid(lambda: store.record_visit(cell_id, NewVisit(kind=VisitKind.HEALTH_CHECK, by="张建国",
                                                             member_id=member, temperature=45.0)), "temperature")
    assert "34" in err.rule and "43" in err.rule
    invalid(lambda: store.record_visit(cell_id, NewVisit(kind=VisitKind.HEALTH_CHECK, by="张建国",
                                                       member_id=member, temperature=float("nan"))), "temperature")
    invalid(lambda: store.record_visit(cell_id, NewVisit(kind=VisitKind.HEALTH_CHECK, by="张建国")), "member")
    invalid(lambda: store.record_visit(cell_id, NewVisit(kind=VisitKind.CALL, by="x", at="yesterday")), "at")

    err = invalid(lambda: store.add_member(household, NewMember(name="李强", phone="12345")), "phone")
    assert "11" in err.rule
    invalid(lambda: store.add_household(cell_id, NewHousehold(phone="not a phone")), "phone")
    invalid(lambda: store.edit_member(member, [MemberEdit.SET_PHONE("1380000000")]), "phone")

    err = invalid(lambda: store.add_member(household, NewMember(name="李强", id_number="110105194912310021")),
                  "id_number")
    assert "X" in err.rule  # the check digit it expected
    invalid(lambda: store.add_member(household, NewMember(name="李强", id_number="123")), "id_number")
    invalid(lambda: silin.check_resident_id("110105194912310021"), "id_number")
    invalid(lambda: store.add_member(household, NewMember(name="李强", id_number="11010519491231002X",
                                                          birth_year=1950)), "birth_year")

    invalid(lambda: store.submit_report(cell_id, NewReport(date="29/11/2026", by="x", arrivals=0, abnormal=0)),
            "date")
    invalid(lambda: store.submit_report(cell_id, NewReport(date="2026-02-30", by="x", arrivals=0, abnormal=0)),
            "date")
    invalid(lambda: store.submit_report(cell_id, NewReport(date=DAY, by="x", arrivals=-1, abnormal=0)), "arrivals")
    invalid(lambda: store.edit_member(member, [MemberEdit.SET_MONITORING_UNTIL("tomorrow")]), "monitoring_until")
    invalid(lambda: store.add_task(cell_id, NewTask(title="买药", due="2026-13-01")), "due")
    invalid(lambda: store.under_monitoring("2026-11-31"), "day")
    invalid(lambda: store.rollup("", silin.Level.COUNTY), "day")

    invalid(lambda: store.create_cell("x", "两当县/城关镇", None), "path")
    invalid(lambda: store.add_member(household, NewMember(name="")), "name")
    invalid(lambda: store.add_member(household, NewMember(name="a\x00b")), "name")
    invalid(lambda: store.edit_member(member, [MemberEdit.SET_VACCINATION_DOSES(-1)]), "vaccination_doses")
    invalid(lambda: store.member("nope"), "member")
    invalid(lambda: store.cell(""), "cell")

    # One bad edit in a list: none of the list is applied.
    invalid(lambda: store.edit_member(member, [MemberEdit.SET_NAME("新名字"), MemberEdit.SET_PHONE("1")]), "phone")
    assert store.member(member).name == "王秀英"
    assert store.cell(cell_id) == before


def test_ids_that_name_nothing_are_not_found(cell):
    store, cell_id, household, member = cell
    other = str(uuid.uuid4())
    for call, what in [
        (lambda: store.member(UNKNOWN), "member"),
        (lambda: store.cell(other), "cell"),
        (lambda: store.conflicts(other), "cell"),
        (lambda: store.add_household(other, NewHousehold()), "cell"),
        (lambda: store.add_member(other, NewMember(name="x")), "household"),
        (lambda: store.edit_member(other, [MemberEdit.SET_NAME("x")]), "member"),
        (lambda: store.set_task_status(cell_id, other, TaskStatus.DONE), "task"),
        (lambda: store.record_visit(cell_id, NewVisit(kind=VisitKind.HEALTH_CHECK, by="x", member_id=other)),
         "member"),
    ]:
        with pytest.raises(StoreError.NotFound) as e:
            call()
        assert e.value.what == what, repr(e.value)
        assert e.value.id in (other, UNKNOWN)
    with pytest.raises(SyncError.NotFound) as e:
        store.export_bundle([other], None)
    assert (e.value.what, e.value.id) == ("cell", other)
    with pytest.raises(SyncError.Invalid) as e:
        store.export_bundle(["nope"], None)
    assert e.value.field == "cell"


def test_an_encrypted_store_needs_its_key(tmp_path):
    path = str(tmp_path / "phone.db")
    store = silin.Store.open(path, "correct horse battery staple")
    cell, _, member = a_cell(store)
    store.close()
    raw_key = "ab" * 32

    for key in ("wrong horse", None, raw_key):
        with pytest.raises(StoreError.WrongKey) as e:
            silin.Store.open(path, key)
        assert "key" in e.value.detail

    store = silin.Store.open(path, "correct horse battery staple")
    assert store.member(member).name == "王秀英"
    store.close()

    # A raw 64-hex-digit key works the same way.
    raw = silin.Store.open(str(tmp_path / "raw.db"), raw_key)
    a_cell(raw)
    raw.close()
    assert len(silin.Store.open(str(tmp_path / "raw.db"), raw_key).cells([])) == 1
    with pytest.raises(StoreError.WrongKey):
        silin.Store.open(str(tmp_path / "raw.db"), "cd" * 32)

    # A key for a plaintext store is wrong too; the file is untouched.
    plain = silin.Store.open(str(tmp_path / "plain.db"), None)
    a_cell(plain)
    plain.close()
    before = (tmp_path / "plain.db").read_bytes()
    with pytest.raises(StoreError.WrongKey):
        silin.Store.open(str(tmp_path / "plain.db"), "a key")
    assert (tmp_path / "plain.db").read_bytes() == before


def test_a_path_that_cannot_hold_a_store_is_a_storage_error(tmp_path):
    with pytest.raises(StoreError.Storage) as e:
        silin.Store.open(str(tmp_path / "no" / "such" / "dir.db"), None)
    assert e.value.detail
    with pytest.raises(StoreError.Storage):
        silin.Store.open(str(tmp_path), None)


def test_another_programs_sqlite_file_is_incompatible_and_untouched(tmp_path):
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE contacts (name TEXT)")
    db.commit()
    db.close()
    before = path.read_bytes()
    try:
        with pytest.raises(StoreError.Incompatible):
            silin.Store.open(str(path), None).close()
    finally:
        assert path.read_bytes() == before


def test_an_empty_path_is_invalid():
    with pytest.raises(StoreError.Invalid) as e:
        silin.Store.open("", None).close()
    assert e.value.field == "path"


def test_garbage_bytes_are_malformed(new_store):
    store = new_store()
    for data in (b"", b"\x00", b"garbage" * 10, bytes(range(256))):
        with pytest.raises(SyncError.Malformed) as e:
            store.import_bundle(data)
        assert e.value.detail
        with pytest.raises(SyncError.Malformed):
            store.accept_sync().receive(data)
        with pytest.raises(SyncError.Malformed):
            store.start_sync(None).session.receive(data)
    assert store.cells([]) == []


def test_a_finished_session_refuses_further_messages(new_store):
    a, b = new_store("a"), new_store("b")
    a_cell(a)
    messages = transcript(a, b)
    a_session, _ = sync_pair(a, b)
    assert a_session.is_done()
    # Replaying a real message into the finished session.
    for message in messages:
        with pytest.raises(SyncError.SessionFailed) as e:
            a_session.receive(message)
        assert e.value.detail
    assert a_session.is_done()


def test_a_message_for_another_session_fails_the_session(new_store):
    a, b = new_store("a"), new_store("b")
    a_cell(a)
    first, second = a.start_sync(None), a.start_sync(None)
    responder = b.accept_sync()
    reply = responder.receive(first.message)
    assert reply is not None
    # The responder's answer to the first session, fed to the second.
    with pytest.raises(SyncError.SessionFailed):
        second.session.receive(reply)
    # The second session cannot go on; the first still can.
    with pytest.raises(SyncError.SessionFailed):
        second.session.receive(reply)
    assert first.session.receive(reply) is not None


def test_a_replayed_round_fails_the_responder(new_store):
    a, b = new_store("a"), new_store("b")
    a_cell(a)
    start = a.start_sync(None)
    responder = b.accept_sync()
    reply = responder.receive(start.message)
    round1 = start.session.receive(reply)
    assert round1 is not None
    responder.receive(round1)
    with pytest.raises(SyncError.SessionFailed):
        responder.receive(round1)
    # The opening message again, into the running session.
    fresh = b.accept_sync()
    fresh.receive(start.message)
    with pytest.raises(SyncError.SessionFailed):
        fresh.receive(start.message)
