// A lead householder's day, end to end through the Swift bindings: the
// register, door-knocks and health checks, an errand, the day's queries,
// the zero report and the rollup.
import Foundation
import Silin
import XCTest

final class LeadDayTests: XCTestCase {
    var dir: TempDir!
    var store: Store!

    override func setUpWithError() throws {
        dir = try TempDir()
        store = try Store.open(path: dir.path("lead.db"), key: nil)
    }

    override func tearDown() {
        store?.close()
        store = nil
        dir = nil
    }

    func testLibraryAnswersItsVersionTodayAndFormFields() throws {
        XCTAssertFalse(libraryVersion().isEmpty)
        XCTAssertEqual(today().count, 10, "today is YYYY-MM-DD")
        let fields = memberFields()
        for field in ["name", "phone", "id_number", "monitoring_since", "monitoring_until", "vulnerable"] {
            XCTAssertTrue(fields.contains(field), "member_fields names \(field)")
        }
        XCTAssertEqual(try checkResidentId(idNumber: "11010519491231002X"), "11010519491231002X")
    }

    func testLeadRegistersTheCellAndItsMembers() throws {
        let ids = try makeLeadCell(store)
        let view = try store.cell(cellId: ids.cell)
        XCTAssertEqual(view.cell.name, "三组第5联户")
        XCTAssertEqual(view.cell.regionPath, regionPath)
        XCTAssertEqual(view.cell.lead, "王建国")
        XCTAssertEqual(view.households.count, 2)
        let wang = try XCTUnwrap(view.households.first { $0.id == ids.wangHousehold })
        XCTAssertEqual(wang.address, "东关村三组12号")
        XCTAssertEqual(wang.door, "12")
        XCTAssertEqual(Set(wang.members.map(\.name)), ["王建国", "王磊"])

        let returnee = try store.member(memberId: ids.returnee)
        XCTAssertEqual(returnee.householdId, ids.wangHousehold)
        XCTAssertEqual(returnee.residence, .returned)
        XCTAssertEqual(returnee.arrivalFrom, "西安")
        XCTAssertEqual(returnee.arrivalDate, "2026-11-26")
        XCTAssertEqual(returnee.monitoringSince, "2026-11-26")
        XCTAssertEqual(returnee.monitoringUntil, "2026-12-03")

        let elderly = try store.member(memberId: ids.elderly)
        XCTAssertEqual(elderly.sex, .female)
        XCTAssertEqual(elderly.birthYear, 1949)
        XCTAssertEqual(elderly.idNumber, "11010519491231002X")
        XCTAssertEqual(Set(elderly.vulnerable), [.elderly, .alone])

        XCTAssertEqual(try store.cells(scope: []).map(\.id), [ids.cell])
        XCTAssertEqual(try store.cells(scope: ["两当县/城关镇"]).map(\.id), [ids.cell])
        XCTAssertEqual(try store.cells(scope: [ids.cell]).map(\.id), [ids.cell], "a scope may name a cell id")
        XCTAssertEqual(try store.cells(scope: ["*"]).map(\.id), [ids.cell])
        XCTAssertEqual(try store.cells(scope: ["徽县"]), [])
    }

