import ATCrypto
import ATData

/// A Merkle Search Tree, repository format v3 (https://atproto.com/specs/repository): the ordered map from repository path
/// to record CID whose root CID a commit signs.
///
/// `MST` is a value: edits return nothing but change this value only, sharing every untouched
/// node with earlier versions. Subtrees are read from `store` on first use, so opening a large
/// stored tree costs one block read. Edits leave new nodes unhashed; `finalize()` hashes them in
/// one bottom-up pass and returns their blocks for the caller to persist, which is what makes bulk
/// inserts cheap.
public struct MST: Sendable {
    /// Defensive bounds applied when loading nodes (https://atproto.com/specs/repository: "limit entries per node and tree
    /// depth; key mining attacks exist").
    public struct Limits: Sendable {
        /// Most entries in one node. With fanout 4 real nodes hold a few dozen at most.
        public var maxEntriesPerNode: Int
        /// Highest layer (tree depth). A height-32 key needs 2^64 hashes to mine.
        public var maxLayer: Int

        public init(maxEntriesPerNode: Int = 1024, maxLayer: Int = 32) {
            self.maxEntriesPerNode = maxEntriesPerNode
            self.maxLayer = maxLayer
        }

        /// The default bounds.
        public static let `default` = Limits()
    }

    /// The CID of the empty tree, the node `{e:[], l:null}` (https://atproto.com/specs/repository, verified vector).
    public static let emptyRootCID = CID.dagCBOR(hashing: emptyNodeBytes)
    /// The bytes of the empty tree's node.
    public static let emptyNodeBytes: [UInt8] = [0xa2, 0x61, 0x65, 0x80, 0x61, 0x6c, 0xf6]

    /// Where stubs (not yet loaded subtrees) are read from.
    public let store: any BlockSource
    /// Whether nodes read from `store` are fully verified (key heights, path syntax, CID hashes).
    public let verifiesOnLoad: Bool
    /// Loading bounds.
    public let limits: Limits
    /// Decoded nodes shared across loads (the server's writer), or nil to decode every load.
    public let cache: MSTNodeCache?
    /// The root node, nil for the empty tree.
    var root: MSTNode?

    /// An empty tree.
    public init(store: any BlockSource = BlockMap(), verifiesOnLoad: Bool = false, limits: Limits = .default,
                cache: MSTNodeCache? = nil) {
        self.store = store
        self.verifiesOnLoad = verifiesOnLoad
        self.limits = limits
        self.cache = cache
        root = nil
    }

    /// Opens the tree rooted at `root`, reading its root node now and the rest on demand.
    ///
    /// `verifiesOnLoad` should be true for anything received from elsewhere (imports, firehose
    /// slices); for the server's own stored blocks it can be false.
    public init(root: CID, store: any BlockSource, verifiesOnLoad: Bool = true, limits: Limits = .default,
                cache: MSTNodeCache? = nil) throws {
        self.store = store
        self.verifiesOnLoad = verifiesOnLoad
        self.limits = limits
        self.cache = cache
        guard root.isBlessed, root.codec == CID.Codec.dagCBOR else { throw RepoError.invalidNode("root \(root) is not a dag-cbor sha2-256 CID") }
        if root == MST.emptyRootCID {
            self.root = nil
        } else {
            let node = try MSTLoader(store: store, verify: verifiesOnLoad, limits: limits, cache: cache).load(cid: root, layer: nil)
            self.root = node.isEmpty ? nil : node
        }
    }

