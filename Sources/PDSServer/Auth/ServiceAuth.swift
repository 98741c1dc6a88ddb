import ATCrypto
import ATData
import ATSyntax
import Foundation
import HTTPTypes
import Hummingbird

/// Inter-service auth (ATPROTO.md §11, REFERENCE-PDS.md §2.2): short ES256K JWTs signed with the
/// account's repo signing key, minted for proxied requests and `getServiceAuth`, and accepted
/// on `uploadBlob` (the Bluesky app's video service uploads with one).
extension PDSServerState {
    /// Methods never proxied and never granted to service tokens (REFERENCE-PDS.md §2.1).
    static let protectedMethods: Set<String> = [
        "com.atproto.admin.sendEmail", "com.atproto.identity.requestPlcOperationSignature",
        "com.atproto.identity.signPlcOperation", "com.atproto.identity.updateHandle",
        "com.atproto.server.activateAccount", "com.atproto.server.confirmEmail",
        "com.atproto.server.createAppPassword", "com.atproto.server.deactivateAccount",
        "com.atproto.server.getAccountInviteCodes", "com.atproto.server.getSession",
        "com.atproto.server.listAppPasswords", "com.atproto.server.requestAccountDelete",
        "com.atproto.server.requestEmailConfirmation", "com.atproto.server.requestEmailUpdate",
        "com.atproto.server.revokeAppPassword", "com.atproto.server.updateEmail",
    ]

    /// Methods that need a full session or a privileged app password: DMs, and account creation
    /// elsewhere (migration). All of `chat.bsky.*` is treated so, including newer methods.
    static func isPrivilegedMethod(_ nsid: String) -> Bool {
        nsid.hasPrefix("chat.bsky.") || nsid == "com.atproto.server.createAccount"
    }

    /// A service-auth token: `{iss: account DID, aud, exp, iat, lxm, jti}`, ES256K with low-S r‖s.
    func serviceToken(audience: String, lxm: String?, lifetime: Int64 = 60, issuedAt: Int64? = nil) throws -> String {
        guard let account = try accounts.account() else { throw XRPCError.badRequest("AccountNotFound", "No account") }
        let now = issuedAt ?? Int64(Date().timeIntervalSince1970)
        var claims: JSONObject = [
            "iat": .number(JSONNumber(now)),
            "iss": .string(account.did),
            "aud": .string(audience),
            "exp": .number(JSONNumber(now + lifetime)),
            "jti": .string(SecureRandom.bytes(16).map { String(format: "%02x", $0) }.joined()),
        ]
        if let lxm { claims["lxm"] = .string(lxm) }
        return try JWT.sign(type: "JWT", claims: claims, key: keys.signingKey)
    }

    /// Who may upload a blob: a session, or a service token this account issued for `uploadBlob`
    /// addressed to this server (the app hands one to its video service).
    func verifyAccessOrServiceAuth(_ request: Request, lxm: String) throws -> AccessAuth {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            return try tokens.verifyAccess(request)
        }
        let token = String(header.dropFirst(7).drop(while: { $0 == " " }))
        guard let jwt = try? JWT(parsing: token), jwt.header["alg"]?.stringValue != "HS256" else {
            return try tokens.verifyAccess(request)
        }
        // Session, refresh and DPoP tokens are never service tokens (REFERENCE-PDS.md §2.2).
        if let type = jwt.header["typ"]?.stringValue, ["at+jwt", "refresh+jwt", "dpop+jwt"].contains(type) {
            throw XRPCError(.unauthorized, "BadJwtType", "Invalid jwt type")
        }
        guard let account = try accounts.account(), jwt.string("iss") == account.did else {
            throw XRPCError(.unauthorized, "BadJwtIssuer", "Service tokens are only accepted from this server's account")
        }
        guard let expiry = jwt.integer("exp") else { throw XRPCError(.unauthorized, "BadJwt", "Token has no exp") }
        guard expiry > Int64(Date().timeIntervalSince1970) else { throw XRPCError(.unauthorized, "JwtExpired", "jwt expired") }
        let audience = jwt.string("aud") ?? ""
        guard audience == config.serviceDID || audience.hasPrefix(config.serviceDID + "#") else {
            throw XRPCError(.unauthorized, "BadJwtAudience", "jwt audience does not match service did")
        }
        guard jwt.string("lxm") == lxm else {
            throw XRPCError(.unauthorized, "BadJwtLexiconMethod", "jwt lexicon method (\"lxm\") does not match: \(lxm)")
        }
        // The issuer is the local account: its key is the one in memory (the DID document's #atproto).
        do { try jwt.verify(key: keys.signingKey.publicKey) } catch {
            throw XRPCError(.unauthorized, "BadJwtSignature", "jwt signature does not match jwt issuer")
        }
        // Not single-use: the app's video service may retry an upload with the token it was
        // handed (valid 30 minutes), and the reference verifier does not track `jti`s either.
        guard let jti = jwt.string("jti"), !jti.isEmpty else { throw XRPCError(.unauthorized, "BadJwt", "jwt has no jti") }
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
                if Self.protectedMethods.contains(lxm) {
                    throw XRPCError.badRequest("InvalidRequest", "cannot request a service token for a protected method: \(lxm)")
                }
                if Self.isPrivilegedMethod(lxm) && !auth.isPrivileged {
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
