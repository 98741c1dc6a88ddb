import ATData

extension MST {
    /// The node CIDs of `old` that this tree (its successor, just finalized) no longer holds: what
    /// a store can delete once the new tree is its only root. `newNodes` is what `finalize()`
    /// returned for this tree.
    ///
    /// Cost follows the change, not the tree: a node of the new tree is either new (in `newNodes`)
    /// or an unchanged node of the old one, and every node below an unchanged node is unchanged
    /// too. So the walk of the new tree stops at the first old node on each branch (the
    /// "frontier"), and the walk of the old tree stops at any node the new tree holds; only the
    /// old nodes on changed paths are visited (loaded from `old.store` when they are stubs).
    ///
    /// A node kept or re-created with identical content (same CID) is never reported: node CIDs
    /// are unique within a tree (a node's content is its keys, and keys are unique), so CID
    /// equality is the whole test.
    public func nodesRemoved(since old: MST, newNodes: BlockMap) throws -> [CID] {
        var live = Set<CID>()
        if let root {
            guard root.cid != nil else { preconditionFailure("nodesRemoved(since:) on an unfinalized tree") }
            var stack: [MSTLink] = [.node(root)]
            while let link = stack.popLast() {
                let cid = link.cid
                guard live.insert(cid).inserted else { continue }
                // Only new nodes are walked into: below an old node everything is old and kept.
                guard newNodes.contains(cid), case .node(let node) = link else { continue }
                if let left = node.left { stack.append(left) }
                for entry in node.entries { if let right = entry.right { stack.append(right) } }
            }
        } else {
            live.insert(MST.emptyRootCID)
        }

        guard let oldRoot = old.root else {
            return live.contains(MST.emptyRootCID) ? [] : [MST.emptyRootCID]
        }
        guard oldRoot.cid != nil else { preconditionFailure("nodesRemoved(since:) from an unfinalized tree") }
        var removed: [CID] = []
        let loader = old.loader
        var stack: [(MSTLink, Int)] = [(.node(oldRoot), oldRoot.layer)]
        while let (link, layer) = stack.popLast() {
            let cid = link.cid
            if live.contains(cid) { continue }
            removed.append(cid)
            let node = try loader.node(link, layer: layer)
            if let left = node.left { stack.append((left, layer - 1)) }
            for entry in node.entries { if let right = entry.right { stack.append((right, layer - 1)) } }
        }
        return removed
    }

    /// Every block the tree references: its node CIDs and the record CIDs of its entries (each
    /// once), read from `store` as needed. For a one-time sweep of stored blocks that no commit
    /// reaches any more; the whole tree is walked.
    public func reachableBlocks() throws -> (nodes: Set<CID>, records: Set<CID>) {
        var tree = self
        tree.finalize()
        guard let root = tree.root else { return ([MST.emptyRootCID], []) }
        var nodes = Set<CID>(), records = Set<CID>()
        let loader = tree.loader
        var stack: [(MSTLink, Int)] = [(.node(root), root.layer)]
        while let (link, layer) = stack.popLast() {
            guard nodes.insert(link.cid).inserted else { continue }
            let node = try loader.node(link, layer: layer)
            if let left = node.left { stack.append((left, layer - 1)) }
            for entry in node.entries {
                records.insert(entry.value)
                if let right = entry.right { stack.append((right, layer - 1)) }
            }
        }
        return (nodes, records)
    }
}
