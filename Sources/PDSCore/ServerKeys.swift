import ATCrypto

/// The keys a running server holds in memory (decrypted from their age files at startup).
public struct ServerKeys: Sendable {
    /// The repository signing key (`#atproto` in the DID document): signs commits and service-auth tokens.
    public let signingKey: any SigningKey
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
    public let nextSigningKey: (any SigningKey)?

    public init(signingKey: any SigningKey, rotationKey: (any SigningKey)?, nextSigningKey: (any SigningKey)? = nil) {
        self.signingKey = signingKey
        self.rotationKey = rotationKey
        self.nextSigningKey = nextSigningKey
        var material = (rotationKey ?? signingKey).privateKeyBytes
        sessionSecret = HKDF.sha256(
            inputKeyMaterial: material, salt: Array("atproto-pds session tokens".utf8),
            info: Array("HS256 v1".utf8), outputByteCount: 32)
        material.zeroize()
    }
}
