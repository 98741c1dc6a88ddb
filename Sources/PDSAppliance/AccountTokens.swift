import Foundation
import PDSCore
import PDSServer
import PDSStore

/// Token issuing for the command line (it opens the database directly; SQLite's locking makes
/// that safe next to a running server).
public enum AccountTokens {
    /// Why no token was issued, worded as one line for the operator.
    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// A fresh `plc_operation` token, replacing any earlier one. Refuses a directory that holds
    /// no initialised server (no database, or a database without the account) rather than
    /// creating an empty database there.
    public static func issuePLCToken(dataDirectory: String) throws -> String {
        let accounts = try openAccount(dataDirectory: dataDirectory)
        let token = IdentityService.makeConfirmationToken()
        try accounts.storeToken(token, purpose: IdentityService.plcTokenPurpose)
        return token
    }

    /// Forgets the failed logins that lock `createSession` (`LoginGuard`); a running server sees
    /// it at the next attempt (it reads the count from the database each time). Returns how many
    /// failures there were.
    public static func unlockLogins(dataDirectory: String) throws -> Int {
        try openAccount(dataDirectory: dataDirectory).resetLoginFailures()
    }

    /// The account store of an initialised server's data directory.
    static func openAccount(dataDirectory: String) throws -> AccountStore {
        guard FileManager.default.fileExists(atPath: dataDirectory + "/" + PDSDatabase.fileName) else {
            throw Refused(description: "\(dataDirectory) holds no initialised server (no \(PDSDatabase.fileName)): run `pds init`, or pass the server's --config (or --data)")
        }
        let database = try PDSDatabase(directory: dataDirectory)
        let accounts = AccountStore(database: database)
        guard try accounts.account() != nil else {
            throw Refused(description: "\(dataDirectory) holds no account: run `pds init` first")
        }
        return accounts
    }
}
