/// The record types of the Bluesky app (`app.bsky.*`, `chat.bsky.actor.declaration`) and
/// `com.atproto.lexicon.schema`, with every definition they reach, so that the PDS can validate
/// what clients write, as the reference PDS does with its bundled Lexicons (the reference PDS,
/// createRecord: `validate` unset → validate known schemas).
///
/// Written here as constraints only (no descriptions, `knownValues` or defaults); documents hold
/// only the definitions records reach. `ATLexiconTests` compares every definition with the
/// published Lexicon of the same name and checks that every ref resolves inside this catalog.
extension LexiconCatalog {
    /// The built-in catalog.
    public static let builtIn: LexiconCatalog = {
        do {
            return LexiconCatalog(try BuiltInLexicons.documents())
        } catch {
            preconditionFailure("built-in Lexicon is invalid: \(error)")
        }
    }()
}

enum BuiltInLexicons {
    typealias S = Schema

    static func documents() throws(LexiconError) -> [LexiconDocument] {
        var documents: [LexiconDocument] = []
        for (id, defs) in atproto + actor + embed + feed + graph + other {
            documents.append(try LexiconDocument(id: id, defs: defs))
        }
        return documents
    }

    static let selfLabels = S.union("com.atproto.label.defs#selfLabels")
    static let strongRef = S.ref("com.atproto.repo.strongRef")
    static let facets = S.array(S.ref("app.bsky.richtext.facet"))
    static let squareImage = S.blob(accept: ["image/png", "image/jpeg"], maxSize: 1_000_000)

    static let atproto: [(String, [String: LexiconType])] = [
        ("com.atproto.repo.strongRef", [
            "main": S.object(["uri": S.atURI, "cid": S.string(format: .cid)], required: ["uri", "cid"]),
        ]),
        ("com.atproto.label.defs", [
            "selfLabels": S.object(["values": S.array(S.ref("#selfLabel"), maxLength: 10)], required: ["values"]),
            "selfLabel": S.object(["val": S.string(maxLength: 128)], required: ["val"]),
            "labelValue": S.plainString,
            "labelValueDefinition": S.object([
                "identifier": S.text(graphemes: 100, bytes: 100),
                "severity": S.plainString,
                "blurs": S.plainString,
                "defaultSetting": S.plainString,
                "adultOnly": S.boolean,
                "locales": S.array(S.ref("#labelValueDefinitionStrings")),
            ], required: ["identifier", "severity", "blurs", "locales"]),
            "labelValueDefinitionStrings": S.object([
                "lang": S.language,
                "name": S.text(graphemes: 64, bytes: 640),
                "description": S.text(graphemes: 10_000, bytes: 100_000),
            ], required: ["lang", "name", "description"]),
        ]),
        ("com.atproto.moderation.defs", [
            "reasonType": S.plainString,
            "subjectType": S.plainString,
        ]),
        ("com.atproto.lexicon.schema", [
            "main": S.record(key: .nsid, ["lexicon": S.integer()], required: ["lexicon"]),
        ]),
    ]

    static let actor: [(String, [String: LexiconType])] = [
        ("app.bsky.actor.profile", [
            "main": S.record(key: .literal("self"), [
                "displayName": S.text(graphemes: 64, bytes: 640),
                "description": S.text(graphemes: 256, bytes: 2560),
                "pronouns": S.text(graphemes: 20, bytes: 200),
                "website": S.uri,
                "avatar": squareImage,
                "banner": squareImage,
                "labels": selfLabels,
                "joinedViaStarterPack": strongRef,
                "pinnedPost": strongRef,
                "createdAt": S.datetime,
            ]),
        ]),
        ("app.bsky.actor.status", [
            "main": S.record(key: .literal("self"), [
                "status": S.plainString,
                "embed": S.union("app.bsky.embed.external"),
                "durationMinutes": S.integer(minimum: 1),
                "createdAt": S.datetime,
            ], required: ["status", "createdAt"]),
        ]),
        ("app.bsky.actor.contentVisibilityDeclaration", [
            "main": S.record(key: .literal("self"), ["hideFromAlgorithmicRecommendations": S.boolean],
                             required: ["hideFromAlgorithmicRecommendations"]),
        ]),
    ]

