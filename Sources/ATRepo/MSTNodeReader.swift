import ATData

/// A fast, strict reader for the one fixed shape of an MST node block (https://atproto.com/specs/repository):
/// `{"e": [{"k": bytes, "p": uint, "t": link|null, "v": link}…], "l": link|null}`.
///
/// Loading stored trees decodes many nodes, and going through `DataValue` allocates a dictionary
/// per entry. This reader accepts only canonical DAG-CBOR of exactly that shape (shortest heads,
/// fields in canonical order, tag 42 links with the 0x00 prefix); anything else returns nil and
/// the caller falls back to the general decoder, which produces the precise error.
struct MSTNodeReader {
    private let bytes: [UInt8]
    private var position = 0

    /// The raw fields of a node, before the structural checks in `MSTNode.decode`.
    struct RawEntry {
        var prefix: Int
        var suffix: ArraySlice<UInt8>
        var tree: CID?
        var value: CID
    }

    static func read(_ bytes: [UInt8], maxEntries: Int) -> (entries: [RawEntry], left: CID?)? {
        var reader = MSTNodeReader(bytes: bytes)
        return reader.readNode(maxEntries: maxEntries)
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private mutating func readNode(maxEntries: Int) -> (entries: [RawEntry], left: CID?)? {
        guard byte() == 0xa2, key(0x65) else { return nil }  // map(2), "e"
        guard let count = head(major: 4), count <= maxEntries else { return nil }
        var entries: [RawEntry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            guard byte() == 0xa4, key(0x6b), let suffixLength = head(major: 2), position + suffixLength <= bytes.count else { return nil }
            let suffix = bytes[position..<(position + suffixLength)]
            position += suffixLength
            guard key(0x70), let prefix = head(major: 0), key(0x74) else { return nil }
            guard let tree = optionalLink(), key(0x76), let value = link() else { return nil }
            entries.append(RawEntry(prefix: prefix, suffix: suffix, tree: tree ?? nil, value: value))
        }
        guard key(0x6c), let left = optionalLink(), position == bytes.count else { return nil }
        return (entries, left)
    }

    @inline(__always)
    private mutating func byte() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    /// A one-character text key `0x61 <char>`.
    @inline(__always)
    private mutating func key(_ char: UInt8) -> Bool {
        guard position + 2 <= bytes.count, bytes[position] == 0x61, bytes[position + 1] == char else { return false }
        position += 2
        return true
    }

    /// A head of `major` with its argument in shortest form (as an Int small enough to use).
    private mutating func head(major: UInt8) -> Int? {
        guard let initial = byte(), initial >> 5 == major else { return nil }
        let info = initial & 0x1f
        switch info {
        case 0..<24: return Int(info)
        case 24:
            guard let value = byte(), value >= 24 else { return nil }
            return Int(value)
        case 25:
            guard let high = byte(), let low = byte() else { return nil }
            let value = Int(high) << 8 | Int(low)
            return value >= 0x100 ? value : nil
        case 26:
            var value = 0
            for _ in 0..<4 { guard let next = byte() else { return nil }; value = value << 8 | Int(next) }
            return value >= 0x1_0000 ? value : nil
        default: return nil  // 8-byte lengths and counts never occur in a valid node
        }
    }

    /// `null` → .some(nil); a link → .some(cid); anything else → nil.
    private mutating func optionalLink() -> CID??  {
        if position < bytes.count && bytes[position] == 0xf6 { position += 1; return .some(nil) }
        guard let cid = link() else { return nil }
        return .some(cid)
    }

    private mutating func link() -> CID? {
        guard byte() == 0xd8, byte() == 42, let length = head(major: 2), length >= 2,
              position + length <= bytes.count, bytes[position] == 0 else { return nil }
        defer { position += length }
        // Blessed CIDs (01 71|55 12 20 ‖ 32-byte digest) are nearly all links: build them directly
        // rather than through the general varint parser.
        let start = position + 1
        if length == 37, bytes[start] == 0x01, bytes[start + 1] == 0x71 || bytes[start + 1] == 0x55,
           bytes[start + 2] == 0x12, bytes[start + 3] == 0x20 {
            return CID(codec: UInt64(bytes[start + 1]), sha256Digest: Array(bytes[(start + 4)..<(start + 36)]))
        }
        return try? CID(bytes: Array(bytes[start..<(position + length)]))
    }
}
