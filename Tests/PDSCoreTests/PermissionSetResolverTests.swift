import ATAuth
import ATCrypto
import ATData
import ATIdentity
import ATRepo
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

/// `LexiconResolver` over stand-ins: DNS TXT, the DID directory and the authority's PDS, which
/// answers `sync.getRecord` with a proof signed by the authority's key.
@Suite struct LexiconResolverTests {
    static let authority = "did:plc:lexiconauthority0000000"
    static let nsid = "com.example.feed.authBasics"

    /// The authority's PDS: one repository holding the schema record (and some others), its
    /// commit signed by `signer`; records every URL asked for.
    final class AuthorityPDS: OutboundHTTP {
        let status: Int
        let car: [UInt8]
        let urls = Mutex<[URL]>([])
        init(record: JSONValue, signer: K256PrivateKey, status: Int = 200) throws {
            self.status = status
            let recordBytes = DAGCBOR.encode(try DataValue.fromJSON(record.serializedString))
            let recordCID = CID.dagCBOR(hashing: recordBytes)
            let path = "com.atproto.lexicon.schema/" + LexiconResolverTests.nsid
            var entries = [(path, recordCID)]
            for index in 0..<50 { entries.append(("com.example.feed.post/\(String(100_000 + index * 7919))", recordCID)) }
            var tree = try MST(entries: entries)
            let (root, _) = tree.finalize()
            let commit = SignedCommit.create(did: LexiconResolverTests.authority, data: root, rev: "3l2cw3tbgs22k") { signer.sign($0) }
            var blocks = try tree.proofNodes(for: [path])
            blocks.set(commit.cid, commit.bytes)
            blocks.set(recordCID, recordBytes)
            car = CARWriter.encode(roots: [commit.cid], blocks: blocks)
        }

        func stream(_ request: OutboundRequest) async throws -> OutboundStream {
            urls.withLock { $0.append(request.url) }
            let body = car
            return OutboundStream(status: status, headers: ["content-type": "application/vnd.ipld.car"],
                                  body: AsyncThrowingStream { $0.yield(body); $0.finish() })
        }
    }

    /// A directory that answers with `cached` unless asked for a fresh document.
    struct RotatedDirectory: IdentityDirectory {
        let cached: DIDDocument
        let current: DIDDocument
        func document(_ did: String, fresh: Bool) async throws -> DIDDocument { fresh ? current : cached }
        func did(forHandle handle: String, fresh: Bool) async throws -> String { throw IdentityResolutionError("no handles here") }
    }

    static let record: JSONValue = [
        "$type": "com.atproto.lexicon.schema", "lexicon": 1, "id": .string(nsid),
        "defs": ["main": .object(TableLexiconSource.main(title: "Basics", collections: ["com.example.feed.post"]))],
    ]

    static func document(key: K256PrivateKey) throws -> DIDDocument {
        DIDDocument.web(did: try DID(authority), handle: nil, signingKey: key.publicKey, pdsEndpoint: "https://authority.example.com/")
    }

    func resolver(_ http: AuthorityPDS, key: K256PrivateKey, txt: [String: [String]]) throws -> LexiconResolver {
        LexiconResolver(identity: FixedIdentityDirectory(documents: [Self.authority: try Self.document(key: key)]), remoteHTTP: http) { name in txt[name] ?? [] }
    }

    @Test func resolvesThroughDNSTheDocumentAndAProvenRecord() async throws {
        let key = K256PrivateKey()
        let http = try AuthorityPDS(record: Self.record, signer: key)
        let resolver = try resolver(http, key: key, txt: ["_lexicon.feed.example.com": ["did=" + Self.authority]])
        let main = try await resolver.mainDefinition(of: try NSID(Self.nsid))
        #expect(main["title"] == "Basics")
        let url = try #require(http.urls.withLock { $0.first })
        #expect(url.absoluteString == "https://authority.example.com/xrpc/com.atproto.sync.getRecord?did=did:plc:lexiconauthority0000000"
                + "&collection=com.atproto.lexicon.schema&rkey=com.example.feed.authBasics")
    }

    /// A proof signed by a key the cached document no longer names is checked once more against
    /// a fresh document (the authority rotated its key); one signed by a stranger is refused.
    @Test func signatureFollowsARotatedKeyAndRefusesAStranger() async throws {
        let old = K256PrivateKey(), new = K256PrivateKey()
        let txt = ["_lexicon.feed.example.com": ["did=" + Self.authority]]
        let directory = RotatedDirectory(cached: try Self.document(key: old), current: try Self.document(key: new))
        let rotated = LexiconResolver(identity: directory, remoteHTTP: try AuthorityPDS(record: Self.record, signer: new)) { txt[$0] ?? [] }
        #expect(try await rotated.mainDefinition(of: try NSID(Self.nsid))["title"] == "Basics")
        let forged = LexiconResolver(identity: directory, remoteHTTP: try AuthorityPDS(record: Self.record, signer: K256PrivateKey())) { txt[$0] ?? [] }
        await #expect(throws: LexiconResolutionError.self) { try await forged.mainDefinition(of: try NSID(Self.nsid)) }
    }

    @Test func failures() async throws {
        let nsid = try NSID(Self.nsid)
        let key = K256PrivateKey()
        let txt = ["_lexicon.feed.example.com": ["did=" + Self.authority]]
        let good = try AuthorityPDS(record: Self.record, signer: key)
        await #expect(throws: LexiconResolutionError.self) { try await resolver(good, key: key, txt: [:]).mainDefinition(of: nsid) }
        await #expect(throws: LexiconResolutionError.self) {
            try await resolver(good, key: key, txt: ["_lexicon.feed.example.com": ["did=did:plc:unknownunknownunknown00"]]).mainDefinition(of: nsid)
        }
        await #expect(throws: LexiconResolutionError.self) {
            try await resolver(try AuthorityPDS(record: Self.record, signer: key, status: 404), key: key, txt: txt).mainDefinition(of: nsid)
        }
        var wrongID = Self.record.objectValue!
        wrongID["id"] = "com.example.feed.authOther"
        await #expect(throws: LexiconResolutionError.self) {
            try await resolver(try AuthorityPDS(record: .object(wrongID), signer: key), key: key, txt: txt).mainDefinition(of: nsid)
        }
        // The proof holds the record at another NSID's key only: proven absent.
        await #expect(throws: LexiconResolutionError.self) {
            try await resolver(good, key: key, txt: ["_lexicon.feed.example.com": ["did=" + Self.authority]]).mainDefinition(of: try NSID("com.example.feed.authOther"))
        }
    }
}
