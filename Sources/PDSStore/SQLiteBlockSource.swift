import ATData
import ATRepo
import Foundation
import GRDB

/// Repository blocks read from `repo_block` through a dedicated read-only connection.
///
/// The repo writer's in-memory MST loads nodes lazily from here, sometimes while the writer's own
/// transaction is open; a separate connection (its own serial queue) can always be used then, and
/// it only ever needs committed blocks — blocks of the commit being built are still in memory.
public final class SQLiteBlockSource: BlockSource, @unchecked Sendable {
    // @unchecked: DatabaseQueue serialises all access to its connection.
    let queue: DatabaseQueue

    init(database: PDSDatabase) throws {
        queue = try database.openReadOnlyConnection(label: "pds.blocks")
    }

    public func block(_ cid: CID) throws -> [UInt8]? {
        // One statement: its own snapshot, so no transaction wrapper (docs/ARCHITECTURE.md, "Reads").
        try queue.unsafeRead { db in try db.repoBlock(cid.bytes) }
    }

    /// Runs `body` with a block source bound to one read transaction: a consistent snapshot, and
    /// one transaction for a whole repository walk instead of one per block (a full `getRepo`
    /// reads every block; per-block transactions made it several times slower).
    public func withSnapshot<T>(_ body: (any BlockSource) throws -> T) throws -> T {
        try queue.read { db in try body(TransactionBlockSource(db: db)) }
    }

    /// `withSnapshot`, with the repository's current commit as of that snapshot (nil when there is
    /// no repository). Commits delete the blocks they replace, so a walk must start from the
    /// commit its snapshot holds, not from one read earlier.
    public func withHeadSnapshot<T>(_ body: (SignedCommit?, any BlockSource) throws -> T) throws -> T {
        try queue.read { db in
            let source = TransactionBlockSource(db: db)
            return try body(try RepositoryStore.head(in: db, blocks: source), source)
        }
    }
}

/// Blocks read through an open GRDB connection, valid only inside the `read` closure that
/// created it (which is why it is internal and handed out only by `withSnapshot`).
struct TransactionBlockSource: BlockSource, @unchecked Sendable {
    // @unchecked: used synchronously on the connection's own queue, inside one read closure.
    let db: Database

    func block(_ cid: CID) throws -> [UInt8]? {
        try db.repoBlock(cid.bytes)
    }
}
