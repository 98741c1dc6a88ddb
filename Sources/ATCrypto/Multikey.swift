import Multiformats

/// Multikey strings: `z` + base58btc(varint(multicodec) ‖ 33-byte compressed point) (https://atproto.com/specs/cryptography).
public enum Multikey {
    /// Parses a multikey into a verifying key for the curve its multicodec names.
    ///
    /// Only the base58btc multibase (`z`) is accepted, since that is the only one atproto writes.
    /// The key body may be a compressed (33-byte) or, leniently, an uncompressed (65-byte) SEC1
    /// point; both import to the same key, and `multikey` always re-encodes compressed.
    public static func parse(_ text: String) throws(CryptoError) -> any VerifyingKey {
        guard text.first == "z" else {
            throw .invalidMultikey(text, reason: "must start with \"z\" (base58btc)")
        }
        let bytes: [UInt8]
        do { bytes = try Base58.decode(text.dropFirst()) } catch { throw .encoding(error) }
        let codec: (value: UInt64, length: Int)
        do { codec = try Varint.decode(bytes) } catch {
            throw .invalidMultikey(text, reason: "bad multicodec varint")
        }
        let key = Array(bytes[codec.length...])
        let algorithm: SignatureAlgorithm
        switch codec.value {
        case SignatureAlgorithm.es256k.multicodec: algorithm = .es256k
        case SignatureAlgorithm.es256.multicodec: algorithm = .es256
        default: throw .unsupportedMulticodec(codec.value)
        }
        return try algorithm.publicKey(fromBytes: key)
    }

    /// Reads the public key of a DID document verification method from its `type` and
    /// `publicKeyMultibase` (https://atproto.com/specs/cryptography, §8.1).
    ///
    /// - `Multikey`: the value is a multikey (see `parse(_:)`).
    /// - `EcdsaSecp256k1VerificationKey2019` / `EcdsaSecp256r1VerificationKey2019` (legacy, read
    ///   only): `z` + base58btc of the bare SEC1 key with no multicodec prefix. The spec says the
    ///   key is uncompressed; a compressed one is accepted too, as other implementations do.
    public static func parseLegacy(_ multibase: String, type: String) throws(CryptoError) -> any VerifyingKey {
        let algorithm: SignatureAlgorithm
        switch type {
        case "Multikey": return try parse(multibase)
        case SignatureAlgorithm.es256k.legacyVerificationMethodType: algorithm = .es256k
        case SignatureAlgorithm.es256.legacyVerificationMethodType: algorithm = .es256
        default: throw .unsupportedVerificationMethodType(type)
        }
        guard multibase.first == "z" else {
            throw .invalidMultikey(multibase, reason: "must start with \"z\" (base58btc)")
        }
        let bytes: [UInt8]
        do { bytes = try Base58.decode(multibase.dropFirst()) } catch { throw .encoding(error) }
        return try algorithm.publicKey(fromBytes: bytes)
    }
}

/// `did:key` identifiers: `did:key:` + multikey (https://atproto.com/specs/cryptography).
public enum DIDKey {
    /// The method prefix, `did:key:`.
    public static let prefix = "did:key:"

    /// Parses a `did:key` into a verifying key.
    public static func parse(_ did: String) throws(CryptoError) -> any VerifyingKey {
        guard did.hasPrefix(prefix) else { throw .notDIDKey(did) }
        return try Multikey.parse(String(did.dropFirst(prefix.count)))
    }
}

/// Parses a multikey string (`z…`) into a verifying key. See `Multikey.parse(_:)`.
public func parseMultikey(_ text: String) throws(CryptoError) -> any VerifyingKey {
    try Multikey.parse(text)
}

/// Parses a `did:key:z…` identifier into a verifying key. See `DIDKey.parse(_:)`.
public func parseDIDKey(_ did: String) throws(CryptoError) -> any VerifyingKey {
    try DIDKey.parse(did)
}

/// Reads a DID document verification method's `publicKeyMultibase` given its `type`, including the
/// legacy `Ecdsa…VerificationKey2019` suites. See `Multikey.parseLegacy(_:type:)`.
public func parseLegacyMultibase(_ multibase: String, type: String) throws(CryptoError) -> any VerifyingKey {
    try Multikey.parseLegacy(multibase, type: type)
}
