import Foundation
import Logging
import PDSStore
import Synchronization

/// Everything a running server holds: configuration, storage and (later) keys and the repo writer.
/// Handlers reach them through this one object.
public final class PDSServerState: Sendable {
    public let config: PDSConfig
    public let database: PDSDatabase
    public let blobs: BlobStore
    public let accounts: AccountStore
    public let keys: ServerKeys
    public let logger: Logger
    let tokens: SessionTokens
    let writer: Mutex<RepoWriter?> = Mutex(nil)

    public init(config: PDSConfig, database: PDSDatabase, blobs: BlobStore, keys: ServerKeys, logger: Logger) {
        self.config = config
        self.database = database
        self.blobs = blobs
        self.keys = keys
        self.logger = logger
        accounts = AccountStore(database: database)
        var tokens = SessionTokens(secret: keys.sessionSecret, audience: config.serviceDID, accounts: accounts)
        tokens.accessLifetime = Int64(config.accessTokenLifetime)
        self.tokens = tokens
    }

    /// Opens storage under `config.dataDirectory`.
    public static func open(config: PDSConfig, keys: ServerKeys, logger: Logger) throws -> PDSServerState {
        let database = try PDSDatabase(directory: config.dataDirectory)
        let blobs = try BlobStore(directory: config.dataDirectory + "/blobs")
        blobs.removeStaleTemporaryFiles()
        return PDSServerState(config: config, database: database, blobs: blobs, keys: keys, logger: logger)
    }

    /// The repository writer (created once the account exists; the writer needs its DID).
    public func repoWriter() throws -> RepoWriter {
        if let existing = writer.withLock({ $0 }) { return existing }
        guard let account = try accounts.account() else {
            throw XRPCError.badRequest("RepoNotFound", "This server has no account yet")
        }
        let created = try RepoWriter(did: account.did, key: keys.signingKey, database: database, blobs: blobs, logger: logger)
        return writer.withLock { current in
            if let current { return current }
            current = created
            return created
        }
    }

    /// The XRPC method table.
    func xrpcRouter() -> XRPCRouter {
        var router = XRPCRouter()
        registerServerMethods(on: &router)
        registerBlobMethods(on: &router)
        return router
    }
}
