//! One conformance suite, run against every kind of replica a device meets:
//! a grid worker's phone (the SQLite store, in process), the township hub on
//! SQLite and the hub on PostgreSQL (each over HTTP on loopback). Sessions,
//! bundles, scope and write-rule refusals, cut sessions, a restart and the
//! office's revocations reaching phones must behave the same on all three.

#[path = "support/pg.rs"]
mod pg_support;

use silin_core::cell::CellDoc;
use silin_core::identity::{IdentityError, KeyPair, Office, Role, Scope};
use silin_core::model::{CellView, NewVisit, RegionPath, VisitKind};
use silin_core::sync::bundle::{self, ExportOptions};
use silin_core::sync::{sync_local, Session, SyncError, SyncStats};
use silin_core::{Durability, Store, StoreOptions};
use silin_hub::client;
use silin_hub::pg::{PgSessions, PgStorage};
use silin_hub::storage::HubStorage;
use silin_hub::{HubConfig, HubHandle};
use std::path::Path;
use std::sync::Arc;

const TOWNSHIP: &str = "县/镇";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Phone,
    SqliteHub,
    PostgresHub,
}

/// The replica under test, and the office whose devices meet it.
struct Backend {
    kind: Kind,
    dir: tempfile::TempDir,
    office: Office,
    storage: Option<Arc<dyn HubStorage>>,
    /// The phone, when the replica is one (sessions run in process).
    phone: Option<Arc<Store>>,
    hub: Option<HubHandle>,
    pg: Option<pg_support::FreshDatabase>,
}

fn open(p: &Path) -> Store {
    Store::open(
        p,
        StoreOptions {
            durability: Durability::Normal,
            ..Default::default()
        },
    )
    .unwrap()
}

fn enrol(store: &Store, office: &Office, role: Role, scope: &str) {
    let now = store.clock().timestamp();
    let cert = office.issue(
        &store.device_id(),
        store.device_key().unwrap().public_key(),
        role,
        Scope::parse(&[scope.to_string()]).unwrap(),
        now,
        now + 30 * 86400,
    );
    store
        .install_certificate(&cert, &office.public_key())
        .unwrap();
}

fn visit(note: &str) -> NewVisit {
    let mut v = NewVisit::new(
        VisitKind::DoorKnock,
        chrono::Local::now().fixed_offset(),
        "王建国",
    );
    v.note = Some(note.to_string());
    v
}

impl Backend {
    /// `None` when the kind cannot run here (PostgreSQL that cannot start;
    /// the support module says so).
    fn new(kind: Kind) -> Option<Backend> {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Backend {
            kind,
            dir,
            office: Office {
                key: KeyPair::generate(),
            },
            storage: None,
            phone: None,
            hub: None,
            pg: None,
        };
        if kind == Kind::PostgresHub {
            b.pg = Some(pg_support::fresh_database()?);
        }
        b.start();
        Some(b)
    }

    /// Opens the replica (again, after a restart) and serves it.
    fn start(&mut self) {
        let scope = Scope::parse(&[TOWNSHIP.to_string()]).unwrap();
        match self.kind {
            Kind::Phone => {
                let phone = Arc::new(open(&self.dir.path().join("replica.db")));
                enrol(&phone, &self.office, Role::GridWorker, TOWNSHIP);
                self.storage = Some(phone.clone());
                self.phone = Some(phone);
            }
            Kind::SqliteHub => {
                let store = Arc::new(open(&self.dir.path().join("replica.db")));
                self.office = silin_hub::office::office(&store, Some(&scope)).unwrap();
                self.hub = Some(
                    silin_hub::server::spawn_with(
                        "127.0.0.1:0",
                        store.clone(),
                        HubConfig::default(),
                    )
                    .unwrap(),
                );
                self.storage = Some(store);
            }
            Kind::PostgresHub => {
                let url = self.pg.as_ref().unwrap().url().to_string();
                let storage = PgStorage::connect(&url, 4).unwrap();
                storage.migrate().unwrap();
                storage.enrol_hub(&self.office, &scope).unwrap();
                let sessions = Arc::new(PgSessions::new(&storage));
                let storage: Arc<dyn HubStorage> = Arc::new(storage);
                self.hub = Some(
                    silin_hub::server::spawn_storage(
                        "127.0.0.1:0",
                        storage.clone(),
                        sessions,
                        self.office.clone(),
                        HubConfig::default(),
                    )
                    .unwrap(),
                );
                self.storage = Some(storage);
            }
        }
    }

