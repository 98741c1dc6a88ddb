import ATCrypto
import ATData
import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blob's stored metadata (a `blob` row).
public struct StoredBlob: Sendable, Equatable {
    public var cid: CID
    public var mimeType: String
    public var size: Int64
    /// True while no record references the blob (`temp_key` is set); the sweeper may delete it.
    public var isTemporary: Bool
}

/// The `blob` table kept in step with the files of a `BlobStore`.
///
/// Every change that can create or remove a blob's file happens while holding the database's
/// single writer connection, so an upload and the temporary-blob sweeper can never interleave
/// (without that, a sweep could unlink the file a concurrent re-upload of the same bytes just
/// renamed into place, leaving a row whose bytes are gone).
public struct BlobIndex: Sendable {
    let database: PDSDatabase
    let files: BlobStore

    public init(database: PDSDatabase, files: BlobStore) {
        self.database = database
        self.files = files
    }

    /// Finishes `upload` (fsync, rename to its CID) and records it as a temporary blob.
    ///
    /// The reference server inserts `blob(cid, mimeType, size, tempKey, createdAt)` and, if the CID
    /// is already in the table, keeps a permanent row permanent; if some record already references
    /// the CID (a migration re-uploading blobs after `importRepo`), the blob becomes permanent at
    /// once (the reference PDS, "Temp → permanent"). A re-upload of a still-temporary blob gets a
    /// fresh key and creation time, so the client has the full grace period to reference it.
    /// - Returns: the stored metadata; for an existing permanent blob, its stored type and size
    ///   (records must repeat exactly those).
    public func store(_ upload: BlobUpload, declaredType: String?, now: Date = Date()) throws -> StoredBlob {
        // Flush the bytes before taking the writer: the fsync of a large file can take a while,
        // and finish()'s own fsync is then nearly free inside the critical section.
        if upload.descriptor >= 0, fsync(upload.descriptor) != 0 {
            let error = BlobUpload.failure("fsync")
            upload.abort()
            throw error
        }
        return try database.pool.writeWithoutTransaction { db in
            let finished = try upload.finish(declaredType: declaredType)
            do {
                return try Self.record(finished, in: db, now: now)
            } catch {
                // No row, so no new file either (a full disk fails the insert): as before the upload.
                if upload.createdFinalFile { files.delete(finished.cid) }
                throw error
            }
        }
    }

    /// Inserts or updates the `blob` row of a finished upload, in one transaction (see `store`).
    static func record(_ finished: (cid: CID, size: Int, mimeType: String), in db: Database, now: Date) throws -> StoredBlob {
        var stored: StoredBlob?
        try db.inTransaction {
            let key = finished.cid.string
            let referenced = try Int.fetchOne(
                db, sql: "SELECT 1 FROM record_blob WHERE blob_cid = ? LIMIT 1", arguments: [key]) != nil
            if let row = try Row.fetchOne(db, sql: "SELECT mime_type, size, temp_key FROM blob WHERE cid = ?", arguments: [key]),
               (row["temp_key"] as String?) == nil || referenced {
                try db.execute(sql: "UPDATE blob SET temp_key = NULL WHERE cid = ?", arguments: [key])
                stored = StoredBlob(cid: finished.cid, mimeType: row["mime_type"], size: row["size"], isTemporary: false)
                return .commit
            }
            let temporaryKey: String? = referenced ? nil : Self.randomKey()
            try db.execute(
                sql: """
                    INSERT INTO blob (cid, mime_type, size, temp_key, created_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (cid) DO UPDATE SET mime_type = excluded.mime_type, size = excluded.size,
                    temp_key = excluded.temp_key, created_at = excluded.created_at
                    """,
                arguments: [key, finished.mimeType, finished.size, temporaryKey, AccountStore.timestamp(now)])
            stored = StoredBlob(cid: finished.cid, mimeType: finished.mimeType, size: Int64(finished.size),
                                isTemporary: temporaryKey != nil)
            return .commit
        }
        return stored!
    }

    /// The metadata of a stored blob, temporary or not.
    public func blob(_ cid: CID) throws -> StoredBlob? {
        try database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT mime_type, size, temp_key FROM blob WHERE cid = ?", arguments: [cid.string]).map { row in
                StoredBlob(cid: cid, mimeType: row["mime_type"], size: row["size"], isTemporary: (row["temp_key"] as String?) != nil)
            }
        }
    }

    /// Deletes temporary blobs created before `cutoff` that no record references, rows and files.
    ///
    /// The reference server never collects unreferenced uploads (the reference PDS, GC); the
    /// protocol asks for collection after at least an hour (https://atproto.com/specs/blob). The `record_blob`
    /// check is belt and braces: a referenced blob's `temp_key` is already NULL.
    /// - Returns: the CIDs deleted.
    @discardableResult
    public func sweepTemporaryBlobs(olderThan cutoff: Date) throws -> [CID] {
        try database.pool.writeWithoutTransaction { db in
            var deleted: [String] = []
            try db.inTransaction {
                deleted = try String.fetchAll(
                    db,
                    sql: """
                        SELECT cid FROM blob
                        WHERE temp_key IS NOT NULL AND created_at < ?
                        AND NOT EXISTS (SELECT 1 FROM record_blob WHERE record_blob.blob_cid = blob.cid)
                        """,
                    arguments: [AccountStore.timestamp(cutoff)])
                for key in deleted { try db.execute(sql: "DELETE FROM blob WHERE cid = ?", arguments: [key]) }
                return .commit
            }
            // Files go after the commit (a failed commit keeps rows and files together) but while
            // still holding the writer, so no upload of the same bytes can slip in between.
            let cids = deleted.compactMap { try? CID(string: $0) }
            for cid in cids { files.delete(cid) }
            return cids
        }
    }

    /// 128 random bits, hex: the temporary key (only its presence matters here; the reference
    /// uses it as the temp file name).
    static func randomKey() -> String {
        SecureRandom.bytes(16).map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }
}
