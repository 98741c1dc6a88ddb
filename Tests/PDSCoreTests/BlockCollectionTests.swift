import ATCrypto
import ATData
import ATRepo
import ATSync
import Foundation
import Logging
@testable import PDSCore
@testable import PDSStore
import Testing

/// Issue 16: each commit deletes, in its own transaction, the blocks the new tree no longer
/// reaches, so the stored blocks are exactly the current commit, its MST nodes and its records.
@Suite struct BlockCollectionTests {
    /// A small deterministic generator (SplitMix64), so a failure can be repeated from its seed.
    struct Generator {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    static func stored(_ database: PDSDatabase) throws -> Set<CID> {
        try RepositoryStore(database: database).storedBlockCIDs()
    }

    static func reachable(_ database: PDSDatabase) throws -> Set<CID> {
        try RepositoryStore(database: database).reachableBlockCIDs()
    }

    /// Random batches of creates, updates and deletes over few paths and fewer distinct records
    /// (identical records under several paths; updates to the same content; a path created and
    /// deleted within one commit). After every commit the stored set equals the reachable set.
    @Test(arguments: [UInt64(1), 2, 3, 16])
    func storedBlocksAreExactlyTheReachableOnes(seed: UInt64) async throws {
        let fixture = try await RepoWriterTests.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let writer = fixture.writer
        var random = Generator(state: seed)
        let collections = ["app.bsky.feed.post", "app.bsky.feed.like"]
        let rkeys = (0..<24).map { "r\($0)" }
        // Four contents only: paths share record CIDs all the time.
        func record() -> DataValue { RepoWriterTests.post("text \(random.next(4))") }
        var present = Set<String>()
        var commits = 0
        for _ in 0..<250 {
            var writes: [RecordWrite] = []
            var touched = Set<String>()
            for _ in 0...random.next(4) {
                let collection = collections[random.next(collections.count)], rkey = rkeys[random.next(rkeys.count)]
                let path = collection + "/" + rkey
                // Each path once per batch, except the occasional create-then-delete.
                if touched.contains(path) { continue }
                touched.insert(path)
                if !present.contains(path) {
                    writes.append(.create(collection: collection, rkey: rkey, record: record()))
                    if random.next(8) == 0 { writes.append(.delete(collection: collection, rkey: rkey, swap: .any)) }
                } else if random.next(2) == 0 {
                    writes.append(.update(collection: collection, rkey: rkey, record: record(), swap: .any))
                } else {
                    writes.append(.delete(collection: collection, rkey: rkey, swap: .any))
                }
            }
            let outcome = try await writer.apply(writes)
            if outcome.commit != nil { commits += 1 }
            for result in outcome.results {
                let path = result.collection + "/" + result.rkey
                if result.cid == nil { present.remove(path) } else { present.insert(path) }
            }
            let stored = try Self.stored(fixture.database), reachable = try Self.reachable(fixture.database)
            #expect(stored == reachable, "seed \(seed) after \(commits) commits: \(stored.subtracting(reachable).count) unreachable stored, \(reachable.subtracting(stored).count) reachable missing")
            if stored != reachable { return }
        }
        #expect(commits > 100)
        #expect(try writer.currentTree?.count() == present.count)
        // And the repository still exports and verifies from what is stored.
        let commit = try #require(writer.currentCommit)
        var car: [UInt8] = []
        try RepositoryStore(database: fixture.database).blockSource().withHeadSnapshot { head, source in
            #expect(head?.cid == commit.cid)
            try RepoExport.stream(commit: commit, store: source) { car += $0 }
        }
        var paths = 0
        try RepoVerifier.verify(car: car, did: fixture.did, key: fixture.key.publicKey) { _, _, _ in paths += 1 }
        #expect(paths == present.count)
    }

    /// A record held by two paths survives the delete of one of them, and goes with the second.
    @Test func aSharedRecordStaysUntilItsLastPathGoes() async throws {
        let fixture = try await RepoWriterTests.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let writer = fixture.writer
        let same = RepoWriterTests.post("same")
        let outcome = try await writer.apply([
            .create(collection: "app.bsky.feed.post", rkey: "a", record: same),
            .create(collection: "app.bsky.feed.post", rkey: "b", record: same),
        ])
        let cid = try #require(outcome.results.first?.cid)
        let store = RepositoryStore(database: fixture.database)
        _ = try await writer.apply([.delete(collection: "app.bsky.feed.post", rkey: "a", swap: .any)])
        #expect(try store.block(cid) != nil)
        _ = try await writer.apply([.update(collection: "app.bsky.feed.post", rkey: "b", record: RepoWriterTests.post("other"), swap: .any)])
        #expect(try store.block(cid) == nil)
        #expect(try Self.stored(fixture.database) == Self.reachable(fixture.database))
    }

