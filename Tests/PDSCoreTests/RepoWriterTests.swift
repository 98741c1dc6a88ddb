import ATCrypto
import ATData
import ATRepo
import ATSync
import Foundation
import Logging
@testable import PDSCore
@testable import PDSStore
import Testing

/// The repo writer on an in-memory database, without HTTP: commits, swaps, events, atomicity, restart.
@Suite struct RepoWriterTests {
    struct Fixture {
        let directory: String
        let database: PDSDatabase
        let blobs: BlobStore
        let key: K256PrivateKey
        let writer: RepoWriter
        let did: String
    }

    static let did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"

    static func fixture(database: PDSDatabase? = nil, onCommit: @escaping @Sendable ([Int64]) -> Void = { _ in }) async throws -> Fixture {
        let directory = NSTemporaryDirectory() + "pds-writer-\(UUID().uuidString)"
        let database = try database ?? PDSDatabase.inMemory()
        let blobs = try BlobStore(directory: directory + "/blobs")
        let key = K256PrivateKey()
        let writer = try RepoWriter(did: did, key: key, database: database, blobs: blobs, logger: Logger(label: "test"),
                                    onCommit: onCommit)
        try await writer.createRepository(handle: "alice.test")
        return Fixture(directory: directory, database: database, blobs: blobs, key: key, writer: writer, did: did)
    }

    static func post(_ text: String) -> DataValue {
        ["$type": "app.bsky.feed.post", "text": .string(text), "createdAt": "2026-11-22T00:00:00.000Z"]
    }

    /// The `#commit` events of the event log with their seqs, in order.
    static func commitEvents(_ database: PDSDatabase) async throws -> [(seq: Int64, event: RepoEvent.Commit)] {
        let stored = try await EventLogStore(database: database).events(after: 0, limit: 10_000, maxBytes: .max)
        return try stored.compactMap { stored in
            let (seq, event) = try RepoEvent.decode(stored.frame)
            guard case .commit(let commit) = event else { return nil }
            return (seq, commit)
        }
    }

