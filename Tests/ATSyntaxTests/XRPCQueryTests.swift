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

    /// A `%` without two hex digits is kept; bytes that are not UTF-8 become U+FFFD.
    @Test func badEscapesAreKeptAndBadUTF8IsReplaced() {
        #expect(XRPCQuery("a=100%&b=%zz&c=%4").values == ["a": ["100%"], "b": ["%zz"], "c": ["%4"]])
        #expect(XRPCQuery("a=%E9t%C3%A9").first("a") == "\u{FFFD}t\u{E9}")
        #expect(XRPCQuery("a=%F0%9F%A6%8B").first("a") == "🦋")
        #expect(XRPCQuery("h=caf%C3%A9.test&raw=café").values == ["h": ["café.test"], "raw": ["café"]])
    }
}
