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
    /// Where to connect instead of resolving `host` (tried in order): addresses the caller has
    /// resolved and checked itself (the outbound guard), so no second lookup can answer
    /// differently. `host` still names the server for SNI, the certificate check and `Host`.
    public var connectAddresses: [SocketAddress]?

    public init(method: String = "GET", isSecure: Bool, host: String, port: Int, target: String,
                headers: [(name: String, value: String)] = [], body: [UInt8]? = nil, hostHeader: String? = nil,
                connectAddresses: [SocketAddress]? = nil) {
        self.connectAddresses = connectAddresses
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
    /// stream before the end, the connection is closed. A connection whose response was read to
    /// the end goes back to the pool (the consumer may still be reading the last chunks).
    public var body: AsyncThrowingStream<[UInt8], any Error>
    let abandon: @Sendable () -> Void

    /// Closes the connection without reading the rest of the body (nothing, when the body has
    /// already arrived in full).
    public func cancel() {
        abandon()
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
    /// No pooled connection became free within the connect limit.
    case poolExhausted

    public var description: String {
        switch self {
        case .connectFailed(let reason): "could not connect: \(reason)"
        case .timedOut: "timed out"
        case .connectionClosed: "the connection closed before the response was complete"
        case .poolExhausted: "no connection to the server became free in time"
        }
    }
}

/// How an `HTTP1Client` keeps connections for reuse.
public struct HTTP1PoolConfiguration: Sendable {
    /// Off: `Connection: close` and a new connection for every request.
    public var isEnabled: Bool
    /// Most connections open at once to one server (a pool key: scheme, TLS name, port and the
    /// addresses connected to); further requests wait (within their connect limit) for one.
    public var maxConnectionsPerServer: Int
    /// How long an unused connection is kept (shortened to a second under the server's own
    /// `Keep-Alive: timeout=`).
    public var idleTimeout: TimeAmount

    public init(isEnabled: Bool = true, maxConnectionsPerServer: Int = 8, idleTimeout: TimeAmount = .seconds(45)) {
        self.isEnabled = isEnabled
        self.maxConnectionsPerServer = max(1, maxConnectionsPerServer)
        self.idleTimeout = idleTimeout
    }

    /// One connection per request.
    public static let disabled = HTTP1PoolConfiguration(isEnabled: false)
}

/// HTTP/1.1 client over SwiftNIO, plain or through `OpenSSLHandler` (system OpenSSL), with a
/// keep-alive connection pool (`HTTP1PoolConfiguration`). The response body streams with
/// backpressure: socket reads stop while the consumer has `bufferedChunks` chunks waiting.
///
/// Pooling: a connection goes back to the pool once its response has arrived in full (and the
/// request was written in full, and neither side said `Connection: close`); a consumer that stops
/// early closes it. A GET or HEAD that fails on a reused connection before any answer (the
/// server had closed the idle connection) is sent once more on another. Connections are keyed by
/// scheme, host name (SNI and certificate), port and the addresses they were opened to, so a
/// connection opened to a checked address is never handed to a request that resolved the name
/// otherwise, and the other way round.
///
/// The TLS context (trust store loaded) is made on the first `https` request, so a process that
/// never calls out over TLS does not hold the CA bundle in memory.
public final class HTTP1Client: Sendable {
    private let trustRoots: TLSTrustRoots
    private let tlsContext = Mutex<SSLContext?>(nil)
    private let group: any EventLoopGroup
    /// The group's loops, to tell whether the calling thread is one of them.
    private let loopIDs: Set<ObjectIdentifier>
    /// Body chunks buffered before reads pause.
    public let bufferedChunks: Int
    /// The pool's settings.
    public var poolConfiguration: HTTP1PoolConfiguration { pool.configuration }
    let pool: HTTP1ConnectionPool

    /// - Parameters:
    ///   - trustRoots: the CAs that may sign `https` servers' certificates.
    ///   - bufferedChunks: body chunks (each at most one socket read or TLS record) buffered for
    ///     a lagging consumer before the client stops reading from the socket.
    ///   - pool: connection reuse.
    ///   - group: the event loops to run on.
    public init(trustRoots: TLSTrustRoots = .system, bufferedChunks: Int = 8, pool: HTTP1PoolConfiguration = .init(),
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.trustRoots = trustRoots
        self.bufferedChunks = max(1, bufferedChunks)
        self.group = group
        var ids = Set<ObjectIdentifier>()
        for loop in group.makeIterator() { ids.insert(ObjectIdentifier(loop)) }
        loopIDs = ids
        self.pool = HTTP1ConnectionPool(configuration: pool)
    }

    /// A client with a ready TLS context (so a bad trust root file fails here, not on first use).
    public convenience init(loadedTrustRoots trustRoots: TLSTrustRoots, bufferedChunks: Int = 8, pool: HTTP1PoolConfiguration = .init(),
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws(TLSError) {
        self.init(trustRoots: trustRoots, bufferedChunks: bufferedChunks, pool: pool, group: group)
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

    /// The calling thread's loop when it is one of ours (a request stays on its thread), else
    /// the group's next.
    private func nearbyLoop() -> any EventLoop {
        if let current = MultiThreadedEventLoopGroup.currentEventLoop, loopIDs.contains(ObjectIdentifier(current)) { return current }
        return group.next()
    }

    /// Sends `request` and returns once the response head has arrived.
    ///
    /// Throws `HTTP1ClientError`, or `TLSError` when the TLS handshake fails (including a
    /// certificate that does not verify or does not name `host`). Cancelling the calling task
    /// before the head arrives closes the connection.
    public func execute(_ request: HTTP1ClientRequest, timeouts: HTTP1ClientTimeouts) async throws -> HTTP1ClientResponse {
        let tls = request.isSecure ? try clientContext() : nil
        let deadline = NIODeadline.now() + timeouts.total
        guard pool.configuration.isEnabled else {
            let connection = try await connect(request, tls: tls, timeouts: timeouts, key: nil)
            return try await exchange(request, on: connection, timeouts: timeouts, deadline: deadline, keepAlive: false)
        }
        let key = HTTP1PoolKey(request)
        let idempotent = ["GET", "HEAD"].contains(request.method.uppercased())
        var retried = false
        while true {
            let loop = nearbyLoop()
            let lease = try await pool.acquire(key, near: loop, timeout: timeouts.connect)
            let connection: HTTP1Connection
            let reused: Bool
            switch lease {
            case .reuse(let pooled):
                connection = pooled
                reused = true
            case .connect:
                do {
                    connection = try await connect(request, tls: tls, timeouts: timeouts, key: key, loop: loop)
                } catch {
                    pool.slotFreed(key)
                    throw error
                }
                reused = false
            }
            do {
                return try await exchange(request, on: connection, timeouts: timeouts, deadline: deadline, keepAlive: true)
            } catch where reused && idempotent && !retried && Self.mayBeStale(error) {
                // The server had closed the idle connection (its FIN not seen yet): once more.
                retried = true
            }
        }
    }

    /// Whether an exchange on a reused connection failed as a connection the server had closed
    /// does (rather than by a timeout or cancellation).
    static func mayBeStale(_ error: any Error) -> Bool {
        if error is CancellationError { return false }
        if let failure = error as? HTTP1ClientError { return failure == .connectionClosed }
        return error is IOError || error is ChannelError || error is TLSError
    }

    /// Opens a connection (TCP, then TLS when `tls` is given) to `request`'s server: to each of
    /// its `connectAddresses` in turn, else to its host name resolved by NIO.
    func connect(_ request: HTTP1ClientRequest, tls: SSLContext?, timeouts: HTTP1ClientTimeouts, key: HTTP1PoolKey?,
                 loop: (any EventLoop)? = nil) async throws -> HTTP1Connection {
        let loop = loop ?? nearbyLoop()
        var handshake = OpenSSLHandlerConfiguration()
        handshake.handshakeTimeout = timeouts.idle
        let tlsConfiguration = handshake
        let chunks = bufferedChunks
        let targets: [SocketAddress?] = request.connectAddresses.map { $0.map(Optional.some) } ?? [nil]
        var failure: any Error = HTTP1ClientError.connectFailed("no address to connect to")
        for target in targets {
            let ready = loop.makePromise(of: NIOLoopBound<HTTP1ConnectionHandler>.self)
            let bootstrap = ClientBootstrap(group: loop)
                .connectTimeout(timeouts.connect)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if let tls {
                            try pipeline.addHandler(OpenSSLHandler(client: tls, serverName: request.host, configuration: tlsConfiguration))
                        }
                        try pipeline.addHTTPClientHandlers()
                        try pipeline.addHandler(HTTP1ConnectionHandler(isSecure: tls != nil, bufferedChunks: chunks, ready: ready))
                    }
                }
            let channel: any Channel
            do {
                if let target {
                    channel = try await bootstrap.connect(to: target).get()
                } else {
                    channel = try await bootstrap.connect(host: request.host, port: request.port).get()
                }
            } catch {
                ready.fail(error)
                if case .connectTimeout = error as? ChannelError { failure = HTTP1ClientError.timedOut } else {
                    failure = HTTP1ClientError.connectFailed("\(error)")
                }
                continue
            }
            let handler: NIOLoopBound<HTTP1ConnectionHandler>
            do {
                handler = try await withTaskCancellationHandler {
                    try await ready.futureResult.get()
                } onCancel: {
                    channel.close(promise: nil)
                }
            } catch {
                channel.close(promise: nil)
                throw error
            }
            let connection = HTTP1Connection(channel: channel, handler: handler, key: key)
            if key != nil {
                let pool = pool
                // Before the first exchange starts (inline, or queued ahead of it on the loop).
                let setRelease: @Sendable () -> Void = {
                    handler.value.release = { limit in pool.release(connection, serverLimit: limit) }
                }
                if channel.eventLoop.inEventLoop { setRelease() } else { channel.eventLoop.execute(setRelease) }
                // Its slot is free once it closes, however that happens.
                channel.closeFuture.whenComplete { _ in pool.closed(connection) }
            }
            return connection
        }
        throw failure
    }

    /// Runs one request/response exchange on `connection`.
    private func exchange(_ request: HTTP1ClientRequest, on connection: HTTP1Connection, timeouts: HTTP1ClientTimeouts,
                          deadline: NIODeadline, keepAlive: Bool) async throws -> HTTP1ClientResponse {
        let loop = connection.channel.eventLoop
        let promise = loop.makePromise(of: HTTP1ClientResponse.self)
        let exchange = HTTP1ConnectionHandler.Exchange(request: request, promise: promise, limits: .init(
            id: HTTP1ConnectionHandler.nextExchangeID(), idleTimeout: timeouts.idle, deadline: deadline, keepAlive: keepAlive))
        let id = exchange.limits.id
        let handler = connection.handler
        if loop.inEventLoop {
            handler.value.start(exchange)
        } else {
            loop.execute { handler.value.start(exchange) }
        }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            loop.execute { handler.value.abandon(id) }
        }
    }
}

