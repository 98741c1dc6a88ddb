/// Why bytes or JSON are not valid atproto data. Every case carries enough to say what was wrong;
/// `description` is suitable as an XRPC error message.
public enum DataError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ended in the middle of an item.
    case truncated
    /// Bytes remain after the single top-level item.
    case trailingBytes
    /// A CBOR construct atproto forbids (floats, indefinite lengths, other tags, other simple values…).
    case forbidden(String)
    /// An integer or length not in its shortest form: DRISL requires one spelling per value.
    case nonCanonical(String)
    /// A map key that is not a text string, is duplicated, or is out of canonical order.
    case badMapKey(String)
    /// A text string that is not valid UTF-8.
    case invalidUTF8
    /// An integer outside the signed 64-bit range.
    case integerOutOfRange
    /// Nesting deeper, a container longer, or an input larger than the decoder's limits.
    case limitExceeded(String)
    /// A malformed CID.
    case invalidCID(String)
    /// A value that is well-formed CBOR/JSON but breaks an atproto data-model rule.
    case invalidValue(String)
    /// Text that is not RFC 8259 JSON; `offset` is the byte where the problem was found.
    case invalidJSON(String, offset: Int)

    public var description: String {
        switch self {
        case .truncated: "CBOR input ends inside an item"
        case .trailingBytes: "CBOR input has bytes after the top-level item"
        case .forbidden(let what): "CBOR uses \(what), which atproto forbids"
        case .nonCanonical(let what): "CBOR is not canonical: \(what)"
        case .badMapKey(let why): "bad map key: \(why)"
        case .invalidUTF8: "text string is not valid UTF-8"
        case .integerOutOfRange: "integer outside the signed 64-bit range"
        case .limitExceeded(let what): "data exceeds a limit: \(what)"
        case .invalidCID(let why): "invalid CID: \(why)"
        case .invalidValue(let why): why
        case .invalidJSON(let why, let offset): "invalid JSON at byte \(offset): \(why)"
        }
    }
}
