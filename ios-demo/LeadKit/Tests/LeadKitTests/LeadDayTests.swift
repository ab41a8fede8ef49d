import Foundation
import Silin
import XCTest

@testable import LeadKit

/// The lead's day in the view model: the due list after an arrival at the
/// door and each health check, alerts, missed days. Days are counted from
/// silin's today(); the time of day is unknown (after 20:00 a report
/// reminder joins the alerts), so alerts are told apart by kind.
final class LeadDayTests: XCTestCase {
    private func shifted(_ day: String, by days: Int) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let formatter = DateFormatter()
        formatter.calendar = calendar
        formatter.timeZone = calendar.timeZone
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd"
        let date = calendar.date(byAdding: .day, value: days, to: formatter.date(from: day)!)!
        return formatter.string(from: date)
    }

    @MainActor
    private func check(_ model: LeadViewModel, _ member: String, _ temperature: String) async {
        model.beginHealthCheck(of: member)
        model.visitForm.temperature = temperature
        let recorded = await model.recordVisit()
        XCTAssertTrue(recorded, "\(model.visitErrors) \(model.message ?? "")")
    }

    @MainActor
    func testTheDueListFollowsAnArrivalAndEachCheck() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()
        // The fixture's returnee was put under monitoring by hand (member
        // fields, no arrival record): one check a day.
        XCTAssertEqual(model.dueChecks.map(\.memberId), [f.returnee])
        XCTAssertEqual(model.dueChecks.first?.required, 1)
        XCTAssertEqual(model.health[f.elderly], .normal)

        // A visitor from a high-risk area, recorded at the door in one step.
        let visitor = await model.recordArrival(
            ArrivalForm(
                householdId: f.liHousehold, name: "李强", phone: "13900000002", kind: .visitor,
                from: "武汉市洪山区", risk: .high, means: .train))
        let id = try XCTUnwrap(visitor, "\(model.arrivalErrors) \(model.message ?? "")")
        XCTAssertEqual(model.member(id)?.residence, .visitor)
        let until = shifted(f.day, by: 13)
        XCTAssertEqual(
            model.dueChecks.filter { $0.memberId == id },
            [CheckDay(
                cellId: f.cell, memberId: id, name: "李强", householdId: f.liHousehold, day: f.day,
                required: 2, done: 0, until: until, daysLeft: 13)])
        XCTAssertEqual(model.dueChecks.filter { $0.memberId == id }.map(dueLine), ["李强: 0 of 2 checks, 13 days left"])
        XCTAssertEqual(model.health[id], .underMonitoring)
        XCTAssertEqual(model.reportDraft.arrivals, 2, "the visitor and the fixture's returnee")

        await check(model, id, "36.5")
        XCTAssertEqual(model.dueChecks.filter { $0.memberId == id }.map(dueLine), ["李强: 1 of 2 checks, 13 days left"])

        await check(model, id, "36.6")
        XCTAssertEqual(model.dueChecks.map(\.memberId), [f.returnee], "two checks: nothing due today for 李强")
        XCTAssertEqual(model.missedChecks, [])
        XCTAssertTrue(model.alerts.allSatisfy { $0.kind != .alert })

        // A fever: an alert at once, and the member is abnormal.
        await check(model, id, "38.1")
        let alert = try XCTUnwrap(model.alerts.first { $0.kind == .alert })
        XCTAssertEqual(alert.memberId, id)
        XCTAssertEqual(model.health[id], .abnormal)
        await model.dismissAlert(alert.id)
        XCTAssertTrue(model.alerts.allSatisfy { $0.kind != .alert })
    }

    @MainActor
    func testACheckMissedYesterdayRaisesOneAlertWhenTheAppOpens() async throws {
        let f = try Fixture()
        let yesterday = shifted(f.day, by: -1)
        let member = try f.store.addMember(householdId: f.liHousehold, member: NewMember(name: "王小军"))
        // Recorded yesterday's arrival from a medium-risk area: one check a day for 7 days.
        _ = try f.store.recordArrival(arrival: NewArrival(
            householdId: f.liHousehold, memberId: member, kind: .returning, from: "西安", risk: .medium,
            date: yesterday, by: leadName))

        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()
        XCTAssertEqual(model.missedChecks.map(\.day), [yesterday])
        XCTAssertEqual(model.dueChecks.filter { $0.memberId == member }.map(\.daysLeft), [5])
        let alerts = model.alerts.filter { $0.kind == .alert }
        XCTAssertEqual(alerts.map(\.memberId), [member], "load() raised the missed day's alert")
        await model.raiseAlerts()
        XCTAssertEqual(model.alerts.filter { $0.kind == .alert }, alerts, "raised once")
    }

    @MainActor
    func testAnArrivalNamingNobodyIsRefusedOnItsField() async throws {
        let f = try Fixture()
        let model = LeadViewModel(store: f.store, leadName: leadName)
        defer { model.close() }
        await model.load()
        let refused = await model.recordArrival(ArrivalForm(householdId: f.liHousehold, from: "西安"))
        XCTAssertNil(refused)
        XCTAssertNotNil(model.arrivalErrors["member"])
        let tomorrow = await model.recordArrival(
            ArrivalForm(householdId: f.liHousehold, name: "张三", from: "西安", date: shifted(f.day, by: 1)))
        XCTAssertNil(tomorrow)
        XCTAssertNotNil(model.arrivalErrors["date"])
        XCTAssertEqual(model.dueChecks.map(\.memberId), [f.returnee], "nobody new is due")
        XCTAssertEqual(model.cell?.households.flatMap(\.members).count, 3, "nothing was written")
    }
}
