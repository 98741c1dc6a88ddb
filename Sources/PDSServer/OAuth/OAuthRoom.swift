import Hummingbird
import PDSCore

/// Registers everything OAuth on the router: the metadata and token endpoints, the
/// authorization pages, the account page and the owner's dashboard (the same browser sign-in).
/// The resource-server side lives in `Authenticator`.
enum OAuthRoom {
    static func register(on router: Router<PDSRequestContext>, server: PDSServices, activity: ActivityHistory) {
        let limits = server.config.rateLimits
        let limiter: (any XRPCRateLimiter)? = limits.enabled ? TokenBucketLimiter(settings: limits) : nil
        let browsers = BrowserSessions(store: server.oauth.store, sessions: server.sessions, limiter: limiter,
                                       secure: !server.oauth.settings.issuer.hasPrefix("http://"))
        OAuthEndpoints(oauth: server.oauth, limiter: limiter).register(on: router)
        AuthorizePages(oauth: server.oauth, browsers: browsers, accounts: server.accounts).register(on: router)
        AccountPage(oauth: server.oauth, browsers: browsers, sessions: server.sessions, accounts: server.accounts).register(on: router)
        DashboardPage(services: server, browsers: browsers, history: activity).register(on: router)
    }
}
