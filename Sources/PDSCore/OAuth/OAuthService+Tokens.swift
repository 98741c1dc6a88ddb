import ATAuth
import ATCrypto
import ATData
import Foundation
import Multiformats
import PDSStore

/// A token endpoint answer (RFC 6749 §5.1 with DPoP, https://atproto.com/specs/oauth).
public struct OAuthTokenResponse: Sendable {
    public let accessToken: String
    public let refreshToken: String?
    public let expiresIn: Int64
    public let scope: String
    public let sub: String

    public var json: JSONValue {
        var object: JSONObject = [
            "access_token": .string(accessToken), "token_type": "DPoP", "expires_in": .number(JSONNumber(expiresIn)),
            "scope": .string(scope), "sub": .string(sub),
        ]
        if let refreshToken { object["refresh_token"] = .string(refreshToken) }
        return .object(object)
    }
}

/// Who made a resource request with an OAuth access token.
public struct OAuthAccess: Sendable {
    public let session: OAuthSessionRow
    public let scopes: OAuthScopeSet
}

extension OAuthService {
    // MARK: Token endpoint

    /// RFC 6749 §4.1.3 / §6 with DPoP (RFC 9449 §5): `authorization_code` and `refresh_token`.
    public func token(_ form: [String: String], proof: DPoPProof, now: Int64) async throws -> OAuthTokenResponse {
        guard let clientID = form["client_id"], !clientID.isEmpty else { throw OAuthError.invalidRequest("client_id is required") }
        // A confidential client's keys are read afresh on refresh: a key it withdrew must end
        // the sessions bound to it (https://atproto.com/specs/oauth "Confidential Client Authentication").
        let fresh = form["grant_type"] == "refresh_token" && form["client_assertion"] != nil
        let (client, keys) = try await clients.resolve(clientID, now: now, fresh: fresh)
        let clientKey = try authenticateClient(form, client: client, keys: keys, now: now)
        switch form["grant_type"] {
        case "authorization_code":
            return try exchangeCode(form, client: client, clientKey: clientKey, proof: proof, now: now)
        case "refresh_token":
            guard client.allowsRefresh else { throw OAuthError.unauthorizedClient("this client did not register the refresh_token grant") }
            return try await refresh(form, client: client, keys: keys, clientKey: clientKey, proof: proof, now: now)
        case nil:
            throw OAuthError.invalidRequest("grant_type is required")
        case let other?:
            throw OAuthError.unsupportedGrantType("grant_type \(other) is not supported")
        }
    }

    func lifetimes(_ client: OAuthClientMetadata) -> (session: Int64, refresh: Int64) {
        client.authMethod == .privateKeyJWT
            ? (settings.confidentialSessionLifetime, settings.confidentialRefreshLifetime)
            : (settings.publicSessionLifetime, settings.publicSessionLifetime)
    }

    func exchangeCode(_ form: [String: String], client: OAuthClientMetadata, clientKey: String?, proof: DPoPProof, now: Int64) throws -> OAuthTokenResponse {
        guard let code = form["code"] else { throw OAuthError.invalidRequest("code is required") }
        guard let verifier = form["code_verifier"] else { throw OAuthError.invalidRequest("code_verifier is required") }
        let access = Self.randomToken("oat-"), refresh = client.allowsRefresh ? Self.randomToken("ort-") : nil
        let (sessionLifetime, refreshLifetime) = lifetimes(client)
        var scope = ""
        let outcome = try store.exchangeCode(hash: Self.hash(code), now: now) { request in
            guard request.clientID == client.clientID else { throw OAuthError.invalidGrant("code was issued to another client") }
            let parameters = try JSONValue.parse(request.parameters)
            guard let challenge = parameters["code_challenge"]?.stringValue, PKCE.verify(verifier: verifier, challenge: challenge) else {
                throw OAuthError.invalidGrant("code_verifier does not match the code_challenge")
            }
            if let redirect = form["redirect_uri"], redirect != parameters["redirect_uri"]?.stringValue {
                throw OAuthError.invalidGrant("redirect_uri does not match the authorization request")
            }
            guard request.dpopJKT == nil || request.dpopJKT == proof.jwk.thumbprint else {
                throw OAuthError.invalidGrant("DPoP key differs from the one used for the authorization request")
            }
            guard request.clientKey == nil || clientKey?.split(separator: " ").last == request.clientKey?.split(separator: " ").last else {
                throw OAuthError.invalidGrant("client key differs from the one used for the authorization request")
            }
            guard let did = request.did else { throw OAuthError.invalidGrant("code was not approved") }
            scope = parameters["scope"]?.stringValue ?? "atproto"
            // The expansion of the request's permission sets, made at PAR and shown at consent.
            let granted = parameters["granted_scope"]?.stringValue
            return OAuthSessionRow(
                id: Self.randomToken("ses-"), did: did, clientID: client.clientID, scope: scope, dpopJKT: proof.jwk.thumbprint,
                clientAuth: client.authMethod.rawValue, clientKey: clientKey, createdAt: now, expiresAt: now + sessionLifetime,
                accessHash: Self.hash(access), accessExpiresAt: now + settings.accessLifetime,
                refreshHash: refresh.map(Self.hash), refreshExpiresAt: refresh == nil ? nil : now + min(refreshLifetime, sessionLifetime),
                grantedScope: granted)
        }
        switch outcome {
        case .issued(let session):
            logger.info("oauth session granted", metadata: ["client": "\(client.clientID)", "scope": "\(scope)"])
            return OAuthTokenResponse(accessToken: access, refreshToken: refresh, expiresIn: settings.accessLifetime,
                                      scope: session.effectiveScope, sub: session.did)
        case .reused:
            logger.warning("oauth code reused: its session was revoked", metadata: ["client": "\(client.clientID)"])
            throw OAuthError.invalidGrant("code was already used")
        case .unknown:
            throw OAuthError.invalidGrant("code is invalid or expired")
        }
    }

