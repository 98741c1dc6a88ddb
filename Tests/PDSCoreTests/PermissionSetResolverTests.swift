import ATAuth
import ATCrypto
import ATData
import ATIdentity
import ATSyntax
import Foundation
import PDSNetwork
@testable import PDSCore
import Synchronization
import Testing

/// A Lexicon source answering from a table, counting calls; `failing` makes every call fail.
final class TableLexiconSource: LexiconSource {
    let sets = Mutex<[String: JSONObject]>([:])
    let failing = Mutex(false)
    let calls = Mutex(0)

    func mainDefinition(of nsid: NSID) async throws(LexiconResolutionError) -> JSONObject {
        calls.withLock { $0 += 1 }
        if failing.withLock({ $0 }) { throw LexiconResolutionError("authority unreachable") }
        guard let main = sets.withLock({ $0[nsid.string] }) else { throw LexiconResolutionError("no _lexicon TXT record with did=") }
        return main
    }

    static func main(title: String, collections: [String]) -> JSONObject {
        ["type": "permission-set", "title": .string(title),
         "permissions": [["type": "permission", "resource": "repo", "collection": .array(collections.map { .string($0) })]]]
    }
}

/// The permission-set cache: fresh, stale (served while refreshed), expired (resolved again or failed).
@Suite struct PermissionSetResolverTests {
    static let nsid = "com.example.feed.authBasics"

    @Test func freshStaleAndExpired() async throws {
        let source = TableLexiconSource()
        source.sets.withLock { $0[Self.nsid] = TableLexiconSource.main(title: "v1", collections: ["com.example.feed.post"]) }
        let resolver = PermissionSetResolver(source: source, staleAfter: 100, expireAfter: 1000)
        #expect(try await resolver.permissionSet(Self.nsid, now: 0).title == "v1")
        // Fresh: no second lookup.
        #expect(try await resolver.permissionSet(Self.nsid, now: 99).title == "v1")
        #expect(source.calls.withLock { $0 } == 1)

        // Stale: the cached copy answers at once and a refresh runs in the background.
        source.sets.withLock { $0[Self.nsid] = TableLexiconSource.main(title: "v2", collections: ["com.example.feed.post"]) }
        #expect(try await resolver.permissionSet(Self.nsid, now: 150).title == "v1")
        await resolver.settle()
        #expect(source.calls.withLock { $0 } == 2)
        #expect(try await resolver.permissionSet(Self.nsid, now: 151).title == "v2")

        // Stale and the authority fails: the stale copy is still served.
        source.failing.withLock { $0 = true }
        #expect(try await resolver.permissionSet(Self.nsid, now: 400).title == "v2")
        await resolver.settle()
        #expect(try await resolver.permissionSet(Self.nsid, now: 1149).title == "v2")
        await resolver.settle()

        // Expired (1000 s after the last success at 150) and unresolvable: it fails.
        await #expect(throws: LexiconResolutionError.self) { try await resolver.permissionSet(Self.nsid, now: 1150) }
        // Resolvable again: resolved afresh.
        source.failing.withLock { $0 = false }
        #expect(try await resolver.permissionSet(Self.nsid, now: 1200).title == "v2")
    }

    @Test func unknownAndNonSetSchemasFail() async throws {
        let source = TableLexiconSource()
        source.sets.withLock { $0["com.example.feed.post"] = ["type": "record"] }
        let resolver = PermissionSetResolver(source: source)
        await #expect(throws: LexiconResolutionError.self) { try await resolver.permissionSet("com.example.feed.authNone", now: 0) }
        await #expect(throws: LexiconResolutionError.self) { try await resolver.permissionSet("com.example.feed.post", now: 0) }
        await #expect(throws: LexiconResolutionError.self) { try await PermissionSetResolver(source: nil).permissionSet(Self.nsid, now: 0) }
    }
}

/// `LexiconResolver` over stand-ins: DNS TXT, the DID directory and the authority's PDS.
@Suite struct LexiconResolverTests {
    static let authority = "did:plc:lexiconauthority0000000"

    /// Answers getRecord for one record; records every URL asked for.
    final class AuthorityPDS: OutboundHTTP {
        let record: JSONValue
        let status: Int
        let urls = Mutex<[URL]>([])
        init(record: JSONValue, status: Int = 200) {
            self.record = record
            self.status = status
        }

        func stream(_ request: OutboundRequest) async throws -> OutboundStream {
            urls.withLock { $0.append(request.url) }
            let body = Array(JSONValue.object(["uri": "at://x", "value": record]).serializedString.utf8)
            return OutboundStream(status: status, headers: ["content-type": "application/json"],
                                  body: AsyncThrowingStream { $0.yield(body); $0.finish() })
        }
    }

    static let record: JSONValue = [
        "$type": "com.atproto.lexicon.schema", "lexicon": 1, "id": "com.example.feed.authBasics",
        "defs": ["main": .object(TableLexiconSource.main(title: "Basics", collections: ["com.example.feed.post"]))],
    ]

    func resolver(_ http: AuthorityPDS, txt: [String: [String]]) throws -> LexiconResolver {
        let document = DIDDocument.web(did: try DID(Self.authority), handle: nil, signingKey: K256PrivateKey().publicKey,
                                       pdsEndpoint: "https://authority.example.com/")
        return LexiconResolver(identity: FixedIdentityDirectory(documents: [Self.authority: document]), remoteHTTP: http) { name in txt[name] ?? [] }
    }

    @Test func resolvesThroughDNSTheDocumentAndGetRecord() async throws {
        let http = AuthorityPDS(record: Self.record)
        let resolver = try resolver(http, txt: ["_lexicon.feed.example.com": ["did=" + Self.authority]])
        let main = try await resolver.mainDefinition(of: try NSID("com.example.feed.authBasics"))
        #expect(main["title"] == "Basics")
        let url = try #require(http.urls.withLock { $0.first })
        #expect(url.absoluteString == "https://authority.example.com/xrpc/com.atproto.repo.getRecord?repo=did:plc:lexiconauthority0000000"
                + "&collection=com.atproto.lexicon.schema&rkey=com.example.feed.authBasics")
    }

    @Test func failures() async throws {
        let nsid = try NSID("com.example.feed.authBasics")
        let txt = ["_lexicon.feed.example.com": ["did=" + Self.authority]]
        await #expect(throws: LexiconResolutionError.self) { try await resolver(AuthorityPDS(record: Self.record), txt: [:]).mainDefinition(of: nsid) }
        await #expect(throws: LexiconResolutionError.self) {
            try await resolver(AuthorityPDS(record: Self.record), txt: ["_lexicon.feed.example.com": ["did=did:plc:unknownunknownunknown00"]]).mainDefinition(of: nsid)
        }
        await #expect(throws: LexiconResolutionError.self) { try await resolver(AuthorityPDS(record: Self.record, status: 404), txt: txt).mainDefinition(of: nsid) }
        var wrongID = Self.record.objectValue!
        wrongID["id"] = "com.example.feed.authOther"
        await #expect(throws: LexiconResolutionError.self) { try await resolver(AuthorityPDS(record: .object(wrongID)), txt: txt).mainDefinition(of: nsid) }
    }
}
