"""The awaitable calls (asyncio), the sync status and its progress, cancelling
a hub sync mid-way, and the log: against real stores and a real
`silin hub serve` on loopback."""

import asyncio
import threading

import pytest

import silin
from silin import NewHousehold, NewMember, SyncError, SyncPhase

from support import TOWNSHIP, a_cell, sync_pair
from test_hub import Hub


@pytest.fixture
def a_hub(silin_bin, tmp_path):
    h = Hub(silin_bin, tmp_path)
    yield h
    assert h.stop() == 0, h.log.read_text()


class Statuses(silin.SyncStatusObserver):
    """Records each status it is told; `then` runs on each, on the syncing thread."""

    def __init__(self, then=None):
        self.seen = []
        self.then = then

    def status_changed(self, status):
        self.seen.append(status)
        if self.then:
            self.then(status)


def many_cells(store, n):
    return [store.create_cell(f"第{i}联户", f"{TOWNSHIP}/东关村/{i % 7}组", None) for i in range(n)]


def test_awaitables_give_what_the_blocking_calls_give(new_store):
    lead, other, third = new_store("lead"), new_store("other"), new_store("third")
    cell, _, _ = a_cell(lead)

    async def carry():
        bundle = await lead.export_bundle_async([cell], None)
        # Two calls in flight at once on one event loop.
        a, b = await asyncio.gather(
            other.import_bundle_async(bundle.data), third.import_bundle_async(bundle.data)
        )
        assert (a.cells, b.cells) == (1, 1)
        assert (await other.import_bundle_async(bundle.data)).changed == 0
        assert other.cell(cell) == third.cell(cell) == lead.cell(cell)
        with pytest.raises(SyncError.Malformed):
            await other.import_bundle_async(b"not a bundle")
        with pytest.raises(SyncError.BadHubUrl):
            await lead.sync_with_hub_async("ftp://nowhere")

    asyncio.run(carry())


def test_a_hub_sync_reports_its_steps_and_the_last_outcome(a_hub, new_store):
    worker = new_store("worker")
    assert worker.sync_status().phase == SyncPhase.IDLE
    assert worker.sync_status().last_synced is None

    async def run():
        await worker.enroll_async(a_hub.url, a_hub.token("grid_worker", TOWNSHIP))
        many_cells(worker, 4)
        statuses = Statuses()
        worker.subscribe_sync_status(statuses)
        stats = await worker.sync_with_hub_async(a_hub.url)
        return stats, statuses.seen

    stats, seen = asyncio.run(run())
    phases = [s.phase for s in seen]
    assert phases[0] == SyncPhase.CONNECTING and phases[-1] == SyncPhase.IDLE, phases
    assert phases.index(SyncPhase.RECEIVING) < phases.index(SyncPhase.SENDING), phases
    last = seen[-1]
    assert (last.cells_done, last.cells_total) == (4, 4)
    assert (last.bytes_up, last.bytes_down) == (stats.bytes_up, stats.bytes_down)
    assert last.last_synced and last.last_error is None
    assert worker.sync_status() == last

    with pytest.raises(SyncError.HubUnreachable):
        worker.sync_with_hub("http://127.0.0.1:9")
    assert worker.sync_status().last_error
    assert worker.sync_status().last_synced == last.last_synced


def test_a_cancelled_sync_keeps_whole_rounds_and_the_next_sync_finishes(a_hub, new_store):
    worker, phone = new_store("worker"), new_store("phone")
    worker.enroll(a_hub.url, a_hub.token("grid_worker", TOWNSHIP))
    cells = many_cells(worker, 300)  # more than one round carries (256)
    worker.sync_with_hub(a_hub.url)
    phone.enroll(a_hub.url, a_hub.token("grid_worker", TOWNSHIP))

    async def cancel_midway():
        loop = asyncio.get_running_loop()
        task_done, stopped = threading.Event(), threading.Event()
        state = {"cancelled": False, "end": None}

        def then(status):
            # At the first round boundary after cells arrived, the task
            # awaiting the sync is cancelled from the event loop; this step
            # waits until the task has ended (and let go of the sync).
            if not state["cancelled"] and status.phase == SyncPhase.SENDING and status.cells_done > 0:
                state["cancelled"] = True
                loop.call_soon_threadsafe(task.cancel)
                task_done.wait()
            elif state["cancelled"] and status.phase == SyncPhase.IDLE:
                state["end"] = status
                stopped.set()

        phone.subscribe_sync_status(Statuses(then))
        task = asyncio.ensure_future(phone.sync_with_hub_async(a_hub.url))
        task.add_done_callback(lambda _: task_done.set())
        with pytest.raises(asyncio.CancelledError):
            await task
        await loop.run_in_executor(None, stopped.wait)
        return state["end"]

    end = asyncio.run(cancel_midway())
    assert end.last_error and end.last_synced is None
    held = phone.cells([])
    assert len(held) == 256, "exactly the first round's cells"
    for c in held:
        assert phone.cell(c.id) == worker.cell(c.id)

    stats = asyncio.run(phone.sync_with_hub_async(a_hub.url))
    assert stats.docs_received == 44
    assert {c.id for c in phone.cells([])} == set(cells)
    assert phone.sync_status().last_error is None


def test_the_log_names_no_one(a_hub, new_store):
    lines = []
    lock = threading.Lock()

    class Capture(silin.Logger):
        def log(self, level, target, message):
            with lock:
                lines.append((level, target, message))

    silin.set_logger(Capture(), silin.LogLevel.TRACE)
    try:
        name, phone_no, id_number = "标记王某某", "13987654321", "11010519491231002X"
        worker, phone = new_store("worker"), new_store("phone")
        worker.enroll(a_hub.url, a_hub.token("grid_worker", TOWNSHIP))
        phone.enroll(a_hub.url, a_hub.token("grid_worker", TOWNSHIP))
        cell = worker.create_cell("标记联户", f"{TOWNSHIP}/东关村/一组", "标记组长")
        home = worker.add_household(cell, NewHousehold(address="标记地址", phone=phone_no))
        member = worker.add_member(home, NewMember(name=name, id_number=id_number, phone=phone_no))
        with pytest.raises(silin.StoreError.Invalid):
            worker.add_member(home, NewMember(name="标记无效", phone="123"))
        asyncio.run(worker.sync_with_hub_async(a_hub.url))
        phone.sync_with_hub(a_hub.url)
        assert phone.member(member).name == name
        worker.add_member(home, NewMember(name="标记第二"))
        sync_pair(worker, phone)
        phone.import_bundle(worker.export_bundle([cell], None).data)
    finally:
        silin.clear_logger()

    assert any("hub sync finished" in m for _, _, m in lines), lines
    assert all(t.startswith("silin") for _, t, _ in lines)
    text = "\n".join(f"{lv} {t} {m}" for lv, t, m in lines)
    for marker in ("标记", name, phone_no, id_number):
        assert marker not in text, f"the log carries {marker}:\n{text}"
