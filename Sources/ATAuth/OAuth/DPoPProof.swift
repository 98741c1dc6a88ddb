import ATCrypto
import ATData
import Multiformats
import Synchronization

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

/// Verified DPoP proof headers by their base64url text. A client signs every proof with one key,
/// so the header segment (`typ`, `alg`, `jwk`) repeats byte for byte from proof to proof; a cache
/// of it spares each proof the header's base64 and JSON, the JWK checks, the key's import into
/// OpenSSL and the thumbprint's SHA-256. Only headers whose key verified a proof are remembered,
/// and a cached header's key still verifies every signature.
public protocol DPoPHeaderCache: Sendable {
    func key(forHeader segment: String) -> ECPublicJWK?
    func remember(_ key: ECPublicJWK, forHeader segment: String)
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

    /// `headers` holds headers already verified (see `DPoPHeaderCache`); a verified proof's
    /// header is added to it.
    public init(parsing compact: String, headers: (any DPoPHeaderCache)? = nil) throws(DPoPError) {
        guard compact.utf8.count <= Self.maxLength else { throw .invalidProof("DPoP proof is too large") }
        guard let jws = CompactJWS(compact) else { throw .invalidProof("DPoP proof is not a JWT") }
        let headerText = String(decoding: jws.header, as: UTF8.self)
        let cached = headers?.key(forHeader: headerText)
        let jwk: ECPublicJWK
        if let cached { jwk = cached } else { jwk = try Self.headerKey(jws.header) }
        guard let claimBytes = try? CompactJWS.decode(jws.payload), let claimValue = try? JSONValue.parse(claimBytes),
              let claims = claimValue.objectValue,
              let signature = try? jws.signature()
        else { throw .invalidProof("DPoP proof is not a JWT") }
        guard jwk.key.verifyJOSE(signature: signature, message: Array(jws.signingInput)) else {
            throw .invalidProof("DPoP proof signature is invalid")
        }
        if cached == nil { headers?.remember(jwk, forHeader: headerText) }
        self.jwk = jwk
        guard let jti = claims["jti"]?.stringValue, !jti.isEmpty, jti.utf8.count <= 256 else { throw .invalidProof("DPoP proof has no jti") }
        guard let htm = claims["htm"]?.stringValue else { throw .invalidProof("DPoP proof has no htm") }
        guard let htu = claims["htu"]?.stringValue else { throw .invalidProof("DPoP proof has no htu") }
        guard let iat = claims["iat"]?.int64Value else { throw .invalidProof("DPoP proof has no iat") }
        self.jti = jti
        self.htm = htm
        self.htu = htu
        self.iat = iat
        if let nonce = claims["nonce"] {
            guard let value = nonce.stringValue else { throw .invalidProof("DPoP nonce must be a string") }
            self.nonce = value
        } else {
            self.nonce = nil
        }
        self.ath = claims["ath"]?.stringValue
    }

    /// The key of a header segment not seen before: `typ`, `alg` and the public JWK checked.
    static func headerKey(_ segment: ArraySlice<UInt8>) throws(DPoPError) -> ECPublicJWK {
        guard let bytes = try? CompactJWS.decode(segment), let value = try? JSONValue.parse(bytes),
              let header = value.objectValue
        else { throw .invalidProof("DPoP proof is not a JWT") }
        guard header["typ"]?.stringValue == "dpop+jwt" else { throw .invalidProof("DPoP proof typ must be dpop+jwt") }
        guard header["alg"]?.stringValue == "ES256" else { throw .invalidProof("DPoP proof must be signed with ES256") }
        guard let jwkObject = header["jwk"]?.objectValue else { throw .invalidProof("DPoP proof has no jwk") }
        do { return try ECPublicJWK(jwkObject) } catch { throw .invalidProof("DPoP proof jwk is not a public P-256 key") }
    }

    /// Checks the claims for a request: `method` and `url` (scheme, host, port and path as the
    /// server sees them; any query or fragment is ignored on both sides, RFC 9449 §4.3 step 9),
    /// the time window, the access-token hash when `accessToken` is given, and the nonce.
    public func check(method: String, url: String, now: Int64, accessToken: String?, nonces: DPoPNonces) throws(DPoPError) {
        try check(method: method, url: url, now: now, accessTokenHash: accessToken.map { SHA256.hash(Array($0.utf8)) }, nonces: nonces)
    }

    /// `check`, with the access token's SHA-256 (`ath` is its base64url) when there is one: the
    /// resource server hashes the token once for this and for its session lookup.
    public func check(method: String, url: String, now: Int64, accessTokenHash: [UInt8]?, nonces: DPoPNonces) throws(DPoPError) {
        guard htm == method else { throw .invalidProof("DPoP htm mismatch") }
        guard htu == url || Self.normalize(htu) == Self.normalize(url) else { throw .invalidProof("DPoP htu mismatch") }
        guard iat <= now + Self.maxSkew, iat >= now - Self.maxAge else { throw .invalidProof("DPoP proof iat is out of range") }
        if let accessTokenHash {
            let expected = Base64.encode(accessTokenHash, alphabet: .urlSafe)
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
    /// The last window's nonce: one HMAC per window instead of one per proof.
    private let memo = NonceMemo()

    public init(secret: [UInt8], period: Int64 = 180) {
        precondition(period > 0 && period <= 300, "DPoP nonces must rotate at most every 5 minutes")
        self.secret = secret
        self.period = period
    }

    /// The nonce to send in `DPoP-Nonce` at `now`.
    public func current(now: Int64) -> String { memoized(window: now / period) }

    public func isAcceptable(_ nonce: String, now: Int64) -> Bool {
        let window = now / period
        // The current window first: that is the nonce almost every proof carries.
        return [window, window - 1, window + 1].contains {
            HMAC.constantTimeEquals(Array(memoized(window: $0).utf8), Array(nonce.utf8))
        }
    }

    private func memoized(window: Int64) -> String {
        if let known = memo.value(window: window) { return known }
        let value = nonce(window: window)
        memo.set(window: window, value)
        return value
    }

    private func nonce(window: Int64) -> String {
        var message = Array("dpop-nonce:".utf8)
        withUnsafeBytes(of: window.bigEndian) { message.append(contentsOf: $0) }
        return Base64.encode(HMAC.sha256(key: secret, message: message).prefix(18), alphabet: .urlSafe)
    }
}

/// The nonces of the last few windows `DPoPNonces` computed (pure: a value derived from the
/// secret, shared by copies of the struct).
final class NonceMemo: Sendable {
    private let entries = Mutex<[(window: Int64, nonce: String)]>([])

    func value(window: Int64) -> String? {
        entries.withLock { entries in entries.first { $0.window == window }?.nonce }
    }

    func set(window: Int64, _ nonce: String) {
        entries.withLock { entries in
            entries.removeAll { $0.window == window }
            entries.append((window, nonce))
            if entries.count > 3 { entries.removeFirst() }
        }
    }
}
