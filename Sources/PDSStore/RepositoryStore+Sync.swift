import ATData
import ATRepo
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

    /// `getRepo?since=`: the current commit, then every block added after `rev`, oldest rev first,
    /// handed to `body` one at a time (the reference server's behaviour: blocks with
    /// `repoRev > since`; blocks later commits replaced are gone, docs/ARCHITECTURE.md "Blocks").
    /// Reads on a read-only connection of its own, in one snapshot, so a long export never holds
    /// up the writer or the pool's readers, and the commit and blocks agree. Returns false, having
    /// called nothing, when there is no repository.
    @discardableResult
    public func blocks(since rev: String, commit: (SignedCommit) throws -> Void, _ body: (CID, [UInt8]) throws -> Void) throws -> Bool {
        let queue = try database.openReadOnlyConnection(label: "pds.export")
        return try queue.read { db in
            guard let head = try Self.head(in: db, blocks: TransactionBlockSource(db: db)) else { return false }
            try commit(head)
            let rows = try Row.fetchCursor(
                db, sql: "SELECT cid, content FROM repo_block WHERE repo_rev > ? ORDER BY repo_rev, cid", arguments: [rev])
            while let row = try rows.next() {
                let cidData: Data = row["cid"]
                let cid = try CID(bytes: Array(cidData))
                if cid == head.cid { continue }
                let content: Data = row["content"]
                try body(cid, Array(content))
            }
            return true
        }
    }

    /// How `allBlocks` ended.
    public enum FullExport: Sendable, Equatable {
        /// There is no repository; nothing was called.
        case noRepository
        /// `repo_block` may hold blocks the commit does not reach (a database written before
        /// commits deleted what they replaced, not compacted since); nothing was called, and the
        /// caller walks the MST instead.
        case walkNeeded
        /// Every block was handed over.
        case streamed
    }

    /// A full `getRepo`: the current commit, then every other block of `repo_block` in storage
    /// (rowid) order, one sequential scan inside one read snapshot on a read-only connection of
    /// its own, instead of an MST walk that looks every block up by CID (random pages;
    /// docs/ARCHITECTURE.md, "Reads"). `repo_block` holds exactly the blocks the commit reaches
    /// (`repo_block_state.exact`), each once, and the repository spec asks no order of a CAR's
    /// blocks. `body` gets each block's CID and content bytes as SQLite holds them, valid only
    /// during the call.
    public func allBlocks(commit: (SignedCommit) throws -> Void,
                          _ body: (_ cid: UnsafeRawBufferPointer, _ content: UnsafeRawBufferPointer) throws -> Void) throws -> FullExport {
        let queue = try database.openReadOnlyConnection(label: "pds.export")
        return try queue.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT exact FROM repo_block_state") == true else { return .walkNeeded }
            guard let head = try Self.head(in: db, blocks: TransactionBlockSource(db: db)) else { return .noRepository }
            try commit(head)
            let headBytes = head.cid.bytes
            let rows = try Row.fetchCursor(db, sql: "SELECT cid, content FROM repo_block ORDER BY id")
            while let row = try rows.next() {
                try row.withUnsafeData(atIndex: 0) { cid in
                    guard let cid, !cid.elementsEqual(headBytes) else { return }
                    try row.withUnsafeData(atIndex: 1) { content in
                        try cid.withUnsafeBytes { cid in
                            try (content ?? Data()).withUnsafeBytes { content in try body(cid, content) }
                        }
                    }
                }
            }
            return .streamed
        }
    }

    /// The whole repository as a CAR (`getRepo`, `pds export`), handed to `sink` in chunks of
    /// about `chunkSize` bytes: in storage order (`allBlocks`) when `repo_block` holds exactly the
    /// live blocks, else by an MST walk from the commit of the walk's own snapshot (record blocks
    /// shared by several paths then repeat: no dedup set, so memory stays flat). Returns false,
    /// having sent nothing, when there is no repository.
    public func exportRepository(chunkSize: Int, sink: @escaping ([UInt8]) throws -> Void) throws -> Bool {
        var writer: CARWriter?
        let result = try allBlocks(commit: { commit in
            writer = CARWriter(roots: [commit.cid], chunkSize: chunkSize, sink: sink)
            try writer?.write(cid: commit.cid, bytes: commit.bytes)
        }) { cid, content in
            try writer?.write(cidBytes: cid, bytes: content)
        }
        switch result {
        case .noRepository: return false
        case .streamed:
            try writer?.finish()
            return true
        case .walkNeeded:
            return try blockSource().withHeadSnapshot { commit, snapshot in
                guard let commit else { return false }
                try RepoExport.stream(commit: commit, store: snapshot, chunkSize: chunkSize, deduplicateRecords: false, sink: sink)
                return true
            }
        }
    }

    /// Runs `body` with the current commit (nil when there is no repository) and a block source
    /// bound to the same read snapshot, on a pooled reader: a walk from that commit finds every
    /// block it reaches, even while commits delete the blocks they replace (docs/ARCHITECTURE.md,
    /// "Blocks"). For short walks (a record's proof); a whole export uses `blocks(since:)` or the
    /// block source's own snapshot.
    public func withHeadSnapshot<T>(_ body: (SignedCommit?, any BlockSource) throws -> T) throws -> T {
        try database.snapshotRead { db in
            let source = TransactionBlockSource(db: db)
            return try body(try Self.head(in: db, blocks: source), source)
        }
    }

    /// The current commit as `db`'s transaction sees it.
    static func head(in db: Database, blocks: some BlockSource) throws -> SignedCommit? {
        guard let text = try String.fetchOne(db, sql: "SELECT cid FROM repo_root LIMIT 1") else { return nil }
        return try SignedCommit(bytes: try blocks.requireBlock(try CID(string: text)))
    }
}
