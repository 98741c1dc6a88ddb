/// Repository paths: the MST keys `<collection>/<record-key>` (https://atproto.com/specs/repository).
///
/// This is the structural check the MST applies to every key it stores or loads: exactly two
/// non-empty segments, the allowed character set, no `.`/`..` segments, at most 1024 bytes. It is
/// deliberately the same looseness as the reference MST (the collection need not be a valid NSID);
/// full NSID and record-key validation of *new* writes belongs to the layer that accepts them.
public enum RepoPath {
    /// The longest path, in bytes.
    public static let maxLength = 1024

    /// Throws `RepoError.invalidPath` unless `path` is a valid repository path.
    public static func validate(_ path: String) throws(RepoError) {
        try validate(bytes: Array(path.utf8))
    }

    /// True when `path` is a valid repository path.
    public static func isValid(_ path: String) -> Bool {
        (try? validate(path)) != nil
    }

    /// Splits a valid path into collection and record key.
    public static func split(_ path: String) throws(RepoError) -> (collection: String, rkey: String) {
        try validate(path)
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return (String(parts[0]), String(parts[1]))
    }

    /// Joins a collection and record key into a path, validating the result.
    public static func join(collection: String, rkey: String) throws(RepoError) -> String {
        let path = collection + "/" + rkey
        try validate(path)
        return path
    }

    /// The byte-level check (MST keys are the UTF-8 bytes of the path).
    static func validate(bytes: [UInt8]) throws(RepoError) {
        guard !bytes.isEmpty else { throw .invalidPath("empty") }
        guard bytes.count <= maxLength else { throw .invalidPath("longer than \(maxLength) bytes") }
        var slash = -1
        for (index, byte) in bytes.enumerated() {
            if byte == UInt8(ascii: "/") {
                guard slash < 0 else { throw .invalidPath("more than two segments") }
                slash = index
                continue
            }
            // ':' is allowed in record keys only (record-key syntax), so only after the slash.
            let allowed = isPathCharacter(byte) || (byte == UInt8(ascii: ":") && slash >= 0)
            guard allowed else { throw .invalidPath("character 0x\(String(byte, radix: 16)) not allowed") }
        }
        guard slash > 0 else { throw .invalidPath(slash == 0 ? "empty collection" : "expected collection/rkey") }
        guard slash < bytes.count - 1 else { throw .invalidPath("empty record key") }
        let collection = bytes[..<slash], rkey = bytes[(slash + 1)...]
        for segment in [collection, rkey] where segment.elementsEqual([0x2e]) || segment.elementsEqual([0x2e, 0x2e]) {
            throw .invalidPath("'.' and '..' are not valid segments")
        }
    }

    @inline(__always)
    static func isPathCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default: false
        }
    }
}
