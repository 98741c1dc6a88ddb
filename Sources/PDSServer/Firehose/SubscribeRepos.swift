import ATSync
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import PDSCore
import ServiceLifecycle
import Synchronization

/// `com.atproto.sync.subscribeRepos`: the WebSocket side of the firehose (https://atproto.com/specs/event-stream).
///
/// The upgrade is served by its own small router (`webSocketRouter`) on the same HTTP/1.1 server
/// and port as the XRPC routes; a plain GET of the same path reaches the main router and gets an
/// XRPC error (`addPlainRoute`).
enum SubscribeRepos {
    static let path = "/xrpc/com.atproto.sync.subscribeRepos"

    /// The `cursor` query parameter: absent, or a non-negative integer.
    static func cursor(_ request: Request) throws -> Int64? {
        guard let text = request.uri.queryParameters.get("cursor") else { return nil }
        guard let value = Int64(text), value >= 0 else {
            throw XRPCError.invalidRequest("cursor must be a non-negative integer")
        }
        return value
    }

    /// Non-upgrade requests: 426 with an XRPC error body (https://atproto.com/specs/event-stream: "426 (no Upgrade)"). A malformed
    /// cursor is reported first, as a 400, since upgrading would not help.
    static func addPlainRoute(to router: Router<PDSRequestContext>) {
        router.get(RouterPath(path)) { request, _ -> Response in
            _ = try cursor(request)
            throw XRPCError(.upgradeRequired, "InvalidRequest",
                            "subscribeRepos is an event stream: connect with a WebSocket upgrade (HTTP/1.1)")
        }
    }

    /// The router consulted for upgrade requests. Anything it declines (other paths, a bad cursor)
    /// falls through to the main router as an ordinary request.
    static func webSocketRouter(hub: FirehoseHub) -> Router<FirehoseRequestContext> {
        let router = Router(context: FirehoseRequestContext.self)
        router.ws(RouterPath(path)) { request, _ in
            do {
                _ = try cursor(request)
                return .upgrade([:])
            } catch {
                return .dontUpgrade
            }
        } onUpgrade: { inbound, outbound, context in
            // Checked in shouldUpgrade above; `try?` flattens, so a bad value cannot reach here as nil.
            let cursor = try? cursor(context.request)
            // Alive while the upgrade runs (the event loop holds an open channel); nil only if it
            // already closed, and then there is no one to serve.
            guard let channel = context.requestContext.channel else { return }
            await serve(hub: hub, cursor: cursor, inbound: inbound, outbound: outbound,
                        channel: channel, logger: context.logger)
        }
        return router
    }

    /// How a connection's streaming phase ended.
    enum Outcome: Sendable {
        case streamEnded(FirehoseHub.End)
        case failed(any Error)
        case clientClosed
        case tooSlow
    }

    /// One subscriber connection. Returning lets hummingbird-websocket send the close frame (1000).
    static func serve(hub: FirehoseHub, cursor: Int64?, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
                      channel: any Channel, logger: Logger) async {
        let start: FirehoseHub.Start
        do {
            start = try await hub.subscribe(cursor: cursor)
        } catch {
            logger.error("subscribeRepos: cannot read the event log", metadata: ["error": "\(error)"])
            return
        }
        let subscriber: FirehoseSubscriber
        let outdated: Bool
        switch start {
        case .stopped:
            return
        case .futureCursor:
            await sendFinalFrame(StreamFrame.error(name: "FutureCursor", message: "Cursor in the future.").encode(),
                                 channel: channel, timeout: hub.limits.errorFrameTimeout)
            return
        case .replay(let started, let outdatedCursor):
            subscriber = started
            outdated = outdatedCursor
        }
        defer { hub.unsubscribe(subscriber) }

        let gate = CloseGate(channel: channel)
        subscriber.onShutdown {
            gate.goingAway()
            subscriber.closeQueued()
        }
        let outcome = await race(hub: hub, subscriber: subscriber, outdated: outdated, inbound: inbound, gate: gate)
        switch outcome {
        case .tooSlow:
            await sendFinalFrame(StreamFrame.error(name: "ConsumerTooSlow", message: "Stream consumer too slow").encode(),
                                 channel: channel, timeout: hub.limits.errorFrameTimeout)
        case .streamEnded(.stopped):
            // The hub stopped (the server is going down): 1001 "going away", not 1000 "done". The
            // frame is queued already (the shutdown hook did it through the gate). A peer that
            // does not take it in time (its socket full) does not hold the shutdown: its
            // connection is closed. Otherwise hummingbird-websocket is told the connection is
            // closing, and waits for the peer's answering close.
            guard await gate.closeFrameWritten(within: hub.limits.shutdownCloseTimeout) else {
                channel.close(promise: nil)
                return
            }
            try? await outbound.close(.goingAway, reason: "server shutting down")
        case .failed(let error) where !(error is CancellationError):
            logger.debug("subscribeRepos: stream ended", metadata: ["error": "\(error)"])
        default:
            break
        }
    }

