import Foundation
import LeadKit
import MultipeerConnectivity

/// LeadKit's PeerLink over MultipeerConnectivity: finds nearby phones that
/// run a silin app (Bonjour service `_silin-sync._tcp`), connects to one,
/// and carries sync frames to it, reliably and in order.
///
/// The phone that invites speaks first (`PeerSync.start`); the invited one
/// accepts. Info.plist needs NSLocalNetworkUsageDescription and
/// NSBonjourServices = [_silin-sync._tcp, _silin-sync._udp].
final class NearbyPeerLink: NSObject, ObservableObject, PeerLink, @unchecked Sendable {
    enum Failure: Error, CustomStringConvertible {
        case notConnected
        case disconnected

        var description: String {
            switch self {
            case .notConnected: return "还没有连上附近的手机"
            case .disconnected: return "与附近手机的连接断开了，请重新同步"
            }
        }
    }

    static let serviceType = "silin-sync"

    /// Phones found nearby.
    @Published private(set) var found: [MCPeerID] = []
    /// The phone this link talks to, once connected.
    @Published private(set) var connected: MCPeerID?
    /// Called on the main queue when a connection is ready; `starting` is
    /// true on the phone that invited.
    var onConnected: ((_ peer: MCPeerID, _ starting: Bool) -> Void)?

    private let me: MCPeerID
    private let session: MCSession
    private let advertiser: MCNearbyServiceAdvertiser
    private let browser: MCNearbyServiceBrowser
    private let inbox = Inbox()
    private var invited: MCPeerID?

    init(displayName: String) {
        me = MCPeerID(displayName: displayName)
        session = MCSession(peer: me, securityIdentity: nil, encryptionPreference: .required)
        advertiser = MCNearbyServiceAdvertiser(peer: me, discoveryInfo: nil, serviceType: Self.serviceType)
        browser = MCNearbyServiceBrowser(peer: me, serviceType: Self.serviceType)
        super.init()
        session.delegate = self
        advertiser.delegate = self
        browser.delegate = self
    }

    func startLooking() {
        advertiser.startAdvertisingPeer()
        browser.startBrowsingForPeers()
    }

    func stopLooking() {
        advertiser.stopAdvertisingPeer()
        browser.stopBrowsingForPeers()
    }

    func invite(_ peer: MCPeerID) {
        invited = peer
        browser.invitePeer(peer, to: session, withContext: nil, timeout: 30)
    }

    func disconnect() {
        session.disconnect()
    }

    // MARK: PeerLink

    func send(_ frame: Data) async throws {
        guard let peer = connected else { throw Failure.notConnected }
        try session.send(frame, toPeers: [peer], with: .reliable)
    }

    func receive() async throws -> Data {
        try await inbox.take()
    }

    /// Frames from the peer, in the order they came, waiting for the next;
    /// a lost connection fails the waiting receive. A lock rather than an
    /// actor, so that frames are queued in delegate-call order.
    final class Inbox: @unchecked Sendable {
        private let lock = NSLock()
        private var frames: [Data] = []
        private var waiting: CheckedContinuation<Data, Error>?
        private var closed = false

        func put(_ frame: Data) {
            lock.lock()
            if let waiting {
                self.waiting = nil
                lock.unlock()
                waiting.resume(returning: frame)
                return
            }
            frames.append(frame)
            lock.unlock()
        }

        func close() {
            lock.lock()
            closed = true
            let waiter = waiting
            waiting = nil
            lock.unlock()
            waiter?.resume(throwing: Failure.disconnected)
        }

        func reopen() {
            lock.lock()
            closed = false
            lock.unlock()
        }

        func take() async throws -> Data {
            try await withCheckedThrowingContinuation { continuation in
                lock.lock()
                if !frames.isEmpty {
                    let frame = frames.removeFirst()
                    lock.unlock()
                    continuation.resume(returning: frame)
                } else if closed {
                    lock.unlock()
                    continuation.resume(throwing: Failure.disconnected)
                } else {
                    waiting = continuation
                    lock.unlock()
                }
            }
        }
    }
}

extension NearbyPeerLink: MCSessionDelegate {
    func session(_ session: MCSession, peer peerID: MCPeerID, didChange state: MCSessionState) {
        switch state {
        case .connected:
            let starting = (peerID == invited)
            inbox.reopen()
            DispatchQueue.main.async {
                self.connected = peerID
                self.onConnected?(peerID, starting)
            }
        case .notConnected:
            inbox.close()
            DispatchQueue.main.async {
                if self.connected == peerID { self.connected = nil }
            }
        default:
            break
        }
    }

    func session(_ session: MCSession, didReceive data: Data, fromPeer peerID: MCPeerID) {
        inbox.put(data)
    }

    func session(_ session: MCSession, didReceive stream: InputStream, withName streamName: String, fromPeer peerID: MCPeerID) {}

    func session(
        _ session: MCSession, didStartReceivingResourceWithName resourceName: String, fromPeer peerID: MCPeerID,
        with progress: Progress
    ) {}

    func session(
        _ session: MCSession, didFinishReceivingResourceWithName resourceName: String, fromPeer peerID: MCPeerID,
        at localURL: URL?, withError error: Error?
    ) {}
}

extension NearbyPeerLink: MCNearbyServiceAdvertiserDelegate {
    func advertiser(
        _ advertiser: MCNearbyServiceAdvertiser, didReceiveInvitationFromPeer peerID: MCPeerID,
        withContext context: Data?, invitationHandler: @escaping (Bool, MCSession?) -> Void
    ) {
        // A real app asks the lead first; the demo accepts phones that find it.
        invitationHandler(true, session)
    }
}

extension NearbyPeerLink: MCNearbyServiceBrowserDelegate {
    func browser(_ browser: MCNearbyServiceBrowser, foundPeer peerID: MCPeerID, withDiscoveryInfo info: [String: String]?) {
        DispatchQueue.main.async {
            if !self.found.contains(peerID) { self.found.append(peerID) }
        }
    }

    func browser(_ browser: MCNearbyServiceBrowser, lostPeer peerID: MCPeerID) {
        DispatchQueue.main.async {
            self.found.removeAll { $0 == peerID }
        }
    }
}
