import Logging
import NIOCore
import OpenSSLNIO

/// How the server calls out, from its configuration keys (docs/CONFIGURATION.md):
///
/// - `PDS_OUTBOUND_ALLOW_PRIVATE` (default false): let the outbound guard through to private,
///   loopback and other non-public addresses. For test suites whose stand-ins (did:web services,
///   handles) live on loopback; never for a server on the internet.
/// - `PDS_OUTBOUND_POOL` (default true): keep-alive connections to upstreams; false opens a
///   connection per request (for comparison, or a misbehaving upstream).
/// - `PDS_OUTBOUND_CA_FILE`: a PEM file of the CAs outbound HTTPS trusts *instead of* the system
///   store (tests and benchmarks with a local CA; a private deployment with its own CA).
public struct OutboundSettings: Sendable, Equatable {
    public var allowPrivate = false
    public var pool = true
    public var caFile: String?

    public init(allowPrivate: Bool = false, pool: Bool = true, caFile: String? = nil) {
        self.allowPrivate = allowPrivate
        self.pool = pool
        self.caFile = caFile
    }

    /// A configuration key with a value it cannot take.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// The settings in `values` (pds.conf overlaid with the environment).
    public static func load(from values: [String: String]) throws -> OutboundSettings {
        func flag(_ key: String, default fallback: Bool) throws -> Bool {
            guard let text = values[key], !text.isEmpty else { return fallback }
            guard let value = ["true": true, "false": false, "1": true, "0": false, "yes": true, "no": false][text.lowercased()] else {
                throw Invalid(description: "\(key)=\(text) must be true or false")
            }
            return value
        }
        var settings = OutboundSettings()
        settings.allowPrivate = try flag("PDS_OUTBOUND_ALLOW_PRIVATE", default: false)
        settings.pool = try flag("PDS_OUTBOUND_POOL", default: true)
        settings.caFile = values["PDS_OUTBOUND_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        return settings
    }

    /// The client for operator-configured targets (PLC directory, AppView, relays, S3).
    public func makeClient() -> NIOHTTPClient {
        NIOHTTPClient(trustRoots: caFile.map { .pemFile($0) } ?? .system, pool: pool ? HTTP1PoolConfiguration() : .disabled)
    }

    /// The guard for targets others chose.
    public func makeGuard(logger: Logger?) -> OutboundGuard {
        OutboundGuard(allowPrivate: allowPrivate, logger: logger)
    }
}
