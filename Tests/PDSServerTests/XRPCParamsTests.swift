@testable import PDSServer
import Testing

/// Typed access to query parameters (the decoding itself is ATSyntax's `XRPCQuery`, tested there).
@Suite struct XRPCParamsTests {
    @Test func repeatedKeysFormArraysAndEmptyValuesCount() {
        let params = XRPCParams(query: "collection=app.bsky.feed.post&limit=50&uris=a&uris=b%2Bc&flag&empty=")
        #expect(params.optionalString("collection") == "app.bsky.feed.post")
        #expect(params.values["uris"] == ["a", "b+c"])
        #expect(params.optionalString("flag") == "")
        #expect(params.optionalString("empty") == "")
        #expect(params.optionalString("absent") == nil)
    }
}
