//! The `Store` object apps hold: a silin-core store that can be closed while
//! other threads still hold the object, plus observers bridged to callback
//! interfaces.

use crate::convert::*;
use crate::error::{StoreError, SyncError};
use crate::offthread;
use crate::session::SyncSession;
use crate::status::{CancelOnDrop, SyncPhase, SyncStatus, SyncStatusObserver, Tracker};
use silin_core::identity::fingerprint;
use silin_core::sync::bundle::{self, ExportOptions};
use silin_core::sync::Session;
use silin_hub::client::{Hub, SyncStep};
use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

/// `Store.record_visit`, for the method and the hot path alike.
pub(crate) fn record_visit(
    store: &silin_core::Store,
    cell_id: &str,
    visit: NewVisit,
) -> Result<String, StoreError> {
    Ok(store.record_visit(cell_id, new_visit(visit, store.clock())?)?)
}

/// `Store.record_visits`, for the method and the hot path alike.
pub(crate) fn record_visits(
    store: &silin_core::Store,
    cell_id: &str,
    visits: Vec<NewVisit>,
) -> Result<Vec<String>, StoreError> {
    let visits = visits
        .into_iter()
        .map(|v| new_visit(v, store.clock()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(store.record_visits(cell_id, visits)?)
}

/// An app's change listener, as the UDL declares it.
pub trait CellObserver: Send + Sync {
    fn cells_changed(&self, cell_ids: Vec<String>) -> Result<(), crate::ObserverError>;
}

struct ObserverBridge(Box<dyn CellObserver>);

impl silin_core::Observer for ObserverBridge {
    fn cells_changed(&self, cell_ids: &[String]) {
        // The write is committed whatever the app's observer does.
        let _ = self.0.cells_changed(cell_ids.to_vec());
    }
}

/// The open store, or nothing once closed. Sessions share it so that
/// closing the store also ends them.
pub(crate) type Shared = Arc<RwLock<Option<Arc<silin_core::Store>>>>;

pub(crate) fn open_store(shared: &Shared) -> Option<Arc<silin_core::Store>> {
    shared.read().unwrap_or_else(|p| p.into_inner()).clone()
}

pub struct Store {
    shared: Shared,
    tracker: Arc<Tracker>,
}

impl Store {
    pub fn open(path: String, key: Option<String>) -> Result<Self, StoreError> {
        Self::opened(crate::registry::open(&path, key, None)?)
    }

    /// [`Store::open`] with the store's clock set to `now`, running on.
    pub fn open_at(path: String, key: Option<String>, now: String) -> Result<Self, StoreError> {
        Self::opened(crate::registry::open(&path, key, Some(now))?)
    }

    fn opened((store, tracker): crate::registry::Opened) -> Result<Self, StoreError> {
        Ok(Store {
            shared: Arc::new(RwLock::new(Some(store))),
            tracker,
        })
    }

    pub(crate) fn core(&self) -> Result<Arc<silin_core::Store>, StoreError> {
        open_store(&self.shared).ok_or_else(StoreError::closed)
    }

    fn core_for_sync(&self) -> Result<Arc<silin_core::Store>, SyncError> {
        Ok(self.core()?)
    }

    /// Closes this handle. The file closes when no other handle on it is
    /// open and no call still running holds it.
    pub fn close(&self) {
        self.shared
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    pub fn is_closed(&self) -> bool {
        open_store(&self.shared).is_none()
    }

    pub fn identity(&self) -> Result<DeviceIdentity, StoreError> {
        identity(&*self.core()?)
    }

    pub fn erasure_orders(&self) -> Result<Vec<ErasureRecord>, StoreError> {
        let core = self.core()?;
        let orders = core.erasure_orders()?;
        let cells: Vec<String> = orders.iter().map(|o| o.cell.clone()).collect();
        let awaiting = core.awaiting_epochs(&cells)?;
        let mut out = Vec::new();
        for o in orders {
            out.push(ErasureRecord {
                followed: !awaiting.contains(&o.cell),
                epoch: o.epoch,
                issued_at: o.issued_at,
                subjects: o.subjects.len() as u32,
                cell_id: o.body.cell,
                reason: o.body.reason,
            });
        }
        Ok(out)
    }

    pub fn set_device_name(&self, name: String) -> Result<(), StoreError> {
        Ok(self.core()?.set_device_name(&name)?)
    }

    // ---- cells

    pub fn create_cell(
        &self,
        name: String,
        region_path: String,
        lead: Option<String>,
    ) -> Result<String, StoreError> {
        let path = silin_core::model::RegionPath::parse(&region_path)?;
        Ok(self.core()?.create_cell(&name, &path, lead.as_deref())?)
    }

    pub fn rename_cell(&self, cell_id: String, name: String) -> Result<(), StoreError> {
        Ok(self.core()?.rename_cell(&cell_id, &name)?)
    }

    pub fn set_lead(&self, cell_id: String, lead: String) -> Result<(), StoreError> {
        Ok(self.core()?.set_lead(&cell_id, &lead)?)
    }

    pub fn cells(&self, scope: Vec<String>) -> Result<Vec<CellInfo>, StoreError> {
        Ok(self
            .core()?
            .cells(&scope)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub fn cell(&self, cell_id: String) -> Result<CellView, StoreError> {
        Ok(self.core()?.cell(&cell_id)?.into())
    }

    pub fn conflicts(&self, cell_id: String) -> Result<Vec<Conflict>, StoreError> {
        Ok(self
            .core()?
            .conflicts(&cell_id)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    // ---- households and members

    pub fn add_household(
        &self,
        cell_id: String,
        household: NewHousehold,
    ) -> Result<String, StoreError> {
        Ok(self.core()?.add_household(&cell_id, household.into())?)
    }

    pub fn add_member(
        &self,
        household_id: String,
        member: NewMember,
    ) -> Result<String, StoreError> {
        let store = self.core()?;
        let today = store.clock().today();
        Ok(store.add_member(&household_id, member.into(), today)?)
    }

    pub fn edit_member(&self, member_id: String, edits: Vec<MemberEdit>) -> Result<(), StoreError> {
        let edits = edits
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.core()?.edit_member(&member_id, &edits)?)
    }

    pub fn member(&self, member_id: String) -> Result<Member, StoreError> {
        Ok(self.core()?.member(&member_id)?.into())
    }

    // ---- visits, reports, tasks

    pub fn record_visit(&self, cell_id: String, visit: NewVisit) -> Result<String, StoreError> {
        record_visit(&*self.core()?, &cell_id, visit)
    }

    pub fn record_visits(
        &self,
        cell_id: String,
        visits: Vec<NewVisit>,
    ) -> Result<Vec<String>, StoreError> {
        record_visits(&*self.core()?, &cell_id, visits)
    }

    /// A number naming this handle for the hot visit calls
    /// ([`crate::hot`]), until `close_visit_writer`.
    pub fn open_visit_writer(&self) -> Result<u64, StoreError> {
        self.core()?;
        Ok(crate::hot::open(self.shared.clone()))
    }

    pub fn submit_report(&self, cell_id: String, report: NewReport) -> Result<(), StoreError> {
        let store = self.core()?;
        Ok(store.submit_report(&cell_id, new_report(report, store.clock())?)?)
    }

    pub fn add_task(&self, cell_id: String, task: NewTask) -> Result<String, StoreError> {
        let due = parse_opt_day("due", task.due)?;
        let store = self.core()?;
        Ok(store.add_task(
            &cell_id,
            &task.title,
            task.household_id.as_deref(),
            task.member_id.as_deref(),
            due,
            store.clock().now(),
        )?)
    }

    pub fn set_task_status(
        &self,
        cell_id: String,
        task_id: String,
        status: TaskStatus,
    ) -> Result<(), StoreError> {
        Ok(self
            .core()?
            .set_task_status(&cell_id, &task_id, status.into())?)
    }

    // ---- queries

    pub fn under_monitoring(&self, day: String) -> Result<Vec<MemberSummary>, StoreError> {
        let day = parse_day("day", &day)?;
        summaries(self.core()?.under_monitoring(day)?)
    }

    pub fn monitoring_ends(&self, day: String) -> Result<Vec<MemberSummary>, StoreError> {
        let day = parse_day("day", &day)?;
        summaries(self.core()?.monitoring_ends(day)?)
    }

    pub fn vulnerable_members(&self) -> Result<Vec<MemberSummary>, StoreError> {
        summaries(self.core()?.vulnerable_members()?)
    }

    pub fn cells_missing_report(&self, day: String) -> Result<Vec<CellInfo>, StoreError> {
        let day = parse_day("day", &day)?;
        Ok(self
            .core()?
            .cells_missing_report(day)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub fn visits_on(&self, day: String) -> Result<Vec<VisitSummary>, StoreError> {
        let day = parse_day("day", &day)?;
        Ok(self
            .core()?
            .visits_on(day)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub fn rollup(&self, day: String, level: Level) -> Result<Vec<RollupRow>, StoreError> {
        let day = parse_day("day", &day)?;
        Ok(self
            .core()?
            .rollup(day, level.into())?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    // ---- observers

    pub fn subscribe(&self, observer: Box<dyn CellObserver>) -> Result<u64, StoreError> {
        Ok(self.core()?.subscribe(Arc::new(ObserverBridge(observer))))
    }

    pub fn unsubscribe(&self, subscription: u64) {
        if let Some(store) = open_store(&self.shared) {
            store.unsubscribe(subscription);
        }
    }

    // ---- enrolment and the hub

    pub fn enroll(&self, hub_url: String, token: String) -> Result<DeviceIdentity, SyncError> {
        let store = self.core_for_sync()?;
        silin_hub::client::enroll(&store, &hub_url, &token)?;
        Ok(identity(&store)?)
    }

    pub fn sync_with_hub(&self, hub_url: String) -> Result<SyncStats, SyncError> {
        let store = self.core_for_sync()?;
        hub_sync(
            &store,
            &self.tracker,
            &hub_url,
            Arc::new(AtomicBool::new(false)),
        )
    }

    // ---- the same, awaited: the work runs on a thread of its own

    pub async fn enroll_async(
        &self,
        hub_url: String,
        token: String,
    ) -> Result<DeviceIdentity, SyncError> {
        let store = self.core_for_sync()?;
        offthread::run(move || {
            silin_hub::client::enroll(&store, &hub_url, &token)?;
            Ok(identity(&store)?)
        })
        .await
    }

    pub async fn sync_with_hub_async(&self, hub_url: String) -> Result<SyncStats, SyncError> {
        let store = self.core_for_sync()?;
        let tracker = self.tracker.clone();
        let flag = Arc::new(AtomicBool::new(false));
        // A cancelled coroutine or task drops this future: the sync then
        // stops at its next round boundary.
        let _cancel = CancelOnDrop(flag.clone());
        offthread::run(move || hub_sync(&store, &tracker, &hub_url, flag)).await
    }

    pub async fn export_bundle_async(
        &self,
        cells: Vec<String>,
        for_peer: Option<String>,
    ) -> Result<SyncBundle, SyncError> {
        let this = self.handle();
        offthread::run(move || this.export_bundle(cells, for_peer)).await
    }

    pub async fn import_bundle_async(&self, data: Vec<u8>) -> Result<BundleImport, SyncError> {
        let this = self.handle();
        offthread::run(move || this.import_bundle(data)).await
    }

    /// Another handle on the same open store, for a work thread: closing
    /// this one closes it too (they share the slot).
    fn handle(&self) -> Store {
        Store {
            shared: self.shared.clone(),
            tracker: self.tracker.clone(),
        }
    }

    // ---- sync status

    pub fn sync_status(&self) -> SyncStatus {
        self.tracker.status()
    }

    pub fn subscribe_sync_status(&self, observer: Box<dyn SyncStatusObserver>) -> u64 {
        self.tracker.subscribe(Arc::from(observer))
    }

    pub fn unsubscribe_sync_status(&self, subscription: u64) {
        self.tracker.unsubscribe(subscription);
    }

    /// Asks the hub syncs running on this file to stop at their next round
    /// boundary; each then fails with `Cancelled`.
    pub fn cancel_sync(&self) {
        self.tracker.cancel_all();
    }

    // ---- app-carried sync

    pub fn start_sync(&self, peer_device_id: Option<String>) -> Result<SyncStart, SyncError> {
        let store = self.core_for_sync()?;
        let (session, message) = Session::initiate_to(&*store, peer_device_id.as_deref())?;
        self.tracker.begin(SyncPhase::Connecting);
        self.tracker.step(SyncPhase::Sending, &session);
        Ok(SyncStart {
            session: Arc::new(SyncSession::new(
                self.shared.clone(),
                self.tracker.clone(),
                session,
                true,
            )),
            message,
        })
    }

    pub fn accept_sync(&self) -> Result<Arc<SyncSession>, SyncError> {
        let store = self.core_for_sync()?;
        let session = Session::accept(&*store)?;
        Ok(Arc::new(SyncSession::new(
            self.shared.clone(),
            self.tracker.clone(),
            session,
            false,
        )))
    }

    // ---- bundles

    pub fn export_bundle(
        &self,
        cells: Vec<String>,
        for_peer: Option<String>,
    ) -> Result<SyncBundle, SyncError> {
        let store = self.core_for_sync()?;
        let (data, n) = bundle::export(
            &*store,
            &ExportOptions {
                cells,
                for_peer,
                ..Default::default()
            },
        )?;
        Ok(SyncBundle {
            data,
            cells: count(n),
        })
    }

    /// A bundle only its recipients can open: the devices named in `to`
    /// (peers this device has met), or when `to` is empty every device it
    /// has met that may hold the cells.
    pub fn export_sealed_bundle(
        &self,
        cells: Vec<String>,
        for_peer: Option<String>,
        to: Vec<String>,
    ) -> Result<SyncBundle, SyncError> {
        let store = self.core_for_sync()?;
        let sealing = if to.is_empty() {
            bundle::Sealing::KnownPeers
        } else {
            bundle::Sealing::To(to)
        };
        let (data, n) = bundle::export(
            &*store,
            &ExportOptions {
                cells,
                for_peer,
                sealing,
            },
        )?;
        Ok(SyncBundle {
            data,
            cells: count(n),
        })
    }

    pub fn import_bundle(&self, data: Vec<u8>) -> Result<BundleImport, SyncError> {
        let store = self.core_for_sync()?;
        let outcome = bundle::import(&*store, &data)?;
        // A cell refused on its own: the others were applied, but the app
        // must hear of it, as the error it would have got for that cell.
        if let Some(r) = outcome.refused.first() {
            let detail = format!(
                "cell {} in the bundle was refused: {}; {} other cells were applied",
                r.doc, r.reason, outcome.docs
            );
            return Err(if r.damaged {
                SyncError::Malformed { detail }
            } else {
                SyncError::Refused { detail }
            });
        }
        Ok(BundleImport {
            cells: count(outcome.docs),
            changed: count(outcome.changed),
        })
    }
}

/// One sync with the hub, told to the tracker step by step, stopping at a
/// round boundary once `flag` is set (by `cancel_sync` or a dropped future).
fn hub_sync(
    store: &silin_core::Store,
    tracker: &Tracker,
    hub_url: &str,
    flag: Arc<AtomicBool>,
) -> Result<SyncStats, SyncError> {
    let run = tracker.start_hub_sync(flag);
    // One hub session per file at a time.
    let _turn = tracker.hub_turn();
    tracker.begin(SyncPhase::Connecting);
    tracing::info!(target: "silin::ffi", "hub sync started");
    let mut watch = |step: SyncStep, session: &Session| {
        let phase = match step {
            SyncStep::Connecting => SyncPhase::Connecting,
            SyncStep::Sending => SyncPhase::Sending,
            SyncStep::Receiving | SyncStep::Finished => SyncPhase::Receiving,
        };
        // Observers first: a cancel they make counts at this boundary.
        tracker.step(phase, session);
        if run.cancelled() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let outcome = match Hub::for_store(hub_url, store) {
        Ok(hub) => hub.sync_watched(store, &mut watch),
        Err(e) => Err(e),
    };
    let result = match outcome {
        Ok(Some(stats)) => Ok(SyncStats::from(stats)),
        Ok(None) => Err(SyncError::cancelled()),
        Err(e) => Err(SyncError::from(e)),
    };
    match &result {
        Ok(stats) => {
            tracing::info!(
                target: "silin::ffi",
                cells_sent = stats.docs_sent,
                cells_received = stats.docs_received,
                bytes_up = stats.bytes_up,
                bytes_down = stats.bytes_down,
                round_trips = stats.round_trips,
                "hub sync finished"
            );
            tracker.end(Ok(store.clock().now().to_rfc3339()));
        }
        Err(e) => {
            tracing::warn!(target: "silin::ffi", kind = e.kind(), "hub sync failed");
            tracker.end(Err(e.to_string()));
        }
    }
    result
}

fn summaries(
    rows: Vec<silin_core::store::MemberSummary>,
) -> Result<Vec<MemberSummary>, StoreError> {
    Ok(rows.into_iter().map(Into::into).collect())
}

fn identity(store: &silin_core::Store) -> Result<DeviceIdentity, StoreError> {
    let cert = store.certificate()?;
    let office = store.office_public_key()?;
    Ok(DeviceIdentity {
        device_id: store.device_id(),
        device_name: store.device_name()?,
        enrolled: cert.is_some(),
        role: cert.as_ref().map(|c| c.role.into()),
        scope: cert.as_ref().map(|c| c.scope.0.clone()).unwrap_or_default(),
        expires: cert.as_ref().map(|c| c.expires_text()),
        office_fingerprint: office.as_ref().map(fingerprint),
    })
}