    /// Stops the replica and opens it again from what it persisted.
    fn restart(&mut self) {
        if let Some(hub) = self.hub.take() {
            hub.shutdown().unwrap();
        }
        self.storage = None;
        self.phone = None;
        self.start();
    }

    fn replica(&self) -> &dyn HubStorage {
        self.storage.as_deref().unwrap()
    }

    fn device(&self, name: &str, role: Role, scope: &str) -> Store {
        let s = open(&self.dir.path().join(format!("{name}.db")));
        enrol(&s, &self.office, role, scope);
        s
    }

    fn sync(&self, device: &Store) -> Result<SyncStats, String> {
        match (&self.phone, &self.hub) {
            (Some(phone), _) => sync_local(device, phone).map_err(|e| e.to_string()),
            (None, Some(hub)) => client::sync(device, &hub.url()).map_err(|e| e.to_string()),
            _ => unreachable!(),
        }
    }

    /// A session cut after the device's first round: its answer is lost.
    fn cut(&self, device: &Store) {
        let (mut a, hello) = Session::initiate(device).unwrap();
        match (&self.phone, &self.hub) {
            (Some(phone), _) => {
                let mut b = Session::accept(phone.as_ref()).unwrap();
                let reply = b.receive(phone.as_ref(), &hello).unwrap().unwrap();
                let round = a.receive(device, &reply).unwrap().unwrap();
                let _lost = b.receive(phone.as_ref(), &round).unwrap();
            }
            (None, Some(hub)) => {
                let hub = client::Hub::new(&hub.url()).unwrap();
                let reply = hub.exchange(&hello).unwrap().unwrap();
                let round = a.receive(device, &reply).unwrap().unwrap();
                let _lost = hub.exchange(&round).unwrap();
            }
            _ => unreachable!(),
        }
    }

    /// The office revokes `device` on this replica: a hub signs it with
    /// the office key; a phone takes the office's signed word.
    fn revoke(&self, device: &str) {
        match &self.phone {
            Some(phone) => {
                let revocation = self.office.revoke(device, phone.clock().timestamp());
                phone.record_revocations(&[revocation]).unwrap();
            }
            None => self.replica().revoke(device).unwrap(),
        }
    }

    fn view(&self, cell: &str) -> CellView {
        let bytes = self.replica().save_doc(cell).unwrap();
        CellDoc::load(&bytes, &automerge::ActorId::random())
            .unwrap()
            .view()
            .unwrap()
    }

    fn holds(&self, cell: &str) -> bool {
        self.replica().cell_path(cell).unwrap().is_some()
    }

    /// The cells the replica holds, with their heads.
    fn snapshot(&self) -> Vec<(String, Vec<automerge::ChangeHash>)> {
        self.replica()
            .scope_heads(&Scope::everything())
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.heads))
            .collect()
    }

    /// Two cells in one village and one in another, handed over by the
    /// office's own device.
    fn seed(&self) -> [String; 3] {
        let office = self.device("office", Role::Office, TOWNSHIP);
        let cell = |name: &str, path: &str| {
            office
                .create_cell(name, &RegionPath::parse(path).unwrap(), Some("王建国"))
                .unwrap()
        };
        let ids = [
            cell("一组", "县/镇/村/一组"),
            cell("二组", "县/镇/村/二组"),
            cell("远组", "县/镇/远村/组"),
        ];
        self.sync(&office).unwrap();
        ids
    }
}

fn same(b: &Backend, device: &Store, cell: &str) {
    assert_eq!(
        device.heads(cell).unwrap(),
        b.replica().heads(cell).unwrap(),
        "{:?}",
        b.kind
    );
    assert_eq!(device.cell(cell).unwrap(), b.view(cell), "{:?}", b.kind);
}

fn sessions_carry_edits_both_ways_and_settle(kind: Kind) {
    let Some(b) = Backend::new(kind) else { return };
    let [cell, other, far] = b.seed();
    let lead = b.device("lead", Role::Lead, &cell);
    let worker = b.device("worker", Role::GridWorker, "县/镇/村");
    assert_eq!(b.sync(&lead).unwrap().docs_received, 1);
    assert_eq!(b.sync(&worker).unwrap().docs_received, 2);
    assert!(
        !worker.has_cell(&far).unwrap(),
        "outside the worker's scope"
    );
    lead.record_visit(&cell, visit("lead")).unwrap();
    worker.record_visit(&cell, visit("worker")).unwrap();
    worker.record_visit(&other, visit("worker other")).unwrap();
    b.sync(&lead).unwrap();
    b.sync(&worker).unwrap();
    b.sync(&lead).unwrap();
    same(&b, &lead, &cell);
    same(&b, &worker, &cell);
    same(&b, &worker, &other);
    assert_eq!(b.view(&cell).visits.len(), 2);
    // Nothing left to say: one round trip.
    assert_eq!(b.sync(&lead).unwrap().round_trips, 1);
}

