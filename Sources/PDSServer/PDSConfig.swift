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
    /// 72). A `subscribeRepos` cursor older than this gets `#info OutdatedCursor` (ATPROTO.md §12).
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
    /// The DNS server for handle TXT lookups, `host:port` (`PDS_DNS_RESOLVER`; default: the first
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

    public enum TLSMode: String, Sendable { case acme, files, off }

    /// Every `KEY=value` the configuration was built from (file, then environment): the source
    /// for settings read by their own types (`TLSSettings`). No secrets live in pds.conf.
    public var values: [String: String] = [:]

    /// The S3 blob mirror (`PDS_BLOB_MIRROR_*`, docs/BACKUP.md); nil when mirroring is off.
    public var blobMirror: BlobMirrorConfig?

    /// Outbound HTTP: the guard's test switch, the pool, a CA file (`PDS_OUTBOUND_*`).
    public var outbound = OutboundSettings()

    /// The server's own DID, used as the JWT audience and in describeServer (`did:web:<hostname>`).
    public var serviceDID: String { "did:web:" + hostname }
    /// The did:web this host stands for (`did:web:<hostname>`, with `%3A<port>` in dev, where
    /// the port is part of the address; ATPROTO.md §8.3).
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

    /// Builds a configuration from parsed file values overlaid with `environment`.
    public static func load(file values: [String: String], environment: [String: String],
                            isDevelopment: Bool = false) throws -> PDSConfig {
        var merged = values
        for (key, value) in environment where key.hasPrefix("PDS_") { merged[key] = value }

        func integer(_ key: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
            guard let text = merged[key], !text.isEmpty else { return fallback }
            guard let number = Int(text), range.contains(number) else {
                throw Invalid(description: "\(key)=\(text) is not a number in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }

        func url(_ key: String, _ text: String) throws -> String {
            guard let parsed = URL(string: text), let scheme = parsed.scheme, scheme == "https" || scheme == "http",
                  parsed.host != nil else {
                throw Invalid(description: "\(key)=\(text) is not an http(s) URL")
            }
            return text.hasSuffix("/") ? String(text.dropLast()) : text
        }

        let hostname = merged["PDS_HOSTNAME"] ?? (isDevelopment ? "127.0.0.1" : "")
        guard !hostname.isEmpty else { throw Invalid(description: "PDS_HOSTNAME is not set (the server's public hostname, e.g. pds.example.com)") }
        guard !hostname.contains("/"), !hostname.contains(":"), !hostname.contains(" ") else {
            throw Invalid(description: "PDS_HOSTNAME=\(hostname) must be a bare hostname, without scheme, port or path")
        }
        var config = PDSConfig(hostname: hostname, isDevelopment: isDevelopment)
        config.values = merged
        config.port = try integer("PDS_PORT", default: isDevelopment ? 2583 : 443, range: 1...65535)
        config.bindAddress = merged["PDS_BIND_ADDRESS"] ?? (isDevelopment ? "127.0.0.1" : "0.0.0.0")
        config.dataDirectory = merged["PDS_DATA_DIRECTORY"] ?? (isDevelopment ? "./data" : "/var/lib/pds")
        config.blobUploadLimit = try integer("PDS_BLOB_UPLOAD_LIMIT", default: 104_857_600, range: 1...(16 << 30))
        config.accessTokenLifetime = try integer("PDS_ACCESS_TOKEN_TTL", default: 7200, range: 1...86_400)
        config.contactEmail = merged["PDS_CONTACT_EMAIL_ADDRESS"]
        config.privacyPolicyURL = merged["PDS_PRIVACY_POLICY_URL"]
        config.termsOfServiceURL = merged["PDS_TERMS_OF_SERVICE_URL"]
        config.firehoseRetention = .seconds(try integer("PDS_FIREHOSE_RETENTION_HOURS", default: 72, range: 1...87_600) * 3600)
        config.firehoseMaxPendingEvents = try integer("PDS_MAX_SUBSCRIPTION_BUFFER", default: 500, range: 1...1_000_000)
        config.publicScheme = isDevelopment ? "http" : "https"
        if let plc = merged["PDS_DID_PLC_URL"], !plc.isEmpty {
            config.plcURL = try url("PDS_DID_PLC_URL", plc)
            config.publishesIdentity = true
        } else if isDevelopment {
            config.publishesIdentity = false
        }
        if let appView = merged["PDS_BSKY_APP_VIEW_URL"] {
            config.appViewURL = appView.isEmpty ? "" : try url("PDS_BSKY_APP_VIEW_URL", appView)
        }
        if let appViewDID = merged["PDS_BSKY_APP_VIEW_DID"], !appViewDID.isEmpty {
            guard appViewDID.hasPrefix("did:") else { throw Invalid(description: "PDS_BSKY_APP_VIEW_DID=\(appViewDID) is not a DID") }
            config.appViewDID = appViewDID
        }
        if let crawlers = merged["PDS_CRAWLERS"] {
            config.crawlers = try crawlers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.map { try url("PDS_CRAWLERS", $0) }
        } else if !isDevelopment {
            config.crawlers = defaultCrawlers
        }
        if let unlock = merged["PDS_KEY_UNLOCK"], !unlock.isEmpty {
            guard let method = KeyUnlock.Method(rawValue: unlock) else {
                throw Invalid(description: "PDS_KEY_UNLOCK=\(unlock) must be identity or passphrase")
            }
            config.keyUnlock = method
        }
        config.keyIdentityFile = merged["PDS_KEY_IDENTITY_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        config.keyPassphraseFile = merged["PDS_KEY_PASSPHRASE_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let tls = merged["PDS_TLS"], !tls.isEmpty {
            guard let mode = TLSMode(rawValue: tls.lowercased()) else { throw Invalid(description: "PDS_TLS=\(tls) must be acme, files or off") }
            config.tlsMode = mode
        } else if isDevelopment {
            config.tlsMode = .off
        } else if merged["PDS_TLS_CERTIFICATE"].map({ !$0.isEmpty }) == true {
            config.tlsMode = .files
        }
        // The TLS details are checked now too, so a bad TLS key stops the server before it starts.
        if config.tlsMode != .off { _ = try TLSSettings.load(file: merged, environment: [:]) }
        if let metrics = merged["PDS_METRICS_ENABLED"], !metrics.isEmpty {
            guard let enabled = ["true": true, "false": false, "1": true, "0": false][metrics.lowercased()] else {
                throw Invalid(description: "PDS_METRICS_ENABLED=\(metrics) must be true or false")
            }
            config.metricsEnabled = enabled
        }
        if let format = merged["PDS_LOG_FORMAT"], !format.isEmpty {
            guard format == "json" || format == "text" else { throw Invalid(description: "PDS_LOG_FORMAT=\(format) must be json or text") }
            config.logFormat = format
        }
        if let https = merged["PDS_HANDLE_HTTPS_RESOLUTION"], !https.isEmpty {
            guard let enabled = ["true": true, "false": false, "1": true, "0": false][https.lowercased()] else {
                throw Invalid(description: "PDS_HANDLE_HTTPS_RESOLUTION=\(https) must be true or false")
            }
            config.handleHTTPSResolution = enabled
        } else if isDevelopment {
            config.handleHTTPSResolution = false
        }
        if let resolver = merged["PDS_DNS_RESOLVER"], !resolver.isEmpty { config.dnsResolver = resolver }
        if let recovery = merged["PDS_RECOVERY_DID_KEY"], !recovery.isEmpty {
            guard recovery.hasPrefix("did:key:") else { throw Invalid(description: "PDS_RECOVERY_DID_KEY must be a did:key") }
            config.recoveryDIDKey = recovery
        }
        config.blobMirror = try BlobMirrorConfig.load(from: merged)
        config.outbound = try OutboundSettings.load(from: merged)
        return config
    }
}
