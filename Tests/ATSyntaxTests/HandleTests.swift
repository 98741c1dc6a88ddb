import ATSyntax
import Testing

@Suite("Handle")
struct HandleTests {
    @Test func normalisesToLowercase() throws {
        let handle = try Handle("Alice.Example.COM")
        #expect(handle.string == "alice.example.com")
        #expect(handle.description == "alice.example.com")
        #expect(handle == (try Handle("alice.example.com")))
        #expect(handle.labels == ["alice", "example", "com"])
        #expect(handle.tld == "com")
    }

    @Test func reservedTLDs() throws {
        for reserved in ["laptop.local", "x.onion", "a.alt", "b.arpa", "c.example", "d.internal", "e.invalid", "f.localhost", "LAPTOP.LOCAL"] {
            #expect(try Handle(reserved).isReservedTLD, "\(reserved)")
        }
        for normal in ["john.test", "alice.bsky.social", "example.com", "local.com"] {
            #expect(try !Handle(normal).isReservedTLD, "\(normal)")
        }
        #expect(try Handle("john.test").isTestTLD)
    }

    @Test func invalidSentinel() throws {
        #expect(Handle.invalid.string == "handle.invalid")
        #expect(Handle.invalid.isInvalidSentinel)
        #expect(Handle.invalid.isReservedTLD)
        #expect(try Handle("Handle.Invalid") == Handle.invalid)
    }

    @Test func errorMessages() {
        let long = String(repeating: "a", count: 64) + ".test"
        let cases: [(String, String)] = [
            (long, "handle label longer than 63 characters"),
            ("john", "handle must have at least two labels, like alice.example.com"),
            ("john..test", "handle has an empty label (leading, trailing or doubled '.')"),
            ("-john.test", "handle label must not start or end with '-'"),
            ("john.0aa", "handle top-level domain must not start with a digit"),
            ("jo_hn.test", "handle contains invalid character '_'"),
            ("bücher.test", "handle contains a non-ASCII character"),
            ("", "handle is empty"),
        ]
        for (input, message) in cases {
            do {
                _ = try Handle(input)
                Issue.record("accepted \(input)")
            } catch {
                #expect(error.message == message)
                #expect(error.format == .handle)
            }
        }
    }

    @Test func maxLength() throws {
        let label = String(repeating: "a", count: 63)
        let handle = [label, label, label, String(repeating: "b", count: 61)].joined(separator: ".")
        #expect(handle.count == 253)
        #expect(try Handle(handle).string == handle)
        #expect(throws: SyntaxError.self) { try Handle(handle + "b") }
    }
}
