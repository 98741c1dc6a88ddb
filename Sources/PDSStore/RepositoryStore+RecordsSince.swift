import ATData
import ATSyntax
import Foundation
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
                SELECT collection, rkey, cid, repo_rev FROM record
                WHERE repo_rev > ? ORDER BY repo_rev ASC LIMIT ?
                """, arguments: [rev, limit * 4])
            return rows.compactMap { row -> IndexedRecord? in
                let collection: String = row["collection"], rev: String = row["repo_rev"]
                guard collections.contains(collection), let cid = try? CID(bytes: Array(row["cid"] as Data)) else { return nil }
                return IndexedRecord(collection: collection, rkey: row["rkey"], cid: cid, rev: rev, indexedAt: Self.commitTime(rev: rev))
            }.prefix(limit).map { $0 }
        }
    }
}

extension RepositoryStore {
    /// When the commit with `rev` was made: a rev is a TID, microseconds since the epoch
    /// (https://atproto.com/specs/tid), taken from the writer's clock as it commits. The record
    /// index keeps no time of its own (migration storage-record-index). The epoch for a rev that is
    /// not a TID (none this server writes).
    static func commitTime(rev: String) -> String {
        let micros = (try? TID(rev)).map { Int64($0.timestamp) } ?? 0
        return Datetime(microsecondsSinceEpoch: micros).string
    }
}
