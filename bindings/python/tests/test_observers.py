"""CellObserver: an app's callback, told which cells changed."""

import threading

import silin
from silin import MemberEdit, NewHousehold, NewVisit, VisitKind

from support import Recorder, a_cell, sync_pair


def test_an_observer_hears_of_edits_until_it_unsubscribes(new_store):
    store = new_store()
    cell, household, member = a_cell(store)
    other, _, _ = a_cell(store, name="二组", region="两当县/城关镇/东关村/二组")
    recorder = Recorder()
    subscription = store.subscribe(recorder)
    assert recorder.calls == []

    store.edit_member(member, [MemberEdit.SET_PHONE("13700000001")])
    assert recorder.calls == [[cell]]
    store.add_household(other, NewHousehold(address="二组1号"))
    store.record_visit(cell, NewVisit(kind=VisitKind.CALL, by="张建国", member_id=member))
    assert recorder.calls == [[cell], [other], [cell]]

    # Reads and failed writes tell nothing.
    store.cell(cell)
    store.visits_on("2026-11-29")
    try:
        store.edit_member(member, [MemberEdit.SET_PHONE("1")])
    except silin.StoreError.Invalid:
        pass
    assert len(recorder.calls) == 3

    new_cell = store.create_cell("三组", "两当县/城关镇/东关村/三组", None)
    assert recorder.calls[-1] == [new_cell]

    store.unsubscribe(subscription)
    store.edit_member(member, [MemberEdit.SET_PHONE("13700000002")])
    store.create_cell("四组", "两当县/城关镇/东关村/四组", None)
    assert len(recorder.calls) == 4
    store.unsubscribe(subscription)  # twice: harmless


def test_an_observer_hears_of_what_a_sync_brings(new_store):
    a, b = new_store("a"), new_store("b")
    cell, _, member = a_cell(a)
    other, _, _ = a_cell(a, name="二组", region="两当县/城关镇/东关村/二组")
    on_b, on_a = Recorder(), Recorder()
    b.subscribe(on_b)
    a.subscribe(on_a)

    sync_pair(a, b)
    assert on_b.ids() == {cell, other}
    assert on_a.calls == []  # nothing came to a

    a.edit_member(member, [MemberEdit.SET_RELATION("户主")])
    assert on_a.calls == [[cell]]
    before = len(on_b.calls)
    sync_pair(b, a)  # b starts this time
    assert {i for call in on_b.calls[before:] for i in call} == {cell}
    assert b.member(member).relation == "户主"

    # Nothing new: a sync that changes nothing tells nothing.
    count = len(on_b.calls), len(on_a.calls)
    sync_pair(a, b)
    assert (len(on_b.calls), len(on_a.calls)) == count

    # A bundle import tells too.
    c = new_store("c")
    on_c = Recorder()
    c.subscribe(on_c)
    c.import_bundle(a.export_bundle([cell], None).data)
    assert on_c.ids() == {cell}


class Broken(silin.CellObserver):
    def __init__(self, error):
        self.error = error
        self.calls = 0

    def cells_changed(self, cell_ids):
        self.calls += 1
        raise self.error


def test_an_observer_that_raises_does_not_break_the_write(new_store):
    store = new_store()
    cell, household, member = a_cell(store)
    broken = [Broken(RuntimeError("app bug")), Broken(silin.ObserverError.Failed()), Broken(KeyError("x"))]
    for observer in broken:
        store.subscribe(observer)
    recorder = Recorder()
    store.subscribe(recorder)

    store.edit_member(member, [MemberEdit.SET_NAME("王秀英（奶奶）")])
    visit = store.record_visit(cell, NewVisit(kind=VisitKind.DOOR_KNOCK, by="张建国", household_id=household))
    assert store.member(member).name == "王秀英（奶奶）"
    assert [v.id for v in store.cell(cell).visits] == [visit]
    assert [o.calls for o in broken] == [2, 2, 2]
    assert recorder.calls == [[cell], [cell]]


def test_observers_are_called_on_the_writing_thread_and_see_every_write(new_store):
    store = new_store()
    cells = [store.create_cell(f"{i}组", f"两当县/城关镇/东关村/{i}组", None) for i in range(4)]
    seen_threads = set()
    lock = threading.Lock()

    class ThreadRecorder(Recorder):
        def cells_changed(self, cell_ids):
            with lock:
                seen_threads.add(threading.get_ident())
            super().cells_changed(cell_ids)

    recorder = ThreadRecorder()
    store.subscribe(recorder)

    def work(cell):
        for n in range(5):
            store.add_household(cell, NewHousehold(address=f"{n}号"))

    threads = [threading.Thread(target=work, args=(c,)) for c in cells]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(recorder.calls) == 20
    assert sorted(i for call in recorder.calls for i in call) == sorted(cells * 5)
    assert seen_threads <= {t.ident for t in threads}
    assert threading.get_ident() not in seen_threads


def test_an_observer_may_read_and_write_the_store_it_watches(new_store):
    store = new_store()
    cell, household, member = a_cell(store)

    class Reader(silin.CellObserver):
        def __init__(self):
            self.households = []

        def cells_changed(self, cell_ids):
            # The change is committed: the observer reads it back.
            self.households.extend(len(store.cell(i).households) for i in cell_ids)

    class Writer(silin.CellObserver):
        def __init__(self):
            self.calls = 0

        def cells_changed(self, cell_ids):
            self.calls += 1
            if self.calls == 1:
                store.record_visit(cell_ids[0], NewVisit(kind=VisitKind.NOTIFY, by="observer"))

    reader, writer = Reader(), Writer()
    store.subscribe(reader)
    store.subscribe(writer)
    store.add_household(cell, NewHousehold(address="东关村5号"))
    # The household, then the visit the writer added from inside its callback.
    assert reader.households == [2, 2]
    assert writer.calls == 2
    assert [v.by for v in store.cell(cell).visits] == ["observer"]
