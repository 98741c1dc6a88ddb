import ATAuth
import ATCrypto
import ATData
import Foundation
import Logging
import Multiformats
import PDSStore

/// Lifetimes and switches of the authorization server (https://atproto.com/specs/oauth
/// "Tokens and Session Lifetime").
public struct OAuthSettings: Sendable {
    /// The issuer: the server's public origin (`http://127.0.0.1:PORT` under `pds dev`).
    public var issuer: String
    /// Access tokens: stateful and revocable, so up to 30 minutes is allowed; 15 minutes.
    public var accessLifetime: Int64 = 15 * 60
    /// Public clients: the session and each refresh token end after two weeks.
    public var publicSessionLifetime: Int64 = 14 * 86400
    /// Confidential clients: two-year sessions with 90-day refresh tokens (≤ 180 days).
    public var confidentialSessionLifetime: Int64 = 2 * 365 * 86400
    public var confidentialRefreshLifetime: Int64 = 90 * 86400
    /// Request URIs (PAR) live five minutes, codes five minutes.
    public var requestLifetime: Int64 = 300
    public var codeLifetime: Int64 = 300
    /// A PKCE challenge may not be used again within 24 hours.
    public var challengeMemory: Int64 = 86400
    /// `pds dev` only: accept `http://127.0.0.1:PORT/…` client ids (loopback confidential clients).
    public var allowHTTPLoopbackClients = false

    public init(issuer: String) {
        self.issuer = issuer
    }
}

/// What the sign-in and consent pages need to know about a pending request.
public struct PendingAuthorization: Sendable {
    public let requestID: String
    public let client: OAuthClientMetadata
    public let scope: OAuthScopeSet
    public let redirectURI: String
    public let state: String
    public let loginHint: String?
    /// The scope the owner already approved for this client, if it covers the request.
    public let previouslyApproved: Bool
    /// The `include:` permission sets of the scope, resolved, in the scope's order.
    public let includedSets: [IncludedPermissionSet]
}

/// One `include:` scope of a pending request and what it grants (for the consent page).
public struct IncludedPermissionSet: Sendable {
    public let set: PermissionSet
    /// The include's `aud`, inherited by the set's `inheritAud` methods.
    public let audience: String?
    public let permissions: [OAuthPermission]

    public init(set: PermissionSet, audience: String?, permissions: [OAuthPermission]) {
        self.set = set
        self.audience = audience
        self.permissions = permissions
    }
}

/// The authorization server's logic: pushed requests, approval, codes, tokens, refresh,
/// revocation, and access-token checks for the resource server. HTTP-free: the edge passes form
/// fields, the verified DPoP proof and `now`, and maps `OAuthError` to responses.
public struct OAuthService: Sendable {
    public let settings: OAuthSettings
    public let store: OAuthStore
    public let clients: OAuthClientResolver
    /// `include:` scopes' permission sets (Lexicon resolution, cached).
    public let permissionSets: PermissionSetResolver
    public let nonces: DPoPNonces
    /// DPoP keys already imported: a client signs every proof with the same key.
    let keys = DPoPKeyCache()
    /// Resource-server proof `jti`s (see `DPoPReplayCache`).
    let resourceProofs = DPoPReplayCache()
    let logger: Logger

    /// `permissionSets` defaults to none: every `include:` scope is then refused at PAR.
    public init(settings: OAuthSettings, store: OAuthStore, clients: OAuthClientResolver,
                permissionSets: PermissionSetResolver = PermissionSetResolver(source: nil), nonceSecret: [UInt8], logger: Logger) {
        self.settings = settings
        self.store = store
        self.clients = clients
        self.permissionSets = permissionSets
        // A random salt per start: nonces of an earlier process are refused (clients retry on
        // `use_dpop_nonce`), which is what lets the resource server keep its replay store in memory.
        self.nonces = DPoPNonces(secret: HKDF.sha256(inputKeyMaterial: nonceSecret, salt: SecureRandom.bytes(16), info: Array("pds dpop nonce".utf8),
                                                     outputByteCount: 32))
        self.logger = logger
    }

    static let requestURIPrefix = "urn:ietf:params:oauth:request_uri:"

    /// Hex SHA-256: how every token, code and request URI is stored.
    public static func hash(_ value: String) -> String { Base16.encode(SHA256.hash(Array(value.utf8))) }

    static func randomToken(_ prefix: String) -> String {
        prefix + Base64.encode(SecureRandom.bytes(32), alphabet: .urlSafe)
    }

    // MARK: DPoP

    /// Checks a proof for a request and records its `jti` (a replay is refused).
    /// Where a proof's `jti` is recorded: the authorization server's in SQLite, the resource
    /// server's in memory (`DPoPReplayCache`), or nowhere for a second look within one request.
    public enum ReplayRecord: Sendable { case database, memory, none }

