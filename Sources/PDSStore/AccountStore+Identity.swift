import ATCrypto
import ATSync
import Foundation
import GRDB
import Multiformats

extension AccountStore {
    /// Sets the handle and sequences the `#identity` event in the same transaction, so the
    /// firehose never announces a handle the server does not hold (or the reverse). Returns the
    /// event's sequence numbers for the firehose to wake on.
    public func updateHandle(_ handle: String, event: RepoEvent.Identity) throws -> [Int64] {
        let sequenceNumbers = try database.pool.write { db -> [Int64] in
            try db.execute(sql: "UPDATE account SET handle = ?", arguments: [handle])
            return try EventLogStore.appendEvents([.identity(event)], in: db)
        }
        invalidate()
        return sequenceNumbers
    }

    // MARK: One-time tokens

    /// Stores a fresh token for `purpose` (replacing any earlier one), valid for `lifetime` seconds.
    public func storeToken(_ token: String, purpose: String, lifetime: Int64 = 15 * 60, now: Int64 = Int64(Date().timeIntervalSince1970)) throws {
        let hash = Base16.encode(SHA256.hash(Array(token.utf8)))
        try database.pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO email_token (purpose, token_hash, expires_at) VALUES (?, ?, ?)",
                           arguments: [purpose, hash, now + lifetime])
        }
    }

    /// What a one-time token was, once redeemed.
    public enum TokenCheck: Sendable, Equatable {
        case valid
        /// It was the live token of that purpose, but past its lifetime (removed now).
        case expired
        case invalid
    }

    /// Redeems the token of `purpose`: it is removed when it matches (valid or expired), so it
    /// never works twice; any other token leaves it in place.
    public func redeemToken(_ token: String, purpose: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> TokenCheck {
        let hash = Base16.encode(SHA256.hash(Array(token.utf8)))
        return try database.pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT token_hash, expires_at FROM email_token WHERE purpose = ?", arguments: [purpose])
            else { return .invalid }
            let stored: String = row["token_hash"], expiresAt: Int64 = row["expires_at"]
            guard HMAC.constantTimeEquals(Array(stored.utf8), Array(hash.utf8)) else { return .invalid }
            try db.execute(sql: "DELETE FROM email_token WHERE purpose = ?", arguments: [purpose])
            return expiresAt > now ? .valid : .expired
        }
    }

    /// Redeems the token of `purpose`; true only when it matched and was still valid.
    public func consumeToken(_ token: String, purpose: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> Bool {
        try redeemToken(token, purpose: purpose, now: now) == .valid
    }
}
