import Hummingbird

extension BrowserSessions {
    /// The sign-in form of the owner's page at `path` (`/account`, `/dashboard`), with what went
    /// wrong the last time and, when the account has the e-mail factor on, the code field.
    func signInPage(_ request: Request, path: String, heading: String, failure: SignInFailure?) -> Response {
        let (token, headers) = preSignInToken(request)
        let page = OAuthPage.signIn(action: path, fields: [("csrf", token)], identifier: failure?.identifier, error: failure?.message,
                                    heading: heading, askCode: failure?.needsCode ?? false)
        return OAuthHTTP.html(page, status: failure?.status ?? .ok, headers: headers)
    }

    /// A posted sign-in form of the page at `path`: back to the page with the session cookie, or
    /// the form again with what went wrong.
    func signInPosted(_ request: Request, form: [String: String], clientIP: String, now: Int64, path: String,
                      heading: String) async throws -> Response {
        guard checkPreSignIn(request, form: form) else {
            return OAuthHTTP.html(OAuthPage.error("Bad request", "The form expired; go back and try again."), status: .forbidden)
        }
        switch try await signIn(form: form, clientIP: clientIP, now: now) {
        case .success(let cookie): return OAuthHTTP.seeOther(path, headers: cookie)
        case .failure(let failure): return signInPage(request, path: path, heading: heading, failure: failure)
        }
    }
}
