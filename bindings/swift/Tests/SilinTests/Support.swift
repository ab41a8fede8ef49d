// Shared fixtures for the Silin suites: temporary stores, the lead's cell,
// carrying a sync between two stores, and checks that a call failed with
// the right StoreError / SyncError.
import Foundation
import Silin
import XCTest

/// A fixed day in the past, so that no rule about future dates applies.
let day = "2026-11-28"
let regionPath = "两当县/城关镇/东关村/三组"

func at(_ time: String) -> String { "\(day)T\(time):00+08:00" }

/// A directory removed when the test case ends.
final class TempDir {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("silin-swift-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// The ids of a small cell: two households, a returnee under monitoring and
/// an elderly woman living alone.
struct LeadCell {
    let cell: String
    let wangHousehold: String
    let liHousehold: String
    let lead: String
    let returnee: String
    let elderly: String
}

func makeLeadCell(_ store: Store) throws -> LeadCell {
    let cell = try store.createCell(name: "三组第5联户", regionPath: regionPath, lead: "王建国")
    let wang = try store.addHousehold(
        cellId: cell,
        household: NewHousehold(address: "东关村三组12号", door: "12", phone: "13912345678"))
    let li = try store.addHousehold(cellId: cell, household: NewHousehold(address: "东关村三组14号"))
    let lead = try store.addMember(
        householdId: wang,
        member: NewMember(
            name: "王建国", sex: .male, birthYear: 1970, phone: "13912345678", relation: "户主"))
    let returnee = try store.addMember(
        householdId: wang,
        member: NewMember(
            name: "王磊", sex: .male, birthYear: 1998, relation: "子", residence: .returned))
    try store.editMember(
        memberId: returnee,
        edits: [
            .setArrivalFrom(place: "西安"),
            .setArrivalDate(date: "2026-11-26"),
            .setMonitoringSince(date: "2026-11-26"),
            .setMonitoringUntil(date: "2026-12-03"),
        ])
    let elderly = try store.addMember(
        householdId: li,
        member: NewMember(
            name: "李秀英", sex: .female, birthYear: 1949, idNumber: "11010519491231002X",
            vulnerable: [.elderly, .alone]))
    return LeadCell(
        cell: cell, wangHousehold: wang, liHousehold: li, lead: lead, returnee: returnee,
        elderly: elderly)
}

/// Carries one sync from `initiator` to `acceptor` in memory, the way an app
/// carries it over Bluetooth: each message goes to the other side's
/// `receive` until the initiator has nothing more to say, then its closing
/// message ends the acceptor's session. Returns the sessions, both done.
@discardableResult
func carrySync(from initiator: Store, to acceptor: Store) throws -> (SyncSession, SyncSession) {
    let start = try initiator.startSync(peerDeviceId: nil)
    let accepted = try acceptor.acceptSync()
    var message: Data? = start.message
    var toAcceptor = true
    var hops = 0
    while let m = message {
        message = try (toAcceptor ? accepted : start.session).receive(message: m)
        toAcceptor.toggle()
        hops += 1
        if hops > 100 {
            XCTFail("sync did not finish in 100 messages")
            break
        }
    }
    if let closing = start.session.closeMessage() {
        XCTAssertNil(try accepted.receive(message: closing), "the closing message gets no answer")
    }
    XCTAssertTrue(start.session.isDone() && accepted.isDone(), "both sides done")
    return (start.session, accepted)
}

/// The StoreError `body` threw, or nil after recording a failure.
func storeError<T>(
    _ body: @autoclosure () throws -> T, file: StaticString = #filePath, line: UInt = #line
) -> StoreError? {
    do {
        _ = try body()
        XCTFail("expected a StoreError, the call succeeded", file: file, line: line)
    } catch let error as StoreError {
        return error
    } catch {
        XCTFail("expected a StoreError, got \(type(of: error)): \(error)", file: file, line: line)
    }
    return nil
}

/// The SyncError `body` threw, or nil after recording a failure.
func syncError<T>(
    _ body: @autoclosure () throws -> T, file: StaticString = #filePath, line: UInt = #line
) -> SyncError? {
    do {
        _ = try body()
        XCTFail("expected a SyncError, the call succeeded", file: file, line: line)
    } catch let error as SyncError {
        return error
    } catch {
        XCTFail("expected a SyncError, got \(type(of: error)): \(error)", file: file, line: line)
    }
    return nil
}

/// Checks that `body` failed with StoreError.Invalid naming `field`, with a
/// rule to show the user.
func assertInvalid<T>(
    _ field: String, _ body: @autoclosure () throws -> T,
    file: StaticString = #filePath, line: UInt = #line
) {
    guard let error = storeError(try body(), file: file, line: line) else { return }
    guard case let .Invalid(got, rule) = error else {
        return XCTFail("expected StoreError.Invalid(\(field)), got \(error)", file: file, line: line)
    }
    XCTAssertEqual(got, field, "the field named by \(error)", file: file, line: line)
    XCTAssertFalse(rule.isEmpty, "an Invalid error carries a rule to show", file: file, line: line)
}

/// Records the cell ids an observer was told about; thread-safe.
final class Recorder: CellObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var calls: [[String]] = []

    func cellsChanged(cellIds: [String]) throws {
        lock.lock()
        defer { lock.unlock() }
        calls.append(cellIds)
    }

    var seen: [[String]] {
        lock.lock()
        defer { lock.unlock() }
        return calls
    }
}
