// The lead's day (layout 2) through the Swift bindings: an arrival at the
// door and its monitoring, checks due and missed, alerts, the flagged
// report, errands, dose and test histories, the handover, residents away.
// The store's clock is the system's: days are counted from silin's today(),
// and alerts are told apart by kind (after 20:00 raise_alerts also adds a
// report reminder).
import Foundation
import Silin
import XCTest

final class LeadDayCallsTests: XCTestCase {
    var dir: TempDir!
    var store: Store!
    var cell = ""
    var household = ""
    var resident = ""

    override func setUpWithError() throws {
        dir = try TempDir()
        store = try Store.open(path: dir.path("lead.db"), key: nil)
        cell = try store.createCell(name: "东关一组", regionPath: regionPath, lead: nil)
        household = try store.addHousehold(cellId: cell, household: NewHousehold(address: "东关村12号"))
        resident = try store.addMember(householdId: household, member: NewMember(name: "王芳", phone: "13800000001"))
    }

    override func tearDown() {
        store?.close()
        store = nil
        dir = nil
    }

    private static let calendar: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone.current
        return c
    }()

    /// The day `offset` days from silin's today, "YYYY-MM-DD".
    private func day(_ offset: Int) -> String {
        let f = DateFormatter()
        f.calendar = Self.calendar
        f.timeZone = Self.calendar.timeZone
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd"
        let today = f.date(from: Silin.today())!
        return f.string(from: Self.calendar.date(byAdding: .day, value: offset, to: today)!)
    }

    /// 10:00 on that day in the device's zone, RFC 3339.
    private func morning(_ offset: Int) -> String {
        let parse = DateFormatter()
        parse.calendar = Self.calendar
        parse.timeZone = Self.calendar.timeZone
        parse.locale = Locale(identifier: "en_US_POSIX")
        parse.dateFormat = "yyyy-MM-dd HH:mm"
        let write = DateFormatter()
        write.calendar = Self.calendar
        write.timeZone = Self.calendar.timeZone
        write.locale = Locale(identifier: "en_US_POSIX")
        write.dateFormat = "yyyy-MM-dd'T'HH:mm:ssxxx"
        return write.string(from: parse.date(from: "\(day(offset)) 10:00")!)
    }

    private func arrival(
        memberId: String? = nil, newMember: NewMember? = nil, risk: RiskLevel = .high, date: String? = nil
    ) -> NewArrival {
        NewArrival(
            householdId: household, memberId: memberId, newMember: newMember, kind: .visitor,
            from: "武汉市洪山区", risk: risk, date: date ?? day(0), means: .train, by: "李秀英")
    }

    @discardableResult
    private func check(_ member: String, _ temperature: Double) throws -> String {
        try store.recordVisit(
            cellId: cell,
            visit: NewVisit(kind: .healthCheck, by: "李秀英", memberId: member, temperature: temperature))
    }

    private func health(_ lead: LeadDay, _ member: String) -> HealthStatus? {
        lead.members.first { $0.memberId == member }?.health
    }

    func testAnArrivalAtTheDoorAndTheDueList() throws {
        let visitor = try store.recordArrival(arrival: arrival(newMember: NewMember(name: "李强")))
        let m = try store.member(memberId: visitor)
        XCTAssertEqual(m.residence, .visitor)
        XCTAssertEqual(m.monitoringUntil, day(13))

        var lead = try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7)
        XCTAssertEqual(
            lead.due,
            [CheckDay(
                cellId: cell, memberId: visitor, name: "李强", householdId: household, day: day(0),
                required: 2, done: 0, until: day(13), daysLeft: 13)])
        XCTAssertEqual(try store.dueChecks(scope: [], day: day(0)), lead.due)
        XCTAssertEqual(health(lead, visitor), .underMonitoring)
        XCTAssertEqual(lead.draft.arrivals, 1)

        try check(visitor, 36.5)
        XCTAssertEqual(try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7).due.map(\.done), [1])
        try check(visitor, 36.6)
        XCTAssertEqual(try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7).due, [])

        // Someone in the register returning from a medium-risk area.
        XCTAssertEqual(try store.recordArrival(arrival: arrival(memberId: resident, risk: .medium)), resident)
        lead = try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7)
        XCTAssertEqual(lead.due.map(\.memberId), [resident])
        XCTAssertEqual(lead.due.first?.required, 1)
        XCTAssertEqual(lead.due.first?.daysLeft, 6)
    }

    func testMissedAndAbnormalChecksRaiseAlertsAndAZeroReportIsFlagged() throws {
        let visitor = try store.recordArrival(arrival: arrival(newMember: NewMember(name: "李强"), date: day(-1)))
        var lead = try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7)
        XCTAssertEqual(lead.missed.map(\.day), [day(-1)])

        let raised = try store.raiseAlerts(cellId: cell)
        lead = try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7)
        let alerts = lead.openTasks.filter { $0.kind == .alert }
        XCTAssertEqual(alerts.map(\.source), ["missed:\(visitor):\(day(-1))"])
        XCTAssertTrue(raised.contains(alerts[0].id))
        XCTAssertEqual(try store.raiseAlerts(cellId: cell), [], "raised once")

        try check(visitor, 38.4)
        lead = try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7)
        XCTAssertEqual(health(lead, visitor), .abnormal)
        XCTAssertEqual(lead.openTasks.filter { $0.kind == .alert }.count, 2)

        try store.submitReport(cellId: cell, report: NewReport(date: day(0), by: "李秀英", arrivals: 0, abnormal: 0))
        let report = try XCTUnwrap(try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7).report)
        XCTAssertTrue(report.zero)
        XCTAssertEqual(report.flag, "abnormal 0, log 1")
    }

    func testErrandsDosesTestsAndAHandover() throws {
        let errand = try store.requestErrand(
            errand: NewErrand(householdId: household, memberId: resident, request: "代购降压药", due: day(1)))
        XCTAssertEqual(try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7).errands.map(\.id), [errand])
        let visit = try store.completeErrand(cellId: cell, errandId: errand, by: "李秀英", note: "药已送到")
        let lead = try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7)
        XCTAssertEqual(lead.errands, [])
        XCTAssertEqual(lead.draft.errands, 1)
        XCTAssertEqual(try store.cell(cellId: cell).visits.first { $0.id == visit }?.kind, .errand)

        _ = try store.addDose(dose: NewDose(memberId: resident, number: 3, date: "2022-03-01", kind: "灭活疫苗", by: "李秀英"))
        _ = try store.addTest(test: NewTest(memberId: resident, date: day(0), kind: .antigen, result: .negative, by: "李秀英"))
        let m = try store.member(memberId: resident)
        XCTAssertEqual(m.vaccinationDoses, 3)
        XCTAssertEqual(m.vaccinationLast, "2022-03-01")
        XCTAssertEqual(m.testDate, day(0))
        XCTAssertEqual(m.testResult, .negative)

        let second = try store.addMember(householdId: household, member: NewMember(name: "李秀英", phone: "13700000004"))
        _ = try store.handOver(cellId: cell, memberId: resident, by: "网格员张")
        _ = try store.handOver(cellId: cell, memberId: second, by: "网格员张")
        let now = try XCTUnwrap(try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7).lead)
        XCTAssertEqual(now.memberId, second)
        XCTAssertEqual(now.phone, "13700000004")
    }

    func testAResidentAwayIsCalledAndTheListUpdates() throws {
        let away = try store.addMember(
            householdId: household, member: NewMember(name: "王小军", phone: "15100000003", residence: .away))
        try store.editMember(memberId: away, edits: [.setAwayAt(place: "深圳市宝安区")])
        let never = try store.awayNotCalled(scope: [], day: day(0), days: 7)
        XCTAssertEqual(never.map(\.memberId), [away])
        XCTAssertEqual(never.first?.awayAt, "深圳市宝安区")
        XCTAssertNil(never.first?.lastCalled)

        _ = try store.recordVisit(
            cellId: cell, visit: NewVisit(kind: .call, by: "李秀英", memberId: away, at: morning(-8)))
        let stale = try XCTUnwrap(try store.awayNotCalled(scope: [], day: day(0), days: 7).first)
        XCTAssertEqual(stale.lastCalled, day(-8))
        XCTAssertEqual(stale.daysSince, 8)
        _ = try store.recordVisit(cellId: cell, visit: NewVisit(kind: .call, by: "李秀英", memberId: away))
        XCTAssertEqual(try store.awayNotCalled(scope: [], day: day(0), days: 7), [])

        try store.editMember(memberId: away, edits: [.setReferred(referred: true)])
        XCTAssertTrue(try store.member(memberId: away).referred)
        XCTAssertEqual(health(try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7), away), .referred)
    }

    func testBadArrivalsAreRefusedWithTheirField() throws {
        assertInvalid("date", try store.recordArrival(arrival: arrival(memberId: resident, date: day(1))))
        assertInvalid("member", try store.recordArrival(arrival: arrival()))
        XCTAssertEqual(
            try store.leadDay(cellId: cell, day: day(0), notCalledDays: 7).members.map(\.memberId), [resident],
            "nothing was written")
    }
}
