import COpenSSL

extension SHA256 {
    /// Writes SHA-256(`message`) into the 32 bytes at `digest`, with no heap allocation: the
    /// signing hot path (every commit, every service-auth token) hashes into a stack buffer.
    static func hash(_ message: [UInt8], into digest: UnsafeMutablePointer<UInt8>) {
        let ok = message.withUnsafeBytes { bytes in
            EVP_Digest(bytes.baseAddress, bytes.count, digest, nil, algorithm, nil)
        }
        precondition(ok == 1, "\(OpenSSLError("EVP_Digest"))")
    }
}

/// Runs `body` with SHA-256(`message`) in a stack-allocated 32-byte buffer.
@inline(__always)
func withMessageDigest<Result, Failure: Error>(
    of message: [UInt8], _ body: (UnsafePointer<UInt8>) throws(Failure) -> Result
) throws(Failure) -> Result {
    var digest: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    return try withUnsafeMutableBytes(of: &digest) { (raw) throws(Failure) -> Result in
        let pointer = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
        SHA256.hash(message, into: pointer)
        return try body(pointer)
    }
}
