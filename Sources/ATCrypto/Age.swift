/// age v1 file encryption (C2SP age spec, age-encryption.org/v1) on in-memory byte arrays.
///
/// The PDS keeps its signing keys in age files; this type never touches the file system, so
/// plaintext key material only exists in memory the caller controls.
///
/// ```swift
/// let identity = AgeX25519Identity.generate()
/// let file = try Age.encrypt(secret, to: [identity.recipient], armor: true)
/// let back = try Age.decrypt(file, identities: [identity])
/// ```
public enum Age {
    /// How ``decrypt(_:identities:format:)`` treats its input.
    public enum Format: Sendable {
        /// Armored if, after optional whitespace, the input starts with "-----"; binary otherwise.
        case detect
        /// A binary age file.
        case binary
        /// An ASCII-armored age file.
        case armored
    }

    /// Encrypts `plaintext` to `recipients` and returns the age file (ASCII-armored if `armor`).
    ///
    /// - Throws: ``AgeError/invalidArgument(_:)`` with no recipients, or an scrypt recipient
    ///   combined with any other recipient (the spec requires it to be alone).
    public static func encrypt(_ plaintext: [UInt8], to recipients: [any AgeRecipient], armor: Bool = false) throws(AgeError) -> [UInt8] {
        guard !recipients.isEmpty else { throw .invalidArgument("no recipients") }
        let fileKey = AgeFileKey.generate()
        var stanzas: [AgeStanza] = []
        for recipient in recipients { stanzas += try recipient.wrap(fileKey) }
        if stanzas.count > 1 && stanzas.contains(where: { $0.type == AgeScryptRecipient.stanzaType }) {
            throw .invalidArgument("a passphrase (scrypt) recipient must be the only recipient")
        }
        var output = try AgeHeader.encodeWithoutMAC(stanzas)
        var macKey = fileKey.deriveKey(salt: [UInt8](), info: "header")
        defer { macKey.zeroize() }
        let mac = HMAC.sha256(key: macKey, message: output)
        output.append(0x20)
        output.append(contentsOf: Base64Text.encode(mac).utf8)
        output.append(0x0A)

        let nonce = SecureRandom.bytes(AgeHeader.nonceByteCount)
        output.append(contentsOf: nonce)
        var payloadKey = fileKey.deriveKey(salt: nonce, info: "payload")
        defer { payloadKey.zeroize() }
        try AgeStream.seal(plaintext, payloadKey: payloadKey, into: &output)
        return armor ? AgeArmor.encode(output) : output
    }

    /// Decrypts an age file with the first identity that matches a stanza.
    ///
    /// Steps, each with its own error class: remove armor (``AgeError/armorFailure(_:)``), parse
    /// the header and the 16-byte payload nonce (``AgeError/headerFailure(_:)``), unwrap the file
    /// key (``AgeError/noMatch``, or a header failure for a malformed stanza), verify the header
    /// MAC (``AgeError/hmacFailure``), decrypt the payload (``AgeError/payloadFailure(_:)``).
    /// Plaintext is returned only when the whole payload authenticated.
    public static func decrypt(_ file: [UInt8], identities: [any AgeIdentity], format: Format = .detect) throws(AgeError) -> [UInt8] {
        var plaintext: [UInt8] = []
        do {
            try decrypt(file, identities: identities, format: format) { chunk in plaintext += chunk }
        } catch {
            plaintext.zeroize()
            throw error
        }
        return plaintext
    }

    /// Decrypts an age file, handing the plaintext to `release` one authenticated 64 KiB chunk
    /// at a time.
    ///
    /// Each chunk is authenticated before it is released, but a later chunk can still fail (the
    /// file was truncated or altered after that point): only a normal return means the whole
    /// plaintext arrived.
    public static func decrypt(
        _ file: [UInt8], identities: [any AgeIdentity], format: Format = .detect, release: ([UInt8]) -> Void
    ) throws(AgeError) {
        let armored: Bool
        switch format {
        case .detect: armored = AgeArmor.isArmored(file)
        case .binary: armored = false
        case .armored: armored = true
        }
        let binary = armored ? try AgeArmor.decode(file) : file

        let header = try AgeHeader.parse(binary)
        // Spec: an scrypt stanza must be the only stanza; reject mixed headers whatever the identities.
        if header.stanzas.count > 1 && header.stanzas.contains(where: { $0.type == AgeScryptRecipient.stanzaType }) {
            throw .headerFailure("an scrypt stanza must be the only stanza")
        }
        guard binary.count - header.payloadStart >= AgeHeader.nonceByteCount else {
            throw .headerFailure("missing or short payload nonce")
        }

        var fileKey: AgeFileKey?
        for identity in identities {
            if let key = try identity.unwrap(header.stanzas) {
                fileKey = key
                break
            }
        }
        guard let fileKey else { throw .noMatch }

        var macKey = fileKey.deriveKey(salt: [UInt8](), info: "header")
        defer { macKey.zeroize() }
        let expected = HMAC.sha256(key: macKey, message: binary[0..<header.macInputEnd])
        guard HMAC.constantTimeEquals(expected, header.mac) else { throw .hmacFailure }

        let nonceEnd = header.payloadStart + AgeHeader.nonceByteCount
        var payloadKey = fileKey.deriveKey(salt: binary[header.payloadStart..<nonceEnd], info: "payload")
        defer { payloadKey.zeroize() }
        try AgeStream.open(binary[nonceEnd...], payloadKey: payloadKey, release: release)
    }

    /// Parses an identity file: one `AGE-SECRET-KEY-1…` per line; empty lines and lines starting
    /// with `#` are skipped (`age-keygen` writes `# created:` and `# public key:` comments). CRLF
    /// line ends are accepted. At least one identity is required.
    public static func parseIdentities(_ text: String) throws(AgeError) -> [AgeX25519Identity] {
        var identities: [AgeX25519Identity] = []
        for (number, line) in keyLines(text) {
            do { identities.append(try AgeX25519Identity(line)) } catch {
                throw .invalidKey("identity file line \(number): \(error)")
            }
        }
        guard !identities.isEmpty else { throw .invalidKey("identity file contains no identities") }
        return identities
    }

    /// Parses a recipients file: one `age1…` per line, with the same comment rules as
    /// ``parseIdentities(_:)``.
    public static func parseRecipients(_ text: String) throws(AgeError) -> [AgeX25519Recipient] {
        var recipients: [AgeX25519Recipient] = []
        for (number, line) in keyLines(text) {
            do { recipients.append(try AgeX25519Recipient(line)) } catch {
                throw .invalidKey("recipients file line \(number): \(error)")
            }
        }
        guard !recipients.isEmpty else { throw .invalidKey("recipients file contains no recipients") }
        return recipients
    }

    private static func keyLines(_ text: String) -> [(Int, String)] {
        // Split on LF bytes: as Characters, "\r\n" is a single grapheme and would not split.
        Array(text.utf8).split(separator: 0x0A, omittingEmptySubsequences: false).enumerated().compactMap { index, raw in
            let line = raw.last == 0x0D ? raw.dropLast() : raw
            return line.isEmpty || line.first == UInt8(ascii: "#") ? nil : (index + 1, String(decoding: line, as: UTF8.self))
        }
    }
}
