// Phone-to-phone sync through startSync / acceptSync / receive, carried in
// memory. Two stores that are not enrolled sync in open mode.
import Foundation
import Silin
import XCTest

final class SyncTests: XCTestCase {
    var dir: TempDir!
    var lead: Store!
    var worker: Store!

    override func setUpWithError() throws {
        dir = try TempDir()
        lead = try Store.open(path: dir.path("lead.db"), key: nil)
        worker = try Store.open(path: dir.path("worker.db"), key: nil)
    }

    override func tearDown() {
        lead?.close()
        worker?.close()
        lead = nil
        worker = nil
        dir = nil
    }

    func testGridWorkerReceivesTheLeadsCell() throws {
        let ids = try makeLeadCell(lead)
        _ = try lead.recordVisit(
            cellId: ids.cell,
            visit: NewVisit(
                kind: .healthCheck, by: "王建国", memberId: ids.returnee, at: at("09:00"), temperature: 37.9))
        XCTAssertEqual(try worker.cells(scope: []), [])

        let (started, accepted) = try carrySync(from: lead, to: worker)
        XCTAssertTrue(started.isDone())
        XCTAssertEqual(started.stats().docsSent, 1)
        XCTAssertGreaterThan(started.stats().roundTrips, 0)
        XCTAssertGreaterThan(started.stats().bytesUp, 0)
        XCTAssertEqual(accepted.stats().docsReceived, 1)

        XCTAssertEqual(try worker.cell(cellId: ids.cell), try lead.cell(cellId: ids.cell))
        XCTAssertEqual(try worker.underMonitoring(day: day).map(\.memberId), [ids.returnee])
        XCTAssertEqual(try worker.visitsOn(day: day).filter(\.abnormal).count, 1)
    }

    func testSyncBackAndForthConverges() throws {
        let ids = try makeLeadCell(lead)
        try carrySync(from: lead, to: worker)
        // The worker records a visit; the lead syncs from its side.
        _ = try worker.recordVisit(
            cellId: ids.cell,
            visit: NewVisit(kind: .call, by: "网格员张丽", householdId: ids.liHousehold, at: at("11:00")))
        try carrySync(from: lead, to: worker)
        XCTAssertEqual(try lead.cell(cellId: ids.cell).visits.map(\.by), ["网格员张丽"])
        XCTAssertEqual(try lead.cell(cellId: ids.cell), try worker.cell(cellId: ids.cell))
    }

    func testSyncWithNothingNewSendsNothing() throws {
        let ids = try makeLeadCell(lead)
        try carrySync(from: lead, to: worker)
        let (started, accepted) = try carrySync(from: worker, to: lead)
        XCTAssertTrue(started.isDone())
        XCTAssertEqual(started.stats().docsSent, 0)
        XCTAssertEqual(started.stats().docsReceived, 0)
        XCTAssertEqual(accepted.stats().docsReceived, 0)
        XCTAssertEqual(try lead.cell(cellId: ids.cell), try worker.cell(cellId: ids.cell))
    }

    func testConcurrentEditsBecomeAConflictAndBothPhonesAgree() throws {
        let ids = try makeLeadCell(lead)
        try carrySync(from: lead, to: worker)

        // Offline, both phones change the same fields.
        try lead.editMember(memberId: ids.returnee, edits: [.setPhone(phone: "13900000001")])
        try worker.editMember(memberId: ids.returnee, edits: [.setPhone(phone: "13900000002")])
        try lead.renameCell(cellId: ids.cell, name: "三组第5联户（王）")
        try worker.renameCell(cellId: ids.cell, name: "三组第5联户（张）")

        try carrySync(from: worker, to: lead)

        let leadView = try lead.cell(cellId: ids.cell)
        let workerView = try worker.cell(cellId: ids.cell)
        XCTAssertEqual(leadView, workerView, "after sync both phones show the same cell")

        let conflicts = try lead.conflicts(cellId: ids.cell)
        XCTAssertEqual(conflicts, try worker.conflicts(cellId: ids.cell))
        XCTAssertEqual(conflicts, leadView.conflicts)
        let phone = try XCTUnwrap(conflicts.first { $0.path.hasSuffix("/phone") })
        XCTAssertTrue(phone.path.contains(ids.returnee))
        XCTAssertEqual(Set(phone.values), ["13900000001", "13900000002"], "every value is kept")
        let name = try XCTUnwrap(conflicts.first { $0.path == "cell/name" })
        XCTAssertEqual(Set(name.values), ["三组第5联户（王）", "三组第5联户（张）"])

        // One value is shown, the same on both phones.
        let shown = try lead.member(memberId: ids.returnee).phone
        XCTAssertEqual(shown, try worker.member(memberId: ids.returnee).phone)
        XCTAssertTrue(["13900000001", "13900000002"].contains(shown ?? ""))
    }