fn bundles_apply_once_and_a_cell_outside_the_senders_scope_is_refused(kind: Kind) {
    let Some(b) = Backend::new(kind) else { return };
    let [cell, other, _] = b.seed();
    let lead = b.device("lead", Role::Lead, &cell);
    b.sync(&lead).unwrap();
    lead.record_visit(&cell, visit("offline")).unwrap();
    let (bytes, n) = bundle::export(&lead, &ExportOptions::default()).unwrap();
    assert_eq!(n, 1);
    let first = bundle::import(b.replica(), &bytes).unwrap();
    assert_eq!((first.docs, first.changed), (1, 1));
    let again = bundle::import(b.replica(), &bytes).unwrap();
    assert_eq!((again.docs, again.changed), (1, 0));
    same(&b, &lead, &cell);

    // The lead's phone came to hold another cell (a file copied onto it);
    // a bundle it signs naming that cell is refused whole.
    lead.merge_bytes(&b.replica().save_doc(&other).unwrap())
        .unwrap();
    lead.record_visit(&other, visit("not mine")).unwrap();
    let (bytes, _) = bundle::export(
        &lead,
        &ExportOptions {
            cells: vec![cell.clone(), other.clone()],
            for_peer: None,
            ..Default::default()
        },
    )
    .unwrap();
    let before = b.snapshot();
    let err = bundle::import(b.replica(), &bytes).unwrap_err();
    assert!(
        matches!(err, SyncError::OutOfScope { ref doc } if *doc == other),
        "{err}"
    );
    assert_eq!(b.snapshot(), before, "nothing written");
}

fn a_lead_handing_over_a_cell_is_refused_for_that_cell_only(kind: Kind) {
    let Some(b) = Backend::new(kind) else { return };
    let [cell, _, _] = b.seed();
    // A lead whose scope is a region (not a cell by id) may keep its cells
    // but not hand one over that the replica lacks.
    let lead = b.device("lead", Role::Lead, "县/镇/村");
    b.sync(&lead).unwrap();
    let stranger = {
        let s = b.device("stranger", Role::Office, TOWNSHIP);
        let id = s
            .create_cell("新组", &RegionPath::parse("县/镇/村/新组").unwrap(), None)
            .unwrap();
        lead.merge_bytes(&s.save_doc(&id).unwrap()).unwrap();
        id
    };
    lead.record_visit(&cell, visit("kept")).unwrap();
    let stats = b.sync(&lead).unwrap();
    assert_eq!(stats.refused_by_peer.len(), 1, "{stats:?}");
    assert_eq!(stats.refused_by_peer[0].doc, stranger);
    assert!(!b.holds(&stranger));
    // The rest of the session went on.
    same(&b, &lead, &cell);
}

fn a_cut_session_leaves_both_sides_able_to_finish(kind: Kind) {
    let Some(b) = Backend::new(kind) else { return };
    let [cell, _, _] = b.seed();
    let lead = b.device("lead", Role::Lead, &cell);
    b.sync(&lead).unwrap();
    for i in 0..5 {
        lead.record_visit(&cell, visit(&format!("v{i}"))).unwrap();
    }
    b.cut(&lead);
    b.sync(&lead).unwrap();
    same(&b, &lead, &cell);
    assert_eq!(b.view(&cell).visits.len(), 5);
}

fn a_restarted_replica_keeps_cells_peers_and_sync_state(kind: Kind) {
    let Some(mut b) = Backend::new(kind) else {
        return;
    };
    let [cell, _, _] = b.seed();
    let lead = b.device("lead", Role::Lead, &cell);
    b.sync(&lead).unwrap();
    lead.record_visit(&cell, visit("before")).unwrap();
    b.sync(&lead).unwrap();
    let before = b.snapshot();
    b.restart();
    assert_eq!(b.snapshot(), before);
    same(&b, &lead, &cell);
    assert_eq!(b.sync(&lead).unwrap().round_trips, 1);
    lead.record_visit(&cell, visit("after")).unwrap();
    b.sync(&lead).unwrap();
    same(&b, &lead, &cell);
}

