import NIOCore

/// Limits and timers of one TLS connection.
public struct OpenSSLHandlerConfiguration: Sendable {
    /// How long the peer has to complete the handshake before the connection is closed.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// How long a close waits for close_notify to reach the socket before closing anyway.
    public var closeTimeout: TimeAmount = .seconds(5)
    /// Most plaintext bytes the application may queue before the handshake completes; a write
    /// past this fails with `TLSError.bufferLimitExceeded` and closes the connection.
    public var maxPendingPlaintext: Int = 1 << 20
    /// Most received ciphertext bytes OpenSSL may hold unconsumed (a partial record is at most
    /// ~18 KiB; a peer that makes more pile up is broken or hostile and is disconnected).
    public var maxBufferedCiphertext: Int = 256 << 10

    public init() {}
}

/// Facts about an established TLS connection.
public struct TLSConnectionInfo: Sendable, Equatable {
    /// `TLSv1.2` or `TLSv1.3`.
    public var protocolVersion: String
    /// OpenSSL's name of the cipher suite (e.g. `TLS_AES_128_GCM_SHA256`).
    public var cipher: String?
    /// The agreed ALPN protocol, if any.
    public var alpn: String?
    /// The SNI name the client asked for (server role).
    public var serverName: String?
}

/// The user inbound event fired once the handshake completes.
public struct TLSHandshakeCompleted: Sendable, Equatable {
    public var info: TLSConnectionInfo
}

