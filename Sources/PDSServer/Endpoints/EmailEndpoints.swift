import ATData
import Hummingbird
import PDSCore
import PDSStore

/// The account's e-mail address over XRPC: confirmation (`requestEmailConfirmation`,
/// `confirmEmail`) and change (`requestEmailUpdate`, `updateEmail`, which also turns the e-mail
/// sign-in factor on or off). The rules live in PDSCore's `AccountEmail`; requests that send
/// mail answer once it is queued.
struct EmailEndpoints: Sendable {
    let email: AccountEmail
    let sessions: SessionService

    func register(on router: inout XRPCRouter) {
        router.procedure("com.atproto.server.requestEmailConfirmation", auth: .session, rateLimit: .emailRequest) { _, _, auth in
            try email.requestConfirmation(account: try sessions.account(auth.did))
            return Response(status: .ok)
        }

        router.procedure("com.atproto.server.confirmEmail", auth: .session) { request, context, auth in
            let input = try await request.jsonObject(context: context)
            try email.confirm(account: try sessions.account(auth.did), email: try input.requiredString("email"),
                              token: try input.requiredString("token"))
            return Response(status: .ok)
        }

        router.procedure("com.atproto.server.requestEmailUpdate", auth: .fullSession, rateLimit: .emailRequest) { _, _, auth in
            let required = try email.requestUpdate(account: try sessions.account(auth.did))
            return jsonResponse(["tokenRequired": .bool(required)])
        }

        router.procedure("com.atproto.server.updateEmail", auth: .fullSession) { request, context, auth in
            let input = try await request.jsonObject(context: context)
            try email.update(account: try sessions.account(auth.did), email: try input.requiredString("email", maxLength: 254),
                             emailAuthFactor: try input.optionalBool("emailAuthFactor"), token: try input.optionalString("token"))
            return Response(status: .ok)
        }
    }
}
