import ACME
import Foundation
import OpenSSLNIO

/// The TLS keys of `pds.conf` (environment variables of the same names override the file).
///
/// | key | meaning |
/// |---|---|
/// | `PDS_TLS` | `acme` (default in production), `files`, or `off` (plain HTTP, e.g. behind a proxy) |
/// | `PDS_TLS_CERTIFICATE`, `PDS_TLS_PRIVATE_KEY` | PEM chain (leaf first) and key for `files`; reloaded when they change |
/// | `PDS_ACME_DIRECTORY_URL` | ACME directory (default Let's Encrypt production) |
/// | `PDS_ACME_EMAIL` | account contact (optional) |
/// | `PDS_ACME_AGREE_TOS` | must be `true` for `acme` |
/// | `PDS_ACME_CHALLENGES` | comma-separated, in order: `tls-alpn-01,http-01` (default) |
/// | `PDS_ACME_CA_FILE` | PEM CA for the ACME server's own TLS (a private CA or Pebble; default: system store) |
/// | `PDS_TLS_EXTRA_NAMES` | more names for the certificate, comma-separated (e.g. the handle when served here) |
/// | `PDS_HTTP_PORT` | the port-80 listener (HTTP-01 + redirect); `0` turns it off |
/// | `PDS_TLS_RELOAD_SECONDS` | how often certificate files are checked (default 60) |
/// | `PDS_TLS_HANDSHAKE_TIMEOUT_SECONDS` | default 10 |
public struct TLSSettings: Sendable {
    /// ACME options.
    public struct ACMEOptions: Sendable {
        public var directoryURL: URL = ACMEConfiguration.letsEncrypt
        public var email: String?
        public var termsOfServiceAgreed = false
        public var challengeTypes: [ACMEChallengeType] = [.tlsALPN01, .http01]
        public var directoryCAFile: String?
        public var pollInterval: Duration = .seconds(1)

        public init() {}
    }

    /// Where certificates come from.
    public enum Certificates: Sendable {
        case files(chain: String, key: String)
        case acme(ACMEOptions)
    }

    public var certificates: Certificates
    /// Names besides the hostname on an ACME certificate.
    public var additionalNames: [String] = []
    /// The port-80 listener's port, nil for none.
    public var httpPort: Int? = 80
    public var reloadInterval: Duration = .seconds(60)
    public var handler = OpenSSLHandlerConfiguration()

    public init(certificates: Certificates) {
        self.certificates = certificates
    }

    /// Reads the TLS keys. Returns nil when `PDS_TLS=off`.
    /// - Throws: `PDSConfig.Invalid` naming the key at fault.
    public static func load(file values: [String: String], environment: [String: String]) throws -> TLSSettings? {
        var merged = values
        for (key, value) in environment where key.hasPrefix("PDS_") { merged[key] = value }
        func value(_ key: String) -> String? {
            guard let text = merged[key]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = value(key) else { return nil }
            guard let number = Int(text), range.contains(number) else {
                throw PDSConfig.Invalid(description: "\(key)=\(text) is not a number in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }
        func list(_ key: String) -> [String] {
            (value(key) ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }

        let mode = value("PDS_TLS")?.lowercased() ?? (value("PDS_TLS_CERTIFICATE") != nil ? "files" : "acme")
        var settings: TLSSettings
        switch mode {
        case "off":
            return nil
        case "files":
            guard let chain = value("PDS_TLS_CERTIFICATE"), let key = value("PDS_TLS_PRIVATE_KEY") else {
                throw PDSConfig.Invalid(description: "PDS_TLS=files needs PDS_TLS_CERTIFICATE and PDS_TLS_PRIVATE_KEY")
            }
            settings = TLSSettings(certificates: .files(chain: chain, key: key))
        case "acme":
            var options = ACMEOptions()
            if let text = value("PDS_ACME_DIRECTORY_URL") {
                guard let url = URL(string: text), url.scheme == "https", url.host != nil else {
                    throw PDSConfig.Invalid(description: "PDS_ACME_DIRECTORY_URL=\(text) is not an https URL")
                }
                options.directoryURL = url
            }
            options.email = value("PDS_ACME_EMAIL")
            if let email = options.email, !email.contains("@") || email.contains(" ") {
                throw PDSConfig.Invalid(description: "PDS_ACME_EMAIL=\(email) is not an e-mail address")
            }
            options.termsOfServiceAgreed = ["true", "yes", "1"].contains(value("PDS_ACME_AGREE_TOS")?.lowercased() ?? "")
            let challenges = list("PDS_ACME_CHALLENGES")
            if !challenges.isEmpty {
                options.challengeTypes = try challenges.map { name in
                    guard let type = ACMEChallengeType(rawValue: name.lowercased()) else {
                        throw PDSConfig.Invalid(description: "PDS_ACME_CHALLENGES: unknown challenge \(name) (tls-alpn-01, http-01)")
                    }
                    return type
                }
            }
            if let file = value("PDS_ACME_CA_FILE") {
                guard FileManager.default.isReadableFile(atPath: file) else {
                    throw PDSConfig.Invalid(description: "PDS_ACME_CA_FILE=\(file) is not a readable file")
                }
                options.directoryCAFile = file
            }
            settings = TLSSettings(certificates: .acme(options))
        default:
            throw PDSConfig.Invalid(description: "PDS_TLS=\(mode) must be acme, files or off")
        }
        settings.additionalNames = list("PDS_TLS_EXTRA_NAMES")
        if let port = try integer("PDS_HTTP_PORT", 0...65535) { settings.httpPort = port == 0 ? nil : port }
        if let seconds = try integer("PDS_TLS_RELOAD_SECONDS", 1...86400) { settings.reloadInterval = .seconds(seconds) }
        if let seconds = try integer("PDS_TLS_HANDSHAKE_TIMEOUT_SECONDS", 1...300) { settings.handler.handshakeTimeout = .seconds(Int64(seconds)) }
        return settings
    }
}
