import ATCrypto
import Synchronization

/// The keys a running server holds in memory (decrypted from their age files at startup).
public struct ServerKeys: Sendable {
    /// The repository signing key (`#atproto` in the DID document): signs commits and service-auth tokens.
    /// Shared by every copy of these keys, so a finished rotation switches the whole server.
    public var signingKey: any SigningKey { slot.state.withLock { $0.current } }
    /// The server's PLC rotation key (nil for did:web accounts, which have none).
    public let rotationKey: (any SigningKey)?
    /// The HMAC key for session JWTs.
    ///
    /// Derived rather than stored: one fewer secret file to protect and back up, and it changes
    /// exactly when the keys behind it do (signing everyone out then is the right outcome).
    public let sessionSecret: [UInt8]
    /// A signing key `pds key rotate` made and published whose switch is not finished: the
    /// server keeps signing with `signingKey` until the DID document shows this one
    /// (docs/ARCHITECTURE.md, "Signing key rotation").
    public var nextSigningKey: (any SigningKey)? { slot.state.withLock { $0.next } }
    private let slot: SigningKeySlot

    public init(signingKey: any SigningKey, rotationKey: (any SigningKey)?, nextSigningKey: (any SigningKey)? = nil) {
        slot = SigningKeySlot((signingKey, nextSigningKey))
        self.rotationKey = rotationKey
        var material = (rotationKey ?? signingKey).privateKeyBytes
        sessionSecret = HKDF.sha256(
            inputKeyMaterial: material, salt: Array("atproto-pds session tokens".utf8),
            info: Array("HS256 v1".utf8), outputByteCount: 32)
        material.zeroize()
    }

    /// Makes the pending next key the signing key (the DID document shows it now). Returns it.
    @discardableResult
    public func promoteNextSigningKey() -> (any SigningKey)? {
        slot.state.withLock { keys in
            guard let next = keys.next else { return nil }
            keys = (next, nil)
            return next
        }
    }
}

/// The signing keys' one shared, mutable place (a class: `Mutex` cannot be copied with the struct).
final class SigningKeySlot: Sendable {
    let state: Mutex<(current: any SigningKey, next: (any SigningKey)?)>
    init(_ keys: (current: any SigningKey, next: (any SigningKey)?)) { state = Mutex(keys) }
}
