import Foundation
import GRDB

/// The blob mirror's durable work queue (`blob_mirror_queue`, migration `v3-blob-mirror`).
///
/// Rows are written by triggers on `blob` in the transaction that makes a blob permanent or
/// deletes it (see `PDSSchema.v3`), so this type only reads due work and settles it. Settling is
/// guarded by `version`: if the blob was enqueued again while an operation was in flight (deleted
/// and uploaded again, say), finishing the old operation leaves the new row in place.
public struct BlobMirrorQueue: Sendable {
    /// What the mirror must do for one CID.
    public enum Operation: String, Sendable {
        /// Upload `blobs/<cid>` (it became permanent).
        case put
        /// Remove the mirrored object (the last record referencing it went away).
        case delete
    }

    /// One queued operation.
    public struct Item: Sendable, Equatable {
        public var cid: String
        public var operation: Operation
        public var version: Int64
        /// Failed attempts so far.
        public var attempts: Int
        /// When the operation was (last) enqueued, Unix milliseconds.
        public var enqueuedAt: Int64
    }

    let database: PDSDatabase

    public init(database: PDSDatabase) { self.database = database }

    /// Unix milliseconds (the queue's time unit).
    public static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Up to `limit` operations due at `now`, oldest first. A delete is due only once it has
    /// waited `deleteDelay` since it was enqueued (so a point-in-time database restore within
    /// that window still finds the blobs its records reference).
    public func due(now: Date, deleteDelay: TimeInterval, limit: Int = 16) throws -> [Item] {
        let nowMS = Self.milliseconds(now)
        let deleteCutoff = nowMS - Int64(deleteDelay * 1000)
        return try database.pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT cid, operation, version, attempts, enqueued_at FROM blob_mirror_queue
                    WHERE next_attempt_at <= ? AND (operation = 'put' OR enqueued_at <= ?)
                    ORDER BY next_attempt_at, enqueued_at LIMIT ?
                    """,
                arguments: [nowMS, deleteCutoff, limit]
            ).compactMap { row in
                guard let operation = Operation(rawValue: row["operation"]) else { return nil }
                return Item(cid: row["cid"], operation: operation, version: row["version"], attempts: row["attempts"],
                            enqueuedAt: row["enqueued_at"])
            }
        }
    }

    /// The earliest time any queued operation becomes due (nil when the queue is empty).
    public func nextDueDate(deleteDelay: TimeInterval) throws -> Date? {
        try database.pool.read { db in
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT min(CASE WHEN operation = 'delete' THEN max(next_attempt_at, enqueued_at + ?) ELSE next_attempt_at END)
                    FROM blob_mirror_queue
                    """,
                arguments: [Int64(deleteDelay * 1000)])
        }.map { Date(timeIntervalSince1970: TimeInterval($0) / 1000) }
    }

    /// The operation succeeded: removes the row unless it was enqueued again meanwhile.
    /// - Returns: whether the row was removed.
    @discardableResult
    public func complete(_ item: Item) throws -> Bool {
        try database.pool.write { db in
            try db.execute(sql: "DELETE FROM blob_mirror_queue WHERE cid = ? AND version = ?", arguments: [item.cid, item.version])
            return db.changesCount > 0
        }
    }

    /// Records a successful upload (the owner's dashboard and `pds status` show the last one).
    public func recordUpload(at date: Date) throws {
        try database.pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO blob_mirror_state (id, last_upload_at, uploads) VALUES (1, ?, 1)
                    ON CONFLICT (id) DO UPDATE SET last_upload_at = excluded.last_upload_at, uploads = uploads + 1
                    """,
                arguments: [Self.milliseconds(date)])
        }
    }

    /// The operation failed: counts the attempt and schedules the next one at `retryAt`.
    public func fail(_ item: Item, error: String, retryAt: Date) throws {
        try database.pool.write { db in
            try db.execute(
                sql: """
                    UPDATE blob_mirror_queue SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?
                    WHERE cid = ? AND version = ?
                    """,
                arguments: [Self.milliseconds(retryAt), String(error.prefix(500)), item.cid, item.version])
        }
    }

    /// The last failure recorded for `cid`, if any.
    public func lastError(_ cid: String) throws -> String? {
        try database.pool.read { db in
            try String.fetchOne(db, sql: "SELECT last_error FROM blob_mirror_queue WHERE cid = ?", arguments: [cid])
        }
    }

    /// Whether `blob` still has a row for `cid` (a put for a blob that is gone is dropped).
    public func blobExists(_ cid: String) throws -> Bool {
        try database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT 1 FROM blob WHERE cid = ?", arguments: [cid]) != nil
        }
    }

    /// Queued operations (for `/metrics`, logs and tests).
    public func count() throws -> (puts: Int, deletes: Int, failing: Int) {
        try database.pool.read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT coalesce(sum(operation = 'put'), 0) AS puts, coalesce(sum(operation = 'delete'), 0) AS deletes,
                coalesce(sum(attempts > 0), 0) AS failing FROM blob_mirror_queue
                """)
            return (row?["puts"] ?? 0, row?["deletes"] ?? 0, row?["failing"] ?? 0)
        }
    }

    /// All rows, oldest first (tests and diagnostics).
    public func all() throws -> [Item] {
        try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT cid, operation, version, attempts, enqueued_at FROM blob_mirror_queue ORDER BY enqueued_at, cid")
                .compactMap { row in
                    guard let operation = Operation(rawValue: row["operation"]) else { return nil }
                    return Item(cid: row["cid"], operation: operation, version: row["version"], attempts: row["attempts"],
                                enqueuedAt: row["enqueued_at"])
                }
        }
    }

    /// Queues an upload of every permanent blob again (after pointing the mirror at a new bucket).
    /// - Returns: how many blobs were queued.
    @discardableResult
    public func enqueueAllPermanent(now: Date = Date()) throws -> Int {
        try database.pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO blob_mirror_queue (cid, operation, enqueued_at)
                    SELECT cid, 'put', ? FROM blob WHERE temp_key IS NULL
                    ON CONFLICT (cid) DO UPDATE SET operation = 'put', version = version + 1, attempts = 0,
                        next_attempt_at = 0, last_error = NULL, enqueued_at = excluded.enqueued_at
                    """,
                arguments: [Self.milliseconds(now)])
            return db.changesCount
        }
    }
}
