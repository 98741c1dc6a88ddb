import Foundation
import Logging
import PDSStore

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

    public init(config: PDSConfig, database: PDSDatabase, blobs: BlobStore, keys: ServerKeys, logger: Logger) {
        self.config = config
        self.database = database
        self.blobs = blobs
        self.keys = keys
        self.logger = logger
        accounts = AccountStore(database: database)
        tokens = SessionTokens(secret: keys.sessionSecret, audience: config.serviceDID, accounts: accounts)
    }

    /// Opens storage under `config.dataDirectory`.
    public static func open(config: PDSConfig, keys: ServerKeys, logger: Logger) throws -> PDSServerState {
        let database = try PDSDatabase(directory: config.dataDirectory)
        let blobs = try BlobStore(directory: config.dataDirectory + "/blobs")
        blobs.removeStaleTemporaryFiles()
        return PDSServerState(config: config, database: database, blobs: blobs, keys: keys, logger: logger)
    }

    /// The XRPC method table.
    func xrpcRouter() -> XRPCRouter {
        var router = XRPCRouter()
        registerServerMethods(on: &router)
        return router
    }
}
