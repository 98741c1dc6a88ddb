import Foundation
import GRDB

extension AccountStore {
    /// The stored preferences, in order, as `(name, JSON text)` (`name` is the preference's `$type`).
    public func preferences() throws -> [(name: String, json: String)] {
        try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT name, value_json FROM account_pref ORDER BY id").map { ($0["name"], $0["value_json"]) }
        }
    }

    /// Replaces every preference whose name starts with `namespace` by `preferences`, in one
    /// transaction (putPreferences replaces the whole `app.bsky` namespace, the reference PDS).
    public func replacePreferences(namespace: String, with preferences: [(name: String, json: String)]) throws {
        try database.pool.write { db in
            try db.execute(sql: "DELETE FROM account_pref WHERE substr(name, 1, ?) = ?", arguments: [namespace.utf8.count, namespace])
            for preference in preferences {
                try db.execute(sql: "INSERT INTO account_pref (name, value_json) VALUES (?, ?)", arguments: [preference.name, preference.json])
            }
        }
    }
}
