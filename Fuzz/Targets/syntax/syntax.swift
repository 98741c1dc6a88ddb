// The string formats that XRPC query parameters and record fields are checked against
// (ATSyntax): DID, handle, at-identifier, NSID, AT-URI, TID, record key, datetime, CID string,
// language tag, URI. (The query-string splitter itself is the `xrpc-query` target.) Whatever
// parses must print back to a string that parses to the same value.
import ATSyntax
import FuzzSupport

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    writeSeeds {
        [
            "did:plc:abcdefghijklmnopqrstuvwx", "did:web:example.com%3A8080", "alice.bsky.social", "xn--ls8h.test",
            "app.bsky.feed.post", "at://did:plc:abc/app.bsky.feed.post/3k2aaaaaaaaaa", "at://alice.test/app.bsky.actor.profile/self",
            "3k2aaaaaaaaaa", "self", "2024-01-01T00:00:00.000Z", "1985-04-12T23:20:50.123456789+05:30",
            "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm", "en-GB", "zh-Hant-TW-x-private", "i-klingon",
            "https://example.com/path?q=1#f",
        ].enumerated().map { ("value-\($0.offset)", Array($0.element.utf8)) }
    }
    return 0
}

@inline(__always)
func roundTrip<Value: Equatable>(_ text: String, _ parse: (String) throws -> Value, _ print: (Value) -> String, _ what: String) {
    guard let value = try? parse(text) else { return }
    let printed = print(value)
    require((try? parse(printed)) == value, "\(what) does not round-trip: \(text.debugDescription) → \(printed.debugDescription)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // Query values reach handlers as Strings (percent-decoded; invalid UTF-8 repaired).
    let text = String(decoding: inputBytes(data, size), as: UTF8.self)
    roundTrip(text, { try DID($0) }, { $0.string }, "DID")
    roundTrip(text, { try Handle($0) }, { $0.string }, "handle")
    roundTrip(text, { try ATIdentifier($0) }, { $0.string }, "at-identifier")
    roundTrip(text, { try NSID($0) }, { $0.string }, "NSID")
    roundTrip(text, { try ATURI($0) }, { $0.string }, "AT-URI")
    roundTrip(text, { try TID($0) }, { $0.string }, "TID")
    roundTrip(text, { try RecordKey($0) }, { $0.string }, "record key")
    roundTrip(text, { try Datetime($0) }, { $0.string }, "datetime")
    roundTrip(text, { try CIDString($0) }, { $0.string }, "CID string")
    roundTrip(text, { try LanguageTag($0) }, { $0.string }, "language tag")
    _ = Datetime.isWellFormed(text)
    _ = LanguageTag.isWellFormed(text)
    _ = URIString.isValid(text)
    return 0
}

@main
enum Main {
    static func main() { runFuzzer(testOneInput) }
}
