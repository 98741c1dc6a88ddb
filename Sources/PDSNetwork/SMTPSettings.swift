import Foundation
import OpenSSLNIO

/// How the server submits e-mail, from its configuration keys (docs/CONFIGURATION.md, "E-mail").
///
/// - `PDS_EMAIL_SMTP_URL`: `smtps://[user@]host[:port]` (implicit TLS, port 465 by default;
///   RFC 8314 §3.3) or `smtp://[user@]host[:port]` (submission with STARTTLS, port 587 by
///   default; RFC 6409, RFC 3207). Plain-text SMTP is never used: a server that does not offer
///   STARTTLS is refused. A password may be in the URL (percent-encoded) but belongs in a file.
/// - `PDS_EMAIL_SMTP_PASSWORD_FILE`: the password's file (first line), mode 0600; a relative
///   path is read from systemd's `$CREDENTIALS_DIRECTORY` (`LoadCredential=`).
/// - `PDS_EMAIL_FROM`: the sender, `address` or `Name <address>`.
/// - `PDS_EMAIL_CA_FILE`: a PEM file of the CAs the SMTP server's certificate must chain to,
///   instead of the system store (tests with a local CA; a private relay).
/// - `PDS_EMAIL_RETRY_SECONDS` (default 60): the first retry delay; it doubles per failed
///   attempt, up to an hour.
///
/// `description` never shows the password.
public struct SMTPSettings: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    public enum Security: String, Sendable {
        /// TLS from the first byte (port 465).
        case implicitTLS
        /// EHLO in plain text, then STARTTLS, then everything else inside TLS (port 587).
        case startTLS
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var username: String?
    public var password: String?
    /// The envelope sender (`MAIL FROM`) and the `From` address.
    public var fromAddress: String
    /// The `From` display name, if any.
    public var fromName: String?
    public var caFile: String?
    public var retryBase: TimeInterval = 60
    /// Why the password could not be read when the configuration was loaded: a relative
    /// `PDS_EMAIL_SMTP_PASSWORD_FILE` outside systemd (the owner's CLI commands load the same
    /// configuration and do not need it). `requireUsable()` turns it into an error for the server.
    public var passwordUnavailable: String?

    public var trustRoots: TLSTrustRoots { caFile.map { .pemFile($0) } ?? .system }

    public var description: String {
        let scheme = security == .implicitTLS ? "smtps" : "smtp"
        return "\(scheme)://\(username.map { "\($0)@" } ?? "")\(host):\(port) from \(fromAddress)"
    }

    /// Reflection (`dump`, a containing struct's default description) shows the description
    /// only, so the password cannot leak through a configuration printed whole.
    public var customMirror: Mirror { Mirror(self, children: ["server": description]) }

