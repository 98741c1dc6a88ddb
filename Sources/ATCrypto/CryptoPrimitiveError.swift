/// A symmetric primitive or X25519 operation was given bad input or could not authenticate data.
///
/// Failures inside OpenSSL itself are reported as ``OpenSSLError``.
public enum CryptoPrimitiveError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A key, nonce or similar input had the wrong length.
    case invalidLength(what: String, expected: Int, actual: Int)
    /// Parameters outside what the algorithm allows (e.g. a scrypt N that is not a power of two).
    case invalidParameters(String)
    /// An AEAD tag did not verify: the ciphertext, nonce, key or associated data is wrong.
    case authenticationFailure
    /// X25519 produced the all-zero shared secret: the peer's point has small order (RFC 7748 §6.1).
    case lowOrderPoint

    public var description: String {
        switch self {
        case let .invalidLength(what, expected, actual): "\(what) must be \(expected) bytes, got \(actual)"
        case let .invalidParameters(text): "invalid parameters: \(text)"
        case .authenticationFailure: "authentication failed"
        case .lowOrderPoint: "X25519 peer point has small order (all-zero shared secret)"
        }
    }
}
