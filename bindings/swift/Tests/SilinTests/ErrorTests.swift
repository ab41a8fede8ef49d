// Failures arrive as StoreError / SyncError cases with fields an app can
// act on: which form field, which id, which key.
import Foundation
import Silin
import XCTest

final class ErrorTests: XCTestCase {
    var dir: TempDir!
    var store: Store!
    var ids: LeadCell!

    override func setUpWithError() throws {
        dir = try TempDir()
        store = try Store.open(path: dir.path("lead.db"), key: nil)
        ids = try makeLeadCell(store)
    }

    override func tearDown() {
        store?.close()
        store = nil
        dir = nil
    }

    func testTemperatureOutOfRangeIsInvalidAndNothingIsWritten() throws {
        for temperature in [45.5, 20.0, -1.0] {
            assertInvalid(
                "temperature",
                try store.recordVisit(
                    cellId: ids.cell,
                    visit: NewVisit(kind: .healthCheck, by: "王建国", memberId: ids.returnee, temperature: temperature)))
        }
        XCTAssertEqual(try store.cell(cellId: ids.cell).visits, [])
    }

    func testHealthCheckNeedsAMember() {
        assertInvalid(
            "member",
            try store.recordVisit(cellId: ids.cell, visit: NewVisit(kind: .healthCheck, by: "王建国", temperature: 36.5)))
    }

    func testBadPhoneIsInvalid() {
        assertInvalid(
            "phone", try store.addMember(householdId: ids.liHousehold, member: NewMember(name: "李四", phone: "12345")))
        assertInvalid(
            "phone", try store.editMember(memberId: ids.elderly, edits: [.setPhone(phone: "call me")]))
        assertInvalid("phone", try store.addHousehold(cellId: ids.cell, household: NewHousehold(phone: "0000")))
    }

    func testBadDatesAreInvalid() {
        assertInvalid(
            "monitoring_until",
            try store.editMember(memberId: ids.returnee, edits: [.setMonitoringUntil(date: "2026-13-40")]))
        assertInvalid("day", try store.underMonitoring(day: "yesterday"))
        assertInvalid("day", try store.visitsOn(day: "28/11/2026"))
        assertInvalid(
            "date",
            try store.submitReport(
                cellId: ids.cell, report: NewReport(date: "2026/11/28", by: "王建国", arrivals: 0, abnormal: 0)))
        assertInvalid("due", try store.addTask(cellId: ids.cell, task: NewTask(title: "买菜", due: "tomorrow")))
        assertInvalid(
            "at", try store.recordVisit(cellId: ids.cell, visit: NewVisit(kind: .call, by: "王建国", at: "9 o'clock")))
    }

    func testResidentIdCheckDigitIsInvalid() {
        assertInvalid("id_number", try checkResidentId(idNumber: "110105194912310021"))
        assertInvalid(
            "id_number",
            try store.addMember(
                householdId: ids.liHousehold, member: NewMember(name: "李四", idNumber: "110105194912310021")))
    }

    func testOtherFieldRules() {
        assertInvalid("name", try store.addMember(householdId: ids.liHousehold, member: NewMember(name: "")))
        assertInvalid("path", try store.createCell(name: "无路径", regionPath: "两当县", lead: nil))
        assertInvalid("cell", try store.cell(cellId: "not-an-id"))
    }

    func testUnknownIdsAreNotFound() {
        let nobody = "00000000-0000-0000-0000-000000000000"
        guard case let .NotFound(what, id)? = storeError(try store.member(memberId: nobody)) else {
            return XCTFail("an unknown member is NotFound")
        }
        XCTAssertEqual(what, "member")
        XCTAssertEqual(id, nobody)
        guard case .NotFound(let task, _)? = storeError(
            try store.setTaskStatus(cellId: ids.cell, taskId: nobody, status: .done))
        else { return XCTFail("an unknown task is NotFound") }
        XCTAssertEqual(task, "task")
        guard case .NotFound? = storeError(try store.cell(cellId: "01a226b4-6c8a-7688-a4dc-bb5b33203df7")) else {
            return XCTFail("an unknown cell is NotFound")
        }
    }