    /// Builds a tree from unordered entries in one pass (no per-insert copying); much faster than
    /// repeated inserts for imports and fixtures. Throws on invalid paths or duplicate paths.
    public init<Entries: Sequence>(entries: Entries, store: any BlockSource = BlockMap(), limits: Limits = .default) throws
    where Entries.Element == (String, CID) {
        self.init(store: store, verifiesOnLoad: false, limits: limits)
        var items: [(key: [UInt8], value: CID, height: Int)] = []
        for (path, cid) in entries {
            let key = Array(path.utf8)
            try RepoPath.validate(bytes: key)
            items.append((key, cid, MST.height(of: key)))
        }
        items.sort { compareKeys($0.key, $1.key) < 0 }
        for index in items.indices.dropFirst() where compareKeys(items[index - 1].key, items[index].key) == 0 {
            throw RepoError.conflict("duplicate path \(String(decoding: items[index].key, as: UTF8.self))")
        }
        guard let top = items.map(\.height).max() else { return }
        root = MST.build(items[...], layer: top)
    }

    /// Height of an MST key: leading zero bits of SHA-256(key), halved (fanout 4; https://atproto.com/specs/repository,
    /// vectors mst/key_heights.json).
    public static func height(of key: [UInt8]) -> Int {
        let digest = SHA256.hash(key)
        var zeros = 0
        for byte in digest {
            if byte == 0 { zeros += 8; continue }
            zeros += byte.leadingZeroBitCount
            break
        }
        return zeros / 2
    }

    /// Height of the path `key`.
    public static func height(of key: String) -> Int { height(of: Array(key.utf8)) }

    /// True for the empty tree.
    public var isEmpty: Bool { root == nil }

    // MARK: Reading

    /// The record CID stored at `path`, or nil.
    public func get(_ path: String) throws -> CID? {
        let key = Array(path.utf8)
        let loader = self.loader
        var node = root
        while let current = node {
            let (index, found) = current.search(key)
            if found { return current.entries[index].value }
            guard let slot = current.slot(index) else { return nil }
            node = try loader.node(slot, layer: current.layer - 1)
        }
        return nil
    }

    var loader: MSTLoader { MSTLoader(store: store, verify: verifiesOnLoad, limits: limits, cache: cache) }

    // MARK: Writing

    /// Sets `path` to `cid` (create or update) and returns the previous CID, if any.
    @discardableResult
    public mutating func set(_ path: String, _ cid: CID) throws -> CID? {
        let key = Array(path.utf8)
        try RepoPath.validate(bytes: key)
        return try put(key: key, value: cid)
    }

    /// Creates `path`; throws `RepoError.conflict` if it exists.
    public mutating func insert(_ path: String, _ cid: CID) throws {
        guard try get(path) == nil else { throw RepoError.conflict("\(path) already exists") }
        try set(path, cid)
    }

    /// Replaces the CID at an existing `path` and returns the old one; throws if absent.
    @discardableResult
    public mutating func update(_ path: String, _ cid: CID) throws -> CID {
        guard try get(path) != nil else { throw RepoError.conflict("\(path) does not exist") }
        return try set(path, cid)!
    }

    /// Removes `path` and returns its CID, or nil when it was absent (the tree is unchanged).
    @discardableResult
    public mutating func remove(_ path: String) throws -> CID? {
        let key = Array(path.utf8)
        guard let current = root else { return nil }
        let loader = self.loader
        guard let (newRoot, old) = try MST.remove(key, height: MST.height(of: key), from: current, loader: loader) else { return nil }
        root = try MST.trimTop(newRoot, loader: loader)
        return old
    }

    /// Deletes `path` and returns its CID; throws if absent.
    @discardableResult
    public mutating func delete(_ path: String) throws -> CID {
        guard let old = try remove(path) else { throw RepoError.conflict("\(path) does not exist") }
        return old
    }

    mutating func put(key: [UInt8], value: CID) throws -> CID? {
        let height = MST.height(of: key)
        guard height <= limits.maxLayer else { throw RepoError.limitExceeded("key height \(height)") }
        let loader = self.loader
        guard let rootLayer = root?.layer else {
            root = MSTNode(layer: height, left: nil, entries: [MSTEntry(key: key, value: value, right: nil)])
            return nil
        }
        if height > rootLayer {
            let current = root!
            // The key belongs above the current root: split the whole tree around it and lift
            // both halves through empty intermediate nodes so no link skips a layer.
            let (low, high) = try MST.split(current, around: key, loader: loader)
            let left = MST.lift(low, from: current.layer, to: height - 1)
            let right = MST.lift(high, from: current.layer, to: height - 1)
            root = MSTNode(layer: height, left: left, entries: [MSTEntry(key: key, value: value, right: right)])
            return nil
        }
        // Edit in place where nodes are not shared (see MSTNode): move the root out of `self`
        // so a tree value that owns it alone sees a reference count of one.
        var node = root.take()!
        defer { root = node }
        return try MST.put(key, height: height, value: value, into: &node, loader: loader)
    }