/// TLS over OpenSSL as a NIO channel handler: ciphertext `ByteBuffer`s from the socket in,
/// plaintext `ByteBuffer`s to the next handler; plaintext writes in, ciphertext to the socket.
///
/// Behaviour, server and client alike:
/// - The handshake starts when the channel is active and must finish within
///   `handshakeTimeout`, or the channel is closed (`TLSError.handshakeTimedOut` is fired).
/// - Writes before the handshake completes are queued, up to `maxPendingPlaintext` bytes.
/// - Every socket read is fed to OpenSSL and decrypted at once, so nothing but one partial record
///   waits inside; plaintext goes on as it is decrypted, and backpressure is the channel's own
///   (this handler issues no reads of its own and passes `read()` through).
/// - `close` sends close_notify, waits until it is written (at most `closeTimeout`) and closes;
///   `close(mode: .output)` sends close_notify and shuts the TCP write side, reading goes on.
/// - A close_notify from the peer ends its writing (RFC 8446 §6.1): with the channel option
///   `allowRemoteHalfClosure` (Hummingbird sets it) the next handlers get
///   `ChannelEvent.inputClosed` and may still answer; otherwise the channel is closed.
/// - Handshake and record failures send OpenSSL's alert, fire the `TLSError` and close.
/// - Server role: an `acme-tls/1` connection (RFC 8737) is closed right after its handshake;
///   the application never sees it.
///
/// Must be used on its channel's event loop only (as every NIO handler).
public final class OpenSSLHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case idle, handshaking, active, closing, closed
    }

    private enum Role {
        case server(TLSServerContexts)
        case client(SSLContext, serverName: String, alpn: [String])
    }

    private let role: Role
    private let configuration: OpenSSLHandlerConfiguration
    private var connection: OpenSSLConnection?
    private var state: State = .idle
    private var pendingWrites: [(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)] = []
    private var pendingBytes = 0
    private var flushAfterHandshake = false
    /// The peer sent close_notify: nothing more is read.
    private var inputClosed = false
    /// We sent close_notify on `close(mode: .output)`: nothing more is written.
    private var outputClosed = false
    private var handshakeTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?
    private var closePromises: [EventLoopPromise<Void>] = []
    /// Set once the handshake completes.
    public private(set) var connectionInfo: TLSConnectionInfo?
    /// The peer's leaf certificate, set once the handshake completes (client role; servers do
    /// not ask for client certificates).
    public private(set) var peerCertificate: TLSCertificate?

    /// A server handler on the contexts loaded now (SNI picks among them).
    public convenience init(server store: TLSContextStore, configuration: OpenSSLHandlerConfiguration = .init()) {
        self.init(server: store.current, configuration: configuration)
    }

    /// A server handler on `contexts`.
    public init(server contexts: TLSServerContexts, configuration: OpenSSLHandlerConfiguration = .init()) {
        role = .server(contexts)
        self.configuration = configuration
    }

    /// A client handler connecting to `serverName` (DNS name or IP literal, verified against the
    /// certificate), offering `alpn`.
    public init(client context: SSLContext, serverName: String, alpn: [String] = ["http/1.1"],
                configuration: OpenSSLHandlerConfiguration = .init()) {
        precondition(!context.isServer, "a client handler needs a client context")
        role = .client(context, serverName: serverName, alpn: alpn)
        self.configuration = configuration
    }

    // MARK: - Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        do {
            switch role {
            case .server(let contexts): connection = try OpenSSLConnection(server: contexts)
            case .client(let ssl, let serverName, let alpn):
                connection = try OpenSSLConnection(client: ssl, serverName: serverName, alpn: alpn)
            }
        } catch {
            state = .closed
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        if context.channel.isActive { startHandshake(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        failPendingWrites(TLSError.closed)
        connection = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        startHandshake(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        cancelTimers()
        failPendingWrites(TLSError.closed)
        let promises = closePromises
        closePromises = []
        promises.forEach { $0.succeed() }
        context.fireChannelInactive()
    }

    private func startHandshake(context: ChannelHandlerContext) {
        guard state == .idle, connection != nil else { return }
        state = .handshaking
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.handshakeTimeout) { [self] in
            guard state == .handshaking else { return }
            fail(TLSError.handshakeTimedOut, context: context)
        }
        // A client speaks first; a server waits for the ClientHello.
        if case .client = role { advanceHandshake(context: context) }
    }

    // MARK: - Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let connection else { return }
        switch state {
        case .handshaking, .active: break
        case .idle, .closing, .closed: return // nothing more is read once we are closing
        }
        if inputClosed { return }
        connection.feed(buffer)
        if state == .handshaking { advanceHandshake(context: context) }
        if state == .active { decryptAvailable(context: context) }
        if state != .closed, let connection = self.connection, connection.bufferedCiphertext > configuration.maxBufferedCiphertext {
            fail(TLSError.bufferLimitExceeded(limit: configuration.maxBufferedCiphertext), context: context)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
    }

    private func advanceHandshake(context: ChannelHandlerContext) {
        guard let connection else { return }
        switch connection.handshake() {
        case .wantRead:
            writeCiphertext(context: context, promise: nil, flush: true)
        case .failed(let details):
            fail(TLSError.handshakeFailed(details), context: context)
        case .complete:
            handshakeTimer?.cancel()
            handshakeTimer = nil
            state = .active
            let info = TLSConnectionInfo(protocolVersion: connection.protocolVersion, cipher: connection.cipherName,
                                         alpn: connection.negotiatedALPN, serverName: connection.requestedServerName)
            connectionInfo = info
            if !connection.isServer { peerCertificate = connection.peerCertificate }
            writeCiphertext(context: context, promise: nil, flush: true)
            if connection.isServer && connection.isACMEChallenge {
                // RFC 8737 §3: nothing else happens on a validation connection.
                startClose(context: context, promise: nil)
                return
            }
            context.fireUserInboundEventTriggered(TLSHandshakeCompleted(info: info))
            flushPendingWrites(context: context)
        }
    }

    /// Decrypts everything fed so far and passes the plaintext on.
    private func decryptAvailable(context: ChannelHandlerContext) {
        var delivered = false
        while state == .active, let connection {
            var plaintext = context.channel.allocator.buffer(capacity: 0)
            let result = connection.read(into: &plaintext)
            switch result {
            case .data:
                delivered = true
                context.fireChannelRead(wrapInboundOut(plaintext))
            case .wantRead:
                // TLS 1.3 servers send session tickets after the handshake and OpenSSL may
                // answer key updates: whatever it wrote goes out now.
                writeCiphertext(context: context, promise: nil, flush: true)
                if delivered { context.fireChannelReadComplete() }
                return
            case .closeNotify:
                if delivered { context.fireChannelReadComplete() }
                peerClosed(context: context)
                return
            case .failed(let details):
                if delivered { context.fireChannelReadComplete() }
                fail(TLSError.protocolError(details), context: context)
                return
            }
        }
    }

    // MARK: - Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        switch state {
        case .idle, .handshaking:
            pendingBytes += buffer.readableBytes
            guard pendingBytes <= configuration.maxPendingPlaintext else {
                let error = TLSError.bufferLimitExceeded(limit: configuration.maxPendingPlaintext)
                promise?.fail(error)
                fail(error, context: context)
                return
            }
            pendingWrites.append((buffer, promise))
        case .active where !outputClosed:
            encrypt(buffer, context: context, promise: promise)
        case .active, .closing, .closed:
            promise?.fail(TLSError.closed)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch state {
        case .idle, .handshaking: flushAfterHandshake = true
        case .active, .closing: context.flush()
        case .closed: break
        }
    }

    private func encrypt(_ buffer: ByteBuffer, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard let connection else {
            promise?.fail(TLSError.closed)
            return
        }
        if let details = connection.write(buffer) {
            promise?.fail(TLSError.protocolError(details))
            fail(TLSError.protocolError(details), context: context)
            return
        }
        writeCiphertext(context: context, promise: promise, flush: false)
    }

    private func flushPendingWrites(context: ChannelHandlerContext) {
        let writes = pendingWrites
        pendingWrites = []
        pendingBytes = 0
        for write in writes {
            guard state == .active else {
                write.promise?.fail(TLSError.closed)
                continue
            }
            encrypt(write.buffer, context: context, promise: write.promise)
        }
        if flushAfterHandshake, state == .active {
            flushAfterHandshake = false
            context.flush()
        }
    }

    /// Sends what OpenSSL wrote into its output BIO. `promise` completes when it is written (at
    /// once when there is nothing to write).
    private func writeCiphertext(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?, flush: Bool) {
        guard let connection, connection.pendingCiphertext > 0 else {
            promise?.succeed()
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: connection.pendingCiphertext)
        connection.drainCiphertext(into: &buffer)
        context.write(wrapOutboundOut(buffer), promise: promise)
        if flush { context.flush() }
    }

    // MARK: - Closing

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch (mode, state) {
        case (.input, _):
            context.close(mode: mode, promise: promise)
        case (_, .closed):
            context.close(mode: mode, promise: promise)
        case (.output, .active):
            guard !inputClosed else {
                // Both directions are done.
                startClose(context: context, promise: promise)
                return
            }
            // Half-close: close_notify, then shut the TCP write side; reading goes on.
            guard !outputClosed else {
                promise?.succeed()
                return
            }
            outputClosed = true
            connection?.shutdown()
            let written = context.eventLoop.makePromise(of: Void.self)
            writeCiphertext(context: context, promise: written, flush: true)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(mode: .output, promise: promise) }
        default:
            startClose(context: context, promise: promise)
        }
    }

    /// The peer's close_notify: half-close when the channel allows it, else close.
    private func peerClosed(context: ChannelHandlerContext) {
        let halfClosure = (try? context.channel.syncOptions?.getOption(ChannelOptions.allowRemoteHalfClosure)) ?? false
        guard halfClosure, !outputClosed else {
            startClose(context: context, promise: nil)
            return
        }
        inputClosed = true
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    /// Sends close_notify (when there was a handshake), then closes once it is written.
    private func startClose(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        if let promise { closePromises.append(promise) }
        guard state != .closing, state != .closed else { return }
        let wasActive = state == .active && !outputClosed
        state = .closing
        handshakeTimer?.cancel()
        handshakeTimer = nil
        failPendingWrites(TLSError.closed)
        if wasActive { connection?.shutdown() }
        closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.closeTimeout) {
            context.close(promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        writeCiphertext(context: context, promise: written, flush: true)
        written.futureResult.assumeIsolated().whenComplete { [self] _ in
            closeTimer?.cancel()
            closeTimer = nil
            context.close(promise: nil)
        }
    }

    /// Reports `error` and closes, sending any alert OpenSSL queued first.
    private func fail(_ error: TLSError, context: ChannelHandlerContext) {
        guard state != .closing, state != .closed else { return }
        context.fireErrorCaught(error)
        // An alert, if OpenSSL produced one, still goes out; no close_notify after a failure.
        state = .closing
        handshakeTimer?.cancel()
        handshakeTimer = nil
        failPendingWrites(error)
        let written = context.eventLoop.makePromise(of: Void.self)
        writeCiphertext(context: context, promise: written, flush: true)
        closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.closeTimeout) {
            context.close(promise: nil)
        }
        written.futureResult.assumeIsolated().whenComplete { [self] _ in
            closeTimer?.cancel()
            closeTimer = nil
            context.close(promise: nil)
        }
    }

    private func failPendingWrites(_ error: any Error) {
        let writes = pendingWrites
        pendingWrites = []
        pendingBytes = 0
        writes.forEach { $0.promise?.fail(error) }
    }

    private func cancelTimers() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        closeTimer?.cancel()
        closeTimer = nil
    }
}

@available(*, unavailable)
extension OpenSSLHandler: Sendable {}
