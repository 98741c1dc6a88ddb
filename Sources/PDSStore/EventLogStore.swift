import ATSync
import Foundation
import GRDB

/// One stored firehose event: its sequence number and the complete frame (header ‖ body).
public struct StoredEvent: Sendable {
    public var seq: Int64
    /// The frame exactly as it goes on the wire (https://atproto.com/specs/event-stream: two concatenated DAG-CBOR objects).
    public var frame: [UInt8]

    public init(seq: Int64, frame: [UInt8]) {
        self.seq = seq
        self.frame = frame
    }
}

/// The `repo_seq` event log (the firehose's source of truth): append, read and prune.
///
/// Events are appended inside the transaction of the change they announce (a commit, a handle
/// change) or alone (`append`); readers
/// here see committed rows only (WAL snapshot reads), and because SQLite has a single writer and
/// seq is assigned inside the write transaction, the committed seqs always form a prefix of the
/// numbering: a reader can never observe seq N+1 before seq N.
public struct EventLogStore: Sendable {
    let database: PDSDatabase

    public init(database: PDSDatabase) { self.database = database }

    /// The highest seq ever assigned (0 when none). This is `sqlite_sequence`'s high-water mark, not
    /// `MAX(seq)`: it survives pruning, so "the current seq" never goes backwards.
    public func highWaterMark() async throws -> Int64 {
        try await database.pool.read { db in try Self.highWaterMark(db) }
    }

    static func highWaterMark(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(try db.cachedStatement(sql: "SELECT seq FROM sqlite_sequence WHERE name = 'repo_seq'")) ?? 0
    }

    /// Appends events in a transaction of their own (e.g. an `#identity` event after a PLC
    /// change that keeps the handle) and returns their sequence numbers.
    public func append(_ events: [RepoEvent]) throws -> [Int64] {
        try database.pool.write { db in try Self.appendEvents(events, in: db) }
    }

    /// Appends events inside the caller's transaction, assigning the next sequence numbers and
    /// encoding each frame with its own. Sequence numbers come from `sqlite_sequence`
    /// (AUTOINCREMENT's high-water mark), so a number is never reused even after rows are pruned.
    static func appendEvents(_ events: [RepoEvent], in db: Database) throws -> [Int64] {
        var numbers: [Int64] = []
        let now = AccountStore.timestamp()
        for event in events {
            let seq = try highWaterMark(db) + 1
            try db.cachedStatement(sql: "INSERT INTO repo_seq (seq, event_type, event, sequenced_at) VALUES (?, ?, ?, ?)").execute(
                arguments: [seq, event.type, Data(event.encode(seq: seq)), now])
            numbers.append(seq)
        }
        return numbers
    }

    /// Where a replay starts: the high-water mark and the first seq sequenced at or after `cutoff`
    /// (the oldest event inside the retention window), nil when no event is that recent. Read in
    /// one snapshot so the two agree.
    public func window(since cutoff: Date) async throws -> (highWaterMark: Int64, firstInWindow: Int64?) {
        let stamp = AccountStore.timestamp(cutoff)
        return try await database.pool.read { db in
            let high = try Self.highWaterMark(db)
            // `sequenced_at` is fixed-width ISO 8601 UTC with milliseconds, so text order is time order.
            let first = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM repo_seq WHERE sequenced_at >= ?", arguments: [stamp])
            return (high, first)
        }
    }

    /// Events with seq > `after`, in order: at most `limit` of them and, past the first, no more than
    /// about `maxBytes` of frames, so one page of a long backlog holds bounded memory.
    public func events(after: Int64, limit: Int, maxBytes: Int) async throws -> [StoredEvent] {
        try await database.pool.read { db in
            var page: [StoredEvent] = []
            var bytes = 0
            let rows = try Row.fetchCursor(
                db, sql: "SELECT seq, event FROM repo_seq WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [after, limit])
            while let row = try rows.next() {
                let frame: Data = row["event"]
                page.append(StoredEvent(seq: row["seq"], frame: [UInt8](frame)))
                bytes += frame.count
                if bytes >= maxBytes { break }
            }
            return page
        }
    }

    /// What a prune did.
    public struct PruneReport: Sendable {
        /// Events deleted.
        public var removed = 0
        /// Transactions it took.
        public var batches = 0
        /// The longest time one batch held the writer (its transaction, commit included).
        public var longestBatch: Duration = .zero
    }

    /// Deletes events sequenced before `cutoff`, in batches of their own transactions so that a
    /// commit never waits long behind a prune (issue 16: no write waits > 50 ms). Batches start
    /// at 64 events, double up to `batchSize` while one takes under a quarter of `batchBudget`,
    /// and halve (down to 8) when one takes longer (event frames are large: deleting them frees
    /// overflow pages, which SQLite reads to free). Between batches the writer is free for commits. `sqlite_sequence` is left alone (AUTOINCREMENT),
    /// so a seq is never reused (https://atproto.com/specs/event-stream, "never reuse a seq").
    @discardableResult
    public func prune(before cutoff: Date, batchSize: Int = 500, batchBudget: Duration = .milliseconds(20)) async throws -> PruneReport {
        let stamp = AccountStore.timestamp(cutoff)
        var report = PruneReport()
        var size = max(1, min(batchSize, 64))
        let clock = ContinuousClock()
        while true {
            let limit = size
            let (removed, took) = try await database.pool.writeWithoutTransaction { db -> (Int, Duration) in
                var removed = 0
                let took = try clock.measure {
                    try db.inTransaction {
                        try db.execute(sql: """
                            DELETE FROM repo_seq WHERE seq IN (SELECT seq FROM repo_seq WHERE sequenced_at < ? LIMIT ?)
                            """, arguments: [stamp, limit])
                        removed = db.changesCount
                        return .commit
                    }
                }
                return (removed, took)
            }
            report.removed += removed
            report.batches += 1
            report.longestBatch = max(report.longestBatch, took)
            if removed < limit { return report }
            if took > batchBudget {
                size = max(size / 2, min(8, size))
            } else if took < batchBudget / 4 {
                size = min(size * 2, max(1, batchSize))
            }
            await Task.yield()
        }
    }
}
