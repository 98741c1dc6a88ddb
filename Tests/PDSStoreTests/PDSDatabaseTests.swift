import Foundation
import GRDB
import Testing
@testable import PDSStore

@Suite struct PDSDatabaseTests {
    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "pds-store-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
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
        #expect(applied == ["v1-initial", "v2-email-tokens", "v3-blob-mirror"])
        try first.pool.write { db in
            try db.execute(sql: "INSERT INTO repo_seq (event_type, event, sequenced_at) VALUES ('commit', x'00', '2026')")
        }
        // Reopening keeps data and applies nothing twice.
        let second = try PDSDatabase(directory: directory)
        #expect(try second.appliedMigrations() == applied)
        let count = try second.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM repo_seq") }
        #expect(count == 1)
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
}
