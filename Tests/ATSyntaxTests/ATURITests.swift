import ATSyntax
import Testing

@Suite("AT-URI")
struct ATURITests {
    @Test func components() throws {
        let uri = try ATURI("at://did:plc:7iza6de2dwap2sbkpav7c6c6/app.bsky.feed.post/3jzfcijpj2z2a")
        #expect(uri.authority == .did(try DID("did:plc:7iza6de2dwap2sbkpav7c6c6")))
        #expect(uri.authority.did?.isPLC == true)
        #expect(uri.collection == (try NSID("app.bsky.feed.post")))
        #expect(uri.recordKey == (try RecordKey("3jzfcijpj2z2a")))
        #expect(uri.repoPath == "app.bsky.feed.post/3jzfcijpj2z2a")
        #expect(uri.string == "at://did:plc:7iza6de2dwap2sbkpav7c6c6/app.bsky.feed.post/3jzfcijpj2z2a")
    }

    @Test func partialURIs() throws {
        let repo = try ATURI("at://alice.example.com")
        #expect(repo.authority.handle == (try Handle("alice.example.com")))
        #expect(repo.collection == nil)
        #expect(repo.recordKey == nil)
        #expect(repo.repoPath == nil)

        let collection = try ATURI("at://did:web:example.com/com.example.thing")
        #expect(collection.authority.did?.isWeb == true)
        #expect(collection.collection?.name == "thing")
        #expect(collection.recordKey == nil)
    }

    /// Spec §6: a handle authority and the NSID authority are lowercased; the NSID name and the
    /// record key keep their case.
    @Test func normalisation() throws {
        let uri = try ATURI("at://Alice.Example.COM/COM.Example.fooBar/AbC")
        #expect(uri.string == "at://alice.example.com/com.example.fooBar/AbC")
        #expect(uri == (try ATURI("at://alice.example.com/com.example.fooBar/AbC")))
        #expect(uri != (try ATURI("at://alice.example.com/com.example.foobar/AbC")))
        // DIDs are case-sensitive and are kept as written.
        #expect(try ATURI("at://did:plc:ABC/a.b.c").string == "at://did:plc:ABC/a.b.c")
    }

    @Test func fromComponents() throws {
        let did = try DID("did:plc:abc")
        let uri = ATURI(did: did, collection: try NSID("app.bsky.feed.like"), recordKey: RecordKey(TID.zero))
        #expect(uri.string == "at://did:plc:abc/app.bsky.feed.like/2222222222222")
        #expect(try ATURI(uri.string) == uri)
        #expect(ATURI(authority: .did(did)).string == "at://did:plc:abc")
        #expect(ATURI(authority: .did(did), collection: try NSID("a.b.c")).string == "at://did:plc:abc/a.b.c")
    }

    @Test func errorMessages() {
        let cases: [(String, String)] = [
            ("at://did:plc:asdf123/", "AT-URI must not end with '/'"),
            ("at://did:plc:asdf123#frag", "AT-URI must not have a query or fragment"),
            ("http://did:plc:asdf123", "AT-URI must start with \"at://\""),
            ("at://name", "AT-URI authority: handle must have at least two labels, like alice.example.com"),
            ("at://did:plc:asdf123/12345", "AT-URI collection: NSID must have at least three segments, like com.example.fooBar"),
            ("at://did:plc:asdf123/a.b.c/d/e", "AT-URI has too many path segments (at most collection and record key)"),
            ("at://did:plc:asdf123/a.b.c/..", "AT-URI record key: record key must not be '.' or '..'"),
        ]
        for (input, message) in cases {
            do {
                _ = try ATURI(input)
                Issue.record("accepted \(input)")
            } catch {
                #expect(error.message == message)
            }
        }
    }
}
