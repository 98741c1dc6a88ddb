import ATData

/// Full-repository CAR export in the preferred streamable order (https://atproto.com/specs/repository): the commit first,
/// then a pre-order walk of the MST with each child node at its slot and each record block right
/// after its entry. A consumer can then verify and process the stream as it arrives.
public enum RepoExport {
    /// Writes `commit`, every node of `tree` (which must be the tree at `commit.commit.data`) and
    /// every record, read from `records`. With `deduplicateRecords`, a record block shared by
    /// several paths is written once; without it memory stays constant however large the
    /// repository (CAR readers must tolerate duplicate blocks, https://atproto.com/specs/repository).
    public static func write(commit: SignedCommit, tree: MST, records: any BlockSource, to writer: inout CARWriter,
                             deduplicateRecords: Bool = true) throws {
        var tree = tree
        guard tree.finalize().root == commit.commit.data else {
            throw RepoError.invalidCommit("the tree's root is not the commit's data")
        }
        try writer.write(cid: commit.cid, bytes: commit.bytes)
        guard let root = tree.root else {
            try writer.write(cid: MST.emptyRootCID, bytes: MST.emptyNodeBytes)
            return
        }
        var written = Set<CID>()
        let loader = tree.loader
        func visit(_ link: MSTLink, layer: Int) throws {
            let (node, bytes) = try loader.nodeAndBytes(link, layer: layer)
            try writer.write(cid: link.cid, bytes: bytes)
            if let left = node.left { try visit(left, layer: layer - 1) }
            for entry in node.entries {
                if !deduplicateRecords || written.insert(entry.value).inserted {
                    try writer.write(cid: entry.value, bytes: try records.requireBlock(entry.value))
                }
                if let right = entry.right { try visit(right, layer: layer - 1) }
            }
        }
        try visit(.node(root), layer: root.layer)
    }

    /// Streams the repository whose commit block is `commit` from `store` (commit, nodes and
    /// records all read from it) to `sink` in chunks.
    public static func stream(commit: SignedCommit, store: any BlockSource, chunkSize: Int = 64 * 1024,
                              deduplicateRecords: Bool = true, sink: @escaping ([UInt8]) throws -> Void) throws {
        let tree = try MST(root: commit.commit.data, store: store, verifiesOnLoad: false)
        var writer = CARWriter(roots: [commit.cid], chunkSize: chunkSize, sink: sink)
        try write(commit: commit, tree: tree, records: store, to: &writer, deduplicateRecords: deduplicateRecords)
        try writer.finish()
    }
}
