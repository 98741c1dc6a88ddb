import ATAuth
import ATData
import HTTPTypes
import Hummingbird
import PDSCore

/// The authorization server's machine endpoints (https://atproto.com/specs/oauth): the two
/// metadata documents (RFC 9728, RFC 8414), PAR (RFC 9126), token (RFC 6749 §3.2 with DPoP,
/// RFC 9449), revocation (RFC 7009). CORS comes from `ErrorAndCORSMiddleware` (any origin).
struct OAuthEndpoints: Sendable {
    let oauth: OAuthService
    let limiter: (any XRPCRateLimiter)?

    var issuer: String { oauth.settings.issuer }

    func register(on router: Router<PDSRequestContext>) {
        router.get("/.well-known/oauth-protected-resource") { _, _ in
            jsonResponse(protectedResourceMetadata, headers: [.cacheControl: "max-age=300"])
        }
        router.get("/.well-known/oauth-authorization-server") { _, _ in
            jsonResponse(authorizationServerMetadata, headers: [.cacheControl: "max-age=300"])
        }
        router.post("/oauth/par") { request, context in
            let now = OAuthHTTP.now()
            return try await OAuthHTTP.answer(oauth.nonces.current(now: now)) {
                try charge(context)
                let proof = try oauth.checkProof(request.headers[OAuthHTTP.dpopHeader], method: "POST", url: issuer + "/oauth/par",
                                                 accessToken: nil, now: now)
                let form = try await OAuthHTTP.form(request)
                let pushed = try await oauth.pushAuthorizationRequest(form, proof: proof, now: now)
                return jsonResponse(["request_uri": .string(pushed.requestURI), "expires_in": .number(JSONNumber(pushed.expiresIn))],
                                    status: .created)
            }
        }
        router.post("/oauth/token") { request, context in
            let now = OAuthHTTP.now()
            return try await OAuthHTTP.answer(oauth.nonces.current(now: now)) {
                try charge(context)
                let proof = try oauth.checkProof(request.headers[OAuthHTTP.dpopHeader], method: "POST", url: issuer + "/oauth/token",
                                                 accessToken: nil, now: now)
                let form = try await OAuthHTTP.form(request)
                return jsonResponse(try await oauth.token(form, proof: proof, now: now).json)
            }
        }
        router.post("/oauth/revoke") { request, context in
            let now = OAuthHTTP.now()
            return try await OAuthHTTP.answer(oauth.nonces.current(now: now)) {
                try charge(context)
                // RFC 7009 needs no DPoP; a proof that is sent must still be valid (RFC 9449 §4.3).
                if let header = request.headers[OAuthHTTP.dpopHeader] {
                    _ = try oauth.checkProof(header, method: "POST", url: issuer + "/oauth/revoke", accessToken: nil, now: now)
                }
                try oauth.revoke(try await OAuthHTTP.form(request))
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: "{}")))
            }
        }
    }

    /// The per-IP limit of password sign-ins also caps the token endpoints (each call may fetch
    /// client metadata and run signature checks).
    func charge(_ context: PDSRequestContext) throws {
        guard let limiter, !limiter.isExempt(clientIP: context.clientIP) else { return }
        _ = try limiter.consume([RateLimitCharge(limit: "global", key: context.clientIP, points: 1)])
    }

    /// RFC 9728 §2, with the fields of a real atproto PDS.
    var protectedResourceMetadata: JSONValue {
        [
            "resource": .string(issuer), "authorization_servers": [.string(issuer)], "scopes_supported": [],
            "bearer_methods_supported": ["header"], "resource_documentation": "https://atproto.com",
        ]
    }

    /// RFC 8414 §2 with every field https://atproto.com/specs/oauth requires.
    var authorizationServerMetadata: JSONValue {
        [
            "issuer": .string(issuer),
            "authorization_endpoint": .string(issuer + "/oauth/authorize"),
            "token_endpoint": .string(issuer + "/oauth/token"),
            "pushed_authorization_request_endpoint": .string(issuer + "/oauth/par"),
            "revocation_endpoint": .string(issuer + "/oauth/revoke"),
            "require_pushed_authorization_requests": true,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
            "revocation_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "scopes_supported": ["atproto", "transition:generic", "transition:chat.bsky", "transition:email"],
            "subject_types_supported": ["public"],
            "authorization_response_iss_parameter_supported": true,
            "require_request_uri_registration": true,
            "request_uri_parameter_supported": true,
            "request_parameter_supported": false,
            "dpop_signing_alg_values_supported": ["ES256"],
            "client_id_metadata_document_supported": true,
            "protected_resources": [.string(issuer)],
            "ui_locales_supported": ["en-US"],
        ]
    }
}
