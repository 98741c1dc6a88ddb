/// An age X25519 recipient: a Curve25519 public key, written in Bech32 with HRP `age`
/// (`age1…`, 62 characters; age spec, "The X25519 recipient type").
public struct AgeX25519Recipient: AgeRecipient, Hashable, CustomStringConvertible {
    static let hrp = "age"
    static let stanzaType = "X25519"
    /// HKDF info for the wrap key.
    static let info = "age-encryption.org/v1/X25519"

    /// The recipient's X25519 public key.
    public let publicKey: X25519.PublicKey

    /// The recipient for a public key.
    public init(publicKey: X25519.PublicKey) {
        self.publicKey = publicKey
    }

    /// Parses `age1…`. The string must be lowercase Bech32 with HRP `age` and 32 bytes of data.
    public init(_ string: String) throws(AgeError) {
        let decoded: (hrp: String, data: [UInt8])
        do { decoded = try Bech32.decode(string) } catch {
            throw .invalidKey("recipient is not valid Bech32 (\(error))")
        }
        guard decoded.hrp == Self.hrp else { throw .invalidKey("recipient must start with \"age1\" (lowercase)") }
        guard let key = try? X25519.PublicKey(rawRepresentation: decoded.data) else {
            throw .invalidKey("recipient must hold 32 bytes, got \(decoded.data.count)")
        }
        publicKey = key
    }

    /// The `age1…` encoding.
    public var description: String { Bech32.encode(hrp: Self.hrp, data: publicKey.rawRepresentation) }

    /// Wraps the file key in one `X25519` stanza with a fresh ephemeral key:
    /// body = ChaCha20-Poly1305(HKDF(X25519(e, R), salt = share || R, info), zero nonce, file key).
    public func wrap(_ fileKey: AgeFileKey) throws(AgeError) -> [AgeStanza] {
        let ephemeral = X25519.PrivateKey()
        let share = ephemeral.publicKey.rawRepresentation
        var shared: [UInt8]
        do { shared = try ephemeral.sharedSecret(with: publicKey) } catch {
            throw .invalidArgument("recipient \(self) is a low-order point")
        }
        defer { shared.zeroize() }
        var wrapKey = HKDF.sha256(inputKeyMaterial: shared, salt: share + publicKey.rawRepresentation,
                                  info: Self.info.utf8, outputByteCount: 32)
        defer { wrapKey.zeroize() }
        let body: [UInt8]
        do {
            body = try fileKey.withUnsafeBytes { key in
                try ChaCha20Poly1305.seal(key, key: wrapKey, nonce: [UInt8](repeating: 0, count: 12))
            }
        } catch {
            throw .invalidArgument("wrapping the file key failed: \(error)")
        }
        return [AgeStanza(type: Self.stanzaType, arguments: [Base64Text.encode(share)], body: body)]
    }
}
