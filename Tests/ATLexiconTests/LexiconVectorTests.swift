import ATData
import ATLexicon
import Foundation
import TestSupport
import Testing

/// The interop Lexicon vectors: schema-document validity, and record data validated against the
/// example catalog (`vectors/interop/lexicon`).
@Suite(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
struct LexiconVectorTests {
    func cases(_ path: String) throws -> [JSONValue] {
        let document = try JSONValue.parse([UInt8](SharedVectors.data(path)))
        return try #require(document.arrayValue, "\(path) should be a JSON array")
    }

    /// The vectors' blob refs carry dag-cbor CIDs, which the strict data-model reading rejects
    /// (blob refs are raw, ATPROTO.md §1.3); the Lexicon layer does not look at codecs, so the
    /// vectors are read leniently, as the reference codec reads them.
    func data(_ json: JSONValue) throws -> DataValue { try DataValue(json: json, mode: .lenient) }

    func exampleCatalog() throws -> LexiconCatalog {
        var catalog = LexiconCatalog()
        let directory = try SharedVectors.url("interop/lexicon/catalog")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }
        #expect(files.count >= 5, "the example catalog should have its five documents")
        for file in files {
            let bytes = try [UInt8](Data(contentsOf: directory.appendingPathComponent(file)))
            catalog.add(try LexiconDocument(jsonBytes: bytes))
        }
        return catalog
    }

    @Test func validSchemaDocumentsParse() throws {
        let all = try cases("interop/lexicon/lexicon-valid.json")
        #expect(all.count == 3)
        for testCase in all {
            let name = testCase["name"]?.stringValue ?? "?"
            let lexicon = try #require(testCase["lexicon"])
            #expect(throws: Never.self, "\(name)") { _ = try LexiconDocument(json: lexicon) }
        }
    }

    @Test func invalidSchemaDocumentsAreRejected() throws {
        let all = try cases("interop/lexicon/lexicon-invalid.json")
        #expect(all.count == 7)
        for testCase in all {
            let name = testCase["name"]?.stringValue ?? "?"
            let lexicon = try #require(testCase["lexicon"])
            #expect(throws: LexiconError.self, "\(name)") { _ = try LexiconDocument(json: lexicon) }
        }
    }

    @Test func validRecordDataPasses() throws {
        let catalog = try exampleCatalog()
        let all = try cases("interop/lexicon/record-data-valid.json")
        #expect(all.count == 3)
        for testCase in all {
            let name = testCase["name"]?.stringValue ?? "?"
            let data = try data(try #require(testCase["data"]))
            let collection = try #require(data.typeName)
            let outcome = try catalog.validateRecord(data, collection: collection, rkey: testCase["rkey"]?.stringValue)
            guard case .valid = outcome else {
                Issue.record("\(name): the catalog should know \(collection)")
                continue
            }
        }
    }

    /// Every case is data-model JSON that the Lexicon must reject.
    @Test func invalidRecordDataIsRejected() throws {
        let catalog = try exampleCatalog()
        let all = try cases("interop/lexicon/record-data-invalid.json")
        #expect(all.count == 50)
        for testCase in all {
            let name = testCase["name"]?.stringValue ?? "?"
            let json = try #require(testCase["data"])
            let data = try data(json)
            #expect(throws: LexiconValidationError.self, "\(name)") {
                _ = try catalog.validateRecord(data, collection: "example.lexicon.record", rkey: testCase["rkey"]?.stringValue)
            }
        }
    }
}
