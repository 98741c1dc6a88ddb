import ATCrypto
import Foundation
import PDSStore

/// The account's app passwords: created (shown once, stored as a scrypt hash), listed, revoked.
/// Used by `com.atproto.server.*AppPassword` and by `pds app-password` on the box.
public struct AppPasswords: Sendable {
    let accounts: AccountStore

    public init(accounts: AccountStore) { self.accounts = accounts }

    /// Creates an app password and returns it (shown once; only its hash is stored). scrypt runs
    /// off the event loops (`SessionService.offEventLoop`).
    public func create(name: String, privileged: Bool, did: String) async throws -> (info: AppPasswordInfo, password: String) {
        let name = name.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { throw SessionError.emptyAppPasswordName }
        let password = Self.generate()
        let hash = try await SessionService.offEventLoop { try Self.hash(password, did: did) }
        do {
            return (try accounts.createAppPassword(name: name, hash: hash, privileged: privileged), password)
        } catch StoreError.appPasswordNameTaken {
            throw SessionError.appPasswordNameTaken
        }
    }

    /// Every app password, newest first (names and dates; the passwords themselves are not kept).
    public func list() throws -> [AppPasswordInfo] { try accounts.appPasswords() }

    /// Revokes `name` and the refresh tokens issued with it; false when there was none.
    @discardableResult
    public func revoke(name: String) throws -> Bool { try accounts.revokeAppPassword(name: name) }

    /// App passwords are hashed with a per-account salt so one scrypt finds the row.
    static func hash(_ password: String, did: String) throws -> String {
        try PasswordHash.make(password, salt: Array(SHA256.hash(Array(did.utf8)).prefix(16)))
    }

    /// `xxxx-xxxx-xxxx-xxxx` from the base32 alphabet (80 bits of randomness).
    public static func generate() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        let random = SecureRandom.bytes(16)
        let characters = random.map { alphabet[Int($0 & 31)] }
        return stride(from: 0, to: 16, by: 4).map { String(characters[$0..<($0 + 4)]) }.joined(separator: "-")
    }
}
