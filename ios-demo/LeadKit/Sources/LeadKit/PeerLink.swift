import Foundation
import Silin

/// A two-way channel to one nearby phone, carrying whole frames in order:
/// the app implements it over MultipeerConnectivity, Bluetooth LE or a QR
/// sequence (see LeadApp/NearbyPeerLink.swift). Both calls may suspend.
public protocol PeerLink: AnyObject {
    /// Sends one frame to the peer.
    func send(_ frame: Data) async throws
    /// The next frame from the peer, waiting for it to arrive.
    func receive() async throws -> Data
}

public enum PeerSyncError: Error, Equatable, CustomStringConvertible {
    /// The peer sent something that is not a frame of this protocol.
    case badFrame
    /// The peer gave up on the sync; `reason` is its message.
    case peerFailed(reason: String)
    /// The exchange went on far longer than any real sync does.
    case tooManyMessages

    public var description: String {
        switch self {
        case .badFrame: return "the nearby phone sent something that is not a silin sync"
        case .peerFailed(let reason): return "the nearby phone stopped the sync: \(reason)"
        case .tooManyMessages: return "the sync went on too long and was stopped"
        }
    }
}

/// One silin sync carried over a PeerLink.
///
/// silin's session hands out messages and says when it is done: the
/// starting side's `receive` returns nil, and its `closeMessage()` then ends
/// the accepting side's session too. Each message travels in a frame whose
/// first byte says what it is, and the starting side ends with a `finished`
/// frame, so the accepting side stops listening even when there was nothing
/// to close (the same framing as android-demo's PeerSync):
///
///     0x01 <silin message>    a message for the peer's session
///     0x02                    the sync is over (sent by the starting side)
///     0x03 <UTF-8 reason>     this side failed; the peer should stop too
///
/// Session calls block, so they run off the calling actor.
public enum PeerSync {
    static let messageTag: UInt8 = 0x01
    static let finishedTag: UInt8 = 0x02
    static let failedTag: UInt8 = 0x03
    static let maxMessages = 1_000

    enum Frame: Equatable {
        case message(Data)
        case finished
        case failed(String)
    }

    static func encode(_ frame: Frame) -> Data {
        switch frame {
        case .message(let body): return Data([messageTag]) + body
        case .finished: return Data([finishedTag])
        case .failed(let reason): return Data([failedTag]) + Data(reason.utf8)
        }
    }

    static func decode(_ data: Data) throws -> Frame {
        guard let tag = data.first else { throw PeerSyncError.badFrame }
        let body = Data(data.dropFirst())
        switch tag {
        case messageTag: return .message(body)
        case finishedTag where body.isEmpty: return .finished
        case failedTag: return .failed(String(decoding: body, as: UTF8.self))
        default: throw PeerSyncError.badFrame
        }
    }

    /// This phone speaks first (it found the peer, or the user tapped Sync).
    /// `peerDeviceId`, when known from an earlier sync, saves sending
    /// certificates both sides already hold.
    public static func start(store: Store, over link: PeerLink, peerDeviceId: String? = nil) async throws -> SyncStats {
        try await reportingFailure(to: link) {
            let start = try await offMain { try store.startSync(peerDeviceId: peerDeviceId) }
            let session = start.session
            try await link.send(encode(.message(start.message)))
            for _ in 0..<maxMessages {
                let frame = try await link.receive()
                let incoming: Data
                switch try decode(frame) {
                case .message(let body): incoming = body
                case .failed(let reason): throw PeerSyncError.peerFailed(reason: reason)
                case .finished: throw PeerSyncError.badFrame  // only the starting side ends
                }
                guard let reply = try await offMain({ try session.receive(message: incoming) }) else {
                    if let closing = session.closeMessage() {
                        try await link.send(encode(.message(closing)))
                    }
                    try await link.send(encode(.finished))
                    return session.stats()
                }
                try await link.send(encode(.message(reply)))
            }
            throw PeerSyncError.tooManyMessages
        }
    }

    /// The peer speaks first; this phone answers until the peer says the
    /// sync is over.
    public static func accept(store: Store, over link: PeerLink) async throws -> SyncStats {
        try await reportingFailure(to: link) {
            let session = try await offMain { try store.acceptSync() }
            for _ in 0..<maxMessages {
                let frame = try await link.receive()
                let incoming: Data
                switch try decode(frame) {
                case .message(let body): incoming = body
                case .finished: return session.stats()
                case .failed(let reason): throw PeerSyncError.peerFailed(reason: reason)
                }
                // The closing message gets no answer; the peer's
                // `finished` frame follows it.
                if let reply = try await offMain({ try session.receive(message: incoming) }) {
                    try await link.send(encode(.message(reply)))
                }
            }
            throw PeerSyncError.tooManyMessages
        }
    }

    /// Runs one side of a sync; if it fails on this side, tells the peer
    /// (best effort) so that it does not wait for a frame that never comes.
    static func reportingFailure<T>(to link: PeerLink, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch PeerSyncError.peerFailed(let reason) {
            throw PeerSyncError.peerFailed(reason: reason)
        } catch {
            try? await link.send(encode(.failed(describe(error))))
            throw error
        }
    }
}

/// Two PeerLinks joined in memory: for tests, previews and a same-device
/// demo. `pair()` gives both ends.
public final class MemoryPeerLink: PeerLink, @unchecked Sendable {
    private let inbox: Mailbox
    private let outbox: Mailbox

    private init(inbox: Mailbox, outbox: Mailbox) {
        self.inbox = inbox
        self.outbox = outbox
    }

    public static func pair() -> (MemoryPeerLink, MemoryPeerLink) {
        let a = Mailbox()
        let b = Mailbox()
        return (MemoryPeerLink(inbox: a, outbox: b), MemoryPeerLink(inbox: b, outbox: a))
    }

    public func send(_ frame: Data) async throws { await outbox.put(frame) }
    public func receive() async throws -> Data { await inbox.take() }

    /// Frames sent to this end and not yet received.
    public func pending() async -> Int { await inbox.count }

    actor Mailbox {
        private var frames: [Data] = []
        private var waiting: [CheckedContinuation<Data, Never>] = []

        var count: Int { frames.count }

        func put(_ frame: Data) {
            if waiting.isEmpty {
                frames.append(frame)
            } else {
                waiting.removeFirst().resume(returning: frame)
            }
        }

        func take() async -> Data {
            if !frames.isEmpty { return frames.removeFirst() }
            return await withCheckedContinuation { waiting.append($0) }
        }
    }
}