    static let embed: [(String, [String: LexiconType])] = [
        ("app.bsky.embed.defs", [
            "aspectRatio": S.object(["width": S.integer(minimum: 1), "height": S.integer(minimum: 1)], required: ["width", "height"]),
        ]),
        ("app.bsky.embed.external", [
            "main": S.object(["external": S.ref("#external")], required: ["external"]),
            "external": S.object([
                "uri": S.uri,
                "title": S.plainString,
                "description": S.plainString,
                "thumb": S.blob(accept: ["image/*"], maxSize: 1_000_000),
                "associatedRefs": S.array(strongRef),
            ], required: ["uri", "title", "description"]),
        ]),
        ("app.bsky.embed.images", [
            "main": S.object(["images": S.array(S.ref("#image"), maxLength: 4)], required: ["images"]),
            "image": S.object([
                "image": S.blob(accept: ["image/*"], maxSize: 2_000_000),
                "alt": S.plainString,
                "aspectRatio": S.ref("app.bsky.embed.defs#aspectRatio"),
            ], required: ["image", "alt"]),
        ]),
        ("app.bsky.embed.gallery", [
            "main": S.object(["items": S.array(S.union("#image"), maxLength: 20)], required: ["items"]),
            "image": S.object([
                "image": S.blob(accept: ["image/*"], maxSize: 2_000_000),
                "alt": S.plainString,
                "aspectRatio": S.ref("app.bsky.embed.defs#aspectRatio"),
            ], required: ["image", "alt", "aspectRatio"]),
        ]),
        ("app.bsky.embed.video", [
            "main": S.object([
                "video": S.blob(accept: ["video/mp4"], maxSize: 300_000_000),
                "captions": S.array(S.ref("#caption"), maxLength: 20),
                "alt": S.plainString,
                "aspectRatio": S.ref("app.bsky.embed.defs#aspectRatio"),
                "presentation": S.plainString,
            ], required: ["video"]),
            "caption": S.object([
                "lang": S.language,
                "file": S.blob(accept: ["text/vtt"], maxSize: 20_000),
            ], required: ["lang", "file"]),
        ]),
        ("app.bsky.embed.record", [
            "main": S.object(["record": strongRef], required: ["record"]),
        ]),
        ("app.bsky.embed.recordWithMedia", [
            "main": S.object([
                "record": S.ref("app.bsky.embed.record"),
                "media": S.union("app.bsky.embed.images", "app.bsky.embed.video", "app.bsky.embed.gallery", "app.bsky.embed.external"),
            ], required: ["record", "media"]),
        ]),
        ("app.bsky.richtext.facet", [
            "main": S.object([
                "index": S.ref("#byteSlice"),
                "features": S.array(S.union("#mention", "#link", "#tag")),
            ], required: ["index", "features"]),
            "byteSlice": S.object(["byteStart": S.integer(minimum: 0), "byteEnd": S.integer(minimum: 0)], required: ["byteStart", "byteEnd"]),
            "mention": S.object(["did": S.did], required: ["did"]),
            "link": S.object(["uri": S.uri], required: ["uri"]),
            "tag": S.object(["tag": S.text(graphemes: 64, bytes: 640)], required: ["tag"]),
        ]),
    ]

    static let feed: [(String, [String: LexiconType])] = [
        ("app.bsky.feed.post", [
            "main": S.record(key: .tid, [
                "text": S.text(graphemes: 300, bytes: 3000),
                "entities": S.array(S.ref("#entity")),
                "facets": facets,
                "reply": S.ref("#replyRef"),
                "embed": S.union(
                    "app.bsky.embed.images", "app.bsky.embed.video", "app.bsky.embed.gallery",
                    "app.bsky.embed.external", "app.bsky.embed.record", "app.bsky.embed.recordWithMedia"),
                "langs": S.array(S.language, maxLength: 3),
                "labels": selfLabels,
                "tags": S.array(S.text(graphemes: 64, bytes: 640), maxLength: 8),
                "createdAt": S.datetime,
            ], required: ["text", "createdAt"]),
            "entity": S.object(["index": S.ref("#textSlice"), "type": S.plainString, "value": S.plainString],
                               required: ["index", "type", "value"]),
            "textSlice": S.object(["start": S.integer(minimum: 0), "end": S.integer(minimum: 0)], required: ["start", "end"]),
            "replyRef": S.object(["root": strongRef, "parent": strongRef], required: ["root", "parent"]),
        ]),
        ("app.bsky.feed.like", [
            "main": S.record(key: .tid, ["subject": strongRef, "createdAt": S.datetime, "via": strongRef],
                             required: ["subject", "createdAt"]),
        ]),
        ("app.bsky.feed.repost", [
            "main": S.record(key: .tid, ["subject": strongRef, "createdAt": S.datetime, "via": strongRef],
                             required: ["subject", "createdAt"]),
        ]),
        ("app.bsky.feed.generator", [
            "main": S.record(key: .any, [
                "did": S.did,
                "displayName": S.text(graphemes: 24, bytes: 240),
                "description": S.text(graphemes: 300, bytes: 3000),
                "descriptionFacets": facets,
                "avatar": squareImage,
                "acceptsInteractions": S.boolean,
                "labels": selfLabels,
                "contentMode": S.plainString,
                "createdAt": S.datetime,
            ], required: ["did", "displayName", "createdAt"]),
        ]),
        ("app.bsky.feed.postgate", [
            "main": S.record(key: .tid, [
                "createdAt": S.datetime,
                "post": S.atURI,
                "detachedEmbeddingUris": S.array(S.atURI, maxLength: 50),
                "embeddingRules": S.array(S.union("#disableRule"), maxLength: 5),
            ], required: ["post", "createdAt"]),
            "disableRule": S.object([:]),
        ]),
        ("app.bsky.feed.threadgate", [
            "main": S.record(key: .tid, [
                "post": S.atURI,
                "allow": S.array(S.union("#mentionRule", "#followerRule", "#followingRule", "#listRule"), maxLength: 5),
                "createdAt": S.datetime,
                "hiddenReplies": S.array(S.atURI, maxLength: 300),
            ], required: ["post", "createdAt"]),
            "mentionRule": S.object([:]),
            "followerRule": S.object([:]),
            "followingRule": S.object([:]),
            "listRule": S.object(["list": S.atURI], required: ["list"]),
        ]),
    ]

