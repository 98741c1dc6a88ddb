/// Why an age operation failed.
///
/// The decryption cases mirror the outcome classes of the C2SP age testkit
/// (age-encryption.org/testkit), so callers can tell a wrong key from a damaged file:
/// ``noMatch``, ``hmacFailure``, ``headerFailure(_:)``, ``payloadFailure(_:)``, ``armorFailure(_:)``.
public enum AgeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The header parsed, but none of the identities could unwrap any recipient stanza.
    case noMatch
    /// A file key was unwrapped but the header MAC does not match: the header was altered, or a
    /// stanza was crafted for a different file key.
    case hmacFailure
    /// The header (including the 16-byte payload nonce after it) is malformed, or a stanza
    /// addressed to one of the identities is malformed (including an all-zero X25519 secret).
    case headerFailure(String)
    /// The STREAM payload did not decrypt and authenticate all the way to its end.
    case payloadFailure(String)
    /// The ASCII armor (strict PEM, "AGE ENCRYPTED FILE") is malformed.
    case armorFailure(String)
    /// A key string (identity, recipient, identity file) did not parse.
    case invalidKey(String)
    /// The encryption request itself is not allowed (no recipients, scrypt mixed with others, ...).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .noMatch: "age: no identity matched any of the recipients"
        case .hmacFailure: "age: header MAC mismatch"
        case let .headerFailure(detail): "age: invalid header: \(detail)"
        case let .payloadFailure(detail): "age: payload failure: \(detail)"
        case let .armorFailure(detail): "age: invalid armor: \(detail)"
        case let .invalidKey(detail): "age: invalid key: \(detail)"
        case let .invalidArgument(detail): "age: \(detail)"
        }
    }
}
