import GRDB

/// Figures for the metrics endpoint, read in one snapshot.
public struct StoreStatistics: Sendable, Equatable {
    /// The newest event sequence number (the event log's high-water mark).
    public var highWaterMark: Int64
    /// Records in the repository.
    public var records: Int64
    /// Stored blobs that records reference (temporary uploads are not counted).
    public var blobs: Int64
    /// Their total size in bytes.
    public var blobBytes: Int64
}

extension PDSDatabase {
    /// Counts for the metrics endpoint.
    public func statistics() async throws -> StoreStatistics {
        try await pool.read { db in
            StoreStatistics(
                highWaterMark: try EventLogStore.highWaterMark(db),
                records: try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM record") ?? 0,
                blobs: try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM blob WHERE temp_key IS NULL") ?? 0,
                blobBytes: try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(size), 0) FROM blob WHERE temp_key IS NULL") ?? 0)
        }
    }
}
