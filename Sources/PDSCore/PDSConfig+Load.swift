import Foundation
import PDSBackup
import PDSNetwork

extension PDSConfig {
    /// Builds a configuration from parsed file values overlaid with `environment`.
    public static func load(file values: [String: String], environment: [String: String],
                            isDevelopment: Bool = false) throws -> PDSConfig {
        var merged = values
        for (key, value) in environment where key.hasPrefix("PDS_") { merged[key] = value }
        let keys = ConfigValues(values: merged)

        let hostname = merged["PDS_HOSTNAME"] ?? (isDevelopment ? "127.0.0.1" : "")
        guard !hostname.isEmpty else { throw Invalid(description: "PDS_HOSTNAME is not set (the server's public hostname, e.g. pds.example.com)") }
        guard !hostname.contains("/"), !hostname.contains(":"), !hostname.contains(" ") else {
            throw Invalid(description: "PDS_HOSTNAME=\(hostname) must be a bare hostname, without scheme, port or path")
        }
        var config = PDSConfig(hostname: hostname, isDevelopment: isDevelopment)
        config.values = merged
        config.port = try keys.integer("PDS_PORT", default: isDevelopment ? 2583 : 443, range: 1...65535)
        config.bindAddress = merged["PDS_BIND_ADDRESS"] ?? (isDevelopment ? "127.0.0.1" : "0.0.0.0")
        config.dataDirectory = merged["PDS_DATA_DIRECTORY"] ?? (isDevelopment ? "./data" : "/var/lib/pds")
        config.blobUploadLimit = try keys.integer("PDS_BLOB_UPLOAD_LIMIT", default: 104_857_600, range: 1...(16 << 30))
        config.accessTokenLifetime = try keys.integer("PDS_ACCESS_TOKEN_TTL", default: 7200, range: 1...86_400)
        config.contactEmail = merged["PDS_CONTACT_EMAIL_ADDRESS"]
        config.privacyPolicyURL = merged["PDS_PRIVACY_POLICY_URL"]
        config.termsOfServiceURL = merged["PDS_TERMS_OF_SERVICE_URL"]
        config.firehoseRetention = .seconds(try keys.integer("PDS_FIREHOSE_RETENTION_HOURS", default: 72, range: 1...87_600) * 3600)
        config.firehoseMaxPendingEvents = try keys.integer("PDS_MAX_SUBSCRIPTION_BUFFER", default: 500, range: 1...1_000_000)
        config.publicScheme = isDevelopment ? "http" : "https"
        try config.loadNetwork(keys)
        try config.loadKeysAndTLS(keys)
        try config.loadOperations(keys)
        // The secret file is read by the server when it starts (PDSServing), not by every command.
        config.blobMirror = try BlobMirrorConfig.load(from: merged, readingSecretFile: false)
        config.outbound = try OutboundSettings.load(from: merged)
        config.email = try SMTPSettings.load(from: merged)
        config.oauthAllowLoopbackClients = isDevelopment && ["1", "true"].contains(merged["PDS_OAUTH_ALLOW_LOOPBACK_CLIENTS"] ?? "")
        return config
    }

    /// The PLC directory, the AppView, relays and identity resolution.
    mutating func loadNetwork(_ keys: ConfigValues) throws {
        if let plc = keys["PDS_DID_PLC_URL"] {
            plcURL = try keys.url("PDS_DID_PLC_URL", plc)
            publishesIdentity = true
        } else if isDevelopment {
            publishesIdentity = false
        }
        if let appView = keys.values["PDS_BSKY_APP_VIEW_URL"] {
            appViewURL = appView.isEmpty ? "" : try keys.url("PDS_BSKY_APP_VIEW_URL", appView)
        }
        if let did = keys["PDS_BSKY_APP_VIEW_DID"] {
            guard did.hasPrefix("did:") else { throw Invalid(description: "PDS_BSKY_APP_VIEW_DID=\(did) is not a DID") }
            appViewDID = did
        }
        // Absent: the reference distribution's relay. Present but empty: crawling is off.
        if let list = keys.values["PDS_CRAWLERS"] {
            crawlers = try list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.map { try keys.url("PDS_CRAWLERS", $0) }
        } else if !isDevelopment {
            crawlers = Self.defaultCrawlers
        }
        if let enabled = try keys.bool("PDS_HANDLE_HTTPS_RESOLUTION") {
            handleHTTPSResolution = enabled
        } else if isDevelopment {
            handleHTTPSResolution = false
        }
        if let resolver = keys["PDS_DNS_RESOLVER"] { dnsResolver = resolver }
        if let recovery = keys["PDS_RECOVERY_DID_KEY"] {
            guard recovery.hasPrefix("did:key:") else { throw Invalid(description: "PDS_RECOVERY_DID_KEY must be a did:key") }
            recoveryDIDKey = recovery
        }
    }

