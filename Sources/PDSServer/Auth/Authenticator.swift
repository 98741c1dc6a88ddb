import ATAuth
import ATCrypto
import Foundation
import Hummingbird
import PDSCore
import PDSStore

/// Checks a request's credentials against a route's declared requirement: the one place that
/// reads `Authorization` headers for XRPC methods.
struct Authenticator: Sendable {
    let sessions: SessionService
    let accounts: AccountStore
    /// This server's DID: the audience of service tokens it accepts.
    let serviceDID: String
    /// The account's signing key (the DID document's `#atproto`), which signs its service tokens.
    let signingKey: any VerifyingKey

    /// The caller, if it meets `requirement`.
    func authenticate(_ request: Request, _ requirement: SessionRequirement) throws -> AccessAuth {
        let auth: AccessAuth
        switch requirement {
        case .sessionOrServiceToken(let lxm):
            if let serviceAuth = try serviceToken(request, lxm: lxm) {
                RequestRecord.noteAuth("service")
                return serviceAuth
            }
            auth = try sessions.verifyAccess(token: try Self.bearerToken(request))
        case .session, .activeSession, .fullSession:
            auth = try sessions.verifyAccess(token: try Self.bearerToken(request))
        }
        RequestRecord.noteAuth(auth.isFull ? "session" : "app-password")
        // The token's subject must still be the hosted account (cached in the account store).
        guard let account = try accounts.account(), account.did == auth.did else { throw AuthError.invalidToken("Account not found") }
        if requirement == .activeSession && !account.isActive { throw AuthError.accountDeactivated }
        if requirement == .fullSession && !auth.isFull { throw AuthError.badScope(AuthError.defaultScopeMessage) }
        return auth
    }

    /// A verified refresh token.
    func refresh(_ request: Request, allowExpired: Bool) throws -> SessionTokenCodec.Refresh {
        let refresh = try sessions.verifyRefresh(token: try Self.bearerToken(request), allowExpired: allowExpired)
        RequestRecord.noteAuth("refresh")
        return refresh
    }

    /// The caller of a service token this account issued for `lxm` addressed to this server (the
    /// Bluesky app hands one to its video service for `uploadBlob`); nil when the request carries
    /// no service token (it may carry a session token).
    func serviceToken(_ request: Request, lxm: String) throws -> AccessAuth? {
        guard let header = request.headers[.authorization], let token = AuthorizationHeader(header).bearerToken,
              let jwt = try? JWT(parsing: token), ServiceAuthToken.isCandidate(jwt)
        else { return nil }
        guard let account = try accounts.account() else {
            throw AuthError.serviceToken(name: "BadJwtIssuer", message: "Service tokens are only accepted from this server's account")
        }
        // The issuer is the local account, so its key is the one in memory. Not single-use: the
        // video service may retry an upload with the token it was handed (valid 30 minutes), and
        // the reference verifier does not track `jti`s either.
        try ServiceAuthToken.verify(jwt, issuer: account.did, key: signingKey, audience: serviceDID,
                                    lxm: lxm, now: Int64(Date().timeIntervalSince1970))
        return AccessAuth(did: account.did, scope: .appPass)
    }

    /// The bearer token of `request`: `AuthMissing` without a header, `InvalidToken` for another scheme.
    static func bearerToken(_ request: Request) throws(AuthError) -> String {
        guard let header = request.headers[.authorization] else { throw .missing }
        guard let token = AuthorizationHeader(header).bearerToken else { throw .invalidToken("Unexpected authorization type") }
        return token
    }
}
