/// A decentralized identifier in atproto's generic DID syntax (https://atproto.com/specs/lexicon#string-formats "did"):
/// `did:<method>:<method-specific-id>`, matching
/// `^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$`, at most 2048 characters, case-sensitive.
///
/// Any method passes syntax validation; only `plc` and `web` are "blessed" for atproto accounts,
/// which `isPLC` / `isWeb` make easy to check. Percent escapes are not decoded or checked for hex
/// digits, because the reference grammar does not, and a stricter parser would refuse DIDs other
/// services accept.
public struct DID: SyntaxValue, Comparable {
    /// The maximum length in characters (https://atproto.com/specs/lexicon#string-formats: "≤2048 chars").
    public static let maxLength = 2048

    /// The DID exactly as given (DIDs are case-sensitive and never normalised).
    public let string: String
    /// The method name, e.g. `plc` or `web`.
    public let method: String

    /// Parses and validates a DID.
    public init(_ string: String) throws(SyntaxError) {
        let methodEnd = try scanUTF8(string) { bytes throws(SyntaxError) in try DID.validate(bytes) }
        self.string = string
        self.method = String(decoding: string.utf8.dropFirst(4).prefix(methodEnd - 4), as: UTF8.self)
    }

    /// Internal init for strings already validated as part of a larger format (AT-URI).
    init(validated string: String, methodEnd: Int) {
        self.string = string
        self.method = String(decoding: string.utf8.dropFirst(4).prefix(methodEnd - 4), as: UTF8.self)
    }

    /// The method-specific identifier: everything after `did:<method>:`.
    public var identifier: Substring {
        let utf8 = string.utf8
        let start = utf8.index(utf8.startIndex, offsetBy: method.utf8.count + 5)
        return string[start...]
    }

    /// Whether this is a `did:plc` identifier (https://atproto.com/specs/did).
    public var isPLC: Bool { method == "plc" }

    /// Whether this is a `did:web` identifier (https://atproto.com/specs/did).
    public var isWeb: Bool { method == "web" }

    /// Orders by the string's bytes.
    public static func < (lhs: DID, rhs: DID) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    /// Validates DID bytes and returns the offset of the `:` that ends the method name.
    static func validate(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> Int {
        let count = bytes.count
        guard count > 0 else { throw SyntaxError(.did, "is empty") }
        guard count <= maxLength else { throw SyntaxError(.did, "longer than \(maxLength) characters") }
        guard ASCII.hasPrefix(bytes, "did:") else {
            throw SyntaxError(.did, "must start with lowercase \"did:\"")
        }
        var index = 4
        while index < count, ASCII.isLower(bytes[index]) { index += 1 }
        guard index < count, bytes[index] == UInt8(ascii: ":") else {
            if index == count { throw SyntaxError(.did, "is missing the method-specific identifier") }
            throw SyntaxError(.did, "method must contain only lowercase letters a-z")
        }
        guard index > 4 else { throw SyntaxError(.did, "method is empty") }
        let methodEnd = index
        index += 1
        guard index < count else { throw SyntaxError(.did, "method-specific identifier is empty") }
        while index < count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "%"):
                index += 1
            default:
                throw SyntaxError(.did, "contains \(ASCII.describe(byte))")
            }
        }
        let last = bytes[count - 1]
        guard last != UInt8(ascii: ":"), last != UInt8(ascii: "%") else {
            throw SyntaxError(.did, "must not end with ':' or '%'")
        }
        return methodEnd
    }
}
