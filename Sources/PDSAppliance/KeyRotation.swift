import ATCrypto
import Foundation
import Logging
import PDSCore

/// `pds key rotate`: replaces the repository signing key (docs/ARCHITECTURE.md, "Signing key
/// rotation").
///
/// The command runs with the server stopped (it holds the data directory's lock): it writes a
/// new K-256 key as `keys/signing-next.age` (age-encrypted to the secret that opened the other
/// key files), publishes a PLC operation signed with the rotation key that makes it the DID
/// document's `#atproto` key, and waits for the directory to show it. Until then the old key
/// stays `signing.age` and is the one the server signs with. Once the document shows the new key
/// (now, or at a later `pds serve` start, which checks), the switch finishes: the old file is
/// kept as `signing-retired-<time>.age`, `#identity` is sequenced so relays re-resolve the
/// document, and the new file becomes `signing.age`. A server started while the directory did not
/// show it yet keeps checking (`KeyRotationWatcher`) and switches without a restart.
public enum KeyRotation {
    public struct Outcome: Sendable {
        public let newKey: String
        /// Whether the switch finished (the directory showed the key in time).
        public let switched: Bool
        public let retiredPath: String?
    }

    /// A line for `pds status` when a rotation waits for the directory.
    public static func pendingDescription(dataDirectory: String) -> String? {
        let path = KeyFiles(dataDirectory: dataDirectory).nextSigningKeyPath
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return "rotation pending: \(path) waits for the DID document to show it; the server signs with the old key"
    }

    /// The recipients to seal a new key file to: those of the identities that opened the others.
    static func recipients(for identities: [any AgeIdentity]) throws -> [any AgeRecipient] {
        let recipients: [any AgeRecipient] = try identities.compactMap { identity in
            if let x25519 = identity as? AgeX25519Identity { return x25519.recipient }
            if let scrypt = identity as? AgeScryptIdentity { return try scrypt.recipient() }
            return nil
        }
        guard let first = recipients.first else {
            throw KeyFiles.Problem(description: "the unlock secret cannot seal a new key file (no X25519 identity or passphrase)")
        }
        // An scrypt recipient must be the only one in a file (age spec).
        return first is AgeScryptRecipient ? [first] : recipients
    }

    /// Makes and publishes a new signing key (or re-publishes a pending one), then waits up to
    /// `wait` for the DID document to show it and finishes the switch if it does.
    public static func rotate(state: PDSServices, identities: [any AgeIdentity], wait: Duration,
                              poll: Duration = .seconds(1)) async throws -> Outcome {
        guard let account = try state.accounts.account() else {
            throw KeyFiles.Problem(description: "\(state.config.dataDirectory) holds no account")
        }
        let files = KeyFiles(dataDirectory: state.config.dataDirectory)
        let next: any SigningKey
        if let pending = state.keys.nextSigningKey {
            next = pending
        } else {
            next = K256PrivateKey()
            try files.write(next, to: files.nextSigningKeyPath, recipients: try recipients(for: identities))
        }
        if try await state.identity.publishedSigningKey(did: account.did) != next.didKey {
            _ = try await state.identity.publishSigningKey(next.publicKey, account: account)
            state.logger.info("signing key rotation published", metadata: ["did": "\(account.did)", "key": "\(next.didKey)"])
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: wait)
        while true {
            if let retired = try await finishIfPublished(state: state, next: next) {
                return Outcome(newKey: next.didKey, switched: true, retiredPath: retired)
            }
            if clock.now >= deadline { return Outcome(newKey: next.didKey, switched: false, retiredPath: nil) }
            try await Task.sleep(for: poll)
        }
    }

    /// Finishes a pending rotation if the DID document now shows the new key, switching the
    /// running server's keys in place (`ServerKeys.promoteNextSigningKey`). Returns whether it
    /// switched; otherwise the old key keeps signing. Called at start and by `KeyRotationWatcher`.
    @discardableResult
    public static func finishPending(state: PDSServices) async -> Bool {
        guard let next = state.keys.nextSigningKey else { return false }
        do {
            guard try await finishIfPublished(state: state, next: next) != nil else {
                state.logger.warning("signing key rotation pending: the DID document does not show the new key yet; signing with the old key",
                                     metadata: ["next": "\(next.didKey)"])
                return false
            }
        } catch {
            state.logger.warning("signing key rotation pending: cannot check the DID document; signing with the old key",
                                 metadata: ["error": "\(error)"])
            return false
        }
        state.keys.promoteNextSigningKey()
        state.logger.info("signing key rotation finished", metadata: ["key": "\(next.didKey)"])
        return true
    }

    /// The switch, when the document shows `next`: keeps the old file, sequences `#identity`,
    /// installs the new file. Returns where the old key is kept, or nil if not shown yet.
    /// Order: the old key is hard-linked first (a crash leaves it in place), and `#identity`
    /// goes before the rename (a crash before the rename repeats the switch at the next start,
    /// and a second `#identity` is harmless).
    static func finishIfPublished(state: PDSServices, next: any SigningKey) async throws -> String? {
        guard let account = try state.accounts.account(),
              try await state.identity.publishedSigningKey(did: account.did) == next.didKey else { return nil }
        let files = KeyFiles(dataDirectory: state.config.dataDirectory)
        let retired = files.retiredSigningKeyPath(at: Int64(Date().timeIntervalSince1970))
        if !FileManager.default.fileExists(atPath: retired) {
            guard link(files.signingKeyPath, retired) == 0 else {
                throw KeyFiles.Problem(description: "cannot keep the old key as \(retired): \(String(cString: strerror(errno)))")
            }
        }
        try state.identity.announceIdentity(account: account)
        guard rename(files.nextSigningKeyPath, files.signingKeyPath) == 0 else {
            throw KeyFiles.Problem(description: "cannot install \(files.nextSigningKeyPath): \(String(cString: strerror(errno)))")
        }
        return retired
    }
}
