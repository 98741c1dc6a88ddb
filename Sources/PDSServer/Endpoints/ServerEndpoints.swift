import ATAuth
import ATCrypto
import ATData
import ATSyntax
import Foundation
import HTTPTypes
import Hummingbird

/// Inter-service auth (https://atproto.com/specs/xrpc#inter-service-authentication-jwt): short
/// ES256K JWTs signed with the account's repo signing key, minted for proxied requests and
/// `getServiceAuth`, and accepted on `uploadBlob` (the Bluesky app's video service uploads with one).
extension PDSServerState {
    /// A service-auth token from the account: `{iss: account DID, aud, exp, iat, lxm, jti}`, ES256K.
    func serviceToken(audience: String, lxm: String?, lifetime: Int64 = 60, issuedAt: Int64? = nil) throws -> String {
        guard let account = try accounts.account() else { throw XRPCError.badRequest("AccountNotFound", "No account") }
        return try ServiceAuthToken.make(issuer: account.did, audience: audience, lxm: lxm,
                                         issuedAt: issuedAt ?? Int64(Date().timeIntervalSince1970), lifetime: lifetime,
                                         key: keys.signingKey)
    }

    /// Who may upload a blob: a session, or a service token this account issued for `uploadBlob`
    /// addressed to this server (the app hands one to its video service).
    func verifyAccessOrServiceAuth(_ request: Request, lxm: String) throws -> AccessAuth {
        guard let header = request.headers[.authorization], let token = AuthorizationHeader(header).bearerToken,
              let jwt = try? JWT(parsing: token), ServiceAuthToken.isCandidate(jwt)
        else { return try tokens.verifyAccess(request) }
        guard let account = try accounts.account() else {
            throw AuthError.serviceToken(name: "BadJwtIssuer", message: "Service tokens are only accepted from this server's account")
        }
        // The issuer is the local account: its key is the one in memory (the DID document's
        // #atproto). Not single-use: the app's video service may retry an upload with the token
        // it was handed (valid 30 minutes), and the reference verifier does not track `jti`s either.
        try ServiceAuthToken.verify(jwt, issuer: account.did, key: keys.signingKey.publicKey, audience: config.serviceDID,
                                    lxm: lxm, now: Int64(Date().timeIntervalSince1970))
        return AccessAuth(did: account.did, scope: .appPass)
    }

    /// `com.atproto.server.getServiceAuth` (REFERENCE-PDS.md §1a).
    func registerServiceAuth(on router: inout XRPCRouter) {
        router.query("com.atproto.server.getServiceAuth") { [self] request, _ in
            let auth = try tokens.verifyAccess(request)
            _ = try requireAccount(auth.did)
            let params = request.params
            let audience = try params.requiredString("aud")
            guard audience.hasPrefix("did:"), !audience.contains(" ") else { throw XRPCError.invalidRequest("aud must be a DID") }
            let lxm = params.optionalString("lxm")
            if let lxm {
                guard NSID.isValid(lxm) else { throw XRPCError.invalidRequest("lxm must be a valid NSID") }
                if MethodPolicy.protectedMethods.contains(lxm) {
                    throw XRPCError.badRequest("InvalidRequest", "cannot request a service token for a protected method: \(lxm)")
                }
                if MethodPolicy.isPrivileged(lxm) && !auth.isPrivileged {
                    throw XRPCError.badRequest("InvalidToken", "Bad token scope: \(lxm) needs a privileged session")
                }
            }
            let now = Int64(Date().timeIntervalSince1970)
            var lifetime: Int64 = 60
            if let expText = params.optionalString("exp") {
                guard let exp = Int64(expText) else { throw XRPCError.invalidRequest("exp must be an integer") }
                guard exp > now else { throw XRPCError.badRequest("BadExpiration", "expiration is in past") }
                guard exp - now <= 3600 else { throw XRPCError.badRequest("BadExpiration", "cannot request a token with an expiration more than an hour in the future") }
                if lxm == nil && exp - now > 60 {
                    throw XRPCError.badRequest("BadExpiration", "cannot request a method-less token with an expiration more than a minute in the future")
                }
                lifetime = exp - now
            }
            return jsonResponse(["token": .string(try serviceToken(audience: audience, lxm: lxm, lifetime: lifetime, issuedAt: now))])
        }
    }
}
