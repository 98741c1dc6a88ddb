import GRDB
import Synchronization

/// A pushed authorization request, and later the code issued for it.
public struct OAuthRequestRow: Sendable, Equatable {
    public var id: String
    public var clientID: String
    /// The request's parameters as JSON (the store does not interpret them).
    public var parameters: String
    public var dpopJKT: String?
    public var clientKey: String?
    public var expiresAt: Int64
    public var did: String?
    public var codeHash: String?
    public var sessionID: String?

    public init(id: String, clientID: String, parameters: String, dpopJKT: String?, clientKey: String?, expiresAt: Int64,
                did: String? = nil, codeHash: String? = nil, sessionID: String? = nil) {
        self.id = id
        self.clientID = clientID
        self.parameters = parameters
        self.dpopJKT = dpopJKT
        self.clientKey = clientKey
        self.expiresAt = expiresAt
        self.did = did
        self.codeHash = codeHash
        self.sessionID = sessionID
    }

    init(row: Row) {
        self.init(id: row["id"], clientID: row["client_id"], parameters: row["parameters"], dpopJKT: row["dpop_jkt"],
                  clientKey: row["client_key"], expiresAt: row["expires_at"], did: row["did"], codeHash: row["code_hash"],
                  sessionID: row["session_id"])
    }
}

/// A signed-in browser on the server's own pages.
public struct OAuthPageSession: Sendable, Equatable {
    public var id: String
    public var did: String
    public var csrf: String
    public var expiresAt: Int64

    public init(id: String, did: String, csrf: String, expiresAt: Int64) {
        self.id = id
        self.did = did
        self.csrf = csrf
        self.expiresAt = expiresAt
    }
}

/// OAuth state in SQLite (see `OAuthSchema`). Callers pass hashes, never raw tokens, and `now`
/// in Unix seconds; expired rows are treated as absent and removed by `sweep(now:)`.
public struct OAuthStore: Sendable {
    let database: PDSDatabase
    /// Live sessions by access-token hash, kept in memory: every DPoP request looks its token up,
    /// and a SQLite read per request cost more than the rest of the DPoP check. Sessions change
    /// only through this store, and every method that ends or rotates one empties the cache, so a
    /// revocation is seen by the next request. Copies of the store share it.
    let sessionCache = SessionCache()

    public init(database: PDSDatabase) {
        self.database = database
    }

    final class SessionCache: Sendable {
        private let rows = Mutex<[String: OAuthSessionRow]>([:])
        static let capacity = 256

        func get(_ accessHash: String) -> OAuthSessionRow? { rows.withLock { $0[accessHash] } }

        func put(_ row: OAuthSessionRow) {
            rows.withLock { rows in
                if rows.count >= Self.capacity { rows.removeAll() }
                rows[row.accessHash] = row
            }
        }

        func clear() { rows.withLock { $0.removeAll() } }
    }

    // MARK: Pushed requests and codes

