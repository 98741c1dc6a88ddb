import ATAuth
import ATCrypto
import ATData
import Foundation
import Testing
import TestSupport

@Suite("OAuth client metadata and assertions")
struct ClientMetadataTests {
    static let clientID = "https://app.example.com/oauth/client-metadata.json"

    func document(_ changes: [String: JSONValue?] = [:]) -> JSONObject {
        var object: JSONObject = [
            "client_id": .string(Self.clientID),
            "application_type": "web",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": "atproto transition:generic",
            "redirect_uris": ["https://app.example.com/callback"],
            "token_endpoint_auth_method": "none",
            "dpop_bound_access_tokens": true,
        ]
        for (key, value) in changes { object[key] = value }
        return object
    }

    func refusal(_ changes: [String: JSONValue?], clientID: String = clientID) -> String? {
        do {
            _ = try OAuthClientMetadata(document: document(changes), clientID: clientID)
            return nil
        } catch {
            return error.message
        }
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the shared OAuth metadata documents (PDS_SHARED_DIR)"))
    func realDocumentsValidate() throws {
        for name in ["statusphere-client-metadata.json", "flaskdemo-client-metadata.json", "smokesignal-client-metadata.json"] {
            let data = try SharedVectors.data("extra/auth/oauth-metadata/" + name)
            let object = try #require(try JSONValue.parse(Array(data)).objectValue)
            let clientID = try #require(object["client_id"]?.stringValue)
            let metadata = try OAuthClientMetadata(document: object, clientID: clientID)
            #expect(metadata.scope.transitionGeneric)
        }
        let jwks = try JSONValue.parse(Array(try SharedVectors.data("extra/auth/oauth-metadata/flaskdemo-jwks.json")))
        #expect(try OAuthClientMetadata.keys(jwks).first?.keyID == "demo-1723096995")
    }

    @Test func aGoodDocumentValidates() throws {
        let metadata = try OAuthClientMetadata(document: document(), clientID: Self.clientID)
        #expect(metadata.applicationType == .web && metadata.authMethod == .none && metadata.allowsRefresh)
        #expect(metadata.allowsRedirect("https://app.example.com/callback"))
        #expect(!metadata.allowsRedirect("https://app.example.com/callback2"))
    }

    @Test func refusals() {
        #expect(refusal(["client_id": "https://other.example.com/x.json"]) == "client_id does not match the document URL")
        #expect(refusal([:], clientID: "http://app.example.com/oauth/client-metadata.json") != nil)
        #expect(refusal(["client_id": "https://app.example.com:8443/m.json"], clientID: "https://app.example.com:8443/m.json") == "client_id must not have a port")
        #expect(refusal(["client_id": "https://app.example.com"], clientID: "https://app.example.com") == "client_id must have a path")
        #expect(refusal(["dpop_bound_access_tokens": false]) == "dpop_bound_access_tokens must be true")
        #expect(refusal(["dpop_bound_access_tokens": nil]) == "dpop_bound_access_tokens must be true")
        #expect(refusal(["grant_types": ["implicit"]]) == "grant_types must include authorization_code")
        #expect(refusal(["response_types": ["token"]]) == "response_types must include code")
        #expect(refusal(["scope": "transition:generic"])?.hasPrefix("scope is invalid") == true)
        #expect(refusal(["redirect_uris": []]) == "redirect_uris is required")
        #expect(refusal(["redirect_uris": ["http://app.example.com/callback"]]) == "web clients must use https redirect URIs")
        #expect(refusal(["application_type": "desktop"]) == "application_type must be web or native")
        #expect(refusal(["token_endpoint_auth_method": "client_secret_basic"]) == "token_endpoint_auth_method must be none or private_key_jwt")
        #expect(refusal(["token_endpoint_auth_method": "private_key_jwt"]) == "token_endpoint_auth_signing_alg must be ES256")
        #expect(refusal(["token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256"])
            == "exactly one of jwks and jwks_uri is required")
        #expect(refusal(["client_uri": "https://evil.example.net/"]) == "client_uri must be on the client_id's host")
        #expect(refusal(["logo_uri": "http://app.example.com/logo.png"]) == "logo_uri must be https")
    }

