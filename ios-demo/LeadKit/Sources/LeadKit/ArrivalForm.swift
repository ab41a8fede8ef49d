import Foundation
import Silin

/// An arrival at the door, recorded in one step: `memberId` for someone in
/// the register (a resident coming back), or `name` (and `phone`) for a new
/// person, who joins `householdId`. The office's policy sets the
/// monitoring from `risk`: by default 14 days of two checks a day for high,
/// 7 of one for medium, none for low. A blank `date` is today.
public struct ArrivalForm: Equatable {
    /// The form's fields, named as silin's StoreError.Invalid names them.
    public enum Field: String, CaseIterable, Hashable {
        case household, member, name, phone, from, risk, date, means
    }

    public var householdId: String
    public var memberId: String?
    public var name: String
    public var phone: String
    public var kind: ArrivalKind
    public var from: String
    public var risk: RiskLevel
    public var date: String
    public var means: Means?

    public init(
        householdId: String, memberId: String? = nil, name: String = "", phone: String = "",
        kind: ArrivalKind = .returning, from: String = "", risk: RiskLevel = .high, date: String = "",
        means: Means? = nil
    ) {
        self.householdId = householdId
        self.memberId = memberId
        self.name = name
        self.phone = phone
        self.kind = kind
        self.from = from
        self.risk = risk
        self.date = date
        self.means = means
    }

    /// The call's argument; silin checks the rest (who arrived, the date).
    func newArrival(by: String, today: String) -> NewArrival {
        let name = self.name.trimmingCharacters(in: .whitespacesAndNewlines)
        let newMember = memberId == nil && !name.isEmpty
            ? NewMember(name: name, phone: blankToNil(phone)) : nil
        return NewArrival(
            householdId: householdId, memberId: memberId, newMember: newMember, kind: kind,
            from: from, risk: risk, date: blankToNil(date) ?? today, means: means, by: by)
    }
}

/// One line of the due list, e.g. "李强: 1 of 2 checks, 13 days left".
public func dueLine(_ check: CheckDay) -> String {
    let left: String
    switch check.daysLeft {
    case 0: left = "last day"
    case 1: left = "1 day left"
    default: left = "\(check.daysLeft) days left"
    }
    return "\(check.name): \(check.done) of \(check.required) checks, \(left)"
}