    public func checkProof(_ header: String?, method: String, url: String, accessToken: String?, now: Int64,
                           record: ReplayRecord = .database) throws -> DPoPProof {
        try checkProof(header, method: method, url: url, accessTokenHash: accessToken.map { SHA256.hash(Array($0.utf8)) },
                       now: now, record: record)
    }

    /// `checkProof` with the access token's SHA-256 (the resource server hashes the token once,
    /// for `ath` and for its session lookup).
    func checkProof(_ header: String?, method: String, url: String, accessTokenHash: [UInt8]?, now: Int64,
                    record: ReplayRecord) throws -> DPoPProof {
        guard let header else { throw OAuthError.dpop(.invalidProof("DPoP proof required")) }
        do {
            let proof = try DPoPProof(parsing: header, headers: keys)
            try proof.check(method: method, url: url, now: now, accessTokenHash: accessTokenHash, nonces: nonces)
            let key = "dpop:" + proof.jwk.thumbprint + ":" + proof.jti, until = now + DPoPProof.maxAge + DPoPProof.maxSkew
            let fresh: Bool
            switch record {
            case .database: fresh = try store.recordOnce(key, expiresAt: until, now: now)
            case .memory: fresh = resourceProofs.recordOnce(key, expiresAt: until, now: now)
            case .none: fresh = true
            }
            guard fresh else { throw OAuthError.dpop(.invalidProof("DPoP proof jti was already used")) }
            return proof
        } catch let error as DPoPError {
            throw OAuthError.dpop(error)
        }
    }

    // MARK: Client authentication

    /// Authenticates the client of a PAR or token request: public clients send no assertion,
    /// confidential ones a fresh `private_key_jwt` assertion. Returns the bound key as
    /// `"<kid> <thumbprint>"` for confidential clients.
    func authenticateClient(_ form: [String: String], client: OAuthClientMetadata, keys: [ECPublicJWK], now: Int64) throws -> String? {
        let assertionType = form["client_assertion_type"], assertion = form["client_assertion"]
        guard form["client_secret"] == nil else { throw OAuthError.invalidClient("client secrets are not supported") }
        switch client.authMethod {
        case .none:
            guard assertionType == nil, assertion == nil else {
                throw OAuthError.invalidClient("this client is registered as public (token_endpoint_auth_method none)")
            }
            return nil
        case .privateKeyJWT:
            guard assertionType == ClientAssertion.type, let assertion else {
                throw OAuthError.invalidClient("a private_key_jwt client assertion is required")
            }
            let checked: ClientAssertion
            do {
                checked = try ClientAssertion(assertion, clientID: client.clientID, issuer: settings.issuer, keys: keys, now: now)
            } catch {
                if case .invalidToken(let message) = error { throw OAuthError.invalidClient(message) }
                throw OAuthError.invalidClient("client assertion refused")
            }
            guard try store.recordOnce("assertion:" + client.clientID + ":" + checked.jti, expiresAt: checked.expiresAt, now: now) else {
                throw OAuthError.invalidClient("client assertion jti was already used")
            }
            return (checked.key.keyID ?? "") + " " + checked.key.thumbprint
        }
    }

    // MARK: Pushed authorization requests

