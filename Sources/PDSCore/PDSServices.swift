import Foundation
import Logging
import PDSNetwork
import PDSStore
import Synchronization

/// The composition root: the stores and services of a running server, built once from the
/// configuration and keys. It holds no request logic: the HTTP layer hands each endpoint group
/// only the pieces that group uses, and the appliance commands (init, dev, doctor) use the same
/// pieces directly.
public final class PDSServices: Sendable {
    public let config: PDSConfig
    public let keys: ServerKeys
    public let logger: Logger

    // Storage.
    public let database: PDSDatabase
    public let blobs: BlobStore
    /// The blob table over the blob files.
    public let blobIndex: BlobIndex
    public let accounts: AccountStore
    public let repository: RepositoryStore
    public let events: EventLogStore

    // The network.
    /// Outbound HTTP (PLC directory, AppView and other services, relays, identity resolution).
    public let http: any OutboundHTTP
    /// `http` behind the outbound guard: for targets others chose (service endpoints from DID
    /// documents, OAuth client metadata, Lexicon resolution).
    public let remoteHTTP: any OutboundHTTP
    /// Other parties' DIDs and handles.
    public let identityDirectory: any IdentityDirectory
    public let plcDirectory: PLCDirectory
    /// `requestCrawl` to the configured relays after new events.
    public let crawlNotifier: CrawlNotifier

    // Services.
    /// Password sessions and app passwords.
    public let sessions: SessionService
    /// The account's handle, PLC operations and DID document.
    public let identity: IdentityService
    /// The account's e-mail: tokens (mailed, or shown by the CLI), confirmation, sign-in codes.
    public let email: AccountEmail
    /// The OAuth authorization server and the resource server's token checks.
    public let oauth: OAuthService
    /// The `subscribeRepos` fan-out, woken after each transaction that sequenced events.
    public let firehose: FirehoseHub
    private let writer: Mutex<RepoWriter?> = Mutex(nil)
    /// Called after each transaction that sequenced events (by the writer or the identity
    /// service): only then may the firehose send them, and the relays are told to come.
    let eventsSequenced: @Sendable ([Int64]) -> Void

    /// The network clients are built by the caller and injected: the appliance passes the NIO
    /// client and `CachedIdentityDirectory(NetworkIdentityDirectory(…))`
    /// (`PDSServices.networkIdentityDirectory`), tests pass stand-ins.
    public init(config: PDSConfig, database: PDSDatabase, blobs: BlobStore, keys: ServerKeys, logger: Logger,
                http: any OutboundHTTP, identity identityDirectory: any IdentityDirectory) {
        self.config = config
        self.keys = keys
        self.logger = logger
        self.database = database
        self.blobs = blobs
        blobIndex = BlobIndex(database: database, files: blobs)
        accounts = AccountStore(database: database)
        repository = RepositoryStore(database: database)
        events = EventLogStore(database: database)
        self.http = http
        remoteHTTP = http.guarded(by: config.outbound.makeGuard(logger: logger))
        self.identityDirectory = identityDirectory
        plcDirectory = PLCDirectory(http: http, baseURL: config.plcURL, logger: logger)
        crawlNotifier = CrawlNotifier(http: http, hostname: config.hostname, crawlers: config.crawlers, logger: logger)
        var sessions = SessionService(secret: keys.sessionSecret, audience: config.serviceDID, accounts: accounts, logger: logger,
                                      loginDefence: config.loginDefence)
        sessions.accessLifetime = Int64(config.accessTokenLifetime)
        let mailer = config.email.map { Mailer(settings: $0, database: database, keys: keys, heloName: config.hostname, logger: logger) }
        email = AccountEmail(accounts: accounts, mailer: mailer, hostname: config.hostname, logger: logger)
        sessions.emailSignIn = email
        self.sessions = sessions
        var oauthSettings = OAuthSettings(issuer: config.publicURL)
        oauthSettings.allowHTTPLoopbackClients = config.isDevelopment && config.oauthAllowLoopbackClients
        oauth = OAuthService(
            settings: oauthSettings, store: OAuthStore(database: database),
            clients: OAuthClientResolver(http: remoteHTTP, allowHTTPLoopbackIDs: oauthSettings.allowHTTPLoopbackClients),
            permissionSets: PermissionSetResolver(source: LexiconResolver(
                identity: identityDirectory, remoteHTTP: remoteHTTP, dns: DNSClient.configured(config.dnsResolver))),
            nonceSecret: keys.sessionSecret, logger: logger)
        var firehoseLimits = FirehoseHub.Limits()
        firehoseLimits.maxPendingEvents = config.firehoseMaxPendingEvents
        let firehose = FirehoseHub(database: database, retention: config.firehoseRetention, limits: firehoseLimits, logger: logger)
        self.firehose = firehose
        let eventsSequenced: @Sendable ([Int64]) -> Void = { [crawlNotifier] sequenceNumbers in
            firehose.committed(sequenceNumbers)
            crawlNotifier.eventsSequenced()
        }
        self.eventsSequenced = eventsSequenced
        identity = IdentityService(
            config: config, keys: keys, accounts: accounts, events: events, plc: plcDirectory,
            directory: self.identityDirectory, logger: logger, sequenced: eventsSequenced)
    }

