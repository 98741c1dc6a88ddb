import ATData
import ATRepo
import Foundation
import GRDB

/// Why an imported repository was refused. Nothing of it is stored.
public enum RepositoryImportError: Error, Equatable, Sendable {
    /// The CAR is malformed, a block does not hash to its CID, or a block is missing.
    case invalidCAR(String)
    /// The commit is not for this account.
    case wrongRepository(String)
    /// The commit signature does not verify under the DID document's `#atproto` key.
    case badSignature
    /// The MST (or a record) does not verify.
    case invalidTree(String)
}

/// What an import stored.
public struct ImportedRepository: Sendable {
    /// The commit this server signed over the imported tree (the new head).
    public var commit: SignedCommit
    /// The imported commit's rev.
    public var importedRev: String?
    public var records: Int
    public var blocks: Int
}

/// Counts `checkAccountStatus` reports.
public struct RepositoryCounts: Sendable, Equatable {
    public var blocks: Int
    public var records: Int
    /// Distinct blobs the records reference.
    public var expectedBlobs: Int
    /// Of those, the ones stored here.
    public var importedBlobs: Int
}

extension RepositoryStore.Writer {
    /// Replaces the whole repository with the one in the CAR file at `carPath`, in one
    /// transaction: the blocks are streamed from the file into `repo_block` (each checked against
    /// its CID by the reader), the commit is checked (`did`, signature through
    /// `verifySignature`), the MST is walked and verified from the stored blocks, the record index
    /// and blob references are rebuilt, and the tree is re-signed by `sign` (the account's key
    /// here, which the DID document names once the move completes) at a rev from `nextRev` that
    /// sorts after the imported one. On any error the transaction rolls back: nothing of the
    /// import is stored and the previous repository stays (https://atproto.com/specs/repository;
    /// com.atproto.repo.importRepo).
    ///
    /// Memory stays bounded whatever the CAR's size: the file is read in chunks, blocks go
    /// straight to SQLite, and the walk reads them back as it goes.
    public func importRepository(carPath: String, did: String,
                                 verifySignature: (_ message: [UInt8], _ signature: [UInt8]) -> Bool,
                                 nextRev: (_ after: String?) -> String,
                                 sign: (_ data: CID, _ rev: String) throws -> SignedCommit) throws -> ImportedRepository {
        var result: ImportedRepository?
        try db.inTransaction {
            result = try RepositoryImport(db: db, did: did).run(carPath: carPath, verifySignature: verifySignature,
                                                                nextRev: nextRev, sign: sign)
            return .commit
        }
        return result!
    }
}

/// One import, inside the caller's transaction.
struct RepositoryImport {
    let db: Database
    let did: String

