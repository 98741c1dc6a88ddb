import GRDB

/// A granted OAuth session (a token family).
public struct OAuthSessionRow: Sendable, Equatable {
    public var id: String
    public var did: String
    public var clientID: String
    /// The scope as requested (and shown to the owner), `include:` sets unexpanded.
    public var scope: String
    /// The scope granted when the request's permission sets were expanded; nil when it had none.
    public var grantedScope: String?
    public var dpopJKT: String
    public var clientAuth: String
    public var clientKey: String?
    public var createdAt: Int64
    public var expiresAt: Int64
    public var accessHash: String
    public var accessExpiresAt: Int64
    public var refreshHash: String?
    public var refreshExpiresAt: Int64?
    public var lastUsedAt: Int64

    public init(id: String, did: String, clientID: String, scope: String, dpopJKT: String, clientAuth: String, clientKey: String?,
                createdAt: Int64, expiresAt: Int64, accessHash: String, accessExpiresAt: Int64, refreshHash: String?,
                refreshExpiresAt: Int64?, grantedScope: String? = nil) {
        self.id = id
        self.grantedScope = grantedScope
        self.did = did
        self.clientID = clientID
        self.scope = scope
        self.dpopJKT = dpopJKT
        self.clientAuth = clientAuth
        self.clientKey = clientKey
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.accessHash = accessHash
        self.accessExpiresAt = accessExpiresAt
        self.refreshHash = refreshHash
        self.refreshExpiresAt = refreshExpiresAt
        self.lastUsedAt = createdAt
    }

    /// What the session's tokens allow: the granted scope, else the requested one.
    public var effectiveScope: String { grantedScope ?? scope }

    init(row: Row) {
        self.init(id: row["id"], did: row["did"], clientID: row["client_id"], scope: row["scope"], dpopJKT: row["dpop_jkt"],
                  clientAuth: row["client_auth"], clientKey: row["client_key"], createdAt: row["created_at"],
                  expiresAt: row["expires_at"], accessHash: row["access_hash"], accessExpiresAt: row["access_expires_at"],
                  refreshHash: row["refresh_hash"], refreshExpiresAt: row["refresh_expires_at"], grantedScope: row["granted_scope"])
        lastUsedAt = row["last_used_at"]
    }
}

