import Foundation
import NIOCore
import NIOPosix
import OpenSSLNIO

/// One HTTP request to an ACME server.
public struct ACMEHTTPRequest: Sendable {
    public var method: String
    public var url: URL
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?

    public init(method: String, url: URL, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// One HTTP response from an ACME server.
public struct ACMEHTTPResponse: Sendable {
    public var status: Int
    /// Every header in order, names as sent (use `header(_:)` / `headers(_:)` to look up).
    public var headerFields: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headerFields: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headerFields = headerFields
        self.body = body
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headerFields.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Every value of header `name` (case-insensitive), e.g. several `Link` headers.
    public func headers(_ name: String) -> [String] {
        headerFields.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }
}

/// How the ACME client reaches its server. Production uses `OpenSSLHTTPSClient`; tests may
/// inject a double.
public protocol ACMETransport: Sendable {
    func send(_ request: ACMEHTTPRequest) async throws -> ACMEHTTPResponse
}

/// Why a request did not produce a response.
public enum ACMETransportError: Error, CustomStringConvertible, Sendable {
    case unsupportedURL(String)
    case timedOut(String)
    case responseTooLarge(Int)
    case connectionClosed(String)

    public var description: String {
        switch self {
        case .unsupportedURL(let url): "unsupported URL \(url) (https only)"
        case .timedOut(let url): "request to \(url) timed out"
        case .responseTooLarge(let limit): "response larger than \(limit) bytes"
        case .connectionClosed(let url): "connection to \(url) closed before a complete response"
        }
    }
}

/// HTTPS/1.1 for the ACME client: `HTTP1Client` (SwiftNIO and this package's OpenSSL handler, one
/// connection per request) with a trust store of its own and the whole body collected.
///
/// Why not URLSession (checked with Swift 6.3.1's FoundationNetworking on Debian 12, against an
/// `openssl s_server` with a self-signed certificate): its libcurl is told nothing but the system
/// CA bundle. `CURL_CA_BUNDLE` (read by the curl tool, not by libcurl), `SSL_CERT_FILE` (OpenSSL's,
/// overridden by libcurl's own CA path) and `URLSessionCertificateAuthorityInfoFile` (an old
/// swift-corelibs-foundation variable, absent from this build) all still fail with "self-signed
/// certificate", and on Linux URLSession never asks its delegate about server trust. The only
/// way to make URLSession trust Pebble's CA is to add it to the machine's store
/// (`update-ca-certificates`), for every process. Here a CA file is one client's option:
/// `trustRoots: .pemFile(path)`.
public final class OpenSSLHTTPSClient: ACMETransport {
    private let client: HTTP1Client
    /// Whole-request deadline (connect, TLS, request and response).
    public let timeout: TimeAmount
    /// Largest accepted response body.
    public let maxResponseBytes: Int

    /// - Parameters:
    ///   - trustRoots: the CAs that may sign the server's certificate (`.system` for Let's Encrypt).
    ///   - timeout: deadline for each request.
    ///   - maxResponseBytes: largest response body accepted.
    ///   - group: the event loops to run on.
    public init(trustRoots: TLSTrustRoots = .system, timeout: TimeAmount = .seconds(30), maxResponseBytes: Int = 1 << 20,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        self.client = try HTTP1Client(loadedTrustRoots: trustRoots, group: group)
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
    }

    public func send(_ request: ACMEHTTPRequest) async throws -> ACMEHTTPResponse {
        guard request.url.scheme?.lowercased() == "https", let host = request.url.host, !host.isEmpty else {
            throw ACMETransportError.unsupportedURL(request.url.absoluteString)
        }
        let url = request.url.absoluteString
        // An IPv6 literal comes back from URL.host with its brackets.
        let bareHost = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let outgoing = HTTP1ClientRequest(
            method: request.method, isSecure: true, host: bareHost, port: request.url.port ?? 443, target: Self.target(request.url),
            headers: [("User-Agent", "pds-acme/0.1")] + request.headers, body: request.body,
            hostHeader: request.url.port.map { "\(host):\($0)" } ?? host)
        do {
            let response = try await client.execute(outgoing, timeouts: .all(timeout))
            var body: [UInt8] = []
            for try await chunk in response.body {
                body += chunk
                if body.count > maxResponseBytes {
                    response.cancel()
                    throw ACMETransportError.responseTooLarge(maxResponseBytes)
                }
            }
            return ACMEHTTPResponse(status: response.status, headerFields: response.headers, body: body)
        } catch HTTP1ClientError.timedOut {
            throw ACMETransportError.timedOut(url)
        } catch HTTP1ClientError.connectionClosed {
            throw ACMETransportError.connectionClosed(url)
        }
    }

    /// The request target: path (at least `/`) and query.
    static func target(_ url: URL) -> String {
        guard let components = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return "/" }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        return components.percentEncodedQuery.map { path + "?" + $0 } ?? path
    }
}
