import ATCrypto
import TestSupport
import Testing

/// RFC vectors for the OpenSSL-backed primitives (values from the RFCs; cross-checked with Python's
/// `cryptography` package when these tests were written).
@Suite struct PrimitivesTests {
    private func hex(_ text: String) -> [UInt8] { SharedVectors.hex(text) }
    private func hex(_ bytes: [UInt8]) -> String { SharedVectors.hex(bytes) }

    // RFC 4231 §4.3, test case 2 ("Jefe").
    @Test func hmacSHA256RFC4231Case2() {
        let tag = HMAC.sha256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(hex(tag) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // Slices and UTF-8 views take the same path without copying.
        let padded = Array("xxJefe".utf8)
        #expect(HMAC.sha256(key: padded[2...], message: "what do ya want for nothing?".utf8) == tag)
        // Empty key and message (the NULL-key pitfall of EVP_MAC_init).
        #expect(hex(HMAC.sha256(key: [UInt8](), message: [UInt8]())) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test func constantTimeEquals() {
        #expect(HMAC.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!HMAC.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!HMAC.constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(HMAC.constantTimeEquals([UInt8](), [UInt8]()))
    }

    // RFC 5869 appendix A.1 (test case 1) and A.3 (test case 3: empty salt and info).
    @Test func hkdfSHA256RFC5869() {
        let ikm = [UInt8](repeating: 0x0b, count: 22)
        let salt = hex("000102030405060708090a0b0c")
        let info = hex("f0f1f2f3f4f5f6f7f8f9")
        #expect(hex(HKDF.extractSHA256(inputKeyMaterial: ikm, salt: salt)) == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
        #expect(hex(HKDF.sha256(inputKeyMaterial: ikm, salt: salt, info: info, outputByteCount: 42))
            == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        #expect(hex(HKDF.sha256(inputKeyMaterial: ikm, salt: [UInt8](), info: [UInt8](), outputByteCount: 42))
            == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
        // Empty input keying material is legal HKDF.
        #expect(hex(HKDF.sha256(inputKeyMaterial: [UInt8](), salt: [UInt8](), info: Array("x".utf8), outputByteCount: 32))
            == "0dfd7b633e54fd3c77e68749c2c9a8899dd4a0e86dec0043242e714f6cc75913")
    }

    // RFC 7914 §12, second vector: P = "password", S = "NaCl", N = 1024, r = 8, p = 16, dkLen = 64.
    @Test func scryptRFC7914Case2() throws {
        let key = try Scrypt.deriveKey(password: "password".utf8, salt: "NaCl".utf8,
                                       parameters: .init(n: 1024, r: 8, p: 16), outputByteCount: 64)
        #expect(hex(key) == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")
        #expect(Scrypt.Parameters(logN: 10, r: 8, p: 16) == Scrypt.Parameters(n: 1024, r: 8, p: 16))
    }

