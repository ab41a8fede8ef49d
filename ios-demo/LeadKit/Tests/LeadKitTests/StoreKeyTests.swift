import Foundation
import Silin
import XCTest

@testable import LeadKit

final class StoreKeyTests: XCTestCase {
    func testRandomKeysAre64HexDigitsAndDiffer() {
        let a = StoreKeys.randomHex()
        let b = StoreKeys.randomHex()
        XCTAssertEqual(a.count, 64)
        XCTAssertTrue(a.allSatisfy { "0123456789abcdef".contains($0) })
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(StoreKeys.hex([0x00, 0x0F, 0xFF, 0xA5] as [UInt8]), "000fffa5")
    }

    @MainActor
    func testTheViewModelOpensAnEncryptedStore() async throws {
        let dir = try TempDir()
        let url = URL(fileURLWithPath: dir.path("lead.db"))
        let key = FixedStoreKey(hex: StoreKeys.randomHex())

        let model = try await LeadViewModel.open(at: url, keys: key, leadName: leadName)
        let created = await model.createMyCell(name: "三组第5联户", regionPath: regionPath)
        XCTAssertTrue(created)
        model.close()

        // Without the key, or with another, the file does not open.
        for wrong in [nil, StoreKeys.randomHex()] as [String?] {
            XCTAssertThrowsError(try Store.open(path: url.path, key: wrong)) { error in
                guard case .WrongKey? = error as? StoreError else { return XCTFail("expected WrongKey, got \(error)") }
            }
        }
        let reopened = try await LeadViewModel.open(at: url, keys: key, leadName: leadName)
        defer { reopened.close() }
        await reopened.load()
        XCTAssertEqual(reopened.cell?.cell.name, "三组第5联户")
    }

    @MainActor
    func testAWrongKeyIsAStoreError() async throws {
        let dir = try TempDir()
        let url = URL(fileURLWithPath: dir.path("lead.db"))
        let first = try await LeadViewModel.open(at: url, keys: FixedStoreKey(hex: StoreKeys.randomHex()), leadName: leadName)
        first.close()
        do {
            _ = try await LeadViewModel.open(at: url, keys: FixedStoreKey(hex: StoreKeys.randomHex()), leadName: leadName)
            XCTFail("another key must not open the store")
        } catch StoreError.WrongKey {
        } catch {
            XCTFail("expected WrongKey, got \(error)")
        }
    }
}
