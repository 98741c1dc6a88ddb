import ATData
@testable import ATRepo
import Foundation
import TestSupport
import Testing

@Suite struct CommitProofTests {
    /// Every case of interop/firehose/commit-proof-fixtures.json: roots before and after, the
    /// proof block set covers `blocksInProof`, and inverting the ops on only the proof blocks
    /// gives `rootBeforeCommit`.
    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func commitProofFixtures() throws {
        let cases = try SharedVectors.json("interop/firehose/commit-proof-fixtures.json") as! [[String: Any]]
        #expect(cases.count == 6)
        for entry in cases {
            let comment = entry["comment"] as! String
            let leaf = try CID(string: entry["leafValue"] as! String)
            let keys = entry["keys"] as! [String], adds = entry["adds"] as! [String], dels = entry["dels"] as! [String]
            let rootBefore = try CID(string: entry["rootBeforeCommit"] as! String)
            let rootAfter = try CID(string: entry["rootAfterCommit"] as! String)

            var before = try Fixtures.tree(keys.map { ($0, leaf) })
            #expect(before.finalize().root == rootBefore, "\(comment): root before")
            var after = before
            for key in adds { try after.insert(key, leaf) }
            for key in dels { try after.delete(key) }
            #expect(after.finalize().root == rootAfter, "\(comment): root after")

            let diff = try RepoDiff(from: before, to: after)
            #expect(diff.root == rootAfter && diff.previousRoot == rootBefore)
            for cid in entry["blocksInProof"] as! [String] {
                #expect(diff.proofNodes.contains(try CID(string: cid)), "\(comment): proof lacks \(cid)")
            }
            // The ops as the firehose states them.
            var ops: [RepoOp] = adds.filter { !dels.contains($0) }.map { .create($0, leaf) }
            ops += dels.filter { !adds.contains($0) }.map { .delete($0, prev: leaf) }
            #expect(Set(diff.ops) == Set(ops), "\(comment): ops")
            try CommitProof.verify(ops, root: rootAfter, prevData: rootBefore, blocks: diff.proofNodes)
            try CommitProof.verify(diff.ops.reversed(), root: rootAfter, prevData: rootBefore, blocks: diff.proofNodes)
            // A wrong prevData must fail.
            #expect(throws: RepoError.self) {
                try CommitProof.verify(ops, root: rootAfter, prevData: rootAfter, blocks: diff.proofNodes)
            }
        }
    }

    @Test func inversionDetectsBadOps() throws {
        var generator = SeededGenerator(seed: 11)
        let paths = Fixtures.randomPaths(count: 200, using: &generator)
        let before = try MST(entries: paths.enumerated().map { ($1, Fixtures.record($0).cid) })
        var after = before
        let newPath = "app.bsky.feed.post/3zzzzzzzzzzzz"
        try after.insert(newPath, Fixtures.record(1000).cid)
        try after.update(paths[3], Fixtures.record(1001).cid)
        try after.delete(paths[10])
        let diff = try RepoDiff(from: before, to: after)
        #expect(diff.ops.count == 3)
        try CommitProof.verify(diff.ops, root: diff.root, prevData: diff.previousRoot, blocks: diff.proofNodes)
        // Dropping an op, a wrong prev, or a missing block all fail.
        #expect(throws: RepoError.self) {
            try CommitProof.verify(Array(diff.ops.dropFirst()), root: diff.root, prevData: diff.previousRoot, blocks: diff.proofNodes)
        }
        var wrong = diff.ops
        let update = wrong.firstIndex { $0.action == .update }!
        wrong[update].prev = Fixtures.record(9999).cid
        #expect(throws: RepoError.self) { try CommitProof.verify(wrong, root: diff.root, prevData: diff.previousRoot, blocks: diff.proofNodes) }
        #expect(throws: RepoError.self) {
            try CommitProof.verify(diff.ops, root: diff.root, prevData: diff.previousRoot, blocks: BlockMap())
        }
    }

    /// Random commits of mixed ops: the proof blocks alone always invert to the previous root.
    @Test func randomCommitsInvertFromProofBlocksAlone() throws {
        var generator = SeededGenerator(seed: 2024)
        let pool = Fixtures.randomPaths(count: 400, using: &generator)
        var tree = try MST(entries: pool.prefix(250).enumerated().map { ($1, Fixtures.record($0).cid) })
        var present = Set(pool.prefix(250))
        for round in 0..<60 {
            let before = tree
            let opCount = 1 + Int(generator.next() % 6)
            var touched = Set<String>()
            for step in 0..<opCount {
                let path = pool[Int(generator.next() % UInt64(pool.count))]
                guard touched.insert(path).inserted else { continue }
                if present.contains(path) {
                    if generator.next() % 2 == 0 { try tree.delete(path); present.remove(path) }
                    else { try tree.update(path, Fixtures.record(10_000 + round * 10 + step).cid) }
                } else {
                    try tree.insert(path, Fixtures.record(20_000 + round * 10 + step).cid); present.insert(path)
                }
            }
            let diff = try RepoDiff(from: before, to: tree)
            try CommitProof.verify(diff.ops, root: diff.root, prevData: diff.previousRoot, blocks: diff.proofNodes)
            tree.finalize()
        }
    }

    @Test func sliceCarriesCommitRecordsAndProof() throws {
        var store = BlockMap()
        var tree = MST()
        for index in 0..<50 {
            let record = Fixtures.record(index)
            store.set(record.cid, record.bytes)
            try tree.insert("app.bsky.feed.post/3kaaaaaaaa\(String(100 + index))", record.cid)
        }
        let before = tree
        let created = Fixtures.record(500)
        store.set(created.cid, created.bytes)
        try tree.insert("app.bsky.feed.post/3kzzzzzzzzzzz", created.cid)
        let diff = try RepoDiff(from: before, to: tree)
        let commit = SignedCommit.create(did: "did:plc:abc", data: diff.root, rev: "3kaaaaaaaaaaa") { _ in [UInt8](repeating: 1, count: 64) }
        let car = try diff.sliceCAR(commit: commit, records: store)
        let (roots, blocks) = try CARReader.read(car)
        #expect(roots == [commit.cid])
        #expect(blocks[created.cid] == created.bytes)
        #expect(blocks[commit.cid] == commit.bytes)
        try CommitProof.verify(diff.ops, root: diff.root, prevData: diff.previousRoot, blocks: blocks)
    }
}
