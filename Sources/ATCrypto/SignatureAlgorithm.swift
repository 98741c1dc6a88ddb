/// The two ECDSA curves atproto uses, named as in JWT `alg` headers (https://atproto.com/specs/cryptography, §11).
///
/// Both sign SHA-256 of the message and produce a 64-byte low-S r‖s signature.
public enum SignatureAlgorithm: String, Sendable, Hashable, CaseIterable {
    /// ECDSA over secp256k1 ("K-256"), the reference implementation's default for repo signing.
    case es256k = "ES256K"
    /// ECDSA over NIST P-256 (secp256r1, "prime256v1").
    case es256 = "ES256"

    /// The JWT `alg` name ("ES256K" or "ES256").
    public var jwtName: String { rawValue }

    /// The human-readable curve name used in error messages ("K-256", "P-256").
    public var curveName: String {
        switch self {
        case .es256k: return "K-256"
        case .es256: return "P-256"
        }
    }

    /// The multicodec code of the curve's public key: `secp256k1-pub` 0xe7 or `p256-pub` 0x1200.
    public var multicodec: UInt64 {
        switch self {
        case .es256k: return 0xe7
        case .es256: return 0x1200
        }
    }

    /// The legacy DID-document verification method type for this curve.
    public var legacyVerificationMethodType: String {
        switch self {
        case .es256k: return "EcdsaSecp256k1VerificationKey2019"
        case .es256: return "EcdsaSecp256r1VerificationKey2019"
        }
    }

    /// Imports a public key for this curve from SEC1 compressed (33) or uncompressed (65) bytes.
    public func publicKey(fromBytes bytes: [UInt8]) throws(CryptoError) -> any VerifyingKey {
        switch self {
        case .es256k: return try K256PublicKey(bytes: bytes)
        case .es256: return try P256PublicKey(bytes: bytes)
        }
    }

    /// Imports a private key for this curve from its 32-byte big-endian scalar.
    public func privateKey(fromBytes bytes: [UInt8]) throws(CryptoError) -> any SigningKey {
        switch self {
        case .es256k: return try K256PrivateKey(privateKeyBytes: bytes)
        case .es256: return try P256PrivateKey(privateKeyBytes: bytes)
        }
    }

    /// A fresh random private key for this curve.
    public func generatePrivateKey() throws(CryptoError) -> any SigningKey {
        switch self {
        case .es256k: return K256PrivateKey()
        case .es256: return try P256PrivateKey()
        }
    }
}