    /// Runs one subscriber until the first of three things ends it: the stream itself (hub
    /// stopped, write failed), the client (close frame or disconnect; its data frames are
    /// ignored), or the hub dropping the consumer. Whichever comes first cancels the others;
    /// cancellation also frees a send that is stuck on a full socket.
    static func race(hub: FirehoseHub, subscriber: FirehoseSubscriber, outdated: Bool,
                     inbound: WebSocketInboundStream, gate: CloseGate) async -> Outcome {
        let channel = gate.channel
        return await withGracefulShutdownHandler {
            await withTaskGroup(of: Outcome.self) { group in
                group.addTask {
                    do {
                        if outdated {
                            // https://atproto.com/specs/sync: `#info` is not persisted and has no seq; then the whole window follows.
                            let info = StreamFrame.info(
                                name: "OutdatedCursor", message: "Requested cursor exceeded limit. Possibly missing events").encode()
                            // Same path as the pages, so it cannot be reordered behind them.
                            try await write([info], to: channel, gate: gate)
                        }
                        return .streamEnded(try await hub.stream(subscriber) { frames in
                            try await write(frames, to: channel, gate: gate)
                        })
                    } catch {
                        return .failed(error)
                    }
                }
                group.addTask {
                    do {
                        for try await _ in inbound {}
                    } catch {}
                    return .clientClosed
                }
                group.addTask {
                    for await reason in subscriber.endSignal {
                        switch reason {
                        case .tooSlow: return .tooSlow
                        case .shutdown: return .streamEnded(.stopped)
                        }
                    }
                    return .streamEnded(.cancelled)
                }
                let first = await group.next() ?? .streamEnded(.cancelled)
                group.cancelAll()
                return first
            }
        } onGracefulShutdown: {
            // The hub normally stopped before the HTTP server began to shut down
            // (`PDSApplicationService`), and the 1001 is queued already. If not (a server run
            // without that wrapper): hummingbird-websocket's own handler, registered before this
            // one, queues a 1000 close from a new task; queuing ours now, straight on the
            // channel, puts it first on the wire most of the time.
            subscriber.shutDown()
        }

    }

    /// Sends an error frame the connection closes after, behind whatever is already queued on
    /// the channel, and waits until the socket has taken it: closing earlier would discard it.
    /// If the peer does not take it within `timeout` (its socket is full), the connection is
    /// closed without it rather than held open.
    static func sendFinalFrame(_ frame: [UInt8], channel: any Channel, timeout: Duration) async {
        let delivered = await succeeds(within: timeout) { try await write([frame], to: channel) }
        if !delivered { channel.close(promise: nil) }
    }

