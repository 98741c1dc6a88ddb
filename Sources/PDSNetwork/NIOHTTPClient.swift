import Foundation
import NIOCore
import NIOPosix
import OpenSSLNIO

/// Outbound HTTP on `OpenSSLNIO.HTTP1Client`: SwiftNIO, with https through the system OpenSSL
/// (chain and host name verified against `trustRoots`), keep-alive connections pooled per
/// server, the body streamed with backpressure (reads pause while the consumer lags; a consumer
/// that stops closes the connection). No FoundationNetworking, so no libcurl and no second TLS
/// stack.
///
/// `guarded(by:)` gives the same client (the same pool) behind an `OutboundGuard`: each hop's
/// host is resolved and checked by the guard and the connection goes to the checked addresses.
public final class NIOHTTPClient: OutboundHTTP {
    private let client: HTTP1Client
    /// Most time one exchange may take, the reading of a streamed body included.
    public let maxRequestDuration: TimeAmount
    /// The guard every hop passes, when this is a guarded client.
    public let outboundGuard: OutboundGuard?
    /// Redirects followed when a request asks for it.
    public static let maxRedirects = 5
    static let redirectStatuses: Set<Int> = [301, 302, 303, 307, 308]
    /// Sent as `User-Agent` on every request.
    public static let userAgent = "pds/" + PDSVersion.string

