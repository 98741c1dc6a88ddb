import ATData
import ATSync
import Foundation
import Logging
@testable import PDSCore
@testable import PDSStore
import Synchronization
import Testing

/// The firehose hub without a socket: subscriptions read the event log that the repo writer fills.
@Suite struct FirehoseHubTests {
    static func hub(_ database: PDSDatabase, maxPending: Int = 500) -> FirehoseHub {
        var limits = FirehoseHub.Limits()
        limits.maxPendingEvents = maxPending
        return FirehoseHub(database: database, retention: .seconds(3600), limits: limits, logger: Logger(label: "test"))
    }

    /// Streams `subscriber` until `count` events arrived, decoded.
    static func collect(_ hub: FirehoseHub, _ subscriber: FirehoseSubscriber, count: Int) async throws -> [(seq: Int64, event: RepoEvent)] {
        let received = Mutex<[(seq: Int64, event: RepoEvent)]>([])
        let task = Task {
            try await hub.stream(subscriber) { frames in
                let decoded = try frames.map { try RepoEvent.decode($0) }
                let total = received.withLock { $0.append(contentsOf: decoded); return $0.count }
                if total >= count { throw CancellationError() }
            }
        }
        _ = try? await task.value
        return received.withLock { $0 }
    }

    @Test func replayFromCursorThenLive() async throws {
        let database = try PDSDatabase.inMemory()
        let hub = Self.hub(database)
        let fixture = try await RepoWriterTests.fixture(database: database, onCommit: { hub.committed($0) })
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        // Genesis: 4 events. A subscriber from cursor 2 replays 3 and 4, then gets the live commit.
        guard case .replay(let subscriber, let outdated) = try await hub.subscribe(cursor: 2) else {
            Issue.record("not a replay"); return
        }
        #expect(!outdated && hub.subscriberCount == 1)
        let live = Task {
            try await Task.sleep(for: .milliseconds(50))
            _ = try await fixture.writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a", record: RepoWriterTests.post("hi"))])
        }
        let events = try await Self.collect(hub, subscriber, count: 3)
        try await live.value
        #expect(events.map(\.seq) == [3, 4, 5])
        #expect(events.map(\.event.type) == ["commit", "sync", "commit"])
        guard case .commit(let commit) = events[2].event else { Issue.record("not a commit"); return }
        #expect(commit.ops.map(\.path) == ["app.bsky.feed.post/a"])
        #expect(commit.commit == fixture.writer.currentCommit?.cid)
        hub.unsubscribe(subscriber)
        #expect(hub.subscriberCount == 0)
    }

    @Test func futureCursorAndStop() async throws {
        let database = try PDSDatabase.inMemory()
        let hub = Self.hub(database)
        _ = try EventLogStore(database: database).append([.identity(.init(did: RepoWriterTests.did, handle: nil, time: "2026"))])
        guard case .futureCursor(let high) = try await hub.subscribe(cursor: 9) else { Issue.record("not FutureCursor"); return }
        #expect(high == 1)
        // Live only: starts at the high-water mark, so the existing event is not replayed.
        guard case .replay(let subscriber, _) = try await hub.subscribe(cursor: nil) else { Issue.record("not a replay"); return }
        #expect(subscriber.lastSent == 1)
        let streaming = Task { try await hub.stream(subscriber) { _ in } }
        hub.stop()
        #expect(try await streaming.value == .stopped)
        guard case .stopped = try await hub.subscribe(cursor: nil) else { Issue.record("a stopped hub subscribed"); return }
    }

    @Test func aConsumerTooFarBehindIsDropped() async throws {
        let database = try PDSDatabase.inMemory()
        let hub = Self.hub(database, maxPending: 2)
        guard case .replay(let slow, _) = try await hub.subscribe(cursor: nil) else { Issue.record("not a replay"); return }
        let log = EventLogStore(database: database)
        for _ in 0..<3 {
            hub.committed(try log.append([.identity(.init(did: RepoWriterTests.did, handle: nil, time: "2026"))]))
        }
        #expect(slow.wasDropped && hub.droppedCount == 1)
        var signals = slow.endSignal.makeAsyncIterator()
        #expect(await signals.next() == .tooSlow)
    }

    /// The transport's close hook runs once, before `stop()` returns; one set after the stop runs
    /// at once; an unsubscribed subscriber lets go of its hook (which refers to it).
    @Test func shutdownHooksRunOnceAndAreReleased() async throws {
        let database = try PDSDatabase.inMemory()
        let hub = Self.hub(database)
        guard case .replay(let stopped, _) = try await hub.subscribe(cursor: nil),
              case .replay(let gone, _) = try await hub.subscribe(cursor: nil)
        else { Issue.record("not a replay"); return }
        let runs = Mutex(0)
        stopped.onShutdown {
            runs.withLock { $0 += 1 }
            stopped.closeQueued()
        }
        weak var released: FirehoseSubscriber?
        do {
            guard case .replay(let leaving, _) = try await hub.subscribe(cursor: nil) else { Issue.record("not a replay"); return }
            leaving.onShutdown { _ = leaving.id }
            released = leaving
            hub.unsubscribe(leaving)
        }
        #expect(released == nil, "the hook kept its subscriber alive")
        #expect(hub.subscribersClosing == 2)
        hub.stop()
        #expect(runs.withLock { $0 } == 1)
        #expect(hub.subscribersClosing == 1, "only the subscriber with a hook queued its close")
        hub.stop()
        #expect(runs.withLock { $0 } == 1)
        let late = Mutex(false)
        gone.onShutdown { late.withLock { $0 = true } }
        #expect(late.withLock { $0 })
    }
}
