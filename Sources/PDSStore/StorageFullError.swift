import GRDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A write failed because the filesystem is full (`ENOSPC`, `EDQUOT`, SQLite's `SQLITE_FULL`).
///
/// Nothing of the write was kept: SQLite rolls the transaction back, and a blob upload removes
/// its temporary file (and a new blob file whose row could not be inserted). The server answers
/// it with a clear 5xx instead of a generic 500; writes work again once space is freed.
public struct StorageFullError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was being written, for the log (never shown to clients).
    public let detail: String

    init(detail: String) { self.detail = detail }

    /// `error` as a `StorageFullError` if it is one: this type, or SQLite's `SQLITE_FULL`
    /// ("database or disk is full", https://sqlite.org/rescode.html#full), which SQLite reports
    /// when a write to the database, its WAL or a journal fails for lack of space.
    public init?(_ error: any Error) {
        if let error = error as? StorageFullError {
            self = error
        } else if let error = error as? DatabaseError, error.resultCode == .SQLITE_FULL {
            detail = "database: \(error.message ?? "database or disk is full")"
        } else {
            return nil
        }
    }

    /// True for the `errno` values of a full filesystem or an exhausted quota.
    static func isFull(errno code: Int32) -> Bool { code == ENOSPC || code == EDQUOT }

    public var description: String { "storage full (\(detail))" }
}
