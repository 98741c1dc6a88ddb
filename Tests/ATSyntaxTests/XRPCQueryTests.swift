import ATSyntax
import Testing

/// The URL Standard's urlencoded parsing, as XRPC query strings use it.
@Suite struct XRPCQueryTests {
    @Test func repeatedKeysFormArraysInOrder() {
        let query = XRPCQuery("cids=b&did=did:plc:x&cids=a&cids=c")
        #expect(query.all("cids") == ["b", "a", "c"])
        #expect(query.first("did") == "did:plc:x")
        #expect(query.first("missing") == nil)
        #expect(query.all("missing").isEmpty)
    }

    @Test func plusIsASpaceButAnEscapedPlusIsAPlus() {
        let query = XRPCQuery("q=a+b%2Bc&%6Bey=v%20w")
        #expect(query.first("q") == "a b+c")
        #expect(query.first("key") == "v w")
    }

    @Test func emptyPiecesAreDroppedAndAMissingEqualsIsAnEmptyValue() {
        let query = XRPCQuery("&&a&=x&b=&&c=1=2")
        #expect(query.values == ["a": [""], "": ["x"], "b": [""], "c": ["1=2"]])
        #expect(XRPCQuery("").values.isEmpty)
    }

    /// A name or value whose escapes do not decode (a `%` without two hex digits, bytes that are
    /// not UTF-8) is kept as sent, `+` still a space, as the reference's query parser keeps it.
    @Test(arguments: [
        ("100%", "100%"), ("%zz+1", "%zz 1"), ("%4", "%4"), ("%FF%FE", "%FF%FE"), ("%E9t%C3%A9", "%E9t%C3%A9"),
        ("%zz%20x", "%zz%20x"), ("caf%C3%A9", "café"), ("%F0%9F%A6%8B", "🦋"), ("café", "café"),
        ("at%3A%2F%2Fdid%3Aplc%3Aabc%2Fapp.bsky.feed.post%2F3k", "at://did:plc:abc/app.bsky.feed.post/3k"),
    ])
    func oneValue(sent: String, read: String) {
        #expect(XRPCQuery("v=" + sent).first("v") == read)
        #expect(XRPCQuery(sent + "=1").values == [read: ["1"]])
    }
}
