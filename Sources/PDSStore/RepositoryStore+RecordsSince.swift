import ATData
import GRDB

/// A record as the index holds it, with the rev that wrote it.
public struct IndexedRecord: Sendable {
    public var collection: String
    public var rkey: String
    public var cid: CID
    public var rev: String
    public var indexedAt: String
}

extension RepositoryStore {
    /// Records written after `rev`, oldest first, at most `limit` (read-after-write: what the
    /// AppView has not indexed yet, the reference PDS). Empty when `rev` predates the repo's
    /// first record (e.g. after a migration), since everything would then look new.
    public func records(after rev: String, collections: Set<String>, limit: Int = 10) throws -> [IndexedRecord] {
        try database.pool.read { db in
            if let oldest = try String.fetchOne(db, sql: "SELECT MIN(repo_rev) FROM record"), rev < oldest { return [] }
            let rows = try Row.fetchAll(db, sql: """
                SELECT collection, rkey, cid, repo_rev, indexed_at FROM record
                WHERE repo_rev > ? ORDER BY repo_rev ASC LIMIT ?
                """, arguments: [rev, limit * 4])
            return rows.compactMap { row -> IndexedRecord? in
                let collection: String = row["collection"]
                guard collections.contains(collection), let cid = try? CID(string: row["cid"]) else { return nil }
                return IndexedRecord(collection: collection, rkey: row["rkey"], cid: cid, rev: row["repo_rev"], indexedAt: row["indexed_at"])
            }.prefix(limit).map { $0 }
        }
    }
}
