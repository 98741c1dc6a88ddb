import Foundation
import Logging
import PDSNetwork
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
    /// The `subscribeRepos` fan-out, woken by the repo writer after each commit.
    public let firehose: FirehoseHub
    /// Outbound HTTP (PLC directory, AppView and other services, relays, identity resolution).
    public let http: any OutboundHTTP
    /// `http` behind the outbound guard: for targets others chose (service endpoints from DID
    /// documents; OAuth client metadata and Lexicon resolution when they come).
    public let remoteHTTP: any OutboundHTTP
    /// Other parties' DIDs and handles.
    let resolver: any IdentityDirectory
    /// The did:plc directory.
    public let plcDirectory: PLCDirectory
    /// `requestCrawl` to the configured relays after new events.
    let crawlNotifier: CrawlNotifier
    /// Request counters for `/metrics`.
    public let metrics = Metrics()

    public init(config: PDSConfig, database: PDSDatabase, blobs: BlobStore, keys: ServerKeys, logger: Logger,
                http: (any OutboundHTTP)? = nil, identity: (any IdentityDirectory)? = nil) {
        let http = http ?? config.outbound.makeClient()
        self.http = http
        remoteHTTP = http.guarded(by: config.outbound.makeGuard(logger: logger))
        resolver = identity ?? Self.identityDirectory(config: config, http: http, remoteHTTP: remoteHTTP)
        plcDirectory = PLCDirectory(http: http, baseURL: config.plcURL, logger: logger)
        crawlNotifier = CrawlNotifier(http: http, hostname: config.hostname, crawlers: config.crawlers, logger: logger)
        self.config = config
        self.database = database
        self.blobs = blobs
        self.keys = keys
        self.logger = logger
        accounts = AccountStore(database: database)
        var tokens = SessionTokens(secret: keys.sessionSecret, audience: config.serviceDID, accounts: accounts)
        tokens.accessLifetime = Int64(config.accessTokenLifetime)
        self.tokens = tokens
        var firehoseLimits = FirehoseHub.Limits()
        firehoseLimits.maxPendingEvents = config.firehoseMaxPendingEvents
        firehose = FirehoseHub(database: database, retention: config.firehoseRetention, limits: firehoseLimits, logger: logger)
    }

    /// The network identity directory with caches in front, as the server uses it.
    public static func identityDirectory(config: PDSConfig, http: any OutboundHTTP,
                                         remoteHTTP: (any OutboundHTTP)? = nil) -> any IdentityDirectory {
        CachedIdentityDirectory(NetworkIdentityDirectory(
            http: http, remoteHTTP: remoteHTTP ?? http.guarded(by: config.outbound.makeGuard(logger: nil)), plcURL: config.plcURL, dnsResolver: config.dnsResolver,
            isDevelopment: config.isDevelopment, httpsFallback: config.handleHTTPSResolution))
    }

    /// Opens storage under `config.dataDirectory`.
    public static func open(config: PDSConfig, keys: ServerKeys, logger: Logger, http: (any OutboundHTTP)? = nil) throws -> PDSServerState {
        let database = try PDSDatabase(directory: config.dataDirectory)
        let blobs = try BlobStore(directory: config.dataDirectory + "/blobs")
        blobs.removeStaleTemporaryFiles()
        return PDSServerState(config: config, database: database, blobs: blobs, keys: keys, logger: logger, http: http)
    }

    /// The repository writer (created once the account exists; the writer needs its DID).
    public func repoWriter() throws -> RepoWriter {
        if let existing = writer.withLock({ $0 }) { return existing }
        guard let account = try accounts.account() else {
            throw XRPCError.badRequest("RepoNotFound", "This server has no account yet")
        }
        // onCommit runs after each commit's transaction: only then may the firehose send its events.
        let created = try RepoWriter(did: account.did, key: keys.signingKey, database: database, blobs: blobs, logger: logger,
                                     onCommit: { [firehose, crawlNotifier] sequenceNumbers in
                                         firehose.committed(sequenceNumbers)
                                         crawlNotifier.eventsSequenced()
                                     })
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
        registerIdentityMethods(on: &router)
        registerPreferenceMethods(on: &router)
        registerReadAfterWrite(on: &router)
        registerOfflineProfiles(on: &router)
        registerProxy(on: &router)
        return router
    }
}
