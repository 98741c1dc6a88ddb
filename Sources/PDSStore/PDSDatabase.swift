import ATData
import Foundation
import GRDB

/// The appliance's SQLite database: a GRDB `DatabasePool` (one writer, concurrent readers) over
/// `pds.sqlite` in WAL mode, with versioned migrations. Only the stores of this module touch it:
/// every transaction the server needs is a typed store method.
public final class PDSDatabase: Sendable {
    /// The file name inside the data directory. Litestream replicates exactly this file.
    public static let fileName = "pds.sqlite"

    /// The connections. On disk a `DatabasePool`: writes go through `pool.write`, which serialises
    /// them on one connection, and reads run beside them. In memory (tests) a `DatabaseQueue`.
    let pool: any DatabaseWriter
    /// Path of the database file (the shared in-memory URI for `inMemory()`).
    public let path: String
    /// The shared-cache name of an in-memory database, nil on disk.
    let memoryName: String?
    /// Read-only connections for short reads, beside the pool's readers (nil in memory).
    let readers: ReaderConnections?

    /// Opens (creating if needed) the database in `directory` and runs pending migrations.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        memoryName = nil
        let pool = try DatabasePool(path: path, configuration: Self.configuration())
        // DatabasePool's WAL setup runs *after* prepareDatabase on the writer and sets
        // synchronous=NORMAL (GRDB Database.setUpWALMode). The writer connection lives as long as
        // the pool, so restoring FULL once here covers every write.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        // A database a newer version migrated may hold tables, triggers or meanings this binary
        // does not know (an older binary after a downgrade): refuse it rather than write to it.
        let unknown = try pool.read { db -> Set<String> in
            guard try db.tableExists("grdb_migrations") else { return [] }
            return try Set(String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")).subtracting(Self.migrator.migrations)
        }
        guard unknown.isEmpty else { throw NewerSchema(path: path, migrations: unknown.sorted()) }
        try Self.migrator.migrate(pool)
        self.pool = pool
        let path = self.path
        // One per core, as many as the event loops that run the reads.
        readers = ReaderConnections(limit: max(2, ProcessInfo.processInfo.activeProcessorCount)) {
            try Self.openReadOnlyConnection(path: path, memoryName: nil, label: "pds.reader")
        }
    }

    /// The database was migrated by a newer version of the server.
    public struct NewerSchema: Error, CustomStringConvertible {
        public let path: String
        public let migrations: [String]
        public var description: String {
            "\(path) was upgraded by a newer pds (schema \(migrations.joined(separator: ", "))): run that version, or restore the backup taken before the upgrade"
        }
    }

    /// A fresh, migrated database in memory, for tests. It is a shared-cache database
    /// (https://sqlite.org/sharedcache.html) so that the block source's read-only connection sees
    /// the same data; it lives as long as this object.
    public static func inMemory() throws -> PDSDatabase {
        try PDSDatabase(memoryName: "pds-\(UUID().uuidString)")
    }

    private init(memoryName: String) throws {
        self.memoryName = memoryName
        path = "file:\(memoryName)?mode=memory&cache=shared"
        let queue = try DatabaseQueue(named: memoryName, configuration: Self.configuration())
        try Self.migrator.migrate(queue)
        pool = queue
        readers = nil
    }

    /// A separate read-only connection to the same database, for readers that must not wait for
    /// (or be called from inside) the writer: the repo writer's block source, `getRepo?since=`.
    func openReadOnlyConnection(label: String) throws -> DatabaseQueue {
        try Self.openReadOnlyConnection(path: path, memoryName: memoryName, label: label)
    }

    static func openReadOnlyConnection(path: String, memoryName: String?, label: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        configuration.label = label
        guard let memoryName else { return try DatabaseQueue(path: path, configuration: configuration) }
        // Shared-cache connections lock whole tables; reading uncommitted rows keeps a reader
        // from failing with SQLITE_LOCKED while the writer's transaction is open (tests only).
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA read_uncommitted = 1") }
        return try DatabaseQueue(named: memoryName, configuration: configuration)
    }

