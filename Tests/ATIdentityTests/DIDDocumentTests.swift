import ATCrypto
import ATData
import ATIdentity
import ATSyntax
import TestSupport
import Testing

/// DID documents: the indigo identity vectors (shared/vectors/extra/identity; ATPROTO.md §8.1).
@Suite struct DIDDocumentTests {
    static func load(_ name: String) throws -> DIDDocument {
        try DIDDocument.parse(Array(SharedVectors.data("extra/identity/" + name)))
    }

    static let atprotoDID = try! DID("did:plc:ewvi7nxzyoun6zhxrhs64oiz")
    static let atprotoKey = "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"),
          arguments: ["did_plc_doc.json", "did_plc_doc_legacy.json"]) func plcDocument(_ name: String) throws {
        let identity = try Self.load(name).atprotoIdentity(for: Self.atprotoDID)
        #expect(identity.handle?.string == "atproto.com", "\(name)")
        #expect(identity.pdsEndpoint == "https://bsky.social", "\(name)")
        let key = try #require(identity.signingKey, "\(name)")
        // The legacy form spells the same key uncompressed, without a multicodec.
        #expect(key.multikey == Self.atprotoKey, "\(name)")
        #expect(key.algorithm == .es256k, "\(name)")
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func webDocumentWithoutAtprotoEntries() throws {
        let document = try Self.load("did_web_doc.json")
        let identity = try document.atprotoIdentity(for: DID("did:web:discover.bsky.social"))
        #expect(identity.handle == nil)
        #expect(identity.signingKey == nil)
        // The only service is a feed generator, not a PDS.
        #expect(identity.pdsEndpoint == nil)
        #expect(document.services.map(\.type) == ["BskyFeedGenerator"])
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func idMustBeTheExpectedDID() throws {
        let document = try Self.load("did_plc_doc.json")
        #expect(throws: IdentityError.didMismatch(expected: "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", found: Self.atprotoDID.string)) {
            try document.atprotoIdentity(for: DID("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"))
        }
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func renderingThePLCStateReproducesTheDirectoryDocument() throws {
        let state = PLCState(
            rotationKeys: [],
            verificationMethods: ["atproto": "did:key:" + Self.atprotoKey],
            alsoKnownAs: ["at://atproto.com"],
            services: ["atproto_pds": .atprotoPDS(endpoint: "https://bsky.social")])
        let rendered = DIDDocument.plc(did: Self.atprotoDID, state: state)
        let expected = try JSONValue.parse(Array(SharedVectors.data("extra/identity/did_plc_doc.json")))
        #expect(rendered.json == expected)
        #expect(try DIDDocument(json: rendered.json) == rendered)
    }

    @Test func handleIsTheFirstValidAtAlias() throws {
        let document = DIDDocument(
            context: [], id: "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
            alsoKnownAs: ["https://example.com", "at://not a handle", "at://Alice.Example.COM", "at://bob.example.com"],
            verificationMethods: [], services: [])
        #expect(document.handle?.string == "alice.example.com")
    }

    @Test func absoluteIdsAndEndpointShape() throws {
        let key = K256PrivateKey().publicKey
        let did = "did:web:pds.example.com"
        func document(endpoint: String, methodID: String = did + "#atproto", controller: String = did) -> DIDDocument {
            DIDDocument(
                context: [], id: did, alsoKnownAs: [],
                verificationMethods: [.init(id: methodID, type: "Multikey", controller: controller, publicKeyMultibase: key.multikey)],
                services: [.init(id: did + "#atproto_pds", type: "AtprotoPersonalDataServer", serviceEndpoint: endpoint)])
        }
        #expect(document(endpoint: "https://pds.example.com").pdsEndpoint == "https://pds.example.com")
        #expect(document(endpoint: "http://localhost:2583").pdsEndpoint == "http://localhost:2583")
        #expect(document(endpoint: "https://pds.example.com/xrpc").pdsEndpoint == nil)
        #expect(document(endpoint: "ftp://pds.example.com").pdsEndpoint == nil)
        #expect(document(endpoint: "https://").pdsEndpoint == nil)
        #expect(document(endpoint: "https://x").atprotoSigningKey?.isSameKey(as: key) == true)
        #expect(document(endpoint: "https://x", methodID: "#atproto").atprotoSigningKey?.isSameKey(as: key) == true)
        #expect(document(endpoint: "https://x", methodID: "#other").atprotoSigningKey == nil)
        #expect(document(endpoint: "https://x", controller: "did:web:evil.example.com").atprotoSigningKey == nil)
    }

    @Test func didWebDocumentRoundTrips() throws {
        let key = try P256PrivateKey().publicKey
        let did = try DID("did:web:alice.example.com")
        let rendered = DIDDocument.web(did: did, handle: try Handle("alice.example.com"), signingKey: key, pdsEndpoint: "https://pds.example.com")
        let parsed = try DIDDocument.parse(rendered.jsonBytes)
        #expect(parsed == rendered)
        #expect(parsed.context.last == "https://w3id.org/security/suites/ecdsa-2019/v1")
        let identity = try parsed.atprotoIdentity(for: did)
        #expect(identity.handle?.string == "alice.example.com")
        #expect(identity.signingKey?.isSameKey(as: key) == true)
        #expect(identity.pdsEndpoint == "https://pds.example.com")
    }

    @Test func malformedDocumentsAreRejected() {
        for text in [#"[]"#, #"{"alsoKnownAs": []}"#, #"{"id": "did:web:a.com", "service": {}}"#,
                     ##"{"id": "did:web:a.com", "verificationMethod": [{"id": "#atproto"}]}"##,
                     #"{"id": "did:web:a.com", "alsoKnownAs": [1]}"#] {
            #expect(throws: IdentityError.self, "\(text)") { try DIDDocument.parse(Array(text.utf8)) }
        }
    }
}
