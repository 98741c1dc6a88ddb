import Foundation
import GRDB
import GRDBSQLite

extension PDSDatabase {
    /// Bytes SQLite has allocated in this process, page caches of every connection included
    /// (`sqlite3_memory_used`, https://sqlite.org/c3ref/memory_highwater.html): the part of the
    /// server's memory that grows as connections read different pages, up to each cache's size.
    public static var sqliteMemoryUsed: Int64 { sqlite3_memory_used() }

    /// One read on one of `readers` (else a pooled reader) without GRDB's isolation wrapper
    /// (`DatabasePool.read` opens a savepoint with uncached `BEGIN`/`COMMIT` statements around
    /// every read). Only for a body that runs a single statement: SQLite runs one statement in
    /// autocommit mode as its own read transaction, so it sees one consistent snapshot anyway
    /// (docs/ARCHITECTURE.md, "Reads").
    func singleStatementRead<T>(_ body: (Database) throws -> T) throws -> T {
        if let result = try readers?.read(body) { return result }
        return try pool.unsafeRead(body)
    }

    /// A read of several statements in one snapshot: an explicit deferred transaction whose
    /// `BEGIN` and `COMMIT` are cached statements, so a short read pays neither SQLite's parser
    /// nor GRDB's authorizer for them (docs/ARCHITECTURE.md, "Reads").
    func snapshotRead<T>(_ body: (Database) throws -> T) throws -> T {
        if let result = try readers?.read({ db in try Self.inSnapshot(db, body) }) { return result }
        return try pool.unsafeRead { db in try Self.inSnapshot(db, body) }
    }

    private static func inSnapshot<T>(_ db: Database, _ body: (Database) throws -> T) throws -> T {
        // Inside a transaction already (a test's DatabaseQueue inside a write): nothing to open.
        guard !db.isInsideTransaction else { return try body(db) }
        try db.cachedStatement(sql: "BEGIN DEFERRED TRANSACTION").execute()
        do {
            let result = try body(db)
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
            return result
        } catch {
            if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TRANSACTION") }
            throw error
        }
    }
}

extension Database {
    /// The bytes of repository block `cid`, read with a cached statement and copied once out of
    /// SQLite's buffer (no intermediate `Data`).
    func repoBlock(_ cid: [UInt8]) throws -> [UInt8]? {
        let statement = try cachedStatement(sql: "SELECT content FROM repo_block WHERE cid = ?")
        let rows = try Row.fetchCursor(statement, arguments: [Data(cid)])
        guard try rows.next() != nil else { return nil }
        return statement.bytes(atColumn: 0)
    }
}

extension Statement {
    /// Column `index` of the row a cursor over this statement is on, copied once out of SQLite's
    /// buffer (empty for NULL). GRDB's `Row.withUnsafeData` wraps the bytes in a `Data` first,
    /// a heap object per column, which was a tenth of a listRecords page.
    func bytes(atColumn index: Int32) -> [UInt8] {
        // sqlite3_column_blob before sqlite3_column_bytes: https://sqlite.org/c3ref/column_blob.html
        guard let start = sqlite3_column_blob(sqliteStatement, index) else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: Int(sqlite3_column_bytes(sqliteStatement, index))))
    }

    /// Text column `index` of the current row (empty for NULL).
    func text(atColumn index: Int32) -> String {
        guard let start = sqlite3_column_text(sqliteStatement, index) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: start, count: Int(sqlite3_column_bytes(sqliteStatement, index))), as: UTF8.self)
    }
}
