import Foundation
import Logging
import NIOCore
import NIOPosix
import OpenSSLNIO
import Synchronization

/// Why a submission failed. `isPermanent` says that sending the same message again cannot help
/// (a 5xx reply to the envelope or the data, RFC 5321 §4.2.1); a refused greeting or login, a
/// network or TLS failure and a 4xx are worth retrying (the operator may fix the server or the
/// settings). Descriptions never contain the password.
public enum SMTPError: Error, Sendable, CustomStringConvertible {
    case connectFailed(String)
    case tls(String)
    /// The server answered `reply` to `stage` (`greeting`, `EHLO`, `AUTH`, `MAIL FROM`, …).
    case rejected(stage: String, reply: SMTPReply)
    /// The server closed the connection, sent nonsense, or lacks something needed.
    case protocolViolation(String)
    case timedOut(stage: String)

    public var isPermanent: Bool {
        guard case .rejected(let stage, let reply) = self else { return false }
        return reply.isPermanentFailure && ["MAIL FROM", "RCPT TO", "DATA", "message"].contains(stage)
    }

    public var description: String {
        switch self {
        case .connectFailed(let detail): "cannot connect: \(detail)"
        case .tls(let detail): "TLS failed: \(detail)"
        case .rejected(let stage, let reply): "\(stage) refused: \(reply.summary)"
        case .protocolViolation(let detail): detail
        case .timedOut(let stage): "no answer to \(stage) in time"
        }
    }
}

/// Submits messages to one SMTP server (RFC 5321, RFC 6409) over SwiftNIO, with TLS from the
/// system OpenSSL (`OpenSSLHandler`): implicit TLS (RFC 8314) or STARTTLS (RFC 3207), the
/// certificate verified against the trust roots and the host name. AUTH PLAIN or LOGIN
/// (RFC 4954) when a user name is configured. One connection per submission (a personal server
/// sends a handful of messages a day).
///
/// Not here: queueing and retries (PDSCore's `Mailer`), message composition (`EmailMessage`).
public struct SMTPClient: Sendable {
    public let settings: SMTPSettings
    /// The name this host gives in EHLO (RFC 5321 §4.1.1.1: its domain name).
    public let heloName: String
    /// How long each reply may take (RFC 5321 §4.5.3.2 suggests minutes; a submission server
    /// answers in seconds, and a stuck attempt is retried later anyway).
    public var replyTimeout: TimeAmount = .seconds(60)
    let group: any EventLoopGroup

    /// - Parameter heloName: this host's name; an IP address becomes an address literal
    ///   (`[192.0.2.1]`, `[IPv6:2001:db8::1]`, RFC 5321 §4.1.3).
    public init(settings: SMTPSettings, heloName: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.settings = settings
        if heloName.contains(":") {
            self.heloName = "[IPv6:\(heloName)]"
        } else if !heloName.isEmpty, heloName.allSatisfy({ $0.isNumber || $0 == "." }) {
            self.heloName = "[\(heloName)]"
        } else {
            self.heloName = heloName.isEmpty ? "localhost" : heloName
        }
        self.group = group
    }

    /// A TLS client context for one connection (loads the trust roots, so a replaced CA file
    /// counts from the next message on).
    func tlsContext() throws -> SSLContext {
        do { return try SSLContext.client(trustRoots: settings.trustRoots) } catch { throw SMTPError.tls("\(error)") }
    }

    /// Delivers `message` (RFC 5322 bytes) from `settings.fromAddress` to `recipients`;
    /// returns the server's final reply once it accepted the message.
    @discardableResult
    public func send(_ message: [UInt8], to recipients: [String]) async throws -> SMTPReply {
        guard !recipients.isEmpty, recipients.allSatisfy(SMTPSettings.isAddress),
              SMTPSettings.isAddress(settings.fromAddress)
        else { throw SMTPError.protocolViolation("the sender or a recipient is not a usable address") }
        let tls = try tlsContext()
        let connection = try await SMTPConnection.open(settings: settings, tls: tls, timeout: replyTimeout, group: group)
        do {
            let reply = try await dialogue(connection, tls: tls, message: message, recipients: recipients)
            await connection.quit()
            return reply
        } catch {
            connection.close()
            throw error
        }
    }

