import ATData
import ATRepo
import ATSync
import Foundation
import GRDB

/// One record-index change in a commit.
public struct RecordChange: Sendable {
    public var collection: String
    public var rkey: String
    /// The new record CID, or nil for a delete.
    public var cid: CID?
    /// Blobs the new record references (empty for deletes).
    public var blobs: [BlobRef]
    /// Whether a record was at this path before the change. When not (a create), it has no blob
    /// references to drop, and two statements per create are skipped.
    public var replacesRecord: Bool

    public init(collection: String, rkey: String, cid: CID?, blobs: [BlobRef], replacesRecord: Bool = true) {
        self.collection = collection
        self.rkey = rkey
        self.cid = cid
        self.blobs = blobs
        self.replacesRecord = replacesRecord
    }
}

/// Everything one commit writes. `RepositoryStore.apply` stores it in a single transaction.
public struct CommitWrite: Sendable {
    public var commit: SignedCommit
    /// New blocks: MST nodes, records, and the commit itself.
    public var blocks: BlockMap
    public var records: [RecordChange]
    /// The firehose events of the commit. They are encoded inside the transaction, once their
    /// sequence numbers are assigned, so the stored frame carries its own `seq`.
    public var events: [RepoEvent]
    /// Blocks the new commit no longer reaches and no path can share: the previous commit and the
    /// MST nodes it replaced. Deleted in the commit's transaction (docs/ARCHITECTURE.md, "Blocks").
    public var removedBlocks: [CID]
    /// Per record CID, how many paths gained it (positive) or lost it (negative) in this commit.
    /// `repo_block.refs` counts the paths holding each record block (identical records under
    /// several paths share one block); a block whose count reaches 0 is deleted in the same
    /// transaction. A gained record's bytes must be in `blocks`. Record blocks in `blocks` without
    /// an entry here are stored as before, uncounted.
    public var recordReferences: [CID: Int]

    public init(commit: SignedCommit, blocks: BlockMap, records: [RecordChange], events: [RepoEvent],
                removedBlocks: [CID] = [], recordReferences: [CID: Int] = [:]) {
        self.commit = commit
        self.blocks = blocks
        self.records = records
        self.events = events
        self.removedBlocks = removedBlocks
        self.recordReferences = recordReferences
    }
}

/// What a stored commit produced.
public struct CommitOutcome: Sendable {
    /// Sequence numbers of the stored events, in order.
    public var sequenceNumbers: [Int64]
    /// Blobs no record references any more: their files can be deleted now that the transaction
    /// committed.
    public var orphanedBlobs: [CID]
}

/// A blob a record refers to that is unknown or does not match what was uploaded.
public enum BlobReferenceError: Error, Equatable, Sendable {
    case notFound(CID)
    case mimeTypeMismatch(CID, stored: String, declared: String)
    case sizeMismatch(CID, stored: Int64, declared: Int64)
}

/// Repository state in SQLite: blocks, the record index, blob references, the current root and
/// the event log — written together, one transaction per commit (docs/ARCHITECTURE.md, "A write").
public struct RepositoryStore: Sendable {
    let database: PDSDatabase

    public init(database: PDSDatabase) { self.database = database }