    // MARK: Tree algorithms
    //
    // `put` edits uniquely referenced nodes in place (copying shared ones first); the others are
    // persistent and build new nodes. All of them do their throwing work (block loads) before
    // changing anything, so a missing block leaves the tree as it was.

    /// Makes `node` safe to mutate: copied if shared, and marked unhashed.
    @inline(__always)
    static func makeMutable(_ node: inout MSTNode) {
        if !isKnownUniquelyReferenced(&node) { node = node.copy() }
        node.cid = nil
    }

    static func put(_ key: [UInt8], height: Int, value: CID, into node: inout MSTNode,
                    loader: MSTLoader) throws -> CID? {
        let (index, found) = node.search(key)
        if height == node.layer {
            if found {
                let old = node.entries[index].value
                if old == value { return old }
                makeMutable(&node)
                node.entries[index].value = value
                return old
            }
            // New key at this layer: the subtree it lands in splits around it.
            var low: MSTLink?, high: MSTLink?
            if let slot = node.slot(index) {
                let (l, h) = try split(try loader.node(slot, layer: node.layer - 1), around: key, loader: loader)
                low = l.map(MSTLink.node)
                high = h.map(MSTLink.node)
            }
            makeMutable(&node)
            node.setSlot(index, low)
            node.entries.insert(MSTEntry(key: key, value: value, right: high), at: index)
            return nil
        }
        guard !found else { throw RepoError.invalidNode("key found at layer \(node.layer) but its height is \(height)") }
        guard node.slot(index) != nil else {
            makeMutable(&node)
            node.setSlot(index, .node(chain(key, height: height, value: value, layer: node.layer - 1)))
            return nil
        }
        var child = try loader.node(node.slot(index)!, layer: node.layer - 1)
        makeMutable(&node)
        // Detach the child so that, if this tree alone holds it, it too is edited in place.
        node.setSlot(index, nil)
        defer { node.setSlot(index, .node(child)) }
        return try put(key, height: height, value: value, into: &child, loader: loader)
    }

    /// A fresh subtree at `layer` holding one key of `height` ≤ layer: empty intermediate nodes
    /// down to the key's own layer.
    static func chain(_ key: [UInt8], height: Int, value: CID, layer: Int) -> MSTNode {
        if layer == height { return MSTNode(layer: layer, left: nil, entries: [MSTEntry(key: key, value: value, right: nil)]) }
        return MSTNode(layer: layer, left: .node(chain(key, height: height, value: value, layer: layer - 1)), entries: [])
    }

    /// Wraps `node` (at `layer`) in empty intermediate nodes up to `target`.
    static func lift(_ node: MSTNode?, from layer: Int, to target: Int) -> MSTLink? {
        guard var node else { return nil }
        var layer = layer
        while layer < target {
            layer += 1
            node = MSTNode(layer: layer, left: .node(node), entries: [])
        }
        return .node(node)
    }

