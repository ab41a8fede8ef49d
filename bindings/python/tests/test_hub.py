"""Enrolment and sync against a real hub: the `silin hub serve` process the
office runs, on loopback, with tokens from `silin hub token`."""

import json
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from silin import MemberEdit, NewVisit, Role, StoreError, SyncError, VisitKind

from support import TOWNSHIP, a_cell, sync_pair


class Hub:
    def __init__(self, bin_path, directory):
        self.bin = str(bin_path)
        self.dir = directory
        self.db = str(directory / "hub.db")
        self.log = directory / "hub.log"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [self.bin, "--json", "hub", "serve", "--listen", "127.0.0.1:0", "--db", self.db],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        line = self.process.stdout.readline()
        try:
            first = json.loads(line)
        except ValueError:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the hub did not start: {line!r}\n{self.log.read_text()}", pytrace=False)
        self.url = first["url"]
        self.device_id = first["device_id"]
        self._wait_healthy()

    def _wait_healthy(self):
        # Readiness, not a measurement: the hub answers /healthz once serving.
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url.rstrip("/") + "/healthz", timeout=5) as r:
                    if json.load(r).get("ok") is True:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the hub is not healthy\n{self.log.read_text()}", pytrace=False)
            time.sleep(0.05)

    def token(self, role, *scope):
        args = [self.bin, "--json", "hub", "token", "--db", self.db, "--role", role, "--scope", *scope]
        out = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, f"silin hub token failed: {out.stderr}"
        return json.loads(out.stdout)["token"]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("the hub did not stop on SIGTERM")
        self.process.stdout.close()
        return self.process.returncode


@pytest.fixture(scope="module")
def hub(silin_bin, tmp_path_factory):
    h = Hub(silin_bin, tmp_path_factory.mktemp("hub"))
    yield h
    code = h.stop()
    assert code == 0, f"the hub exited with {code} on SIGTERM\n{h.log.read_text()}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_lead_and_a_grid_worker_enrol_and_meet_through_the_hub(hub, new_store):
    lead, worker = new_store("lead"), new_store("worker")
    lead.set_device_name("张建国")
    cell, household, member = a_cell(lead)

    # The grid worker enrols over the township, the lead over its cell.
    identity = worker.enroll(hub.url, hub.token("grid_worker", TOWNSHIP))
    assert identity == worker.identity()
    assert identity.enrolled is True
    assert identity.role == Role.GRID_WORKER
    assert identity.scope == [TOWNSHIP]
    assert identity.expires and len(identity.expires) >= 10
    assert identity.office_fingerprint

    identity = lead.enroll(hub.url, hub.token("lead", cell))
    assert (identity.enrolled, identity.role, identity.scope) == (True, Role.LEAD, [cell])
    assert identity.device_name == "张建国"
    assert identity.office_fingerprint == worker.identity().office_fingerprint

    # The worker registers a neighbouring cell the lead must never receive.
    neighbour, _, _ = a_cell(worker, name="东关村二组", region=f"{TOWNSHIP}/东关村/二组")
    stats = worker.sync_with_hub(hub.url)
    assert stats.docs_sent == 1 and stats.bytes_up > 0

    stats = lead.sync_with_hub(hub.url)
    assert (stats.docs_sent, stats.docs_received) == (1, 0)
    assert stats.round_trips >= 1

    stats = worker.sync_with_hub(hub.url)
    assert stats.docs_received == 1
    assert worker.cell(cell) == lead.cell(cell)
    assert {c.id for c in worker.cells([TOWNSHIP])} == {cell, neighbour}

    # The worker edits the lead's cell; the lead gets it, and only it.
    worker.edit_member(member, [MemberEdit.SET_PHONE("13700000009")])
    worker.record_visit(cell, NewVisit(kind=VisitKind.CALL, by="刘芳", household_id=household))
    worker.sync_with_hub(hub.url)
    assert lead.sync_with_hub(hub.url).docs_received == 1
    assert lead.member(member).phone == "13700000009"
    assert [c.id for c in lead.cells([])] == [cell]
    assert lead.cell(cell) == worker.cell(cell)

    # Nothing new on either side.
    assert lead.sync_with_hub(hub.url).docs_received == 0
    assert worker.sync_with_hub(hub.url).docs_received == 0

    # A bundle for the hub holds only what it lacks: nothing, then the
    # one cell the lead changed offline.
    assert lead.export_bundle([], hub.device_id).cells == 0
    lead.record_visit(cell, NewVisit(kind=VisitKind.DOOR_KNOCK, by="张建国", household_id=household))
    delta = lead.export_bundle([], hub.device_id)
    assert delta.cells == 1
    assert len(delta.data) < len(lead.export_bundle([], None).data)


