import ATData
@testable import ATRepo
import Foundation
import TestSupport
import Testing

@Suite struct MSTVectorTests {
    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func keyHeights() throws {
        let cases = try SharedVectors.json("interop/mst/key_heights.json") as! [[String: Any]]
        #expect(cases.count == 9)
        for entry in cases {
            let key = entry["key"] as! String
            #expect(MST.height(of: key) == entry["height"] as! Int, "key \(key)")
        }
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func commonPrefix() throws {
        let cases = try SharedVectors.json("interop/mst/common_prefix.json") as! [[String: Any]]
        #expect(cases.count == 13)
        for entry in cases {
            let left = Array((entry["left"] as! String).utf8), right = Array((entry["right"] as! String).utf8)
            #expect(commonPrefixLength(left, right) == entry["len"] as! Int)
        }
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func exampleKeysEncodeTheirHeight() throws {
        let keys = try SharedVectors.lines("interop/mst/example_keys.txt")
        #expect(keys.count == 156)
        for key in keys {
            let digit = key.utf8[key.utf8.index(after: key.utf8.startIndex)]
            #expect(MST.height(of: key) == Int(digit - UInt8(ascii: "0")), "key \(key)")
        }
    }

    @Test func emptyTree() throws {
        #expect(MST.emptyRootCID.string == "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm")
        var tree = MST()
        #expect(tree.rootCID == MST.emptyRootCID)
        let (root, blocks) = tree.finalize()
        #expect(root == MST.emptyRootCID)
        #expect(blocks[root] == MST.emptyNodeBytes)
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func knownTrees() throws {
        let file = try SharedVectors.json("extra/mst/mst-known-trees.json") as! [String: Any]
        let trees = file["trees"] as! [[String: Any]]
        #expect(trees.count == 11)
        for entry in trees {
            let comment = entry["comment"] as! String
            let leaf = try CID(string: entry["leafValue"] as! String)
            let keys = entry["keys"] as! [String]
            let expected = try CID(string: entry["rootCid"] as! String)
            // Built by inserts, in given and reversed order, and by the batch builder.
            var inserted = try Fixtures.tree(keys.map { ($0, leaf) })
            var reversed = try Fixtures.tree(keys.reversed().map { ($0, leaf) })
            var built = try MST(entries: keys.map { ($0, leaf) })
            #expect(inserted.rootCID == expected, "\(comment)")
            #expect(reversed.rootCID == expected, "\(comment) (reverse order)")
            #expect(built.rootCID == expected, "\(comment) (batch)")
            let (_, blocks) = inserted.finalize()
            #expect(blocks.count == entry["nodeCount"] as! Int, "\(comment) node count")
            _ = reversed.finalize(); _ = built.finalize()
            // Reload from the blocks with full verification and read everything back.
            let loaded = try MST(root: expected, store: blocks, verifiesOnLoad: true)
            #expect(try loaded.allEntries().map(\.path) == keys.sorted(), "\(comment)")
            for key in keys { #expect(try loaded.get(key) == leaf) }
        }
        let manual = file["manualNode"] as! [String: Any]
        let bytes = [UInt8](Data(base64Encoded: manual["cbor_base64"] as! String)!)
        #expect(CID.dagCBOR(hashing: bytes).string == manual["cid"] as! String)
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func trimTopAndSplitTransitions() throws {
        let file = try SharedVectors.json("extra/mst/mst-known-trees.json") as! [String: Any]
        let trees = file["trees"] as! [[String: Any]]
        func tree(_ prefix: String) throws -> (MST, CID, [String], CID) {
            let entry = trees.first { ($0["comment"] as! String).hasPrefix(prefix) }!
            let leaf = try CID(string: entry["leafValue"] as! String)
            let keys = entry["keys"] as! [String]
            return (try MST(entries: keys.map { ($0, leaf) }), leaf, keys, try CID(string: entry["rootCid"] as! String))
        }
        // Delete the only layer-1 key: the root must trim down to layer 0.
        var (before, leaf, _, _) = try tree("trim-top: before")
        let (_, _, _, afterRoot) = try tree("trim-top: after")
        try before.delete("com.example.record/3jqfcqzm3fs2j")
        #expect(before.rootCID == afterRoot)
        // Insert a height-2 key into a layer-1 tree: split two layers down.
        var (split, _, _, _) = try tree("split-two-layers: before")
        let (_, _, _, splitAfter) = try tree("split-two-layers: after")
        try split.insert("com.example.record/3jqfcqzm3fx2j", leaf)
        #expect(split.rootCID == splitAfter)
        try split.delete("com.example.record/3jqfcqzm3fx2j")
        #expect(split.rootCID == (try tree("split-two-layers: before")).3)
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func pathValidation() throws {
        let file = try SharedVectors.json("extra/mst/mst-known-trees.json") as! [String: Any]
        for key in file["allowedKeys_TS"] as! [String] { #expect(RepoPath.isValid(key), "\(key)") }
        for key in file["rejectedKeys_TS"] as! [String] where !key.contains("<") {
            #expect(!RepoPath.isValid(key), "\(key)")
        }
        let long = "coll/" + String(repeating: "a", count: 1019)
        #expect(RepoPath.isValid(long))
        #expect(!RepoPath.isValid(long + "a"))
        #expect(!RepoPath.isValid("coll/."))
        #expect(!RepoPath.isValid("../rkey"))
        #expect(!RepoPath.isValid("co:ll/rkey"))
        var tree = MST()
        #expect(throws: RepoError.self) { try tree.insert("nested/collection/asdf", MST.emptyRootCID) }
    }

    @Test func listingRangesAndReverse() throws {
        var generator = SeededGenerator(seed: 7)
        let paths = Fixtures.randomPaths(count: 600, using: &generator)
        let tree = try MST(entries: paths.enumerated().map { ($1, Fixtures.record($0).cid) })
        #expect(try tree.count() == 600)
        #expect(try tree.allEntries().map(\.path) == paths)
        let likes = paths.filter { $0.hasPrefix("app.bsky.feed.like/") }
        #expect(try tree.list(prefix: "app.bsky.feed.like/").map(\.path) == likes)
        #expect(try tree.list(prefix: "app.bsky.feed.like/", reverse: true).map(\.path) == likes.reversed())
        let cursor = likes[likes.count / 2]
        #expect(try tree.list(prefix: "app.bsky.feed.like/", after: cursor).map(\.path) == likes.filter { $0 > cursor })
        #expect(try tree.list(prefix: "app.bsky.feed.like/", before: cursor, reverse: true, limit: 5).map(\.path)
            == Array(likes.filter { $0 < cursor }.reversed().prefix(5)))
        #expect(try tree.list(prefix: "app.bsky.feed.nothing/").isEmpty)
        #expect(try tree.list(prefix: "app.bsky.feed.").count == paths.filter { $0.hasPrefix("app.bsky.feed.") }.count)
    }

    @Test func loadRejectsMalformedNodes() throws {
        let leaf = try CID(string: "bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454")
        func node(_ entries: [DataValue], left: DataValue = .null) -> [UInt8] {
            DAGCBOR.encode(["e": .array(entries), "l": left])
        }
        func entry(_ key: String, p: Int64 = 0, t: DataValue = .null) -> DataValue {
            ["k": .bytes(Array(key.utf8)), "p": .integer(p), "t": t, "v": .link(leaf)]
        }
        func load(_ bytes: [UInt8]) throws -> MST {
            var blocks = BlockMap()
            let cid = blocks.add(dagCBOR: bytes)
            let tree = try MST(root: cid, store: blocks, verifiesOnLoad: true)
            _ = try tree.allEntries()
            return tree
        }
        // Well-formed single entry loads.
        _ = try load(node([entry("com.example.record/3jqfcqzm3fo2j")]))
        // Unsorted keys (both height 0).
        #expect(throws: RepoError.invalidNode("keys out of order")) {
            try load(node([entry("com.example.record/3jqfcqzm3fp2j"), entry("o2j", p: 29)]))
        }
        // Non-maximal prefix compression: second key written in full.
        #expect(throws: RepoError.self) { try load(node([entry("com.example.record/3jqfcqzm3fo2j"), entry("com.example.record/3jqfcqzm3fp2j")])) }
        // Subtrees hung on the wrong side of their parent's key: every block hashes and every
        // node is sorted, yet the listing would come out of order (found by the MST fuzz target).
        func key(_ stem: String, height: Int) -> String {
            (0...).lazy.map { "com.example.record/\(stem)\($0)" }.first { MST.height(of: Array($0.utf8)) == height }!
        }
        let middle = key("m", height: 1), low = key("a", height: 0), high = key("z", height: 0)
        func loadTwoLayers(left: String, right: String) throws -> [String] {
            var blocks = BlockMap()
            let leftCID = blocks.add(dagCBOR: node([entry(left)]))
            let rightCID = blocks.add(dagCBOR: node([entry(right)]))
            let root = blocks.add(dagCBOR: node([entry(middle, t: .link(rightCID))], left: .link(leftCID)))
            return try MST(root: root, store: blocks, verifiesOnLoad: true).allEntries().map(\.path)
        }
        #expect(try loadTwoLayers(left: low, right: high) == [low, middle, high])
        #expect(throws: RepoError.invalidNode("subtree key sorts before the key to its left in the parent")) {
            try loadTwoLayers(left: low, right: low)
        }
        #expect(throws: RepoError.invalidNode("subtree key sorts after the key to its right in the parent")) {
            try loadTwoLayers(left: high, right: high)
        }
        // Mixed heights in one node (0 and 1).
        #expect(throws: RepoError.self) { try load(node([entry("com.example.record/3jqfcqzm3fr2j"), entry("s2j", p: 29)])) }
        // Untrimmed top: a root with no entries pointing down.
        let child = node([entry("com.example.record/3jqfcqzm3fo2j")])
        #expect(throws: RepoError.self) { try load(node([], left: .link(CID.dagCBOR(hashing: child)))) }
        // Extra field.
        #expect(throws: RepoError.self) { try load(DAGCBOR.encode(["e": [], "l": nil, "x": 1])) }
        // Invalid path as key.
        #expect(throws: RepoError.self) { try load(node([entry("noslash")])) }
        // A subtree link with the raw codec.
        #expect(throws: RepoError.self) {
            try load(node([entry("com.example.record/3jqfcqzm3fs2j", t: .link(CID.raw(hashing: [1])))]))
        }
        // Too many entries.
        var bigEntries: [DataValue] = []
        for index in 0..<3 { bigEntries.append(entry("com.example.record/\(index)")) }
        var blocks = BlockMap()
        let cid = blocks.add(dagCBOR: node(bigEntries))
        #expect(throws: RepoError.self) { try MST(root: cid, store: blocks, limits: MST.Limits(maxEntriesPerNode: 2, maxLayer: 32)) }
        // Non-canonical CBOR in the node (a two-byte head for p = 0): rejected by both readers.
        var nonCanonical = node([entry("com.example.record/3jqfcqzm3fo2j")])
        let pIndex = nonCanonical.indices.first { nonCanonical[$0] == 0x61 && nonCanonical[$0 + 1] == 0x70 }! + 2
        #expect(nonCanonical[pIndex] == 0x00)
        nonCanonical.replaceSubrange(pIndex...pIndex, with: [0x18, 0x00])
        #expect(throws: RepoError.self) { try load(nonCanonical) }
        // Trailing bytes after the node.
        #expect(throws: RepoError.self) { try load(node([entry("com.example.record/3jqfcqzm3fo2j")]) + [0xf6]) }
        // A missing child block.
        let dangling = node([entry("com.example.record/3jqfcqzm3fs2j", t: .link(CID.dagCBOR(hashing: [0xa0])))])
        #expect(throws: RepoError.missingBlock(CID.dagCBOR(hashing: [0xa0]))) { try load(dangling) }
    }
}