    /// RFC 9126 §2: validates and stores the request; returns the request URI and its lifetime.
    public func pushAuthorizationRequest(_ form: [String: String], proof: DPoPProof, now: Int64) async throws -> (requestURI: String, expiresIn: Int64) {
        guard let clientID = form["client_id"], !clientID.isEmpty else { throw OAuthError.invalidRequest("client_id is required") }
        let (client, keys) = try await clients.resolve(clientID, now: now)
        let clientKey = try authenticateClient(form, client: client, keys: keys, now: now)
        guard form["request_uri"] == nil, form["request"] == nil else {
            throw OAuthError.invalidRequest("request and request_uri are not accepted at the PAR endpoint")
        }
        // RFC 9449 §10: a `dpop_jkt` must name the key that signed the PAR request's proof.
        if let jkt = form["dpop_jkt"], jkt != proof.jwk.thumbprint {
            throw OAuthError.dpop(.invalidProof("dpop_jkt does not match the DPoP proof's key"))
        }
        guard form["response_type"] == "code" else { throw OAuthError.unsupportedResponseType("response_type must be code") }
        guard let challenge = form["code_challenge"] else { throw OAuthError.invalidRequest("code_challenge is required") }
        guard form["code_challenge_method"] == "S256" else { throw OAuthError.invalidRequest("code_challenge_method must be S256") }
        guard PKCE.isValidChallenge(challenge, method: "S256") else { throw OAuthError.invalidRequest("code_challenge is malformed") }
        guard let state = form["state"], !state.isEmpty else { throw OAuthError.invalidRequest("state is required") }
        let redirectURI: String
        if let given = form["redirect_uri"] {
            guard client.allowsRedirect(given) else { throw OAuthError.invalidRequest("redirect_uri is not registered for this client") }
            redirectURI = given
        } else {
            guard client.redirectURIs.count == 1 else { throw OAuthError.invalidRequest("redirect_uri is required") }
            redirectURI = client.redirectURIs[0]
        }
        guard let scopeString = form["scope"] else { throw OAuthError.invalidScope("scope is required") }
        let scope: OAuthScopeSet
        do { scope = try OAuthScopeSet(parsing: scopeString) } catch { throw OAuthError.invalidScope("scope is invalid: \(error)") }
        guard scope.isSubset(of: client.scope) else { throw OAuthError.invalidScope("scope exceeds the client's registered scope") }
        // A permission set that cannot be resolved fails the request (https://atproto.com/specs/permission).
        let grantedScope = try await grantedScope(for: scope, now: now)
        // Codes go back in the query only (fragment and form_post are not offered in the metadata).
        if let mode = form["response_mode"], mode != "query" { throw OAuthError.invalidRequest("response_mode must be query") }
        guard try store.recordOnce("pkce:" + challenge, expiresAt: now + settings.challengeMemory, now: now) else {
            throw OAuthError.invalidRequest("code_challenge was already used")
        }
        var parameters: [(String, JSONValue)] = [
            ("redirect_uri", .string(redirectURI)), ("state", .string(state)), ("scope", .string(scope.string)),
            ("code_challenge", .string(challenge)),
        ]
        if let hint = form["login_hint"] { parameters.append(("login_hint", .string(hint))) }
        if let grantedScope { parameters.append(("granted_scope", .string(grantedScope))) }
        let requestURI = Self.requestURIPrefix + Self.randomToken("req-")
        try store.insertRequest(OAuthRequestRow(
            id: Self.hash(requestURI), clientID: clientID, parameters: JSONValue.object(JSONObject(parameters)).serializedString,
            dpopJKT: proof.jwk.thumbprint, clientKey: clientKey, expiresAt: now + settings.requestLifetime))
        return (requestURI, settings.requestLifetime)
    }

    /// The pending request behind `?client_id&request_uri` on the authorization endpoint.
    public func pendingAuthorization(clientID: String?, requestURI: String?, did: String?, now: Int64) async throws -> PendingAuthorization {
        guard let requestURI, requestURI.hasPrefix(Self.requestURIPrefix) else {
            throw OAuthError.invalidRequest("request_uri is required (pushed authorization requests only)")
        }
        guard let row = try store.pendingRequest(id: Self.hash(requestURI), now: now) else {
            throw OAuthError.invalidRequest("request_uri is unknown, used or expired")
        }
        guard clientID == row.clientID else { throw OAuthError.invalidRequest("client_id does not match the pushed request") }
        let (client, _) = try await clients.resolve(row.clientID, now: now)
        let parameters = try JSONValue.parse(row.parameters)
        let scope = try OAuthScopeSet(parsing: parameters["scope"]?.stringValue ?? "")
        var approved = false
        if let did, let previous = try store.approval(did: did, clientID: row.clientID),
           let previousScope = try? OAuthScopeSet(parsing: previous) {
            approved = scope.isSubset(of: previousScope)
        }
        return PendingAuthorization(
            requestID: row.id, client: client, scope: scope, redirectURI: parameters["redirect_uri"]?.stringValue ?? "",
            state: parameters["state"]?.stringValue ?? "", loginHint: parameters["login_hint"]?.stringValue,
            previouslyApproved: approved, includedSets: try await includedSets(of: scope, now: now))
    }

    /// The owner approved: issues a code and returns the redirect (`code`, `state`, `iss`, RFC 9207).
    public func approve(_ pending: PendingAuthorization, did: String, remember: Bool, now: Int64) throws -> String {
        let code = Self.randomToken("cod-")
        guard try store.approveRequest(id: pending.requestID, did: did, codeHash: Self.hash(code),
                                       codeExpiresAt: now + settings.codeLifetime, now: now)
        else { throw OAuthError.invalidRequest("request_uri is unknown, used or expired") }
        if remember { try store.saveApproval(did: did, clientID: pending.client.clientID, scope: pending.scope.string, now: now) }
        return Self.redirect(pending.redirectURI, ["code": code, "state": pending.state, "iss": settings.issuer])
    }

    /// The owner refused: the request ends and the client hears `access_denied` (RFC 6749 §4.1.2.1).
    public func deny(_ pending: PendingAuthorization) throws -> String {
        try store.deleteRequest(id: pending.requestID)
        return Self.redirect(pending.redirectURI, ["error": "access_denied", "error_description": "The user denied the request",
                                                   "state": pending.state, "iss": settings.issuer])
    }

    /// `uri` with `parameters` added to its query (form-encoded, RFC 6749 §4.1.2).
    static func redirect(_ uri: String, _ parameters: KeyValuePairs<String, String>) -> String {
        let query = parameters.map { formEncode($0.key) + "=" + formEncode($0.value) }.joined(separator: "&")
        return uri + (uri.contains("?") ? "&" : "?") + query
    }

    static func formEncode(_ value: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