    func testWrongKeyDoesNotOpenTheFile() throws {
        let path = dir.path("sealed.db")
        let key = String(repeating: "ab", count: 32)
        let sealed = try Store.open(path: path, key: key)
        let cell = try sealed.createCell(name: "加密联户", regionPath: regionPath, lead: nil)
        sealed.close()

        for wrong in [nil, String(repeating: "cd", count: 32), "a passphrase"] as [String?] {
            guard case .WrongKey(let detail)? = storeError(try Store.open(path: path, key: wrong)) else {
                return XCTFail("key \(wrong ?? "nil") should be WrongKey")
            }
            XCTAssertFalse(detail.isEmpty)
        }
        // A key for a plaintext store is wrong too.
        guard case .WrongKey? = storeError(try Store.open(path: dir.path("lead.db"), key: key)) else {
            return XCTFail("a key for a plaintext store is WrongKey")
        }
        // The right key still opens it: nothing was touched.
        let reopened = try Store.open(path: path, key: key)
        XCTAssertEqual(try reopened.cells(scope: []).map(\.id), [cell])
        reopened.close()
    }

    func testClosedStoreFailsWithClosed() throws {
        store.close()
        guard case .Closed? = storeError(try store.cell(cellId: ids.cell)) else {
            return XCTFail("a closed store's register calls fail with StoreError.Closed")
        }
        guard case .Closed? = syncError(try store.exportBundle(cells: [], forPeer: nil)) else {
            return XCTFail("a closed store's sync calls fail with SyncError.Closed")
        }
    }

    func testAnotherProgramsSQLiteFileIsIncompatibleAndUntouched() throws {
        let url = URL(fileURLWithPath: dir.path("contacts.db"))
        let original = foreignSQLiteFile()
        try original.write(to: url)
        guard case .Incompatible(let detail)? = storeError(try Store.open(path: url.path, key: nil)) else {
            return XCTFail("another program's SQLite file is Incompatible")
        }
        XCTAssertFalse(detail.isEmpty)
        XCTAssertEqual(try Data(contentsOf: url), original, "the file is left as it was")
    }

    func testAnEmptyPathIsInvalid() {
        assertInvalid("path", try Store.open(path: "", key: nil))
    }

    func testUnreachableOrBadHubIsASyncError() {
        guard case .BadHubUrl(let url, _)? = syncError(try store.syncWithHub(hubUrl: "not a url")) else {
            return XCTFail("a bad hub URL is BadHubUrl")
        }
        XCTAssertEqual(url, "not a url")
        guard case .BadToken? = syncError(try store.enroll(hubUrl: "http://127.0.0.1:9", token: "not a token")) else {
            return XCTFail("a token not of the printed form is BadToken")
        }
        // Port 9 (discard) on loopback: refused at once, no waiting.
        guard case .HubUnreachable(let unreachable, _)? = syncError(try store.syncWithHub(hubUrl: "http://127.0.0.1:9"))
        else { return XCTFail("a hub that does not answer is HubUnreachable") }
        XCTAssertEqual(unreachable, "http://127.0.0.1:9")
    }

    func testErrorsDescribeThemselves() {
        let error = storeError(try checkResidentId(idNumber: "123"))
        XCTAssertNotNil(error?.errorDescription)
    }
}

/// A 1 KiB SQLite database (page size 512) of another program, holding one
/// table `contacts (name TEXT)`: written byte by byte, since Swift on Linux
/// has no SQLite module to make one.
func foreignSQLiteFile() -> Data {
    var bytes = [UInt8](repeating: 0, count: 1024)
    let runs: [(Int, String)] = [
        (0, "53514c69746520666f726d61742033"), (16, "02"), (18, "0101"), (21, "402020"), (27, "01"),
        (31, "02"), (43, "01"), (47, "04"), (59, "01"), (95, "01"), (97, "2e63010d"), (104, "0101c1"),
        (108, "01c1"),
        (449, "3d0106171d1d014f7461626c65636f6e7461637473636f6e746163747302435245415445205441424c4520636f6e746163747320286e616d652054455854290d"),
        (517, "02"),
    ]
    for (offset, hex) in runs {
        var index = hex.startIndex
        var at = offset
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes[at] = UInt8(hex[index..<next], radix: 16)!
            at += 1
            index = next
        }
    }
    return Data(bytes)
}
