import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One HTTP/1.1 request, already split into what goes on the wire (callers parse URLs; this
/// module has no Foundation).
public struct HTTP1ClientRequest: Sendable {
    public var method: String
    /// `https` (TLS through `OpenSSLHandler`, verified against the client's trust roots and
    /// `host`) or plain `http`.
    public var isSecure: Bool
    /// DNS name or IP literal (IPv6 without brackets): where to connect, the SNI name and the name
    /// the certificate must carry.
    public var host: String
    public var port: Int
    /// The request target in origin form (`/path?query`).
    public var target: String
    /// Header names as given. `Host`, `Content-Length`, `Transfer-Encoding` and `Connection` are
    /// set by the client and ignored here.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// The `Host` header. Nil: the host (IPv6 literals bracketed) and the port unless it is the
    /// scheme's default. Callers with a URL pass its authority as written (a signed request, e.g.
    /// S3's SigV4, covers the exact value).
    public var hostHeader: String?

    public init(method: String = "GET", isSecure: Bool, host: String, port: Int, target: String,
                headers: [(name: String, value: String)] = [], body: [UInt8]? = nil, hostHeader: String? = nil) {
        self.method = method
        self.isSecure = isSecure
        self.host = host
        self.port = port
        self.target = target
        self.headers = headers
        self.body = body
        self.hostHeader = hostHeader
    }

    /// The `Host` header sent.
    var authority: String {
        if let hostHeader { return hostHeader }
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (isSecure ? 443 : 80) ? name : "\(name):\(port)"
    }
}

/// A response whose head has arrived; the body streams.
public struct HTTP1ClientResponse: Sendable {
    public var status: Int
    /// Every header in order, names as sent.
    public var headers: [(name: String, value: String)]
    /// The body, as the connection delivers it. Reading is paused while the consumer lags (a few
    /// chunks are buffered at most); when the consumer stops iterating, is cancelled or drops the
    /// stream, the connection is closed.
    public var body: AsyncThrowingStream<[UInt8], any Error>
    let connection: any Channel

    /// Closes the connection without reading the rest of the body.
    public func cancel() {
        connection.close(promise: nil)
    }
}

/// How long a request may take.
public struct HTTP1ClientTimeouts: Sendable {
    /// To establish the TCP connection (every address of the name together).
    public var connect: TimeAmount
    /// Without progress while waiting for the server: from the connection to the response head
    /// (TLS handshake included), then between body reads. Time the consumer spends not asking for
    /// more does not count.
    public var idle: TimeAmount
    /// For the whole exchange, the consumer's reading of the body included.
    public var total: TimeAmount

    public init(connect: TimeAmount, idle: TimeAmount, total: TimeAmount) {
        self.connect = connect
        self.idle = idle
        self.total = total
    }

    /// One limit for everything.
    public static func all(_ limit: TimeAmount) -> HTTP1ClientTimeouts {
        HTTP1ClientTimeouts(connect: limit, idle: limit, total: limit)
    }
}

/// Why a request did not produce a (complete) response.
public enum HTTP1ClientError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No TCP connection (refused, unreachable, no address, connect timeout).
    case connectFailed(String)
    /// The idle or the total limit passed.
    case timedOut
    /// The server closed the connection before the response was complete.
    case connectionClosed

    public var description: String {
        switch self {
        case .connectFailed(let reason): "could not connect: \(reason)"
        case .timedOut: "timed out"
        case .connectionClosed: "the connection closed before the response was complete"
        }
    }
}

/// HTTP/1.1 client over SwiftNIO, plain or through `OpenSSLHandler` (system OpenSSL), one
/// connection per request (`Connection: close`). The response body streams with backpressure:
/// socket reads stop while the consumer has `bufferedChunks` chunks waiting.
///
/// The TLS context (trust store loaded) is made on the first `https` request, so a process that
/// never calls out over TLS does not hold the CA bundle in memory.
public final class HTTP1Client: Sendable {
    private let trustRoots: TLSTrustRoots
    private let tlsContext = Mutex<SSLContext?>(nil)
    private let group: any EventLoopGroup
    /// Body chunks buffered before reads pause.
    public let bufferedChunks: Int

    /// - Parameters:
    ///   - trustRoots: the CAs that may sign `https` servers' certificates.
    ///   - bufferedChunks: body chunks (each at most one socket read or TLS record) buffered for
    ///     a lagging consumer before the client stops reading from the socket.
    ///   - group: the event loops to run on.
    public init(trustRoots: TLSTrustRoots = .system, bufferedChunks: Int = 8,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.trustRoots = trustRoots
        self.bufferedChunks = max(1, bufferedChunks)
        self.group = group
    }

