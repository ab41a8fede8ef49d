"""Phone-to-phone sync through SyncSession (the app carries the bytes) and
bundles carried by hand."""

import pytest

import silin

from silin import MemberEdit, NewVisit, VisitKind

from support import a_cell, sync_pair


def test_two_open_stores_sync_then_merge_concurrent_edits_into_a_conflict(new_store):
    a, b = new_store("lead"), new_store("neighbour")
    cell, household, member = a_cell(a)
    assert b.cells([]) == []

    a_session, b_session = sync_pair(a, b)
    # The starting side ends the exchange (its receive returned None).
    assert a_session.is_done()
    # Open mode: neither side has a certificate, so neither id is vouched for.
    assert a_session.peer_device_id() is None and b_session.peer_device_id() is None
    assert a_session.stats().docs_sent == 1
    assert b_session.stats().docs_received == 1
    assert a_session.stats().round_trips >= 1
    assert b_session.stats().bytes_down > 0
    assert b.cell(cell) == a.cell(cell)
    assert b.member(member).name == "王秀英"

    # Both edit offline: the same member field on both sides, and one
    # visit each.
    a.edit_member(member, [MemberEdit.SET_PHONE("13700000001")])
    b.edit_member(member, [MemberEdit.SET_PHONE("13700000002")])
    visit_a = a.record_visit(cell, NewVisit(kind=VisitKind.CALL, by="张建国", member_id=member))
    visit_b = b.record_visit(cell, NewVisit(kind=VisitKind.DOOR_KNOCK, by="刘芳", household_id=household))
    assert a.cell(cell) != b.cell(cell)
    assert a.conflicts(cell) == []

    a_session, b_session = sync_pair(a, b)
    assert a_session.stats().docs_sent == 1 and a_session.stats().docs_received == 1
    view_a, view_b = a.cell(cell), b.cell(cell)
    assert view_a == view_b
    assert {v.id for v in view_a.visits} == {visit_a, visit_b}
    [conflict] = view_a.conflicts
    assert "phone" in conflict.path
    assert sorted(conflict.values) == ["13700000001", "13700000002"]
    assert a.conflicts(cell) == view_a.conflicts == b.conflicts(cell)
    assert a.member(member).phone in ("13700000001", "13700000002")
    assert a.member(member) == b.member(member)

    # Nothing new: a third sync moves no documents.
    a_session, b_session = sync_pair(b, a)
    assert a_session.stats().docs_sent == 0 and a_session.stats().docs_received == 0
    assert a.cell(cell) == b.cell(cell)


def test_a_store_that_accepts_can_also_start(new_store):
    a, b = new_store("a"), new_store("b")
    cell_a, _, _ = a_cell(a, name="一组")
    cell_b, _, _ = a_cell(b, name="二组", region="两当县/城关镇/东关村/二组")
    sync_pair(b, a)
    assert {c.id for c in a.cells([])} == {c.id for c in b.cells([])} == {cell_a, cell_b}
    # The peer's id from the first sync may be given to the next one.
    start = a.start_sync(b.identity().device_id)
    session_b = b.accept_sync()
    reply = session_b.receive(start.message)
    while reply is not None:
        message = start.session.receive(reply)
        if message is None:
            break
        reply = session_b.receive(message)
    assert start.session.is_done()
    assert a.cell(cell_b) == b.cell(cell_b)


def test_bundles_carry_cells_and_reimporting_changes_nothing(new_store):
    a, b = new_store("lead"), new_store("office")
    cell, _, member = a_cell(a)
    other, _, _ = a_cell(a, name="二组", region="两当县/城关镇/东关村/二组")

    everything = a.export_bundle([], None)
    assert everything.cells == 2 and len(everything.data) > 0
    one = a.export_bundle([cell], None)
    assert one.cells == 1

    first = b.import_bundle(one.data)
    assert (first.cells, first.changed) == (1, 1)
    assert [c.id for c in b.cells([])] == [cell]
    assert b.cell(cell) == a.cell(cell)
    again = b.import_bundle(one.data)
    assert (again.cells, again.changed) == (1, 0)

    both = b.import_bundle(everything.data)
    assert (both.cells, both.changed) == (2, 1)
    assert b.cell(other) == a.cell(other)

    # A change travels in the next bundle; the old one changes nothing now.
    a.edit_member(member, [MemberEdit.SET_NAME("王秀英（奶奶）")])
    b.import_bundle(a.export_bundle([cell], None).data)
    assert b.member(member).name == "王秀英（奶奶）"
    assert b.import_bundle(everything.data).changed == 0
    assert b.cell(cell) == a.cell(cell)
    # Into the store it came from: nothing changes either.
    assert a.import_bundle(b.export_bundle([], None).data).changed == 0


def test_the_accepting_side_learns_the_sync_is_over_from_the_closing_message(new_store):
    a, b = new_store("a"), new_store("b")
    cell, _, _ = a_cell(a)
    start = a.start_sync(None)
    responder = b.accept_sync()
    message = start.message
    while message is not None:
        message = start.session.receive(responder.receive(message))
    # Everything is committed on both sides; only the responder still waits.
    assert b.cell(cell) == a.cell(cell)
    assert start.session.is_done() and not responder.is_done()
    closing = start.session.close_message()
    assert responder.receive(closing) is None
    assert responder.is_done()
    assert responder.close_message() is None
    with pytest.raises(silin.SyncError.SessionFailed):
        responder.receive(closing)
    # Nothing to exchange: the reply already ended both sides.
    a_session, b_session = sync_pair(a, b)
    assert a_session.close_message() is None
