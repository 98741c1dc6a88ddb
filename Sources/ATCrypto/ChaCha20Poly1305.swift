import COpenSSL

/// The ChaCha20-Poly1305 AEAD (RFC 8439) through OpenSSL's `EVP_CIPHER` "ChaCha20-Poly1305":
/// 32-byte key, 12-byte nonce, 16-byte tag appended to the ciphertext.
public enum ChaCha20Poly1305 {
    /// Key length in bytes.
    public static let keyByteCount = 32
    /// Nonce length in bytes (OpenSSL's default IV length for this cipher).
    public static let nonceByteCount = 12
    /// Tag length in bytes.
    public static let tagByteCount = 16

    nonisolated(unsafe) static let algorithm: OpaquePointer = {
        guard let cipher = EVP_CIPHER_fetch(nil, "ChaCha20-Poly1305", nil) else {
            fatalError("\(OpenSSLError("EVP_CIPHER_fetch ChaCha20-Poly1305"))")
        }
        return cipher
    }()

    /// Encrypts `plaintext` and returns `ciphertext || tag` (plaintext.count + 16 bytes).
    public static func seal(
        _ plaintext: some Collection<UInt8>, key: some Collection<UInt8>, nonce: some Collection<UInt8>,
        authenticating associatedData: some Collection<UInt8> = [UInt8]()
    ) throws -> [UInt8] {
        try withContiguousBytes(plaintext) { (plaintext) throws -> [UInt8] in
            try withContiguousBytes(key) { (key) throws -> [UInt8] in
                try withContiguousBytes(nonce) { (nonce) throws -> [UInt8] in
                    try withContiguousBytes(associatedData) { (aad) throws -> [UInt8] in
                        try seal(plaintext, key: key, nonce: nonce, aad: aad)
                    }
                }
            }
        }
    }

    /// Verifies and decrypts `ciphertext || tag`. Nothing is returned unless the tag verifies.
    ///
    /// - Throws: ``CryptoPrimitiveError/authenticationFailure`` for a wrong tag (or any other
    ///   mismatch), ``CryptoPrimitiveError/invalidLength(what:expected:actual:)`` for a bad key or
    ///   nonce, or input shorter than the tag.
    public static func open(
        _ sealed: some Collection<UInt8>, key: some Collection<UInt8>, nonce: some Collection<UInt8>,
        authenticating associatedData: some Collection<UInt8> = [UInt8]()
    ) throws -> [UInt8] {
        try withContiguousBytes(sealed) { (sealed) throws -> [UInt8] in
            try withContiguousBytes(key) { (key) throws -> [UInt8] in
                try withContiguousBytes(nonce) { (nonce) throws -> [UInt8] in
                    try withContiguousBytes(associatedData) { (aad) throws -> [UInt8] in
                        try open(sealed, key: key, nonce: nonce, aad: aad)
                    }
                }
            }
        }
    }

    private static func checkLengths(key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer) throws {
        guard key.count == keyByteCount else {
            throw CryptoPrimitiveError.invalidLength(what: "ChaCha20-Poly1305 key", expected: keyByteCount, actual: key.count)
        }
        guard nonce.count == nonceByteCount else {
            throw CryptoPrimitiveError.invalidLength(what: "ChaCha20-Poly1305 nonce", expected: nonceByteCount, actual: nonce.count)
        }
    }

    /// Creates a context initialised with key and nonce, and feeds the associated data.
    private static func context(encrypt: Bool, key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer) throws -> OpaquePointer {
        guard let context = EVP_CIPHER_CTX_new() else { throw OpenSSLError("EVP_CIPHER_CTX_new") }
        let keyPointer = key.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let ivPointer = nonce.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let initialised = encrypt
            ? EVP_EncryptInit_ex2(context, algorithm, keyPointer, ivPointer, nil)
            : EVP_DecryptInit_ex2(context, algorithm, keyPointer, ivPointer, nil)
        guard initialised == 1 else {
            EVP_CIPHER_CTX_free(context)
            throw OpenSSLError("EVP_CipherInit_ex2")
        }
        if aad.count > 0 {
            var outLength: Int32 = 0
            let pointer = aad.baseAddress!.assumingMemoryBound(to: UInt8.self)
            // A NULL output buffer makes the update feed AAD (EVP_EncryptInit(3), "AEAD interface").
            let ok = encrypt
                ? EVP_EncryptUpdate(context, nil, &outLength, pointer, Int32(aad.count))
                : EVP_DecryptUpdate(context, nil, &outLength, pointer, Int32(aad.count))
            guard ok == 1 else {
                EVP_CIPHER_CTX_free(context)
                throw OpenSSLError("EVP_CipherUpdate (AAD)")
            }
        }
        return context
    }

