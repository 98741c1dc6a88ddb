@testable import PDSServer
import Testing

/// Query-string decoding (application/x-www-form-urlencoded, as the reference's Express parses it).
@Suite struct XRPCParamsTests {
    @Test(arguments: [
        ("plain", "plain"),
        ("a+b%20c", "a b c"),
        ("x+%2B", "x +"),
        ("%C3%A9t%C3%A9", "été"),
        ("at%3A%2F%2Fdid%3Aplc%3Aabc%2Fapp.bsky.feed.post%2F3k", "at://did:plc:abc/app.bsky.feed.post/3k"),
        ("%zz+1", "%zz 1"),       // a malformed escape leaves the text as it is, + still a space
        ("100%", "100%"),
        ("%4", "%4"),
        ("%FF%FE", "%FF%FE"),     // escapes that are not UTF-8 are left undecoded
    ])
    func decodesOneComponent(encoded: String, expected: String) {
        #expect(XRPCParams.decode(encoded[...]) == expected)
    }

    @Test func repeatedKeysFormArraysAndEmptyValuesCount() {
        let params = XRPCParams(query: "collection=app.bsky.feed.post&limit=50&uris=a&uris=b%2Bc&flag&empty=")
        #expect(params.optionalString("collection") == "app.bsky.feed.post")
        #expect(params.values["uris"] == ["a", "b+c"])
        #expect(params.optionalString("flag") == "")
        #expect(params.optionalString("empty") == "")
        #expect(params.optionalString("absent") == nil)
    }
}
