import COpenSSL

/// SHA-256 through OpenSSL (`EVP_Q_digest` one-shot, `EVP_Digest*` streaming).
public struct SHA256: ~Copyable {
    /// Digest length in bytes.
    public static let byteCount = 32

    // Fetched once: EVP_MD_fetch does a provider lookup, which is measurable on hot paths
    // (every CID and every signature hashes).
    nonisolated(unsafe) static let algorithm: OpaquePointer = {
        guard let md = EVP_MD_fetch(nil, "SHA256", nil) else { fatalError("OpenSSL has no SHA256") }
        return md
    }()

    private let context: OpaquePointer

    /// Starts a streaming digest.
    public init() {
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex2(context, SHA256.algorithm, nil) == 1 else {
            fatalError("\(OpenSSLError("EVP_DigestInit_ex2"))")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Feeds more bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
    }

    /// Feeds more bytes.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Feeds more bytes.
    public mutating func update(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Finishes and returns the 32-byte digest, then resets so the hasher can be used again.
    /// (Mutating rather than consuming so a hasher can live in a class's stored property.)
    public mutating func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: SHA256.byteCount)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        EVP_DigestInit_ex2(context, SHA256.algorithm, nil)
        return digest
    }

    /// The SHA-256 digest of `bytes`.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: byteCount)
        // EVP_Digest with a pre-fetched MD avoids a per-call algorithm lookup.
        let ok = digest.withUnsafeMutableBytes { out in
            EVP_Digest(bytes.baseAddress, bytes.count, out.baseAddress, nil, algorithm, nil)
        }
        precondition(ok == 1, "\(OpenSSLError("EVP_Digest"))")
        return digest
    }

    /// The SHA-256 digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// The SHA-256 digest of `bytes`.
    public static func hash(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }
}