    /// A path created and deleted within one commit is no op at all: not a delete of a record
    /// that never was (which would also count down another path's identical record).
    @Test func aCreateUndoneInTheSameCommitIsNoOp() async throws {
        let fixture = try await RepoWriterTests.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let writer = fixture.writer
        let same = RepoWriterTests.post("same")
        _ = try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a", record: same)])
        _ = try await writer.apply([
            .create(collection: "app.bsky.feed.post", rkey: "b", record: same),
            .delete(collection: "app.bsky.feed.post", rkey: "b", swap: .any),
            .create(collection: "app.bsky.feed.post", rkey: "c", record: RepoWriterTests.post("other")),
        ])
        let last = try #require(try await RepoWriterTests.commitEvents(fixture.database).last)
        #expect(last.event.ops.map(\.path) == ["app.bsky.feed.post/c"])
        #expect(try Self.stored(fixture.database) == Self.reachable(fixture.database))
    }

    /// A failed commit deletes nothing: the swap check refuses it after staging.
    @Test func aRefusedCommitKeepsEveryBlock() async throws {
        let fixture = try await RepoWriterTests.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let writer = fixture.writer
        _ = try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a", record: RepoWriterTests.post("one"))])
        let before = try Self.stored(fixture.database)
        // A blob nobody uploaded: the store refuses it inside the commit's transaction, after
        // the new blocks went in and before the replaced ones would go.
        let blob: DataValue = ["$type": "blob", "ref": .link(CID.dagCBOR(hashing: [1, 2, 3])), "mimeType": "image/png", "size": 3]
        let record: DataValue = ["$type": "app.bsky.feed.post", "text": "two", "createdAt": "2026-11-22T00:00:00.000Z",
                  "embed": ["$type": "app.bsky.embed.images", "images": [["image": blob, "alt": ""]]]]
        await #expect(throws: (any Error).self) {
            try await writer.apply([.delete(collection: "app.bsky.feed.post", rkey: "a", swap: .any),
                                    .create(collection: "app.bsky.feed.post", rkey: "b", record: record)])
        }
        #expect(try Self.stored(fixture.database) == before)
    }
}

/// Event pruning runs in short transactions (issue 16: no commit waits long behind a prune): each
/// batch stops at its row limit or once it has held the writer for its time budget.
@Suite struct EventPruningTests {
    static func log(events: Int) throws -> EventLogStore {
        let log = EventLogStore(database: try PDSDatabase.inMemory())
        let event = RepoEvent.identity(.init(did: "did:plc:ewvi7nxzyoun6zhxrhs64oiz", handle: "alice.test", time: "2026-01-01T00:00:00.000Z"))
        for _ in 0..<(events / 100) { _ = try log.append(Array(repeating: event, count: 100)) }
        return log
    }

    @Test func pruneStopsEachBatchAtItsRowLimit() async throws {
        let log = try Self.log(events: 2500)
        let report = try await log.prune(before: Date().addingTimeInterval(60), batchSize: 300, batchBudget: .seconds(3600))
        #expect(report.removed == 2500)
        // 8 full batches and one of 100.
        #expect(report.batches == 9)
        #expect(try await log.highWaterMark() == 2500)
        #expect(try await log.events(after: 0, limit: 10, maxBytes: 1 << 20).isEmpty)
    }

    /// A budget already spent after the first row: every batch deletes one row and commits.
    @Test func pruneStopsEachBatchAtItsTimeBudget() async throws {
        let log = try Self.log(events: 300)
        let report = try await log.prune(before: Date().addingTimeInterval(60), batchSize: 500, batchBudget: .zero)
        #expect(report.removed == 300)
        #expect(report.batches == 300)
        #expect(try await log.highWaterMark() == 300)
    }

    /// Events inside the window stay; a later append continues the numbering.
    @Test func pruneKeepsTheWindowAndTheNumbering() async throws {
        let log = try Self.log(events: 200)
        let cutoff = Date().addingTimeInterval(-3600)
        let report = try await log.prune(before: cutoff)
        #expect(report.removed == 0)
        #expect(try await log.events(after: 0, limit: 500, maxBytes: 1 << 24).count == 200)
        _ = try await log.prune(before: Date().addingTimeInterval(60))
        let event = RepoEvent.identity(.init(did: "did:plc:ewvi7nxzyoun6zhxrhs64oiz", handle: nil, time: "2026-01-01T00:00:00.000Z"))
        #expect(try log.append([event]) == [201])
    }
}