    /// The current commit CID and rev, if the repository exists.
    public func head() throws -> (cid: CID, rev: String)? {
        try database.pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT cid, rev FROM repo_root LIMIT 1") else { return nil }
            return (try CID(string: row["cid"]), row["rev"])
        }
    }

    /// A block source over committed blocks, on a read-only connection of its own.
    public func blockSource() throws -> SQLiteBlockSource {
        try SQLiteBlockSource(database: database)
    }

    /// Runs `body` on the writer connection *synchronously*, on the calling thread (a `sync` on
    /// the idle writer queue runs in place). The async variant hops to the writer's thread and
    /// back, two thread switches per write, which cost more than the commit's own work on a small
    /// machine (docs/ARCHITECTURE.md, "Threads"). The async variant has a name of its own so that
    /// overload resolution in an async caller cannot pick it. Writes are serialised: while `body`
    /// runs, no other write does, so it can read the current head, build a commit and store it.
    public func withWriter<T>(_ body: (Writer) throws -> T) throws -> T {
        try database.pool.writeWithoutTransaction { db in try body(Writer(db: db)) }
    }

    /// `withWriter`, waiting for the writer without blocking the calling thread.
    public func withWriterAsync<T: Sendable>(_ body: @escaping @Sendable (Writer) throws -> T) async throws -> T {
        try await database.pool.writeWithoutTransaction { db in try body(Writer(db: db)) }
    }

    /// The writer connection, valid only inside the `withWriter` closure that handed it out.
    public struct Writer {
        let db: Database

        /// Stores `write` in one transaction, committed when this returns; on error nothing of
        /// it is stored.
        public func store(_ write: CommitWrite, did: String) throws -> CommitOutcome {
            // Inside a transaction already (a test's DatabaseQueue inside a write): part of it.
            guard !db.isInsideTransaction else { return try RepositoryStore.apply(write, did: did, in: db) }
            // Opened and committed with cached statements: GRDB's `inTransaction` prepared its
            // `BEGIN` anew every time, ~19,000 instructions a write (docs/ARCHITECTURE.md,
            // "Where the time goes"). Still one transaction per commit, durable at COMMIT.
            try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
            do {
                let stored = try RepositoryStore.apply(write, did: did, in: db)
                try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
                return stored
            } catch {
                if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TRANSACTION") }
                throw error
            }
        }
    }

    /// Stores a commit atomically. `db` must be inside a write transaction (the caller's), so
    /// the caller can update its in-memory state only after the transaction commits.
    // Every statement here runs on each commit: cached statements skip SQLite's parser and
    // GRDB's authorizer pass, which profiles showed as a sizeable share of a write.
    static func apply(_ write: CommitWrite, did: String, in db: Database) throws -> CommitOutcome {
        let rev = write.commit.commit.rev ?? ""
        let now = AccountStore.timestamp()
        let insertBlock = try db.cachedStatement(
            sql: "INSERT OR IGNORE INTO repo_block (cid, repo_rev, size, content) VALUES (?, ?, ?, ?)")
        for (cid, bytes) in write.blocks where write.recordReferences[cid] == nil {
            try insertBlock.execute(arguments: [Data(cid.bytes), rev, bytes.count, Data(bytes)])
        }
        // Records gaining paths: stored with their count, or counted up (a NULL count is a block
        // no path held when migration v6 counted them).
        for (cid, delta) in write.recordReferences where delta > 0 {
            guard let bytes = write.blocks[cid] else { preconditionFailure("a gained record's block is not in the commit") }
            try db.cachedStatement(sql: """
                INSERT INTO repo_block (cid, repo_rev, size, content, refs) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (cid) DO UPDATE SET refs = COALESCE(refs, 0) + excluded.refs
                """).execute(arguments: [Data(cid.bytes), rev, bytes.count, Data(bytes), delta])
        }

        let touchedBlobs = try indexRecords(write.records, rev: rev, in: db)

        // A blob whose last reference went away is deleted (the reference PDS, GC on delete).
        var orphaned: [CID] = []
        for key in touchedBlobs {
            let stillUsed = try Int.fetchOne(try db.cachedStatement(sql: "SELECT 1 FROM record_blob WHERE blob_cid = ? LIMIT 1"), arguments: [key]) != nil
            if !stillUsed {
                try db.cachedStatement(sql: "DELETE FROM blob WHERE cid = ?").execute(arguments: [key])
                if let cid = try? CID(string: key) { orphaned.append(cid) }
            }
        }

        try removeBlocks(write, in: db)

        try db.cachedStatement(sql: """
                INSERT INTO repo_root (did, cid, rev, indexed_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (did) DO UPDATE SET cid = excluded.cid, rev = excluded.rev, indexed_at = excluded.indexed_at
                """).execute(arguments: [did, write.commit.cid.string, rev, now])

        let sequenceNumbers = try EventLogStore.appendEvents(write.events, in: db)
        return CommitOutcome(sequenceNumbers: sequenceNumbers, orphanedBlobs: orphaned)
    }

    /// Updates the record index and the blob references of `changes`; returns the blobs whose
    /// references were dropped (candidates for deletion).
    static func indexRecords(_ changes: [RecordChange], rev: String, in db: Database) throws -> Set<String> {
        var touchedBlobs = Set<String>()
        for change in changes {
            // The old record's blob references go; the new record's come.
            if change.replacesRecord {
                let previous = try String.fetchAll(try db.cachedStatement(sql: "SELECT blob_cid FROM record_blob WHERE collection = ? AND rkey = ?"),
                    arguments: [change.collection, change.rkey])
                touchedBlobs.formUnion(previous)
                try db.cachedStatement(sql: "DELETE FROM record_blob WHERE collection = ? AND rkey = ?").execute(arguments: [change.collection, change.rkey])
            }
            if let cid = change.cid {
                try db.cachedStatement(sql: """
                        INSERT INTO record (collection, rkey, cid, repo_rev) VALUES (?, ?, ?, ?)
                        ON CONFLICT (collection, rkey) DO UPDATE SET cid = excluded.cid, repo_rev = excluded.repo_rev
                        """).execute(arguments: [change.collection, change.rkey, Data(cid.bytes), rev])
                for blob in change.blobs {
                    let key = blob.ref.string
                    guard let stored = try Row.fetchOne(try db.cachedStatement(sql: "SELECT mime_type, size FROM blob WHERE cid = ?"), arguments: [key]) else {
                        throw BlobReferenceError.notFound(blob.ref)
                    }
                    let storedType: String = stored["mime_type"], storedSize: Int64 = stored["size"]
                    if !blob.isLegacy {
                        guard storedType == blob.mimeType else {
                            throw BlobReferenceError.mimeTypeMismatch(blob.ref, stored: storedType, declared: blob.mimeType)
                        }
                        if let size = blob.size, size != storedSize {
                            throw BlobReferenceError.sizeMismatch(blob.ref, stored: storedSize, declared: size)
                        }
                    }
                    try db.cachedStatement(sql: "INSERT OR IGNORE INTO record_blob (blob_cid, collection, rkey) VALUES (?, ?, ?)").execute(
                        arguments: [key, change.collection, change.rkey])
                    // Referenced now: no longer temporary, so the sweeper leaves it alone.
                    try db.cachedStatement(sql: "UPDATE blob SET temp_key = NULL WHERE cid = ?").execute(arguments: [key])
                }
            } else {
                try db.cachedStatement(sql: "DELETE FROM record WHERE collection = ? AND rkey = ?").execute(arguments: [change.collection, change.rkey])
            }
        }

        return touchedBlobs
    }

    /// Deletes the blocks the new tree no longer reaches.
    static func removeBlocks(_ write: CommitWrite, in db: Database) throws {
        // Blocks the new tree no longer reaches (docs/ARCHITECTURE.md, "Blocks"): replaced nodes,
        // the previous commit, and records no path holds any more.
        if !write.removedBlocks.isEmpty {
            let deleteBlock = try db.cachedStatement(sql: "DELETE FROM repo_block WHERE cid = ?")
            for cid in write.removedBlocks { try deleteBlock.execute(arguments: [Data(cid.bytes)]) }
        }
        // Usually the last path went and one statement deletes the block; otherwise it counts down.
        for (cid, delta) in write.recordReferences where delta < 0 {
            let key = Data(cid.bytes)
            try db.cachedStatement(sql: "DELETE FROM repo_block WHERE cid = ? AND COALESCE(refs, 0) + ? <= 0").execute(arguments: [key, delta])
            if db.changesCount == 0 {
                try db.cachedStatement(sql: "UPDATE repo_block SET refs = COALESCE(refs, 0) + ? WHERE cid = ?").execute(arguments: [delta, key])
            }
        }
    }

    // MARK: Record index reads

    /// One indexed record's CID.
    public func recordCID(collection: String, rkey: String) throws -> CID? {
        try database.singleStatementRead { db in
            try Data.fetchOne(try db.cachedStatement(sql: "SELECT cid FROM record WHERE collection = ? AND rkey = ?"),
                              arguments: [collection, rkey])
                .flatMap { try? CID(bytes: Array($0)) }
        }
    }

    /// A page of a collection, by rkey: descending by default (newest TIDs first), ascending with
    /// `reverse`, as listRecords defines.
    public func listRecords(collection: String, limit: Int, cursor: String?, reverse: Bool) throws -> [(rkey: String, cid: CID)] {
        try database.singleStatementRead { db in try Self.listRecords(collection: collection, limit: limit, cursor: cursor, reverse: reverse, in: db) }
    }

    /// A page of a collection with each record's bytes, read in one snapshot (a record the page
    /// names always comes with its block): one statement, the page joined with its blocks, which
    /// SQLite runs as its own read transaction; rkey, CID and bytes are copied once out of
    /// SQLite's buffers (docs/ARCHITECTURE.md, "Reads").
    public func listRecordsWithBytes(collection: String, limit: Int, cursor: String?, reverse: Bool) throws
        -> [(rkey: String, cid: CID, bytes: [UInt8])] {
        let order = reverse ? "ASC" : "DESC"
        // Four fixed statements, so each can be cached.
        let sql = """
            SELECT record.rkey, record.cid, repo_block.content FROM record JOIN repo_block ON repo_block.cid = record.cid
            WHERE record.collection = ?\(cursor == nil ? "" : reverse ? " AND record.rkey > ?" : " AND record.rkey < ?")
            ORDER BY record.rkey \(order) LIMIT ?
            """
        let arguments: StatementArguments = cursor.map { [collection, $0, limit] } ?? [collection, limit]
        return try database.singleStatementRead { db in
            var page: [(rkey: String, cid: CID, bytes: [UInt8])] = []
            page.reserveCapacity(limit)
            let statement = try db.cachedStatement(sql: sql)
            let rows = try Row.fetchCursor(statement, arguments: arguments)
            while try rows.next() != nil {
                guard let cid = try? CID(bytes: statement.bytes(atColumn: 1)) else { continue }
                page.append((statement.text(atColumn: 0), cid, statement.bytes(atColumn: 2)))
            }
            return page
        }
    }

    static func listRecords(collection: String, limit: Int, cursor: String?, reverse: Bool, in db: Database) throws -> [(rkey: String, cid: CID)] {
        // Four fixed statements, so each can be cached.
        let sql: String
        switch (cursor != nil, reverse) {
        case (false, false): sql = "SELECT rkey, cid FROM record WHERE collection = ? ORDER BY rkey DESC LIMIT ?"
        case (false, true): sql = "SELECT rkey, cid FROM record WHERE collection = ? ORDER BY rkey ASC LIMIT ?"
        case (true, false): sql = "SELECT rkey, cid FROM record WHERE collection = ? AND rkey < ? ORDER BY rkey DESC LIMIT ?"
        case (true, true): sql = "SELECT rkey, cid FROM record WHERE collection = ? AND rkey > ? ORDER BY rkey ASC LIMIT ?"
        }
        let arguments: StatementArguments = cursor.map { [collection, $0, limit] } ?? [collection, limit]
        var page: [(rkey: String, cid: CID)] = []
        page.reserveCapacity(limit)
        let rows = try Row.fetchCursor(try db.cachedStatement(sql: sql), arguments: arguments)
        while let row = try rows.next() {
            guard let cid = try? CID(bytes: Array(row[1] as Data)) else { continue }
            page.append((row[0], cid))
        }
        return page
    }

    /// The collections that hold records.
    public func collections() throws -> [String] {
        try database.pool.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT collection FROM record ORDER BY collection") }
    }

    /// One indexed record's CID and bytes, read in one snapshot (a record deleted meanwhile is
    /// absent, never a CID without its block).
    public func record(collection: String, rkey: String) throws -> (cid: CID, bytes: [UInt8])? {
        // One statement (a join) is its own snapshot: no transaction around it. Both columns are
        // copied once out of SQLite's buffers.
        try database.singleStatementRead { db in
            let statement = try db.cachedStatement(sql: """
                SELECT record.cid, repo_block.content FROM record JOIN repo_block ON repo_block.cid = record.cid
                WHERE record.collection = ? AND record.rkey = ?
                """)
            let rows = try Row.fetchCursor(statement, arguments: [collection, rkey])
            guard try rows.next() != nil, let cid = try? CID(bytes: statement.bytes(atColumn: 0)) else { return nil }
            return (cid, statement.bytes(atColumn: 1))
        }
    }

    /// A block's bytes.
    public func block(_ cid: CID) throws -> [UInt8]? {
        try database.singleStatementRead { db in try db.repoBlock(cid.bytes) }
    }
}