    /// A client with a ready TLS context (so a bad trust root file fails here, not on first use).
    public convenience init(loadedTrustRoots trustRoots: TLSTrustRoots, bufferedChunks: Int = 8,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws(TLSError) {
        self.init(trustRoots: trustRoots, bufferedChunks: bufferedChunks, group: group)
        _ = try clientContext()
    }

    private func clientContext() throws(TLSError) -> SSLContext {
        try tlsContext.withLock { (stored: inout SSLContext?) throws(TLSError) -> SSLContext in
            if let stored { return stored }
            let made = try SSLContext.client(trustRoots: trustRoots)
            stored = made
            return made
        }
    }

    /// Sends `request` and returns once the response head has arrived.
    ///
    /// Throws `HTTP1ClientError`, or `TLSError` when the TLS handshake fails (including a
    /// certificate that does not verify or does not name `host`). Cancelling the calling task
    /// before the head arrives closes the connection.
    public func execute(_ request: HTTP1ClientRequest, timeouts: HTTP1ClientTimeouts) async throws -> HTTP1ClientResponse {
        let tls = request.isSecure ? try clientContext() : nil
        let loop = group.next()
        let promise = loop.makePromise(of: HTTP1ClientResponse.self)
        let chunks = bufferedChunks
        let deadline = NIODeadline.now() + timeouts.total
        var handshake = OpenSSLHandlerConfiguration()
        handshake.handshakeTimeout = timeouts.idle
        let tlsConfiguration = handshake
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(timeouts.connect)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if let tls {
                            try pipeline.addHandler(OpenSSLHandler(client: tls, serverName: request.host, configuration: tlsConfiguration))
                        }
                        try pipeline.addHTTPClientHandlers()
                        try pipeline.addHandler(HTTP1ClientHandler(
                            request: request, promise: promise, bufferedChunks: chunks,
                            idleTimeout: timeouts.idle, deadline: deadline))
                    }
                }
                .connect(host: request.host, port: request.port).get()
        } catch {
            let failure: HTTP1ClientError
            if case .connectTimeout = error as? ChannelError { failure = .timedOut } else { failure = .connectFailed("\(error)") }
            promise.fail(failure)
            // The handler's own verdict (e.g. its timer) wins when it came first.
            return try await promise.futureResult.get()
        }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

