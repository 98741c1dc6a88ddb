import ATSyntax
import HTTPTypes
import Hummingbird

/// The table of XRPC methods this server implements, dispatched from `/xrpc/<nsid>`.
///
/// Lexicon `query` methods answer GET (and HEAD), `procedure` methods answer POST (ATPROTO.md
/// §10). An NSID with no entry answers 501 `MethodNotImplemented` — or is handed to the
/// `fallback` (service proxying, once configured).
public struct XRPCRouter: Sendable {
    /// Whether a method is read-only (GET) or mutating (POST).
    public enum Kind: Sendable { case query, procedure }

    /// A method handler.
    public typealias Handler = @Sendable (Request, PDSRequestContext) async throws -> Response

    struct Method: Sendable {
        let kind: Kind
        let handler: Handler
    }

    var methods: [String: Method] = [:]
    /// Called for NSIDs without a local handler; nil means 501.
    public var fallback: Handler?

    public init() {}

    /// Registers a query (GET).
    public mutating func query(_ nsid: String, _ handler: @escaping Handler) {
        methods[nsid] = Method(kind: .query, handler: handler)
    }

    /// Registers a procedure (POST).
    public mutating func procedure(_ nsid: String, _ handler: @escaping Handler) {
        methods[nsid] = Method(kind: .procedure, handler: handler)
    }

    /// True if `nsid` has a local handler.
    public func handles(_ nsid: String) -> Bool { methods[nsid] != nil }

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
            return try await method.handler(request, context)
        case (.query, _):
            throw XRPCError.invalidRequest("Incorrect HTTP method (\(request.method)) expects GET")
        case (.procedure, _):
            throw XRPCError.invalidRequest("Incorrect HTTP method (\(request.method)) expects POST")
        }
    }
}
