import Foundation
import NIOCore
import NIOHTTP1
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

/// HTTPS/1.1 over SwiftNIO and this package's OpenSSL handler, one connection per request.
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
    private let context: SSLContext
    private let group: any EventLoopGroup
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
        self.context = try SSLContext.client(trustRoots: trustRoots)
        self.group = group
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
    }

    public func send(_ request: ACMEHTTPRequest) async throws -> ACMEHTTPResponse {
        guard request.url.scheme?.lowercased() == "https", let host = request.url.host, !host.isEmpty else {
            throw ACMETransportError.unsupportedURL(request.url.absoluteString)
        }
        let port = request.url.port ?? 443
        let url = request.url.absoluteString
        let promise = group.next().makePromise(of: ACMEHTTPResponse.self)
        let context = self.context, limit = maxResponseBytes
        // An IPv6 literal comes back from URL.host with its brackets.
        let bareHost = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host

        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(client: context, serverName: bareHost))
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise, limit: limit, url: url))
                    }
                }
                .connect(host: bareHost, port: port).get()
        } catch {
            promise.fail(error)
            throw error
        }
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(ACMETransportError.timedOut(url))
            channel.close(promise: nil)
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }

        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: Self.target(request.url))
        head.headers.add(name: "Host", value: request.url.port.map { "\(host):\($0)" } ?? host)
        head.headers.add(name: "User-Agent", value: "pds-acme/0.1")
        head.headers.add(name: "Connection", value: "close")
        for header in request.headers { head.headers.add(name: header.name, value: header.value) }
        if let body = request.body { head.headers.add(name: "Content-Length", value: String(body.count)) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body = request.body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)

        defer { channel.close(promise: nil) }
        return try await promise.futureResult.get()
    }

    /// The request target: path (at least `/`) and query.
    static func target(_ url: URL) -> String {
        guard let components = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return "/" }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        return components.percentEncodedQuery.map { path + "?" + $0 } ?? path
    }
}

/// Collects one HTTP response and completes a promise with it.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<ACMEHTTPResponse>
    private let limit: Int
    private let url: String
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []
    private var completed = false

    init(promise: EventLoopPromise<ACMEHTTPResponse>, limit: Int, url: String) {
        self.promise = promise
        self.limit = limit
        self.url = url
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(var buffer):
            guard !completed else { return }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
            if body.count > limit { finish(context, .failure(ACMETransportError.responseTooLarge(limit))) }
        case .end:
            guard let head else { return }
            finish(context, .success(ACMEHTTPResponse(status: Int(head.status.code),
                                                      headerFields: head.headers.map { ($0.name, $0.value) }, body: body)))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context, .failure(error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context, .failure(ACMETransportError.connectionClosed(url)))
        context.fireChannelInactive()
    }

    /// Completes the promise once (the first outcome wins) and closes the connection.
    private func finish(_ context: ChannelHandlerContext, _ result: Result<ACMEHTTPResponse, any Error>) {
        guard !completed else { return }
        completed = true
        promise.completeWith(result)
        context.close(promise: nil)
    }
}