    /// Splits a subtree into the keys below and above `key` (which it must not contain); both
    /// halves stay at the node's layer, and halves with nothing in them are pruned (nil).
    static func split(_ node: MSTNode, around key: [UInt8], loader: MSTLoader) throws -> (MSTNode?, MSTNode?) {
        let (index, found) = node.search(key)
        guard !found else { throw RepoError.invalidNode("split key already present") }
        var low: MSTLink?, high: MSTLink?
        if let slot = node.slot(index) {
            let (l, h) = try split(try loader.node(slot, layer: node.layer - 1), around: key, loader: loader)
            low = l.map(MSTLink.node)
            high = h.map(MSTLink.node)
        }
        var lowEntries = Array(node.entries[..<index])
        let lowLeft: MSTLink?
        if index == 0 { lowLeft = low } else { lowLeft = node.left; lowEntries[index - 1].right = low }
        let lowNode = MSTNode(layer: node.layer, left: lowLeft, entries: lowEntries)
        let highNode = MSTNode(layer: node.layer, left: high, entries: Array(node.entries[index...]))
        return (lowNode.isEmpty ? nil : lowNode, highNode.isEmpty ? nil : highNode)
    }

    /// Removes `key`; nil when absent. The resulting node is nil when nothing is left in it.
    static func remove(_ key: [UInt8], height: Int, from node: MSTNode, loader: MSTLoader) throws -> (MSTNode?, CID)? {
        let (index, found) = node.search(key)
        let result: MSTNode
        let old: CID
        if height == node.layer {
            guard found else { return nil }
            old = node.entries[index].value
            // The subtrees either side of the removed entry become adjacent: merge them.
            let merged = try merge(node.slot(index), node.entries[index].right, layer: node.layer - 1, loader: loader)
            var entries = node.entries
            entries.remove(at: index)
            var left = node.left
            if index == 0 { left = merged } else { entries[index - 1].right = merged }
            result = MSTNode(layer: node.layer, left: left, entries: entries)
        } else {
            guard height < node.layer, let slot = node.slot(index) else { return nil }
            guard let (child, value) = try remove(key, height: height, from: try loader.node(slot, layer: node.layer - 1), loader: loader) else { return nil }
            old = value
            result = node.replacingSlot(index, with: child.map(MSTLink.node))
        }
        return (result.isEmpty ? nil : result, old)
    }

    /// Concatenates two adjacent subtrees at `layer` (every key of `a` below every key of `b`).
    static func merge(_ a: MSTLink?, _ b: MSTLink?, layer: Int, loader: MSTLoader) throws -> MSTLink? {
        guard let a else { return b }
        guard let b else { return a }
        let low = try loader.node(a, layer: layer), high = try loader.node(b, layer: layer)
        let seam = try merge(low.slot(low.entries.count), high.left, layer: layer - 1, loader: loader)
        var entries = low.entries
        var left = low.left
        if entries.isEmpty { left = seam } else { entries[entries.count - 1].right = seam }
        entries.append(contentsOf: high.entries)
        return .node(MSTNode(layer: layer, left: left, entries: entries))
    }

    /// Prunes the top (https://atproto.com/specs/repository): a root with no entries is replaced by its only subtree.
    static func trimTop(_ node: MSTNode?, loader: MSTLoader) throws -> MSTNode? {
        var node = node
        while let current = node, current.entries.isEmpty {
            guard let left = current.left else { return nil }
            node = try loader.node(left, layer: current.layer - 1)
        }
        return node
    }

    /// Builds the subtree at `layer` for sorted `items`, all of height ≤ layer (batch build).
    static func build(_ items: ArraySlice<(key: [UInt8], value: CID, height: Int)>, layer: Int) -> MSTNode {
        var entries: [MSTEntry] = []
        var left: MSTLink?
        var start = items.startIndex
        func subtree(_ range: Range<Int>) -> MSTLink? {
            range.isEmpty ? nil : .node(build(items[range], layer: layer - 1))
        }
        for index in items.indices where items[index].height == layer {
            let below = subtree(start..<index)
            if entries.isEmpty { left = below } else { entries[entries.count - 1].right = below }
            entries.append(MSTEntry(key: items[index].key, value: items[index].value, right: nil))
            start = index + 1
        }
        let below = subtree(start..<items.endIndex)
        if entries.isEmpty { left = below } else { entries[entries.count - 1].right = below }
        return MSTNode(layer: layer, left: left, entries: entries)
    }

    // MARK: Hashing

