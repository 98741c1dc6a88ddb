import ATRepo
import ATSyntax
import PDSStore

extension RepoWriter {
    /// Takes `commit` (just stored by an import, on the writer connection) as the head, so the
    /// next write starts from the imported tree. Nodes load lazily from the store.
    func adoptHead(_ commit: SignedCommit) throws {
        let tree = try MST(root: commit.commit.data, store: blocks, verifiesOnLoad: false)
        head.withLock { $0 = Head(tree: tree, commit: commit) }
    }

    /// The next rev after `rev` from this writer's clock (a re-signed import must sort after
    /// the commit it replaces).
    func nextRev(after rev: String?) -> String {
        clock.next(after: rev.flatMap { try? TID($0) }).string
    }
}
