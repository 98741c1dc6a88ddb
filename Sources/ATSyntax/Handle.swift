/// An atproto handle: a DNS hostname used as a human-readable account name (https://atproto.com/specs/lexicon#string-formats "handle").
///
/// ASCII, at most 253 characters, at least two labels, each label 1–63 characters of
/// `[a-zA-Z0-9-]` not starting or ending with `-`, and a top-level domain that does not start
/// with a digit. Handles are case-insensitive, so the stored `string` is lowercased.
public struct Handle: SyntaxValue, Comparable {
    /// The maximum total length (https://atproto.com/specs/lexicon#string-formats: "≤253 chars").
    public static let maxLength = 253
    /// The maximum length of one label (DNS).
    public static let maxLabelLength = 63

    /// The sentinel `handle.invalid`, shown when an account has no verified handle (https://atproto.com/specs/lexicon#string-formats).
    public static let invalid = Handle(validatedLowercase: "handle.invalid")

    /// Top-level domains that are syntactically valid but must never resolve or be registered
    /// (https://atproto.com/specs/lexicon#string-formats: `.alt .arpa .example .internal .invalid .local .localhost .onion`).
    public static let reservedTLDs: Set<String> = [
        "alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion",
    ]

    /// The handle, lowercased.
    public let string: String

    /// Parses and validates a handle, normalising it to lowercase.
    public init(_ string: String) throws(SyntaxError) {
        self.string = try scanUTF8(string) { bytes throws(SyntaxError) in
            try Handle.validate(bytes) ? ASCII.lowercased(bytes) : string
        }
    }

    init(validatedLowercase string: String) { self.string = string }

    /// The labels, e.g. `["alice", "example", "com"]`.
    public var labels: [Substring] { string.split(separator: ".", omittingEmptySubsequences: false) }

    /// The top-level domain (last label), lowercased.
    public var tld: Substring {
        guard let dot = string.utf8.lastIndex(of: UInt8(ascii: ".")) else { return string[...] }
        return string[string.utf8.index(after: dot)...]
    }

    /// Whether the TLD is one of the reserved ones, so the handle must not be resolved or
    /// accepted for an account even though its syntax is valid (https://atproto.com/specs/lexicon#string-formats).
    public var isReservedTLD: Bool { Handle.reservedTLDs.contains(String(tld)) }

    /// Whether the TLD is `.test`, which the spec allows for development only (https://atproto.com/specs/lexicon#string-formats).
    public var isTestTLD: Bool { tld == "test" }

    /// Whether this is the `handle.invalid` sentinel.
    public var isInvalidSentinel: Bool { string == "handle.invalid" }

    /// Orders by the (lowercased) string's bytes.
    public static func < (lhs: Handle, rhs: Handle) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    /// Validates handle bytes. Returns whether they contain uppercase letters (so the caller knows
    /// whether lowercasing is needed and can skip the copy otherwise).
    static func validate(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> Bool {
        let count = bytes.count
        guard count > 0 else { throw SyntaxError(.handle, "is empty") }
        guard count <= maxLength else { throw SyntaxError(.handle, "longer than \(maxLength) characters") }
        var hasUpper = false
        var labels = 0
        var labelStart = 0
        var index = 0
        while true {
            let atEnd = index == count
            let byte: UInt8 = atEnd ? UInt8(ascii: ".") : bytes[index]
            if byte == UInt8(ascii: ".") {
                let length = index - labelStart
                guard length > 0 else {
                    throw SyntaxError(.handle, "has an empty label (leading, trailing or doubled '.')")
                }
                guard length <= maxLabelLength else {
                    throw SyntaxError(.handle, "label longer than \(maxLabelLength) characters")
                }
                guard bytes[labelStart] != UInt8(ascii: "-"), bytes[index - 1] != UInt8(ascii: "-") else {
                    throw SyntaxError(.handle, "label must not start or end with '-'")
                }
                labels += 1
                if atEnd {
                    guard labels >= 2 else {
                        throw SyntaxError(.handle, "must have at least two labels, like alice.example.com")
                    }
                    guard !ASCII.isDigit(bytes[labelStart]) else {
                        throw SyntaxError(.handle, "top-level domain must not start with a digit")
                    }
                    return hasUpper
                }
                labelStart = index + 1
            } else if ASCII.isLower(byte) || ASCII.isDigit(byte) || byte == UInt8(ascii: "-") {
                // allowed
            } else if ASCII.isUpper(byte) {
                hasUpper = true
            } else {
                throw SyntaxError(.handle, "contains \(ASCII.describe(byte))")
            }
            index += 1
        }
    }
}
