import COpenSSL

/// A NIST P-256 (secp256r1, JWT `ES256`) private key, signing through OpenSSL 3.0.
///
/// OpenSSL 3.0 uses random ECDSA nonces (RFC 6979 arrives in 3.2), so signatures differ from call
/// to call; atproto does not require determinism. It does require low-S, which OpenSSL does not
/// produce by itself, so every signature is normalised here (https://atproto.com/specs/cryptography requires low-S).
public struct P256PrivateKey: SigningKey {
    let key: EVPKey
    /// Sign-initialised contexts for `key`, shared by copies of this value.
    let signers: EVPKeyContextPool
    /// The matching public key.
    public let publicKey: P256PublicKey

    /// Always `.es256`.
    public var algorithm: SignatureAlgorithm { .es256 }

    /// A new random key from OpenSSL's key generator (the non-variadic equivalent of
    /// `EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1")`, which Swift cannot call).
    public init() throws(CryptoError) {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw .openSSL(OpenSSLError("EVP_PKEY_CTX_new_from_name(EC)"))
        }
        defer { EVP_PKEY_CTX_free(context) }
        var generated: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1,
              EVP_PKEY_CTX_set_group_name(context, P256Curve.groupName) == 1,
              EVP_PKEY_generate(context, &generated) == 1, let generated
        else { throw .openSSL(OpenSSLError("EVP_PKEY_generate(P-256)")) }
        let key = EVPKey(generated)
        self.signers = EVPKeyContextPool(key: key, operation: .sign)

        // OSSL_PKEY_PARAM_PUB_KEY comes out uncompressed by default; P256PublicKey compresses it.
        var uncompressed = [UInt8](repeating: 0, count: 65)
        var length = 0
        guard EVP_PKEY_get_octet_string_param(key.pointer, pds_param_pub_key(), &uncompressed, 65, &length) == 1 else {
            throw .openSSL(OpenSSLError("EVP_PKEY_get_octet_string_param(pub)"))
        }
        self.key = key
        self.publicKey = try P256PublicKey(bytes: Array(uncompressed.prefix(length)))
    }

    /// Imports a private key from its 32-byte big-endian scalar, which must be in [1, n−1].
    ///
    /// `EVP_PKEY_fromdata` does not derive the public point from the scalar (EVP_PKEY_fromdata(3)), so it is
    /// computed here as d·G and both are handed over.
    public init(privateKeyBytes bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == 32 else {
            throw .invalidPrivateKey(algorithm: .es256, reason: "expected 32 bytes, got \(bytes.count)")
        }
        guard bytes.withUnsafeBytes({ P256Curve.isValidScalar($0) }) else {
            throw .invalidPrivateKey(algorithm: .es256, reason: "scalar is zero or not below the group order")
        }
        // A secure, constant-time BIGNUM: it lives in OpenSSL's wiped secure heap when enabled.
        guard let scalar = BN_secure_new() else { throw .openSSL(OpenSSLError("BN_secure_new")) }
        defer { BN_clear_free(scalar) }
        BN_set_flags(scalar, BN_FLG_CONSTTIME)
        guard BN_bin2bn(bytes, 32, scalar) != nil else { throw .openSSL(OpenSSLError("BN_bin2bn")) }

        guard let point = EC_POINT_new(P256Curve.group) else { throw .openSSL(OpenSSLError("EC_POINT_new")) }
        defer { EC_POINT_free(point) }
        guard EC_POINT_mul(P256Curve.group, point, scalar, nil, nil, nil) == 1 else {
            throw .openSSL(OpenSSLError("EC_POINT_mul"))
        }
        let compressed = P256Curve.encode(point, compressed: true)
        let key = try P256Curve.makeKey(publicPoint: compressed, privateScalar: scalar)
        self.key = key
        self.signers = EVPKeyContextPool(key: key, operation: .sign)
        // The public-only EVP_PKEY is separate so that verifying never touches the secret key.
        self.publicKey = try P256PublicKey(bytes: compressed)
    }

    /// The 32-byte big-endian private scalar, read back from OpenSSL.
    public var privateKeyBytes: [UInt8] {
        var scalar: OpaquePointer?
        guard EVP_PKEY_get_bn_param(key.pointer, pds_param_priv_key(), &scalar) == 1, let scalar else {
            preconditionFailure("\(OpenSSLError("EVP_PKEY_get_bn_param(priv)"))")
        }
        defer { BN_clear_free(scalar) }
        return [UInt8](unsafeUninitializedCapacity: 32) { buffer, initialized in
            precondition(BN_bn2binpad(scalar, buffer.baseAddress, 32) == 32, "P-256 scalar is longer than 32 bytes")
            initialized = 32
        }
    }

    /// Signs SHA-256(`message`): 64-byte r‖s with s ≤ n/2.
    ///
    /// OpenSSL signs the prehashed digest (`EVP_PKEY_sign` on a pooled, already initialised
    /// context, with SHA-256 computed by the shared prefetched digest rather than a per-call
    /// `EVP_DigestSignInit_ex` name lookup) and returns DER; that is unpacked to fixed-width r‖s
    /// and s is replaced by n − s when it is high.
    public func sign(_ message: [UInt8]) throws(CryptoError) -> [UInt8] {
        // 72 bytes is the longest DER for a P-256 signature; 80 leaves slack.
        var der: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let derLength: Int = withMessageDigest(of: message) { digest in
            withUnsafeMutableBytes(of: &der) { out in
                signers.withContext { context in
                    var length = out.count
                    guard EVP_PKEY_sign(context, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &length, digest, 32) == 1
                    else { return 0 }
                    return length
                } ?? 0
            }
        }
        guard derLength > 0 else { throw .openSSL(OpenSSLError("EVP_PKEY_sign")) }

        let signature: [UInt8]? = withUnsafeBytes(of: &der) { derBytes in
            var cursor: UnsafePointer<UInt8>? = derBytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            guard let sig = d2i_ECDSA_SIG(nil, &cursor, derLength) else { return nil }
            defer { ECDSA_SIG_free(sig) }
            var r: OpaquePointer?, s: OpaquePointer?
            ECDSA_SIG_get0(sig, &r, &s)
            return [UInt8](unsafeUninitializedCapacity: 64) { buffer, initialized in
                let base = buffer.baseAddress!
                guard BN_bn2binpad(r, base, 32) == 32, BN_bn2binpad(s, base + 32, 32) == 32 else { return }
                let sBytes = UnsafeMutableRawBufferPointer(start: base + 32, count: 32)
                if P256Curve.isHighS(UnsafeRawBufferPointer(sBytes)) { P256Curve.negateModOrder(sBytes) }
                initialized = 64
            }
        }
        guard let signature, signature.count == 64 else { throw .openSSL(OpenSSLError("d2i_ECDSA_SIG")) }
        return signature
    }
}
