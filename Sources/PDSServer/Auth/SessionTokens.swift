import ATCrypto
import ATData
import Foundation
import HTTPTypes
import Hummingbird
import Multiformats
import PDSStore
import Synchronization

/// Token scopes of legacy (password) sessions (REFERENCE-PDS.md §3.1).
public enum SessionScope: String, Sendable {
    /// The account password: everything.
    case access = "com.atproto.access"
    /// An app password: repository and app use, no account management, no DMs.
    case appPass = "com.atproto.appPass"
    /// A privileged app password: as `appPass`, plus DMs (chat.bsky.*).
    case appPassPrivileged = "com.atproto.appPassPrivileged"
    /// A refresh token.
    case refresh = "com.atproto.refresh"
}

/// Who made an authenticated request.
public struct AccessAuth: Sendable {
    /// The account DID (`sub`).
    public let did: String
    /// The token's scope.
    public let scope: SessionScope
    /// True for the account password (may manage the account and app passwords).
    public var isFull: Bool { scope == .access }
    /// True where DMs are allowed.
    public var isPrivileged: Bool { scope == .access || scope == .appPassPrivileged }
}

/// Issues and verifies the HS256 session tokens of password sessions.
///
/// Lifetimes follow the reference server: access 120 min, refresh 90 days; a rotated refresh
/// token keeps working for 2 h and yields the same successor (its `jti` is derived from the old
/// one), so a client that lost a refresh response can simply retry.
struct SessionTokens: Sendable {
    static let refreshLifetime: Int64 = 90 * 24 * 3600
    static let rotationGrace: Int64 = 2 * 3600

    let secret: [UInt8]
    let audience: String
    let accounts: AccountStore
    /// Access-token lifetime in seconds (reference: 120 min).
    var accessLifetime: Int64 = 120 * 60
    var now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    /// Tokens whose signature already checked out, so a client's every request does not parse and
    /// HMAC the same token again (it was ~4% of a write). Only the signature is cached: claims,
    /// type and expiry are checked on every use.
    let verified = VerifiedTokenCache()

    /// A new access/refresh pair, storing the refresh token.
    func issue(did: String, scope: SessionScope, appPasswordName: String?) throws -> (access: String, refresh: String) {
        let jti = Base64.encode(SecureRandom.bytes(32), alphabet: .urlSafe)
        let pair = makePair(did: did, scope: scope, jti: jti, issuedAt: now())
        try accounts.storeRefreshToken(jti: jti, expiresAt: now() + Self.refreshLifetime, appPasswordName: appPasswordName)
        return pair
    }

    func makePair(did: String, scope: SessionScope, jti: String, issuedAt: Int64) -> (access: String, refresh: String) {
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

    /// Rotates a verified refresh token.
    func rotate(_ token: VerifiedRefresh) throws -> (access: String, refresh: String) {
        guard let row = try accounts.refreshToken(jti: token.jti), row.expiresAt > now() else {
            throw XRPCError.expiredToken("Token has been revoked")
        }
        let nextJTI = Base64.encode(HMAC.sha256(key: secret, message: Array(("rotate:" + token.jti).utf8)), alphabet: .urlSafe)
        if row.nextID == nil {
            try accounts.rotateRefreshToken(
                jti: token.jti, nextJTI: nextJTI, nextExpiresAt: now() + Self.refreshLifetime,
                graceUntil: now() + Self.rotationGrace)
        }
        return makePair(did: token.did, scope: token.accessScope, jti: nextJTI, issuedAt: now())
    }

    /// Verifies an access token from an `Authorization: Bearer` header.
    func verifyAccess(_ request: Request) throws -> AccessAuth {
        let jwt = try bearer(request, type: "at+jwt", allowExpired: false)
        guard let scope = jwt.string("scope").flatMap(SessionScope.init(rawValue:)), scope != .refresh else {
            throw XRPCError.invalidToken("Bad token scope")
        }
        return AccessAuth(did: jwt.string("sub")!, scope: scope)
    }

    /// A refresh token that passed signature and claim checks.
    struct VerifiedRefresh {
        let did: String
        let jti: String
        let accessScope: SessionScope
    }

    /// Verifies a refresh token (`allowExpired` for logout).
    func verifyRefresh(_ request: Request, allowExpired: Bool = false) throws -> VerifiedRefresh {
        let jwt = try bearer(request, type: "refresh+jwt", allowExpired: allowExpired)
        guard jwt.string("scope") == SessionScope.refresh.rawValue, let jti = jwt.string("jti"), !jti.isEmpty else {
            throw XRPCError.invalidToken("Bad token scope")
        }
        let scope = jwt.string("act").flatMap(SessionScope.init(rawValue:)) ?? .access
        return VerifiedRefresh(did: jwt.string("sub")!, jti: jti, accessScope: scope == .refresh ? .appPass : scope)
    }

    /// The checks common to both token kinds: header shape, HS256 signature, `typ`, `aud`, `sub`, `exp`.
    func bearer(_ request: Request, type: String, allowExpired: Bool) throws -> JWT {
        guard let header = request.headers[.authorization] else { throw XRPCError.authMissing }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw XRPCError.invalidToken("Unexpected authorization type")
        }
        let token = String(header.dropFirst(7).drop(while: { $0 == " " }))
        let jwt: JWT
        if let cached = verified.lookup(token) {
            jwt = cached
        } else {
            do {
                jwt = try JWT(parsing: token)
                try jwt.verifyHS256(secret: secret)
            } catch {
                throw XRPCError.invalidToken()
            }
            verified.insert(token, jwt)
        }
        guard jwt.header["typ"]?.stringValue == type else { throw XRPCError.invalidToken("Invalid token type") }
        guard jwt.string("aud") == audience, let subject = jwt.string("sub"), subject.hasPrefix("did:") else {
            throw XRPCError.invalidToken()
        }
        // Session tokens never carry service-auth or DPoP claims (REFERENCE-PDS.md §3.1).
        guard jwt.claims["lxm"] == nil, jwt.claims["cnf"] == nil else { throw XRPCError.invalidToken("Malformed token") }
        guard let expiry = jwt.integer("exp") else { throw XRPCError.invalidToken() }
        if !allowExpired && expiry <= now() { throw XRPCError.expiredToken() }
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
