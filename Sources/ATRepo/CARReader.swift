import ATData
import Multiformats

/// Streaming CAR v1 reader (https://atproto.com/specs/repository), pulling byte chunks from a source.
///
/// Tolerates what the spec says parsers must (any block order, duplicates, extra blocks) and
/// rejects the rest: a header that is not `{roots, version: 1}`, missing roots when required,
/// bad varints, truncated sections, oversized sections, and blocks whose bytes do not hash to
/// their CID. Blocks with a hash function other than sha2-256 cannot be checked and are skipped
/// (atproto only links sha2-256 CIDs).
public struct CARReader {
    /// Defensive bounds.
    public struct Limits: Sendable {
        /// Largest header (bytes).
        public var maxHeaderSize: Int
        /// Largest section (CID plus block bytes). Records are ≤ 1 MiB; nodes are far smaller.
        public var maxSectionSize: Int
        /// Whether a CAR without roots is an error (true for every atproto use).
        public var requireRoots: Bool

        public init(maxHeaderSize: Int = 64 * 1024, maxSectionSize: Int = 2 * 1024 * 1024 + 128, requireRoots: Bool = true) {
            self.maxHeaderSize = maxHeaderSize
            self.maxSectionSize = maxSectionSize
            self.requireRoots = requireRoots
        }

        public static let `default` = Limits()
    }

    /// The header's roots (`roots[0]` is the commit).
    public private(set) var roots: [CID] = []
    private let source: () throws -> [UInt8]?
    private let limits: Limits
    private var buffer: [UInt8] = []
    private var position = 0
    private var exhausted = false

    /// Reads the header from `source`, which returns successive chunks and nil at the end.
    public init(limits: Limits = .default, source: @escaping () throws -> [UInt8]?) throws {
        self.source = source
        self.limits = limits
        guard let length = try readVarint(allowEnd: false) else { throw RepoError.invalidCAR("empty input") }
        guard length > 0, length <= UInt64(limits.maxHeaderSize) else { throw RepoError.invalidCAR("header length \(length)") }
        let header = try take(Int(length))
        let value: DataValue
        do { value = try DAGCBOR.decode(header) } catch { throw RepoError.invalidCAR("header: \(error)") }
        guard let map = value.mapValue else { throw RepoError.invalidCAR("header is not a map") }
        guard map["version"] == .integer(1) else { throw RepoError.invalidCAR("header version must be 1") }
        guard let rootValues = map["roots"]?.arrayValue else { throw RepoError.invalidCAR("header has no roots array") }
        for rootValue in rootValues {
            guard let cid = rootValue.linkValue else { throw RepoError.invalidCAR("root is not a CID") }
            roots.append(cid)
        }
        if limits.requireRoots && roots.isEmpty { throw RepoError.invalidCAR("no roots") }
    }

    /// Reads a CAR held in memory.
    public init(bytes: [UInt8], limits: Limits = .default) throws {
        var consumed = false
        try self.init(limits: limits) {
            if consumed { return nil }
            consumed = true
            return bytes
        }
    }

    /// The next block, or nil at the end of the input.
    public mutating func next() throws -> (cid: CID, bytes: [UInt8])? {
        while true {
            guard let length = try readVarint(allowEnd: true) else { return nil }
            guard length > 0 else { throw RepoError.invalidCAR("empty section") }
            guard length <= UInt64(limits.maxSectionSize) else { throw RepoError.invalidCAR("section of \(length) bytes exceeds the limit") }
            let section = try take(Int(length))
            let cid: CID, used: Int
            do { (cid, used) = try CID.parsePrefix(section[...]) } catch { throw RepoError.invalidCAR("section CID: \(error)") }
            let bytes = Array(section[used...])
            switch blockMatches(cid, bytes) {
            case true?: return (cid, bytes)
            case false?: throw RepoError.cidMismatch(cid)
            case nil: continue  // unverifiable hash function: skip rather than trust
            }
        }
    }

    /// Reads every remaining block into a map.
    public mutating func readAll() throws -> BlockMap {
        var blocks = BlockMap()
        while let (cid, bytes) = try next() { blocks.set(cid, bytes) }
        return blocks
    }

    /// Parses a whole CAR: its roots and blocks.
    public static func read(_ bytes: [UInt8], limits: Limits = .default) throws -> (roots: [CID], blocks: BlockMap) {
        var reader = try CARReader(bytes: bytes, limits: limits)
        let blocks = try reader.readAll()
        return (reader.roots, blocks)
    }

    // MARK: Buffering

    /// Makes at least `count` unread bytes available; false at end of input.
    private mutating func fill(_ count: Int) throws -> Bool {
        while buffer.count - position < count {
            if exhausted { return false }
            guard let chunk = try source() else { exhausted = true; return false }
            if position > 0 && position >= buffer.count / 2 {
                buffer.removeFirst(position)
                position = 0
            }
            buffer.append(contentsOf: chunk)
        }
        return true
    }

    private mutating func take(_ count: Int) throws -> [UInt8] {
        guard try fill(count) else { throw RepoError.invalidCAR("truncated section") }
        defer { position += count }
        return Array(buffer[position..<(position + count)])
    }

    /// A varint; nil only at a clean end of input (no bytes at all) when `allowEnd`.
    private mutating func readVarint(allowEnd: Bool) throws -> UInt64? {
        guard try fill(1) else {
            if allowEnd { return nil }
            throw RepoError.invalidCAR("truncated varint")
        }
        var length = 1
        while buffer[position + length - 1] & 0x80 != 0 {
            guard length < Varint.maxLength else { throw RepoError.invalidCAR("varint too long") }
            guard try fill(length + 1) else { throw RepoError.invalidCAR("truncated varint") }
            length += 1
        }
        do {
            let (value, used) = try Varint.decode(buffer[position..<(position + length)])
            position += used
            return value
        } catch {
            throw RepoError.invalidCAR("bad varint")
        }
    }
}
