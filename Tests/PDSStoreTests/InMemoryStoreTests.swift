import ATCrypto
import ATData
import ATRepo
import ATSync
import Foundation
@testable import PDSStore
import Testing

/// Stores on `PDSDatabase.inMemory()`: the event log and a commit, no file on disk.
@Suite struct InMemoryStoreTests {
    static let did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"

    @Test func eventLogAppendsReadsAndPrunes() async throws {
        let database = try PDSDatabase.inMemory()
        let log = EventLogStore(database: database)
        #expect(try await log.highWaterMark() == 0)
        let events: [RepoEvent] = [
            .identity(.init(did: Self.did, handle: "alice.test", time: AccountStore.timestamp())),
            .account(.init(did: Self.did, active: true, status: nil, time: AccountStore.timestamp())),
        ]
        #expect(try log.append(events) == [1, 2])
        #expect(try log.append([events[0]]) == [3])
        #expect(try await log.highWaterMark() == 3)

        let stored = try await log.events(after: 1, limit: 10, maxBytes: 1 << 20)
        #expect(stored.map(\.seq) == [2, 3])
        #expect(try stored.map { try RepoEvent.decode($0.frame) }.map(\.event) == [events[1], events[0]])
        #expect(try RepoEvent.decode(stored[0].frame).seq == 2)

        // Pruning everything keeps the high-water mark: a seq is never reused.
        #expect(try await log.prune(before: Date().addingTimeInterval(60)).removed == 3)
        #expect(try await log.highWaterMark() == 3)
        #expect(try log.append([events[1]]) == [4])
        #expect(try await database.statistics().highWaterMark == 4)
    }

    @Test func aCommitIsStoredWithItsEvent() async throws {
        let database = try PDSDatabase.inMemory()
        let repository = RepositoryStore(database: database)
        let record = DAGCBOR.encode(["$type": "app.bsky.feed.post", "text": "hi"])
        let recordCID = CID.dagCBOR(hashing: record)
        var tree = MST(store: try repository.blockSource())
        _ = try tree.set("app.bsky.feed.post/a", recordCID)
        let (root, nodes) = tree.finalize()
        let commit = try SignedCommit.create(did: Self.did, data: root, rev: "3lbgzkqyyyc2a", key: K256PrivateKey())
        var blocks = nodes
        blocks.set(recordCID, record)
        blocks.set(commit.cid, commit.bytes)
        let write = CommitWrite(
            commit: commit, blocks: blocks,
            records: [RecordChange(collection: "app.bsky.feed.post", rkey: "a", cid: recordCID, blobs: [], replacesRecord: false)],
            events: [.commit(.init(repo: Self.did, commit: commit, since: nil, carSlice: [], ops: [.create("app.bsky.feed.post/a", recordCID)],
                                   prevData: nil, time: AccountStore.timestamp()))])
        let outcome = try repository.withWriter { writer in try writer.store(write, did: Self.did) }
        #expect(outcome.sequenceNumbers == [1])

        #expect(try repository.head()?.cid == commit.cid)
        #expect(try repository.recordCID(collection: "app.bsky.feed.post", rkey: "a") == recordCID)
        // The block source is a connection of its own and sees the committed blocks.
        #expect(try repository.blockSource().block(recordCID) == record)
        var exported: [CID] = []
        try repository.blocks(since: "", commit: { exported.append($0.cid) }) { cid, _ in exported.append(cid) }
        #expect(Set(exported) == Set(blocks.map { $0.0 }))
        #expect(try await database.statistics().records == 1)
        let event = try #require(try await EventLogStore(database: database).events(after: 0, limit: 1, maxBytes: 1 << 20).first)
        guard case .commit(let stored) = try RepoEvent.decode(event.frame).event else { Issue.record("not a commit"); return }
        #expect(stored.commit == commit.cid && stored.rev == "3lbgzkqyyyc2a")
        #expect(await database.isResponding())
    }
}
