import ATData
import Foundation
import Multiformats
import TestSupport
import Testing

/// The shared data-model vectors (interop-tests and the extra lex-cbor set), read with our own
/// JSON parser so number spellings such as `123.0` reach the code under test unchanged.
@Suite struct DataModelVectorTests {
    func vectorCases(_ path: String) throws -> [JSONValue] {
        let document = try JSONValue.parse([UInt8](SharedVectors.data(path)))
        return try #require(document.arrayValue, "\(path) should be a JSON array")
    }

    func base64(_ text: String) throws -> [UInt8] { try Base64.decode(text, alphabet: .standard, padding: .optional) }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func fixturesEncodeToTheExpectedCBORAndCID() throws {
        let cases = try vectorCases("interop/data-model/data-model-fixtures.json")
        #expect(cases.count == 3)
        for (index, testCase) in cases.enumerated() {
            let json = try #require(testCase["json"])
            let value = try DataValue.fromJSON(json.serialized())
            let cbor = DAGCBOR.encode(value)
            #expect(cbor == (try base64(testCase["cbor_base64"]?.stringValue ?? "")), "fixture \(index): CBOR bytes")
            #expect(CID.dagCBOR(hashing: cbor).string == testCase["cid"]?.stringValue, "fixture \(index): CID")
            // The JSONValue route agrees with the direct parser.
            #expect(try DataValue(json: json) == value, "fixture \(index): via JSONValue")
            // CBOR → data → JSON → data is the same data, and the same bytes.
            let decoded = try DAGCBOR.decode(cbor)
            #expect(decoded == value, "fixture \(index): CBOR decode")
            let again = try DataValue.fromJSON(decoded.toJSON())
            #expect(again == value, "fixture \(index): JSON round trip")
            #expect(DAGCBOR.encode(again) == cbor, "fixture \(index): re-encoded bytes")
            try DataModel.validateObject(value)
        }
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func validVectorsAreAccepted() throws {
        let cases = try vectorCases("interop/data-model/data-model-valid.json")
        #expect(cases.count == 5)
        for testCase in cases {
            let note = testCase["note"]?.stringValue ?? "?"
            let json = try #require(testCase["json"])
            do {
                let value = try DataValue.fromJSON(json.serialized())
                try DataModel.validateObject(value)
                #expect(try DataValue(json: json) == value, "\(note): via JSONValue")
                // And as CBOR: encode, decode, validate again.
                try DataModel.validateObject(DAGCBOR.decode(DAGCBOR.encode(value)))
            } catch {
                Issue.record("valid case \"\(note)\" was rejected: \(error)")
            }
        }
        // "float, but integer-like": 123.0 is the integer 123.
        let floatLike = try DataValue.fromJSON(try #require(cases[1]["json"]).serialized())
        #expect(floatLike["rcrd"]?["a"] == .integer(123))
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func invalidVectorsAreRejected() throws {
        let cases = try vectorCases("interop/data-model/data-model-invalid.json")
        #expect(cases.count == 12)
        for testCase in cases {
            let note = testCase["note"]?.stringValue ?? "?"
            let json = try #require(testCase["json"]).serialized()
            #expect(throws: DataError.self, "invalid case \"\(note)\" was accepted") {
                try DataModel.validateObject(DataValue.fromJSON(json))
            }
            // The validator alone also catches every case that survives lenient parsing, also
            // after a trip through CBOR (the route records from other servers take).
            if let lenient = try? DataValue.fromJSON(json, mode: .lenient) {
                #expect(throws: DataError.self, "\"\(note)\": validator accepted the lenient parse") {
                    try DataModel.validateObject(lenient)
                }
                #expect(throws: DataError.self, "\"\(note)\": validator accepted the CBOR form") {
                    try DataModel.validateObject(DAGCBOR.decode(DAGCBOR.encode(lenient)))
                }
            }
        }
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func lexCBORVectors() throws {
        let cases = try vectorCases("extra/data-model/lex-cbor-vectors.json")
        #expect(cases.count == 5)
        for testCase in cases {
            let name = testCase["name"]?.stringValue ?? "?"
            let json = try #require(testCase["json"]).serialized()
            let expected = try base64(testCase["cbor_base64"]?.stringValue ?? "")
            // The JS codec reads extra-key `$link`/`$bytes` objects as plain maps: lenient mode.
            let value = try DataValue.fromJSON(json, mode: .lenient)
            let cbor = DAGCBOR.encode(value)
            #expect(cbor == expected, "\(name): CBOR bytes")
            #expect(CID.dagCBOR(hashing: cbor).string == testCase["cid"]?.stringValue, "\(name): CID")
            #expect(try DAGCBOR.decode(cbor) == value, "\(name): decode")
            #expect(try DataValue.fromJSON(value.toJSON(), mode: .lenient) == value, "\(name): JSON round trip")
            if name == "poorlyFormatted" {
                // interop data-model-invalid.json: such objects are invalid under strict rules.
                #expect(throws: DataError.self, "\(name) must fail strict parsing") { try DataValue.fromJSON(json) }
            } else {
                #expect(try DataValue.fromJSON(json) == value, "\(name): strict parse")
            }
        }
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"),
          arguments: ["extra/repos/feedpost_record.cbor", "extra/repos/post_richtext_link.cbor"])
    func realRecordsRoundTripThroughJSON(path: String) throws {
        let cbor = [UInt8](try SharedVectors.data(path))
        let value = try DAGCBOR.decode(cbor)
        #expect(try DataModel.validateRecord(value) == cbor)
        let json = value.toJSON()
        let back = try DataValue.fromJSON(json)
        #expect(back == value)
        #expect(DAGCBOR.encode(back) == cbor)
        // Our JSON is valid for another parser too.
        _ = try JSONSerialization.jsonObject(with: Data(json))
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func everySharedJSONFileParsesAndRoundTrips() throws {
        let root = try SharedVectors.url("INDEX.md").deletingLastPathComponent()
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "json" }
        #expect(files.count > 20)
        let limits = JSONLimits(maxInputSize: 64 << 20, maxDepth: 256)
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: file))
            do {
                let value = try JSONValue.parse(bytes, limits: limits)
                #expect(try JSONValue.parse(value.serialized(), limits: limits) == value, "\(file.lastPathComponent): round trip")
            } catch {
                Issue.record("\(file.path): \(error)")
            }
        }
    }

    @Test func recordValidationLimits() throws {
        #expect(throws: DataError.self, "not a map") { try DataModel.validateRecord("x") }
        #expect(throws: DataError.self, "no $type") { try DataModel.validateRecord(["a": 1]) }
        #expect(throws: DataError.self, "empty $type") { try DataModel.validateRecord(["$type": ""]) }
        #expect(throws: DataError.self, "non-string $type") { try DataModel.validateRecord(["$type": 1]) }
        #expect(try DataModel.validateRecord(["$type": "a.b.c"]) == DAGCBOR.encode(["$type": "a.b.c"]))

        var deep: DataValue = 1
        for _ in 0..<31 { deep = .array([deep]) }
        try DataModel.validateRecord(["$type": "t", "d": deep])  // 32 containers including the record
        #expect(throws: DataError.self, "33 levels") { try DataModel.validateRecord(["$type": "t", "d": .array([deep])]) }

        #expect(throws: DataError.self, "empty key") { try DataModel.validateRecord(["$type": "t", "": 1]) }
        try DataModel.validateRecord(["$type": "t", String(repeating: "k", count: 8192): 1])
        #expect(throws: DataError.self, "8193-byte key") {
            try DataModel.validateRecord(["$type": "t", String(repeating: "k", count: 8193): 1])
        }
        #expect(throws: DataError.self, "131,073 elements") {
            try DataModel.validateRecord(["$type": "t", "a": .array(Array(repeating: nil, count: 131_073))])
        }
        try DataModel.validateRecord(["$type": "t", "a": .array(Array(repeating: nil, count: 131_072))])
        #expect(throws: DataError.self, "over 1 MiB") {
            try DataModel.validateRecord(["$type": "t", "s": .string(String(repeating: "x", count: 1_048_576))])
        }
        #expect(throws: DataError.self, "$link key in a map") { try DataModel.validate(["$link": "x"]) }
        #expect(throws: DataError.self, "$bytes key in a map") { try DataModel.validate(["$bytes": "x"]) }
        // Other `$` keys are reserved but must be ignored, not rejected.
        try DataModel.validateRecord(["$type": "t", "$unknown": 1])
        // A cid-link with a codec other than dag-cbor or raw (here dag-pb 0x70).
        let dagPB = try CID(bytes: [0x01, 0x70, 0x12, 0x20] + Array(repeating: 7, count: 32))
        #expect(throws: DataError.self, "dag-pb link") { try DataModel.validate(.link(dagPB)) }
        // Top-level arrays are data but not objects.
        try DataModel.validate([1, 2])
        #expect(throws: DataError.self) { try DataModel.validateObject([1, 2]) }
    }
}
