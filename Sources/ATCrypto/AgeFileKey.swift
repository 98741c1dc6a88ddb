/// The 16-byte symmetric key of one age file (age spec, "File key").
///
/// The bytes live in memory this module owns and are wiped when the last reference is released,
/// so unwrapped keys do not linger after decryption.
public final class AgeFileKey: Sendable {
    /// File key length in bytes.
    public static let byteCount = 16

    let secret: SecretBytes

    /// A fresh key: 16 bytes from the CSPRNG. A file key MUST NOT be reused across files.
    public static func generate() -> AgeFileKey {
        var bytes = SecureRandom.bytes(byteCount)
        defer { bytes.zeroize() }
        return AgeFileKey(unchecked: bytes)
    }

    /// Wraps unwrapped key bytes (for custom ``AgeIdentity`` implementations).
    public init(bytes: some Collection<UInt8>) throws(AgeError) {
        guard bytes.count == AgeFileKey.byteCount else { throw .headerFailure("file key must be 16 bytes, got \(bytes.count)") }
        secret = SecretBytes(bytes)
    }

    init(unchecked bytes: some Collection<UInt8>) {
        secret = SecretBytes(bytes)
    }

    /// Calls `body` with the 16 key bytes. Do not let them escape.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try secret.withUnsafeBytes(body)
    }

    /// HKDF-SHA-256(ikm = file key, salt, info), 32 bytes: the header MAC key (salt empty, info
    /// "header") and the payload key (salt = nonce, info "payload").
    func deriveKey(salt: some Collection<UInt8>, info: String) -> [UInt8] {
        withUnsafeBytes { key in HKDF.sha256(inputKeyMaterial: key, salt: salt, info: info.utf8, outputByteCount: 32) }
    }
}

