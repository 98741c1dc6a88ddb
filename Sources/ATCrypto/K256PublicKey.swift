import CSecp256k1

/// A secp256k1 ("K-256", JWT `ES256K`) public key, verified through libsecp256k1.
public struct K256PublicKey: VerifyingKey {
    /// The parsed point in libsecp256k1's internal form (64 opaque bytes), kept so that
    /// verification does not re-parse (and re-decompress) the key each time.
    let point: secp256k1_pubkey
    /// The SEC1 compressed encoding, which is also the key's identity for equality and hashing.
    public let compressedBytes: [UInt8]

    /// Always `.es256k`.
    public var algorithm: SignatureAlgorithm { .es256k }

    /// Imports a key from SEC1 bytes: compressed (33 bytes, 0x02/0x03 prefix) or uncompressed
    /// (65 bytes, 0x04 prefix). The point must be on the curve.
    public init(bytes: [UInt8]) throws(CryptoError) {
        // secp256k1_ec_pubkey_parse also takes the "hybrid" 0x06/0x07 form; SEC1 keys in atproto
        // never use it, so only the two standard prefixes get through.
        switch (bytes.count, bytes.first) {
        case (33, 0x02), (33, 0x03), (65, 0x04): break
        default:
            throw .invalidPublicKey(
                algorithm: .es256k, reason: "expected 33 bytes starting 02/03 or 65 bytes starting 04, got \(bytes.count)")
        }
        var point = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_parse(Secp256k1Context.shared, &point, bytes, bytes.count) == 1 else {
            throw .invalidPublicKey(algorithm: .es256k, reason: "not a point on the curve")
        }
        self.init(point: point)
    }

    /// Wraps an already-validated point.
    init(point: secp256k1_pubkey) {
        self.point = point
        self.compressedBytes = K256PublicKey.serialize(point, compressed: true)
    }

    /// The 65-byte uncompressed SEC1 encoding.
    public var uncompressedBytes: [UInt8] { K256PublicKey.serialize(point, compressed: false) }

    private static func serialize(_ point: secp256k1_pubkey, compressed: Bool) -> [UInt8] {
        var point = point
        let count = compressed ? 33 : 65
        let flags = UInt32(compressed ? SECP256K1_EC_COMPRESSED : SECP256K1_EC_UNCOMPRESSED)
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var length = count
            let ok = secp256k1_ec_pubkey_serialize(Secp256k1Context.shared, buffer.baseAddress!, &length, &point, flags)
            precondition(ok == 1 && length == count, "secp256k1_ec_pubkey_serialize failed")
            initialized = count
        }
    }

    /// Whether `signature` is a 64-byte low-S r‖s signature of SHA-256(`message`) by this key.
    ///
    /// `secp256k1_ecdsa_verify` itself rejects high-S signatures (its documentation: "To avoid
    /// accepting malleable signatures, only ECDSA signatures in lower-S form are accepted"), which
    /// is exactly atproto's rule (https://atproto.com/specs/cryptography); the tests check that it still does.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        var parsed = secp256k1_ecdsa_signature()
        // parse_compact fails when r or s ≥ n.
        guard secp256k1_ecdsa_signature_parse_compact(Secp256k1Context.shared, &parsed, signature) == 1 else {
            return false
        }
        var point = self.point
        return withMessageDigest(of: message) { digest in
            secp256k1_ecdsa_verify(Secp256k1Context.shared, &parsed, digest, &point) == 1
        }
    }

    /// Equal when the points are equal.
    public static func == (lhs: K256PublicKey, rhs: K256PublicKey) -> Bool {
        lhs.compressedBytes == rhs.compressedBytes
    }

    /// Hashes the compressed point.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(compressedBytes)
    }
}
