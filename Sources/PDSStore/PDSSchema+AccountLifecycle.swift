/// Schema for account migration and the account's life cycle (docs/ARCHITECTURE.md, "Account
/// migration"). Registered as `account-lifecycle-v1` in `PDSDatabase.migrator`.
extension PDSSchema {
    /// `account.delete_after`: when a deactivated account asked to be deleted
    /// (`deactivateAccount{deleteAfter}`), as ISO 8601 text; NULL otherwise.
    static let accountLifecycleV1 = """
        ALTER TABLE account ADD COLUMN delete_after TEXT;
        """
}
