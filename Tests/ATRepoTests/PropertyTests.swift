import ATData
@testable import ATRepo
import Testing

@Suite struct PropertyTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func insertionOrderDoesNotMatter(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let count = 200 + Int(generator.next() % 800)
        let paths = Fixtures.randomPaths(count: count, using: &generator)
        let entries = paths.enumerated().map { ($1, Fixtures.record($0).cid) }
        let expected = try MST(entries: entries).rootCID
        for _ in 0..<3 {
            var tree = MST()
            for (path, cid) in entries.shuffled(using: &generator) { try tree.insert(path, cid) }
            #expect(tree.rootCID == expected)
            // Finalizing midway changes nothing about the result.
            var staged = MST()
            for (index, (path, cid)) in entries.shuffled(using: &generator).enumerated() {
                try staged.insert(path, cid)
                if index % 97 == 0 { staged.finalize() }
            }
            #expect(staged.finalize().root == expected)
        }
        // Reloaded from its blocks, with verification, the tree reads back the same.
        var tree = try MST(entries: entries)
        let (root, blocks) = tree.finalize()
        let loaded = try MST(root: root, store: blocks, verifiesOnLoad: true)
        #expect(try loaded.allEntries().map(\.path) == paths)
        for (path, cid) in entries.prefix(50) { #expect(try loaded.get(path) == cid) }
        #expect(try loaded.get("app.bsky.feed.post/absent") == nil)
    }

    @Test(arguments: [UInt64(4), 5])
    func deletingEverythingGivesTheEmptyTree(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let paths = Fixtures.randomPaths(count: 500, using: &generator)
        let entries = paths.enumerated().map { ($1, Fixtures.record($0).cid) }
        var tree = try MST(entries: entries)
        let (root, blocks) = tree.finalize()
        // Delete from a stored (lazily loaded) copy, checking intermediate roots against fresh builds.
        var stored = try MST(root: root, store: blocks, verifiesOnLoad: true)
        var remaining = Dictionary(uniqueKeysWithValues: entries)
        for (step, path) in paths.shuffled(using: &generator).enumerated() {
            #expect(try stored.delete(path) == remaining.removeValue(forKey: path))
            if step % 50 == 0 {
                #expect(stored.rootCID == (try MST(entries: remaining.map { ($0, $1) })).rootCID)
            }
        }
        #expect(stored.isEmpty)
        #expect(stored.rootCID == MST.emptyRootCID)
        #expect(try stored.remove("app.bsky.feed.post/gone") == nil)
    }

    @Test(arguments: [UInt64(6), 7, 8])
    func diffAppliedGivesTheTarget(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let pool = Fixtures.randomPaths(count: 700, using: &generator)
        func randomTree(_ salt: Int) throws -> MST {
            var entries: [(String, CID)] = []
            for (index, path) in pool.enumerated() where generator.next() % 3 != 0 {
                // Same CID for most paths so that updates are a minority.
                entries.append((path, Fixtures.record(generator.next() % 5 == 0 ? index + salt : index).cid))
            }
            return try MST(entries: entries)
        }
        let a = try randomTree(10_000), b = try randomTree(20_000)
        let diff = try a.diff(to: b)
        var applied = a
        try applied.apply(diff.changes.map(RepoOp.init))
        #expect(applied.rootCID == b.rootCID)
        // The new nodes are exactly the nodes of b not in a.
        var fullA = a, fullB = b
        let nodesA = Set(fullA.finalize().newBlocks.cids), nodesB = Set(fullB.finalize().newBlocks.cids)
        #expect(Set(diff.newNodes.cids) == nodesB.subtracting(nodesA))
        #expect(diff.removedNodes == nodesA.subtracting(nodesB))
        // Diffs against the empty tree and against itself.
        #expect(try a.diff(to: a).changes.isEmpty)
        #expect(try MST().diff(to: b).changes.count == (try b.count()))
        #expect(try b.diff(to: MST()).changes.allSatisfy { $0.new == nil })
    }

    @Test func diffOfASmallEditIsSmall() throws {
        var generator = SeededGenerator(seed: 9)
        let paths = Fixtures.randomPaths(count: 5000, using: &generator)
        var tree = try MST(entries: paths.enumerated().map { ($1, Fixtures.record($0).cid) })
        let (root, blocks) = tree.finalize()
        let stored = try MST(root: root, store: blocks, verifiesOnLoad: false)
        var edited = stored
        try edited.insert("app.bsky.feed.post/2222222222222", Fixtures.record(1).cid)
        let diff = try stored.diff(to: edited)
        #expect(diff.changes == [MSTChange(path: "app.bsky.feed.post/2222222222222", old: nil, new: Fixtures.record(1).cid)])
        #expect(diff.newNodes.count < 20)
    }

    @Test func setUpdateAndConflicts() throws {
        var tree = MST()
        let a = Fixtures.record(1).cid, b = Fixtures.record(2).cid
        try tree.insert("com.example.record/one", a)
        #expect(throws: RepoError.self) { try tree.insert("com.example.record/one", b) }
        #expect(throws: RepoError.self) { try tree.update("com.example.record/two", b) }
        #expect(throws: RepoError.self) { try tree.delete("com.example.record/two") }
        #expect(try tree.update("com.example.record/one", b) == a)
        #expect(try tree.get("com.example.record/one") == b)
        #expect(try tree.set("com.example.record/one", b) == b)
        #expect(try tree.delete("com.example.record/one") == b)
        #expect(tree.rootCID == MST.emptyRootCID)
    }
}
