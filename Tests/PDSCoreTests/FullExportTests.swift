import ATData
import ATRepo
import ATSyntax
import Foundation
@testable import PDSCore
@testable import PDSStore
import Testing

/// A full `getRepo` streams `repo_block` in storage order when the table holds exactly the live
/// blocks (`repo_block_state.exact`), and walks the MST when it may hold others.
@Suite struct FullExportTests {
    /// The CAR's blocks, each checked to appear once.
    static func blocks(of car: [UInt8]) throws -> (root: CID, cids: [CID]) {
        var cids: [CID] = []
        var reader = try CARReader(bytes: car)
        while let (cid, _) = try reader.next() { cids.append(cid) }
        return (reader.roots[0], cids)
    }

    static func export(_ database: PDSDatabase) throws -> [UInt8] {
        var car: [UInt8] = []
        let exported = try RepositoryStore(database: database).exportRepository(chunkSize: 1024) { car += $0 }
        #expect(exported)
        return car
    }

    static func setExact(_ exact: Bool, _ database: PDSDatabase) throws {
        try database.pool.write { db in try db.execute(sql: "UPDATE repo_block_state SET exact = ?", arguments: [exact]) }
    }

    /// Creates, an update, a delete and two paths holding one record: the export holds every
    /// reachable block once, the commit first, and verifies.
    @Test func storageOrderHoldsEveryLiveBlockOnce() async throws {
        let fixture = try await RepoWriterTests.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        for index in 0..<40 {
            _ = try await fixture.writer.apply([.create(collection: "app.bsky.feed.post", rkey: "r\(index)",
                                                        record: RepoWriterTests.post("text \(index % 7)"))])
        }
        _ = try await fixture.writer.apply([.update(collection: "app.bsky.feed.post", rkey: "r3", record: RepoWriterTests.post("new"), swap: .any)])
        _ = try await fixture.writer.apply([.delete(collection: "app.bsky.feed.post", rkey: "r5", swap: .any)])
        let car = try Self.export(fixture.database)
        let (root, cids) = try Self.blocks(of: car)
        #expect(root == fixture.writer.currentCommit?.cid)
        #expect(cids.first == root)
        #expect(cids.count == Set(cids).count, "a block appears twice")
        #expect(Set(cids) == (try RepositoryStore(database: fixture.database).reachableBlockCIDs()))
        var paths = 0
        try RepoVerifier.verify(car: car, did: fixture.did, key: fixture.key.publicKey) { _, _, _ in paths += 1 }
        #expect(paths == 39)
    }

    /// A database that may hold stale blocks (written before commits deleted what they replaced)
    /// is exported by the walk: a block no commit reaches is not sent.
    @Test func anInexactTableIsExportedByTheWalk() async throws {
        let fixture = try await RepoWriterTests.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        _ = try await fixture.writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a", record: RepoWriterTests.post("a"))])
        let stale = DAGCBOR.encode(RepoWriterTests.post("deleted long ago"))
        let staleCID = CID.dagCBOR(hashing: stale)
        try await fixture.database.pool.write { db in
            try db.execute(sql: "INSERT INTO repo_block (cid, repo_rev, size, content) VALUES (?, '2222222222222', ?, ?)",
                           arguments: [Data(staleCID.bytes), stale.count, Data(stale)])
        }
        try Self.setExact(false, fixture.database)
        let walked = try Self.blocks(of: try Self.export(fixture.database)).cids
        #expect(!walked.contains(staleCID))
        #expect(Set(walked) == (try RepositoryStore(database: fixture.database).reachableBlockCIDs()))
        // Marked exact (as compaction and imports do once they have swept), the table is sent as it lies.
        try Self.setExact(true, fixture.database)
        #expect(try Self.blocks(of: try Self.export(fixture.database)).cids.contains(staleCID))
    }

    /// An imported empty repository whose CAR holds only the commit: its tree's root (the empty
    /// node, which no walk reads) is stored, so the export in storage order still carries it.
    @Test func anImportedEmptyRepositoryExportsItsRoot() async throws {
        let fixture = try await RepoWriterTests.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let clock = TIDClock()
        let commit = try SignedCommit.create(did: fixture.did, data: MST.emptyRootCID, rev: clock.next(after: nil).string, key: fixture.key)
        try FileManager.default.createDirectory(atPath: fixture.directory, withIntermediateDirectories: true)
        let path = fixture.directory + "/empty.car"
        try Data(CARWriter.encode(roots: [commit.cid], blocks: [(commit.cid, commit.bytes)])).write(to: URL(fileURLWithPath: path))
        let key = fixture.key
        _ = try RepositoryStore(database: fixture.database).withWriter { writer in
            try writer.importRepository(carPath: path, did: fixture.did, verifySignature: { _, _ in true },
                                        nextRev: { after in clock.next(after: after.flatMap { try? TID($0) }).string },
                                        sign: { data, rev in try SignedCommit.create(did: fixture.did, data: data, rev: rev, key: key) })
        }
        let car = try Self.export(fixture.database)
        #expect(try Self.blocks(of: car).cids.contains(MST.emptyRootCID))
        var paths = 0
        try RepoVerifier.verify(car: car, did: fixture.did, key: fixture.key.publicKey) { _, _, _ in paths += 1 }
        #expect(paths == 0)
    }

    /// Compaction's sweep leaves only reachable blocks and marks the table exact.
    @Test func theSweepMarksTheTableExact() async throws {
        let fixture = try await RepoWriterTests.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        _ = try await fixture.writer.apply([.create(collection: "app.bsky.feed.post", rkey: "a", record: RepoWriterTests.post("a"))])
        try Self.setExact(false, fixture.database)
        let store = RepositoryStore(database: fixture.database)
        _ = try store.sweepBlocks(keeping: try store.reachableBlockCIDs())
        let exact = try await fixture.database.pool.read { db in try Bool.fetchOne(db, sql: "SELECT exact FROM repo_block_state") }
        #expect(exact == true)
    }
}