/// One open connection: its channel and the handler that runs its exchanges.
final class HTTP1Connection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<HTTP1ConnectionHandler>
    /// The pool it belongs to; nil for a one-off connection.
    let key: HTTP1PoolKey?

    init(channel: any Channel, handler: NIOLoopBound<HTTP1ConnectionHandler>, key: HTTP1PoolKey?) {
        self.channel = channel
        self.handler = handler
        self.key = key
    }
}

/// Which requests may share a connection: same scheme, same server name (the TLS name that was
/// verified), same port, and the same connect addresses (none: the name as NIO resolves it).
struct HTTP1PoolKey: Hashable, Sendable {
    let isSecure: Bool
    let host: String
    let port: Int
    let addresses: [String]

    init(_ request: HTTP1ClientRequest) {
        isSecure = request.isSecure
        host = request.host.lowercased()
        port = request.port
        addresses = request.connectAddresses?.map { "\($0)" } ?? []
    }
}

/// The idle connections per key, the number open (or opening) per key, and the requests waiting
/// for a free one.
final class HTTP1ConnectionPool: Sendable {
    enum Lease: Sendable {
        /// An idle connection, now the caller's.
        case reuse(HTTP1Connection)
        /// A slot: the caller opens the connection (and calls `slotFreed` if that fails).
        case connect
    }

