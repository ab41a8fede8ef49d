// Background sync on iOS: when a scheduled sync with the hub runs next and
// what it does after a failure (a plain policy, tested on any platform),
// and a BGTaskScheduler helper that applies it where BackgroundTasks exists.
import Foundation

#if canImport(BackgroundTasks) && os(iOS)
import BackgroundTasks
#endif

/// When a background sync runs and how it retries. Defaults: at the
/// earliest an hour after the last good sync, on a network; after a failure
/// that may pass by itself (hub unreachable, interrupted, storage), again
/// after 30 s, doubling to at most 5 h, giving up after 8 attempts until the
/// next good sync. Failures a person must fix (not enrolled, revoked, a
/// wrong address, the clock) are not retried.
public struct BackgroundSyncPolicy: Equatable, Sendable {
    public var every: TimeInterval
    public var requiresNetwork: Bool
    public var requiresExternalPower: Bool
    public var initialBackoff: TimeInterval
    public var maxBackoff: TimeInterval
    public var maxAttempts: Int

    public init(
        every: TimeInterval = 3600, requiresNetwork: Bool = true, requiresExternalPower: Bool = false,
        initialBackoff: TimeInterval = 30, maxBackoff: TimeInterval = 5 * 3600, maxAttempts: Int = 8
    ) {
        self.every = max(every, 15 * 60)
        self.requiresNetwork = requiresNetwork
        self.requiresExternalPower = requiresExternalPower
        self.initialBackoff = max(initialBackoff, 10)
        self.maxBackoff = max(maxBackoff, self.initialBackoff)
        self.maxAttempts = max(maxAttempts, 1)
    }

    public enum Decision: Equatable, Sendable {
        case done
        case retry(after: TimeInterval)
        case giveUp(String)
    }

    /// How long retry number `attempt` (0 for the first) waits: doubling, capped.
    public func backoff(attempt: Int) -> TimeInterval {
        var delay = initialBackoff
        for _ in 0..<min(max(attempt, 0), 32) {
            delay *= 2
            if delay >= maxBackoff { return maxBackoff }
        }
        return delay
    }

    /// What to do after attempt `attempt` (0 for the first) ended with `error` (nil: success).
    public func decide(_ error: Error?, attempt: Int) -> Decision {
        guard let error else { return .done }
        let why = String(describing: error)
        guard Self.passes(error) else { return .giveUp(why) }
        if attempt + 1 >= maxAttempts { return .giveUp("gave up after \(maxAttempts) attempts: \(why)") }
        return .retry(after: backoff(attempt: attempt))
    }

    /// When to ask for the next run after `decision`; nil: only when the app asks again.
    public func nextRun(after decision: Decision, from now: Date) -> Date? {
        switch decision {
        case .done: return now.addingTimeInterval(every)
        case .retry(let after): return now.addingTimeInterval(after)
        case .giveUp: return nil
        }
    }

    static func passes(_ error: Error) -> Bool {
        switch error {
        case SyncError.HubUnreachable, SyncError.SessionFailed, SyncError.Storage, SyncError.Cancelled,
            SyncError.Closed, StoreError.Storage, StoreError.Closed:
            return true
        case SyncError.HubRefused(let status, _, _):
            return status >= 500 || status == 429
        default:
            return false
        }
    }
}

extension Store {
    /// One background sync with the hub (it stops at a round boundary when
    /// the calling task is cancelled, e.g. by the task's expiration) and
    /// what to do next.
    public func backgroundSync(
        hubUrl: String, attempt: Int, policy: BackgroundSyncPolicy = BackgroundSyncPolicy()
    ) async -> BackgroundSyncPolicy.Decision {
        do {
            _ = try await sync(hubUrl: hubUrl)
            return .done
        } catch {
            return policy.decide(error, attempt: attempt)
        }
    }
}

#if canImport(BackgroundTasks) && os(iOS)
/// Registers and schedules silin's background sync with BGTaskScheduler.
/// Call `register` before the app finishes launching (the identifier must be
/// listed under BGTaskSchedulerPermittedIdentifiers in Info.plist), then
/// `schedule()` once the hub's address is known.
public enum SilinBackgroundSync {
    private static let attemptsKey = "org.silin.background-sync.attempts"

    public static func register(
        identifier: String, policy: BackgroundSyncPolicy = BackgroundSyncPolicy(),
        store: @escaping () -> Store?, hubUrl: @escaping () -> String?
    ) {
        _ = BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            guard let store = store(), let url = hubUrl() else {
                task.setTaskCompleted(success: false)
                return
            }
            let work = _Concurrency.Task {
                let attempt = UserDefaults.standard.integer(forKey: SilinBackgroundSync.attemptsKey)
                let decision = await store.backgroundSync(hubUrl: url, attempt: attempt, policy: policy)
                UserDefaults.standard.set(decision == .done ? 0 : attempt + 1, forKey: SilinBackgroundSync.attemptsKey)
                if let next = policy.nextRun(after: decision, from: Date()) {
                    SilinBackgroundSync.schedule(identifier: identifier, policy: policy, earliest: next)
                }
                task.setTaskCompleted(success: decision == .done)
            }
            // The system's time is up: the sync stops at its next round
            // boundary, keeping what it brought.
            task.expirationHandler = { work.cancel() }
        }
    }

    /// Asks for a run no earlier than `earliest` (default: now).
    public static func schedule(
        identifier: String, policy: BackgroundSyncPolicy = BackgroundSyncPolicy(), earliest: Date = Date()
    ) {
        let request = BGProcessingTaskRequest(identifier: identifier)
        request.requiresNetworkConnectivity = policy.requiresNetwork
        request.requiresExternalPower = policy.requiresExternalPower
        request.earliestBeginDate = earliest
        try? BGTaskScheduler.shared.submit(request)
    }
}
#endif
