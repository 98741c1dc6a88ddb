import ATCrypto
import Foundation
import PDSCore
import PDSServer

/// Where the secret that opens the age-encrypted key files comes from (`pds serve`), in order:
///
/// 1. a systemd credential: `$CREDENTIALS_DIRECTORY/pds-unlock` (`LoadCredential=` or
///    `LoadCredentialEncrypted=` in the unit), holding an age identity or the passphrase;
/// 2. `PDS_KEY_IDENTITY_FILE` (an `AGE-SECRET-KEY-1…` file, as `age-keygen` writes);
/// 3. `PDS_KEY_PASSPHRASE_FILE` (the passphrase on its first line);
/// 4. a prompt, when standard input is a terminal.
///
/// Secret files must not be readable by group or others. The secret never reaches a log.
/// (`KeyUnlock` itself and `KeyUnlock.Method` are declared beside `PDSConfig`, which reads them.)
extension KeyUnlock {
    /// The credential name systemd units pass.
    public static let credentialName = "pds-unlock"

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// The identities to decrypt the key files with, from the first source that is present.
    public static func identities(config: PDSConfig, environment: [String: String], prompt: () throws -> String? = readPassphraseFromTerminal) throws -> [any AgeIdentity] {
        if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
            let path = directory + "/" + credentialName
            if FileManager.default.fileExists(atPath: path) {
                return try identities(fromSecretFile: path, method: config.keyUnlock)
            }
        }
        if let path = config.keyIdentityFile { return try identities(fromSecretFile: path, method: .identity) }
        if let path = config.keyPassphraseFile { return try identities(fromSecretFile: path, method: .passphrase) }
        guard let passphrase = try prompt() else {
            throw Problem(description: "no way to unlock the keys: set PDS_KEY_IDENTITY_FILE or PDS_KEY_PASSPHRASE_FILE, pass the systemd credential \(credentialName), or run on a terminal to be asked")
        }
        if config.keyUnlock == .identity, let parsed = try? Age.parseIdentities(passphrase), !parsed.isEmpty { return parsed }
        return [AgeScryptIdentity(passphrase: passphrase)]
    }

    /// Identities from a secret file: an identity file, or a passphrase on the first line.
    public static func identities(fromSecretFile path: String, method: Method) throws -> [any AgeIdentity] {
        let text = try readSecretFile(path)
        switch method {
        case .identity:
            let parsed: [AgeX25519Identity]
            do { parsed = try Age.parseIdentities(text) } catch { throw Problem(description: "\(path) is not an age identity file: \(error)") }
            guard !parsed.isEmpty else { throw Problem(description: "\(path) holds no age identity") }
            return parsed
        case .passphrase:
            let passphrase = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard !passphrase.isEmpty else { throw Problem(description: "\(path) holds an empty passphrase") }
            return [AgeScryptIdentity(passphrase: passphrase)]
        }
    }

    /// Reads a secret file after checking that only its owner can read it.
    public static func readSecretFile(_ path: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else { throw Problem(description: "secret file \(path) is missing") }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw Problem(description: "secret file \(path) is readable by group or others (mode \(String(mode, radix: 8))); run: chmod 600 \(path)")
        }
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Problem(description: "cannot read secret file \(path): \(error.localizedDescription)")
        }
    }

    /// Asks on the terminal with echo off; nil when standard input is not a terminal.
    public static func readPassphraseFromTerminal() throws -> String? {
        try Terminal.readSecret(prompt: "Passphrase for the pds key files: ")
    }
}

/// Secret input on a terminal (echo off while typing).
public enum Terminal {
    /// True when standard input is a terminal.
    public static var isInteractive: Bool { isatty(STDIN_FILENO) == 1 }

    /// Reads one line with echo off; nil when standard input is not a terminal.
    public static func readSecret(prompt: String) throws -> String? {
        guard isInteractive else { return nil }
        try? FileHandle.standardError.write(contentsOf: Data(prompt.utf8))
        var original = termios()
        tcgetattr(STDIN_FILENO, &original)
        var silent = original
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &original)
            try? FileHandle.standardError.write(contentsOf: Data("\n".utf8))
        }
        return Swift.readLine(strippingNewline: true)
    }

    /// Reads one visible line (nil at end of input).
    public static func readLine(prompt: String) -> String? {
        try? FileHandle.standardError.write(contentsOf: Data(prompt.utf8))
        return Swift.readLine(strippingNewline: true)
    }
}
