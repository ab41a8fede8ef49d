import Foundation
import Silin

#if canImport(Combine)
import Combine
#endif

/// The lead householder's screen state, over one Silin `Store`.
///
/// Lives on the main actor; every silin call runs on a background queue
/// (`offMain`). Changes made elsewhere — a sync, an import, another thread —
/// reach it through a CellObserver and reload what is shown.
@MainActor
public final class LeadViewModel: ObservableObject {
    public enum SyncStatus: Equatable {
        case idle
        case syncing(String)
        case done(String, SyncStats)
        case failed(String)
    }

    /// The counts the lead confirms before filing today's report.
    public struct ReportDraft: Equatable {
        public var arrivals: Int
        public var abnormal: Int
        public var note: String

        public init(arrivals: Int = 0, abnormal: Int = 0, note: String = "") {
            self.arrivals = arrivals
            self.abnormal = abnormal
            self.note = note
        }
    }

    // What the screens show.
    @Published public private(set) var cell: CellView? = nil
    @Published public private(set) var underMonitoring: [MemberSummary] = []
    @Published public private(set) var vulnerable: [MemberSummary] = []
    @Published public private(set) var todaysVisits: [VisitSummary] = []
    @Published public private(set) var reportFiledToday = false
    // The lead's day in my cell, from silin's leadDay.
    /// Health checks due today and not all done: done of required, days left.
    @Published public private(set) var dueChecks: [CheckDay] = []
    /// Earlier days of monitoring with fewer checks than required.
    @Published public private(set) var missedChecks: [CheckDay] = []
    /// Open alert and reminder tasks (a missed or abnormal check, a report
    /// not filed by evening), newest first.
    @Published public private(set) var alerts: [CellTask] = []
    /// Residents living away not called for `notCalledDays` days.
    @Published public private(set) var awayNotCalled: [AwayResident] = []
    /// Each member's health status (normal, under monitoring, abnormal, referred).
    @Published public private(set) var health: [String: HealthStatus] = [:]
    /// The report filed today, with silin's flag if its counts disagree with the log.
    @Published public private(set) var reportToday: Report? = nil
    @Published public private(set) var identity: DeviceIdentity? = nil
    // Forms and their errors.
    @Published public var visitForm = VisitForm()
    @Published public private(set) var visitErrors = FieldErrors()
    /// silin's rule for an arrival field it refused, by field name ("member", "date", "from"…).
    @Published public private(set) var arrivalErrors: [String: String] = [:]
    @Published public var reportDraft = ReportDraft()
    @Published public private(set) var reportErrors: [String: String] = [:]
    // Progress and messages.
    @Published public private(set) var busy = false
    @Published public private(set) var syncStatus = SyncStatus.idle
    /// silin's own sync status, step by step: phase, n of m cells, bytes,
    /// last synced, last error — from any sync on this phone (this screen,
    /// a background task).
    @Published public private(set) var progress: Silin.SyncStatus
    /// A message for the whole screen (not tied to a form field).
    @Published public var message: String? = nil

    public let store: Store
    /// The name visits and reports are recorded under.
    public let leadName: String
    /// Residents away not called for this many days are listed to call.
    public let notCalledDays: Int64 = 7
    private let today: () -> String
    private let relay = ChangeRelay()
    /// Reloads started and the latest one shown: a reload that started
    /// earlier (say, an observer's during a sync) never overwrites what a
    /// later one showed.
    private var reloadsStarted = 0
    private var reloadShown = 0
    private var subscription: UInt64?
    private let statusRelay = StatusRelay()
    private var statusSubscription: UInt64?

    /// - Parameters:
    ///   - store: the device's store; the view model does not own it until
    ///     `close()` is called.
    ///   - leadName: who records visits and files reports.
    ///   - today: the device's day, "YYYY-MM-DD" (silin's by default).
    public init(store: Store, leadName: String, today: @escaping () -> String = { Silin.today() }) {
        self.store = store
        self.leadName = leadName
        self.today = today
        self.progress = store.syncStatus()
        relay.model = self
        statusRelay.model = self
        // Registering an observer touches no file: cheap on the main thread.
        subscription = try? store.subscribe(observer: relay)
        statusSubscription = store.subscribeSyncStatus(observer: statusRelay)
    }