    @Test func scryptRejectsBadParameters() {
        #expect(throws: CryptoPrimitiveError.self) {
            try Scrypt.deriveKey(password: [UInt8](), salt: [UInt8](), parameters: .init(n: 1000, r: 8, p: 1), outputByteCount: 32)
        }
        #expect(throws: CryptoPrimitiveError.self) {
            try Scrypt.deriveKey(password: [UInt8](), salt: [UInt8](), parameters: .init(n: 1024, r: 0, p: 1), outputByteCount: 32)
        }
        // An explicit memory cap below what the parameters need is refused before any work.
        #expect(throws: CryptoPrimitiveError.self) {
            try Scrypt.deriveKey(password: [UInt8](), salt: [UInt8](), parameters: .init(logN: 18, r: 8, p: 1),
                                 outputByteCount: 32, maxMemory: 32 << 20)
        }
        let expected: UInt64 = 128 * 8 * (262_144 + 2) + 128 * 8
        #expect(Scrypt.Parameters(logN: 18, r: 8, p: 1).memoryByteCount == expected)
    }

    // RFC 7748 §6.1.
    @Test func x25519RFC7748() throws {
        let alice = try X25519.PrivateKey(rawRepresentation: hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
        let bob = try X25519.PrivateKey(rawRepresentation: hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
        #expect(hex(alice.publicKey.rawRepresentation) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        #expect(hex(bob.publicKey.rawRepresentation) == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        #expect(hex(try alice.sharedSecret(with: bob.publicKey)) == shared)
        #expect(hex(try bob.sharedSecret(with: alice.publicKey)) == shared)
        #expect(hex(alice.rawRepresentation) == "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    }

    @Test func x25519GeneratesAndRejectsLowOrderPoints() throws {
        let a = X25519.PrivateKey(), b = X25519.PrivateKey()
        #expect(a.publicKey != b.publicKey)
        #expect(try a.sharedSecret(with: b.publicKey) == b.sharedSecret(with: a.publicKey))
        // u = 0 (order 2) and u = 1 (order 4) are small-order points: X25519 with them is all
        // zeros, which must be rejected (RFC 7748 §6.1, age spec).
        for lowOrder in [[UInt8](repeating: 0, count: 32), [1] + [UInt8](repeating: 0, count: 31)] {
            #expect(throws: CryptoPrimitiveError.lowOrderPoint) {
                try a.sharedSecret(with: X25519.PublicKey(rawRepresentation: lowOrder))
            }
        }
        #expect(throws: CryptoPrimitiveError.self) { try X25519.PublicKey(rawRepresentation: [UInt8](repeating: 9, count: 31)) }
        #expect(throws: CryptoPrimitiveError.self) { try X25519.PrivateKey(rawRepresentation: [UInt8](repeating: 9, count: 33)) }
    }

    // RFC 8439 §2.8.2.
    @Test func chaCha20Poly1305RFC8439() throws {
        let plaintext = Array("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
        let key = [UInt8](0x80...0x9f)
        let nonce = hex("070000004041424344454647")
        let aad = hex("50515253c0c1c2c3c4c5c6c7")
        let expected = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
            + "1ae10b594f09e26a7e902ecbd0600691"
        let sealed = try ChaCha20Poly1305.seal(plaintext, key: key, nonce: nonce, authenticating: aad)
        #expect(hex(sealed) == expected)
        #expect(try ChaCha20Poly1305.open(sealed, key: key, nonce: nonce, authenticating: aad) == plaintext)

        var tampered = sealed
        tampered[5] ^= 1
        #expect(throws: CryptoPrimitiveError.authenticationFailure) { try ChaCha20Poly1305.open(tampered, key: key, nonce: nonce, authenticating: aad) }
        tampered = sealed
        tampered[tampered.count - 1] ^= 0x80
        #expect(throws: CryptoPrimitiveError.authenticationFailure) { try ChaCha20Poly1305.open(tampered, key: key, nonce: nonce, authenticating: aad) }
        #expect(throws: CryptoPrimitiveError.authenticationFailure) { try ChaCha20Poly1305.open(sealed, key: key, nonce: nonce) }
        #expect(throws: CryptoPrimitiveError.self) { try ChaCha20Poly1305.open(sealed.prefix(15), key: key, nonce: nonce) }
        #expect(throws: CryptoPrimitiveError.self) { try ChaCha20Poly1305.seal(plaintext, key: key.prefix(31), nonce: nonce) }
        #expect(throws: CryptoPrimitiveError.self) { try ChaCha20Poly1305.seal(plaintext, key: key, nonce: nonce.prefix(8)) }
    }

    @Test func chaCha20Poly1305EmptyPlaintext() throws {
        let key = SecureRandom.bytes(32), nonce = [UInt8](repeating: 0, count: 12)
        let sealed = try ChaCha20Poly1305.seal([UInt8](), key: key, nonce: nonce)
        #expect(sealed.count == 16)
        #expect(try ChaCha20Poly1305.open(sealed, key: key, nonce: nonce).isEmpty)
    }
}
