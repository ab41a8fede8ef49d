// Hand-written Swift over the generated bindings (./prepare copies this
// folder into Sources/Silin beside Silin.swift, so it is one module):
// live queries as async sequences, the sync status as a stream, a hub sync
// that stops when its task is cancelled, and a logger for os_log.
import Foundation

#if canImport(os)
import os
#endif

/// Calls `onChange` when a change to one of `cells` (any cell when nil) is
/// committed.
final class LiveObserver: CellObserver, @unchecked Sendable {
    private let cells: Set<String>?
    private let onChange: () -> Void

    init(cells: Set<String>?, onChange: @escaping () -> Void) {
        self.cells = cells
        self.onChange = onChange
    }

    func cellsChanged(cellIds: [String]) throws {
        if let cells, !cellIds.contains(where: cells.contains) { return }
        onChange()
    }
}

final class StatusForwarder: SyncStatusObserver, @unchecked Sendable {
    private let send: (SyncStatus) -> Void
    init(_ send: @escaping (SyncStatus) -> Void) { self.send = send }
    func statusChanged(status: SyncStatus) throws { send(status) }
}

/// A logger that hands each line to a closure (called on the thread that
/// logged).
public final class ClosureLogger: Logger, @unchecked Sendable {
    private let sink: (LogLevel, String, String) -> Void
    public init(_ sink: @escaping (LogLevel, String, String) -> Void) { self.sink = sink }
    public func log(level: LogLevel, target: String, message: String) throws {
        sink(level, target, message)
    }
}

/// Sends silin's log at `level` and above to `sink`. Lines carry ids,
/// counts and kinds of failure, never personal data.
public func setLogger(level: LogLevel, _ sink: @escaping (LogLevel, String, String) -> Void) {
    setLogger(logger: ClosureLogger(sink), level: level)
}

#if canImport(os)
/// Sends silin's log to the unified log (os_log), subsystem `subsystem`,
/// category the event's source (e.g. `silin_core::sync`).
public func setOSLogger(level: LogLevel = .info, subsystem: String = "org.silin") {
    setLogger(level: level) { level, target, message in
        let log = os.Logger(subsystem: subsystem, category: target)
        switch level {
        case .error: log.error("\(message, privacy: .public)")
        case .warn: log.warning("\(message, privacy: .public)")
        case .info: log.info("\(message, privacy: .public)")
        case .debug, .trace: log.debug("\(message, privacy: .public)")
        }
    }
}
#endif

extension Store {
    /// A query whose answers arrive as an async sequence: the first at once,
    /// then one after each committed change to `cells` (any cell when nil)
    /// that alters the answer. Queries run on a serial queue of their own
    /// (silin calls block); a query that throws ends the sequence with its
    /// error. Ending the iteration unsubscribes.
    public func liveQuery<T: Equatable>(
        cells: Set<String>? = nil,
        _ query: @escaping (Store) throws -> T
    ) -> AsyncThrowingStream<T, Error> {
        AsyncThrowingStream { continuation in
            let queue = DispatchQueue(label: "org.silin.live-query")
            let last = LastAnswer<T>()
            let rerun = {
                queue.async {
                    do {
                        let answer = try query(self)
                        if answer != last.value {
                            last.value = answer
                            continuation.yield(answer)
                        }
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
            }
            // Subscribed before the first query, so no change between the
            // two is missed.
            let subscription: UInt64
            do {
                subscription = try self.subscribe(observer: LiveObserver(cells: cells, onChange: rerun))
            } catch {
                continuation.finish(throwing: error)
                return
            }
            rerun()
            continuation.onTermination = { _ in self.unsubscribe(subscription: subscription) }
        }
    }

    /// The cells held within `scope` (empty: every cell).
    public func cellsStream(scope: [String] = []) -> AsyncThrowingStream<[CellInfo], Error> {
        liveQuery { try $0.cells(scope: scope) }
    }

    /// One cell's whole view, after each change to that cell.
    public func cellStream(cellId: String) -> AsyncThrowingStream<CellView, Error> {
        liveQuery(cells: [cellId]) { try $0.cell(cellId: cellId) }
    }

    /// A cell's open tasks (errands not yet done or cancelled).
    public func openTasksStream(cellId: String) -> AsyncThrowingStream<[CellTask], Error> {
        liveQuery(cells: [cellId]) { try $0.cell(cellId: cellId).tasks.filter { $0.status == .open } }
    }

    public func underMonitoringStream(day: String) -> AsyncThrowingStream<[MemberSummary], Error> {
        liveQuery { try $0.underMonitoring(day: day) }
    }

    public func monitoringEndsStream(day: String) -> AsyncThrowingStream<[MemberSummary], Error> {
        liveQuery { try $0.monitoringEnds(day: day) }
    }

    public func vulnerableMembersStream() -> AsyncThrowingStream<[MemberSummary], Error> {
        liveQuery { try $0.vulnerableMembers() }
    }

    public func cellsMissingReportStream(day: String) -> AsyncThrowingStream<[CellInfo], Error> {
        liveQuery { try $0.cellsMissingReport(day: day) }
    }

    public func visitsOnStream(day: String) -> AsyncThrowingStream<[VisitSummary], Error> {
        liveQuery { try $0.visitsOn(day: day) }
    }

    /// The sync status: the current value first, then each change, from
    /// every sync on this file (hub, nearby phone, background task). Only
    /// the newest statuses are kept for a slow reader.
    public func syncStatuses() -> AsyncStream<SyncStatus> {
        AsyncStream(bufferingPolicy: .bufferingNewest(32)) { continuation in
            let subscription = self.subscribeSyncStatus(
                observer: StatusForwarder { continuation.yield($0) })
            continuation.yield(self.syncStatus())
            continuation.onTermination = { _ in self.unsubscribeSyncStatus(subscription: subscription) }
        }
    }

    /// A hub sync that stops at its next round boundary when the calling
    /// task is cancelled (then it throws `SyncError.Cancelled`); what the
    /// rounds before brought is kept, and the next sync carries on.
    public func sync(hubUrl: String) async throws -> SyncStats {
        try await withTaskCancellationHandler {
            try await self.syncWithHubAsync(hubUrl: hubUrl)
        } onCancel: {
            self.cancelSync()
        }
    }
}

/// The last answer a live query yielded; read and written on its serial queue only.
final class LastAnswer<T>: @unchecked Sendable {
    var value: T?
}

extension SyncStatus {
    /// True while a sync runs.
    public var isActive: Bool { phase != .idle }
}