/// Drives one exchange on its channel: writes the request once the connection (and TLS) is up,
/// completes the promise with the head, feeds the body to the consumer's stream, gates socket
/// reads on the consumer's demand, and runs the timers.
private final class HTTP1ClientHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    typealias Producer = NIOThrowingAsyncSequenceProducer<
        [UInt8], any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, BodyDemand>

    private enum State {
        /// Connected or connecting; the request is not written yet.
        case idle
        /// The request is (being) written; no response head yet.
        case awaitingHead
        /// The head was delivered; the body streams to `source`.
        case streaming(Producer.Source)
        /// Finished, failed or abandoned; the channel is closing.
        case done
    }

    /// Most bytes written per body write (the next one waits until this one is out).
    static let writeChunk = 64 << 10

    private let request: HTTP1ClientRequest
    /// Until the head arrives. Dropped then: the response it carries holds the body stream, and
    /// the stream must not be kept alive by the connection (its release is what closes it).
    private var promise: EventLoopPromise<HTTP1ClientResponse>?
    private let bufferedChunks: Int
    private let idleTimeout: TimeAmount
    private let deadline: NIODeadline
    private var state: State = .idle
    private var context: ChannelHandlerContext?
    /// Whether the consumer wants more (reads pass), or a read waits in `pendingRead`.
    private var demand = true
    private var pendingRead = false
    private var lastProgress = NIODeadline.now()
    private var timer: Scheduled<Void>?

    init(request: HTTP1ClientRequest, promise: EventLoopPromise<HTTP1ClientResponse>, bufferedChunks: Int,
         idleTimeout: TimeAmount, deadline: NIODeadline) {
        self.request = request
        self.promise = promise
        self.bufferedChunks = bufferedChunks
        self.idleTimeout = idleTimeout
        self.deadline = deadline
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        armTimer(context: context)
        if context.channel.isActive && !request.isSecure { sendRequest(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        lastProgress = .now()
        if !request.isSecure { sendRequest(context: context) }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSHandshakeCompleted {
            lastProgress = .now()
            sendRequest(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Request

    private func sendRequest(context: ChannelHandlerContext) {
        guard case .idle = state else { return }
        state = .awaitingHead
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: request.target)
        head.headers.add(name: "Host", value: request.authority)
        let reserved: Set<String> = ["host", "content-length", "transfer-encoding", "connection"]
        for header in request.headers where !reserved.contains(header.name.lowercased()) {
            head.headers.add(name: header.name, value: header.value)
        }
        let body = request.body ?? []
        if request.body != nil || ["POST", "PUT", "PATCH"].contains(request.method.uppercased()) {
            head.headers.add(name: "Content-Length", value: String(body.count))
        }
        head.headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        writeBody(body[...], context: context)
    }

    /// Writes `rest` a chunk at a time, each after the previous one reached the socket, so a
    /// large body is never encrypted or queued all at once.
    private func writeBody(_ rest: ArraySlice<UInt8>, context: ChannelHandlerContext) {
        guard case .awaitingHead = state else { return }
        guard !rest.isEmpty else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        let chunk = rest.prefix(Self.writeChunk)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: chunk)))), promise: written)
        written.futureResult.assumeIsolated().whenSuccess { [self] in
            lastProgress = .now()
            writeBody(rest.dropFirst(chunk.count), context: context)
        }
    }

    // MARK: Response

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastProgress = .now()
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard case .awaitingHead = state else { return }
            let demandDelegate = BodyDemand(handler: NIOLoopBound(self, eventLoop: context.eventLoop))
            let made = Producer.makeSequence(
                elementType: [UInt8].self, failureType: (any Error).self,
                backPressureStrategy: .init(lowWatermark: max(1, bufferedChunks / 2), highWatermark: bufferedChunks),
                finishOnDeinit: false, delegate: demandDelegate)
            state = .streaming(made.source)
            let iterator = BodyIterator(made.sequence.makeAsyncIterator())
            let body = AsyncThrowingStream<[UInt8], any Error>(unfolding: { try await iterator.next() })
            let response = HTTP1ClientResponse(status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) },
                                               body: body, connection: context.channel)
            promise?.succeed(response)
            promise = nil
        case .body(let buffer):
            guard case .streaming(let source) = state else { return }
            switch source.yield(Self.bytes(buffer)) {
            case .produceMore: break
            case .stopProducing: demand = false
            case .dropped: finish(context: context, error: nil)
            }
        case .end:
            finish(context: context, error: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context: context, error: error)
    }

    /// The readable bytes of `buffer`, copied in one go.
    static func bytes(_ buffer: ByteBuffer) -> [UInt8] {
        buffer.withUnsafeReadableBytes { raw in
            [UInt8](unsafeUninitializedCapacity: raw.count) { out, count in
                if let source = raw.baseAddress, let target = out.baseAddress {
                    UnsafeMutableRawPointer(target).copyMemory(from: source, byteCount: raw.count)
                }
                count = raw.count
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context: context, error: HTTP1ClientError.connectionClosed)
        context.fireChannelInactive()
    }

    /// Ends the exchange once: the promise or the body stream gets `error` (or the end of the
    /// body), and the connection closes.
    private func finish(context: ChannelHandlerContext, error: (any Error)?) {
        let previous = state
        state = .done
        timer?.cancel()
        timer = nil
        switch previous {
        case .idle, .awaitingHead:
            promise?.fail(error ?? HTTP1ClientError.connectionClosed)
            promise = nil
        case .streaming(let source):
            if let error { source.finish(error) } else { source.finish() }
        case .done:
            return
        }
        context.close(promise: nil)
    }

    // MARK: Demand

    func read(context: ChannelHandlerContext) {
        if demand {
            context.read()
        } else {
            pendingRead = true
        }
    }

    /// The consumer drained the buffer to the low watermark.
    fileprivate func produceMore() {
        guard let context, case .streaming = state else { return }
        demand = true
        lastProgress = .now()
        if pendingRead {
            pendingRead = false
            context.read()
        }
    }

    /// The consumer is gone (stopped iterating, was cancelled, dropped the stream) or has read
    /// everything: nothing more is wanted from this connection.
    fileprivate func consumerTerminated() {
        guard let context else { return }
        if case .streaming = state {
            finish(context: context, error: nil)
        } else {
            context.close(promise: nil)
        }
    }

    // MARK: Timers

    /// Checks the limits at the next moment one of them could pass.
    private func armTimer(context: ChannelHandlerContext) {
        let due = min(lastProgress + idleTimeout, deadline)
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            timer = nil
            if case .done = state { return }
            let now = NIODeadline.now()
            let waitingOnPeer: Bool
            switch state {
            case .streaming: waitingOnPeer = demand
            default: waitingOnPeer = true
            }
            if now >= deadline || (waitingOnPeer && now >= lastProgress + idleTimeout) {
                finish(context: context, error: HTTP1ClientError.timedOut)
                return
            }
            // A paused consumer is not the server's delay: the idle clock starts again.
            if !waitingOnPeer { lastProgress = now }
            armTimer(context: context)
        }
    }
}

/// The body stream's demand signals, delivered to the handler on its event loop.
private struct BodyDemand: NIOAsyncSequenceProducerDelegate {
    let handler: NIOLoopBound<HTTP1ClientHandler>

    func produceMore() {
        let handler = handler
        handler.eventLoop.execute { handler.value.produceMore() }
    }

    func didTerminate() {
        let handler = handler
        handler.eventLoop.execute { handler.value.consumerTerminated() }
    }
}

/// The body sequence's iterator behind `AsyncThrowingStream(unfolding:)`. Unchecked: the stream
/// has one consumer, which calls `next()` one call at a time (the producer's iterator itself is
/// safe to call from any task; it is just not declared Sendable).
private final class BodyIterator: @unchecked Sendable {
    private let iterator: HTTP1ClientHandler.Producer.AsyncIterator

    init(_ iterator: HTTP1ClientHandler.Producer.AsyncIterator) {
        self.iterator = iterator
    }

    func next() async throws -> [UInt8]? {
        try await iterator.next()
    }
}
