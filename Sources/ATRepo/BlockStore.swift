import ATCrypto
import ATData

/// Read access to content-addressed blocks (https://atproto.com/specs/repository–§4: commits, MST nodes and records are all
/// blocks addressed by CID).
///
/// Synchronous by design: the server backs it with SQLite plus an in-memory cache, both of which
/// answer without suspending, and MST walks make many small reads. Implementations return `nil`
/// for an unknown CID and throw only for storage failures. Nothing in ATRepo writes through this
/// protocol: operations return the new blocks (a `BlockMap`) for the caller to persist.
public protocol BlockSource: Sendable {
    /// The bytes of the block `cid`, or nil when it is not stored here.
    func block(_ cid: CID) throws -> [UInt8]?
}

extension BlockSource {
    /// The bytes of `cid`, or `RepoError.missingBlock`.
    public func requireBlock(_ cid: CID) throws -> [UInt8] {
        guard let bytes = try block(cid) else { throw RepoError.missingBlock(cid) }
        return bytes
    }
}

/// An in-memory set of blocks (CID → bytes): the unit ATRepo hands back for persisting, the
/// content of a CAR, and a `BlockSource` in its own right (tests, proofs, imports).
public struct BlockMap: BlockSource, Sequence, Hashable {
    /// The blocks by CID.
    public private(set) var blocks: [CID: [UInt8]]

    /// An empty map.
    public init() { blocks = [:] }

    /// A map over existing blocks (not re-hashed: callers vouch that each CID matches).
    public init(_ blocks: [CID: [UInt8]]) { self.blocks = blocks }

    public func block(_ cid: CID) throws -> [UInt8]? { blocks[cid] }

    /// The bytes of `cid`, if present.
    public subscript(cid: CID) -> [UInt8]? {
        get { blocks[cid] }
        set { blocks[cid] = newValue }
    }

    /// Adds a DAG-CBOR block, computing its CID.
    @discardableResult
    public mutating func add(dagCBOR bytes: [UInt8]) -> CID {
        let cid = CID.dagCBOR(hashing: bytes)
        blocks[cid] = bytes
        return cid
    }

    /// Adds a block under a CID the caller has already computed.
    public mutating func set(_ cid: CID, _ bytes: [UInt8]) { blocks[cid] = bytes }

    /// Adds every block of `other` (other wins on conflicts, which are identical by content).
    public mutating func merge(_ other: BlockMap) {
        blocks.merge(other.blocks) { _, new in new }
    }

    /// True when `cid` is present.
    public func contains(_ cid: CID) -> Bool { blocks[cid] != nil }

    /// Number of blocks.
    public var count: Int { blocks.count }
    /// True when empty.
    public var isEmpty: Bool { blocks.isEmpty }
    /// The CIDs present.
    public var cids: Dictionary<CID, [UInt8]>.Keys { blocks.keys }
    /// Total payload size in bytes.
    public var byteCount: Int { blocks.values.reduce(0) { $0 + $1.count } }

    public func makeIterator() -> Dictionary<CID, [UInt8]>.Iterator { blocks.makeIterator() }
}

/// Two block sources read as one: `top` first, then `base`. Used to read a tree whose newest
/// blocks are not persisted yet, or a CAR slice on top of stored history.
public struct LayeredBlockSource: BlockSource {
    /// Consulted first.
    public let top: any BlockSource
    /// Consulted when `top` lacks the block.
    public let base: any BlockSource

    public init(top: any BlockSource, base: any BlockSource) {
        self.top = top
        self.base = base
    }

    public func block(_ cid: CID) throws -> [UInt8]? {
        if let bytes = try top.block(cid) { return bytes }
        return try base.block(cid)
    }
}

/// Verifies that `bytes` hash to `cid` when the CID's hash function is one we can compute
/// (sha2-256; the codec does not affect the digest). Returns false for other hash functions.
func blockMatches(_ cid: CID, _ bytes: [UInt8]) -> Bool? {
    guard cid.hashCode == CID.sha256Code else { return nil }
    return SHA256.hash(bytes)[...] == cid.digest
}