    private struct Idle {
        let connection: HTTP1Connection
        /// Which idle period this is (its expiry timer carries the same number).
        let generation: UInt64
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Lease, any Error>
    }

    private struct Entry {
        var idle: [Idle] = []
        var open = 0
        var waiters: [Waiter] = []
        var isUnused: Bool { idle.isEmpty && open == 0 && waiters.isEmpty }
    }

    private struct State {
        var entries: [HTTP1PoolKey: Entry] = [:]
        var counter: UInt64 = 0
    }

    let configuration: HTTP1PoolConfiguration
    private let state = Mutex(State())

    init(configuration: HTTP1PoolConfiguration) {
        self.configuration = configuration
    }

    /// Connections open per key and idle per key, for tests and metrics.
    func counts(_ key: HTTP1PoolKey) -> (open: Int, idle: Int) {
        state.withLock { state in
            let entry = state.entries[key]
            return (entry?.open ?? 0, entry?.idle.count ?? 0)
        }
    }

    /// Every key's counts.
    var totals: (open: Int, idle: Int) {
        state.withLock { state in
            state.entries.values.reduce((0, 0)) { ($0.0 + $1.open, $0.1 + $1.idle.count) }
        }
    }

    /// An idle connection (one on `loop` first), or a slot to open one, or — with every slot
    /// taken — the first of either to come free within `timeout`.
    func acquire(_ key: HTTP1PoolKey, near loop: any EventLoop, timeout: TimeAmount) async throws -> Lease {
        let max = configuration.maxConnectionsPerServer
        if let lease = state.withLock({ Self.take(&$0, key: key, max: max, loop: loop) }) { return lease }
        return try await withCheckedThrowingContinuation { continuation in
            let waiting: UInt64? = state.withLock { state in
                if let lease = Self.take(&state, key: key, max: max, loop: loop) {
                    continuation.resume(returning: lease)
                    return nil
                }
                state.counter += 1
                state.entries[key, default: Entry()].waiters.append(Waiter(id: state.counter, continuation: continuation))
                return state.counter
            }
            guard let waiting else { return }
            loop.scheduleTask(in: timeout) { [self] in
                let expired: Waiter? = state.withLock { state in
                    guard let index = state.entries[key]?.waiters.firstIndex(where: { $0.id == waiting }) else { return nil }
                    return state.entries[key]?.waiters.remove(at: index)
                }
                expired?.continuation.resume(throwing: HTTP1ClientError.poolExhausted)
            }
        }
    }

