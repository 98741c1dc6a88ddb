import ATCrypto
import ATData
import Multiformats
import Synchronization

/// Issues and checks the HS256 session tokens of password sessions (access `at+jwt`, refresh
/// `refresh+jwt`), signed with the server's session secret.
///
/// Lifetimes follow the reference server: access 120 min (configurable), refresh 90 days. The
/// storage of refresh tokens (rotation, revocation) is the caller's; this type only signs and checks.
public struct SessionTokenCodec: Sendable {
    public static let refreshLifetime: Int64 = 90 * 24 * 3600

    public let secret: [UInt8]
    /// `aud` of every token: the server's service DID.
    public let audience: String
    /// Access-token lifetime in seconds.
    public var accessLifetime: Int64
    /// Tokens whose signature already checked out, so a client's every request does not parse and
    /// HMAC the same token again (it was ~4% of a write). Only the signature is cached: claims,
    /// type and expiry are checked on every use.
    let verified = VerifiedTokenCache()

    public init(secret: [UInt8], audience: String, accessLifetime: Int64 = 120 * 60) {
        self.secret = secret
        self.audience = audience
        self.accessLifetime = accessLifetime
    }

    /// A new access/refresh pair for refresh-token id `jti`.
    public func pair(did: String, scope: SessionScope, jti: String, issuedAt: Int64) -> (access: String, refresh: String) {
        let access = JWT.signHS256(type: "at+jwt", claims: [
            "scope": .string(scope.rawValue), "aud": .string(audience), "sub": .string(did),
            "iat": .number(JSONNumber(issuedAt)), "exp": .number(JSONNumber(issuedAt + accessLifetime)),
        ], secret: secret)
        let refresh = JWT.signHS256(type: "refresh+jwt", claims: [
            "scope": .string(SessionScope.refresh.rawValue), "aud": .string(audience), "sub": .string(did),
            // The access scope rides along so a refresh keeps the session's privilege level.
            "act": .string(scope.rawValue),
            "jti": .string(jti), "iat": .number(JSONNumber(issuedAt)),
            "exp": .number(JSONNumber(issuedAt + Self.refreshLifetime)),
        ], secret: secret)
        return (access, refresh)
    }

    /// A fresh random refresh-token id.
    public static func newTokenID() -> String {
        Base64.encode(SecureRandom.bytes(32), alphabet: .urlSafe)
    }

    /// The id of the token that replaces `jti` on rotation: derived, so a client that lost a
    /// refresh response and retries gets the same successor.
    public func successorID(of jti: String) -> String {
        Base64.encode(HMAC.sha256(key: secret, message: Array(("rotate:" + jti).utf8)), alphabet: .urlSafe)
    }

    /// Checks an access token and returns who it speaks for.
    public func verifyAccess(_ token: String, now: Int64) throws(AuthError) -> AccessAuth {
        let jwt = try verify(token, type: "at+jwt", allowExpired: false, now: now)
        guard let scope = jwt.string("scope").flatMap(SessionScope.init(rawValue:)), scope != .refresh else {
            throw .invalidToken(AuthError.defaultScopeMessage)
        }
        return AccessAuth(did: jwt.string("sub")!, scope: scope)
    }

    /// A refresh token that passed signature and claim checks.
    public struct Refresh: Sendable {
        public let did: String
        public let jti: String
        /// The scope of the access tokens this session issues.
        public let accessScope: SessionScope
    }

    /// Checks a refresh token (`allowExpired` for logout).
    public func verifyRefresh(_ token: String, allowExpired: Bool = false, now: Int64) throws(AuthError) -> Refresh {
        let jwt = try verify(token, type: "refresh+jwt", allowExpired: allowExpired, now: now)
        guard jwt.string("scope") == SessionScope.refresh.rawValue, let jti = jwt.string("jti"), !jti.isEmpty else {
            throw .invalidToken(AuthError.defaultScopeMessage)
        }
        let scope = jwt.string("act").flatMap(SessionScope.init(rawValue:)) ?? .access
        return Refresh(did: jwt.string("sub")!, jti: jti, accessScope: scope == .refresh ? .appPass : scope)
    }

    /// The checks common to both token kinds: HS256 signature, `typ`, `aud`, `sub`, `exp`.
    func verify(_ token: String, type: String, allowExpired: Bool, now: Int64) throws(AuthError) -> JWT {
        let jwt: JWT
        if let cached = verified.lookup(token) {
            jwt = cached
        } else {
            do {
                jwt = try JWT(parsing: token)
                try jwt.verifyHS256(secret: secret)
            } catch {
                throw .invalidToken(AuthError.defaultInvalidMessage)
            }
            verified.insert(token, jwt)
        }
        guard jwt.header["typ"]?.stringValue == type else { throw .invalidToken("Invalid token type") }
        guard jwt.string("aud") == audience, let subject = jwt.string("sub"), subject.hasPrefix("did:") else {
            throw .invalidToken(AuthError.defaultInvalidMessage)
        }
        // Session tokens never carry service-auth or DPoP claims.
        guard jwt.claims["lxm"] == nil, jwt.claims["cnf"] == nil else { throw .invalidToken("Malformed token") }
        guard let expiry = jwt.integer("exp") else { throw .invalidToken(AuthError.defaultInvalidMessage) }
        if !allowExpired && expiry <= now { throw .expiredToken("Token has expired") }
        return jwt
    }
}

/// The last few tokens whose HS256 signature verified, most recent first. A handful covers one
/// account's clients (phone, web, a CLI); a token not here is simply verified again.
final class VerifiedTokenCache: Sendable {
    static let capacity = 8
    private let entries = Mutex<[(token: String, jwt: JWT)]>([])

    func lookup(_ token: String) -> JWT? {
        entries.withLock { entries in
            guard let index = entries.firstIndex(where: { $0.token == token }) else { return nil }
            let entry = entries.remove(at: index)
            entries.insert(entry, at: 0)
            return entry.jwt
        }
    }

    func insert(_ token: String, _ jwt: JWT) {
        entries.withLock { entries in
            entries.removeAll { $0.token == token }
            entries.insert((token, jwt), at: 0)
            if entries.count > Self.capacity { entries.removeLast(entries.count - Self.capacity) }
        }
    }
}
