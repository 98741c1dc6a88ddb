import Foundation
import Logging
import PDSCore
import PDSNetwork
import PDSStore

/// What `pds status` prints: the server's state read from its data directory and configuration,
/// plus the identity checks `pds doctor` makes (handle and DID document), each line marked when it
/// needs the owner's attention. Reads only; safe next to a running server.
public struct ServerStatus: Sendable {
    public struct Line: Sendable {
        public let topic: String
        public let text: String
        /// Why the owner should look (nil: fine).
        public let attention: String?
    }

    public private(set) var lines: [Line] = []
    public var needsAttention: Bool { lines.contains { $0.attention != nil } }

    mutating func add(_ topic: String, _ text: String, attention: String? = nil) {
        lines.append(Line(topic: topic, text: text, attention: attention))
    }

    /// Gathers the status of the server configured by `config`. `http` answers the identity checks
    /// (nil: they are skipped, e.g. offline).
    public static func gather(config: PDSConfig, http: (any OutboundHTTP)?, now: Date = Date()) async throws -> ServerStatus {
        let directory = config.dataDirectory
        guard FileManager.default.fileExists(atPath: directory + "/" + PDSDatabase.fileName) else {
            throw AccountTokens.Refused(description: "\(directory) holds no initialised server (no \(PDSDatabase.fileName)): run `pds init`, or pass the server's --config (or --data)")
        }
        var status = ServerStatus()
        if let pid = DataDirectoryLock.holder(directory: directory) {
            status.add("server", "running" + (pid.isEmpty ? "" : " (pid \(pid))") + (config.isDevelopment ? "" : ", \(config.publicURL)"))
        } else {
            status.add("server", "not running", attention: "start it: systemctl start pds (or pds serve --config …)")
        }
        let database = try PDSDatabase(directory: directory)
        let accounts = AccountStore(database: database)
        if let account = try accounts.account() {
            status.add("account", "\(account.handle) (\(account.did)), " + (account.isActive ? "active" : account.status ?? "inactive"),
                       attention: account.isActive ? nil : "the account is \(account.status ?? "inactive"): `pds account activate`, or finish the move")
            if config.isDevelopment {
                status.add("identity", "development server: not published (`pds doctor` checks a published one)")
            } else if let http {
                await status.addIdentity((account.did, account.handle), config: config, http: http)
            }
        } else {
            status.add("account", "none yet", attention: "create one with `pds init`, or move one here (`pds migrate`)")
        }
        let facts = try ServerFacts.gather(config: config, database: database)
        status.addStorage(facts, mirrored: config.blobMirror != nil, now: now)
        status.addEmail(config.email, outbox: try EmailOutbox(database: database).summary(), account: try accounts.account(), now: now)
        status.addTLS(facts, config: config, now: now)
        if let pending = KeyRotation.pendingDescription(dataDirectory: directory) {
            status.add("signing key", pending, attention: "the PLC directory does not show the new key yet: the running server switches once it does (see its log), or stop it and run `pds key rotate` again")
        }
        return status
    }

    mutating func addIdentity(_ account: (did: String, handle: String), config: PDSConfig, http: any OutboundHTTP) async {
        let directory = NetworkIdentityDirectory(http: http, remoteHTTP: http.guarded(by: config.outbound.makeGuard(logger: nil)),
                                                 plcURL: config.plcURL, dnsResolver: config.dnsResolver,
                                                 isDevelopment: config.isDevelopment, httpsFallback: config.handleHTTPSResolution)
        var findings: [Doctor.Finding] = []
        await Doctor.checkIdentity(account, config: config, keys: nil, resolver: directory) { findings.append($0) }
        for finding in findings {
            add(finding.check, finding.detail, attention: finding.ok ? nil : finding.fix ?? "see `pds doctor`")
        }
    }
}
