import COpenSSL

/// SHA-256 (what ACME needs for key thumbprints and TLS-ALPN-01 digests).
public enum SHA256Digest {
    /// The 32-byte SHA-256 of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length = 0
        let ok = EVP_Q_digest(nil, "SHA256", nil, bytes, bytes.count, &digest, &length)
        precondition(ok == 1 && length == 32, "EVP_Q_digest(SHA256) failed")
        return digest
    }
}
