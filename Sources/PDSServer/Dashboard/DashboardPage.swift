import Foundation
import HTTPTypes
import Hummingbird
import PDSCore
import PDSStore

/// `/dashboard`: the owner's view of the server, behind the same browser sign-in as `/account`
/// (the `pds_session` cookie of `BrowserSessions`): account and identity, storage, backup,
/// federation, TLS and 24 hours of activity. Server-rendered HTML with inline SVG charts and no
/// script; every value is escaped (`OAuthPage.escape`) and the pages' CSP applies.
struct DashboardPage: Sendable {
    let services: PDSServices
    let browsers: BrowserSessions
    let history: ActivityHistory

    func register(on router: Router<PDSRequestContext>) {
        router.get("/dashboard/style.css") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                     body: .init(byteBuffer: .init(string: Self.stylesheet)))
        }
        router.get("/dashboard") { request, _ in
            let now = OAuthHTTP.now()
            guard let session = try browsers.current(request, now: now) else { return signInPage(request, failure: nil) }
            return OAuthHTTP.html(try await render(session, now: now))
        }
        router.post("/dashboard") { request, context in
            let now = OAuthHTTP.now()
            let form: [String: String]
            do { form = try await OAuthHTTP.form(request) } catch let error as OAuthError {
                return OAuthHTTP.html(OAuthPage.error("Bad request", error.message), status: .badRequest)
            }
            if form["action"] == "signin" {
                return try await browsers.signInPosted(request, form: form, clientIP: context.clientIP, now: now, path: "/dashboard",
                                                       heading: Self.signInHeading)
            }
            guard let session = try browsers.current(request, now: now), browsers.checkCSRF(session, form: form),
                  form["action"] == "signout" else {
                return OAuthHTTP.html(OAuthPage.error("Bad request", "The form expired; go back and try again."), status: .forbidden)
            }
            return OAuthHTTP.seeOther("/dashboard", headers: try browsers.signOut(session))
        }
    }

    static let signInHeading = "Sign in to see your server"

    func signInPage(_ request: Request, failure: BrowserSessions.SignInFailure?) -> Response {
        browsers.signInPage(request, path: "/dashboard", heading: Self.signInHeading, failure: failure)
    }

    func render(_ session: OAuthPageSession, now: Int64) async throws -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(now))
        let facts = try ServerFacts.gather(config: services.config, database: services.database)
        var sections = [try await accountSection()]
        sections.append(storageSection(facts))
        sections.append(backupSection(facts, now: date))
        sections.append(federationSection(facts))
        sections.append(tlsSection(facts, now: now))
        sections.append(activitySection(now: now))
        let signOut = "<form method=\"post\" action=\"/dashboard\">" + OAuthPage.hidden([("csrf", session.csrf), ("action", "signout")])
            + "<button type=\"submit\" class=\"secondary\" id=\"sign-out\">Sign out</button></form>"
        let body = """
            <h1>Your server</h1>
            <p class="lead">\(OAuthPage.escape(services.config.publicURL)) · \(OAuthPage.escape(PDSApplication.version)) · \
            <a href="/account">account settings</a></p>
            <div class="grid">\(sections.joined())</div>\(signOut)
            """
        return Self.document(title: "Dashboard", body)
    }

    static func document(title: String, _ body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(OAuthPage.escape(title))</title><link rel="stylesheet" href="/oauth/style.css">\
        <link rel="stylesheet" href="/dashboard/style.css"></head>
        <body><main class="dashboard">\(body)</main></body></html>
        """
    }

    static let stylesheet = """
        main.dashboard{max-width:64rem;margin:1rem auto}
        .lead{color:#5b6270;overflow-wrap:anywhere}
        .grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:1rem}
        section{border:1px solid #e2e5ea;border-radius:10px;padding:.2rem 1rem 1rem}
        section h2{margin-top:.8rem}
        section.wide{grid-column:1/-1}
        dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem .8rem;margin:0}
        dt{color:#5b6270}dd{margin:0;overflow-wrap:anywhere}
        td code{overflow-wrap:anywhere;word-break:normal}
        .ok{color:#137333}.warn{color:#b00020;font-weight:600}
        svg.chart{width:100%;height:auto;display:block;margin:.3rem 0 1rem}
        .charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(16rem,1fr));gap:0 1rem}
        td.n{text-align:right;font-variant-numeric:tabular-nums}
        """
}
