import Foundation
import HTTPTypes
import Hummingbird
import PDSCore
import PDSStore

/// `/account`: the owner's page (signed in with the account password) listing connected OAuth
/// apps with *revoke*, app passwords with *create* and *revoke*, and the active OAuth sessions.
/// Every change is a CSRF-protected POST answered with a 303 back to the page.
struct AccountPage: Sendable {
    let oauth: OAuthService
    let browsers: BrowserSessions
    let sessions: SessionService
    let accounts: AccountStore

    func register(on router: Router<PDSRequestContext>) {
        router.get("/account") { request, _ in
            let now = OAuthHTTP.now()
            guard let session = try browsers.current(request, now: now) else { return signInPage(request, failure: nil) }
            return try render(session, now: now, created: nil)
        }
        router.post("/account") { request, context in
            let now = OAuthHTTP.now()
            let form: [String: String]
            do { form = try await OAuthHTTP.form(request) } catch let error as OAuthError {
                return OAuthHTTP.html(OAuthPage.error("Bad request", error.message), status: .badRequest)
            }
            if form["action"] == "signin" {
                return try await browsers.signInPosted(request, form: form, clientIP: context.clientIP, now: now, path: "/account",
                                                       heading: Self.signInHeading)
            }
            guard let session = try browsers.current(request, now: now), browsers.checkCSRF(session, form: form) else {
                return OAuthHTTP.html(OAuthPage.error("Bad request", "The form expired; go back and try again."), status: .forbidden)
            }
            return try await change(session, form: form, now: now)
        }
    }

    static let signInHeading = "Sign in to manage your account"

    func signInPage(_ request: Request, failure: BrowserSessions.SignInFailure?) -> Response {
        browsers.signInPage(request, path: "/account", heading: Self.signInHeading, failure: failure)
    }

    func change(_ session: OAuthPageSession, form: [String: String], now: Int64) async throws -> Response {
        switch form["action"] {
        case "revoke-app":
            try oauth.store.revokeClient(did: session.did, clientID: form["client_id"] ?? "")
        case "revoke-session":
            let owned = try oauth.store.sessions(did: session.did, now: now).contains { $0.id == form["session_id"] }
            if owned { try oauth.store.revokeSession(id: form["session_id"] ?? "") }
        case "create-app-password":
            let name = (form["name"] ?? "").trimmingCharacters(in: .whitespaces)
            let created = try await sessions.appPasswords.create(name: name, privileged: form["privileged"] == "1", did: session.did)
            return try render(session, now: now, created: (created.info.name, created.password))
        case "revoke-app-password":
            _ = try sessions.appPasswords.revoke(name: form["name"] ?? "")
        case "signout":
            return OAuthHTTP.seeOther("/account", headers: try browsers.signOut(session))
        default:
            return OAuthHTTP.html(OAuthPage.error("Bad request", "Unknown action"), status: .badRequest)
        }
        return OAuthHTTP.seeOther("/account")
    }

    func render(_ session: OAuthPageSession, now: Int64, created: (name: String, password: String)?) throws -> Response {
        let e = OAuthPage.escape
        let csrf = OAuthPage.hidden([("csrf", session.csrf)])
        func button(_ action: String, _ label: String, _ fields: [(String, String)], id: String) -> String {
            "<form method=\"post\" action=\"/account\">\(csrf)\(OAuthPage.hidden(fields + [("action", action)]))"
                + "<button type=\"submit\" class=\"secondary\" id=\"\(e(id))\">\(e(label))</button></form>"
        }
        let oauthSessions = try oauth.store.sessions(did: session.did, now: now)
        let clients = Dictionary(grouping: oauthSessions, by: \.clientID).sorted { $0.key < $1.key }
        let apps = clients.isEmpty ? "<p>No apps are connected.</p>" : "<table id=\"apps\">" + clients.enumerated().map { index, entry in
            "<tr><td><code class=\"app\">\(e(entry.key))</code><br>\(entry.value.count) session(s)</td><td>"
                + button("revoke-app", "Revoke", [("client_id", entry.key)], id: "revoke-app-\(index)") + "</td></tr>"
        }.joined() + "</table>"
        let sessionRows = oauthSessions.isEmpty ? "<p>No active sessions.</p>" : "<table id=\"sessions\">" + oauthSessions.map { row in
            "<tr><td><code>\(e(row.clientID))</code><br>started \(e(Self.date(row.createdAt))), last used \(e(Self.date(row.lastUsedAt)))"
                + "<br>scope: \(e(row.scope))</td><td>" + button("revoke-session", "End", [("session_id", row.id)], id: "end-\(row.id.suffix(8))")
                + "</td></tr>"
        }.joined() + "</table>"
        let passwords = try sessions.appPasswords.list()
        let passwordRows = passwords.isEmpty ? "<p>No app passwords.</p>" : "<table id=\"app-passwords\">" + passwords.map { info in
            "<tr><td>\(e(info.name))\(info.privileged ? " (direct messages allowed)" : "")<br>created \(e(info.createdAt))</td><td>"
                + button("revoke-app-password", "Revoke", [("name", info.name)], id: "revoke-password-\(info.name)") + "</td></tr>"
        }.joined() + "</table>"
        let shown = created.map {
            "<p class=\"created\">App password “\(e($0.name))”: <code id=\"new-app-password\">\(e($0.password))</code> — copy it now, it is not shown again.</p>"
        } ?? ""
        let handle = try accounts.account()?.handle ?? session.did
        let body = """
            <h1>Your account</h1><p>Signed in as <strong>\(e(handle))</strong>.</p>
            <h2>Connected apps</h2>\(apps)
            <h2>Active sessions</h2>\(sessionRows)
            <h2>App passwords</h2>\(shown)\(passwordRows)
            <form method="post" action="/account">\(csrf)<input type="hidden" name="action" value="create-app-password">
            <label for="app-password-name">New app password name</label><input id="app-password-name" name="name" required maxlength="64">
            <label class="check"><input type="checkbox" name="privileged" value="1"> Allow direct messages</label>
            <button id="create-app-password" type="submit">Create app password</button></form>
            \(button("signout", "Sign out", [], id: "sign-out"))
            """
        return OAuthHTTP.html(OAuthPage.document(title: "Your account", body))
    }

    static func date(_ seconds: Int64) -> String {
        AccountStore.timestamp(Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}
