import ATCrypto
import ATSyntax
import Foundation
import GRDB
import Multiformats
import Synchronization

/// The account row.
public struct Account: Sendable, Equatable {
    public var did: String
    public var handle: String
    public var email: String?
    public var emailConfirmedAt: String?
    public var createdAt: String
    public var deactivatedAt: String?
    public var takedownRef: String?
    /// createSession also needs a code sent by e-mail (`emailAuthFactor`).
    public var emailAuthFactor: Bool = false

    /// `active` and `status` as the session and firehose `#account` report them.
    public var isActive: Bool { deactivatedAt == nil && takedownRef == nil }
    public var status: String? { takedownRef != nil ? "takendown" : deactivatedAt != nil ? "deactivated" : nil }
}

/// An app password's public description.
public struct AppPasswordInfo: Sendable, Equatable {
    public var name: String
    public var createdAt: String
    public var privileged: Bool
}

/// A stored refresh token (looked up by the SHA-256 of its `jti`).
public struct RefreshTokenRow: Sendable, Equatable {
    public var id: String
    public var expiresAt: Int64
    public var appPasswordName: String?
    public var nextID: String?
}

/// Account, app-password and session-token storage.
public struct AccountStore: Sendable {
    let database: PDSDatabase
    /// The account row, kept in memory: every authenticated request needs it, and it changes only
    /// through this store (which refreshes it), so reading SQLite each time was pure overhead.
    let cache: AccountCache

    public init(database: PDSDatabase) {
        self.database = database
        cache = AccountCache()
    }

    final class AccountCache: Sendable {
        let value = Mutex<Account??>(nil)
    }

