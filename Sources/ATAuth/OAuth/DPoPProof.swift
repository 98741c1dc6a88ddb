import ATCrypto
import ATData
import Multiformats

/// Why a DPoP proof was refused (RFC 9449 §7.1, §8, §9). The authorization server answers
/// `invalid_dpop_proof` / `use_dpop_nonce` with 400 JSON, the resource server with 401 and a
/// `WWW-Authenticate: DPoP error="…"` header.
public enum DPoPError: Error, Equatable, Sendable {
    case invalidProof(String)
    /// The proof lacked the current server nonce, or carried a stale one.
    case useNonce

    /// The OAuth error code.
    public var code: String {
        switch self {
        case .invalidProof: "invalid_dpop_proof"
        case .useNonce: "use_dpop_nonce"
        }
    }

    public var message: String {
        switch self {
        case .invalidProof(let message): message
        case .useNonce: "Authorization server requires nonce in DPoP proof"
        }
    }
}

/// A verified DPoP proof JWT (RFC 9449 §4): `typ: dpop+jwt`, ES256, an embedded public JWK, and the
/// claims `jti`, `htm`, `htu`, `iat`, `nonce`, and `ath` on resource requests.
///
/// `init(parsing:)` checks the signature against the embedded key; `check(…)` the claims for one
/// request. Replay of `jti` is the caller's (a store with expiry); nonces come from `DPoPNonces`.
public struct DPoPProof: Sendable {
    public let jwk: ECPublicJWK
    public let jti: String
    public let htm: String
    public let htu: String
    public let iat: Int64
    public let nonce: String?
    public let ath: String?

    /// How far in the future `iat` may be (clock skew), and how old a proof may be; the `jti`
    /// store must keep entries for at least `maxAge + maxSkew`.
    public static let maxSkew: Int64 = 60
    public static let maxAge: Int64 = 300
    /// Proofs are small; anything larger is refused before parsing.
    public static let maxLength = 4096

    /// `cached` looks up keys already imported (see `ECPublicJWK.KeyLookup`).
    public init(parsing compact: String, cached: ECPublicJWK.KeyLookup? = nil) throws(DPoPError) {
        guard compact.utf8.count <= Self.maxLength else { throw .invalidProof("DPoP proof is too large") }
        let jwt: JWT
        do { jwt = try JWT(parsing: compact) } catch { throw .invalidProof("DPoP proof is not a JWT") }
        guard jwt.header["typ"]?.stringValue == "dpop+jwt" else { throw .invalidProof("DPoP proof typ must be dpop+jwt") }
        guard jwt.header["alg"]?.stringValue == "ES256" else { throw .invalidProof("DPoP proof must be signed with ES256") }
        guard let jwkObject = jwt.header["jwk"]?.objectValue else { throw .invalidProof("DPoP proof has no jwk") }
        do { jwk = try ECPublicJWK(jwkObject, cached: cached) } catch { throw .invalidProof("DPoP proof jwk is not a public P-256 key") }
        do { try jwt.verifyJOSE(key: jwk.key) } catch { throw .invalidProof("DPoP proof signature is invalid") }
        guard let jti = jwt.string("jti"), !jti.isEmpty, jti.utf8.count <= 256 else { throw .invalidProof("DPoP proof has no jti") }
        guard let htm = jwt.string("htm") else { throw .invalidProof("DPoP proof has no htm") }
        guard let htu = jwt.string("htu") else { throw .invalidProof("DPoP proof has no htu") }
        guard let iat = jwt.integer("iat") else { throw .invalidProof("DPoP proof has no iat") }
        self.jti = jti
        self.htm = htm
        self.htu = htu
        self.iat = iat
        if let nonce = jwt.claims["nonce"] {
            guard let value = nonce.stringValue else { throw .invalidProof("DPoP nonce must be a string") }
            self.nonce = value
        } else {
            self.nonce = nil
        }
        self.ath = jwt.string("ath")
    }

