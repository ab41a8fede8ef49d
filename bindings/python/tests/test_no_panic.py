"""Nothing an app passes makes the library panic: every failure is a
StoreError or SyncError subclass. uniffi turns a Rust panic into
silin.InternalError, and any other exception type is a bug too, so each
call here goes through `attempt`, which fails the test on anything else."""

import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

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
    TaskStatus,
    VisitKind,
)

from support import API_ERRORS, DAY, a_cell, sync_pair, transcript


def attempt(call, *args):
    """Runs call(*args): its result, or the API error it raised."""
    try:
        return call(*args)
    except API_ERRORS as e:
        assert type(e) not in (silin.StoreError, silin.SyncError), f"a bare base class: {e!r}"
        return e
    except BaseException as e:  # noqa: B036 — anything else is the bug we look for
        pytest.fail(f"{getattr(call, '__name__', call)} raised {type(e).__module__}.{type(e).__qualname__}: {e!r}")


def consistent(store):
    """Reads every cell of a store through every query; returns the views."""
    views = {}
    for info in store.cells([]):
        view = store.cell(info.id)
        assert view.cell == info
        assert store.conflicts(info.id) == view.conflicts
        for household in view.households:
            for member in household.members:
                assert store.member(member.id) == member
        views[info.id] = view
    days = {v.at[:10] for view in views.values() for v in view.visits}
    summaries = [s for day in days for s in store.visits_on(day)]
    assert sorted(s.visit_id for s in summaries) == sorted(v.id for view in views.values() for v in view.visits)
    for level in Level:
        rows = store.rollup(DAY, level)
        assert sum(r.cells for r in rows) == len(views)
    store.vulnerable_members()
    store.under_monitoring(DAY)
    store.cells_missing_report(DAY)
    return views


RNG_SEED = 20261129


def garbage(rng):
    yield b""
    yield b"\x00"
    yield b"\xff" * 4096
    for n in (1, 2, 7, 16, 64, 300, 5000):
        yield bytes(rng.getrandbits(8) for _ in range(n))


