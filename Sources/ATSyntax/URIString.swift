/// The Lexicon `uri` string format (https://atproto.com/specs/lexicon#string-formats): an RFC 3986 URI with a scheme, at most 8 KB.
///
/// Checked: a scheme per RFC 3986 §3.1 (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`), a colon,
/// then at least one further character, all of them printable ASCII without spaces. The rest of
/// the URI is not parsed further: the reference implementations accept any non-whitespace here,
/// and a stricter check would reject records other servers accept.
public struct URIString: SyntaxValue {
    /// The maximum length (https://atproto.com/specs/lexicon#string-formats: "≤8 KB").
    public static let maxLength = 8 * 1024

    /// The URI exactly as given.
    public let string: String
    /// The UTF-8 length of the scheme.
    private let schemeLength: Int

    /// Checks the syntax of a URI.
    public init(_ string: String) throws(SyntaxError) {
        schemeLength = try scanUTF8(string) { bytes throws(SyntaxError) in try URIString.validate(bytes) }
        self.string = string
    }

    /// The scheme as written, e.g. `https`.
    public var scheme: Substring {
        string[..<string.utf8.index(string.utf8.startIndex, offsetBy: schemeLength)]
    }

    private static func validate(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> Int {
        guard !bytes.isEmpty else { throw SyntaxError(.uri, "is empty") }
        guard bytes.count <= maxLength else { throw SyntaxError(.uri, "longer than \(maxLength) bytes") }
        for byte in bytes where byte <= 0x20 || byte >= 0x7F {
            throw SyntaxError(.uri, "contains \(ASCII.describe(byte))")
        }
        guard ASCII.isLetter(bytes[0]) else { throw SyntaxError(.uri, "must start with a scheme, like https:") }
        var index = 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: ":") { break }
            guard ASCII.isAlphanumeric(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: ".")
            else { throw SyntaxError(.uri, "scheme contains \(ASCII.describe(byte))") }
            index += 1
        }
        guard index < bytes.count else { throw SyntaxError(.uri, "has no scheme (no ':')") }
        guard index + 1 < bytes.count else { throw SyntaxError(.uri, "has nothing after the scheme") }
        return index
    }
}
