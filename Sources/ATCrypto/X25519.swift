import COpenSSL

/// X25519 Diffie-Hellman (RFC 7748) through OpenSSL's raw-key `EVP_PKEY` API.
public enum X25519 {
    /// Length of private keys, public keys and shared secrets in bytes.
    public static let byteCount = 32

    /// Owns one OpenSSL key; OpenSSL wipes the private scalar when the key is freed.
    final class KeyBox: @unchecked Sendable {  // EVP_PKEY is immutable here and refcounted atomically
        let pkey: OpaquePointer
        init(_ pkey: OpaquePointer) { self.pkey = pkey }
        deinit { EVP_PKEY_free(pkey) }
    }

    /// An X25519 private key. Its bytes stay inside OpenSSL until ``rawRepresentation`` is read.
    public struct PrivateKey: Sendable {
        let box: KeyBox
        /// The matching public key, computed once (X25519(k, 9), RFC 7748 §6.1).
        public let publicKey: PublicKey

        /// A new random key: 32 bytes from the CSPRNG. X25519 clamps the scalar itself, so every
        /// 32-byte string is a valid private key (RFC 7748 §5).
        public init() {
            var seed = SecureRandom.bytes(X25519.byteCount)
            defer { seed.zeroize() }
            try! self.init(rawRepresentation: seed)  // 32 bytes cannot fail to import
        }

        /// Imports a 32-byte private key.
        public init(rawRepresentation: some Collection<UInt8>) throws {
            guard rawRepresentation.count == X25519.byteCount else {
                throw CryptoPrimitiveError.invalidLength(what: "X25519 private key", expected: X25519.byteCount, actual: rawRepresentation.count)
            }
            let pkey = withContiguousBytes(rawRepresentation) { raw in
                EVP_PKEY_new_raw_private_key_ex(nil, "X25519", nil, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count)
            }
            guard let pkey else { throw OpenSSLError("EVP_PKEY_new_raw_private_key_ex") }
            box = KeyBox(pkey)
            var raw = [UInt8](repeating: 0, count: X25519.byteCount)
            var length = raw.count
            guard EVP_PKEY_get_raw_public_key(pkey, &raw, &length) == 1, length == X25519.byteCount else {
                throw OpenSSLError("EVP_PKEY_get_raw_public_key")
            }
            publicKey = try PublicKey(rawRepresentation: raw)
        }

        /// The 32 private-key bytes. The caller owns the copy and should not keep it longer than needed.
        public var rawRepresentation: [UInt8] {
            var raw = [UInt8](repeating: 0, count: X25519.byteCount)
            var length = raw.count
            let ok = EVP_PKEY_get_raw_private_key(box.pkey, &raw, &length)
            precondition(ok == 1 && length == X25519.byteCount, "\(OpenSSLError("EVP_PKEY_get_raw_private_key"))")
            return raw
        }

        /// X25519(self, peer): the 32-byte shared secret.
        ///
        /// - Throws: ``CryptoPrimitiveError/lowOrderPoint`` when the result is all zeros (the peer
        ///   sent a small-order point; RFC 7748 §6.1 says to check, and age requires aborting).
        ///   OpenSSL 3.0 already fails the derivation in that case; both outcomes map to this error.
        public func sharedSecret(with peer: PublicKey) throws -> [UInt8] {
            let peerKey = peer.rawRepresentation.withUnsafeBufferPointer {
                EVP_PKEY_new_raw_public_key_ex(nil, "X25519", nil, $0.baseAddress, $0.count)
            }
            guard let peerKey else { throw OpenSSLError("EVP_PKEY_new_raw_public_key_ex") }
            defer { EVP_PKEY_free(peerKey) }
            guard let context = EVP_PKEY_CTX_new_from_pkey(nil, box.pkey, nil) else { throw OpenSSLError("EVP_PKEY_CTX_new_from_pkey") }
            defer { EVP_PKEY_CTX_free(context) }
            guard EVP_PKEY_derive_init(context) == 1, EVP_PKEY_derive_set_peer(context, peerKey) == 1 else {
                throw OpenSSLError("EVP_PKEY_derive_init")
            }
            var secret = [UInt8](repeating: 0, count: X25519.byteCount)
            var length = secret.count
            guard EVP_PKEY_derive(context, &secret, &length) == 1 else {
                _ = OpenSSLError("EVP_PKEY_derive")  // drain the queue; the cause is a low-order point
                throw CryptoPrimitiveError.lowOrderPoint
            }
            guard length == X25519.byteCount, !secret.allSatisfy({ $0 == 0 }) else {
                secret.zeroize()
                throw CryptoPrimitiveError.lowOrderPoint
            }
            return secret
        }
    }

    /// An X25519 public key: 32 bytes, the little-endian u-coordinate (RFC 7748 §5).
    public struct PublicKey: Sendable, Hashable {
        /// The 32 key bytes.
        public let rawRepresentation: [UInt8]

        /// Wraps 32 bytes. Any 32 bytes are accepted here; small-order points are caught when
        /// deriving a shared secret.
        public init(rawRepresentation: some Collection<UInt8>) throws {
            guard rawRepresentation.count == X25519.byteCount else {
                throw CryptoPrimitiveError.invalidLength(what: "X25519 public key", expected: X25519.byteCount, actual: rawRepresentation.count)
            }
            self.rawRepresentation = Array(rawRepresentation)
        }
    }
}
