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

/// A method's rate limit, declared where the route is registered: an entry of the configured
/// table (`RateLimitSettings.limits`, the reference server's by default), what the buckets are
/// keyed by, and what one call costs. Every XRPC call also takes a point from the per-IP
/// `global` limit unless its policy replaces it (`sync.getRepo`, as the reference).
public struct RateLimitPolicy: Sendable, Equatable {
    public enum Key: Sendable, Equatable {
        /// The client address (the socket peer, or `X-Forwarded-For` from a trusted proxy).
        case clientIP
        /// The authenticated account: charged after authentication, so strangers cannot spend
        /// the owner's budget.
        case account
    }

    public let limit: String
    public let key: Key
    public let points: Int
    public let replacesGlobal: Bool

    public init(limit: String, key: Key, points: Int = 1, replacesGlobal: Bool = false) {
        self.limit = limit
        self.key = key
        self.points = points
        self.replacesGlobal = replacesGlobal
    }

    static let global = RateLimitPolicy(limit: "global", key: .clientIP)
    public static let createSession = RateLimitPolicy(limit: "createSession", key: .clientIP)
    public static let uploadBlob = RateLimitPolicy(limit: "uploadBlob", key: .clientIP)
    public static let getRepo = RateLimitPolicy(limit: "getRepo", key: .clientIP, replacesGlobal: true)
    public static let updateHandle = RateLimitPolicy(limit: "updateHandle", key: .account)
    /// Requests that send e-mail (the reference: 5 an hour, 15 a day per account).
    public static let emailRequest = RateLimitPolicy(limit: "emailRequest", key: .account)
    /// Repository writes in points, as the reference: create 3, update 2, delete 1 (applyWrites
    /// charges the sum of its writes itself, once it has read them).
    public static func repoWrite(points: Int) -> RateLimitPolicy { RateLimitPolicy(limit: "repoWrite", key: .account, points: points) }
    public static let repoWriteCreate = repoWrite(points: 3)
    public static let repoWriteUpdate = repoWrite(points: 2)
    public static let repoWriteDelete = repoWrite(points: 1)
}

/// Points to take from one configured limit for one key.
public struct RateLimitCharge: Sendable, Equatable {
    public let limit: String
    public let key: String
    public let points: Int

    public init(limit: String, key: String, points: Int) {
        self.limit = limit
        self.key = key
        self.points = points
    }
}

/// Decides whether requests fit their limits (nil router limiter: nothing is limited).
public protocol XRPCRateLimiter: Sendable {
    /// Addresses that are never limited.
    func isExempt(clientIP: String) -> Bool
    /// Takes every charge, all or nothing: the tightest status for the response headers, or
    /// throws 429 `RateLimitExceeded` (`XRPCError.rateLimitExceeded`) and takes nothing.
    func consume(_ charges: [RateLimitCharge]) throws -> RateLimitStatus?
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
        methods[nsid] = Method(kind: .query, auth: .session(auth), rateLimit: rateLimit,
                               handler: authenticated(auth, nsid: nsid, rateLimit: rateLimit, handler))
    }

    /// Registers a procedure that needs a session.
    public mutating func procedure(_ nsid: String, auth: SessionRequirement, rateLimit: RateLimitPolicy? = nil,
                                   _ handler: @escaping SessionHandler) {
        methods[nsid] = Method(kind: .procedure, auth: .session(auth), rateLimit: rateLimit,
                               handler: authenticated(auth, nsid: nsid, rateLimit: rateLimit, handler))
    }

    /// Registers a procedure that takes a refresh token.
    public mutating func procedure(_ nsid: String, refreshToken allowExpired: Bool, rateLimit: RateLimitPolicy? = nil,
                                   _ handler: @escaping RefreshHandler) {
        let authenticator = self.authenticator
        methods[nsid] = Method(kind: .procedure, auth: .refresh(allowExpired: allowExpired), rateLimit: rateLimit) { request, context in
            try await handler(request, context, try authenticator.refresh(request, allowExpired: allowExpired))
        }
    }

    /// Checks the caller, then charges an account-keyed limit (so only the owner spends it).
    func authenticated(_ requirement: SessionRequirement, nsid: String, rateLimit: RateLimitPolicy?,
                       _ handler: @escaping SessionHandler) -> Handler {
        let authenticator = self.authenticator
        return { request, context in
            let auth = try authenticator.authenticate(request, requirement, nsid: nsid)
            guard let rateLimit, rateLimit.key == .account else { return try await handler(request, context, auth) }
            let status = try context.chargeRateLimit(rateLimit, account: auth.did)
            var response = try await handler(request, context, auth)
            if let status { response.headers.append(contentsOf: status.headers) }
            return response
        }
    }

    /// True if `nsid` has a local handler.
    public func handles(_ nsid: String) -> Bool { methods[nsid] != nil }

    /// The declared auth requirement of `nsid` (for tests and the method listing).
    public func authRequirement(_ nsid: String) -> Auth? { methods[nsid]?.auth }

    /// Routes one request: the client-IP limits first (the global one, and the method's own),
    /// then the declared auth inside the handler.
    func dispatch(_ request: Request, context: PDSRequestContext, nsid: String) async throws -> Response {
        guard (try? NSID(nsid)) != nil else {
            throw XRPCError.invalidRequest("Invalid XRPC method name: \(nsid)")
        }
        var context = context
        let method = methods[nsid]
        var status: RateLimitStatus?
        if let rateLimiter, !rateLimiter.isExempt(clientIP: context.clientIP) {
            context.rateLimiter = rateLimiter
            var charges: [RateLimitCharge] = []
            let policy = method?.rateLimit
            if policy?.replacesGlobal != true { charges.append(RateLimitCharge(limit: "global", key: context.clientIP, points: 1)) }
            if let policy, policy.key == .clientIP {
                charges.append(RateLimitCharge(limit: policy.limit, key: context.clientIP, points: policy.points))
            }
            status = try rateLimiter.consume(charges)
        }
        var response = try await route(request, context: context, nsid: nsid, method: method)
        if let status, response.headers[RateLimitStatus.limitField] == nil { response.headers.append(contentsOf: status.headers) }
        return response
    }

    func route(_ request: Request, context: PDSRequestContext, nsid: String, method: Method?) async throws -> Response {
        guard let method else {
            if let fallback { return try await fallback(request, context) }
            throw XRPCError.methodNotImplemented(nsid)
        }
        switch (method.kind, request.method) {
        case (.query, .get), (.query, .head), (.procedure, .post):
            return try await method.handler(request, context)
        case (.query, _):
            throw XRPCError.invalidRequest("Incorrect HTTP method (\(request.method)) expects GET")
        case (.procedure, _):
            throw XRPCError.invalidRequest("Incorrect HTTP method (\(request.method)) expects POST")
        }
    }
}
