import ATAuth
import Foundation
import Testing
import TestSupport

/// The scope-string vectors published with the permission spec: every valid line parses, every
/// invalid one is refused, and the generic syntax matches the expected decomposition.
@Suite("OAuth scope vectors")
struct ScopeVectorTests {
    @Test(.enabled(if: SharedVectors.enabled, "needs the shared auth vectors (PDS_SHARED_DIR)"))
    func validPermissionsParse() throws {
        let lines = try SharedVectors.lines("extra/auth/permission_scopes_valid.txt")
        #expect(lines.count > 40)
        for line in lines {
            #expect(OAuthPermission(line) != nil, "should be valid: \(line)")
        }
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the shared auth vectors (PDS_SHARED_DIR)"))
    func invalidPermissionsAreRefused() throws {
        let lines = try SharedVectors.lines("extra/auth/permission_scopes_invalid.txt")
        #expect(lines.count > 80)
        for line in lines {
            #expect(OAuthPermission(line) == nil, "should be invalid: \(line)")
        }
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the shared auth vectors (PDS_SHARED_DIR)"))
    func genericSyntax() throws {
        let cases = try #require(try SharedVectors.json("extra/auth/generic_scopes_valid.json") as? [[String: Any]])
        #expect(cases.count > 10)
        for entry in cases {
            let scope = try #require(entry["scope"] as? String)
            let expected = try #require(entry["generic"] as? [String: Any])
            let parsed = try #require(ScopeSyntax(scope), "should parse: \(scope)")
            #expect(parsed.resource == expected["resource"] as? String, "\(scope)")
            #expect(parsed.positional == expected["positional"] as? String, "\(scope)")
            let params = try #require(expected["params"] as? [String: [String]])
            #expect(parsed.params.count == params.count, "\(scope)")
            for (key, values) in params {
                #expect(parsed.values(key) == values, "\(scope) \(key)")
            }
        }
        for line in try SharedVectors.lines("extra/auth/generic_scopes_invalid.txt") {
            #expect(ScopeSyntax(line) == nil, "should be invalid: \(line)")
        }
    }
}

@Suite("OAuth scope sets and grants")
struct OAuthGrantTests {
    @Test func atprotoIsRequiredAndUnknownTokensRefused() throws {
        #expect(throws: OAuthScopeSet.Failure.missingAtproto) { try OAuthScopeSet(parsing: "transition:generic") }
        #expect(throws: OAuthScopeSet.Failure.invalidScope("repo:bad")) { try OAuthScopeSet(parsing: "atproto repo:bad") }
        let set = try OAuthScopeSet(parsing: "atproto  transition:generic atproto")
        #expect(set.string == "atproto transition:generic")
    }

    @Test func atprotoAloneAllowsNothing() throws {
        let grant = OAuthGrant(scopes: try OAuthScopeSet(parsing: "atproto"))
        #expect(!grant.allowsRepo(collection: "app.bsky.feed.post", action: .create))
        #expect(!grant.allowsBlob(mimeType: "image/png"))
        #expect(!grant.allowsRPC(lxm: "app.bsky.feed.getTimeline", audience: "did:web:api.bsky.app#bsky_appview"))
        #expect(!grant.allowsEmail(.read))
        #expect(!grant.allowsHandleUpdate)
        #expect(!grant.isGeneric)
    }

    @Test func transitionScopes() throws {
        let generic = OAuthGrant(scopes: try OAuthScopeSet(parsing: "atproto transition:generic"))
        #expect(generic.allowsRepo(collection: "app.bsky.feed.post", action: .delete))
        #expect(generic.allowsBlob(mimeType: "video/mp4"))
        #expect(generic.allowsRPC(lxm: "app.bsky.feed.getTimeline", audience: "did:web:api.bsky.app#bsky_appview"))
        #expect(!generic.allowsRPC(lxm: "chat.bsky.convo.listConvos", audience: "did:web:api.bsky.chat#bsky_chat"))
        #expect(!generic.allowsEmail(.read))
        #expect(!generic.allowsHandleUpdate)
        let chat = OAuthGrant(scopes: try OAuthScopeSet(parsing: "atproto transition:generic transition:chat.bsky transition:email"))
        #expect(chat.allowsRPC(lxm: "chat.bsky.convo.listConvos", audience: "did:web:api.bsky.chat#bsky_chat"))
        #expect(chat.allowsEmail(.read))
        #expect(!chat.allowsEmail(.manage))
    }

    @Test func granularPermissions() throws {
        let grant = OAuthGrant(scopes: try OAuthScopeSet(parsing:
            "atproto repo:app.example.post?action=create blob:image/* rpc:app.example.get?aud=did:web:x.example%23svc account:email?action=manage identity:handle"))
        #expect(grant.allowsRepo(collection: "app.example.post", action: .create))
        #expect(!grant.allowsRepo(collection: "app.example.post", action: .delete))
        #expect(!grant.allowsRepo(collection: "app.example.like", action: .create))
        #expect(grant.allowsBlob(mimeType: "image/png"))
        #expect(!grant.allowsBlob(mimeType: "video/mp4"))
        #expect(grant.allowsRPC(lxm: "app.example.get", audience: "did:web:x.example#svc"))
        #expect(!grant.allowsRPC(lxm: "app.example.get", audience: "did:web:y.example#svc"))
        #expect(!grant.allowsRPC(lxm: "app.example.put", audience: "did:web:x.example#svc"))
        #expect(grant.allowsEmail(.read) && grant.allowsEmail(.manage))
        #expect(grant.allowsHandleUpdate && !grant.allowsIdentityAll)
        let wildcard = OAuthGrant(scopes: try OAuthScopeSet(parsing: "atproto repo:* rpc:*?aud=did:web:x.example%23svc"))
        #expect(wildcard.allowsRepo(collection: "any.thing.here", action: .update))
        #expect(wildcard.allowsRPC(lxm: "a.b.c", audience: "did:web:x.example#svc"))
    }

    @Test func subsetOfClientScope() throws {
        let client = try OAuthScopeSet(parsing: "atproto transition:generic")
        #expect(try OAuthScopeSet(parsing: "atproto").isSubset(of: client))
        #expect(!(try OAuthScopeSet(parsing: "atproto transition:email")).isSubset(of: client))
    }
}