    /// Checks the claims for a request: `method` and `url` (scheme, host, port and path as the
    /// server sees them; any query or fragment is ignored on both sides, RFC 9449 §4.3 step 9),
    /// the time window, the access-token hash when `accessToken` is given, and the nonce.
    public func check(method: String, url: String, now: Int64, accessToken: String?, nonces: DPoPNonces) throws(DPoPError) {
        guard htm == method else { throw .invalidProof("DPoP htm mismatch") }
        guard Self.normalize(htu) == Self.normalize(url) else { throw .invalidProof("DPoP htu mismatch") }
        guard iat <= now + Self.maxSkew, iat >= now - Self.maxAge else { throw .invalidProof("DPoP proof iat is out of range") }
        if let accessToken {
            let expected = Base64.encode(SHA256.hash(Array(accessToken.utf8)), alphabet: .urlSafe)
            guard let ath, HMAC.constantTimeEquals(Array(ath.utf8), Array(expected.utf8)) else {
                throw .invalidProof("DPoP ath mismatch")
            }
        }
        // The nonce is checked last: a client that answers `use_dpop_nonce` retries the same
        // request, so every other fault must already have been reported.
        guard let nonce, nonces.isAcceptable(nonce, now: now) else { throw .useNonce }
    }

    /// `htu` without query or fragment, with scheme and host lower-cased and a default port dropped.
    static func normalize(_ url: String) -> String {
        var base = Substring(url)
        if let cut = base.firstIndex(where: { $0 == "?" || $0 == "#" }) { base = base[..<cut] }
        guard let colon = base.firstIndex(of: ":"), base[colon...].hasPrefix("://") else { return String(base) }
        let scheme = base[..<colon].lowercased()
        let rest = base[base.index(colon, offsetBy: 3)...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd].lowercased()
        if scheme == "https", authority.hasSuffix(":443") { authority.removeLast(4) }
        if scheme == "http", authority.hasSuffix(":80") { authority.removeLast(3) }
        let path = rest[authorityEnd...]
        return scheme + "://" + authority + (path.isEmpty ? "/" : String(path))
    }

    /// A proof for a request (clients in tests and benchmarks).
    public static func make(key: P256PrivateKey, method: String, url: String, iat: Int64, jti: String,
                            nonce: String?, accessToken: String? = nil) throws -> String {
        var claims: [(String, JSONValue)] = [("jti", .string(jti)), ("htm", .string(method)), ("htu", .string(url)), ("iat", .number(JSONNumber(iat)))]
        if let nonce { claims.append(("nonce", .string(nonce))) }
        if let accessToken {
            claims.append(("ath", .string(Base64.encode(SHA256.hash(Array(accessToken.utf8)), alphabet: .urlSafe))))
        }
        return try JWT.sign(header: ["typ": "dpop+jwt", "alg": "ES256", "jwk": .object(ECPublicJWK.object(for: key.publicKey))],
                            claims: JSONObject(claims), key: key)
    }
}

/// Server-issued DPoP nonces (RFC 9449 §8) without storage: the nonce of a time window is an
/// HMAC of the window's number under a server secret. A new nonce every `period` seconds (at most
/// 5 minutes, https://atproto.com/specs/oauth); the previous and next windows' nonces are accepted
/// too, so a nonce is good for between one and two periods and clocks may disagree a little.
public struct DPoPNonces: Sendable {
    private let secret: [UInt8]
    public let period: Int64

    public init(secret: [UInt8], period: Int64 = 180) {
        precondition(period > 0 && period <= 300, "DPoP nonces must rotate at most every 5 minutes")
        self.secret = secret
        self.period = period
    }

    /// The nonce to send in `DPoP-Nonce` at `now`.
    public func current(now: Int64) -> String { nonce(window: now / period) }

    public func isAcceptable(_ nonce: String, now: Int64) -> Bool {
        let window = now / period
        // The current window first: that is the nonce almost every proof carries.
        return [window, window - 1, window + 1].contains {
            HMAC.constantTimeEquals(Array(self.nonce(window: $0).utf8), Array(nonce.utf8))
        }
    }

    private func nonce(window: Int64) -> String {
        var message = Array("dpop-nonce:".utf8)
        withUnsafeBytes(of: window.bigEndian) { message.append(contentsOf: $0) }
        return Base64.encode(HMAC.sha256(key: secret, message: message).prefix(18), alphabet: .urlSafe)
    }
}
