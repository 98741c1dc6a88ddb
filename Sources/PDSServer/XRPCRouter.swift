import ATAuth
import ATSyntax
import HTTPTypes
import Hummingbird

/// What a method asks of its caller, declared where the route is registered; the router checks
/// it before the handler runs, so a handler never parses credentials itself.
public enum SessionRequirement: Sendable, Equatable {
    /// An access token of the account password or of an app password.
    case session
    /// As `session`, and the account must be active (writes, proxying, preferences).
    case activeSession
    /// The account password only (account and app-password management).
    case fullSession
    /// A session, or an inter-service token this account issued for `lxm` addressed to this server.
    case sessionOrServiceToken(lxm: String)
}

/// The place for a method's rate limit (per IP and per method, as the reference server's
/// token buckets). Routes name one; the router asks its limiter before the handler.
public struct RateLimitPolicy: Sendable, Equatable {
    public let name: String
    public let points: Int
    public let seconds: Int

    public init(name: String, points: Int, seconds: Int) {
        self.name = name
        self.points = points
        self.seconds = seconds
    }
}

/// Decides whether a request fits a `RateLimitPolicy` (nil router limiter: nothing is limited).
public protocol XRPCRateLimiter: Sendable {
    func check(_ policy: RateLimitPolicy, request: Request, context: PDSRequestContext) throws
}

/// The table of XRPC methods this server implements, dispatched from `/xrpc/<nsid>`.
///
/// Lexicon `query` methods answer GET (and HEAD), `procedure` methods answer POST
/// (https://atproto.com/specs/xrpc). Each route declares its auth requirement (none, a session
/// of some kind, a refresh token) and optionally a rate-limit policy. An NSID with no entry is
/// handed to `fallback` (service proxying), else answers 501 `MethodNotImplemented`.
public struct XRPCRouter: Sendable {
    /// Whether a method is read-only (GET) or mutating (POST).
    public enum Kind: Sendable { case query, procedure }

    /// What the route asks of its caller.
    public enum Auth: Sendable, Equatable {
        case none
        case session(SessionRequirement)
        /// A refresh token (`allowExpired` for logout).
        case refresh(allowExpired: Bool)
    }

    public typealias Handler = @Sendable (Request, PDSRequestContext) async throws -> Response
    public typealias SessionHandler = @Sendable (Request, PDSRequestContext, AccessAuth) async throws -> Response
    public typealias RefreshHandler = @Sendable (Request, PDSRequestContext, SessionTokenCodec.Refresh) async throws -> Response

    struct Method: Sendable {
        let kind: Kind
        let auth: Auth
        let rateLimit: RateLimitPolicy?
        let handler: Handler
    }

    var methods: [String: Method] = [:]
    let authenticator: Authenticator
    let rateLimiter: (any XRPCRateLimiter)?
    /// Called for NSIDs without a local handler; nil means 501.
    public var fallback: Handler?

    init(authenticator: Authenticator, rateLimiter: (any XRPCRateLimiter)? = nil) {
        self.authenticator = authenticator
        self.rateLimiter = rateLimiter
    }

    /// Registers a query (GET) open to anyone.
    public mutating func query(_ nsid: String, rateLimit: RateLimitPolicy? = nil, _ handler: @escaping Handler) {
        methods[nsid] = Method(kind: .query, auth: .none, rateLimit: rateLimit, handler: handler)
    }

    /// Registers a procedure (POST) open to anyone.
    public mutating func procedure(_ nsid: String, rateLimit: RateLimitPolicy? = nil, _ handler: @escaping Handler) {
        methods[nsid] = Method(kind: .procedure, auth: .none, rateLimit: rateLimit, handler: handler)
    }

    /// Registers a query that needs a session.
    public mutating func query(_ nsid: String, auth: SessionRequirement, rateLimit: RateLimitPolicy? = nil,
                               _ handler: @escaping SessionHandler) {
        methods[nsid] = Method(kind: .query, auth: .session(auth), rateLimit: rateLimit, handler: authenticated(auth, handler))
    }

    /// Registers a procedure that needs a session.
    public mutating func procedure(_ nsid: String, auth: SessionRequirement, rateLimit: RateLimitPolicy? = nil,
                                   _ handler: @escaping SessionHandler) {
        methods[nsid] = Method(kind: .procedure, auth: .session(auth), rateLimit: rateLimit, handler: authenticated(auth, handler))
    }

    /// Registers a procedure that takes a refresh token.
    public mutating func procedure(_ nsid: String, refreshToken allowExpired: Bool, rateLimit: RateLimitPolicy? = nil,
                                   _ handler: @escaping RefreshHandler) {
        let authenticator = self.authenticator
        methods[nsid] = Method(kind: .procedure, auth: .refresh(allowExpired: allowExpired), rateLimit: rateLimit) { request, context in
            try await handler(request, context, try authenticator.refresh(request, allowExpired: allowExpired))
        }
    }

    func authenticated(_ requirement: SessionRequirement, _ handler: @escaping SessionHandler) -> Handler {
        let authenticator = self.authenticator
        return { request, context in
            try await handler(request, context, try authenticator.authenticate(request, requirement))
        }
    }

    /// True if `nsid` has a local handler.
    public func handles(_ nsid: String) -> Bool { methods[nsid] != nil }

    /// The declared auth requirement of `nsid` (for tests and the method listing).
    public func authRequirement(_ nsid: String) -> Auth? { methods[nsid]?.auth }

    /// Routes one request.
    func dispatch(_ request: Request, context: PDSRequestContext, nsid: String) async throws -> Response {
        guard (try? NSID(nsid)) != nil else {
            throw XRPCError.invalidRequest("Invalid XRPC method name: \(nsid)")
        }
        guard let method = methods[nsid] else {
            if let fallback { return try await fallback(request, context) }
            throw XRPCError.methodNotImplemented(nsid)
        }
        switch (method.kind, request.method) {
        case (.query, .get), (.query, .head), (.procedure, .post):
            if let policy = method.rateLimit, let rateLimiter { try rateLimiter.check(policy, request: request, context: context) }
            return try await method.handler(request, context)
        case (.query, _):
            throw XRPCError.invalidRequest("Incorrect HTTP method (\(request.method)) expects GET")
        case (.procedure, _):
            throw XRPCError.invalidRequest("Incorrect HTTP method (\(request.method)) expects POST")
        }
    }
}