    func refresh(_ form: [String: String], client: OAuthClientMetadata, keys: [ECPublicJWK], clientKey: String?, proof: DPoPProof,
                 now: Int64) async throws -> OAuthTokenResponse {
        guard let token = form["refresh_token"] else { throw OAuthError.invalidRequest("refresh_token is required") }
        let access = Self.randomToken("oat-"), refresh = Self.randomToken("ort-")
        let outcome: OAuthStore.Refresh
        do {
            outcome = try rotate(token, client: client, keys: keys, clientKey: clientKey, proof: proof, now: now, access: access, refresh: refresh)
        } catch let withdrawn as KeyWithdrawn {
            try store.revokeSession(id: withdrawn.sessionID)
            logger.info("oauth session revoked: its client key is no longer published", metadata: ["client": "\(client.clientID)"])
            throw OAuthError.invalidGrant("the client key this session is bound to is no longer published")
        }
        switch outcome {
        case .rotated(let rotated):
            let session = await regrant(rotated, now: now)
            return OAuthTokenResponse(accessToken: access, refreshToken: refresh, expiresIn: settings.accessLifetime,
                                      scope: session.effectiveScope, sub: session.did)
        case .reused:
            logger.warning("oauth refresh token reused: its session was revoked", metadata: ["client": "\(client.clientID)"])
            throw OAuthError.invalidGrant("refresh token was already used")
        case .unknown:
            throw OAuthError.invalidGrant("refresh token is invalid, expired or revoked")
        }
    }

    struct KeyWithdrawn: Error {
        let sessionID: String
    }

    /// The rotation itself, in the store's transaction: every binding is checked before the token is consumed.
    func rotate(_ token: String, client: OAuthClientMetadata, keys: [ECPublicJWK], clientKey: String?, proof: DPoPProof, now: Int64,
                access: String, refresh: String) throws -> OAuthStore.Refresh {
        let refreshLifetime = lifetimes(client).refresh
        return try store.rotateRefresh(hash: Self.hash(token), now: now) { session in
            guard session.clientID == client.clientID else { throw OAuthError.invalidGrant("refresh token was issued to another client") }
            guard session.dpopJKT == proof.jwk.thumbprint else { throw OAuthError.invalidGrant("refresh token is bound to another DPoP key") }
            if let bound = session.clientKey?.split(separator: " ").last.map(String.init) {
                guard keys.contains(where: { $0.thumbprint == bound }) else { throw KeyWithdrawn(sessionID: session.id) }
                guard clientKey?.split(separator: " ").last.map(String.init) == bound else {
                    throw OAuthError.invalidGrant("refresh token is bound to another client key")
                }
            }
        } next: { session in
            (Self.hash(access), now + settings.accessLifetime, Self.hash(refresh), min(now + refreshLifetime, session.expiresAt))
        }
    }

    // MARK: Revocation

    /// RFC 7009 §2: revokes the session of an access or refresh token. Unknown tokens are not an
    /// error (§2.2), so the answer never tells a stranger whether a token existed.
    public func revoke(_ form: [String: String]) throws {
        guard let token = form["token"], !token.isEmpty else { throw OAuthError.invalidRequest("token is required") }
        if try store.revokeToken(hash: Self.hash(token)) { logger.info("oauth token revoked") }
    }

    // MARK: Resource server

    /// Checks `Authorization: DPoP <token>` with its proof for one request.
    /// `recordProof: false` skips the replay record for a second check within the same request.
    public func verifyAccess(token: String, proofHeader: String?, method: String, url: String, now: Int64,
                             recordProof: Bool = true) throws -> OAuthAccess {
        let digest = SHA256.hash(Array(token.utf8))
        let proof = try checkProof(proofHeader, method: method, url: url, accessTokenHash: digest, now: now,
                                   record: recordProof ? .memory : .none)
        guard let session = try store.session(accessHash: Base16.encode(digest), now: now) else {
            throw OAuthError.invalidToken("access token is invalid, expired or revoked")
        }
        guard session.dpopJKT == proof.jwk.thumbprint else { throw OAuthError.dpop(.invalidProof("DPoP proof is from another key")) }
        // The granted scope: `include:` sets already expanded into the permissions they give.
        return OAuthAccess(session: session, scopes: try OAuthScopeSet(parsing: session.effectiveScope))
    }

    // MARK: Confidential clients' keys

    /// Re-fetches the metadata of every confidential client with a live session and revokes the
    /// sessions whose key the client no longer publishes. Returns how many were revoked.
    public func recheckConfidentialClients(now: Int64) async throws -> Int {
        var revoked = 0
        let sessions = try store.confidentialSessions(now: now)
        for clientID in Set(sessions.map(\.clientID)) {
            let thumbprints: Set<String>
            do {
                thumbprints = Set(try await clients.resolve(clientID, now: now, fresh: true).1.map(\.thumbprint))
            } catch {
                // An unreachable client keeps its sessions until the next check; an invalid one loses them.
                if case OAuthError.invalidClientMetadata(let message) = error, message.contains("could not be fetched") { continue }
                thumbprints = []
            }
            for session in sessions where session.clientID == clientID {
                let bound = session.clientKey?.split(separator: " ").last.map(String.init) ?? ""
                if !thumbprints.contains(bound), try store.revokeSession(id: session.id) { revoked += 1 }
            }
        }
        return revoked
    }
}
