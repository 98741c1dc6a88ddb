import Foundation
import Logging
import PDSCore
import PDSServer
import PDSStore

/// The account's life cycle from the box (`pds account password|deactivate|activate|delete`).
///
/// `password` only touches rows the running server reads on every use (the password hash, the
/// refresh tokens), so it works beside a running server. The status changes need the server
/// stopped: the server keeps the account row in memory and wakes its firehose only for its own
/// writes, so they take the data directory's lock (as `pds compact` does) and refuse while a
/// server holds it. Their events are stored with the change and go out when the server starts.
public enum AccountLifecycleCommands {
    public struct Refused: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Where the keys come from: a configured server's unlock source, or a `pds dev` directory.
    public enum Keys: Sendable {
        case configured([String: String])
        case development
    }

    /// Sets the password and revokes every session (refresh token).
    public static func setPassword(dataDirectory: String, password: String) async throws {
        guard password.count >= 8 else { throw Refused(description: "the password must have at least 8 characters") }
        let accounts = try AccountTokens.openAccount(dataDirectory: dataDirectory)
        let hash = try await SessionService.offEventLoop { try PasswordHash.make(password) }
        try accounts.replacePassword(hash: hash)
    }

    /// Deactivates the account (`deleteAfter` recorded as asked).
    public static func deactivate(config: PDSConfig, keys: Keys, deleteAfter: String?) async throws -> String {
        try await withStoppedServer(config: config, keys: keys) { services, account in
            try services.lifecycle.deactivate(account: account, deleteAfter: deleteAfter)
            return "deactivated \(account.did); `pds account activate` undoes it"
        }
    }

    /// Activates the account once its identity points here.
    public static func activate(config: PDSConfig, keys: Keys) async throws -> String {
        try await withStoppedServer(config: config, keys: keys) { services, account in
            try await services.lifecycle.activate(account: account)
            return "activated \(account.did)"
        }
    }

    /// Deletes the account; `confirm` must be its DID.
    public static func delete(config: PDSConfig, keys: Keys, confirm: String) async throws -> String {
        try await withStoppedServer(config: config, keys: keys) { services, account in
            guard confirm == account.did else { throw Refused(description: "--confirm must be the account's DID (\(account.did))") }
            try services.lifecycle.deleteNow(account: account)
            return "deleted \(account.did)"
        }
    }

    /// Runs `body` with the server's services while holding the data directory's lock.
    static func withStoppedServer<T: Sendable>(config: PDSConfig, keys source: Keys,
                                                      _ body: (PDSServices, Account) async throws -> T) async throws -> T {
        _ = try AccountTokens.openAccount(dataDirectory: config.dataDirectory)
        let lock: DataDirectoryLock
        do { lock = try DataDirectoryLock(directory: config.dataDirectory) } catch let held as DataDirectoryLock.Held {
            throw Refused(description: "\(held); stop the server first (while it runs, use the app or XRPC: activateAccount, deactivateAccount, deleteAccount)")
        }
        defer { withExtendedLifetime(lock) {} }
        let keys: ServerKeys
        switch source {
        case .configured(let environment): keys = try ServerKeys.unlock(config: config, environment: environment)
        case .development: keys = try DevBootstrap.loadKeys(dataDirectory: config.dataDirectory)
        }
        let logger = Logger(label: "pds")
        let services = try PDSServices.open(config: config, keys: keys, logger: logger)
        guard let account = try services.accounts.account() else { throw Refused(description: "\(config.dataDirectory) holds no account") }
        return try await body(services, account)
    }
}
