import ATCrypto
import ATIdentity
import ATSyntax
import Foundation
import Logging
import PDSCore
import PDSServer
import PDSStore

/// First-start set-up for `pds dev`: keys, a local (unpublished) did:plc, and the account.
///
/// Dev keys are age-encrypted like production keys, to an X25519 identity kept beside them in
/// `keys/dev-identity.txt` (0600). That identity is a development convenience: production unlocks
/// keys from a passphrase, an identity file elsewhere, or a systemd credential.
public enum DevBootstrap {
    /// What `pds dev` prints.
    public struct Summary: Sendable {
        public let did: String
        public let handle: String
        /// Set only when the password was chosen or generated on this start.
        public let password: String?
        public let created: Bool
    }

    /// Loads or creates the dev keys.
    public static func loadKeys(dataDirectory: String) throws -> ServerKeys {
        let files = KeyFiles(dataDirectory: dataDirectory)
        let identity = try identity(dataDirectory: dataDirectory)
        if !FileManager.default.fileExists(atPath: files.signingKeyPath) {
            try files.write(K256PrivateKey(), to: files.signingKeyPath, recipients: [identity.recipient])
        }
        if !FileManager.default.fileExists(atPath: files.rotationKeyPath) {
            try files.write(K256PrivateKey(), to: files.rotationKeyPath, recipients: [identity.recipient])
        }
        return try files.load(identities: [identity])
    }

    /// The development directory's age identity (created on first use).
    public static func identity(dataDirectory: String) throws -> AgeX25519Identity {
        let files = KeyFiles(dataDirectory: dataDirectory)
        let identityPath = files.directory + "/dev-identity.txt"
        try FileManager.default.createDirectory(atPath: files.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let identity: AgeX25519Identity
        if FileManager.default.fileExists(atPath: identityPath) {
            let text = try String(contentsOfFile: identityPath, encoding: .utf8)
            guard let parsed = try Age.parseIdentities(text).first else {
                throw KeyFiles.Problem(description: "\(identityPath) holds no age identity")
            }
            identity = parsed
        } else {
            identity = AgeX25519Identity.generate()
            let text = "# pds dev: unlocks keys/*.age in this development data directory\n"
                + "# public key: \(identity.recipient)\n" + identity.encoded() + "\n"
            try KeyFiles.writeSecretFile(Array(text.utf8), to: identityPath)
        }
        return identity
    }

    /// Creates the account on first start (or resets the password when one is given later).
    public static func ensureAccount(state: PDSServices, handle: String, password: String?, didWeb: Bool = false) async throws -> Summary {
        if let account = try state.accounts.account() {
            if let password {
                try state.accounts.setPasswordHash(try PasswordHash.make(password))
                return Summary(did: account.did, handle: account.handle, password: password, created: false)
            }
            return Summary(did: account.did, handle: account.handle, password: nil, created: false)
        }
        let password = password ?? AppPasswords.generate()
        let did = try await AccountBootstrap.create(state: state, handle: handle, password: password, email: nil, didWeb: didWeb)
        return Summary(did: did, handle: handle.lowercased(), password: password, created: true)
    }
}
