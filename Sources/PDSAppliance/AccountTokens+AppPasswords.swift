import PDSCore

extension AccountTokens {
    /// The hosted account's app passwords and its DID (their hashes are salted with it), for
    /// `pds app-password`. Refuses a directory without an initialised server, as the token commands do.
    public static func appPasswords(dataDirectory: String) throws -> (passwords: AppPasswords, did: String) {
        let accounts = try openAccount(dataDirectory: dataDirectory)
        guard let account = try accounts.account() else {
            throw Refused(description: "\(dataDirectory) holds no account: run `pds init` first")
        }
        return (AppPasswords(accounts: accounts), account.did)
    }
}
