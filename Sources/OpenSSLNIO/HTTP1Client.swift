import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

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
