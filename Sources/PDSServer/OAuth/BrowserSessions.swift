import ATCrypto
import HTTPTypes
import Hummingbird
import Multiformats
import PDSCore
import PDSStore

/// Signed-in browsers on the server's own pages: a random cookie whose SHA-256 is stored with
/// the account DID and a CSRF token for the forms. Before sign-in, the sign-in form is protected
/// by a double-submit token (a cookie that must equal a hidden field).
struct BrowserSessions: Sendable {
    static let sessionCookie = "pds_session"
    static let csrfCookie = "pds_csrf"
    static let lifetime: Int64 = 7 * 86400

    let store: OAuthStore
    let sessions: SessionService
    let limiter: (any XRPCRateLimiter)?
    /// Whether cookies carry `Secure` (everywhere but the loopback `pds dev` origin).
    let secure: Bool

    static func random() -> String { Base64.encode(SecureRandom.bytes(32), alphabet: .urlSafe) }

    func current(_ request: Request, now: Int64) throws -> OAuthPageSession? {
        guard let cookie = OAuthHTTP.cookie(request, Self.sessionCookie) else { return nil }
        return try store.pageSession(id: OAuthService.hash(cookie), now: now)
    }

    /// A sign-in form token and the cookie that carries it.
    func preSignInToken(_ request: Request) -> (token: String, headers: HTTPFields) {
        if let existing = OAuthHTTP.cookie(request, Self.csrfCookie), existing.utf8.count == 43 { return (existing, [:]) }
        let token = Self.random()
        return (token, [.setCookie: OAuthHTTP.cookie(Self.csrfCookie, token, maxAge: 3600, secure: secure)])
    }

    func checkPreSignIn(_ request: Request, form: [String: String]) -> Bool {
        guard let cookie = OAuthHTTP.cookie(request, Self.csrfCookie), let field = form["csrf"] else { return false }
        return HMAC.constantTimeEquals(Array(cookie.utf8), Array(field.utf8))
    }

    func checkCSRF(_ session: OAuthPageSession, form: [String: String]) -> Bool {
        guard let field = form["csrf"] else { return false }
        return HMAC.constantTimeEquals(Array(session.csrf.utf8), Array(field.utf8))
    }

    /// Checks the password (rate-limited per IP like createSession, and by the `LoginGuard`) and
    /// opens a browser session; returns the cookie header, or the message to show.
    func signIn(form: [String: String], clientIP: String, now: Int64) async throws -> Result<HTTPFields, SignInFailure> {
        if let limiter, !limiter.isExempt(clientIP: clientIP) {
            do {
                _ = try limiter.consume([RateLimitCharge(limit: "createSession", key: clientIP, points: 1)])
            } catch {
                return .failure(SignInFailure(status: .tooManyRequests, message: "Too many sign-in attempts, try again later"))
            }
        }
        let account: Account
        do {
            account = try await sessions.signInOwner(identifier: form["identifier"] ?? "", password: String((form["password"] ?? "").prefix(512)),
                                                     authFactorToken: form["code"].map { String($0.prefix(64)) })
        } catch SessionError.authFactorTokenRequired {
            return .failure(SignInFailure(status: .unauthorized, message: "A sign-in code was sent to your e-mail address: enter it with your password.",
                                          identifier: form["identifier"], needsCode: true))
        } catch SessionError.invalidAuthFactorToken {
            return .failure(SignInFailure(status: .unauthorized, message: "That sign-in code is not valid.",
                                          identifier: form["identifier"], needsCode: true))
        } catch SessionError.invalidCredentials {
            return .failure(SignInFailure(status: .unauthorized, message: "Invalid identifier or password"))
        } catch SessionError.loginLocked {
            return .failure(SignInFailure(status: .tooManyRequests, message: "Too many failed sign-in attempts, try again later"))
        }
        let cookie = Self.random()
        try store.createPageSession(OAuthPageSession(id: OAuthService.hash(cookie), did: account.did, csrf: Self.random(),
                                                     expiresAt: now + Self.lifetime), now: now)
        return .success([.setCookie: OAuthHTTP.cookie(Self.sessionCookie, cookie, maxAge: Self.lifetime, secure: secure)])
    }

    func signOut(_ session: OAuthPageSession) throws -> HTTPFields {
        try store.deletePageSession(id: session.id)
        return [.setCookie: OAuthHTTP.cookie(Self.sessionCookie, "", maxAge: 0, secure: secure)]
    }

    struct SignInFailure: Error {
        let status: HTTPResponse.Status
        let message: String
        /// What was typed, to fill in again.
        var identifier: String? = nil
        /// The account has the e-mail sign-in factor on: the form asks for the code.
        var needsCode = false
    }
}
