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

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        configuration.label = "pds.blocks"
        queue = try DatabaseQueue(path: path, configuration: configuration)
    }

    public func block(_ cid: CID) throws -> [UInt8]? {
        try queue.read { db in
            try Data.fetchOne(db, sql: "SELECT content FROM repo_block WHERE cid = ?", arguments: [Data(cid.bytes)])
                .map { Array($0) }
        }
    }
}
