import ATAuth
import ATData
import PDSCore
@testable import PDSServer
import Testing

/// How the consent page words `include:` permission sets (https://atproto.com/specs/permission).
@Suite struct ConsentWordingTests {
    @Test func acceptLanguageIsRankedByQuality() {
        #expect(OAuthPage.languages("fr-CA, fr;q=0.9, en;q=0.5, *;q=0.1") == ["fr-CA", "fr", "en"])
        #expect(OAuthPage.languages("en;q=0.2, de") == ["de", "en"])
        #expect(OAuthPage.languages("en, xx;q=0") == ["en"])
        #expect(OAuthPage.languages(nil).isEmpty)
    }

    @Test func aSetIsShownByItsTitleDetailAndWhatItAllows() throws {
        let set = try PermissionSet(nsid: "com.example.feed.authBasics", main: [
            "type": "permission-set", "title": "Basics", "detail": "Post things.", "title:lang": ["de": "Grundlagen"],
            "permissions": [["type": "permission", "resource": "repo", "collection": ["com.example.feed.post"], "action": ["create"]]],
        ])
        let included = IncludedPermissionSet(set: set, audience: nil, permissions: set.expand(audience: nil))
        let scope = try OAuthScopeSet(parsing: "atproto include:com.example.feed.authBasics")
        let lines = OAuthPage.describe(scope, sets: [included], languages: ["de-AT"])
        #expect(lines == ["Know who you are (your handle and DID)",
                          "Grundlagen: Post things. (permission set com.example.feed.authBasics), which allows: Create records of type com.example.feed.post"])
        let empty = IncludedPermissionSet(set: set, audience: "did:web:api.example.com#svc", permissions: [])
        #expect(OAuthPage.describe(empty, languages: []).hasSuffix("(permission set com.example.feed.authBasics for did:web:api.example.com#svc), which allows nothing on this server"))
    }
}
