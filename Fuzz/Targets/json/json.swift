// The JSON parser (JSONValue.parse) and the atproto JSON → data model path (DataValue.fromJSON).
// Round trips: serialise and parse again gives the same value; a data-model value survives
// atproto JSON and DAG-CBOR.
import ATData
import FuzzSupport

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    writeSeeds {
        [
            ("object", #"{"a":1,"b":[true,false,null],"c":{"d":"e\u00e9\n"},"f":-0.5e10}"#),
            ("record", #"{"$type":"app.bsky.feed.post","text":"hi","createdAt":"2024-01-01T00:00:00.000Z"}"#),
            ("link", #"{"ref":{"$link":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},"b":{"$bytes":"AAEC"}}"#),
            ("blob", #"{"$type":"blob","ref":{"$link":"bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},"mimeType":"image/png","size":123}"#),
            ("numbers", #"[0,-1,9223372036854775807,-9223372036854775808,1e2,1.0,123.0e-1,"\ud83d\ude00"]"#),
        ].map { ($0.0, Array($0.1.utf8)) }
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    if let value = try? JSONValue.parse(bytes) {
        let text = value.serialized()
        guard let again = try? JSONValue.parse(text) else {
            require(false, "serialized JSON does not parse: \(String(decoding: text, as: UTF8.self))")
            return 0
        }
        require(again == value, "JSON round trip changed the value")
        require(again.serialized() == text, "JSON serialisation is not stable")
    }
    for mode in [DataValue.JSONMode.strict, .lenient] {
        guard let value = try? DataValue.fromJSON(bytes, mode: mode) else { continue }
        let json = value.toJSON()
        let cbor = DAGCBOR.encode(value)
        if mode == .strict {
            require((try? DataValue.fromJSON(json, mode: .strict)) == value, "atproto JSON round trip changed the value")
            // JSON allows nesting 64 and stored records are read back with that limit; what passes
            // the data model's own checks (depth 32, as records must) decodes with the defaults.
            require((try? DAGCBOR.decode(cbor, limits: .init(maxDepth: 64))) == value, "DAG-CBOR round trip changed a value read from JSON")
            if (try? DataModel.validate(value)) != nil {
                require((try? DAGCBOR.decode(cbor)) == value, "a value that passes DataModel.validate does not decode with the default limits")
            }
        }
    }
    return 0
}

@main
enum Main {
    static func main() { runFuzzer(testOneInput) }
}
