import Foundation
import GRDB

/// The appliance's SQLite database: a GRDB `DatabasePool` (one writer, concurrent readers) over
/// `pds.sqlite` in WAL mode, with versioned migrations.
public final class PDSDatabase: Sendable {
    /// The file name inside the data directory. Litestream replicates exactly this file.
    public static let fileName = "pds.sqlite"

    /// The pool. Writes go through `pool.write`, which serialises them on one connection.
    public let pool: DatabasePool
    /// Path of the database file.
    public let path: String

    /// Opens (creating if needed) the database in `directory` and runs pending migrations.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        pool = try DatabasePool(path: path, configuration: Self.configuration())
        // DatabasePool's WAL setup runs *after* prepareDatabase on the writer and sets
        // synchronous=NORMAL (GRDB Database.setUpWALMode). The writer connection lives as long as
        // the pool, so restoring FULL once here covers every write.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        try Self.migrator.migrate(pool)
    }

    /// Connection settings shared by the writer and every reader.
    static func configuration() -> Configuration {
        var configuration = Configuration()
        // The writer's GRDB default is to fail at once on SQLITE_BUSY; Litestream's checkpoints take
        // brief write locks, so wait instead (INFRA.md §1.2: busy_timeout ≥ 5000 on every connection).
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
        return migrator
    }

    /// The names of the applied migrations, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Self.migrator.appliedMigrations(db) }
    }
}
