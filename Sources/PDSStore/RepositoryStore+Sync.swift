import ATData
import Foundation
import GRDB

extension RepositoryStore {
    /// `com.atproto.sync.listBlobs`: CIDs of blobs referenced by records written after `rev` (all
    /// when nil), in CID order after `cursor`, at most `limit`.
    public func blobCIDs(since rev: String?, after cursor: String, limit: Int) throws -> [String] {
        try database.pool.read { db in
            try String.fetchAll(db, sql: """
                SELECT DISTINCT rb.blob_cid FROM record_blob rb
                JOIN record r ON r.collection = rb.collection AND r.rkey = rb.rkey
                WHERE r.repo_rev > ? AND rb.blob_cid > ? ORDER BY rb.blob_cid LIMIT ?
                """, arguments: [rev ?? "", cursor, limit])
        }
    }

    /// `getRepo?since=`: every block added after `rev`, oldest rev first, handed to `body` one at
    /// a time (the reference server's behaviour: blocks with `repoRev > since`). Reads on a
    /// read-only connection of its own, in one snapshot, so a long export never holds up the
    /// writer or the pool's readers.
    public func blocks(since rev: String, _ body: (CID, [UInt8]) throws -> Void) throws {
        let queue = try database.openReadOnlyConnection(label: "pds.export")
        try queue.read { db in
            let rows = try Row.fetchCursor(
                db, sql: "SELECT cid, content FROM repo_block WHERE repo_rev > ? ORDER BY repo_rev, cid", arguments: [rev])
            while let row = try rows.next() {
                let cidData: Data = row["cid"]
                let content: Data = row["content"]
                try body(try CID(bytes: Array(cidData)), Array(content))
            }
        }
    }
}
