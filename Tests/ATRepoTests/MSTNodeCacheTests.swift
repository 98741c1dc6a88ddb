import ATData
@testable import ATRepo
import Synchronization
import Testing

/// A block source that grows as commits persist their blocks, and counts its reads.
private final class GrowingStore: BlockSource, Sendable {
    let state = Mutex((blocks: BlockMap(), reads: 0))
    func block(_ cid: CID) throws -> [UInt8]? { state.withLock { $0.reads += 1; return $0.blocks[cid] } }
    func add(_ blocks: BlockMap) { state.withLock { $0.blocks.merge(blocks) } }
    var reads: Int { state.withLock { $0.reads } }
}

@Suite struct MSTNodeCacheTests {
    /// Random creates, updates and deletes on a tree that keeps only its root between "commits"
    /// (finalize, persist, release) and a cache far smaller than the tree: every root matches a
    /// tree built from scratch from the same entries, and the cache never exceeds its bound.
    @Test(arguments: [UInt64(11), 12])
    func releasedTreeWithSmallCacheMatchesAFreshBuild(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let paths = Fixtures.randomPaths(count: 1500, using: &generator)
        let store = GrowingStore()
        let cache = MSTNodeCache(capacity: 16)
        var tree = MST(store: store, cache: cache)
        var model: [String: CID] = [:]
        for round in 0..<60 {
            for _ in 0..<25 {
                let path = paths[Int(generator.next() % UInt64(paths.count))]
                if model[path] != nil, generator.next() % 3 == 0 {
                    #expect(try tree.remove(path) == model[path])
                    model[path] = nil
                } else {
                    let cid = Fixtures.record(Int(generator.next() % 100_000)).cid
                    #expect(try tree.set(path, cid) == model[path])
                    model[path] = cid
                }
            }
            let (root, blocks) = tree.finalize()
            store.add(blocks)
            tree.releaseLoadedNodes()
            #expect(cache.count <= 16)
            if round % 10 == 9 {
                #expect(root == (try MST(entries: model.map { ($0.key, $0.value) })).rootCID)
            }
        }
        // The released tree reads its nodes back from the store (the cache is too small to hold them).
        let readsBefore = store.reads
        #expect(try tree.allEntries().map(\.path) == model.keys.sorted())
        #expect(store.reads > readsBefore)
    }

    /// After a release the tree value holds its root and stubs only, whatever the edits loaded.
    @Test func releaseLeavesOnlyTheRootInMemory() throws {
        var generator = SeededGenerator(seed: 13)
        let entries = Fixtures.randomPaths(count: 2000, using: &generator).enumerated().map { ($1, Fixtures.record($0).cid) }
        let store = GrowingStore()
        var built = try MST(entries: entries)
        let (root, blocks) = built.finalize()
        store.add(blocks)
        let cache = MSTNodeCache(capacity: 64)
        var tree = try MST(root: root, store: store, verifiesOnLoad: false, cache: cache)
        for (index, (path, _)) in entries.prefix(200).enumerated() { try tree.set(path, Fixtures.record(10_000 + index).cid) }
        store.add(tree.finalize().newBlocks)
        func inMemoryChildren(_ node: MSTNode) -> Int {
            let links = [node.left] + node.entries.map(\.right)
            return links.reduce(0) { count, link in if case .node? = link { return count + 1 } else { return count } }
        }
        #expect(inMemoryChildren(tree.root!) > 0)
        tree.releaseLoadedNodes()
        #expect(inMemoryChildren(tree.root!) == 0)
        #expect(cache.count <= 64)
        for (index, (path, _)) in entries.prefix(200).enumerated() { #expect(try tree.get(path) == Fixtures.record(10_000 + index).cid) }
    }
}