    /// A line for the sync screen, e.g. "Receiving: 12 of 40 cells, 1.2 MB".
    public var progressLine: String? {
        let s = progress
        let bytes = ByteCountFormatter.string(fromByteCount: Int64(s.bytesUp + s.bytesDown), countStyle: .file)
        switch s.phase {
        case .idle: return s.lastSynced.map { "Last synced \($0)" }
        case .connecting: return "Connecting…"
        case .sending, .receiving:
            let verb = s.phase == .sending ? "Sending" : "Receiving"
            return s.cellsTotal > 0 ? "\(verb): \(s.cellsDone) of \(s.cellsTotal) cells, \(bytes)" : "\(verb): \(bytes)"
        }
    }

    /// Stops a hub sync in progress at its next round boundary (a "Stop"
    /// button, or a background task's expiration): what it brought is kept.
    public func cancelSync() {
        store.cancelSync()
    }

    func statusChanged(_ status: Silin.SyncStatus) {
        progress = status
    }

    /// Opens (or creates) the encrypted store at `url` with the key from
    /// `keys` (the Keychain in the app), off the main thread.
    public static func open(at url: URL, keys: StoreKeyProvider, leadName: String) async throws -> LeadViewModel {
        let store = try await offMain { try Store.open(path: url.path, key: try keys.storeKey()) }
        return LeadViewModel(store: store, leadName: leadName)
    }

    /// Stops observing and closes the store.
    public func close() {
        if let subscription { store.unsubscribe(subscription: subscription) }
        subscription = nil
        if let statusSubscription { store.unsubscribeSyncStatus(subscription: statusSubscription) }
        statusSubscription = nil
        store.close()
    }

    public var cellId: String? { cell?.cell.id }
    public var day: String { today() }

    /// Today's abnormal visits in my cell.
    public var abnormalToday: [VisitSummary] { todaysVisits.filter(\.abnormal) }

    public func member(_ id: String?) -> Member? {
        guard let id else { return nil }
        return cell?.households.flatMap(\.members).first { $0.id == id }
    }

    // MARK: loading

    /// Loads my cell (the one I lead, else the first held) and the day's
    /// lists, raising the day's alerts first: the app calls it when it opens.
    public func load() async {
        await run {
            try await self.reload()
            if try await self.raise() { try await self.reload() }
        }
    }

    /// Raises what the day calls for in my cell, once each: an alert task for
    /// each day someone under monitoring missed a check, a reminder when the
    /// report is not in by evening. `load()` and each sync do it; call it
    /// when the app comes back to the foreground.
    public func raiseAlerts() async {
        await run { if try await self.raise() { try await self.reload() } }
    }

    /// True if it raised any task.
    private func raise() async throws -> Bool {
        guard let cellId else { return false }
        let store = self.store
        return try await offMain { try store.raiseAlerts(cellId: cellId) }.isEmpty == false
    }

    private func reload() async throws {
        reloadsStarted += 1
        let generation = reloadsStarted
        let store = self.store
        let day = today()
        let lead = leadName
        let notCalled = notCalledDays
        let snapshot = try await offMain { () -> Snapshot in
            let cells = try store.cells(scope: [])
            guard let mine = cells.first(where: { $0.lead == lead }) ?? cells.first else {
                return Snapshot(identity: try store.identity())
            }
            let view = try store.cell(cellId: mine.id)
            return Snapshot(
                lead: try store.leadDay(cellId: mine.id, day: day, notCalledDays: notCalled),
                identity: try store.identity(),
                cell: view,
                underMonitoring: try store.underMonitoring(day: day).filter { $0.cellId == mine.id },
                vulnerable: try store.vulnerableMembers().filter { $0.cellId == mine.id },
                visits: try store.visitsOn(day: day).filter { $0.cellId == mine.id },
                reportFiled: view.reports.contains { $0.date == day })
        }
        guard generation > reloadShown else { return }
        reloadShown = generation
        apply(snapshot)
    }

    private struct Snapshot {
        var lead: LeadDay? = nil
        var identity: DeviceIdentity
        var cell: CellView? = nil
        var underMonitoring: [MemberSummary] = []
        var vulnerable: [MemberSummary] = []
        var visits: [VisitSummary] = []
        var reportFiled = false
    }