    public init(host: String, port: Int, security: Security, username: String? = nil, password: String? = nil,
                fromAddress: String, fromName: String? = nil, caFile: String? = nil) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.fromAddress = fromAddress
        self.fromName = fromName
        self.caFile = caFile
    }

    /// A setting that cannot work; the message never contains the password.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// The settings in `values` (pds.conf overlaid with the environment), or nil when
    /// `PDS_EMAIL_SMTP_URL` is not set (no e-mail: tokens are shown by the CLI).
    public static func load(from values: [String: String],
                            credentialsDirectory: String? = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"]) throws -> SMTPSettings? {
        func value(_ key: String) -> String? {
            guard let text = values[key]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        guard let urlText = value("PDS_EMAIL_SMTP_URL") else {
            if value("PDS_EMAIL_FROM") != nil || value("PDS_EMAIL_SMTP_PASSWORD_FILE") != nil {
                throw Invalid(description: "PDS_EMAIL_SMTP_URL is not set (smtps://user@host:465 or smtp://user@host:587); e-mail needs it, or remove the other PDS_EMAIL_* keys")
            }
            return nil
        }
        guard let components = URLComponents(string: urlText), let scheme = components.scheme?.lowercased(),
              scheme == "smtp" || scheme == "smtps", let host = components.host, !host.isEmpty,
              components.path.isEmpty || components.path == "/", components.query == nil
        else {
            throw Invalid(description: "PDS_EMAIL_SMTP_URL must be smtps://[user@]host[:port] (TLS) or smtp://[user@]host[:port] (STARTTLS)")
        }
        guard let from = value("PDS_EMAIL_FROM") else {
            throw Invalid(description: "PDS_EMAIL_FROM is not set (the sender, e.g. pds@example.com or \"My PDS <pds@example.com>\")")
        }
        guard let sender = parseMailbox(from) else {
            throw Invalid(description: "PDS_EMAIL_FROM=\(from) is not an address (local@domain, or Name <local@domain>)")
        }
        let security: Security = scheme == "smtps" ? .implicitTLS : .startTLS
        var settings = SMTPSettings(
            host: host, port: components.port ?? (security == .implicitTLS ? 465 : 587), security: security,
            username: components.user?.removingPercentEncoding, password: components.password?.removingPercentEncoding,
            fromAddress: sender.address, fromName: sender.name, caFile: value("PDS_EMAIL_CA_FILE"))
        if let file = value("PDS_EMAIL_SMTP_PASSWORD_FILE") {
            guard settings.password == nil else {
                throw Invalid(description: "PDS_EMAIL_SMTP_URL has a password and PDS_EMAIL_SMTP_PASSWORD_FILE is set: keep only the file")
            }
            if !file.hasPrefix("/"), credentialsDirectory?.isEmpty ?? true {
                settings.passwordUnavailable = "PDS_EMAIL_SMTP_PASSWORD_FILE=\(file) is relative and $CREDENTIALS_DIRECTORY is not set (systemd's LoadCredential=); give an absolute path to run outside systemd"
            } else {
                settings.password = try readSecret(file, credentialsDirectory: credentialsDirectory)
            }
        }
        if settings.password != nil || settings.passwordUnavailable != nil, settings.username == nil {
            throw Invalid(description: "an SMTP password needs a user name in PDS_EMAIL_SMTP_URL (smtps://user@host)")
        }
        if let retry = value("PDS_EMAIL_RETRY_SECONDS") {
            guard let seconds = Int(retry), (1...86_400).contains(seconds) else {
                throw Invalid(description: "PDS_EMAIL_RETRY_SECONDS=\(retry) is not a number of seconds in 1...86400")
            }
            settings.retryBase = TimeInterval(seconds)
        }
        return settings
    }

    /// Throws when the server could not submit mail with these settings (the password file was
    /// not readable where the configuration was loaded). Called before the server starts.
    public func requireUsable() throws {
        if let passwordUnavailable { throw Invalid(description: passwordUnavailable) }
    }

    /// `local@domain` or `Name <local@domain>`; nil when it is neither.
    public static func parseMailbox(_ text: String) -> (name: String?, address: String)? {
        var name: String?
        var address = text
        if let open = text.lastIndex(of: "<"), text.hasSuffix(">") {
            address = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
            let display = text[..<open].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            name = display.isEmpty ? nil : display
        }
        return isAddress(address) ? (name, address) : nil
    }

    /// A plausible `local@domain` without characters that would break an SMTP command line or
    /// a header (CR, LF, spaces, angle brackets).
    public static func isAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), text.utf8.count <= 254 else { return false }
        return text.unicodeScalars.allSatisfy { $0.value > 32 && $0.value != 127 && !"<>()[],;:\\\"".unicodeScalars.contains($0) }
    }

    /// The first line of a secret file, refusing one that group or others may read.
    static func readSecret(_ path: String, credentialsDirectory: String?) throws -> String {
        let resolved: String
        if path.hasPrefix("/") {
            resolved = path
        } else if let credentialsDirectory, !credentialsDirectory.isEmpty {
            resolved = credentialsDirectory + "/" + path
        } else {
            throw Invalid(description: "PDS_EMAIL_SMTP_PASSWORD_FILE=\(path) is relative and $CREDENTIALS_DIRECTORY is not set")
        }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: resolved),
              let data = FileManager.default.contents(atPath: resolved)
        else { throw Invalid(description: "cannot read the SMTP password file \(resolved)") }
        if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw Invalid(description: "the SMTP password file \(resolved) is readable by group or others (mode \(String(mode, radix: 8))); run: chmod 600 \(resolved)")
        }
        let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        guard !line.isEmpty else { throw Invalid(description: "the SMTP password file \(resolved) is empty") }
        return line
    }
}
