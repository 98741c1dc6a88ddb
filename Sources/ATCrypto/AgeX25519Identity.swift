/// An age X25519 identity: 32 random bytes, written in uppercase Bech32 with HRP
/// `AGE-SECRET-KEY-` (`AGE-SECRET-KEY-1…`, 74 characters; age spec, "The X25519 recipient type").
///
/// `description` shows the public recipient, never the secret; use ``encoded()`` to write the key.
public struct AgeX25519Identity: AgeIdentity, CustomStringConvertible {
    static let hrp = "AGE-SECRET-KEY-"

    /// The X25519 private key.
    public let privateKey: X25519.PrivateKey

    /// A new random identity (32 bytes from the CSPRNG).
    public static func generate() -> AgeX25519Identity {
        AgeX25519Identity(privateKey: X25519.PrivateKey())
    }

    /// The identity for an existing private key.
    public init(privateKey: X25519.PrivateKey) {
        self.privateKey = privateKey
    }

    /// Parses `AGE-SECRET-KEY-1…`: uppercase Bech32, HRP `AGE-SECRET-KEY-`, 32 bytes of data.
    public init(_ string: String) throws(AgeError) {
        let decoded: (hrp: String, data: [UInt8])
        do { decoded = try Bech32.decode(string) } catch {
            throw .invalidKey("identity is not valid Bech32 (\(error))")
        }
        var data = decoded.data
        defer { data.zeroize() }
        guard decoded.hrp == Self.hrp else { throw .invalidKey("identity must start with \"AGE-SECRET-KEY-1\" (uppercase)") }
        guard data.count == X25519.byteCount, let key = try? X25519.PrivateKey(rawRepresentation: data) else {
            throw .invalidKey("identity must hold 32 bytes, got \(data.count)")
        }
        privateKey = key
    }

    /// The `AGE-SECRET-KEY-1…` encoding. This is the secret: keep it out of logs.
    public func encoded() -> String {
        var raw = privateKey.rawRepresentation
        defer { raw.zeroize() }
        return Bech32.encode(hrp: Self.hrp, data: raw).uppercased()
    }

    /// The matching recipient (`age1…`).
    public var recipient: AgeX25519Recipient { AgeX25519Recipient(publicKey: privateKey.publicKey) }

    /// Redacted: names the recipient only.
    public var description: String { "AgeX25519Identity(\(recipient))" }

    /// Unwraps the first `X25519` stanza addressed to this identity.
    ///
    /// Per the spec, an `X25519` stanza must have exactly one argument after the type, the
    /// canonical base64 of 32 bytes, and a 32-byte body (checked before decrypting, against
    /// partitioning oracles); an all-zero shared secret aborts. Those are header failures. A body
    /// that does not decrypt just means the stanza is for someone else.
    public func unwrap(_ stanzas: [AgeStanza]) throws(AgeError) -> AgeFileKey? {
        let ourPublic = privateKey.publicKey.rawRepresentation
        for stanza in stanzas where stanza.type == AgeX25519Recipient.stanzaType {
            guard stanza.arguments.count == 1 else { throw .headerFailure("X25519 stanza must have exactly 2 arguments") }
            let share = try AgeStanza.decodeArgument(stanza.arguments[0], count: X25519.byteCount, what: "X25519 ephemeral share")
            guard stanza.body.count == AgeFileKey.byteCount + ChaCha20Poly1305.tagByteCount else {
                throw .headerFailure("X25519 stanza body must be 32 bytes, got \(stanza.body.count)")
            }
            var shared: [UInt8]
            do { shared = try privateKey.sharedSecret(with: X25519.PublicKey(rawRepresentation: share)) } catch {
                throw .headerFailure("X25519 shared secret is all zeros (low-order ephemeral share)")
            }
            defer { shared.zeroize() }
            var wrapKey = HKDF.sha256(inputKeyMaterial: shared, salt: share + ourPublic,
                                      info: AgeX25519Recipient.info.utf8, outputByteCount: 32)
            defer { wrapKey.zeroize() }
            guard var fileKey = try? ChaCha20Poly1305.open(stanza.body, key: wrapKey, nonce: [UInt8](repeating: 0, count: 12)) else {
                continue
            }
            defer { fileKey.zeroize() }
            return AgeFileKey(unchecked: fileKey)
        }
        return nil
    }
}
