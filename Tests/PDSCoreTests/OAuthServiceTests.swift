import ATAuth
import ATCrypto
import Foundation
import Logging
import PDSNetwork
@testable import PDSCore
@testable import PDSStore
import Testing

/// The authorization server's flow without HTTP: the loopback virtual client (no fetch), proofs
/// made here, an in-memory database.
@Suite struct OAuthServiceTests {
    static let issuer = "https://pds.example.com"
    static let clientID = "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&scope=atproto%20transition%3Ageneric"

    /// Outbound HTTP that must never be used (the loopback client needs no document).
    struct NoNetwork: OutboundHTTP {
        func stream(_ request: OutboundRequest) async throws -> OutboundStream { throw OutboundHTTPError.unreachable("no network in tests") }
    }

    let service: OAuthService
    let key = try! P256PrivateKey()
    let now = Int64(Date().timeIntervalSince1970)

    init() throws {
        service = OAuthService(settings: OAuthSettings(issuer: Self.issuer), store: OAuthStore(database: try PDSDatabase.inMemory()),
                               clients: OAuthClientResolver(http: NoNetwork()), nonceSecret: [1, 2, 3], logger: Logger(label: "test"))
    }

    func proof(_ path: String, method: String = "POST", token: String? = nil, key: P256PrivateKey? = nil) throws -> DPoPProof {
        let compact = try DPoPProof.make(key: key ?? self.key, method: method, url: Self.issuer + path, iat: now, jti: UUID().uuidString,
                                         nonce: service.nonces.current(now: now), accessToken: token)
        return try service.checkProof(compact, method: method, url: Self.issuer + path, accessToken: token, now: now)
    }

    /// PAR → approval → code → tokens.
    func signIn(scope: String = "atproto transition:generic") async throws -> (OAuthTokenResponse, String, String) {
        let verifier = String(repeating: "v", count: 20) + UUID().uuidString
        let form = ["client_id": Self.clientID, "response_type": "code", "code_challenge": PKCE.challenge(for: verifier),
                    "code_challenge_method": "S256", "state": "st", "scope": scope, "redirect_uri": "http://127.0.0.1:5555/cb"]
        let pushed = try await service.pushAuthorizationRequest(form, proof: try proof("/oauth/par"), now: now)
        let pending = try await service.pendingAuthorization(clientID: Self.clientID, requestURI: pushed.requestURI, did: nil, now: now)
        #expect(pending.client.isLoopback && pending.scope.string == scope && pending.redirectURI == "http://127.0.0.1:5555/cb")
        let redirect = try service.approve(pending, did: "did:plc:owner", remember: true, now: now)
        #expect(redirect.hasPrefix("http://127.0.0.1:5555/cb?code=") && redirect.contains("&state=st&iss=https%3A%2F%2Fpds.example.com"))
        let code = String(redirect.split(separator: "=")[1].split(separator: "&")[0])
        let tokens = try await service.token(["client_id": Self.clientID, "grant_type": "authorization_code", "code": code,
                                              "code_verifier": verifier], proof: try proof("/oauth/token"), now: now)
        return (tokens, code, verifier)
    }

