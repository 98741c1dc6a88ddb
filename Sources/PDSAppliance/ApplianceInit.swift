import ATCrypto
import Foundation
import Logging
import Multiformats
import PDSCore
import PDSServer
import PDSStore

/// `pds init`: everything a new appliance needs, created in one go — the data directory, the
/// age-encrypted signing and rotation keys, a recovery rotation key shown once, `pds.conf`, and
/// the account with its published did:plc. If any step fails, what this run created is removed,
/// so a second attempt starts clean; an already initialised directory is refused.
public enum ApplianceInit {
    public struct Options: Sendable {
        public var hostname: String
        public var handle: String
        public var password: String
        public var unlock: KeyUnlock.Method
        /// The passphrase (`.passphrase`), or nil.
        public var passphrase: String?
        /// Where the unlock identity lives (`.identity`); created when missing.
        public var identityFile: String?
        public var email: String?
        public var dataDirectory: String
        public var configPath: String
        /// Also write the recovery key, age-encrypted to the same unlock secret, here.
        public var recoveryKeyFile: String?
        /// Extra `KEY=value` settings written to pds.conf (directory, AppView, crawlers, port, TLS…).
        public var settings: [(String, String)]
        /// Prepare the server (keys, config, database) without an account: it waits for an account
        /// moving here (`goat account migrate`, the official guide), admitted by an invite code.
        public var withoutAccount = false
        /// Record `email` as confirmed: the owner typed their own address on their own box, so
        /// the app need not ask them to confirm it (no mail is needed for that).
        public var emailConfirmed = false

        public init(hostname: String, handle: String, password: String, unlock: KeyUnlock.Method, passphrase: String?,
                    identityFile: String?, email: String?, dataDirectory: String, configPath: String,
                    recoveryKeyFile: String?, settings: [(String, String)]) {
            self.hostname = hostname
            self.handle = handle
            self.password = password
            self.unlock = unlock
            self.passphrase = passphrase
            self.identityFile = identityFile
            self.email = email
            self.dataDirectory = dataDirectory
            self.configPath = configPath
            self.recoveryKeyFile = recoveryKeyFile
            self.settings = settings
        }
    }

    public struct Result: Sendable {
        /// The account's DID; empty for a server prepared without an account.
        public var did: String
        /// For a server prepared without an account: the invite code its createAccount takes.
        public var inviteCode: String?
        public var handle: String
        /// The recovery key, shown to the user once: hex private key and its did:key.
        public var recoveryKeyHex: String
        public var recoveryDIDKey: String
    }

    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// Why the data directory or config cannot be used for a fresh init, or nil.
    public static func existingInstallation(dataDirectory: String, configPath: String) -> String? {
        let files = FileManager.default
        if files.fileExists(atPath: configPath) { return "\(configPath) already exists" }
        for name in [PDSDatabase.fileName, "keys/signing.age", "keys/rotation.age"] where files.fileExists(atPath: dataDirectory + "/" + name) {
            return "\(dataDirectory)/\(name) already exists"
        }
        return nil
    }

