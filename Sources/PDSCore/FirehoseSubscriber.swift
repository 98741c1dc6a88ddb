import Synchronization

/// One `subscribeRepos` consumer as the hub sees it: how far it has got, and the two signals the
/// hub can send it ("new events committed" and "you are too slow, go away").
///
/// The subscriber holds no events. Its connection task reads them from the event log by
/// `lastSent`, so a consumer's memory is one page plus the transport's bounded write buffer, and
/// whatever it has not read yet stays in SQLite.
public final class FirehoseSubscriber: Sendable {
    /// Hub-assigned identifier (for the registry and logs).
    public let id: UInt64
    /// The seq of the last event handed to the transport (or the replay start before any).
    let lastSentSeq: Atomic<Int64>
    /// The high-water mark when the subscriber started. Events above it are "live" for the
    /// slow-consumer bound; the replay backlog below it is not counted (the reference PDS: the
    /// reference bounds only the live events buffered while a consumer catches up).
    /// `Int64.max` until the start position is known, which disables the check meanwhile.
    let liveFromSeq: Atomic<Int64>
    let droppedFlag: Atomic<Bool>
    /// Set by the transport once its close frame is queued (see `closeQueued()`).
    let closeQueuedFlag: Atomic<Bool>
    /// The transport's close action, run once by `shutDown()` (see `onShutdown(_:)`); `shutDown`
    /// is true once that was called.
    let shutdownHook = Mutex<(hook: (@Sendable () -> Void)?, shutDown: Bool)>((nil, false))

    /// "Events up to some seq committed": at most one pending wake-up is kept, which is all a
    /// reader-by-seq needs (it re-reads the log from `lastSent` on every wake-up).
    let wakeups: AsyncStream<Void>
    let wakeupContinuation: AsyncStream<Void>.Continuation
    /// Why the hub ends a subscription from outside the connection.
    public enum EndReason: Sendable {
        /// Too far behind (`ConsumerTooSlow`).
        case tooSlow
        /// The hub or the server is stopping.
        case shutdown
    }

    /// Yields once when the hub ends the subscription (the first reason wins). The connection
    /// watches it beside the send loop, so a send stuck on a full socket can still be cancelled.
    public let endSignal: AsyncStream<EndReason>
    let endContinuation: AsyncStream<EndReason>.Continuation

    init(id: UInt64) {
        self.id = id
        lastSentSeq = Atomic(0)
        liveFromSeq = Atomic(.max)
        droppedFlag = Atomic(false)
        closeQueuedFlag = Atomic(false)
        (wakeups, wakeupContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (endSignal, endContinuation) = AsyncStream.makeStream(of: EndReason.self, bufferingPolicy: .bufferingOldest(1))
    }

    /// The seq of the last event handed to the transport.
    public var lastSent: Int64 { lastSentSeq.load(ordering: .acquiring) }

    /// Whether the hub dropped this subscriber as too slow.
    public var wasDropped: Bool { droppedFlag.load(ordering: .acquiring) }

    /// Live events committed but not yet handed to the transport, given the newest committed seq.
    func pending(upTo latest: Int64) -> Int64 {
        let from = max(lastSentSeq.load(ordering: .acquiring), liveFromSeq.load(ordering: .acquiring))
        return from >= latest ? 0 : latest - from
    }

    func wake() { wakeupContinuation.yield() }

    /// Ends the wake-up stream: the connection's send loop returns once it has nothing more to do.
    /// Drops the `onShutdown` hook too (it refers to this subscriber: a cycle until then).
    func finish() {
        shutdownHook.withLock { $0.hook = nil }
        wakeupContinuation.finish()
    }

    /// Marks the subscriber too slow and signals its connection (once).
    func drop() {
        guard !droppedFlag.exchange(true, ordering: .acquiringAndReleasing) else { return }
        endContinuation.yield(.tooSlow)
        endContinuation.finish()
    }

    /// Called by the transport once the connection's close frame is queued: nothing it could
    /// write later can reach the peer before it. Counted by `FirehoseHub.subscribersClosing`,
    /// which shows a shutdown queued every close before the HTTP server's own.
    public func closeQueued() { closeQueuedFlag.store(true, ordering: .releasing) }

    /// Whether `closeQueued()` was called.
    public var isCloseQueued: Bool { closeQueuedFlag.load(ordering: .acquiring) }

    /// Sets what `shutDown()` runs, on its own thread before it returns: the transport queues its
    /// close frame there, so that the frame is ahead of anything a shutdown does afterwards. Runs
    /// `hook` at once if the subscriber was shut down already.
    public func onShutdown(_ hook: @escaping @Sendable () -> Void) {
        let already = shutdownHook.withLock { state -> Bool in
            if state.shutDown { return true }
            state.hook = hook
            return false
        }
        if already { hook() }
    }

    /// Asks the connection to close now (server shutdown), even if a send is stuck: runs the
    /// `onShutdown` hook (once), then signals the connection's task.
    public func shutDown() {
        let hook = shutdownHook.withLock { state in
            state.shutDown = true
            defer { state.hook = nil }
            return state.hook
        }
        hook?()
        endContinuation.yield(.shutdown)
        endContinuation.finish()
        wakeupContinuation.finish()
    }
}
