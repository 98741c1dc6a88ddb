import ATCrypto
import Testing

/// Sign/verify behaviour common to both curves (ATPROTO.md §7).
@Suite struct SigningKeyTests {
    static let algorithms = SignatureAlgorithm.allCases

    @Test(arguments: algorithms)
    func roundTripsAreLowSAndVerify(algorithm: SignatureAlgorithm) throws {
        // 300 signatures: OpenSSL's P-256 output is high-S about half the time, so an
        // unnormalised path would fail here with probability ≈ 1 − 2⁻³⁰⁰.
        let key = try algorithm.generatePrivateKey()
        for iteration in 0..<300 {
            let message = Array("message \(iteration)".utf8)
            let signature = try key.sign(message)
            #expect(signature.count == 64)
            #expect(isLowS(signature, algorithm), "high-S signature from \(algorithm) at iteration \(iteration)")
            #expect(key.publicKey.verify(signature: signature, message: message))
        }
    }

    @Test(arguments: algorithms)
    func highSTwinIsRejected(algorithm: SignatureAlgorithm) throws {
        // For K-256 there is no pre-check in K256PublicKey.verify, so this asserts that
        // secp256k1_ecdsa_verify itself rejects high-S, as its documentation promises.
        let key = try algorithm.generatePrivateKey()
        for iteration in 0..<20 {
            let message = Array("twin \(iteration)".utf8)
            let signature = try key.sign(message)
            let high = twin(signature, algorithm)
            #expect(!isLowS(high, algorithm))
            #expect(!key.publicKey.verify(signature: high, message: message))
            #expect(key.publicKey.verify(signature: signature, message: message))
        }
    }

    @Test(arguments: algorithms)
    func tamperingIsRejected(algorithm: SignatureAlgorithm) throws {
        let key = try algorithm.generatePrivateKey()
        let message: [UInt8] = Array("the repo commit".utf8)
        let signature = try key.sign(message)
        let verifier = key.publicKey

        var otherMessage = message
        otherMessage[0] ^= 1
        #expect(!verifier.verify(signature: signature, message: otherMessage))
        #expect(!verifier.verify(signature: signature, message: []))

        for index in [0, 17, 31, 32, 50, 63] {
            var bad = signature
            bad[index] ^= 0x40
            #expect(!verifier.verify(signature: bad, message: message), "flipped byte \(index)")
        }
        // Wrong lengths, zeros, out-of-range values.
        #expect(!verifier.verify(signature: Array(signature.dropLast()), message: message))
        #expect(!verifier.verify(signature: signature + [0], message: message))
        #expect(!verifier.verify(signature: [], message: message))
        #expect(!verifier.verify(signature: [UInt8](repeating: 0, count: 64), message: message))
        #expect(!verifier.verify(signature: [UInt8](repeating: 0xff, count: 64), message: message))
        let n = CurveOrder.of(algorithm)
        #expect(!verifier.verify(signature: n + Array(signature[32...]), message: message), "r = n")
        #expect(!verifier.verify(signature: Array(signature[..<32]) + [UInt8](repeating: 0, count: 32), message: message), "s = 0")
        // A different key of the same curve.
        #expect(!(try algorithm.generatePrivateKey()).publicKey.verify(signature: signature, message: message))
    }

    @Test func wrongCurveKeyRejects() throws {
        // Same 32-byte scalar on both curves: the signatures must not cross over.
        let secret = hexBytes("9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c")
        let k256 = try K256PrivateKey(privateKeyBytes: secret)
        let p256 = try P256PrivateKey(privateKeyBytes: secret)
        let message = Array("cross-curve".utf8)
        #expect(!p256.publicKey.verify(signature: k256.sign(message), message: message))
        #expect(!k256.publicKey.verify(signature: try p256.sign(message), message: message))
        #expect(!k256.publicKey.isSameKey(as: p256.publicKey))
    }

    @Test(arguments: algorithms)
    func derSignatureIsRejected(algorithm: SignatureAlgorithm) throws {
        let key = try algorithm.generatePrivateKey()
        let message = Array("der".utf8)
        let signature = try key.sign(message)
        #expect(key.publicKey.verify(signature: signature, message: message))
        #expect(!key.publicKey.verify(signature: der(signature), message: message))
    }

    @Test(arguments: algorithms)
    func privateKeyBytesRoundTrip(algorithm: SignatureAlgorithm) throws {
        let key = try algorithm.generatePrivateKey()
        let bytes = key.privateKeyBytes
        #expect(bytes.count == 32)
        let again = try algorithm.privateKey(fromBytes: bytes)
        #expect(again.privateKeyBytes == bytes)
        #expect(again.publicKey.isSameKey(as: key.publicKey))
        #expect(again.didKey == key.didKey)
        let message = Array("imported".utf8)
        #expect(key.publicKey.verify(signature: try again.sign(message), message: message))
    }

