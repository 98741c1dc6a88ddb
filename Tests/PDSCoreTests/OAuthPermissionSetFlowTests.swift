import ATAuth
import ATCrypto
import ATData
import Foundation
import Logging
import PDSNetwork
@testable import PDSCore
@testable import PDSStore
import Testing

/// `include:` scopes through the flow: resolved at PAR (refused when unresolvable), shown at
/// consent, granted expanded, checked like literal permissions, re-expanded at refresh.
@Suite struct OAuthPermissionSetFlowTests {
    static let issuer = "https://pds.example.com"
    static let nsid = "com.example.feed.authBasics"
    static let scope = "atproto include:\(nsid)"
    static let clientID = "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&scope=atproto%20include%3A\(nsid)"

    let source = TableLexiconSource()
    let service: OAuthService
    let key = try! P256PrivateKey()
    let now: Int64 = 1_800_000_000

    init() throws {
        source.sets.withLock { $0[Self.nsid] = TableLexiconSource.main(title: "Basics", collections: ["com.example.feed.post"]) }
        service = OAuthService(settings: OAuthSettings(issuer: Self.issuer), store: OAuthStore(database: try PDSDatabase.inMemory()),
                               clients: OAuthClientResolver(http: OAuthServiceTests.NoNetwork()),
                               permissionSets: PermissionSetResolver(source: source, staleAfter: 100, expireAfter: 1000),
                               nonceSecret: [1, 2, 3], logger: Logger(label: "test"))
    }

    func proof(_ path: String, at time: Int64, token: String? = nil) throws -> DPoPProof {
        let compact = try DPoPProof.make(key: key, method: "POST", url: Self.issuer + path, iat: time, jti: UUID().uuidString,
                                         nonce: service.nonces.current(now: time), accessToken: token)
        return try service.checkProof(compact, method: "POST", url: Self.issuer + path, accessToken: token, now: time)
    }

    func par(at time: Int64) async throws -> (requestURI: String, verifier: String) {
        let verifier = String(repeating: "v", count: 20) + UUID().uuidString
        let form = ["client_id": Self.clientID, "response_type": "code", "code_challenge": PKCE.challenge(for: verifier),
                    "code_challenge_method": "S256", "state": "st", "scope": Self.scope]
        return (try await service.pushAuthorizationRequest(form, proof: try proof("/oauth/par", at: time), now: time).requestURI, verifier)
    }

    func signIn() async throws -> OAuthTokenResponse {
        let (requestURI, verifier) = try await par(at: now)
        let pending = try await service.pendingAuthorization(clientID: Self.clientID, requestURI: requestURI, did: nil, now: now)
        #expect(pending.includedSets.map(\.set.title) == ["Basics"])
        #expect(pending.includedSets.first?.permissions == [.repo(collections: ["com.example.feed.post"], actions: Set(OAuthPermission.RepoAction.allCases))])
        let redirect = try service.approve(pending, did: "did:plc:owner", remember: false, now: now)
        let code = String(redirect.split(separator: "=")[1].split(separator: "&")[0])
        return try await service.token(["client_id": Self.clientID, "grant_type": "authorization_code", "code": code, "code_verifier": verifier],
                                       proof: try proof("/oauth/token", at: now), now: now)
    }

    func grant(_ token: String, at time: Int64) throws -> OAuthGrant {
        let path = "/xrpc/com.atproto.repo.createRecord"
        let header = try DPoPProof.make(key: key, method: "POST", url: Self.issuer + path, iat: time, jti: UUID().uuidString,
                                        nonce: service.nonces.current(now: time), accessToken: token)
        return OAuthGrant(scopes: try service.verifyAccess(token: token, proofHeader: header, method: "POST", url: Self.issuer + path, now: time).scopes)
    }

    @Test func setsAreGrantedExpanded() async throws {
        let tokens = try await signIn()
        // As the reference: the token's scope names the permissions, not the include.
        #expect(tokens.scope == "atproto repo:com.example.feed.post")
        let grant = try grant(tokens.accessToken, at: now)
        #expect(grant.allowsRepo(collection: "com.example.feed.post", action: .create))
        #expect(!grant.allowsRepo(collection: "com.example.feed.like", action: .create))
        #expect(!grant.isGeneric)
        let session = try #require(try service.store.session(accessHash: OAuthService.hash(tokens.accessToken), now: now))
        #expect(session.scope == Self.scope && session.grantedScope == "atproto repo:com.example.feed.post")
    }

    @Test func unresolvableSetIsRefusedAtPAR() async throws {
        source.failing.withLock { $0 = true }
        await #expect(throws: OAuthError.self) { try await par(at: now) }
        do { _ = try await par(at: now) } catch let error as OAuthError {
            #expect(error.code == "invalid_scope" && error.message.contains("authority unreachable"))
        }
    }

    @Test func refreshReexpandsAndKeepsTheGrantWhenResolutionFails() async throws {
        let tokens = try await signIn()
        func refresh(_ token: String, at time: Int64) async throws -> OAuthTokenResponse {
            try await service.token(["client_id": Self.clientID, "grant_type": "refresh_token", "refresh_token": token],
                                    proof: try proof("/oauth/token", at: time), now: time)
        }
        // The set changed and the copy expired: the refresh grants the new expansion.
        source.sets.withLock { $0[Self.nsid] = TableLexiconSource.main(title: "Basics", collections: ["com.example.feed.like"]) }
        let second = try await refresh(tokens.refreshToken!, at: now + 2000)
        #expect(second.scope == "atproto repo:com.example.feed.like")
        #expect(try grant(second.accessToken, at: now + 2000).allowsRepo(collection: "com.example.feed.like", action: .delete))
        // The authority is gone and the copy expired: the session keeps what it had, no more, no less.
        source.failing.withLock { $0 = true }
        let third = try await refresh(second.refreshToken!, at: now + 4000)
        #expect(third.scope == "atproto repo:com.example.feed.like")
        let grant = try grant(third.accessToken, at: now + 4000)
        #expect(grant.allowsRepo(collection: "com.example.feed.like", action: .create) && !grant.allowsRepo(collection: "com.example.feed.post", action: .create))
    }
}
