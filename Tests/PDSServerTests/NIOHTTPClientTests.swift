import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import OpenSSLNIO
@testable import PDSNetwork
@testable import PDSServer
import Synchronization
import TestSupport
import Testing

/// What the loopback server saw, for the tests to check.
final class LoopbackRecord: Sendable {
    struct State {
        /// Bytes of `/large` bodies the server's socket has accepted.
        var largeBytesWritten = 0
        /// Connections of `/endless` that have closed.
        var endlessClosed = 0
        /// Connections that have closed, any path.
        var closedConnections = 0
        /// Requests answered (or left unanswered on purpose).
        var requests = 0
    }

    let state = Mutex(State())

    func update(_ body: (inout State) -> Void) { state.withLock { body(&$0) } }
    var snapshot: State { state.withLock { $0 } }
}

/// A small HTTP/1.1 server on NIO (optionally behind `OpenSSLHandler`) with the paths the client
/// tests need. Every response closes its connection.
final class LoopbackHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let record: LoopbackRecord
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var path = ""

    init(record: LoopbackRecord) { self.record = record }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            body += buffer.readableBytesView
        case .end:
            if let head { respond(context: context, head: head) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        record.update {
            $0.closedConnections += 1
            if path == "/endless" { $0.endlessClosed += 1 }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func query(_ head: HTTPRequestHead) -> [String: String] {
        guard let components = URLComponents(string: head.uri) else { return [:] }
        var result: [String: String] = [:]
        for item in components.queryItems ?? [] { result[item.name] = item.value ?? "" }
        return result
    }

    private func send(_ context: ChannelHandlerContext, status: HTTPResponseStatus, headers: [(String, String)] = [], body: [UInt8] = []) {
        var fields = HTTPHeaders(headers)
        fields.add(name: "Content-Length", value: String(body.count))
        fields.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: fields))), promise: nil)
        if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
        record.update { $0.requests += 1 }
        let query = query(head)
        switch path {
        case "/hello":
            send(context, status: .ok, headers: [("Content-Type", "text/plain"), ("X-Custom", "Value"), ("X-Multi", "a"), ("X-Multi", "b")],
                 body: Array("hello world".utf8))
        case "/echo":
            send(context, status: .ok, headers: [
                ("X-Method", head.method.rawValue), ("X-Content-Length", head.headers["Content-Length"].first ?? "none"),
                ("X-Host", head.headers["Host"].first ?? ""), ("X-User-Agent", head.headers["User-Agent"].first ?? ""),
                ("X-Content-Type", head.headers["Content-Type"].first ?? ""), ("X-Authorization", head.headers["Authorization"].first ?? ""),
            ], body: body)
        case "/redirect":
            send(context, status: .found, headers: [("Location", query["to"] ?? "/hello")])
        case "/chain":
            let left = Int(query["n"] ?? "0") ?? 0
            send(context, status: .movedPermanently, headers: [("Location", left > 1 ? "/chain?n=\(left - 1)" : "/hello")])
        case "/large":
            let size = Int(query["size"] ?? "0") ?? 0
            var fields = HTTPHeaders([("Content-Length", String(size)), ("Connection", "close")])
            fields.add(name: "Content-Type", value: "application/octet-stream")
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: fields))), promise: nil)
            writeLarge(context: context, offset: 0, size: size)
        case "/endless":
            let fields = HTTPHeaders([("Transfer-Encoding", "chunked"), ("Connection", "close")])
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: fields))), promise: nil)
            writeEndless(context: context)
        case "/stall":
            // The head and a little of the body, then nothing.
            let fields = HTTPHeaders([("Content-Length", "1000"), ("Connection", "close")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: fields))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: [UInt8](repeating: 7, count: 10))))), promise: nil)
        case "/silent":
            break // never answers
        default:
            send(context, status: .notFound)
        }
    }

    /// Byte `i` of a `/large` body.
    static func pattern(_ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: index % 251) }
    /// The pattern from offset 0, one chunk plus one period long: a chunk at any offset is a
    /// slice of it (made once, so the event loop is not busy generating bytes in debug builds).
    static let patternBuffer = ByteBuffer(bytes: (0..<(64 << 10) + 251).map(pattern))
    /// The same bytes as an array, for checking what arrived.
    static let patternBytes = Array(patternBuffer.readableBytesView)

    /// Whether `chunk` is the pattern from `offset` on.
    static func matchesPattern(_ chunk: [UInt8], at offset: Int) -> Bool {
        var position = 0
        while position < chunk.count {
            let start = (offset + position) % 251
            let count = min(chunk.count - position, patternBytes.count - start)
            let same = chunk.withUnsafeBytes { have in
                patternBytes.withUnsafeBytes { want in memcmp(have.baseAddress! + position, want.baseAddress! + start, count) == 0 }
            }
            guard same else { return false }
            position += count
        }
        return true
    }

    private func writeLarge(context: ChannelHandlerContext, offset: Int, size: Int) {
        guard offset < size else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        let count = min(64 << 10, size - offset)
        let chunk = Self.patternBuffer.getSlice(at: offset % 251, length: count)!
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk)))).assumeIsolated().whenSuccess { [self] in
            record.update { $0.largeBytesWritten += count }
            writeLarge(context: context, offset: offset + count, size: size)
        }
    }

    private func writeEndless(context: ChannelHandlerContext) {
        let chunk = Self.patternBuffer.getSlice(at: 0, length: 16 << 10)!
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk)))).assumeIsolated().whenSuccess { [self] in
            writeEndless(context: context)
        }
    }
}

