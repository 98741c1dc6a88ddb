import ATData
import Foundation
import Multiformats
import TestSupport
import Testing

/// The transcoder writes exactly what the data-model path writes (decode to `DataValue`, then
/// JSON: both `JSONWriter.write(DataValue)` and the server's former `jsonValue.serialized()`),
/// and refuses exactly the inputs the decoder refuses.
@Suite struct DAGCBORTranscoderTests {
    /// Transcodes `cbor` and compares with the data-model path; returns false when the decoder refuses it.
    @discardableResult
    func expectSameJSON(_ cbor: [UInt8], limits: DAGCBOR.Limits = .default, _ label: String) -> Bool {
        let decoded: DataValue
        do {
            decoded = try DAGCBOR.decode(cbor, limits: limits)
        } catch {
            #expect(throws: DataError.self, "\(label): the decoder refused it (\(error)), the transcoder must too") {
                try DAGCBORTranscoder.json(cbor, limits: limits)
            }
            return false
        }
        do {
            let json = try DAGCBORTranscoder.json(cbor, limits: limits)
            #expect(json == decoded.toJSON(), "\(label): \(String(decoding: json, as: UTF8.self))")
            #expect(json == decoded.jsonValue.serialized(), "\(label): JSONValue path")
        } catch {
            Issue.record("\(label): the decoder accepted it, the transcoder threw \(error)")
        }
        return true
    }

    @Test func randomTreesTranscodeAsTheDataModelPathWrites() {
        var generator = DataValueGenerator(rng: SplitMix64(seed: 11))
        for index in 0..<3000 {
            expectSameJSON(DAGCBOR.encode(generator.value()), "tree \(index)")
        }
    }

    /// Maps whose canonical (length-first) and JSON (bytewise) key orders differ, blobs, and the
    /// escapes JSON requires.
    @Test func keyOrderEscapesAndBlobs() throws {
        let digest = [UInt8](repeating: 7, count: 32)
        let value: DataValue = .map([
            "text": .string("a \"quoted\" \\ line\nbreak\u{1}\u{1F} é 😀"), "$type": .string("app.bsky.feed.post"),
            "createdAt": .string("2026-11-22T12:00:00.000Z"), "b": .integer(-1), "aa": .integer(.min), "z": .integer(.max),
            "embed": .map(["$type": .string("blob"), "ref": .link(CID(codec: CID.Codec.raw, sha256Digest: digest)),
                           "mimeType": .string("image/png"), "size": .integer(1234)]),
            "bytes": .array([.bytes([]), .bytes([1]), .bytes([1, 2]), .bytes([1, 2, 3]), .bytes(Array(0...255))]),
            "flags": .array([.bool(true), .bool(false), .null]), "": .string(""),
        ])
        #expect(expectSameJSON(DAGCBOR.encode(value), "hand-made record"))
        let json = String(decoding: try DAGCBORTranscoder.json(DAGCBOR.encode(value)), as: UTF8.self)
        #expect(json.hasPrefix(#"{"":"","$type":"app.bsky.feed.post","aa":-9223372036854775808,"b":-1,"#))
        #expect(json.contains(#"{"$bytes":"AQID"}"#) && json.contains(#"{"$bytes":"AQI"}"#))
    }

    /// Single-byte mutations and truncations: refused by both or transcoded identically.
    @Test func mutatedInputsAreRefusedAsTheDecoderRefusesThem() {
        var generator = DataValueGenerator(rng: SplitMix64(seed: 12))
        var accepted = 0, refused = 0
        for tree in 0..<1500 {
            let bytes = DAGCBOR.encode(generator.value())
            for round in 0..<12 {
                var mutated = bytes
                let position = Int.random(in: 0..<mutated.count, using: &generator.rng)
                mutated[position] = UInt8.random(in: 0...255, using: &generator.rng)
                if expectSameJSON(mutated, "tree \(tree) mutation \(round)") { accepted += 1 } else { refused += 1 }
            }
            expectSameJSON(Array(bytes[..<Int.random(in: 0..<bytes.count, using: &generator.rng)]), "tree \(tree) truncated")
            expectSameJSON(bytes + [0], "tree \(tree) with a trailing byte")
        }
        #expect(accepted > 0 && refused > 0)
    }

    @Test func limitsAreTheDecoders() {
        var nested: DataValue = .integer(1)
        for depth in 0..<40 { nested = depth.isMultiple(of: 2) ? .array([nested]) : .map(["k": nested]) }
        let bytes = DAGCBOR.encode(nested)
        #expect(!expectSameJSON(bytes, limits: .default, "40 levels, limit 32"))
        #expect(expectSameJSON(bytes, limits: .init(maxDepth: 64), "40 levels, limit 64"))
        let long = DAGCBOR.encode(.array(Array(repeating: .null, count: 10)))
        #expect(!expectSameJSON(long, limits: .init(maxContainerLength: 9), "array over the length limit"))
        #expect(!expectSameJSON(long, limits: .init(maxInputSize: 5), "input over the size limit"))
        // Floats, undefined, other tags: refused inside maps too, where values are first skipped.
        for item: [UInt8] in [[0xf9, 0x3c, 0x00], [0xfb, 0, 0, 0, 0, 0, 0, 0, 0], [0xf7], [0xc1, 0x00], [0xd8, 0x2b, 0x40]] {
            #expect(!expectSameJSON(item, "item \(item)"))
            #expect(!expectSameJSON([0xa1, 0x61, 0x61] + item, "item \(item) in a map"))
        }
    }

    /// The in-place UTF-8 check agrees with the decoders' string-building one on random bytes
    /// biased towards UTF-8's boundary values.
    @Test func utf8CheckAgreesWithTheDecoder() {
        var rng = SplitMix64(seed: 13)
        let interesting: [UInt8] = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1,
                                    0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff]
        for index in 0..<20000 {
            let bytes = (0..<Int.random(in: 0...12, using: &rng)).map { _ in
                Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            }
            let text = [0x60 | UInt8(bytes.count)] + bytes
            expectSameJSON(text, "text \(index)")
            // Past the eight-byte ASCII fast path.
            expectSameJSON([0x70] + Array("0123456789abcdef".utf8)[..<(16 - bytes.count)] + bytes, "text \(index) after ASCII")
        }
    }

    // MARK: Shared vectors

    func vectorCBOR(_ path: String) throws -> [(String, [UInt8])] {
        let document = try JSONValue.parse([UInt8](SharedVectors.data(path)))
        return try #require(document.arrayValue).enumerated().map { index, testCase in
            let name = testCase["name"]?.stringValue ?? testCase["note"]?.stringValue ?? "case \(index)"
            let cbor = try Base64.decode(testCase["cbor_base64"]?.stringValue ?? "", alphabet: .standard, padding: .optional)
            return ("\(path): \(name)", cbor)
        }
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func dataModelFixtures() throws {
        let cases = try vectorCBOR("interop/data-model/data-model-fixtures.json") + vectorCBOR("extra/data-model/lex-cbor-vectors.json")
        #expect(cases.count == 8)
        for (name, cbor) in cases { #expect(expectSameJSON(cbor, name)) }
    }

    /// Every DAG-CBOR block of the shared repository CARs (records, MST nodes, commits) and the
    /// loose record files.
    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func realRepositoryBlocks() throws {
        let directory = try SharedVectors.url("extra/repos")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        var blocks = 0
        for file in files where file.hasSuffix(".car") || file.hasSuffix(".cbor") {
            let data = [UInt8](try Data(contentsOf: directory.appendingPathComponent(file)))
            let items = file.hasSuffix(".car") ? try Self.dagCBORBlocks(ofCAR: data) : [data]
            for (index, block) in items.enumerated() {
                #expect(expectSameJSON(block, limits: .init(maxDepth: 64), "\(file) block \(index)"))
            }
            blocks += items.count
        }
        #expect(blocks > 1000)
    }

    /// The DAG-CBOR blocks of a CARv1 file (header skipped; raw blocks left out).
    static func dagCBORBlocks(ofCAR bytes: [UInt8]) throws -> [[UInt8]] {
        var position = 0
        func section() throws -> ArraySlice<UInt8> {
            let (length, used) = try Varint.decode(bytes[position...])
            position += used
            defer { position += Int(length) }
            return bytes[position..<(position + Int(length))]
        }
        _ = try section()
        var blocks: [[UInt8]] = []
        while position < bytes.count {
            let body = try section()
            let (cid, used) = try CID.parsePrefix(body)
            if cid.codec == CID.Codec.dagCBOR { blocks.append(Array(body.dropFirst(used))) }
        }
        return blocks
    }
}
