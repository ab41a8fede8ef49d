// Store.openAt: an app's tests fix the day the store lives on, so what it
// dates by itself (a visit or task given no time) is the same whatever day
// the tests run.
import Foundation
import Silin
import XCTest

final class OpenAtTests: XCTestCase {
    func testAStoreOpenedAtASetTimeDatesItsRecordsByThatClock() throws {
        let dir = try TempDir()
        let path = dir.path("leap-day.db")
        let store = try Store.openAt(path: path, key: nil, now: "2028-02-29T23:30:00+08:00")
        defer { store.close() }
        let cell = try store.createCell(name: "三组第5联户", regionPath: regionPath, lead: "王建国")
        let household = try store.addHousehold(cellId: cell, household: NewHousehold(address: "东关村三组12号"))
        let knock = try store.recordVisit(
            cellId: cell, visit: NewVisit(kind: .doorKnock, by: "王建国", householdId: household))
        XCTAssertEqual(try store.visitsOn(day: "2028-02-29").map(\.visitId), [knock])
        _ = try store.addTask(cellId: cell, task: NewTask(title: "送药", householdId: household))
        XCTAssertEqual(try store.cell(cellId: cell).tasks.count, 1)
        // The same file on the phone's clock is refused while this is open.
        assertInvalid("now", try Store.open(path: path, key: nil))

        let never = dir.path("never.db")
        for bad in ["2028-02-30", "next week"] {
            assertInvalid("now", try Store.openAt(path: never, key: nil, now: bad))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: never), "a refused time makes no file")
    }
}