/// A running loopback server.
struct LoopbackHTTPServer {
    let channel: any Channel
    let record: LoopbackRecord
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start(tls: TLSServerContexts? = nil) async throws -> LoopbackHTTPServer {
        let record = LoopbackRecord()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(server: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(LoopbackHandler(record: record))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return LoopbackHTTPServer(channel: channel, record: record)
    }

    /// A TLS server presenting a certificate for `dnsNames`/`ipAddresses` from a fresh test CA.
    static func startTLS(dnsNames: [String], ipAddresses: [String] = []) async throws -> (LoopbackHTTPServer, TestCertificateAuthority) {
        let ca = try TestCertificateAuthority()
        let issued = try ca.issue("server", dnsNames: dnsNames, ipAddresses: ipAddresses)
        let context = try SSLContext.server(certificateChainPEM: Array(try Data(contentsOf: URL(fileURLWithPath: issued.chain))),
                                            privateKeyPEM: Array(try Data(contentsOf: URL(fileURLWithPath: issued.key))))
        return (try await start(tls: try TLSServerContexts(contexts: [context])), ca)
    }

    func stop() async {
        try? await channel.close()
    }

    /// Waits (at most `seconds`) until `condition` holds for the record.
    func eventually(_ seconds: Double = 20, _ condition: (LoopbackRecord.State) -> Bool) async -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition(record.snapshot) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(record.snapshot)
    }
}

@Suite struct NIOHTTPClientTests {
    let client = NIOHTTPClient()

    func url(_ server: LoopbackHTTPServer, _ path: String, scheme: String = "http", host: String = "127.0.0.1") -> URL {
        URL(string: "\(scheme)://\(host):\(server.port)\(path)")!
    }

