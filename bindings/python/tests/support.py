"""Helpers the tests share (plain functions; fixtures are in conftest.py)."""

import threading

import silin

# Every failure the API may raise by design. A Rust panic reaches Python as
# silin.InternalError, which is neither.
API_ERRORS = (silin.StoreError, silin.SyncError)

DAY = "2026-11-29"
TOWNSHIP = "两当县/城关镇"
REGION = f"{TOWNSHIP}/东关村/一组"


def close_quietly(store):
    store.close()


def sync_pair(a, b, *, max_rounds=50):
    """One app-carried sync: `a` starts, `b` accepts, the bytes go back and
    forth until `a` is done, then `a`'s closing message ends `b`'s session.
    Returns both sessions, both done."""
    start = a.start_sync(None)
    a_session, message = start.session, start.message
    assert isinstance(message, bytes) and message
    b_session = b.accept_sync()
    for _ in range(max_rounds):
        reply = b_session.receive(message)
        assert reply is not None, "only the starting side ends a session"
        message = a_session.receive(reply)
        if message is None:
            break
    else:
        raise AssertionError(f"sync did not finish in {max_rounds} rounds")
    closing = a_session.close_message()
    if closing is not None:
        assert b_session.receive(closing) is None
    assert a_session.is_done() and b_session.is_done()
    assert a_session.close_message() is None
    return a_session, b_session


def transcript(a, b):
    """Like sync_pair, but returns every message in order (a→b first)."""
    start = a.start_sync(None)
    a_session, message = start.session, start.message
    b_session = b.accept_sync()
    messages = [message]
    while True:
        reply = b_session.receive(message)
        if reply is None:
            break
        messages.append(reply)
        message = a_session.receive(reply)
        if message is None:
            break
        messages.append(message)
    return messages


class Recorder(silin.CellObserver):
    """A CellObserver that records every call's cell ids (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._calls = []

    def cells_changed(self, cell_ids):
        with self._lock:
            self._calls.append(list(cell_ids))

    @property
    def calls(self):
        with self._lock:
            return [list(c) for c in self._calls]

    def ids(self):
        return {i for call in self.calls for i in call}


def a_cell(store, name="东关村一组", region=REGION, lead="张建国"):
    """A cell with one household and one member: (cell, household, member)."""
    cell = store.create_cell(name, region, lead)
    household = store.add_household(cell, silin.NewHousehold(address="东关村3号", phone="13800000001"))
    member = store.add_member(household, silin.NewMember(name="王秀英", birth_year=1948))
    return cell, household, member
