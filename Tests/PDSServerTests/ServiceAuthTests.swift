@testable import ATAuth
import ATCrypto
import ATData
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import PDSServer
import Testing

/// Service-auth tokens: what `getServiceAuth` issues and what `uploadBlob` accepts (ATPROTO.md §11).
@Suite struct ServiceAuthTests {
    func json(_ data: Data) -> [String: Any] { (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:] }

    func serviceToken(_ server: TestServer, _ query: String) async throws -> (Int, [String: Any]) {
        var request = URLRequest(url: server.url("/xrpc/com.atproto.server.getServiceAuth?" + query))
        request.setValue("Bearer " + (try await server.accessToken()), forHTTPHeaderField: "Authorization")
        let (data, response) = try await server.send(request)
        return (response.statusCode, json(data))
    }

    func errorName(_ server: TestServer, _ query: String) async throws -> String? {
        try await serviceToken(server, query).1["error"] as? String
    }

    func uploadError(_ server: TestServer, token: String) async throws -> String? {
        try await upload(server, token: token).1["error"] as? String
    }

    func upload(_ server: TestServer, token: String) async throws -> (Int, [String: Any]) {
        var request = URLRequest(url: server.url("/xrpc/com.atproto.repo.uploadBlob"))
        request.httpMethod = "POST"
        request.setValue("Bearer " + token, forHTTPHeaderField: "Authorization")
        request.setValue("text/plain", forHTTPHeaderField: "Content-Type")
        let (data, response) = try await server.send(request, body: Data("a video, say".utf8))
        return (response.statusCode, json(data))
    }

    @Test func tokensCarryTheClaimsAndVerifyWithTheSigningKey() async throws {
        try await TestServer.with { server in
            let exp = Int(Date().timeIntervalSince1970) + 1800
            let (status, body) = try await serviceToken(server, "aud=did:web:video.example&lxm=com.atproto.repo.uploadBlob&exp=\(exp)")
            #expect(status == 200)
            let jwt = try JWT(parsing: try #require(body["token"] as? String))
            #expect(jwt.header["alg"]?.stringValue == "ES256K")
            #expect(jwt.string("iss") == server.did)
            #expect(jwt.string("aud") == "did:web:video.example")
            #expect(jwt.string("lxm") == "com.atproto.repo.uploadBlob")
            #expect(jwt.integer("exp") == Int64(exp))
            #expect((jwt.string("jti") ?? "").count == 32)
            try jwt.verify(key: server.state.keys.signingKey.publicKey)
        }
    }

    @Test func lifetimesFollowTheReference() async throws {
        try await TestServer.with { server in
            let now = Int(Date().timeIntervalSince1970)
            let tooLongWithoutMethod = try await errorName(server, "aud=did:web:x.example&exp=\(now + 300)")
            let overAnHour = try await errorName(server, "aud=did:web:x.example&lxm=app.bsky.feed.getTimeline&exp=\(now + 7200)")
            let past = try await errorName(server, "aud=did:web:x.example&exp=\(now - 5)")
            #expect(tooLongWithoutMethod == "BadExpiration")
            #expect(overAnHour == "BadExpiration")
            #expect(past == "BadExpiration")
            let protected = try await serviceToken(server, "aud=did:web:x.example&lxm=com.atproto.server.createAppPassword").0
            let plain = try await serviceToken(server, "aud=did:web:x.example").0
            #expect(protected == 400)
            #expect(plain == 200)
        }
    }

    @Test func uploadBlobTakesAServiceTokenForItselfOnly() async throws {
        try await TestServer.with { server in
            let audience = server.state.config.serviceDID
            let good = try await serviceToken(server, "aud=\(audience)&lxm=com.atproto.repo.uploadBlob&exp=\(Int(Date().timeIntervalSince1970) + 1800)")
            let token = try #require(good.1["token"] as? String)
            let (status, body) = try await upload(server, token: token)
            #expect(status == 200)
            #expect((body["blob"] as? [String: Any])?["mimeType"] as? String == "text/plain")

            let wrongMethod = try #require(try await serviceToken(server, "aud=\(audience)&lxm=com.atproto.repo.createRecord").1["token"] as? String)
            let wrongMethodError = try await uploadError(server, token: wrongMethod)
            #expect(wrongMethodError == "BadJwtLexiconMethod")
            let wrongAudience = try #require(try await serviceToken(server, "aud=did:web:elsewhere.example&lxm=com.atproto.repo.uploadBlob").1["token"] as? String)
            let wrongAudienceError = try await uploadError(server, token: wrongAudience)
            #expect(wrongAudienceError == "BadJwtAudience")
            // Signed by another key: the token claims this account but cannot prove it.
            let forged = try JWT.sign(claims: [
                "iss": .string(server.did), "aud": .string(audience), "lxm": "com.atproto.repo.uploadBlob",
                "exp": .number(JSONNumber(Int64(Date().timeIntervalSince1970) + 60)), "jti": "abc",
            ], key: K256PrivateKey())
            let forgedError = try await uploadError(server, token: forged)
            #expect(forgedError == "BadJwtSignature")
        }
    }
}
