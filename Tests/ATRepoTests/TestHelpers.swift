import ATData
@testable import ATRepo
import Foundation
import TestSupport

/// Deterministic generator for property tests (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

enum Fixtures {
    static func cid(_ string: String) throws -> CID { try CID(string: string) }

    static func bytes(_ relativePath: String) throws -> [UInt8] { [UInt8](try SharedVectors.data(relativePath)) }

    /// A record-like block for key `index` (distinct CIDs per value).
    static func record(_ index: Int) -> (cid: CID, bytes: [UInt8]) {
        let bytes = DAGCBOR.encode(["$type": "app.bsky.feed.post", "n": .integer(Int64(index))])
        return (CID.dagCBOR(hashing: bytes), bytes)
    }

    /// Random valid paths.
    static func randomPaths(count: Int, using generator: inout SeededGenerator) -> [String] {
        let collections = ["app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow", "com.example.record"]
        let alphabet = Array("234567abcdefghijklmnopqrstuvwxyz")
        var paths = Set<String>()
        while paths.count < count {
            let collection = collections[Int(generator.next() % UInt64(collections.count))]
            let rkey = String((0..<13).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
            paths.insert(collection + "/" + rkey)
        }
        return paths.sorted()
    }

    /// A tree built by repeated inserts.
    static func tree(_ entries: [(String, CID)]) throws -> MST {
        var tree = MST()
        for (path, cid) in entries { try tree.insert(path, cid) }
        return tree
    }
}