extension OAuthStore {
    static func insert(_ session: OAuthSessionRow, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO oauth_session (id, did, client_id, scope, dpop_jkt, client_auth, client_key, created_at, expires_at,
                    access_hash, access_expires_at, refresh_hash, refresh_expires_at, last_used_at, granted_scope)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [session.id, session.did, session.clientID, session.scope, session.dpopJKT, session.clientAuth,
                        session.clientKey, session.createdAt, session.expiresAt, session.accessHash, session.accessExpiresAt,
                        session.refreshHash, session.refreshExpiresAt, session.lastUsedAt, session.grantedScope])
    }

    /// The session whose current access token hashes to `hash`, if that token is unexpired.
    public func session(accessHash hash: String, now: Int64) throws -> OAuthSessionRow? {
        if let cached = sessionCache.get(hash) {
            return cached.accessExpiresAt > now && cached.expiresAt > now ? cached : nil
        }
        let row = try database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM oauth_session WHERE access_hash = ? AND access_expires_at > ? AND expires_at > ?",
                             arguments: [hash, now, now]).map(OAuthSessionRow.init(row:))
        }
        if let row { sessionCache.put(row) }
        return row
    }

    /// What presenting a refresh token found.
    public enum Refresh: Sendable, Equatable {
        case rotated(OAuthSessionRow)
        /// The token had already been rotated away: the session is revoked (RFC 9700 §4.14.2).
        case reused
        case unknown
    }

    /// Rotates a refresh token in one transaction. `check` sees the session and may throw to
    /// refuse without consuming the token (wrong DPoP key, wrong client); `next` gives the new
    /// access and refresh hashes and expiries.
    public func rotateRefresh(
        hash: String, now: Int64, check: (OAuthSessionRow) throws -> Void,
        next: (OAuthSessionRow) -> (accessHash: String, accessExpiresAt: Int64, refreshHash: String, refreshExpiresAt: Int64)
    ) throws -> Refresh {
        defer { sessionCache.clear() }
        return try database.pool.write { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM oauth_session WHERE refresh_hash = ?", arguments: [hash]) {
                let session = OAuthSessionRow(row: row)
                guard session.expiresAt > now, (session.refreshExpiresAt ?? 0) > now else { return .unknown }
                try check(session)
                let tokens = next(session)
                try db.execute(
                    sql: """
                        UPDATE oauth_session SET access_hash = ?, access_expires_at = ?, refresh_hash = ?, refresh_expires_at = ?,
                            previous_refresh_hash = refresh_hash, last_used_at = ? WHERE id = ?
                        """,
                    arguments: [tokens.accessHash, tokens.accessExpiresAt, tokens.refreshHash, tokens.refreshExpiresAt, now, session.id])
                var updated = session
                updated.accessHash = tokens.accessHash
                updated.accessExpiresAt = tokens.accessExpiresAt
                updated.refreshHash = tokens.refreshHash
                updated.refreshExpiresAt = tokens.refreshExpiresAt
                updated.lastUsedAt = now
                return .rotated(updated)
            }
            try db.execute(sql: "DELETE FROM oauth_session WHERE previous_refresh_hash = ?", arguments: [hash])
            return db.changesCount > 0 ? .reused : .unknown
        }
    }

    /// Replaces a session's granted scope (its permission sets were re-resolved at a refresh).
    public func updateGrantedScope(sessionID: String, _ grantedScope: String) throws {
        defer { sessionCache.clear() }
        try database.pool.write { db in
            try db.execute(sql: "UPDATE oauth_session SET granted_scope = ? WHERE id = ?", arguments: [grantedScope, sessionID])
        }
    }

    /// Revokes the session holding `hash` as its access or refresh token (RFC 7009); true if one was.
    @discardableResult
    public func revokeToken(hash: String) throws -> Bool {
        defer { sessionCache.clear() }
        return try database.pool.write { db in
            try db.execute(sql: "DELETE FROM oauth_session WHERE access_hash = ?1 OR refresh_hash = ?1", arguments: [hash])
            return db.changesCount > 0
        }
    }

    /// Revokes every session of `did` with `clientID` (the account page's "revoke"), and forgets
    /// the remembered approval so that the next sign-in asks again.
    @discardableResult
    public func revokeClient(did: String, clientID: String) throws -> Int {
        defer { sessionCache.clear() }
        return try database.pool.write { db in
            try db.execute(sql: "DELETE FROM oauth_session WHERE did = ? AND client_id = ?", arguments: [did, clientID])
            let count = db.changesCount
            try db.execute(sql: "DELETE FROM oauth_approval WHERE did = ? AND client_id = ?", arguments: [did, clientID])
            return count
        }
    }

    /// Revokes one session by id.
    @discardableResult
    public func revokeSession(id: String) throws -> Bool {
        defer { sessionCache.clear() }
        return try database.pool.write { db in
            try db.execute(sql: "DELETE FROM oauth_session WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    /// The live sessions of `did`, newest first (the account page).
    public func sessions(did: String, now: Int64) throws -> [OAuthSessionRow] {
        try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM oauth_session WHERE did = ? AND expires_at > ? ORDER BY created_at DESC",
                             arguments: [did, now]).map(OAuthSessionRow.init(row:))
        }
    }

    /// Sessions of confidential clients, for the periodic key re-check (a removed key revokes).
    public func confidentialSessions(now: Int64) throws -> [OAuthSessionRow] {
        try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM oauth_session WHERE client_auth = 'private_key_jwt' AND expires_at > ?",
                             arguments: [now]).map(OAuthSessionRow.init(row:))
        }
    }
}
