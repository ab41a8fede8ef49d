// Closing and reopening a store: the register survives, the device keeps
// its identity, closing twice is harmless.
import Foundation
import Silin
import XCTest

final class LifecycleTests: XCTestCase {
    var dir: TempDir!

    override func setUpWithError() throws {
        dir = try TempDir()
    }

    override func tearDown() {
        dir = nil
    }

    func testRegisterSurvivesCloseAndReopen() throws {
        let path = dir.path("lead.db")
        let store = try Store.open(path: path, key: nil)
        let ids = try makeLeadCell(store)
        try store.submitReport(cellId: ids.cell, report: NewReport(date: day, by: "王建国", arrivals: 0, abnormal: 0))
        let device = try store.identity().deviceId
        let before = try store.cell(cellId: ids.cell)

        XCTAssertFalse(store.isClosed())
        store.close()
        XCTAssertTrue(store.isClosed())
        store.close()  // harmless
        XCTAssertTrue(store.isClosed())

        let reopened = try Store.open(path: path, key: nil)
        defer { reopened.close() }
        XCTAssertFalse(reopened.isClosed())
        XCTAssertEqual(try reopened.cell(cellId: ids.cell), before)
        XCTAssertEqual(try reopened.identity().deviceId, device, "the device keeps its identity")
        XCTAssertEqual(try reopened.underMonitoring(day: day).map(\.memberId), [ids.returnee])
    }

    func testEncryptedStoreReopensWithItsKey() throws {
        let path = dir.path("sealed.db")
        let key = String(repeating: "0f", count: 32)
        let store = try Store.open(path: path, key: key)
        let ids = try makeLeadCell(store)
        store.close()
        let reopened = try Store.open(path: path, key: key)
        defer { reopened.close() }
        XCTAssertEqual(try reopened.member(memberId: ids.elderly).name, "李秀英")
    }

    func testEveryCallOnAClosedStoreIsClosed() throws {
        let store = try Store.open(path: dir.path("lead.db"), key: nil)
        let ids = try makeLeadCell(store)
        let worker = try Store.open(path: dir.path("worker.db"), key: nil)
        defer { worker.close() }
        let pending = try store.acceptSync()
        let opening = try worker.startSync(peerDeviceId: nil)
        store.close()

        func closed<T>(_ body: @autoclosure () throws -> T, _ what: String) {
            guard case .Closed? = storeError(try body()) else { return XCTFail("\(what) should be Closed") }
        }
        closed(try store.identity(), "identity")
        closed(try store.cells(scope: []), "cells")
        closed(try store.cell(cellId: ids.cell), "cell")
        closed(try store.member(memberId: ids.elderly), "member")
        closed(try store.addHousehold(cellId: ids.cell, household: NewHousehold()), "addHousehold")
        closed(try store.recordVisit(cellId: ids.cell, visit: NewVisit(kind: .call, by: "王建国")), "recordVisit")
        closed(try store.rollup(day: day, level: .group), "rollup")

        for (what, call) in [
            ("startSync", { _ = try store.startSync(peerDeviceId: nil) }),
            ("acceptSync", { _ = try store.acceptSync() }),
            ("importBundle", { _ = try store.importBundle(data: Data([1])) }),
            ("a session of the closed store", { _ = try pending.receive(message: opening.message) }),
        ] as [(String, () throws -> Void)] {
            guard case .Closed? = syncError(try call()) else { return XCTFail("\(what) should be SyncError.Closed") }
        }
        store.unsubscribe(subscription: 1)  // harmless when closed
    }

    func testAStoreFileThatCannotBeCreatedIsAStorageError() {
        guard case .Storage? = storeError(try Store.open(path: dir.path("no/such/dir/lead.db"), key: nil)) else {
            return XCTFail("a path that cannot be created is Storage")
        }
    }
}
