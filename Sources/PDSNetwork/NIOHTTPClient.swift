import Foundation
import NIOCore
import NIOPosix
import OpenSSLNIO

/// Outbound HTTP on `OpenSSLNIO.HTTP1Client`: SwiftNIO, with https through the system OpenSSL
/// (chain and host name verified against `trustRoots`), one connection per request, the body
/// streamed with backpressure (reads pause while the consumer lags; a consumer that stops closes
/// the connection). No FoundationNetworking, so no libcurl and no second TLS stack.
public final class NIOHTTPClient: OutboundHTTP {
    private let client: HTTP1Client
    /// Most time one exchange may take, the reading of a streamed body included.
    public let maxRequestDuration: TimeAmount
    /// Redirects followed when a request asks for it.
    public static let maxRedirects = 5
    static let redirectStatuses: Set<Int> = [301, 302, 303, 307, 308]
    static let userAgent = "pds/\(PDSVersion.current)"

    /// - Parameters:
    ///   - trustRoots: the CAs that may sign https servers' certificates (the system store; tests
    ///     pass their own CA as `.pemFile`). Loaded on the first https request.
    ///   - maxRequestDuration: the limit for a whole exchange (the per-request `timeout` is the
    ///     connect and inactivity limit).
    ///   - group: the event loops to run on (Hummingbird's, by default).
    public init(trustRoots: TLSTrustRoots = .system, maxRequestDuration: TimeAmount = .seconds(120),
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        client = HTTP1Client(trustRoots: trustRoots, group: group)
        self.maxRequestDuration = maxRequestDuration
    }

    public func stream(_ request: OutboundRequest) async throws -> OutboundStream {
        var current = request
        var redirects = 0
        while true {
            let outgoing = try Self.wireRequest(current)
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
                return OutboundStream(status: response.status, headers: headers, body: response.body)
            }
            response.cancel()
            guard redirects < Self.maxRedirects else {
                throw OutboundHTTPError.badRedirect("more than \(Self.maxRedirects) redirects from \(request.url.absoluteString)")
            }
            redirects += 1
            current = try Self.redirected(current, to: location)
        }
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
