// MST node decoding (ATRepo MSTNode, through MST's public API). The input is a control byte and
// blocks separated by FF FE FD FC; the first block is the root.
//
// - verified (control bit 0 = 0): blocks are stored under their real CIDs and the tree is opened
//   with verification, as imports and firehose slices are; then listed, edited (insert, update,
//   delete), re-hashed and diffed against the original.
// - unverified (bit 0 = 1): any CID finds a block (picked by its digest), so links need not be
//   real hashes and the decoder sees arbitrary node shapes at every depth; listed only (the
//   server opens unverified only its own stored trees).
import ATCrypto
import ATData
import ATRepo
import FuzzSupport

let separator: [UInt8] = [0xff, 0xfe, 0xfd, 0xfc]

/// Any CID resolves to one of the blocks; a budget bounds the walk (a tree of links that all
/// point at one wide node is exponential).
final class AnyCIDSource: BlockSource, @unchecked Sendable {
    let blocks: [[UInt8]]
    var budget = 2000
    init(_ blocks: [[UInt8]]) { self.blocks = blocks }
    struct Exhausted: Error {}
    func block(_ cid: CID) throws -> [UInt8]? {
        budget -= 1
        guard budget > 0 else { throw Exhausted() }
        guard let last = cid.digest.last else { return nil }
        return blocks[Int(last) % blocks.count]
    }
}

func split(_ bytes: ArraySlice<UInt8>) -> [[UInt8]] {
    var blocks: [[UInt8]] = []
    var start = bytes.startIndex
    var index = start
    while index + separator.count <= bytes.endIndex {
        if bytes[index..<(index + separator.count)].elementsEqual(separator) {
            blocks.append(Array(bytes[start..<index]))
            index += separator.count
            start = index
        } else {
            index += 1
        }
    }
    blocks.append(Array(bytes[start...]))
    return blocks
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    writeSeeds {
        var seeds: [(String, [UInt8])] = []
        let value = CID.dagCBOR(hashing: Array("record".utf8))
        for count in [1, 3, 20, 200] {
            let entries = (0..<count).map { ("com.example.record/\(String(100_000 + $0 * 7919))", value) }
            var tree = try! MST(entries: entries)
            let (root, nodes) = tree.finalize()
            // Root first, then the rest.
            var blocks = [nodes[root]!]
            for (cid, bytes) in nodes where cid != root { blocks.append(bytes) }
            let joined = blocks.dropFirst().reduce(blocks[0]) { $0 + separator + $1 }
            seeds.append(("tree-\(count)", [0] + joined))
            seeds.append(("loose-\(count)", [1] + joined))
        }
        seeds.append(("empty", [0] + MST.emptyNodeBytes))
        return seeds
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    guard let control = bytes.first else { return 0 }
    let blocks = split(bytes.dropFirst())
    let root = CID.dagCBOR(hashing: blocks[0])

    if control & 1 == 1 {
        let source = AnyCIDSource(blocks)
        guard let tree = try? MST(root: root, store: source, verifiesOnLoad: false) else { return 0 }
        _ = try? tree.list(limit: 10_000)
        _ = try? tree.list(prefix: "app.bsky.feed.post/", reverse: true, limit: 100)
        return 0
    }

    var map = BlockMap()
    for block in blocks { map.add(dagCBOR: block) }
    guard let original = try? MST(root: root, store: map, verifiesOnLoad: true) else { return 0 }
    guard let entries = try? original.list(limit: 10_000) else { return 0 }
    for index in entries.indices.dropFirst() {
        require(entries[index - 1].path.utf8.lexicographicallyPrecedes(entries[index].path.utf8), "listed keys out of order")
    }
    var edited = original
    let value = CID.dagCBOR(hashing: [UInt8](control.description.utf8))
    do {
        try edited.insert("app.bsky.feed.post/3k2fuzzfuzzaa", value)
        if let first = entries.first { _ = try edited.update(first.path, value) }
        if entries.count > 1 { _ = try edited.delete(entries[entries.count / 2].path) }
        let (newRoot, newBlocks) = edited.finalize()
        map.merge(newBlocks)
        _ = try original.diff(to: edited)
        // The edited tree reopens from its blocks and lists what the edits say.
        let reopened = try MST(root: newRoot, store: map, verifiesOnLoad: true)
        let count = try reopened.count()
        let expected = entries.count + (entries.contains { $0.path == "app.bsky.feed.post/3k2fuzzfuzzaa" } ? 0 : 1) - (entries.count > 1 ? 1 : 0)
        require(count == expected, "edited tree has \(count) entries, expected \(expected)")
    } catch {
        // Not every decoded tree accepts these edits (e.g. the inserted key exists); fine.
    }
    return 0
}

@main
enum Main {
    static func main() { runFuzzer(testOneInput) }
}
