import ATData
import ATLexicon
import ATSyntax
import Testing

/// The pure steps of Lexicon resolution (https://atproto.com/specs/lexicon, "Lexicon Publication
/// and Resolution").
@Suite struct LexiconAuthorityTests {
    @Test func dnsNameIsTheReversedAuthority() throws {
        #expect(LexiconAuthority.dnsName(for: try NSID("app.bsky.feed.post")) == "_lexicon.feed.bsky.app")
        #expect(LexiconAuthority.dnsName(for: try NSID("com.example.authBasics")) == "_lexicon.example.com")
        #expect(LexiconAuthority.dnsName(for: try NSID("COM.Example.Sub.fooBar")) == "_lexicon.sub.example.com")
    }

    @Test func txtRecordsNameOneDID() throws {
        #expect(try LexiconAuthority.did(fromTXT: ["did=did:plc:abc123"]) == "did:plc:abc123")
        #expect(try LexiconAuthority.did(fromTXT: ["v=spf1 -all", "did=did:web:example.com", "did=did:web:example.com"]) == "did:web:example.com")
        #expect(throws: LexiconAuthority.Invalid("no _lexicon TXT record with did=")) { try LexiconAuthority.did(fromTXT: ["hello"]) }
        #expect(throws: LexiconAuthority.Invalid("no _lexicon TXT record with did=")) { try LexiconAuthority.did(fromTXT: []) }
        #expect(throws: LexiconAuthority.Invalid("conflicting _lexicon TXT records")) {
            try LexiconAuthority.did(fromTXT: ["did=did:plc:one", "did=did:plc:two"])
        }
        #expect(throws: LexiconAuthority.Invalid("the _lexicon TXT record names an invalid DID")) { try LexiconAuthority.did(fromTXT: ["did=nope"]) }
    }

    @Test func schemaRecordMustBeTheSchemaAskedFor() throws {
        let nsid = try NSID("com.example.authBasics")
        let good: JSONValue = ["$type": "com.atproto.lexicon.schema", "lexicon": 1, "id": "com.example.authBasics",
                               "defs": ["main": ["type": "permission-set", "permissions": []]]]
        #expect(try LexiconAuthority.mainDefinition(ofSchemaRecord: good, nsid: nsid)["type"] == "permission-set")
        func refused(_ change: (inout JSONObject) -> Void) {
            var record = good.objectValue!
            change(&record)
            #expect(throws: LexiconAuthority.Invalid.self) { try LexiconAuthority.mainDefinition(ofSchemaRecord: .object(record), nsid: nsid) }
        }
        refused { $0["$type"] = "com.example.other" }
        refused { $0["$type"] = nil }
        refused { $0["lexicon"] = 2 }
        refused { $0["id"] = "com.example.authOther" }
        refused { $0["defs"] = ["other": ["type": "permission-set"]] }
        #expect(throws: LexiconAuthority.Invalid.self) { try LexiconAuthority.mainDefinition(ofSchemaRecord: "text", nsid: nsid) }
    }
}
