import ATCrypto
import ATData
import ATRepo
import Foundation
import Logging
@testable import PDSAppliance
import PDSCore
@testable import PDSStore
import Testing

/// `pds compact` (issue 16): refuses while the data directory is locked, sweeps unreachable
/// blocks, prunes old events, and leaves a database whose repository verifies.
@Suite struct CompactionTests {
    @Test func compactsAndTheRepositoryStillVerifies() async throws {
        let directory = NSTemporaryDirectory() + "pds-compact-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = K256PrivateKey()
        let did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
        var expected: [String: CID] = [:]
        do {
            let database = try PDSDatabase(directory: directory)
            let writer = try RepoWriter(did: did, key: key, database: database, blobs: try BlobStore(directory: directory + "/blobs"),
                                        logger: Logger(label: "test"))
            try await writer.createRepository(handle: "alice.test")
            for n in 0..<60 {
                let record: DataValue = ["$type": "app.bsky.feed.post", "text": .string("post \(n % 7)"), "createdAt": "2026-11-22T00:00:00.000Z"]
                _ = try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "r\(n)", record: record)])
            }
            for n in 0..<10 {
                let record: DataValue = ["$type": "app.bsky.feed.post", "text": .string("edited \(n)"), "createdAt": "2026-11-22T00:00:00.000Z"]
                _ = try await writer.apply([.update(collection: "app.bsky.feed.post", rkey: "r\(n)", record: record, swap: .any)])
                _ = try await writer.apply([.delete(collection: "app.bsky.feed.post", rkey: "r\(50 + n)", swap: .any)])
            }
            for (path, cid) in try writer.currentTree!.allEntries() { expected[path] = cid }
            // Blocks an older version left behind: nothing reaches them.
            try await database.pool.write { db in
                for n in 0..<5 {
                    let bytes = DAGCBOR.encode(["junk": .integer(Int64(n))])
                    try db.execute(sql: "INSERT INTO repo_block (cid, repo_rev, size, content) VALUES (?, 'old', ?, ?)",
                                   arguments: [Data(CID.dagCBOR(hashing: bytes).bytes), bytes.count, Data(bytes)])
                }
            }
        }

        // Refused while the directory is locked (a running server holds the lock).
        do {
            let lock = try DataDirectoryLock(directory: directory)
            await #expect(throws: Compaction.Failure.self) {
                _ = try await Compaction.run(dataDirectory: directory, retention: .seconds(3600))
            }
            withExtendedLifetime(lock) {}
        }

        // Two hours on, every event is outside a one-hour window.
        let summary = try await Compaction.run(dataDirectory: directory, retention: .seconds(3600), now: Date().addingTimeInterval(7200))
        #expect(summary.sweptBlocks == 5)
        #expect(summary.prunedEvents > 0)
        #expect(summary.inspection.integrity == "ok" && summary.inspection.events == 0)
        #expect(summary.inspection.blocks == summary.inspection.reachableBlocks)
        #expect(summary.bytesAfter < summary.bytesBefore)
        #expect(!FileManager.default.fileExists(atPath: directory + "/pds.sqlite.compact"))

        // The compacted database opens, exports and verifies, with every record.
        let database = try PDSDatabase(directory: directory)
        let store = RepositoryStore(database: database)
        #expect(try store.storedBlockCIDs() == store.reachableBlockCIDs())
        var car: [UInt8] = []
        try store.blockSource().withHeadSnapshot { commit, source in
            try RepoExport.stream(commit: try #require(commit), store: source) { car += $0 }
        }
        var found: [String: CID] = [:]
        try RepoVerifier.verify(car: car, did: did, key: key.publicKey) { path, cid, _ in found[path] = cid }
        #expect(found == expected && found.count == 50)
        // A writer starts from it and commits on top.
        let writer = try RepoWriter(did: did, key: key, database: database, blobs: try BlobStore(directory: directory + "/blobs"),
                                    logger: Logger(label: "test"))
        let record: DataValue = ["$type": "app.bsky.feed.post", "text": "after", "createdAt": "2026-11-22T00:00:00.000Z"]
        _ = try await writer.apply([.create(collection: "app.bsky.feed.post", rkey: "after", record: record)])
        #expect(try store.storedBlockCIDs() == store.reachableBlockCIDs())
    }
}
