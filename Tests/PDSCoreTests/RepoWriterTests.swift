import ATCrypto
import ATData
import ATRepo
import Foundation
import GRDB
import Logging
import Testing
@testable import PDSServer
@testable import PDSStore

/// The repo writer against a real SQLite file: commits, swaps, events, atomicity, restart.
@Suite struct RepoWriterTests {
    struct Fixture {
        let directory: String
        let state: PDSServerState
        let writer: RepoWriter
        let did: String
    }

    static func fixture() async throws -> Fixture {
        let directory = NSTemporaryDirectory() + "pds-writer-\(UUID().uuidString)"
        let config = try PDSConfig.load(file: ["PDS_DATA_DIRECTORY": directory], environment: [:], isDevelopment: true)
        let keys = try DevBootstrap.loadKeys(dataDirectory: directory)
        let state = try PDSServerState.open(config: config, keys: keys, logger: Logger(label: "test"))
        let summary = try await DevBootstrap.ensureAccount(state: state, handle: "alice.test", password: "password-1")
        return Fixture(directory: directory, state: state, writer: try state.repoWriter(), did: summary.did)
    }

    static func post(_ text: String) -> DataValue {
        ["$type": "app.bsky.feed.post", "text": .string(text), "createdAt": "2026-11-22T00:00:00.000Z"]
    }

    /// Decoded `#commit` bodies from the event log, in order.
    static func commitEvents(_ state: PDSServerState) throws -> [[String: DataValue]] {
        let frames: [Data] = try state.database.pool.read { db in
            try Data.fetchAll(db, sql: "SELECT event FROM repo_seq WHERE event_type = 'commit' ORDER BY seq")
        }
        return try frames.map { frame in
            let bytes = Array(frame)
            let (_, headerLength) = try DAGCBOR.decodePrefix(bytes[...])
            return try DAGCBOR.decode(bytes[headerLength...]).mapValue!
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
        #expect(commit.commit.verifySignature(with: fixture.state.keys.signingKey.publicKey))
        #expect(commit.commit.did == fixture.did)

        // Genesis + 4 writes; each #commit names the previous rev and data, and its CAR slice
        // alone lets a consumer invert the ops back to prevData (sync 1.1).
        let events = try Self.commitEvents(fixture.state)
        #expect(events.count == 5)
        var previousData: CID?
        var previousRev: String?
        var previousSeq: Int64 = 0
        for event in events {
            let seq = try #require(event["seq"]?.integerValue)
            #expect(seq > previousSeq)
            previousSeq = seq
            let (roots, blocks) = try CARReader.read(try #require(event["blocks"]?.bytesValue))
            let signed = try SignedCommit(bytes: try blocks.requireBlock(roots[0]))
            #expect(event["commit"]?.linkValue == signed.cid)
            #expect(event["rev"]?.stringValue == signed.commit.rev)
            #expect(event["since"]?.stringValue == previousRev)
            #expect(event["rebase"] == false && event["tooBig"] == false && event["blobs"] == [])
            if let previousData {
                #expect(event["prevData"]?.linkValue == previousData)
                let ops = try #require(event["ops"]?.arrayValue).map { op -> RepoOp in
                    let map = op.mapValue!
                    return RepoOp(action: RepoOp.Action(rawValue: map["action"]!.stringValue!)!, path: map["path"]!.stringValue!,
                                  cid: map["cid"]?.linkValue, prev: map["prev"]?.linkValue)
                }
                try CommitProof.verify(ops, root: signed.commit.data, prevData: previousData, blocks: blocks)
            } else {
                #expect(event["prevData"] == nil)
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
            throws: { ($0 as? XRPCError)?.name == "InvalidSwap" }
        await #expect { try await writer.apply([.update(collection: "app.bsky.feed.post", rkey: "a", record: Self.post("x"), swap: .mustNotExist)]) }
            throws: { ($0 as? XRPCError)?.name == "InvalidSwap" }
        let wrong = CID.dagCBOR(hashing: [1])
        await #expect { try await writer.apply([.delete(collection: "app.bsky.feed.post", rkey: "a", swap: .cid(wrong))]) }
            throws: { ($0 as? XRPCError)?.name == "InvalidSwap" }
        await #expect { try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a", record: Self.post("dup"))]) }
            throws: { ($0 as? XRPCError)?.name == "InvalidRequest" }
        let current = try #require(try RepositoryStore(database: fixture.state.database).recordCID(collection: "app.bsky.feed.post", rkey: "a"))
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
        let eventsBefore = try Self.commitEvents(fixture.state).count
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
        #expect(try RepositoryStore(database: fixture.state.database).head()?.cid == head.cid)
        #expect(try Self.commitEvents(fixture.state).count == eventsBefore)
        #expect(try RepositoryStore(database: fixture.state.database).recordCID(collection: "app.bsky.feed.post", rkey: "b") == nil)
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
        let reopened = try RepoWriter(did: fixture.did, key: fixture.state.keys.signingKey, database: fixture.state.database,
                                      blobs: fixture.state.blobs, logger: Logger(label: "test"))
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
        let events = try Self.commitEvents(fixture.state)
        #expect(events.count == 41)
        for (previous, next) in zip(events, events.dropFirst()) {
            let (roots, blocks) = try CARReader.read(try #require(previous["blocks"]?.bytesValue))
            let previousCommit = try SignedCommit(bytes: try blocks.requireBlock(roots[0]))
            #expect(next["since"]?.stringValue == previousCommit.commit.rev)
            #expect(next["prevData"]?.linkValue == previousCommit.commit.data)
        }
    }

    @Test func tooManyWritesAreRefused() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let writes = (0...RepoWriter.maxWrites).map { RecordWrite.create(collection: "app.bsky.feed.like", rkey: "l\($0)", record: ["$type": "app.bsky.feed.like"]) }
        await #expect { try await fixture.writer.apply(writes) } throws: { ($0 as? XRPCError)?.message?.contains("Too many writes") == true }
    }
}
