import ATCrypto
import ATData

/// A link from an MST node to a subtree: either only its CID (not loaded yet: children are read
/// from the block source on first use) or the node itself, held in memory.
enum MSTLink: Sendable {
    case stub(CID)
    case node(MSTNode)
}

/// One entry of an MST node: a full (decompressed) key, the record CID, and the subtree of keys
/// between this entry and the next (`t` in the wire format).
struct MSTEntry: Sendable {
    var key: [UInt8]
    var value: CID
    var right: MSTLink?
}

/// An immutable MST node (https://atproto.com/specs/repository): `{l, e:[{p,k,v,t}]}` at a known layer.
///
/// Nodes are shared between tree versions (a persistent structure: an edit copies only the path
/// it touches). `cid` is nil for nodes built by an edit and not hashed yet; `MST.finalize` hashes
/// all of them bottom-up in one pass, so a batch of edits hashes each new node once.
///
/// Copy-on-write: a node is mutated in place only while it is uniquely referenced
/// (`isKnownUniquelyReferenced`), which is what makes long batches of inserts cheap; any node
/// reachable from a second tree value or thread has a reference count above one and is copied
/// first. That discipline is why the `@unchecked Sendable` is sound.
final class MSTNode: @unchecked Sendable {
    /// The layer: every key in `entries` has exactly this height; subtrees are one layer lower.
    let layer: Int
    /// Subtree of keys before the first entry.
    var left: MSTLink?
    /// The entries in strictly increasing key order.
    var entries: [MSTEntry]
    /// The node's CID once hashed; nil while the content differs from any hashed state.
    var cid: CID?

    init(layer: Int, left: MSTLink?, entries: [MSTEntry], cid: CID? = nil) {
        self.layer = layer
        self.left = left
        self.entries = entries
        self.cid = cid
    }

    /// True for a node that would encode as `{e:[], l:null}`; such nodes are pruned everywhere
    /// except as the root of the empty tree.
    var isEmpty: Bool { entries.isEmpty && left == nil }

    /// The subtree slot `index` (0 = `l`, i = entries[i-1].t), `0...entries.count`.
    @inline(__always)
    func slot(_ index: Int) -> MSTLink? {
        index == 0 ? left : entries[index - 1].right
    }