    func run(carPath: String, verifySignature: (_ message: [UInt8], _ signature: [UInt8]) -> Bool,
             nextRev: (_ after: String?) -> String, sign: (_ data: CID, _ rev: String) throws -> SignedCommit) throws -> ImportedRepository {
        // The previous repository goes as a whole (blob rows stay, so blobs already uploaded are
        // matched again by the new references). The new rev is chosen before the blocks are
        // written, so each row is written once; it is checked against the imported rev below.
        try db.execute(sql: "DELETE FROM repo_block; DELETE FROM record; DELETE FROM record_blob; DELETE FROM repo_root")
        var rev = nextRev(nil)
        let (root, staged) = try stage(carPath: carPath, rev: rev)
        let now = AccountStore.timestamp()
        var records = 0
        let imported: SignedCommit
        try db.execute(sql: "CREATE TEMP TABLE IF NOT EXISTS import_reached (cid BLOB PRIMARY KEY) WITHOUT ROWID")
        defer { try? db.execute(sql: "DROP TABLE IF EXISTS temp.import_reached") }
        do {
            imported = try RepoVerifier.verify(root: root, blocks: ReachRecordingBlockSource(db: db), did: did,
                                               verifySignature: verifySignature) { path, cid, bytes in
                try index(path: path, cid: cid, bytes: bytes, rev: rev)
                records += 1
            }
        } catch RepoError.badSignature {
            throw RepositoryImportError.badSignature
        } catch let error as RepositoryImportError {
            throw error
        } catch RepoError.invalidCommit(let reason) where reason.contains("expected") {
            throw RepositoryImportError.wrongRepository(reason)
        } catch RepoError.missingBlock(let cid) {
            throw RepositoryImportError.invalidCAR("block \(cid) is missing from the CAR")
        } catch {
            throw RepositoryImportError.invalidTree("\(error)")
        }
        try keepTreeRoot(imported.commit.data, rev: rev)
        try dropUnreachedBlocks()
        if let importedRev = imported.commit.rev, importedRev >= rev {
            // The old server's clock is ahead of ours: a later rev, and the rows follow it.
            rev = nextRev(importedRev)
            try db.execute(sql: "UPDATE repo_block SET repo_rev = ?", arguments: [rev])
            try db.execute(sql: "UPDATE record SET repo_rev = ?", arguments: [rev])
        }
        let commit = try sign(imported.commit.data, rev)
        // The imported commit is replaced by this server's over the same tree.
        try db.execute(sql: "DELETE FROM repo_block WHERE cid = ?", arguments: [Data(root.bytes)])
        try db.execute(sql: "INSERT OR IGNORE INTO repo_block (cid, repo_rev, size, content) VALUES (?, ?, ?, ?)",
                       arguments: [Data(commit.cid.bytes), rev, commit.bytes.count, Data(commit.bytes)])
        try db.execute(sql: "INSERT INTO repo_root (did, cid, rev, indexed_at) VALUES (?, ?, ?, ?)",
                       arguments: [did, commit.cid.string, rev, now])
        return ImportedRepository(commit: commit, importedRev: imported.commit.rev, records: records, blocks: staged)
    }

    /// The tree's root node is reached even when the walk did not read it: an empty tree's root
    /// is known without a read. An empty tree's root is stored if the CAR lacked it, so an export
    /// in storage order finds it like any other block.
    func keepTreeRoot(_ root: CID, rev: String) throws {
        if root == MST.emptyRootCID {
            try db.execute(sql: "INSERT OR IGNORE INTO repo_block (cid, repo_rev, size, content) VALUES (?, ?, ?, ?)",
                           arguments: [Data(root.bytes), rev, MST.emptyNodeBytes.count, Data(MST.emptyNodeBytes)])
        }
        try db.execute(sql: "INSERT OR IGNORE INTO temp.import_reached (cid) VALUES (?)", arguments: [Data(root.bytes)])
    }

    /// Deletes the blocks the CAR carried that the verified repository does not reach (a CAR may
    /// hold more), so `repo_block` holds exactly the live blocks again and a full `getRepo` may
    /// stream it in storage order (`repo_block_state.exact`, docs/ARCHITECTURE.md "Reads").
    func dropUnreachedBlocks() throws {
        try db.execute(sql: """
            DELETE FROM repo_block WHERE cid NOT IN (SELECT cid FROM temp.import_reached);
            UPDATE repo_block_state SET exact = 1;
            """)
    }

    /// Streams the CAR's blocks into `repo_block`; returns the root and the block count.
    func stage(carPath: String, rev: String) throws -> (CID, Int) {
        guard let file = FileHandle(forReadingAtPath: carPath) else { throw RepositoryImportError.invalidCAR("cannot open the uploaded CAR") }
        defer { try? file.close() }
        var reader: CARReader
        do {
            reader = try CARReader {
                let chunk = try file.read(upToCount: 256 * 1024)
                return chunk.flatMap { $0.isEmpty ? nil : Array($0) }
            }
        } catch {
            throw RepositoryImportError.invalidCAR("\(error)")
        }
        // One root, the commit (as the reference's importRepo insists: "expected one root").
        guard reader.roots.count == 1, let root = reader.roots.first else { throw RepositoryImportError.invalidCAR("expected one root") }
        let insert = try db.makeStatement(sql: "INSERT OR IGNORE INTO repo_block (cid, repo_rev, size, content) VALUES (?, ?, ?, ?)")
        var count = 0
        do {
            while let (cid, bytes) = try reader.next() {
                try insert.execute(arguments: [Data(cid.bytes), rev, bytes.count, Data(bytes)])
                count += 1
            }
        } catch RepoError.cidMismatch(let cid) {
            throw RepositoryImportError.invalidCAR("block \(cid) does not match its CID")
        } catch let error as RepoError {
            throw RepositoryImportError.invalidCAR("\(error)")
        }
        return (root, count)
    }