    static let graph: [(String, [String: LexiconType])] = [
        ("app.bsky.graph.defs", ["listPurpose": S.plainString]),
        ("app.bsky.graph.follow", [
            "main": S.record(key: .tid, ["subject": S.did, "createdAt": S.datetime, "via": strongRef], required: ["subject", "createdAt"]),
        ]),
        ("app.bsky.graph.block", [
            "main": S.record(key: .tid, ["subject": S.did, "createdAt": S.datetime], required: ["subject", "createdAt"]),
        ]),
        ("app.bsky.graph.list", [
            "main": S.record(key: .tid, [
                "purpose": S.ref("app.bsky.graph.defs#listPurpose"),
                "name": S.string(minLength: 1, maxLength: 64),
                "description": S.text(graphemes: 300, bytes: 3000),
                "descriptionFacets": facets,
                "avatar": squareImage,
                "labels": selfLabels,
                "createdAt": S.datetime,
            ], required: ["name", "purpose", "createdAt"]),
        ]),
        ("app.bsky.graph.listitem", [
            "main": S.record(key: .tid, ["subject": S.did, "list": S.atURI, "createdAt": S.datetime],
                             required: ["subject", "list", "createdAt"]),
        ]),
        ("app.bsky.graph.listblock", [
            "main": S.record(key: .tid, ["subject": S.atURI, "createdAt": S.datetime], required: ["subject", "createdAt"]),
        ]),
        ("app.bsky.graph.starterpack", [
            "main": S.record(key: .tid, [
                "name": S.text(graphemes: 50, bytes: 500, minLength: 1),
                "description": S.text(graphemes: 300, bytes: 3000),
                "descriptionFacets": facets,
                "list": S.atURI,
                "feeds": S.array(S.ref("#feedItem"), maxLength: 3),
                "createdAt": S.datetime,
            ], required: ["name", "list", "createdAt"]),
            "feedItem": S.object(["uri": S.atURI], required: ["uri"]),
        ]),
        ("app.bsky.graph.verification", [
            "main": S.record(key: .tid, [
                "subject": S.did, "handle": S.string(format: .handle), "displayName": S.plainString, "createdAt": S.datetime,
            ], required: ["subject", "handle", "displayName", "createdAt"]),
        ]),
    ]

    static let other: [(String, [String: LexiconType])] = [
        ("app.bsky.labeler.defs", [
            "labelerPolicies": S.object([
                "labelValues": S.array(S.ref("com.atproto.label.defs#labelValue")),
                "labelValueDefinitions": S.array(S.ref("com.atproto.label.defs#labelValueDefinition")),
            ], required: ["labelValues"]),
        ]),
        ("app.bsky.labeler.service", [
            "main": S.record(key: .literal("self"), [
                "policies": S.ref("app.bsky.labeler.defs#labelerPolicies"),
                "labels": selfLabels,
                "createdAt": S.datetime,
                "reasonTypes": S.array(S.ref("com.atproto.moderation.defs#reasonType")),
                "subjectTypes": S.array(S.ref("com.atproto.moderation.defs#subjectType")),
                "subjectCollections": S.array(S.string(format: .nsid)),
            ], required: ["policies", "createdAt"]),
        ]),
        ("app.bsky.notification.declaration", [
            "main": S.record(key: .literal("self"), ["allowSubscriptions": S.plainString], required: ["allowSubscriptions"]),
        ]),
        ("chat.bsky.actor.declaration", [
            "main": S.record(key: .literal("self"), ["allowIncoming": S.plainString, "allowGroupInvites": S.plainString],
                             required: ["allowIncoming"]),
        ]),
    ]
}
