import ATAuth
import ATData
import Foundation
import Testing
import TestSupport

/// Permission sets (https://atproto.com/specs/permission, "Permission Sets"): what an `include:`
/// expands to, the namespace rule, `aud` inheritance, localised titles, and the granted scope.
@Suite struct PermissionSetTests {
    static func set(_ nsid: String = "com.example.feed.authBasics", permissions: JSONValue, extra: JSONObject = [:]) throws -> PermissionSet {
        var main: JSONObject = ["type": "permission-set", "title": "Basics", "detail": "Post things.", "permissions": permissions]
        for (key, value) in extra { main[key] = value }
        return try PermissionSet(nsid: nsid, main: main)
    }

    static func repo(_ collections: [String], actions: [String]? = nil) -> JSONValue {
        var entry: JSONObject = ["type": "permission", "resource": "repo", "collection": .array(collections.map { .string($0) })]
        if let actions { entry["action"] = .array(actions.map { .string($0) }) }
        return .object(entry)
    }

    @Test func repoPermissionsInTheNamespaceExpand() throws {
        let set = try Self.set(permissions: [
            Self.repo(["com.example.feed.post", "com.example.feed.sub.like"], actions: ["create"]),
            Self.repo(["com.example.feed.repost"]),
        ])
        #expect(set.expand(audience: nil) == [
            .repo(collections: ["com.example.feed.post", "com.example.feed.sub.like"], actions: [.create]),
            .repo(collections: ["com.example.feed.repost"], actions: [.create, .update, .delete]),
        ])
    }

    @Test func permissionsOutsideTheNamespaceAreDroppedWhole() throws {
        let set = try Self.set(permissions: [
            Self.repo(["com.example.feed.post", "com.example.actor.profile"]),  // one sibling group: the whole entry goes
            Self.repo(["com.example.feedx.post"]),                               // a prefix that is not the group
            Self.repo(["*"]),                                                    // wildcards never
            Self.repo(["org.other.feed.post"]),
            ["type": "permission", "resource": "rpc", "lxm": ["com.example.actor.getProfile"], "aud": "*"],
            Self.repo(["com.example.feed.like"]),
        ])
        #expect(set.expand(audience: nil) == [.repo(collections: ["com.example.feed.like"], actions: Set(OAuthPermission.RepoAction.allCases))])
        #expect(set.isInNamespace("com.example.feed.deep.name") && !set.isInNamespace("com.example.other") && !set.isInNamespace("*"))
    }

    @Test func rpcAudienceIsInheritedOrAnyButNeverFixed() throws {
        let set = try Self.set(permissions: [
            ["type": "permission", "resource": "rpc", "lxm": ["com.example.feed.getThing"], "inheritAud": true],
            ["type": "permission", "resource": "rpc", "lxm": ["com.example.feed.getAny"], "aud": "*"],
            ["type": "permission", "resource": "rpc", "lxm": ["com.example.feed.getFixed"], "aud": "did:web:api.example.com#svc"],
            ["type": "permission", "resource": "rpc", "lxm": ["com.example.feed.getBoth"], "aud": "*", "inheritAud": true],
            ["type": "permission", "resource": "rpc", "lxm": ["com.example.feed.getNone"]],
            ["type": "permission", "resource": "rpc", "lxm": ["*"], "aud": "*"],
        ])
        let audience = "did:web:api.example.com#svc_appview"
        #expect(set.expand(audience: audience) == [
            .rpc(methods: ["com.example.feed.getThing"], audience: audience),
            .rpc(methods: ["com.example.feed.getAny"], audience: "*"),
        ])
        // Without an include aud, inheriting permissions grant nothing.
        #expect(set.expand(audience: nil) == [.rpc(methods: ["com.example.feed.getAny"], audience: "*")])
    }

    @Test func otherResourcesAndUnknownParametersAreIgnored() throws {
        let set = try Self.set(permissions: [
            ["type": "permission", "resource": "blob", "accept": ["*/*"]],
            ["type": "permission", "resource": "account", "attr": "email"],
            ["type": "permission", "resource": "identity", "attr": "*"],
            ["type": "permission", "resource": "repo", "collection": ["com.example.feed.post"], "onlyOnSundays": true],
            ["type": "permission", "resource": "repo", "collection": ["com.example.feed.post"], "action": ["create", "archive"]],
            ["type": "other", "resource": "repo", "collection": ["com.example.feed.post"]],
            "not an object",
        ])
        #expect(set.expand(audience: nil).isEmpty)
    }

    @Test func notAPermissionSetIsRefused() throws {
        #expect(throws: PermissionSet.Invalid.self) { try PermissionSet(nsid: "com.example.feed.post", main: ["type": "record"]) }
        #expect(throws: PermissionSet.Invalid.self) { try PermissionSet(nsid: "com.example.feed.x", main: ["type": "permission-set"]) }
    }

    @Test func titlesAndDetailsFollowTheLanguage() throws {
        let set = try Self.set(permissions: [], extra: [
            "title:lang": ["fr": "Les bases", "pt-BR": "O básico"], "detail:lang": ["fr": "Publier des choses."],
        ])
        #expect(set.title(preferring: ["fr-CA", "en"]) == "Les bases")
        #expect(set.title(preferring: ["pt"]) == "O básico")
        #expect(set.title(preferring: ["de", "en"]) == "Basics")
        #expect(set.detail(preferring: ["pt-BR"]) == "Post things.")
        #expect(set.detail(preferring: ["FR"]) == "Publier des choses.")
    }

    @Test func permissionScopesRoundTrip() throws {
        let permissions: [OAuthPermission] = [
            .repo(collections: ["a.b.c"], actions: Set(OAuthPermission.RepoAction.allCases)),
            .repo(collections: ["a.b.c", "a.b.d"], actions: [.create, .delete]),
            .rpc(methods: ["a.b.getC"], audience: "did:web:x.example%3A8080#svc_x"),
            .rpc(methods: ["a.b.getC", "a.b.getD"], audience: "*"),
            .blob(accept: ["image/*", "video/mp4"]),
            .account(attribute: .email, action: .manage), .account(attribute: .repo, action: .read),
            .identity(attribute: .all), .include(nsid: "a.b.authC", audience: "did:plc:abc#svc"),
        ]
        for permission in permissions {
            #expect(OAuthPermission(permission.scope) == permission, "\(permission.scope)")
        }
        #expect(OAuthPermission.rpc(methods: ["a.b.getC"], audience: "did:web:x#svc").scope == "rpc:a.b.getC?aud=did:web:x%23svc")
        #expect(OAuthPermission.repo(collections: ["a.b.c"], actions: [.create]).scope == "repo:a.b.c?action=create")
    }

    @Test func grantedScopeReplacesIncludesInPlace() throws {
        let set = try Self.set(permissions: [
            Self.repo(["com.example.feed.post"], actions: ["create"]),
            ["type": "permission", "resource": "rpc", "lxm": ["com.example.feed.getThing"], "inheritAud": true],
        ])
        let scope = try OAuthScopeSet(parsing: "atproto include:com.example.feed.authBasics?aud=did:web:api.example.com%23svc transition:email")
        let granted = scope.granted(with: ["com.example.feed.authBasics": set])
        #expect(granted == "atproto repo:com.example.feed.post?action=create rpc:com.example.feed.getThing?aud=did:web:api.example.com%23svc transition:email")
        let grant = OAuthGrant(scopes: try OAuthScopeSet(parsing: granted))
        #expect(grant.allowsRepo(collection: "com.example.feed.post", action: .create))
        #expect(!grant.allowsRepo(collection: "com.example.feed.post", action: .delete))
        #expect(!grant.allowsRepo(collection: "com.example.feed.like", action: .create))
        #expect(grant.allowsRPC(lxm: "com.example.feed.getThing", audience: "did:web:api.example.com#svc"))
        #expect(!grant.allowsRPC(lxm: "com.example.feed.getThing", audience: "did:web:other.example.com#svc"))
        // An include whose set is unknown grants nothing.
        #expect(scope.granted(with: [:]) == "atproto transition:email")
    }

    /// The sets the Bluesky app's Lexicons publish expand within their namespace.
    @Test(.enabled(if: SharedVectors.enabled, "needs the shared lexicons (PDS_SHARED_DIR)"))
    func publishedSetsExpand() throws {
        let url = SharedVectors.sharedDirectory.appendingPathComponent("lexicons/app/bsky/authCreatePosts.json")
        let document = try JSONValue.parse(Array(try Data(contentsOf: url)))
        let set = try PermissionSet(nsid: "app.bsky.authCreatePosts", main: try #require(document["defs"]?["main"]?.objectValue))
        let permissions = set.expand(audience: "did:web:api.bsky.app#bsky_appview")
        #expect(permissions.contains(.repo(collections: ["app.bsky.feed.post", "app.bsky.feed.postgate", "app.bsky.feed.threadgate"],
                                           actions: [.create])))
        #expect(permissions.contains { if case .rpc(let methods, "did:web:api.bsky.app#bsky_appview") = $0 { methods.contains("app.bsky.video.uploadVideo") } else { false } })
        #expect(set.title(preferring: []) == "Create Bluesky Posts")
    }
}
