/// A record key: the last component of a record's repository path and AT-URI (https://atproto.com/specs/lexicon#string-formats
/// "record-key"). 1–512 characters of `[A-Za-z0-9._:~-]`, not `.` or `..`; case-sensitive.
///
/// Which keys a collection accepts (`tid`, `nsid`, `literal:<value>`, `any`) is a Lexicon matter,
/// checked by the validator, not here.
public struct RecordKey: SyntaxValue, Comparable {
    /// The maximum length (https://atproto.com/specs/lexicon#string-formats).
    public static let maxLength = 512

    /// The key, exactly as given.
    public let string: String

    /// Parses and validates a record key.
    public init(_ string: String) throws(SyntaxError) {
        try scanUTF8(string) { bytes throws(SyntaxError) in try RecordKey.validate(bytes) }
        self.string = string
    }

    /// The record key spelled by a TID (the usual key type for posts and likes).
    public init(_ tid: TID) { self.string = tid.string }

    init(validated string: String) { self.string = string }

    /// Orders by the string's bytes.
    public static func < (lhs: RecordKey, rhs: RecordKey) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    /// Validates record-key bytes.
    static func validate(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) {
        let count = bytes.count
        guard count > 0 else { throw SyntaxError(.recordKey, "is empty") }
        guard count <= maxLength else { throw SyntaxError(.recordKey, "longer than \(maxLength) characters") }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "~"):
                continue
            default:
                throw SyntaxError(.recordKey, "contains \(ASCII.describe(byte))")
            }
        }
        if ASCII.equals(bytes, ".") || ASCII.equals(bytes, "..") {
            throw SyntaxError(.recordKey, "must not be '.' or '..'")
        }
    }
}
