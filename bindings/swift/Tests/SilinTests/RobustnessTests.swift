// Nothing crosses the FFI but StoreError and SyncError: no panic for
// malformed bytes, bad ids, closed stores, or eight threads at once.
// A Rust panic would surface as UniffiInternalError (or abort the process).
import Dispatch
import Foundation
import Silin
import XCTest

/// Counts, thread-safely, how calls ended.
final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var ok = 0
    private(set) var storeErrors = 0
    private(set) var syncErrors = 0
    private(set) var unexpected: [String] = []

    func run(_ body: () throws -> Void) {
        do {
            try body()
            record { ok += 1 }
        } catch is StoreError {
            record { storeErrors += 1 }
        } catch is SyncError {
            record { syncErrors += 1 }
        } catch {
            let text = "\(type(of: error)): \(error)"
            record { unexpected.append(text) }
        }
    }

    private func record(_ change: () -> Void) {
        lock.lock()
        defer { lock.unlock() }
        change()
    }
}

final class RobustnessTests: XCTestCase {
    var dir: TempDir!

    override func setUpWithError() throws {
        dir = try TempDir()
    }

    override func tearDown() {
        dir = nil
    }

    /// Byte strings that are not silin messages, and damaged real ones.
    func malformedMessages(from real: Data) -> [Data] {
        var messages: [Data] = [
            Data(), Data([0]), Data([0xFF, 0xFF, 0xFF, 0xFF]), Data("SLNS".utf8),
            Data(repeating: 0xAB, count: 4096), Data("{\"cell\": 1}".utf8),
        ]
        for cut in [1, 4, 8, 16, real.count / 2, real.count - 1] where cut > 0 && cut < real.count {
            messages.append(real.prefix(cut))
        }
        for position in stride(from: 0, to: real.count, by: max(1, real.count / 16)) {
            var bytes = [UInt8](real)
            bytes[position] ^= 0x5A
            messages.append(Data(bytes))
        }
        messages.append(real + real)
        return messages
    }

    func testMalformedBytesAreErrorsNotCrashes() throws {
        let lead = try Store.open(path: dir.path("lead.db"), key: nil)
        let worker = try Store.open(path: dir.path("worker.db"), key: nil)
        defer {
            lead.close()
            worker.close()
        }
        _ = try makeLeadCell(lead)
        let bundle = try lead.exportBundle(cells: [], forPeer: nil).data
        let opening = try lead.startSync(peerDeviceId: nil).message
        let outcomes = Outcomes()

        for bytes in malformedMessages(from: bundle) {
            outcomes.run { _ = try worker.importBundle(data: bytes) }
        }
        for bytes in malformedMessages(from: opening) {
            outcomes.run { _ = try worker.acceptSync().receive(message: bytes) }
            outcomes.run { _ = try lead.startSync(peerDeviceId: nil).session.receive(message: bytes) }
        }
        XCTAssertEqual(outcomes.unexpected, [])
        XCTAssertGreaterThan(outcomes.syncErrors, 0)
        // The stores still work.
        try carrySync(from: lead, to: worker)
        XCTAssertEqual(try worker.cells(scope: []).count, 1)
    }