    @Test(arguments: algorithms)
    func invalidPrivateKeysAreRejected(algorithm: SignatureAlgorithm) {
        let n = CurveOrder.of(algorithm)
        let nMinusOne = subtract(n, [UInt8](repeating: 0, count: 31) + [1])
        #expect(throws: CryptoError.self) { try algorithm.privateKey(fromBytes: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: CryptoError.self) { try algorithm.privateKey(fromBytes: n) }
        #expect(throws: CryptoError.self) { try algorithm.privateKey(fromBytes: [UInt8](repeating: 0xff, count: 32)) }
        #expect(throws: CryptoError.self) { try algorithm.privateKey(fromBytes: [UInt8](repeating: 1, count: 31)) }
        #expect(throws: CryptoError.self) { try algorithm.privateKey(fromBytes: [UInt8](repeating: 1, count: 33)) }
        #expect(throws: Never.self) { try algorithm.privateKey(fromBytes: nMinusOne) }
        #expect(throws: Never.self) { try algorithm.privateKey(fromBytes: [UInt8](repeating: 0, count: 31) + [1]) }
    }

    @Test(arguments: algorithms)
    func compressedAndUncompressedImportsAgree(algorithm: SignatureAlgorithm) throws {
        let key = try algorithm.generatePrivateKey()
        let compressed = key.publicKey.compressedBytes
        let uncompressed = key.publicKey.uncompressedBytes
        #expect(compressed.count == 33 && (compressed[0] == 2 || compressed[0] == 3))
        #expect(uncompressed.count == 65 && uncompressed[0] == 4)
        #expect(Array(compressed[1...]) == Array(uncompressed[1..<33]))
        // y's parity decides the compressed prefix.
        #expect(compressed[0] == 2 + (uncompressed[64] & 1))

        let fromCompressed = try algorithm.publicKey(fromBytes: compressed)
        let fromUncompressed = try algorithm.publicKey(fromBytes: uncompressed)
        #expect(fromCompressed.isSameKey(as: fromUncompressed))
        #expect(fromCompressed.uncompressedBytes == uncompressed)
        #expect(fromUncompressed.compressedBytes == compressed)
        #expect(fromUncompressed.didKey == key.didKey)
        let message = Array("either form".utf8)
        let signature = try key.sign(message)
        #expect(fromCompressed.verify(signature: signature, message: message))
        #expect(fromUncompressed.verify(signature: signature, message: message))
    }

    @Test(arguments: algorithms)
    func invalidPublicKeysAreRejected(algorithm: SignatureAlgorithm) throws {
        let key = try algorithm.generatePrivateKey()
        var hybrid = key.publicKey.uncompressedBytes
        hybrid[0] = 6 + (hybrid[64] & 1)  // SEC1 "hybrid" form: not accepted
        var offCurve = key.publicKey.uncompressedBytes
        offCurve[64] ^= 1
        var badPrefix = key.publicKey.compressedBytes
        badPrefix[0] = 4
        for bytes in [hybrid, offCurve, badPrefix, [], [0], Array(key.publicKey.compressedBytes.dropLast())] {
            #expect(throws: CryptoError.self) { try algorithm.publicKey(fromBytes: bytes) }
        }
    }

    @Test func k256SignaturesAreDeterministic() throws {
        // RFC 6979: same key and message, same signature; different message, different signature.
        let key = try K256PrivateKey(privateKeyBytes: hexBytes("c0a6a7c560d37d7ba81ecee9543721ff48fea3e0fb827d42c1868226540fac15"))
        let message = Array("deterministic".utf8)
        let first = key.sign(message)
        #expect(key.sign(message) == first)
        #expect(try K256PrivateKey(privateKeyBytes: key.privateKeyBytes).sign(message) == first)
        #expect(key.sign(Array("other".utf8)) != first)
    }

    @Test func keysAreEquatableAndHashable() throws {
        let k = K256PrivateKey()
        let sameK = try K256PublicKey(bytes: k.publicKey.uncompressedBytes)
        #expect(k.publicKey == sameK)
        #expect(Set([k.publicKey, sameK, K256PrivateKey().publicKey]).count == 2)
        let p = try P256PrivateKey()
        let sameP = try P256PublicKey(bytes: p.publicKey.uncompressedBytes)
        #expect(p.publicKey == sameP)
        #expect(Set([p.publicKey, sameP]).count == 1)
        #expect(p.publicKey.description == p.didKey)
    }

    @Test func concurrentUseOfOneKey() async throws {
        // Keys are shared across tasks in the server; OpenSSL and libsecp256k1 calls must not race.
        let keys: [any SigningKey] = [K256PrivateKey(), try P256PrivateKey()]
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for task in 0..<8 {
                for key in keys {
                    group.addTask {
                        for iteration in 0..<50 {
                            let message = Array("task \(task) \(iteration)".utf8)
                            let signature = try key.sign(message)
                            guard key.publicKey.verify(signature: signature, message: message) else { return false }
                        }
                        return true
                    }
                }
            }
            for try await ok in group { #expect(ok) }
        }
    }

    /// DER encoding of a 64-byte r‖s (independent of the library, for the rejection test).
    private func der(_ signature: [UInt8]) -> [UInt8] {
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var body = Array(bytes.drop(while: { $0 == 0 }))
            if body.isEmpty || body[0] & 0x80 != 0 { body.insert(0, at: 0) }
            return [0x02, UInt8(body.count)] + body
        }
        let content = integer(signature[0..<32]) + integer(signature[32..<64])
        return [0x30, UInt8(content.count)] + content
    }
}
