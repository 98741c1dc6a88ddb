import ATData
import ATSync
import Foundation
import GRDB

/// The account's life cycle in storage: created deactivated by a migration, activated,
/// deactivated, deleted, and its password replaced. Every status change and its firehose event
/// are written in one transaction, so `#account` never announces a state the server does not hold.
extension AccountStore {
    /// Creates the account of a DID moving here: deactivated until `activateAccount`, with no
    /// repository yet (importRepo brings it). Fails if any account exists: this server hosts one.
    public func createMovedAccount(did: String, handle: String, email: String?, passwordHash: String) throws {
        try database.pool.write { db in
            let existing = try Int.fetchOne(db, sql: "SELECT count(*) FROM account") ?? 0
            guard existing == 0 else { throw StoreError.accountExists }
            let now = Self.timestamp()
            try db.execute(
                sql: "INSERT INTO account (did, handle, email, password_hash, created_at, deactivated_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [did, handle, email, passwordHash, now, now])
        }
        invalidate()
    }

    /// Marks the account active (or deactivated, with an optional deletion date) and sequences
    /// `events` in the same transaction; returns their sequence numbers.
    public func setActive(_ active: Bool, deleteAfter: String? = nil, events: [RepoEvent]) throws -> [Int64] {
        let sequenceNumbers = try database.pool.write { db -> [Int64] in
            if active {
                try db.execute(sql: "UPDATE account SET deactivated_at = NULL, delete_after = NULL")
            } else {
                try db.execute(sql: "UPDATE account SET deactivated_at = COALESCE(deactivated_at, ?), delete_after = ?",
                               arguments: [Self.timestamp(), deleteAfter])
            }
            return try EventLogStore.appendEvents(events, in: db)
        }
        invalidate()
        return sequenceNumbers
    }

    /// The deletion date a deactivation asked for, if any.
    public func deleteAfter() throws -> String? {
        try database.pool.read { db in try String.fetchOne(db, sql: "SELECT delete_after FROM account LIMIT 1") }
    }

    /// Replaces the password and revokes every session (all refresh tokens), in one transaction.
    public func replacePassword(hash: String) throws {
        try database.pool.write { db in
            try db.execute(sql: "UPDATE account SET password_hash = ?", arguments: [hash])
            try db.execute(sql: "DELETE FROM refresh_token")
        }
    }

    /// Deletes the account and everything it owns (repository, blobs' rows, sessions, app
    /// passwords, preferences, tokens, PLC records), purges its earlier firehose events (they
    /// describe data that no longer exists, as the reference purges them) and sequences
    /// `event` (`#account` deleted), all in one transaction. Returns the sequence numbers and the
    /// blobs whose files the caller deletes once this has committed.
    public func deleteAccount(event: RepoEvent) throws -> (sequenceNumbers: [Int64], blobs: [CID]) {
        let result = try database.pool.write { db -> ([Int64], [CID]) in
            let blobs = try String.fetchAll(db, sql: "SELECT cid FROM blob").compactMap { try? CID(string: $0) }
            try db.execute(sql: """
                DELETE FROM record_blob; DELETE FROM record; DELETE FROM repo_block; DELETE FROM repo_root;
                DELETE FROM blob; DELETE FROM refresh_token; DELETE FROM app_password; DELETE FROM account_pref;
                DELETE FROM email_token; DELETE FROM plc_operation; DELETE FROM login_failure; DELETE FROM account;
                DELETE FROM repo_seq; UPDATE repo_block_state SET exact = 1;
                """)
            return (try EventLogStore.appendEvents([event], in: db), blobs)
        }
        invalidate()
        return result
    }
}