    /// The network identity directory with caches in front, as the server uses it.
    /// did:web documents and handle well-knowns are fetched through the outbound guard.
    public static func networkIdentityDirectory(config: PDSConfig, http: any OutboundHTTP, logger: Logger? = nil) -> any IdentityDirectory {
        CachedIdentityDirectory(NetworkIdentityDirectory(
            http: http, remoteHTTP: http.guarded(by: config.outbound.makeGuard(logger: logger)),
            plcURL: config.plcURL, dnsResolver: config.dnsResolver,
            isDevelopment: config.isDevelopment, httpsFallback: config.handleHTTPSResolution))
    }

    /// Opens storage under `config.dataDirectory`, with the given network clients.
    public static func open(config: PDSConfig, keys: ServerKeys, logger: Logger, http: any OutboundHTTP,
                            identity: any IdentityDirectory) throws -> PDSServices {
        let database = try PDSDatabase(directory: config.dataDirectory)
        let blobs = try BlobStore(directory: config.dataDirectory + "/blobs")
        blobs.removeStaleTemporaryFiles()
        return PDSServices(config: config, database: database, blobs: blobs, keys: keys, logger: logger, http: http, identity: identity)
    }

    /// Opens storage with the production network clients: the NIO HTTP client and the cached
    /// network identity directory over it.
    public static func open(config: PDSConfig, keys: ServerKeys, logger: Logger, http: (any OutboundHTTP)? = nil) throws -> PDSServices {
        let http = http ?? config.outbound.makeClient()
        return try open(config: config, keys: keys, logger: logger, http: http,
                        identity: networkIdentityDirectory(config: config, http: http, logger: logger))
    }

    /// Drops the repository writer (the account was deleted or replaced; the next one is built
    /// for the account that exists then).
    public func forgetRepoWriter() { writer.withLock { $0 = nil } }

    /// The repository writer (created once the account exists; the writer needs its DID).
    public func repoWriter() throws -> RepoWriter {
        if let existing = writer.withLock({ $0 }) { return existing }
        guard let account = try accounts.account() else { throw RepoWriteError.repoNotFound(did: "(no account yet)") }
        // The writer reads the key at each commit (a finished rotation switches it); a local copy
        // of the keys, so the writer does not hold the services that hold it.
        let keys = self.keys
        let created = try RepoWriter(did: account.did, key: keys.signingKey, database: database, blobs: blobs, logger: logger,
                                     onCommit: eventsSequenced)
        return writer.withLock { current in
            if let current { return current }
            current = created
            return created
        }
    }
}
