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
        /// The longest time one batch spent deleting, before its commit (the part `batchBudget`
        /// bounds; the commit's WAL write and fsync are a write's like any other).
        public var longestDeleting: Duration = .zero
    }

    /// Deletes events sequenced before `cutoff`, in short transactions of their own so that a
    /// commit never waits long behind a prune (issue 16: no write waits > 50 ms). Each batch is
    /// bounded twice: at most `batchSize` rows, and it stops deleting once it has held the writer
    /// for `batchBudget` (then commits what it deleted). The time bound matters when the disk is
    /// slow: a stored `#commit` frame is a few pages (its CAR slice spills to overflow pages),
    /// and SQLite reads each overflow page to free it. The row bound keeps a batch's commit (the
    /// pages it writes to the WAL and fsyncs) about the size of a write's. After each batch the
    /// prune pauses as long as the batch took, so commits get the writer at least half the time
    /// instead of queueing behind batch after batch (`pauses: false` when no one else writes:
    /// `pds compact`).
    /// `sqlite_sequence` is left alone (AUTOINCREMENT), so a seq is never reused
    /// (https://atproto.com/specs/event-stream, "never reuse a seq").
    @discardableResult
    public func prune(before cutoff: Date, batchSize: Int = 100, batchBudget: Duration = .milliseconds(8),
                      pauses: Bool = true) async throws -> PruneReport {
        let stamp = AccountStore.timestamp(cutoff)
        let limit = max(1, batchSize)
        var report = PruneReport()
        while true {
            let (removed, more, deleting, took) = try await database.pool.writeWithoutTransaction { db in
                try Self.pruneBatch(before: stamp, limit: limit, budget: batchBudget, in: db)
            }
            if removed > 0 || more {
                report.removed += removed
                report.batches += 1
                report.longestBatch = max(report.longestBatch, took)
                report.longestDeleting = max(report.longestDeleting, deleting)
            }
            if !more { return report }
            if pauses { try await Task.sleep(for: took) }
        }
    }

    /// One prune transaction: deletes events before `stamp`, oldest first, until `limit` rows or
    /// `budget` of writer time. Returns the rows deleted, whether older events remain, how long
    /// it deleted and how long the transaction held the writer (its commit included).
    static func pruneBatch(before stamp: String, limit: Int, budget: Duration, in db: Database) throws -> (Int, Bool, Duration, Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        var removed = 0, more = false, deleting = Duration.zero
        try db.inTransaction {
            // Read from the `sequenced_at` index alone (it holds the seq): the row itself keeps
            // `sequenced_at` after the frame, which may sit in overflow pages.
            let candidates = try Int64.fetchAll(
                db, sql: "SELECT seq FROM repo_seq INDEXED BY repo_seq_time WHERE sequenced_at < ? LIMIT ?", arguments: [stamp, limit])
            let delete = try db.cachedStatement(sql: "DELETE FROM repo_seq WHERE seq = ?")
            for seq in candidates {
                try delete.execute(arguments: [seq])
                removed += 1
                if clock.now - start >= budget { break }
            }
            more = removed < candidates.count || candidates.count == limit
            deleting = clock.now - start
            return .commit
        }
        return (removed, more, deleting, clock.now - start)
    }
}