def test_a_used_token_is_refused_by_the_hub_with_its_kind(hub, new_store):
    token = hub.token("grid_worker", TOWNSHIP)
    first, second = new_store("first"), new_store("second")
    assert first.enroll(hub.url, token).enrolled
    with pytest.raises(SyncError.HubRefused) as e:
        second.enroll(hub.url, token)
    # The hub's kind for every token refusal (used, expired, unknown) is
    # "token"; the detail says which.
    assert e.value.kind == "token"
    assert e.value.status == 403
    assert "already used" in e.value.detail
    assert second.identity().enrolled is False


def test_a_store_outside_the_hubs_trust_cannot_sync_with_it(hub, new_store):
    store = new_store("stranger")
    a_cell(store)
    # The hub refuses it (the client does not check first, so this is
    # HubRefused, not NotEnrolled).
    with pytest.raises(SyncError.HubRefused) as e:
        store.sync_with_hub(hub.url)
    assert (e.value.status, e.value.kind) == (403, "identity")
    assert "enrol" in e.value.detail
    assert store.identity().enrolled is False


def test_an_unreachable_hub(new_store):
    store = new_store()
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SyncError.HubUnreachable) as e:
        store.enroll(url, "0" * 32 + "." + "0" * 16)
    assert e.value.url.startswith(url)
    assert e.value.detail
    with pytest.raises(SyncError.HubUnreachable) as e:
        store.sync_with_hub(url)
    assert e.value.url.startswith(url)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:1", "http://", "http://exa mple.org", "https:// /x", "::::"])
def test_a_bad_hub_url(new_store, url):
    store = new_store()
    with pytest.raises(SyncError.BadHubUrl) as e:
        store.enroll(url, "0" * 32 + "." + "0" * 16)
    assert e.value.detail


@pytest.mark.parametrize("token", ["", "not-a-token", "0" * 32, "0" * 32 + "." + "0" * 15, "g" * 32 + "." + "0" * 16])
def test_a_token_not_of_the_printed_form(hub, new_store, token):
    store = new_store()
    with pytest.raises(SyncError.BadToken) as e:
        store.enroll(hub.url, token)
    assert "token" in e.value.detail
    assert store.identity().enrolled is False


