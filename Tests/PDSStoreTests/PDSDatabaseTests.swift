import ATData
import Foundation
import GRDB
@testable import PDSStore
import Testing

@Suite struct PDSDatabaseTests {
    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "pds-store-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes a database migrated only up to `migration` (what an older release left behind),
    /// with `seed` run in it, for the migrations after it to upgrade.
    static func makeDatabase(in directory: String, upTo migration: String, seed: (Database) throws -> Void) throws {
        let old = try DatabaseQueue(path: directory + "/" + PDSDatabase.fileName)
        try PDSDatabase.migrator.migrate(old, upTo: migration)
        try old.write(seed)
        try old.close()
    }

    @Test func everyConnectionIsWALFullSyncWithBusyTimeout() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try PDSDatabase(directory: directory)
        let writer = try database.pool.write { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"),
             try Int.fetchOne(db, sql: "PRAGMA busy_timeout"), try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint"))
        }
        #expect(writer.0 == "wal")
        #expect(writer.1 == 2)  // FULL
        #expect((writer.2 ?? 0) >= 5000)
        // SQLite's automatic checkpoint (PASSIVE) stays at its default; nothing else checkpoints.
        #expect(writer.3 == 1000)
        // Readers are separate connections.
        let reader = try database.pool.read { db in
            (try Int.fetchOne(db, sql: "PRAGMA synchronous"), try Int.fetchOne(db, sql: "PRAGMA busy_timeout"))
        }
        #expect(reader.0 == 2)
        #expect((reader.1 ?? 0) >= 5000)
        #expect(FileManager.default.fileExists(atPath: directory + "/pds.sqlite"))
    }

    @Test func migrationsAreVersionedAndIdempotent() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try PDSDatabase(directory: directory)
        let applied = try first.appliedMigrations()
        #expect(applied == ["v1-initial", "v2-email-tokens", "v3-blob-mirror", "v4-block-rowid", "v5-login-failures", "v6-block-refs",
                            "storage-record-index", "account-lifecycle-v1", "email-v1", "oauth-v1", "dashboard-v1", "oauth-v2",
                            "block-export-v1"])
        try first.pool.write { db in
            try db.execute(sql: "INSERT INTO repo_seq (event_type, event, sequenced_at) VALUES ('commit', x'00', '2026')")
        }
        // Reopening keeps data and applies nothing twice.
        let second = try PDSDatabase(directory: directory)
        #expect(try second.appliedMigrations() == applied)
        let count = try second.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM repo_seq") }
        #expect(count == 1)
    }

    /// A database a newer version migrated (a migration this binary does not know) is refused
    /// before anything is written to it; the message names the unknown migration.
    @Test func aDatabaseFromANewerVersionIsRefused() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try PDSDatabase(directory: directory)
        try first.pool.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
        #expect {
            _ = try PDSDatabase(directory: directory)
        } throws: { error in
            (error as? PDSDatabase.NewerSchema)?.migrations == ["v99-from-the-future"]
                && "\(error)".contains("newer pds")
        }
    }

    /// v4 rebuilds `repo_block` as a rowid table: blocks stored before it keep their content and
    /// rev, lookups by CID still work, a duplicate CID is still ignored, and the rev index is back.
    @Test func blockTableRebuildKeepsEveryBlock() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.makeDatabase(in: directory, upTo: "v3-blob-mirror") { db in
            try db.execute(sql: "INSERT INTO repo_block VALUES (x'0171aa', 'rev1', 2, x'a1b2')")
            try db.execute(sql: "INSERT INTO repo_block VALUES (x'0171bb', 'rev2', 1, x'ff')")
        }
        let database = try PDSDatabase(directory: directory)
        #expect(try database.appliedMigrations().contains("storage-record-index"))
        try database.pool.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT hex(cid) AS cid, repo_rev, size, hex(content) AS content FROM repo_block ORDER BY cid")
            #expect(rows.map { $0["cid"] as String } == ["0171AA", "0171BB"])
            #expect(rows.map { $0["repo_rev"] as String } == ["rev1", "rev2"])
            #expect(rows.map { $0["content"] as String } == ["A1B2", "FF"])
            try db.execute(sql: "INSERT OR IGNORE INTO repo_block (cid, repo_rev, size, content) VALUES (x'0171aa', 'rev3', 1, x'00')")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM repo_block") == 2)
            let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT cid FROM repo_block WHERE repo_rev > 'rev1'")
            #expect(plan.contains { ($0["detail"] as String).contains("repo_block_rev") })
        }
    }

    /// v5 counts, for every record block, the paths holding it; other blocks keep a NULL count.
    @Test func recordReferencesAreCountedOnMigration() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shared = CID.dagCBOR(hashing: [0xa0]), single = CID.dagCBOR(hashing: [0xa1, 0x61, 0x61, 0x01])
        let node = CID.dagCBOR(hashing: [0xa1, 0x61, 0x62, 0x02])
        try Self.makeDatabase(in: directory, upTo: "v4-block-rowid") { db in
            for cid in [shared, single, node] {
                try db.execute(sql: "INSERT INTO repo_block (cid, repo_rev, size, content) VALUES (?, 'rev1', 1, x'00')",
                               arguments: [Data(cid.bytes)])
            }
            for (rkey, cid) in [("a", shared), ("b", shared), ("c", single)] {
                try db.execute(sql: "INSERT INTO record (collection, rkey, cid, repo_rev, indexed_at) VALUES ('app.bsky.feed.post', ?, ?, 'rev1', '2026')",
                               arguments: [rkey, cid.string])
            }
        }
        let database = try PDSDatabase(directory: directory)
        let refs = try database.pool.read { db in
            try [shared, single, node].map { try Int?.fetchOne(db, sql: "SELECT refs FROM repo_block WHERE cid = ?", arguments: [Data($0.bytes)]) ?? nil }
        }
        #expect(refs == [2, 1, nil])
    }

    @Test func sequenceNumbersAreNeverReused() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try PDSDatabase(directory: directory)
        let insert = "INSERT INTO repo_seq (event_type, event, sequenced_at) VALUES ('commit', x'00', '2026')"
        let firstTwo: [Int64] = try database.pool.write { db in
            try db.execute(sql: insert)
            let a = db.lastInsertedRowID
            try db.execute(sql: insert)
            let b = db.lastInsertedRowID
            try db.execute(sql: "DELETE FROM repo_seq WHERE seq = ?", arguments: [b])
            return [a, b]
        }
        let next = try database.pool.write { db in
            try db.execute(sql: insert)
            return db.lastInsertedRowID
        }
        #expect(next > firstTwo[1])
    }

    /// storage-record-index: the record index keeps every record with its CID as bytes and its
    /// rev, without `indexed_at`; the readers answer as before, and the read-after-write time is
    /// the rev's TID time.
    @Test func recordIndexMigrationKeepsEveryRecord() throws {
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = CID.dagCBOR(hashing: [0xa0]), second = CID.dagCBOR(hashing: [0xa1, 0x61, 0x61, 0x01])
        // 3jzfcijpj2z2a is a TID of 2023-06-30T15:03:01.887007Z (https://atproto.com/specs/tid: 53 bits of microseconds).
        try Self.makeDatabase(in: directory, upTo: "v6-block-refs") { db in
            for (rkey, cid, rev) in [("3a", first, "3jzfcijpj2z2a"), ("3b", second, "3jzfcijpj2z2b"), ("3c", first, "3jzfcijpj2z2c")] {
                try db.execute(sql: "INSERT INTO record (collection, rkey, cid, repo_rev, indexed_at) VALUES ('app.bsky.feed.post', ?, ?, ?, '2026')",
                               arguments: [rkey, cid.string, rev])
            }
            try db.execute(sql: "INSERT INTO record (collection, rkey, cid, repo_rev, indexed_at) VALUES ('app.bsky.feed.like', 'x', 'not a cid', 'r', '2026')")
            try db.execute(sql: "INSERT INTO repo_block (cid, repo_rev, size, content, refs) VALUES (?, 'r', 1, x'a0', 2)", arguments: [Data(first.bytes)])
        }
        let database = try PDSDatabase(directory: directory)
        let store = RepositoryStore(database: database)
        #expect(try store.recordCID(collection: "app.bsky.feed.post", rkey: "3b") == second)
        #expect(try store.listRecords(collection: "app.bsky.feed.post", limit: 10, cursor: nil, reverse: false).map(\.rkey) == ["3c", "3b", "3a"])
        #expect(try store.listRecords(collection: "app.bsky.feed.post", limit: 10, cursor: nil, reverse: false).map(\.cid) == [first, second, first])
        // The record's bytes come through the join on the binary CID.
        #expect(try store.record(collection: "app.bsky.feed.post", rkey: "3c")?.bytes == [0xa0])
        #expect(try store.record(collection: "app.bsky.feed.post", rkey: "3b") == nil)
        let recent = try store.records(after: "3jzfcijpj2z2a", collections: ["app.bsky.feed.post"])
        #expect(recent.map(\.rkey) == ["3b", "3c"])
        #expect(recent.first?.indexedAt == "2023-06-30T15:03:01.887Z")
        // The unparsable CID could never be served; it is not carried over.
        #expect(try store.collections() == ["app.bsky.feed.post"])
        let columns = try database.pool.read { db in try db.columns(in: "record").map(\.name) }
        #expect(columns == ["collection", "rkey", "cid", "repo_rev"])
        let plan = try database.pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT collection FROM record WHERE repo_rev > 'a' ORDER BY repo_rev")
        }
        #expect(plan.contains { ($0["detail"] as String).contains("record_rev") })
    }
}
