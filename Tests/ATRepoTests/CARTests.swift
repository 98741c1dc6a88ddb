import ATData
@testable import ATRepo
import Foundation
import Multiformats
import TestSupport
import Testing

@Suite struct CARTests {
    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func carFileFixtures() throws {
        let cases = try SharedVectors.json("extra/car/car-file-fixtures.json") as! [[String: Any]]
        #expect(!cases.isEmpty)
        for entry in cases {
            let car = [UInt8](Data(base64Encoded: entry["car"] as! String)!)
            let root = try CID(string: entry["root"] as! String)
            var expected: [(CID, [UInt8])] = []
            for block in entry["blocks"] as! [[String: String]] {
                var base64 = block["bytes"]!
                while base64.count % 4 != 0 { base64 += "=" }
                expected.append((try CID(string: block["cid"]!), [UInt8](Data(base64Encoded: base64)!)))
            }
            let (roots, blocks) = try CARReader.read(car)
            #expect(roots == [root])
            #expect(blocks.count == Set(expected.map(\.0)).count)
            for (cid, bytes) in expected { #expect(blocks[cid] == bytes) }
            // Our writer reproduces the file byte for byte in the same block order.
            #expect(CARWriter.encode(roots: [root], blocks: expected) == car)
            // Streaming in tiny chunks gives the same result.
            var offset = 0
            var reader = try CARReader { () -> [UInt8]? in
                guard offset < car.count else { return nil }
                defer { offset += 3 }
                return Array(car[offset..<min(offset + 3, car.count)])
            }
            #expect(reader.roots == [root])
            #expect(try reader.readAll() == blocks)
        }
    }

    @Test func roundTripWithChunkedWriter() throws {
        var blocks: [(CID, [UInt8])] = []
        for index in 0..<300 { let record = Fixtures.record(index); blocks.append((record.cid, record.bytes)) }
        blocks.append((CID.raw(hashing: [1, 2, 3]), [1, 2, 3]))
        var chunks: [[UInt8]] = []
        var writer = CARWriter(roots: [blocks[0].0], chunkSize: 1000) { chunks.append($0) }
        for (cid, bytes) in blocks { try writer.write(cid: cid, bytes: bytes) }
        try writer.finish()
        #expect(chunks.count > 3)
        let car = chunks.flatMap { $0 }
        #expect(car == CARWriter.encode(roots: [blocks[0].0], blocks: blocks))
        var index = 0
        var reader = try CARReader { () -> [UInt8]? in
            guard index < chunks.count else { return nil }
            defer { index += 1 }
            return chunks[index]
        }
        var read: [(CID, [UInt8])] = []
        while let block = try reader.next() { read.append(block) }
        #expect(read.map(\.0) == blocks.map(\.0))
        #expect(read.map(\.1) == blocks.map(\.1))
    }

    @Test func toleratesDuplicatesAndAnyOrder() throws {
        let a = Fixtures.record(1), b = Fixtures.record(2)
        let car = CARWriter.encode(roots: [a.cid], blocks: [(b.cid, b.bytes), (a.cid, a.bytes), (b.cid, b.bytes)])
        let (roots, blocks) = try CARReader.read(car)
        #expect(roots == [a.cid])
        #expect(blocks.count == 2)
    }

    @Test func rejectsCorruptCARs() throws {
        let a = Fixtures.record(1), b = Fixtures.record(2)
        let good = CARWriter.encode(roots: [a.cid], blocks: [(a.cid, a.bytes), (b.cid, b.bytes)])
        _ = try CARReader.read(good)

        func header(_ value: DataValue) -> [UInt8] {
            let bytes = DAGCBOR.encode(value)
            return Varint.encode(UInt64(bytes.count)) + bytes
        }
        let body = Array(good[CARWriter.header(roots: [a.cid]).count...])
        var cases: [(String, [UInt8])] = [
            ("empty", []),
            ("version 2", header(["roots": [.link(a.cid)], "version": 2]) + body),
            ("no roots", header(["roots": [], "version": 1]) + body),
            ("roots missing", header(["version": 1]) + body),
            ("root not a link", header(["roots": ["x"], "version": 1]) + body),
            ("header not a map", header([1, 2]) + body),
            ("truncated section", Array(good.dropLast(5))),
            ("truncated varint", CARWriter.header(roots: [a.cid]) + [0x80]),
            ("non-minimal varint", CARWriter.header(roots: [a.cid]) + [0x85, 0x00]),
            ("zero-length section", CARWriter.header(roots: [a.cid]) + [0x00]),
            ("header length past end", [0x50, 0xa2]),
            ("bad CID in section", CARWriter.header(roots: [a.cid]) + [0x03, 0x00, 0x01, 0x02]),
        ]
        // A flipped byte inside a block: CID no longer matches.
        var flipped = good
        flipped[flipped.count - 1] ^= 0x01
        cases.append(("flipped block byte", flipped))
        // A raw block whose bytes do not match.
        cases.append(("raw mismatch", CARWriter.encode(roots: [a.cid], blocks: [(CID.raw(hashing: [1]), [2])])))
        for (name, bytes) in cases {
            #expect(throws: RepoError.self, "\(name)") { _ = try CARReader.read(bytes) }
        }
        // Random single-byte corruption anywhere is either rejected or (if it only touched the
        // header's CID bytes) changes the roots; it never yields a block whose CID mismatches.
        var generator = SeededGenerator(seed: 99)
        for _ in 0..<200 {
            var corrupt = good
            let position = Int(generator.next() % UInt64(corrupt.count))
            corrupt[position] ^= UInt8(1 + generator.next() % 255)
            guard let (_, blocks) = try? CARReader.read(corrupt) else { continue }
            for (cid, bytes) in blocks { #expect(CID.dagCBOR(hashing: bytes).digest == cid.digest || CID.raw(hashing: bytes).digest == cid.digest) }
        }
    }
}
