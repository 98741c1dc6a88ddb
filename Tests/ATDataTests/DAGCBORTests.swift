import ATData
import Testing

@Suite struct DAGCBORTests {
    @Test func emptyMSTNodeHasTheKnownCID() throws {
        // spec: repository §MST, "the empty repo is a single node {e:[], l:null}".
        let node: DataValue = ["e": [], "l": nil]
        let bytes = DAGCBOR.encode(node)
        #expect(bytes == [0xa2, 0x61, 0x65, 0x80, 0x61, 0x6c, 0xf6])
        #expect(CID.dagCBOR(hashing: bytes).string == "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm")
    }

    @Test func keysAreWrittenLengthFirst() {
        let commit: DataValue = ["version": 3, "sig": .bytes([1]), "did": "d", "rev": "r", "data": nil, "prev": nil]
        let decodedKeys = DAGCBOR.canonicalOrder(commit.mapValue!.keys)
        #expect(decodedKeys == ["did", "rev", "sig", "data", "prev", "version"])
    }

    @Test(arguments: [Int64(0), 1, 23, 24, 255, 256, 65535, 65536, 4_294_967_295, 4_294_967_296, Int64.max,
                      -1, -24, -25, -256, -257, Int64.min])
    func integersRoundTripInShortestForm(value: Int64) throws {
        let bytes = DAGCBOR.encode(.integer(value))
        #expect(try DAGCBOR.decode(bytes) == .integer(value))
        let magnitude = value >= 0 ? UInt64(value) : UInt64(-1 - value)
        let expectedLength = magnitude < 24 ? 1 : magnitude < 0x100 ? 2 : magnitude < 0x10000 ? 3 : magnitude < 0x1_0000_0000 ? 5 : 9
        #expect(bytes.count == expectedLength)
    }

    @Test func rejectsNonCanonicalAndForbiddenEncodings() {
        let cases: [(String, [UInt8])] = [
            ("non-shortest integer", [0x18, 0x05]),
            ("non-shortest 2-byte integer", [0x19, 0x00, 0xff]),
            ("non-shortest length", [0x78, 0x01, 0x61]),
            ("indefinite array", [0x9f, 0xff]),
            ("indefinite text", [0x7f, 0x61, 0x61, 0xff]),
            ("float64", [0xfb, 0, 0, 0, 0, 0, 0, 0, 0]),
            ("float16", [0xf9, 0, 0]),
            ("undefined", [0xf7]),
            ("simple 16", [0xf0]),
            ("other tag", [0xc1, 0x00]),
            ("tag 42 without 0x00", [0xd8, 0x2a, 0x41, 0x01]),
            ("integer key", [0xa1, 0x01, 0x01]),
            ("unsorted keys", [0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x01]),
            ("longer key first", [0xa2, 0x62, 0x61, 0x61, 0x01, 0x61, 0x62, 0x01]),
            ("duplicate keys", [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x01]),
            ("invalid UTF-8", [0x62, 0xc3, 0x28]),
            ("trailing bytes", [0x01, 0x01]),
            ("truncated", [0x62, 0x61]),
            ("huge declared length", [0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            ("uint64 beyond Int64", [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            ("empty input", []),
        ]
        for (name, bytes) in cases {
            #expect(throws: DataError.self, "\(name) must be rejected") { try DAGCBOR.decode(bytes) }
        }
    }

    @Test func enforcesDepthLimit() throws {
        var value: DataValue = 1
        for _ in 0..<40 { value = .array([value]) }
        let bytes = DAGCBOR.encode(value)
        #expect(throws: DataError.self) { try DAGCBOR.decode(bytes) }
        #expect(try DAGCBOR.decode(bytes, limits: .init(maxDepth: 64)) == value)
    }

    @Test func linksRoundTrip() throws {
        let cid = CID.dagCBOR(hashing: [1, 2, 3])
        let value: DataValue = ["link": .link(cid), "blob": .link(CID.raw(hashing: []))]
        let decoded = try DAGCBOR.decode(DAGCBOR.encode(value))
        #expect(decoded == value)
        #expect(try CID(string: cid.string) == cid)
        #expect(cid.string.hasPrefix("bafyrei"))
        #expect(CID.raw(hashing: []).string.hasPrefix("bafkrei"))
    }
}
