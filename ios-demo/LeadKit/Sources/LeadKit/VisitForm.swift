import Foundation
import Silin

/// What the lead fills in to record a visit or health check. Text fields
/// stay text; the view model turns them into a NewVisit.
public struct VisitForm: Equatable {
    /// The form's fields, named as silin's StoreError.Invalid names them,
    /// so that an error lands under the right field.
    public enum Field: String, CaseIterable, Hashable {
        case kind, household, member, at, temperature, symptoms, outcome, note, task
    }

    public var kind: VisitKind
    public var householdId: String?
    public var memberId: String?
    public var temperature: String
    public var symptoms: String
    public var outcome: String
    public var note: String
    public var taskId: String?

    public init(
        kind: VisitKind = .healthCheck, householdId: String? = nil, memberId: String? = nil,
        temperature: String = "", symptoms: String = "", outcome: String = "", note: String = "",
        taskId: String? = nil
    ) {
        self.kind = kind
        self.householdId = householdId
        self.memberId = memberId
        self.temperature = temperature
        self.symptoms = symptoms
        self.outcome = outcome
        self.note = note
        self.taskId = taskId
    }

    /// The visit to record, or the fields that cannot even be read (a
    /// temperature that is not a number). silin checks the rest.
    func newVisit(by: String) -> Result<NewVisit, FieldErrors> {
        var temperatureValue: Double?
        let text = temperature.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ",", with: ".")
        if !text.isEmpty {
            guard let value = Double(text), value.isFinite else {
                return .failure(FieldErrors([.temperature: "write the temperature as a number, e.g. 36.5"]))
            }
            temperatureValue = value
        }
        return .success(
            NewVisit(
                kind: kind, by: by, householdId: householdId, memberId: memberId,
                temperature: temperatureValue, symptoms: blankToNil(symptoms), outcome: blankToNil(outcome),
                note: blankToNil(note), taskId: taskId))
    }
}

/// Messages to show under form fields, by field.
public struct FieldErrors: Error, Equatable {
    public var messages: [VisitForm.Field: String]

    public init(_ messages: [VisitForm.Field: String] = [:]) { self.messages = messages }

    public subscript(field: VisitForm.Field) -> String? { messages[field] }
    public var isEmpty: Bool { messages.isEmpty }
}

func blankToNil(_ text: String) -> String? {
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
    return trimmed.isEmpty ? nil : trimmed
}
