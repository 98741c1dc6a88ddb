import GRDB

/// What the database holds, for `pds status` and the owner's dashboard: records per collection,
/// blobs, the event log's window and the blob mirror's queue. Read in one snapshot.
public struct StorageReport: Sendable, Equatable {
    public struct Collection: Sendable, Equatable {
        public var name: String
        public var records: Int64
    }

    public var collections: [Collection] = []
    public var records: Int64 { collections.reduce(0) { $0 + $1.records } }
    /// Blobs records reference, and their bytes.
    public var blobs: Int64 = 0
    public var blobBytes: Int64 = 0
    /// Uploads no record references yet (swept after a while).
    public var temporaryBlobs: Int64 = 0
    /// The event log (`subscribeRepos` replay window): oldest and newest seq, and when the oldest was sequenced.
    public var oldestEvent: Int64?
    public var newestEvent: Int64?
    public var oldestEventAt: String?
    /// The blob mirror's pending operations, when the oldest was enqueued (Unix ms), how many have
    /// failed at least once, and the newest failure's message.
    public var mirrorPending: Int64 = 0
    public var mirrorOldestEnqueuedAt: Int64?
    public var mirrorFailing: Int64 = 0
    public var mirrorLastError: String?
    /// When the blob mirror last uploaded a blob (Unix ms), and how many it has uploaded in all
    /// (`blob_mirror_state`, migration dashboard-v1).
    public var mirrorLastUploadAt: Int64?
    public var mirrorUploads: Int64 = 0
}

extension PDSDatabase {
    public func storageReport() throws -> StorageReport {
        try pool.read { db in
            var report = StorageReport()
            report.collections = try Row.fetchAll(db, sql: "SELECT collection, COUNT(*) AS n FROM record GROUP BY collection ORDER BY n DESC, collection")
                .map { StorageReport.Collection(name: $0["collection"], records: $0["n"]) }
            if let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) FILTER (WHERE temp_key IS NULL) AS blobs,
                       COALESCE(SUM(size) FILTER (WHERE temp_key IS NULL), 0) AS bytes,
                       COUNT(*) FILTER (WHERE temp_key IS NOT NULL) AS temporary FROM blob
                """) {
                report.blobs = row["blobs"]
                report.blobBytes = row["bytes"]
                report.temporaryBlobs = row["temporary"]
            }
            if let row = try Row.fetchOne(db, sql: "SELECT MIN(seq) AS oldest, MAX(seq) AS newest FROM repo_seq") {
                report.oldestEvent = row["oldest"]
                report.newestEvent = row["newest"]
            }
            if let oldest = report.oldestEvent {
                report.oldestEventAt = try String.fetchOne(db, sql: "SELECT sequenced_at FROM repo_seq WHERE seq = ?", arguments: [oldest])
            }
            if let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS pending, MIN(enqueued_at) AS oldest, COUNT(*) FILTER (WHERE attempts > 0) AS failing
                FROM blob_mirror_queue
                """) {
                report.mirrorPending = row["pending"]
                report.mirrorOldestEnqueuedAt = row["oldest"]
                report.mirrorFailing = row["failing"]
            }
            report.mirrorLastError = try String.fetchOne(
                db, sql: "SELECT last_error FROM blob_mirror_queue WHERE last_error IS NOT NULL ORDER BY next_attempt_at DESC LIMIT 1")
            if let row = try Row.fetchOne(db, sql: "SELECT last_upload_at, uploads FROM blob_mirror_state WHERE id = 1") {
                report.mirrorLastUploadAt = row["last_upload_at"]
                report.mirrorUploads = row["uploads"]
            }
            return report
        }
    }
}
