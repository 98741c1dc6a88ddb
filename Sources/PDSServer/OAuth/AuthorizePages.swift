import ATAuth
import Foundation
import HTTPTypes
import Hummingbird
import PDSCore
import PDSStore

/// The authorization endpoint (https://atproto.com/specs/oauth "Authorization Interface"): a
/// pushed request's `?client_id&request_uri` opens the sign-in page, then the consent page; the
/// answer goes back to the client's `redirect_uri` with `code`, `state` and `iss` (or
/// `error=access_denied`). Requests that cannot be tied to a client get an error page instead
/// (RFC 6749 §4.1.2.1: never redirect to an unverified URI).
struct AuthorizePages: Sendable {
    let oauth: OAuthService
    let browsers: BrowserSessions
    let accounts: AccountStore

    func register(on router: Router<PDSRequestContext>) {
        router.get("/oauth/style.css") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                     body: .init(byteBuffer: .init(string: OAuthPage.stylesheet)))
        }
        router.get("/oauth/authorize") { request, _ in
            let params = request.uri.queryParameters
            return try await show(request, clientID: params["client_id"].map(String.init),
                                  requestURI: params["request_uri"].map(String.init), now: OAuthHTTP.now())
        }
        router.post("/oauth/authorize") { request, context in
            let now = OAuthHTTP.now()
            let form: [String: String]
            do { form = try await OAuthHTTP.form(request) } catch let error as OAuthError {
                return OAuthHTTP.html(OAuthPage.error("Bad request", error.message), status: .badRequest)
            }
            return try await submit(request, form: form, clientIP: context.clientIP, now: now)
        }
    }

    func show(_ request: Request, clientID: String?, requestURI: String?, now: Int64, failure: BrowserSessions.SignInFailure? = nil) async throws -> Response {
        let session = try browsers.current(request, now: now)
        let pending: PendingAuthorization
        do {
            pending = try await oauth.pendingAuthorization(clientID: clientID, requestURI: requestURI, did: session?.did, now: now)
        } catch let error as OAuthError {
            return OAuthHTTP.html(OAuthPage.error("This sign-in link cannot be used", error.message), status: .badRequest)
        }
        let fields = [("client_id", pending.client.clientID), ("request_uri", requestURI ?? "")]
        guard let session else {
            let (token, headers) = browsers.preSignInToken(request)
            let page = OAuthPage.signIn(action: "/oauth/authorize", fields: fields + [("csrf", token)],
                                        identifier: failure?.identifier ?? pending.loginHint, error: failure?.message,
                                        heading: "Sign in to continue to the app", askCode: failure?.needsCode ?? false)
            return OAuthHTTP.html(page, status: failure?.status ?? .ok, headers: headers)
        }
        // Silent approval only for confidential clients whose scope the owner already approved.
        if pending.previouslyApproved && pending.client.authMethod == .privateKeyJWT {
            return OAuthHTTP.seeOther(try oauth.approve(pending, did: session.did, remember: true, now: now))
        }
        let handle = try accounts.account()?.handle ?? session.did
        // An untrusted client's name and logo are not shown as if verified
        // (https://atproto.com/specs/oauth, client metadata): the client_id leads, and the
        // self-declared name is labelled as such.
        let page = OAuthPage.consent(clientID: pending.client.clientID, clientName: pending.client.isLoopback ? nil : pending.client.clientName,
                                     handle: handle,
                                     permissions: OAuthPage.describe(pending.scope, sets: pending.includedSets,
                                                                     languages: OAuthPage.languages(request.headers[.acceptLanguage])),
                                     fields: fields + [("csrf", session.csrf)])
        return OAuthHTTP.html(page, headers: [.contentSecurityPolicy: Self.policy(redirectURI: pending.redirectURI)])
    }

    func submit(_ request: Request, form: [String: String], clientIP: String, now: Int64) async throws -> Response {
        let clientID = form["client_id"], requestURI = form["request_uri"]
        if form["action"] == "signin" {
            guard browsers.checkPreSignIn(request, form: form) else {
                return OAuthHTTP.html(OAuthPage.error("Bad request", "The form expired; go back and try again."), status: .forbidden)
            }
            switch try await browsers.signIn(form: form, clientIP: clientIP, now: now) {
            case .success(let cookie):
                var location = "/oauth/authorize?client_id=" + OAuthHTTP.encode(clientID ?? "")
                location += "&request_uri=" + OAuthHTTP.encode(requestURI ?? "")
                return OAuthHTTP.seeOther(location, headers: cookie)
            case .failure(let failure):
                return try await show(request, clientID: clientID, requestURI: requestURI, now: now, failure: failure)
            }
        }
        guard let session = try browsers.current(request, now: now), browsers.checkCSRF(session, form: form) else {
            return OAuthHTTP.html(OAuthPage.error("Bad request", "The form expired; go back and try again."), status: .forbidden)
        }
        let pending: PendingAuthorization
        do {
            pending = try await oauth.pendingAuthorization(clientID: clientID, requestURI: requestURI, did: session.did, now: now)
        } catch let error as OAuthError {
            return OAuthHTTP.html(OAuthPage.error("This sign-in link cannot be used", error.message), status: .badRequest)
        }
        switch form["action"] {
        case "allow": return OAuthHTTP.seeOther(try oauth.approve(pending, did: session.did, remember: form["remember"] == "1", now: now))
        case "deny": return OAuthHTTP.seeOther(try oauth.deny(pending))
        default: return OAuthHTTP.html(OAuthPage.error("Bad request", "Unknown action"), status: .badRequest)
        }
    }

    /// The page's policy lets the consent form's answer redirect to the client (browsers apply
    /// `form-action` to the redirect that follows a form submission).
    static func policy(redirectURI: String) -> String {
        let target: String
        if let url = OAuthURL(redirectURI) {
            target = url.hasAuthority ? url.origin : url.scheme + ":"
        } else {
            target = "'none'"
        }
        return "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self' \(target); "
            + "frame-ancestors 'none'; base-uri 'none'"
    }
}
