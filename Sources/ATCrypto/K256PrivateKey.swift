import CSecp256k1

/// A secp256k1 ("K-256", JWT `ES256K`) private key, signing through libsecp256k1.
///
/// Signing uses RFC 6979 deterministic nonces (the library default), so the same key and message
/// always give the same signature, and libsecp256k1 emits low-S signatures by construction, which
/// is what https://atproto.com/specs/cryptography requires. This is the PDS's hot path (every commit and every proxied
/// request signs), so `sign` hashes into a stack buffer and shares one prebuilt context.
public struct K256PrivateKey: SigningKey {
    private let secret: SecretBytes
    /// The matching public key, derived once at creation.
    public let publicKey: K256PublicKey

    /// Always `.es256k`.
    public var algorithm: SignatureAlgorithm { .es256k }

    /// A new random key: 32 bytes from the system DRBG, redrawn in the (≈2⁻¹²⁸) case that they
    /// are zero or not below the group order.
    public init() {
        while true {
            var candidate = SecureRandom.bytes(32)
            defer { candidate.zeroize() }
            if let key = try? K256PrivateKey(privateKeyBytes: candidate) {
                self = key
                return
            }
        }
    }

    /// Imports a private key from its 32-byte big-endian scalar, which must be in [1, n−1].
    public init(privateKeyBytes bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == 32 else {
            throw .invalidPrivateKey(algorithm: .es256k, reason: "expected 32 bytes, got \(bytes.count)")
        }
        guard secp256k1_ec_seckey_verify(Secp256k1Context.shared, bytes) == 1 else {
            throw .invalidPrivateKey(algorithm: .es256k, reason: "scalar is zero or not below the group order")
        }
        var point = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_create(Secp256k1Context.shared, &point, bytes) == 1 else {
            throw .invalidPrivateKey(algorithm: .es256k, reason: "public key derivation failed")
        }
        secret = SecretBytes(bytes)
        publicKey = K256PublicKey(point: point)
    }

    /// The 32-byte big-endian private scalar.
    public var privateKeyBytes: [UInt8] { secret.bytes }

    /// Signs SHA-256(`message`): 64-byte compact r‖s, low-S, deterministic (RFC 6979).
    public func sign(_ message: [UInt8]) -> [UInt8] {
        withMessageDigest(of: message) { digest in
            var signature = secp256k1_ecdsa_signature()
            // nil nonce function = secp256k1_nonce_function_rfc6979. Fails only for an invalid
            // secret key, which init has ruled out (or with negligible probability for a nonce).
            let ok = secp256k1_ecdsa_sign(Secp256k1Context.shared, &signature, digest, secret.pointer, nil, nil)
            precondition(ok == 1, "secp256k1_ecdsa_sign failed")
            return [UInt8](unsafeUninitializedCapacity: 64) { buffer, initialized in
                secp256k1_ecdsa_signature_serialize_compact(Secp256k1Context.shared, buffer.baseAddress!, &signature)
                initialized = 64
            }
        }
    }
}
