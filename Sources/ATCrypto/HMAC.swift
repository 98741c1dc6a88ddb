import COpenSSL

/// HMAC-SHA-256 (RFC 2104) through OpenSSL's `EVP_MAC` API, and constant-time comparison.
///
/// Used by age for the header MAC, and by the server for HS256 JWTs; the inputs are arbitrary
/// byte collections so callers need not copy.
public enum HMAC {
    /// Length of an HMAC-SHA-256 tag in bytes.
    public static let sha256ByteCount = 32

    // Fetched once: EVP_MAC_fetch is a provider lookup (see SHA256.algorithm).
    nonisolated(unsafe) static let algorithm: OpaquePointer = {
        guard let mac = EVP_MAC_fetch(nil, "HMAC", nil) else { fatalError("\(OpenSSLError("EVP_MAC_fetch HMAC"))") }
        return mac
    }()

    /// OSSL_PARAM keeps a pointer to the digest name, so it lives in static storage.
    nonisolated(unsafe) static let digestName: UnsafeMutablePointer<CChar> = strdup("SHA256")!

    /// The HMAC-SHA-256 tag of `message` under `key` (any key length; RFC 2104 hashes long keys).
    public static func sha256(key: some Collection<UInt8>, message: some Collection<UInt8>) -> [UInt8] {
        withContiguousBytes(key) { key in
            withContiguousBytes(message) { message in sha256(key: key, message: message) }
        }
    }

    /// The HMAC-SHA-256 tag of `message` under `key`.
    public static func sha256(key: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) -> [UInt8] {
        guard let context = EVP_MAC_CTX_new(algorithm) else { fatalError("\(OpenSSLError("EVP_MAC_CTX_new"))") }
        defer { EVP_MAC_CTX_free(context) }
        var params = [
            OSSL_PARAM_construct_utf8_string(pds_param_digest(), digestName, 0),
            OSSL_PARAM_construct_end(),
        ]
        // A non-NULL key pointer even for an empty key: with NULL, EVP_MAC_init reuses the previous key.
        guard EVP_MAC_init(context, baseAddress(key).assumingMemoryBound(to: UInt8.self), key.count, &params) == 1 else {
            fatalError("\(OpenSSLError("EVP_MAC_init"))")
        }
        if message.count > 0 {
            guard EVP_MAC_update(context, message.baseAddress!.assumingMemoryBound(to: UInt8.self), message.count) == 1 else {
                fatalError("\(OpenSSLError("EVP_MAC_update"))")
            }
        }
        var tag = [UInt8](repeating: 0, count: sha256ByteCount)
        var length = 0
        let ok = tag.withUnsafeMutableBufferPointer { EVP_MAC_final(context, $0.baseAddress, &length, $0.count) }
        precondition(ok == 1 && length == sha256ByteCount, "\(OpenSSLError("EVP_MAC_final"))")
        return tag
    }

    /// Whether `a` and `b` are equal, in time that depends only on their lengths (`CRYPTO_memcmp`).
    ///
    /// Use it for every comparison of a MAC, tag or token against an expected value, so that the
    /// position of the first differing byte does not leak through timing.
    public static func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0 else { return true }
        return withContiguousBytes(a) { a in
            withContiguousBytes(b) { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0 }
        }
    }
}
