// The hand-written async layer: live query streams, the sync status
// stream, awaitable calls and the log. "Nothing emitted" is checked
// without a clock: after an irrelevant change a relevant one is made, and
// the next element must be the relevant one.
import Foundation
import Silin
import XCTest

final class LiveTests: XCTestCase {
    var dir: TempDir!

    override func setUpWithError() throws { dir = try TempDir() }
    override func tearDown() { dir = nil }

    func testACellStreamYieldsAfterEachCommitToThatCellOnly() async throws {
        let store = try Store.open(path: dir.path("lead.db"), key: nil)
        let cell = try store.createCell(name: "三组第5联户", regionPath: regionPath, lead: nil)
        let other = try store.createCell(name: "三组第6联户", regionPath: regionPath, lead: nil)
        var views = store.cellStream(cellId: cell).makeAsyncIterator()

        let first = try await views.next()
        XCTAssertEqual(first, try store.cell(cellId: cell))

        let household = try store.addHousehold(cellId: cell, household: NewHousehold(address: "东关村三组12号"))
        let second = try await views.next()
        XCTAssertEqual(second?.households.map(\.id), [household])
        // Committed: another handle on the file reads the same.
        XCTAssertEqual(second, try Store.open(path: dir.path("lead.db"), key: nil).cell(cellId: cell))

        _ = try store.addHousehold(cellId: other, household: NewHousehold(address: "elsewhere"))
        try store.renameCell(cellId: cell, name: "三组第5联户(东)")
        let third = try await views.next()
        XCTAssertEqual(third?.cell.name, "三组第5联户(东)", "nothing came for the other cell")
        store.close()
    }

    func testListsYieldOnlyWhenTheirAnswerChanges() async throws {
        let store = try Store.open(path: dir.path("lead.db"), key: nil)
        let cell = try store.createCell(name: "三组第5联户", regionPath: regionPath, lead: nil)
        let home = try store.addHousehold(cellId: cell, household: NewHousehold())
        var tasks = store.openTasksStream(cellId: cell).makeAsyncIterator()
        let none = try await tasks.next()
        XCTAssertEqual(none, [])
        let errand = try store.addTask(cellId: cell, task: NewTask(title: "买药"))
        let one = try await tasks.next()
        XCTAssertEqual(one?.map(\.id), [errand])
        // A visit changes the cell but not its open tasks.
        _ = try store.recordVisit(cellId: cell, visit: NewVisit(kind: .doorKnock, by: "lead", householdId: home))
        try store.setTaskStatus(cellId: cell, taskId: errand, status: .done)
        let done = try await tasks.next()
        XCTAssertEqual(done, [], "the visit yielded nothing")

        var vulnerable = store.vulnerableMembersStream().makeAsyncIterator()
        let nobody = try await vulnerable.next()
        XCTAssertEqual(nobody, [])
        _ = try store.addMember(householdId: home, member: NewMember(name: "张三"))
        _ = try store.addMember(householdId: home, member: NewMember(name: "李秀英", vulnerable: [.elderly]))
        let elderly = try await vulnerable.next()
        XCTAssertEqual(elderly?.map(\.name), ["李秀英"])
        store.close()
    }

    func testAStreamOnAClosedStoreEndsWithClosed() async throws {
        let store = try Store.open(path: dir.path("lead.db"), key: nil)
        store.close()
        do {
            for try await _ in store.cellsStream() {}
            XCTFail("a closed store yields nothing")
        } catch StoreError.Closed {
        }
    }

    func testAwaitableCallsAndThePhoneToPhoneStatus() async throws {
        let a = try Store.open(path: dir.path("a.db"), key: nil)
        let b = try Store.open(path: dir.path("b.db"), key: nil)
        let cell = try a.createCell(name: "三组第5联户", regionPath: regionPath, lead: nil)
        let c = try Store.open(path: dir.path("c.db"), key: nil)
        let bundle = try await a.exportBundleAsync(cells: [cell], forPeer: nil)
        let imported = try await c.importBundleAsync(data: bundle.data)
        XCTAssertEqual(imported.cells, 1)
        XCTAssertEqual(try c.cell(cellId: cell), try a.cell(cellId: cell))
        c.close()

        var statuses = b.syncStatuses().makeAsyncIterator()
        let idle = await statuses.next()
        XCTAssertEqual(idle?.phase, .idle)
        XCTAssertNil(idle?.lastSynced)

        let start = try a.startSync(peerDeviceId: nil)
        let responder = try b.acceptSync()
        var message = start.message
        while true {
            guard let reply = try await responder.receiveAsync(message: message) else {
                return XCTFail("only the starting side ends a session")
            }
            guard let next = try await start.session.receiveAsync(message: reply) else { break }
            message = next
        }
        if let closing = start.session.closeMessage() {
            let none = try await responder.receiveAsync(message: closing)
            XCTAssertNil(none)
        }
        var phases: [SyncPhase] = []
        var last: SyncStatus?
        while let s = await statuses.next() {
            phases.append(s.phase)
            last = s
            if s.phase == .idle { break }
        }
        XCTAssertTrue(phases.contains(.receiving), "\(phases)")
        XCTAssertEqual(last?.cellsDone, 1)
        XCTAssertNotNil(last?.lastSynced)
        XCTAssertNil(last?.lastError)
        XCTAssertEqual(try b.cell(cellId: cell), try a.cell(cellId: cell))

        // A hub sync to nowhere fails typed, and shows as the last error.
        do {
            _ = try await b.sync(hubUrl: "http://127.0.0.1:9")
            XCTFail("no hub listens there")
        } catch SyncError.HubUnreachable {
        }
        XCTAssertNotNil(b.syncStatus().lastError)
        a.close()
        b.close()
    }

    func testTheLogNamesNoOne() throws {
        let lines = Lines()
        setLogger(level: .trace) { level, target, message in lines.add("\(level) \(target) \(message)") }
        defer { clearLogger() }
        let a = try Store.open(path: dir.path("a.db"), key: nil)
        let b = try Store.open(path: dir.path("b.db"), key: nil)
        let cell = try a.createCell(name: "标记联户", regionPath: regionPath, lead: "标记组长")
        let home = try a.addHousehold(cellId: cell, household: NewHousehold(address: "标记地址", phone: "13987654321"))
        _ = try a.addMember(householdId: home, member: NewMember(name: "标记王某", idNumber: "11010519491231002X"))
        _ = try carrySync(from: a, to: b)
        let text = lines.all.joined(separator: "\n")
        XCTAssertTrue(text.contains("sync session finished"), text)
        for marker in ["标记", "13987654321", "11010519491231002X"] {
            XCTAssertFalse(text.contains(marker), "the log carries \(marker):\n\(text)")
        }
        a.close()
        b.close()
    }
}

final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