    func testBadIdsAndValuesAreErrorsNotCrashes() throws {
        let store = try Store.open(path: dir.path("lead.db"), key: nil)
        defer { store.close() }
        let ids = try makeLeadCell(store)
        let outcomes = Outcomes()
        let badIds = [
            "", " ", "not-an-id", "00000000-0000-0000-0000-000000000000", String(repeating: "9", count: 10_000),
            "01a226b4-6c8a-7688-a4dc-bb5b33203df7", "'; DROP TABLE cells; --", "\u{0}", "🏠", ids.elderly,
        ]
        for id in badIds {
            outcomes.run { _ = try store.cell(cellId: id) }
            outcomes.run { _ = try store.member(memberId: id) }
            outcomes.run { _ = try store.conflicts(cellId: id) }
            outcomes.run { _ = try store.addHousehold(cellId: id, household: NewHousehold()) }
            outcomes.run { _ = try store.addMember(householdId: id, member: NewMember(name: "测试")) }
            outcomes.run { try store.editMember(memberId: id, edits: [.setName(name: "测试")]) }
            outcomes.run { _ = try store.recordVisit(cellId: id, visit: NewVisit(kind: .call, by: "x")) }
            outcomes.run { try store.setTaskStatus(cellId: ids.cell, taskId: id, status: .cancelled) }
            outcomes.run { _ = try store.startSync(peerDeviceId: id) }
            outcomes.run { _ = try store.exportBundle(cells: [id], forPeer: id) }
            outcomes.run { _ = try store.underMonitoring(day: id) }
            outcomes.run { _ = try checkResidentId(idNumber: id) }
        }
        for value in [Double.nan, .infinity, -.infinity, .greatestFiniteMagnitude, 0] {
            outcomes.run {
                _ = try store.recordVisit(
                    cellId: ids.cell, visit: NewVisit(kind: .healthCheck, by: "x", memberId: ids.returnee, temperature: value))
            }
        }
        for year in [Int64.min, -1, 0, Int64.max] {
            outcomes.run { try store.editMember(memberId: ids.elderly, edits: [.setBirthYear(year: year)]) }
            outcomes.run { try store.editMember(memberId: ids.elderly, edits: [.setVaccinationDoses(doses: year)]) }
        }
        outcomes.run {
            try store.submitReport(
                cellId: ids.cell, report: NewReport(date: day, by: "", arrivals: -5, abnormal: Int64.max))
        }
        XCTAssertEqual(outcomes.unexpected, [])
        XCTAssertGreaterThan(outcomes.storeErrors, 0)
        XCTAssertEqual(try store.cell(cellId: ids.cell).visits.filter { $0.temperature.map { !$0.isFinite } ?? false }, [])
    }

    func testEightThreadsAtOnceWhileTheStoreCloses() throws {
        let store = try Store.open(path: dir.path("lead.db"), key: nil)
        let peer = try Store.open(path: dir.path("peer.db"), key: nil)
        defer { peer.close() }
        let ids = try makeLeadCell(store)
        let recorder = Recorder()
        _ = try store.subscribe(observer: recorder)
        let outcomes = Outcomes()
        let rounds = 12

        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for round in 0..<rounds {
                outcomes.run {
                    _ = try store.recordVisit(
                        cellId: ids.cell,
                        visit: NewVisit(
                            kind: .healthCheck, by: "线程\(thread)", memberId: ids.returnee,
                            at: at(String(format: "%02d:%02d", 8 + thread, round)), temperature: 36.0 + Double(round) / 10))
                }
                outcomes.run {
                    _ = try store.recordVisit(
                        cellId: ids.cell, visit: NewVisit(kind: .healthCheck, by: "x", memberId: ids.returnee, temperature: 99))
                }
                outcomes.run { _ = try store.cell(cellId: ids.cell) }
                outcomes.run { _ = try store.visitsOn(day: day) }
                outcomes.run { _ = try store.underMonitoring(day: day) }
                outcomes.run { _ = try store.rollup(day: day, level: .village) }
                outcomes.run { try store.editMember(memberId: ids.elderly, edits: [.setVaccinationDoses(doses: Int64(round))]) }
                outcomes.run { _ = try store.member(memberId: "not-an-id") }
                outcomes.run { _ = try store.importBundle(data: Data([UInt8(thread), UInt8(round), 0, 1, 2])) }
                outcomes.run { _ = try store.acceptSync().receive(message: Data([0, 1])) }
                outcomes.run { _ = try store.exportBundle(cells: [], forPeer: nil) }
                if round % 4 == 0 {
                    outcomes.run { try carrySync(from: store, to: peer) }
                    outcomes.run { try carrySync(from: peer, to: store) }
                }
                if thread == 7 && round == rounds - 3 {
                    store.close()
                }
            }
        }

        XCTAssertEqual(outcomes.unexpected, [], "only StoreError / SyncError may cross the FFI")
        XCTAssertTrue(store.isClosed())
        XCTAssertGreaterThan(outcomes.ok, 0)
        XCTAssertFalse(recorder.seen.isEmpty)

        // Whatever was committed before the close is intact.
        let reopened = try Store.open(path: dir.path("lead.db"), key: nil)
        defer { reopened.close() }
        let view = try reopened.cell(cellId: ids.cell)
        XCTAssertTrue(view.visits.allSatisfy { ($0.temperature ?? 36) < 43 })
        XCTAssertEqual(try reopened.identity().deviceId.isEmpty, false)
    }
}