    private static func seal(_ plaintext: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer) throws -> [UInt8] {
        try checkLengths(key: key, nonce: nonce)
        precondition(plaintext.count <= Int(Int32.max) && aad.count <= Int(Int32.max), "input too large for one EVP call")
        let context = try context(encrypt: true, key: key, nonce: nonce, aad: aad)
        defer { EVP_CIPHER_CTX_free(context) }
        var failure: OpenSSLError?
        let output = [UInt8](unsafeUninitializedCapacity: plaintext.count + tagByteCount) { buffer, count in
            let out = buffer.baseAddress!
            var written: Int32 = 0
            if plaintext.count > 0 {
                guard EVP_EncryptUpdate(context, out, &written, plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(plaintext.count)) == 1 else {
                    failure = OpenSSLError("EVP_EncryptUpdate"); return
                }
            }
            var finalWritten: Int32 = 0
            guard EVP_EncryptFinal_ex(context, out + Int(written), &finalWritten) == 1,
                  Int(written + finalWritten) == plaintext.count else {
                failure = OpenSSLError("EVP_EncryptFinal_ex"); return
            }
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, Int32(tagByteCount), out + plaintext.count) == 1 else {
                failure = OpenSSLError("EVP_CTRL_AEAD_GET_TAG"); return
            }
            count = plaintext.count + tagByteCount
        }
        if let failure { throw failure }
        return output
    }

    private static func open(_ sealed: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer) throws -> [UInt8] {
        try checkLengths(key: key, nonce: nonce)
        guard sealed.count >= tagByteCount else {
            throw CryptoPrimitiveError.invalidLength(what: "ChaCha20-Poly1305 sealed box (minimum)", expected: tagByteCount, actual: sealed.count)
        }
        precondition(sealed.count <= Int(Int32.max) && aad.count <= Int(Int32.max), "input too large for one EVP call")
        let context = try context(encrypt: false, key: key, nonce: nonce, aad: aad)
        defer { EVP_CIPHER_CTX_free(context) }
        let ciphertextCount = sealed.count - tagByteCount
        // The expected tag must be set before EVP_DecryptFinal_ex, which then verifies it.
        let tag = UnsafeMutableRawPointer(mutating: sealed.baseAddress! + ciphertextCount)
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, Int32(tagByteCount), tag) == 1 else {
            throw OpenSSLError("EVP_CTRL_AEAD_SET_TAG")
        }
        var authentic = false
        var failure: OpenSSLError?
        var output = [UInt8](unsafeUninitializedCapacity: Swift.max(ciphertextCount, 1)) { buffer, count in
            let out = buffer.baseAddress!
            var written: Int32 = 0
            if ciphertextCount > 0 {
                guard EVP_DecryptUpdate(context, out, &written, sealed.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(ciphertextCount)) == 1 else {
                    failure = OpenSSLError("EVP_DecryptUpdate"); return
                }
            }
            count = Int(written)
            var finalWritten: Int32 = 0
            authentic = EVP_DecryptFinal_ex(context, out + Int(written), &finalWritten) == 1
                && Int(written + finalWritten) == ciphertextCount
            count = Int(written + finalWritten)
        }
        if let failure { output.zeroize(); throw failure }
        guard authentic else {
            // Never hand out unauthenticated plaintext; wipe it.
            output.zeroize()
            _ = OpenSSLError("EVP_DecryptFinal_ex")  // drain the error queue
            throw CryptoPrimitiveError.authenticationFailure
        }
        return output
    }
}
