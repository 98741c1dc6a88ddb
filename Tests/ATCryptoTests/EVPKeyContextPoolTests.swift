import ATCrypto
import Testing

/// P-256 keys reuse initialised OpenSSL contexts across calls (EVPKeyContextPool); reuse must not
/// change results, carry state from one call to the next, or race.
@Suite struct EVPKeyContextPoolTests {
    @Test func reusedContextsStillDrawFreshNonces() throws {
        let key = try P256PrivateKey()
        let message = Array("same message".utf8)
        var seen = Set<[UInt8]>()
        for _ in 0..<50 {
            let signature = try key.sign(message)
            #expect(key.publicKey.verify(signature: signature, message: message))
            seen.insert(signature)
        }
        // OpenSSL 3.0 draws a random nonce per signature; a context that replayed one would
        // repeat signatures (and leak the key).
        #expect(seen.count == 50)
    }

    @Test func aFailedVerificationDoesNotSpoilTheNextOne() throws {
        let key = try P256PrivateKey()
        let message = Array("commit".utf8)
        let signature = try key.sign(message)
        var forged = signature
        forged[10] ^= 0x01
        for _ in 0..<20 {
            #expect(!key.publicKey.verify(signature: forged, message: message))
            #expect(!key.publicKey.verify(signature: signature, message: Array("other".utf8)))
            #expect(key.publicKey.verify(signature: signature, message: message))
        }
    }

    @Test func copiesShareOneKeyAndKeepWorking() throws {
        // Copies of the struct share the pool; the pool must outlive any one copy.
        var copies: [P256PrivateKey] = []
        do {
            let original = try P256PrivateKey()
            copies = Array(repeating: original, count: 3)
        }
        let message = Array("copy".utf8)
        for copy in copies {
            #expect(copies[0].publicKey.verify(signature: try copy.sign(message), message: message))
        }
    }

    @Test func moreConcurrentCallersThanPooledContexts() async throws {
        // 24 tasks against one key: the pool grows past its idle capacity and frees the surplus
        // on return; every signature must still verify.
        let key = try P256PrivateKey()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for task in 0..<24 {
                group.addTask {
                    for iteration in 0..<40 {
                        let message = Array("task \(task) \(iteration)".utf8)
                        let signature = try key.sign(message)
                        guard key.publicKey.verify(signature: signature, message: message),
                              !key.publicKey.verify(signature: signature, message: message + [0])
                        else { return false }
                    }
                    return true
                }
            }
            for try await ok in group { #expect(ok) }
        }
    }
}
