/// An age passphrase recipient: wraps the file key under scrypt(passphrase) (age spec, "The scrypt
/// recipient type"). Its stanza must be the only one in the header.
public struct AgeScryptRecipient: AgeRecipient {
    static let stanzaType = "scrypt"
    /// Prefix of the scrypt salt: S = label || 16 random bytes.
    static let saltLabel: [UInt8] = Array("age-encryption.org/v1/scrypt".utf8)
    /// The age CLI's work factor (log2 N): about a second on a laptop, 256 MiB of memory.
    public static let defaultWorkFactor = 18

    let passphrase: [UInt8]
    /// log2 of the scrypt N parameter written into the stanza.
    public let workFactor: Int

    /// A recipient for `passphrase` (non-empty) with N = 2^`workFactor` (1...30), r = 8, p = 1.
    public init(passphrase: String, workFactor: Int = defaultWorkFactor) throws(AgeError) {
        guard !passphrase.isEmpty else { throw .invalidArgument("passphrase must not be empty") }
        guard (1...30).contains(workFactor) else { throw .invalidArgument("scrypt work factor must be in 1...30") }
        self.passphrase = Array(passphrase.utf8)
        self.workFactor = workFactor
    }

    /// Wraps the file key in one `scrypt` stanza with a fresh 16-byte salt.
    public func wrap(_ fileKey: AgeFileKey) throws(AgeError) -> [AgeStanza] {
        let salt = SecureRandom.bytes(16)
        var wrapKey = try Self.wrapKey(passphrase: passphrase, salt: salt, workFactor: workFactor)
        defer { wrapKey.zeroize() }
        let body: [UInt8]
        do {
            body = try fileKey.withUnsafeBytes { key in
                try ChaCha20Poly1305.seal(key, key: wrapKey, nonce: [UInt8](repeating: 0, count: 12))
            }
        } catch {
            throw .invalidArgument("wrapping the file key failed: \(error)")
        }
        return [AgeStanza(type: Self.stanzaType, arguments: [Base64Text.encode(salt), String(workFactor)], body: body)]
    }

    /// scrypt(N = 2^workFactor, r = 8, p = 1, dkLen = 32, S = label || salt, P = passphrase).
    static func wrapKey(passphrase: [UInt8], salt: [UInt8], workFactor: Int) throws(AgeError) -> [UInt8] {
        do {
            return try Scrypt.deriveKey(password: passphrase, salt: saltLabel + salt,
                                        parameters: .init(logN: workFactor, r: 8, p: 1), outputByteCount: 32)
        } catch {
            throw .invalidArgument("scrypt failed: \(error)")
        }
    }
}

/// An age passphrase identity: unwraps `scrypt` stanzas with a passphrase.
public struct AgeScryptIdentity: AgeIdentity {
    /// The age CLI's cap on the work factor accepted when decrypting (2^22: several seconds, 4 GiB).
    public static let defaultMaxWorkFactor = 22

    let passphrase: [UInt8]
    /// The largest work factor (log2 N) this identity will compute; larger ones are rejected as a
    /// header failure rather than letting a file make the server spend unbounded time and memory.
    public let maxWorkFactor: Int

    /// An identity for `passphrase`, accepting work factors up to `maxWorkFactor` (at most 30).
    public init(passphrase: String, maxWorkFactor: Int = defaultMaxWorkFactor) {
        self.passphrase = Array(passphrase.utf8)
        self.maxWorkFactor = Swift.min(Swift.max(maxWorkFactor, 1), 30)
    }

    /// The recipient for the same passphrase: a file written to it opens with this identity
    /// (used to seal a new key file with the secret that opened the existing ones).
    public func recipient(workFactor: Int = AgeScryptRecipient.defaultWorkFactor) throws(AgeError) -> AgeScryptRecipient {
        try AgeScryptRecipient(passphrase: String(decoding: passphrase, as: UTF8.self), workFactor: workFactor)
    }

    /// Unwraps the `scrypt` stanza, which must be the only stanza in the header.
    ///
    /// Header failures (spec): another stanza beside it, other than 2 arguments after the type, a
    /// salt that is not canonical base64 of 16 bytes, a work factor not matching `^[1-9][0-9]*$`
    /// or above ``maxWorkFactor``, a body that is not 32 bytes. A body that does not decrypt means
    /// a wrong passphrase: no match.
    public func unwrap(_ stanzas: [AgeStanza]) throws(AgeError) -> AgeFileKey? {
        for stanza in stanzas where stanza.type == AgeScryptRecipient.stanzaType {
            guard stanzas.count == 1 else { throw .headerFailure("an scrypt stanza must be the only stanza") }
            guard stanza.arguments.count == 2 else { throw .headerFailure("scrypt stanza must have exactly 3 arguments") }
            let salt = try AgeStanza.decodeArgument(stanza.arguments[0], count: 16, what: "scrypt salt")
            let digits = Array(stanza.arguments[1].utf8)
            guard let firstDigit = digits.first, firstDigit >= UInt8(ascii: "1"), firstDigit <= UInt8(ascii: "9"),
                  digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                throw .headerFailure("scrypt work factor is not a decimal without leading zeros")
            }
            guard digits.count <= 2, let workFactor = Int(stanza.arguments[1]), workFactor <= maxWorkFactor else {
                throw .headerFailure("scrypt work factor \(stanza.arguments[1]) is above the limit \(maxWorkFactor)")
            }
            guard stanza.body.count == AgeFileKey.byteCount + ChaCha20Poly1305.tagByteCount else {
                throw .headerFailure("scrypt stanza body must be 32 bytes, got \(stanza.body.count)")
            }
            var wrapKey: [UInt8]
            do { wrapKey = try AgeScryptRecipient.wrapKey(passphrase: passphrase, salt: salt, workFactor: workFactor) } catch {
                throw .headerFailure("scrypt with work factor \(workFactor) failed: \(error)")
            }
            defer { wrapKey.zeroize() }
            guard var fileKey = try? ChaCha20Poly1305.open(stanza.body, key: wrapKey, nonce: [UInt8](repeating: 0, count: 12)) else {
                return nil
            }
            defer { fileKey.zeroize() }
            return AgeFileKey(unchecked: fileKey)
        }
        return nil
    }
}
