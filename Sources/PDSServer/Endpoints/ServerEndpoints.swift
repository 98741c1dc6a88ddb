import ATAuth
import ATData
import ATSyntax
import Foundation
import Hummingbird
import PDSCore

/// `com.atproto.server.describeServer` and `getServiceAuth`: what this server is, and the
/// account's inter-service tokens on request.
struct ServerEndpoints {
    let config: PDSConfig
    let serviceTokens: ServiceTokenIssuer

    func register(on router: inout XRPCRouter) {
        router.query("com.atproto.server.describeServer") { _, _ in
            jsonResponse(.object(describeServer()))
        }
        router.query("com.atproto.server.getServiceAuth", auth: .session) { request, _, auth in
            let params = request.params
            let audience = try params.requiredString("aud")
            guard audience.hasPrefix("did:"), !audience.contains(" ") else { throw XRPCError.invalidRequest("aud must be a DID") }
            let lxm = params.optionalString("lxm")
            if let lxm { try checkDelegable(lxm, auth: auth) }
            // OAuth: a token for a method at a service needs an `rpc:` permission (or the transition scope).
            try auth.requireRPC(lxm ?? "*", audience: audience)
            let now = Int64(Date().timeIntervalSince1970)
            let lifetime = try requestedLifetime(params.optionalString("exp"), lxm: lxm, now: now)
            return jsonResponse(["token": .string(try serviceTokens.token(audience: audience, lxm: lxm, lifetime: lifetime, issuedAt: now))])
        }
    }

    func describeServer() -> JSONObject {
        var object: JSONObject = [
            "did": .string(config.serviceDID),
            "availableUserDomains": [.string("." + config.hostname)],
            "inviteCodeRequired": true,
            "phoneVerificationRequired": false,
            "blobUploadLimit": .number(JSONNumber(config.blobUploadLimit)),
        ]
        var links = JSONObject()
        if let url = config.privacyPolicyURL { links["privacyPolicy"] = .string(url) }
        if let url = config.termsOfServiceURL { links["termsOfService"] = .string(url) }
        if !links.isEmpty { object["links"] = .object(links) }
        if let email = config.contactEmail { object["contact"] = ["email": .string(email)] }
        return object
    }

    /// Protected methods are never granted; privileged ones need a privileged session.
    func checkDelegable(_ lxm: String, auth: AccessAuth) throws {
        guard NSID.isValid(lxm) else { throw XRPCError.invalidRequest("lxm must be a valid NSID") }
        if MethodPolicy.protectedMethods.contains(lxm) {
            throw XRPCError.badRequest("InvalidRequest", "cannot request a service token for a protected method: \(lxm)")
        }
        if MethodPolicy.isPrivileged(lxm) && !auth.isPrivileged {
            throw XRPCError.badRequest("InvalidToken", "Bad token scope: \(lxm) needs a privileged session")
        }
    }

    /// The token lifetime `exp` asks for: at most an hour, a minute for method-less tokens.
    func requestedLifetime(_ expText: String?, lxm: String?, now: Int64) throws -> Int64 {
        guard let expText else { return 60 }
        guard let exp = Int64(expText) else { throw XRPCError.invalidRequest("exp must be an integer") }
        guard exp > now else { throw XRPCError.badRequest("BadExpiration", "expiration is in past") }
        guard exp - now <= 3600 else {
            throw XRPCError.badRequest("BadExpiration", "cannot request a token with an expiration more than an hour in the future")
        }
        if lxm == nil && exp - now > 60 {
            throw XRPCError.badRequest("BadExpiration", "cannot request a method-less token with an expiration more than a minute in the future")
        }
        return exp - now
    }
}
