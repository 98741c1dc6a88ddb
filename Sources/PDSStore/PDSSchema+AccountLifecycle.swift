/// Schema for account migration and the account's life cycle (docs/ARCHITECTURE.md, "Account
/// migration"). Registered as `account-lifecycle-v1` (the merger orders migrations by name).
extension PDSSchema {
    /// `account.delete_after`: when a deactivated account asked to be deleted
    /// (`deactivateAccount{deleteAfter}`), as ISO 8601 text; NULL otherwise.
    ///
    /// `import_block`: the blocks of a repository CAR being imported, staged inside the import's
    /// transaction so the CAR never has to be held in memory while its MST is verified. The table
    /// is always empty outside that transaction (the import deletes its rows before committing, and
    /// a failed import rolls them back). A rowid table: the contents append, only the CID index
    /// takes random inserts (see v4).
    static let accountLifecycleV1 = """
        ALTER TABLE account ADD COLUMN delete_after TEXT;
        CREATE TABLE import_block (
            id INTEGER PRIMARY KEY,
            cid BLOB NOT NULL UNIQUE,
            content BLOB NOT NULL
        );
        """
}
