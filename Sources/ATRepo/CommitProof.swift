import ATData

/// Sync 1.1 operation inversion (https://atproto.com/specs/repository): what a relay does to check that a commit's
/// CAR slice and ops really transform the previous tree (`prevData`) into the new one.
public enum CommitProof {
    /// Loads the (partial) tree `root` from `blocks`, applies the inverse of every op
    /// (create→delete, update→set(prev), delete→create(prev)), and returns the resulting root.
    ///
    /// Each inverse is checked against the tree: a created or updated path must currently hold
    /// the op's `cid`, a deleted path must be absent. Missing blocks surface as
    /// `RepoError.missingBlock`: the slice did not carry what inversion needs.
    public static func invert(_ ops: [RepoOp], root: CID, blocks: any BlockSource,
                              limits: MST.Limits = .default) throws -> CID {
        var seen = Set<String>()
        for op in ops where !seen.insert(op.path).inserted {
            throw RepoError.inversionFailed("more than one op for \(op.path)")
        }
        var tree = try MST(root: root, store: blocks, verifiesOnLoad: true, limits: limits)
        for op in ops {
            try RepoPath.validate(op.path)
            let current = try tree.get(op.path)
            switch op.action {
            case .create:
                guard op.prev == nil else { throw RepoError.inversionFailed("create of \(op.path) has a prev") }
                guard let cid = op.cid, current == cid else { throw RepoError.inversionFailed("created \(op.path) is not in the new tree with its cid") }
                try tree.delete(op.path)
            case .update:
                guard let cid = op.cid, current == cid else { throw RepoError.inversionFailed("updated \(op.path) is not in the new tree with its cid") }
                guard let prev = op.prev else { throw RepoError.inversionFailed("update of \(op.path) without prev") }
                try tree.set(op.path, prev)
            case .delete:
                guard op.cid == nil else { throw RepoError.inversionFailed("delete of \(op.path) has a cid") }
                guard current == nil else { throw RepoError.inversionFailed("deleted \(op.path) is still in the new tree") }
                guard let prev = op.prev else { throw RepoError.inversionFailed("delete of \(op.path) without prev") }
                try tree.set(op.path, prev)
            }
        }
        return tree.finalize().root
    }

    /// Throws `RepoError.inversionFailed` unless inverting `ops` on `root` gives `prevData`.
    public static func verify(_ ops: [RepoOp], root: CID, prevData: CID, blocks: any BlockSource,
                              limits: MST.Limits = .default) throws {
        let computed = try invert(ops, root: root, blocks: blocks, limits: limits)
        guard computed == prevData else {
            throw RepoError.inversionFailed("inverted root \(computed) does not match prevData \(prevData)")
        }
    }
}