    /// - Parameters:
    ///   - trustRoots: the CAs that may sign https servers' certificates (the system store; tests
    ///     pass their own CA as `.pemFile`). Loaded on the first https request.
    ///   - maxRequestDuration: the limit for a whole exchange (the per-request `timeout` is the
    ///     connect and inactivity limit).
    ///   - pool: connection reuse (`.disabled`: a connection per request).
    ///   - group: the event loops to run on (Hummingbird's, by default).
    public init(trustRoots: TLSTrustRoots = .system, maxRequestDuration: TimeAmount = .seconds(120),
                pool: HTTP1PoolConfiguration = .init(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        client = HTTP1Client(trustRoots: trustRoots, pool: pool, group: group)
        self.maxRequestDuration = maxRequestDuration
        outboundGuard = nil
    }

    private init(client: HTTP1Client, maxRequestDuration: TimeAmount, outboundGuard: OutboundGuard) {
        self.client = client
        self.maxRequestDuration = maxRequestDuration
        self.outboundGuard = outboundGuard
    }

    /// This client's pool behind `outboundGuard`, with its size and time limits.
    public func guarded(by outboundGuard: OutboundGuard) -> any OutboundHTTP {
        NIOHTTPClient(client: client, maxRequestDuration: min(maxRequestDuration, outboundGuard.maxDuration), outboundGuard: outboundGuard)
    }

    /// The underlying client (its pool, for tests).
    public var http1: HTTP1Client { client }

    public func stream(_ request: OutboundRequest) async throws -> OutboundStream {
        var current = request
        var redirects = 0
        while true {
            var outgoing = try Self.wireRequest(current)
            if let outboundGuard {
                outgoing.connectAddresses = try await outboundGuard.addresses(host: outgoing.host, port: outgoing.port)
            }
            let timeout = TimeAmount.nanoseconds(Int64(max(0.001, current.timeout) * 1e9))
            let response: HTTP1ClientResponse
            do {
                response = try await client.execute(outgoing, timeouts: HTTP1ClientTimeouts(
                    connect: timeout, idle: timeout, total: maxRequestDuration))
            } catch {
                throw OutboundHTTPError.unreachable("\(current.url.absoluteString): \(error)")
            }
            let headers = Self.lowercased(response.headers)
            let method = current.method.uppercased()
            guard current.followRedirects, method == "GET" || method == "HEAD",
                  Self.redirectStatuses.contains(response.status), let location = headers["location"]
            else {
                guard let limit = outboundGuard?.maxResponseBytes else {
                    return OutboundStream(status: response.status, headers: headers, body: response.body)
                }
                if let length = headers["content-length"].flatMap(Int.init), length > limit {
                    response.cancel()
                    throw OutboundHTTPError.responseTooLarge(limit: limit)
                }
                return OutboundStream(status: response.status, headers: headers, body: Self.capped(response.body, limit: limit, cancel: response.cancel))
            }
            response.cancel()
            guard redirects < Self.maxRedirects else {
                throw OutboundHTTPError.badRedirect("more than \(Self.maxRedirects) redirects from \(request.url.absoluteString)")
            }
            redirects += 1
            current = try Self.redirected(current, to: location)
        }
    }

    /// `body`, failing with `responseTooLarge` (and closing the connection with `cancel`) once
    /// more than `limit` bytes have come.
    static func capped(_ body: AsyncThrowingStream<[UInt8], any Error>, limit: Int,
                       cancel: @escaping @Sendable () -> Void) -> AsyncThrowingStream<[UInt8], any Error> {
        let counter = CappedIterator(body.makeAsyncIterator(), limit: limit, cancel: cancel)
        return AsyncThrowingStream(unfolding: { try await counter.next() })
    }

    /// `request` re-aimed at a redirect's `Location` (relative to the URL that answered).
    static func redirected(_ request: OutboundRequest, to location: String) throws -> OutboundRequest {
        guard let next = URL(string: location, relativeTo: request.url)?.absoluteURL,
              let scheme = next.scheme?.lowercased(), scheme == "http" || scheme == "https"
        else { throw OutboundHTTPError.badRedirect("unusable Location \(location)") }
        if request.url.scheme?.lowercased() == "https" && scheme == "http" {
            throw OutboundHTTPError.badRedirect("from https to http (\(next.absoluteString))")
        }
        var redirected = request
        redirected.url = next
        if next.host?.lowercased() != request.url.host?.lowercased() || next.port != request.url.port {
            // Credentials are for the origin they were meant for.
            redirected.headers.removeAll { ["authorization", "cookie"].contains($0.name.lowercased()) }
        }
        return redirected
    }

    /// The wire form of `request`: scheme, bare host, port, origin-form target.
    static func wireRequest(_ request: OutboundRequest) throws -> HTTP1ClientRequest {
        let url = request.url
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let components = URLComponents(url: url, resolvingAgainstBaseURL: true),
              let host = components.host, !host.isEmpty
        else { throw OutboundHTTPError.unreachable("unsupported URL \(url.absoluteString)") }
        // IPv6 literals come back bracketed.
        let bareHost = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        let target = components.percentEncodedQuery.map { path + "?" + $0 } ?? path
        var headers = request.headers
        if !headers.contains(where: { $0.name.lowercased() == "user-agent" }) { headers.append(("User-Agent", userAgent)) }
        // Host as the URL writes it: the port only when it is explicit (what a signed request,
        // e.g. S3 SigV4, has covered).
        let name = bareHost.contains(":") ? "[\(bareHost)]" : bareHost
        return HTTP1ClientRequest(method: request.method, isSecure: scheme == "https", host: bareHost,
                                  port: components.port ?? (scheme == "https" ? 443 : 80), target: target,
                                  headers: headers, body: request.body,
                                  hostHeader: components.port.map { "\(name):\($0)" } ?? name)
    }

    /// Header values by lowercased name; repeated headers joined with ", " (RFC 9110 §5.3).
    static func lowercased(_ headers: [(name: String, value: String)]) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in headers {
            let key = name.lowercased()
            if let existing = result[key] { result[key] = existing + ", " + value } else { result[key] = value }
        }
        return result
    }
}

/// The iterator behind `NIOHTTPClient.capped`. Unchecked: the stream has one consumer, calling
/// `next()` one call at a time.
private final class CappedIterator: @unchecked Sendable {
    private var iterator: AsyncThrowingStream<[UInt8], any Error>.AsyncIterator
    private var remaining: Int
    private let limit: Int
    private let cancel: @Sendable () -> Void

    init(_ iterator: AsyncThrowingStream<[UInt8], any Error>.AsyncIterator, limit: Int, cancel: @escaping @Sendable () -> Void) {
        self.iterator = iterator
        self.limit = limit
        self.cancel = cancel
        remaining = limit
    }

    func next() async throws -> [UInt8]? {
        guard let chunk = try await iterator.next() else { return nil }
        remaining -= chunk.count
        if remaining < 0 {
            cancel()
            throw OutboundHTTPError.responseTooLarge(limit: limit)
        }
        return chunk
    }
}
