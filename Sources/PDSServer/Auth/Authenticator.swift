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
    /// The account's signing key (the DID document's `#atproto`), which signs its service tokens;
    /// read at each check, as a finished rotation switches it.
    let signingKey: @Sendable () -> any VerifyingKey
    /// OAuth access tokens (`Authorization: DPoP`), checked with their proof.
    let oauth: OAuthService

    /// The caller, if it meets `requirement`. `nsid` is the method called, for the OAuth method
    /// policy; `recordProof: false` re-reads the credentials of a request whose DPoP proof was
    /// already checked and recorded (a second look by the proxy's read-after-write).
    func authenticate(_ request: Request, _ requirement: SessionRequirement, nsid: String? = nil, recordProof: Bool = true) throws -> AccessAuth {
        if let header = request.headers[.authorization], header.utf8.count > 5, header.prefix(5).lowercased() == "dpop " {
            return try oauthAccess(request, token: String(header.dropFirst(5)), requirement, nsid: nsid, recordProof: recordProof)
        }
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

    /// An OAuth access token and its DPoP proof (RFC 9449 §7); failures answer 401 with
    /// `WWW-Authenticate: DPoP error="…"` and a fresh `DPoP-Nonce`.
    func oauthAccess(_ request: Request, token: String, _ requirement: SessionRequirement, nsid: String?, recordProof: Bool) throws -> AccessAuth {
        let now = Int64(Date().timeIntervalSince1970)
        let access: OAuthAccess
        do {
            access = try oauth.verifyAccess(token: token, proofHeader: request.headers[OAuthHTTP.dpopHeader], method: request.method.rawValue,
                                            url: oauth.settings.issuer + request.uri.path, now: now, recordProof: recordProof)
        } catch let error as OAuthError {
            let nonce = oauth.nonces.current(now: now)
            let challenge = "DPoP algs=\"ES256\", error=\"\(error.code)\", error_description=\"\(error.message)\""
            // The body names the OAuth error too (`use_dpop_nonce`, `invalid_dpop_proof`, `invalid_token`):
            // OAuth clients read either the header or the body.
            throw XRPCError(.unauthorized, error.code, error.message,
                            headers: [.wwwAuthenticate: challenge, OAuthHTTP.dpopNonceHeader: nonce])
        }
        RequestRecord.noteAuth("oauth")
        let grant = OAuthGrant(scopes: access.scopes)
        guard let account = try accounts.account(), account.did == access.session.did else { throw AuthError.invalidToken("Account not found") }
        if requirement == .activeSession && !account.isActive { throw AuthError.accountDeactivated }
        if requirement == .fullSession, nsid == nil || !Self.oauthFullSessionMethods.contains(nsid!) {
            throw XRPCError.forbidden("OAuth credentials are not supported for this endpoint")
        }
        if let nsid {
            do {
                try OAuthMethodPolicy.check(nsid, grant: grant)
            } catch .notForOAuth {
                throw XRPCError.forbidden("OAuth credentials are not supported for this endpoint")
            } catch .missingScope(let scope) {
                throw XRPCError(.forbidden, "ScopeMissingError", "Missing required scope: \(scope) (or equivalent)")
            }
        }
        let privileged = access.scopes.transitionGeneric && access.scopes.transitionChat
        return AccessAuth(did: account.did, scope: privileged ? .appPassPrivileged : .appPass, oauth: grant)
    }

    /// Password-only methods that an OAuth session may call with the right granular permission
    /// (the reference: PLC operations with `identity:*`).
    static let oauthFullSessionMethods: Set<String> = [
        "com.atproto.identity.requestPlcOperationSignature", "com.atproto.identity.signPlcOperation",
    ]

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
        try ServiceAuthToken.verify(jwt, issuer: account.did, key: signingKey(), audience: serviceDID,
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
