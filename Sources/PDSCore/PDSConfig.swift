import Foundation
import PDSBackup
import PDSNetwork

/// Server configuration from `pds.conf` (`KEY=value` lines, also a valid systemd
/// `EnvironmentFile`) overridden by environment variables of the same names.
///
/// Keys are named like the reference server's `pds.env` where they overlap, so a self-hoster can
/// carry settings across (docs/CONFIGURATION.md lists every key).
public struct PDSConfig: Sendable {
    /// Public hostname (`PDS_HOSTNAME`), e.g. `pds.example.com`.
    public var hostname: String
    /// Listen port (`PDS_PORT`).
    public var port: Int
    /// Listen address (`PDS_BIND_ADDRESS`).
    public var bindAddress: String
    /// Data directory (`PDS_DATA_DIRECTORY`).
    public var dataDirectory: String
    /// Largest blob upload in bytes (`PDS_BLOB_UPLOAD_LIMIT`, default 100 MiB as the reference distribution).
    public var blobUploadLimit: Int
    /// Public URL scheme: `https` in production, `http` in dev.
    public var publicScheme: String
    /// Dev mode: plain HTTP on loopback, unpublished identity.
    public var isDevelopment: Bool
    /// Access-token lifetime in seconds (`PDS_ACCESS_TOKEN_TTL`, default 7200 as the reference
    /// server). Short values exist for tests that exercise the client's refresh path.
    public var accessTokenLifetime: Int = 7200
    /// Contact e-mail shown by describeServer (`PDS_CONTACT_EMAIL_ADDRESS`).
    public var contactEmail: String?
    /// Privacy policy / terms links (`PDS_PRIVACY_POLICY_URL`, `PDS_TERMS_OF_SERVICE_URL`).
    public var privacyPolicyURL: String?
    public var termsOfServiceURL: String?
    /// How long firehose events are kept and replayable (`PDS_FIREHOSE_RETENTION_HOURS`, default
    /// 72). A `subscribeRepos` cursor older than this gets `#info OutdatedCursor` (https://atproto.com/specs/event-stream).
    public var firehoseRetention: Duration = .seconds(72 * 3600)
    /// Live events a firehose consumer may lag behind before it is dropped with `ConsumerTooSlow`
    /// (`PDS_MAX_SUBSCRIPTION_BUFFER`, default 500 as the reference server).
    public var firehoseMaxPendingEvents: Int = 500

    /// The PLC directory (`PDS_DID_PLC_URL`, default `https://plc.directory`). In dev mode the
    /// identity is published only when this key is set explicitly (tests point it at a stand-in).
    public var plcURL: String = "https://plc.directory"
    /// Whether did:plc operations are sent to `plcURL` (always in production; in dev only when set).
    public var publishesIdentity: Bool = true
    /// The AppView that `app.bsky.*` requests go to by default (`PDS_BSKY_APP_VIEW_URL` /
    /// `PDS_BSKY_APP_VIEW_DID`; the reference distribution's values by default). An empty URL
    /// turns default proxying off.
    public var appViewURL: String = "https://api.bsky.app"
    public var appViewDID: String = "did:web:api.bsky.app"
    /// Relays to notify with `requestCrawl` after new events (`PDS_CRAWLERS`, comma-separated URLs).
    /// When the key is absent `load` uses `defaultCrawlers`, as the reference distribution does
    /// (without a relay, nothing the account writes reaches the network); `PDS_CRAWLERS=` (empty)
    /// turns crawling off. A dev server (loopback, not crawlable) has none unless the key is set.
    public var crawlers: [String] = []
    /// The relays a server asks to crawl it when `PDS_CRAWLERS` is absent.
    public static let defaultCrawlers = ["https://bsky.network"]
    /// The DNS server for TXT lookups (handles, Lexicon authorities), `host:port` (`PDS_DNS_RESOLVER`; default: the first
    /// `nameserver` of /etc/resolv.conf).
    public var dnsResolver: String?
    /// Whether handles may also resolve by HTTPS `/.well-known/atproto-did` when DNS has no
    /// record (`PDS_HANDLE_HTTPS_RESOLUTION`, default true; off in dev and in loopback-only tests).
    public var handleHTTPSResolution = true
    /// A recovery rotation key (`did:key`) listed first in new PLC documents (`PDS_RECOVERY_DID_KEY`).
    public var recoveryDIDKey: String?