    @Test func statusHeadersAndBodyRoundTrip() async throws {
        let server = try await LoopbackHTTPServer.start()
        defer { Task { await server.stop() } }
        let response = try await client.send(OutboundRequest(url: url(server, "/hello")))
        #expect(response.status == 200)
        #expect(response.headers["x-custom"] == "Value")
        #expect(response.headers["x-multi"] == "a, b")
        #expect(response.headers["content-type"] == "text/plain")
        #expect(response.headers.keys.allSatisfy { $0 == $0.lowercased() })
        #expect(String(decoding: response.body, as: UTF8.self) == "hello world")

        let missing = try await client.send(OutboundRequest(url: url(server, "/nothing-here")))
        #expect(missing.status == 404)

        // HEAD: the length of a body that does not come.
        let head = try await client.send(OutboundRequest(method: "HEAD", url: url(server, "/hello"), timeout: 5))
        #expect(head.status == 200)
        #expect(head.headers["content-length"] == "11")
        #expect(head.body.isEmpty)
    }

    @Test func postSendsTheBodyWithContentLength() async throws {
        let server = try await LoopbackHTTPServer.start()
        defer { Task { await server.stop() } }
        let body = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let response = try await client.send(OutboundRequest(
            method: "POST", url: url(server, "/echo?x=1"), headers: [("Content-Type", "application/json")], body: body))
        #expect(response.status == 200)
        #expect(response.headers["x-method"] == "POST")
        #expect(response.headers["x-content-length"] == "300000")
        #expect(response.headers["x-content-type"] == "application/json")
        #expect(response.headers["x-host"] == "127.0.0.1:\(server.port)")
        #expect(response.headers["x-user-agent"]?.hasPrefix("pds/") == true)
        #expect(response.body == body)

        let empty = try await client.send(OutboundRequest(method: "POST", url: url(server, "/echo")))
        #expect(empty.headers["x-content-length"] == "0")
        let get = try await client.send(OutboundRequest(url: url(server, "/echo")))
        #expect(get.headers["x-content-length"] == "none")
    }

    @Test func aLargeBodyStreamsInChunks() async throws {
        let server = try await LoopbackHTTPServer.start()
        defer { Task { await server.stop() } }
        let size = 8 << 20
        let response = try await client.stream(OutboundRequest(url: url(server, "/large?size=\(size)")))
        #expect(response.status == 200)
        #expect(response.headers["content-length"] == String(size))
        var total = 0, chunks = 0, intact = true
        for try await chunk in response.body {
            if !LoopbackHandler.matchesPattern(chunk, at: total) { intact = false }
            total += chunk.count
            chunks += 1
        }
        #expect(total == size)
        #expect(intact)
        #expect(chunks > 16, "the body arrived in \(chunks) chunks")
    }

    /// A consumer that pauses stops the client reading: the server's writes back up instead of
    /// the client buffering the whole body.
    @Test func aPausedConsumerStopsTheReads() async throws {
        let server = try await LoopbackHTTPServer.start()
        defer { Task { await server.stop() } }
        let size = 48 << 20
        let response = try await client.stream(OutboundRequest(url: url(server, "/large?size=\(size)")))
        var iterator = response.body.makeAsyncIterator()
        var total = try await iterator.next()?.count ?? 0
        try await Task.sleep(for: .seconds(1))
        let written = server.record.snapshot.largeBytesWritten
        // Socket buffers on both sides plus the client's few chunks: a few MiB, far from 48.
        #expect(written < 24 << 20, "the server got \(written) bytes out while the consumer paused")
        if ProcessInfo.processInfo.environment["PDS_TEST_VERBOSE"] != nil { print("written while paused: \(written)") }
        while let chunk = try await iterator.next() { total += chunk.count }
        #expect(total == size)
    }

    @Test func silenceTimesOut() async throws {
        let server = try await LoopbackHTTPServer.start()
        defer { Task { await server.stop() } }
        let start = Date()
        await #expect(throws: OutboundHTTPError.self) {
            _ = try await client.send(OutboundRequest(url: url(server, "/silent"), timeout: 1))
        }
        let elapsed = Date().timeIntervalSince(start)
        // It fails after the timeout, not before; the upper bound only catches a hang (the CI machine is slow).
        #expect(elapsed >= 0.9 && elapsed < 60, "took \(elapsed) s")

