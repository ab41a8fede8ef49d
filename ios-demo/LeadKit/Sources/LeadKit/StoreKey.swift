import Foundation

#if canImport(Security)
import Security
#endif

/// Where the store's encryption key comes from: 64 hex digits, a raw
/// 32-byte key for `Store.open(path:key:)`.
public protocol StoreKeyProvider: Sendable {
    func storeKey() throws -> String
}

public enum StoreKeys {
    /// 32 random bytes from the system's cryptographically secure generator,
    /// as 64 lower-case hex digits.
    public static func randomHex() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    public static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined()
    }
}

/// A key given by the caller: for tests, previews and command-line tools.
public struct FixedStoreKey: StoreKeyProvider {
    public let hex: String
    public init(hex: String) { self.hex = hex }
    public func storeKey() throws -> String { hex }
}

#if canImport(Security)
/// The store key kept in the iOS Keychain: made once per device (32 random
/// bytes), readable after the first unlock so that background sync works,
/// never copied to another device by a backup.
public struct KeychainStoreKey: StoreKeyProvider {
    public struct Failure: Error, CustomStringConvertible {
        public let status: OSStatus
        public var description: String { "Keychain error \(status)" }
    }

    public let service: String
    public let account: String

    public init(service: String = "org.silin.lead", account: String = "store-key") {
        self.service = service
        self.account = account
    }

    public func storeKey() throws -> String {
        if let bytes = try read() {
            return StoreKeys.hex(bytes)
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        let random = SecRandomCopyBytes(kSecRandomDefault, bytes.count, &bytes)
        guard random == errSecSuccess else { throw Failure(status: random) }

        var add = baseQuery
        add[kSecValueData as String] = Data(bytes)
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let status = SecItemAdd(add as CFDictionary, nil)
        if status == errSecDuplicateItem, let existing = try read() {
            // Another thread made it first: use theirs.
            return StoreKeys.hex(existing)
        }
        guard status == errSecSuccess else { throw Failure(status: status) }
        return StoreKeys.hex(bytes)
    }

    private var baseQuery: [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
        ]
    }

    private func read() throws -> [UInt8]? {
        var query = baseQuery
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess, let data = item as? Data, data.count == 32 else {
            throw Failure(status: status)
        }
        return [UInt8](data)
    }
}
#endif
