import ATCrypto
import Multiformats
import TestSupport
import Testing

/// The bluesky-social/atproto-interop-tests crypto vectors (ATPROTO.md §7, §21).
@Suite struct InteropVectorTests {
    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func signatureFixtures() throws {
        let fixtures = try #require(try SharedVectors.json("interop/crypto/signature-fixtures.json") as? [[String: Any]])
        #expect(fixtures.count == 6)
        var seen: Set<String> = []
        for fixture in fixtures {
            let comment = fixture["comment"] as! String
            let algorithm = try #require(SignatureAlgorithm(rawValue: fixture["algorithm"] as! String))
            let key = try parseDIDKey(fixture["publicKeyDid"] as! String)
            let message = try base64(fixture["messageBase64"] as! String)
            let signature = try base64(fixture["signatureBase64"] as! String)
            let valid = fixture["validSignature"] as! Bool
            let tags = fixture["tags"] as! [String]
            seen.formUnion(tags)

            #expect(key.algorithm == algorithm, "\(comment)")
            #expect(key.didKey == fixture["publicKeyDid"] as! String, "did:key round trip: \(comment)")
            #expect(key.verify(signature: signature, message: message) == valid, "\(comment)")

            // The legacy DID-document form names the same key.
            let legacy = try parseLegacyMultibase(fixture["publicKeyMultibase"] as! String, type: fixture["didDocSuite"] as! String)
            #expect(legacy.isSameKey(as: key), "legacy multibase: \(comment)")

            if tags.contains("high-s") {
                // The only thing wrong is s: its low twin must verify.
                #expect(!isLowS(signature, algorithm))
                #expect(key.verify(signature: twin(signature, algorithm), message: message), "\(comment)")
            }
            if tags.contains("der-encoded") { #expect(signature.count != 64) }
        }
        #expect(seen == ["high-s", "der-encoded"])
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func w3cDIDKeyK256() throws {
        let vectors = try #require(try SharedVectors.json("interop/crypto/w3c_didkey_K256.json") as? [[String: String]])
        #expect(!vectors.isEmpty)
        for vector in vectors {
            let key = try K256PrivateKey(privateKeyBytes: hexBytes(vector["privateKeyBytesHex"]!))
            #expect(key.didKey == vector["publicDidKey"]!)
            let parsed = try parseDIDKey(vector["publicDidKey"]!)
            #expect(parsed.isSameKey(as: key.publicKey))
            #expect(parsed.verify(signature: key.sign([1, 2, 3]), message: [1, 2, 3]))
        }
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func w3cDIDKeyP256() throws {
        let vectors = try #require(try SharedVectors.json("interop/crypto/w3c_didkey_P256.json") as? [[String: String]])
        #expect(!vectors.isEmpty)
        for vector in vectors {
            let secret = try Base58.decode(vector["privateKeyBytesBase58"]!)
            let key = try P256PrivateKey(privateKeyBytes: secret)
            #expect(key.didKey == vector["publicDidKey"]!)
            #expect(key.privateKeyBytes == secret)
            let parsed = try parseDIDKey(vector["publicDidKey"]!)
            #expect(parsed.isSameKey(as: key.publicKey))
            #expect(parsed.verify(signature: try key.sign([1, 2, 3]), message: [1, 2, 3]))
        }
    }

    @Test func specExamples() throws {
        // ATPROTO.md §7 examples and prefixes.
        let p256 = try parseDIDKey("did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo")
        let k256 = try parseDIDKey("did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc")
        #expect(p256.algorithm == .es256 && p256 is P256PublicKey)
        #expect(k256.algorithm == .es256k && k256 is K256PublicKey)
        #expect(K256PrivateKey().publicKey.multikey.hasPrefix("zQ3s"))
        #expect(try P256PrivateKey().publicKey.multikey.hasPrefix("zDna"))
    }
}
