/// A namespaced identifier naming a Lexicon schema or record collection (https://atproto.com/specs/lexicon#string-formats "nsid"), e.g.
/// `app.bsky.feed.post`: a reversed-domain authority plus a name segment.
///
/// Rules: at least three segments, at most 317 characters; the authority (all but the last
/// segment) follows DNS label rules, with the first segment starting with a
/// letter; the name is `[a-zA-Z][a-zA-Z0-9]{0,62}` (digits allowed after the first character since
/// the 2025 change). The authority is case-insensitive and is lowercased here; the name keeps its
/// case (`fooBar` and `foobar` are different NSIDs). The authority is not limited to 253
/// characters: the interop vectors accept a 280-character authority within the 317 total.
public struct NSID: SyntaxValue, Comparable {
    /// The maximum total length (https://atproto.com/specs/lexicon#string-formats: "≤317 chars").
    public static let maxLength = 317
    /// The maximum length of a segment.
    public static let maxSegmentLength = 63

    /// The NSID with its authority lowercased.
    public let string: String
    /// The UTF-8 offset of the name segment.
    private let nameOffset: Int

    /// Parses and validates an NSID, lowercasing the authority.
    public init(_ string: String) throws(SyntaxError) {
        (self.string, self.nameOffset) = try scanUTF8(string) { bytes throws(SyntaxError) in
            let nameOffset = try NSID.validate(bytes)
            let authority = bytes.slice(0..<nameOffset)
            guard ASCII.hasUpper(authority) else { return (string, nameOffset) }
            return (ASCII.lowercased(authority) + bytes.slice(nameOffset..<bytes.count).asString, nameOffset)
        }
    }

    /// The authority as written in the NSID, lowercased, e.g. `app.bsky.feed` (reversed domain).
    public var authority: Substring {
        let utf8 = string.utf8
        return string[..<utf8.index(utf8.startIndex, offsetBy: nameOffset - 1)]
    }

    /// The authority as a domain name in DNS order, e.g. `feed.bsky.app`.
    public var authorityDomain: String {
        authority.split(separator: ".").reversed().joined(separator: ".")
    }

    /// The name segment, e.g. `post`.
    public var name: Substring {
        let utf8 = string.utf8
        return string[utf8.index(utf8.startIndex, offsetBy: nameOffset)...]
    }

    /// All segments in order, e.g. `["app", "bsky", "feed", "post"]`.
    public var segments: [Substring] { string.split(separator: ".", omittingEmptySubsequences: false) }

    /// Orders by the string's bytes.
    public static func < (lhs: NSID, rhs: NSID) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    /// Validates NSID bytes and returns the offset of the name segment.
    static func validate(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> Int {
        let count = bytes.count
        guard count > 0 else { throw SyntaxError(.nsid, "is empty") }
        guard count <= maxLength else { throw SyntaxError(.nsid, "longer than \(maxLength) characters") }
        var segments = 0
        var segmentStart = 0
        var hasHyphen = false
        var index = 0
        while index <= count {
            let byte: UInt8 = index == count ? UInt8(ascii: ".") : bytes[index]
            if byte == UInt8(ascii: ".") {
                let length = index - segmentStart
                guard length > 0 else {
                    throw SyntaxError(.nsid, "has an empty segment (leading, trailing or doubled '.')")
                }
                guard length <= maxSegmentLength else {
                    throw SyntaxError(.nsid, "segment longer than \(maxSegmentLength) characters")
                }
                let isName = index == count
                if isName {
                    guard segments >= 2 else {
                        throw SyntaxError(.nsid, "must have at least three segments, like com.example.fooBar")
                    }
                    guard ASCII.isLetter(bytes[segmentStart]) else {
                        throw SyntaxError(.nsid, "name segment must start with a letter")
                    }
                    guard !hasHyphen else {
                        throw SyntaxError(.nsid, "name segment may contain only letters and digits")
                    }
                    return segmentStart
                }
                guard bytes[segmentStart] != UInt8(ascii: "-"), bytes[index - 1] != UInt8(ascii: "-") else {
                    throw SyntaxError(.nsid, "domain segment must not start or end with '-'")
                }
                guard segments > 0 || ASCII.isLetter(bytes[0]) else {
                    throw SyntaxError(.nsid, "first segment must start with a letter")
                }
                segments += 1
                segmentStart = index + 1
                hasHyphen = false
            } else if byte == UInt8(ascii: "-") {
                hasHyphen = true
            } else if !ASCII.isAlphanumeric(byte) {
                throw SyntaxError(.nsid, "contains \(ASCII.describe(byte))")
            }
            index += 1
        }
        fatalError("unreachable: the loop returns or throws at the end of the string")
    }
}