    /// How the key files are unlocked, and TLS.
    mutating func loadKeysAndTLS(_ keys: ConfigValues) throws {
        if let unlock = keys["PDS_KEY_UNLOCK"] {
            guard let method = KeyUnlock.Method(rawValue: unlock) else {
                throw Invalid(description: "PDS_KEY_UNLOCK=\(unlock) must be identity or passphrase")
            }
            keyUnlock = method
        }
        keyIdentityFile = keys["PDS_KEY_IDENTITY_FILE"]
        keyPassphraseFile = keys["PDS_KEY_PASSPHRASE_FILE"]
        if let tls = keys["PDS_TLS"] {
            guard let mode = TLSMode(rawValue: tls.lowercased()) else { throw Invalid(description: "PDS_TLS=\(tls) must be acme, files or off") }
            tlsMode = mode
        } else if isDevelopment {
            tlsMode = .off
        } else if keys["PDS_TLS_CERTIFICATE"] != nil {
            tlsMode = .files
        }
        // The TLS details are checked now too, so a bad TLS key stops the server before it starts.
        if tlsMode != .off { _ = try TLSSettings.load(file: keys.values, environment: [:]) }
    }

    /// Metrics, logs, rate limits and the login defence.
    mutating func loadOperations(_ keys: ConfigValues) throws {
        if let enabled = try keys.bool("PDS_METRICS_ENABLED") { metricsEnabled = enabled }
        if let format = keys["PDS_LOG_FORMAT"] {
            guard format == "json" || format == "text" else { throw Invalid(description: "PDS_LOG_FORMAT=\(format) must be json or text") }
            logFormat = format
        }
        if let level = keys["PDS_LOG_LEVEL"] {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            let normalised = level.lowercased() == "warn" ? "warning" : level.lowercased()
            guard levels.contains(normalised) else {
                throw Invalid(description: "PDS_LOG_LEVEL=\(level) must be one of \(levels.joined(separator: ", "))")
            }
            logLevel = normalised
        }
        rateLimits = try RateLimitSettings.load(keys.values)
        loginDefence.failureLimit = try keys.integer("PDS_LOGIN_FAILURE_LIMIT", default: 10, range: 1...1_000_000)
        loginDefence.lockoutSeconds = try keys.integer("PDS_LOGIN_LOCKOUT_SECONDS", default: 900, range: 1...31_536_000)
    }
}

/// The merged `PDS_*` values with typed, checked reads; each failure names the key.
struct ConfigValues {
    let values: [String: String]

    /// The value of `key`, nil when absent or empty.
    subscript(key: String) -> String? {
        guard let value = values[key], !value.isEmpty else { return nil }
        return value
    }

    func integer(_ key: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = self[key] else { return fallback }
        guard let number = Int(text), range.contains(number) else {
            throw PDSConfig.Invalid(description: "\(key)=\(text) is not a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    func bool(_ key: String) throws -> Bool? {
        guard let text = self[key] else { return nil }
        guard let value = ["true": true, "false": false, "1": true, "0": false][text.lowercased()] else {
            throw PDSConfig.Invalid(description: "\(key)=\(text) must be true or false")
        }
        return value
    }

    /// An http(s) URL with a host, without a trailing slash.
    func url(_ key: String, _ text: String) throws -> String {
        guard let parsed = URL(string: text), let scheme = parsed.scheme, scheme == "https" || scheme == "http",
              parsed.host != nil else {
            throw PDSConfig.Invalid(description: "\(key)=\(text) is not an http(s) URL")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }
}
