import ATAuth
import ATData
import ATIdentity
import Hummingbird
import Logging
import PDSCore
import PDSStore

/// Password sessions and app passwords (`com.atproto.server.*Session`, `*AppPassword*`), as the
/// reference server answers them.
struct SessionEndpoints {
    let sessions: SessionService
    /// The account's DID document as this server knows it (the app sends later requests to its
    /// `#atproto_pds` endpoint, so sessions carry it).
    let didDocument: @Sendable () throws -> DIDDocument?
    let logger: Logger

    func register(on router: inout XRPCRouter) {
        router.procedure("com.atproto.server.createSession", rateLimit: .createSession) { request, context in
            let input = try await request.jsonObject(context: context)
            let identifier = try input.requiredString("identifier")
            let password = try input.requiredString("password", maxLength: 512)
            let authFactorToken = try input.optionalString("authFactorToken", maxLength: 64)
            let session: (account: Account, access: String, refresh: String)
            do {
                session = try await sessions.login(identifier: identifier, password: password, authFactorToken: authFactorToken)
            } catch let error as SessionError {
                logFailedLogin(error, clientIP: context.clientIP)
                throw error
            }
            return jsonResponse(.object(sessionObject(session.account, access: session.access, refresh: session.refresh)))
        }

        router.query("com.atproto.server.getSession", auth: .session) { _, _, auth in
            var object = sessionObject(try sessions.account(auth.did), access: nil, refresh: nil)
            // OAuth sessions see the e-mail only with `transition:email` or `account:email`.
            if !auth.mayReadEmail {
                object["email"] = nil
                object["emailConfirmed"] = nil
            }
            return jsonResponse(.object(object))
        }

        router.procedure("com.atproto.server.refreshSession", refreshToken: false) { _, _, refresh in
            let account = try sessions.account(refresh.did)
            let pair = try sessions.rotate(refresh)
            return jsonResponse(.object(sessionObject(account, access: pair.access, refresh: pair.refresh)))
        }

        router.procedure("com.atproto.server.deleteSession", refreshToken: true) { _, _, refresh in
            try sessions.logout(refresh)
            return Response(status: .ok)
        }

        router.procedure("com.atproto.server.createAppPassword", auth: .fullSession) { request, context, auth in
            let input = try await request.jsonObject(context: context)
            let created = try await sessions.appPasswords.create(
                name: try input.requiredString("name", maxLength: 256), privileged: try input.optionalBool("privileged") ?? false,
                did: auth.did)
            return jsonResponse([
                "name": .string(created.info.name), "password": .string(created.password),
                "createdAt": .string(created.info.createdAt), "privileged": .bool(created.info.privileged),
            ])
        }

        router.query("com.atproto.server.listAppPasswords", auth: .session) { _, _, _ in
            let passwords = try sessions.appPasswords.list().map { info -> JSONValue in
                ["name": .string(info.name), "createdAt": .string(info.createdAt), "privileged": .bool(info.privileged)]
            }
            return jsonResponse(["passwords": .array(passwords)])
        }

        router.procedure("com.atproto.server.revokeAppPassword", auth: .fullSession) { request, context, _ in
            let input = try await request.jsonObject(context: context)
            try sessions.appPasswords.revoke(name: try input.requiredString("name"))
            return Response(status: .ok)
        }
    }

    /// A refused login at `warning`, in the stable form docs/fail2ban.md matches:
    /// `"client_ip":"<address>"` … `"message":"login failed"` (JSON keys are sorted), with the
    /// reason (`invalid_credentials` or `locked`) and the consecutive failures counted so far.
    func logFailedLogin(_ error: SessionError, clientIP: String) {
        let reason: String
        switch error {
        case .invalidCredentials: reason = "invalid_credentials"
        case .loginLocked: reason = "locked"
        case .invalidAuthFactorToken: reason = "invalid_sign_in_code"
        default: return
        }
        let failures = (try? sessions.loginGuard.failures()) ?? 0
        logger.warning("login failed", metadata: ["client_ip": "\(clientIP)", "reason": "\(reason)", "failures": "\(failures)"])
    }

    /// The session output shared by createSession, getSession and refreshSession.
    func sessionObject(_ account: Account, access: String?, refresh: String?) -> JSONObject {
        var object: JSONObject = [:]
        if let access { object["accessJwt"] = .string(access) }
        if let refresh { object["refreshJwt"] = .string(refresh) }
        object["handle"] = .string(account.handle)
        object["did"] = .string(account.did)
        if let document = try? didDocument() { object["didDoc"] = document.json }
        if let email = account.email {
            object["email"] = .string(email)
            object["emailConfirmed"] = .bool(account.emailConfirmedAt != nil)
            object["emailAuthFactor"] = .bool(account.emailAuthFactor)
        }
        object["active"] = .bool(account.isActive)
        if let status = account.status { object["status"] = .string(status) }
        return object
    }
}