    @Test func fullFlowRefreshAndReuse() async throws {
        let (tokens, code, verifier) = try await signIn()
        #expect(tokens.sub == "did:plc:owner" && tokens.scope == "atproto transition:generic")
        #expect(tokens.expiresIn <= 30 * 60)
        let path = "/xrpc/com.atproto.repo.createRecord"
        let access = try service.verifyAccess(token: tokens.accessToken, proofHeader: try DPoPProof.make(
            key: key, method: "POST", url: Self.issuer + path, iat: now, jti: "r1", nonce: service.nonces.current(now: now),
            accessToken: tokens.accessToken), method: "POST", url: Self.issuer + path, now: now)
        #expect(access.session.did == "did:plc:owner" && access.scopes.transitionGeneric)

        // The code again: refused, and what it issued is gone.
        await #expect(throws: OAuthError.invalidGrant("code was already used")) {
            try await service.token(["client_id": Self.clientID, "grant_type": "authorization_code", "code": code,
                                     "code_verifier": verifier],
                                    proof: try proof("/oauth/token"), now: now)
        }
        #expect(try service.store.session(accessHash: OAuthService.hash(tokens.accessToken), now: now) == nil)
    }

    @Test func refreshIsBoundToTheKeyAndSingleUse() async throws {
        let (tokens, _, _) = try await signIn()
        let refresh = ["client_id": Self.clientID, "grant_type": "refresh_token", "refresh_token": tokens.refreshToken!]
        await #expect(throws: OAuthError.invalidGrant("refresh token is bound to another DPoP key")) {
            try await service.token(refresh, proof: try proof("/oauth/token", key: try P256PrivateKey()), now: now)
        }
        let rotated = try await service.token(refresh, proof: try proof("/oauth/token"), now: now)
        #expect(rotated.refreshToken != tokens.refreshToken)
        await #expect(throws: OAuthError.invalidGrant("refresh token was already used")) {
            try await service.token(refresh, proof: try proof("/oauth/token"), now: now)
        }
        await #expect(throws: OAuthError.invalidGrant("refresh token is invalid, expired or revoked")) {
            try await service.token(["client_id": Self.clientID, "grant_type": "refresh_token", "refresh_token": rotated.refreshToken!],
                                    proof: try proof("/oauth/token"), now: now)
        }
    }

    @Test func parRefusals() async throws {
        func par(_ changes: [String: String?]) async throws {
            var form = ["client_id": Self.clientID, "response_type": "code", "code_challenge": PKCE.challenge(for: UUID().uuidString + "-padding-padding"),
                        "code_challenge_method": "S256", "state": "st", "scope": "atproto"]
            for (key, value) in changes { form[key] = value }
            _ = try await service.pushAuthorizationRequest(form, proof: try proof("/oauth/par"), now: now)
        }
        await #expect(throws: OAuthError.invalidRequest("code_challenge_method must be S256")) { try await par(["code_challenge_method": "plain"]) }
        await #expect(throws: OAuthError.invalidScope("scope exceeds the client's registered scope")) {
            try await par(["scope": "atproto transition:email"])
        }
        await #expect(throws: OAuthError.invalidRequest("redirect_uri is not registered for this client")) {
            try await par(["redirect_uri": "http://evil.example.com/cb"])
        }
        await #expect(throws: OAuthError.invalidRequest("state is required")) { try await par(["state": nil]) }
    }

    @Test func replayedProofIsRefused() throws {
        let compact = try DPoPProof.make(key: key, method: "POST", url: Self.issuer + "/oauth/par", iat: now, jti: "once",
                                         nonce: service.nonces.current(now: now))
        _ = try service.checkProof(compact, method: "POST", url: Self.issuer + "/oauth/par", accessToken: nil, now: now)
        #expect(throws: OAuthError.dpop(.invalidProof("DPoP proof jti was already used"))) {
            try service.checkProof(compact, method: "POST", url: Self.issuer + "/oauth/par", accessToken: nil, now: now)
        }
    }
}

@Suite struct DPoPReplayCacheTests {
    @Test func refusesReplaysUntilExpiryAndStaysBounded() {
        let cache = DPoPReplayCache(capacity: 3)
        #expect(cache.recordOnce("a", expiresAt: 100, now: 0))
        #expect(!cache.recordOnce("a", expiresAt: 100, now: 99))
        #expect(cache.recordOnce("a", expiresAt: 300, now: 100))
        #expect(cache.recordOnce("b", expiresAt: 300, now: 100))
        #expect(cache.recordOnce("c", expiresAt: 300, now: 100))
        // Full of live entries: refused rather than growing.
        #expect(!cache.recordOnce("d", expiresAt: 300, now: 100))
        // Once they expire there is room again.
        #expect(cache.recordOnce("d", expiresAt: 600, now: 301))
    }

    /// Nonces of another process (another start) are not accepted: proofs made before a restart
    /// cannot be replayed after it, whatever the in-memory replay store forgot.
    @Test func noncesDoNotSurviveARestart() throws {
        func service() throws -> OAuthService {
            OAuthService(settings: OAuthSettings(issuer: "https://pds.example.com"), store: OAuthStore(database: try PDSDatabase.inMemory()),
                         clients: OAuthClientResolver(http: OAuthServiceTests.NoNetwork()), nonceSecret: [7, 7, 7], logger: Logger(label: "test"))
        }
        let before = try service(), after = try service()
        let now: Int64 = 1_800_000_000
        #expect(before.nonces.isAcceptable(before.nonces.current(now: now), now: now))
        #expect(!after.nonces.isAcceptable(before.nonces.current(now: now), now: now))
    }
}
