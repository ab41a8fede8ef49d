import Foundation
import Silin
import XCTest

@testable import LeadKit

final class PeerSyncTests: XCTestCase {
    @MainActor
    func testLeadSyncsWithANearbyGridWorker() async throws {
        let f = try Fixture()
        let worker = try f.otherStore("worker.db")
        defer { worker.close() }
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()

        let (mine, theirs) = MemoryPeerLink.pair()
        async let workerSide = PeerSync.accept(store: worker, over: theirs)
        await model.syncWithNearby(mine, starting: true, peerName: "网格员张丽")
        let workerStats = try await workerSide

        guard case .done(let peer, let stats) = model.syncStatus else {
            return XCTFail("expected a finished sync, got \(model.syncStatus)")
        }
        XCTAssertEqual(peer, "网格员张丽")
        XCTAssertEqual(stats.docsSent, 1)
        XCTAssertEqual(workerStats.docsReceived, 1)
        XCTAssertEqual(try worker.cell(cellId: f.cell), try f.store.cell(cellId: f.cell))
        let left = await mine.pending() + theirs.pending()
        XCTAssertEqual(left, 0, "no frame is left on the link")

        // silin's status went through the sync's steps to idle, with the figures.
        await model.pendingStatus?.value
        XCTAssertEqual(model.progress.phase, .idle)
        XCTAssertEqual(model.progress.cellsDone, 1)
        XCTAssertEqual(model.progress.cellsTotal, 1)
        XCTAssertGreaterThan(model.progress.bytesUp, 0)
        XCTAssertNotNil(model.progress.lastSynced)
        XCTAssertNil(model.progress.lastError)
        XCTAssertEqual(model.progressLine, "Last synced \(model.progress.lastSynced!)")
    }

    @MainActor
    func testLeadAcceptsAGridWorkersSyncAndSeesTheirVisit() async throws {
        let f = try Fixture()
        let worker = try f.otherStore("worker.db")
        defer { worker.close() }
        _ = try worker.importBundle(data: try f.store.exportBundle(cells: [], forPeer: nil).data)
        _ = try worker.recordVisit(
            cellId: f.cell,
            visit: NewVisit(kind: .healthCheck, by: "网格员张丽", memberId: f.elderly, temperature: 36.4))

        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()
        XCTAssertEqual(model.todaysVisits, [])

        let (mine, theirs) = MemoryPeerLink.pair()
        async let workerSide = PeerSync.start(store: worker, over: theirs)
        await model.syncWithNearby(mine, starting: false)
        _ = try await workerSide

        guard case .done = model.syncStatus else { return XCTFail("expected done, got \(model.syncStatus)") }
        XCTAssertEqual(model.todaysVisits.count, 1)
        XCTAssertEqual(model.cell?.visits.first?.by, "网格员张丽")
        XCTAssertEqual(try worker.cell(cellId: f.cell), try f.store.cell(cellId: f.cell))
    }

    @MainActor
    func testConcurrentEditsShowAsAConflictOnBothPhones() async throws {
        let f = try Fixture()
        let worker = try f.otherStore("worker.db")
        defer { worker.close() }
        _ = try worker.importBundle(data: try f.store.exportBundle(cells: [], forPeer: nil).data)
        try f.store.editMember(memberId: f.elderly, edits: [.setPhone(phone: "13900000001")])
        try worker.editMember(memberId: f.elderly, edits: [.setPhone(phone: "13900000002")])

        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        let (mine, theirs) = MemoryPeerLink.pair()
        async let workerSide = PeerSync.accept(store: worker, over: theirs)
        await model.syncWithNearby(mine, starting: true)
        _ = try await workerSide

        let conflicts = try XCTUnwrap(model.cell?.conflicts)
        XCTAssertEqual(conflicts.count, 1)
        XCTAssertEqual(Set(conflicts.first?.values ?? []), ["13900000001", "13900000002"])
        // The same conflict on the worker's phone. (Not the whole cell: after
        // 20:00 the lead's model raises a report reminder once the sync is
        // done, which the worker has not seen yet.)
        XCTAssertEqual(try worker.cell(cellId: f.cell).conflicts, conflicts)
    }

    @MainActor
    func testGarbageFromThePeerFailsTheSyncAndTellsThePeer() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        let (mine, theirs) = MemoryPeerLink.pair()
        try await theirs.send(PeerSync.encode(.message(Data("not a silin message".utf8))))

        await model.syncWithNearby(mine, starting: false)

        guard case .failed(let text) = model.syncStatus else {
            return XCTFail("expected a failed sync, got \(model.syncStatus)")
        }
        XCTAssertFalse(text.isEmpty)
        let answer = try PeerSync.decode(try await theirs.receive())
        guard case .failed = answer else { return XCTFail("the peer is told the sync failed, got \(answer)") }
    }

    @MainActor
    func testAFrameOfAnotherProtocolFailsTheSync() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        let (mine, theirs) = MemoryPeerLink.pair()
        try await theirs.send(Data([0x7F, 1, 2, 3]))
        await model.syncWithNearby(mine, starting: false)
        XCTAssertEqual(model.syncStatus, .failed(PeerSyncError.badFrame.description))
    }

    @MainActor
    func testAPeerThatGivesUpEndsTheSync() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        let (mine, theirs) = MemoryPeerLink.pair()
        try await theirs.send(PeerSync.encode(.failed("battery low")))
        await model.syncWithNearby(mine, starting: true)
        XCTAssertEqual(
            model.syncStatus, .failed(PeerSyncError.peerFailed(reason: "battery low").description))
    }

    func testFramesRoundTrip() throws {
        for frame in [PeerSync.Frame.message(Data([1, 2, 3])), .message(Data()), .finished, .failed("原因")] {
            XCTAssertEqual(try PeerSync.decode(PeerSync.encode(frame)), frame)
        }
        XCTAssertThrowsError(try PeerSync.decode(Data()))
        XCTAssertThrowsError(try PeerSync.decode(Data([PeerSync.finishedTag, 0x01])), "finished carries nothing")
        XCTAssertThrowsError(try PeerSync.decode(Data([0x00])), "0x00 is no frame")
    }
}
