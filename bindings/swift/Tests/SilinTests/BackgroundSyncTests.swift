// The background-sync policy a BGTaskScheduler task applies.
import Foundation
import Silin
import XCTest

final class BackgroundSyncTests: XCTestCase {
    func testRetriesWaitTwiceAsLongUpToTheCap() {
        let p = BackgroundSyncPolicy()
        XCTAssertEqual((0...3).map { p.backoff(attempt: $0) }, [30, 60, 120, 240])
        XCTAssertEqual(p.backoff(attempt: 20), 5 * 3600)
        XCTAssertEqual(p.backoff(attempt: 10_000), 5 * 3600)
    }

    func testFailuresThatMayPassAreRetriedOthersAreNot() {
        let p = BackgroundSyncPolicy()
        XCTAssertEqual(p.decide(nil, attempt: 0), .done)
        XCTAssertEqual(p.decide(SyncError.HubUnreachable(url: "http://hub", detail: "down"), attempt: 0), .retry(after: 30))
        XCTAssertEqual(p.decide(SyncError.Cancelled(detail: "stopped"), attempt: 1), .retry(after: 60))
        XCTAssertEqual(p.decide(SyncError.HubRefused(status: 503, kind: "busy", detail: "later"), attempt: 0), .retry(after: 30))
        for e: Error in [
            SyncError.NotEnrolled(detail: "enrol"), SyncError.Refused(detail: "revoked"),
            SyncError.HubRefused(status: 403, kind: "identity", detail: "revoked"), StoreError.WrongKey(detail: "key"),
        ] {
            guard case .giveUp = p.decide(e, attempt: 0) else { return XCTFail("\(e) is retried") }
        }
        guard case .giveUp = p.decide(SyncError.Storage(detail: "disk"), attempt: p.maxAttempts - 1) else {
            return XCTFail("attempts do not run out")
        }
    }

    func testTheNextRunFollowsTheDecision() {
        let p = BackgroundSyncPolicy(every: 7200)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        XCTAssertEqual(p.nextRun(after: .done, from: now), now.addingTimeInterval(7200))
        XCTAssertEqual(p.nextRun(after: .retry(after: 60), from: now), now.addingTimeInterval(60))
        XCTAssertNil(p.nextRun(after: .giveUp("enrol"), from: now))
        XCTAssertEqual(BackgroundSyncPolicy(every: 60).every, 15 * 60, "no more often than the system allows")
    }

    func testAStoreThatIsNotEnrolledGivesUpAndOneWithNoHubRetries() async throws {
        let dir = try TempDir()
        let store = try Store.open(path: dir.path("phone.db"), key: nil)
        defer { store.close() }
        let bad = await store.backgroundSync(hubUrl: "ftp://nowhere", attempt: 0)
        guard case .giveUp = bad else { return XCTFail("a bad address is retried: \(bad)") }
        let unreachable = await store.backgroundSync(hubUrl: "http://127.0.0.1:9", attempt: 0)
        XCTAssertEqual(unreachable, .retry(after: 30))
    }
}
