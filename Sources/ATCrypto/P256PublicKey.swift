import COpenSSL

/// A NIST P-256 (secp256r1, JWT `ES256`) public key, verified through OpenSSL 3.0.
public struct P256PublicKey: VerifyingKey {
    let key: EVPKey
    /// Verify-initialised contexts for `key`, shared by copies of this value.
    let verifiers: EVPKeyContextPool
    /// The SEC1 compressed encoding, which is also the key's identity for equality and hashing.
    public let compressedBytes: [UInt8]

    /// Always `.es256`.
    public var algorithm: SignatureAlgorithm { .es256 }

    /// Imports a key from SEC1 bytes: compressed (33 bytes, 0x02/0x03 prefix) or uncompressed
    /// (65 bytes, 0x04 prefix). The point must be on the curve.
    public init(bytes: [UInt8]) throws(CryptoError) {
        // OpenSSL also parses the "hybrid" 0x06/0x07 form; only the standard prefixes get through.
        switch (bytes.count, bytes.first) {
        case (33, 0x02), (33, 0x03), (65, 0x04): break
        default:
            throw .invalidPublicKey(
                algorithm: .es256, reason: "expected 33 bytes starting 02/03 or 65 bytes starting 04, got \(bytes.count)")
        }
        guard let point = P256Curve.decodePoint(bytes) else {
            throw .invalidPublicKey(algorithm: .es256, reason: "not a point on the curve")
        }
        defer { EC_POINT_free(point) }
        let compressed = P256Curve.encode(point, compressed: true)
        try self.init(key: P256Curve.makeKey(publicPoint: compressed, privateScalar: nil), compressedBytes: compressed)
    }

    init(key: EVPKey, compressedBytes: [UInt8]) {
        self.key = key
        self.verifiers = EVPKeyContextPool(key: key, operation: .verify)
        self.compressedBytes = compressedBytes
    }

    /// The 65-byte uncompressed SEC1 encoding.
    public var uncompressedBytes: [UInt8] {
        guard let point = P256Curve.decodePoint(compressedBytes) else {
            preconditionFailure("stored P-256 point no longer decodes")
        }
        defer { EC_POINT_free(point) }
        return P256Curve.encode(point, compressed: false)
    }

    /// Whether `signature` is a 64-byte low-S r‖s signature of SHA-256(`message`) by this key.
    ///
    /// OpenSSL accepts both s and n − s, and only DER, so the atproto checks (https://atproto.com/specs/cryptography:
    /// exactly 64 bytes, low-S) come first and the r‖s pair is then re-encoded as DER.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        let acceptable = signature.withUnsafeBytes { raw in
            let r = UnsafeRawBufferPointer(rebasing: raw[0..<32]), s = UnsafeRawBufferPointer(rebasing: raw[32..<64])
            return P256Curve.isValidScalar(r) && P256Curve.isValidScalar(s) && !P256Curve.isHighS(s)
        }
        guard acceptable else { return false }

        // 72 bytes is the longest DER for two 32-byte integers (30 46 02 21 00‖r 02 21 00‖s).
        var der: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0, 0)
        let derLength: Int32 = signature.withUnsafeBufferPointer { raw in
            guard let sig = ECDSA_SIG_new() else { return 0 }
            defer { ECDSA_SIG_free(sig) }
            guard let r = BN_bin2bn(raw.baseAddress, 32, nil) else { return 0 }
            guard let s = BN_bin2bn(raw.baseAddress! + 32, 32, nil) else { BN_free(r); return 0 }
            guard ECDSA_SIG_set0(sig, r, s) == 1 else { BN_free(r); BN_free(s); return 0 }  // set0 owns r, s on success
            return withUnsafeMutableBytes(of: &der) { out in
                var cursor: UnsafeMutablePointer<UInt8>? = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
                return i2d_ECDSA_SIG(sig, &cursor)
            }
        }
        guard derLength > 0 else {
            ERR_clear_error()
            return false
        }
        let verified = withMessageDigest(of: message) { digest in
            withUnsafeBytes(of: &der) { derBytes in
                verifiers.withContext { context in
                    EVP_PKEY_verify(context, derBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), Int(derLength), digest, 32) == 1
                } ?? false
            }
        }
        // A failed verification leaves entries on the thread's error queue; don't let them leak
        // into the next unrelated OpenSSLError.
        if !verified { ERR_clear_error() }
        return verified
    }

    /// JOSE `ES256` verification (RFC 7518 §3.4), for DPoP proofs and OAuth client assertions:
    /// unlike atproto signatures, JWS does not require low-S, so a high s is replaced by n − s (an
    /// equally valid signature of the same message) before the atproto check runs.
    public func verifyJOSE(signature: [UInt8], message: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        var normalized = signature
        let high = signature.withUnsafeBytes { P256Curve.isHighS(UnsafeRawBufferPointer(rebasing: $0[32..<64])) }
        if high {
            // s' = n − s, big-endian subtraction with borrow (s < n, checked by `verify` afterwards).
            var borrow = 0
            for index in stride(from: 31, through: 0, by: -1) {
                var difference = Int(P256Curve.order[index]) - Int(signature[32 + index]) - borrow
                borrow = difference < 0 ? 1 : 0
                if difference < 0 { difference += 256 }
                normalized[32 + index] = UInt8(difference)
            }
            if borrow != 0 { return false }
        }
        return verify(signature: normalized, message: message)
    }

    /// Equal when the points are equal.
    public static func == (lhs: P256PublicKey, rhs: P256PublicKey) -> Bool {
        lhs.compressedBytes == rhs.compressedBytes
    }

    /// Hashes the compressed point.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(compressedBytes)
    }
}