def damaged(data, rng, count=24):
    """Truncations and single-byte flips of a real message or bundle."""
    n = len(data)
    for cut in sorted({0, 1, 4, 8, 16, n // 3, n // 2, n - 1} & set(range(n))):
        yield data[:cut]
    for _ in range(count):
        flipped = bytearray(data)
        i = rng.randrange(n)
        flipped[i] ^= 1 << rng.randrange(8)
        yield bytes(flipped)
    yield data + b"\x00"
    yield data * 2


def test_malformed_messages_and_bundles(new_store):
    rng = random.Random(RNG_SEED)
    a, b = new_store("a"), new_store("b")
    cell, household, member = a_cell(a)
    a.record_visit(cell, NewVisit(kind=VisitKind.HEALTH_CHECK, by="张建国", member_id=member, temperature=38.0))
    messages = transcript(a, b)
    assert len(messages) >= 3
    bundle = a.export_bundle([], None).data

    victim = new_store("victim")
    victim_cell, _, _ = a_cell(victim, name="自己的组", region="两当县/城关镇/西关村/一组")
    before = victim.cell(victim_cell)

    samples = list(garbage(rng))
    for message in messages:
        samples.extend(damaged(message, rng))
    outcomes = {"ok": 0, "error": 0}
    for data in samples:
        for call in (
            lambda d: victim.accept_sync().receive(d),
            lambda d: victim.start_sync(None).session.receive(d),
            victim.import_bundle,
        ):
            result = attempt(call, data)
            outcomes["error" if isinstance(result, Exception) else "ok"] += 1
    # Mid-session: a damaged reply where the initiator waits for one. A
    # message that does not decode is refused and the genuine one can still
    # follow; any other refusal ends the session.
    for i in range(12):
        start = victim.start_sync(None)
        responder = a.accept_sync()
        reply = attempt(responder.receive, start.message)
        assert isinstance(reply, bytes)
        data = list(damaged(reply, random.Random(i), count=1))[i % 9]
        result = attempt(start.session.receive, data)
        if isinstance(result, silin.SyncError.Malformed):
            assert not start.session.is_done()
            assert not isinstance(attempt(start.session.receive, reply), Exception)
        elif isinstance(result, Exception):
            assert start.session.is_done(), repr(result)
            assert isinstance(attempt(start.session.receive, reply), silin.SyncError.SessionFailed)

    for data in damaged(bundle, rng, count=64):
        result = attempt(victim.import_bundle, data)
        outcomes["error" if isinstance(result, Exception) else "ok"] += 1
    assert outcomes["error"] > len(samples)  # most of it is refused
    assert victim.cell(victim_cell) == before
    consistent(victim)
    # The victim still syncs normally afterwards.
    sync_pair(a, victim)
    assert victim.cell(cell) == a.cell(cell)
    consistent(victim)


BAD_IDS = [
    "",
    "nope",
    " ",
    str(uuid.uuid4()),
    str(uuid.uuid4()).upper(),
    "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5",  # one short
    "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f0",  # one long
    "x" * 200_000,
    "0190f1c4\x00-7e8a-7c3b-9d2e-5a1b2c3d4e5f",
    "\x00",
    "\x1b[2J\r\n\t",
    "'; DROP TABLE cells; --",
    "两当县/城关镇/东关村/一组",
    "\ud7ff\ufffd\U0010ffff",
]


def test_bad_ids_everywhere(new_store):
    store = new_store()
    cell, household, member = a_cell(store)
    task = store.add_task(cell, NewTask(title="买药"))
    peer = new_store("peer")
    before = store.cell(cell)

    for bad in BAD_IDS:
        calls = [
            lambda: store.cell(bad),
            lambda: store.conflicts(bad),
            lambda: store.member(bad),
            lambda: store.rename_cell(bad, "x"),
            lambda: store.set_lead(bad, "x"),
            lambda: store.add_household(bad, NewHousehold()),
            lambda: store.add_member(bad, NewMember(name="x")),
            lambda: store.edit_member(bad, [MemberEdit.SET_NAME("x")]),
            lambda: store.record_visit(bad, NewVisit(kind=VisitKind.CALL, by="x")),
            lambda: store.record_visit(cell, NewVisit(kind=VisitKind.HEALTH_CHECK, by="x", member_id=bad)),
            lambda: store.record_visit(cell, NewVisit(kind=VisitKind.DOOR_KNOCK, by="x", household_id=bad)),
            lambda: store.record_visit(cell, NewVisit(kind=VisitKind.ERRAND, by="x", task_id=bad)),
            lambda: store.submit_report(bad, NewReport(date=DAY, by="x", arrivals=0, abnormal=0)),
            lambda: store.add_task(bad, NewTask(title="x")),
            lambda: store.add_task(cell, NewTask(title="x", member_id=bad)),
            lambda: store.set_task_status(bad, task, TaskStatus.DONE),
            lambda: store.set_task_status(cell, bad, TaskStatus.DONE),
            lambda: store.under_monitoring(bad),
            lambda: store.monitoring_ends(bad),
            lambda: store.visits_on(bad),
            lambda: store.cells_missing_report(bad),
            lambda: store.rollup(bad, Level.TOWNSHIP),
            lambda: store.cells([bad]),
            lambda: store.create_cell(bad, bad, bad),
            lambda: store.export_bundle([bad], None),
            lambda: store.export_bundle([], bad),
            lambda: store.start_sync(bad),
            lambda: silin.check_resident_id(bad),
            lambda: store.add_member(household, NewMember(name="x", id_number=bad)),
            lambda: store.add_member(household, NewMember(name="x", phone=bad)),
            lambda: store.edit_member(member, [MemberEdit.SET_ARRIVAL_DATE(bad)]),
            lambda: store.enroll(bad, bad),
            lambda: store.sync_with_hub(bad if bad else "http://"),
            lambda: peer.import_bundle(bad.encode("utf-8", "surrogatepass")),
        ]
        for call in calls:
            attempt(call)
    store.unsubscribe(2**64 - 1)
    store.unsubscribe(0)
    # Whatever was accepted (free text is free), the store is consistent.
    after = consistent(store)
    assert after[cell].households == before.households or len(after[cell].households) >= len(before.households)


def test_extreme_values_in_records(new_store):
    store = new_store()
    cell, household, member = a_cell(store)
    for value in (float("inf"), float("-inf"), float("nan"), -0.0, 1e308, 5e-324):
        attempt(store.record_visit, cell, NewVisit(kind=VisitKind.HEALTH_CHECK, by="x", member_id=member,
                                                   temperature=value))
    for year in (-(2**63), 2**63 - 1, 0):
        attempt(store.add_member, household, NewMember(name="x", birth_year=year))
        attempt(store.edit_member, member, [MemberEdit.SET_BIRTH_YEAR(year)])
        attempt(store.edit_member, member, [MemberEdit.SET_VACCINATION_DOSES(year)])
        attempt(store.submit_report, cell, NewReport(date=DAY, by="x", arrivals=year, abnormal=year,
                                                     under_monitoring=year, errands=year))
    for date in ("0000-01-01", "9999-12-31", "+10000-01-01", "2026-11-29T00:00:00", "2026-1-1"):
        attempt(store.visits_on, date)
        attempt(store.rollup, date, Level.GROUP)
        attempt(store.edit_member, member, [MemberEdit.SET_TEST_DATE(date)])
    for instant in ("2026-11-29T09:30:00", "9999-12-31T23:59:59+14:00", "2026-11-29T09:30:00+99:00", "now"):
        attempt(store.record_visit, cell, NewVisit(kind=VisitKind.CALL, by="x", at=instant))
    attempt(store.edit_member, member, [])
    attempt(store.edit_member, member, [MemberEdit.SET_NAME("x")] * 1000)
    consistent(store)


def test_eight_threads_on_one_store_then_a_close(tmp_path):
    path = str(tmp_path / "shared.db")
    store = silin.Store.open(path, None)
    peer = silin.Store.open(str(tmp_path / "peer.db"), None)
    cells = [store.create_cell(f"{i}组", f"两当县/城关镇/东关村/{i}组", None) for i in range(4)]
    households = [store.add_household(c, NewHousehold(address="1号")) for c in cells]
    members = [store.add_member(h, NewMember(name="王秀英", birth_year=1948)) for h in households]
    peer_cell, _, _ = a_cell(peer, name="对方", region="两当县/城关镇/西关村/一组")

    acknowledged = []  # (cell, visit id) of every record_visit that returned
    lock = threading.Lock()
    enough = threading.Event()
    closed_at = threading.Event()
    errors = []
    CLOSED = (silin.StoreError.Closed, silin.SyncError.Closed)

    # Every worker goes on until the close stops it (bounded, in case it
    # never comes); the close comes once 100 visits are acknowledged.
    def writer(n):
        rng = random.Random(n)
        for i in range(3000):
            k = rng.randrange(4)
            r = attempt(store.record_visit, cells[k], NewVisit(kind=VisitKind.HEALTH_CHECK, by=f"t{n}",
                                                              member_id=members[k],
                                                              at=f"{DAY}T10:00:00+08:00",
                                                              temperature=36.0 + rng.random() * 3))
            if isinstance(r, str):
                with lock:
                    acknowledged.append((cells[k], r))
                    if len(acknowledged) >= 100:
                        enough.set()
            results = [r,
                       attempt(store.edit_member, members[k], [MemberEdit.SET_PHONE(f"138{n:04d}{i:04d}")]),
                       attempt(store.add_household, cells[k], NewHousehold(address=f"{n}-{i}"))]
            failed = [e for e in results if isinstance(e, Exception)]
            errors.extend(failed)
            if failed:
                return failed[0]

    def reader(n):
        for _ in range(3000):
            for call, args in ((store.cell, (cells[n % 4],)), (store.visits_on, (DAY,)),
                               (store.rollup, (DAY, Level.VILLAGE)), (store.vulnerable_members, ()),
                               (store.identity, ()), (store.cells, ([],))):
                r = attempt(call, *args)
                if isinstance(r, Exception):
                    errors.append(r)
                    return r

    def syncer(n):
        for _ in range(3000):
            try:
                if n % 2:
                    sync_pair(store, peer)
                else:
                    sync_pair(peer, store)
                bundle = store.export_bundle([], None)
                store.import_bundle(bundle.data)
            except API_ERRORS as e:
                errors.append(e)
                return e
            except BaseException as e:  # noqa: B036
                pytest.fail(f"sync raised {type(e).__module__}.{type(e).__qualname__}: {e!r}")

    def closer():
        enough.wait(timeout=300)  # liveness only: the assertions below check
        store.close()
        closed_at.set()

    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = [pool.submit(writer, n) for n in range(3)]
        jobs += [pool.submit(reader, n) for n in range(2)]
        jobs += [pool.submit(syncer, n) for n in range(2)]
        jobs.append(pool.submit(closer))
        # result() re-raises a pytest.fail from a worker.
        stops = [job.result() for job in jobs[:7]]
        jobs[7].result()

    assert closed_at.is_set() and store.is_closed()
    # Each of the seven workers was stopped by the close, and nothing else failed.
    assert all(isinstance(s, CLOSED) for s in stops), stops
    assert all(isinstance(e, CLOSED) for e in errors), [e for e in errors if not isinstance(e, CLOSED)][:5]

    again = silin.Store.open(path, None)
    try:
        views = consistent(again)
        assert set(cells) <= set(views)
        held = {(c, v.id) for c, view in views.items() for v in view.visits}
        assert set(acknowledged) <= held  # every acknowledged write is there
        assert len(acknowledged) >= 100
        # The store still works: one more write, one more sync.
        again.record_visit(cells[0], NewVisit(kind=VisitKind.CALL, by="after"))
        sync_pair(again, peer)
        assert again.cell(cells[0]) == peer.cell(cells[0])
        assert peer_cell in views
    finally:
        again.close()
        peer.close()
