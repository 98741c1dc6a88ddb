// Lexicon record validation (ATLexicon) of untrusted records, as createRecord/putRecord/
// applyWrites and repo imports do: mode 0 reads the record as atproto JSON, mode 1 as DAG-CBOR;
// the collection is the record's own `$type` (or one picked by the next byte), validated against
// the built-in catalog, plus the interop vectors' example catalog when run-all.sh provides it
// (FUZZ_VECTORS). Mode 2 parses the input as a Lexicon schema document.
import ATData
import ATLexicon
import FuzzSupport

nonisolated(unsafe) var catalogs: [LexiconCatalog] = [.builtIn]
nonisolated(unsafe) var collections: [String] = []
let recordKeys = [nil, "self", "3k2aaaaaaaaaa", "demo", "..", "a:b"]

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    if let vectors = environment("FUZZ_VECTORS") {
        var documents: [LexiconDocument] = []
        for name in ["record", "query", "procedure", "subscription", "permission-set"] {
            if let bytes = readFile("\(vectors)/interop/lexicon/catalog/\(name).json"),
               let document = try? LexiconDocument(jsonBytes: bytes) {
                documents.append(document)
            }
        }
        if !documents.isEmpty { catalogs.append(LexiconCatalog(documents)) }
    }
    for catalog in catalogs {
        collections += catalog.documents.keys.sorted().filter { catalog.recordSchema($0) != nil }
    }
    writeSeeds {
        let post = #"{"$type":"app.bsky.feed.post","text":"hello @alice.test","createdAt":"2024-01-01T00:00:00.000Z","langs":["en"],"#
            + #""facets":[{"index":{"byteStart":6,"byteEnd":17},"features":[{"$type":"app.bsky.richtext.facet#mention","did":"did:plc:abc"}]}],"#
            + #""embed":{"$type":"app.bsky.embed.images","images":[{"alt":"","image":{"$type":"blob","ref":{"$link":"bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},"mimeType":"image/png","size":1000}}]}}"#
        let profile = #"{"$type":"app.bsky.actor.profile","displayName":"Alice","description":"hi","labels":{"$type":"com.atproto.label.defs#selfLabels","values":[{"val":"!no-unauthenticated"}]}}"#
        let like = #"{"$type":"app.bsky.feed.like","subject":{"uri":"at://did:plc:abc/app.bsky.feed.post/3k2aaaaaaaaaa","cid":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},"createdAt":"2024-01-01T00:00:00Z"}"#
        var seeds: [(String, [UInt8])] = []
        for (name, json) in [("post", post), ("profile", profile), ("like", like)] {
            seeds.append(("\(name)-json", [0, 0] + Array(json.utf8)))
            if let value = try? DataValue.fromJSON(json) { seeds.append(("\(name)-cbor", [1, 0] + DAGCBOR.encode(value))) }
        }
        seeds.append(("schema", [2, 0] + Array(##"{"lexicon":1,"id":"com.example.thing","defs":{"main":{"type":"record","key":"tid","record":{"type":"object","required":["a"],"properties":{"a":{"type":"string","maxLength":10,"format":"handle"},"b":{"type":"array","items":{"type":"union","refs":["#x"]}}}}},"x":{"type":"object","properties":{"n":{"type":"integer","minimum":1}}}}}"##.utf8)))
        return seeds
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var cursor = ByteCursor(inputBytes(data, size))
    let mode = cursor.byte() % 3
    let pick = Int(cursor.byte())
    let body = cursor.rest
    if mode == 2 {
        guard let document = try? LexiconDocument(jsonBytes: body) else { return 0 }
        let catalog = LexiconCatalog([document])
        _ = catalog.unresolvedRefs()
        if let schema = catalog.recordSchema(document.id) { _ = schema }
        for name in document.defs.keys.sorted() {
            try? catalog.validate(.map(["$type": .string(document.id)]), against: "\(document.id)#\(name)")
        }
        return 0
    }
    let record: DataValue
    if mode == 0 {
        guard let value = try? DataValue.fromJSON(body) else { return 0 }
        record = value
    } else {
        guard let value = try? DAGCBOR.decode(body) else { return 0 }
        record = value
    }
    let collection = record.mapValue?["$type"]?.stringValue ?? (collections.isEmpty ? "app.bsky.feed.post" : collections[pick % collections.count])
    let rkey = recordKeys[pick % recordKeys.count]
    for catalog in catalogs {
        _ = try? catalog.validateRecord(record, collection: collection, rkey: rkey)
    }
    return 0
}

@main
enum Main {
    static func main() { runFuzzer(testOneInput) }
}