    func testFullLeadHouseholderDay() throws {
        let ids = try makeLeadCell(store)
        XCTAssertEqual(try store.cellsMissingReport(day: day).map(\.id), [ids.cell])

        // Morning round: a door-knock, a health check in range.
        _ = try store.recordVisit(
            cellId: ids.cell,
            visit: NewVisit(kind: .doorKnock, by: "王建国", householdId: ids.liHousehold, at: at("08:30")))
        let normal = try store.recordVisit(
            cellId: ids.cell,
            visit: NewVisit(
                kind: .healthCheck, by: "王建国", householdId: ids.wangHousehold,
                memberId: ids.returnee, at: at("09:00"), temperature: 36.6))

        // An errand for the elderly neighbour, carried out and marked done.
        let task = try store.addTask(
            cellId: ids.cell,
            task: NewTask(title: "给李秀英买药", householdId: ids.liHousehold, memberId: ids.elderly, due: day))
        _ = try store.recordVisit(
            cellId: ids.cell,
            visit: NewVisit(
                kind: .errand, by: "王建国", householdId: ids.liHousehold, memberId: ids.elderly,
                at: at("10:00"), outcome: "药已送到", taskId: task))
        try store.setTaskStatus(cellId: ids.cell, taskId: task, status: .done)

        // Evening check: a fever, so the visit is abnormal.
        let fever = try store.recordVisit(
            cellId: ids.cell,
            visit: NewVisit(
                kind: .healthCheck, by: "王建国", householdId: ids.wangHousehold,
                memberId: ids.returnee, at: at("18:00"), temperature: 37.8, symptoms: "咳嗽"))

        let view = try store.cell(cellId: ids.cell)
        XCTAssertEqual(view.visits.count, 4)
        let feverVisit = try XCTUnwrap(view.visits.first { $0.id == fever })
        XCTAssertTrue(feverVisit.abnormal, "37.8 °C is a fever")
        XCTAssertEqual(feverVisit.temperature, 37.8)
        XCTAssertEqual(feverVisit.symptoms, "咳嗽")
        XCTAssertEqual(feverVisit.memberId, ids.returnee)
        XCTAssertFalse(try XCTUnwrap(view.visits.first { $0.id == normal }).abnormal)
        let errand = try XCTUnwrap(view.visits.first { $0.kind == .errand })
        XCTAssertEqual(errand.taskId, task)
        XCTAssertEqual(errand.outcome, "药已送到")
        // The errand's task, and the alert the fever raised with its visit.
        let listed = view.tasks.filter { $0.kind == .list }
        XCTAssertEqual(listed.count, 1)
        XCTAssertEqual(listed.first?.status, .done)
        XCTAssertEqual(listed.first?.title, "给李秀英买药")
        let alert = try XCTUnwrap(view.tasks.first { $0.kind == .alert })
        XCTAssertEqual(alert.memberId, ids.returnee)
        XCTAssertEqual(alert.source, "abnormal:\(fever)")
        XCTAssertEqual(view.tasks.count, 2)

        // The day's queries.
        XCTAssertEqual(try store.underMonitoring(day: day).map(\.memberId), [ids.returnee])
        XCTAssertEqual(try store.underMonitoring(day: "2026-12-10"), [], "monitoring has ended by then")
        XCTAssertEqual(try store.monitoringEnds(day: "2026-12-03").map(\.name), ["王磊"])
        let vulnerable = try store.vulnerableMembers()
        XCTAssertEqual(vulnerable.map(\.memberId), [ids.elderly])
        XCTAssertEqual(Set(try XCTUnwrap(vulnerable.first).vulnerable), [.elderly, .alone])
        let visits = try store.visitsOn(day: day)
        XCTAssertEqual(visits.count, 4)
        XCTAssertEqual(visits.filter(\.abnormal).map(\.visitId), [fever])
        XCTAssertTrue(visits.allSatisfy { $0.cellId == ids.cell && $0.day == day })
        XCTAssertEqual(try store.visitsOn(day: "2026-11-27"), [])

        // The daily report: counts the lead gives, the rest from the register.
        try store.submitReport(
            cellId: ids.cell,
            report: NewReport(date: day, by: "王建国", arrivals: 1, abnormal: 1, note: "王磊发热，已通知村卫生室"))
        let report = try XCTUnwrap(try store.cell(cellId: ids.cell).reports.first)
        XCTAssertEqual(report.date, day)
        XCTAssertEqual(report.arrivals, 1)
        XCTAssertEqual(report.abnormal, 1)
        XCTAssertEqual(report.underMonitoring, 1, "counted from the register")
        XCTAssertEqual(report.errands, 1, "counted from the day's errand visits")
        XCTAssertFalse(report.zero)
        XCTAssertEqual(try store.cellsMissingReport(day: day), [])

        // The rollup, county down to group.
        let levels: [(Level, String)] = [
            (.county, "两当县"), (.township, "两当县/城关镇"),
            (.village, "两当县/城关镇/东关村"), (.group, regionPath),
        ]
        for (level, path) in levels {
            let rows = try store.rollup(day: day, level: level)
            XCTAssertEqual(rows.count, 1, "\(level)")
            let row = try XCTUnwrap(rows.first)
            XCTAssertEqual(row.path, path)
            XCTAssertEqual(row.cells, 1)
            XCTAssertEqual(row.reported, 1)
            XCTAssertEqual(row.missing, 0)
            XCTAssertEqual(row.zero, 0)
            XCTAssertEqual(row.arrivals, 1)
            XCTAssertEqual(row.abnormal, 1)
            XCTAssertEqual(row.underMonitoring, 1)
        }
    }

    func testQuietDayIsAZeroReport() throws {
        let cell = try store.createCell(name: "三组第6联户", regionPath: regionPath, lead: nil)
        try store.submitReport(cellId: cell, report: NewReport(date: day, by: "李明", arrivals: 0, abnormal: 0))
        let report = try XCTUnwrap(try store.cell(cellId: cell).reports.first)
        XCTAssertTrue(report.zero)
        XCTAssertEqual(report.by, "李明")
        XCTAssertEqual(try store.rollup(day: day, level: .group).first?.zero, 1)
    }

    func testLeadEditsTheCellAndMembers() throws {
        let ids = try makeLeadCell(store)
        try store.renameCell(cellId: ids.cell, name: "三组第五联户")
        try store.setLead(cellId: ids.cell, lead: "王磊")
        let info = try store.cell(cellId: ids.cell).cell
        XCTAssertEqual(info.name, "三组第五联户")
        XCTAssertEqual(info.lead, "王磊")

        try store.editMember(
            memberId: ids.elderly,
            edits: [
                .setPhone(phone: "13800001111"), .setVaccinationDoses(doses: 3),
                .setVaccinationLast(date: "2026-10-01"), .setTestDate(date: "2026-11-27"),
                .setTestResult(result: .negative), .setVulnerable(flag: .chronic, on: true),
                .setVulnerable(flag: .alone, on: false),
            ])
        let member = try store.member(memberId: ids.elderly)
        XCTAssertEqual(member.phone, "13800001111")
        XCTAssertEqual(member.vaccinationDoses, 3)
        XCTAssertEqual(member.vaccinationLast, "2026-10-01")
        XCTAssertEqual(member.testDate, "2026-11-27")
        XCTAssertEqual(member.testResult, .negative)
        XCTAssertEqual(Set(member.vulnerable), [.elderly, .chronic])

        // Absent values clear the field.
        try store.editMember(memberId: ids.elderly, edits: [.setPhone(phone: nil), .setTestResult(result: nil)])
        let cleared = try store.member(memberId: ids.elderly)
        XCTAssertNil(cleared.phone)
        XCTAssertNil(cleared.testResult)
    }

    func testDeviceHasAnIdentityBeforeEnrolment() throws {
        let identity = try store.identity()
        XCTAssertFalse(identity.deviceId.isEmpty)
        XCTAssertFalse(identity.enrolled)
        XCTAssertNil(identity.role)
        try store.setDeviceName(name: "王建国的手机")
        XCTAssertEqual(try store.identity().deviceName, "王建国的手机")
    }
}
