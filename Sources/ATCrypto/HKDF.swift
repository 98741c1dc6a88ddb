import COpenSSL

/// HKDF with SHA-256 (RFC 5869) through OpenSSL's `EVP_KDF` "HKDF" (extract then expand).
public enum HKDF {
    nonisolated(unsafe) static let algorithm: OpaquePointer = {
        guard let kdf = EVP_KDF_fetch(nil, "HKDF", nil) else { fatalError("\(OpenSSLError("EVP_KDF_fetch HKDF"))") }
        return kdf
    }()

    /// Largest output HKDF-SHA-256 can produce: 255 hash blocks (RFC 5869 §2.3).
    public static let maxOutputByteCount = 255 * 32

    /// `outputByteCount` bytes of HKDF-Expand(HKDF-Extract(salt, inputKeyMaterial), info).
    ///
    /// An empty `salt` means a string of zeros (RFC 5869 §2.2), as age's header key uses.
    /// `outputByteCount` must be in 1...``maxOutputByteCount``.
    public static func sha256(
        inputKeyMaterial: some Collection<UInt8>, salt: some Collection<UInt8>, info: some Collection<UInt8>,
        outputByteCount: Int
    ) -> [UInt8] {
        precondition(outputByteCount > 0 && outputByteCount <= maxOutputByteCount, "HKDF output length out of range")
        return withContiguousBytes(inputKeyMaterial) { ikm in
            withContiguousBytes(salt) { salt in
                withContiguousBytes(info) { info in
                    derive(ikm: ikm, salt: salt, info: info, count: outputByteCount)
                }
            }
        }
    }

    /// HKDF-Extract alone: the pseudorandom key HMAC-SHA-256(key = salt, message = inputKeyMaterial)
    /// (RFC 5869 §2.2), e.g. to check intermediate values.
    public static func extractSHA256(inputKeyMaterial: some Collection<UInt8>, salt: some Collection<UInt8>) -> [UInt8] {
        HMAC.sha256(key: salt, message: inputKeyMaterial)
    }

    private static func derive(ikm: UnsafeRawBufferPointer, salt: UnsafeRawBufferPointer, info: UnsafeRawBufferPointer, count: Int) -> [UInt8] {
        guard let context = EVP_KDF_CTX_new(algorithm) else { fatalError("\(OpenSSLError("EVP_KDF_CTX_new"))") }
        defer { EVP_KDF_CTX_free(context) }
        // Octet-string params are copied by OpenSSL during EVP_KDF_derive; the pointers only need to
        // live for the call. Zero-length values get a non-NULL pointer (OpenSSL skips NULL data).
        var params = [
            OSSL_PARAM_construct_utf8_string(pds_param_digest(), HMAC.digestName, 0),
            OSSL_PARAM_construct_octet_string(pds_param_kdf_key(), UnsafeMutableRawPointer(mutating: baseAddress(ikm)), ikm.count),
            OSSL_PARAM_construct_octet_string(pds_param_kdf_salt(), UnsafeMutableRawPointer(mutating: baseAddress(salt)), salt.count),
            OSSL_PARAM_construct_octet_string(pds_param_kdf_info(), UnsafeMutableRawPointer(mutating: baseAddress(info)), info.count),
            OSSL_PARAM_construct_end(),
        ]
        var output = [UInt8](repeating: 0, count: count)
        let ok = output.withUnsafeMutableBufferPointer { EVP_KDF_derive(context, $0.baseAddress, $0.count, &params) }
        precondition(ok == 1, "\(OpenSSLError("EVP_KDF_derive HKDF"))")
        return output
    }
}