    private func apply(_ snapshot: Snapshot) {
        identity = snapshot.identity
        cell = snapshot.cell
        underMonitoring = snapshot.underMonitoring
        vulnerable = snapshot.vulnerable
        todaysVisits = snapshot.visits
        reportFiledToday = snapshot.reportFiled
        let lead = snapshot.lead
        dueChecks = lead?.due ?? []
        missedChecks = lead?.missed ?? []
        alerts = (lead?.openTasks ?? [])
            .filter { $0.kind == .alert || $0.kind == .reminder }
            .sorted { $0.created > $1.created }
        awayNotCalled = lead?.away ?? []
        health = Dictionary((lead?.members ?? []).map { ($0.memberId, $0.health) }, uniquingKeysWith: { a, _ in a })
        reportToday = lead?.report
        if !reportFiledToday, let draft = lead?.draft {
            // silin drafts the counts from the day's log; filing others is
            // flagged for the office.
            reportDraft.arrivals = Int(draft.arrivals)
            reportDraft.abnormal = Int(draft.abnormal)
        }
    }

    /// Called (on the main actor) after silin reports a change to a cell.
    func cellsChanged(_ cellIds: [String]) async {
        if let mine = cellId, !cellIds.contains(mine) { return }
        try? await reload()
    }

    // MARK: my cell

    /// Creates the cell this device's lead keeps. Returns false and sets
    /// `message` if silin refused it.
    @discardableResult
    public func createMyCell(name: String, regionPath: String) async -> Bool {
        let store = self.store
        let lead = leadName
        return await run {
            _ = try await offMain { try store.createCell(name: name, regionPath: regionPath, lead: lead) }
            try await self.reload()
        }
    }

    // MARK: arrivals and alerts

    /// Records an arrival at the door in one step (see `ArrivalForm`).
    /// Returns the member's id, or nil with `arrivalErrors` (or `message`)
    /// saying why silin refused it; nothing is then written.
    @discardableResult
    public func recordArrival(_ form: ArrivalForm) async -> String? {
        arrivalErrors = [:]
        let arrival = form.newArrival(by: leadName, today: today())
        let store = self.store
        busy = true
        defer { busy = false }
        do {
            let id = try await offMain { try store.recordArrival(arrival: arrival) }
            try? await reload()
            return id
        } catch StoreError.Invalid(let field, let rule) {
            arrivalErrors = [field: rule]
        } catch {
            message = describe(error)
        }
        return nil
    }

    /// Marks an alert or reminder dealt with; it leaves the list.
    public func dismissAlert(_ taskId: String) async {
        guard let cellId else { return }
        let store = self.store
        await run {
            try await offMain { try store.setTaskStatus(cellId: cellId, taskId: taskId, status: .done) }
            try await self.reload()
        }
    }

    // MARK: visits

    /// Starts a health check of `memberId` in the form.
    public func beginHealthCheck(of memberId: String) {
        let chosen = self.member(memberId)
        visitForm = VisitForm(kind: .healthCheck, householdId: chosen?.householdId, memberId: memberId)
        visitErrors = FieldErrors()
    }

    /// Records the visit in `visitForm`. On a rule broken, nothing is
    /// written, `visitErrors` holds a message under the field, and it
    /// returns false.
    @discardableResult
    public func recordVisit() async -> Bool {
        guard let cellId else {
            message = "Create or sync your cell first."
            return false
        }
        visitErrors = FieldErrors()
        let visit: NewVisit
        switch visitForm.newVisit(by: leadName) {
        case .success(let v): visit = v
        case .failure(let errors):
            visitErrors = errors
            return false
        }
        let store = self.store
        busy = true
        defer { busy = false }
        do {
            _ = try await offMain { try store.recordVisit(cellId: cellId, visit: visit) }
        } catch StoreError.Invalid(let field, let rule) {
            if let formField = VisitForm.Field(rawValue: field) {
                visitErrors = FieldErrors([formField: rule])
            } else {
                message = "\(field): \(rule)"
            }
            return false
        } catch {
            message = describe(error)
            return false
        }
        visitForm = VisitForm(kind: visitForm.kind)
        try? await reload()
        return true
    }

    // MARK: today's report

