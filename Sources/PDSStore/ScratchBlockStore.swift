import ATData
import ATRepo
import Foundation
import GRDB

/// A throw-away block store in a temporary SQLite file, for checking a repository CAR larger than
/// memory (`pds export --verify`): the blocks go in as the CAR streams past, then a verifier walks
/// the tree reading them back. Nothing here is durable (no journal, no sync); the file is removed
/// when the store is released.
///
/// Memory stays at SQLite's page cache whatever the CAR's size; the disk holds about the CAR's
/// size again until the check ends.
public final class ScratchBlockStore: BlockSource, @unchecked Sendable {
    private let queue: DatabaseQueue
    private let path: String
    private var inserting: Statement?
    public private(set) var count = 0

    /// Creates the file in `directory` (the system's temporary directory by default: `TMPDIR`).
    public init(directory: String = NSTemporaryDirectory()) throws {
        path = (directory.hasSuffix("/") ? directory : directory + "/") + "pds-scratch-\(UUID().uuidString).sqlite"
        var configuration = Configuration()
        // The adds share one transaction across calls (one commit for the whole CAR).
        configuration.allowsUnsafeTransactions = true
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -8192")
        }
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.inDatabase { db in
            try db.execute(sql: "CREATE TABLE block (cid BLOB PRIMARY KEY, content BLOB NOT NULL) WITHOUT ROWID")
        }
    }

    deinit { try? close() }

    /// Ends the store: closes the connection and removes the file. A check that failed part-way
    /// leaves the adding transaction open with its statement alive, so the statement is
    /// finalized and the transaction rolled back first, while GRDB's hooks still exist; left to
    /// the connection, the close failed (statement alive) and SQLite's later rollback called a
    /// hook GRDB had already freed (a crash seen on a tampered export). Throws when the
    /// connection does not close.
    func close() throws {
        try queue.inDatabase { db in
            inserting = nil
            if db.isInsideTransaction { try db.execute(sql: "ROLLBACK") }
        }
        try queue.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Adds a block (one already stored under the same CID is kept: same CID, same bytes).
    /// Blocks are added inside one transaction that the first `block(_:)` ends.
    public func add(_ cid: CID, _ bytes: [UInt8]) throws {
        try queue.inDatabase { db in
            if inserting == nil {
                try db.execute(sql: "BEGIN")
                inserting = try db.makeStatement(sql: "INSERT OR IGNORE INTO block (cid, content) VALUES (?, ?)")
            }
            try inserting!.execute(arguments: [Data(cid.bytes), Data(bytes)])
        }
        count += 1
    }

    public func block(_ cid: CID) throws -> [UInt8]? {
        try queue.inDatabase { db in
            if inserting != nil {
                inserting = nil
                try db.execute(sql: "COMMIT")
            }
            let data = try Data.fetchOne(db.cachedStatement(sql: "SELECT content FROM block WHERE cid = ?"),
                                         arguments: [Data(cid.bytes)])
            return data.map { [UInt8]($0) }
        }
    }
}
