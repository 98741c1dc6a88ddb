import Foundation
import Logging
import PDSStore

/// Everything a running server holds: configuration, storage and (later) keys and the repo writer.
/// Handlers reach them through this one object.
public final class PDSServerState: Sendable {
    public let config: PDSConfig
    public let database: PDSDatabase
    public let blobs: BlobStore
    public let logger: Logger

    public init(config: PDSConfig, database: PDSDatabase, blobs: BlobStore, logger: Logger) {
        self.config = config
        self.database = database
        self.blobs = blobs
        self.logger = logger
    }

    /// Opens storage under `config.dataDirectory`.
    public static func open(config: PDSConfig, logger: Logger) throws -> PDSServerState {
        let database = try PDSDatabase(directory: config.dataDirectory)
        let blobs = try BlobStore(directory: config.dataDirectory + "/blobs")
        blobs.removeStaleTemporaryFiles()
        return PDSServerState(config: config, database: database, blobs: blobs, logger: logger)
    }

    /// The XRPC method table.
    func xrpcRouter() -> XRPCRouter {
        var router = XRPCRouter()
        registerServerMethods(on: &router)
        return router
    }
}