    public static func run(_ options: Options, environment: [String: String], logger: Logger) async throws -> Result {
        if let found = existingInstallation(dataDirectory: options.dataDirectory, configPath: options.configPath) {
            throw Refused(description: "this server is already initialised (\(found)). `pds serve --config \(options.configPath)` runs it; to start over, move the data directory and the config away first")
        }
        var created: [String] = []
        do {
            return try await create(options, environment: environment, logger: logger, created: &created)
        } catch {
            for path in created.reversed() { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
    }

    /// pds.conf: what `pds serve` needs, nothing secret. TLS by ACME and the reference
    /// distribution's relay unless `options.settings` names them.
    static func configLines(_ options: Options, recoveryDIDKey: String, identityPath: String?) -> [String] {
        var lines = [
            "# pds configuration, written by `pds init`. Every key: pds.conf.example.",
            "PDS_HOSTNAME=\(options.hostname)",
            "PDS_DATA_DIRECTORY=\(options.dataDirectory)",
            "PDS_KEY_UNLOCK=\(options.unlock.rawValue)",
            "PDS_RECOVERY_DID_KEY=\(recoveryDIDKey)",
        ]
        if let identityPath { lines.append("PDS_KEY_IDENTITY_FILE=\(identityPath)") }
        if let email = options.email { lines.append("PDS_CONTACT_EMAIL_ADDRESS=\(email)") }
        if !options.settings.contains(where: { $0.0 == "PDS_TLS" }) {
            // Certificates from Let's Encrypt by ACME; using it means accepting its subscriber agreement.
            lines += ["PDS_TLS=acme", "PDS_ACME_AGREE_TOS=true"]
            if let email = options.email { lines.append("PDS_ACME_EMAIL=\(email)") }
        }
        if !options.settings.contains(where: { $0.0 == "PDS_CRAWLERS" }) {
            // Written out so the relay is visible (and removable: `PDS_CRAWLERS=` turns crawling off).
            lines.append("PDS_CRAWLERS=\(PDSConfig.defaultCrawlers.joined(separator: ","))")
        }
        for (key, value) in options.settings { lines.append("\(key)=\(value)") }
        return lines
    }

    static func create(_ options: Options, environment: [String: String], logger: Logger, created: inout [String]) async throws -> Result {
        let files = FileManager.default
        if !files.fileExists(atPath: options.dataDirectory) {
            try files.createDirectory(atPath: options.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            created.append(options.dataDirectory)
        }
        // The secret the key files are sealed to.
        let recipients: [any AgeRecipient]
        var identityPath: String?
        switch options.unlock {
        case .passphrase:
            guard let passphrase = options.passphrase, !passphrase.isEmpty else { throw Refused(description: "a passphrase is needed to seal the keys") }
            recipients = [try AgeScryptRecipient(passphrase: passphrase)]
        case .identity:
            let path = options.identityFile ?? options.dataDirectory + "/unlock-identity.txt"
            identityPath = path
            let identity: AgeX25519Identity
            if files.fileExists(atPath: path) {
                guard let existing = try KeyUnlock.identities(fromSecretFile: path, method: .identity).first as? AgeX25519Identity else {
                    throw Refused(description: "\(path) holds no X25519 age identity")
                }
                identity = existing
            } else {
                identity = AgeX25519Identity.generate()
                let text = "# pds: unlocks the key files in \(options.dataDirectory)/keys (keep a copy off this machine)\n"
                    + "# public key: \(identity.recipient)\n" + identity.encoded() + "\n"
                try files.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try KeyFiles.writeSecretFile(Array(text.utf8), to: path)
                created.append(path)
            }
            recipients = [identity.recipient]
        }

        let keyFiles = KeyFiles(dataDirectory: options.dataDirectory)
        let signing = K256PrivateKey(), rotation = K256PrivateKey(), recovery = K256PrivateKey()
        if !files.fileExists(atPath: keyFiles.directory) { created.append(keyFiles.directory) }
        try keyFiles.write(signing, to: keyFiles.signingKeyPath, recipients: recipients)
        created.append(keyFiles.signingKeyPath)
        try keyFiles.write(rotation, to: keyFiles.rotationKeyPath, recipients: recipients)
        created.append(keyFiles.rotationKeyPath)
        if let path = options.recoveryKeyFile {
            try keyFiles.write(recovery, to: path, recipients: recipients)
            created.append(path)
        }

        let lines = configLines(options, recoveryDIDKey: recovery.didKey, identityPath: identityPath)
        try files.createDirectory(atPath: (options.configPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: options.configPath), options: .atomic)
        created.append(options.configPath)

        // Everything `serve` will do, checked now: the config parses and the keys open again.
        let config = try PDSConfig.load(path: options.configPath, environment: environment.filter { !$0.key.hasPrefix("PDS_") })
        let identities: [any AgeIdentity]
        switch options.unlock {
        case .passphrase: identities = [AgeScryptIdentity(passphrase: options.passphrase ?? "")]
        case .identity: identities = try KeyUnlock.identities(fromSecretFile: identityPath!, method: .identity)
        }
        let keys = ServerKeys(signingKey: try keyFiles.read(keyFiles.signingKeyPath, identities: identities),
                              rotationKey: try keyFiles.read(keyFiles.rotationKeyPath, identities: identities))
        created.append(options.dataDirectory + "/" + PDSDatabase.fileName)
        created.append(options.dataDirectory + "/" + PDSDatabase.fileName + "-wal")
        created.append(options.dataDirectory + "/" + PDSDatabase.fileName + "-shm")
        let state = try PDSServices.open(config: config, keys: keys, logger: logger)
        var secret = recovery.privateKeyBytes
        defer { secret.zeroize() }
        if options.withoutAccount {
            let invite = try AccountTokens.issue(.invite, dataDirectory: options.dataDirectory)
            return Result(did: "", inviteCode: invite, handle: "", recoveryKeyHex: Base16.encode(secret), recoveryDIDKey: recovery.didKey)
        }
        let did = try await AccountBootstrap.create(state: state, handle: options.handle, password: options.password, email: options.email)
        if options.emailConfirmed, options.email != nil { try state.accounts.confirmEmail() }
        return Result(did: did, handle: options.handle.lowercased(), recoveryKeyHex: Base16.encode(secret),
                      recoveryDIDKey: recovery.didKey)
    }
}