    private static func take(_ state: inout State, key: HTTP1PoolKey, max: Int, loop: any EventLoop) -> Lease? {
        var entry = state.entries[key] ?? Entry()
        defer { state.entries[key] = entry }
        while !entry.idle.isEmpty {
            let index = entry.idle.lastIndex { $0.connection.channel.eventLoop === loop } ?? entry.idle.count - 1
            let idle = entry.idle.remove(at: index)
            // One that closed is dropped here; its slot is freed by `closed`.
            if idle.connection.channel.isActive { return .reuse(idle.connection) }
        }
        if entry.open < max {
            entry.open += 1
            return .connect
        }
        return nil
    }

    /// `connection` finished an exchange and may be reused; `serverLimit` is the server's
    /// `Keep-Alive: timeout=`.
    func release(_ connection: HTTP1Connection, serverLimit: TimeAmount?) {
        guard let key = connection.key else { return }
        var keep = configuration.idleTimeout
        if let serverLimit { keep = min(keep, serverLimit - .seconds(1)) }
        guard keep > .zero else {
            connection.channel.close(promise: nil)
            return
        }
        enum Next { case waiter(Waiter), idle(UInt64) }
        let next: Next = state.withLock { state in
            if let waiter = state.entries[key]?.waiters.first {
                state.entries[key]?.waiters.removeFirst()
                return .waiter(waiter)
            }
            state.counter += 1
            state.entries[key, default: Entry()].idle.append(Idle(connection: connection, generation: state.counter))
            return .idle(state.counter)
        }
        switch next {
        case .waiter(let waiter):
            waiter.continuation.resume(returning: .reuse(connection))
        case .idle(let generation):
            connection.channel.eventLoop.scheduleTask(in: keep) { [self] in
                let expired = state.withLock { state -> Bool in
                    guard let index = state.entries[key]?.idle.firstIndex(where: { $0.generation == generation }) else { return false }
                    state.entries[key]?.idle.remove(at: index)
                    return true
                }
                if expired { connection.channel.close(promise: nil) }
            }
        }
    }

    /// `connection` closed: its slot is free (for the first waiter, if any).
    func closed(_ connection: HTTP1Connection) {
        guard let key = connection.key else { return }
        freeSlot(key) { $0.idle.removeAll { $0.connection === connection } }
    }

    /// A connection that was to be opened in a slot was not.
    func slotFreed(_ key: HTTP1PoolKey) {
        freeSlot(key) { _ in }
    }

    private func freeSlot(_ key: HTTP1PoolKey, _ adjust: (inout Entry) -> Void) {
        let woken: Waiter? = state.withLock { state in
            guard var entry = state.entries[key] else { return nil }
            adjust(&entry)
            entry.open -= 1
            var woken: Waiter?
            if !entry.waiters.isEmpty {
                woken = entry.waiters.removeFirst()
                entry.open += 1
            }
            state.entries[key] = entry.isUnused ? nil : entry
            return woken
        }
        woken?.continuation.resume(returning: .connect)
    }
}

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