    /// Connects, secures and signs in as `send` does, then says QUIT without sending anything:
    /// whether these settings work (`pds doctor`). Returns the capabilities the server offered.
    @discardableResult
    public func verify() async throws -> [String: [String]] {
        let tls = try tlsContext()
        let connection = try await SMTPConnection.open(settings: settings, tls: tls, timeout: replyTimeout, group: group)
        do {
            let capabilities = try await prepare(connection, tls: tls)
            await connection.quit()
            return capabilities
        } catch {
            connection.close()
            throw error
        }
    }

    private func dialogue(_ connection: SMTPConnection, tls: SSLContext, message: [UInt8], recipients: [String]) async throws -> SMTPReply {
        _ = try await prepare(connection, tls: tls)
        _ = try await connection.command("MAIL FROM:<\(settings.fromAddress)>", stage: "MAIL FROM")
        for recipient in recipients {
            _ = try await connection.command("RCPT TO:<\(recipient)>", stage: "RCPT TO")
        }
        let go = try await connection.command("DATA", stage: "DATA", expectIntermediate: true)
        guard go.code == 354 else { throw SMTPError.rejected(stage: "DATA", reply: go) }
        return try await connection.send(raw: SMTPDialogue.dataPayload(message), stage: "message")
    }

    /// Greeting, EHLO, STARTTLS (then EHLO again), AUTH; returns the capabilities in force.
    private func prepare(_ connection: SMTPConnection, tls: SSLContext) async throws -> [String: [String]] {
        try await connection.expect("greeting", positive: true)
        var capabilities = try await connection.command("EHLO \(heloName)", stage: "EHLO").extensions
        if settings.security == .startTLS {
            guard capabilities["STARTTLS"] != nil else {
                throw SMTPError.protocolViolation("the server does not offer STARTTLS; refusing to send in plain text")
            }
            _ = try await connection.command("STARTTLS", stage: "STARTTLS")
            try await connection.startTLS(tls, serverName: settings.host)
            // RFC 3207 §4.2: forget what was learned before TLS and ask again.
            capabilities = try await connection.command("EHLO \(heloName)", stage: "EHLO").extensions
        }
        if let username = settings.username {
            try await authenticate(connection, username: username, password: settings.password ?? "", offered: capabilities["AUTH"] ?? [])
        }
        return capabilities
    }

    /// RFC 4954 §4: PLAIN when offered, else LOGIN. Nothing of the exchange is logged.
    private func authenticate(_ connection: SMTPConnection, username: String, password: String, offered: [String]) async throws {
        guard let mechanism = SMTPDialogue.chooseMechanism(offered: offered) else {
            throw SMTPError.protocolViolation("the server offers no AUTH mechanism this client speaks (PLAIN, LOGIN); it offers: \(offered.joined(separator: " "))")
        }
        switch mechanism {
        case .plain:
            _ = try await connection.command(
                "AUTH PLAIN " + SMTPDialogue.plainInitialResponse(username: username, password: password), stage: "AUTH")
        case .login:
            let user = try await connection.command("AUTH LOGIN", stage: "AUTH", expectIntermediate: true)
            guard user.code == 334 else { throw SMTPError.rejected(stage: "AUTH", reply: user) }
            let pass = try await connection.command(SMTPDialogue.loginResponse(username), stage: "AUTH", expectIntermediate: true)
            guard pass.code == 334 else { throw SMTPError.rejected(stage: "AUTH", reply: pass) }
            _ = try await connection.command(SMTPDialogue.loginResponse(password), stage: "AUTH")
        }
    }
}
