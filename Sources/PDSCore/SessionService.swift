import ATAuth
import Foundation
import HTTPTypes
import Hummingbird
import PDSStore

/// Password sessions: the HS256 tokens (signed and checked by ATAuth's `SessionTokenCodec`) plus
/// the stored refresh tokens that make rotation and revocation possible.
///
/// A rotated refresh token keeps working for 2 h and yields the same successor (its `jti` is
/// derived from the old one), so a client that lost a refresh response can simply retry.
struct SessionTokens: Sendable {
    static let rotationGrace: Int64 = 2 * 3600

    var codec: SessionTokenCodec
    let accounts: AccountStore
    var now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }

    init(secret: [UInt8], audience: String, accounts: AccountStore) {
        codec = SessionTokenCodec(secret: secret, audience: audience)
        self.accounts = accounts
    }

    /// Access-token lifetime in seconds (reference: 120 min).
    var accessLifetime: Int64 {
        get { codec.accessLifetime }
        set { codec.accessLifetime = newValue }
    }

    /// A new access/refresh pair, storing the refresh token.
    func issue(did: String, scope: SessionScope, appPasswordName: String?) throws -> (access: String, refresh: String) {
        let jti = SessionTokenCodec.newTokenID()
        let pair = codec.pair(did: did, scope: scope, jti: jti, issuedAt: now())
        try accounts.storeRefreshToken(jti: jti, expiresAt: now() + SessionTokenCodec.refreshLifetime, appPasswordName: appPasswordName)
        return pair
    }

    /// Rotates a verified refresh token.
    func rotate(_ token: SessionTokenCodec.Refresh) throws -> (access: String, refresh: String) {
        guard let row = try accounts.refreshToken(jti: token.jti), row.expiresAt > now() else {
            throw AuthError.expiredToken("Token has been revoked")
        }
        let nextJTI = codec.successorID(of: token.jti)
        if row.nextID == nil {
            try accounts.rotateRefreshToken(
                jti: token.jti, nextJTI: nextJTI, nextExpiresAt: now() + SessionTokenCodec.refreshLifetime,
                graceUntil: now() + Self.rotationGrace)
        }
        return codec.pair(did: token.did, scope: token.accessScope, jti: nextJTI, issuedAt: now())
    }

    /// Verifies an access token from an `Authorization: Bearer` header.
    func verifyAccess(_ request: Request) throws -> AccessAuth {
        try codec.verifyAccess(try Self.bearerToken(request), now: now())
    }

    /// Verifies a refresh token (`allowExpired` for logout).
    func verifyRefresh(_ request: Request, allowExpired: Bool = false) throws -> SessionTokenCodec.Refresh {
        try codec.verifyRefresh(try Self.bearerToken(request), allowExpired: allowExpired, now: now())
    }

    /// The bearer token of `request`: `AuthMissing` without a header, `InvalidToken` for another scheme.
    static func bearerToken(_ request: Request) throws(AuthError) -> String {
        guard let header = request.headers[.authorization] else { throw .missing }
        guard let token = AuthorizationHeader(header).bearerToken else { throw .invalidToken("Unexpected authorization type") }
        return token
    }
}
