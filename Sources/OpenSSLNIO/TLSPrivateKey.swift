import COpenSSL

/// A private key held by OpenSSL (`EVP_PKEY`): a certificate key or an ACME account key.
///
/// New keys are P-256 (ECDSA certificates pair with the `ECDHE-ECDSA` TLS 1.2 suites and sign
/// ACME requests as `ES256`); keys read from PEM may be any type OpenSSL can load (RSA, P-384, …).
public final class TLSPrivateKey: @unchecked Sendable {
    /// The `EVP_PKEY*`, owned by this object. Immutable after init, so sharing is safe.
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) { self.pointer = pointer }

    deinit { EVP_PKEY_free(pointer) }

    /// A new random P-256 key.
    public static func generateP256() throws(TLSError) -> TLSPrivateKey {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw .openSSL(OpenSSLFailure("EVP_PKEY_CTX_new_from_name(EC)"))
        }
        defer { EVP_PKEY_CTX_free(context) }
        var generated: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1,
              EVP_PKEY_CTX_set_group_name(context, "prime256v1") == 1,
              EVP_PKEY_generate(context, &generated) == 1, let generated
        else { throw .openSSL(OpenSSLFailure("EVP_PKEY_generate(P-256)")) }
        return TLSPrivateKey(taking: generated)
    }

    /// Reads the first private key in `pem` (PKCS#8 `PRIVATE KEY`, or a traditional
    /// `EC PRIVATE KEY` / `RSA PRIVATE KEY`). Encrypted keys are refused.
    public convenience init(pem: [UInt8]) throws(TLSError) {
        ERR_clear_error()
        let key: OpaquePointer? = pem.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            // A nil password callback plus an empty passphrase makes encrypted keys fail
            // instead of prompting on the terminal.
            return PEM_read_bio_PrivateKey_ex(bio, nil, { _, _, _, _ in 0 }, nil, nil, nil)
        }
        guard let key else { throw .invalidCertificate("no readable unencrypted private key in PEM (\(OpenSSLFailure("PEM_read_bio_PrivateKey_ex").details.joined(separator: "; ")))") }
        self.init(taking: key)
    }

    /// The key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    public func pkcs8PEM() throws(TLSError) -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .openSSL(OpenSSLFailure("BIO_new")) }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, pointer, nil, nil, 0, nil, nil) == 1 else {
            throw .openSSL(OpenSSLFailure("PEM_write_bio_PrivateKey"))
        }
        return BIOBytes.drain(bio)
    }

    /// The public key as DER SubjectPublicKeyInfo (to compare keys, e.g. a certificate's with ours).
    public func publicKeyDER() throws(TLSError) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(pointer, &out)
        guard length > 0, let out else { throw .openSSL(OpenSSLFailure("i2d_PUBKEY")) }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// Whether this is a P-256 key (the only kind `ecCoordinates` and `signES256` accept).
    public var isP256: Bool {
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_base_id(pointer) == EVP_PKEY_EC,
              EVP_PKEY_get_utf8_string_param(pointer, pds_param_group_name(), &name, name.count, &length) == 1
        else { return false }
        return String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) == "prime256v1"
    }

    /// The affine coordinates (x, y) of a P-256 public key, 32 bytes each (JWK `x` and `y`).
    public func ecCoordinates() throws(TLSError) -> (x: [UInt8], y: [UInt8]) {
        guard isP256 else { throw .invalidCertificate("not a P-256 key") }
        var point = [UInt8](repeating: 0, count: 65)
        var length = 0
        guard EVP_PKEY_get_octet_string_param(pointer, pds_param_pub_key(), &point, point.count, &length) == 1,
              length == 65, point[0] == 4
        else { throw .openSSL(OpenSSLFailure("EVP_PKEY_get_octet_string_param(pub)")) }
        return (Array(point[1..<33]), Array(point[33..<65]))
    }

    /// Signs SHA-256(`message`) with a P-256 key: the 64-byte r‖s of JWS `ES256` (RFC 7518 §3.4).
    public func signES256(_ message: [UInt8]) throws(TLSError) -> [UInt8] {
        guard isP256 else { throw .invalidCertificate("ES256 needs a P-256 key") }
        guard let context = EVP_MD_CTX_new() else { throw .openSSL(OpenSSLFailure("EVP_MD_CTX_new")) }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit_ex(context, nil, "SHA256", nil, nil, pointer, nil) == 1 else {
            throw .openSSL(OpenSSLFailure("EVP_DigestSignInit_ex"))
        }
        var der = [UInt8](repeating: 0, count: 80)
        var derLength = der.count
        guard EVP_DigestSign(context, &der, &derLength, message, message.count) == 1 else {
            throw .openSSL(OpenSSLFailure("EVP_DigestSign"))
        }
        let raw: [UInt8]? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            guard let signature = d2i_ECDSA_SIG(nil, &cursor, derLength) else { return nil }
            defer { ECDSA_SIG_free(signature) }
            var r: OpaquePointer?, s: OpaquePointer?
            ECDSA_SIG_get0(signature, &r, &s)
            var out = [UInt8](repeating: 0, count: 64)
            let ok = out.withUnsafeMutableBufferPointer { out in
                BN_bn2binpad(r, out.baseAddress, 32) == 32 && BN_bn2binpad(s, out.baseAddress! + 32, 32) == 32
            }
            return ok ? out : nil
        }
        guard let raw else { throw .openSSL(OpenSSLFailure("d2i_ECDSA_SIG")) }
        return raw
    }
}

/// Reading a memory BIO's contents.
enum BIOBytes {
    static func drain(_ bio: OpaquePointer) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = BIO_read(bio, &chunk, Int32(chunk.count))
            if count <= 0 { return result }
            result += chunk.prefix(Int(count))
        }
    }
}
