import ATCrypto
import Multiformats
import Testing

/// Multikey, did:key and legacy DID-document key parsing (ATPROTO.md §7).
@Suite struct MultikeyTests {
    @Test(arguments: SignatureAlgorithm.allCases)
    func multikeyLayout(algorithm: SignatureAlgorithm) throws {
        let key = try algorithm.generatePrivateKey().publicKey
        let bytes = try Base58.decode(key.multikey.dropFirst())
        let prefix: [UInt8] = algorithm == .es256k ? [0xe7, 0x01] : [0x80, 0x24]
        #expect(key.multikey.first == "z")
        #expect(Array(bytes[..<2]) == prefix)
        #expect(Array(bytes[2...]) == key.compressedBytes)
        #expect(key.didKey == "did:key:" + key.multikey)
        #expect(try parseMultikey(key.multikey).isSameKey(as: key))
        #expect(try parseDIDKey(key.didKey).isSameKey(as: key))
    }

    @Test func uncompressedMultikeyBodyIsAccepted() throws {
        let key = K256PrivateKey().publicKey
        let text = Multibase.encode([0xe7, 0x01] + key.uncompressedBytes, base: .base58btc)
        let parsed = try parseMultikey(text)
        #expect(parsed.isSameKey(as: key))
        #expect(parsed.multikey == key.multikey)
    }

    @Test func badMultikeysThrow() throws {
        let key = try P256PrivateKey().publicKey
        let body = Array(try Base58.decode(key.multikey.dropFirst()))
        let cases: [String] = [
            "",
            "z",
            "Q3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc",  // missing multibase prefix
            "b" + "aaaa",  // base32, not base58btc
            "z0OIl",  // not base58
            Multibase.encode([0xed, 0x01] + Array(body[2...]), base: .base58btc),  // ed25519-pub codec
            Multibase.encode([0xe7, 0x01] + Array(body[2...]), base: .base58btc),  // P-256 point as K-256: may be off-curve…
            Multibase.encode([0x80, 0x24] + Array(body[2..<34]), base: .base58btc),  // truncated
            Multibase.encode([0x80], base: .base58btc),  // truncated varint
        ]
        for text in cases.dropLast(3) + cases.suffix(2) {
            #expect(throws: CryptoError.self, "\(text)") { try parseMultikey(text) }
        }
        // …and when the x-coordinate happens to be on both curves it parses, but as a different key.
        if let crossed = try? parseMultikey(cases[6]) { #expect(!crossed.isSameKey(as: key)) }

        do {
            _ = try parseMultikey(Multibase.encode([0xed, 0x01] + Array(body[2...]), base: .base58btc))
            Issue.record("ed25519 multikey accepted")
        } catch {
            // Typed throws: `error` is already a CryptoError.
            #expect(error.description.contains("0xed"))
        }
    }

    @Test func didKeyPrefixIsRequired() {
        #expect(throws: CryptoError.self) { try parseDIDKey("did:plc:ewvi7nxzyoun6zhxrhs64oiz") }
        #expect(throws: CryptoError.self) { try parseDIDKey("zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc") }
        #expect(throws: CryptoError.self) { try parseDIDKey("did:key:") }
        #expect(throws: Never.self) { try parseDIDKey("did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc") }
    }

    @Test(arguments: SignatureAlgorithm.allCases)
    func legacyMultibase(algorithm: SignatureAlgorithm) throws {
        let key = try algorithm.generatePrivateKey().publicKey
        let legacy = Multibase.encode(key.uncompressedBytes, base: .base58btc)
        let parsed = try parseLegacyMultibase(legacy, type: algorithm.legacyVerificationMethodType)
        #expect(parsed.isSameKey(as: key))
        // "Multikey" type in current DID documents routes to multikey parsing.
        #expect(try parseLegacyMultibase(key.multikey, type: "Multikey").isSameKey(as: key))
        // Wrong suite for the curve, unknown suites, and a multikey given as a legacy value.
        let other: SignatureAlgorithm = algorithm == .es256k ? .es256 : .es256k
        if let crossed = try? parseLegacyMultibase(legacy, type: other.legacyVerificationMethodType) {
            #expect(!crossed.isSameKey(as: key))
        }
        #expect(throws: CryptoError.self) { try parseLegacyMultibase(legacy, type: "Ed25519VerificationKey2020") }
        #expect(throws: CryptoError.self) { try parseLegacyMultibase(key.multikey, type: algorithm.legacyVerificationMethodType) }
        #expect(throws: CryptoError.self) { try parseLegacyMultibase("u" + legacy.dropFirst(), type: algorithm.legacyVerificationMethodType) }
    }
}
