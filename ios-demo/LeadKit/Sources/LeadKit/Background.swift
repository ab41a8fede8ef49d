import Dispatch

/// Runs a blocking silin call on a background queue and awaits its result.
///
/// Every silin call blocks (SQLite, the network); none may run on the main
/// thread. A dispatch queue rather than `Task.detached`, so that a long call
/// does not hold one of the cooperative pool's few threads.
func offMain<T>(_ work: @escaping () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async {
            continuation.resume(with: Result<T, Error> { try work() })
        }
    }
}