    /// Files today's report from `reportDraft`; under monitoring and errands
    /// are counted by silin from the register.
    @discardableResult
    public func fileTodaysReport() async -> Bool {
        guard let cellId else {
            message = "Create or sync your cell first."
            return false
        }
        reportErrors = [:]
        let report = NewReport(
            date: today(), by: leadName, arrivals: Int64(reportDraft.arrivals),
            abnormal: Int64(reportDraft.abnormal), note: blankToNil(reportDraft.note))
        let store = self.store
        busy = true
        defer { busy = false }
        do {
            try await offMain { try store.submitReport(cellId: cellId, report: report) }
        } catch StoreError.Invalid(let field, let rule) {
            reportErrors = [field: rule]
            return false
        } catch {
            message = describe(error)
            return false
        }
        try? await reload()
        return true
    }

    // MARK: sync

    /// Syncs with a nearby grid worker's phone over `link`. `starting`: this
    /// phone speaks first (the other side must accept).
    public func syncWithNearby(_ link: PeerLink, starting: Bool, peerName: String = "nearby phone") async {
        syncStatus = .syncing(peerName)
        let store = self.store
        do {
            let stats: SyncStats
            if starting {
                stats = try await PeerSync.start(store: store, over: link)
            } else {
                stats = try await PeerSync.accept(store: store, over: link)
            }
            syncStatus = .done(peerName, stats)
            try? await reload()
            if (try? await raise()) == true { try? await reload() }
        } catch {
            syncStatus = .failed(describe(error))
        }
    }

    /// Syncs with the township hub (a blocking network call, off the main
    /// thread). The device must be enrolled first.
    public func syncWithHub(url: String) async {
        syncStatus = .syncing(url)
        let store = self.store
        do {
            // Cancelled with the calling task (Store.sync stops at a round boundary).
            let stats = try await store.sync(hubUrl: url)
            syncStatus = .done(url, stats)
            try? await reload()
            if (try? await raise()) == true { try? await reload() }
        } catch SyncError.NotEnrolled {
            syncStatus = .failed("This phone is not enrolled yet: enter the token from the township office.")
        } catch {
            syncStatus = .failed(describe(error))
        }
    }

    /// Enrols this device with the hub using the office's printed token.
    @discardableResult
    public func enroll(hubUrl: String, token: String) async -> Bool {
        let store = self.store
        return await run {
            let identity = try await offMain { try store.enroll(hubUrl: hubUrl, token: token) }
            self.identity = identity
        }
    }

    // MARK: plumbing

    /// Runs `body` with `busy` set; an error becomes `message`.
    @discardableResult
    private func run(_ body: () async throws -> Void) async -> Bool {
        busy = true
        defer { busy = false }
        do {
            try await body()
            return true
        } catch {
            message = describe(error)
            return false
        }
    }

    /// The refresh the latest observer call started (tests await it).
    var pendingRefresh: _Concurrency.Task<Void, Never>? { relay.pending }
    /// The latest sync status hand-over (tests await it).
    var pendingStatus: _Concurrency.Task<Void, Never>? { statusRelay.pending }
}

/// Receives silin's change notifications on whatever thread made the change
/// and hands them to the main actor.
final class ChangeRelay: CellObserver, @unchecked Sendable {
    weak var model: LeadViewModel?
    private let lock = NSLock()
    private var last: _Concurrency.Task<Void, Never>?

    func cellsChanged(cellIds: [String]) throws {
        let task: _Concurrency.Task<Void, Never> = _Concurrency.Task { @MainActor [weak self] in
            guard let model = self?.model else { return }
            await model.cellsChanged(cellIds)
        }
        lock.lock()
        last = task
        lock.unlock()
    }

    var pending: _Concurrency.Task<Void, Never>? {
        lock.lock()
        defer { lock.unlock() }
        return last
    }
}

/// Hands silin's sync status, told on the syncing thread, to the main actor.
final class StatusRelay: SyncStatusObserver, @unchecked Sendable {
    weak var model: LeadViewModel?
    private let lock = NSLock()
    private var last: _Concurrency.Task<Void, Never>?

    func statusChanged(status: Silin.SyncStatus) throws {
        let previous: _Concurrency.Task<Void, Never>?
        lock.lock()
        previous = last
        // Each step waits for the one before, so the screen sees them in order.
        let task = _Concurrency.Task { @MainActor [weak self] in
            await previous?.value
            self?.model?.statusChanged(status)
        }
        last = task
        lock.unlock()
    }

    /// The latest status hand-over (tests await it).
    var pending: _Concurrency.Task<Void, Never>? {
        lock.lock()
        defer { lock.unlock() }
        return last
    }
}
