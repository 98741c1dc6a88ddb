import Hummingbird
import Logging
import NIOCore

/// Per-request state carried through middleware and handlers.
public struct PDSRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller's address (for logs and rate limits).
    public let remoteAddress: SocketAddress?
    /// The connection (to close it when a request's unread body is too large to drain).
    public let channel: any Channel
    /// The client's IP address as text: the socket peer, or the `X-Forwarded-For` client when
    /// the peer is a trusted proxy (`RequestLogMiddleware` decides). Keys the per-IP limits.
    public var clientIP: String
    /// The limiter, when this request is subject to limits (set by the XRPC router), for
    /// charges a handler can only compute from its input (applyWrites).
    public var rateLimiter: (any XRPCRateLimiter)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
        clientIP = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// The cap Hummingbird applies when it *collects* or decodes a body for a handler. Streaming
    /// `request.body` is not capped by it: uploadBlob streams and enforces `PDS_BLOB_UPLOAD_LIMIT`
    /// itself, and JSON inputs pass their own smaller limit to `jsonObject(context:limit:)`.
    public var maxUploadSize: Int { 1_000_000 }

    /// Charges an account-keyed `policy` (its own points, or `points`); throws 429 when spent.
    @discardableResult
    func chargeRateLimit(_ policy: RateLimitPolicy, account: String, points: Int? = nil) throws -> RateLimitStatus? {
        guard let rateLimiter else { return nil }
        return try rateLimiter.consume([RateLimitCharge(limit: policy.limit, key: account, points: points ?? policy.points)])
    }
}
