import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Runs the exchanges of one connection, one at a time: reports the connection ready (TCP and
/// TLS up), writes each request, completes its promise with the head, feeds the body to the
/// consumer's stream, gates socket reads on the consumer's demand, runs the exchange's timers,
/// and at the end either hands the connection back (`release`) or closes it.
final class HTTP1ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    typealias Producer = NIOThrowingAsyncSequenceProducer<
        [UInt8], any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, BodyDemand>

    /// One request and what its caller waits on.
    struct Exchange: Sendable {
        let request: HTTP1ClientRequest
        let promise: EventLoopPromise<HTTP1ClientResponse>
        let limits: Limits
    }

    /// An exchange's identity and limits: what is kept once the head is delivered. (Not the
    /// promise: its future holds the response, whose body stream must not be kept alive by the
    /// connection — its release is what tells a consumer that stopped.)
    struct Limits: Sendable {
        let id: UInt64
        let idleTimeout: TimeAmount
        let deadline: NIODeadline
        /// Whether the connection may be kept after this exchange (`Connection: close` otherwise).
        let keepAlive: Bool
    }

    private static let exchangeIDs = Atomic<UInt64>(0)
    static func nextExchangeID() -> UInt64 { exchangeIDs.wrappingAdd(1, ordering: .relaxed).newValue }

    private enum State {
        /// TCP (and TLS) not up yet.
        case connecting
        /// Ready for an exchange (new, or back in the pool).
        case idle
        /// The request is (being) written; no response head yet.
        case awaitingHead(Exchange)
        /// The head was delivered; the body streams to `source`.
        case streaming(Limits, Producer.Source)
        /// Failed or finished for good; the channel is closing.
        case closed
    }

    /// Most bytes written per body write (the next one waits until this one is out).
    static let writeChunk = 64 << 10

    private let isSecure: Bool
    private let bufferedChunks: Int
    private var ready: EventLoopPromise<NIOLoopBound<HTTP1ConnectionHandler>>?
    /// Hands the connection back after an exchange that may be followed by another (the
    /// server's keep-alive limit, when it named one). Nil: close instead.
    var release: ((TimeAmount?) -> Void)?
    private var state: State = .connecting
    private var context: ChannelHandlerContext?
    /// Whether the consumer wants more (reads pass), or a read waits in `pendingRead`.
    private var demand = true
    private var pendingRead = false
    private var lastProgress = NIODeadline.now()
    private var timer: Scheduled<Void>?
    /// The current request went out in full (else the connection cannot be reused).
    private var requestComplete = false
    /// A 1xx head was seen; its `.end` is not the response's.
    private var informational = false
    /// Whether both sides allow keeping the connection, and for how long the server does.
    private var responseKeepAlive = false
    private var serverKeepAlive: TimeAmount?

    init(isSecure: Bool, bufferedChunks: Int, ready: EventLoopPromise<NIOLoopBound<HTTP1ConnectionHandler>>) {
        self.isSecure = isSecure
        self.bufferedChunks = bufferedChunks
        self.ready = ready
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive && !isSecure { becameReady(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        settle(HTTP1ClientError.connectionClosed)
        release = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if !isSecure { becameReady(context: context) }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSHandshakeCompleted { becameReady(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    private func becameReady(context: ChannelHandlerContext) {
        guard case .connecting = state else { return }
        state = .idle
        ready?.succeed(NIOLoopBound(self, eventLoop: context.eventLoop))
        ready = nil
    }

    // MARK: Request

    /// Begins `exchange` (on the loop). A connection that is not idle and open fails it.
    func start(_ exchange: Exchange) {
        guard let context, case .idle = state, context.channel.isActive else {
            exchange.promise.fail(HTTP1ClientError.connectionClosed)
            return
        }
        state = .awaitingHead(exchange)
        demand = true
        requestComplete = false
        informational = false
        responseKeepAlive = false
        serverKeepAlive = nil
        lastProgress = .now()
        armTimer(context: context, limits: exchange.limits)
        sendRequest(exchange, context: context)
    }

    private func sendRequest(_ exchange: Exchange, context: ChannelHandlerContext) {
        let request = exchange.request
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
        if !exchange.limits.keepAlive { head.headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        writeBody(body[...], id: exchange.limits.id, context: context)
    }

    /// Writes `rest` a chunk at a time, each after the previous one reached the socket, so a
    /// large body is never encrypted or queued all at once. Stops when the response head comes.
    private func writeBody(_ rest: ArraySlice<UInt8>, id: UInt64, context: ChannelHandlerContext) {
        guard case .awaitingHead(let exchange) = state, exchange.limits.id == id else { return }
        guard !rest.isEmpty else {
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
            written.futureResult.assumeIsolated().whenSuccess { [self] in
                if currentID == id { requestComplete = true }
            }
            return
        }
        let chunk = rest.prefix(Self.writeChunk)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: chunk)))), promise: written)
        written.futureResult.assumeIsolated().whenSuccess { [self] in
            lastProgress = .now()
            writeBody(rest.dropFirst(chunk.count), id: id, context: context)
        }
    }

    private var currentID: UInt64? {
        switch state {
        case .awaitingHead(let exchange): exchange.limits.id
        case .streaming(let limits, _): limits.id
        default: nil
        }
    }

    // MARK: Response

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastProgress = .now()
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard case .awaitingHead(let exchange) = state else { return }
            if head.status.code >= 100 && head.status.code < 200 && head.status.code != 101 {
                informational = true
                return
            }
            responseKeepAlive = exchange.limits.keepAlive && head.isKeepAlive
            serverKeepAlive = Self.keepAliveTimeout(head.headers["keep-alive"].first)
            let id = exchange.limits.id
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let made = Producer.makeSequence(
                elementType: [UInt8].self, failureType: (any Error).self,
                backPressureStrategy: .init(lowWatermark: max(1, bufferedChunks / 2), highWatermark: bufferedChunks),
                finishOnDeinit: false, delegate: BodyDemand(handler: loopBound, id: id))
            state = .streaming(exchange.limits, made.source)
            let iterator = BodyIterator(made.sequence.makeAsyncIterator())
            let body = AsyncThrowingStream<[UInt8], any Error>(unfolding: { try await iterator.next() })
            let loop = context.eventLoop
            let response = HTTP1ClientResponse(
                status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) }, body: body,
                abandon: { loop.execute { loopBound.value.abandon(id) } })
            exchange.promise.succeed(response)
        case .body(let buffer):
            guard case .streaming(_, let source) = state else { return }
            switch source.yield(Self.bytes(buffer)) {
            case .produceMore: break
            case .stopProducing: demand = false
            case .dropped: fail(context: context, error: nil)
            }
        case .end:
            if informational {
                informational = false
                return
            }
            guard case .streaming(_, let source) = state else { return }
            timer?.cancel()
            timer = nil
            if responseKeepAlive && requestComplete, let release {
                // Back to the pool before the consumer learns of the end, so its next request
                // finds the connection there.
                state = .idle
                demand = true
                if pendingRead {
                    pendingRead = false
                    context.read()
                }
                release(serverKeepAlive)
                source.finish()
            } else {
                state = .closed
                source.finish()
                context.close(promise: nil)
            }
        }
    }

    /// `timeout=N` of a `Keep-Alive` header.
    static func keepAliveTimeout(_ value: String?) -> TimeAmount? {
        guard let value else { return nil }
        for part in value.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.filter { $0 != " " && $0 != "\t" } }
            if pair.count == 2, pair[0].lowercased() == "timeout", let seconds = Int64(pair[1]) { return .seconds(seconds) }
        }
        return nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .connecting = state {
            ready?.fail(error)
            ready = nil
        }
        fail(context: context, error: error)
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
        fail(context: context, error: HTTP1ClientError.connectionClosed)
        context.fireChannelInactive()
    }

    /// Ends the connection: the current exchange's promise or body stream gets `error` (a body
    /// stream without one just ends), a pending `ready` fails, and the channel closes.
    private func fail(context: ChannelHandlerContext, error: (any Error)?) {
        if settle(error) { context.close(promise: nil) }
    }

    /// Completes whatever waits on this connection with `error` and marks it closed; false when
    /// it already was.
    @discardableResult
    private func settle(_ error: (any Error)?) -> Bool {
        let previous = state
        state = .closed
        timer?.cancel()
        timer = nil
        switch previous {
        case .connecting:
            ready?.fail(error ?? HTTP1ClientError.connectionClosed)
            ready = nil
        case .awaitingHead(let exchange):
            exchange.promise.fail(error ?? HTTP1ClientError.connectionClosed)
        case .streaming(_, let source):
            if let error { source.finish(error) } else { source.finish() }
        case .idle:
            break
        case .closed:
            return false
        }
        return true
    }

    /// The caller gave up on exchange `id` (cancelled, or `cancel()` on its response): if it is
    /// still running, the connection closes (its rest cannot be read past).
    func abandon(_ id: UInt64) {
        guard let context, currentID == id else { return }
        fail(context: context, error: CancellationError())
    }

    // MARK: Demand

    func read(context: ChannelHandlerContext) {
        if demand {
            context.read()
        } else {
            pendingRead = true
        }
    }

    /// The consumer of exchange `id` drained the buffer to the low watermark.
    fileprivate func produceMore(_ id: UInt64) {
        guard let context, case .streaming(let limits, _) = state, limits.id == id else { return }
        demand = true
        lastProgress = .now()
        if pendingRead {
            pendingRead = false
            context.read()
        }
    }

    /// The consumer of exchange `id` is gone (stopped iterating, was cancelled, dropped the
    /// stream) or has read everything. Before the end of the body, the connection closes.
    fileprivate func consumerTerminated(_ id: UInt64) {
        guard let context, case .streaming(let limits, _) = state, limits.id == id else { return }
        fail(context: context, error: nil)
    }

    // MARK: Timers

    /// Checks the exchange's limits at the next moment one of them could pass.
    private func armTimer(context: ChannelHandlerContext, limits exchange: Limits) {
        let due = min(lastProgress + exchange.idleTimeout, exchange.deadline)
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            timer = nil
            guard currentID == exchange.id else { return }
            let now = NIODeadline.now()
            let waitingOnPeer: Bool
            switch state {
            case .streaming: waitingOnPeer = demand
            default: waitingOnPeer = true
            }
            if now >= exchange.deadline || (waitingOnPeer && now >= lastProgress + exchange.idleTimeout) {
                fail(context: context, error: HTTP1ClientError.timedOut)
                return
            }
            // A paused consumer is not the server's delay: the idle clock starts again.
            if !waitingOnPeer { lastProgress = now }
            armTimer(context: context, limits: exchange)
        }
    }
}

/// The body stream's demand signals, delivered to the handler on its event loop, naming the
/// exchange they belong to (the connection may have moved on to the next one).
struct BodyDemand: NIOAsyncSequenceProducerDelegate {
    let handler: NIOLoopBound<HTTP1ConnectionHandler>
    let id: UInt64

    func produceMore() {
        let handler = handler, id = id
        handler.eventLoop.execute { handler.value.produceMore(id) }
    }

    func didTerminate() {
        let handler = handler, id = id
        handler.eventLoop.execute { handler.value.consumerTerminated(id) }
    }
}

/// The body sequence's iterator behind `AsyncThrowingStream(unfolding:)`. Unchecked: the stream
/// has one consumer, which calls `next()` one call at a time (the producer's iterator itself is
/// safe to call from any task; it is just not declared Sendable).
private final class BodyIterator: @unchecked Sendable {
    private let iterator: HTTP1ConnectionHandler.Producer.AsyncIterator

    init(_ iterator: HTTP1ConnectionHandler.Producer.AsyncIterator) {
        self.iterator = iterator
    }

    func next() async throws -> [UInt8]? {
        try await iterator.next()
    }
}