    /// How `pds serve` unlocks the age-encrypted key files (`PDS_KEY_UNLOCK`: `identity` or
    /// `passphrase`), and where the secret comes from when not a systemd credential or a prompt.
    public var keyUnlock: KeyUnlock.Method = .identity
    public var keyIdentityFile: String?
    public var keyPassphraseFile: String?
    /// TLS (`PDS_TLS`): `acme`, `files` or `off`. The details (certificate paths, ACME options,
    /// the port-80 listener) are `TLSSettings`, read from the same keys.
    public var tlsMode: TLSMode = .acme
    /// `/metrics` in Prometheus text format (`PDS_METRICS_ENABLED`, off by default).
    public var metricsEnabled = false
    /// Log lines as JSON (`PDS_LOG_FORMAT=json`), or readable text (`text`); default: JSON unless
    /// standard error is a terminal.
    public var logFormat: String?
    /// The least severe level logged (`PDS_LOG_LEVEL`: trace, debug, info, notice, warning,
    /// error, critical; default info). Every request is one `info` line.
    public var logLevel: String = "info"
    /// Request rate limits, their exemptions and the trusted proxies (`PDS_RATE_LIMIT*`,
    /// `PDS_TRUSTED_PROXIES`): on by default with the reference server's table.
    public var rateLimits = RateLimitSettings()
    /// The IP-independent defence of the password (`PDS_LOGIN_FAILURE_LIMIT`, `PDS_LOGIN_LOCKOUT_SECONDS`).
    public var loginDefence = LoginDefenceSettings()

    public enum TLSMode: String, Sendable { case acme, files, off }

    /// Every `KEY=value` the configuration was built from (file, then environment): the source
    /// for settings read by their own types (`TLSSettings`). No secrets live in pds.conf.
    public var values: [String: String] = [:]

    /// The S3 blob mirror (`PDS_BLOB_MIRROR_*`, docs/BACKUP.md); nil when mirroring is off.
    public var blobMirror: BlobMirrorConfig?

    /// Outbound HTTP: the guard's test switch, the pool, a CA file (`PDS_OUTBOUND_*`).
    public var outbound = OutboundSettings()
    /// `pds dev` only (`PDS_OAUTH_ALLOW_LOOPBACK_CLIENTS=1`): accept `http://127.0.0.1:PORT/…` OAuth
    /// client ids, so confidential clients can be tested on one machine.
    public var oauthAllowLoopbackClients = false

    /// SMTP submission for tokens and sign-in codes (`PDS_EMAIL_*`); nil when e-mail is off.
    public var email: SMTPSettings?

    /// The server's own DID, used as the JWT audience and in describeServer (`did:web:<hostname>`).
    public var serviceDID: String { "did:web:" + hostname }
    /// The did:web this host stands for (`did:web:<hostname>`, with `%3A<port>` in dev, where
    /// the port is part of the address; https://atproto.com/specs/did).
    public var webDID: String { "did:web:" + (isDevelopment ? "\(hostname)%3A\(port)" : hostname) }
    /// The public base URL (`https://host` or `http://127.0.0.1:port` in dev).
    public var publicURL: String {
        isDevelopment ? "http://\(hostname):\(port)" : "\(publicScheme)://\(hostname)"
    }

    /// A configuration with defaults for everything but the hostname.
    public init(hostname: String, port: Int = 2583, bindAddress: String = "127.0.0.1",
                dataDirectory: String = "/var/lib/pds", isDevelopment: Bool = false) {
        self.hostname = hostname
        self.port = port
        self.bindAddress = bindAddress
        self.dataDirectory = dataDirectory
        self.blobUploadLimit = 104_857_600
        self.publicScheme = "https"
        self.isDevelopment = isDevelopment
        // A dev server keeps its identity local unless a directory is named (`load` does that).
        self.publishesIdentity = !isDevelopment
    }

    /// A configuration problem, reported as one clear line before anything starts.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Parses `KEY=value` text: `#` comments, blank lines, optional `export `, optional single or
    /// double quotes around the value. Unknown `PDS_` keys are kept (and ignored by the server).
    public static func parse(_ text: String, source: String = "pds.conf") throws -> [String: String] {
        var values: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line.removeFirst(7) }
            guard let equals = line.firstIndex(of: "=") else {
                throw Invalid(description: "\(source):\(index + 1): expected KEY=value, got \"\(line)\"")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw Invalid(description: "\(source):\(index + 1): bad key \"\(key)\"")
            }
            values[key] = value
        }
        return values
    }

    /// Reads `pds.conf` at `path` and overlays `environment`; every problem is one line.
    public static func load(path: String, environment: [String: String]) throws -> PDSConfig {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Invalid(description: "cannot read the configuration file \(path): \(error.localizedDescription)")
        }
        return try load(file: try parse(text, source: path), environment: environment)
    }
}
