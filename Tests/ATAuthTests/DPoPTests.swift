import ATAuth
import ATCrypto
import ATData
import Multiformats
import Testing

@Suite("DPoP proofs and PKCE")
struct DPoPTests {
    let key = try! P256PrivateKey()
    let nonces = DPoPNonces(secret: Array("test secret for nonces".utf8), period: 180)
    let now: Int64 = 1_800_000_000
    let url = "https://pds.example.com/xrpc/com.atproto.repo.createRecord"

    func proof(method: String = "POST", url: String? = nil, iat: Int64? = nil, nonce: String?? = nil,
               token: String? = "access-token", key: P256PrivateKey? = nil) throws -> String {
        try DPoPProof.make(key: key ?? self.key, method: method, url: url ?? self.url, iat: iat ?? now, jti: "jti-1",
                           nonce: nonce ?? nonces.current(now: now), accessToken: token)
    }

    func check(_ compact: String, method: String = "POST", token: String? = "access-token") throws(DPoPError) {
        try DPoPProof(parsing: compact).check(method: method, url: url + "?ignored=1", now: now, accessToken: token, nonces: nonces)
    }

    @Test func aGoodProofPasses() throws {
        let compact = try proof()
        try check(compact)
        let parsed = try DPoPProof(parsing: compact)
        #expect(parsed.jti == "jti-1")
        #expect(parsed.jwk.thumbprint == (try ECPublicJWK(ECPublicJWK.object(for: key.publicKey))).thumbprint)
    }

    @Test func refusals() throws {
        #expect(throws: DPoPError.invalidProof("DPoP htm mismatch")) { try check(try proof(method: "GET")) }
        #expect(throws: DPoPError.invalidProof("DPoP htu mismatch")) { try check(try proof(url: "https://pds.example.com/xrpc/other")) }
        #expect(throws: DPoPError.invalidProof("DPoP proof iat is out of range")) { try check(try proof(iat: now - 3600)) }
        #expect(throws: DPoPError.invalidProof("DPoP proof iat is out of range")) { try check(try proof(iat: now + 3600)) }
        #expect(throws: DPoPError.invalidProof("DPoP ath mismatch")) { try check(try proof(token: "other-token")) }
        #expect(throws: DPoPError.invalidProof("DPoP ath mismatch")) { try check(try proof(token: nil)) }
        #expect(throws: DPoPError.useNonce) { try check(try proof(nonce: .some(nil))) }
        #expect(throws: DPoPError.useNonce) { try check(try proof(nonce: "stale")) }
        let old = nonces.current(now: now - 3 * 180)
        #expect(throws: DPoPError.useNonce) { try check(try proof(nonce: .some(old))) }
        // The previous window's nonce is still accepted (slightly stale nonces, §17.3).
        try check(try proof(nonce: .some(nonces.current(now: now - 180))))
    }

    @Test func forgedProofsAreRefused() throws {
        let good = try proof()
        let parts = good.split(separator: ".").map(String.init)
        // Signature from another key over the same header (which names the first key).
        let other = try P256PrivateKey()
        let otherSig = try other.sign(Array((parts[0] + "." + parts[1]).utf8))
        let forged = parts[0] + "." + parts[1] + "." + Base64.encode(otherSig, alphabet: .urlSafe)
        #expect(throws: DPoPError.invalidProof("DPoP proof signature is invalid")) { try DPoPProof(parsing: forged) }
        // A plain JWT typ, and an HS256 "proof".
        let wrongType = try JWT.sign(type: "JWT", claims: ["jti": "x"], key: key)
        #expect(throws: DPoPError.invalidProof("DPoP proof typ must be dpop+jwt")) { try DPoPProof(parsing: wrongType) }
        let hmac = JWT.signHS256(type: "dpop+jwt", claims: ["jti": "x"], secret: [1, 2, 3])
        #expect(throws: DPoPError.invalidProof("DPoP proof must be signed with ES256")) { try DPoPProof(parsing: hmac) }
        #expect(throws: DPoPError.invalidProof("DPoP proof is not a JWT")) { try DPoPProof(parsing: "abc") }
        // A JWK with the private scalar.
        var jwk = ECPublicJWK.object(for: key.publicKey)
        jwk["d"] = .string(Base64.encode(key.privateKeyBytes, alphabet: .urlSafe))
        let leaky = try JWT.sign(header: ["typ": "dpop+jwt", "alg": "ES256", "jwk": .object(jwk)], claims: ["jti": "x"], key: key)
        #expect(throws: DPoPError.invalidProof("DPoP proof jwk is not a public P-256 key")) { try DPoPProof(parsing: leaky) }
    }

    /// A header cache that answers with another key: the signature still has to verify under it.
    struct FixedHeaders: DPoPHeaderCache {
        let jwk: ECPublicJWK
        func key(forHeader segment: String) -> ECPublicJWK? { jwk }
        func remember(_ key: ECPublicJWK, forHeader segment: String) {}
    }

