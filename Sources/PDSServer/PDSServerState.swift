import Foundation
import Logging
import PDSCore
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
    /// Password sessions and app passwords.
    public let sessions: SessionService
    /// Checks credentials against each route's declared requirement.
    let authenticator: Authenticator
    let writer: Mutex<RepoWriter?> = Mutex(nil)
    /// The `subscribeRepos` fan-out, woken by the repo writer after each commit.
    public let firehose: FirehoseHub
    /// Outbound HTTP (PLC directory, AppView and other services, relays, identity resolution).
    public let http: any OutboundHTTP
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
        let http = http ?? NIOHTTPClient()
        self.http = http
        resolver = identity ?? Self.identityDirectory(config: config, http: http)
        plcDirectory = PLCDirectory(http: http, baseURL: config.plcURL, logger: logger)
        crawlNotifier = CrawlNotifier(http: http, hostname: config.hostname, crawlers: config.crawlers, logger: logger)
        self.config = config
        self.database = database
        self.blobs = blobs
        self.keys = keys
        self.logger = logger
        accounts = AccountStore(database: database)
        var sessions = SessionService(secret: keys.sessionSecret, audience: config.serviceDID, accounts: accounts, logger: logger)
        sessions.accessLifetime = Int64(config.accessTokenLifetime)
        self.sessions = sessions
        authenticator = Authenticator(sessions: sessions, accounts: accounts, serviceDID: config.serviceDID,
                                      signingKey: keys.signingKey.publicKey)
        var firehoseLimits = FirehoseHub.Limits()
        firehoseLimits.maxPendingEvents = config.firehoseMaxPendingEvents
        firehose = FirehoseHub(database: database, retention: config.firehoseRetention, limits: firehoseLimits, logger: logger)
    }

    /// The network identity directory with caches in front, as the server uses it.
    public static func identityDirectory(config: PDSConfig, http: any OutboundHTTP) -> any IdentityDirectory {
        CachedIdentityDirectory(NetworkIdentityDirectory(
            http: http, plcURL: config.plcURL, dnsResolver: config.dnsResolver,
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

    /// The XRPC method table: each endpoint group gets only the services it uses.
    func xrpcRouter() -> XRPCRouter {
        var router = XRPCRouter(authenticator: authenticator)
        let serviceTokens = ServiceTokenIssuer(accounts: accounts, signingKey: keys.signingKey)
        let proxy = ServiceProxy(config: config, http: http, identity: resolver, serviceTokens: serviceTokens,
                                 authenticator: authenticator, logger: logger)
        ServerEndpoints(config: config, serviceTokens: serviceTokens).register(on: &router)
        SessionEndpoints(sessions: sessions, didDocument: { [self] in try didDocument() }).register(on: &router)
        registerRepoMethods(on: &router)
        registerSyncMethods(on: &router)
        registerBlobMethods(on: &router)
        registerIdentityMethods(on: &router)
        PreferenceEndpoints(accounts: accounts, proxy: proxy).register(on: &router)
        AppViewEndpoints(proxy: proxy, accounts: accounts, repository: repository).register(on: &router)
        proxy.register(on: &router)
        return router
    }
}
