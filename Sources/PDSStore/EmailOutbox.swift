import Foundation
import GRDB

/// The durable queue of outgoing e-mail (`email_outbox`, migration `email-v1`).
///
/// Stores sealed bytes only: sealing and the SMTP dialogue belong to the layers above. A
/// message is enqueued in its own transaction before the request that caused it answers, and
/// removed only once the SMTP server took it, so a crash between the two sends it again (at
/// least once, as SMTP itself is).
public struct EmailOutbox: Sendable {
    /// One queued message.
    public struct Item: Sendable, Equatable {
        public var id: Int64
        public var purpose: String
        public var sealed: [UInt8]
        /// Failed attempts so far.
        public var attempts: Int
        /// When it was enqueued, Unix milliseconds.
        public var enqueuedAt: Int64
    }

    /// What the owner's status views show.
    public struct Summary: Sendable, Equatable {
        public var pending: Int
        public var oldestEnqueuedAt: Int64?
        public var lastError: String?
    }

    let database: PDSDatabase

    public init(database: PDSDatabase) { self.database = database }

    /// Unix milliseconds (the queue's time unit).
    public static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Adds a message, due at once; returns its id.
    @discardableResult
    public func enqueue(purpose: String, sealed: [UInt8], now: Date = Date()) throws -> Int64 {
        let nowMS = Self.milliseconds(now)
        return try database.pool.write { db in
            try db.execute(sql: "INSERT INTO email_outbox (purpose, sealed, next_attempt_at, enqueued_at) VALUES (?, ?, ?, ?)",
                           arguments: [purpose, Data(sealed), nowMS, nowMS])
            return db.lastInsertedRowID
        }
    }

    /// Up to `limit` messages due at `now`, oldest first.
    public func due(now: Date = Date(), limit: Int = 16) throws -> [Item] {
        try database.pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, purpose, sealed, attempts, enqueued_at FROM email_outbox WHERE next_attempt_at <= ? ORDER BY id LIMIT ?",
                arguments: [Self.milliseconds(now), limit]
            ).map { row in
                let sealed: Data = row["sealed"]
                return Item(id: row["id"], purpose: row["purpose"], sealed: [UInt8](sealed), attempts: row["attempts"],
                            enqueuedAt: row["enqueued_at"])
            }
        }
    }

    /// When the next message becomes due (nil when the queue is empty).
    public func nextDue() throws -> Date? {
        try database.pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT MIN(next_attempt_at) FROM email_outbox")
        }.map { Date(timeIntervalSince1970: Double($0) / 1000) }
    }

    /// The message was delivered (or can never be): it leaves the queue.
    public func remove(id: Int64) throws {
        try database.pool.write { db in try db.execute(sql: "DELETE FROM email_outbox WHERE id = ?", arguments: [id]) }
    }

    /// An attempt failed: counts it and makes the message due again at `retryAt`.
    public func failed(id: Int64, error: String, retryAt: Date) throws {
        try database.pool.write { db in
            try db.execute(sql: "UPDATE email_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
                           arguments: [Self.milliseconds(retryAt), String(error.prefix(500)), id])
        }
    }

    /// Queue length, oldest message and the latest failure.
    public func summary() throws -> Summary {
        try database.pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, MIN(enqueued_at) AS oldest FROM email_outbox")
            let lastError = try String.fetchOne(
                db, sql: "SELECT last_error FROM email_outbox WHERE last_error IS NOT NULL ORDER BY next_attempt_at DESC LIMIT 1")
            return Summary(pending: row?["n"] ?? 0, oldestEnqueuedAt: row?["oldest"], lastError: lastError)
        }
    }
}
