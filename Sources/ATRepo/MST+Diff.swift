import ATData

/// One path whose record CID differs between two trees.
public struct MSTChange: Sendable, Hashable {
    /// The repository path.
    public var path: String
    /// The CID in the older tree (nil: created).
    public var old: CID?
    /// The CID in the newer tree (nil: deleted).
    public var new: CID?

    public init(path: String, old: CID?, new: CID?) {
        self.path = path
        self.old = old
        self.new = new
    }
}

/// The difference between two trees: changed paths and changed nodes.
public struct MSTDiff: Sendable {
    /// Changed paths in key order.
    public var changes: [MSTChange]
    /// Node blocks of the newer tree that the older tree does not have ("MST nodes new in this
    /// rev", https://atproto.com/specs/repository).
    public var newNodes: BlockMap
    /// Node CIDs of the older tree that the newer tree no longer references.
    public var removedNodes: Set<CID>
}

extension MST {
    /// The difference from `self` (older) to `other` (newer).
    ///
    /// Walks both trees in key order at once and skips every pair of subtrees with equal CIDs,
    /// so the cost is proportional to the change, not the tree (except against an empty tree).
    public func diff(to other: MST) throws -> MSTDiff {
        var older = self, newer = other
        let (olderRoot, _) = older.finalize()
        let (newerRoot, _) = newer.finalize()
        var changes: [MSTChange] = []
        var a = DiffWalker(tree: older), b = DiffWalker(tree: newer)
        if olderRoot == newerRoot { return MSTDiff(changes: [], newNodes: BlockMap(), removedNodes: []) }
        while true {
            switch (a.stack.last, b.stack.last) {
            case (nil, nil):
                var newNodes = BlockMap()
                for (cid, bytes) in b.expanded where a.expanded[cid] == nil { newNodes.set(cid, bytes) }
                var removed = Set<CID>()
                for cid in a.expanded.keys where b.expanded[cid] == nil { removed.insert(cid) }
                // The empty tree's node is a real block: account for it at either end.
                if newer.root == nil { newNodes.set(MST.emptyRootCID, MST.emptyNodeBytes) }
                if older.root == nil { removed.insert(MST.emptyRootCID) }
                return MSTDiff(changes: changes, newNodes: newNodes, removedNodes: removed)
            case (nil, .leaf(let key, let value)?):
                changes.append(MSTChange(path: String(decoding: key, as: UTF8.self), old: nil, new: value))
                b.stack.removeLast()
            case (nil, .tree?):
                try b.expandTop()
            case (.leaf(let key, let value)?, nil):
                changes.append(MSTChange(path: String(decoding: key, as: UTF8.self), old: value, new: nil))
                a.stack.removeLast()
            case (.tree?, nil):
                try a.expandTop()
            case (.tree(_, let layerA, let cidA)?, .tree(_, let layerB, let cidB)?):
                if cidA == cidB {
                    a.stack.removeLast()
                    b.stack.removeLast()
                } else if layerA > layerB {
                    try a.expandTop()
                } else if layerB > layerA {
                    try b.expandTop()
                } else {
                    try a.expandTop()
                    try b.expandTop()
                }
            case (.tree?, .leaf?):
                try a.expandTop()
            case (.leaf?, .tree?):
                try b.expandTop()
            case (.leaf(let keyA, let valueA)?, .leaf(let keyB, let valueB)?):
                let order = compareKeys(keyA, keyB)
                if order == 0 {
                    if valueA != valueB {
                        changes.append(MSTChange(path: String(decoding: keyA, as: UTF8.self), old: valueA, new: valueB))
                    }
                    a.stack.removeLast()
                    b.stack.removeLast()
                } else if order < 0 {
                    changes.append(MSTChange(path: String(decoding: keyA, as: UTF8.self), old: valueA, new: nil))
                    a.stack.removeLast()
                } else {
                    changes.append(MSTChange(path: String(decoding: keyB, as: UTF8.self), old: nil, new: valueB))
                    b.stack.removeLast()
                }
            }
        }
    }
}

/// An in-order cursor over a finalized tree whose pending items are leaves or unexpanded
/// subtrees; expanded nodes are remembered with their bytes.
private struct DiffWalker {
    enum Item {
        case leaf([UInt8], CID)
        case tree(MSTLink, layer: Int, cid: CID)
    }

    /// Pending items, next item last.
    var stack: [Item] = []
    var expanded: [CID: [UInt8]] = [:]
    let loader: MSTLoader

    init(tree: MST) {
        loader = tree.loader
        if let root = tree.root { stack.append(.tree(.node(root), layer: root.layer, cid: root.cid!)) }
    }

    mutating func expandTop() throws {
        guard case .tree(let link, let layer, let cid) = stack.removeLast() else { return }
        let (node, bytes) = try loader.nodeAndBytes(link, layer: layer)
        expanded[cid] = bytes
        for entry in node.entries.reversed() {
            if let right = entry.right { stack.append(.tree(right, layer: layer - 1, cid: right.cid)) }
            stack.append(.leaf(entry.key, entry.value))
        }
        if let left = node.left { stack.append(.tree(left, layer: layer - 1, cid: left.cid)) }
    }
}

extension MSTLink {
    /// The linked node's CID (in-memory nodes must be hashed).
    var cid: CID {
        switch self {
        case .stub(let cid): return cid
        case .node(let node):
            guard let cid = node.cid else { preconditionFailure("MST link to an unhashed node") }
            return cid
        }
    }
}
