import ATData

extension MST {
    /// The node blocks that prove the presence or absence of each of `paths` and let a holder of
    /// only these blocks insert or delete those paths (https://atproto.com/specs/repository, sync 1.1).
    ///
    /// For each path: every node on the search path from the root down to the bottom layer (a
    /// delete's inverse, an insert, splits along that path), and where the path is present, the
    /// innermost spines of its two neighbouring subtrees (an insert's inverse, a delete, merges
    /// them). The same set serves as the MST part of a `getRecord` proof.
    ///
    /// `known` holds blocks the caller already has encoded (the new nodes `finalize()` returned):
    /// those nodes are taken from it instead of being encoded again.
    public func proofNodes(for paths: some Sequence<String>, known: BlockMap = BlockMap()) throws -> BlockMap {
        var tree = self
        tree.finalize()
        var blocks = BlockMap()
        guard let root = tree.root else {
            blocks.set(MST.emptyRootCID, MST.emptyNodeBytes)
            return blocks
        }
        let loader = tree.loader
        func visit(_ link: MSTLink, layer: Int) throws -> MSTNode {
            if case .node(let node) = link, let cid = node.cid, let bytes = known[cid] {
                blocks.set(cid, bytes)
                return node
            }
            let (node, bytes) = try loader.nodeAndBytes(link, layer: layer)
            blocks.set(link.cid, bytes)
            return node
        }
        for path in paths {
            let key = Array(path.utf8)
            var link: MSTLink? = .node(root)
            var layer = root.layer
            while let current = link {
                let node = try visit(current, layer: layer)
                let (index, found) = node.search(key)
                if found {
                    var spine = node.slot(index), spineLayer = layer - 1
                    while let next = spine {
                        let child = try visit(next, layer: spineLayer)
                        spine = child.slot(child.entries.count)
                        spineLayer -= 1
                    }
                    spine = node.entries[index].right
                    spineLayer = layer - 1
                    while let next = spine {
                        let child = try visit(next, layer: spineLayer)
                        spine = child.left
                        spineLayer -= 1
                    }
                    break
                }
                link = node.slot(index)
                layer -= 1
            }
        }
        return blocks
    }
}
