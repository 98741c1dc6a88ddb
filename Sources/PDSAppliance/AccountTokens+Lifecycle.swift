import Foundation
import PDSCore
import PDSStore

extension AccountTokens {
    /// The one-time tokens the owner reads on the box where the reference would e-mail them.
    public enum Purpose: String, CaseIterable, Sendable {
        /// `createAccount` of a DID moving here (the server holds no account yet).
        case invite
        /// `deleteAccount` (after `requestAccountDelete`).
        case deleteAccount = "delete-account"
        /// `resetPassword` (after `requestPasswordReset`).
        case resetPassword = "reset-password"
        /// `confirmEmail` (after `requestEmailConfirmation`).
        case confirmEmail = "confirm-email"
        /// `updateEmail` of a confirmed address (after `requestEmailUpdate`).
        case updateEmail = "update-email"
        /// `signPlcOperation` (after `requestPlcOperationSignature`; as `pds account plc-token`).
        case plcOperation = "plc-operation"
        /// createSession's `authFactorToken` when the e-mail sign-in factor is on.
        case signIn = "sign-in"

        var storedPurpose: String {
            switch self {
            case .invite: AccountLifecycle.inviteTokenPurpose
            case .deleteAccount: AccountLifecycle.deleteTokenPurpose
            case .resetPassword: AccountLifecycle.resetTokenPurpose
            case .confirmEmail: AccountEmail.confirmPurpose
            case .updateEmail: AccountEmail.updatePurpose
            case .plcOperation: IdentityService.plcTokenPurpose
            case .signIn: AccountEmail.signInPurpose
            }
        }
    }

    /// A fresh token for `purpose`, replacing any earlier one. An invite needs a server without an
    /// account (it exists to receive one); the others need the account.
    public static func issue(_ purpose: Purpose, dataDirectory: String) throws -> String {
        let token = IdentityService.makeConfirmationToken()
        switch purpose {
        case .invite:
            let accounts = try openDatabase(dataDirectory: dataDirectory)
            if let account = try accounts.account() {
                throw Refused(description: "\(dataDirectory) already holds an account (\(account.did)): an invite is for a server waiting to receive one")
            }
            try accounts.storeToken(token, purpose: purpose.storedPurpose, lifetime: AccountLifecycle.inviteLifetime)
        case .deleteAccount, .resetPassword, .confirmEmail, .updateEmail, .plcOperation, .signIn:
            try openAccount(dataDirectory: dataDirectory).storeToken(token, purpose: purpose.storedPurpose)
        }
        return token
    }

    /// The account store of an initialised server's data directory, with or without an account.
    static func openDatabase(dataDirectory: String) throws -> AccountStore {
        guard FileManager.default.fileExists(atPath: dataDirectory + "/" + PDSDatabase.fileName) else {
            throw Refused(description: "\(dataDirectory) holds no initialised server (no \(PDSDatabase.fileName)): run `pds init`, or pass the server's --config (or --data)")
        }
        return AccountStore(database: try PDSDatabase(directory: dataDirectory))
    }
}
