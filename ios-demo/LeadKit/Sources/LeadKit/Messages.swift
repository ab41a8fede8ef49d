import Foundation
import Silin

/// A sentence to show the user for any error a LeadKit call can meet.
/// silin's errors carry their own sentence (`detail` or `rule`).
func describe(_ error: Error) -> String {
    if let error = error as? StoreError {
        switch error {
        case .Invalid(let field, let rule): return "\(field): \(rule)"
        case .NotFound(let what, _): return "That \(what) is no longer in this register; refresh and try again."
        case .WrongKey(let detail), .EncryptionUnavailable(let detail), .Closed(let detail),
            .Incompatible(let detail), .Storage(let detail), .NotAllowed(let detail):
            return detail
        case .Damaged(_, let detail): return "A cell is damaged (\(detail)); sync with a grid worker to restore it."
        }
    }
    if let error = error as? SyncError {
        switch error {
        case .NotEnrolled(let detail), .Refused(let detail), .Malformed(let detail), .SessionFailed(let detail),
            .ClockSkew(let detail), .BadHubUrl(_, let detail), .BadToken(let detail),
            .HubUnreachable(_, let detail), .HubRefused(_, _, let detail), .Closed(let detail),
            .Storage(let detail), .Cancelled(let detail):
            return detail
        case .Invalid(let field, let rule): return "\(field): \(rule)"
        case .NotFound(let what, _): return "That \(what) is not in this register."
        }
    }
    if let error = error as? PeerSyncError { return error.description }
    if let error = error as? FieldErrors { return error.messages.values.sorted().joined(separator: "; ") }
    return "\(error)"
}