def test_a_sealed_bundle_opens_only_for_the_devices_it_was_sealed_to(hub, new_store):
    # A grid worker and a lead, both met through the hub; a second lead of
    # another cell has met nobody the worker has.
    worker, lead, stranger = new_store("sw"), new_store("sl"), new_store("ss")
    worker.enroll(hub.url, hub.token("grid_worker", TOWNSHIP))
    cell, household, _ = a_cell(worker, name="东关村五组", region=f"{TOWNSHIP}/东关村/五组")
    worker.sync_with_hub(hub.url)
    lead.enroll(hub.url, hub.token("lead", cell))
    lead.sync_with_hub(hub.url)
    stranger.enroll(hub.url, hub.token("grid_worker", f"{TOWNSHIP}/远村"))

    # Sealed to the devices the worker has met that may hold the cell: the
    # hub only (the worker has not met the lead, only the lead the hub).
    worker.record_visit(cell, NewVisit(kind=VisitKind.CALL, by="刘芳", household_id=household))
    sealed = worker.export_sealed_bundle([cell], None, [])
    assert sealed.cells == 1
    assert sealed.data.startswith(b"SILNSEAL")
    assert "东关村五组".encode() not in sealed.data
    with pytest.raises(SyncError.Refused) as refused:
        lead.import_bundle(sealed.data)
    assert "not this one" in str(refused.value)

    # Named: a device the worker never met cannot be a recipient, and a
    # device that has met nobody who may hold a cell has no one to seal to.
    with pytest.raises(SyncError.Refused):
        worker.export_sealed_bundle([cell], None, [stranger.identity().device_id])
    with pytest.raises(SyncError.Refused):
        stranger.export_sealed_bundle([], None, [])

    # Once the lead's (plain) bundle has reached the worker, the worker has
    # met it and can seal to it; the lead opens that file.
    worker.import_bundle(lead.export_bundle([], None).data)
    to_lead = worker.export_sealed_bundle([cell], None, [lead.identity().device_id])
    assert lead.import_bundle(to_lead.data).cells == 1
    assert lead.cell(cell) == worker.cell(cell)

    # A broken seal is malformed, and nothing is applied.
    worker.record_visit(cell, NewVisit(kind=VisitKind.DOOR_KNOCK, by="刘芳", household_id=household))
    broken = bytearray(worker.export_sealed_bundle([cell], None, [lead.identity().device_id]).data)
    broken[len(broken) // 2] ^= 1
    before = lead.cell(cell)
    with pytest.raises(SyncError.Malformed):
        lead.import_bundle(bytes(broken))
    assert lead.cell(cell) == before


def test_an_erasure_at_the_office_reaches_the_phones_and_leaves_nothing(hub, new_store, tmp_path):
    lead, worker = new_store("erase-lead"), new_store("erase-worker")
    cell, household, member = a_cell(lead, name="东关村九组", region=f"{TOWNSHIP}/东关村/九组")
    marker = "抹除标记丁"
    lead.edit_member(member, [MemberEdit.SET_NAME(marker)])
    lead.enroll(hub.url, hub.token("lead", cell))
    worker.enroll(hub.url, hub.token("grid_worker", f"{TOWNSHIP}/东关村"))
    lead.sync_with_hub(hub.url)
    worker.sync_with_hub(hub.url)

    def files_of(name):
        files = [tmp_path / f"{name}.db{suffix}" for suffix in ("", "-wal", "-shm")]
        return b"".join(p.read_bytes() for p in files if p.exists())

    # The search sees the name where it lies in plain text (the query rows).
    assert marker.encode() in files_of("erase-lead")
    assert worker.erasure_orders() == []

    out = subprocess.run(
        [hub.bin, "--json", "hub", "erase", "--db", hub.db, "--cell", cell, "--member", member, "--reason", "申请 9"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["epoch"] == 1

    worker.sync_with_hub(hub.url)
    lead.sync_with_hub(hub.url)
    for store, name in ((lead, "erase-lead"), (worker, "erase-worker")):
        with pytest.raises(StoreError.NotFound):
            store.member(member)
        assert [m.id for h in store.cell(cell).households for m in h.members] == []
        [order] = [o for o in store.erasure_orders() if o.cell_id == cell]
        assert (order.epoch, order.subjects, order.reason, order.followed) == (1, 1, "申请 9", True)
        assert marker.encode() not in files_of(name), name
    assert lead.cell(cell) == worker.cell(cell)


def test_a_cell_the_hub_refuses_is_named_in_the_sync_figures(hub, new_store):
    """A grid worker renames a cell and meets the lead's phone before the
    hub; the lead then brings the rename to the hub, which refuses it from
    a lead. The lead's app must see which cell and why; once the worker's
    own sync brings the rename, the lead's cell goes through again."""
    lead, worker = new_store("relay-lead"), new_store("relay-worker")
    cell, household, _ = a_cell(lead, name="东关村五组", region=f"{TOWNSHIP}/东关村/五组")
    lead.enroll(hub.url, hub.token("lead", cell))
    worker.enroll(hub.url, hub.token("grid_worker", TOWNSHIP))
    first = lead.sync_with_hub(hub.url)
    assert (first.refused, first.refused_by_peer) == ([], [])
    assert worker.sync_with_hub(hub.url).refused_by_peer == []

    worker.rename_cell(cell, "东关村五组（新）")
    sync_pair(worker, lead)
    visit = lead.record_visit(cell, NewVisit(kind=VisitKind.DOOR_KNOCK, by="张建国", household_id=household))

    stats = lead.sync_with_hub(hub.url)
    assert stats.refused == []
    [refusal] = stats.refused_by_peer
    assert refusal.cell_id == cell
    assert "name" in refusal.reason and not refusal.damaged
    # The worker's own sync brings the rename; the lead's visit then goes up.
    assert worker.sync_with_hub(hub.url).refused_by_peer == []
    again = lead.sync_with_hub(hub.url)
    assert (again.refused, again.refused_by_peer) == ([], [])
    worker.sync_with_hub(hub.url)
    assert visit in [v.id for v in worker.cell(cell).visits]


def test_a_first_resident_id_crossed_by_a_workers_ends_as_the_workers(hub, new_store):
    """A lead records a member's first resident ID while, offline, a grid
    worker records one too, and the worker syncs first. The lead's phone
    gives way to the worker's ID, so its sync is not refused and its later
    visit reaches the hub (doc/RELIABILITY.md has the case)."""
    lead, worker = new_store("id-lead"), new_store("id-worker")
    cell, household, member = a_cell(lead, name="东关村六组", region=f"{TOWNSHIP}/东关村/六组")
    lead.enroll(hub.url, hub.token("lead", cell))
    worker.enroll(hub.url, hub.token("grid_worker", TOWNSHIP))
    lead.sync_with_hub(hub.url)
    worker.sync_with_hub(hub.url)

    lead.edit_member(member, [MemberEdit.SET_ID_NUMBER("621221196203150014")])
    visit = lead.record_visit(cell, NewVisit(kind=VisitKind.DOOR_KNOCK, by="张建国", household_id=household))
    worker.edit_member(member, [MemberEdit.SET_ID_NUMBER("11010519491231002X")])
    assert worker.sync_with_hub(hub.url).refused_by_peer == []

    stats = lead.sync_with_hub(hub.url)
    assert (stats.refused, stats.refused_by_peer) == ([], [])
    worker.sync_with_hub(hub.url)
    for store in (lead, worker):
        assert store.member(member).id_number == "11010519491231002X"
        assert store.conflicts(cell) == []
    assert visit in [v.id for v in worker.cell(cell).visits]