        // A body that stops arriving fails the stream the same way.
        let stalled = try await client.stream(OutboundRequest(url: url(server, "/stall"), timeout: 2))
        #expect(stalled.status == 200)
        await #expect(throws: HTTP1ClientError.timedOut) {
            for try await _ in stalled.body {}
        }
        #expect(await server.eventually { $0.closedConnections >= 2 })
    }

    @Test func anUnreachablePortIsAnError() async throws {
        let server = try await LoopbackHTTPServer.start()
        let port = server.port
        await server.stop()
        await #expect(throws: OutboundHTTPError.self) {
            _ = try await client.send(OutboundRequest(url: URL(string: "http://127.0.0.1:\(port)/hello")!, timeout: 2))
        }
    }

    @Test func redirectsAreFollowedOnlyWhenAsked() async throws {
        let server = try await LoopbackHTTPServer.start()
        defer { Task { await server.stop() } }
        let plain = try await client.send(OutboundRequest(url: url(server, "/redirect?to=/hello")))
        #expect(plain.status == 302)
        #expect(plain.headers["location"] == "/hello")

        let followed = try await client.send(OutboundRequest(url: url(server, "/redirect?to=/hello"), followRedirects: true))
        #expect(followed.status == 200)
        #expect(String(decoding: followed.body, as: UTF8.self) == "hello world")

        let post = try await client.send(OutboundRequest(method: "POST", url: url(server, "/redirect?to=/hello"), body: [1], followRedirects: true))
        #expect(post.status == 302, "only GET and HEAD follow")

        let five = try await client.send(OutboundRequest(url: url(server, "/chain?n=5"), followRedirects: true))
        #expect(five.status == 200)
        await #expect(throws: OutboundHTTPError.self) {
            _ = try await client.send(OutboundRequest(url: url(server, "/chain?n=6"), followRedirects: true))
        }
        // Credentials stay with the origin: a redirect to another host (localhost) drops them.
        let elsewhere = "http://localhost:\(server.port)/echo"
        let moved = try await client.send(OutboundRequest(
            url: url(server, "/redirect?to=\(elsewhere.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"),
            headers: [("Authorization", "Bearer secret")], followRedirects: true))
        #expect(moved.status == 200)
        #expect(moved.headers["x-authorization"] == "")
    }

    @Test func redirectTargetsAreResolvedAndNeverDowngraded() throws {
        let request = OutboundRequest(url: URL(string: "https://example.com/a/b?c=d")!,
                                      headers: [("Authorization", "Bearer x"), ("Accept", "text/plain")], followRedirects: true)
        let relative = try NIOHTTPClient.redirected(request, to: "../z?q=1")
        #expect(relative.url.absoluteString == "https://example.com/z?q=1")
        #expect(relative.headers.count == 2, "same origin keeps the headers")
        let moved = try NIOHTTPClient.redirected(request, to: "https://elsewhere.example/x")
        #expect(moved.headers.map(\.name) == ["Accept"])
        #expect(throws: OutboundHTTPError.self) { try NIOHTTPClient.redirected(request, to: "http://example.com/a") }
        #expect(throws: OutboundHTTPError.self) { try NIOHTTPClient.redirected(request, to: "ftp://example.com/a") }
        let plain = OutboundRequest(url: URL(string: "http://127.0.0.1:8080/x")!)
        #expect(try NIOHTTPClient.redirected(plain, to: "https://127.0.0.1:8443/y").url.absoluteString == "https://127.0.0.1:8443/y")
    }

    @Test func urlsBecomeWireRequests() throws {
        let plain = try NIOHTTPClient.wireRequest(OutboundRequest(url: URL(string: "http://example.com/p%20q?a=b&c")!))
        #expect(!plain.isSecure && plain.host == "example.com" && plain.port == 80)
        #expect(plain.target == "/p%20q?a=b&c")
        #expect(plain.hostHeader == "example.com")
        let explicit = try NIOHTTPClient.wireRequest(OutboundRequest(url: URL(string: "https://s3.example.com:443")!))
        #expect(explicit.isSecure && explicit.port == 443 && explicit.target == "/")
        #expect(explicit.hostHeader == "s3.example.com:443", "the port as written (SigV4 signs Host)")
        let v6 = try NIOHTTPClient.wireRequest(OutboundRequest(url: URL(string: "https://[::1]:8443/x")!))
        #expect(v6.host == "::1" && v6.port == 8443 && v6.hostHeader == "[::1]:8443")
        #expect(throws: OutboundHTTPError.self) { try NIOHTTPClient.wireRequest(OutboundRequest(url: URL(string: "ftp://example.com/")!)) }
    }

    @Test func aConsumerThatStopsEarlyClosesTheConnection() async throws {
        let server = try await LoopbackHTTPServer.start()
        defer { Task { await server.stop() } }
        do {
            let response = try await client.stream(OutboundRequest(url: url(server, "/endless"), timeout: 30))
            var seen = 0
            for try await chunk in response.body {
                seen += chunk.count
                if seen > 100_000 { break }
            }
            #expect(seen > 100_000)
        }
        #expect(await server.eventually(30) { $0.endlessClosed == 1 }, "the server's endless response kept its connection")

        // A consuming task that is cancelled (the proxy's client went away) closes it too.
        let response = try await client.stream(OutboundRequest(url: url(server, "/endless"), timeout: 30))
        let reader = Task {
            var seen = 0
            for try await chunk in response.body { seen += chunk.count }
            return seen
        }
        try await Task.sleep(for: .milliseconds(200))
        reader.cancel()
        _ = await reader.result
        #expect(await server.eventually(30) { $0.endlessClosed == 2 }, "a cancelled reader left the connection open")
    }

    // MARK: TLS

    @Test func httpsVerifiesTheChainAndTheName() async throws {
        let (server, ca) = try await LoopbackHTTPServer.startTLS(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        defer { Task { await server.stop() } }
        let trusting = NIOHTTPClient(trustRoots: .pemFile(ca.caCertificatePath))
        for host in ["localhost", "127.0.0.1"] {
            let response = try await trusting.send(OutboundRequest(url: url(server, "/hello", scheme: "https", host: host)))
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self) == "hello world")
        }
        let size = 4 << 20
        var total = 0
        for try await chunk in try await trusting.stream(OutboundRequest(url: url(server, "/large?size=\(size)", scheme: "https"))).body {
            total += chunk.count
        }
        #expect(total == size)
        let echoed = try await trusting.send(OutboundRequest(method: "POST", url: url(server, "/echo", scheme: "https"),
                                                             body: [UInt8](repeating: 9, count: 2 << 20)))
        #expect(echoed.body.count == 2 << 20)

        // The system store does not know the test CA.
        let error = await #expect(throws: OutboundHTTPError.self) {
            _ = try await NIOHTTPClient().send(OutboundRequest(url: url(server, "/hello", scheme: "https", host: "localhost")))
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("certificate verify"))
    }

    @Test func aCertificateForAnotherNameIsRefused() async throws {
        let (server, ca) = try await LoopbackHTTPServer.startTLS(dnsNames: ["other.test"], ipAddresses: ["127.0.0.2"])
        defer { Task { await server.stop() } }
        let trusting = NIOHTTPClient(trustRoots: .pemFile(ca.caCertificatePath))
        for host in ["localhost", "127.0.0.1"] {
            let error = await #expect(throws: OutboundHTTPError.self) {
                _ = try await trusting.send(OutboundRequest(url: url(server, "/hello", scheme: "https", host: host)))
            }
            let text = error.map { "\($0)" } ?? ""
            #expect(text.contains("mismatch"), "\(host): \(text)")
        }
        #expect(server.record.snapshot.requests == 0, "no request may reach a server that failed verification")
    }
}
