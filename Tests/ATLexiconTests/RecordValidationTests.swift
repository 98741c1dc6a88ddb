import ATData
import ATLexicon
import Testing

/// Behaviour of record validation with the built-in catalog on the records the Bluesky app writes.
@Suite struct RecordValidationTests {
    let catalog = LexiconCatalog.builtIn
    let post = "app.bsky.feed.post"
    let imageCID = "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"

    func record(_ json: String) throws -> DataValue { try DataValue.fromJSON(json) }

    func validate(_ json: String, collection: String? = nil, rkey: String? = "3kznmn7xqxl22") throws -> LexiconCatalog.RecordValidation {
        let value = try record(json)
        return try catalog.validateRecord(value, collection: collection ?? value.typeName ?? "", rkey: rkey)
    }

    @Test func aPlainPostIsValid() throws {
        let outcome = try validate(#"{"$type":"app.bsky.feed.post","text":"hello","createdAt":"2026-01-01T00:00:00.000Z","langs":["en"]}"#)
        #expect(outcome == .valid(blobs: []))
    }

    @Test func unknownCollectionsAreReportedNotRejected() throws {
        let outcome = try validate(#"{"$type":"com.example.thing","a":1}"#)
        #expect(outcome == .unknownLexicon)
    }

    @Test func textLimitsCountGraphemesAndBytes() throws {
        // 300 family emoji: 300 graphemes but 7,500 bytes, over the 3,000-byte limit.
        let family = String(repeating: "👩‍👩‍👧‍👦", count: 300)
        #expect(throws: LexiconValidationError.self) {
            _ = try validate(#"{"$type":"app.bsky.feed.post","text":"\#(family)","createdAt":"2026-01-01T00:00:00Z"}"#)
        }
        // 300 "é" written as e + combining accent: 600 scalars, 900 bytes, 300 graphemes: fine.
        let accented = String(repeating: "e\u{301}", count: 300)
        _ = try validate(#"{"$type":"app.bsky.feed.post","text":"\#(accented)","createdAt":"2026-01-01T00:00:00Z"}"#)
        let tooMany = String(repeating: "a", count: 301)
        let error = #expect(throws: LexiconValidationError.self) {
            _ = try validate(#"{"$type":"app.bsky.feed.post","text":"\#(tooMany)","createdAt":"2026-01-01T00:00:00Z"}"#)
        }
        #expect(error?.message == "Record/text must not be longer than 300 graphemes")
    }

    @Test func missingAndMistypedFieldsAreNamed() throws {
        let missing = #expect(throws: LexiconValidationError.self) { _ = try validate(#"{"$type":"app.bsky.feed.post","text":"x"}"#) }
        #expect(missing?.message == "Record must have the property \"createdAt\"")
        let badDate = #expect(throws: LexiconValidationError.self) {
            _ = try validate(#"{"$type":"app.bsky.feed.post","text":"x","createdAt":"yesterday"}"#)
        }
        #expect(badDate?.message == "Record/createdAt must be a valid datetime")
    }

    @Test func imageEmbedsReportTheirBlobsWithConstraints() throws {
        let json = #"""
        {"$type":"app.bsky.feed.post","text":"pic","createdAt":"2026-01-01T00:00:00Z",
         "embed":{"$type":"app.bsky.embed.images","images":[{"alt":"a",
           "image":{"$type":"blob","ref":{"$link":"\#(imageCID)"},"mimeType":"image/png","size":1234},
           "aspectRatio":{"width":16,"height":9}}]}}
        """#
        guard case .valid(let blobs) = try validate(json) else { Issue.record("expected valid"); return }
        #expect(blobs.count == 1)
        #expect(blobs.first?.mimeType == "image/png")
        #expect(blobs.first?.constraints.maxSize == 2_000_000)
        #expect(blobs.first?.cid.string == imageCID)

        let wrongMime = json.replacingOccurrences(of: "image/png", with: "text/html")
        #expect(throws: LexiconValidationError.self) { _ = try validate(wrongMime) }
        let tooLarge = json.replacingOccurrences(of: "\"size\":1234", with: "\"size\":2000001")
        #expect(throws: LexiconValidationError.self) { _ = try validate(tooLarge) }
        let zeroAspect = json.replacingOccurrences(of: "\"width\":16", with: "\"width\":0")
        #expect(throws: LexiconValidationError.self) { _ = try validate(zeroAspect) }
    }

    @Test func openUnionsAcceptUnknownTypesButNeedOne() throws {
        _ = try validate(#"{"$type":"app.bsky.feed.post","text":"x","createdAt":"2026-01-01T00:00:00Z","embed":{"$type":"com.example.embed","z":1}}"#)
        #expect(throws: LexiconValidationError.self) {
            _ = try validate(#"{"$type":"app.bsky.feed.post","text":"x","createdAt":"2026-01-01T00:00:00Z","embed":{"z":1}}"#)
        }
        // `$type` names a main definition by its bare NSID.
        #expect(throws: LexiconValidationError.self) {
            _ = try validate(#"{"$type":"app.bsky.feed.post","text":"x","createdAt":"2026-01-01T00:00:00Z","embed":{"$type":"app.bsky.embed.record#main","record":{}}}"#)
        }
    }

    @Test func recordKeysFollowTheKeyRule() throws {
        let profile = #"{"$type":"app.bsky.actor.profile","displayName":"Alice"}"#
        _ = try validate(profile, rkey: "self")
        #expect(throws: LexiconValidationError.self) { _ = try validate(profile, rkey: "3kznmn7xqxl22") }
        #expect(throws: LexiconValidationError.self) {
            _ = try validate(#"{"$type":"app.bsky.feed.like","subject":{"uri":"at://did:plc:abc/app.bsky.feed.post/3kznmn7xqxl22","cid":"\#(imageCID)"},"createdAt":"2026-01-01T00:00:00Z"}"#, rkey: "not-a-tid")
        }
    }

    @Test func aLegacyBlobIsReadable() throws {
        let outcome = try validate(#"{"$type":"app.bsky.actor.profile","avatar":{"cid":"\#(imageCID)","mimeType":"image/jpeg"}}"#, rkey: "self")
        guard case .valid(let blobs) = outcome else { Issue.record("expected valid"); return }
        #expect(blobs.first?.size == nil)
    }

    @Test func typeMustMatchTheCollection() throws {
        let value = try record(#"{"$type":"app.bsky.feed.like","text":"x","createdAt":"2026-01-01T00:00:00Z"}"#)
        #expect(throws: LexiconValidationError.self) { _ = try catalog.validateRecord(value, collection: post, rkey: nil) }
    }

    @Test func nullIsOnlyAllowedWhereNullable() throws {
        #expect(throws: LexiconValidationError.self) {
            _ = try validate(#"{"$type":"app.bsky.feed.post","text":"x","createdAt":"2026-01-01T00:00:00Z","reply":null}"#)
        }
    }
}