fn a_change_waiting_for_its_dependency_is_never_applied_under_another_senders_role(kind: Kind) {
    let Some(b) = Backend::new(kind) else { return };
    let [cell, _, _] = b.seed();
    let worker = b.device("worker", Role::GridWorker, "县/镇/村");
    b.sync(&worker).unwrap();
    let base = worker.heads(&cell).unwrap();
    worker
        .add_household(&cell, silin_core::model::NewHousehold::default())
        .unwrap();
    let first_heads = worker.heads(&cell).unwrap();
    let first = worker.changes_after(&cell, &base).unwrap();
    worker.rename_cell(&cell, "改名").unwrap();
    let second = worker.changes_after(&cell, &first_heads).unwrap();

    let before = b.snapshot();
    let waited = b
        .replica()
        .apply_changes_from(&cell, &second, Some(Role::Lead))
        .unwrap();
    assert!(waited.waiting && !waited.changed, "{waited:?}");
    assert_eq!(b.snapshot(), before, "nothing written");
    let took = b
        .replica()
        .apply_changes_from(&cell, &first, Some(Role::Lead))
        .unwrap();
    assert!(took.changed && !took.waiting, "{took:?}");
    assert_eq!(b.replica().heads(&cell).unwrap(), first_heads);
    assert_eq!(b.view(&cell).cell.name, "一组");
    b.sync(&worker).unwrap();
    assert_eq!(b.view(&cell).cell.name, "改名");
    same(&b, &worker, &cell);
}

fn a_revocation_reaches_a_lead_offline_through_a_worker_who_synced(kind: Kind) {
    let Some(mut b) = Backend::new(kind) else {
        return;
    };
    let [cell, _, _] = b.seed();
    let lead = b.device("lead", Role::Lead, &cell);
    let lost = b.device("lost", Role::Lead, &cell);
    let worker = b.device("worker", Role::GridWorker, "县/镇/村");
    b.sync(&worker).unwrap();
    b.sync(&lead).unwrap();
    // Before the revocation the two lead phones meet as usual.
    sync_local(&lost, &lead).unwrap();

    b.revoke(&lost.device_id());
    let err = b.sync(&lost).unwrap_err();
    assert!(err.contains("revoked"), "{kind:?}: {err}");
    // The worker syncs (nothing else changed) and carries the office's
    // signed revocation away.
    assert_eq!(b.sync(&worker).unwrap().round_trips, 1);
    let carried = worker.revocations().unwrap();
    assert_eq!(carried.len(), 1, "{kind:?}");
    assert_eq!(carried[0].device_id, lost.device_id());
    assert!(carried[0].signed_by(&b.office.public_key()), "{kind:?}");
    // In the village, with no network: the worker meets the lead, then the
    // lead refuses the lost phone.
    sync_local(&lead, &worker).unwrap();
    let err = sync_local(&lost, &lead).unwrap_err();
    assert!(
        matches!(err, SyncError::Identity(IdentityError::Revoked { .. })),
        "{kind:?}: {err}"
    );
    // A restarted replica passes the revocation on still.
    b.restart();
    let fresh = b.device("fresh", Role::GridWorker, "县/镇/村");
    b.sync(&fresh).unwrap();
    assert!(fresh.is_revoked(&lost.device_id()).unwrap(), "{kind:?}");
}

macro_rules! conformance {
    ($($scenario:ident),* $(,)?) => {
        mod phone {
            $(#[test] fn $scenario() { super::$scenario(super::Kind::Phone) })*
        }
        mod sqlite_hub {
            $(#[test] fn $scenario() { super::$scenario(super::Kind::SqliteHub) })*
        }
        mod postgres_hub {
            $(#[test] fn $scenario() { super::$scenario(super::Kind::PostgresHub) })*
        }
    };
}

conformance!(
    sessions_carry_edits_both_ways_and_settle,
    bundles_apply_once_and_a_cell_outside_the_senders_scope_is_refused,
    a_lead_handing_over_a_cell_is_refused_for_that_cell_only,
    a_cut_session_leaves_both_sides_able_to_finish,
    a_restarted_replica_keeps_cells_peers_and_sync_state,
    a_change_waiting_for_its_dependency_is_never_applied_under_another_senders_role,
    a_revocation_reaches_a_lead_offline_through_a_worker_who_synced,
);
