import Foundation
import Logging
import PDSStore
import Synchronization

/// The firehose's fan-out point: serves `subscribeRepos` consumers from the `repo_seq` event log.
///
/// Design (https://atproto.com/specs/event-stream, the reference PDS):
/// - **SQLite is the only event source.** Each subscriber reads pages of `seq > lastSent` from the
///   log; the hub never carries events, only the signal "events committed up to seq N" that
///   `RepoWriter` raises after a commit's transaction (`committed(_:)`). Replay and live are the
///   same loop, so the hand-over from backfill to live can neither skip nor repeat an event, and
///   nothing reaches a consumer before its transaction committed.
/// - **Bounded memory per consumer.** A page is capped by count and bytes; the transport's writer
///   suspends while the socket is full. A consumer that falls more than
///   `Limits.maxPendingEvents` live events behind is dropped with `ConsumerTooSlow`, without the
///   others noticing (nothing is ever waited on across subscribers).
/// - **Retention.** Events older than the window are pruned (`prune(now:)`); `sqlite_sequence`
///   keeps its high-water mark, so a seq is never reused.
public final class FirehoseHub: Sendable {
    /// Tunables. Defaults follow the reference server where it has one.
    public struct Limits: Sendable {
        /// Events per backlog page (the reference pages its backfill by 500).
        public var pageSize = 500
        /// A page stops after about this many bytes of frames (a `#commit` may be up to ~2 MB).
        public var pageBytes = 4 << 20
        /// Live events a consumer may lag behind before it is dropped (`PDS_MAX_SUBSCRIPTION_BUFFER`,
        /// the reference's default is 500).
        public var maxPendingEvents = 500
        /// How long a dropped or refused consumer gets to take its error frame before the connection
        /// is closed without it.
        public var errorFrameTimeout: Duration = .seconds(10)
        /// How long a shutting-down server waits for a consumer to take its 1001 close frame
        /// before closing the connection without it (a stalled consumer must not hold the exit).
        public var shutdownCloseTimeout: Duration = .seconds(3)

        public init() {}
    }

    /// How a subscription starts.
    public enum Start: Sendable {
        /// Replay events after the subscriber's `lastSent`, then follow live. `outdatedCursor`: the
        /// cursor predates the retention window, so an `#info OutdatedCursor` goes first.
        case replay(FirehoseSubscriber, outdatedCursor: Bool)
        /// The cursor is beyond the newest seq (`FutureCursor`).
        case futureCursor(highWaterMark: Int64)
        /// The hub is shutting down.
        case stopped
    }

    /// Why `stream` returned.
    public enum End: Sendable {
        /// The hub stopped (server shutdown).
        case stopped
        /// The calling task was cancelled.
        case cancelled
    }

    struct State {
        var subscribers: [UInt64: FirehoseSubscriber] = [:]
        var nextID: UInt64 = 1
        /// The newest committed seq the hub has heard of.
        var latest: Int64 = 0
        var stopped = false
        var droppedCount = 0
    }

    let log: EventLogStore
    /// How long events are kept and replayable (`PDS_FIREHOSE_RETENTION_HOURS`).
    public let retention: Duration
    public let limits: Limits
    let logger: Logger
    let state = Mutex(State())

    public init(database: PDSDatabase, retention: Duration, limits: Limits = Limits(), logger: Logger) {
        log = EventLogStore(database: database)
        self.retention = retention
        self.limits = limits
        self.logger = logger
    }

    /// Connected subscribers.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Connected subscribers whose close frame is not queued yet.
    public var subscribersClosing: Int { state.withLock { $0.subscribers.values.count { !$0.isCloseQueued } } }

    /// Subscribers dropped as too slow since the hub started.
    public var droppedCount: Int { state.withLock { $0.droppedCount } }

    /// Each connected subscriber's last sent seq (for diagnostics and tests).
    public var positions: [Int64] { state.withLock { $0.subscribers.values.map(\.lastSent) } }

    /// Whether `stop()` was called.
    public var isStopped: Bool { state.withLock { $0.stopped } }

    /// The start of the retention window at `now`.
    public func cutoff(now: Date = Date()) -> Date {
        let (seconds, attoseconds) = retention.components
        return now.addingTimeInterval(-(Double(seconds) + Double(attoseconds) / 1e18))
    }

    // MARK: Writer side

    /// Called by `RepoWriter` after a transaction that appended events has committed: wakes every
    /// subscriber and drops those too far behind. Cheap and non-blocking (runs on the write path).
    public func committed(_ sequenceNumbers: [Int64]) {
        guard let newest = sequenceNumbers.max() else { return }
        let (subscribers, latest) = state.withLock { state -> ([FirehoseSubscriber], Int64) in
            state.latest = max(state.latest, newest)
            return (Array(state.subscribers.values), state.latest)
        }
        for subscriber in subscribers {
            if subscriber.pending(upTo: latest) > Int64(limits.maxPendingEvents) {
                drop(subscriber)
            } else {
                subscriber.wake()
            }
        }
    }

