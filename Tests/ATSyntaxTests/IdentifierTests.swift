// Component access and normalisation for DID, NSID, at-identifier, record key, language tag, CID
// and URI strings.
import ATSyntax
import Foundation
import Testing

@Suite("Identifiers")
struct IdentifierTests {
    @Test func did() throws {
        let plc = try DID("did:plc:7iza6de2dwap2sbkpav7c6c6")
        #expect(plc.method == "plc")
        #expect(plc.identifier == "7iza6de2dwap2sbkpav7c6c6")
        #expect(plc.isPLC && !plc.isWeb)
        let web = try DID("did:web:localhost%3A1234")
        #expect(web.isWeb && web.identifier == "localhost%3A1234")
        #expect(try DID("did:method::::val").identifier == ":::val")
        // Case-sensitive, no normalisation.
        #expect(try DID("did:method:VAL") != DID("did:method:val"))
        #expect(try DID(String(repeating: "a", count: 2040).withPrefix("did:ab:")).string.count == 2047)
    }

    @Test func nsid() throws {
        let nsid = try NSID("App.Bsky.Feed.postV2")
        #expect(nsid.string == "app.bsky.feed.postV2")
        #expect(nsid.authority == "app.bsky.feed")
        #expect(nsid.authorityDomain == "feed.bsky.app")
        #expect(nsid.name == "postV2")
        #expect(nsid.segments == ["app", "bsky", "feed", "postV2"])
        #expect(nsid == (try NSID("app.bsky.feed.postV2")))
        #expect(nsid != (try NSID("app.bsky.feed.postv2")))
        #expect(try NSID("a.b.c") < NSID("a.b.d"))
    }

    @Test func atIdentifier() throws {
        #expect(try ATIdentifier("did:plc:abc") == .did(try DID("did:plc:abc")))
        #expect(try ATIdentifier("Alice.Test") == .handle(try Handle("alice.test")))
        #expect(try ATIdentifier("Alice.Test").string == "alice.test")
        do {
            _ = try ATIdentifier("@handle")
            Issue.record("accepted @handle")
        } catch {
            #expect(error.format == .atIdentifier)
            #expect(error.message == "at-identifier is not a valid DID or handle: handle contains invalid character '@'")
        }
    }

    @Test func recordKey() throws {
        #expect(try RecordKey("self").string == "self")
        #expect(try RecordKey("literal:self") != RecordKey("literal:Self"))
        #expect(throws: SyntaxError.self) { try RecordKey("..") }
        #expect(throws: SyntaxError.self) { try RecordKey("") }
    }

    @Test func languageTag() throws {
        let tag = try LanguageTag("zh-yue-Hant-HK-1901-rozaj-u-co-pinyin-x-mine")
        #expect(tag.language == "zh")
        #expect(tag.components.extendedLanguages == ["yue"])
        #expect(tag.components.script == "Hant")
        #expect(tag.components.region == "HK")
        #expect(tag.components.variants == ["1901", "rozaj"])
        #expect(tag.components.extensions == [LanguageTag.Extension(singleton: "u", subtags: ["co", "pinyin"])])
        #expect(tag.components.privateUse == ["mine"])
        #expect(try LanguageTag("i-navajo").components.isGrandfathered)
        #expect(try LanguageTag("x-whatever").components.privateUse == ["whatever"])
        for bad in ["en-", "en--US", "en-a", "en-x", "toolongsubtag", "en-US-abcd", "en-a-b", "en-US-DE", "x", "en-Latn-Latn"] {
            #expect(!LanguageTag.isWellFormed(bad), "\(bad)")
        }
        do {
            _ = try LanguageTag("de-DE-1901-1901")
            Issue.record("accepted a duplicate variant")
        } catch {
            #expect(error.message == "language tag repeats a variant subtag")
        }
    }

    @Test func cidAndURI() throws {
        let cid = try CIDString("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm")
        #expect(cid.isBase32 && cid.multibasePrefix == "b")
        #expect(throws: SyntaxError.self) { try CIDString("QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR") }
        #expect(throws: SyntaxError.self) { try CIDString("bafyreiE5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm") }
        let uri = try URIString("https://example.com/path?q=1#frag")
        #expect(uri.scheme == "https")
        #expect(try URIString("file:///etc/hosts").scheme == "file")
        #expect(throws: SyntaxError.self) { try URIString("https://exämple.com") }
    }

    /// Codable goes through the validating parser and encodes as a plain string.
    @Test func codable() throws {
        struct Model: Codable, Equatable {
            var did: DID
            var handle: Handle
            var uri: ATURI
            var createdAt: Datetime
            var rev: TID
            var actor: ATIdentifier
        }
        let json = #"{"did":"did:plc:abc","handle":"Alice.Test","uri":"at://ALICE.test/a.b.c/k","createdAt":"2024-01-01T00:00:00Z","rev":"3khuwc44c2222","actor":"did:web:example.com"}"#
        let model = try JSONDecoder().decode(Model.self, from: Data(json.utf8))
        #expect(model.handle.string == "alice.test")
        #expect(model.uri.string == "at://alice.test/a.b.c/k")
        let encoded = try JSONEncoder().encode(model)
        let object = try JSONSerialization.jsonObject(with: encoded) as? [String: String]
        #expect(object?["did"] == "did:plc:abc")
        #expect(object?["rev"] == "3khuwc44c2222")
        #expect(object?["actor"] == "did:web:example.com")
        #expect(try JSONDecoder().decode(Model.self, from: encoded) == model)
        let bad = json.replacingOccurrences(of: "Alice.Test", with: "alice")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Model.self, from: Data(bad.utf8)) }
    }

    /// Every format's errors carry a non-empty message that starts with the format's name.
    @Test func errorMessagesNameTheFormat() {
        let attempts: [(SyntaxError.Format, () throws(SyntaxError) -> Void)] = [
            (.did, { () throws(SyntaxError) in _ = try DID("did:X:y") }),
            (.handle, { () throws(SyntaxError) in _ = try Handle("x") }),
            (.nsid, { () throws(SyntaxError) in _ = try NSID("a.b") }),
            (.atURI, { () throws(SyntaxError) in _ = try ATURI("at://") }),
            (.recordKey, { () throws(SyntaxError) in _ = try RecordKey("a/b") }),
            (.tid, { () throws(SyntaxError) in _ = try TID("x") }),
            (.datetime, { () throws(SyntaxError) in _ = try Datetime("yesterday") }),
            (.languageTag, { () throws(SyntaxError) in _ = try LanguageTag("JA") }),
            (.atIdentifier, { () throws(SyntaxError) in _ = try ATIdentifier("") }),
            (.cid, { () throws(SyntaxError) in _ = try CIDString("noop") }),
            (.uri, { () throws(SyntaxError) in _ = try URIString("http:") }),
        ]
        #expect(attempts.count == SyntaxError.Format.allCases.count)
        for (format, attempt) in attempts {
            do {
                try attempt()
                Issue.record("\(format) accepted invalid input")
            } catch {
                #expect(error.format == format)
                #expect(error.message.hasPrefix(format.rawValue + " "), "\(error.message)")
                #expect(error.reason.count > 3)
                #expect(error.description == error.message)
            }
        }
    }
}

extension String {
    fileprivate func withPrefix(_ prefix: String) -> String { prefix + self }
}
