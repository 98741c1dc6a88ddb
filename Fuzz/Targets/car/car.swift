// CAR v1 reading (CARReader, in memory and streamed in chunks) and the whole import check on top
// of it (RepoVerifier: commit, MST walk with verification, records), signatures accepted.
import ATCrypto
import ATData
import ATRepo
import FuzzSupport

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    writeSeeds {
        // Small repositories written by the project's own code: a commit, an MST, records.
        var seeds: [(String, [UInt8])] = []
        let key = try! K256PrivateKey(privateKeyBytes: [UInt8](repeating: 7, count: 32))
        for count in [0, 1, 5, 40] {
            var blocks = BlockMap()
            var entries: [(String, CID)] = []
            for index in 0..<count {
                let record = DataValue.map(["$type": .string("app.bsky.feed.post"), "text": .string("post \(index)"),
                                            "createdAt": .string("2024-01-01T00:00:00.000Z")])
                let cid = blocks.add(dagCBOR: DAGCBOR.encode(record))
                entries.append(("app.bsky.feed.post/3k\(String(1000 + index))aaaaaaa", cid))
            }
            var tree = try! MST(entries: entries, store: blocks)
            let (root, nodes) = tree.finalize()
            for (cid, bytes) in nodes { blocks.set(cid, bytes) }
            var commit = Commit(did: "did:plc:abcdefghijklmnopqrstuvwx", data: root, rev: "3k2aaaaaaaaaa")
            commit.sig = key.sign(commit.unsignedBytes)
            let commitBytes = commit.signedBytes
            let commitCID = blocks.add(dagCBOR: commitBytes)
            var car: [UInt8] = []
            let header = DAGCBOR.encode(.map(["version": .integer(1), "roots": .array([.link(commitCID)])]))
            appendSection(&car, header)
            appendSection(&car, commitCID.bytes + commitBytes)
            for (cid, bytes) in blocks where cid != commitCID { appendSection(&car, cid.bytes + bytes) }
            seeds.append(("repo-\(count)", car))
        }
        return seeds
    }
    return 0
}

func appendSection(_ car: inout [UInt8], _ section: [UInt8]) {
    var length = UInt64(section.count)
    repeat {
        let low = UInt8(length & 0x7f)
        length >>= 7
        car.append(length == 0 ? low : low | 0x80)
    } while length != 0
    car += section
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var cursor = ByteCursor(inputBytes(data, size))
    // Chunk sizes 1, 2, 4 … 32768 bytes, each as likely: every boundary case of the streamed
    // reader is reached, without most executions paying for thousands of one-byte pieces.
    let chunk = 1 << Int(cursor.byte() & 15)
    let car = cursor.rest

    // Streamed: the source hands out `chunk`-byte pieces, as a request body would arrive.
    var offset = 0
    if var reader = try? CARReader(limits: .init(requireRoots: false), source: {
        guard offset < car.count else { return nil }
        defer { offset = min(car.count, offset + chunk) }
        return Array(car[offset..<min(car.count, offset + chunk)])
    }) {
        while let block = try? reader.next() {
            _ = try? DAGCBOR.decode(block.bytes)
        }
    }

    _ = try? RepoVerifier.verify(car: car, verifySignature: { _, _ in true }) { _, _, bytes in
        _ = try DAGCBOR.decode(bytes)
    }
    return 0
}

@main
enum Main {
    static func main() { runFuzzer(testOneInput) }
}