    /// Indexes one verified record: its block is counted by the paths holding it (as commits
    /// count them), its index row and blob references are written. A blob not uploaded yet is
    /// referenced all the same: `listMissingBlobs` names it, and its upload is permanent at once.
    func index(path: String, cid: CID, bytes: [UInt8], rev: String) throws {
        guard let slash = path.firstIndex(of: "/") else { throw RepositoryImportError.invalidTree("record path \(path) has no collection") }
        let collection = String(path[..<slash]), rkey = String(path[path.index(after: slash)...])
        try db.cachedStatement(sql: "UPDATE repo_block SET refs = COALESCE(refs, 0) + 1 WHERE cid = ?").execute(arguments: [Data(cid.bytes)])
        // The record index holds CIDs as bytes (migration storage-record-index).
        try db.cachedStatement(sql: "INSERT INTO record (collection, rkey, cid, repo_rev) VALUES (?, ?, ?, ?)")
            .execute(arguments: [collection, rkey, Data(cid.bytes), rev])
        let references: DataReferences
        do { references = try DAGCBOR.decode(bytes).references() } catch {
            throw RepositoryImportError.invalidTree("record \(path) is not valid DAG-CBOR: \(error)")
        }
        for blob in references.blobs {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO record_blob (blob_cid, collection, rkey) VALUES (?, ?, ?)")
                .execute(arguments: [blob.ref.string, collection, rkey])
            try db.cachedStatement(sql: "UPDATE blob SET temp_key = NULL WHERE cid = ? AND temp_key IS NOT NULL")
                .execute(arguments: [blob.ref.string])
        }
    }
}

extension RepositoryStore {
    /// Blocks, records and blob references, for `checkAccountStatus`.
    public func counts() throws -> RepositoryCounts {
        try database.pool.read { db in
            RepositoryCounts(
                blocks: try Int.fetchOne(db, sql: "SELECT count(*) FROM repo_block") ?? 0,
                records: try Int.fetchOne(db, sql: "SELECT count(*) FROM record") ?? 0,
                expectedBlobs: try Int.fetchOne(db, sql: "SELECT count(DISTINCT blob_cid) FROM record_blob") ?? 0,
                importedBlobs: try Int.fetchOne(db, sql: """
                    SELECT count(DISTINCT rb.blob_cid) FROM record_blob rb JOIN blob b ON b.cid = rb.blob_cid
                    """) ?? 0)
        }
    }

    /// Blobs records reference that are not stored here, by CID, after `cursor`; each with one
    /// record (collection, rkey) that references it (`com.atproto.repo.listMissingBlobs`).
    public func missingBlobs(limit: Int, cursor: String?) throws -> [(cid: String, collection: String, rkey: String)] {
        try database.pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT rb.blob_cid AS cid, rb.collection AS collection, rb.rkey AS rkey
                FROM record_blob rb LEFT JOIN blob b ON b.cid = rb.blob_cid
                WHERE b.cid IS NULL AND rb.blob_cid > ?
                GROUP BY rb.blob_cid ORDER BY rb.blob_cid LIMIT ?
                """, arguments: [cursor ?? "", limit]).map { ($0["cid"], $0["collection"], $0["rkey"]) }
        }
    }
}

/// The verifier's block source during an import: notes every block it hands out (the commit, each
/// MST node, each record) in `temp.import_reached`, so what the CAR carried beyond the repository
/// can be deleted after the walk. A table rather than a set in memory: an import's memory stays
/// bounded whatever the repository's size.
struct ReachRecordingBlockSource: BlockSource, @unchecked Sendable {
    // @unchecked: used synchronously on the writer's connection, inside the import's transaction.
    let db: Database

    func block(_ cid: CID) throws -> [UInt8]? {
        guard let bytes = try db.repoBlock(cid.bytes) else { return nil }
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO temp.import_reached (cid) VALUES (?)").execute(arguments: [Data(cid.bytes)])
        return bytes
    }
}
