import ATData

/// What one commit changes, in the shapes the firehose and `getRepo?since` need (https://atproto.com/specs/repository).
public struct RepoDiff: Sendable {
    /// The record operations, in path order (each with `prev` for updates and deletes).
    public let ops: [RepoOp]
    /// MST node blocks new in the newer tree.
    public let newNodes: BlockMap
    /// Node CIDs the newer tree no longer references (candidates for garbage collection).
    public let removedNodes: Set<CID>
    /// The MST nodes a consumer needs to invert `ops`: `newNodes` plus the unchanged nodes on
    /// the covering paths of every changed path (`MST.proofNodes`).
    public let proofNodes: BlockMap
    /// The newer tree's root.
    public let root: CID
    /// The older tree's root (the firehose `prevData`).
    public let previousRoot: CID

    /// The diff from `previous` to `next`.
    public init(from previous: MST, to next: MST) throws {
        var next = next
        var previous = previous
        root = next.finalize().root
        previousRoot = previous.finalize().root
        let diff = try previous.diff(to: next)
        ops = diff.changes.map(RepoOp.init)
        newNodes = diff.newNodes
        removedNodes = diff.removedNodes
        var proof = diff.newNodes
        if !ops.isEmpty { proof.merge(try next.proofNodes(for: ops.map(\.path))) }
        proofNodes = proof
    }

    /// The CAR-slice block set for a commit (https://atproto.com/specs/repository): the commit, `proofNodes`, and the
    /// record blocks of created and updated paths, read from `records`.
    public func sliceBlocks(commit: SignedCommit, records: any BlockSource) throws -> BlockMap {
        var blocks = proofNodes
        blocks.set(commit.cid, commit.bytes)
        for op in ops {
            guard let cid = op.cid else { continue }
            blocks.set(cid, try records.requireBlock(cid))
        }
        return blocks
    }

    /// The CAR slice itself (`roots[0]` = the commit), in memory: it is small (≤ 2 MB on the
    /// firehose).
    public func sliceCAR(commit: SignedCommit, records: any BlockSource) throws -> [UInt8] {
        CARWriter.encode(roots: [commit.cid], blocks: try sliceBlocks(commit: commit, records: records))
    }
}
