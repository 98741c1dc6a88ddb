import GRDB

/// What a database restored from a replica says must come back with it: the repository root and
/// which blobs it knows (permanent ones are referenced by records and must be restored;
/// temporary uploads may be). Read by `pds restore` before it fetches blobs.
public struct RestoreInventory: Sendable {
    /// The repository root, when the database holds a repository.
    public var did: String?
    public var rootCID: String?
    public var rev: String?
    public var permanentBlobs: Set<String> = []
    public var temporaryBlobs: Set<String> = []

    /// Reads the inventory of the database file at `path` (as restored, before any server has
    /// opened it: no migration runs, nothing is written).
    public static func read(databaseAt path: String) throws -> RestoreInventory {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            var inventory = RestoreInventory()
            if let root = try Row.fetchOne(db, sql: "SELECT did, cid, rev FROM repo_root LIMIT 1") {
                inventory.did = root["did"]
                inventory.rootCID = root["cid"]
                inventory.rev = root["rev"]
            }
            for row in try Row.fetchAll(db, sql: "SELECT cid, temp_key IS NULL AS permanent FROM blob") {
                let cid: String = row["cid"]
                if row["permanent"] as Bool { inventory.permanentBlobs.insert(cid) } else { inventory.temporaryBlobs.insert(cid) }
            }
            return inventory
        }
    }
}
