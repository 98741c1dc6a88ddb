import Multiformats

/// A failure to create, import, parse or use a signing or verifying key.
///
/// Verification itself never throws: a signature that does not check out is `false`, because to a
/// caller a malformed signature and a wrong one mean the same thing (https://atproto.com/specs/cryptography).
public enum CryptoError: Error, CustomStringConvertible, Sendable {
    /// Private key bytes that are not a valid scalar for the curve (wrong length, zero, ≥ n).
    case invalidPrivateKey(algorithm: SignatureAlgorithm, reason: String)
    /// Public key bytes that are not a point on the curve in SEC1 compressed (33-byte) or
    /// uncompressed (65-byte) form.
    case invalidPublicKey(algorithm: SignatureAlgorithm, reason: String)
    /// A multikey string that is not `z` + base58btc(multicodec varint ‖ key).
    case invalidMultikey(String, reason: String)
    /// A multikey whose multicodec is neither K-256 (0xe7) nor P-256 (0x1200).
    case unsupportedMulticodec(UInt64)
    /// A DID that does not start with `did:key:`.
    case notDIDKey(String)
    /// A DID document verification method type this library does not read.
    case unsupportedVerificationMethodType(String)
    /// A multibase or base-N decoding failure underneath one of the above.
    case encoding(MultiformatsError)
    /// OpenSSL reported a failure (P-256 only; libsecp256k1 calls cannot fail on valid input).
    case openSSL(OpenSSLError)

    /// A one-line explanation, naming the input where that helps.
    public var description: String {
        switch self {
        case let .invalidPrivateKey(algorithm, reason):
            return "invalid \(algorithm.curveName) private key: \(reason)"
        case let .invalidPublicKey(algorithm, reason):
            return "invalid \(algorithm.curveName) public key: \(reason)"
        case let .invalidMultikey(text, reason):
            return "invalid multikey \"\(text)\": \(reason)"
        case let .unsupportedMulticodec(code):
            return "unsupported multikey codec 0x\(String(code, radix: 16)) (expected 0xe7 secp256k1-pub or 0x1200 p256-pub)"
        case let .notDIDKey(text):
            return "not a did:key: \"\(text)\""
        case let .unsupportedVerificationMethodType(type):
            return "unsupported verification method type \"\(type)\" (expected Multikey, "
                + "EcdsaSecp256k1VerificationKey2019 or EcdsaSecp256r1VerificationKey2019)"
        case let .encoding(error):
            return "key encoding error: \(error)"
        case let .openSSL(error):
            return error.description
        }
    }
}