    @Test func commitsAreSignedChainedAndInvertible() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let writer = fixture.writer
        _ = try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a", record: Self.post("one"))])
        _ = try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "b", record: Self.post("two"))])
        _ = try await writer.apply([.update(collection: "app.bsky.feed.post", rkey: "a", record: Self.post("one, edited"), swap: .any)])
        _ = try await writer.apply([.delete(collection: "app.bsky.feed.post", rkey: "b", swap: .any)])

        let commit = try #require(writer.currentCommit)
        #expect(commit.commit.verifySignature(with: fixture.key.publicKey))
        #expect(commit.commit.did == fixture.did)

        // Genesis + 4 writes; each #commit names the previous rev and data, and its CAR slice
        // alone lets a consumer invert the ops back to prevData (sync 1.1).
        let events = try await Self.commitEvents(fixture.database)
        #expect(events.count == 5)
        var previousData: CID?
        var previousRev: String?
        var previousSeq: Int64 = 0
        for (seq, event) in events {
            #expect(seq > previousSeq)
            previousSeq = seq
            let (roots, blocks) = try CARReader.read(event.blocks)
            let signed = try SignedCommit(bytes: try blocks.requireBlock(roots[0]))
            #expect(event.commit == signed.cid)
            #expect(event.rev == signed.commit.rev)
            #expect(event.since == previousRev)
            #expect(!event.rebase && !event.tooBig && event.blobs.isEmpty)
            if let previousData {
                #expect(event.prevData == previousData)
                try CommitProof.verify(event.ops, root: signed.commit.data, prevData: previousData, blocks: blocks)
            } else {
                #expect(event.prevData == nil)
            }
            previousData = signed.commit.data
            previousRev = signed.commit.rev
        }
    }

    @Test func swapsAreEnforced() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let writer = fixture.writer
        let first = try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a", record: Self.post("one"))])
        let staleCommit = try #require(first.commit?.cid)
        _ = try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "b", record: Self.post("two"))])

        await #expect { try await writer.apply([.delete(collection: "app.bsky.feed.post", rkey: "a", swap: .any)], swapCommit: staleCommit) }
            throws: { ($0 as? RepoWriteError) == .invalidCommitSwap(current: writer.currentCommit!.cid) }
        let current = try #require(try RepositoryStore(database: fixture.database).recordCID(collection: "app.bsky.feed.post", rkey: "a"))
        await #expect(throws: RepoWriteError.invalidRecordSwap(current: current)) {
            try await writer.apply([.update(collection: "app.bsky.feed.post", rkey: "a", record: Self.post("x"), swap: .mustNotExist)])
        }
        let wrong = CID.dagCBOR(hashing: [1])
        await #expect(throws: RepoWriteError.invalidRecordSwap(current: current)) {
            try await writer.apply([.delete(collection: "app.bsky.feed.post", rkey: "a", swap: .cid(wrong))])
        }
        await #expect(throws: RepoWriteError.invalidRecordSwap(current: nil)) {
            try await writer.apply([.delete(collection: "app.bsky.feed.post", rkey: "zz", swap: .cid(wrong))])
        }
        await #expect(throws: RepoWriteError.recordExists(uri: "at://\(fixture.did)/app.bsky.feed.post/a")) {
            try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a", record: Self.post("dup"))])
        }
        let swapped = try await writer.apply([.update(collection: "app.bsky.feed.post", rkey: "a", record: Self.post("y"), swap: .cid(current))])
        #expect(swapped.commit != nil)
    }

    @Test func unchangedWritesMakeNoCommit() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let writer = fixture.writer
        _ = try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a", record: Self.post("one"))])
        let before = try #require(writer.currentCommit?.cid)
        let same = try await writer.apply([.update(collection: "app.bsky.feed.post", rkey: "a", record: Self.post("one"), swap: .any)])
        #expect(same.commit == nil && same.results[0].changed == false)
        let missing = try await writer.apply([.delete(collection: "app.bsky.feed.post", rkey: "nope", swap: .any)])
        #expect(missing.commit == nil)
        #expect(writer.currentCommit?.cid == before)
    }

    @Test func aFailedCommitChangesNothing() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let writer = fixture.writer
        _ = try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a", record: Self.post("one"))])
        let head = try #require(writer.currentCommit)
        let eventsBefore = try await Self.commitEvents(fixture.database).count
        // A record referencing a blob that was never uploaded fails inside the transaction,
        // after blocks were inserted: everything must roll back.
        let ghost = CID.raw(hashing: Array("never uploaded".utf8))
        var record = Self.post("with image").mapValue!
        record["embed"] = ["$type": "app.bsky.embed.images", "images": [[
            "alt": "", "image": ["$type": "blob", "ref": .link(ghost), "mimeType": "image/png", "size": 14],
        ]]]
        await #expect(throws: BlobReferenceError.notFound(ghost)) {
            try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "b", record: .map(record))])
        }
        #expect(writer.currentCommit == head)
        #expect(try RepositoryStore(database: fixture.database).head()?.cid == head.cid)
        #expect(try await Self.commitEvents(fixture.database).count == eventsBefore)
        #expect(try RepositoryStore(database: fixture.database).recordCID(collection: "app.bsky.feed.post", rkey: "b") == nil)
        // And the writer still works.
        let next = try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "c", record: Self.post("three"))])
        #expect(next.commit != nil)
    }

    @Test func aRestartedWriterContinuesTheChain() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        for index in 0..<30 {
            _ = try await fixture.writer.apply([.create(collection: "app.bsky.feed.post", rkey: "k\(index)", record: Self.post("\(index)"))])
        }
        let head = try #require(fixture.writer.currentCommit)
        let reopened = try RepoWriter(did: fixture.did, key: fixture.key, database: fixture.database,
                                      blobs: fixture.blobs, logger: Logger(label: "test"))
        #expect(reopened.currentCommit == head)
        let outcome = try await reopened.apply([.delete(collection: "app.bsky.feed.post", rkey: "k7", swap: .any)])
        let rev = try #require(outcome.commit?.rev)
        #expect(rev > head.commit.rev!)
        var tree = try #require(reopened.currentTree)
        #expect(try tree.count() == 29)
        #expect(tree.finalize().root == reopened.currentCommit?.commit.data)
    }

    @Test func concurrentWritesAllLandInOneChain() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let writer = fixture.writer
        // 40 writers at once: every record must be in the final tree, and the events must form
        // one chain (each since/prevData = the previous commit's rev/data), i.e. no write started
        // from a stale tree.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    _ = try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "c\(index)", record: Self.post("\(index)"))])
                }
            }
            try await group.waitForAll()
        }
        var tree = try #require(writer.currentTree)
        #expect(try tree.count() == 40)
        #expect(tree.finalize().root == writer.currentCommit?.commit.data)
        let events = try await Self.commitEvents(fixture.database).map(\.event)
        #expect(events.count == 41)
        for (previous, next) in zip(events, events.dropFirst()) {
            let (roots, blocks) = try CARReader.read(previous.blocks)
            let previousCommit = try SignedCommit(bytes: try blocks.requireBlock(roots[0]))
            #expect(next.since == previousCommit.commit.rev)
            #expect(next.prevData == previousCommit.commit.data)
        }
    }

    @Test func tooManyWritesAreRefused() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let writes = (0...RepoWriter.maxWrites).map { RecordWrite.create(collection: "app.bsky.feed.like", rkey: "l\($0)", record: ["$type": "app.bsky.feed.like"]) }
        await #expect(throws: RepoWriteError.tooManyWrites(max: RepoWriter.maxWrites)) { try await fixture.writer.apply(writes) }
        await #expect(throws: RepoWriteError.noWrites) { try await fixture.writer.apply([]) }
        await #expect(throws: RepoWriteError.invalidCollection("not an nsid")) {
            try await fixture.writer.apply([.create(collection: "not an nsid", rkey: "a", record: Self.post("x"))])
        }
        await #expect(throws: RepoWriteError.invalidRecordKey("a/b")) {
            try await fixture.writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a/b", record: Self.post("x"))])
        }
    }

    @Test func aMissingRepositoryIsRepoNotFound() async throws {
        let directory = NSTemporaryDirectory() + "pds-writer-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = try RepoWriter(did: Self.did, key: K256PrivateKey(), database: try PDSDatabase.inMemory(),
                                    blobs: try BlobStore(directory: directory), logger: Logger(label: "test"))
        #expect(writer.currentCommit == nil)
        await #expect(throws: RepoWriteError.repoNotFound(did: Self.did)) {
            try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a", record: Self.post("x"))])
        }
    }

    @Test func theGenesisSequencesIdentityAccountCommitSync() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let stored = try await EventLogStore(database: fixture.database).events(after: 0, limit: 10, maxBytes: .max)
        let events = try stored.map { try RepoEvent.decode($0.frame) }
        #expect(events.map(\.seq) == [1, 2, 3, 4])
        #expect(events.map(\.event.type) == ["identity", "account", "commit", "sync"])
        guard case .identity(let identity) = events[0].event, case .sync(let sync) = events[3].event else {
            Issue.record("unexpected events"); return
        }
        #expect(identity.handle == "alice.test" && identity.did == fixture.did)
        #expect(sync.rev == fixture.writer.currentCommit?.commit.rev)
    }
}
