import ATData
import TestSupport
import Testing

@Suite struct BlobRefTests {
    let rawCID = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"
    let dataCID = "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"

    @Test func readsAndWritesTheCurrentForm() throws {
        let json = #"{"$type":"blob","ref":{"$link":"\#(rawCID)"},"mimeType":"image/jpeg","size":10000}"#
        let value = try DataValue.fromJSON(json)
        let blob = try BlobRef(value)
        #expect(blob.ref.string == rawCID)
        #expect(blob.mimeType == "image/jpeg")
        #expect(blob.size == 10000)
        #expect(!blob.isLegacy)
        #expect(blob.dataValue == value)
        // The canonical key order for blobs (ATPROTO.md §1.2): ref, size, $type, mimeType.
        let cbor = DAGCBOR.encode(try #require(blob.dataValue))
        #expect(Array(cbor[1...4]) == [0x63] + Array("ref".utf8))
        let empty = try BlobRef(ref: blob.ref, mimeType: "application/octet-stream", size: 0)
        #expect(empty.size == 0)
    }

    @Test func rejectsMalformedBlobs() throws {
        let link = DataValue.link(try CID(string: rawCID))
        let good: [String: DataValue] = ["$type": "blob", "ref": link, "mimeType": "image/png", "size": 5]
        func without(_ key: String) -> DataValue { var map = good; map[key] = nil; return .map(map) }
        func with(_ key: String, _ value: DataValue) -> DataValue { var map = good; map[key] = value; return .map(map) }
        let cases: [(String, DataValue)] = [
            ("missing ref", without("ref")), ("missing mimeType", without("mimeType")), ("missing size", without("size")),
            ("string size", with("size", "5")), ("negative size", with("size", -1)), ("empty mimeType", with("mimeType", "")),
            ("ref as string", with("ref", .string(rawCID))), ("dag-cbor ref", with("ref", .link(try CID(string: dataCID)))),
            ("mimeType not a string", with("mimeType", 1)),
        ]
        for (name, value) in cases {
            #expect(throws: DataError.self, "BlobRef: \(name)") { try BlobRef(value) }
            #expect(throws: DataError.self, "validate: \(name)") { try DataModel.validate(["b": value]) }
            #expect(throws: DataError.self, "references: \(name)") { try DataValue.map(["b": value]).references() }
            #expect(throws: DataError.self, "strict JSON: \(name)") { try DataValue.fromJSON(value.toJSON()) }
        }
        #expect(throws: DataError.self) { try BlobRef("blob") }
        #expect(throws: DataError.self) { try BlobRef(["$type": "other"]) }
        #expect(throws: DataError.self) { try BlobRef(ref: CID(string: dataCID), mimeType: "a/b", size: 1) }
    }

    @Test func readsTheLegacyFormButNeverWritesIt() throws {
        let value: DataValue = ["cid": .string(rawCID), "mimeType": "image/jpeg"]
        let blob = try BlobRef(value)
        #expect(blob.isLegacy)
        #expect(blob.size == nil)
        #expect(blob.ref.string == rawCID)
        #expect(blob.dataValue == nil)
        // Not legacy: extra keys, a bad CID, a non-string mimeType — plain data, no error.
        #expect(throws: DataError.self) { try BlobRef(["cid": .string(rawCID), "mimeType": "a", "x": 1]) }
        #expect(try DataValue.map(["a": ["cid": "nope", "mimeType": "a"]]).references() == DataReferences())
        #expect(try DataValue.map(["a": ["cid": .string(rawCID), "mimeType": 1]]).references() == DataReferences())
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func legacyRecordFromTheRepoSliceVector() throws {
        let document = try JSONValue.parse([UInt8](SharedVectors.data("extra/repos/repo_slice_record.json")))
        let record = try DataValue(json: try #require(document["value"]))
        try DataModel.validateRecord(record)
        let references = try record.references()
        #expect(references.links.isEmpty)
        #expect(references.blobs.count == 1)
        let blob = try #require(references.blobs.first)
        #expect(blob.isLegacy)
        #expect(blob.ref.string == "bafkreiblkobl6arfg3j7eft3akdhn2hmr2qmzfkefcgu4agnswvssg4a6a")
        #expect(blob.mimeType == "image/jpeg")
        // Reading and re-writing the record leaves the legacy map as it was (data is not upgraded).
        #expect(try DataValue.fromJSON(record.toJSON()) == record)
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func collectsBlobsAndLinks() throws {
        let cases = try JSONValue.parse([UInt8](SharedVectors.data("interop/data-model/data-model-fixtures.json")))
        let second = try DataValue(json: try #require(cases.arrayValue?[1]["json"]))
        let references = try second.references()
        #expect(references.blobs.map(\.ref.string) == [rawCID])
        #expect(references.blobs.first?.size == 10000)
        // Walk order is canonical key order: "a" (a link), then "c" (the blob and its ref).
        #expect(references.links.map(\.string) == [dataCID, rawCID])

        let third = try DataValue(json: try #require(cases.arrayValue?[2]["json"]))
        let nested = try third.references()
        #expect(nested.blobs.isEmpty)
        #expect(nested.links.map(\.string) == [dataCID, dataCID])

        let record: DataValue = [
            "$type": "app.bsky.feed.post",
            "embed": ["images": [
                ["image": try BlobRef(ref: CID(string: rawCID), mimeType: "image/png", size: 3).dataValue!],
                ["image": ["cid": .string(rawCID), "mimeType": "image/png"]],
            ]],
        ]
        let found = try record.references()
        #expect(found.blobs.count == 2)
        #expect(found.blobs.map(\.isLegacy) == [false, true])
        #expect(found.links.count == 1)
    }
}
