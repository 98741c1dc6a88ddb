import ATCrypto
import Foundation
import Multiformats
import PDSCore
import PDSServer

/// The server's private keys as age-encrypted files in `<data>/keys/` (`signing.age`,
/// `rotation.age`), mode 0600. Plaintext key material exists only in memory.
///
/// The encrypted payload is the private key in hex on one line, prefixed `p256:` for P-256 keys
/// (K-256 otherwise) — the same hex the reference server's `PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX`
/// holds, so a key can be moved in with `echo <hex> | age -r … > signing.age`.
public struct KeyFiles: Sendable {
    /// `<data>/keys`.
    public let directory: String

    public init(dataDirectory: String) { directory = dataDirectory + "/keys" }

    public var signingKeyPath: String { directory + "/signing.age" }
    public var rotationKeyPath: String { directory + "/rotation.age" }
    /// A rotated-to signing key waiting for the DID document to show it (`pds key rotate`).
    public var nextSigningKeyPath: String { directory + "/signing-next.age" }
    /// Where a replaced signing key is kept (never deleted: the owner may need it to verify old
    /// commits or to go back).
    public func retiredSigningKeyPath(at seconds: Int64) -> String { directory + "/signing-retired-\(seconds).age" }

    /// The server's keys from their files: signing, rotation (absent for did:web) and a pending
    /// next signing key.
    public func load(identities: [any AgeIdentity]) throws -> ServerKeys {
        let files = FileManager.default
        let signing = try read(signingKeyPath, identities: identities)
        let rotation = files.fileExists(atPath: rotationKeyPath) ? try read(rotationKeyPath, identities: identities) : nil
        let next = files.fileExists(atPath: nextSigningKeyPath) ? try read(nextSigningKeyPath, identities: identities) : nil
        return ServerKeys(signingKey: signing, rotationKey: rotation, nextSigningKey: next)
    }

    /// A problem with a key file, worded for a one-line startup error.
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// Encrypts `key` to `recipients` and writes it atomically with mode 0600.
    public func write(_ key: any SigningKey, to path: String, recipients: [any AgeRecipient]) throws {
        var plaintext = Array(Self.encode(key).utf8)
        defer { plaintext.zeroize() }
        let sealed = try Age.encrypt(plaintext, to: recipients, armor: true)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Self.writeSecretFile(sealed, to: path)
    }

    /// Reads and decrypts a key file, refusing files others can read.
    public func read(_ path: String, identities: [any AgeIdentity]) throws -> any SigningKey {
        guard FileManager.default.fileExists(atPath: path) else {
            throw Problem(description: "key file \(path) is missing")
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw Problem(description: "key file \(path) is readable by group or others (mode \(String(mode, radix: 8))); run: chmod 600 \(path)")
        }
        let sealed = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        guard sealed.starts(with: Array("age-encryption.org/v1".utf8)) || sealed.starts(with: Array("-----BEGIN AGE ENCRYPTED FILE-----".utf8)) else {
            throw Problem(description: "key file \(path) is not an age-encrypted file; plaintext keys are refused")
        }
        var plaintext: [UInt8]
        do {
            plaintext = try Age.decrypt(sealed, identities: identities)
        } catch {
            throw Problem(description: "cannot decrypt \(path): \(error)")
        }
        defer { plaintext.zeroize() }
        return try Self.decode(plaintext, path: path)
    }

    static func encode(_ key: any SigningKey) -> String {
        var bytes = key.privateKeyBytes
        defer { bytes.zeroize() }
        let hex = Base16.encode(bytes)
        return (key.algorithm == .es256 ? "p256:" : "") + hex + "\n"
    }

    static func decode(_ plaintext: [UInt8], path: String) throws -> any SigningKey {
        var text = String(decoding: plaintext, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var algorithm = SignatureAlgorithm.es256k
        if text.hasPrefix("p256:") { algorithm = .es256; text.removeFirst(5) }
        if text.hasPrefix("k256:") { text.removeFirst(5) }
        guard text.count == 64, let bytes = Base16.decode(text) else {
            throw Problem(description: "key file \(path) does not hold a 32-byte hex private key")
        }
        var secret = bytes
        defer { secret.zeroize() }
        do {
            return try algorithm.privateKey(fromBytes: secret)
        } catch {
            throw Problem(description: "key file \(path): \(error)")
        }
    }

    /// Writes `bytes` to `path` via a 0600 temporary file, fsync and rename.
    public static func writeSecretFile(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Problem(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress! + offset, bytes.count - offset) }
            guard written > 0 else { unlink(temporary); throw Problem(description: "cannot write \(temporary)") }
            offset += written
        }
        fchmod(descriptor, 0o600)
        fsync(descriptor)
        guard rename(temporary, path) == 0 else { unlink(temporary); throw Problem(description: "cannot rename to \(path)") }
    }
}
