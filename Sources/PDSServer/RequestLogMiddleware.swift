import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PDSCore
import Synchronization

/// What a request's log line records beyond its head, filled in while it is handled: the kind
/// of credential that was verified (`none`, `session`, `app-password`, `service`, `refresh`).
/// Never the credential itself.
final class RequestRecord: Sendable {
    @TaskLocal static var current: RequestRecord?
    private let authKind = Mutex("none")

    var auth: String {
        get { authKind.withLock { $0 } }
        set { authKind.withLock { $0 = newValue } }
    }

    /// Notes the verified credential of the request being handled (no-op outside a request).
    static func noteAuth(_ kind: String) { current?.auth = kind }
}

/// One `info` line per request through the server's logger: method, NSID (XRPC) or path (never
/// the query), status, duration to the response head in ms, response bytes when known, client
/// IP and auth kind. Also decides the client IP: the socket peer, or, when the peer is one of
/// `trustedProxies`, the nearest untrusted address of `X-Forwarded-For`.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = PDSRequestContext
    let logger: Logger
    let trustedProxies: [IPNetwork]

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var context = context
        if !trustedProxies.isEmpty {
            context.clientIP = Self.clientIP(peer: context.clientIP, forwardedFor: request.headers[values: Self.forwardedFor],
                                             trusted: trustedProxies)
        }
        let record = RequestRecord()
        do {
            let response = try await RequestRecord.$current.withValue(record) { try await next(request, context) }
            log(request, status: Int(response.status.code), bytes: response.body.contentLength, started: started,
                clientIP: context.clientIP, auth: record.auth)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            log(request, status: Int(status), bytes: nil, started: started, clientIP: context.clientIP, auth: record.auth)
            throw error
        }
    }

    func log(_ request: Request, status: Int, bytes: Int?, started: ContinuousClock.Instant, clientIP: String, auth: String) {
        // The metadata costs more than the rest of a small request's middleware: build it only
        // when the line is written.
        guard logger.logLevel <= .info else { return }
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        var metadata: Logger.Metadata = [
            "method": "\(request.method.rawValue)",
            "status": "\(status)",
            "duration_ms": "\((milliseconds * 100).rounded() / 100)",
            "client_ip": "\(clientIP)",
            "auth": "\(auth)",
        ]
        let path = request.uri.path
        if path.hasPrefix("/xrpc/") { metadata["nsid"] = "\(path.dropFirst(6))" } else { metadata["path"] = "\(path)" }
        if let bytes { metadata["bytes"] = "\(bytes)" }
        logger.info("request", metadata: metadata)
    }

    /// The client of a request that came through trusted proxies: `X-Forwarded-For` read from
    /// the right (each proxy appends the address it saw), skipping trusted hops; the first
    /// untrusted address is the client. A malformed entry ends the walk at the hop before it.
    static func clientIP(peer: String, forwardedFor: [String], trusted: [IPNetwork]) -> String {
        func isTrusted(_ address: [UInt8]) -> Bool { trusted.contains { $0.contains(address) } }
        guard let peerAddress = IPNetwork.parseAddress(peer), isTrusted(peerAddress) else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        var client = peer
        for hop in hops.reversed() {
            guard let address = IPNetwork.parseAddress(hop) else { return client }
            client = hop
            if !isTrusted(address) { return hop }
        }
        return client
    }
}

/// Headers every response of a kind must carry, in one place so new pages (OAuth's HTML) get
/// them without asking: `Strict-Transport-Security` when this process terminates TLS, and for
/// HTML a restrictive `Content-Security-Policy`, `X-Frame-Options: DENY` and
/// `X-Content-Type-Options: nosniff` (a page that needs more declares its own CSP).
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = PDSRequestContext
    /// Whether the port speaks HTTPS (never set HSTS over plain HTTP: a proxy in front decides).
    let servesTLS: Bool

    static let hsts = "max-age=63072000"
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let htmlPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if servesTLS { response.headers[.strictTransportSecurity] = Self.hsts }
        if let type = response.headers[.contentType], type.lowercased().hasPrefix("text/html") {
            if response.headers[.contentSecurityPolicy] == nil { response.headers[.contentSecurityPolicy] = Self.htmlPolicy }
            response.headers[Self.xFrameOptions] = "DENY"
            response.headers[.xContentTypeOptions] = "nosniff"
        }
        return response
    }
}