    /// Index of the first entry whose key is ≥ `key`, and whether it is equal.
    @inline(__always)
    func search(_ key: [UInt8]) -> (index: Int, found: Bool) {
        // Nodes hold a handful of entries on average (fanout 4), where a linear scan beats
        // binary search; large nodes (unusual key distributions) still get a binary search.
        if entries.count <= 8 {
            for index in entries.indices {
                let order = compareKeys(entries[index].key, key)
                if order >= 0 { return (index, order == 0) }
            }
            return (entries.count, false)
        }
        var low = 0, high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if compareKeys(entries[middle].key, key) < 0 { low = middle + 1 } else { high = middle }
        }
        return (low, low < entries.count && compareKeys(entries[low].key, key) == 0)
    }

    /// Sets slot `index` in place (the caller holds the only reference).
    @inline(__always)
    func setSlot(_ index: Int, _ link: MSTLink?) {
        if index == 0 { left = link } else { entries[index - 1].right = link }
    }

    /// A mutable, unhashed copy.
    func copy() -> MSTNode { MSTNode(layer: layer, left: left, entries: entries) }

    /// A copy with slot `index` replaced.
    func replacingSlot(_ index: Int, with link: MSTLink?) -> MSTNode {
        if index == 0 { return MSTNode(layer: layer, left: link, entries: entries) }
        var entries = entries
        entries[index - 1].right = link
        return MSTNode(layer: layer, left: left, entries: entries)
    }

    /// The canonical DAG-CBOR encoding. Every child must be hashed (`MST.finalize` guarantees it).
    ///
    /// Written with `CBORWriter` directly: map keys are fixed and already in canonical order
    /// ("e" < "l"; "k" < "p" < "t" < "v" — all one byte long).
    func encode() -> [UInt8] {
        var writer = CBORWriter(capacity: 16 + entries.count * 80)
        writer.writeMapHead(count: 2)
        writer.write(text: "e")
        writer.writeArrayHead(count: entries.count)
        var previous: [UInt8] = []
        for entry in entries {
            let shared = commonPrefixLength(previous, entry.key)
            writer.writeMapHead(count: 4)
            writer.write(text: "k")
            writer.write(bytes: entry.key[shared...])
            writer.write(text: "p")
            writer.write(integer: Int64(shared))
            writer.write(text: "t")
            MSTNode.writeLink(entry.right, into: &writer)
            writer.write(text: "v")
            writer.write(link: entry.value)
            previous = entry.key
        }
        writer.write(text: "l")
        MSTNode.writeLink(left, into: &writer)
        return writer.bytes
    }

    private static func writeLink(_ link: MSTLink?, into writer: inout CBORWriter) {
        switch link {
        case nil: writer.writeNull()
        case .stub(let cid): writer.write(link: cid)
        case .node(let node):
            guard let cid = node.cid else { preconditionFailure("MST child encoded before it was hashed") }
            writer.write(link: cid)
        }
    }

    /// Decodes a node block. `layer` is the layer the parent implies (nil for a root, whose layer
    /// is the height of its first key). With `verify`, every key's height is checked against the
    /// layer and every key against the path rules (https://atproto.com/specs/repository "verify on load"); the wire-level
    /// rules (canonical CBOR, field set, link shapes, sort order, maximal prefix compression) are
    /// always enforced because they cost nothing extra.
    static func decode(_ bytes: [UInt8], cid: CID, layer expected: Int?, verify: Bool,
                       limits: MST.Limits) throws -> MSTNode {
        let raw: [MSTNodeReader.RawEntry]
        let left: MSTLink?
        if let fast = MSTNodeReader.read(bytes, maxEntries: limits.maxEntriesPerNode) {
            raw = fast.entries
            left = try fast.left.map(checkedLink)
        } else {
            (raw, left) = try decodeGeneric(bytes, limits: limits)
        }
        var entries: [MSTEntry] = []
        entries.reserveCapacity(raw.count)
        var previous: [UInt8] = []
        for entry in raw {
            guard entry.prefix <= previous.count else { throw RepoError.invalidNode("prefix length \(entry.prefix) out of range") }
            let shared = entry.prefix
            // Mandatory, maximal prefix compression: the suffix must not start with the next
            // byte of the previous key (else p was too small). Keys must strictly increase.
            if shared < previous.count, let first = entry.suffix.first, first == previous[shared] {
                throw RepoError.invalidNode("prefix compression is not maximal")
            }
            var key = Array(previous[..<shared])
            key.append(contentsOf: entry.suffix)
            guard key.count <= RepoPath.maxLength else { throw RepoError.invalidNode("key longer than \(RepoPath.maxLength) bytes") }
            if !entries.isEmpty && compareKeys(previous, key) >= 0 { throw RepoError.invalidNode("keys out of order") }
            entries.append(MSTEntry(key: key, value: entry.value, right: try entry.tree.map(checkedLink)))
            previous = key
        }
        let layer: Int
        if let first = entries.first {
            layer = expected ?? MST.height(of: first.key)
        } else if let expected {
            // An empty non-root node must point down; `{e:[], l:null}` below the root means the
            // bottom was not pruned.
            guard left != nil else { throw RepoError.invalidNode("empty node below the root") }
            layer = expected
        } else {
            // A root with no entries is only valid as the empty tree itself (top is pruned).
            guard left == nil else { throw RepoError.invalidNode("root node with no entries points down (untrimmed top)") }
            layer = 0
        }
        guard layer <= limits.maxLayer else { throw RepoError.limitExceeded("MST layer \(layer) (max \(limits.maxLayer))") }
        if layer == 0 && left != nil { throw RepoError.invalidNode("layer-0 node has a subtree") }
        if verify {
            for entry in entries {
                try RepoPath.validate(bytes: entry.key)
                let height = MST.height(of: entry.key)
                guard height == layer else {
                    throw RepoError.invalidNode("key at layer \(layer) has height \(height)")
                }
                if layer == 0 && entry.right != nil { throw RepoError.invalidNode("layer-0 node has a subtree") }
            }
        } else if layer == 0 && entries.contains(where: { $0.right != nil }) {
            throw RepoError.invalidNode("layer-0 node has a subtree")
        }
        return MSTNode(layer: layer, left: left, entries: entries, cid: cid)
    }

    /// The general path: any DAG-CBOR, with precise errors for every deviation from the shape.
    private static func decodeGeneric(_ bytes: [UInt8], limits: MST.Limits) throws -> ([MSTNodeReader.RawEntry], MSTLink?) {
        let value: DataValue
        do { value = try DAGCBOR.decode(bytes) } catch { throw RepoError.data(error) }
        guard let map = value.mapValue, map.count == 2, let entryValues = map["e"]?.arrayValue, let leftValue = map["l"] else {
            throw RepoError.invalidNode("expected exactly the fields e and l")
        }
        guard entryValues.count <= limits.maxEntriesPerNode else {
            throw RepoError.limitExceeded("MST node with \(entryValues.count) entries (max \(limits.maxEntriesPerNode))")
        }
        var entries: [MSTNodeReader.RawEntry] = []
        for entryValue in entryValues {
            guard let fields = entryValue.mapValue, fields.count == 4,
                  let suffix = fields["k"]?.bytesValue, let prefix = fields["p"]?.integerValue,
                  let tree = fields["t"], let value = fields["v"]?.linkValue
            else { throw RepoError.invalidNode("entry must have exactly k (bytes), p (int), t, v (link)") }
            guard prefix >= 0, prefix <= Int64(RepoPath.maxLength) else { throw RepoError.invalidNode("prefix length \(prefix) out of range") }
            let treeCID: CID?
            switch tree {
            case .null: treeCID = nil
            case .link(let cid): treeCID = cid
            default: throw RepoError.invalidNode("subtree link must be a CID or null")
            }
            entries.append(.init(prefix: Int(prefix), suffix: suffix[...], tree: treeCID, value: value))
        }
        switch leftValue {
        case .null: return (entries, nil)
        case .link(let cid): return (entries, try checkedLink(cid))
        default: throw RepoError.invalidNode("subtree link must be a CID or null")
        }
    }

    /// Node→node links must be blessed dag-cbor CIDs (https://atproto.com/specs/data-model strictness).
    private static func checkedLink(_ cid: CID) throws -> MSTLink {
        guard cid.isBlessed, cid.codec == CID.Codec.dagCBOR else {
            throw RepoError.invalidNode("subtree link \(cid) is not a dag-cbor sha2-256 CID")
        }
        return .stub(cid)
    }
}

/// Three-way bytewise comparison of keys (MST entries sort by raw bytes, https://atproto.com/specs/repository).
@inline(__always)
func compareKeys(_ lhs: [UInt8], _ rhs: [UInt8]) -> Int {
    lhs.withUnsafeBufferPointer { left in
        rhs.withUnsafeBufferPointer { right in
            let count = min(left.count, right.count)
            var index = 0
            while index < count {
                let a = left[index], b = right[index]
                if a != b { return a < b ? -1 : 1 }
                index += 1
            }
            return left.count == right.count ? 0 : (left.count < right.count ? -1 : 1)
        }
    }
}

/// Length of the common byte prefix (the `p` of prefix compression; vectors: mst/common_prefix.json).
@inline(__always)
func commonPrefixLength(_ lhs: [UInt8], _ rhs: [UInt8]) -> Int {
    let count = min(lhs.count, rhs.count)
    var index = 0
    while index < count && lhs[index] == rhs[index] { index += 1 }
    return index
}