    /// Whether `work` returns (rather than throws) within `timeout`; it is cancelled otherwise.
    static func succeeds(within timeout: Duration, _ work: @escaping @Sendable () async throws -> Void) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await work()
                    return true
                } catch {
                    return false
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Queues `frames` (a page of the event log, or one control frame) as binary WebSocket frames
    /// on the channel's event loop, flushes once, and waits until the last one is written to the
    /// socket. That wait is the backpressure: a consumer whose socket is full keeps the page
    /// pending, its `lastSent` stops moving, and the hub drops it once it is too far behind; at
    /// most one page (`FirehoseHub.Limits`, ≤ 4 MB plus one frame) is buffered per connection.
    /// Cancellation ends the wait without closing the channel, so a final error frame queued
    /// behind the page can still be delivered. Frames written this way and through
    /// hummingbird-websocket's writer (pongs, close) share the channel's one outbound queue, so
    /// their order is the order they were queued in.
    /// Once `gate` has queued the close frame, nothing more is written (RFC 6455 §5.5.1: no data
    /// after a Close).
    static func write(_ frames: [[UInt8]], to channel: any Channel, gate: CloseGate? = nil) async throws {
        let written = channel.eventLoop.makePromise(of: Void.self)
        let waiter = WriteWait(written.futureResult)
        try await withTaskCancellationHandler {
            channel.eventLoop.execute {
                if let gate, gate.isClosing {
                    written.fail(ChannelError.outputClosed)
                    return
                }
                for (index, frame) in frames.enumerated() {
                    let buffer = channel.allocator.buffer(bytes: frame)
                    let isLast = index == frames.count - 1
                    channel.write(WebSocketFrame(fin: true, opcode: .binary, data: buffer), promise: isLast ? written : nil)
                }
                channel.flush()
            }
            try await waiter.wait()
        } onCancel: {
            waiter.cancel()
        }
    }

    /// Waits for a write future, or for cancellation, whichever comes first (an `EventLoopFuture`'s
    /// own `get()` cannot be cancelled, and a stuck write must not hold the connection's task).
    final class WriteWait: Sendable {
        let future: EventLoopFuture<Void>
        let state = Mutex<(continuation: CheckedContinuation<Void, any Error>?, cancelled: Bool)>((nil, false))

        init(_ future: EventLoopFuture<Void>) { self.future = future }

        func wait() async throws {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let alreadyCancelled = state.withLock { state -> Bool in
                    if state.cancelled { return true }
                    state.continuation = continuation
                    return false
                }
                if alreadyCancelled { continuation.resume(throwing: CancellationError()); return }
                future.whenComplete { result in self.resume(with: result) }
            }
        }

        func cancel() {
            let continuation = state.withLock { state in
                state.cancelled = true
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume(throwing: CancellationError())
        }

        private func resume(with result: Result<Void, any Error>) {
            let continuation = state.withLock { state in
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume(with: result)
        }
    }

    /// A subscriber connection's close frame, queued at most once. The check and the write run on
    /// the channel's event loop, where every frame of the connection is queued, so a page can no
    /// longer slip in behind the close.
    final class CloseGate: Sendable {
        let channel: any Channel
        private let closing = Atomic<Bool>(false)
        /// The close frame's write, once queued.
        private let written = Mutex<EventLoopFuture<Void>?>(nil)

        init(channel: any Channel) { self.channel = channel }

        /// Whether the close frame is queued (read on the event loop).
        var isClosing: Bool { closing.load(ordering: .acquiring) }

        /// Whether the close frame queued by `goingAway()` (called before this) reached the socket
        /// within `timeout`.
        func closeFrameWritten(within timeout: Duration) async -> Bool {
            // Asked on the loop, behind `goingAway`'s queued work, so the write is known by then.
            guard let write = try? await channel.eventLoop.submit({ self.written.withLock { $0 } }).get() else { return false }
            return await SubscribeRepos.succeeds(within: timeout) {
                let waiter = WriteWait(write)
                try await withTaskCancellationHandler { try await waiter.wait() } onCancel: { waiter.cancel() }
            }
        }

        /// Queues the 1001 "going away" close frame: it tells relays to come back later with
        /// their cursor (RFC 6455 §7.4.1). Anything queued on the loop after this call goes out
        /// after the frame.
        func goingAway() {
            let channel = channel
            channel.eventLoop.execute { [self] in
                guard !closing.exchange(true, ordering: .acquiringAndReleasing) else { return }
                var payload = channel.allocator.buffer(capacity: 22)
                payload.writeInteger(UInt16(1001))
                payload.writeString("server shutting down")
                let write = channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload))
                written.withLock { $0 = write }
            }
        }
    }
}