    @Test func nativeRedirects() throws {
        let native: [String: JSONValue?] = ["application_type": "native"]
        func redirect(_ uri: String) -> String? {
            var changes = native
            changes["redirect_uris"] = [.string(uri)]
            return refusal(changes)
        }
        #expect(redirect("com.example.app:/callback") == nil)
        #expect(redirect("https://app.example.com/cb") == nil)
        #expect(redirect("http://127.0.0.1/cb") == nil)
        #expect(redirect("com.example.other:/callback") != nil)
        #expect(redirect("com.example.app://callback") != nil)
        #expect(redirect("https://elsewhere.example.com/cb") != nil)
        #expect(redirect("http://localhost/cb") != nil)
        var changes = native
        changes["redirect_uris"] = ["http://127.0.0.1/cb"]
        let metadata = try OAuthClientMetadata(document: document(changes), clientID: Self.clientID)
        #expect(metadata.allowsRedirect("http://127.0.0.1:51234/cb"))
        #expect(!metadata.allowsRedirect("http://127.0.0.1:51234/other"))
    }

    @Test func loopbackVirtualClient() throws {
        let plain = try OAuthClientMetadata(loopbackClientID: "http://localhost")
        #expect(plain.scope.string == "atproto")
        #expect(plain.redirectURIs == ["http://127.0.0.1/", "http://[::1]/"])
        #expect(plain.allowsRedirect("http://127.0.0.1:8123/"))
        let custom = try OAuthClientMetadata(loopbackClientID:
            "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=atproto%20transition%3Ageneric")
        #expect(custom.scope.transitionGeneric)
        #expect(custom.allowsRedirect("http://127.0.0.1:9000/callback"))
        #expect(throws: OAuthClientMetadata.Invalid.self) { try OAuthClientMetadata(loopbackClientID: "http://localhost:8080") }
        #expect(throws: OAuthClientMetadata.Invalid.self) {
            try OAuthClientMetadata(loopbackClientID: "http://localhost?redirect_uri=https%3A%2F%2Fevil.example.com%2F")
        }
        #expect(OAuthClientMetadata.isLoopbackClientID("http://localhost?scope=atproto"))
        #expect(!OAuthClientMetadata.isLoopbackClientID("http://localhost.evil.com/x"))
    }

    @Test func clientAssertions() throws {
        let key = try P256PrivateKey()
        let jwk = try ECPublicJWK(ECPublicJWK.object(for: key.publicKey, keyID: "k1"))
        let issuer = "https://pds.example.com"
        let now: Int64 = 1_800_000_000
        func assertion(_ claims: JSONObject, signer: P256PrivateKey? = nil) throws -> String {
            try JWT.sign(header: ["alg": "ES256", "kid": "k1"], claims: claims, key: signer ?? key)
        }
        let good: JSONObject = ["iss": .string(Self.clientID), "sub": .string(Self.clientID), "aud": .string(issuer),
                                "iat": .number(JSONNumber(now - 30)), "jti": "a-1"]
        let checked = try ClientAssertion(try assertion(good), clientID: Self.clientID, issuer: issuer, keys: [jwk], now: now)
        #expect(checked.key == jwk && checked.jti == "a-1")
        func refused(_ claims: JSONObject, signer: P256PrivateKey? = nil) throws -> Bool {
            let token = try assertion(claims, signer: signer)
            return (try? ClientAssertion(token, clientID: Self.clientID, issuer: issuer, keys: [jwk], now: now)) == nil
        }
        var wrongAudience = good
        wrongAudience["aud"] = "https://other.example.com"
        #expect(try refused(wrongAudience))
        var wrongIssuer = good
        wrongIssuer["iss"] = "https://other.example.com/m.json"
        #expect(try refused(wrongIssuer))
        var old = good
        old["iat"] = .number(JSONNumber(now - 3600))
        #expect(try refused(old))
        var noJTI = good
        noJTI["jti"] = nil
        #expect(try refused(noJTI))
        var expired = good
        expired["exp"] = .number(JSONNumber(now - 1))
        #expect(try refused(expired))
        #expect(try refused(good, signer: try P256PrivateKey()))
    }
}
