import GRDB

/// The count of consecutive failed logins (see `PDSSchema.v5`).
public struct LoginFailures: Sendable, Equatable {
    public var failures: Int
    /// Unix seconds.
    public var firstFailureAt: Int64
    public var lastFailureAt: Int64

    public init(failures: Int, firstFailureAt: Int64, lastFailureAt: Int64) {
        self.failures = failures
        self.firstFailureAt = firstFailureAt
        self.lastFailureAt = lastFailureAt
    }
}

extension AccountStore {
    /// The current count, nil after a success or an unlock.
    public func loginFailures() throws -> LoginFailures? {
        try database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM login_failure WHERE id = 1").map {
                LoginFailures(failures: $0["failures"], firstFailureAt: $0["first_failure_at"], lastFailureAt: $0["last_failure_at"])
            }
        }
    }

    /// Counts one more failure at `now` and returns the new count.
    @discardableResult
    public func recordLoginFailure(now: Int64) throws -> LoginFailures {
        try database.pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO login_failure (id, failures, first_failure_at, last_failure_at) VALUES (1, 1, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET failures = failures + 1, last_failure_at = excluded.last_failure_at
                    """,
                arguments: [now, now])
            let row = try Row.fetchOne(db, sql: "SELECT * FROM login_failure WHERE id = 1")!
            return LoginFailures(failures: row["failures"], firstFailureAt: row["first_failure_at"], lastFailureAt: row["last_failure_at"])
        }
    }

    /// Forgets the failures (a successful login, or the operator's `pds account unlock-logins`).
    /// Returns how many there were.
    @discardableResult
    public func resetLoginFailures() throws -> Int {
        try database.pool.write { db in
            let count = try Int.fetchOne(db, sql: "SELECT failures FROM login_failure WHERE id = 1") ?? 0
            try db.execute(sql: "DELETE FROM login_failure")
            return count
        }
    }
}