    func drop(_ subscriber: FirehoseSubscriber) {
        guard !subscriber.wasDropped else { return }
        state.withLock { $0.droppedCount += 1 }
        logger.notice("firehose consumer too slow, dropping", metadata: [
            "subscriber": "\(subscriber.id)", "lastSent": "\(subscriber.lastSent)",
        ])
        subscriber.drop()
    }

    // MARK: Subscriber side

    /// Registers a subscriber and decides where it starts (https://atproto.com/specs/event-stream, cursor semantics):
    /// - no cursor: live only, from the current high-water mark;
    /// - cursor above the high-water mark: `FutureCursor`;
    /// - cursor before the retention window: start at the window's oldest event, flagged outdated
    ///   (cursor 0 means "the whole window" and is not flagged);
    /// - otherwise: replay events with seq > cursor (the reference replays strictly after).
    ///
    /// The subscriber is registered *before* the log is read, so a commit landing in between wakes
    /// it rather than being missed. Call `unsubscribe` when the connection ends.
    public func subscribe(cursor: Int64?, now: Date = Date()) async throws -> Start {
        let subscriber: FirehoseSubscriber? = state.withLock { state in
            guard !state.stopped else { return nil }
            let subscriber = FirehoseSubscriber(id: state.nextID)
            state.nextID += 1
            state.subscribers[subscriber.id] = subscriber
            return subscriber
        }
        guard let subscriber else { return .stopped }
        do {
            let window = try await log.window(since: cutoff(now: now))
            let high = window.highWaterMark
            var start = high
            var outdated = false
            if let cursor {
                guard cursor <= high else {
                    unsubscribe(subscriber)
                    return .futureCursor(highWaterMark: high)
                }
                // Everything up to `floor` is outside the window (pruned or about to be).
                let floor = (window.firstInWindow ?? high + 1) - 1
                if cursor < floor {
                    start = floor
                    outdated = cursor > 0
                } else {
                    start = cursor
                }
            }
            subscriber.lastSentSeq.store(start, ordering: .releasing)
            subscriber.liveFromSeq.store(high, ordering: .releasing)
            state.withLock { $0.latest = max($0.latest, high) }
            return .replay(subscriber, outdatedCursor: outdated)
        } catch {
            unsubscribe(subscriber)
            throw error
        }
    }

    /// Forgets a subscriber (its connection ended).
    public func unsubscribe(_ subscriber: FirehoseSubscriber) {
        state.withLock { _ = $0.subscribers.removeValue(forKey: subscriber.id) }
        subscriber.finish()
    }

    /// Sends the subscriber every event after its `lastSent`, in seq order, then follows new commits
    /// until the hub stops or the task is cancelled. `send` gets a page of complete stored frames
    /// (one page of the log, never empty); when it returns, they count as sent. Handing the
    /// transport a page rather than one frame at a time lets it write the page with one flush:
    /// per-frame writes and flushes were most of a replay's cost. Errors from `send` or the log
    /// end the stream.
    public func stream(_ subscriber: FirehoseSubscriber, send: ([[UInt8]]) async throws -> Void) async throws -> End {
        var wakeups = subscriber.wakeups.makeAsyncIterator()
        while true {
            try Task.checkCancellation()
            let page = try await log.events(after: subscriber.lastSent, limit: limits.pageSize, maxBytes: limits.pageBytes)
            if let last = page.last {
                try await send(page.map(\.frame))
                subscriber.lastSentSeq.store(last.seq, ordering: .releasing)
            }
            // Caught up with everything the hub has heard of: wait for the next commit. A wake-up
            // raised while the page was being read or sent is kept (buffer of one), so none is lost.
            let latest = state.withLock { $0.latest }
            if page.isEmpty || subscriber.lastSent >= latest {
                guard await wakeups.next() != nil else { return Task.isCancelled ? .cancelled : .stopped }
            }
        }
    }

    /// Stops the hub: new subscriptions are refused and every connection is told to close now
    /// (including one whose send is stuck on a full socket), so they end before the server exits.
    public func stop() {
        let subscribers = state.withLock { state -> [FirehoseSubscriber] in
            state.stopped = true
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.shutDown() }
    }

    /// Deletes events older than the retention window, in short batches (`EventLogStore.prune`);
    /// returns how many were removed. `FirehoseService` runs it at start and then on a schedule.
    @discardableResult
    public func prune(now: Date = Date()) async throws -> Int {
        let report = try await log.prune(before: cutoff(now: now))
        if report.removed > 0 {
            logger.info("firehose events pruned", metadata: [
                "count": "\(report.removed)", "batches": "\(report.batches)", "longestBatch": "\(report.longestBatch)",
            ])
        }
        return report.removed
    }
}