    public func insertRequest(_ request: OAuthRequestRow) throws {
        try database.pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO oauth_request (id, client_id, parameters, dpop_jkt, client_key, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [request.id, request.clientID, request.parameters, request.dpopJKT, request.clientKey, request.expiresAt])
        }
    }

    /// The pending (not yet approved) request, if it has not expired.
    public func pendingRequest(id: String, now: Int64) throws -> OAuthRequestRow? {
        try database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM oauth_request WHERE id = ? AND expires_at > ? AND code_hash IS NULL",
                             arguments: [id, now]).map(OAuthRequestRow.init(row:))
        }
    }

    /// Records the owner's approval and the code; the row then lives until `codeExpiresAt`.
    /// False if the request is gone or was already approved (a request URI is single use).
    public func approveRequest(id: String, did: String, codeHash: String, codeExpiresAt: Int64, now: Int64) throws -> Bool {
        try database.pool.write { db in
            try db.execute(
                sql: """
                    UPDATE oauth_request SET did = ?, code_hash = ?, expires_at = ?
                    WHERE id = ? AND expires_at > ? AND code_hash IS NULL
                    """,
                arguments: [did, codeHash, codeExpiresAt, id, now])
            return db.changesCount == 1
        }
    }

    /// Deletes a request (denied, or failed in a way that ends it).
    public func deleteRequest(id: String) throws {
        try database.pool.write { db in try db.execute(sql: "DELETE FROM oauth_request WHERE id = ?", arguments: [id]) }
    }

    /// What presenting a code found.
    public enum CodeExchange: Sendable, Equatable {
        /// First use: the session was created from the approved request.
        case issued(OAuthSessionRow)
        /// The code had already been exchanged: the session it created is now revoked (RFC 6749 §4.1.2).
        case reused
        case unknown
    }

    /// Exchanges a code in one transaction: `makeSession` sees the approved request and returns
    /// the session to store, or throws to refuse (nothing is consumed then).
    public func exchangeCode(
        hash: String, now: Int64, makeSession: (OAuthRequestRow) throws -> OAuthSessionRow
    ) throws -> CodeExchange {
        defer { sessionCache.clear() }
        return try database.pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM oauth_request WHERE code_hash = ?", arguments: [hash]) else {
                return .unknown
            }
            let request = OAuthRequestRow(row: row)
            if let sessionID = request.sessionID {
                try db.execute(sql: "DELETE FROM oauth_session WHERE id = ?", arguments: [sessionID])
                return .reused
            }
            guard request.expiresAt > now else { return .unknown }
            let session = try makeSession(request)
            try Self.insert(session, db)
            // The row stays (until its expiry plus the refresh lifetime is irrelevant: a reuse
            // after the code's own expiry is refused as unknown anyway) to recognise reuse.
            try db.execute(sql: "UPDATE oauth_request SET session_id = ? WHERE id = ?", arguments: [session.id, request.id])
            return .issued(session)
        }
    }

    // MARK: Replay

    /// Records `key` until `expiresAt`; false if it is already recorded and unexpired (a replay).
    public func recordOnce(_ key: String, expiresAt: Int64, now: Int64) throws -> Bool {
        try database.pool.write { db in
            if let existing = try Int64.fetchOne(db, sql: "SELECT expires_at FROM oauth_replay WHERE key = ?", arguments: [key]),
               existing > now {
                return false
            }
            try db.execute(sql: "INSERT OR REPLACE INTO oauth_replay (key, expires_at) VALUES (?, ?)", arguments: [key, expiresAt])
            return true
        }
    }

    // MARK: Approvals

    public func approval(did: String, clientID: String) throws -> String? {
        try database.pool.read { db in
            try String.fetchOne(db, sql: "SELECT scope FROM oauth_approval WHERE did = ? AND client_id = ?", arguments: [did, clientID])
        }
    }

    public func saveApproval(did: String, clientID: String, scope: String, now: Int64) throws {
        try database.pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO oauth_approval (did, client_id, scope, approved_at) VALUES (?, ?, ?, ?)",
                           arguments: [did, clientID, scope, now])
        }
    }

    // MARK: Page sessions

    public func createPageSession(_ session: OAuthPageSession, now: Int64) throws {
        try database.pool.write { db in
            try db.execute(sql: "INSERT INTO oauth_page_session (id, did, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [session.id, session.did, session.csrf, now, session.expiresAt])
        }
    }

    public func pageSession(id: String, now: Int64) throws -> OAuthPageSession? {
        try database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM oauth_page_session WHERE id = ? AND expires_at > ?", arguments: [id, now]).map {
                OAuthPageSession(id: $0["id"], did: $0["did"], csrf: $0["csrf"], expiresAt: $0["expires_at"])
            }
        }
    }

    public func deletePageSession(id: String) throws {
        try database.pool.write { db in try db.execute(sql: "DELETE FROM oauth_page_session WHERE id = ?", arguments: [id]) }
    }

    // MARK: Sweep

    /// Deletes every expired row; returns how many. Sessions go when the session itself ends
    /// (their refresh token or session lifetime is over, whichever comes first).
    @discardableResult
    public func sweep(now: Int64) throws -> Int {
        defer { sessionCache.clear() }
        return try database.pool.write { db in
            var removed = 0
            for sql in [
                "DELETE FROM oauth_request WHERE expires_at <= ?",
                "DELETE FROM oauth_replay WHERE expires_at <= ?",
                "DELETE FROM oauth_page_session WHERE expires_at <= ?",
                "DELETE FROM oauth_session WHERE expires_at <= ?1 OR (refresh_expires_at IS NOT NULL AND refresh_expires_at <= ?1 AND access_expires_at <= ?1)",
            ] {
                try db.execute(sql: sql, arguments: [now])
                removed += db.changesCount
            }
            return removed
        }
    }
}
