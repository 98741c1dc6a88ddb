import ATCrypto
import Foundation
import PDSCore
import PDSServer

extension ServerKeys {
    /// Opens the key files of `config.dataDirectory` with the unlock secret from the first
    /// available source (`KeyUnlock`). Each failure is one line naming the file and the fix.
    public static func unlock(config: PDSConfig, environment: [String: String]) throws -> ServerKeys {
        let files = KeyFiles(dataDirectory: config.dataDirectory)
        guard FileManager.default.fileExists(atPath: files.signingKeyPath) else {
            throw KeyFiles.Problem(description: "the signing key \(files.signingKeyPath) is missing (run `pds init`, or `pds key import`)")
        }
        // A did:web account has no rotation key; a did:plc account cannot change its identity without one.
        return try files.load(identities: try KeyUnlock.identities(config: config, environment: environment))
    }

    /// Checks that `path` is an age file this server can open holding a valid key, then installs
    /// it unchanged (mode 0600) as the signing or rotation key. Returns the key's did:key.
    public static func importKeyFile(_ path: String, kind: String, config: PDSConfig, environment: [String: String]) throws -> String {
        let files = KeyFiles(dataDirectory: config.dataDirectory)
        let destination: String
        switch kind {
        case "signing": destination = files.signingKeyPath
        case "rotation": destination = files.rotationKeyPath
        default: throw KeyFiles.Problem(description: "--kind must be signing or rotation")
        }
        let identities = try KeyUnlock.identities(config: config, environment: environment)
        // `read` refuses plaintext and files others can read; a file straight from `age` is 0644
        // by umask, so check the content through a private copy first.
        let sealed = try Data(contentsOf: URL(fileURLWithPath: path))
        try FileManager.default.createDirectory(atPath: files.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let staging = files.directory + "/.import-\(getpid()).age"
        try KeyFiles.writeSecretFile([UInt8](sealed), to: staging)
        defer { unlink(staging) }
        let key: any SigningKey
        do { key = try files.read(staging, identities: identities) } catch let problem as KeyFiles.Problem {
            throw KeyFiles.Problem(description: problem.description.replacingOccurrences(of: staging, with: path))
        }
        try KeyFiles.writeSecretFile([UInt8](sealed), to: destination)
        return key.didKey
    }
}