    func testFinishedSessionRefusesMoreMessages() throws {
        _ = try makeLeadCell(lead)
        let (started, _) = try carrySync(from: lead, to: worker)
        guard case .SessionFailed(let detail)? = syncError(try started.receive(message: Data([1, 2, 3]))) else {
            return XCTFail("a finished session fails with SessionFailed")
        }
        XCTAssertFalse(detail.isEmpty)
    }

    func testMessageFromAnotherSessionFailsTheSession() throws {
        _ = try makeLeadCell(lead)
        let mine = try lead.startSync(peerDeviceId: nil)
        let theirs = try worker.startSync(peerDeviceId: nil)
        // Two openings crossed: the initiator gets the other's opening.
        guard case .SessionFailed? = syncError(try mine.session.receive(message: theirs.message)) else {
            return XCTFail("a message out of order fails with SessionFailed")
        }
        // A fresh sync still works: nothing was lost.
        try carrySync(from: lead, to: worker)
        XCTAssertEqual(try worker.cells(scope: []).count, 1)
    }

    func testAReplayedRoundFailsTheResponder() throws {
        _ = try makeLeadCell(lead)
        let start = try lead.startSync(peerDeviceId: nil)
        let responder = try worker.acceptSync()
        let reply = try XCTUnwrap(try responder.receive(message: start.message))
        let round = try XCTUnwrap(try start.session.receive(message: reply), "a cell to send: a first round")
        _ = try responder.receive(message: round)
        guard case .SessionFailed? = syncError(try responder.receive(message: round)) else {
            return XCTFail("a round replayed into the session is SessionFailed")
        }
        // The opening again, into a session that is already running.
        let fresh = try worker.acceptSync()
        _ = try fresh.receive(message: start.message)
        guard case .SessionFailed? = syncError(try fresh.receive(message: start.message)) else {
            return XCTFail("an opening replayed into a running session is SessionFailed")
        }
    }

    func testAStoreThatAcceptedCanAlsoStart() throws {
        let leadCell = try makeLeadCell(lead).cell
        let otherCell = try worker.createCell(name: "二组第1联户", regionPath: "两当县/城关镇/东关村/二组", lead: nil)
        try carrySync(from: worker, to: lead)
        XCTAssertEqual(Set(try lead.cells(scope: []).map(\.id)), [leadCell, otherCell])
        XCTAssertEqual(Set(try worker.cells(scope: []).map(\.id)), [leadCell, otherCell])

        // The other way round, naming the peer known from the first sync.
        let start = try lead.startSync(peerDeviceId: try worker.identity().deviceId)
        let accepted = try worker.acceptSync()
        var message: Data? = try accepted.receive(message: start.message)
        while let m = message {
            guard let next = try start.session.receive(message: m) else { break }
            message = try accepted.receive(message: next)
        }
        XCTAssertTrue(start.session.isDone())
        XCTAssertEqual(try lead.cell(cellId: otherCell), try worker.cell(cellId: otherCell))
    }

    func testGarbageIsMalformedAndAppliesNothing() throws {
        _ = try makeLeadCell(lead)
        let accepted = try worker.acceptSync()
        guard case .Malformed? = syncError(try accepted.receive(message: Data("hello, not silin".utf8))) else {
            return XCTFail("garbage fails with Malformed")
        }
        XCTAssertEqual(try worker.cells(scope: []), [])
    }
}
