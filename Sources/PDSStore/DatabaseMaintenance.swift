import ATData
import ATRepo
import Foundation
import GRDB

/// How much of the database file is in use (for `pds compact` and the storage benchmark).
public struct DatabaseSpace: Sendable, Equatable {
    public var pageSize: Int64
    public var pageCount: Int64
    /// Pages on the freelist: free space inside the file that SQLite reuses for new data.
    public var freePages: Int64
    /// Bytes per table and index (`dbstat`), when SQLite was built with it.
    public var objects: [String: Int64]
    /// Bytes of those pages that hold data (`dbstat`'s payload: keys, rows, overflow), per table
    /// and index; the rest of `objects` is headers and unused space (half-empty pages).
    public var payload: [String: Int64] = [:]

    /// The file's size in pages.
    public var fileBytes: Int64 { pageSize * pageCount }
    /// What a `VACUUM` would keep, roughly: the pages in use.
    public var usedBytes: Int64 { pageSize * (pageCount - freePages) }
}

extension PDSDatabase {
    /// Page counts and the space per table, read in one snapshot.
    public func space() throws -> DatabaseSpace {
        try pool.read { db in try Self.space(db) }
    }

    static func space(_ db: Database) throws -> DatabaseSpace {
        let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
        let pageCount = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
        let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
        var objects: [String: Int64] = [:], payload: [String: Int64] = [:]
        if let rows = try? Row.fetchAll(db, sql: "SELECT name, SUM(pgsize) AS bytes, SUM(payload) AS payload FROM dbstat GROUP BY name") {
            for row in rows {
                objects[row["name"]] = row["bytes"]
                payload[row["name"]] = row["payload"]
            }
        }
        return DatabaseSpace(pageSize: pageSize, pageCount: pageCount, freePages: free, objects: objects, payload: payload)
    }

    /// Closes every connection of the pool. On disk, the last connection to close checkpoints
    /// the WAL into the file and deletes it. Nothing may use the database afterwards.
    public func close() throws {
        readers?.close()
        try pool.close()
    }

    /// Offline only (`pds compact`, benchmarks on a copy): copies the whole WAL into the file and
    /// truncates it. Never called by the server (docs/BACKUP.md: Litestream does the checkpoints).
    /// Returns false when a reader (e.g. a running Litestream) kept it from completing.
    public func checkpointTruncatingOffline() throws -> Bool {
        try pool.writeWithoutTransaction { db in
            let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            return (row?[0] as Int?) == 0
        }
    }

    /// Offline only (`pds compact`): writes a compacted copy of the database to `path` with
    /// `VACUUM INTO` (a fresh file in rollback-journal mode, every page in use) and fsyncs it.
    public func vacuum(into path: String) throws {
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "VACUUM INTO ?", arguments: [path])
        }
        try PDSDatabase.fsync(path: path)
    }

    /// fsyncs a file or directory.
    public static func fsync(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CocoaError(.fileReadNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        defer { Foundation.close(fd) }
        guard Foundation.fsync(fd) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    }
}

/// What a database file holds, read without changing it (`PDSDatabase.inspect`).
public struct DatabaseInspection: Sendable, Equatable {
    /// `PRAGMA integrity_check`'s answer ("ok" when sound).
    public var integrity: String
    public var rootCID: String?
    public var rev: String?
    public var records: Int
    public var blocks: Int
    /// Blocks the current commit reaches: itself, its MST nodes, its records.
    public var reachableBlocks: Int
    /// Reachable blocks the file lacks (0 in a sound repository).
    public var missingBlocks: Int
    public var events: Int
    public var space: DatabaseSpace
}

extension PDSDatabase {
    /// Inspects the database file at `path` through a read-only connection: integrity, the
    /// repository root, counts, and a walk of the current tree that checks every block it
    /// reaches is stored.
    public static func inspect(path: String) throws -> DatabaseInspection {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read { db in try inspect(db) }
    }

    /// `inspect(path:)` for this database, in one snapshot.
    public func inspect() throws -> DatabaseInspection {
        try pool.read { db in try Self.inspect(db) }
    }

    static func inspect(_ db: Database) throws -> DatabaseInspection {
        let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ")
        let root = try Row.fetchOne(db, sql: "SELECT cid, rev FROM repo_root LIMIT 1")
        let records = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM record") ?? 0
        let blocks = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM repo_block") ?? 0
        let events = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM repo_seq") ?? 0
        var reachable = 0, missing = 0
        if let text: String = root?["cid"] {
            let source = TransactionBlockSource(db: db)
            let cid = try CID(string: text)
            let commit = try SignedCommit(bytes: try source.requireBlock(cid))
            let tree = try MST(root: commit.commit.data, store: source, verifiesOnLoad: true)
            let (nodes, recordCIDs) = try tree.reachableBlocks()
            reachable = 1 + nodes.count + recordCIDs.count
            for record in recordCIDs where try source.block(record) == nil { missing += 1 }
        }
        return DatabaseInspection(integrity: integrity, rootCID: root?["cid"], rev: root?["rev"], records: records,
                                  blocks: blocks, reachableBlocks: reachable, missingBlocks: missing, events: events,
                                  space: try space(db))
    }
}

extension RepositoryStore {
    /// Every stored block's CID (tests, the one-time sweep).
    public func storedBlockCIDs() throws -> Set<CID> {
        try database.pool.read { db in
            var cids = Set<CID>()
            let rows = try Row.fetchCursor(db, sql: "SELECT cid FROM repo_block")
            while let row = try rows.next() {
                let data: Data = row["cid"]
                cids.insert(try CID(bytes: Array(data)))
            }
            return cids
        }
    }

    /// The blocks the current commit reaches: the commit, its MST nodes and its records (empty
    /// without a repository). Walks the whole tree in one snapshot.
    public func reachableBlockCIDs() throws -> Set<CID> {
        try blockSource().withHeadSnapshot { commit, source in
            guard let commit else { return [] }
            let tree = try MST(root: commit.commit.data, store: source, verifiesOnLoad: false)
            let (nodes, records) = try tree.reachableBlocks()
            return nodes.union(records).union([commit.cid])
        }
    }

    /// One-time sweep of blocks stored before commits deleted what they replaced: deletes every
    /// block not in `keep`, `batchSize` rows per transaction. Returns the blocks and bytes removed.
    public func sweepBlocks(keeping keep: Set<CID>, batchSize: Int = 2000) throws -> (blocks: Int, bytes: Int64) {
        var after: Int64 = 0
        var removed = 0, bytes: Int64 = 0
        while true {
            let (last, count, size) = try database.pool.write { db -> (Int64?, Int, Int64) in
                let rows = try Row.fetchAll(db, sql: "SELECT id, cid, size FROM repo_block WHERE id > ? ORDER BY id LIMIT ?",
                                            arguments: [after, batchSize])
                var count = 0, size: Int64 = 0
                let delete = try db.cachedStatement(sql: "DELETE FROM repo_block WHERE id = ?")
                for row in rows {
                    let data: Data = row["cid"]
                    guard let cid = try? CID(bytes: Array(data)), keep.contains(cid) else {
                        try delete.execute(arguments: [row["id"] as Int64])
                        count += 1
                        size += row["size"] as Int64
                        continue
                    }
                }
                return (rows.last?["id"], count, size)
            }
            removed += count
            bytes += size
            guard let last else {
                // Every block left is reachable: a full getRepo may stream the table as it lies.
                try database.pool.write { db in try db.execute(sql: "UPDATE repo_block_state SET exact = 1") }
                return (removed, bytes)
            }
            after = last
        }
    }
}