    /// Whether the database answers a trivial query (the health check): one cached statement on
    /// a pooled reader, run in place. GRDB's async `read` (a transaction around an uncompiled
    /// statement, on GRDB's own queue and back) cost more than the rest of the request.
    public func isResponding() async -> Bool {
        (try? singleStatementRead { db in try Int.fetchOne(db.cachedStatement(sql: "SELECT 1")) }) == 1
    }

    /// Connection settings shared by the writer and every reader.
    static func configuration() -> Configuration {
        var configuration = Configuration()
        // The writer's GRDB default is to fail at once on SQLITE_BUSY; Litestream's checkpoints take
        // brief write locks, so wait instead (https://litestream.io/tips/#busy-timeout: busy_timeout ≥ 5000 on every connection).
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            // GRDB's WAL setup sets synchronous=NORMAL, which may lose the last transactions on
            // power loss. A write acknowledged to a client (or sent on the firehose) must survive,
            // so every connection runs FULL.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        configuration.label = "pds"
        return configuration
    }

    /// Schema versions. Migrations are append-only: never edit a shipped one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-initial") { db in
            try db.execute(sql: PDSSchema.v1)
        }
        migrator.registerMigration("v2-email-tokens") { db in
            try db.execute(sql: PDSSchema.v2)
        }
        migrator.registerMigration("v3-blob-mirror") { db in
            try db.execute(sql: PDSSchema.v3)
        }
        migrator.registerMigration("v4-block-rowid") { db in
            try db.execute(sql: PDSSchema.v4)
        }
        migrator.registerMigration("v5-login-failures") { db in
            try db.execute(sql: PDSSchema.v5)
        }
        migrator.registerMigration("v6-block-refs") { db in
            try db.execute(sql: PDSSchema.v6)
            try countRecordReferences(db)
        }
        migrator.registerMigration("storage-record-index") { db in
            try db.execute(sql: PDSSchema.storageRecordIndex)
            try compactRecordIndex(db)
            try db.execute(sql: PDSSchema.storageRecordIndexSwap)
        }
        migrator.registerMigration("account-lifecycle-v1") { db in
            try db.execute(sql: PDSSchema.accountLifecycleV1)
        }
        migrator.registerMigration("email-v1") { db in
            try db.execute(sql: PDSSchema.emailV1)
        }
        migrator.registerMigration("oauth-v1") { db in
            try db.execute(sql: OAuthSchema.v1)
        }
        migrator.registerMigration("dashboard-v1") { db in
            try db.execute(sql: PDSSchema.dashboardV1)
        }
        migrator.registerMigration("oauth-v2") { db in
            try db.execute(sql: OAuthSchema.v2)
        }
        migrator.registerMigration("block-export-v1") { db in
            try db.execute(sql: PDSSchema.blockExportV1)
        }
        return migrator
    }

    /// Migration v6: sets `repo_block.refs` of every record block the record index names to the
    /// number of paths holding it (the index stores CIDs as text, the blocks as bytes).
    static func countRecordReferences(_ db: Database) throws {
        let update = try db.makeStatement(sql: "UPDATE repo_block SET refs = ? WHERE cid = ?")
        let rows = try Row.fetchAll(db, sql: "SELECT cid, COUNT(*) AS paths FROM record GROUP BY cid")
        for row in rows {
            guard let cid = try? CID(string: row["cid"]) else { continue }
            try update.execute(arguments: [row["paths"] as Int, Data(cid.bytes)])
        }
    }

    /// Migration storage-record-index: copies the record index into `record_compact` with binary
    /// CIDs. A CID that does not parse could never have been served (every reader skipped it), so
    /// its row is not copied.
    static func compactRecordIndex(_ db: Database) throws {
        let insert = try db.makeStatement(sql: "INSERT INTO record_compact (collection, rkey, cid, repo_rev) VALUES (?, ?, ?, ?)")
        let rows = try Row.fetchCursor(db, sql: "SELECT collection, rkey, cid, repo_rev FROM record ORDER BY collection, rkey")
        while let row = try rows.next() {
            guard let cid = try? CID(string: row["cid"]) else { continue }
            try insert.execute(arguments: [row["collection"] as String, row["rkey"] as String, Data(cid.bytes), row["repo_rev"] as String])
        }
    }

    /// The names of the applied migrations, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Self.migrator.appliedMigrations(db) }
    }
}