    /// An ISO 8601 UTC timestamp with milliseconds, the form atproto uses.
    ///
    /// Written by ATSyntax's `Datetime` rather than Foundation's `ISO8601DateFormatter`: building
    /// an ICU formatter per call was the largest single CPU cost of a repository write.
    public static func timestamp(_ date: Date = Date()) -> String {
        Datetime(microsecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))).string
    }

    // MARK: Account

    /// Creates the account. Fails if one exists: this server hosts exactly one.
    public func createAccount(did: String, handle: String, email: String?, passwordHash: String) throws {
        try database.pool.write { db in
            let existing = try Int.fetchOne(db, sql: "SELECT count(*) FROM account") ?? 0
            guard existing == 0 else { throw StoreError.accountExists }
            try db.execute(
                sql: "INSERT INTO account (did, handle, email, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [did, handle, email, passwordHash, Self.timestamp()])
        }
        invalidate()
    }

    /// The hosted account, if it has been created.
    public func account() throws -> Account? {
        if let cached = cache.value.withLock({ $0 }) { return cached }
        let fresh = try database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM account LIMIT 1").map(Self.account(from:))
        }
        cache.value.withLock { $0 = .some(fresh) }
        return fresh
    }

    /// Drops the cached row after a change.
    func invalidate() { cache.value.withLock { $0 = nil } }

    static func account(from row: Row) -> Account {
        Account(did: row["did"], handle: row["handle"], email: row["email"], emailConfirmedAt: row["email_confirmed_at"],
                createdAt: row["created_at"], deactivatedAt: row["deactivated_at"], takedownRef: row["takedown_ref"],
                emailAuthFactor: (row["email_auth_factor"] as Int? ?? 0) != 0)
    }

    /// The account's password hash (for login).
    public func passwordHash() throws -> String? {
        try database.pool.read { db in try String.fetchOne(db, sql: "SELECT password_hash FROM account LIMIT 1") }
    }

    /// Replaces the password hash.
    public func setPasswordHash(_ hash: String) throws {
        try database.pool.write { db in try db.execute(sql: "UPDATE account SET password_hash = ?", arguments: [hash]) }
    }

    /// Updates the handle.
    public func setHandle(_ handle: String) throws {
        try database.pool.write { db in try db.execute(sql: "UPDATE account SET handle = ?", arguments: [handle]) }
        invalidate()
    }

    /// Records a did:plc operation (JSON) this server made.
    public func storePLCOperation(cid: String, json: [UInt8], published: Bool) throws {
        try database.pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO plc_operation (cid, operation, published, created_at) VALUES (?, ?, ?, ?)",
                arguments: [cid, String(decoding: json, as: UTF8.self), published, Self.timestamp()])
        }
    }

    /// The most recent stored did:plc operation (JSON bytes).
    public func latestPLCOperation() throws -> [UInt8]? {
        try database.pool.read { db in
            try String.fetchOne(db, sql: "SELECT operation FROM plc_operation ORDER BY created_at DESC, rowid DESC LIMIT 1")
                .map { Array($0.utf8) }
        }
    }

    // MARK: App passwords

    /// Stores a new app password. Names are unique.
    public func createAppPassword(name: String, hash: String, privileged: Bool) throws -> AppPasswordInfo {
        let createdAt = Self.timestamp()
        try database.pool.write { db in
            if try Int.fetchOne(db, sql: "SELECT 1 FROM app_password WHERE name = ?", arguments: [name]) != nil {
                throw StoreError.appPasswordNameTaken
            }
            try db.execute(
                sql: "INSERT INTO app_password (name, password_hash, privileged, created_at) VALUES (?, ?, ?, ?)",
                arguments: [name, hash, privileged, createdAt])
        }
        return AppPasswordInfo(name: name, createdAt: createdAt, privileged: privileged)
    }

    /// All app passwords, newest first.
    public func appPasswords() throws -> [AppPasswordInfo] {
        try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT name, created_at, privileged FROM app_password ORDER BY created_at DESC")
                .map { AppPasswordInfo(name: $0["name"], createdAt: $0["created_at"], privileged: $0["privileged"]) }
        }
    }

    /// The app password with this hash, if any.
    public func appPassword(hash: String) throws -> AppPasswordInfo? {
        try database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT name, created_at, privileged FROM app_password WHERE password_hash = ?", arguments: [hash])
                .map { AppPasswordInfo(name: $0["name"], createdAt: $0["created_at"], privileged: $0["privileged"]) }
        }
    }

    /// Revokes an app password and, through the foreign key, every refresh token issued with it.
    /// Returns whether there was one of that name.
    @discardableResult
    public func revokeAppPassword(name: String) throws -> Bool {
        try database.pool.write { db in
            try db.execute(sql: "DELETE FROM app_password WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    // MARK: Refresh tokens

    /// The storage id of a refresh token's `jti`: its SHA-256, so the database never holds a
    /// usable token identifier.
    public static func tokenID(jti: String) -> String {
        Base16.encode(SHA256.hash(Array(jti.utf8)))
    }

    /// Records a new refresh token.
    public func storeRefreshToken(jti: String, expiresAt: Int64, appPasswordName: String?) throws {
        try database.pool.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO refresh_token (id, expires_at, app_password_name) VALUES (?, ?, ?)",
                arguments: [Self.tokenID(jti: jti), expiresAt, appPasswordName])
        }
    }

    /// The stored token for `jti`, if it exists.
    public func refreshToken(jti: String) throws -> RefreshTokenRow? {
        try database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM refresh_token WHERE id = ?", arguments: [Self.tokenID(jti: jti)])
                .map { RefreshTokenRow(id: $0["id"], expiresAt: $0["expires_at"], appPasswordName: $0["app_password_name"], nextID: $0["next_id"]) }
        }
    }

    /// Rotates `jti` to `nextJTI` in one transaction: the successor is stored (once), and the old
    /// token is cut to `graceUntil` so a client that lost the response can retry with it.
    public func rotateRefreshToken(jti: String, nextJTI: String, nextExpiresAt: Int64, graceUntil: Int64) throws {
        try database.pool.write { db in
            let old = Self.tokenID(jti: jti)
            let next = Self.tokenID(jti: nextJTI)
            let appPassword = try String.fetchOne(db, sql: "SELECT app_password_name FROM refresh_token WHERE id = ?", arguments: [old])
            try db.execute(
                sql: "INSERT OR IGNORE INTO refresh_token (id, expires_at, app_password_name) VALUES (?, ?, ?)",
                arguments: [next, nextExpiresAt, appPassword])
            try db.execute(
                sql: "UPDATE refresh_token SET next_id = ?, expires_at = min(expires_at, ?) WHERE id = ?",
                arguments: [next, graceUntil, old])
        }
    }

    /// Deletes a refresh token (logout).
    public func deleteRefreshToken(jti: String) throws {
        try database.pool.write { db in
            try db.execute(sql: "DELETE FROM refresh_token WHERE id = ?", arguments: [Self.tokenID(jti: jti)])
        }
    }

    /// Removes expired tokens (housekeeping).
    public func deleteExpiredRefreshTokens(now: Int64) throws {
        try database.pool.write { db in
            try db.execute(sql: "DELETE FROM refresh_token WHERE expires_at < ?", arguments: [now])
        }
    }
}

/// Store-level failures that callers map to protocol errors.
public enum StoreError: Error, Equatable, Sendable {
    case accountExists
    case accountMissing
    case appPasswordNameTaken
}
