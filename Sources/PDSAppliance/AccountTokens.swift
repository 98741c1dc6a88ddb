import PDSCore
import Foundation
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
        guard FileManager.default.fileExists(atPath: dataDirectory + "/" + PDSDatabase.fileName) else {
            throw Refused(description: "\(dataDirectory) holds no initialised server (no \(PDSDatabase.fileName)): run `pds init`, or pass the server's --config (or --data)")
        }
        let database = try PDSDatabase(directory: dataDirectory)
        let accounts = AccountStore(database: database)
        guard try accounts.account() != nil else {
            throw Refused(description: "\(dataDirectory) holds no account: run `pds init` first")
        }
        let token = IdentityService.makeConfirmationToken()
        try accounts.storeToken(token, purpose: IdentityService.plcTokenPurpose)
        return token
    }
}
