// Bundles: cells carried as a file where no network reaches.
import Foundation
import Silin
import XCTest

final class BundleTests: XCTestCase {
    var dir: TempDir!
    var lead: Store!
    var office: Store!

    override func setUpWithError() throws {
        dir = try TempDir()
        lead = try Store.open(path: dir.path("lead.db"), key: nil)
        office = try Store.open(path: dir.path("office.db"), key: nil)
    }

    override func tearDown() {
        lead?.close()
        office?.close()
        lead = nil
        office = nil
        dir = nil
    }

    func testExportedCellsImportIntoAnotherStore() throws {
        let ids = try makeLeadCell(lead)
        try lead.submitReport(cellId: ids.cell, report: NewReport(date: day, by: "王建国", arrivals: 0, abnormal: 0))

        let bundle = try lead.exportBundle(cells: [], forPeer: nil)
        XCTAssertEqual(bundle.cells, 1)
        XCTAssertFalse(bundle.data.isEmpty)

        // The bundle travels as a file.
        let file = URL(fileURLWithPath: dir.path("三组第5联户.silin"))
        try bundle.data.write(to: file)
        let imported = try office.importBundle(data: try Data(contentsOf: file))
        XCTAssertEqual(imported.cells, 1)
        XCTAssertEqual(imported.changed, 1)
        XCTAssertEqual(try office.cell(cellId: ids.cell), try lead.cell(cellId: ids.cell))
        XCTAssertEqual(try office.cellsMissingReport(day: day), [])
    }

    func testReimportingChangesNothing() throws {
        let ids = try makeLeadCell(lead)
        let bundle = try lead.exportBundle(cells: [ids.cell], forPeer: nil)
        XCTAssertEqual(bundle.cells, 1)
        _ = try office.importBundle(data: bundle.data)
        let before = try office.cell(cellId: ids.cell)

        let again = try office.importBundle(data: bundle.data)
        XCTAssertEqual(again.cells, 1)
        XCTAssertEqual(again.changed, 0, "a second import changes nothing")
        XCTAssertEqual(try office.cell(cellId: ids.cell), before)
    }

    func testOnlyTheNamedCellsAreExported() throws {
        let ids = try makeLeadCell(lead)
        _ = try lead.createCell(name: "三组第6联户", regionPath: regionPath, lead: nil)
        XCTAssertEqual(try lead.exportBundle(cells: [], forPeer: nil).cells, 2)
        let one = try lead.exportBundle(cells: [ids.cell], forPeer: nil)
        XCTAssertEqual(one.cells, 1)
        _ = try office.importBundle(data: one.data)
        XCTAssertEqual(try office.cells(scope: []).map(\.id), [ids.cell])
    }

    func testCutShortOrCorruptedBundlesAreMalformedAndApplyNothing() throws {
        _ = try makeLeadCell(lead)
        let data = try lead.exportBundle(cells: [], forPeer: nil).data

        guard case .Malformed? = syncError(try office.importBundle(data: data.prefix(data.count / 2))) else {
            return XCTFail("a bundle cut short is Malformed")
        }
        var flipped = [UInt8](data)
        flipped[flipped.count / 2] ^= 0xFF
        guard case .Malformed? = syncError(try office.importBundle(data: Data(flipped))) else {
            return XCTFail("a corrupted bundle is Malformed")
        }
        guard case .Malformed? = syncError(try office.importBundle(data: Data())) else {
            return XCTFail("an empty bundle is Malformed")
        }
        XCTAssertEqual(try office.cells(scope: []), [])
    }

    func testExportingABadCellIdIsInvalid() throws {
        guard case .Invalid(let field, _)? = syncError(try lead.exportBundle(cells: ["not-a-cell"], forPeer: nil)) else {
            return XCTFail("a malformed cell id is SyncError.Invalid")
        }
        XCTAssertEqual(field, "cell")
    }
}
