/// The Lexicon `cid` string format: a syntactically plausible CID string (https://atproto.com/specs/data-model).
///
/// This is a *syntax* check only. The format accepts any multibase spelling of a CIDv1, not just
/// atproto's blessed `b` + base32 form, so the check is: 8–256 characters, a known multibase
/// prefix, and every following character in that base's alphabet. CIDv0 (bare base58btc `Qm…`,
/// which has no multibase prefix) is rejected, since atproto never uses it. Decoding the bytes and
/// checking the version, codec and multihash is ATData's job.
public struct CIDString: SyntaxValue {
    /// The shortest accepted string (reference implementations use 8).
    public static let minLength = 8
    /// The longest accepted string (reference implementations use 256).
    public static let maxLength = 256

    /// The CID string exactly as given (multibase alphabets are case-sensitive).
    public let string: String

    /// Checks the syntax of a CID string.
    public init(_ string: String) throws(SyntaxError) {
        try scanUTF8(string) { bytes throws(SyntaxError) in try CIDString.validate(bytes) }
        self.string = string
    }

    /// The multibase prefix character, e.g. `b` for base32.
    public var multibasePrefix: Character { string.first! }

    /// Whether this is atproto's blessed spelling: `b` followed by lowercase base32 (https://atproto.com/specs/data-model).
    public var isBase32: Bool { string.utf8.first == UInt8(ascii: "b") }

    private static let base58: StaticString = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    private static let base58Flickr: StaticString = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"

    private static func contains(_ alphabet: StaticString, _ byte: UInt8) -> Bool {
        let start = alphabet.utf8Start
        for index in 0..<alphabet.utf8CodeUnitCount where start[index] == byte { return true }
        return false
    }

    /// Whether `byte` belongs to the alphabet of the multibase with `prefix` (multibase table:
    /// base2 `0`, base8 `7`, base10 `9`, base16 `f/F`, base32 `b/B c/C v/V t/T h`, base36 `k/K`,
    /// base58 `z/Z`, base64 `m M u U`). Nil when the prefix is unknown.
    private static func accepts(prefix: UInt8, _ byte: UInt8) -> Bool? {
        switch prefix {
        case UInt8(ascii: "0"): return byte == UInt8(ascii: "0") || byte == UInt8(ascii: "1")
        case UInt8(ascii: "7"): return byte &- UInt8(ascii: "0") < 8
        case UInt8(ascii: "9"): return ASCII.isDigit(byte)
        case UInt8(ascii: "f"): return ASCII.isDigit(byte) || byte &- UInt8(ascii: "a") < 6
        case UInt8(ascii: "F"): return ASCII.isDigit(byte) || byte &- UInt8(ascii: "A") < 6
        case UInt8(ascii: "b"), UInt8(ascii: "c"):
            return ASCII.isLower(byte) || byte &- UInt8(ascii: "2") < 6 || (prefix == UInt8(ascii: "c") && byte == UInt8(ascii: "="))
        case UInt8(ascii: "B"), UInt8(ascii: "C"):
            return ASCII.isUpper(byte) || byte &- UInt8(ascii: "2") < 6 || (prefix == UInt8(ascii: "C") && byte == UInt8(ascii: "="))
        case UInt8(ascii: "v"), UInt8(ascii: "t"):
            return ASCII.isDigit(byte) || byte &- UInt8(ascii: "a") < 22 || (prefix == UInt8(ascii: "t") && byte == UInt8(ascii: "="))
        case UInt8(ascii: "V"), UInt8(ascii: "T"):
            return ASCII.isDigit(byte) || byte &- UInt8(ascii: "A") < 22 || (prefix == UInt8(ascii: "T") && byte == UInt8(ascii: "="))
        case UInt8(ascii: "h"): return contains("ybndrfg8ejkmcpqxot1uwisza345h769", byte)
        case UInt8(ascii: "k"): return ASCII.isDigit(byte) || ASCII.isLower(byte)
        case UInt8(ascii: "K"): return ASCII.isDigit(byte) || ASCII.isUpper(byte)
        case UInt8(ascii: "z"): return contains(base58, byte)
        case UInt8(ascii: "Z"): return contains(base58Flickr, byte)
        case UInt8(ascii: "m"), UInt8(ascii: "M"):
            return ASCII.isAlphanumeric(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/")
                || (prefix == UInt8(ascii: "M") && byte == UInt8(ascii: "="))
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            return ASCII.isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                || (prefix == UInt8(ascii: "U") && byte == UInt8(ascii: "="))
        default: return nil
        }
    }

    private static func validate(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) {
        guard bytes.count >= minLength else { throw SyntaxError(.cid, "shorter than \(minLength) characters") }
        guard bytes.count <= maxLength else { throw SyntaxError(.cid, "longer than \(maxLength) characters") }
        if ASCII.hasPrefix(bytes, "Qm") {
            throw SyntaxError(.cid, "version 0 (Qm…) is not allowed; use a CIDv1 string")
        }
        let prefix = bytes[0]
        guard accepts(prefix: prefix, prefix) != nil else {
            throw SyntaxError(.cid, "does not start with a known multibase prefix (such as 'b' for base32)")
        }
        for byte in bytes[1...] where accepts(prefix: prefix, byte) != true {
            throw SyntaxError(.cid, "contains \(ASCII.describe(byte)), outside its multibase alphabet")
        }
    }
}
