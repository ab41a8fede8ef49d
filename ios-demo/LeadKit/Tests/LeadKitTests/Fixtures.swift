import Foundation
import Silin
import XCTest

@testable import LeadKit

let leadName = "王建国"
let regionPath = "两当县/城关镇/东关村/三组"

/// A temporary directory, removed when the last reference goes.
final class TempDir {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("leadkit-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A lead's store with the cell they keep: a returnee who arrived today and
/// is under monitoring, an elderly neighbour living alone.
struct Fixture {
    let dir: TempDir
    let store: Store
    let cell: String
    let wangHousehold: String
    let liHousehold: String
    let returnee: String
    let elderly: String
    let day: String

    init() throws {
        dir = try TempDir()
        store = try Store.open(path: dir.path("lead.db"), key: nil)
        day = Silin.today()
        cell = try store.createCell(name: "三组第5联户", regionPath: regionPath, lead: leadName)
        wangHousehold = try store.addHousehold(
            cellId: cell, household: NewHousehold(address: "东关村三组12号", phone: "13912345678"))
        liHousehold = try store.addHousehold(cellId: cell, household: NewHousehold(address: "东关村三组14号"))
        _ = try store.addMember(
            householdId: wangHousehold, member: NewMember(name: leadName, sex: .male, birthYear: 1970))
        returnee = try store.addMember(
            householdId: wangHousehold,
            member: NewMember(name: "王磊", sex: .male, birthYear: 1998, relation: "子", residence: .returned))
        try store.editMember(
            memberId: returnee,
            edits: [
                .setArrivalFrom(place: "西安"), .setArrivalDate(date: day),
                .setMonitoringSince(date: day), .setMonitoringUntil(date: "2099-12-31"),
            ])
        elderly = try store.addMember(
            householdId: liHousehold,
            member: NewMember(name: "李秀英", sex: .female, birthYear: 1949, vulnerable: [.elderly, .alone]))
    }

    /// Another phone's store in the same directory (a grid worker's).
    func otherStore(_ name: String) throws -> Store {
        try Store.open(path: dir.path(name), key: nil)
    }
}
