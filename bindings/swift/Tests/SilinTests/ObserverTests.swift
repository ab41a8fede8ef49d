// Observers: told which cells changed, on the thread that made the change,
// after the change is committed; silent after unsubscribe.
import Foundation
import Silin
import XCTest

final class ObserverTests: XCTestCase {
    var dir: TempDir!
    var store: Store!

    override func setUpWithError() throws {
        dir = try TempDir()
        store = try Store.open(path: dir.path("lead.db"), key: nil)
    }

    override func tearDown() {
        store?.close()
        store = nil
        dir = nil
    }

    func testObserverIsToldOfEachChangeUntilUnsubscribed() throws {
        let cell = try store.createCell(name: "三组第5联户", regionPath: regionPath, lead: "王建国")
        let recorder = Recorder()
        let subscription = try store.subscribe(observer: recorder)

        try store.renameCell(cellId: cell, name: "三组第五联户")
        // Observers run on the calling thread before the call returns.
        XCTAssertEqual(recorder.seen, [[cell]])

        let household = try store.addHousehold(cellId: cell, household: NewHousehold(address: "东关村三组12号"))
        _ = try store.addMember(householdId: household, member: NewMember(name: "王芳"))
        XCTAssertEqual(recorder.seen.count, 3)
        XCTAssertTrue(recorder.seen.allSatisfy { $0 == [cell] })

        store.unsubscribe(subscription: subscription)
        try store.renameCell(cellId: cell, name: "三组第5联户")
        XCTAssertEqual(recorder.seen.count, 3, "no calls after unsubscribe")

        // Unsubscribing twice, or an unknown subscription, is harmless.
        store.unsubscribe(subscription: subscription)
        store.unsubscribe(subscription: 987_654)
    }

    func testFailedWriteTellsNoObserver() throws {
        let cell = try store.createCell(name: "三组第5联户", regionPath: regionPath, lead: nil)
        let recorder = Recorder()
        _ = try store.subscribe(observer: recorder)
        _ = storeError(try store.addHousehold(cellId: cell, household: NewHousehold(phone: "0000")))
        XCTAssertEqual(recorder.seen, [])
    }

    func testAThrowingObserverDoesNotUndoTheWrite() throws {
        final class Failing: CellObserver, @unchecked Sendable {
            func cellsChanged(cellIds: [String]) throws { throw ObserverError.Failed(message: "UI gone") }
        }
        struct Unexpected: Error {}
        final class Throwing: CellObserver, @unchecked Sendable {
            func cellsChanged(cellIds: [String]) throws { throw Unexpected() }
        }
        let cell = try store.createCell(name: "三组第5联户", regionPath: regionPath, lead: nil)
        _ = try store.subscribe(observer: Failing())
        _ = try store.subscribe(observer: Throwing())
        let recorder = Recorder()
        _ = try store.subscribe(observer: recorder)

        try store.renameCell(cellId: cell, name: "改名")
        XCTAssertEqual(try store.cell(cellId: cell).cell.name, "改名")
        XCTAssertEqual(recorder.seen, [[cell]], "the other observers are still told")
    }

    func testSyncTellsTheReceivingStoresObserver() throws {
        let worker = try Store.open(path: dir.path("worker.db"), key: nil)
        defer { worker.close() }
        let cell = try store.createCell(name: "三组第5联户", regionPath: regionPath, lead: nil)
        let recorder = Recorder()
        _ = try worker.subscribe(observer: recorder)
        try carrySync(from: store, to: worker)
        XCTAssertEqual(recorder.seen, [[cell]])

        let imported = Recorder()
        let office = try Store.open(path: dir.path("office.db"), key: nil)
        defer { office.close() }
        _ = try office.subscribe(observer: imported)
        _ = try office.importBundle(data: try store.exportBundle(cells: [], forPeer: nil).data)
        XCTAssertEqual(imported.seen, [[cell]])
    }

    func testAnObserverMayReadAndWriteTheStoreItWatches() throws {
        final class Reader: CellObserver, @unchecked Sendable {
            let store: Store
            var households: [Int] = []
            init(_ store: Store) { self.store = store }
            func cellsChanged(cellIds: [String]) throws {
                // The change is committed: the observer reads it back.
                for id in cellIds { households.append(try store.cell(cellId: id).households.count) }
            }
        }
        final class Writer: CellObserver, @unchecked Sendable {
            let store: Store
            var calls = 0
            init(_ store: Store) { self.store = store }
            func cellsChanged(cellIds: [String]) throws {
                calls += 1
                if calls == 1 {
                    _ = try store.recordVisit(cellId: cellIds[0], visit: NewVisit(kind: .notify, by: "observer"))
                }
            }
        }
        let ids = try makeLeadCell(store)
        let reader = Reader(store)
        let writer = Writer(store)
        _ = try store.subscribe(observer: reader)
        _ = try store.subscribe(observer: writer)

        _ = try store.addHousehold(cellId: ids.cell, household: NewHousehold(address: "东关村三组16号"))

        // The household, then the visit the writer added from its callback.
        XCTAssertEqual(reader.households, [3, 3])
        XCTAssertEqual(writer.calls, 2)
        XCTAssertEqual(try store.cell(cellId: ids.cell).visits.map(\.by), ["observer"])
    }

    func testSubscribingToAClosedStoreFails() {
        store.close()
        guard case .Closed? = storeError(try store.subscribe(observer: Recorder())) else {
            return XCTFail("subscribe on a closed store is Closed")
        }
    }
}
