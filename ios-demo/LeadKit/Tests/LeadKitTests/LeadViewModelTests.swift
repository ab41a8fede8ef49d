import Foundation
import Silin
import XCTest

@testable import LeadKit

final class LeadViewModelTests: XCTestCase {
    @MainActor
    func testShowsMyCellMembersUnderMonitoringAndTheVulnerable() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()

        XCTAssertNil(model.message)
        XCTAssertEqual(model.cellId, f.cell)
        XCTAssertEqual(model.cell?.cell.name, "三组第5联户")
        XCTAssertEqual(model.cell?.households.count, 2)
        XCTAssertEqual(model.underMonitoring.map(\.memberId), [f.returnee])
        XCTAssertEqual(model.vulnerable.map(\.memberId), [f.elderly])
        XCTAssertEqual(model.todaysVisits, [])
        XCTAssertFalse(model.reportFiledToday)
        XCTAssertEqual(model.reportDraft.arrivals, 1, "the returnee arrived today")
        XCTAssertEqual(model.identity?.enrolled, false)
        XCTAssertFalse(model.busy)
    }

    @MainActor
    func testFeverHealthCheckIsRecordedAsAbnormal() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()

        model.beginHealthCheck(of: f.returnee)
        XCTAssertEqual(model.visitForm.householdId, f.wangHousehold)
        model.visitForm.temperature = "37,8"  // a comma is read as a decimal point
        model.visitForm.symptoms = "咳嗽"
        let recorded = await model.recordVisit()

        XCTAssertTrue(recorded)
        XCTAssertTrue(model.visitErrors.isEmpty)
        XCTAssertEqual(model.todaysVisits.count, 1)
        XCTAssertEqual(model.abnormalToday.count, 1)
        XCTAssertEqual(model.reportDraft.abnormal, 1, "the report draft counts today's abnormal visits")
        let visit = try XCTUnwrap(model.cell?.visits.first)
        XCTAssertEqual(visit.temperature, 37.8)
        XCTAssertEqual(visit.by, leadName)
        XCTAssertTrue(visit.abnormal)
        XCTAssertEqual(model.visitForm, VisitForm(kind: .healthCheck), "the form is cleared for the next visit")
    }

    @MainActor
    func testTemperatureOutOfRangeShowsUnderItsField() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()

        model.beginHealthCheck(of: f.returnee)
        model.visitForm.temperature = "45.5"
        let recorded = await model.recordVisit()

        XCTAssertFalse(recorded)
        let rule = try XCTUnwrap(model.visitErrors[.temperature], "silin's rule is shown under the temperature")
        XCTAssertFalse(rule.isEmpty)
        XCTAssertNil(model.visitErrors[.member])
        XCTAssertNil(model.message)
        XCTAssertEqual(model.visitForm.temperature, "45.5", "the form keeps what was typed")
        XCTAssertEqual(try f.store.cell(cellId: f.cell).visits, [], "nothing was written")
    }

    @MainActor
    func testTemperatureThatIsNotANumberShowsUnderItsField() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()

        model.beginHealthCheck(of: f.returnee)
        model.visitForm.temperature = "hot"
        let recorded = await model.recordVisit()
        XCTAssertFalse(recorded)
        XCTAssertNotNil(model.visitErrors[.temperature])
        XCTAssertEqual(try f.store.cell(cellId: f.cell).visits, [])
    }

    @MainActor
    func testHealthCheckWithoutAMemberShowsUnderMember() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()

        model.visitForm = VisitForm(kind: .healthCheck, temperature: "36.5")
        let recorded = await model.recordVisit()
        XCTAssertFalse(recorded)
        XCTAssertNotNil(model.visitErrors[.member])
    }

    @MainActor
    func testDoorKnockNeedsNoMember() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()

        model.visitForm = VisitForm(kind: .doorKnock, householdId: f.liHousehold, note: "  ")
        let recorded = await model.recordVisit()
        XCTAssertTrue(recorded)
        XCTAssertEqual(model.todaysVisits.map(\.kind), [.doorKnock])
        XCTAssertNil(model.cell?.visits.first?.note, "a blank note is not recorded")
    }

    @MainActor
    func testFilingTodaysReport() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()
        model.beginHealthCheck(of: f.returnee)
        model.visitForm.temperature = "38.1"
        _ = await model.recordVisit()

        XCTAssertEqual(model.reportDraft, LeadViewModel.ReportDraft(arrivals: 1, abnormal: 1))
        model.reportDraft.note = "王磊发热，已通知村卫生室"
        let filed = await model.fileTodaysReport()

        XCTAssertTrue(filed)
        XCTAssertTrue(model.reportFiledToday)
        XCTAssertEqual(try f.store.cellsMissingReport(day: f.day), [])
        let report = try XCTUnwrap(model.cell?.reports.first)
        XCTAssertEqual(report.date, f.day)
        XCTAssertEqual(report.by, leadName)
        XCTAssertEqual(report.arrivals, 1)
        XCTAssertEqual(report.abnormal, 1)
        XCTAssertEqual(report.underMonitoring, 1, "silin counts who is under monitoring")
        XCTAssertFalse(report.zero)
    }

    @MainActor
    func testReportWithABadCountShowsItsField() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()
        model.reportDraft.arrivals = -1
        let filed = await model.fileTodaysReport()
        XCTAssertFalse(filed)
        XCTAssertNotNil(model.reportErrors["arrivals"])
        XCTAssertFalse(model.reportFiledToday)
    }

    @MainActor
    func testNewPhoneCreatesItsCell() async throws {
        let dir = try TempDir()
        let store = try Store.open(path: dir.path("new.db"), key: nil)
        let model = LeadViewModel(store: store, leadName: leadName)
        defer { model.close() }
        await model.load()
        XCTAssertNil(model.cell)

        let recorded = await model.recordVisit()
        XCTAssertFalse(recorded)
        XCTAssertNotNil(model.message, "asks to create or sync the cell first")

        model.message = nil
        let bad = await model.createMyCell(name: "三组第5联户", regionPath: "两当县")
        XCTAssertFalse(bad)
        XCTAssertNotNil(model.message, "a region path without four parts is refused")

        let created = await model.createMyCell(name: "三组第5联户", regionPath: regionPath)
        XCTAssertTrue(created)
        XCTAssertEqual(model.cell?.cell.lead, leadName)
        XCTAssertEqual(model.cell?.cell.regionPath, regionPath)
    }

    @MainActor
    func testAChangeMadeElsewhereRefreshesTheScreen() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()

        // Another part of the app (or a sync) changes the cell.
        try f.store.renameCell(cellId: f.cell, name: "三组第五联户")
        // The observer handed the change to the main actor; wait for that
        // refresh itself, not for a clock.
        await model.pendingRefresh?.value
        XCTAssertEqual(model.cell?.cell.name, "三组第五联户")
    }

    @MainActor
    func testHubThatCannotBeReachedShowsAFailedSync() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.syncWithHub(url: "http://127.0.0.1:9")
        guard case .failed(let text) = model.syncStatus else {
            return XCTFail("expected a failed sync, got \(model.syncStatus)")
        }
        XCTAssertFalse(text.isEmpty)

        await model.syncWithHub(url: "not a url")
        guard case .failed = model.syncStatus else { return XCTFail("a bad URL fails the sync") }
    }

    @MainActor
    func testBadEnrolmentTokenShowsAMessage() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        let enrolled = await model.enroll(hubUrl: "http://127.0.0.1:9", token: "1234")
        XCTAssertFalse(enrolled)
        XCTAssertNotNil(model.message)
    }

    @MainActor
    func testAfterCloseCallsShowAMessageNotACrash() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        await model.load()
        model.close()
        XCTAssertTrue(f.store.isClosed())

        await model.load()
        XCTAssertNotNil(model.message)
        model.beginHealthCheck(of: f.returnee)
        model.visitForm.temperature = "36.5"
        let recorded = await model.recordVisit()
        XCTAssertFalse(recorded)
        model.close()  // twice is harmless
    }
}