    /// Hashes every node changed since the last call and returns the root CID with the blocks of
    /// those nodes (CID → canonical bytes), which the caller persists.
    ///
    /// Nodes that happen to re-create an existing block (an insert undone by a delete) are
    /// returned too; storing them again is harmless. `RepoDiff` gives the exact new-node set.
    @discardableResult
    public mutating func finalize() -> (root: CID, newBlocks: BlockMap) {
        var blocks = BlockMap()
        guard root != nil else {
            blocks.set(MST.emptyRootCID, MST.emptyNodeBytes)
            return (MST.emptyRootCID, blocks)
        }
        var node = root.take()!
        MST.hash(&node, into: &blocks)
        root = node
        return (node.cid!, blocks)
    }

    /// The root CID. Cheap when the tree is finalized; otherwise it hashes the changed nodes
    /// without keeping the result (call `finalize()` to keep it).
    public var rootCID: CID {
        guard let current = root else { return MST.emptyRootCID }
        if let cid = current.cid { return cid }
        var scratch = BlockMap()
        return MST.hash(current, into: &scratch).cid!
    }

    static func hash(_ node: MSTNode, into blocks: inout BlockMap) -> MSTNode {
        var node = node
        hash(&node, into: &blocks)
        return node
    }

    /// Hashes `node` and its unhashed descendants, in place where not shared.
    static func hash(_ node: inout MSTNode, into blocks: inout BlockMap) {
        if node.cid != nil { return }
        if !isKnownUniquelyReferenced(&node) { node = node.copy() }
        if case .node(var child)? = node.left, child.cid == nil {
            node.left = nil
            hash(&child, into: &blocks)
            node.left = .node(child)
        }
        for index in node.entries.indices {
            if case .node(var child)? = node.entries[index].right, child.cid == nil {
                node.entries[index].right = nil
                hash(&child, into: &blocks)
                node.entries[index].right = .node(child)
            }
        }
        let bytes = node.encode()
        let cid = CID.dagCBOR(hashing: bytes)
        blocks.set(cid, bytes)
        node.cid = cid
    }
}

/// Reads nodes for the tree algorithms: returns in-memory nodes directly and decodes stubs from
/// the block source (verifying them when asked).
struct MSTLoader {
    let store: any BlockSource
    let verify: Bool
    let limits: MST.Limits
    /// Decoded nodes by CID (nil: decode every time).
    var cache: MSTNodeCache? = nil

    @inline(__always)
    func node(_ link: MSTLink, layer: Int) throws -> MSTNode {
        switch link {
        case .node(let node): return node
        case .stub(let cid): return try load(cid: cid, layer: layer)
        }
    }

    func load(cid: CID, layer: Int?) throws -> MSTNode {
        if let layer, layer < 0 { throw RepoError.invalidNode("subtree below layer 0") }
        // A cached node was decoded (and checked) for the same tree; its layer must still be the
        // one this link implies.
        if let cache, let node = cache.node(cid), layer == nil || node.layer == layer { return node }
        let bytes = try store.requireBlock(cid)
        if verify, blockMatches(cid, bytes) != true { throw RepoError.cidMismatch(cid) }
        let node = try MSTNode.decode(bytes, cid: cid, layer: layer, verify: verify, limits: limits)
        cache?.insert(node)
        return node
    }

    /// The node and its bytes (for diffs and proofs, which hand blocks on).
    func nodeAndBytes(_ link: MSTLink, layer: Int?) throws -> (MSTNode, [UInt8]) {
        switch link {
        case .node(let node): return (node, node.encode())
        case .stub(let cid):
            if let layer, layer < 0 { throw RepoError.invalidNode("subtree below layer 0") }
            let bytes = try store.requireBlock(cid)
            if verify, blockMatches(cid, bytes) != true { throw RepoError.cidMismatch(cid) }
            return (try MSTNode.decode(bytes, cid: cid, layer: layer, verify: verify, limits: limits), bytes)
        }
    }
}