    /// Remembers what it is given.
    final class RecordingHeaders: DPoPHeaderCache, @unchecked Sendable {
        var remembered: [String: ECPublicJWK] = [:]
        func key(forHeader segment: String) -> ECPublicJWK? { remembered[segment] }
        func remember(_ key: ECPublicJWK, forHeader segment: String) { remembered[segment] = key }
    }

    /// A caller's header cache is used, and a cached key still has to verify the signature.
    @Test func cachedKeysStillVerify() throws {
        let compact = try proof()
        let other = try ECPublicJWK(ECPublicJWK.object(for: try P256PrivateKey().publicKey))
        #expect(throws: DPoPError.invalidProof("DPoP proof signature is invalid")) {
            try DPoPProof(parsing: compact, headers: FixedHeaders(jwk: other))
        }
        let own = try ECPublicJWK(ECPublicJWK.object(for: key.publicKey))
        #expect(try DPoPProof(parsing: compact, headers: FixedHeaders(jwk: own)).jti == "jti-1")
    }

    /// Only a header whose key verified the proof is remembered, under its own text.
    @Test func onlyVerifiedHeadersAreRemembered() throws {
        let headers = RecordingHeaders()
        let compact = try proof()
        let segment = String(compact.split(separator: ".")[0])
        let forged = segment + "." + compact.split(separator: ".")[1] + "." + Base64.encode([UInt8](repeating: 1, count: 64), alphabet: .urlSafe)
        #expect(throws: DPoPError.invalidProof("DPoP proof signature is invalid")) { try DPoPProof(parsing: forged, headers: headers) }
        #expect(headers.remembered.isEmpty)
        let verified = try DPoPProof(parsing: compact, headers: headers)
        #expect(headers.remembered[segment]?.thumbprint == verified.jwk.thumbprint)
        #expect(try DPoPProof(parsing: compact, headers: headers).jwk.thumbprint == verified.jwk.thumbprint)
    }

    @Test func noncesRotate() {
        #expect(nonces.current(now: now) != nonces.current(now: now + 180))
        #expect(nonces.current(now: now) != DPoPNonces(secret: [9], period: 180).current(now: now))
        #expect(nonces.isAcceptable(nonces.current(now: now), now: now + 179))
    }

    @Test func pkce() {
        let verifier = String(repeating: "a1-", count: 15)
        let challenge = PKCE.challenge(for: verifier)
        #expect(PKCE.isValidChallenge(challenge, method: "S256"))
        #expect(!PKCE.isValidChallenge(challenge, method: "plain"))
        #expect(!PKCE.isValidChallenge(challenge, method: nil))
        #expect(!PKCE.isValidChallenge("short", method: "S256"))
        #expect(PKCE.verify(verifier: verifier, challenge: challenge))
        #expect(!PKCE.verify(verifier: verifier + "x", challenge: challenge))
        #expect(!PKCE.verify(verifier: "tooshort", challenge: PKCE.challenge(for: "tooshort")))
        // RFC 7636 Appendix B.
        #expect(PKCE.challenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }

    /// RFC 7638 §3.1 gives an RSA example; for EC the canonical JSON is checked by recomputing.
    @Test func thumbprintIsCanonical() throws {
        let object = ECPublicJWK.object(for: key.publicKey, keyID: "k1")
        var shuffled = JSONObject()
        shuffled["y"] = object["y"]
        shuffled["kid"] = "other"
        shuffled["x"] = object["x"]
        shuffled["crv"] = "P-256"
        shuffled["kty"] = "EC"
        #expect(try ECPublicJWK(object).thumbprint == (try ECPublicJWK(shuffled)).thumbprint)
        let canonical = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"\(object["x"]!.stringValue!)\",\"y\":\"\(object["y"]!.stringValue!)\"}"
        #expect(try ECPublicJWK(object).thumbprint == Base64.encode(SHA256.hash(Array(canonical.utf8)), alphabet: .urlSafe))
    }
}

@Suite("JOSE ES256 accepts high-S")
struct JOSEHighSTests {
    /// JOSE libraries do not normalise s; the same proof with s replaced by n − s must verify.
    @Test func highSProofVerifies() throws {
        let key = try P256PrivateKey()
        let compact = try DPoPProof.make(key: key, method: "GET", url: "https://x.example/", iat: 1, jti: "j", nonce: nil)
        let parts = compact.split(separator: ".").map(String.init)
        var signature = try Base64.decode(parts[2], alphabet: .urlSafe)
        // n of P-256, big-endian.
        let order: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                              0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51]
        var borrow = 0
        for index in stride(from: 31, through: 0, by: -1) {
            var difference = Int(order[index]) - Int(signature[32 + index]) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 256 }
            signature[32 + index] = UInt8(difference)
        }
        let high = parts[0] + "." + parts[1] + "." + Base64.encode(signature, alphabet: .urlSafe)
        #expect(!key.publicKey.verify(signature: signature, message: Array((parts[0] + "." + parts[1]).utf8)))
        #expect(try DPoPProof(parsing: high).jti == "j")
    }
}
